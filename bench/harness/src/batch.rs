//! Throughput figures (scenarios P1B, P2B): N attaches issued concurrently through ONE
//! `Plumber`, total wall time / N per interface.
//!
//! Why: attach-bench's `ip-batch-direct` / `ip-batch` "netlink floor/N" is a throughput figure
//! (one `ip -batch` process for all N veths, (total − exec costs) / N), while P1/P2 are the
//! latency of one attach at a time (each waits for link up before the next starts). These
//! figures are the like-for-like counterpart: the same work per interface as P1.attach+gw
//! (veth born in the namespace, announcements off, default routes v4/v6) or P2, with K attaches
//! in flight (SPEC A16: attaches to different namespaces proceed in parallel).
//!
//! Every batch is checked afterwards (each interface in its namespace with its name, MAC,
//! addresses, default routes, host end on the bridge; after teardown nothing left) and the run
//! fails loudly otherwise. Cleanup on failure or kill is the harness's private namespaces
//! (`main.rs`): everything vanishes with the process.

use crate::linux::{e, mac, p1_spec, veth_src, World, GW4, GW6};
use crate::stats::{Figure, Profile, Report};
use futures::StreamExt;
use ipnet::IpNet;
use nsplumb_core::{
    BackendExt, Family, IfIndex, LinkKind, MacAddr, NetnsRef, Plumber, Source, VethRequest,
};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many operations are in flight at once; `All` = every interface of the batch; `Many` =
/// one `Plumber::attach_many` of the whole batch (every link obtained before any is
/// configured, as one `ip -batch` orders its work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    Limit(usize),
    All,
    Many,
}

impl Concurrency {
    /// `0` means all at once.
    pub fn from_arg(k: usize) -> Concurrency {
        if k == 0 {
            Concurrency::All
        } else {
            Concurrency::Limit(k)
        }
    }

    fn in_flight(self, n: usize) -> usize {
        match self {
            Concurrency::Limit(k) => k.clamp(1, n.max(1)),
            Concurrency::All | Concurrency::Many => n.max(1),
        }
    }

    /// The id part: `c8`, `c32`, `all`.
    pub fn label(self) -> String {
        match self {
            Concurrency::Limit(k) => format!("c{k}"),
            Concurrency::All => "all".into(),
            Concurrency::Many => "many".into(),
        }
    }

    fn describe(self, n: usize) -> String {
        match self {
            Concurrency::Limit(k) => format!("{} in flight", k.min(n)),
            Concurrency::All => format!("all {n} at once"),
            Concurrency::Many => format!("all {n} in one Plumber::attach_many"),
        }
    }
}

