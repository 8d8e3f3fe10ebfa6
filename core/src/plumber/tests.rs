//! Driver tests with a mocked backend: the order of kernel calls for a full attach and detach.

use super::*;
use crate::backend::MockNetBackend;
use crate::request::Request;
use crate::spec::{Destination, Source};
use crate::testutil::{bridge, link, mac, port, veth_in_ns};
use crate::types::{LinkEvent, PortState, RouteInfo, RouteScope, Timestamp};
use futures::executor::block_on;
use futures::StreamExt;
use mockall::predicate::*;
use mockall::Sequence;

/// A mocked backend call's answer: the mock returns boxed futures for `impl Future` methods.
fn ready<T: Send + 'static>(value: T) -> Pin<Box<dyn Future<Output = T> + Send>> {
    Box::pin(std::future::ready(value))
}

fn no_spawn() -> Spawner {
    Arc::new(|_f| panic!("nothing to send in the background"))
}

fn ns() -> NetnsRef {
    NetnsRef::Path("/run/netns/ctr1".into())
}

/// A mock whose clock stands still and whose sleeps end at once.
fn mock() -> MockNetBackend {
    let mut b = MockNetBackend::new();
    b.expect_now().return_const(Timestamp::ZERO);
    b.expect_sleep_until().returning(|_| ready(()));
    b
}

fn spec() -> Spec {
    let mut s = Spec::new(
        Source::HostLink("veth0".into()),
        Destination::Prefix("eth".into()),
    );
    s.mac = Some("02:42:c0:00:02:0a".into());
    s.ipv4 = Some("192.0.2.10/24".into());
    s.routes = vec!["198.51.100.0/24".into()];
    s.announce_count = 1;
    s
}

/// Expect `request` once, in sequence, answered with `reply`.
fn expect(
    b: &mut MockNetBackend,
    seq: &mut Sequence,
    request: Request,
    reply: Result<Reply, BackendError>,
) {
    b.expect_execute()
        .with(eq(request))
        .times(1)
        .in_sequence(seq)
        .returning(move |_| ready(reply.clone()));
}

fn expect_attach(b: &mut MockNetBackend, seq: &mut Sequence) {
    let ctr = ns();
    let host = NetnsRef::Host;
    let link_up = |index| Request::SetLinkUp {
        netns: ctr.clone(),
        index,
    };
    expect(
        b,
        seq,
        Request::LinkByName {
            netns: host.clone(),
            name: "veth0".into(),
        },
        Ok(Reply::Link(link(5, "veth0", false))),
    );
    expect(
        b,
        seq,
        Request::MoveLink {
            from: host.clone(),
            index: 5,
            to: ctr.clone(),
            new_name: "eth0".into(),
        },
        Ok(Reply::Index(5)),
    );
    // A11 first (subscribe, then one read, which also tells A6 that IPv6 is on), then A4.
    b.expect_subscribe_links()
        .with(eq(ctr.clone()))
        .times(1)
        .in_sequence(seq)
        .returning(|_| {
            ready({
                // The notification of A9's own set-up, queued until the attach waits for it.
                let up = LinkEvent::Changed(veth_in_ns(5, "eth0", 9, mac(0x0a)));
                Ok(Box::pin(
                    futures::stream::iter([up]).chain(futures::stream::pending()),
                ))
            })
        });
    let read = Request::LinkByIndex {
        netns: ctr.clone(),
        index: 5,
    };
    expect(
        b,
        seq,
        read.clone(),
        Ok(Reply::Link(link(5, "eth0", false))),
    );
    let set_mac = Request::SetMac {
        netns: ctr.clone(),
        index: 5,
        mac: mac(0x0a),
    };
    expect(b, seq, set_mac, Ok(Reply::Done));
    let routes = Request::ListRoutes {
        netns: ctr.clone(),
        family: Family::V4,
    };
    expect(b, seq, routes, Ok(Reply::Routes(vec![])));
    let ipv4 = Request::AddAddress {
        netns: ctr.clone(),
        index: 5,
        net: "192.0.2.10/24".parse().unwrap(),
        nodad: false,
    };
    expect(b, seq, ipv4, Ok(Reply::Done));
    let no_ipv6 = Request::WriteSysctl {
        netns: ctr.clone(),
        path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        value: "1".into(),
    };
    expect(b, seq, no_ipv6, Ok(Reply::Done));
    expect(b, seq, link_up(5), Ok(Reply::Done));
    let route = Request::AddRoute {
        netns: ctr.clone(),
        route: RouteSpec {
            dst: "198.51.100.0/24".parse().unwrap(),
            gateway: None,
            oif: 5,
            scope: RouteScope::Link,
        },
    };
    expect(b, seq, route, Ok(Reply::Done));
    b.expect_subscribe_links()
        .with(eq(host.clone()))
        .times(1)
        .in_sequence(seq)
        .returning(|_| ready(Ok(Box::pin(futures::stream::pending()))));
    let host_end = Request::LinkByIndex {
        netns: host.clone(),
        index: 9,
    };
    let port = Ok(Reply::Link(port(9, 3, PortState::Forwarding)));
    expect(b, seq, host_end, port);
    let bridge_read = Request::LinkByIndex {
        netns: host.clone(),
        index: 3,
    };
    expect(b, seq, bridge_read, Ok(Reply::Link(bridge(3, false))));
    let announced_link = veth_in_ns(5, "eth0", 9, mac(0x0a));
    expect(b, seq, read, Ok(Reply::Link(announced_link)));
    let arp = Request::SendArp {
        netns: ctr.clone(),
        index: 5,
        mac: mac(0x0a),
        addr: "192.0.2.10".parse().unwrap(),
    };
    expect(b, seq, arp, Ok(Reply::Done));
}

