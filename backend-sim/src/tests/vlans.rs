//! Bridge VLAN filtering and per-port VLAN tables on both kernel models: with
//! `CONFIG_BRIDGE_VLAN_FILTERING` (the default) and without (this project's machines, Linux
//! 6.18, measured; see `kernel::link_options`).

use super::*;
use nsplumb_core::{BridgeOptions, Errno, PortVlans, VlanSpec};

const FILTERING: BridgeOptions = BridgeOptions {
    vlan_filtering: true,
    mtu: None,
};

fn spec(first: u16, last: u16, pvid: bool, untagged: bool) -> VlanSpec {
    VlanSpec {
        first,
        last,
        pvid,
        untagged,
    }
}

fn table(k: &Kernel, ns: &NetnsRef, idx: IfIndex) -> Vec<String> {
    k.list_port_vlans(ns)
        .unwrap()
        .into_iter()
        .find(|p| p.index == idx)
        .map(|p| p.vlans.iter().map(|v| v.to_string()).collect())
        .unwrap_or_default()
}

// SPEC: L3, L6
#[test]
fn with_filtering_built_in_ports_start_with_vlan_1_and_tables_change_as_the_kernel_does() {
    let mut k = Kernel::new(1);
    let b = bridged(&mut k, 1, &FILTERING);
    let p = b.ports[0];
    let info = k.link_by_index(&H, b.br).unwrap().bridge.unwrap();
    assert_eq!(info.vlan_filtering, Some(true));
    // `bridge vlan show`: the bridge itself and its port, default PVID 1 untagged.
    assert_eq!(
        k.list_port_vlans(&H).unwrap(),
        vec![
            PortVlans {
                index: b.br,
                vlans: vec![spec(1, 1, true, true)]
            },
            PortVlans {
                index: p,
                vlans: vec![spec(1, 1, true, true)]
            },
        ]
    );
    k.add_port_vlans(
        &H,
        p,
        &[spec(10, 10, true, true), spec(20, 30, false, false)],
    )
    .unwrap();
    // The PVID moved to 10; VLAN 1 stays, untagged.
    assert_eq!(
        table(&k, &H, p),
        ["1 untagged", "10 pvid untagged", "20-30"]
    );
    k.del_port_vlans(
        &H,
        p,
        &[spec(1, 1, false, false), spec(25, 25, false, false)],
    )
    .unwrap();
    assert_eq!(table(&k, &H, p), ["10 pvid untagged", "20-24", "26-30"]);
    // Deleting what is not there is no error.
    k.del_port_vlans(&H, p, &[spec(100, 200, false, false)])
        .unwrap();
    // Re-adding the PVID's VID without `pvid` takes the PVID away.
    k.add_port_vlans(&H, p, &[spec(10, 10, false, true)])
        .unwrap();
    assert_eq!(table(&k, &H, p), ["10 untagged", "20-24", "26-30"]);
    // The snapshot carries the table and the flags (SPEC L6).
    let snap = k.snapshot();
    let ls = &snap.namespaces[&H].links[&p];
    assert_eq!(ls.vlans.len(), 3);
    assert_eq!(ls.port_flags, Some(Default::default()));
    // A bridge without filtering still keeps tables (it just does not use them).
    let mut k2 = Kernel::new(1);
    let b2 = bridged(&mut k2, 1, &BridgeOptions::default());
    let info = k2.link_by_index(&H, b2.br).unwrap().bridge.unwrap();
    assert_eq!(info.vlan_filtering, Some(false));
    assert_eq!(table(&k2, &H, b2.ports[0]), ["1 pvid untagged"]);
    k2.add_port_vlans(&H, b2.ports[0], &[spec(7, 7, false, false)])
        .unwrap();
    assert_eq!(table(&k2, &H, b2.ports[0]), ["1 pvid untagged", "7"]);
}

