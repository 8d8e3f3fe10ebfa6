use super::*;
use nsplumb_core::{Errno, LinkEvent, LinkKind, MacAddr};

#[test]
fn new_namespace_has_lo_down_and_eexist_on_recreate() {
    let mut k = Kernel::new(1);
    let ns = k.create_netns("a").unwrap();
    assert_eq!(ns, NetnsRef::Path("/run/netns/a".into()));
    assert_eq!(k.create_netns("a"), Err(Errno::EEXIST));
    let links = k.list_links(&ns).unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].index, 1);
    assert_eq!(links[0].name, "lo");
    assert_eq!(links[0].kind, LinkKind::Loopback);
    assert!(!links[0].flags.up);
    assert_eq!(links[0].mtu, 65536);
    assert_eq!(k.list_netns(), vec![NetnsRef::Host, ns]);
}

#[test]
fn a_namespace_created_again_under_its_name_has_a_new_cookie() {
    // Linux: the netns cookie is never reused, unlike the nsfs inode (and here the path).
    let mut k = Kernel::new(1);
    let host = k.netns_cookie(&NetnsRef::Host).unwrap();
    let a = k.create_netns("a").unwrap();
    let first = k.netns_cookie(&a).unwrap();
    assert_eq!(k.netns_cookie(&a), Ok(first), "stable while it lives");
    assert_ne!(first, host);
    k.delete_netns(&a).unwrap();
    assert_eq!(k.netns_cookie(&a), Err(Errno::ENOENT));
    let again = k.create_netns("a").unwrap();
    assert_eq!(again, a, "the same path");
    let second = k.netns_cookie(&again).unwrap();
    assert!(second != first && second != host, "{first} {second} {host}");
}

#[test]
fn ifindex_allocation_is_cyclic_and_peer_first() {
    // Linux 6.x: veth peer registered first; deleted indices not reused at once.
    let mut k = Kernel::new(1);
    let ns = k.create_netns("a").unwrap();
    assert_eq!(veth(&mut k, &ns, "v0", &ns, "v1"), (3, 2));
    let (x1, _) = veth(&mut k, &ns, "x1", &ns, "x2");
    k.delete_links(&ns, &[x1]).unwrap();
    assert_eq!(veth(&mut k, &ns, "x3", &ns, "x4"), (7, 6));
    let br = k.create_bridge(&ns, "br0").unwrap();
    assert_eq!(br, 8);
}

#[test]
fn veth_across_namespaces_and_peer_refs() {
    let mut k = Kernel::new(1);
    let a = k.create_netns("a").unwrap();
    let c = k.create_netns("c").unwrap();
    let (h, p) = veth(&mut k, &a, "p0", &c, "p1");
    assert_eq!((h, p), (2, 2));
    let hi = k.link_by_index(&a, h).unwrap();
    assert_eq!(hi.peer.unwrap().netns, Some(c.clone()));
    assert_eq!(k.link_by_index(&c, p).unwrap().peer.unwrap().index, h);
    // MACs: locally administered unicast.
    let m = hi.mac.unwrap();
    assert!(m.is_assignable() && m.octets()[0] & 2 == 2);
}

// SPEC: N4
#[test]
fn names_unique_and_valid() {
    let mut k = Kernel::new(1);
    let (a, _) = veth(&mut k, &H, "v0", &H, "v1");
    assert_eq!(k.rename_link(&H, a, "v1"), Err(Errno::EEXIST));
    assert_eq!(k.rename_link(&H, a, "0123456789abcdef"), Err(Errno::ERANGE));
    assert_eq!(k.rename_link(&H, a, "a:b"), Err(Errno::EINVAL));
    assert_eq!(k.rename_link(&H, a, ".."), Err(Errno::EINVAL));
    assert_eq!(k.rename_link(&H, a, "a b"), Err(Errno::EINVAL));
    assert_eq!(k.rename_link(&H, a, "a/b"), Err(Errno::EINVAL));
    assert_eq!(k.rename_link(&H, 99, "zz"), Err(Errno::ENODEV));
    assert_eq!(k.link_by_name(&H, "nope"), Err(Errno::ENODEV));
    k.rename_link(&H, a, "0123456789abcde").unwrap();
    k.set_link_up(&H, a).unwrap();
    // Linux 6.x: an UP link can be renamed.
    k.rename_link(&H, a, "other").unwrap();
}

