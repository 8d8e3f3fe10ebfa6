//! The neighbour solicitation (RFC 4861 4.3) as Linux's `ndisc_send_ns` builds it: to resolve
//! an address, or from `::` to probe one during duplicate address detection (RFC 4862 5.4),
//! with the nonce of enhanced DAD (RFC 7527, `enhanced_dad`, on by default).

use crate::ndisc::{
    icmpv6_checksum, icmpv6_frame, ll_addr_option, multicast_mac, parse_icmpv6_frame,
    parse_options, solicited_node, NdHeader, NdOption,
};
use nsplumb_core::MacAddr;
use pnet_packet::icmpv6::ndp::{MutableNeighborSolicitPacket, NeighborSolicitPacket};
use pnet_packet::icmpv6::{Icmpv6Code, Icmpv6Types};
use std::net::Ipv6Addr;

/// Option type of a source link-layer address.
pub const ND_OPT_SOURCE_LL_ADDR: u8 = 1;
/// Option type of the enhanced DAD nonce (RFC 7527).
pub const ND_OPT_NONCE: u8 = 14;
/// Length of a solicitation's fixed part (type, code, checksum, reserved, target).
const NS_FIXED_LEN: usize = 24;

/// The ICMPv6 part of a neighbour solicitation sent from `src` for `target`: type 135, code 0,
/// checksum 0, reserved 0, then a source link-layer address option with `mac` unless `src` is
/// `::` (RFC 4861 7.2.2: a DAD probe carries none), then the nonce option when given.
pub fn ns_body(mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr, nonce: Option<[u8; 6]>) -> Vec<u8> {
    let with_source = !src.is_unspecified();
    let options = [
        with_source.then_some((ND_OPT_SOURCE_LL_ADDR, mac.0)),
        nonce.map(|n| (ND_OPT_NONCE, n)),
    ];
    let mut buf = vec![0u8; NS_FIXED_LEN];
    {
        let mut ns = MutableNeighborSolicitPacket::new(&mut buf).expect("buffer sized for NS");
        ns.set_icmpv6_type(Icmpv6Types::NeighborSolicit);
        ns.set_icmpv6_code(Icmpv6Code(0));
        ns.set_checksum(0);
        ns.set_reserved(0);
        ns.set_target_addr(target);
    }
    // Options by hand, as in `na_body`: type, length 1 (8 bytes), six bytes.
    for (kind, data) in options.into_iter().flatten() {
        buf.extend_from_slice(&[kind, 1]);
        buf.extend_from_slice(&data);
    }
    buf
}

/// The Ethernet frame of [`ns_body`] as the kernel emits it: to the solicited-node group of
/// `target` (and its `33:33:ff:..` MAC), from `mac` and `src`, hop limit 255, traffic class and
/// flow label 0, checksum filled in. `src` `::` with a nonce is Linux's DAD probe.
pub fn neighbour_solicitation(
    mac: MacAddr,
    src: Ipv6Addr,
    target: Ipv6Addr,
    nonce: Option<[u8; 6]>,
) -> Vec<u8> {
    let group = solicited_node(target);
    let mut body = ns_body(mac, src, target, nonce);
    icmpv6_frame(multicast_mac(group), mac, src, group, &mut body)
}

/// The fields of a neighbour solicitation message (the ICMPv6 part).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NsMessage {
    pub icmp_type: u8,
    pub code: u8,
    /// The checksum as found.
    pub checksum: u16,
    /// The 32 reserved bits (must be zero).
    pub reserved: u32,
    pub target: Ipv6Addr,
    pub options: Vec<NdOption>,
}

impl NsMessage {
    /// The MAC of the first source link-layer address option (type 1, length 1).
    pub fn source_mac(&self) -> Option<MacAddr> {
        ll_addr_option(&self.options, ND_OPT_SOURCE_LL_ADDR)
    }

