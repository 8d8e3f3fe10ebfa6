//! What every neighbour discovery frame shares: the Ethernet + IPv6 header around an ICMPv6
//! message, its checksum, the options, and the multicast addresses they are sent to.

use crate::{from_pnet, to_pnet, ETH_HEADER_LEN, IPV6_HEADER_LEN};
use nsplumb_core::MacAddr;
use pnet_packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::icmpv6::Icmpv6Packet;
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::{Ipv6Packet, MutableIpv6Packet};
use pnet_packet::Packet;
use std::net::Ipv6Addr;

/// The Ethernet and IPv6 header fields of a neighbour discovery frame, as found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NdHeader {
    pub eth_dst: MacAddr,
    pub eth_src: MacAddr,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub payload_len: u16,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src_ip: Ipv6Addr,
    pub dst_ip: Ipv6Addr,
}

/// One neighbour discovery option as found in a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NdOption {
    /// Option type (1 = source, 2 = target link-layer address, 14 = nonce).
    pub kind: u8,
    /// Length in units of 8 bytes, as on the wire.
    pub len_units: u8,
    /// The option's bytes after type and length.
    pub data: Vec<u8>,
}

/// The MAC of the first link-layer address option of type `kind` with length 1.
pub(crate) fn ll_addr_option(options: &[NdOption], kind: u8) -> Option<MacAddr> {
    options
        .iter()
        .find(|o| o.kind == kind && o.len_units == 1)
        .and_then(|o| <[u8; 6]>::try_from(&o.data[..6]).ok())
        .map(MacAddr)
}

/// The options after a message's fixed part. By hand: a zero length would loop forever and
/// pnet's length helper overflows for lengths of 32 units and more. As the kernel's
/// `ndisc_parse_options`, the options must cover the rest of the message exactly: a byte or
/// more left over is a malformed message (`None`), not one option fewer.
pub(crate) fn parse_options(mut rest: &[u8]) -> Option<Vec<NdOption>> {
    let mut options = Vec::new();
    while !rest.is_empty() {
        let len_units = *rest.get(1)?;
        let len = usize::from(len_units) * 8;
        if len == 0 || len > rest.len() {
            return None;
        }
        options.push(NdOption {
            kind: rest[0],
            len_units,
            data: rest[2..len].to_vec(),
        });
        rest = &rest[len..];
    }
    Some(options)
}

/// The ICMPv6 checksum of `body` sent from `src` to `dst` (the checksum field itself skipped).
pub fn icmpv6_checksum(body: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
    match Icmpv6Packet::new(body) {
        Some(p) => pnet_packet::icmpv6::checksum(&p, &src, &dst),
        None => 0,
    }
}

/// The solicited-node multicast group of `ip` (RFC 4291 2.7.1): `ff02::1:ff` + its low 24 bits.
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet address an IPv6 multicast `group` maps to (RFC 2464 7: `33:33` + its low 32
/// bits).
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// An ICMPv6 message in IPv6 in Ethernet as Linux's `ndisc_send_skb` emits it: traffic class
/// and flow label 0, hop limit 255, the checksum written into `body`.
pub(crate) fn icmpv6_frame(
    eth_dst: MacAddr,
    eth_src: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    body: &mut [u8],
) -> Vec<u8> {
    let mut buf = vec![0u8; ETH_HEADER_LEN + IPV6_HEADER_LEN + body.len()];
    {
        let mut eth = MutableEthernetPacket::new(&mut buf).expect("buffer sized for Ethernet");
        eth.set_destination(to_pnet(eth_dst));
        eth.set_source(to_pnet(eth_src));
        eth.set_ethertype(EtherTypes::Ipv6);
    }
    {
        let mut ip6 =
            MutableIpv6Packet::new(&mut buf[ETH_HEADER_LEN..]).expect("buffer sized for IPv6");
        ip6.set_version(6);
        ip6.set_traffic_class(0);
        ip6.set_flow_label(0);
        ip6.set_payload_length(u16::try_from(body.len()).expect("an ND message fits"));
        ip6.set_next_header(IpNextHeaderProtocols::Icmpv6);
        ip6.set_hop_limit(255);
        ip6.set_source(src);
        ip6.set_destination(dst);
    }
    let sum = icmpv6_checksum(body, src, dst);
    body[2..4].copy_from_slice(&sum.to_be_bytes());
    buf[ETH_HEADER_LEN + IPV6_HEADER_LEN..].copy_from_slice(body);
    buf
}

/// The headers of an Ethernet frame holding IPv6 (version 6) with ICMPv6 next, and the ICMPv6
/// bytes (`payload_len` of them: Ethernet padding after them is ignored). `None` for anything
/// else or anything truncated.
pub(crate) fn parse_icmpv6_frame(frame: &[u8]) -> Option<(NdHeader, &[u8])> {
    let eth = EthernetPacket::new(frame)?;
    if eth.get_ethertype() != EtherTypes::Ipv6 {
        return None;
    }
    let ip6 = Ipv6Packet::new(eth.payload())?;
    if ip6.get_version() != 6 || ip6.get_next_header() != IpNextHeaderProtocols::Icmpv6 {
        return None;
    }
    let payload_len = ip6.get_payload_length();
    let start = ETH_HEADER_LEN + IPV6_HEADER_LEN;
    let body = frame.get(start..start + usize::from(payload_len))?;
    let header = NdHeader {
        eth_dst: from_pnet(eth.get_destination()),
        eth_src: from_pnet(eth.get_source()),
        traffic_class: ip6.get_traffic_class(),
        flow_label: ip6.get_flow_label(),
        payload_len,
        next_header: ip6.get_next_header().0,
        hop_limit: ip6.get_hop_limit(),
        src_ip: ip6.get_source(),
        dst_ip: ip6.get_destination(),
    };
    Some((header, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::V6;
    use crate::{ALL_NODES, ALL_NODES_MAC};

    #[test]
    fn multicast_addresses_follow_rfc_4291_and_2464() {
        assert_eq!(
            solicited_node("fd00::12:3456".parse().unwrap()),
            "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            solicited_node(V6),
            "ff02::1:ff00:a".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(multicast_mac(ALL_NODES), ALL_NODES_MAC);
        assert_eq!(
            multicast_mac(solicited_node(V6)),
            MacAddr([0x33, 0x33, 0xff, 0x00, 0x00, 0x0a])
        );
    }
}