/// Levels asked for, without duplicates once clamped to N (at N=8, `8` and `all` are the same).
pub fn levels(args: &[usize], n: usize) -> Vec<Concurrency> {
    let mut out: Vec<Concurrency> = Vec::new();
    for &k in args {
        let c = Concurrency::from_arg(k);
        let c = if c.in_flight(n) >= n {
            Concurrency::All
        } else {
            c
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out.push(Concurrency::Many);
    out
}

/// CPU time (user, system) of this process so far, all threads, exited ones included. System
/// time includes the kernel's handling of our netlink requests (done in the sending thread).
fn process_cpu() -> (Duration, Duration) {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// One concurrent batch, measured.
struct Batch {
    wall: Duration,
    /// Process CPU time spent during the batch (user + system): with `wall`, tells a batch
    /// bound by this process's CPU from one waiting on the kernel (RTNL) or on other processes.
    cpu: Duration,
    /// Of which user space: nsplumb's own code (core, backend, runtime, parsing).
    cpu_user: Duration,
    /// Each operation's own time, from its start to its end.
    latencies: Vec<Duration>,
    /// "index: error", sorted.
    failures: Vec<String>,
}

/// Run `op(0..n)` with at most `limit` in flight.
async fn run_bounded<F, Fut>(n: usize, limit: usize, op: F) -> Batch
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let cpu0 = process_cpu();
    let start = Instant::now();
    let results: Vec<(usize, Result<(), String>, Duration)> = futures::stream::iter(0..n)
        .map(|i| {
            let fut = op(i);
            async move {
                let t = Instant::now();
                let r = fut.await;
                (i, r, t.elapsed())
            }
        })
        .buffer_unordered(limit)
        .collect()
        .await;
    let wall = start.elapsed();
    let cpu1 = process_cpu();
    let cpu_user = cpu1.0.saturating_sub(cpu0.0);
    let cpu = cpu_user + cpu1.1.saturating_sub(cpu0.1);
    let mut latencies = Vec::with_capacity(n);
    let mut failures = Vec::new();
    for (i, r, d) in results {
        latencies.push(d);
        if let Err(err) = r {
            failures.push(format!("{i}: {err}"));
        }
    }
    failures.sort();
    Batch {
        wall,
        cpu,
        cpu_user,
        latencies,
        failures,
    }
}

/// One `Plumber::attach_many` of interfaces 0..n (then each one's gateways), measured like
/// [`run_bounded`]; no per-interface latency (they finish together).
async fn run_many(
    plumber: &Plumber<crate::linux::Tb>,
    w: &World,
    n: usize,
    source: impl Fn(usize) -> Source,
) -> Batch {
    let cpu0 = process_cpu();
    let start = Instant::now();
    let items = (0..n)
        .map(|i| (w.ns[i].clone(), p1_spec(i, source(i))))
        .collect();
    let outcomes = plumber.attach_many(items).await;
    let mut failures = Vec::new();
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let r = match outcome {
            Ok(a) if a.name != "eth0" => Err(format!("attached as {} instead of eth0", a.name)),
            Ok(_) => gateways(plumber, &w.ns[i]).await,
            Err(err) => Err(format!("attach: {err}")),
        };
        if let Err(err) = r {
            failures.push(format!("{i}: {err}"));
        }
    }
    let wall = start.elapsed();
    let cpu1 = process_cpu();
    let cpu_user = cpu1.0.saturating_sub(cpu0.0);
    Batch {
        wall,
        cpu: cpu_user + cpu1.1.saturating_sub(cpu0.1),
        cpu_user,
        latencies: Vec::new(),
        failures,
    }
}

fn fail_if_any(what: &str, failures: &[String]) -> Result<(), String> {
    if failures.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = failures.iter().take(5).map(String::as_str).collect();
    Err(format!(
        "{what}: {} failed (first: {})",
        failures.len(),
        shown.join("; ")
    ))
}

/// A Plumber with an empty registry, so every batch starts like the first P1 pass (no
/// gateway routes remembered from an earlier pass).
fn fresh_plumber(w: &World) -> Plumber<crate::linux::Tb> {
    Plumber::new(
        w.timed.clone(),
        Arc::new(|f| {
            tokio::spawn(f);
        }),
    )
}

async fn attach_with_gateways(
    plumber: &Plumber<crate::linux::Tb>,
    ns: &NetnsRef,
    i: usize,
    source: Source,
) -> Result<(), String> {
    let attached = plumber
        .attach(ns, p1_spec(i, source))
        .await
        .map_err(|err| format!("attach: {err}"))?;
    if attached.name != "eth0" {
        return Err(format!("attached as {} instead of eth0", attached.name));
    }
    gateways(plumber, ns).await
}

/// The default routes v4/v6 via the bridge's addresses (what ip-batch-direct adds).
async fn gateways(plumber: &Plumber<crate::linux::Tb>, ns: &NetnsRef) -> Result<(), String> {
    for gw in [GW4, GW6] {
        let ip: IpAddr = gw.parse().map_err(e("gateway"))?;
        plumber
            .set_gateway(ns, Some(ip))
            .await
            .map_err(|err| format!("gateway {gw}: {err}"))?;
    }
    Ok(())
}

/// Interface i as P1/P2 configure it: eth0 in nb{i}, up, with its MAC, 192.0.2.x/24,
/// fd00:bec:1::x/64, default routes via the bridge's addresses on eth0, the only veth there;
/// its host end `{host_prefix}{i}` up on the bridge.
async fn check_attached(w: &World, i: usize, host_prefix: &str) -> Result<(), String> {
    let b = &w.backend;
    let ns = &w.ns[i];
    let link = b
        .link_by_name(ns, "eth0")
        .await
        .map_err(|err| format!("eth0 missing: {err}"))?;
    let want_mac: MacAddr = mac(i).parse().map_err(e("mac"))?;
    if link.mac != Some(want_mac) {
        return Err(format!("MAC {:?}, want {want_mac}", link.mac));
    }
    if !link.flags.up {
        return Err("eth0 is down".into());
    }
    let veths = b
        .list_links(ns)
        .await
        .map_err(e("list links"))?
        .iter()
        .filter(|l| l.kind == LinkKind::Veth)
        .count();
    if veths != 1 {
        return Err(format!("{veths} veths in the namespace, want 1"));
    }
    let spec = p1_spec(i, Source::HostLink(String::new()));
    let addrs = b
        .list_addresses(ns, Some(link.index))
        .await
        .map_err(e("list addresses"))?;
    for want in [spec.ipv4, spec.ipv6].into_iter().flatten() {
        let net: IpNet = want.parse().map_err(e("address"))?;
        if !addrs.iter().any(|a| a.net == net) {
            return Err(format!("address {net} missing on eth0"));
        }
    }
    for (family, gw) in [(Family::V4, GW4), (Family::V6, GW6)] {
        let gw: IpAddr = gw.parse().map_err(e("gateway"))?;
        let routes = b.list_routes(ns, family).await.map_err(e("list routes"))?;
        let found = routes
            .iter()
            .any(|r| r.dst.prefix_len() == 0 && r.gateway == Some(gw) && r.oif == Some(link.index));
        if !found {
            return Err(format!("no default route via {gw} on eth0"));
        }
    }
    let host = b
        .link_by_name(&NetnsRef::Host, &format!("{host_prefix}{i}"))
        .await
        .map_err(|err| format!("host end {host_prefix}{i} missing: {err}"))?;
    if host.master != Some(w.bridge) || !host.flags.up {
        return Err(format!(
            "host end {host_prefix}{i}: master {:?} up {}, want the bridge and up",
            host.master, host.flags.up
        ));
    }
    Ok(())
}

async fn verify_attached(w: &World, n: usize, host_prefix: &str, what: &str) -> Result<(), String> {
    let mut failures = Vec::new();
    for i in 0..n {
        if let Err(err) = check_attached(w, i, host_prefix).await {
            failures.push(format!("{i}: {err}"));
        }
    }
    fail_if_any(&format!("{what}: check after the batch"), &failures)
}

/// After teardown: no veth in any of the N namespaces, no port left on the bridge.
async fn verify_clean(w: &World, n: usize, what: &str) -> Result<(), String> {
    let b = &w.backend;
    let mut failures = Vec::new();
    for (i, ns) in w.ns[..n].iter().enumerate() {
        match b.list_links(ns).await {
            Ok(links) => {
                let left: Vec<&str> = links
                    .iter()
                    .filter(|l| l.kind == LinkKind::Veth)
                    .map(|l| l.name.as_str())
                    .collect();
                if !left.is_empty() {
                    failures.push(format!("{i}: left behind {left:?}"));
                }
            }
            Err(err) => failures.push(format!("{i}: list links: {err}")),
        }
    }
    let ports: Vec<String> = b
        .list_links(&NetnsRef::Host)
        .await
        .map_err(e("list host links"))?
        .into_iter()
        .filter(|l| l.master == Some(w.bridge))
        .map(|l| l.name)
        .collect();
    if !ports.is_empty() {
        failures.push(format!("bridge ports left: {ports:?}"));
    }
    fail_if_any(&format!("{what}: check after teardown"), &failures)
}

/// P1B: per level, N concurrent P1 attaches + gateways (cold namespaces), checked; then N
/// concurrent `Plumber::detach`, checked.
pub async fn p1(
    w: &World,
    n: usize,
    levels: &[Concurrency],
    report: &mut Report,
) -> Result<(), String> {
    for &c in levels {
        let k = c.in_flight(n);
        let label = c.label();
        let plumber = fresh_plumber(w);
        w.cold();
        w.timed.take();
        let src = veth_src("nbt");
        let attach = if c == Concurrency::Many {
            run_many(&plumber, w, n, src).await
        } else {
            run_bounded(n, k, |i| {
                let (plumber, ns, source) = (&plumber, &w.ns[i], src(i));
                async move { attach_with_gateways(plumber, ns, i, source).await }
            })
            .await
        };
        let profile = w.timed.take();
        fail_if_any(&format!("P1 batch {label}"), &attach.failures)?;
        // Checked before anything is reported: a wrong batch gives no figure.
        verify_attached(w, n, "nbt", &format!("P1 batch {label}")).await?;
        report.push(Figure::batch(
            &format!("P1.batch.{label}"),
            &format!(
                "P1 attach + gateways, {} through one Plumber: wall time / N (throughput)",
                c.describe(n)
            ),
            attach.wall,
            n,
        ));
        if !attach.latencies.is_empty() {
            report.push(Figure::from_durations(
                &format!("P1.batch.{label}.latency"),
                &format!("P1 attach + gateways, {}: latency of each", c.describe(n)),
                &attach.latencies,
            ));
        }
        report.push(Figure::batch(
            &format!("P1.batch.{label}.cpu"),
            &format!(
                "P1 attach + gateways, {}: this process's CPU time (user + sys) / N",
                c.describe(n)
            ),
            attach.cpu,
            n,
        ));
        report.push(Figure::batch(
            &format!("P1.batch.{label}.cpu-user"),
            &format!(
                "P1 attach + gateways, {}: of which user space (nsplumb's own code) / N",
                c.describe(n)
            ),
            attach.cpu_user,
            n,
        ));
        report.profiles.push(Profile::new(
            &format!(
                "P1 batch {label} (concurrent: call times overlap, their sum exceeds the wall)"
            ),
            n,
            attach.wall,
            profile,
        ));

        let ifs: Vec<NetnsRef> = w.ns[..n].to_vec();
        let detach = run_bounded(n, k, |i| {
            let (plumber, ns) = (&plumber, &ifs[i]);
            async move {
                plumber
                    .detach(ns, "eth0")
                    .await
                    .map_err(|err| format!("detach: {err}"))
            }
        })
        .await;
        w.timed.take();
        fail_if_any(&format!("P4 concurrent detach {label}"), &detach.failures)?;
        verify_clean(w, n, &format!("P1 batch {label}")).await?;
        if c == Concurrency::Many {
            continue; // the same detaches as `all`: no second figure
        }
        report.push(Figure::batch(
            &format!("P4.detach.{label}"),
            &format!(
                "P4 Plumber::detach, {} through one Plumber: wall time / N (throughput)",
                c.describe(n)
            ),
            detach.wall,
            n,
        ));
    }
    Ok(())
}

/// P2B: per level, N veth pairs created in the host (host end on the bridge, up) with K in
/// flight, then N concurrent move-path attaches + gateways; checked, then removed with one
/// link-group delete (untimed) and checked.
pub async fn p2(
    w: &World,
    n: usize,
    levels: &[Concurrency],
    report: &mut Report,
) -> Result<(), String> {
    for &c in levels {
        let k = c.in_flight(n);
        let label = c.label();
        let plumber = fresh_plumber(w);
        w.cold();
        w.timed.take();
        let bridge: IfIndex = w.bridge;
        let create = run_bounded(n, k, |i| {
            let timed = &w.timed;
            async move {
                let req = VethRequest {
                    host_name: format!("nbu{i}"),
                    host_master: Some(bridge),
                    host_up: true,
                    peer_netns: NetnsRef::Host,
                    peer_name: format!("nbq{i}"),
                    peer_mac: None,
                    mtu: None,
                };
                timed
                    .create_veth(&NetnsRef::Host, &req)
                    .await
                    .map(|_| ())
                    .map_err(|err| format!("create veth: {err}"))
            }
        })
        .await;
        fail_if_any(
            &format!("P2 batch {label}: veth creation"),
            &create.failures,
        )?;
        let attach = if c == Concurrency::Many {
            run_many(&plumber, w, n, |i| Source::HostLink(format!("nbq{i}"))).await
        } else {
            run_bounded(n, k, |i| {
                let (plumber, ns) = (&plumber, &w.ns[i]);
                async move {
                    attach_with_gateways(plumber, ns, i, Source::HostLink(format!("nbq{i}"))).await
                }
            })
            .await
        };
        let profile = w.timed.take();
        fail_if_any(&format!("P2 batch {label}: attach"), &attach.failures)?;
        verify_attached(w, n, "nbu", &format!("P2 batch {label}")).await?;
        report.push(Figure::batch(
            &format!("P2.batch.{label}"),
            &format!(
                "P2 veth creation + move-path attach + gateways, {} (creation, then attaches): wall time / N (throughput)",
                c.describe(n)
            ),
            create.wall + attach.wall,
            n,
        ));
        report.push(Figure::batch(
            &format!("P2.batch.{label}.attach"),
            &format!(
                "P2 move-path attach + gateways alone, {}: wall time / N",
                c.describe(n)
            ),
            attach.wall,
            n,
        ));
        if !attach.latencies.is_empty() {
            report.push(Figure::from_durations(
                &format!("P2.batch.{label}.latency"),
                &format!(
                    "P2 move-path attach + gateways, {}: latency of each",
                    c.describe(n)
                ),
                &attach.latencies,
            ));
        }
        report.push(Figure::batch(
            &format!("P2.batch.{label}.cpu"),
            &format!(
                "P2 veth creation + move-path attach + gateways, {}: this process's CPU time (user + sys) / N",
                c.describe(n)
            ),
            create.cpu + attach.cpu,
            n,
        ));
        report.profiles.push(Profile::new(
            &format!("P2 batch {label}, creation + attach (concurrent: call times overlap)"),
            n,
            create.wall + attach.wall,
            profile,
        ));
        let hosts: Vec<String> = (0..n).map(|i| format!("nbu{i}")).collect();
        w.batch_cleanup(&hosts, &[]).await;
        w.timed.take();
        verify_clean(w, n, &format!("P2 batch {label}")).await?;
    }
    Ok(())
}
