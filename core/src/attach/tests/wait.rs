//! A11–A13: the waits for the link, the bridge port and the `ff02::1` route.

use super::*;

// SPEC: A11
#[test]
fn link_that_never_comes_up_is_not_an_error_and_nothing_is_announced() {
    let mut spec = dual_stack();
    spec.ipv6 = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.ok("mac", set_mac(mac(0x0a)));
    s.step("routes", routes(Family::V4), Ok(R::Routes(vec![])));
    s.ok("v4", add_ipv4());
    s.step("sysctl", read_disable_ipv6(), Ok(R::Value("1".into())));
    s.ok("up", up(5));
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
    s.ok("mac", set_mac(mac(0x0a)));
    s.step("routes", routes(Family::V4), Ok(R::Routes(vec![])));
    s.ok("v4", add_ipv4());
    s.step("sysctl", read_disable_ipv6(), Ok(R::Value("1".into())));
    s.ok("up", up(5));
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
    s.ok("disable IPv6", write_disable_ipv6("1"));
    s.step("up fails once", up(5), err(Op::SetLinkUp, Errno::EBUSY));
    // Someone else brings the link up while the retry waits: the event is kept.
    ns_event(&mut s, link(5, "eth0", true));
    s.idle();
    s.fire_timer();
    s.ok("retry", up(5));
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
    s.ok("set up", up(5));
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
        read_link(5),
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.ok("unsubscribe", C::Unsubscribe { id: 1 });
    s.ok("subscribe host", subscribe_host());
    s.step(
        "peer not forwarding yet",
        read_host(9),
        Ok(R::Link(port(9, 3, PortState::Learning))),
    );
    s.step(
        "bridge without STP",
        read_host(3),
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

// SPEC: A12
#[test]
fn bridge_port_wait_is_event_driven_and_skipped_with_stp() {
    for stp in [false, true] {
        let mut s = start(dual_stack());
        through_configure(&mut s);
        s.ok("up", up(5));
        ns_event(&mut s, veth_in_ns(5, "eth0", 9, mac(0x0a)));
        s.ok("unsub", C::Unsubscribe { id: 1 });
        s.ok("sub host", subscribe_host());
        s.step(
            "peer learning",
            read_host(9),
            Ok(R::Link(port(9, 3, PortState::Learning))),
        );
        s.step("bridge", read_host(3), Ok(R::Link(bridge(3, stp))));
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
    s.ok("up", up(5));
    ns_event(&mut s, veth_in_ns(5, "eth0", 9, mac(0x0a)));
    s.ok("unsub", C::Unsubscribe { id: 1 });
    s.ok("sub host", subscribe_host());
    s.step(
        "peer",
        read_host(9),
        Ok(R::Link(port(9, 3, PortState::Disabled))),
    );
    s.step("bridge", read_host(3), Ok(R::Link(bridge(3, false))));
    s.fire_timer();
    s.ok("unsub host", C::Unsubscribe { id: 2 });
    assert_eq!(s.next(), mcast_query().into(), "A13 next");
    assert!(s
        .events()
        .iter()
        .any(|e| matches!(&e.kind, EventKind::Warning(w) if w.contains("not forwarding"))));
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
                mtu: None,
            },
        },
        Ok(R::Veth(crate::VethPair {
            host_index: 9,
            peer_index: 5,
        })),
    );
    watch(&mut s, 5, v6_unknown(link(5, "eth0", false)));
    s.step("routes", routes(Family::V4), Ok(R::Routes(vec![])));
    s.ok("v4", add_ipv4());
    s.step("sysctl", read_disable_ipv6(), Ok(R::Value("1".into())));
    s.ok("up", up(5));
    ns_event(&mut s, veth_in_ns(5, "eth0", 9, mac(0x0a)));
    s.ok("unsub", C::Unsubscribe { id: 1 });
    s.ok("sub host", subscribe_host());
    read_host_end(&mut s, "host end");
    // No second read of the bridge.
    s.ok("unsub host", C::Unsubscribe { id: 2 });
    s.step(
        "S6",
        read_link(5),
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.ok("ARP", arp());
    assert!(s.m.outcome().unwrap().is_ok());
}

// SPEC: A13, S7
#[test]
fn missing_multicast_route_is_polled_then_na_unreachable_is_ignored() {
    let mut spec = dual_stack();
    spec.ipv4 = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.ok("mac", set_mac(mac(0x0a)));
    s.step("sysctl", read_disable_ipv6(), Ok(R::Value("0".into())));
    s.step("routes6", routes(Family::V6), Ok(R::Routes(vec![])));
    s.ok("v6", add_ipv6());
    s.ok("up", up(5));
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
        read_link(5),
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.step("NA unreachable", na(), err(Op::SendNa, Errno::ENETUNREACH));
    s.idle();
    let a = s.m.outcome().unwrap().as_ref().unwrap();
    assert!(a.warnings.iter().any(|w| w.contains("ff02::1")));
    let more =
        s.m.take_announcer()
            .expect("the ignored error does not stop announcing");
    assert_eq!(more.sent(), 1);
}
