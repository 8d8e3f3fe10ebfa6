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

use futures::StreamExt;
use nsplumb_core::{
    Attach, BackendExt, Command, Destination, EventKind, Input, LinkEvent, LinkEvents, MacAddr,
    NetBackend, NetnsAdmin, NetnsRef, Registry, Reply, Request, Source, Spec, SubscriptionId,
};
use nsplumb_kernel_tests::capture::{Capture, Recorder};
use nsplumb_kernel_tests::fixture::{run_in, Fixture};
use nsplumb_linux::LinuxBackend;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::task::Poll;
use std::time::{Duration, Instant};

const CHILD: &str = "NSPLUMB_KERNEL_TEST_CHILD";
const BRIDGE: &str = "br0";
const WARMUP: usize = 3;
/// Attaches driven step by step for the per-command profile (not part of the P3 figures).
const PROFILED: usize = 20;
/// Pause after each teardown, so the kernel's background namespace cleanup is over before the
/// next attach is timed.
const SETTLE: Duration = Duration::from_millis(30);

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
    let ok = std::process::Command::new("unshare")
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
    let status = std::process::Command::new("unshare")
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
        let (mac, spec) = spec_for(&host_name, salt, i);
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
        // The kernel tears the namespace down in the background (under RTNL); let it finish so
        // it does not land in the next attach.
        tokio::time::sleep(SETTLE).await;
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
    let profile = profile(&mut fx, &rec, &host_name, salt, n + WARMUP).await;
    let kept = kept_attached(&mut fx, &rec, salt, n + WARMUP + PROFILED, n).await;
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
    println!("  per command, step-driven attaches (median per attach, n={PROFILED}):");
    for (name, total, calls) in profile {
        println!("    {:>7.2} ms  {name} ({calls}x)", msf(total));
    }
    println!("  with every container kept attached (live namespaces grow 1..={n}):");
    for (range, arp, link_reads) in kept {
        println!(
            "    {range:>9} live: first ARP median {:.2} ms, the 4 link reads (A11, A12, S6) {:.2} ms",
            msf(arp),
            msf(link_reads)
        );
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

/// The spec of attach number `i`: fast path, one announcement, IPv4 and IPv6.
fn spec_for(host_name: &str, salt: u8, i: usize) -> (MacAddr, Spec) {
    let mac = MacAddr([0x02, 0x00, 0x5e, salt, (i >> 8) as u8, i as u8]);
    let mut spec = Spec::new(
        Source::VethOnBridge {
            bridge: BRIDGE.into(),
            host_name: host_name.into(),
        },
        Destination::Name("eth0".into()),
    );
    spec.mac = Some(mac.to_string());
    spec.ipv4 = Some(format!("192.0.2.{}/24", 10 + i % 200));
    spec.ipv6 = Some(format!("fd00:1::{:x}/64", 0x100 + i));
    spec.announce_count = 1;
    (mac, spec)
}

/// Where the time goes: attaches driven command by command (the loop of `Plumber::run`), each
/// command and each wait timed. Per name: median total per attach, calls per attach.
async fn profile(
    fx: &mut Fixture,
    rec: &Recorder,
    host_name: &str,
    salt: u8,
    first: usize,
) -> Vec<(String, Duration, usize)> {
    let backend = fx.backend.clone();
    let mut per_name: BTreeMap<String, (Vec<Duration>, usize)> = BTreeMap::new();
    for i in first..first + PROFILED {
        let ns = fx.netns(&format!("p{i}")).await;
        let (mac, spec) = spec_for(host_name, salt, i);
        let plan = Registry::default()
            .prepare_attach(&ns, &spec)
            .expect("valid spec");
        let t0 = Instant::now();
        let (steps, host_index) = drive(&backend, Attach::new(plan, backend.now())).await;
        let arp = tokio::task::block_in_place(|| {
            rec.wait_for(Duration::from_secs(1), |f| f.is_arp_from(mac))
        });
        let mut totals: BTreeMap<String, (Duration, usize)> = BTreeMap::new();
        let upto = steps
            .iter()
            .position(|(name, _)| name == "SendArp")
            .map_or(steps.len(), |i| i + 1);
        let before_arp: Duration = steps[..upto].iter().map(|(_, d)| *d).sum();
        totals.insert(
            "= commands and waits up to the ARP send (sum)".into(),
            (before_arp, upto),
        );
        for (name, d) in steps {
            let e = totals.entry(name).or_default();
            e.0 += d;
            e.1 += 1;
        }
        if let Some(f) = arp {
            totals.insert(
                "= first ARP on the bridge (from start)".into(),
                (f.at.saturating_duration_since(t0), 1),
            );
        }
        for (name, (d, calls)) in totals {
            let e = per_name.entry(name).or_default();
            e.0.push(d);
            e.1 = calls;
        }
        if let Some(h) = host_index {
            backend.delete_links(&NetnsRef::Host, &[h]).await.ok();
        }
        backend.delete_netns(&ns).await.expect("delete netns");
        tokio::time::sleep(SETTLE).await;
    }
    let mut out: Vec<(String, Duration, usize)> = per_name
        .into_iter()
        .map(|(name, (mut v, calls))| {
            v.sort();
            (name, percentile(&v, 0.5), calls)
        })
        .collect();
    out.sort_by_key(|b| std::cmp::Reverse(b.1));
    out
}

/// Run an attach machine to its end, timing every command (by operation) and every wait.
/// Returns the timings and the host end of the veth pair it created.
async fn drive(backend: &LinuxBackend, mut m: Attach) -> (Vec<(String, Duration)>, Option<u32>) {
    let mut steps = Vec::new();
    let mut subs: Vec<(SubscriptionId, LinkEvents)> = Vec::new();
    let mut host_index = None;
    loop {
        while m.poll_event().is_some() {}
        if let Some(command) = m.poll_command() {
            let name = match &command {
                Command::Kernel(Request::LinkByName { .. }) => "LinkByName".to_string(),
                Command::Kernel(Request::LinkByIndex { netns, .. }) if netns.is_host() => {
                    "LinkByIndex(host)".into()
                }
                Command::Kernel(Request::LinkByIndex { .. }) => "LinkByIndex(container)".into(),
                Command::Kernel(request) => format!("{:?}", request.op()),
                Command::Subscribe { netns, .. } if netns.is_host() => "Subscribe(host)".into(),
                Command::Subscribe { .. } => "Subscribe(container)".into(),
                Command::Unsubscribe { .. } => "Unsubscribe".into(),
            };
            let t = Instant::now();
            let result = match command {
                Command::Kernel(request) => backend.execute(&request).await,
                Command::Subscribe { id, netns } => {
                    backend.subscribe_links(&netns).await.map(|events| {
                        subs.push((id, events));
                        Reply::Done
                    })
                }
                Command::Unsubscribe { id } => {
                    subs.retain(|(sid, _)| *sid != id);
                    Ok(Reply::Done)
                }
            };
            steps.push((name, t.elapsed()));
            if let Ok(Reply::Veth(pair)) = &result {
                host_index = Some(pair.host_index);
            }
            m.handle_input(backend.now(), Input::Reply(result));
            continue;
        }
        if m.outcome().is_some() {
            break;
        }
        let mut sleep = std::pin::pin!(m.poll_timeout().map(|d| backend.sleep_until(d)));
        let t = Instant::now();
        let wake = futures::future::poll_fn(|cx| {
            for (id, stream) in subs.iter_mut() {
                if let Poll::Ready(Some(event)) = stream.poll_next_unpin(cx) {
                    return Poll::Ready(Some((*id, event)));
                }
            }
            match sleep
                .as_mut()
                .as_pin_mut()
                .map(|s| std::future::Future::poll(s, cx))
            {
                Some(Poll::Ready(())) => Poll::Ready(None),
                _ => Poll::Pending,
            }
        })
        .await;
        let now = backend.now();
        match wake {
            Some((id, event)) => {
                let what = match &event {
                    LinkEvent::Changed(l) if l.port_state.is_some() => "wait: port event",
                    _ => "wait: link event",
                };
                steps.push((what.into(), t.elapsed()));
                m.handle_input(now, Input::LinkEvent { id, event });
            }
            None => {
                steps.push(("wait: timer".into(), t.elapsed()));
                m.handle_timeout(now);
            }
        }
    }
    (steps, host_index)
}

/// Attaches that are never detached, each into a fresh namespace, as on a busy container host:
/// per tenth of the run, the median time to the first ARP and of the link reads (which resolve
/// the veth peer's namespace id).
async fn kept_attached(
    fx: &mut Fixture,
    rec: &Recorder,
    salt: u8,
    first: usize,
    n: usize,
) -> Vec<(String, Duration, Duration)> {
    let backend = fx.backend.clone();
    let prefix = format!("nspl-w{:04x}", rand::random::<u16>());
    let mut samples = Vec::new();
    for i in 0..n {
        let ns = fx.netns(&format!("k{i}")).await;
        let (mac, spec) = spec_for(&format!("{prefix}-{i}"), salt, first + i);
        let plan = Registry::default()
            .prepare_attach(&ns, &spec)
            .expect("valid spec");
        let t0 = Instant::now();
        let (steps, _) = drive(&backend, Attach::new(plan, backend.now())).await;
        let arp = tokio::task::block_in_place(|| {
            rec.wait_for(Duration::from_secs(1), |f| f.is_arp_from(mac))
        });
        let reads: Duration = steps
            .iter()
            .filter(|(name, _)| name.starts_with("LinkByIndex"))
            .map(|(_, d)| *d)
            .sum();
        let to_arp = arp.map_or(Duration::from_secs(1), |f| {
            f.at.saturating_duration_since(t0)
        });
        samples.push((to_arp, reads));
    }
    let tenth = (n / 10).max(1);
    samples
        .chunks(tenth)
        .enumerate()
        .filter(|(k, _)| *k == 0 || (k + 1) * tenth >= n)
        .map(|(k, chunk)| {
            let mut arp: Vec<Duration> = chunk.iter().map(|s| s.0).collect();
            let mut reads: Vec<Duration> = chunk.iter().map(|s| s.1).collect();
            arp.sort();
            reads.sort();
            let range = format!("{}-{}", k * tenth + 1, k * tenth + chunk.len());
            (range, percentile(&arp, 0.5), percentile(&reads, 0.5))
        })
        .collect()
}
