//! MTU as Linux 6.18 keeps it (measured with `ip link` in a throwaway namespace; see
//! `kernel::mtu`).

use super::*;
use nsplumb_core::{BridgeOptions, Errno, Family};
use std::time::Duration;

fn mtu(k: &Kernel, ns: &NetnsRef, idx: IfIndex) -> u32 {
    k.link_by_index(ns, idx).unwrap().mtu
}

// SPEC: L1
#[test]
fn limits_per_kind_and_einval_outside() {
    let mut k = Kernel::new(1);
    let (v, _) = veth(&mut k, &H, "v0", &H, "v1");
    let br = k.create_bridge(&H, "br0").unwrap();
    let d = k.create_dummy(&H, "d0").unwrap();
    for idx in [v, br] {
        assert_eq!(k.set_mtu(&H, idx, 67), Err(Errno::EINVAL));
        assert_eq!(k.set_mtu(&H, idx, 65536), Err(Errno::EINVAL));
        assert_eq!(k.set_mtu(&H, idx, 0), Err(Errno::EINVAL));
        k.set_mtu(&H, idx, 68).unwrap();
        assert_eq!(mtu(&k, &H, idx), 68);
        k.set_mtu(&H, idx, 65535).unwrap();
        assert_eq!(mtu(&k, &H, idx), 65535);
    }
    // Loopback and dummy have no limits.
    for (idx, m) in [(1, 0), (1, 1_000_000), (d, 0), (d, 70_000)] {
        k.set_mtu(&H, idx, m).unwrap();
        assert_eq!(mtu(&k, &H, idx), m);
    }
    assert_eq!(k.set_mtu(&H, 99, 1500), Err(Errno::ENODEV));
}

// SPEC: L1
#[test]
fn veth_gets_its_mtu_on_both_ends_at_creation_and_a_bad_one_creates_nothing() {
    let mut k = Kernel::new(1);
    let c = k.create_netns("c").unwrap();
    let mut req = VethRequest {
        host_name: "vh".into(),
        host_master: None,
        host_up: false,
        peer_netns: c.clone(),
        peer_name: "eth0".into(),
        peer_mac: None,
        mtu: Some(67),
    };
    assert_eq!(k.create_veth(&H, &req), Err(Errno::EINVAL));
    req.mtu = Some(65536);
    assert_eq!(k.create_veth(&H, &req), Err(Errno::EINVAL));
    assert_eq!(k.list_links(&H).unwrap().len(), 1);
    assert_eq!(k.list_links(&c).unwrap().len(), 1);
    req.mtu = Some(1400);
    let p = k.create_veth(&H, &req).unwrap();
    assert_eq!(mtu(&k, &H, p.host_index), 1400);
    assert_eq!(mtu(&k, &c, p.peer_index), 1400);
    assert_eq!(k.read_sysctl(&c, "net/ipv6/conf/eth0/mtu").unwrap(), "1400");
}

// SPEC: L1
#[test]
fn bridge_mtu_follows_its_ports_until_the_user_sets_it() {
    // The sequence measured on 6.18 (see `kernel::mtu`).
    let mut k = Kernel::new(1);
    let br = k.create_bridge(&H, "br0").unwrap();
    assert_eq!(mtu(&k, &H, br), 1500);
    let (a, _) = veth(&mut k, &H, "v0", &H, "v1");
    let (b, _) = veth(&mut k, &H, "v2", &H, "v3");
    k.set_mtu(&H, a, 1400).unwrap();
    k.set_mtu(&H, b, 9000).unwrap();
    k.set_master(&H, a, Some(br)).unwrap();
    assert_eq!(mtu(&k, &H, br), 1400);
    k.set_master(&H, b, Some(br)).unwrap();
    assert_eq!(mtu(&k, &H, br), 1400);
    k.set_mtu(&H, a, 1300).unwrap();
    assert_eq!(mtu(&k, &H, br), 1300);
    k.set_master(&H, a, None).unwrap();
    assert_eq!(mtu(&k, &H, br), 9000);
    k.set_master(&H, b, None).unwrap();
    assert_eq!(mtu(&k, &H, br), 1500, "no ports: ETH_DATA_LEN");
    // Setting the MTU it already has pins nothing.
    k.set_mtu(&H, br, 1500).unwrap();
    k.set_master(&H, a, Some(br)).unwrap();
    assert_eq!(mtu(&k, &H, br), 1300);
    // A real change pins it: ports no longer move it.
    k.set_mtu(&H, br, 2000).unwrap();
    k.set_master(&H, b, Some(br)).unwrap();
    k.set_mtu(&H, a, 1200).unwrap();
    assert_eq!(mtu(&k, &H, br), 2000);
    // A port's MTU is never changed by its bridge.
    assert_eq!(mtu(&k, &H, b), 9000);
}

