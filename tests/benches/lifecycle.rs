//! P5: simulated attach + detach lifecycles per second on one thread.
//!
//! Runs a `Plumber` over the simulator (no fault or recording layer) on the `SimRuntime`,
//! attaching a host link into a namespace with a prefix name and an IPv4 (and IPv6) address and
//! detaching it again, with announce count 0 and 1. Then splits the time between the core and
//! the simulator with a timing layer that adds up the time spent inside simulator calls.
//!
//! `cargo bench -p nsplumb-tests --bench lifecycle` (env `P5_SECS` for the measuring time).

use nsplumb_core::{Destination, NetBackend, NetnsRef, Plumber, Source, Spawner, Spec};
use nsplumb_sim::{SimBackend, SimRuntime};
use nsplumb_tests::timed::Timed;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn no_spawn() -> Spawner {
    Arc::new(|_| panic!("count <= 1 sends nothing in the background"))
}

fn spec(count: u32, v6: bool) -> Spec {
    let mut s = Spec::new(
        Source::HostLink("hd0".into()),
        Destination::Prefix("eth".into()),
    );
    s.ipv4 = Some("192.0.2.10/24".into());
    if v6 {
        s.ipv6 = Some("fd00::10/64".into());
    }
    s.announce_count = count;
    s
}

/// Run lifecycles for `secs` on `plumber`; returns (lifecycles, elapsed).
fn run<B: NetBackend>(
    rt: &mut SimRuntime,
    sim: &SimBackend,
    plumber: &Plumber<B>,
    ns: &NetnsRef,
    count: u32,
    v6: bool,
    secs: f64,
) -> (u64, Duration) {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        for _ in 0..1000 {
            let p = plumber.clone();
            let ns = ns.clone();
            let s = spec(count, v6);
            rt.block_on(async move {
                let a = p.attach(&ns, s).await.expect("attach");
                p.detach(&ns, &a.name).await.expect("detach");
            });
            n += 1;
        }
        sim.clear_frame_log();
    }
    (n, start.elapsed())
}

fn main() {
    let secs: f64 = std::env::var("P5_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let mut best = 0f64;
    for (count, v6) in [(0u32, false), (1, false), (1, true)] {
        let sim = SimBackend::new(1);
        let ns = sim.kernel().create_netns("ctr").unwrap();
        sim.create_dummy(&NetnsRef::Host, "hd0").unwrap();
        let mut rt = SimRuntime::new(sim.clone());
        let plumber = Plumber::new(Arc::new(sim.clone()), no_spawn());
        run(&mut rt, &sim, &plumber, &ns, count, v6, 0.2);
        let (n, el) = run(&mut rt, &sim, &plumber, &ns, count, v6, secs);
        let rate = n as f64 / el.as_secs_f64();
        println!(
            "announce count {count}{}: {n} lifecycles in {:.2?}: {:.0} lifecycles/s ({:.2} us each)",
            if v6 { " (IPv4+IPv6)" } else { " (IPv4)" },
            el,
            rate,
            el.as_secs_f64() * 1e6 / n as f64
        );
        if count == 0 {
            best = rate;
        }
    }
    println!("P5 sim lifecycles/s: {best:.0}");
    if best < 100_000.0 {
        println!("P5 below the 100,000/s target; where the time goes:");
    } else {
        println!("P5 target (>= 100,000/s per core) met; breakdown for reference:");
    }

    // Core vs simulator: the same lifecycles over a layer that times each simulator call.
    for (count, v6) in [(0u32, false), (1, true)] {
        let sim = SimBackend::new(1);
        let ns = sim.kernel().create_netns("ctr").unwrap();
        sim.create_dummy(&NetnsRef::Host, "hd0").unwrap();
        let mut rt = SimRuntime::new(sim.clone());
        let timed = Arc::new(Timed::new(sim.clone()));
        let plumber = Plumber::new(timed.clone(), no_spawn());
        run(&mut rt, &sim, &plumber, &ns, count, v6, 0.1);
        timed.take();
        let (n, el) = run(&mut rt, &sim, &plumber, &ns, count, v6, secs / 2.0);
        let m = timed.take();
        let in_sim: Duration = m.values().map(|(_, d)| *d).sum();
        let per = |d: Duration| d.as_secs_f64() * 1e9 / n as f64;
        println!(
            "  count {count}{}: {:.0} ns per lifecycle: simulator calls {:.0} ns ({:.0}%), core + driver + executor {:.0} ns ({:.0}%)",
            if v6 { " v4+v6" } else { " v4" },
            per(el),
            per(in_sim),
            100.0 * in_sim.as_secs_f64() / el.as_secs_f64(),
            per(el - in_sim),
            100.0 * (el - in_sim).as_secs_f64() / el.as_secs_f64()
        );
        let mut ops: Vec<_> = m.iter().collect();
        ops.sort_by_key(|o| std::cmp::Reverse(o.1 .1));
        let calls: u64 = ops.iter().map(|(_, (c, _))| c).sum();
        println!(
            "    {} simulator calls per lifecycle; slowest: {}",
            calls / n,
            ops.iter()
                .take(6)
                .map(|(op, (c, d))| format!(
                    "{} {:.0} ns x{}",
                    op.describe(),
                    d.as_secs_f64() * 1e9 / *c as f64,
                    c / n
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}