    /// The first enhanced DAD nonce (type 14, length 1).
    pub fn nonce(&self) -> Option<[u8; 6]> {
        self.options
            .iter()
            .find(|o| o.kind == ND_OPT_NONCE && o.len_units == 1)
            .and_then(|o| <[u8; 6]>::try_from(&o.data[..6]).ok())
    }
}

/// A neighbour solicitation found in a frame, every field kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Solicitation {
    pub header: NdHeader,
    /// The ICMPv6 checksum is right for the header's source and destination.
    pub checksum_ok: bool,
    pub message: NsMessage,
}

impl Solicitation {
    /// A duplicate address detection probe: sent from `::` (RFC 4862 5.4.2).
    pub fn is_dad(&self) -> bool {
        self.header.src_ip.is_unspecified()
    }
}

/// Parse the ICMPv6 part of a neighbour solicitation. `None` when it is too short, not type
/// 135, or its options do not cover the rest of the message exactly.
pub fn parse_ns_message(body: &[u8]) -> Option<NsMessage> {
    let ns = NeighborSolicitPacket::new(body)?;
    if ns.get_icmpv6_type() != Icmpv6Types::NeighborSolicit {
        return None;
    }
    let options = parse_options(body.get(NS_FIXED_LEN..).unwrap_or(&[]))?;
    Some(NsMessage {
        icmp_type: ns.get_icmpv6_type().0,
        code: ns.get_icmpv6_code().0,
        checksum: ns.get_checksum(),
        reserved: ns.get_reserved(),
        target: ns.get_target_addr(),
        options,
    })
}

