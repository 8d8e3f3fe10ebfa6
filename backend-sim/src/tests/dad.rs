//! DAD in virtual time, with its probes on the segment (see `kernel::dad` for what was
//! measured on Linux 6.18).

use super::*;
use nsplumb_core::{AddrFlags, BridgeOptions, PortFlagsChange};
use std::time::Duration;

fn flags(k: &Kernel, ns: &NetnsRef, idx: IfIndex, a: &str) -> Option<AddrFlags> {
    k.list_addresses(ns, Some(idx))
        .unwrap()
        .into_iter()
        .find(|x| x.net == net(a))
        .map(|x| x.flags)
}

fn tentative(k: &Kernel, ns: &NetnsRef, idx: IfIndex, a: &str) -> bool {
    flags(k, ns, idx, a).unwrap().tentative
}

/// A bridged pair whose link-locals are done with DAD.
fn settled(k: &mut Kernel, n: usize) -> Bridged {
    let b = bridged(k, n, &BridgeOptions::default());
    k.advance_by(Duration::from_secs(3));
    b
}

/// `c0` holds fd00::10 (nodad), then `c1` adds it with DAD; `c1`'s flags 3 s later.
fn probe_duplicate(k: &mut Kernel, b: &Bridged) -> AddrFlags {
    k.add_address(&b.ns[0], b.eths[0], net("fd00::10/64"), true)
        .unwrap();
    k.add_address(&b.ns[1], b.eths[1], net("fd00::10/64"), false)
        .unwrap();
    k.advance_by(Duration::from_secs(3));
    flags(k, &b.ns[1], b.eths[1], "fd00::10/64").unwrap()
}

/// Adds `a` on `c0`'s eth0 with DAD; its flags 3 s later.
fn probe_alone(k: &mut Kernel, b: &Bridged, a: &str) -> AddrFlags {
    k.add_address(&b.ns[0], b.eths[0], net(a), false).unwrap();
    k.advance_by(Duration::from_secs(3));
    flags(k, &b.ns[0], b.eths[0], a).unwrap()
}

// SPEC: L5
#[test]
fn tentative_for_the_kernels_dad_time() {
    // Defaults: a random delay below 1 s, then one probe and 1 s: done within [1 s, 2 s).
    for seed in 0..20 {
        let mut k = Kernel::new(seed);
        let b = settled(&mut k, 1);
        let (c, e) = (&b.ns[0], b.eths[0]);
        k.add_address(c, e, net("fd00::10/64"), false).unwrap();
        k.advance_by(Duration::from_millis(999));
        assert!(tentative(&k, c, e, "fd00::10/64"), "seed {seed}");
        k.advance_by(Duration::from_millis(1001));
        let f = flags(&k, c, e, "fd00::10/64").unwrap();
        assert!(!f.tentative && !f.dadfailed, "seed {seed}");
    }
    // 3 probes 200 ms apart: at least 600 ms, below 1.6 s.
    let mut k = Kernel::new(7);
    let b = settled(&mut k, 1);
    let (c, e) = (&b.ns[0], b.eths[0]);
    k.write_sysctl(c, "net/ipv6/conf/eth0/dad_transmits", "3")
        .unwrap();
    k.write_sysctl(c, "net/ipv6/neigh/eth0/retrans_time_ms", "200")
        .unwrap();
    k.add_address(c, e, net("fd00::11/64"), false).unwrap();
    k.advance_by(Duration::from_millis(599));
    assert!(tentative(&k, c, e, "fd00::11/64"));
    k.advance_by(Duration::from_millis(1001));
    assert!(!tentative(&k, c, e, "fd00::11/64"));
    // accept_dad 0: usable at once; nodad: never tentative.
    k.write_sysctl(c, "net/ipv6/conf/eth0/accept_dad", "0")
        .unwrap();
    k.add_address(c, e, net("fd00::12/64"), false).unwrap();
    assert!(!tentative(&k, c, e, "fd00::12/64"));
}

