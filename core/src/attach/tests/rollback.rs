//! A15: every completed step undone on failure, rollback errors reported with the cause.

use super::*;

/// The `RolledBack` events among `events`, whole.
fn rolled_back(events: Vec<crate::Event>) -> Vec<EventKind> {
    events
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| matches!(k, EventKind::RolledBack { .. }))
        .collect()
}

// SPEC: A15
#[test]
fn failure_after_move_restores_mac_and_moves_back_under_source_name() {
    let mut s = start(dual_stack());
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.ok("mac", set_mac(mac(0x0a)));
    s.step("routes", routes(Family::V4), Ok(R::Routes(vec![])));
    s.ok("v4", add_ipv4());
    s.step("sysctl", read_disable_ipv6(), Ok(R::Value("0".into())));
    s.step("routes6", routes(Family::V6), Ok(R::Routes(vec![])));
    s.step(
        "v6 fails",
        add_ipv6(),
        err(Op::AddAddress, Errno::EADDRNOTAVAIL),
    );
    // Addresses go with the move; the MAC does not, so it is put back first.
    s.ok("restore MAC", set_mac(mac(0xee)));
    s.ok("move back", move_back(5));
    s.idle();
    let err = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(
        err.starts_with("error setting interface \"eth0\" IPv6 to fd00::10/64"),
        "{err}"
    );
    assert_eq!(
        rolled_back(s.events()),
        vec![EventKind::RolledBack {
            cause: err,
            rollback_errors: vec![],
        }]
    );
}

// SPEC: A15
#[test]
fn a_stalled_attach_fails_and_rolls_back() {
    let mut s = start(dual_stack());
    moved_and_watched(&mut s, link(5, "eth0", false));
    s.ok("set MAC", set_mac(mac(0x0a)));
    // The driver finds it waiting for nothing (a machine bug, or a subscription gone) and
    // says so: the attach fails like any failed step and undoes what it did.
    s.m.handle_stall(s.now);
    s.ok("restore MAC", set_mac(mac(0xee)));
    s.ok("move back", move_back(5));
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(
        e.starts_with("attach of interface \"eth0\" in namespace /run/netns/ctr1 stalled"),
        "{e}"
    );
    assert_eq!(
        rolled_back(s.events()),
        vec![EventKind::RolledBack {
            cause: e,
            rollback_errors: vec![],
        }]
    );
}

// SPEC: A15
#[test]
fn addresses_already_gone_with_the_link_down_are_not_rollback_errors() {
    let mut spec = Spec::new(
        Source::CreatedInNamespace("d0".into()),
        Destination::Name("eth0".into()),
    );
    spec.ipv6 = Some("fd00::10/64".into());
    spec.routes = vec!["fd00:1::/64".into()];
    let mut s = start(spec);
    s.step(
        "lookup",
        Rq::LinkByName {
            netns: ns(),
            name: "d0".into(),
        },
        Ok(R::Link(link(7, "d0", false))),
    );
    s.ok("down", down(7));
    s.ok(
        "rename",
        Rq::RenameLink {
            netns: ns(),
            index: 7,
            name: "eth0".into(),
        },
    );
    watch(&mut s, 7, v6_unknown(link(7, "eth0", false)));
    s.step("sysctl", read_disable_ipv6(), Ok(R::Value("0".into())));
    s.step("routes6", routes(Family::V6), Ok(R::Routes(vec![])));
    s.ok(
        "v6",
        Rq::AddAddress {
            netns: ns(),
            index: 7,
            net: "fd00::10/64".parse().unwrap(),
            nodad: true,
        },
    );
    s.ok("up", up(7));
    s.step(
        "route fails",
        Rq::AddRoute {
            netns: ns(),
            route: RouteSpec {
                dst: "fd00:1::/64".parse().unwrap(),
                gateway: None,
                oif: 7,
                scope: RouteScope::Link,
            },
        },
        err(Op::AddRoute, Errno::EINVAL),
    );
    s.ok("down", down(7));
    s.step(
        "address went with the down",
        Rq::DelAddress {
            netns: ns(),
            index: 7,
            net: "fd00::10/64".parse().unwrap(),
        },
        err(Op::DelAddress, Errno::EADDRNOTAVAIL),
    );
    s.ok(
        "rename back",
        Rq::RenameLink {
            netns: ns(),
            index: 7,
            name: "d0".into(),
        },
    );
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err();
    assert!(
        matches!(e, AttachError::Failed { rollback_errors, .. } if rollback_errors.is_empty()),
        "{e}"
    );
}

