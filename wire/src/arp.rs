//! SPEC S2: the unsolicited ARP request.

use crate::{to_pnet, ARP_FRAME_LEN, ETH_HEADER_LEN};
use nsplumb_core::MacAddr;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
use std::net::Ipv4Addr;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{MAC, V4};
    use crate::{parse_frame, Announcement};

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
}