// SPEC: A2, A4, A6, A9, A10, A11, A12, A14
#[test]
fn full_attach_calls_the_backend_in_spec_order() {
    let mut b = mock();
    let mut seq = Sequence::new();
    expect_attach(&mut b, &mut seq);
    let p = Plumber::new(Arc::new(b), no_spawn());
    let attached = block_on(p.attach(&ns(), spec())).unwrap();
    assert_eq!(attached.name, "eth0");
    assert_eq!(attached.ifindex, 5);
    assert_eq!(p.interfaces(&ns()).len(), 1);
}

// SPEC: D1, S8
#[test]
fn detach_calls_down_then_moves_back_in_one_message() {
    let mut b = mock();
    let mut seq = Sequence::new();
    expect_attach(&mut b, &mut seq);
    let ctr = ns();
    let read = Request::LinkByIndex {
        netns: ctr.clone(),
        index: 5,
    };
    let linked = Ok(Reply::Link(veth_in_ns(5, "eth0", 9, mac(0x0a))));
    expect(&mut b, &mut seq, read, linked);
    let down = Request::SetLinkDown {
        netns: ctr.clone(),
        index: 5,
    };
    expect(&mut b, &mut seq, down, Ok(Reply::Done));
    let back = Request::MoveLink {
        from: ctr.clone(),
        index: 5,
        to: NetnsRef::Host,
        new_name: "veth0".into(),
    };
    expect(&mut b, &mut seq, back, Ok(Reply::Index(5)));
    let p = Plumber::new(Arc::new(b), no_spawn());
    block_on(p.attach(&ns(), spec())).unwrap();
    block_on(p.detach(&ns(), "eth0")).unwrap();
    assert!(p.interfaces(&ns()).is_empty());
    // D2: a second detach is a clear error, not a panic.
    let again = block_on(p.detach(&ns(), "eth0")).unwrap_err().to_string();
    assert_eq!(
        again,
        "no interface \"eth0\" is attached in namespace /run/netns/ctr1"
    );
}

// SPEC: N2, N3
#[test]
fn a_reservation_holds_its_name_and_the_attach_uses_exactly_it() {
    let mut b = mock();
    let mut seq = Sequence::new();
    expect_attach(&mut b, &mut seq);
    let p = Plumber::new(Arc::new(b), no_spawn());
    let held = p.reserve(&ns(), &spec()).unwrap();
    assert_eq!(held.name(), "eth0");
    // A second reservation with the same prefix sees the first one's name as taken.
    let second = p.reserve(&ns(), &spec()).unwrap();
    assert_eq!(second.name(), "eth1");
    // Dropped unused, it frees its name without a kernel call (the mock would panic).
    drop(second);
    assert_eq!(p.interfaces(&ns()).len(), 1);
    let attached = block_on(held.attach()).unwrap();
    assert_eq!(attached.name, "eth0");
    assert_eq!(p.reserve(&ns(), &spec()).unwrap().name(), "eth1");
}

// SPEC: A1
#[test]
fn invalid_spec_makes_no_backend_call() {
    // A mock with no expectations panics on any call.
    let p = Plumber::new(Arc::new(MockNetBackend::new()), no_spawn());
    let mut s = spec();
    s.mac = Some("01:00:00:00:00:01".into());
    s.announce_count = 7;
    let e = block_on(p.attach(&ns(), s)).unwrap_err();
    assert!(e.is_invalid_input());
    assert!(p.interfaces(&ns()).is_empty());
}

