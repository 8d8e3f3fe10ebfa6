use super::*;
use crate::spec::{Destination, Source, Spec};
use crate::testutil::*;
use crate::types::{AddrFlags, AddrInfo, RouteInfo};
use crate::validate::validate;
use crate::{Command as C, Op, Reply as R, Request as Rq};

fn plan(spec: Spec) -> AttachPlan {
    AttachPlan {
        netns: ns(),
        spec: validate(&spec).unwrap(),
        name: "eth0".into(),
        master: None,
    }
}

fn dual_stack() -> Spec {
    let mut s = Spec::new(
        Source::HostLink("veth0".into()),
        Destination::Prefix("eth".into()),
    );
    s.mac = Some("02:42:c0:00:02:0a".into());
    s.ipv4 = Some("192.0.2.10/24".into());
    s.ipv6 = Some("fd00::10/64".into());
    s
}

fn start(spec: Spec) -> Script<Attach> {
    Script::new(Attach::new(plan(spec), Timestamp::ZERO))
}

/// A4 opens with A11's subscription and its one read of the link (which also carries A6's
/// `disable_ipv6`): subscribe first, then read, so no event is lost.
fn watch(s: &mut Script<Attach>, index: IfIndex, read: LinkInfo) {
    s.ok("subscribe first", C::Subscribe { id: 1, netns: ns() });
    s.step(
        "then read the link once",
        Rq::LinkByIndex { netns: ns(), index },
        Ok(R::Link(read)),
    );
}

/// A2 on the move path (veth0 looked up in the host, moved in as eth0, index 5), then A4's
/// subscription and read, answered with `read`.
fn moved_and_watched(s: &mut Script<Attach>, read: LinkInfo) {
    s.step(
        "lookup",
        Rq::LinkByName {
            netns: NetnsRef::Host,
            name: "veth0".into(),
        },
        Ok(R::Link(link(5, "veth0", false))),
    );
    s.step(
        "move",
        Rq::MoveLink {
            from: NetnsRef::Host,
            index: 5,
            to: ns(),
            new_name: "eth0".into(),
        },
        Ok(R::Index(5)),
    );
    watch(s, 5, read);
}

/// A read that does not tell `disable_ipv6` (A6 then reads the sysctl).
fn v6_unknown(l: LinkInfo) -> LinkInfo {
    LinkInfo {
        ipv6_disabled: None,
        ..l
    }
}

/// A link event on the namespace subscription (id 1).
fn ns_event(s: &mut Script<Attach>, l: LinkInfo) {
    s.m.handle_input(
        s.now,
        Input::LinkEvent {
            id: 1,
            event: LinkEvent::Changed(l),
        },
    );
}

/// Drive the move path through A2..A4 (up to and including the IPv6 address).
fn through_configure(s: &mut Script<Attach>) {
    s.step(
        "look up veth0 in the host",
        Rq::LinkByName {
            netns: NetnsRef::Host,
            name: "veth0".into(),
        },
        Ok(R::Link(link(5, "veth0", false))),
    );
    s.step(
        "move+rename in one message",
        Rq::MoveLink {
            from: NetnsRef::Host,
            index: 5,
            to: ns(),
            new_name: "eth0".into(),
        },
        Ok(R::Index(5)),
    );
    // IPv6 is on (`disable_ipv6` 0 in the read): A6 neither reads nor writes the sysctl.
    watch(s, 5, link(5, "eth0", false));
    s.ok(
        "set MAC",
        Rq::SetMac {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
        },
    );
    s.step(
        "route list v4",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V4,
        },
        Ok(R::Routes(vec![])),
    );
    s.ok(
        "add IPv4",
        Rq::AddAddress {
            netns: ns(),
            index: 5,
            net: "192.0.2.10/24".parse().unwrap(),
            nodad: false,
        },
    );
    s.step(
        "route list v6",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V6,
        },
        Ok(R::Routes(vec![])),
    );
    s.ok(
        "add IPv6 nodad",
        Rq::AddAddress {
            netns: ns(),
            index: 5,
            net: "fd00::10/64".parse().unwrap(),
            nodad: true,
        },
    );
}

/// A12: the read of the host end (index 9, in the host), a port of bridge 3 that forwards.
fn read_host_end(s: &mut Script<Attach>, label: &str) {
    s.step(
        label,
        Rq::LinkByIndex {
            netns: NetnsRef::Host,
            index: 9,
        },
        Ok(R::Link(port(9, 3, PortState::Forwarding))),
    );
}

/// A13: the route to `ff02::1` by the interface (index 5).
fn mcast_query() -> Rq {
    Rq::GetRoute {
        netns: ns(),
        dst: "ff02::1".parse().unwrap(),
        oif: Some(5),
    }
}

