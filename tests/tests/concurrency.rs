//! Concurrency on the SimRuntime (virtual time): N3 name allocation, A16 namespaces in
//! parallel, D2 concurrent and repeated detaches. Interleavings are varied with seeded
//! per-call virtual-time jitter and fault-layer delays.

use futures::channel::oneshot;
use nsplumb_core::{
    AttachError, Attached, Destination, DetachError, IfaceState, NetnsRef, Op, Source, Spec,
    Timestamp,
};
use nsplumb_tests::{ms, Harness};
use std::collections::BTreeSet;
use std::time::Duration;

/// Spawn `f` on the runtime as its own task; its result arrives on the returned receiver.
fn spawn<T: 'static>(
    h: &Harness,
    f: impl std::future::Future<Output = T> + 'static,
) -> oneshot::Receiver<T> {
    let (tx, rx) = oneshot::channel();
    h.rt.spawn(async move {
        let _ = tx.send(f.await);
    });
    rx
}

fn eth_spec(i: usize) -> Spec {
    let source = match i % 3 {
        0 => Source::HostLink(format!("hd{i}")),
        1 => Source::CreatedInNamespace(format!("cd{i}")),
        _ => Source::NewBridge(format!("nb{i}")),
    };
    let mut s = Spec::new(source, Destination::Prefix("eth".into()));
    s.ipv4 = Some(format!("10.{}.{}.1/24", i / 250, i % 250));
    s.announce_count = (i % 2) as u32;
    s.announce_interval = ms(100);
    s
}

fn hundred(seed: u64, jitter_ms: u64) {
    let mut h = Harness::new(seed);
    let ns = h.netns("ctr");
    for i in 0..100 {
        match i % 3 {
            0 => {
                h.sim
                    .create_dummy(&NetnsRef::Host, &format!("hd{i}"))
                    .unwrap();
            }
            1 => {
                h.sim.create_dummy(&ns, &format!("cd{i}")).unwrap();
            }
            _ => {}
        }
    }
    h.backend.set_jitter(Some((seed, jitter_ms)));
    h.faults.delay(Op::MoveLink, ms(3));
    let rxs: Vec<_> = (0..100)
        .map(|i| {
            let p = h.plumber.clone();
            let ns = ns.clone();
            let b = h.sim.clone();
            spawn(&h, async move {
                let r = p.attach(&ns, eth_spec(i)).await;
                (r, nsplumb_core::NetBackend::now(&b))
            })
        })
        .collect();
    let (results, done): (Vec<Result<Attached, AttachError>>, Vec<Timestamp>) = h
        .block_on(futures::future::join_all(rxs))
        .into_iter()
        .map(|r| r.expect("task finished"))
        .unzip();
    // They really interleaved: completions are not in spawn order.
    assert!(
        done.windows(2).any(|w| w[1] < w[0]),
        "seed {seed}: attaches completed in spawn order"
    );
    h.backend.set_jitter(None);
    h.faults.clear();
    let names: BTreeSet<String> = results
        .iter()
        .map(|r| r.as_ref().expect("attach").name.clone())
        .collect();
    let want: BTreeSet<String> = (0..100).map(|i| format!("eth{i}")).collect();
    assert_eq!(names, want, "seed {seed}");
    // The kernel agrees: each registered name is the link at its index.
    let k = h.sim.kernel();
    let mut indices = BTreeSet::new();
    for a in results.iter().map(|r| r.as_ref().unwrap()) {
        let link = k.link_by_index(&ns, a.ifindex).unwrap();
        assert_eq!(link.name, a.name);
        assert!(indices.insert(a.ifindex));
    }
    drop(k);
    let reg = h.plumber.interfaces(&ns);
    assert_eq!(reg.len(), 100);
    assert!(reg.iter().all(|i| i.state == IfaceState::Attached));
}

// SPEC: N3
#[test]
fn hundred_concurrent_prefix_attaches_are_eth0_to_eth99() {
    for (seed, jitter) in [(1u64, 1u64), (2, 7), (3, 50), (4, 500)] {
        hundred(seed, jitter);
    }
}

