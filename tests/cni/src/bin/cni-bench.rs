//! cni-bench: a CNI plugin measured the way runtimes use it, one process per call, against
//! the same conflist (host-local IPAM, `isGateway`), in the same private namespaces as the
//! tests. Figures, not assertions: a table on stdout.
//!
//! Per plugin: ADD and DEL latency (spawn to exit) over N fresh namespaces; the time from a
//! reused address's ADD start until the host's ping is answered (keeper attached, stale entry,
//! see `reuse`); and the wall time of `podman run --rm /bin/true` on a conflist of that plugin.
//!
//! `sudo target/release/cni-bench [--plugin PATH]... [--n 100] [--reuse-n 10] [--podman-n N]`

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use nsplumb_cni_tests::command::Cmd;
use nsplumb_cni_tests::env::CniEnv;
use nsplumb_cni_tests::error::Result;
use nsplumb_cni_tests::isolation;
use nsplumb_cni_tests::netns::NamedNetns;
use nsplumb_cni_tests::plugin::{with_prev_result, PluginUnderTest, Verb, REFERENCE_BRIDGE};
use nsplumb_cni_tests::podman::{Podman, RunOptions};
use nsplumb_cni_tests::reuse::DirectReuse;
use nsplumb_cni_tests::stats::median_p90;

#[derive(Parser, Debug)]
#[command(about = "CNI plugin latency, reused-address reachability and podman run time")]
struct Args {
    /// Plugin binary (repeatable); its file name is its conflist "type".
    #[arg(long = "plugin", default_value = REFERENCE_BRIDGE)]
    plugins: Vec<PathBuf>,
    /// ADD/DEL rounds.
    #[arg(long, default_value_t = 100)]
    n: usize,
    /// Reused-address rounds, at most 200 (the bridge plugin needs 20-55 s each).
    #[arg(long, default_value_t = 10)]
    reuse_n: usize,
    /// `podman run` rounds (default: N).
    #[arg(long)]
    podman_n: Option<usize>,
}

/// One table row.
struct Row {
    plugin: String,
    metric: &'static str,
    samples: Vec<Duration>,
    note: String,
}

fn main() {
    isolation::isolate_main();
    let args = Args::parse();
    let mut rows = Vec::new();
    for (index, path) in args.plugins.iter().enumerate() {
        let plugin = PluginUnderTest::at(path).unwrap_or_else(|e| panic!("{e}"));
        let env = CniEnv::with_plugin_in(plugin, &format!("plugin{index}"))
            .unwrap_or_else(|e| panic!("CNI environment: {e}"));
        eprintln!(
            "== {} ({})",
            env.plugin.type_name,
            env.plugin.path.display()
        );
        if let Err(e) = measure(&env, index, &args, &mut rows) {
            eprintln!("cni-bench: {}: {e}", env.plugin.path.display());
            std::process::exit(1);
        }
        // The next plugin's networks use the same subnets: its host routes must not find
        // this plugin's bridges first.
        for bridge in [format!("nspbench{index}"), format!("nspreuse{index}")] {
            let _ = Cmd::new(format!("delete bridge {bridge}"), "ip")
                .args(["link", "del", &bridge])
                .run();
        }
    }
    print_table(&rows);
    print_ratios(&rows);
}