fn through_waits(s: &mut Script<Attach>) {
    s.ok(
        "set up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
    );
    // "Up" comes from the notification of the request itself: no read.
    s.idle();
    ns_event(s, veth_in_ns(5, "eth0", 9, mac(0x0a)));
    s.ok("unsubscribe", C::Unsubscribe { id: 1 });
    s.ok(
        "subscribe host",
        C::Subscribe {
            id: 2,
            netns: NetnsRef::Host,
        },
    );
    read_host_end(s, "read peer");
    s.step(
        "read bridge",
        Rq::LinkByIndex {
            netns: NetnsRef::Host,
            index: 3,
        },
        Ok(R::Link(bridge(3, false))),
    );
    s.ok("unsubscribe host", C::Unsubscribe { id: 2 });
    s.step(
        "ff02::1 by oif",
        mcast_query(),
        Ok(R::Route(RouteInfo {
            dst: "ff00::/8".parse().unwrap(),
            gateway: None,
            oif: Some(5),
            scope: RouteScope::Universe,
        })),
    );
}

fn first_announcement(s: &mut Script<Attach>) {
    s.step(
        "S6 re-read",
        Rq::LinkByIndex {
            netns: ns(),
            index: 5,
        },
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.ok(
        "ARP",
        Rq::SendArp {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
            addr: "192.0.2.10".parse().unwrap(),
        },
    );
    s.ok(
        "NA",
        Rq::SendNa {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
            addr: "fd00::10".parse().unwrap(),
        },
    );
}

// SPEC: A2, A3, A4, A9, A11, A12, A13, A14, S4
#[test]
fn full_move_path_in_spec_order() {
    let mut s = start(dual_stack());
    through_configure(&mut s);
    through_waits(&mut s);
    first_announcement(&mut s);
    s.idle();
    let attached = s.m.outcome().unwrap().as_ref().unwrap().clone();
    assert_eq!(attached.name, "eth0");
    assert_eq!(attached.source, "veth0");
    assert_eq!(attached.origin, Origin::MovedFromHost);
    assert_eq!(attached.ipv6.unwrap().to_string(), "fd00::10/64");
    let announcer = s.m.take_announcer().expect("two more rounds");
    assert_eq!(announcer.sent(), 1);
    // S5: next round one interval after the first.
    assert_eq!(
        announcer.poll_timeout(),
        Some(Timestamp::ZERO + Duration::from_secs(1))
    );
    let phases: Vec<Phase> = s
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Phase(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(
        phases,
        [
            Phase::Obtaining,
            Phase::Configuring,
            Phase::SettingUp,
            Phase::WaitingForLink,
            Phase::WaitingForBridgePort,
            Phase::WaitingForMulticastRoute,
            Phase::Announcing
        ]
    );
}

// SPEC: A15
#[test]
fn failure_after_move_restores_mac_and_moves_back_under_source_name() {
    let mut s = start(dual_stack());
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.ok(
        "mac",
        Rq::SetMac {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
        },
    );
    s.step(
        "routes",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V4,
        },
        Ok(R::Routes(vec![])),
    );
    s.ok(
        "v4",
        Rq::AddAddress {
            netns: ns(),
            index: 5,
            net: "192.0.2.10/24".parse().unwrap(),
            nodad: false,
        },
    );
    s.step(
        "sysctl",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
        Ok(R::Value("0".into())),
    );
    s.step(
        "routes6",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V6,
        },
        Ok(R::Routes(vec![])),
    );
    s.step(
        "v6 fails",
        Rq::AddAddress {
            netns: ns(),
            index: 5,
            net: "fd00::10/64".parse().unwrap(),
            nodad: true,
        },
        err(Op::AddAddress, Errno::EADDRNOTAVAIL),
    );
    // Addresses go with the move; the MAC does not, so it is put back first.
    s.ok(
        "restore MAC",
        Rq::SetMac {
            netns: ns(),
            index: 5,
            mac: mac(0xee),
        },
    );
    s.ok(
        "move back",
        Rq::MoveLink {
            from: ns(),
            index: 5,
            to: NetnsRef::Host,
            new_name: "veth0".into(),
        },
    );
    s.idle();
    let err = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(
        err.starts_with("error setting interface \"eth0\" IPv6 to fd00::10/64"),
        "{err}"
    );
    assert!(s
        .events()
        .iter()
        .any(|e| matches!(e.kind, EventKind::RolledBack { .. })));
}

