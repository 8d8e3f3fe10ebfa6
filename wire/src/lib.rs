//! nsplumb-wire: the exact bytes of the announcements nsplumb sends, built and parsed with
//! `pnet_packet` views.
//!
//! * [`arp_announcement`]: the unsolicited ARP request Ethernet frame of SPEC S2.
//! * [`na_body`]: the 32-byte ICMPv6 neighbour advertisement of SPEC S3, as written to a raw
//!   ICMPv6 socket (checksum zero: the kernel fills it in).
//! * [`na_frame`]: the whole Ethernet + IPv6 + ICMPv6 frame as the kernel emits that body
//!   (hop limit 255, destination `ff02::1` / `33:33:00:00:00:01`, correct checksum, flow label 0).
//! * [`parse_frame`]: the reverse, for tests, captures and the simulator.
//!
//! Everything here is pure: no sockets, no clock.

use nsplumb_core::MacAddr;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{
    MutableNeighborAdvertPacket, NdpOptionTypes, NeighborAdvertFlags, NeighborAdvertPacket,
};
use pnet_packet::icmpv6::{Icmpv6Code, Icmpv6Packet, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::{Ipv6Packet, MutableIpv6Packet};
use pnet_packet::Packet;
use std::net::{Ipv4Addr, Ipv6Addr};

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

/// SPEC S2: the full Ethernet frame of an unsolicited ARP request announcing `ip` at `mac`.
///
/// Destination `ff:ff:ff:ff:ff:ff`, source `mac`, EtherType 0x0806, then htype 1, ptype 0x0800,
/// hlen 6, plen 4, op 1 (request), sender `mac`/`ip`, target MAC zero, target IP `ip`.
/// 42 bytes: the kernel (or the NIC) pads it to the Ethernet minimum where needed.
pub fn arp_announcement(mac: MacAddr, ip: Ipv4Addr) -> Vec<u8> {
    let mut buf = vec![0u8; ARP_FRAME_LEN];
    {
        let mut eth = MutableEthernetPacket::new(&mut buf).expect("buffer sized for Ethernet");
        eth.set_destination(pnet_base::MacAddr::broadcast());
        eth.set_source(to_pnet(mac));
        eth.set_ethertype(EtherTypes::Arp);
    }
    {
        let mut arp =
            MutableArpPacket::new(&mut buf[ETH_HEADER_LEN..]).expect("buffer sized for ARP");
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(EtherTypes::Ipv4);
        arp.set_hw_addr_len(6);
        arp.set_proto_addr_len(4);
        arp.set_operation(ArpOperations::Request);
        arp.set_sender_hw_addr(to_pnet(mac));
        arp.set_sender_proto_addr(ip);
        arp.set_target_hw_addr(pnet_base::MacAddr::zero());
        arp.set_target_proto_addr(ip);
    }
    buf
}

/// SPEC S3: the 32-byte ICMPv6 neighbour advertisement body for a raw ICMPv6 socket.
///
/// Type 136, code 0, checksum 0 (the kernel computes it for `IPPROTO_ICMPV6` raw sockets),
/// flags Override only, target `ip`, one option: type 2 (target link-layer address), length 1
/// (8 bytes), `mac`.
pub fn na_body(mac: MacAddr, ip: Ipv6Addr) -> [u8; NA_BODY_LEN] {
    let mut buf = [0u8; NA_BODY_LEN];
    {
        let mut na = MutableNeighborAdvertPacket::new(&mut buf).expect("buffer sized for NA");
        na.set_icmpv6_type(Icmpv6Types::NeighborAdvert);
        na.set_icmpv6_code(Icmpv6Code(0));
        na.set_checksum(0);
        na.set_flags(NeighborAdvertFlags::Override);
        na.set_reserved(0);
        na.set_target_addr(ip);
    }
    // The option, written by hand: pnet's NdpOption setter needs the option list machinery and
    // the layout is two bytes plus the address.
    buf[24] = NdpOptionTypes::TargetLLAddr.0;
    buf[25] = 1;
    buf[26..32].copy_from_slice(&mac.0);
    buf
}

/// The ICMPv6 checksum of `body` sent from `src` to `dst` (the checksum field itself skipped).
pub fn icmpv6_checksum(body: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
    match Icmpv6Packet::new(body) {
        Some(p) => pnet_packet::icmpv6::checksum(&p, &src, &dst),
        None => 0,
    }
}

/// SPEC S3: the Ethernet frame the kernel emits for [`na_body`] sent from `ip` to `ff02::1`
/// with hop limit 255 and automatic flow labels off: destination `33:33:00:00:00:01`,
/// source `mac`, IPv6 (traffic class 0, flow label 0, payload length 32, next header 58,
/// hop limit 255, source `ip`, destination `ff02::1`), body with the checksum filled in.
pub fn na_frame(mac: MacAddr, ip: Ipv6Addr) -> Vec<u8> {
    let mut buf = vec![0u8; NA_FRAME_LEN];
    {
        let mut eth = MutableEthernetPacket::new(&mut buf).expect("buffer sized for Ethernet");
        eth.set_destination(to_pnet(ALL_NODES_MAC));
        eth.set_source(to_pnet(mac));
        eth.set_ethertype(EtherTypes::Ipv6);
    }
    {
        let mut ip6 =
            MutableIpv6Packet::new(&mut buf[ETH_HEADER_LEN..]).expect("buffer sized for IPv6");
        ip6.set_version(6);
        ip6.set_traffic_class(0);
        ip6.set_flow_label(0);
        ip6.set_payload_length(NA_BODY_LEN as u16);
        ip6.set_next_header(IpNextHeaderProtocols::Icmpv6);
        ip6.set_hop_limit(255);
        ip6.set_source(ip);
        ip6.set_destination(ALL_NODES);
    }
    let mut body = na_body(mac, ip);
    let sum = icmpv6_checksum(&body, ip, ALL_NODES);
    body[2..4].copy_from_slice(&sum.to_be_bytes());
    buf[ETH_HEADER_LEN + IPV6_HEADER_LEN..].copy_from_slice(&body);
    buf
}

/// One neighbour discovery option as found in a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NdOption {
    /// Option type (2 = target link-layer address).
    pub kind: u8,
    /// Length in units of 8 bytes, as on the wire.
    pub len_units: u8,
    /// The option's bytes after type and length.
    pub data: Vec<u8>,
}

