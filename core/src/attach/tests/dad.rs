//! L5: DAD on request: the sysctls after A7, the address without NODAD after A12, the polling,
//! and the failures (duplicate, timeout) rolled back.

use super::*;

fn sysctl_path(leaf: &str) -> String {
    format!("net/ipv6/conf/eth0/{leaf}")
}

fn read(leaf: &str) -> Rq {
    Rq::ReadSysctl {
        netns: ns(),
        path: sysctl_path(leaf),
    }
}

fn write(leaf: &str, value: &str) -> Rq {
    Rq::WriteSysctl {
        netns: ns(),
        path: sysctl_path(leaf),
        value: value.into(),
    }
}

/// The address without `IFA_F_NODAD`, on `index`.
fn add_ipv6_dad(index: IfIndex) -> Rq {
    Rq::AddAddress {
        netns: ns(),
        index,
        net: "fd00::10/64".parse().unwrap(),
        nodad: false,
    }
}

fn poll(index: IfIndex) -> Rq {
    Rq::ListAddresses {
        netns: ns(),
        index: Some(index),
    }
}

fn v6_addr(index: IfIndex, tentative: bool, dadfailed: bool) -> R {
    R::Addresses(vec![AddrInfo {
        index,
        net: "fd00::10/64".parse().unwrap(),
        flags: AddrFlags {
            nodad: false,
            tentative,
            permanent: true,
            dadfailed,
        },
    }])
}

fn dad_spec() -> Spec {
    let mut s = dual_stack();
    s.dad = true;
    s
}

/// The move path through A4 with DAD: the IPv6 route check stays in A4, the address does not;
/// the DAD sysctls come after A7's.
fn through_configure_with_dad(s: &mut Script<Attach>) {
    moved_and_watched(s, link(5, "eth0", false));
    s.ok("set MAC", set_mac(mac(0x0a)));
    s.step("route list v4", routes(Family::V4), Ok(R::Routes(vec![])));
    s.ok("add IPv4", add_ipv4());
    s.step(
        "route list v6: A5 still checked in A4",
        routes(Family::V6),
        Ok(R::Routes(vec![])),
    );
    // No address yet: it waits for the port (A12).
    s.step(
        "accept_dad read",
        read("accept_dad"),
        Ok(R::Value("0".into())),
    );
    s.ok("accept_dad on", write("accept_dad", "1"));
    s.step(
        "enhanced_dad read: on already, not written",
        read("enhanced_dad"),
        Ok(R::Value("1".into())),
    );
}

/// A9–A12 of the move path (a veth whose host end 9 is a forwarding port of bridge 3).
fn up_and_port(s: &mut Script<Attach>) {
    s.ok("set up", up(5));
    ns_event(s, veth_in_ns(5, "eth0", 9, mac(0x0a)));
    s.ok("unsubscribe", C::Unsubscribe { id: 1 });
    s.ok("subscribe host", subscribe_host());
    read_host_end(s, "read peer");
    s.step("read bridge", read_host(3), Ok(R::Link(bridge(3, false))));
    s.ok("unsubscribe host", C::Unsubscribe { id: 2 });
}

fn phases(s: &mut Script<Attach>) -> Vec<Phase> {
    s.events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Phase(p) => Some(p),
            _ => None,
        })
        .collect()
}

// SPEC: L5
// SPEC: A12
// SPEC: A13
#[test]
fn dad_adds_the_address_after_the_port_forwards_and_waits_until_it_is_usable() {
    let mut s = start(dad_spec());
    through_configure_with_dad(&mut s);
    up_and_port(&mut s);
    s.ok(
        "the address, without NODAD, once the port forwards",
        add_ipv6_dad(5),
    );
    s.step("tentative", poll(5), Ok(v6_addr(5, true, false)));
    assert_eq!(
        s.fire_timer(),
        Timestamp::ZERO + DAD_POLL,
        "polled every 10 ms"
    );
    s.step("still tentative", poll(5), Ok(v6_addr(5, true, false)));
    s.fire_timer();
    s.step("usable", poll(5), Ok(v6_addr(5, false, false)));
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
    first_announcement(&mut s);
    s.idle();
    let a = s.m.outcome().unwrap().as_ref().unwrap();
    assert_eq!(a.ipv6.unwrap().to_string(), "fd00::10/64");
    assert_eq!(
        phases(&mut s),
        [
            Phase::Obtaining,
            Phase::Configuring,
            Phase::SettingUp,
            Phase::WaitingForLink,
            Phase::WaitingForBridgePort,
            Phase::DetectingDuplicateAddress,
            Phase::WaitingForMulticastRoute,
            Phase::Announcing
        ]
    );
}