// SPEC: A15
#[test]
fn a_stalled_attach_fails_and_rolls_back() {
    let mut s = start(dual_stack());
    moved_and_watched(&mut s, link(5, "eth0", false));
    s.ok(
        "set MAC",
        Rq::SetMac {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
        },
    );
    // The driver finds it waiting for nothing (a machine bug, or a subscription gone) and
    // says so: the attach fails like any failed step and undoes what it did.
    s.m.handle_stall(s.now);
    s.ok(
        "restore MAC",
        Rq::SetMac {
            netns: ns(),
            index: 5,
            mac: mac(0xee),
        },
    );
    s.ok(
        "move back",
        Rq::MoveLink {
            from: ns(),
            index: 5,
            to: NetnsRef::Host,
            new_name: "veth0".into(),
        },
    );
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(
        e.starts_with("attach of interface \"eth0\" in namespace /run/netns/ctr1 stalled"),
        "{e}"
    );
    assert!(s
        .events()
        .iter()
        .any(|e| matches!(e.kind, EventKind::RolledBack { .. })));
}

// SPEC: N4
#[test]
fn name_taken_in_namespace_fails_and_the_link_stays_in_the_host() {
    let mut spec = dual_stack();
    spec.destination = Destination::Name("eth0".into());
    let mut s = start(spec);
    s.step(
        "lookup",
        Rq::LinkByName {
            netns: NetnsRef::Host,
            name: "veth0".into(),
        },
        Ok(R::Link(link(5, "veth0", false))),
    );
    s.step(
        "move fails",
        Rq::MoveLink {
            from: NetnsRef::Host,
            index: 5,
            to: ns(),
            new_name: "eth0".into(),
        },
        err(Op::MoveLink, Errno::EEXIST),
    );
    s.step(
        "still in the host?",
        Rq::LinkByName {
            netns: NetnsRef::Host,
            name: "veth0".into(),
        },
        Ok(R::Link(link(5, "veth0", false))),
    );
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(
        e.contains("error renaming interface") && e.contains("file exists"),
        "{e}"
    );
}

// SPEC: N4, A15
#[test]
fn link_moved_before_the_rename_failed_is_moved_back() {
    // Linux moves the link under its own name, then fails the rename with EEXIST.
    let mut spec = dual_stack();
    spec.destination = Destination::Name("eth0".into());
    let mut s = start(spec);
    s.step(
        "lookup",
        Rq::LinkByName {
            netns: NetnsRef::Host,
            name: "veth0".into(),
        },
        Ok(R::Link(link(5, "veth0", true))),
    );
    s.step(
        "move fails",
        Rq::MoveLink {
            from: NetnsRef::Host,
            index: 5,
            to: ns(),
            new_name: "eth0".into(),
        },
        err(Op::MoveLink, Errno::EEXIST),
    );
    s.step(
        "gone from the host",
        Rq::LinkByName {
            netns: NetnsRef::Host,
            name: "veth0".into(),
        },
        err(Op::GetLink, Errno::ENODEV),
    );
    s.step(
        "found in the namespace",
        Rq::LinkByName {
            netns: ns(),
            name: "veth0".into(),
        },
        Ok(R::Link(link(3, "veth0", false))),
    );
    s.step(
        "moved back",
        Rq::MoveLink {
            from: ns(),
            index: 3,
            to: NetnsRef::Host,
            new_name: "veth0".into(),
        },
        Ok(R::Index(12)),
    );
    // It had been up, and now has another index in the host: the restore follows it.
    s.ok(
        "up again under its new index",
        Rq::SetLinkUp {
            netns: NetnsRef::Host,
            index: 12,
        },
    );
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err();
    assert!(matches!(e, AttachError::Failed { rollback_errors, .. } if rollback_errors.is_empty()));
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
    s.ok(
        "down",
        Rq::SetLinkDown {
            netns: ns(),
            index: 7,
        },
    );
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
        "sysctl",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
        Ok(R::Value("0".into())),
    );
    s.step(
        "routes6",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V6,
        },
        Ok(R::Routes(vec![])),
    );
    s.ok(
        "v6",
        Rq::AddAddress {
            netns: ns(),
            index: 7,
            net: "fd00::10/64".parse().unwrap(),
            nodad: true,
        },
    );
    s.ok(
        "up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 7,
        },
    );
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
    s.ok(
        "down",
        Rq::SetLinkDown {
            netns: ns(),
            index: 7,
        },
    );
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