// SPEC: G1, G2
#[test]
fn gateway_uses_the_link_that_reaches_it_and_unset_deletes_it() {
    let mut b = mock();
    let mut seq = Sequence::new();
    let lookup = Request::GetRoute {
        netns: ns(),
        dst: "192.0.2.1".parse().unwrap(),
        oif: None,
    };
    let found = RouteInfo {
        dst: "192.0.2.0/24".parse().unwrap(),
        gateway: None,
        oif: Some(5),
        scope: RouteScope::Link,
    };
    expect(&mut b, &mut seq, lookup, Ok(Reply::Route(found)));
    let default = RouteSpec {
        dst: "0.0.0.0/0".parse().unwrap(),
        gateway: Some("192.0.2.1".parse().unwrap()),
        oif: 5,
        scope: RouteScope::Universe,
    };
    let add = Request::AddRoute {
        netns: ns(),
        route: default.clone(),
    };
    expect(&mut b, &mut seq, add, Ok(Reply::Done));
    let del = Request::DelRoute {
        netns: ns(),
        route: default,
    };
    expect(&mut b, &mut seq, del, Ok(Reply::Done));
    let p = Plumber::new(Arc::new(b), no_spawn());
    block_on(p.set_gateway(&ns(), Some("192.0.2.1".parse().unwrap()))).unwrap();
    block_on(p.set_gateway(&ns(), None)).unwrap();
    block_on(p.unset_gateway(&ns(), Family::V4)).unwrap();
    block_on(p.unset_gateway(&ns(), Family::V4)).unwrap();
}

// SPEC: G1
#[test]
fn unreachable_gateway_is_named() {
    let mut b = mock();
    b.expect_execute().returning(|request| {
        ready(Err(crate::BackendError::new(
            request.op(),
            crate::Errno::ENETUNREACH,
            request.netns(),
            "198.51.100.1",
        )))
    });
    let p = Plumber::new(Arc::new(b), no_spawn());
    let e = block_on(p.set_gateway(&ns(), Some("198.51.100.1".parse().unwrap())))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("route for the gateway 198.51.100.1 could not be found"),
        "{e}"
    );
}