// SPEC: L5
// SPEC: A15
#[test]
fn a_duplicate_fails_the_attach_naming_the_address_and_everything_is_undone() {
    let mut spec = Spec::new(
        Source::CreatedInNamespace("d0".into()),
        Destination::Name("eth0".into()),
    );
    spec.ipv6 = Some("fd00::10/64".into());
    spec.dad = true;
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
    let rename = |name: &str| Rq::RenameLink {
        netns: ns(),
        index: 7,
        name: name.into(),
    };
    s.ok("rename", rename("eth0"));
    watch(&mut s, 7, link(7, "eth0", false));
    s.step("routes6", routes(Family::V6), Ok(R::Routes(vec![])));
    s.step("accept_dad", read("accept_dad"), Ok(R::Value("1".into())));
    s.step(
        "enhanced_dad",
        read("enhanced_dad"),
        Ok(R::Value("0".into())),
    );
    s.ok("enhanced_dad on", write("enhanced_dad", "1"));
    s.ok("up", up(7));
    ns_event(&mut s, link(7, "eth0", true));
    s.ok("unsubscribe", C::Unsubscribe { id: 1 });
    // Not a veth: no bridge port to wait for.
    s.ok("address", add_ipv6_dad(7));
    s.step("tentative", poll(7), Ok(v6_addr(7, true, false)));
    s.fire_timer();
    s.step("dadfailed", poll(7), Ok(v6_addr(7, true, true)));
    s.ok(
        "the address off",
        Rq::DelAddress {
            netns: ns(),
            index: 7,
            net: "fd00::10/64".parse().unwrap(),
        },
    );
    s.ok("down", down(7));
    s.ok("enhanced_dad back", write("enhanced_dad", "0"));
    s.ok("name back", rename("d0"));
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err();
    assert_eq!(
        e.to_string(),
        "duplicate address detected for fd00::10/64 on eth0"
    );
}

// SPEC: L5
#[test]
fn dad_that_does_not_finish_in_time_fails_naming_the_timeout() {
    let mut spec = dad_spec();
    spec.dad_timeout_ms = Some(100);
    spec.ipv4 = None;
    spec.mac = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, link(5, "eth0", false));
    s.step("routes6", routes(Family::V6), Ok(R::Routes(vec![])));
    s.step("accept_dad", read("accept_dad"), Ok(R::Value("1".into())));
    s.step(
        "enhanced_dad",
        read("enhanced_dad"),
        Ok(R::Value("1".into())),
    );
    up_and_port(&mut s);
    s.ok("address", add_ipv6_dad(5));
    let mut polls = 0;
    loop {
        s.step("tentative", poll(5), Ok(v6_addr(5, true, false)));
        polls += 1;
        if s.m.poll_timeout().is_none() {
            break;
        }
        s.fire_timer();
    }
    assert_eq!(polls, 11, "at 0, 10, …, 100 ms");
    s.ok("move back", move_back(5));
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err();
    assert_eq!(
        e.to_string(),
        "duplicate address detection for fd00::10/64 on eth0 did not finish within 100 ms"
    );
}

// SPEC: L5
#[test]
fn an_address_gone_during_dad_or_a_failed_poll_fails_the_attach() {
    for (reply, want) in [
        (
            Ok(R::Addresses(vec![])),
            "IPv6 address fd00::10/64 vanished from eth0 during duplicate address detection",
        ),
        (
            err(Op::ListAddresses, Errno::EIO),
            "failed to read the addresses of interface \"eth0\" during duplicate address detection",
        ),
    ] {
        let mut s = start(dad_spec());
        through_configure_with_dad(&mut s);
        up_and_port(&mut s);
        s.ok("address", add_ipv6_dad(5));
        s.step("poll", poll(5), reply);
        s.ok("restore MAC", set_mac(mac(0xee)));
        s.ok("move back", move_back(5));
        s.idle();
        let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
        assert!(e.starts_with(want), "{e}");
    }
}

