//! Ethernet frames as Linux puts them on the wire for nsplumb's announcements, built and parsed
//! with `pnet_packet` views, and the frame log.
//!
//! - ARP (SPEC S2): 42 bytes, dst `ff:ff:ff:ff:ff:ff`, EtherType 0x0806, htype 1, ptype 0x0800,
//!   hlen 6, plen 4, op 1 (request), sender = target = the IPv4, target MAC zero.
//! - NA (SPEC S3): 86 bytes, dst `33:33:00:00:00:01`, IPv6 hop limit 255, src the address,
//!   dst `ff02::1`, ICMPv6 type 136 code 0, flags O only, target, option 2 length 1 with the MAC,
//!   valid checksum.

use nsplumb_core::{IfIndex, MacAddr, NetnsRef, Timestamp};
use pnet_base::MacAddr as PMac;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{
    MutableNeighborAdvertPacket, NdpOption, NdpOptionTypes, NeighborAdvertFlags,
    NeighborAdvertPacket,
};
use pnet_packet::icmpv6::{Icmpv6Code, Icmpv6Packet, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::{Ipv6Packet, MutableIpv6Packet};
use pnet_packet::Packet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Length of the unsolicited ARP frame.
pub const ARP_FRAME_LEN: usize = 14 + 28;
/// Length of the unsolicited NA frame.
pub const NA_FRAME_LEN: usize = 14 + 40 + 32;

const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// One frame sent by `send_arp` / `send_na`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRecord {
    pub time: Timestamp,
    pub netns: NetnsRef,
    pub index: IfIndex,
    pub ifname: String,
    pub bytes: Vec<u8>,
}

fn pmac(m: MacAddr) -> PMac {
    let o = m.octets();
    PMac::new(o[0], o[1], o[2], o[3], o[4], o[5])
}

fn cmac(m: PMac) -> MacAddr {
    MacAddr(m.octets())
}

/// The unsolicited ARP request Linux sends for `ip` from `mac` (SPEC S2).
pub fn arp_frame(mac: MacAddr, ip: Ipv4Addr) -> Vec<u8> {
    let mut buf = vec![0u8; ARP_FRAME_LEN];
    {
        let mut eth = MutableEthernetPacket::new(&mut buf).expect("buffer fits");
        eth.set_destination(PMac::broadcast());
        eth.set_source(pmac(mac));
        eth.set_ethertype(EtherTypes::Arp);
    }
    let mut arp = MutableArpPacket::new(&mut buf[14..]).expect("buffer fits");
    arp.set_hardware_type(ArpHardwareTypes::Ethernet);
    arp.set_protocol_type(EtherTypes::Ipv4);
    arp.set_hw_addr_len(6);
    arp.set_proto_addr_len(4);
    arp.set_operation(ArpOperations::Request);
    arp.set_sender_hw_addr(pmac(mac));
    arp.set_sender_proto_addr(ip);
    arp.set_target_hw_addr(PMac::zero());
    arp.set_target_proto_addr(ip);
    buf
}

/// The unsolicited neighbour advertisement Linux sends for `ip` from `mac` (SPEC S3).
pub fn na_frame(mac: MacAddr, ip: Ipv6Addr) -> Vec<u8> {
    let mut buf = vec![0u8; NA_FRAME_LEN];
    {
        let mut eth = MutableEthernetPacket::new(&mut buf).expect("buffer fits");
        eth.set_destination(PMac::new(0x33, 0x33, 0, 0, 0, 1));
        eth.set_source(pmac(mac));
        eth.set_ethertype(EtherTypes::Ipv6);
    }
    {
        let mut ip6 = MutableIpv6Packet::new(&mut buf[14..]).expect("buffer fits");
        ip6.set_version(6);
        ip6.set_payload_length(32);
        ip6.set_next_header(IpNextHeaderProtocols::Icmpv6);
        ip6.set_hop_limit(255);
        ip6.set_source(ip);
        ip6.set_destination(ALL_NODES);
    }
    {
        let mut na = MutableNeighborAdvertPacket::new(&mut buf[54..]).expect("buffer fits");
        na.set_icmpv6_type(Icmpv6Types::NeighborAdvert);
        na.set_icmpv6_code(Icmpv6Code(0));
        na.set_flags(NeighborAdvertFlags::Override);
        na.set_target_addr(ip);
        na.set_options(&[NdpOption {
            option_type: NdpOptionTypes::TargetLLAddr,
            length: 1,
            data: mac.octets().to_vec(),
        }]);
    }
    let sum = {
        let icmp = Icmpv6Packet::new(&buf[54..]).expect("buffer fits");
        pnet_packet::icmpv6::checksum(&icmp, &ip, &ALL_NODES)
    };
    let mut na = MutableNeighborAdvertPacket::new(&mut buf[54..]).expect("buffer fits");
    na.set_checksum(sum);
    buf
}

