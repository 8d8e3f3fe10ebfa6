use super::*;
use nsplumb_core::{Errno, Family};
use std::time::Duration;

fn up_pair(k: &mut Kernel) -> (u32, u32) {
    let (a, b) = veth(k, &H, "v0", &H, "v1");
    k.set_link_up(&H, a).unwrap();
    k.set_link_up(&H, b).unwrap();
    (a, b)
}

#[test]
fn link_local_generated_tentative_then_dad_completes() {
    let mut k = Kernel::new(1);
    let (a, _) = veth(&mut k, &H, "v0", &H, "v1");
    k.set_link_up(&H, a).unwrap();
    // no carrier: nothing yet
    assert!(k.list_addresses(&H, Some(a)).unwrap().is_empty());
    k.set_link_up(&H, 2).unwrap();
    let addrs = k.list_addresses(&H, Some(a)).unwrap();
    assert_eq!(addrs.len(), 1);
    let mac = k.link_by_index(&H, a).unwrap().mac.unwrap();
    assert_eq!(
        addrs[0].net,
        ipnet::IpNet::V6(crate::addr::eui64_link_local(mac))
    );
    assert!(addrs[0].flags.tentative && addrs[0].flags.permanent && !addrs[0].flags.nodad);
    assert!(k.next_deadline().is_some());
    k.advance_by(Duration::from_secs(2));
    assert!(!k.list_addresses(&H, Some(a)).unwrap()[0].flags.tentative);
    let r6 = k.list_routes(&H, Family::V6).unwrap();
    assert!(r6
        .iter()
        .any(|r| r.dst == net("fe80::/64") && r.oif == Some(a)));
}

#[test]
fn nodad_never_tentative_and_dup_rules() {
    let mut k = Kernel::new(1);
    let (a, _) = up_pair(&mut k);
    k.add_address(&H, a, net("fd00:1::1/64"), true).unwrap();
    k.add_address(&H, a, net("fd00::1/64"), false).unwrap();
    let l = k.list_addresses(&H, Some(a)).unwrap();
    let f = |n: &str| l.iter().find(|x| x.net == net(n)).unwrap().flags;
    assert!(!f("fd00:1::1/64").tentative && f("fd00:1::1/64").nodad);
    assert!(f("fd00::1/64").tentative);
    assert_eq!(
        k.add_address(&H, a, net("fd00::1/48"), true),
        Err(Errno::EEXIST)
    );
    // IPv4: same address, other prefix length is another address.
    k.add_address(&H, a, net("192.0.2.9/24"), false).unwrap();
    k.add_address(&H, a, net("192.0.2.9/25"), false).unwrap();
    assert_eq!(
        k.add_address(&H, a, net("192.0.2.9/24"), false),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        k.del_address(&H, a, net("192.0.2.7/24")),
        Err(Errno::EADDRNOTAVAIL)
    );
    assert_eq!(
        k.del_address(&H, a, net("fd00::1/48")),
        Err(Errno::EADDRNOTAVAIL)
    );
    k.del_address(&H, a, net("fd00::1/64")).unwrap();
}

#[test]
fn ipv6_addresses_flushed_on_down_ipv4_kept() {
    // Linux 6.x: keep_addr_on_down=0 by default.
    let mut k = Kernel::new(1);
    let (a, _) = up_pair(&mut k);
    k.add_address(&H, a, net("192.0.2.1/24"), false).unwrap();
    k.add_address(&H, a, net("fd00::1/64"), true).unwrap();
    k.set_link_down(&H, a).unwrap();
    let l = k.list_addresses(&H, Some(a)).unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].net, net("192.0.2.1/24"));
    assert!(k.list_routes(&H, Family::V4).unwrap().is_empty());
    // Added while down: tentative, no route until up.
    k.add_address(&H, a, net("fd00::1/64"), false).unwrap();
    assert!(k
        .list_routes(&H, Family::V6)
        .unwrap()
        .iter()
        .all(|r| r.oif != Some(a)));
    k.set_link_up(&H, a).unwrap();
    let r4 = k.list_routes(&H, Family::V4).unwrap();
    assert_eq!(r4.len(), 1);
    assert_eq!(r4[0].dst, net("192.0.2.0/24"));
    assert_eq!(r4[0].scope, nsplumb_core::RouteScope::Link);
    let r6 = k.list_routes(&H, Family::V6).unwrap();
    assert!(r6
        .iter()
        .any(|r| r.dst == net("fd00::/64") && r.oif == Some(a)));
    // keep_addr_on_down=1 keeps the global one (tentative again).
    k.write_sysctl(&H, "net/ipv6/conf/v0/keep_addr_on_down", "1")
        .unwrap();
    k.set_link_down(&H, a).unwrap();
    let l = k.list_addresses(&H, Some(a)).unwrap();
    assert!(l
        .iter()
        .any(|x| x.net == net("fd00::1/64") && x.flags.tentative));
    assert!(!l
        .iter()
        .any(|x| x.net.addr().to_string().starts_with("fe80")));
}