// SPEC: A5
#[test]
fn route_conflict_names_address_and_route() {
    let mut spec = dual_stack();
    spec.ipv6 = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.ok(
        "mac",
        Rq::SetMac {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
        },
    );
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
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V4,
        },
        Ok(R::Routes(vec![default, conflicting])),
    );
    s.ok(
        "restore MAC",
        Rq::SetMac {
            netns: ns(),
            index: 5,
            mac: mac(0xee),
        },
    );
    s.ok(
        "move back",
        Rq::MoveLink {
            from: ns(),
            index: 5,
            to: NetnsRef::Host,
            new_name: "veth0".into(),
        },
    );
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
    s.step(
        "routes",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V4,
        },
        Ok(R::Routes(vec![])),
    );
    s.ok(
        "v4",
        Rq::AddAddress {
            netns: ns(),
            index: 5,
            net: "192.0.2.10/24".parse().unwrap(),
            nodad: false,
        },
    );
    s.step(
        "read",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
        Ok(R::Value("0".into())),
    );
    s.step(
        "write 1",
        Rq::WriteSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
            value: "1".into(),
        },
        err(Op::WriteSysctl, Errno::EROFS),
    );
    s.ok(
        "move back",
        Rq::MoveLink {
            from: ns(),
            index: 5,
            to: NetnsRef::Host,
            new_name: "veth0".into(),
        },
    );
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
    s.step(
        "routes",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V4,
        },
        Ok(R::Routes(vec![])),
    );
    s.ok(
        "v4",
        Rq::AddAddress {
            netns: ns(),
            index: 5,
            net: "192.0.2.10/24".parse().unwrap(),
            nodad: false,
        },
    );
    s.step(
        "read: no IPv6 in this kernel",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
        err(Op::ReadSysctl, Errno::ENOENT),
    );
    s.ok(
        "set up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
    );
    assert!(s.m.outcome().is_none());
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
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
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
    s.ok(
        "move back",
        Rq::MoveLink {
            from: ns(),
            index: 5,
            to: NetnsRef::Host,
            new_name: "veth0".into(),
        },
    );
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert_eq!(e, "/proc/sys/net/ipv4/conf/eth0/nope is not a sysctl file");
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
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V4,
        },
        Ok(R::Routes(vec![own, other])),
    );
    s.step(
        "own v6 routes",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V6,
        },
        Ok(R::Routes(vec![])),
    );
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
    s.ok(
        "down",
        Rq::SetLinkDown {
            netns: ns(),
            index: 7,
        },
    );
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
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
        Ok(R::Value("0".into())),
    );
    s.ok(
        "write 1",
        Rq::WriteSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
            value: "1".into(),
        },
    );
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
    s.ok(
        "up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 7,
        },
    );
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
    s.ok(
        "down again",
        Rq::SetLinkDown {
            netns: ns(),
            index: 7,
        },
    );
    s.ok(
        "arp_notify back",
        Rq::WriteSysctl {
            netns: ns(),
            path: "net/ipv4/conf/eth0/arp_notify".into(),
            value: "0".into(),
        },
    );
    s.ok(
        "disable_ipv6 back",
        Rq::WriteSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
            value: "0".into(),
        },
    );
    s.ok(
        "rename back",
        Rq::RenameLink {
            netns: ns(),
            index: 7,
            name: "dummy0".into(),
        },
    );
    s.ok(
        "up as it was",
        Rq::SetLinkUp {
            netns: ns(),
            index: 7,
        },
    );
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

// SPEC: A8
#[test]
fn ipv6_gone_after_sysctls_is_dropped_and_not_announced() {
    let mut spec = dual_stack();
    spec.sysctls = vec!["net.ipv6.conf.IFNAME.disable_ipv6=1".into()];
    let mut s = start(spec);
    through_configure(&mut s);
    s.step(
        "read sysctl",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
        Ok(R::Value("0".into())),
    );
    s.ok(
        "write sysctl",
        Rq::WriteSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
            value: "1".into(),
        },
    );
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
    s.ok(
        "up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
    );
    ns_event(&mut s, link(5, "eth0", true));
    s.ok("unsub", C::Unsubscribe { id: 1 });
    // No ff02::1 wait and no NA: only ARP.
    s.step(
        "S6",
        Rq::LinkByIndex {
            netns: ns(),
            index: 5,
        },
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.ok(
        "ARP only",
        Rq::SendArp {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
            addr: "192.0.2.10".parse().unwrap(),
        },
    );
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
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
        Ok(R::Value("1".into())),
    );
    for attempt in 0..3 {
        s.step(
            "up fails",
            Rq::SetLinkUp {
                netns: ns(),
                index: 5,
            },
            err(Op::SetLinkUp, Errno::EBUSY),
        );
        s.idle();
        let t = s.fire_timer();
        assert_eq!(t, Timestamp::ZERO + LINK_UP_RETRY_DELAY * (attempt + 1));
    }
    s.step(
        "fourth try fails too",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
        err(Op::SetLinkUp, Errno::EBUSY),
    );
    s.ok(
        "move back",
        Rq::MoveLink {
            from: ns(),
            index: 5,
            to: NetnsRef::Host,
            new_name: "veth0".into(),
        },
    );
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(e.starts_with("failed to set link up"), "{e}");
}

