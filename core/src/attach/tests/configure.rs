//! A4–A10: configuration, link up, routes.

use super::*;

// SPEC: A5
#[test]
fn route_conflict_names_address_and_route() {
    let mut spec = dual_stack();
    spec.ipv6 = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.ok("mac", set_mac(mac(0x0a)));
    let conflicting = RouteInfo {
        dst: "192.0.2.0/25".parse().unwrap(),
        gateway: None,
        oif: Some(2),
        scope: RouteScope::Link,
    };
    let default = RouteInfo {
        dst: "0.0.0.0/0".parse().unwrap(),
        gateway: Some("198.51.100.1".parse().unwrap()),
        oif: Some(2),
        scope: RouteScope::Universe,
    };
    s.step(
        "routes",
        routes(Family::V4),
        Ok(R::Routes(vec![default, conflicting])),
    );
    s.ok("restore MAC", set_mac(mac(0xee)));
    s.ok("move back", move_back(5));
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(e.contains("cannot program address 192.0.2.10/24 in sandbox interface because it conflicts with existing route 192.0.2.0/25"), "{e}");
}

// SPEC: A6
#[test]
fn ipv4_only_disables_ipv6_and_reports_failure_to_disable() {
    let mut spec = dual_stack();
    spec.ipv6 = None;
    spec.mac = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.step("routes", routes(Family::V4), Ok(R::Routes(vec![])));
    s.ok("v4", add_ipv4());
    s.step("read", read_disable_ipv6(), Ok(R::Value("0".into())));
    s.step(
        "write 1",
        write_disable_ipv6("1"),
        err(Op::WriteSysctl, Errno::EROFS),
    );
    s.ok("move back", move_back(5));
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(
        e.contains("failed to disable IPv6 on interface eth0"),
        "{e}"
    );
}

// SPEC: A6
#[test]
fn missing_ipv6_sysctl_is_fine_when_disabling_and_value_already_right_is_not_written() {
    let mut spec = dual_stack();
    spec.ipv6 = None;
    spec.mac = None;
    spec.announce_count = 0;
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.step("routes", routes(Family::V4), Ok(R::Routes(vec![])));
    s.ok("v4", add_ipv4());
    s.step(
        "read: no IPv6 in this kernel",
        read_disable_ipv6(),
        err(Op::ReadSysctl, Errno::ENOENT),
    );
    s.ok("set up", up(5));
    assert!(s.m.outcome().is_none());
}

// SPEC: A6
#[test]
fn disable_ipv6_comes_from_the_link_read_and_is_written_only_if_different() {
    // IPv4 only, the read says IPv6 is on: one write, no sysctl read.
    let mut spec = dual_stack();
    spec.ipv6 = None;
    spec.mac = None;
    spec.announce_count = 0;
    let mut s = start(spec);
    moved_and_watched(&mut s, link(5, "eth0", false));
    s.step("routes", routes(Family::V4), Ok(R::Routes(vec![])));
    s.ok("v4", add_ipv4());
    s.ok(
        "disable IPv6 without reading /proc first",
        write_disable_ipv6("1"),
    );
    s.ok("up", up(5));

    // With an IPv6 address and IPv6 off on the link: enabled, again without a read.
    let mut spec = dual_stack();
    spec.ipv4 = None;
    spec.mac = None;
    let mut s = start(spec);
    s.step(
        "lookup",
        lookup_veth0(),
        Ok(R::Link(link(5, "veth0", false))),
    );
    s.step("move", move_in(), Ok(R::Index(5)));
    let off = LinkInfo {
        ipv6_disabled: Some(true),
        ..link(5, "eth0", false)
    };
    watch(&mut s, 5, off);
    s.ok("enable IPv6", write_disable_ipv6("0"));
    s.step("routes6", routes(Family::V6), Ok(R::Routes(vec![])));
    s.step("v6 fails", add_ipv6(), err(Op::AddAddress, Errno::EACCES));
    // A15: the link leaves the namespace, and its per-interface sysctls with it.
    s.ok("move back", move_back(5));
    s.idle();
}

// SPEC: A7
#[test]
fn sysctls_are_read_first_written_if_different_and_bad_paths_named() {
    let mut spec = dual_stack();
    spec.ipv6 = None;
    spec.ipv4 = None;
    spec.mac = None;
    spec.sysctls = vec![
        "net.ipv4.conf.IFNAME.arp_notify=1".into(),
        "net.ipv4.conf.IFNAME.nope=1".into(),
    ];
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.step(
        "disable_ipv6",
        read_disable_ipv6(),
        Ok(R::Value("1".into())),
    );
    s.step(
        "read arp_notify",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv4/conf/eth0/arp_notify".into(),
        },
        Ok(R::Value("0".into())),
    );
    s.ok(
        "write arp_notify",
        Rq::WriteSysctl {
            netns: ns(),
            path: "net/ipv4/conf/eth0/arp_notify".into(),
            value: "1".into(),
        },
    );
    s.step(
        "read nope",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv4/conf/eth0/nope".into(),
        },
        err(Op::ReadSysctl, Errno::ENOENT),
    );
    s.ok("move back", move_back(5));
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert_eq!(e, "/proc/sys/net/ipv4/conf/eth0/nope is not a sysctl file");
}

// SPEC: A8
#[test]
fn ipv6_gone_after_sysctls_is_dropped_and_not_announced() {
    let mut spec = dual_stack();
    spec.sysctls = vec!["net.ipv6.conf.IFNAME.disable_ipv6=1".into()];
    let mut s = start(spec);
    through_configure(&mut s);
    s.step("read sysctl", read_disable_ipv6(), Ok(R::Value("0".into())));
    s.ok("write sysctl", write_disable_ipv6("1"));
    let v4_only = vec![AddrInfo {
        index: 5,
        net: "192.0.2.10/24".parse().unwrap(),
        flags: AddrFlags::default(),
    }];
    s.step(
        "check addresses",
        Rq::ListAddresses {
            netns: ns(),
            index: Some(5),
        },
        Ok(R::Addresses(v4_only)),
    );
    s.ok("up", up(5));
    ns_event(&mut s, link(5, "eth0", true));
    s.ok("unsub", C::Unsubscribe { id: 1 });
    // No ff02::1 wait and no NA: only ARP.
    s.step(
        "S6",
        read_link(5),
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.ok("ARP only", arp());
    s.idle();
    let a = s.m.outcome().unwrap().as_ref().unwrap();
    assert_eq!(a.ipv6, None);
    assert_eq!(a.ipv6_dropped.unwrap().to_string(), "fd00::10/64");
    assert!(s
        .events()
        .iter()
        .any(|e| matches!(e.kind, EventKind::Ipv6Dropped(_))));
}

// SPEC: A9
#[test]
fn link_up_is_retried_three_times_ten_ms_apart() {
    let mut spec = dual_stack();
    spec.ipv4 = None;
    spec.ipv6 = None;
    spec.mac = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.step(
        "disable_ipv6",
        read_disable_ipv6(),
        Ok(R::Value("1".into())),
    );
    for attempt in 0..3 {
        s.step("up fails", up(5), err(Op::SetLinkUp, Errno::EBUSY));
        s.idle();
        let t = s.fire_timer();
        assert_eq!(t, Timestamp::ZERO + LINK_UP_RETRY_DELAY * (attempt + 1));
    }
    s.step(
        "fourth try fails too",
        up(5),
        err(Op::SetLinkUp, Errno::EBUSY),
    );
    s.ok("move back", move_back(5));
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(e.starts_with("failed to set link up"), "{e}");
}
