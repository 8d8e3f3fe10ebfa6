//! Random operation sequences: whatever the kernel answers, its internal state stays coherent
//! (names index, veth symmetry, bridge port sets and counters, route indices, no route through a
//! missing or down link, IPv6 state only where IPv6 is on).

use super::*;
use crate::link::Kind;
use crate::rng::Rng;
use nsplumb_core::{PortState, RouteScope, RouteSpec, VethRequest};
use std::time::Duration;

impl Kernel {
    pub(crate) fn check_invariants(&self) {
        for (r, id) in self.ns_refs() {
            let ns = self.ns(id);
            assert_eq!(&ns.netref, r);
            assert_eq!(ns.names.len(), ns.links.len());
            for (name, idx) in &ns.names {
                assert_eq!(&ns.links[idx].name, name);
            }
            ns.routes4.check();
            ns.routes6.check();
            for rt in ns.routes4.iter().chain(ns.routes6.iter()) {
                let l = ns.links.get(&rt.oif).expect("route through a missing link");
                assert!(l.up, "route {} through down link {}", rt.dst, l.name);
            }
            for (&idx, l) in &ns.links {
                match &l.kind {
                    Kind::Veth { peer_ns, peer } => {
                        let p = self
                            .namespaces
                            .get(peer_ns)
                            .and_then(|n| n.links.get(peer))
                            .expect("veth peer exists");
                        match p.kind {
                            Kind::Veth {
                                peer_ns: back_ns,
                                peer: back,
                            } => {
                                assert_eq!((back_ns, back), (id, idx), "veth symmetry");
                            }
                            _ => panic!("peer is not a veth"),
                        }
                    }
                    Kind::Bridge(b) => {
                        let mut fwd = 0;
                        for p in &b.ports {
                            let pl = &ns.links[p];
                            assert_eq!(pl.master, Some(idx));
                            if pl.port.as_ref().unwrap().state == PortState::Forwarding {
                                fwd += 1;
                            }
                        }
                        assert_eq!(fwd, b.fwd_ports, "forwarding count of {}", l.name);
                        assert_eq!(b.port_macs.values().sum::<u32>() as usize, b.ports.len());
                        if !b.mac_set {
                            let min = b
                                .ports
                                .iter()
                                .map(|p| ns.links[p].mac)
                                .min()
                                .unwrap_or(nsplumb_core::MacAddr::ZERO);
                            if !b.ports.is_empty() || l.mac == nsplumb_core::MacAddr::ZERO {
                                assert_eq!(l.mac, min, "bridge id of {}", l.name);
                            }
                        }
                    }
                    _ => {}
                }
                if let Some(m) = l.master {
                    assert!(ns.links[&m].bridge().unwrap().ports.contains(&idx));
                    let p = l.port.as_ref().unwrap();
                    let enabled = ns.links[&m].up && l.up && self.carrier(id, idx);
                    assert_eq!(
                        p.state == PortState::Disabled,
                        !enabled,
                        "port state of {}",
                        l.name
                    );
                } else {
                    assert!(l.port.is_none());
                }
                if self.v6_disabled(id, idx) {
                    assert!(
                        l.addrs.iter().all(|a| a.net.addr().is_ipv4()),
                        "IPv6 address on disabled {}",
                        l.name
                    );
                    assert!(!l.v6_ready);
                }
                if !l.up {
                    assert!(!l.v6_ready && !l.v6_mroute);
                }
                if self.v6_disabled(id, idx) {
                    assert!(!l.v6_mroute);
                }
                for a in &l.addrs {
                    assert!(!(a.flags.nodad && a.flags.tentative));
                }
            }
        }
    }
}

fn pick<'a, T>(rng: &mut Rng, v: &'a [T]) -> Option<&'a T> {
    if v.is_empty() {
        None
    } else {
        Some(&v[rng.below(v.len() as u64) as usize])
    }
}