// SPEC: L5
// SPEC: A8
#[test]
fn with_ipv6_taken_away_by_a_sysctl_there_is_no_dad() {
    let mut spec = dad_spec();
    spec.ipv4 = None;
    spec.mac = None;
    spec.sysctls = vec!["net.ipv6.conf.IFNAME.disable_ipv6=1".into()];
    let mut s = start(spec);
    moved_and_watched(&mut s, link(5, "eth0", false));
    s.step("routes6", routes(Family::V6), Ok(R::Routes(vec![])));
    s.step("A7", read("disable_ipv6"), Ok(R::Value("0".into())));
    s.ok("A7 write", write("disable_ipv6", "1"));
    s.step("accept_dad", read("accept_dad"), Ok(R::Value("1".into())));
    s.step(
        "enhanced_dad",
        read("enhanced_dad"),
        Ok(R::Value("1".into())),
    );
    s.step(
        "A8 asks the sysctl: the address is not there yet",
        read("disable_ipv6"),
        Ok(R::Value("1".into())),
    );
    s.ok("up", up(5));
    ns_event(&mut s, veth_in_ns(5, "eth0", 9, mac(0x0a)));
    s.ok("unsubscribe", C::Unsubscribe { id: 1 });
    s.idle();
    let a = s.m.outcome().unwrap().as_ref().unwrap();
    assert_eq!(a.ipv6, None);
    assert_eq!(a.ipv6_dropped.unwrap().to_string(), "fd00::10/64");
}

// SPEC: L5
#[test]
fn dad_runs_even_with_nothing_to_announce() {
    let mut spec = dad_spec();
    spec.announce_count = 0;
    let mut s = start(spec);
    through_configure_with_dad(&mut s);
    up_and_port(&mut s);
    s.ok("address", add_ipv6_dad(5));
    s.step("usable at once", poll(5), Ok(v6_addr(5, false, false)));
    s.idle();
    assert!(s.m.outcome().unwrap().is_ok());
    assert!(s.events().iter().any(|e| matches!(
        &e.kind,
        EventKind::AnnounceStopped(StopReason::NotStarted { why }) if why.contains("count is 0")
    )));
}

// SPEC: L5
#[test]
fn a_missing_dad_sysctl_is_named() {
    let mut spec = dad_spec();
    spec.ipv4 = None;
    spec.mac = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, link(5, "eth0", false));
    s.step("routes6", routes(Family::V6), Ok(R::Routes(vec![])));
    s.step(
        "accept_dad",
        read("accept_dad"),
        err(Op::ReadSysctl, Errno::ENOENT),
    );
    s.ok("move back", move_back(5));
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert_eq!(
        e,
        "/proc/sys/net/ipv6/conf/eth0/accept_dad is not a sysctl file"
    );
}

// SPEC: L5
// SPEC: A11
#[test]
fn a_link_that_never_comes_up_cannot_pass_dad() {
    let mut spec = dad_spec();
    spec.ipv4 = None;
    spec.mac = None;
    spec.dad_timeout_ms = Some(100);
    let mut s = start(spec);
    moved_and_watched(&mut s, link(5, "eth0", false));
    s.step("routes6", routes(Family::V6), Ok(R::Routes(vec![])));
    s.step("accept_dad", read("accept_dad"), Ok(R::Value("1".into())));
    s.step(
        "enhanced_dad",
        read("enhanced_dad"),
        Ok(R::Value("1".into())),
    );
    s.ok("up", up(5));
    assert_eq!(s.fire_timer(), Timestamp::ZERO + LINK_UP_WAIT);
    s.ok("unsubscribe", C::Unsubscribe { id: 1 });
    s.ok("address", add_ipv6_dad(5));
    loop {
        s.step("tentative", poll(5), Ok(v6_addr(5, true, false)));
        if s.m.poll_timeout().is_none() {
            break;
        }
        s.fire_timer();
    }
    s.ok("move back", move_back(5));
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(e.contains("did not finish within 100 ms"), "{e}");
}