// SPEC: L5
#[test]
fn a_holder_on_the_segment_makes_dad_fail_for_good() {
    let mut k = Kernel::new(3);
    let b = settled(&mut k, 2);
    let f = probe_duplicate(&mut k, &b);
    assert!(
        f.tentative && f.dadfailed,
        "measured: `dadfailed tentative`"
    );
    let holder = flags(&k, &b.ns[0], b.eths[0], "fd00::10/64").unwrap();
    assert!(!holder.tentative && !holder.dadfailed);
    // It stays failed, and nothing is pending for it.
    k.advance_by(Duration::from_secs(10));
    assert!(
        flags(&k, &b.ns[1], b.eths[1], "fd00::10/64")
            .unwrap()
            .dadfailed
    );
    // The snapshot shows it.
    let snap = k.snapshot();
    let a = &snap.namespaces[&b.ns[1]].links[&b.eths[1]].addrs;
    assert!(a.iter().any(|x| x.dadfailed));
}

// SPEC: L5
#[test]
fn both_probing_the_first_probe_wins() {
    for seed in 0..10 {
        let mut k = Kernel::new(seed);
        let b = settled(&mut k, 2);
        k.add_address(&b.ns[0], b.eths[0], net("fd00::10/64"), false)
            .unwrap();
        k.add_address(&b.ns[1], b.eths[1], net("fd00::10/64"), false)
            .unwrap();
        k.advance_by(Duration::from_secs(3));
        let failed: Vec<bool> = (0..2)
            .map(|i| {
                flags(&k, &b.ns[i], b.eths[i], "fd00::10/64")
                    .unwrap()
                    .dadfailed
            })
            .collect();
        assert_eq!(failed.iter().filter(|f| **f).count(), 1, "seed {seed}");
    }
}

// SPEC: L5
#[test]
fn probes_go_only_where_frames_go() {
    // Isolated ports: the holder is not reached.
    let mut k = Kernel::new(3);
    let b = settled(&mut k, 2);
    let iso = PortFlagsChange {
        hairpin: None,
        isolated: Some(true),
    };
    k.set_port_flags(&H, b.ports[0], iso).unwrap();
    k.set_port_flags(&H, b.ports[1], iso).unwrap();
    let f = probe_duplicate(&mut k, &b);
    assert!(!f.tentative && !f.dadfailed);

    // A port still in STP listening drops the probe: the duplicate is missed.
    let mut k = Kernel::new(3);
    let b = settled(&mut k, 2);
    k.add_address(&b.ns[0], b.eths[0], net("fd00::10/64"), true)
        .unwrap();
    k.set_stp(&H, b.br, true).unwrap();
    k.set_link_down(&H, b.ports[1]).unwrap();
    k.set_link_up(&H, b.ports[1]).unwrap();
    k.set_link_up(&b.ns[1], b.eths[1]).unwrap();
    k.add_address(&b.ns[1], b.eths[1], net("fd00::10/64"), false)
        .unwrap();
    k.advance_by(Duration::from_secs(3));
    let f = flags(&k, &b.ns[1], b.eths[1], "fd00::10/64").unwrap();
    assert!(
        !f.tentative && !f.dadfailed,
        "probe lost in a listening port"
    );

    // A holder whose link is down does not answer.
    let mut k = Kernel::new(3);
    let b = settled(&mut k, 2);
    k.set_link_down(&b.ns[0], b.eths[0]).unwrap();
    assert!(!probe_duplicate(&mut k, &b).dadfailed);
}

// SPEC: L5
#[test]
fn a_hairpin_loop_is_recognised_by_the_enhanced_dad_nonce() {
    let hairpin = PortFlagsChange {
        hairpin: Some(true),
        isolated: None,
    };
    // enhanced_dad on (the default): the probe that comes back is ignored.
    let mut k = Kernel::new(3);
    let b = settled(&mut k, 1);
    k.set_port_flags(&H, b.ports[0], hairpin).unwrap();
    let f = probe_alone(&mut k, &b, "fd00::10/64");
    assert!(!f.tentative && !f.dadfailed);
    // Off on the link only: `all` still gives a nonce (measured).
    k.write_sysctl(&b.ns[0], "net/ipv6/conf/eth0/enhanced_dad", "0")
        .unwrap();
    assert!(!probe_alone(&mut k, &b, "fd00::11/64").dadfailed);
    // Off on both: the looped-back probe fails DAD.
    k.write_sysctl(&b.ns[0], "net/ipv6/conf/all/enhanced_dad", "0")
        .unwrap();
    let f = probe_alone(&mut k, &b, "fd00::12/64");
    assert!(f.tentative && f.dadfailed);
}