// SPEC: L3
#[test]
fn vlan_errors_on_both_kernels() {
    for supported in [true, false] {
        let mut k = Kernel::new(1);
        k.set_vlan_filtering_supported(supported);
        let b = bridged(&mut k, 1, &BridgeOptions::default());
        let p = b.ports[0];
        let add_err = |k: &mut Kernel, idx, v: VlanSpec| k.add_port_vlans(&H, idx, &[v]).err();
        // Measured on 6.18 (no filtering): VID 0 / 4095 → EINVAL before anything else.
        assert_eq!(
            add_err(&mut k, p, spec(0, 0, false, false)),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            add_err(&mut k, p, spec(4095, 4095, false, false)),
            Some(Errno::EINVAL)
        );
        // `br_vlan_valid_range`: no PVID on a range, the end after the start.
        assert_eq!(
            add_err(&mut k, p, spec(20, 30, true, false)),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            add_err(&mut k, p, spec(30, 20, false, false)),
            Some(Errno::EINVAL)
        );
        // Not a port (the bridge itself included) → EOPNOTSUPP on both kernels (measured).
        let eth = b.eths[0];
        assert_eq!(
            k.add_port_vlans(&b.ns[0], eth, &[spec(5, 5, false, false)]),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(
            add_err(&mut k, b.br, spec(5, 5, false, false)),
            Some(Errno::EOPNOTSUPP)
        );
        assert_eq!(
            k.del_port_vlans(&H, b.br, &[spec(1, 1, false, false)]),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(
            k.del_port_vlans(&H, p, &[spec(0, 0, false, false)]),
            Err(Errno::EINVAL)
        );
        // A valid add: done with filtering built in, EOPNOTSUPP without (measured).
        let ok = k.add_port_vlans(&H, p, &[spec(10, 10, true, true)]);
        if supported {
            ok.unwrap();
            assert_eq!(table(&k, &H, p), ["1 untagged", "10 pvid untagged"]);
        } else {
            assert_eq!(ok, Err(Errno::EOPNOTSUPP));
            // Measured: `bridge vlan del dev PORT vid 1` succeeds; the dump is empty.
            k.del_port_vlans(&H, p, &[spec(1, 1, false, false)])
                .unwrap();
            assert!(k.list_port_vlans(&H).unwrap().is_empty());
        }
        // Items are applied one by one: those before a bad one stay.
        if supported {
            let r = k.add_port_vlans(
                &H,
                p,
                &[spec(40, 40, false, false), spec(0, 0, false, false)],
            );
            assert_eq!(r, Err(Errno::EINVAL));
            assert!(table(&k, &H, p).contains(&"40".to_string()));
        }
    }
}

// SPEC: L3
#[test]
fn without_filtering_built_in_a_filtering_bridge_is_refused_and_none_is_left() {
    let mut k = Kernel::new(1);
    k.set_vlan_filtering_supported(false);
    let before = k.snapshot();
    assert_eq!(
        k.create_bridge_with(&H, "br0", &FILTERING),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(k.snapshot(), before);
    // The kernel registered it before refusing: its index is used up.
    let next = k.create_bridge(&H, "br0").unwrap();
    assert_eq!(next, 3);
    // The kernel still reports `vlan_filtering` 0 on a plain bridge, but without the VLAN
    // attributes a kernel with support sends; nsplumb-linux reads that as "not supported"
    // (`None`), and so does the simulator.
    let info = k.link_by_index(&H, next).unwrap().bridge.unwrap();
    assert_eq!(info.vlan_filtering, None);
}

/// Sends a GARP from `c{from}` and tells which namespaces' stacks heard it.
fn heard_by(k: &mut Kernel, b: &Bridged, from: usize) -> Vec<usize> {
    garp(k, b, from);
    (0..b.ns.len()).filter(|&i| heard(k, b, i)).collect()
}

// SPEC: L3
#[test]
fn with_filtering_on_frames_stay_in_their_vlan() {
    // c0, c1: PVID 10 untagged; c2: PVID 20 untagged; c3: VLAN 10 tagged only (a trunk: the
    // frame arrives tagged, and a stack without a VLAN device drops it).
    let mut k = Kernel::new(1);
    let b = bridged(&mut k, 4, &FILTERING);
    listening(&mut k, &b);
    let plan = [
        spec(10, 10, true, true),
        spec(10, 10, true, true),
        spec(20, 20, true, true),
        spec(10, 10, false, false),
    ];
    for (p, v) in b.ports.iter().zip(plan) {
        k.add_port_vlans(&H, *p, &[v]).unwrap();
        k.del_port_vlans(&H, *p, &[spec(1, 1, false, false)])
            .unwrap();
    }
    assert_eq!(heard_by(&mut k, &b, 0), [1]);
    let trunk_rx = k.link_stats(&b.ns[3], b.eths[3]).unwrap().rx_packets;
    assert_eq!(trunk_rx, 1, "the trunk port got it, tagged");
    // A port without a PVID drops untagged frames at ingress.
    let mut k2 = Kernel::new(1);
    let b2 = bridged(&mut k2, 2, &FILTERING);
    listening(&mut k2, &b2);
    k2.del_port_vlans(&H, b2.ports[0], &[spec(1, 1, false, false)])
        .unwrap();
    assert!(heard_by(&mut k2, &b2, 0).is_empty());
    assert_eq!(heard_by(&mut k2, &b2, 1), Vec::<usize>::new());
    // The same tables on a bridge without filtering: ignored, everyone hears everyone.
    let mut k3 = Kernel::new(1);
    let b3 = bridged(&mut k3, 3, &BridgeOptions::default());
    listening(&mut k3, &b3);
    for (p, v) in b3.ports.iter().zip(plan) {
        k3.add_port_vlans(&H, *p, &[v]).unwrap();
    }
    assert_eq!(heard_by(&mut k3, &b3, 0), [1, 2]);
}