// SPEC: A11
#[test]
fn link_that_never_comes_up_is_not_an_error_and_nothing_is_announced() {
    let mut spec = dual_stack();
    spec.ipv6 = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.ok(
        "mac",
        Rq::SetMac {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
        },
    );
    s.step(
        "routes",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V4,
        },
        Ok(R::Routes(vec![])),
    );
    s.ok(
        "v4",
        Rq::AddAddress {
            netns: ns(),
            index: 5,
            net: "192.0.2.10/24".parse().unwrap(),
            nodad: false,
        },
    );
    s.step(
        "sysctl",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
        Ok(R::Value("1".into())),
    );
    s.ok(
        "up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
    );
    ns_event(&mut s, link(5, "eth0", false));
    s.idle();
    // An event for another link changes nothing.
    s.m.handle_input(
        s.now,
        Input::LinkEvent {
            id: 1,
            event: LinkEvent::Changed(link(6, "other", true)),
        },
    );
    s.idle();
    assert_eq!(s.fire_timer(), Timestamp::ZERO + LINK_UP_WAIT);
    s.ok("unsub", C::Unsubscribe { id: 1 });
    s.idle();
    let a = s.m.outcome().unwrap().as_ref().unwrap();
    assert!(a.warnings[0].contains("did not come up"));
    assert!(s.m.take_announcer().is_none());
}

// SPEC: A11
#[test]
fn link_up_event_after_subscribe_ends_the_wait() {
    let mut spec = dual_stack();
    spec.ipv6 = None;
    spec.announce_count = 0;
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.ok(
        "mac",
        Rq::SetMac {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
        },
    );
    s.step(
        "routes",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V4,
        },
        Ok(R::Routes(vec![])),
    );
    s.ok(
        "v4",
        Rq::AddAddress {
            netns: ns(),
            index: 5,
            net: "192.0.2.10/24".parse().unwrap(),
            nodad: false,
        },
    );
    s.step(
        "sysctl",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
        Ok(R::Value("1".into())),
    );
    s.ok(
        "up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
    );
    ns_event(&mut s, link(5, "eth0", false));
    s.m.handle_input(
        s.now,
        Input::LinkEvent {
            id: 1,
            event: LinkEvent::Changed(link(5, "eth0", true)),
        },
    );
    s.ok("unsub", C::Unsubscribe { id: 1 });
    assert!(s.m.outcome().unwrap().is_ok());
}

// SPEC: A12
#[test]
fn bridge_port_wait_is_event_driven_and_skipped_with_stp() {
    for stp in [false, true] {
        let mut s = start(dual_stack());
        through_configure(&mut s);
        s.ok(
            "up",
            Rq::SetLinkUp {
                netns: ns(),
                index: 5,
            },
        );
        ns_event(&mut s, veth_in_ns(5, "eth0", 9, mac(0x0a)));
        s.ok("unsub", C::Unsubscribe { id: 1 });
        s.ok(
            "sub host",
            C::Subscribe {
                id: 2,
                netns: NetnsRef::Host,
            },
        );
        s.step(
            "peer learning",
            Rq::LinkByIndex {
                netns: NetnsRef::Host,
                index: 9,
            },
            Ok(R::Link(port(9, 3, PortState::Learning))),
        );
        s.step(
            "bridge",
            Rq::LinkByIndex {
                netns: NetnsRef::Host,
                index: 3,
            },
            Ok(R::Link(bridge(3, stp))),
        );
        if !stp {
            s.idle();
            assert_eq!(s.m.poll_timeout(), Some(Timestamp::ZERO + BRIDGE_PORT_WAIT));
            s.m.handle_input(
                s.now,
                Input::LinkEvent {
                    id: 2,
                    event: LinkEvent::Changed(port(9, 3, PortState::Forwarding)),
                },
            );
        }
        s.ok("unsub host", C::Unsubscribe { id: 2 });
        assert_eq!(s.next(), mcast_query().into(), "A13 next");
    }
}

// SPEC: A12
#[test]
fn bridge_port_not_forwarding_in_time_is_a_warning() {
    let mut s = start(dual_stack());
    through_configure(&mut s);
    s.ok(
        "up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
    );
    ns_event(&mut s, veth_in_ns(5, "eth0", 9, mac(0x0a)));
    s.ok("unsub", C::Unsubscribe { id: 1 });
    s.ok(
        "sub host",
        C::Subscribe {
            id: 2,
            netns: NetnsRef::Host,
        },
    );
    s.step(
        "peer",
        Rq::LinkByIndex {
            netns: NetnsRef::Host,
            index: 9,
        },
        Ok(R::Link(port(9, 3, PortState::Disabled))),
    );
    s.step(
        "bridge",
        Rq::LinkByIndex {
            netns: NetnsRef::Host,
            index: 3,
        },
        Ok(R::Link(bridge(3, false))),
    );
    s.fire_timer();
    s.ok("unsub host", C::Unsubscribe { id: 2 });
    assert_eq!(s.next(), mcast_query().into(), "A13 next");
    assert!(s
        .events()
        .iter()
        .any(|e| matches!(&e.kind, EventKind::Warning(w) if w.contains("not forwarding"))));
}

