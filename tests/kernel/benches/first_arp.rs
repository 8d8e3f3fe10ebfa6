//! P3: time from the start of attach to the first ARP seen on the bridge.
//!
//! Veth fast path (`Source::VethOnBridge`), announcements on, a fresh container namespace per
//! attach (as at container start). The "host" is a private network namespace: like the kernel
//! tests, the benchmark re-executes itself under `unshare -nm` (`-rnm` when not root) with a
//! tmpfs for the named namespaces, so nothing touches the machine's own namespaces.
//!
//! The time of the ARP is the kernel's receive timestamp on `br0` (see
//! `nsplumb_kernel_tests::capture`), so reader wake-up latency is not counted. Per-phase
//! offsets (from the plumber's events) show where the time goes.
//!
//! `cargo bench -p nsplumb-kernel-tests --bench first_arp`; `FIRST_ARP_N=200` for more runs.
//! Target: median ≤ 5 ms.

use nsplumb_core::{Destination, EventKind, MacAddr, NetBackend, NetnsRef, Source, Spec};
use nsplumb_kernel_tests::capture::Capture;
use nsplumb_kernel_tests::fixture::{run_in, Fixture};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "NSPLUMB_KERNEL_TEST_CHILD";
const BRIDGE: &str = "br0";
const WARMUP: usize = 3;

fn main() {
    if std::env::var_os(CHILD).is_none() {
        std::process::exit(reexec());
    }
    let n: usize = std::env::var("FIRST_ARP_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
        .max(50);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(n));
}

/// Run this binary again in fresh network and mount namespaces; its exit code.
fn reexec() -> i32 {
    let root = nix::unistd::geteuid().is_root();
    let flags = if root { "-nm" } else { "-rnm" };
    let ok = Command::new("unshare")
        .args([flags, "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let msg = format!("first_arp needs root or user namespaces (unshare {flags})");
        if std::env::var("CI").as_deref() == Ok("true") {
            eprintln!("FAIL: {msg}; CI=true");
            return 1;
        }
        eprintln!("SKIP: {msg}");
        return 0;
    }
    let dir = std::env::temp_dir().join(format!(
        "nsplumb-bench-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("temp netns dir");
    let status = Command::new("unshare")
        .args([flags, "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs nsplumb "$NSPLUMB_NETNS_DIR" && exec "$@""#)
        .arg("sh")
        .arg(std::env::current_exe().expect("bench binary"))
        .env(CHILD, "1")
        .env("NSPLUMB_NETNS_DIR", &dir)
        .status()
        .expect("run the benchmark inside unshare");
    let _ = std::fs::remove_dir(&dir);
    status.code().unwrap_or(1)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn msf(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn run(n: usize) {
    let mut fx = Fixture::new();
    fx.tag = format!("nspl-w{:06x}", rand::random::<u32>() & 0xff_ffff);
    let host = NetnsRef::Host;
    run_in(&host, &["ip", "link", "add", BRIDGE, "type", "bridge"]);
    run_in(&host, &["ip", "addr", "add", "192.0.2.1/24", "dev", BRIDGE]);
    run_in(
        &host,
        &["ip", "addr", "add", "fd00:1::1/64", "dev", BRIDGE, "nodad"],
    );
    run_in(&host, &["ip", "link", "set", BRIDGE, "up"]);
    let br = fx.backend.link_by_name(&host, BRIDGE).await.unwrap().index;
    let rec = Capture::open(&host, br).record();
    let plumber = fx.plumber();
    let mut events = plumber.subscribe();
    let host_name = format!("nspl-w{:04x}-0", rand::random::<u16>());
    let salt = rand::random::<u8>();

    let mut to_arp = Vec::new();
    let mut to_return = Vec::new();
    // Phase name → offsets from the start of attach (backend clock).
    let mut phases: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut lost = 0;
    for i in 0..n + WARMUP {
        let ns = fx.netns(&format!("b{i}")).await;
        let mac = MacAddr([0x02, 0x00, 0x5e, salt, (i >> 8) as u8, i as u8]);
        let mut spec = Spec::new(
            Source::VethOnBridge {
                bridge: BRIDGE.into(),
                host_name: host_name.clone(),
            },
            Destination::Name("eth0".into()),
        );
        spec.mac = Some(mac.to_string());
        spec.ipv4 = Some(format!("192.0.2.{}/24", 10 + i % 200));
        spec.ipv6 = Some(format!("fd00:1::{:x}/64", 0x100 + i));
        spec.announce_count = 1;
        let t0 = Instant::now();
        let b0 = fx.backend.now();
        plumber.attach(&ns, spec).await.expect("attach");
        let returned = t0.elapsed();
        let arp = tokio::task::block_in_place(|| {
            rec.wait_for(Duration::from_secs(1), |f| f.is_arp_from(mac))
        });
        let mut marks = Vec::new();
        while let Ok(e) = events.try_recv() {
            if e.netns != ns {
                continue;
            }
            let at = e.at.saturating_since(b0);
            match e.kind {
                EventKind::Phase(p) => marks.push((p.as_str().to_string(), at)),
                EventKind::Announced { sent: 1, .. } => marks.push(("first round sent".into(), at)),
                _ => {}
            }
        }
        plumber.detach(&ns, "eth0").await.expect("detach");
        fx.backend.delete_netns(&ns).await.expect("delete netns");
        if i < WARMUP {
            continue;
        }
        match arp {
            Some(f) => to_arp.push(f.at.saturating_duration_since(t0)),
            None => lost += 1,
        }
        to_return.push(returned);
        for (name, at) in marks {
            phases.entry(name).or_default().push(at);
        }
    }
    drop(rec);

    to_arp.sort();
    to_return.sort();
    let (med, p99) = (percentile(&to_arp, 0.5), percentile(&to_arp, 0.99));
    println!(
        "P3 first ARP on bridge: median {:.2} ms, p99 {:.2} ms (n={})",
        msf(med),
        msf(p99),
        to_arp.len()
    );
    if lost > 0 {
        println!("  first ARP never seen on {BRIDGE} in {lost} of {n} attaches");
    }
    println!(
        "  attach returned: median {:.2} ms, p99 {:.2} ms; min/max to ARP {:.2}/{:.2} ms",
        msf(percentile(&to_return, 0.5)),
        msf(percentile(&to_return, 0.99)),
        msf(to_arp[0]),
        msf(to_arp[to_arp.len() - 1])
    );
    println!("  where the time goes (median offset from the start of attach):");
    let mut rows: Vec<(Duration, String)> = phases
        .into_iter()
        .map(|(name, mut v)| {
            v.sort();
            (percentile(&v, 0.5), name)
        })
        .collect();
    rows.sort();
    for (at, name) in rows {
        println!("    {:>7.2} ms  {name}", msf(at));
    }
    println!(
        "  target median <= 5 ms: {}",
        if med <= Duration::from_millis(5) {
            "met"
        } else {
            "MISSED"
        }
    );
}
