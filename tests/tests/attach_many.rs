//! `Plumber::attach_many` on the simulator: every link is obtained (A2, A3) before any is
//! configured (A4), each interface keeps its own outcome, and a failure rolls back only its
//! own interface (SPEC A15).

use nsplumb_core::{AttachError, Attached, Destination, Errno, NetnsRef, Op, Source, Spec};
use nsplumb_tests::{diff, normalize, Harness, NormSnapshot};

/// Host: bridge `br0` (up) and dummies `hd0..hd3`; namespaces `c0..c3`.
fn world(seed: u64) -> (Harness, Vec<NetnsRef>) {
    let h = Harness::new(seed);
    let mut k = h.sim.kernel();
    let br = k.create_bridge(&NetnsRef::Host, "br0").unwrap();
    k.set_link_up(&NetnsRef::Host, br).unwrap();
    drop(k);
    let mut namespaces = Vec::new();
    for i in 0..4 {
        h.sim
            .create_dummy(&NetnsRef::Host, &format!("hd{i}"))
            .unwrap();
        namespaces.push(h.netns(&format!("c{i}")));
    }
    (h, namespaces)
}

fn moved(i: usize) -> Spec {
    let mut s = Spec::new(
        Source::HostLink(format!("hd{i}")),
        Destination::Prefix("eth".into()),
    );
    s.ipv4 = Some(format!("192.0.2.{}/24", 10 + i));
    s.ipv6 = Some(format!("fd00::{}/64", 10 + i));
    s.routes = vec!["198.51.100.0/24".into()];
    s.announce_count = 0;
    s
}

fn veth(i: usize) -> Spec {
    let mut s = Spec::new(
        Source::VethOnBridge {
            bridge: "br0".into(),
            host_name: format!("vh{i}"),
        },
        Destination::Name("eth1".into()),
    );
    s.ipv6 = Some(format!("fd00:1::{}/64", 30 + i));
    s.announce_count = 0;
    s
}

/// MACs, and the IPv6 link-local addresses and neighbour entries derived from them, left out.
fn without_macs(mut s: NormSnapshot) -> NormSnapshot {
    for n in s.namespaces.values_mut() {
        for l in n.links.values_mut() {
            l.link.mac = None;
            l.link.addrs.retain(|a| match a.net {
                ipnet::IpNet::V6(v6) => v6.addr().segments()[0] & 0xffc0 != 0xfe80,
                ipnet::IpNet::V4(_) => true,
            });
        }
        n.neighbours.clear();
    }
    s
}

fn attach_many(
    h: &mut Harness,
    items: Vec<(NetnsRef, Spec)>,
) -> Vec<Result<Attached, AttachError>> {
    let p = h.plumber.clone();
    h.block_on(async move { p.attach_many(items).await })
}

// SPEC: A2, A3, A4
#[test]
fn every_link_is_obtained_before_any_is_configured() {
    let (mut h, ns) = world(1);
    let from = h.backend.log_len();
    let mut items: Vec<(NetnsRef, Spec)> = (0..4).map(|i| (ns[i].clone(), moved(i))).collect();
    items.extend((0..4).map(|i| (ns[i].clone(), veth(i))));
    let outcomes = attach_many(&mut h, items);
    for (i, o) in outcomes.iter().enumerate() {
        let a = o.as_ref().unwrap_or_else(|e| panic!("interface {i}: {e}"));
        assert_eq!(a.name, if i < 4 { "eth0" } else { "eth1" }, "interface {i}");
    }
    let calls = h.backend.calls_since(from);
    let last_obtain = calls
        .iter()
        .rposition(|c| matches!(c.op, Op::MoveLink | Op::CreateVeth))
        .unwrap();
    let first_configure = calls
        .iter()
        .position(|c| matches!(c.op, Op::SubscribeLinks | Op::AddAddress))
        .unwrap();
    assert!(
        last_obtain < first_configure,
        "all moves and creations come first: {calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| c.op == Op::MoveLink).count(),
        4,
        "one move (with its rename) per host link"
    );
    // The same state as attaching them one by one (but for the random MACs of the new veths,
    // drawn in another order).
    let (mut one, ns1) = world(1);
    for (i, n) in ns1.iter().enumerate() {
        one.attach(n, moved(i)).unwrap();
    }
    for (i, n) in ns1.iter().enumerate() {
        one.attach(n, veth(i)).unwrap();
    }
    let (a, b) = (
        without_macs(normalize(&h.snapshot())),
        without_macs(normalize(&one.snapshot())),
    );
    assert!(a == b, "{}", diff(&a, &b));
    for (i, n) in ns.iter().enumerate() {
        let names: Vec<String> = h
            .plumber
            .interfaces(n)
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["eth0", "eth1"], "namespace c{i}");
    }
}

