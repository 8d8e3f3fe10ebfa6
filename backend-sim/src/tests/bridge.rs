use super::*;
use nsplumb_core::{Errno, LinkEvent, MacAddr, PortState};
use std::time::Duration;

#[test]
fn bridge_defaults_and_carrier_rules() {
    // Linux 6.x: an up bridge without ports has carrier; after its last port goes it has not.
    let mut k = Kernel::new(1);
    let br = k.create_bridge(&H, "br0").unwrap();
    let b = k.link_by_index(&H, br).unwrap();
    let bi = b.bridge.unwrap();
    assert!(!bi.stp_enabled);
    assert_eq!(bi.forward_delay_cs, 1500);
    k.set_link_up(&H, br).unwrap();
    assert!(k.link_by_index(&H, br).unwrap().flags.lower_up);
    let (a, peer) = veth(&mut k, &H, "v0", &H, "v1");
    k.set_master(&H, a, Some(br)).unwrap();
    let b = k.link_by_index(&H, br).unwrap();
    assert!(!b.flags.lower_up);
    assert_eq!(
        b.mac,
        k.link_by_index(&H, a).unwrap().mac,
        "bridge takes the port MAC"
    );
    assert_eq!(
        k.link_by_index(&H, a).unwrap().port_state,
        Some(PortState::Disabled)
    );
    k.set_link_up(&H, a).unwrap();
    assert_eq!(
        k.link_by_index(&H, a).unwrap().port_state,
        Some(PortState::Disabled),
        "no carrier"
    );
    k.set_link_up(&H, peer).unwrap();
    assert_eq!(
        k.link_by_index(&H, a).unwrap().port_state,
        Some(PortState::Forwarding)
    );
    assert!(k.link_by_index(&H, br).unwrap().flags.lower_up);
    k.set_link_down(&H, br).unwrap();
    assert_eq!(
        k.link_by_index(&H, a).unwrap().port_state,
        Some(PortState::Disabled)
    );
    k.set_link_up(&H, br).unwrap();
    k.set_master(&H, a, None).unwrap();
    let b = k.link_by_index(&H, br).unwrap();
    assert!(!b.flags.lower_up);
    assert_eq!(b.mac, None, "00:00:00:00:00:00, reported as no MAC");
    assert_eq!(k.link_by_index(&H, a).unwrap().port_state, None);
}

#[test]
fn master_errnos() {
    let mut k = Kernel::new(1);
    let br = k.create_bridge(&H, "br0").unwrap();
    let br2 = k.create_bridge(&H, "br1").unwrap();
    let (a, _) = veth(&mut k, &H, "v0", &H, "v1");
    assert_eq!(k.set_master(&H, a, Some(99)), Err(Errno::EINVAL));
    assert_eq!(k.set_master(&H, a, Some(1)), Err(Errno::EOPNOTSUPP));
    assert_eq!(k.set_master(&H, 1, Some(br)), Err(Errno::EINVAL));
    assert_eq!(k.set_master(&H, br2, Some(br)), Err(Errno::ELOOP));
    k.set_master(&H, a, Some(br)).unwrap();
    k.set_master(&H, a, Some(br2)).unwrap();
    assert_eq!(k.link_by_index(&H, a).unwrap().master, Some(br2));
    assert!(k.lk_ports(br).is_empty());
}

impl Kernel {
    fn lk_ports(&self, br: u32) -> Vec<u32> {
        self.list_links(&H)
            .unwrap()
            .iter()
            .filter(|l| l.master == Some(br))
            .map(|l| l.index)
            .collect()
    }
}

