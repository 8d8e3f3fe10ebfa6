//! The SPEC's field rules (V1–V8) restated from the SPEC text, independently of
//! `nsplumb_core::validate`, so a fuzz target can tell whether a verdict is right.

use std::net::IpAddr;
use std::time::Duration;

/// V1 (and V2 with `max` 14 for a prefix): 1..=max bytes, no `/`, no whitespace, not `.`/`..`,
/// no `:`. Control characters are refused too (the kernel's names are printable).
pub fn name_ok(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
}

/// V3: six two-digit hex octets, all separated by `:` or all by `-`; unicast and not zero.
pub fn mac_ok(text: &str) -> bool {
    let octets: Vec<&str> = if text.contains(':') {
        text.split(':').collect()
    } else {
        text.split('-').collect()
    };
    if octets.len() != 6
        || !octets
            .iter()
            .all(|o| o.len() == 2 && o.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return false;
    }
    let bytes: Vec<u8> = octets
        .iter()
        .map(|o| u8::from_str_radix(o, 16).expect("two hex digits"))
        .collect();
    bytes[0] & 1 == 0 && bytes.iter().any(|b| *b != 0)
}

/// V4/V5: `ADDRESS/LEN`, the address in std's text form, the length decimal and within the
/// family's bits. `None` when it is not a CIDR.
pub fn cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = text.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: u8 = len.parse().ok()?;
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    (len <= bits).then_some((addr, len))
}

/// V4 `ipv4`: an IPv4 CIDR, or an IPv4-mapped IPv6 one whose prefix covers the mapping.
pub fn ipv4_ok(text: &str) -> bool {
    match cidr(text) {
        Some((IpAddr::V4(_), _)) => true,
        Some((IpAddr::V6(a), len)) => a.to_ipv4_mapped().is_some() && len >= 96,
        None => false,
    }
}

/// V4 `ipv6`: an IPv6 CIDR that is not an IPv4 address in disguise.
pub fn ipv6_ok(text: &str) -> bool {
    match cidr(text) {
        Some((IpAddr::V6(a), len)) => !(a.to_ipv4_mapped().is_some() && len >= 96),
        _ => false,
    }
}

/// V6: `net.X.Y.IFNAME.Z=V`: five non-empty dot-separated key parts, `net`, a family of
/// `ipv4`/`ipv6`/`mpls`, the `IFNAME` placeholder fourth; no `/` in the key, no NUL anywhere;
/// the value non-empty and a single line.
pub fn sysctl_ok(setting: &str) -> bool {
    if setting.contains('\0') {
        return false;
    }
    let Some((key, value)) = setting.split_once('=') else {
        return false;
    };
    let parts: Vec<&str> = key.split('.').collect();
    !value.is_empty()
        && !value.contains(['\n', '\r'])
        && !key.contains('/')
        && parts.len() == 5
        && parts.iter().all(|p| !p.is_empty())
        && parts[0] == "net"
        && matches!(parts[1], "ipv4" | "ipv6" | "mpls")
        && matches!(parts[3], "IFNAME" | "ifname")
}

/// V7: 0..=3 announcements.
pub fn announce_count_ok(count: u32) -> bool {
    count <= 3
}

/// V8: 100 ms..=2 s between announcements.
pub fn announce_interval_ok(interval: Duration) -> bool {
    (Duration::from_millis(100)..=Duration::from_secs(2)).contains(&interval)
}

/// A path below `/proc/sys` that cannot leave it: relative, components non-empty, no `.` or
/// `..`, no NUL (the guard the Linux backend applies before opening it).
pub fn stays_below_proc_sys(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// L1: an MTU 68..=65535, and at least 1280 on a link that gets an IPv6 address.
pub fn mtu_ok(mtu: u32, has_ipv6: bool) -> bool {
    (68..=65535).contains(&mtu) && (!has_ipv6 || mtu >= 1280)
}

/// L3: a VLAN ID is 1..=4094.
pub fn vlan_id_ok(vid: u32) -> bool {
    (1..=4094).contains(&vid)
}

/// L3: a trunk entry is one VLAN ID or a range `FIRST-LAST` (decimal digits, first ≤ last).
pub fn vlan_range(entry: &str) -> Option<(u32, u32)> {
    let id = |s: &str| -> Option<u32> {
        if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().filter(|v| vlan_id_ok(*v))
    };
    let (first, last) = match entry.split_once('-') {
        Some((a, b)) => (id(a)?, id(b)?),
        None => (id(entry)?, id(entry)?),
    };
    (first <= last).then_some((first, last))
}

/// L5: a DAD timeout is 100..=30000 ms.
pub fn dad_timeout_ok(ms: u64) -> bool {
    (100..=30_000).contains(&ms)
}