#[test]
fn veth_carrier_needs_both_ends_up() {
    let mut k = Kernel::new(1);
    let (a, b) = veth(&mut k, &H, "v0", &H, "v1");
    k.set_link_up(&H, a).unwrap();
    let f = k.link_by_index(&H, a).unwrap().flags;
    assert!(f.up && !f.lower_up && !f.running);
    k.set_link_up(&H, b).unwrap();
    let f = k.link_by_index(&H, a).unwrap().flags;
    assert!(f.up && f.lower_up && f.running);
    k.set_link_down(&H, b).unwrap();
    assert!(!k.link_by_index(&H, a).unwrap().flags.lower_up);
    let d = k.create_dummy(&H, "d0").unwrap();
    k.set_link_up(&H, d).unwrap();
    assert!(k.link_by_index(&H, d).unwrap().flags.lower_up);
}

// SPEC: A2
#[test]
fn move_drops_addresses_arrives_down_keeps_index() {
    let mut k = Kernel::new(1);
    let b = k.create_netns("b").unwrap();
    let (a, peer) = veth(&mut k, &H, "v0", &H, "v1");
    k.set_link_up(&H, a).unwrap();
    k.set_link_up(&H, peer).unwrap();
    k.add_address(&H, a, net("192.0.2.1/24"), false).unwrap();
    k.add_address(&H, a, net("fd00::1/64"), true).unwrap();
    let idx = k.move_link(&H, a, &b, "eth0").unwrap();
    assert_eq!(idx, a);
    let l = k.link_by_index(&b, idx).unwrap();
    assert_eq!(l.name, "eth0");
    assert!(!l.flags.up);
    assert!(k.list_addresses(&b, Some(idx)).unwrap().is_empty());
    assert!(k
        .list_routes(&H, nsplumb_core::Family::V4)
        .unwrap()
        .is_empty());
    assert_eq!(k.link_by_index(&H, a), Err(Errno::ENODEV));
    // The host end lost its carrier; its peer ref follows the move.
    let p = k.link_by_index(&H, peer).unwrap();
    assert!(!p.flags.lower_up);
    assert_eq!(p.peer.unwrap().netns, Some(b.clone()));
}

#[test]
fn move_gets_new_index_when_taken_and_eexist_cases() {
    let mut k = Kernel::new(1);
    let b = k.create_netns("b").unwrap();
    let (c0, _) = veth(&mut k, &b, "taken", &b, "c1"); // b: 2, 3
    assert_eq!(c0, 3);
    let (a, _) = veth(&mut k, &H, "v0", &H, "v1"); // host: 2, 3
    assert_eq!(a, 3);
    // Current name free in b, new name taken: Linux moves, then fails the rename (EEXIST).
    assert_eq!(k.move_link(&H, a, &b, "taken"), Err(Errno::EEXIST));
    let moved = k.link_by_name(&b, "v0").unwrap();
    assert_eq!(moved.index, 4);
    // Both the current and the new name taken: nothing changes.
    let (x, _) = veth(&mut k, &H, "c1", &H, "y1");
    let before = k.snapshot();
    assert_eq!(k.move_link(&H, x, &b, "taken"), Err(Errno::EEXIST));
    assert_eq!(k.snapshot(), before);
    // Loopback and bridges are namespace-local.
    assert_eq!(k.move_link(&H, 1, &b, "lo2"), Err(Errno::EINVAL));
}