// SPEC: A12
#[test]
fn stp_listening_learning_forwarding_with_events() {
    let mut k = Kernel::new(1);
    let br = k.create_bridge(&H, "br0").unwrap();
    k.set_stp(&H, br, true).unwrap();
    k.set_forward_delay(&H, br, 200).unwrap();
    assert_eq!(k.set_forward_delay(&H, br, 100), Err(Errno::ERANGE));
    let (a, peer) = veth(&mut k, &H, "v0", &H, "v1");
    k.set_master(&H, a, Some(br)).unwrap();
    k.set_link_up(&H, peer).unwrap();
    k.set_link_up(&H, a).unwrap();
    let mut rx = k.subscribe_links(&H).unwrap();
    k.set_link_up(&H, br).unwrap();
    let state = |k: &Kernel| k.link_by_index(&H, a).unwrap().port_state.unwrap();
    assert_eq!(state(&k), PortState::Listening);
    assert!(!k.link_by_index(&H, br).unwrap().flags.lower_up);
    k.advance_by(Duration::from_millis(1999));
    assert_eq!(state(&k), PortState::Listening);
    k.advance_by(Duration::from_millis(1));
    assert_eq!(state(&k), PortState::Learning);
    k.advance_by(Duration::from_secs(2));
    assert_eq!(state(&k), PortState::Forwarding);
    assert!(k.link_by_index(&H, br).unwrap().flags.lower_up);
    let mut states = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let LinkEvent::Changed(l) = ev {
            if l.index == a {
                states.push(l.port_state.unwrap());
            }
        }
    }
    states.dedup();
    assert_eq!(
        states,
        vec![
            PortState::Listening,
            PortState::Learning,
            PortState::Forwarding
        ]
    );
}

#[test]
fn veth_fast_path_request_enslaves_and_ups_host_end() {
    let mut k = Kernel::new(1);
    let ns = k.create_netns("c").unwrap();
    let br = k.create_bridge(&H, "br0").unwrap();
    k.set_link_up(&H, br).unwrap();
    let mac: MacAddr = "02:42:ac:11:00:02".parse().unwrap();
    let p = k
        .create_veth(
            &H,
            &nsplumb_core::VethRequest {
                host_name: "vethh".into(),
                host_master: Some(br),
                host_up: true,
                peer_netns: ns.clone(),
                peer_name: "eth0".into(),
                peer_mac: Some(mac),
                mtu: None,
            },
        )
        .unwrap();
    let h = k.link_by_index(&H, p.host_index).unwrap();
    assert!(h.flags.up && h.master == Some(br));
    assert_eq!(h.port_state, Some(PortState::Disabled));
    assert_eq!(k.link_by_index(&ns, p.peer_index).unwrap().mac, Some(mac));
    k.set_link_up(&ns, p.peer_index).unwrap();
    assert_eq!(
        k.link_by_index(&H, p.host_index).unwrap().port_state,
        Some(PortState::Forwarding)
    );
}

/// The attach fast path replayed on Linux 6.18 (`ip` commands, 2026-11) and here: same
/// indices, flags, port state, addresses with flags and main-table routes.
#[test]
fn fast_path_scenario_matches_the_kernel() {
    use nsplumb_core::{Family, RouteScope, RouteSpec};
    let mut k = Kernel::new(3);
    let c = k.create_netns("c").unwrap();
    let br = k.create_bridge(&H, "br0").unwrap();
    k.set_link_up(&H, br).unwrap();
    let br_ll_mac = k.link_by_index(&H, br).unwrap().mac.unwrap();
    let mac: MacAddr = "02:42:ac:11:00:02".parse().unwrap();
    let p = k
        .create_veth(
            &H,
            &nsplumb_core::VethRequest {
                host_name: "vh0".into(),
                host_master: Some(br),
                host_up: true,
                peer_netns: c.clone(),
                peer_name: "eth0".into(),
                peer_mac: Some(mac),
                mtu: None,
            },
        )
        .unwrap();
    assert_eq!((br, p.host_index, p.peer_index), (2, 3, 2));
    let e = p.peer_index;
    k.set_link_down(&c, e).unwrap();
    k.add_address(&c, e, net("192.0.2.5/24"), false).unwrap();
    k.add_address(&c, e, net("fd00::5/64"), true).unwrap();
    k.set_link_up(&c, e).unwrap();
    k.add_route(
        &c,
        &RouteSpec {
            dst: net("198.51.100.0/24"),
            gateway: None,
            oif: e,
            scope: RouteScope::Link,
        },
    )
    .unwrap();
    let l = k.link_by_index(&c, e).unwrap();
    assert!(l.flags.up && l.flags.lower_up);
    let addrs: Vec<(String, bool, bool)> = k
        .list_addresses(&c, Some(e))
        .unwrap()
        .iter()
        .map(|a| (a.net.to_string(), a.flags.tentative, a.flags.nodad))
        .collect();
    assert_eq!(
        addrs,
        [
            ("192.0.2.5/24".to_string(), false, false),
            ("fd00::5/64".to_string(), false, true),
            ("fe80::42:acff:fe11:2/64".to_string(), true, false),
        ]
    );
    let r4: Vec<String> = k
        .list_routes(&c, Family::V4)
        .unwrap()
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(
        r4,
        [
            "192.0.2.0/24 dev 2 scope link",
            "198.51.100.0/24 dev 2 scope link"
        ]
    );
    let r6: Vec<String> = k
        .list_routes(&c, Family::V6)
        .unwrap()
        .iter()
        .map(|r| r.dst.to_string())
        .collect();
    assert_eq!(r6, ["fd00::/64", "fe80::/64"]);
    let h = k.link_by_index(&H, p.host_index).unwrap();
    assert_eq!(h.port_state, Some(PortState::Forwarding));
    let b = k.link_by_index(&H, br).unwrap();
    assert!(b.flags.lower_up);
    assert_eq!(b.mac, h.mac, "the bridge took its only port's MAC");
    // The bridge's link-local was made from its first (random) MAC, when it came up.
    let bll = k.list_addresses(&H, Some(br)).unwrap();
    assert_eq!(
        bll[0].net,
        ipnet::IpNet::V6(crate::addr::eui64_link_local(br_ll_mac))
    );
    assert!(k.get_route(&c, "ff02::1".parse().unwrap(), Some(e)).is_ok());
    k.advance_by(Duration::from_secs(3));
    assert!(k
        .list_addresses(&c, Some(e))
        .unwrap()
        .iter()
        .all(|a| !a.flags.tentative));
}