// SPEC: N3
// SPEC: N2
#[test]
fn concurrent_attaches_with_failures_leave_no_gaps_unfilled() {
    let mut h = Harness::new(11);
    let ns = h.netns("ctr");
    for i in 0..30 {
        h.sim.create_dummy(&ns, &format!("cd{i}")).unwrap();
    }
    h.backend.set_jitter(Some((11, 20)));
    // Every third attach fails on its MAC.
    let rxs: Vec<_> = (0..30)
        .map(|i| {
            let p = h.plumber.clone();
            let ns = ns.clone();
            let mut s = Spec::new(
                Source::CreatedInNamespace(format!("cd{i}")),
                Destination::Prefix("eth".into()),
            );
            s.announce_count = 0;
            if i % 3 == 0 {
                s.mac = Some("02:00:00:00:00:01".into());
            }
            spawn(&h, async move { p.attach(&ns, s).await })
        })
        .collect();
    h.faults
        .fail_with_probability(Op::SetMac, 1.0, nsplumb_core::Errno::EBUSY);
    let results: Vec<_> = h.block_on(futures::future::join_all(rxs));
    h.faults.clear();
    h.backend.set_jitter(None);
    let ok: BTreeSet<String> = results
        .iter()
        .filter_map(|r| r.as_ref().unwrap().as_ref().ok().map(|a| a.name.clone()))
        .collect();
    assert_eq!(ok.len(), 20);
    let reg: BTreeSet<String> = h
        .plumber
        .interfaces(&ns)
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(reg, ok, "failed attaches freed their names");
    // The gaps are refilled, lowest first (N2).
    let mut next = Vec::new();
    for i in 0..10 {
        h.sim.create_dummy(&ns, &format!("late{i}")).unwrap();
        let mut s = Spec::new(
            Source::CreatedInNamespace(format!("late{i}")),
            Destination::Prefix("eth".into()),
        );
        s.announce_count = 0;
        next.push(h.attach(&ns, s).unwrap().name);
    }
    let all: BTreeSet<String> = ok.into_iter().chain(next).collect();
    let want: BTreeSet<String> = (0..30).map(|i| format!("eth{i}")).collect();
    assert_eq!(all, want);
}

/// Namespace "stuck" waits A11's 5 s for a link that never comes up; namespace "fast" attaches
/// meanwhile and finishes at once, whichever is started first.
// SPEC: A16
// SPEC: A11
#[test]
fn a_stuck_namespace_does_not_delay_another() {
    for stuck_first in [true, false] {
        let mut h = Harness::new(21);
        let stuck = h.netns("stuck");
        let fast = h.netns("fast");
        h.sim.create_dummy(&NetnsRef::Host, "hd0").unwrap();
        h.sim.create_dummy(&NetnsRef::Host, "hd1").unwrap();
        h.backend.swallow_set_up(&stuck);
        let t0 = h.now();
        let mk = |src: &str| {
            let mut s = Spec::new(
                Source::HostLink(src.into()),
                Destination::Prefix("eth".into()),
            );
            s.ipv4 = Some("192.0.2.10/24".into());
            s.announce_count = 1;
            s
        };
        let run = |h: &Harness, ns: NetnsRef, s: Spec| {
            let p = h.plumber.clone();
            let b = h.sim.clone();
            spawn(h, async move {
                let r = p.attach(&ns, s).await;
                (r, nsplumb_core::NetBackend::now(&b))
            })
        };
        let (rs, rf) = if stuck_first {
            let rs = run(&h, stuck.clone(), mk("hd0"));
            (rs, run(&h, fast.clone(), mk("hd1")))
        } else {
            let rf = run(&h, fast.clone(), mk("hd1"));
            (run(&h, stuck.clone(), mk("hd0")), rf)
        };
        let (fast_r, fast_at) = h.block_on(rf).unwrap();
        let fast_r = fast_r.expect("fast attach");
        assert!(
            fast_at - t0 < Duration::from_millis(50),
            "fast namespace finished after {:?}",
            fast_at - t0
        );
        // The fast one announced at once.
        assert!(h
            .frames()
            .iter()
            .any(|f| f.netns == fast && f.index == fast_r.ifindex));
        let (stuck_r, stuck_at) = h.block_on(rs).unwrap();
        let stuck_r = stuck_r.expect("A11: a timeout is not an error");
        assert!(
            stuck_at - t0 >= Duration::from_secs(5),
            "{:?}",
            stuck_at - t0
        );
        assert!(stuck_at - t0 < Duration::from_secs(6));
        assert!(
            stuck_r
                .warnings
                .iter()
                .any(|w| w.contains("did not come up")),
            "{:?}",
            stuck_r.warnings
        );
        assert!(
            !h.frames().iter().any(|f| f.netns == stuck),
            "nothing announced for a link that never came up"
        );
    }
}