/// What a receiving stack makes of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Arp {
        op: u16,
        sender_mac: MacAddr,
        sender_ip: Ipv4Addr,
        target_mac: MacAddr,
        target_ip: Ipv4Addr,
    },
    Na {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        flags: u8,
        target: Ipv6Addr,
        tll: Option<MacAddr>,
        checksum_ok: bool,
    },
}

/// Destination, source and the parsed payload of a frame, if it is ARP or an NA.
pub fn parse(frame: &[u8]) -> Option<(MacAddr, MacAddr, Parsed)> {
    let eth = EthernetPacket::new(frame)?;
    let (dst, src) = (cmac(eth.get_destination()), cmac(eth.get_source()));
    match eth.get_ethertype() {
        EtherTypes::Arp => {
            let arp = ArpPacket::new(eth.payload())?;
            if arp.get_hw_addr_len() != 6 || arp.get_proto_addr_len() != 4 {
                return None;
            }
            Some((
                dst,
                src,
                Parsed::Arp {
                    op: arp.get_operation().0,
                    sender_mac: cmac(arp.get_sender_hw_addr()),
                    sender_ip: arp.get_sender_proto_addr(),
                    target_mac: cmac(arp.get_target_hw_addr()),
                    target_ip: arp.get_target_proto_addr(),
                },
            ))
        }
        EtherTypes::Ipv6 => {
            let ip6 = Ipv6Packet::new(eth.payload())?;
            if ip6.get_next_header() != IpNextHeaderProtocols::Icmpv6 {
                return None;
            }
            let icmp = Icmpv6Packet::new(ip6.payload())?;
            if icmp.get_icmpv6_type() != Icmpv6Types::NeighborAdvert {
                return None;
            }
            let checksum_ok =
                pnet_packet::icmpv6::checksum(&icmp, &ip6.get_source(), &ip6.get_destination())
                    == icmp.get_checksum();
            let na = NeighborAdvertPacket::new(ip6.payload())?;
            let tll = na
                .get_options_iter()
                .find(|o| {
                    o.get_option_type() == NdpOptionTypes::TargetLLAddr && o.payload().len() >= 6
                })
                .map(|o| {
                    let p = o.payload();
                    MacAddr([p[0], p[1], p[2], p[3], p[4], p[5]])
                });
            Some((
                dst,
                src,
                Parsed::Na {
                    src: ip6.get_source(),
                    dst: ip6.get_destination(),
                    hop_limit: ip6.get_hop_limit(),
                    flags: na.get_flags(),
                    target: na.get_target_addr(),
                    tll,
                    checksum_ok,
                },
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC: S2
    #[test]
    fn arp_frame_bytes() {
        let mac: MacAddr = "02:42:ac:11:00:02".parse().unwrap();
        let f = arp_frame(mac, Ipv4Addr::new(192, 0, 2, 7));
        let mut want = vec![0xff; 6];
        want.extend_from_slice(&mac.octets());
        want.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        want.extend_from_slice(&mac.octets());
        want.extend_from_slice(&[192, 0, 2, 7, 0, 0, 0, 0, 0, 0, 192, 0, 2, 7]);
        assert_eq!(f, want);
        assert_eq!(
            f,
            nsplumb_wire::arp_announcement(mac, Ipv4Addr::new(192, 0, 2, 7))
        );
    }

    // SPEC: S3
    #[test]
    fn na_frame_bytes() {
        let mac: MacAddr = "02:42:ac:11:00:02".parse().unwrap();
        let ip: Ipv6Addr = "fd00::7".parse().unwrap();
        let f = na_frame(mac, ip);
        assert_eq!(f.len(), 86);
        assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&f[6..12], &mac.octets());
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        assert_eq!(f[14] >> 4, 6);
        assert_eq!(u16::from_be_bytes([f[18], f[19]]), 32);
        assert_eq!(f[20], 58);
        assert_eq!(f[21], 255);
        assert_eq!(&f[22..38], &ip.octets());
        assert_eq!(&f[38..54], &ALL_NODES.octets());
        assert_eq!(&f[54..56], &[136, 0]);
        assert_eq!(&f[58..62], &[0x20, 0, 0, 0]);
        assert_eq!(&f[62..78], &ip.octets());
        assert_eq!(&f[78..80], &[2, 1]);
        assert_eq!(&f[80..86], &mac.octets());
        let (_, _, p) = parse(&f).unwrap();
        assert!(matches!(
            p,
            Parsed::Na {
                checksum_ok: true,
                flags: 0x20,
                hop_limit: 255,
                ..
            }
        ));
        assert_eq!(f, nsplumb_wire::na_frame(mac, ip));
    }
}