#[test]
fn sysctls_reset_to_destination_default_on_move() {
    // Linux 6.x: moved link gets the destination's conf/default values.
    let mut k = Kernel::new(1);
    let b = k.create_netns("b").unwrap();
    k.write_sysctl(&b, "net/ipv4/conf/default/arp_notify", "1")
        .unwrap();
    k.write_sysctl(&b, "net/ipv6/conf/default/disable_ipv6", "1")
        .unwrap();
    let (a, _) = veth(&mut k, &H, "v0", &H, "v1");
    k.write_sysctl(&H, "net/ipv4/conf/v0/proxy_arp", "1")
        .unwrap();
    let i = k.move_link(&H, a, &b, "v0").unwrap();
    let _ = i;
    assert_eq!(
        k.read_sysctl(&b, "net/ipv4/conf/v0/proxy_arp").unwrap(),
        "0"
    );
    assert_eq!(
        k.read_sysctl(&b, "net/ipv4/conf/v0/arp_notify").unwrap(),
        "1"
    );
    assert_eq!(
        k.read_sysctl(&b, "net/ipv6/conf/v0/disable_ipv6").unwrap(),
        "1"
    );
}

#[test]
fn delete_netns_takes_veth_peers_along() {
    let mut k = Kernel::new(1);
    let b = k.create_netns("b").unwrap();
    let (_, p) = veth(&mut k, &H, "v0", &b, "v1");
    let _ = p;
    k.delete_netns(&b).unwrap();
    assert_eq!(k.link_by_name(&H, "v0"), Err(Errno::ENODEV));
    assert_eq!(k.delete_netns(&b), Err(Errno::ENOENT));
    assert_eq!(k.list_links(&b), Err(Errno::ENOENT));
    assert_eq!(k.delete_links(&H, &[1]), Err(Errno::EOPNOTSUPP));
}

#[test]
fn set_mac_rules() {
    let mut k = Kernel::new(1);
    let (a, _) = veth(&mut k, &H, "v0", &H, "v1");
    let mc: MacAddr = "01:00:00:00:00:01".parse().unwrap();
    assert_eq!(k.set_mac(&H, a, mc), Err(Errno::EADDRNOTAVAIL));
    assert_eq!(k.set_mac(&H, a, MacAddr::ZERO), Err(Errno::EADDRNOTAVAIL));
    let m: MacAddr = "02:11:22:33:44:55".parse().unwrap();
    k.set_link_up(&H, a).unwrap();
    k.set_mac(&H, a, m).unwrap();
    assert_eq!(k.link_by_index(&H, a).unwrap().mac, Some(m));
}

#[test]
fn link_events_reach_subscribers() {
    let mut k = Kernel::new(1);
    let (a, _) = veth(&mut k, &H, "v0", &H, "v1");
    let mut rx = k.subscribe_links(&H).unwrap();
    k.set_link_up(&H, a).unwrap();
    let ev = rx.try_recv().unwrap();
    match ev {
        LinkEvent::Changed(l) => assert!(l.flags.up && l.index == a),
        other => panic!("unexpected {other:?}"),
    }
    k.delete_links(&H, &[a]).unwrap();
    let mut removed = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let LinkEvent::Removed { name, .. } = ev {
            removed.push(name);
        }
    }
    assert_eq!(removed, vec!["v0".to_string(), "v1".to_string()]);
}

#[test]
fn namespaces_at_arbitrary_paths() {
    let mut k = Kernel::new(1);
    let r = k.create_netns_at("/proc/1234/ns/net").unwrap();
    assert_eq!(r.short_name(), "/proc/1234/ns/net");
    assert_eq!(k.create_netns_at("/proc/1234/ns/net"), Err(Errno::EEXIST));
    assert_eq!(k.create_netns_at("relative"), Err(Errno::EINVAL));
    assert_eq!(k.list_links(&r).unwrap().len(), 1);
    assert_eq!(k.create_netns("a/b"), Err(Errno::EINVAL));
    assert_eq!(k.delete_netns(&H), Err(Errno::EINVAL));
}