// SPEC: A15, N4
#[test]
fn a_failure_rolls_back_its_own_interface_only() {
    let (mut h, ns) = world(2);
    let before = normalize(&h.snapshot());
    // The second interface's IPv6 address fails (A4, after every link was moved); the third
    // is invalid (nothing touched); the fourth asks for a name the first one takes.
    h.faults.fail_nth(Op::AddAddress, 4, Errno::EADDRNOTAVAIL);
    let mut bad = moved(2);
    bad.mac = Some("01:00:5e:00:00:01".into());
    let mut clash = moved(3);
    clash.destination = Destination::Name("eth0".into());
    let items = vec![
        (ns[0].clone(), moved(0)),
        (ns[1].clone(), moved(1)),
        (ns[2].clone(), bad),
        (ns[0].clone(), clash),
    ];
    let outcomes = attach_many(&mut h, items);
    h.faults.clear();
    assert_eq!(outcomes[0].as_ref().unwrap().name, "eth0");
    let e1 = outcomes[1].as_ref().unwrap_err().to_string();
    assert!(e1.contains("IPv6"), "{e1}");
    assert!(outcomes[2].as_ref().unwrap_err().is_invalid_input());
    let e3 = outcomes[3].as_ref().unwrap_err().to_string();
    assert!(e3.contains("file exists"), "{e3}");
    // Only the first interface changed anything: detach it and the system is as before.
    assert!(h.plumber.interfaces(&ns[1]).is_empty());
    assert!(h.plumber.interfaces(&ns[2]).is_empty());
    h.detach(&ns[0], "eth0").unwrap();
    let after = normalize(&h.snapshot());
    assert!(after == before, "{}", diff(&after, &before));
}

// SPEC: A5, A15
#[test]
fn interfaces_of_one_namespace_are_configured_in_order() {
    // Namespaces are configured side by side, but within one the second interface sees the
    // first one's route (A5), as it would one by one; the same subnet elsewhere is fine.
    let (mut h, ns) = world(3);
    let mut elsewhere = moved(2);
    elsewhere.ipv4 = moved(0).ipv4;
    let items = vec![
        (ns[0].clone(), moved(0)),
        (ns[0].clone(), moved(1)),
        (ns[1].clone(), elsewhere),
    ];
    let outcomes = attach_many(&mut h, items);
    assert_eq!(outcomes[0].as_ref().unwrap().name, "eth0");
    let e = outcomes[1].as_ref().unwrap_err().to_string();
    assert!(
        e.contains("conflicts with existing route 192.0.2.0/24"),
        "{e}"
    );
    assert_eq!(outcomes[2].as_ref().unwrap().name, "eth0");
    // The failed one went back to the host under its own name (A15).
    let k = h.sim.kernel();
    assert!(k.link_by_name(&NetnsRef::Host, "hd1").is_ok());
    assert!(k.link_by_name(&ns[0], "eth1").is_err());
    drop(k);
    let names: Vec<String> = h
        .plumber
        .interfaces(&ns[0])
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["eth0"]);
}
