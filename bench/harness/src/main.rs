//! nsplumb-bench: in-process benchmarks of nsplumb (see `bench/README.md`).
//!
//! `nsplumb-bench [run] [--n 200] [--json]` measures P1 (veth fast-path attach), P2 (move-path
//! attach), P4 (detach one by one vs one kernel batch), P1B/P2B (the same attaches issued
//! concurrently through one Plumber: throughput, wall time / N), P6 (attach cost at
//! N = 10/100/1000 in one namespace and across namespaces) on the real kernel with
//! `Plumber<LinuxBackend>`, and P5 (simulator lifecycles per second). Figures are printed,
//! never asserted.
//!
//! The Linux scenarios run in a private network + mount namespace: the binary re-executes
//! itself under `unshare -nm` with a tmpfs for its named namespaces, so the bridge, the veths
//! and every container namespace vanish with the process, even when it is killed.
//!
//! `nsplumb-bench report --harness H.json --raw raw.csv --text other-bench.txt ...` prints the
//! target ratios of one run.

mod batch;
mod linux;
mod nsswitch;
mod report;
mod sim;
mod soak;
mod stats;

use clap::{Args, Parser, Subcommand};
use stats::Report;
use std::path::PathBuf;
use std::process::ExitCode;

const INNER: &str = "NSPLUMB_BENCH_INNER";

#[derive(Parser)]
#[command(
    name = "nsplumb-bench",
    about = "nsplumb benchmarks (figures, not tests)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the benchmarks (the default).
    Run(RunArgs),
    /// Target ratios from one run's outputs.
    Report(ReportArgs),
    /// Attach/detach lifecycles through the Plumber and the CLI; fails on a leak (SPEC R1).
    Soak(SoakArgs),
}

#[derive(Args)]
struct SoakArgs {
    /// Lifecycles through the in-process Plumber.
    #[arg(long, default_value_t = 10_000)]
    plumber: usize,
    /// Lifecycles through the nsplumb CLI.
    #[arg(long, default_value_t = 1_000)]
    cli: usize,
    /// Namespaces the lifecycles go round.
    #[arg(long, default_value_t = 4)]
    namespaces: usize,
    /// The nsplumb binary (default: next to this one).
    #[arg(long)]
    nsplumb: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Interfaces per scenario (P1, P2, P4).
    #[arg(long, default_value_t = 200)]
    n: usize,
    /// Print the results as JSON on stdout (instead of the table).
    #[arg(long)]
    json: bool,
    /// Also write the JSON results to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Comma list of P1,P1opts,P2,P4,P1B,P2B,P5,P6,NS (P1opts: P1 with link options on and
    /// off, interleaved; P1B/P2B: N attaches issued concurrently
    /// through one Plumber, wall time / N; NS: cost of one operation inside a namespace).
    #[arg(
        long,
        default_value = "P1,P1opts,P2,P4,P1B,P2B,P5,P6,NS",
        value_delimiter = ','
    )]
    scenarios: Vec<String>,
    /// Attaches in flight for P1B/P2B, one batch per value; 0 = all N at once.
    #[arg(long, default_value = "1,8,32,0", value_delimiter = ',')]
    batch_concurrency: Vec<usize>,
    /// Sizes for P6.
    #[arg(long, default_value = "10,100,1000", value_delimiter = ',')]
    p6_sizes: Vec<usize>,
    /// Measuring time of P5 in seconds.
    #[arg(long, default_value_t = 2.0)]
    p5_secs: f64,
    /// Tokio worker threads; 0 = a current-thread runtime.
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Experiment: new links get no IPv6 link-local address (addr_gen_mode=1 by default in
    /// the host and every container namespace).
    #[arg(long)]
    no_ll6: bool,
    /// Do not re-execute under `unshare -nm` (already in a private namespace).
    #[arg(long)]
    no_unshare: bool,
}

#[derive(Args)]
struct ReportArgs {
    /// The harness JSON (`--out` of a run); once per repetition.
    #[arg(long)]
    harness: Vec<PathBuf>,
    /// attach-bench.sh's raw.csv.
    #[arg(long)]
    raw: Option<PathBuf>,
    /// Printed output of other benches (first_arp, lifecycle, frame).
    #[arg(long)]
    text: Vec<PathBuf>,
    /// attach-bench's label of the nsplumb CLI (CUSTOM_NAME).
    #[arg(long, default_value = "nsplumb-cli")]
    custom_name: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Report(r)) => report_main(&r),
        Some(Cmd::Run(a)) => run_main(&a),
        Some(Cmd::Soak(s)) => soak_main(&s),
        None => run_main(&cli.run),
    }
}

fn report_main(r: &ReportArgs) -> ExitCode {
    let read =
        |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut inp = report::Inputs {
        custom_name: r.custom_name.clone(),
        ..Default::default()
    };
    let res: Result<(), String> = (|| {
        for p in &r.harness {
            let v = serde_json::from_str(&read(p)?).map_err(|e| format!("{}: {e}", p.display()))?;
            inp.harness.push(v);
        }
        if let Some(p) = &r.raw {
            inp.raw_csv = Some(read(p)?);
        }
        for p in &r.text {
            // A bench that did not run leaves no file: skip it, the report says "not measured".
            if let Ok(t) = read(p) {
                inp.texts.push(t);
            }
        }
        Ok(())
    })();
    if let Err(e) = res {
        eprintln!("nsplumb-bench report: {e}");
        return ExitCode::FAILURE;
    }
    print!("{}", report::render(&inp));
    ExitCode::SUCCESS
}

