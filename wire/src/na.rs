//! SPEC S3: the unsolicited neighbour advertisement, as a raw socket's body and as a frame.

use crate::ndisc::{icmpv6_frame, ll_addr_option, parse_options, NdOption};
use crate::{ALL_NODES, ALL_NODES_MAC, NA_BODY_LEN};
use nsplumb_core::MacAddr;
use pnet_packet::icmpv6::ndp::{
    MutableNeighborAdvertPacket, NdpOptionTypes, NeighborAdvertFlags, NeighborAdvertPacket,
};
use pnet_packet::icmpv6::{Icmpv6Code, Icmpv6Types};
use std::net::Ipv6Addr;

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

/// SPEC S3: the Ethernet frame the kernel emits for [`na_body`] sent from `ip` to `ff02::1`
/// with hop limit 255 and automatic flow labels off: destination `33:33:00:00:00:01`,
/// source `mac`, IPv6 (traffic class 0, flow label 0, payload length 32, next header 58,
/// hop limit 255, source `ip`, destination `ff02::1`), body with the checksum filled in.
pub fn na_frame(mac: MacAddr, ip: Ipv6Addr) -> Vec<u8> {
    icmpv6_frame(ALL_NODES_MAC, mac, ip, ALL_NODES, &mut na_body(mac, ip))
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
        ll_addr_option(&self.options, NdpOptionTypes::TargetLLAddr.0)
    }
}

/// Parse the ICMPv6 part of a neighbour advertisement (what a raw ICMPv6 socket gets or sends).
/// `None` when it is too short, not type 136, or its options are malformed.
pub fn parse_na_message(body: &[u8]) -> Option<NaMessage> {
    let na = NeighborAdvertPacket::new(body)?;
    if na.get_icmpv6_type() != Icmpv6Types::NeighborAdvert {
        return None;
    }
    let flags = na.get_flags();
    let options = parse_options(body.get(24..).unwrap_or(&[]))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{ones_complement_checksum, MAC, V6};
    use crate::{parse_frame, Announcement};

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