// SPEC: T1
#[test]
fn statistics_of_a_missing_link_name_interface_and_namespace() {
    let mut b = MockNetBackend::new();
    b.expect_execute()
        .with(eq(Request::LinkByName {
            netns: ns(),
            name: "eth7".into(),
        }))
        .returning(|request| {
            ready(Err(crate::BackendError::new(
                request.op(),
                crate::Errno::ENODEV,
                request.netns(),
                request.object(),
            )))
        });
    let p = Plumber::new(Arc::new(b), no_spawn());
    let e = block_on(p.statistics(&ns(), "eth7"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("failed to retrieve the statistics for eth7 in netns /run/netns/ctr1"),
        "{e}"
    );
}

/// `spec()` for another host link.
fn spec_of(link: &str) -> Spec {
    let mut s = spec();
    s.source = Source::HostLink(link.into());
    s
}

// SPEC: A2, A3, V1
#[test]
fn attach_many_prepares_every_valid_destination_once_before_the_first_lookup() {
    let log = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut b = mock();
    let l = log.clone();
    b.expect_prepare_netns().returning(move |ns| {
        l.lock().unwrap().push(format!("prepare {ns}"));
        ready(())
    });
    let l = log.clone();
    b.expect_execute().returning(move |request| {
        let Request::LinkByName { netns, name } = request else {
            panic!("only look-ups expected, got {request:?}");
        };
        assert_eq!(*netns, NetnsRef::Host, "{request:?}");
        l.lock().unwrap().push(format!("lookup {name}"));
        ready(Err(crate::BackendError::new(
            request.op(),
            crate::Errno::ENODEV,
            netns,
            name.as_str(),
        )))
    });
    let p = Plumber::new(Arc::new(b), no_spawn());
    let other = NetnsRef::Path("/run/netns/ctr2".into());
    let untouched = NetnsRef::Path("/run/netns/ctr3".into());
    let mut invalid = spec_of("veth3");
    invalid.ipv4 = Some("192.0.2.300/24".into());
    let outcomes = block_on(p.attach_many(vec![
        (ns(), spec_of("veth0")),
        (other, spec_of("veth1")),
        (ns(), spec_of("veth2")),
        (untouched, invalid),
    ]));
    assert_eq!(outcomes.len(), 4);
    for (i, o) in outcomes[..3].iter().enumerate() {
        let e = o.as_ref().unwrap_err().to_string();
        assert!(e.contains(&format!("veth{i}")), "interface {i}: {e}");
    }
    let e = outcomes[3].as_ref().unwrap_err();
    assert!(e.is_invalid_input(), "{e}");
    let log = log.lock().unwrap().clone();
    let mut prepared = log[..2].to_vec();
    prepared.sort();
    assert_eq!(
        prepared,
        ["prepare /run/netns/ctr1", "prepare /run/netns/ctr2"],
        "{log:?}"
    );
    assert_eq!(
        log[2..],
        ["lookup veth0", "lookup veth1", "lookup veth2"],
        "{log:?}"
    );
}

/// A machine that opens one subscription and then waits on it alone: no deadline. When the
/// stream ends it waits for nothing at all.
#[derive(Default)]
struct WaitsOnEvents {
    subscribed: bool,
    replies: usize,
    stalled: bool,
    /// Told of the stall, it does not end (a machine bug).
    deaf: bool,
    told: usize,
}

impl Machine for WaitsOnEvents {
    fn poll_command(&mut self) -> Option<Command> {
        if self.subscribed {
            return None;
        }
        self.subscribed = true;
        Some(Command::Subscribe { id: 1, netns: ns() })
    }
    fn handle_input(&mut self, _now: Timestamp, input: Input) {
        if let Input::Reply(_) = input {
            self.replies += 1;
        }
    }
    fn poll_timeout(&self) -> Option<Timestamp> {
        None
    }
    fn handle_timeout(&mut self, _now: Timestamp) {}
    fn poll_event(&mut self) -> Option<Event> {
        None
    }
    fn is_done(&self) -> bool {
        self.stalled
    }
    fn set_events(&mut self, _enabled: bool) {}
    fn handle_stall(&mut self, _now: Timestamp) {
        self.told += 1;
        self.stalled = !self.deaf;
    }
}

#[test]
fn the_driver_does_not_leave_a_stalled_machine_unfinished() {
    let mut b = mock();
    b.expect_subscribe_links()
        .with(eq(ns()))
        .times(1)
        .returning(|_| ready(Ok(Box::pin(futures::stream::empty()))));
    let p = Plumber::new(Arc::new(b), no_spawn());
    let mut machine = WaitsOnEvents::default();
    block_on(p.inner.run(&mut machine));
    assert_eq!(machine.replies, 1, "the subscription was answered");
    assert!(
        machine.is_done(),
        "the driver returned while the machine still waited (for nothing)"
    );
}

#[test]
fn a_machine_that_stalls_again_after_being_told_is_stopped_not_looped_on() {
    let mut b = mock();
    b.expect_subscribe_links()
        .returning(|_| ready(Ok(Box::pin(futures::stream::empty()))));
    let p = Plumber::new(Arc::new(b), no_spawn());
    let mut machine = WaitsOnEvents {
        deaf: true,
        ..WaitsOnEvents::default()
    };
    block_on(p.inner.run(&mut machine));
    assert_eq!(machine.told, 1, "told once, then stopped");
    assert!(!machine.is_done());
}

// SPEC: A15
#[test]
fn an_attach_that_ends_without_an_outcome_is_an_error_not_a_panic() {
    let p = Plumber::new(Arc::new(MockNetBackend::new()), no_spawn());
    let reservation = p.reserve(&ns(), &spec()).unwrap();
    let plan = reservation.plan().clone();
    std::mem::forget(reservation);
    let mut machine = Attach::new(plan, Timestamp::ZERO);
    let e = p
        .finish_attach(&ns(), "eth0", &mut machine)
        .unwrap_err()
        .to_string();
    assert!(e.contains("eth0"), "{e}");
    assert!(p.interfaces(&ns()).is_empty(), "the name is free again");
}

// SPEC: T1
#[test]
fn statistics_come_with_the_one_read_of_the_link() {
    let mut b = MockNetBackend::new();
    let counters = LinkStats {
        rx_packets: 3,
        tx_bytes: 420,
        ..LinkStats::default()
    };
    let read = Request::LinkByName {
        netns: ns(),
        name: "eth0".into(),
    };
    let answer = LinkInfo {
        stats: Some(Box::new(counters)),
        ..link(5, "eth0", true)
    };
    b.expect_execute()
        .with(eq(read))
        .times(1)
        .returning(move |_| ready(Ok(Reply::Link(answer.clone()))));
    let p = Plumber::new(Arc::new(b), no_spawn());
    assert_eq!(block_on(p.statistics(&ns(), "eth0")), Ok(counters));
}
