//! A14: the first announcement, or why there is none (S1, S4).

use super::*;

// SPEC: S1
#[test]
fn nothing_to_announce_without_addresses() {
    let mut spec = dual_stack();
    spec.ipv4 = None;
    spec.ipv6 = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(link(5, "eth0", false)));
    s.ok("mac", set_mac(mac(0x0a)));
    s.step("sysctl", read_disable_ipv6(), Ok(R::Value("1".into())));
    s.ok("up", up(5));
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
        read_link(5),
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.step("ARP fails", arp(), err(Op::SendArp, Errno::ENETUNREACH));
    s.ok("NA still tried", na());
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
