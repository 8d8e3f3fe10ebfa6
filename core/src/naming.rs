//! Generated interface names: prefix + lowest free number (SPEC N2).

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// The number `name` carries after `prefix`, if it is a plain decimal one.
///
/// Only canonical decimal counts: `eth0`, `eth12`; not `eth-0`, `eth+1`, `eth01`, `ethx`
/// (moby's Atoi accepts `+1` and `01` and can then hand out a name that is in use).
pub fn plain_suffix(name: &str, prefix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if canonical {
        digits.parse().ok()
    } else {
        None
    }
}

/// The lowest non-negative number not used by any of `names` with this prefix (gaps refilled).
pub fn lowest_free_suffix<'a>(prefix: &str, names: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut used: Vec<u64> = names
        .into_iter()
        .filter_map(|n| plain_suffix(n, prefix))
        .collect();
    used.sort_unstable();
    used.dedup();
    used.iter()
        .enumerate()
        .find(|(want, &have)| *want as u64 != have)
        .map(|(want, _)| want as u64)
        .unwrap_or(used.len() as u64)
}

/// `prefix` + lowest free number, or `None` when that would exceed [`MAX_IFNAME_LEN`].
pub fn generate_name<'a>(prefix: &str, names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let name = format!("{prefix}{}", lowest_free_suffix(prefix, names));
    (name.len() <= MAX_IFNAME_LEN).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC: N2
    #[test]
    fn refills_gaps_and_starts_at_zero() {
        assert_eq!(lowest_free_suffix("eth", []), 0);
        assert_eq!(lowest_free_suffix("eth", ["eth0", "eth2"]), 1);
        assert_eq!(lowest_free_suffix("eth", ["eth1", "eth0", "eth2"]), 3);
        assert_eq!(lowest_free_suffix("eth", ["eth0", "eth0"]), 1);
    }

    // SPEC: N2
    #[test]
    fn ignores_non_decimal_suffixes_and_other_prefixes() {
        let names = ["eth-0", "eth+1", "eth01", "ethx", "veth0", "eth", "eth0x"];
        assert_eq!(lowest_free_suffix("eth", names), 0);
        assert_eq!(plain_suffix("eth0", "eth"), Some(0));
        assert_eq!(plain_suffix("eth10", "eth"), Some(10));
        assert_eq!(plain_suffix("eth010", "eth"), None);
        assert_eq!(plain_suffix("eth+1", "eth"), None);
    }

    // SPEC: V2
    #[test]
    fn refuses_names_longer_than_ifnamsiz() {
        assert_eq!(
            generate_name("abcdefghijklmn", []).as_deref(),
            Some("abcdefghijklmn0")
        );
        let taken: Vec<String> = (0..10).map(|i| format!("abcdefghijklmn{i}")).collect();
        assert_eq!(
            generate_name("abcdefghijklmn", taken.iter().map(String::as_str)),
            None
        );
    }
}