#[test]
fn setting_the_mac_of_a_bridge_without_ports_drops_its_carrier() {
    // Linux 6.x (checked against 6.18 by nsplumb-kernel-tests sim_fidelity): `ip link set br0
    // address X` runs br_port_state_selection; with no forwarding port the bridge goes
    // NO-CARRIER, so IPv6 never configures a link-local address on it.
    let mut k = Kernel::new(1);
    let br = k.create_bridge(&H, "br0").unwrap();
    k.set_mac(&H, br, MacAddr([0x02, 0, 0x5e, 0x10, 0, 1]))
        .unwrap();
    k.set_link_up(&H, br).unwrap();
    let b = k.link_by_index(&H, br).unwrap();
    assert!(b.flags.up && !b.flags.lower_up, "{:?}", b.flags);
    assert!(k.list_addresses(&H, Some(br)).unwrap().is_empty());
    // Up first, then the MAC: the same.
    let br1 = k.create_bridge(&H, "br1").unwrap();
    k.set_link_up(&H, br1).unwrap();
    assert!(k.link_by_index(&H, br1).unwrap().flags.lower_up);
    k.set_mac(&H, br1, MacAddr([0x02, 0, 0x5e, 0x10, 0, 2]))
        .unwrap();
    assert!(!k.link_by_index(&H, br1).unwrap().flags.lower_up);
}

#[test]
fn switching_stp_on_a_bridge_without_ports_drops_its_carrier() {
    // Linux 6.x (checked against 6.18 by the nsplumb-kernel-tests differential run):
    // `ip link set br0 type bridge stp_state 1` (or 0) before or after up: NO-CARRIER.
    let mut k = Kernel::new(1);
    let br = k.create_bridge(&H, "br0").unwrap();
    k.set_stp(&H, br, true).unwrap();
    k.set_link_up(&H, br).unwrap();
    assert!(!k.link_by_index(&H, br).unwrap().flags.lower_up);
    assert!(k.list_addresses(&H, Some(br)).unwrap().is_empty());
    let br1 = k.create_bridge(&H, "br1").unwrap();
    k.set_link_up(&H, br1).unwrap();
    k.set_stp(&H, br1, true).unwrap();
    assert!(!k.link_by_index(&H, br1).unwrap().flags.lower_up);
    k.set_stp(&H, br1, false).unwrap();
    assert!(!k.link_by_index(&H, br1).unwrap().flags.lower_up);
}
