//! The simulator held to the kernel: random scenarios (seeded) run on `nsplumb-sim` in virtual
//! time and on the kernel in throwaway namespaces; after every step the outcome and the
//! observed state must agree exactly (see `nsplumb_kernel_tests::differential`).
//!
//! `NSPLUMB_DIFF_SEED=N` replays from base seed N, `NSPLUMB_DIFF_SCENARIOS=K` sets the count
//! (default 200). A disagreement prints the seed, the scenario and the diff.

use nsplumb_core::NetnsRef;
use nsplumb_kernel_tests::differential::{compare, generate, run_on_kernel, run_on_sim};
use nsplumb_kernel_tests::fixture::{run_in, tokio_spawner, Fixture};
use nsplumb_kernel_tests::host_settings;
use nsplumb_kernel_tests::privilege::enter;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

// SPEC: N2
// SPEC: N4
// SPEC: A2
// SPEC: A4
// SPEC: A5
// SPEC: A6
// SPEC: A7
// SPEC: A8
// SPEC: A15
// SPEC: D1
// SPEC: D3
// SPEC: G1
// SPEC: G3
// SPEC: R2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_agrees_with_the_kernel() {
    if !enter("simulator_agrees_with_the_kernel") {
        return;
    }
    let fx = Fixture::new();
    let base = env_u64("NSPLUMB_DIFF_SEED").unwrap_or_else(|| rand::random::<u32>() as u64);
    let count = env_u64("NSPLUMB_DIFF_SCENARIOS").unwrap_or(200);
    println!("differential: base seed {base} (replay with NSPLUMB_DIFF_SEED={base})");
    // The simulator stands on this machine: its private host and the namespaces it makes start
    // with what the kernel gives them here (SPEC R2: e.g. forwarding=1 on a container host).
    let (host, source) = host_settings::read(&fx.backend, &format!("{}-probe", fx.tag)).await;
    println!(
        "differential: host {}",
        host_settings::describe(&host, source)
    );
    let host = Arc::new(host);
    let vlan_filtering = host_settings::kernel_has_bridge_vlan_filtering(
        &fx.backend,
        &NetnsRef::Host,
        "nspl-vfprobe",
    )
    .await;
    println!("differential: bridge VLAN filtering in this kernel: {vlan_filtering}");
    let backend = Arc::new(fx.backend.clone());
    // The bridge is `brs` (see the harness); its index is not needed for `ip`.
    let stp = |_: u32| {
        run_in(
            &NetnsRef::Host,
            &[
                "ip",
                "link",
                "set",
                "brs",
                "type",
                "bridge",
                "stp_state",
                "1",
            ],
        );
    };
    let (mut steps, mut disagreements) = (0usize, Vec::new());
    let (mut t_kernel, mut t_sim) = (Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    let mut classes = std::collections::BTreeMap::new();
    let mut a15 = Vec::new();
    for i in 0..count {
        let seed = base + i;
        let sc = generate(seed);
        let tag = format!("{}-{i}", fx.tag);
        let t = Instant::now();
        let kernel = run_on_kernel(backend.clone(), tokio_spawner(), &sc, &tag, &stp).await;
        t_kernel += t.elapsed();
        let t = Instant::now();
        let (sc2, tag2, host2) = (sc.clone(), tag.clone(), host.clone());
        let sim =
            tokio::task::spawn_blocking(move || run_on_sim(&sc2, &tag2, &host2, vlan_filtering))
                .await
                .expect("simulator run");
        t_sim += t.elapsed();
        steps += sc.steps.len();
        for o in &kernel {
            let class: String = o
                .result
                .split_whitespace()
                .take(if o.result.starts_with("invalid") {
                    8
                } else {
                    4
                })
                .collect::<Vec<_>>()
                .join(" ");
            *classes.entry(class).or_insert(0usize) += 1;
        }
        for (j, o) in kernel.iter().enumerate() {
            if let Some(diff) = &o.a15_violation {
                println!(
                    "A15 VIOLATION on the kernel, seed {seed} step {j}: {}\n  scenario: {:?}\n{diff}",
                    o.result, sc.steps
                );
                a15.push(seed);
            }
        }
        if let Some(d) = compare(&sc, &kernel, &sim) {
            println!("{d}");
            disagreements.push(seed);
        }
    }
    println!("outcomes by kind (kernel): {classes:#?}");
    let agreed = count as usize - disagreements.len();
    println!(
        "differential: {count} scenarios, {steps} steps, {}% agreement ({agreed}/{count}); kernel {t_kernel:?}, sim {t_sim:?}, total {:?}",
        if disagreements.is_empty() { "100".to_string() } else { format!("{:.1}", 100.0 * agreed as f64 / count as f64) },
        started.elapsed()
    );
    assert!(
        a15.is_empty(),
        "failed attaches left state behind on the kernel (SPEC A15), seeds {a15:?}"
    );
    assert!(
        disagreements.is_empty(),
        "the simulator disagrees with the kernel for seeds {disagreements:?}"
    );
}
