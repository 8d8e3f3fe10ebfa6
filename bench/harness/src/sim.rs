//! P5: simulated attach + detach lifecycles per second on one core (`SimBackend` +
//! `SimRuntime`, announce count 0), and the share of the time spent inside simulator calls.

use crate::stats::{Profile, Report};
use nsplumb_core::{Destination, NetBackend, NetnsRef, Plumber, Source, Spec};
use nsplumb_sim::{SimBackend, SimRuntime};
use nsplumb_tests::timed::Timed;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: usize = 1000;

fn spec() -> Spec {
    let mut s = Spec::new(
        Source::HostLink("hd0".into()),
        Destination::Prefix("eth".into()),
    );
    s.ipv4 = Some("192.0.2.10/24".into());
    s.ipv6 = Some("fd00:bec:5::10/64".into());
    s.announce_count = 0;
    s
}

/// Lifecycles for about `secs`; (count, elapsed).
fn run<B: NetBackend>(
    rt: &mut SimRuntime,
    sim: &SimBackend,
    plumber: &Plumber<B>,
    ns: &NetnsRef,
    secs: f64,
) -> Result<(u64, Duration), String> {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        let p = plumber.clone();
        let ns = ns.clone();
        rt.block_on(async move {
            for _ in 0..BATCH {
                let a = p.attach(&ns, spec()).await.map_err(|e| e.to_string())?;
                p.detach(&ns, &a.name).await.map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        })?;
        n += BATCH as u64;
        sim.clear_frame_log();
    }
    Ok((n, start.elapsed()))
}

fn world() -> Result<(SimBackend, NetnsRef, SimRuntime), String> {
    let sim = SimBackend::new(1);
    let ns = sim
        .kernel()
        .create_netns("ctr")
        .map_err(|e| format!("sim netns: {e:?}"))?;
    sim.create_dummy(&NetnsRef::Host, "hd0")
        .map_err(|e| format!("sim dummy: {e}"))?;
    let rt = SimRuntime::new(sim.clone());
    Ok((sim, ns, rt))
}

pub fn p5(secs: f64, report: &mut Report) -> Result<(), String> {
    let (sim, ns, mut rt) = world()?;
    let plumber = Plumber::new(Arc::new(sim.clone()), Arc::new(|_| {}));
    run(&mut rt, &sim, &plumber, &ns, secs.min(0.3))?;
    let (n, el) = run(&mut rt, &sim, &plumber, &ns, secs)?;
    let rate = n as f64 / el.as_secs_f64();
    eprintln!("[nsplumb-bench] P5 {n} sim lifecycles in {el:.2?}: {rate:.0}/s");
    report.scalars.push(("P5.lifecycles_per_s".into(), rate));
    report
        .scalars
        .push(("P5.us_per_lifecycle".into(), 1e6 / rate));

    // The same over a layer timing each simulator call: core + driver vs simulator.
    let (sim, ns, mut rt) = world()?;
    let timed = Arc::new(Timed::new(sim.clone()));
    let plumber = Plumber::new(timed.clone(), Arc::new(|_| {}));
    run(&mut rt, &sim, &plumber, &ns, 0.1)?;
    timed.take();
    let (n, el) = run(&mut rt, &sim, &plumber, &ns, (secs / 2.0).max(0.2))?;
    let mut p = Profile::new(
        "P5 sim lifecycle (attach+detach)",
        n as usize,
        el,
        timed.take(),
    );
    // Per lifecycle in microseconds reads better than ms here; keep ms for uniformity.
    p.scenario = format!(
        "P5 sim lifecycle (attach+detach; times in ms per lifecycle, {:.2} us each)",
        p.wall_ms_per_if * 1e3
    );
    report.profiles.push(p);
    Ok(())
}
