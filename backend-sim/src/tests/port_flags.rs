//! Bridge port flags (hairpin, isolated): the request, the link read, and what they do to
//! frames crossing the bridge.

use super::*;
use nsplumb_core::{BridgeOptions, Errno, PortFlags, PortFlagsChange};
use std::net::IpAddr;

const HAIRPIN: PortFlagsChange = PortFlagsChange {
    hairpin: Some(true),
    isolated: None,
};
const ISOLATED: PortFlagsChange = PortFlagsChange {
    hairpin: None,
    isolated: Some(true),
};

// SPEC: L2, L4, L6
#[test]
fn flags_are_set_on_ports_only_and_read_back() {
    let mut k = Kernel::new(1);
    let b = bridged(&mut k, 1, &BridgeOptions::default());
    let p = b.ports[0];
    assert_eq!(
        k.link_by_index(&H, p).unwrap().port_flags,
        Some(PortFlags::default())
    );
    assert_eq!(k.link_by_index(&H, b.br).unwrap().port_flags, None);
    k.set_port_flags(&H, p, HAIRPIN).unwrap();
    k.set_port_flags(&H, p, ISOLATED).unwrap();
    let both = PortFlags {
        hairpin: true,
        isolated: true,
    };
    assert_eq!(k.link_by_index(&H, p).unwrap().port_flags, Some(both));
    k.set_port_flags(
        &H,
        p,
        PortFlagsChange {
            hairpin: Some(false),
            isolated: None,
        },
    )
    .unwrap();
    assert_eq!(
        k.link_by_index(&H, p).unwrap().port_flags,
        Some(PortFlags {
            hairpin: false,
            isolated: true
        })
    );
    // Measured: `bridge link set` on a link that is no port, or on the bridge → EOPNOTSUPP.
    assert_eq!(
        k.set_port_flags(&b.ns[0], b.eths[0], HAIRPIN),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(k.set_port_flags(&H, b.br, HAIRPIN), Err(Errno::EOPNOTSUPP));
    assert_eq!(k.set_port_flags(&H, 99, HAIRPIN), Err(Errno::ENODEV));
    // Released, the link is no port any more: the flags go with the port.
    k.set_master(&H, p, None).unwrap();
    assert_eq!(k.link_by_index(&H, p).unwrap().port_flags, None);
    k.set_master(&H, p, Some(b.br)).unwrap();
    assert_eq!(
        k.link_by_index(&H, p).unwrap().port_flags,
        Some(PortFlags::default())
    );
}

// SPEC: L2
#[test]
fn hairpin_sends_a_frame_back_out_of_its_port() {
    let mut k = Kernel::new(1);
    let b = bridged(&mut k, 2, &BridgeOptions::default());
    let rx = |k: &Kernel| k.link_stats(&b.ns[0], b.eths[0]).unwrap().rx_packets;
    garp(&mut k, &b, 0);
    assert_eq!(rx(&k), 0, "no hairpin: nothing comes back");
    k.set_port_flags(&H, b.ports[0], HAIRPIN).unwrap();
    garp(&mut k, &b, 0);
    assert_eq!(rx(&k), 1, "hairpin: the frame comes back to its sender");
    let tx = k.link_stats(&H, b.ports[0]).unwrap().tx_packets;
    assert_eq!(tx, 1);
}

// SPEC: L4
#[test]
fn isolated_ports_do_not_forward_to_each_other() {
    let mut k = Kernel::new(1);
    let b = bridged(&mut k, 3, &BridgeOptions::default());
    listening(&mut k, &b);
    k.add_address(&H, b.br, net("192.0.2.1/24"), false).unwrap();
    k.write_sysctl(&H, "net/ipv4/conf/br0/arp_accept", "1")
        .unwrap();
    k.set_port_flags(&H, b.ports[0], ISOLATED).unwrap();
    k.set_port_flags(&H, b.ports[1], ISOLATED).unwrap();
    garp(&mut k, &b, 0);
    assert!(!heard(&k, &b, 1), "isolated to isolated: dropped");
    assert!(heard(&k, &b, 2), "isolated to a plain port: forwarded");
    let br_heard = k
        .neighbours(&H)
        .unwrap()
        .iter()
        .any(|n| n.ip == IpAddr::V4(GARP_IP));
    assert!(br_heard, "the bridge's own stack still gets it");
    // From the plain port, both isolated ones hear it.
    let mut k2 = Kernel::new(1);
    let b2 = bridged(&mut k2, 3, &BridgeOptions::default());
    listening(&mut k2, &b2);
    k2.set_port_flags(&H, b2.ports[0], ISOLATED).unwrap();
    k2.set_port_flags(&H, b2.ports[1], ISOLATED).unwrap();
    garp(&mut k2, &b2, 2);
    assert!(heard(&k2, &b2, 0) && heard(&k2, &b2, 1));
}
