//! SPEC R3, S2, S3: bytes read from the wire through `nsplumb-wire`'s ARP and neighbour
//! advertisement parsers, and the builders' round trips.
//!
//! Properties: a parse never reads past the frame (a truncated frame is `None`, padding changes
//! nothing); what parses is what the bytes say (the options cover the message exactly, the
//! reserved bits fit 29 bits, the checksum verdict is the checksum's); a parsed announcement of
//! the shape nsplumb sends is byte for byte what the builder emits for its values; and for any
//! MAC and addresses taken from the input, build → parse gives those values back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsplumb_core::MacAddr;
use nsplumb_wire::{
    arp_announcement, icmpv6_checksum, na_body, na_frame, parse_frame, parse_na_message,
    Announcement, NaMessage, ALL_NODES, ALL_NODES_MAC, ARP_FRAME_LEN, ETH_HEADER_LEN,
    IPV6_HEADER_LEN, NA_BODY_LEN, NA_FRAME_LEN,
};
use std::net::{Ipv4Addr, Ipv6Addr};

fuzz_target!(|data: &[u8]| {
    check_frame(data);
    check_message(data);
    check_builders(data);
});

fn check_frame(data: &[u8]) {
    let Some(parsed) = parse_frame(data) else {
        return;
    };
    match &parsed {
        Announcement::Arp {
            eth_dst,
            eth_src,
            htype,
            ptype,
            hlen,
            plen,
            op,
            sender_mac,
            sender_ip,
            target_mac,
            target_ip,
        } => {
            assert!(
                data.len() >= ARP_FRAME_LEN,
                "ARP parsed from {} bytes",
                data.len()
            );
            // Padding after the ARP payload does not matter.
            assert_eq!(parse_frame(&data[..ARP_FRAME_LEN]).as_ref(), Some(&parsed));
            let canonical = *eth_dst == MacAddr::BROADCAST
                && eth_src == sender_mac
                && (*htype, *ptype, *hlen, *plen, *op) == (1, 0x0800, 6, 4, 1)
                && *target_mac == MacAddr::ZERO
                && sender_ip == target_ip;
            if canonical {
                assert_eq!(
                    arp_announcement(*sender_mac, *sender_ip),
                    &data[..ARP_FRAME_LEN],
                    "an announcement parsed to values the builder writes differently"
                );
            }
        }
        Announcement::Na {
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
        } => {
            let end = ETH_HEADER_LEN + IPV6_HEADER_LEN + usize::from(*payload_len);
            assert!(data.len() >= end, "NA parsed past the frame's end");
            assert_eq!(*next_header, 58);
            assert_eq!(data[ETH_HEADER_LEN] >> 4, 6, "IPv6 version");
            assert!(*flow_label < 1 << 20);
            let body = &data[ETH_HEADER_LEN + IPV6_HEADER_LEN..end];
            assert_eq!(parse_na_message(body).as_ref(), Some(message));
            assert_eq!(
                *checksum_ok,
                icmpv6_checksum(body, *src_ip, *dst_ip) == message.checksum
            );
            // Bytes after the payload (padding) do not matter.
            assert_eq!(parse_frame(&data[..end]).as_ref(), Some(&parsed));
            let canonical = *eth_dst == ALL_NODES_MAC
                && (*traffic_class, *flow_label, *hop_limit) == (0, 0, 255)
                && usize::from(*payload_len) == NA_BODY_LEN
                && *dst_ip == ALL_NODES
                && message.target == *src_ip
                && message.target_mac() == Some(*eth_src)
                && message.options.len() == 1
                && (message.code, message.reserved) == (0, 0)
                && (message.router, message.solicited, message.override_flag)
                    == (false, false, true)
                && *checksum_ok;
            if canonical {
                assert_eq!(
                    na_frame(*eth_src, *src_ip),
                    &data[..NA_FRAME_LEN],
                    "an NA parsed to values the builder writes differently"
                );
            }
        }
    }
}

/// The ICMPv6 message alone, as a raw socket reads it.
fn check_message(body: &[u8]) {
    let Some(m) = parse_na_message(body) else {
        return;
    };
    assert_eq!(m.icmp_type, 136);
    assert!(
        m.reserved < 1 << 29,
        "reserved {:#x} wider than 29 bits",
        m.reserved
    );
    assert_eq!(&body[8..24], &m.target.octets());
    // The options cover the rest of the message exactly (RFC 4861 4.6: lengths in units of
    // 8 bytes, none zero), each as found.
    let covered: usize = m.options.iter().map(|o| usize::from(o.len_units) * 8).sum();
    assert_eq!(
        24 + covered,
        body.len(),
        "options do not cover the message: {m:?}"
    );
    let mut at = 24;
    for o in &m.options {
        let len = usize::from(o.len_units) * 8;
        assert_eq!((body[at], body[at + 1]), (o.kind, o.len_units));
        assert_eq!(o.data, &body[at + 2..at + len]);
        at += len;
    }
    let first_ll = m.options.iter().find(|o| o.kind == 2 && o.len_units == 1);
    assert_eq!(
        m.target_mac().map(|a| a.0.to_vec()),
        first_ll.map(|o| o.data.clone())
    );
}

/// Whatever MAC and addresses the input holds, the builders' frames parse back to them.
fn check_builders(data: &[u8]) {
    let Some(bytes) = data.get(..26) else {
        return;
    };
    let mac = MacAddr(bytes[..6].try_into().unwrap());
    let v4 = Ipv4Addr::from(<[u8; 4]>::try_from(&bytes[6..10]).unwrap());
    let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[10..26]).unwrap());

    let arp = arp_announcement(mac, v4);
    assert_eq!(arp.len(), ARP_FRAME_LEN);
    assert_eq!(
        parse_frame(&arp),
        Some(Announcement::Arp {
            eth_dst: MacAddr::BROADCAST,
            eth_src: mac,
            htype: 1,
            ptype: 0x0800,
            hlen: 6,
            plen: 4,
            op: 1,
            sender_mac: mac,
            sender_ip: v4,
            target_mac: MacAddr::ZERO,
            target_ip: v4,
        })
    );

    let body = na_body(mac, v6);
    let message = parse_na_message(&body).expect("a built NA body parses");
    assert_eq!((message.target, message.target_mac()), (v6, Some(mac)));
    assert_eq!(message.checksum, 0, "the kernel fills the checksum in");
    let frame = na_frame(mac, v6);
    assert_eq!(frame.len(), NA_FRAME_LEN);
    match parse_frame(&frame) {
        Some(Announcement::Na {
            eth_src,
            src_ip,
            checksum_ok,
            message: NaMessage { target, .. },
            ..
        }) => {
            assert_eq!((eth_src, src_ip, target), (mac, v6, v6));
            assert!(checksum_ok, "built NA has a wrong checksum");
        }
        other => panic!("built NA parsed as {other:?}"),
    }
}
