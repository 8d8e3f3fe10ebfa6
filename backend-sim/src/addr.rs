//! Addresses on a link, with the `IFA_F_*` flags Linux reports.
//!
//! Linux 6.x (`ip -j addr` on veth pairs):
//! - Every address configured with an infinite lifetime is `IFA_F_PERMANENT`, the auto-generated
//!   EUI-64 link-local included (`ip` shows `dynamic` only when the bit is clear).
//! - An IPv6 address added without `nodad` is `tentative` until DAD ends (about 1–2 s on a veth:
//!   a random delay below `router_solicitation_delay`, then `dad_transmits` × `retrans_time_ms`);
//!   added while the link is down it stays tentative until the link is up with carrier.
//! - `nodad` addresses are never tentative.
//! - The same IPv4 address with another prefix length is a separate address; the same IPv6
//!   address again (any prefix length) → EEXIST. Deleting an absent address → EADDRNOTAVAIL.

use ipnet::{IpNet, Ipv6Net};
use nsplumb_core::{AddrFlags, MacAddr, Timestamp};
use std::net::Ipv6Addr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Addr {
    pub(crate) net: IpNet,
    pub(crate) flags: AddrFlags,
    /// When DAD of this (tentative) address completes; `None` while DAD has not started.
    pub(crate) dad_deadline: Option<Timestamp>,
}

/// The EUI-64 link-local address Linux derives from a MAC (`addr_gen_mode` 0).
pub(crate) fn eui64_link_local(mac: MacAddr) -> Ipv6Net {
    let m = mac.octets();
    let ip = Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 0x02,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ]);
    Ipv6Net::new(ip, 64).expect("64 is a valid prefix length")
}

/// Same address for the purpose of EEXIST / delete matching: IPv4 by (address, prefix length),
/// IPv6 by address alone.
pub(crate) fn same_addr(a: &IpNet, b: &IpNet) -> bool {
    match (a, b) {
        (IpNet::V4(x), IpNet::V4(y)) => x.addr() == y.addr() && x.prefix_len() == y.prefix_len(),
        (IpNet::V6(x), IpNet::V6(y)) => x.addr() == y.addr(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eui64_matches_linux() {
        // Linux 6.x: e6:d8:f4:38:30:57 → fe80::e4d8:f4ff:fe38:3057 (seen with `ip -6 addr`).
        let mac: MacAddr = "e6:d8:f4:38:30:57".parse().unwrap();
        assert_eq!(
            eui64_link_local(mac).to_string(),
            "fe80::e4d8:f4ff:fe38:3057/64"
        );
    }
}
