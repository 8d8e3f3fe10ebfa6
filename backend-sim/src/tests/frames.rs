use super::*;
use crate::NeighState;
use nsplumb_core::{Errno, MacAddr, VethRequest};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// SPEC: S2, T1
#[test]
fn arp_crosses_veth_and_bridge_and_counts() {
    let mut k = Kernel::new(1);
    let c = k.create_netns("c").unwrap();
    let o = k.create_netns("o").unwrap();
    let br = k.create_bridge(&H, "br0").unwrap();
    k.set_link_up(&H, br).unwrap();
    let mk = |k: &mut Kernel, host: &str, ns: &NetnsRef| {
        k.create_veth(
            &H,
            &VethRequest {
                host_name: host.into(),
                host_master: Some(br),
                host_up: true,
                peer_netns: ns.clone(),
                peer_name: "eth0".into(),
                peer_mac: None,
                mtu: None,
            },
        )
        .unwrap()
    };
    let p1 = mk(&mut k, "vh1", &c);
    let p2 = mk(&mut k, "vh2", &o);
    k.set_link_up(&c, p1.peer_index).unwrap();
    k.set_link_up(&o, p2.peer_index).unwrap();
    let ip = Ipv4Addr::new(192, 0, 2, 7);
    let old: MacAddr = "02:00:00:00:00:01".parse().unwrap();
    // Existing entries get updated; absent ones are not created (arp_accept=0).
    k.add_neighbour(
        &o,
        p2.peer_index,
        IpAddr::V4(ip),
        old,
        NeighState::Reachable,
    )
    .unwrap();
    let mac = k.link_by_index(&c, p1.peer_index).unwrap().mac.unwrap();
    // Linux 6.x: without any IPv4 address in the receiving namespace the GARP is ignored.
    k.send_arp(&c, p1.peer_index, mac, ip).unwrap();
    assert_eq!(k.neighbours(&o).unwrap()[0].mac, old);
    k.add_address(&o, p2.peer_index, net("192.0.2.1/24"), false)
        .unwrap();
    k.add_address(&H, br, net("192.0.2.2/24"), false).unwrap();
    k.send_arp(&c, p1.peer_index, mac, ip).unwrap();
    let n = k.neighbours(&o).unwrap();
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].mac, n[0].state), (mac, NeighState::Stale));
    assert!(k.neighbours(&H).unwrap().is_empty());
    let s = k.link_stats(&c, p1.peer_index).unwrap();
    assert_eq!((s.tx_packets, s.tx_bytes), (2, 84));
    let s = k.link_stats(&H, p1.host_index).unwrap();
    assert_eq!((s.rx_packets, s.rx_bytes), (2, 84));
    let s = k.link_stats(&H, p2.host_index).unwrap();
    assert_eq!((s.tx_packets, s.tx_bytes), (2, 84));
    let s = k.link_stats(&o, p2.peer_index).unwrap();
    assert_eq!((s.rx_packets, s.rx_bytes), (2, 84));
    let s = k.link_stats(&H, br).unwrap();
    assert_eq!(s.rx_packets, 2);
    let log = k.frame_log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].netns, c);
    assert_eq!(log[0].ifname, "eth0");
    assert_eq!(log[0].bytes, nsplumb_wire::arp_announcement(mac, ip));
    k.clear_frame_log();
    assert!(k.frame_log().is_empty());
    // arp_accept=1 creates entries.
    k.write_sysctl(&H, "net/ipv4/conf/br0/arp_accept", "1")
        .unwrap();
    k.send_arp(&c, p1.peer_index, mac, ip).unwrap();
    assert_eq!(k.neighbours(&H).unwrap().len(), 1);
    // Down → ENETDOWN; gone → ENODEV.
    k.set_link_down(&c, p1.peer_index).unwrap();
    assert_eq!(k.send_arp(&c, p1.peer_index, mac, ip), Err(Errno::ENETDOWN));
    assert_eq!(k.send_arp(&c, 77, mac, ip), Err(Errno::ENODEV));
}

// SPEC: S3
#[test]
fn na_overrides_existing_entries_and_errnos() {
    let mut k = Kernel::new(1);
    let c = k.create_netns("c").unwrap();
    let (h, p) = veth(&mut k, &H, "vh", &c, "eth0");
    k.set_link_up(&H, h).unwrap();
    k.set_link_up(&c, p).unwrap();
    let ip: Ipv6Addr = "fd00::7".parse().unwrap();
    let mac = k.link_by_index(&c, p).unwrap().mac.unwrap();
    assert_eq!(k.send_na(&c, p, mac, ip), Err(Errno::EADDRNOTAVAIL));
    k.add_address(&c, p, net("fd00::7/64"), true).unwrap();
    let old: MacAddr = "02:00:00:00:00:01".parse().unwrap();
    k.add_neighbour(&H, h, IpAddr::V6(ip), old, NeighState::Reachable)
        .unwrap();
    k.send_na(&c, p, mac, ip).unwrap();
    let n = k.neighbours(&H).unwrap();
    assert_eq!((n[0].mac, n[0].state), (mac, NeighState::Stale));
    assert_eq!(k.frame_log()[0].bytes, nsplumb_wire::na_frame(mac, ip));
    assert_eq!(k.link_stats(&H, h).unwrap().rx_bytes, 86);
    // Permanent entries are never overridden.
    k.add_neighbour(&H, h, IpAddr::V6(ip), old, NeighState::Permanent)
        .unwrap();
    k.send_na(&c, p, mac, ip).unwrap();
    assert_eq!(k.neighbours(&H).unwrap()[0].mac, old);
    k.write_sysctl(&c, "net/ipv6/conf/eth0/disable_ipv6", "1")
        .unwrap();
    assert_eq!(k.send_na(&c, p, mac, ip), Err(Errno::EADDRNOTAVAIL));
    k.write_sysctl(&c, "net/ipv6/conf/eth0/disable_ipv6", "0")
        .unwrap();
    k.set_link_down(&c, p).unwrap();
    k.add_address(&c, p, net("fd00::7/64"), true).unwrap();
    assert_eq!(k.send_na(&c, p, mac, ip), Err(Errno::ENETUNREACH));
}

#[test]
fn frame_log_capacity_and_link_local_bind() {
    let mut k = Kernel::new(1);
    let (a, b) = veth(&mut k, &H, "v0", &H, "v1");
    k.set_link_up(&H, a).unwrap();
    k.set_link_up(&H, b).unwrap();
    k.advance_by(std::time::Duration::from_secs(3));
    let mac = k.link_by_index(&H, a).unwrap().mac.unwrap();
    let ll = crate::addr::eui64_link_local(mac).addr();
    k.send_na(&H, a, mac, ll).unwrap();
    // v1's link-local is not on v0: bind with scope v0 fails.
    let mac_b = k.link_by_index(&H, b).unwrap().mac.unwrap();
    let ll_b = crate::addr::eui64_link_local(mac_b).addr();
    assert_eq!(k.send_na(&H, a, mac, ll_b), Err(Errno::EADDRNOTAVAIL));
    k.set_frame_log_capacity(Some(4));
    for _ in 0..10 {
        k.send_arp(&H, a, mac, Ipv4Addr::new(192, 0, 2, 1)).unwrap();
    }
    assert!(k.frame_log().len() <= 4);
    k.set_frame_log_capacity(Some(0));
    k.send_arp(&H, a, mac, Ipv4Addr::new(192, 0, 2, 1)).unwrap();
    let _ = k.frame_log();
}