/// Parse an Ethernet frame holding an IPv6 neighbour solicitation; anything else (or anything
/// truncated) is `None`. Trailing Ethernet padding is ignored.
pub fn parse_solicitation(frame: &[u8]) -> Option<Solicitation> {
    let (header, body) = parse_icmpv6_frame(frame)?;
    let message = parse_ns_message(body)?;
    let checksum_ok = icmpv6_checksum(body, header.src_ip, header.dst_ip) == message.checksum;
    Some(Solicitation {
        header,
        checksum_ok,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{ones_complement_checksum, MAC, V6};
    use crate::{na_frame, parse_frame, ETH_HEADER_LEN, IPV6_HEADER_LEN};

    const NONCE: [u8; 6] = [1, 2, 3, 4, 5, 6];
    const SRC: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

    #[rustfmt::skip]
    const DAD_BODY: [u8; 32] = [
        // type 135, code 0, checksum 0 (filled in the frame), reserved
        0x87, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // target fd00::a
        0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,
        // option: nonce, length 1 (8 bytes), six bytes; no source link-layer address from ::
        0x0e, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
    ];

    #[test]
    fn dad_probe_body_has_the_nonce_and_no_source_address() {
        assert_eq!(
            ns_body(MAC, Ipv6Addr::UNSPECIFIED, V6, Some(NONCE)),
            DAD_BODY
        );
        // Without enhanced DAD: the fixed part alone.
        assert_eq!(
            ns_body(MAC, Ipv6Addr::UNSPECIFIED, V6, None),
            DAD_BODY[..24]
        );
    }

    #[test]
    fn dad_probe_frame_is_byte_exact() {
        let group: Ipv6Addr = "ff02::1:ff00:a".parse().unwrap();
        // Checksum hand-computed: pseudo header (::, ff02::1:ff00:a, length 32, next header
        // 58) plus the body with a zero checksum, folded, complemented.
        assert_eq!(
            ones_complement_checksum(Ipv6Addr::UNSPECIFIED, group, &DAD_BODY),
            0x667e
        );
        #[rustfmt::skip]
        let head: [u8; 54] = [
            // Ethernet: 33:33:ff:00:00:0a (solicited-node group of fd00::a), source MAC, IPv6
            0x33, 0x33, 0xff, 0x00, 0x00, 0x0a,
            0x02, 0x42, 0xc0, 0x00, 0x02, 0x0a,
            0x86, 0xdd,
            // version 6, traffic class 0, flow label 0
            0x60, 0x00, 0x00, 0x00,
            // payload length 32, next header 58, hop limit 255
            0x00, 0x20, 0x3a, 0xff,
            // source ::
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            // destination ff02::1:ff00:a
            0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x0a,
        ];
        let mut want = head.to_vec();
        let mut body = DAD_BODY;
        body[2..4].copy_from_slice(&[0x66, 0x7e]);
        want.extend_from_slice(&body);
        assert_eq!(
            neighbour_solicitation(MAC, Ipv6Addr::UNSPECIFIED, V6, Some(NONCE)),
            want
        );
    }

    #[test]
    fn dad_probe_parses_back_with_every_field() {
        let mut frame = neighbour_solicitation(MAC, Ipv6Addr::UNSPECIFIED, V6, Some(NONCE));
        frame.resize(frame.len() + 4, 0); // Ethernet padding must not matter
        let got = parse_solicitation(&frame).expect("an NS");
        assert_eq!(
            got,
            Solicitation {
                header: NdHeader {
                    eth_dst: MacAddr([0x33, 0x33, 0xff, 0x00, 0x00, 0x0a]),
                    eth_src: MAC,
                    traffic_class: 0,
                    flow_label: 0,
                    payload_len: 32,
                    next_header: 58,
                    hop_limit: 255,
                    src_ip: Ipv6Addr::UNSPECIFIED,
                    dst_ip: "ff02::1:ff00:a".parse().unwrap(),
                },
                checksum_ok: true,
                message: NsMessage {
                    icmp_type: 135,
                    code: 0,
                    checksum: 0x667e,
                    reserved: 0,
                    target: V6,
                    options: vec![NdOption {
                        kind: ND_OPT_NONCE,
                        len_units: 1,
                        data: NONCE.to_vec(),
                    }],
                },
            }
        );
        assert!(got.is_dad());
        assert_eq!(got.message.nonce(), Some(NONCE));
        assert_eq!(got.message.source_mac(), None);
    }

    #[test]
    fn resolution_carries_the_source_link_layer_address() {
        let body = ns_body(MAC, SRC, V6, None);
        #[rustfmt::skip]
        let want: [u8; 32] = [
            0x87, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,
            // option: source link-layer address, length 1, MAC
            0x01, 0x01, 0x02, 0x42, 0xc0, 0x00, 0x02, 0x0a,
        ];
        assert_eq!(body, want);
        let frame = neighbour_solicitation(MAC, SRC, V6, None);
        assert_eq!(
            &frame[ETH_HEADER_LEN + IPV6_HEADER_LEN + 2..][..2],
            &[0xbb, 0x3b]
        );
        let got = parse_solicitation(&frame).expect("an NS");
        assert!(got.checksum_ok && !got.is_dad());
        assert_eq!(got.header.src_ip, SRC);
        assert_eq!(got.message.source_mac(), Some(MAC));
        assert_eq!(got.message.nonce(), None);
    }

    #[test]
    fn other_frames_and_broken_solicitations_are_none() {
        let frame = neighbour_solicitation(MAC, Ipv6Addr::UNSPECIFIED, V6, Some(NONCE));
        // An NS is no announcement, an NA no solicitation.
        assert_eq!(parse_frame(&frame), None);
        assert_eq!(parse_solicitation(&na_frame(MAC, V6)), None);
        assert_eq!(parse_solicitation(&frame[..frame.len() - 1]), None);
        let body = ETH_HEADER_LEN + IPV6_HEADER_LEN;
        let mut bad = frame.clone();
        bad[body + 25] = 0; // zero-length option
        assert_eq!(parse_solicitation(&bad), None);
        let mut bad = frame.clone();
        bad[body + 31] ^= 1; // nonce changed, checksum not
        assert!(!parse_solicitation(&bad).unwrap().checksum_ok);
        assert_eq!(parse_ns_message(&DAD_BODY[..23]), None);
    }
}