fn soak_main(s: &SoakArgs) -> ExitCode {
    if std::env::var_os(INNER).is_none() {
        return reexec();
    }
    let nsplumb = match &s.nsplumb {
        Some(p) => p.clone(),
        None => match std::env::current_exe() {
            Ok(exe) => exe.with_file_name("nsplumb"),
            Err(e) => {
                eprintln!("nsplumb-bench: own path: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let opts = soak::Opts {
        plumber: s.plumber,
        cli: s.cli,
        namespaces: s.namespaces.max(1),
        nsplumb,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nsplumb-bench: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(soak::run(&opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nsplumb-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn wants_linux(a: &RunArgs) -> bool {
    a.scenarios.iter().any(|s| {
        ["P1", "P1opts", "P2", "P4", "P1B", "P2B", "P6", "NS"]
            .iter()
            .any(|x| s.eq_ignore_ascii_case(x))
    })
}

/// Run this binary again inside fresh network and mount namespaces; its exit code.
fn reexec() -> ExitCode {
    let dir = std::env::temp_dir().join(format!("nsplumb-bench-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("nsplumb-bench: {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("nsplumb-bench: own path: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Ctrl-C reaches the whole process group: the inner run dies with it (its namespaces
    // vanish with it); this process catches it and lives on to remove `dir`. A caught signal,
    // unlike an ignored one, is back to its default in the exec'd child.
    extern "C" fn outlive_interrupt(_: libc::c_int) {}
    // SAFETY: the handler is async-signal-safe (it does nothing).
    unsafe {
        libc::signal(
            libc::SIGINT,
            outlive_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    let status = std::process::Command::new("unshare")
        .args(["-nm", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs nsplumb-bench "$NSPLUMB_NETNS_DIR" && exec "$@""#)
        .arg("sh")
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(INNER, "1")
        .env("NSPLUMB_NETNS_DIR", &dir)
        .status();
    let _ = std::fs::remove_dir(&dir);
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("nsplumb-bench: the run inside unshare failed: {s}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("nsplumb-bench: unshare: {e} (needs root and util-linux)");
            ExitCode::FAILURE
        }
    }
}

/// Whether this looks like the machine's own network namespace: the same as PID 1's when that
/// can be read, else any link besides loopback and the kernel's per-namespace fallback tunnel
/// devices (a fresh `unshare -n` namespace has nothing else).
fn looks_like_the_host_netns() -> bool {
    if let (Ok(a), Ok(b)) = (
        std::fs::read_link("/proc/self/ns/net"),
        std::fs::read_link("/proc/1/ns/net"),
    ) {
        return a == b;
    }
    const FALLBACK: [&str; 10] = [
        "lo", "sit0", "tunl0", "ip6tnl0", "ip6gre0", "gre0", "gretap0", "erspan0", "ip_vti0",
        "ip6_vti0",
    ];
    let Ok(dev) = std::fs::read_to_string("/proc/self/net/dev") else {
        return true;
    };
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .any(|name| !FALLBACK.contains(&name.trim()))
}

fn first_line(path: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_default()
}

fn run_main(a: &RunArgs) -> ExitCode {
    let linux = wants_linux(a);
    if linux && std::env::var_os(INNER).is_none() && !a.no_unshare {
        return reexec();
    }
    if linux && a.no_unshare && looks_like_the_host_netns() {
        // The scenarios create a bridge, veths and namespaces in "the host": never the real one.
        eprintln!(
            "nsplumb-bench: --no-unshare in what looks like the machine's own network namespace \
             (links besides lo); refusing (run it inside a fresh one, e.g. unshare -nm)"
        );
        return ExitCode::FAILURE;
    }
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    let mut report = Report {
        date_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        n: a.n,
        kernel: first_line("/proc/sys/kernel/osrelease"),
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model,
        loadavg_start: first_line("/proc/loadavg"),
        ..Default::default()
    };
    let mut failed = None;
    if linux {
        let rt = if a.workers == 0 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(a.workers)
                .enable_all()
                .build()
        };
        let rt = match rt {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("nsplumb-bench: runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        let opts = linux::Opts {
            n: a.n,
            p6_sizes: a.p6_sizes.clone(),
            batch_concurrency: a.batch_concurrency.clone(),
            no_ll6: a.no_ll6,
            scenarios: a.scenarios.clone(),
        };
        if let Err(e) = rt.block_on(linux::run(&opts, &mut report)) {
            failed = Some(e);
        }
    }
    if failed.is_none() && a.scenarios.iter().any(|s| s.eq_ignore_ascii_case("P5")) {
        if let Err(e) = sim::p5(a.p5_secs, &mut report) {
            failed = Some(e);
        }
    }
    report.loadavg_end = first_line("/proc/loadavg");
    if let Some(e) = &failed {
        report.notes.push(format!("run aborted: {e}"));
    }
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    if let Some(p) = &a.out {
        if let Err(e) = std::fs::write(p, &json) {
            eprintln!("nsplumb-bench: {}: {e}", p.display());
        }
    }
    if a.json {
        println!("{json}");
    } else {
        report.print_table();
    }
    match failed {
        Some(e) => {
            eprintln!("nsplumb-bench: {e}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}
