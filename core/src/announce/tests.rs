use super::*;
use crate::testutil::*;
use crate::{Op, Reply as R, Request as Rq};

fn target(count: u32) -> AnnounceTarget {
    AnnounceTarget {
        netns: ns(),
        iface: "eth0".into(),
        index: 5,
        mac: mac(1),
        ipv4: Some("192.0.2.10".parse().unwrap()),
        ipv6: Some("fd00::10".parse().unwrap()),
        count,
        interval: Duration::from_millis(500),
        mcast_route_ok: true,
    }
}

fn good_link() -> Result<Reply, crate::BackendError> {
    Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(1))))
}

/// S6: the link of [`target`] read again before a round.
fn reread() -> Rq {
    Rq::LinkByIndex {
        netns: ns(),
        index: 5,
    }
}

/// S2 for [`target`].
fn arp() -> Rq {
    Rq::SendArp {
        netns: ns(),
        index: 5,
        mac: mac(1),
        addr: "192.0.2.10".parse().unwrap(),
    }
}

/// S3 for [`target`].
fn na() -> Rq {
    Rq::SendNa {
        netns: ns(),
        index: 5,
        mac: mac(1),
        addr: "fd00::10".parse().unwrap(),
    }
}

fn round(s: &mut Script<Announcer>) {
    s.step("S6 re-read", reread(), good_link());
    s.ok("ARP", arp());
    s.ok("NA", na());
}

// SPEC: S5, S9
#[test]
fn sends_n_rounds_an_interval_apart_and_reports_progress() {
    let mut s = Script::new(Announcer::new(target(3), Timestamp::ZERO));
    let mut sends = Vec::new();
    while !s.m.is_finished() {
        let t = s.fire_timer();
        round(&mut s);
        sends.push(t);
    }
    assert_eq!(
        sends,
        [0, 500, 1000].map(|ms| Timestamp::ZERO + Duration::from_millis(ms))
    );
    let progress: Vec<(u32, u32, Option<Timestamp>)> = s
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Announced { sent, of, next_due } => Some((sent, of, next_due)),
            _ => None,
        })
        .collect();
    assert_eq!(
        progress[0],
        (1, 3, Some(Timestamp::ZERO + Duration::from_millis(500)))
    );
    assert_eq!(progress[2], (3, 3, None));
    assert_eq!(s.m.stop_reason(), Some(&StopReason::Done));
}

// SPEC: S5
#[test]
fn a_late_round_pushes_the_next_one_so_spacing_never_shrinks() {
    let mut s = Script::new(Announcer::new(target(2), Timestamp::ZERO));
    s.fire_timer();
    s.now = Timestamp::ZERO + Duration::from_millis(30); // the first round took 30 ms
    round(&mut s);
    assert_eq!(
        s.m.poll_timeout(),
        Some(Timestamp::ZERO + Duration::from_millis(530))
    );
}

// SPEC: S6
#[test]
fn mac_change_stops_before_sending() {
    let mut s = Script::new(Announcer::new(target(3), Timestamp::ZERO));
    s.fire_timer();
    round(&mut s);
    s.fire_timer();
    s.step(
        "re-read shows a new MAC",
        reread(),
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(2)))),
    );
    s.idle();
    let reason = s.m.stop_reason().unwrap().to_string();
    assert_eq!(
        reason,
        "MAC address changed, got 02:42:c0:00:02:02, expected 02:42:c0:00:02:01"
    );
    assert_eq!(s.m.sent(), 1);
}

// SPEC: S6
#[test]
fn vanished_link_stops_quietly() {
    let mut s = Script::new(Announcer::new(target(3), Timestamp::ZERO));
    s.fire_timer();
    s.step("gone", reread(), err(Op::GetLink, Errno::ENODEV));
    assert_eq!(s.m.stop_reason(), Some(&StopReason::LinkGone));
}

// SPEC: S8
#[test]
fn cancel_stops_between_rounds_and_drops_a_queued_send() {
    let mut s = Script::new(Announcer::new(target(3), Timestamp::ZERO));
    s.fire_timer();
    round(&mut s);
    s.m.cancel(s.now);
    assert!(s.m.poll_timeout().is_none());
    s.idle();
    // Cancel while a round is queued: the queued command is withdrawn.
    let mut s = Script::new(Announcer::new(target(3), Timestamp::ZERO));
    s.m.handle_timeout(Timestamp::ZERO);
    s.m.cancel(Timestamp::ZERO);
    s.idle();
    assert_eq!(s.m.stop_reason(), Some(&StopReason::Cancelled));
}

// SPEC: S7
#[test]
fn na_unreachable_counts_only_when_the_route_was_there() {
    let mut s = Script::new(Announcer::new(target(2), Timestamp::ZERO));
    s.fire_timer();
    s.step("link", reread(), good_link());
    s.ok("ARP", arp());
    s.step("NA unreachable", na(), err(Op::SendNa, Errno::ENETUNREACH));
    assert_eq!(
        s.m.stop_reason(),
        Some(&StopReason::SendError {
            message: "send unsolicited neighbour advertisement eth0 in namespace /run/netns/ctr1: \
                      network is unreachable (ENETUNREACH)"
                .into()
        })
    );
}

// SPEC: S1
#[test]
fn count_zero_sends_nothing() {
    let mut s = Script::new(Announcer::new(target(0), Timestamp::ZERO));
    assert!(s.m.is_finished());
    assert!(s.m.poll_timeout().is_none());
    s.idle();
}

// SPEC: S2, S3
#[test]
fn ipv4_only_and_ipv6_only_send_only_their_frame() {
    let mut t = target(1);
    t.ipv6 = None;
    let mut s = Script::new(Announcer::new(t, Timestamp::ZERO));
    s.fire_timer();
    s.step("link", reread(), good_link());
    s.ok("ARP", arp());
    assert!(s.m.is_finished());
    let mut t = target(1);
    t.ipv4 = None;
    let mut s = Script::new(Announcer::new(t, Timestamp::ZERO));
    s.fire_timer();
    s.step("link", reread(), good_link());
    s.ok("NA", na());
    assert!(s.m.is_finished());
}