#[test]
fn random_operations_keep_the_kernel_coherent() {
    const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
    const ADDRS: [&str; 6] = [
        "192.0.2.1/24",
        "192.0.2.2/24",
        "198.51.100.1/24",
        "fd00::1/64",
        "fd00::2/64",
        "fd00:1::1/64",
    ];
    let mut ok = [0u32; 24];
    for seed in 0..12u64 {
        let mut k = Kernel::new(seed);
        let mut rng = Rng::new(seed ^ 0xdead_beef);
        for step in 0..1500 {
            let nss = k.list_netns();
            let ns = pick(&mut rng, &nss).unwrap().clone();
            let ns2 = pick(&mut rng, &nss).unwrap().clone();
            let idxs: Vec<u32> = k.list_links(&ns).unwrap().iter().map(|l| l.index).collect();
            let idx = *pick(&mut rng, &idxs).unwrap();
            let name = *pick(&mut rng, &NAMES).unwrap();
            let name2 = *pick(&mut rng, &NAMES).unwrap();
            let addr = net(pick(&mut rng, &ADDRS).unwrap());
            let op = rng.below(24);
            let res = match op {
                0 => k.create_netns(name).map(|_| ()),
                1 => {
                    if nss.len() > 3 {
                        k.delete_netns(&ns)
                    } else {
                        Ok(())
                    }
                }
                2 | 3 => {
                    let master = if rng.below(2) == 0 { Some(idx) } else { None };
                    k.create_veth(
                        &ns,
                        &VethRequest {
                            host_name: name.into(),
                            host_master: master,
                            host_up: rng.below(2) == 0,
                            peer_netns: ns2.clone(),
                            peer_name: name2.into(),
                            peer_mac: None,
                            mtu: None,
                        },
                    )
                    .map(|_| ())
                }
                4 => k.create_bridge(&ns, name).map(|_| ()),
                5 => k.create_dummy(&ns, name).map(|_| ()),
                6 => k.delete_links(&ns, &[idx]),
                7 => k.move_link(&ns, idx, &ns2, name).map(|_| ()),
                8 => k.rename_link(&ns, idx, name),
                9 | 10 => k.set_link_up(&ns, idx),
                11 => k.set_link_down(&ns, idx),
                12 => {
                    let m = pick(&mut rng, &idxs).copied();
                    k.set_master(&ns, idx, if rng.below(3) == 0 { None } else { m })
                }
                13 => k.add_address(&ns, idx, addr, rng.below(2) == 0),
                14 => k.del_address(&ns, idx, addr),
                15 => {
                    let dst = if addr.addr().is_ipv4() {
                        net("203.0.113.0/24")
                    } else {
                        net("fd00:99::/64")
                    };
                    k.add_route(
                        &ns,
                        &RouteSpec {
                            dst,
                            gateway: None,
                            oif: idx,
                            scope: RouteScope::Link,
                        },
                    )
                }
                16 => {
                    let v = if rng.below(2) == 0 { "0" } else { "1" };
                    let which = *pick(
                        &mut rng,
                        &["disable_ipv6", "keep_addr_on_down", "accept_dad"],
                    )
                    .unwrap();
                    let target = *pick(&mut rng, &[name, "all", "default"]).unwrap();
                    k.write_sysctl(&ns, &format!("net/ipv6/conf/{target}/{which}"), v)
                }
                17 => k.set_mac(&ns, idx, Rng::new(step).mac()),
                18 => k.send_arp(
                    &ns,
                    idx,
                    nsplumb_core::MacAddr([2, 0, 0, 0, 0, 1]),
                    "192.0.2.1".parse().unwrap(),
                ),
                19 => k.send_na(
                    &ns,
                    idx,
                    nsplumb_core::MacAddr([2, 0, 0, 0, 0, 1]),
                    "fd00::1".parse().unwrap(),
                ),
                20 => {
                    k.advance_by(Duration::from_millis(rng.below(5000)));
                    Ok(())
                }
                21 => k.set_stp(&ns, idx, rng.below(2) == 0),
                22 => k
                    .get_route(&ns, "ff02::1".parse().unwrap(), Some(idx))
                    .map(|_| ()),
                _ => k.del_route(
                    &ns,
                    &RouteSpec {
                        dst: net("203.0.113.0/24"),
                        gateway: None,
                        oif: idx,
                        scope: RouteScope::Link,
                    },
                ),
            };
            ok[op as usize] += u32::from(res.is_ok());
            k.check_invariants();
            let _ = k.snapshot();
            let _ = k.next_deadline();
        }
    }
    // every kind of operation succeeded at least sometimes
    assert!(ok.iter().all(|&n| n > 0), "{ok:?}");
}
