//! The attach machine under a scripted kernel, one file per phase; the helpers here drive the
//! common path (the move of a host link, dual stack) step by step.

use super::*;
use crate::event::StopReason;
use crate::request::VethRequest;
use crate::spec::{Destination, Source, Spec};
use crate::testutil::*;
use crate::types::{
    AddrFlags, AddrInfo, Family, LinkEvent, MacAddr, RouteInfo, RouteScope, RouteSpec,
};
use crate::validate::validate;
use crate::Errno;
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

// Requests of the dual-stack attach (`dual_stack()`, moved in as eth0, index 5) in `ns()`,
// written once; each names every value the script compares.

fn up(index: IfIndex) -> Rq {
    Rq::SetLinkUp { netns: ns(), index }
}

fn down(index: IfIndex) -> Rq {
    Rq::SetLinkDown { netns: ns(), index }
}

fn read_link(index: IfIndex) -> Rq {
    Rq::LinkByIndex { netns: ns(), index }
}

fn read_host(index: IfIndex) -> Rq {
    Rq::LinkByIndex {
        netns: NetnsRef::Host,
        index,
    }
}

/// A2: veth0 looked up in the host.
fn lookup_veth0() -> Rq {
    Rq::LinkByName {
        netns: NetnsRef::Host,
        name: "veth0".into(),
    }
}

/// A2: moved in and renamed in one message.
fn move_in() -> Rq {
    Rq::MoveLink {
        from: NetnsRef::Host,
        index: 5,
        to: ns(),
        new_name: "eth0".into(),
    }
}

/// A15: back to the host under the source name.
fn move_back(index: IfIndex) -> Rq {
    Rq::MoveLink {
        from: ns(),
        index,
        to: NetnsRef::Host,
        new_name: "veth0".into(),
    }
}

fn set_mac(mac: MacAddr) -> Rq {
    Rq::SetMac {
        netns: ns(),
        index: 5,
        mac,
    }
}

/// A5's route list.
fn routes(family: Family) -> Rq {
    Rq::ListRoutes {
        netns: ns(),
        family,
    }
}

fn add_ipv4() -> Rq {
    Rq::AddAddress {
        netns: ns(),
        index: 5,
        net: "192.0.2.10/24".parse().unwrap(),
        nodad: false,
    }
}

/// A4: with `IFA_F_NODAD`.
fn add_ipv6() -> Rq {
    Rq::AddAddress {
        netns: ns(),
        index: 5,
        net: "fd00::10/64".parse().unwrap(),
        nodad: true,
    }
}

fn read_disable_ipv6() -> Rq {
    Rq::ReadSysctl {
        netns: ns(),
        path: "net/ipv6/conf/eth0/disable_ipv6".into(),
    }
}

fn write_disable_ipv6(value: &str) -> Rq {
    Rq::WriteSysctl {
        netns: ns(),
        path: "net/ipv6/conf/eth0/disable_ipv6".into(),
        value: value.into(),
    }
}

/// A12's subscription.
fn subscribe_host() -> C {
    C::Subscribe {
        id: 2,
        netns: NetnsRef::Host,
    }
}

/// S2 of the first round.
fn arp() -> Rq {
    Rq::SendArp {
        netns: ns(),
        index: 5,
        mac: mac(0x0a),
        addr: "192.0.2.10".parse().unwrap(),
    }
}

/// S3 of the first round.
fn na() -> Rq {
    Rq::SendNa {
        netns: ns(),
        index: 5,
        mac: mac(0x0a),
        addr: "fd00::10".parse().unwrap(),
    }
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
        lookup_veth0(),
        Ok(R::Link(link(5, "veth0", false))),
    );
    s.step("move", move_in(), Ok(R::Index(5)));
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
        lookup_veth0(),
        Ok(R::Link(link(5, "veth0", false))),
    );
    s.step("move+rename in one message", move_in(), Ok(R::Index(5)));
    // IPv6 is on (`disable_ipv6` 0 in the read): A6 neither reads nor writes the sysctl.
    watch(s, 5, link(5, "eth0", false));
    s.ok("set MAC", set_mac(mac(0x0a)));
    s.step("route list v4", routes(Family::V4), Ok(R::Routes(vec![])));
    s.ok("add IPv4", add_ipv4());
    s.step("route list v6", routes(Family::V6), Ok(R::Routes(vec![])));
    s.ok("add IPv6 nodad", add_ipv6());
}

/// A12: the read of the host end (index 9, in the host), a port of bridge 3 that forwards.
fn read_host_end(s: &mut Script<Attach>, label: &str) {
    s.step(
        label,
        read_host(9),
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
    s.ok("set up", up(5));
    // "Up" comes from the notification of the request itself: no read.
    s.idle();
    ns_event(s, veth_in_ns(5, "eth0", 9, mac(0x0a)));
    s.ok("unsubscribe", C::Unsubscribe { id: 1 });
    s.ok("subscribe host", subscribe_host());
    read_host_end(s, "read peer");
    s.step("read bridge", read_host(3), Ok(R::Link(bridge(3, false))));
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
        read_link(5),
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.ok("ARP", arp());
    s.ok("NA", na());
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

mod configure;
mod dad;
mod handoff;
mod link_options;
mod obtain;
mod rollback;
mod wait;
