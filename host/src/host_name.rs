//! The host end's name of a veth pair nsplumb creates: unique across processes and runs, and
//! recognisably nsplumb's (`vnsp` + 8 hex digits), since reconcile deletes a half-created pair by
//! it (SPEC R1).

use std::sync::atomic::{AtomicU32, Ordering};

/// `vnsp` + 8 hex digits from the pid, the time and a counter.
pub fn veth_host_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = (std::process::id() as u64) << 32
        ^ nanos
        ^ ((COUNTER.fetch_add(1, Ordering::Relaxed) as u64) << 20);
    // splitmix64 finaliser, so close inputs give far-apart names.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
    x ^= x >> 31;
    format!("vnsp{:08x}", x as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_interface_names_and_distinct() {
        let names: std::collections::BTreeSet<String> =
            (0..1000).map(|_| veth_host_name()).collect();
        assert_eq!(names.len(), 1000);
        for n in &names {
            assert!(nsplumb_core::check_ifname(n).is_ok(), "{n}");
            assert!(n.starts_with("vnsp") && n.len() == 12, "{n}");
        }
    }
}
