//! SPEC A15 (nothing lost on failure), N4 and D3 on the simulator: a failure injected at every
//! backend call an attach makes, for every way of obtaining the link, leaves the simulator
//! exactly as before and the name free.

use nsplumb_core::{
    AttachError, Destination, DetachError, Errno, IfaceState, NetnsRef, Op, Source, Spec,
};
use nsplumb_tests::{Call, Harness};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    HostLink,
    VethOnBridge,
    CreatedInNamespace,
    NewBridge,
}

const VARIANTS: [Variant; 4] = [
    Variant::HostLink,
    Variant::VethOnBridge,
    Variant::CreatedInNamespace,
    Variant::NewBridge,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Config {
    /// Every field: MAC, both addresses, link-local, routes, sysctls, master.
    Full,
    /// IPv4 only: IPv6 gets disabled (A6 writes disable_ipv6=1).
    V4Only,
    /// Both addresses, then `disable_ipv6=1` takes IPv6 away (A8 check runs).
    V6Dropped,
}

const CONFIGS: [Config; 3] = [Config::Full, Config::V4Only, Config::V6Dropped];

struct World {
    h: Harness,
    ns: NetnsRef,
}

/// Host: bridge `br0` (up), dummy `hd0` (down). Namespace `ctr`: dummy `cd0` (down), and a
/// bridge attached from source `nb` as `brm` (the master, V9).
fn world(seed: u64) -> World {
    let mut h = Harness::new(seed);
    let br = h
        .sim
        .kernel()
        .create_bridge(&NetnsRef::Host, "br0")
        .unwrap();
    h.sim.kernel().set_link_up(&NetnsRef::Host, br).unwrap();
    // A bridge's MAC follows its lowest port unless set (Linux: zero once the last port goes),
    // so, as Docker does, give it one.
    h.sim
        .kernel()
        .set_mac(&NetnsRef::Host, br, "02:00:00:00:0b:00".parse().unwrap())
        .unwrap();
    h.sim.create_dummy(&NetnsRef::Host, "hd0").unwrap();
    let ns = h.netns("ctr");
    h.sim.create_dummy(&ns, "cd0").unwrap();
    let mut m = Spec::new(
        Source::NewBridge("nb".into()),
        Destination::Name("brm".into()),
    );
    m.announce_count = 0;
    m.mac = Some("02:00:00:00:0b:01".into());
    h.attach(&ns, m).expect("master bridge");
    World { h, ns }
}

fn source(v: Variant) -> Source {
    match v {
        Variant::HostLink => Source::HostLink("hd0".into()),
        Variant::VethOnBridge => Source::VethOnBridge {
            bridge: "br0".into(),
            host_name: "vh0".into(),
        },
        Variant::CreatedInNamespace => Source::CreatedInNamespace("cd0".into()),
        Variant::NewBridge => Source::NewBridge("nb1".into()),
    }
}

fn spec(v: Variant, c: Config) -> Spec {
    let mut s = Spec::new(source(v), Destination::Prefix("eth".into()));
    s.mac = Some("02:42:c0:00:02:0a".into());
    s.ipv4 = Some("192.0.2.10/24".into());
    s.announce_count = 2;
    s.announce_interval = Duration::from_millis(100);
    match c {
        Config::Full => {
            s.ipv6 = Some("fd00::10/64".into());
            s.link_local = vec!["169.254.7.7/16".into()];
            s.routes = vec!["198.51.100.0/24".into(), "0.0.0.0/0".into()];
            s.sysctls = vec![
                "net.ipv4.conf.IFNAME.arp_accept=1".into(),
                "net.ipv6.conf.IFNAME.accept_dad=0".into(),
            ];
            if v != Variant::NewBridge {
                s.master = Some("nb".into());
            }
        }
        Config::V4Only => {}
        Config::V6Dropped => {
            s.ipv6 = Some("fd00::10/64".into());
            s.sysctls = vec!["net.ipv6.conf.IFNAME.disable_ipv6=1".into()];
        }
    }
    s
}

/// Calls up to A10 are fatal when they fail (except set-up, which A9 retries); A11 makes no call
/// of its own any more (its subscription and read open A4), and later ones (A12, A13, the first
/// announcement) only cost a warning.
fn fatal(calls: &[Call], i: usize, ns: &NetnsRef) -> bool {
    if calls[i].op == Op::SetLinkUp {
        return false;
    }
    let up = calls
        .iter()
        .rposition(|c| c.op == Op::SetLinkUp && c.netns == *ns)
        .expect("A9 sets the link up");
    let routes = calls[up + 1..]
        .iter()
        .take_while(|c| c.op == Op::AddRoute && c.netns == *ns)
        .count();
    i <= up + routes
}

// SPEC: A15
#[test]
fn a_failure_at_every_call_of_every_variant_rolls_back_completely() {
    let mut checked = 0;
    let mut names_missing = Vec::new();
    for v in VARIANTS {
        for c in CONFIGS {
            // The baseline: which calls does this attach make?
            let mut w = world(1);
            let from = w.h.backend.log_len();
            let ok =
                w.h.attach(&w.ns, spec(v, c))
                    .unwrap_or_else(|e| panic!("{v:?}/{c:?} baseline: {e}"));
            let calls = w.h.backend.calls_since(from);
            assert!(!calls.is_empty());
            for i in 0..calls.len() {
                let op = calls[i].op;
                let nth = calls[..=i].iter().filter(|c| c.op == op).count() as u64;
                let mut w = world(1);
                let before = w.h.norm();
                let regs_before = w.h.plumber.interfaces(&w.ns);
                w.h.faults.fail_nth(op, nth, Errno::EIO);
                let r = w.h.attach(&w.ns, spec(v, c));
                w.h.faults.clear();
                let what = format!("{v:?}/{c:?}: failing call #{i} ({op:?} #{nth})");
                match r {
                    Err(e) => {
                        assert!(fatal(&calls, i, &w.ns), "{what} should not be fatal: {e}");
                        let text = e.to_string();
                        let after = w.h.norm();
                        assert!(
                            after == before,
                            "{what}: snapshot after rollback differs: {}\n{text}",
                            nsplumb_tests::diff(&after, &before)
                        );
                        assert_eq!(w.h.plumber.interfaces(&w.ns), regs_before, "{what}");
                        assert!(text.contains(op.describe()), "{what}: names the op: {text}");
                        assert!(
                            text.contains(&calls[i].netns.to_string()),
                            "{what}: names the namespace: {text}"
                        );
                        let AttachError::Failed {
                            rollback_errors, ..
                        } = &e
                        else {
                            panic!("{what}: {e:?}")
                        };
                        assert!(rollback_errors.is_empty(), "{what}: {text}");
                        if !text.contains(&ok.name) && !text.contains(source(v).name()) {
                            names_missing.push(format!("{what}: {text}"));
                        }
                        // The name is free again: the same attach now succeeds under it.
                        let again = w.h.attach(&w.ns, spec(v, c)).unwrap_or_else(|e| {
                            panic!("{what}: attach after rollback failed: {e}")
                        });
                        assert_eq!(again.name, ok.name, "{what}");
                    }
                    Ok(a) => {
                        assert!(!fatal(&calls, i, &w.ns), "{what} should have failed");
                        assert_eq!(a.name, ok.name);
                    }
                }
                checked += 1;
            }
        }
    }
    println!("A15: {checked} injected failures checked");
    assert!(checked > 100);
    if !names_missing.is_empty() {
        println!(
            "{} failure messages do not name the interface, e.g.:\n  {}",
            names_missing.len(),
            names_missing
                .iter()
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
}

/// Every failed attach names the interface (source or destination name) in its error text,
/// not only `ifindex N`.
// SPEC: A15
#[test]
fn every_attach_failure_names_the_interface() {
    let mut missing = Vec::new();
    for v in VARIANTS {
        for c in CONFIGS {
            let mut w = world(1);
            let from = w.h.backend.log_len();
            let ok = w.h.attach(&w.ns, spec(v, c)).unwrap();
            let calls = w.h.backend.calls_since(from);
            for i in 0..calls.len() {
                if !fatal(&calls, i, &w.ns) {
                    continue;
                }
                let op = calls[i].op;
                let nth = calls[..=i].iter().filter(|c| c.op == op).count() as u64;
                let mut w = world(1);
                w.h.faults.fail_nth(op, nth, Errno::EIO);
                let text = w.h.attach(&w.ns, spec(v, c)).unwrap_err().to_string();
                let names_object = text.contains(&ok.name)
                    || text.contains(source(v).name())
                    || text.contains("bridge \"br0\"");
                if !names_object {
                    missing.push(format!("{v:?}/{c:?} {op:?}: {text}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// A10 fails on a link that stays in its namespace: undoing "set up" first (set down) makes
/// the kernel drop the IPv6 address, so the later "delete address" fails with EADDRNOTAVAIL and
/// is reported as a rollback error although nothing is left behind.
// SPEC: A15
#[test]
fn rollback_of_a_created_in_namespace_link_reports_no_spurious_errors() {
    let mut w = world(1);
    let before = w.h.norm();
    w.h.faults.fail_next(Op::AddRoute, Errno::EIO);
    let e =
        w.h.attach(&w.ns, spec(Variant::CreatedInNamespace, Config::Full))
            .unwrap_err();
    assert_eq!(w.h.norm(), before);
    let AttachError::Failed {
        rollback_errors, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(rollback_errors.is_empty(), "{e}");
}

/// A failure while undoing is reported together with the original error.
// SPEC: A15
#[test]
fn rollback_errors_are_reported_with_the_original() {
    let mut w = world(2);
    let mut s = spec(Variant::CreatedInNamespace, Config::V4Only);
    s.routes = vec!["198.51.100.0/24".into()];
    // A10 fails; undoing the IPv4 address fails too.
    w.h.faults.fail_next(Op::AddRoute, Errno::EIO);
    w.h.faults.fail_next(Op::DelAddress, Errno::EBUSY);
    let e = w.h.attach(&w.ns, s).unwrap_err();
    let text = e.to_string();
    match &e {
        AttachError::Failed {
            rollback_errors, ..
        } => {
            assert_eq!(rollback_errors.len(), 1, "{text}");
            assert_eq!(rollback_errors[0].op, Op::DelAddress);
        }
        other => panic!("{other:?}"),
    }
    assert!(text.contains("add route"), "{text}");
    assert!(text.contains("rollback also failed"), "{text}");
    assert!(text.contains("delete address"), "{text}");
}

/// An explicit name already taken in the namespace by a link nsplumb does not manage.
fn n4_case(v: Variant) -> (String, bool) {
    let mut w = world(3);
    w.h.sim.create_dummy(&w.ns, "taken").unwrap();
    let before = w.h.norm();
    let mut s = spec(v, Config::V4Only);
    s.destination = Destination::Name("taken".into());
    let e = w.h.attach(&w.ns, s).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("error renaming interface"), "{v:?}: {text}");
    assert!(text.contains("file exists"), "{v:?}: {text}");
    assert!(w
        .h
        .plumber
        .interfaces(&w.ns)
        .iter()
        .all(|i| i.name != "taken"));
    (text, w.h.norm() == before)
}

// SPEC: N4
// SPEC: A15
#[test]
fn n4_explicit_name_taken_leaves_everything_in_place() {
    for v in [
        Variant::VethOnBridge,
        Variant::CreatedInNamespace,
        Variant::NewBridge,
    ] {
        let (text, same) = n4_case(v);
        assert!(same, "{v:?}: the link is left where it was: {text}");
    }
}

/// moving a host link whose destination name is taken: the kernel moves the link under its
/// own name and only then fails the rename (EEXIST after the move); nsplumb must move it back.
// SPEC: N4
// SPEC: A15
#[test]
fn n4_host_link_with_taken_name_is_not_left_in_the_namespace() {
    let (text, same) = n4_case(Variant::HostLink);
    assert!(same, "HostLink: the link is left where it was: {text}");
}

/// A name nsplumb itself holds in the namespace: refused without any kernel call.
// SPEC: N4
#[test]
fn n4_name_held_by_nsplumb_is_refused_without_kernel_call() {
    let mut w = world(4);
    let calls = w.h.calls();
    let before = w.h.snapshot();
    let mut s = spec(Variant::HostLink, Config::V4Only);
    s.destination = Destination::Name("brm".into());
    let text = w.h.attach(&w.ns, s).unwrap_err().to_string();
    assert!(
        text.contains("error renaming interface") && text.contains("file exists"),
        "{text}"
    );
    assert_eq!(w.h.calls(), calls);
    assert_eq!(w.h.snapshot(), before);
}

// SPEC: D3
#[test]
fn d3_link_deleted_behind_our_back() {
    let mut w = world(5);
    let a =
        w.h.attach(&w.ns, spec(Variant::HostLink, Config::V4Only))
            .unwrap();
    assert_eq!(a.name, "eth0");
    w.h.sim.remove_link(&w.ns, a.ifindex).unwrap();
    let e = w.h.detach(&w.ns, "eth0").unwrap_err();
    assert!(matches!(e, DetachError::Vanished { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("eth0") && text.contains("vanished") && text.contains("/run/netns/ctr"),
        "{text}"
    );
    let reg = w.h.plumber.interfaces(&w.ns);
    let i = reg
        .iter()
        .find(|i| i.name == "eth0")
        .expect("still registered");
    assert_eq!(i.state, IfaceState::Vanished);
    // The name stays reserved: the next prefix attach skips it (a link created in the
    // namespace gets a fresh index, so it cannot be mistaken for the vanished one).
    w.h.sim.create_dummy(&w.ns, "cd1").unwrap();
    let mut s = spec(Variant::CreatedInNamespace, Config::V4Only);
    s.source = Source::CreatedInNamespace("cd1".into());
    s.ipv4 = Some("192.0.3.10/24".into());
    let b = w.h.attach(&w.ns, s).unwrap();
    assert_eq!(b.name, "eth1");
    assert_ne!(b.ifindex, a.ifindex);
    // Detaching again reports it again; nothing panics.
    let e = w.h.detach(&w.ns, "eth0").unwrap_err();
    assert!(matches!(e, DetachError::Vanished { .. }), "{e:?}");
    // Forgetting frees it.
    assert!(w.h.plumber.forget(&w.ns, "eth0"));
    assert!(!w.h.plumber.forget(&w.ns, "eth0"));
    let e = w.h.detach(&w.ns, "eth0").unwrap_err();
    assert!(matches!(e, DetachError::NotAttached { .. }), "{e:?}");
    w.h.sim.create_dummy(&NetnsRef::Host, "hd2").unwrap();
    let mut s = spec(Variant::HostLink, Config::V4Only);
    s.source = Source::HostLink("hd2".into());
    s.ipv4 = Some("192.0.4.10/24".into());
    assert_eq!(w.h.attach(&w.ns, s).unwrap().name, "eth0");
    assert!(
        w.h.sim
            .kernel()
            .link_by_index(&w.ns, b.ifindex)
            .unwrap()
            .name
            == "eth1"
    );
}

/// The vanished interface's index is taken by another link (a link moved in keeps its index
/// when free there, as in Linux). Detaching the vanished one must report it vanished and must
/// not touch the other link.
// SPEC: D3
#[test]
fn d3_vanished_interface_whose_index_was_reused() {
    let mut w = world(5);
    let a =
        w.h.attach(&w.ns, spec(Variant::HostLink, Config::V4Only))
            .unwrap();
    w.h.sim.remove_link(&w.ns, a.ifindex).unwrap();
    assert!(matches!(
        w.h.detach(&w.ns, &a.name),
        Err(DetachError::Vanished { .. })
    ));
    // hd1 has, in the host, the index eth0 had in the namespace: it keeps it when moved in.
    w.h.sim.create_dummy(&NetnsRef::Host, "hd1").unwrap();
    let mut s = spec(Variant::HostLink, Config::V4Only);
    s.source = Source::HostLink("hd1".into());
    s.ipv4 = Some("192.0.3.10/24".into());
    let b = w.h.attach(&w.ns, s).unwrap();
    assert_eq!(b.ifindex, a.ifindex, "precondition: the index was reused");
    let before = w.h.norm();
    let r = w.h.detach(&w.ns, &a.name);
    assert!(matches!(r, Err(DetachError::Vanished { .. })), "{r:?}");
    assert_eq!(w.h.norm(), before, "eth1 must not be touched");
    let link = w.h.sim.kernel().link_by_index(&w.ns, b.ifindex).unwrap();
    assert_eq!(link.name, "eth1");
}

/// Detach puts everything back the way it was before attach (D1), for every variant.
// SPEC: D1
#[test]
fn d1_detach_restores_the_host_side() {
    for v in [Variant::HostLink, Variant::VethOnBridge, Variant::NewBridge] {
        let mut w = world(6);
        let before = w.h.snapshot();
        let a = w.h.attach(&w.ns, spec(v, Config::V4Only)).unwrap();
        w.h.advance(Duration::from_secs(1));
        w.h.detach(&w.ns, &a.name).unwrap();
        let after = w.h.snapshot();
        assert_eq!(
            after.namespaces[&w.ns].links, before.namespaces[&w.ns].links,
            "{v:?}"
        );
        let host_names = |s: &nsplumb_sim::Snapshot| {
            let mut n: Vec<String> = s.namespaces[&NetnsRef::Host]
                .links
                .values()
                .map(|l| l.name.clone())
                .collect();
            n.sort();
            n
        };
        assert_eq!(host_names(&after), host_names(&before), "{v:?}");
    }
}

/// A spec with link options on top of `spec(v, V4Only)` plus an IPv6 address.
fn with_options(v: Variant, mtu: Option<u32>, dad: bool, hairpin: bool) -> Spec {
    let mut s = spec(v, Config::V4Only);
    s.ipv6 = Some("fd00::10/64".into());
    s.mtu = mtu;
    s.dad = dad;
    s.hairpin = hairpin;
    s
}

/// Fail every call the attach of `s` makes, one at a time: a failed attach leaves the
/// simulator as it found it, with no rollback error, naming the failed operation. Returns how
/// many of the calls were fatal and the ops of those.
fn fail_every_call(what: &str, s: &Spec) -> (usize, Vec<Op>) {
    let mut w = world(1);
    let from = w.h.backend.log_len();
    w.h.attach(&w.ns, s.clone())
        .unwrap_or_else(|e| panic!("{what} baseline: {e}"));
    let calls = w.h.backend.calls_since(from);
    let mut fatal_ops = Vec::new();
    for i in 0..calls.len() {
        let op = calls[i].op;
        let nth = calls[..=i].iter().filter(|c| c.op == op).count() as u64;
        let mut w = world(1);
        let before = w.h.norm();
        w.h.faults.fail_nth(op, nth, Errno::EIO);
        let r = w.h.attach(&w.ns, s.clone());
        w.h.faults.clear();
        let Err(e) = r else { continue };
        let at = format!("{what}: failing call #{i} ({op:?} #{nth})");
        let after = w.h.norm();
        assert!(
            after == before,
            "{at}: snapshot after rollback differs: {}\n{e}",
            nsplumb_tests::diff(&after, &before)
        );
        let AttachError::Failed {
            rollback_errors, ..
        } = &e
        else {
            panic!("{at}: {e:?}")
        };
        assert!(rollback_errors.is_empty(), "{at}: {e}");
        assert!(
            e.to_string().contains(op.describe()),
            "{at}: names the op: {e}"
        );
        fatal_ops.push(op);
    }
    (fatal_ops.len(), fatal_ops)
}

/// SPEC A15 with the link options on: the veth's MTU at creation (L1) and DAD (L5: its
/// sysctls, the IPv6 address added after the port forwards, the polls until it is usable);
/// whichever call fails, nothing is left behind. DAD's steps are fatal: its sysctl reads and
/// the polls of the address (the sysctls are read first; 1 already, as by default, is not
/// written again).
// SPEC: A15
// SPEC: L1
// SPEC: L5
#[test]
fn a_failure_at_every_call_with_link_options_rolls_back_completely() {
    for (v, mtu) in [
        (Variant::VethOnBridge, Some(1400)),
        (Variant::HostLink, None),
        (Variant::CreatedInNamespace, None),
    ] {
        let what = format!("{v:?} mtu {mtu:?} dad");
        let (fatal, ops) = fail_every_call(&what, &with_options(v, mtu, true, false));
        assert!(fatal > 10, "{what}: only {fatal} fatal calls");
        for op in [Op::ReadSysctl, Op::AddAddress, Op::ListAddresses] {
            assert!(
                ops.contains(&op),
                "{what}: a failed {op:?} is fatal with DAD: {ops:?}"
            );
        }
    }
}

/// As above with the options the simulator on this branch answers EOPNOTSUPP to: SetMtu on a
/// moved link and the host end's port flags (branch opts-sim models them).
// SPEC: A15
// SPEC: L1
// SPEC: L2
#[test]
fn a_failure_at_every_call_with_mtu_and_port_flags_rolls_back_completely() {
    for (v, mtu, hairpin) in [
        (Variant::VethOnBridge, Some(1400), true),
        (Variant::HostLink, Some(1400), false),
        (Variant::CreatedInNamespace, Some(9000), false),
        (Variant::NewBridge, Some(1400), false),
    ] {
        let what = format!("{v:?} mtu {mtu:?} hairpin {hairpin}");
        let (_, ops) = fail_every_call(&what, &with_options(v, mtu, false, hairpin));
        let option_op = if hairpin {
            Op::SetPortFlags
        } else {
            Op::SetMtu
        };
        assert!(
            ops.contains(&option_op),
            "{what}: {option_op:?} is fatal: {ops:?}"
        );
    }
}
