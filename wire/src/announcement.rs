//! Reading a frame back: an ARP packet or a neighbour advertisement over Ethernet, every field
//! kept, for tests, captures and the simulator's receiving stacks.

use crate::from_pnet;
use crate::na::{parse_na_message, NaMessage};
use crate::ndisc::{icmpv6_checksum, parse_icmpv6_frame};
use nsplumb_core::MacAddr;
use pnet_packet::arp::ArpPacket;
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::Packet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An announcement found in a frame, every field kept so tests can check each one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Announcement {
    /// An ARP packet (any operation) over Ethernet.
    Arp {
        eth_dst: MacAddr,
        eth_src: MacAddr,
        htype: u16,
        ptype: u16,
        hlen: u8,
        plen: u8,
        op: u16,
        sender_mac: MacAddr,
        sender_ip: Ipv4Addr,
        target_mac: MacAddr,
        target_ip: Ipv4Addr,
    },
    /// An IPv6 neighbour advertisement over Ethernet.
    Na {
        eth_dst: MacAddr,
        eth_src: MacAddr,
        traffic_class: u8,
        flow_label: u32,
        payload_len: u16,
        next_header: u8,
        hop_limit: u8,
        src_ip: Ipv6Addr,
        dst_ip: Ipv6Addr,
        /// The ICMPv6 checksum is right for this source and destination.
        checksum_ok: bool,
        message: NaMessage,
    },
}

/// Parse an Ethernet frame holding an ARP packet or an IPv6 neighbour advertisement.
/// Anything else (or anything truncated) is `None`. Trailing Ethernet padding is ignored.
pub fn parse_frame(frame: &[u8]) -> Option<Announcement> {
    let eth = EthernetPacket::new(frame)?;
    match eth.get_ethertype() {
        EtherTypes::Arp => {
            let arp = ArpPacket::new(eth.payload())?;
            Some(Announcement::Arp {
                eth_dst: from_pnet(eth.get_destination()),
                eth_src: from_pnet(eth.get_source()),
                htype: arp.get_hardware_type().0,
                ptype: arp.get_protocol_type().0,
                hlen: arp.get_hw_addr_len(),
                plen: arp.get_proto_addr_len(),
                op: arp.get_operation().0,
                sender_mac: from_pnet(arp.get_sender_hw_addr()),
                sender_ip: arp.get_sender_proto_addr(),
                target_mac: from_pnet(arp.get_target_hw_addr()),
                target_ip: arp.get_target_proto_addr(),
            })
        }
        EtherTypes::Ipv6 => {
            let (h, body) = parse_icmpv6_frame(frame)?;
            let message = parse_na_message(body)?;
            Some(Announcement::Na {
                eth_dst: h.eth_dst,
                eth_src: h.eth_src,
                traffic_class: h.traffic_class,
                flow_label: h.flow_label,
                payload_len: h.payload_len,
                next_header: h.next_header,
                hop_limit: h.hop_limit,
                src_ip: h.src_ip,
                dst_ip: h.dst_ip,
                checksum_ok: icmpv6_checksum(body, h.src_ip, h.dst_ip) == message.checksum,
                message,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{MAC, V4, V6};
    use crate::{arp_announcement, na_frame, ETH_HEADER_LEN, IPV6_HEADER_LEN, NA_FRAME_LEN};

    #[test]
    fn corrupted_checksum_is_reported() {
        let mut frame = na_frame(MAC, V6);
        frame[NA_FRAME_LEN - 1] ^= 1;
        match parse_frame(&frame) {
            Some(Announcement::Na { checksum_ok, .. }) => assert!(!checksum_ok),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_and_truncation_are_none() {
        assert_eq!(parse_frame(&[]), None);
        assert_eq!(parse_frame(&arp_announcement(MAC, V4)[..30]), None);
        assert_eq!(parse_frame(&na_frame(MAC, V6)[..70]), None);
        // IPv4 frame
        let mut v4 = arp_announcement(MAC, V4);
        v4[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(parse_frame(&v4), None);
        // zero-length option
        let mut bad = na_frame(MAC, V6);
        bad[ETH_HEADER_LEN + IPV6_HEADER_LEN + 25] = 0;
        assert_eq!(parse_frame(&bad), None);
        // big option length must not panic
        bad[ETH_HEADER_LEN + IPV6_HEADER_LEN + 25] = 200;
        assert_eq!(parse_frame(&bad), None);
        // a non-NA ICMPv6 message
        let mut echo = na_frame(MAC, V6);
        echo[ETH_HEADER_LEN + IPV6_HEADER_LEN] = 128;
        assert_eq!(parse_frame(&echo), None);
    }
}