// SPEC: L1
#[test]
fn bridge_mtu_at_creation_is_checked_first_and_does_not_pin() {
    let mut k = Kernel::new(1);
    let bad = BridgeOptions {
        vlan_filtering: false,
        mtu: Some(67),
    };
    assert_eq!(k.create_bridge_with(&H, "br0", &bad), Err(Errno::EINVAL));
    assert!(k.link_by_name(&H, "br0").is_err());
    let opts = BridgeOptions {
        vlan_filtering: false,
        mtu: Some(9000),
    };
    let br = k.create_bridge_with(&H, "br0", &opts).unwrap();
    assert_eq!(mtu(&k, &H, br), 9000);
    let (a, _) = veth(&mut k, &H, "v0", &H, "v1");
    k.set_master(&H, a, Some(br)).unwrap();
    assert_eq!(mtu(&k, &H, br), 1500);
}

// SPEC: L1
#[test]
fn below_1280_the_link_loses_ipv6_and_gets_it_back_fresh() {
    let mut k = Kernel::new(1);
    let (a, b) = veth(&mut k, &H, "v0", &H, "v1");
    k.set_link_up(&H, a).unwrap();
    k.set_link_up(&H, b).unwrap();
    k.add_address(&H, a, net("fd00::1/64"), true).unwrap();
    k.add_address(&H, a, net("192.0.2.1/24"), false).unwrap();
    k.write_sysctl(&H, "net/ipv6/conf/v0/accept_dad", "0")
        .unwrap();
    k.advance_by(Duration::from_secs(3));
    assert_eq!(k.list_addresses(&H, Some(a)).unwrap().len(), 3);

    k.set_mtu(&H, a, 1279).unwrap();
    let left: Vec<_> = k
        .list_addresses(&H, Some(a))
        .unwrap()
        .into_iter()
        .map(|x| x.net)
        .collect();
    assert_eq!(left, [net("192.0.2.1/24")]);
    assert!(!k
        .list_routes(&H, Family::V6)
        .unwrap()
        .iter()
        .any(|r| r.oif == Some(a)));
    assert_eq!(k.link_by_index(&H, a).unwrap().ipv6_disabled, None);
    for path in [
        "net/ipv6/conf/v0/accept_dad",
        "net/ipv6/neigh/v0/retrans_time_ms",
    ] {
        assert_eq!(k.read_sysctl(&H, path), Err(Errno::ENOENT), "{path}");
    }
    assert_eq!(
        k.write_sysctl(&H, "net/ipv6/conf/v0/disable_ipv6", "1"),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        k.add_address(&H, a, net("fd00::2/64"), true),
        Err(Errno::EINVAL)
    );
    let route = nsplumb_core::RouteSpec {
        dst: net("fd00:1::/64"),
        gateway: None,
        oif: a,
        scope: nsplumb_core::RouteScope::Universe,
    };
    assert_eq!(k.add_route(&H, &route), Err(Errno::ENODEV));
    assert!(k.read_sysctl(&H, "net/ipv4/conf/v0/forwarding").is_ok());

    // Back at 1280: a new IPv6 device, sysctls from `default`, the link-local again.
    k.set_mtu(&H, a, 1280).unwrap();
    assert_eq!(
        k.read_sysctl(&H, "net/ipv6/conf/v0/accept_dad").unwrap(),
        "1"
    );
    assert_eq!(k.read_sysctl(&H, "net/ipv6/conf/v0/mtu").unwrap(), "1280");
    assert_eq!(k.link_by_index(&H, a).unwrap().ipv6_disabled, Some(false));
    let v6: Vec<_> = k
        .list_addresses(&H, Some(a))
        .unwrap()
        .into_iter()
        .filter(|x| x.net.addr().is_ipv6())
        .collect();
    assert_eq!(v6.len(), 1);
    assert!(v6[0].net.to_string().starts_with("fe80::") && v6[0].flags.tentative);
}

// SPEC: L1
#[test]
fn a_link_created_below_1280_never_has_ipv6_and_mtu_sysctl_follows_the_link() {
    let mut k = Kernel::new(1);
    let c = k.create_netns("c").unwrap();
    let p = k
        .create_veth(
            &H,
            &VethRequest {
                host_name: "vh".into(),
                host_master: None,
                host_up: true,
                peer_netns: c.clone(),
                peer_name: "eth0".into(),
                peer_mac: None,
                mtu: Some(1000),
            },
        )
        .unwrap();
    k.set_link_up(&c, p.peer_index).unwrap();
    assert!(k.list_addresses(&c, Some(p.peer_index)).unwrap().is_empty());
    assert_eq!(
        k.read_sysctl(&c, "net/ipv6/conf/eth0/mtu"),
        Err(Errno::ENOENT)
    );
    k.set_mtu(&c, p.peer_index, 1500).unwrap();
    k.write_sysctl(&c, "net/ipv6/conf/eth0/mtu", "1300")
        .unwrap();
    k.set_mtu(&c, p.peer_index, 1450).unwrap();
    assert_eq!(k.read_sysctl(&c, "net/ipv6/conf/eth0/mtu").unwrap(), "1450");
}