/// The fields of a neighbour advertisement message (the ICMPv6 part).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NaMessage {
    pub icmp_type: u8,
    pub code: u8,
    /// The checksum as found (zero in a body handed to a raw socket).
    pub checksum: u16,
    /// R flag.
    pub router: bool,
    /// S flag.
    pub solicited: bool,
    /// O flag.
    pub override_flag: bool,
    /// The 29 reserved bits after the flags (must be zero).
    pub reserved: u32,
    pub target: Ipv6Addr,
    pub options: Vec<NdOption>,
}

impl NaMessage {
    /// The MAC of the first target link-layer address option (type 2, length 1).
    pub fn target_mac(&self) -> Option<MacAddr> {
        self.options
            .iter()
            .find(|o| o.kind == NdpOptionTypes::TargetLLAddr.0 && o.len_units == 1)
            .and_then(|o| <[u8; 6]>::try_from(&o.data[..6]).ok())
            .map(MacAddr)
    }
}

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

/// Parse the ICMPv6 part of a neighbour advertisement (what a raw ICMPv6 socket gets or sends).
/// `None` when it is too short or not type 136.
pub fn parse_na_message(body: &[u8]) -> Option<NaMessage> {
    let na = NeighborAdvertPacket::new(body)?;
    if na.get_icmpv6_type() != Icmpv6Types::NeighborAdvert {
        return None;
    }
    let flags = na.get_flags();
    // Options by hand: a zero length would loop forever and pnet's length helper overflows
    // for lengths of 32 units and more. As the kernel's ndisc_parse_options, the options must
    // cover the rest of the message exactly: a byte or more left over is a malformed message,
    // not one option fewer.
    let mut options = Vec::new();
    let mut rest = body.get(24..).unwrap_or(&[]);
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
    Some(NaMessage {
        icmp_type: na.get_icmpv6_type().0,
        code: na.get_icmpv6_code().0,
        checksum: na.get_checksum(),
        router: flags & NeighborAdvertFlags::Router != 0,
        solicited: flags & NeighborAdvertFlags::Solicited != 0,
        override_flag: flags & NeighborAdvertFlags::Override != 0,
        reserved: (u32::from(flags & 0x1f) << 24) | na.get_reserved(),
        target: na.get_target_addr(),
        options,
    })
}