// SPEC: A7, A15
#[test]
fn sysctl_changes_are_restored_when_the_link_stays_in_the_namespace() {
    let mut spec = Spec::new(
        Source::CreatedInNamespace("dummy0".into()),
        Destination::Name("eth0".into()),
    );
    spec.sysctls = vec!["net.ipv4.conf.IFNAME.arp_notify=1".into()];
    spec.routes = vec!["198.51.100.0/24".into()];
    let mut s = start(spec);
    s.step(
        "lookup in ns",
        Rq::LinkByName {
            netns: ns(),
            name: "dummy0".into(),
        },
        Ok(R::Link(link(7, "dummy0", true))),
    );
    // The link is up: what the down will flush is noted first.
    let own = RouteInfo {
        dst: "192.0.2.0/26".parse().unwrap(),
        gateway: None,
        oif: Some(7),
        scope: RouteScope::Link,
    };
    let other = RouteInfo {
        dst: "198.51.100.0/24".parse().unwrap(),
        gateway: None,
        oif: Some(2),
        scope: RouteScope::Link,
    };
    s.step(
        "own v4 routes",
        routes(Family::V4),
        Ok(R::Routes(vec![own, other])),
    );
    s.step("own v6 routes", routes(Family::V6), Ok(R::Routes(vec![])));
    let v6 = AddrInfo {
        index: 7,
        net: "fd00:5::7/64".parse().unwrap(),
        flags: AddrFlags {
            nodad: true,
            ..AddrFlags::default()
        },
    };
    s.step(
        "own addresses",
        Rq::ListAddresses {
            netns: ns(),
            index: Some(7),
        },
        Ok(R::Addresses(vec![v6])),
    );
    s.ok("down", down(7));
    s.ok(
        "rename",
        Rq::RenameLink {
            netns: ns(),
            index: 7,
            name: "eth0".into(),
        },
    );
    watch(&mut s, 7, v6_unknown(link(7, "eth0", false)));
    s.step(
        "disable_ipv6",
        read_disable_ipv6(),
        Ok(R::Value("0".into())),
    );
    s.ok("write 1", write_disable_ipv6("1"));
    s.step(
        "arp_notify",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv4/conf/eth0/arp_notify".into(),
        },
        Ok(R::Value("0".into())),
    );
    s.ok(
        "write",
        Rq::WriteSysctl {
            netns: ns(),
            path: "net/ipv4/conf/eth0/arp_notify".into(),
            value: "1".into(),
        },
    );
    s.ok("up", up(7));
    s.step(
        "route fails",
        Rq::AddRoute {
            netns: ns(),
            route: RouteSpec {
                dst: "198.51.100.0/24".parse().unwrap(),
                gateway: None,
                oif: 7,
                scope: RouteScope::Link,
            },
        },
        err(Op::AddRoute, Errno::ENETUNREACH),
    );
    s.ok("down again", down(7));
    s.ok(
        "arp_notify back",
        Rq::WriteSysctl {
            netns: ns(),
            path: "net/ipv4/conf/eth0/arp_notify".into(),
            value: "0".into(),
        },
    );
    s.ok("disable_ipv6 back", write_disable_ipv6("0"));
    s.ok(
        "rename back",
        Rq::RenameLink {
            netns: ns(),
            index: 7,
            name: "dummy0".into(),
        },
    );
    s.ok("up as it was", up(7));
    s.step(
        "its IPv6 address back",
        Rq::AddAddress {
            netns: ns(),
            index: 7,
            net: "fd00:5::7/64".parse().unwrap(),
            nodad: true,
        },
        err(Op::AddAddress, Errno::EEXIST),
    );
    s.ok(
        "its own route back",
        Rq::AddRoute {
            netns: ns(),
            route: RouteSpec {
                dst: "192.0.2.0/26".parse().unwrap(),
                gateway: None,
                oif: 7,
                scope: RouteScope::Link,
            },
        },
    );
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err();
    assert!(
        matches!(e, AttachError::Failed { rollback_errors, .. } if rollback_errors.is_empty()),
        "EEXIST on restore is fine"
    );
    let e = e.to_string();
    assert!(
        e.contains("error setting interface \"eth0\" routes to [198.51.100.0/24]"),
        "{e}"
    );
}