// SPEC: A13, S7
#[test]
fn missing_multicast_route_is_polled_then_na_unreachable_is_ignored() {
    let mut spec = dual_stack();
    spec.ipv4 = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.ok(
        "mac",
        Rq::SetMac {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
        },
    );
    s.step(
        "sysctl",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
        Ok(R::Value("0".into())),
    );
    s.step(
        "routes6",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V6,
        },
        Ok(R::Routes(vec![])),
    );
    s.ok(
        "v6",
        Rq::AddAddress {
            netns: ns(),
            index: 5,
            net: "fd00::10/64".parse().unwrap(),
            nodad: true,
        },
    );
    s.ok(
        "up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
    );
    ns_event(&mut s, link(5, "eth0", true));
    s.ok("unsub", C::Unsubscribe { id: 1 });
    let mut queries = 0;
    loop {
        s.step(
            "ff02::1",
            mcast_query(),
            err(Op::GetRoute, Errno::ENETUNREACH),
        );
        queries += 1;
        s.fire_timer();
        if s.now >= Timestamp::ZERO + MCAST_ROUTE_WAIT {
            break;
        }
    }
    assert_eq!(queries, 20, "every 10 ms for 200 ms");
    s.step(
        "S6",
        Rq::LinkByIndex {
            netns: ns(),
            index: 5,
        },
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.step(
        "NA unreachable",
        Rq::SendNa {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
            addr: "fd00::10".parse().unwrap(),
        },
        err(Op::SendNa, Errno::ENETUNREACH),
    );
    s.idle();
    let a = s.m.outcome().unwrap().as_ref().unwrap();
    assert!(a.warnings.iter().any(|w| w.contains("ff02::1")));
    let more =
        s.m.take_announcer()
            .expect("the ignored error does not stop announcing");
    assert_eq!(more.sent(), 1);
}

// SPEC: S1
#[test]
fn nothing_to_announce_without_addresses() {
    let mut spec = dual_stack();
    spec.ipv4 = None;
    spec.ipv6 = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.ok(
        "mac",
        Rq::SetMac {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
        },
    );
    s.step(
        "sysctl",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
        Ok(R::Value("1".into())),
    );
    s.ok(
        "up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
    );
    ns_event(&mut s, veth_in_ns(5, "eth0", 9, mac(0x0a)));
    s.ok("unsub", C::Unsubscribe { id: 1 });
    s.idle();
    assert!(s.m.outcome().unwrap().is_ok());
    assert!(s.events().iter().any(|e| matches!(&e.kind, EventKind::AnnounceStopped(StopReason::NotStarted { why }) if why.contains("no IP address"))));
}

// SPEC: S4
#[test]
fn failed_first_send_is_a_warning_not_a_failure() {
    let mut s = start(dual_stack());
    through_configure(&mut s);
    through_waits(&mut s);
    s.step(
        "S6",
        Rq::LinkByIndex {
            netns: ns(),
            index: 5,
        },
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.step(
        "ARP fails",
        Rq::SendArp {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
            addr: "192.0.2.10".parse().unwrap(),
        },
        err(Op::SendArp, Errno::ENETUNREACH),
    );
    s.ok(
        "NA still tried",
        Rq::SendNa {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
            addr: "fd00::10".parse().unwrap(),
        },
    );
    s.idle();
    let a = s.m.outcome().unwrap().as_ref().unwrap();
    assert!(
        a.warnings
            .iter()
            .any(|w| w.contains("first announcement failed")),
        "{:?}",
        a.warnings
    );
    assert!(s.m.take_announcer().is_none());
}

// SPEC: A2, V10
#[test]
fn veth_fast_path_creates_the_pair_in_one_request_and_deletes_it_on_failure() {
    let mut spec = dual_stack();
    spec.source = Source::VethOnBridge {
        bridge: "br0".into(),
        host_name: "vp1".into(),
    };
    let mut s = start(spec);
    s.step(
        "bridge lookup",
        Rq::LinkByName {
            netns: NetnsRef::Host,
            name: "br0".into(),
        },
        Ok(R::Link(bridge(3, false))),
    );
    s.step(
        "create veth",
        Rq::CreateVeth {
            netns: NetnsRef::Host,
            request: VethRequest {
                host_name: "vp1".into(),
                host_master: Some(3),
                host_up: true,
                peer_netns: ns(),
                peer_name: "eth0".into(),
                peer_mac: Some(mac(0x0a)),
            },
        },
        Ok(R::Veth(crate::VethPair {
            host_index: 9,
            peer_index: 2,
        })),
    );
    watch(&mut s, 2, link(2, "eth0", false));
    // Name and MAC were set at creation: straight to the addresses.
    s.step(
        "routes",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V4,
        },
        err(Op::ListRoutes, Errno::EIO),
    );
    s.ok(
        "delete the pair",
        Rq::DeleteLinks {
            netns: NetnsRef::Host,
            indices: vec![9],
        },
    );
    s.idle();
    assert!(s.m.outcome().unwrap().is_err());
}

