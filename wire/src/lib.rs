//! nsplumb-wire: the exact bytes of the neighbour discovery frames nsplumb sends and the
//! simulator carries, built and parsed with `pnet_packet` views.
//!
//! * [`arp_announcement`]: the unsolicited ARP request Ethernet frame of SPEC S2.
//! * [`na_body`]: the 32-byte ICMPv6 neighbour advertisement of SPEC S3, as written to a raw
//!   ICMPv6 socket (checksum zero: the kernel fills it in).
//! * [`na_frame`]: the whole Ethernet + IPv6 + ICMPv6 frame as the kernel emits that body
//!   (hop limit 255, destination `ff02::1` / `33:33:00:00:00:01`, correct checksum, flow label 0).
//! * [`parse_frame`]: the reverse, for tests, captures and the simulator: any ARP packet or
//!   neighbour advertisement over Ethernet, every field kept.
//! * [`neighbour_solicitation`] / [`parse_solicitation`]: the neighbour solicitation Linux sends
//!   to resolve an address or, from `::`, for duplicate address detection (RFC 4861, 4862).
//!
//! Everything here is pure: no sockets, no clock.

mod announcement;
mod arp;
mod na;
mod ndisc;
mod ns;

pub use announcement::{parse_frame, Announcement};
pub use arp::arp_announcement;
pub use na::{na_body, na_frame, parse_na_message, NaMessage};
pub use ndisc::{icmpv6_checksum, multicast_mac, solicited_node, NdHeader, NdOption};
pub use ns::{neighbour_solicitation, ns_body, parse_ns_message, parse_solicitation, NsMessage};
pub use ns::{Solicitation, ND_OPT_NONCE, ND_OPT_SOURCE_LL_ADDR};

use nsplumb_core::MacAddr;
use std::net::Ipv6Addr;

/// Length of an Ethernet II header.
pub const ETH_HEADER_LEN: usize = 14;
/// Length of the ARP payload for IPv4 over Ethernet.
pub const ARP_PAYLOAD_LEN: usize = 28;
/// Length of the whole ARP announcement frame (unpadded).
pub const ARP_FRAME_LEN: usize = ETH_HEADER_LEN + ARP_PAYLOAD_LEN;
/// Length of the NA body: 24 bytes of message + 8 bytes of target link-layer address option.
pub const NA_BODY_LEN: usize = 32;
/// Length of an IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Length of the whole NA frame.
pub const NA_FRAME_LEN: usize = ETH_HEADER_LEN + IPV6_HEADER_LEN + NA_BODY_LEN;

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// ICMPv6 type of a neighbour solicitation.
pub const ICMPV6_NEIGHBOR_SOLICIT: u8 = 135;
/// ICMPv6 type of a neighbour advertisement.
pub const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
/// Next-header value of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// `ff02::1`, all nodes on the link.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// The Ethernet address `ff02::1` maps to (RFC 2464: `33:33` + low 32 bits).
pub const ALL_NODES_MAC: MacAddr = MacAddr([0x33, 0x33, 0, 0, 0, 1]);

fn to_pnet(mac: MacAddr) -> pnet_base::MacAddr {
    let [a, b, c, d, e, f] = mac.0;
    pnet_base::MacAddr::new(a, b, c, d, e, f)
}

fn from_pnet(mac: pnet_base::MacAddr) -> MacAddr {
    MacAddr(mac.octets())
}

/// Test values and an RFC 1071 checksum written independently of pnet, shared by the tests of
/// every frame.
#[cfg(test)]
mod test_support {
    use nsplumb_core::MacAddr;
    use std::net::{Ipv4Addr, Ipv6Addr};

    pub const MAC: MacAddr = MacAddr([0x02, 0x42, 0xc0, 0x00, 0x02, 0x0a]);
    pub const V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    pub const V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x0a);

    /// RFC 1071 sum over the IPv6 pseudo header and `body`, to hand-check frames' checksums.
    pub fn ones_complement_checksum(src: Ipv6Addr, dst: Ipv6Addr, body: &[u8]) -> u16 {
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src.octets());
        pseudo.extend_from_slice(&dst.octets());
        pseudo.extend_from_slice(&(body.len() as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 58]);
        pseudo.extend_from_slice(body);
        let mut sum: u32 = pseudo
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }
}