/// Many attaches in several namespaces, some stuck: every fast one completes within a few ms
/// of virtual time.
// SPEC: A16
#[test]
fn many_namespaces_in_parallel() {
    let mut h = Harness::new(22);
    let mut rxs = Vec::new();
    h.backend.set_jitter(Some((22, 3)));
    for n in 0..8 {
        let ns = h.netns(&format!("n{n}"));
        if n % 2 == 0 {
            h.backend.swallow_set_up(&ns);
        }
        for i in 0..5 {
            let src = format!("hd{n}x{i}");
            h.sim.create_dummy(&NetnsRef::Host, &src).unwrap();
            let mut s = Spec::new(Source::HostLink(src), Destination::Prefix("eth".into()));
            s.ipv4 = Some(format!("10.0.{i}.1/24"));
            s.announce_count = 0;
            let p = h.plumber.clone();
            let b = h.sim.clone();
            let nsc = ns.clone();
            rxs.push((
                n,
                spawn(&h, async move {
                    let r = p.attach(&nsc, s).await;
                    (r, nsplumb_core::NetBackend::now(&b))
                }),
            ));
        }
    }
    let t0: Timestamp = h.now();
    let (ns_ids, futs): (Vec<_>, Vec<_>) = rxs.into_iter().unzip();
    let results = h.block_on(futures::future::join_all(futs));
    for (n, r) in ns_ids.into_iter().zip(results) {
        let (r, at) = r.unwrap();
        let a = r.unwrap();
        if n % 2 == 1 {
            assert!(
                at - t0 < Duration::from_millis(500),
                "ns {n}: {:?}",
                at - t0
            );
        } else {
            assert!(at - t0 >= Duration::from_secs(5));
            assert!(!a.warnings.is_empty());
        }
    }
}

fn attached_one(seed: u64) -> (Harness, NetnsRef, Attached) {
    let mut h = Harness::new(seed);
    let ns = h.netns("ctr");
    h.sim.create_dummy(&NetnsRef::Host, "hd0").unwrap();
    let mut s = Spec::new(
        Source::HostLink("hd0".into()),
        Destination::Prefix("eth".into()),
    );
    s.ipv4 = Some("192.0.2.10/24".into());
    s.announce_count = 3;
    s.announce_interval = ms(100);
    let a = h.attach(&ns, s).unwrap();
    (h, ns, a)
}

// SPEC: D2
#[test]
fn concurrent_detaches_of_one_interface_exactly_one_succeeds() {
    for seed in 0..20u64 {
        let (mut h, ns, a) = attached_one(seed);
        let host_before: Vec<String> = h
            .sim
            .kernel()
            .list_links(&NetnsRef::Host)
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        h.backend.set_jitter(Some((seed, 5 + seed * 3)));
        let rxs: Vec<_> = (0..10)
            .map(|_| {
                let p = h.plumber.clone();
                let ns = ns.clone();
                let name = a.name.clone();
                spawn(&h, async move { p.detach(&ns, &name).await })
            })
            .collect();
        let results: Vec<Result<(), DetachError>> = h
            .block_on(futures::future::join_all(rxs))
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        h.backend.set_jitter(None);
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "seed {seed}: {results:?}");
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(
                    e,
                    DetachError::Busy { .. } | DetachError::NotAttached { .. }
                ),
                "{e:?}"
            );
            let text = e.to_string();
            assert!(
                text.contains(&a.name) && text.contains("/run/netns/ctr"),
                "{text}"
            );
        }
        // Repeated detach afterwards: a clear error, nothing touched.
        let before = h.snapshot();
        let e = h.detach(&ns, &a.name).unwrap_err();
        assert!(matches!(e, DetachError::NotAttached { .. }), "{e:?}");
        assert_eq!(h.snapshot(), before);
        // The link is back in the host exactly once, under its source name.
        let host_after: Vec<String> = h
            .sim
            .kernel()
            .list_links(&NetnsRef::Host)
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(host_after.iter().filter(|n| *n == "hd0").count(), 1);
        assert_eq!(host_after.len(), host_before.len() + 1);
        assert!(h.plumber.interfaces(&ns).is_empty());
        // S8: nothing is sent after the successful detach returned.
        let n = h.frame_count();
        h.advance(Duration::from_secs(2));
        assert_eq!(h.frame_count(), n);
    }
}

/// A detach while the attach of the same name is still running is refused as busy.
// SPEC: D2
#[test]
fn detach_during_attach_is_busy() {
    let mut h = Harness::new(31);
    let ns = h.netns("ctr");
    h.sim.create_dummy(&NetnsRef::Host, "hd0").unwrap();
    h.faults.delay(Op::MoveLink, ms(100));
    let p = h.plumber.clone();
    let nsc = ns.clone();
    let att = spawn(&h, async move {
        let mut s = Spec::new(
            Source::HostLink("hd0".into()),
            Destination::Name("eth0".into()),
        );
        s.announce_count = 0;
        p.attach(&nsc, s).await
    });
    let p = h.plumber.clone();
    let nsc = ns.clone();
    let det = spawn(&h, async move { p.detach(&nsc, "eth0").await });
    let e = h.block_on(det).unwrap().unwrap_err();
    assert!(matches!(e, DetachError::Busy { .. }), "{e:?}");
    assert!(e.to_string().contains("eth0"));
    h.block_on(att).unwrap().unwrap();
    h.faults.clear();
    h.detach(&ns, "eth0").unwrap();
}