// SPEC: V10, A2
#[test]
fn bridge_created_in_namespace_is_renamed_and_deleted_on_failure() {
    let mut spec = Spec::new(
        Source::NewBridge("br-int".into()),
        Destination::Name("br0".into()),
    );
    spec.mac = Some("02:42:c0:00:02:0b".into());
    let mut p = plan(spec);
    p.name = "br0".into();
    let mut s = Script::new(Attach::new(p, Timestamp::ZERO));
    s.step(
        "create",
        Rq::CreateBridge {
            netns: ns(),
            name: "br-int".into(),
        },
        Ok(R::Index(4)),
    );
    s.ok(
        "rename",
        Rq::RenameLink {
            netns: ns(),
            index: 4,
            name: "br0".into(),
        },
    );
    watch(&mut s, 4, bridge(4, false));
    s.step(
        "mac fails",
        Rq::SetMac {
            netns: ns(),
            index: 4,
            mac: mac(0x0b),
        },
        err(Op::SetMac, Errno::EINVAL),
    );
    s.ok(
        "delete",
        Rq::DeleteLinks {
            netns: ns(),
            indices: vec![4],
        },
    );
    s.idle();
}

// SPEC: A12
#[test]
fn veth_fast_path_reuses_the_bridge_it_read_for_the_port_wait() {
    let mut spec = dual_stack();
    spec.source = Source::VethOnBridge {
        bridge: "br0".into(),
        host_name: "vp1".into(),
    };
    spec.ipv6 = None;
    let mut s = start(spec);
    s.step(
        "bridge",
        Rq::LinkByName {
            netns: NetnsRef::Host,
            name: "br0".into(),
        },
        Ok(R::Link(bridge(3, false))),
    );
    s.step(
        "veth",
        Rq::CreateVeth {
            netns: NetnsRef::Host,
            request: VethRequest {
                host_name: "vp1".into(),
                host_master: Some(3),
                host_up: true,
                peer_netns: ns(),
                peer_name: "eth0".into(),
                peer_mac: Some(mac(0x0a)),
            },
        },
        Ok(R::Veth(crate::VethPair {
            host_index: 9,
            peer_index: 5,
        })),
    );
    watch(&mut s, 5, v6_unknown(link(5, "eth0", false)));
    s.step(
        "routes",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V4,
        },
        Ok(R::Routes(vec![])),
    );
    s.ok(
        "v4",
        Rq::AddAddress {
            netns: ns(),
            index: 5,
            net: "192.0.2.10/24".parse().unwrap(),
            nodad: false,
        },
    );
    s.step(
        "sysctl",
        Rq::ReadSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        },
        Ok(R::Value("1".into())),
    );
    s.ok(
        "up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
    );
    ns_event(&mut s, veth_in_ns(5, "eth0", 9, mac(0x0a)));
    s.ok("unsub", C::Unsubscribe { id: 1 });
    s.ok(
        "sub host",
        C::Subscribe {
            id: 2,
            netns: NetnsRef::Host,
        },
    );
    read_host_end(&mut s, "host end");
    // No second read of the bridge.
    s.ok("unsub host", C::Unsubscribe { id: 2 });
    s.step(
        "S6",
        Rq::LinkByIndex {
            netns: ns(),
            index: 5,
        },
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.ok(
        "ARP",
        Rq::SendArp {
            netns: ns(),
            index: 5,
            mac: mac(0x0a),
            addr: "192.0.2.10".parse().unwrap(),
        },
    );
    assert!(s.m.outcome().unwrap().is_ok());
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
    s.step(
        "routes",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V4,
        },
        Ok(R::Routes(vec![])),
    );
    s.ok(
        "v4",
        Rq::AddAddress {
            netns: ns(),
            index: 5,
            net: "192.0.2.10/24".parse().unwrap(),
            nodad: false,
        },
    );
    s.ok(
        "disable IPv6 without reading /proc first",
        Rq::WriteSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
            value: "1".into(),
        },
    );
    s.ok(
        "up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
    );

    // With an IPv6 address and IPv6 off on the link: enabled, again without a read.
    let mut spec = dual_stack();
    spec.ipv4 = None;
    spec.mac = None;
    let mut s = start(spec);
    s.step(
        "lookup",
        Rq::LinkByName {
            netns: NetnsRef::Host,
            name: "veth0".into(),
        },
        Ok(R::Link(link(5, "veth0", false))),
    );
    s.step(
        "move",
        Rq::MoveLink {
            from: NetnsRef::Host,
            index: 5,
            to: ns(),
            new_name: "eth0".into(),
        },
        Ok(R::Index(5)),
    );
    let off = LinkInfo {
        ipv6_disabled: Some(true),
        ..link(5, "eth0", false)
    };
    watch(&mut s, 5, off);
    s.ok(
        "enable IPv6",
        Rq::WriteSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
            value: "0".into(),
        },
    );
    s.step(
        "routes6",
        Rq::ListRoutes {
            netns: ns(),
            family: Family::V6,
        },
        Ok(R::Routes(vec![])),
    );
    s.step(
        "v6 fails",
        Rq::AddAddress {
            netns: ns(),
            index: 5,
            net: "fd00::10/64".parse().unwrap(),
            nodad: true,
        },
        err(Op::AddAddress, Errno::EACCES),
    );
    // A15: the link leaves the namespace, and its per-interface sysctls with it.
    s.ok(
        "move back",
        Rq::MoveLink {
            from: ns(),
            index: 5,
            to: NetnsRef::Host,
            new_name: "veth0".into(),
        },
    );
    s.idle();
}