fn measure(env: &CniEnv, index: usize, args: &Args, rows: &mut Vec<Row>) -> Result<()> {
    let name = env.plugin.type_name.clone();
    let network = env.network(
        &format!("bench{index}"),
        &format!("nspbench{index}"),
        "192.0.2.0/24",
    )?;
    let plugin = env.plugin();
    let config = network.request_config();

    // Warm-up: the first ADD creates the bridge.
    {
        let ns = NamedNetns::add(&format!("warm{index}"))?;
        let r = plugin
            .on(Verb::Add, "warm", ns.path())
            .config(&config)
            .run()?
            .result("warm-up ADD")?;
        plugin
            .on(Verb::Del, "warm", ns.path())
            .config(&with_prev_result(&config, &r))
            .run()?
            .result("warm-up DEL")?;
    }

    // Namespaces made up front: their creation and teardown stay out of the timings.
    let pool: Vec<NamedNetns> = (0..args.n)
        .map(|i| NamedNetns::add(&format!("b{index}-{i}")))
        .collect::<Result<_>>()?;
    let (mut adds, mut dels) = (Vec::new(), Vec::new());
    for (i, ns) in pool.iter().enumerate() {
        let id = format!("bench-{i}");
        let add = plugin.on(Verb::Add, &id, ns.path()).config(&config).run()?;
        let result = add.result("ADD")?;
        adds.push(add.elapsed);
        let del = plugin
            .on(Verb::Del, &id, ns.path())
            .config(&with_prev_result(&config, &result))
            .run()?;
        del.result("DEL")?;
        dels.push(del.elapsed);
    }
    drop(pool);
    let sums: Vec<Duration> = adds.iter().zip(&dels).map(|(a, d)| *a + *d).collect();
    rows.push(row(&name, "ADD", adds, ""));
    rows.push(row(&name, "DEL", dels, ""));
    rows.push(row(&name, "ADD+DEL", sums, ""));

    // A network of its own, a fresh address per round: a round's host entry must be new when
    // its first holder is pinged, and stale when its second is added.
    let reuse_network = env.network(
        &format!("reuse{index}"),
        &format!("nspreuse{index}"),
        "198.51.100.0/24",
    )?;
    let mut answered = Vec::new();
    let mut unanswered = 0;
    let mut stale = 0;
    {
        let reuse = DirectReuse::new(&plugin, &reuse_network)?;
        for round in 0..args.reuse_n {
            let last_octet = u8::try_from(10 + round).expect("--reuse-n at most 200");
            let obs = reuse.round(round, Ipv4Addr::new(198, 51, 100, last_octet))?;
            eprintln!("   reuse round {round}: {obs:?}");
            stale += usize::from(obs.stale_entry_held());
            match obs.answered_after {
                Some(t) => answered.push(t),
                None => unanswered += 1,
            }
        }
    }
    rows.push(row(
        &name,
        "reused IP: ADD start -> host ping answered",
        answered,
        &format!(
            "{unanswered} unanswered in 75 s; stale entry held in {stale}/{}",
            args.reuse_n
        ),
    ));

    let podman = Podman::new(env)?;
    podman.add_network(&network)?;
    let mut runs = Vec::new();
    for i in 0..args.podman_n.unwrap_or(args.n) {
        let opts = RunOptions::sleeper(&format!("bench{i}"), &network.name).command(&["/bin/true"]);
        let started = Instant::now();
        let done = podman.run_once(&opts)?;
        let took = started.elapsed();
        if !done.success() {
            eprintln!("podman run failed: {}", done.stderr);
            std::process::exit(1);
        }
        runs.push(took);
    }
    rows.push(row(&name, "podman run --rm /bin/true (wall)", runs, ""));
    Ok(())
}

fn row(plugin: &str, metric: &'static str, samples: Vec<Duration>, note: &str) -> Row {
    Row {
        plugin: plugin.into(),
        metric,
        samples,
        note: note.into(),
    }
}

/// Each plugin's medians against the reference bridge plugin's (when it was measured): how
/// many times faster (`bridge ÷ plugin`).
fn print_ratios(rows: &[Row]) {
    let median = |r: &Row| median_p90(&r.samples).map(|(m, _)| m);
    let reference: Vec<&Row> = rows.iter().filter(|r| r.plugin == "bridge").collect();
    if reference.is_empty() {
        return;
    }
    println!();
    println!("| plugin | metric | bridge median ms | plugin median ms | bridge ÷ plugin |");
    println!("|---|---|---|---|---|");
    for r in rows.iter().filter(|r| r.plugin != "bridge") {
        let Some(base) = reference.iter().find(|b| b.metric == r.metric) else {
            continue;
        };
        if let (Some(b), Some(p)) = (median(base), median(r)) {
            println!(
                "| {} | {} | {} | {} | {:.2}× |",
                r.plugin,
                r.metric,
                ms(b),
                ms(p),
                b.as_secs_f64() / p.as_secs_f64().max(1e-9)
            );
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn print_table(rows: &[Row]) {
    println!("| plugin | metric | n | median ms | p90 ms | note |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let (median, p90) = match median_p90(&r.samples) {
            Some((m, p)) => (ms(m), ms(p)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {} | {} | {median} | {p90} | {} |",
            r.plugin,
            r.metric,
            r.samples.len(),
            r.note
        );
    }
}