/// Parse an Ethernet frame holding an ARP packet or an IPv6 neighbour advertisement.
/// Anything else (or anything truncated) is `None`. Trailing Ethernet padding is ignored.
pub fn parse_frame(frame: &[u8]) -> Option<Announcement> {
    let eth = EthernetPacket::new(frame)?;
    let eth_dst = from_pnet(eth.get_destination());
    let eth_src = from_pnet(eth.get_source());
    match eth.get_ethertype() {
        EtherTypes::Arp => {
            let arp = ArpPacket::new(eth.payload())?;
            Some(Announcement::Arp {
                eth_dst,
                eth_src,
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
            let ip6 = Ipv6Packet::new(eth.payload())?;
            if ip6.get_version() != 6 || ip6.get_next_header() != IpNextHeaderProtocols::Icmpv6 {
                return None;
            }
            let payload_len = ip6.get_payload_length();
            let body = eth
                .payload()
                .get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + usize::from(payload_len))?;
            let message = parse_na_message(body)?;
            let src_ip = ip6.get_source();
            let dst_ip = ip6.get_destination();
            Some(Announcement::Na {
                eth_dst,
                eth_src,
                traffic_class: ip6.get_traffic_class(),
                flow_label: ip6.get_flow_label(),
                payload_len,
                next_header: ip6.get_next_header().0,
                hop_limit: ip6.get_hop_limit(),
                src_ip,
                dst_ip,
                checksum_ok: icmpv6_checksum(body, src_ip, dst_ip) == message.checksum,
                message,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x02, 0x42, 0xc0, 0x00, 0x02, 0x0a]);
    const V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    const V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x0a);

    // SPEC: S2
    #[test]
    fn arp_announcement_is_byte_exact() {
        #[rustfmt::skip]
        let want: [u8; 42] = [
            // Ethernet: broadcast, source MAC, ARP
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0x02, 0x42, 0xc0, 0x00, 0x02, 0x0a,
            0x08, 0x06,
            // htype 1, ptype 0x0800, hlen 6, plen 4, op 1
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
            // sender MAC, sender IP 192.0.2.10
            0x02, 0x42, 0xc0, 0x00, 0x02, 0x0a, 0xc0, 0x00, 0x02, 0x0a,
            // target MAC zero, target IP 192.0.2.10
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x0a,
        ];
        assert_eq!(arp_announcement(MAC, V4), want);
    }

    // SPEC: S2
    #[test]
    fn arp_announcement_parses_back_with_every_field() {
        let mut frame = arp_announcement(MAC, V4);
        frame.resize(60, 0); // Ethernet padding must not matter
        assert_eq!(
            parse_frame(&frame),
            Some(Announcement::Arp {
                eth_dst: MacAddr::BROADCAST,
                eth_src: MAC,
                htype: 1,
                ptype: 0x0800,
                hlen: 6,
                plen: 4,
                op: 1,
                sender_mac: MAC,
                sender_ip: V4,
                target_mac: MacAddr::ZERO,
                target_ip: V4,
            })
        );
    }

    #[rustfmt::skip]
    const WANT_BODY: [u8; 32] = [
        // type 136, code 0, checksum 0 (kernel fills it)
        0x88, 0x00, 0x00, 0x00,
        // flags: O only (0x20), reserved
        0x20, 0x00, 0x00, 0x00,
        // target fd00::a
        0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,
        // option: target link-layer address, length 1 (8 bytes), MAC
        0x02, 0x01, 0x02, 0x42, 0xc0, 0x00, 0x02, 0x0a,
    ];

    // SPEC: S3
    #[test]
    fn na_body_is_byte_exact() {
        assert_eq!(na_body(MAC, V6), WANT_BODY);
    }

    /// RFC 1071 sum written independently of pnet, to hand-check the frame's checksum.
    fn ones_complement_checksum(src: Ipv6Addr, dst: Ipv6Addr, body: &[u8]) -> u16 {
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

    // SPEC: S3
    #[test]
    fn na_frame_is_byte_exact() {
        // Checksum hand-computed: pseudo header (fd00::a, ff02::1, length 32, next header 58)
        // plus the body with a zero checksum, folded, complemented.
        let sum = ones_complement_checksum(V6, ALL_NODES, &WANT_BODY);
        assert_eq!(sum, 0x983d);
        #[rustfmt::skip]
        let head: [u8; 54] = [
            // Ethernet: 33:33:00:00:00:01, source MAC, IPv6
            0x33, 0x33, 0x00, 0x00, 0x00, 0x01,
            0x02, 0x42, 0xc0, 0x00, 0x02, 0x0a,
            0x86, 0xdd,
            // version 6, traffic class 0, flow label 0
            0x60, 0x00, 0x00, 0x00,
            // payload length 32, next header 58, hop limit 255
            0x00, 0x20, 0x3a, 0xff,
            // source fd00::a
            0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,
            // destination ff02::1
            0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        ];
        let mut want = head.to_vec();
        let mut body = WANT_BODY;
        body[2] = 0x98;
        body[3] = 0x3d;
        want.extend_from_slice(&body);
        assert_eq!(na_frame(MAC, V6), want);
    }

    // SPEC: S3
    #[test]
    fn na_frame_parses_back_with_every_field() {
        let got = parse_frame(&na_frame(MAC, V6)).expect("an NA");
        let Announcement::Na {
            eth_dst,
            eth_src,
            traffic_class,
            flow_label,
            payload_len,
            next_header,
            hop_limit,
            src_ip,
            dst_ip,
            checksum_ok,
            message,
        } = got
        else {
            panic!("not an NA: {got:?}");
        };
        assert_eq!(eth_dst, ALL_NODES_MAC);
        assert_eq!(eth_src, MAC);
        assert_eq!((traffic_class, flow_label), (0, 0));
        assert_eq!((payload_len, next_header, hop_limit), (32, 58, 255));
        assert_eq!((src_ip, dst_ip), (V6, ALL_NODES));
        assert!(checksum_ok);
        assert_eq!(
            message,
            NaMessage {
                icmp_type: 136,
                code: 0,
                checksum: 0x983d,
                router: false,
                solicited: false,
                override_flag: true,
                reserved: 0,
                target: V6,
                options: vec![NdOption {
                    kind: 2,
                    len_units: 1,
                    data: MAC.0.to_vec()
                }],
            }
        );
        assert_eq!(message.target_mac(), Some(MAC));
    }

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

    // SPEC: R3 (found by the `frames` fuzz target: one stray byte after the message was
    // dropped silently, and the message taken as whole)
    #[test]
    fn a_message_whose_options_leave_a_partial_option_is_refused() {
        let mut body = na_body(MAC, V6).to_vec();
        body.push(0x02);
        assert_eq!(parse_na_message(&body), None);
        // the 25-byte message the fuzzer found: no option, one byte after the target
        let mut short = na_body(MAC, V6)[..24].to_vec();
        short.push(0x88);
        assert_eq!(parse_na_message(&short), None);
        assert!(parse_na_message(&na_body(MAC, V6)[..24]).is_some());
    }

    #[test]
    fn raw_body_parses() {
        let m = parse_na_message(&na_body(MAC, V6)).unwrap();
        assert_eq!(m.checksum, 0);
        assert_eq!(m.target, V6);
        assert_eq!(m.target_mac(), Some(MAC));
    }
}