// SPEC: A11
#[test]
fn link_events_seen_while_retrying_set_up_count_for_the_wait() {
    let mut spec = dual_stack();
    spec.ipv4 = None;
    spec.ipv6 = None;
    spec.mac = None;
    spec.announce_count = 0;
    let mut s = start(spec);
    moved_and_watched(&mut s, link(5, "eth0", false));
    s.ok(
        "disable IPv6",
        Rq::WriteSysctl {
            netns: ns(),
            path: "net/ipv6/conf/eth0/disable_ipv6".into(),
            value: "1".into(),
        },
    );
    s.step(
        "up fails once",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
        err(Op::SetLinkUp, Errno::EBUSY),
    );
    // Someone else brings the link up while the retry waits: the event is kept.
    ns_event(&mut s, link(5, "eth0", true));
    s.idle();
    s.fire_timer();
    s.ok(
        "retry",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
    );
    // Already known to be up: no wait, no read.
    s.ok("unsubscribe", C::Unsubscribe { id: 1 });
    s.idle();
    assert!(s.m.outcome().unwrap().is_ok());
    assert_eq!(s.m.poll_timeout(), None);
}

// SPEC: A11
// SPEC: A12
#[test]
fn lost_events_make_the_waits_read_again() {
    let mut s = start(dual_stack());
    through_configure(&mut s);
    s.ok(
        "set up",
        Rq::SetLinkUp {
            netns: ns(),
            index: 5,
        },
    );
    s.idle();
    // The up notification was dropped by the kernel: read the link instead of waiting 5 s.
    s.m.handle_input(
        s.now,
        Input::LinkEvent {
            id: 1,
            event: LinkEvent::Lost,
        },
    );
    s.step(
        "A11 reads again",
        Rq::LinkByIndex {
            netns: ns(),
            index: 5,
        },
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.ok("unsubscribe", C::Unsubscribe { id: 1 });
    s.ok(
        "subscribe host",
        C::Subscribe {
            id: 2,
            netns: NetnsRef::Host,
        },
    );
    s.step(
        "peer not forwarding yet",
        Rq::LinkByIndex {
            netns: NetnsRef::Host,
            index: 9,
        },
        Ok(R::Link(port(9, 3, PortState::Learning))),
    );
    s.step(
        "bridge without STP",
        Rq::LinkByIndex {
            netns: NetnsRef::Host,
            index: 3,
        },
        Ok(R::Link(bridge(3, false))),
    );
    s.idle();
    // Lost on the host subscription while waiting for the port: read the host end again.
    s.m.handle_input(
        s.now,
        Input::LinkEvent {
            id: 2,
            event: LinkEvent::Lost,
        },
    );
    read_host_end(&mut s, "A12 reads the host end again");
    s.ok("unsubscribe host", C::Unsubscribe { id: 2 });
    assert_eq!(s.next(), mcast_query().into(), "A13 next");
}