// SPEC: A8
#[test]
fn disable_ipv6_removes_addresses_and_routes_and_reenable_regenerates() {
    let mut k = Kernel::new(1);
    let (a, _) = up_pair(&mut k);
    k.add_address(&H, a, net("fd00::1/64"), true).unwrap();
    k.add_address(&H, a, net("192.0.2.1/24"), false).unwrap();
    k.write_sysctl(&H, "net/ipv6/conf/v0/disable_ipv6", "1")
        .unwrap();
    let l = k.list_addresses(&H, Some(a)).unwrap();
    assert!(l.iter().all(|x| x.net.addr().is_ipv4()));
    assert!(k
        .list_routes(&H, Family::V6)
        .unwrap()
        .iter()
        .all(|r| r.oif != Some(a)));
    assert_eq!(
        k.add_address(&H, a, net("fd00::5/64"), true),
        Err(Errno::EACCES)
    );
    k.write_sysctl(&H, "net/ipv6/conf/v0/disable_ipv6", "0")
        .unwrap();
    let l = k.list_addresses(&H, Some(a)).unwrap();
    assert!(l
        .iter()
        .any(|x| x.net.addr().to_string().starts_with("fe80") && x.flags.tentative));
}

#[test]
fn loopback_up_gets_localhost_addresses_without_main_routes() {
    let mut k = Kernel::new(1);
    k.set_link_up(&H, 1).unwrap();
    let l = k.list_addresses(&H, Some(1)).unwrap();
    assert!(l.iter().any(|x| x.net == net("127.0.0.1/8")));
    assert!(l
        .iter()
        .any(|x| x.net == net("::1/128") && !x.flags.tentative));
    assert!(k.list_routes(&H, Family::V4).unwrap().is_empty());
    assert!(k.list_routes(&H, Family::V6).unwrap().is_empty());
    k.set_link_down(&H, 1).unwrap();
    let l = k.list_addresses(&H, Some(1)).unwrap();
    assert_eq!(l.len(), 1);
}

#[test]
fn ipv4_primary_delete_takes_secondaries_and_listing_order() {
    let mut k = Kernel::new(1);
    let (a, _) = up_pair(&mut k);
    k.add_address(&H, a, net("192.0.2.1/24"), false).unwrap();
    k.add_address(&H, a, net("192.0.2.2/24"), false).unwrap();
    k.add_address(&H, a, net("198.51.100.1/24"), false).unwrap();
    k.add_address(&H, a, net("fd00::1/64"), true).unwrap();
    k.add_address(&H, a, net("fd00::2/64"), true).unwrap();
    let l: Vec<String> = k
        .list_addresses(&H, Some(a))
        .unwrap()
        .iter()
        .map(|x| x.net.to_string())
        .collect();
    assert_eq!(
        l[..5],
        [
            "192.0.2.1/24",
            "192.0.2.2/24",
            "198.51.100.1/24",
            "fd00::2/64",
            "fd00::1/64"
        ]
    );
    assert!(l[5].starts_with("fe80"));
    k.del_address(&H, a, net("192.0.2.1/24")).unwrap();
    let l = k.list_addresses(&H, Some(a)).unwrap();
    assert_eq!(l.iter().filter(|x| x.net.addr().is_ipv4()).count(), 1);
    k.write_sysctl(&H, "net/ipv4/conf/v0/promote_secondaries", "1")
        .unwrap();
    k.add_address(&H, a, net("192.0.2.1/24"), false).unwrap();
    k.add_address(&H, a, net("192.0.2.2/24"), false).unwrap();
    k.del_address(&H, a, net("192.0.2.1/24")).unwrap();
    let l = k.list_addresses(&H, Some(a)).unwrap();
    assert!(l.iter().any(|x| x.net == net("192.0.2.2/24")));
    let r = k.list_routes(&H, Family::V4).unwrap();
    assert!(r.iter().any(|x| x.dst == net("192.0.2.0/24")));
}

#[test]
fn addr_gen_mode_none_and_random() {
    let mut k = Kernel::new(1);
    k.write_sysctl(&H, "net/ipv6/conf/default/addr_gen_mode", "1")
        .unwrap();
    let (a, _) = up_pair(&mut k);
    assert!(k.list_addresses(&H, Some(a)).unwrap().is_empty());
    assert!(k.list_routes(&H, Family::V6).unwrap().is_empty());
    k.write_sysctl(&H, "net/ipv6/conf/default/addr_gen_mode", "3")
        .unwrap();
    let (x, y) = veth(&mut k, &H, "x0", &H, "x1");
    k.set_link_up(&H, x).unwrap();
    k.set_link_up(&H, y).unwrap();
    let l = k.list_addresses(&H, Some(x)).unwrap();
    assert_eq!(l.len(), 1);
    let mac = k.link_by_index(&H, x).unwrap().mac.unwrap();
    assert_ne!(
        l[0].net,
        ipnet::IpNet::V6(crate::addr::eui64_link_local(mac))
    );
    assert!(l[0].net.addr().to_string().starts_with("fe80::"));
}
