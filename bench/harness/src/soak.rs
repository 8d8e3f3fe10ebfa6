//! Soak (SPEC R1): many attach/detach lifecycles on the real kernel, through one long-lived
//! `Plumber<LinuxBackend>` and then through the `nsplumb` CLI (one process per command), across
//! namespaces, with announcements on. Prints the process's open fds, threads and RSS at the
//! start (after a warm-up that opens each namespace's sockets once) and at the end, and
//! compares the kernel (links and addresses of the host and every namespace, the namespaces
//! themselves) and the CLI's state files with how they were before. Any growth or leftover is
//! a leak: an error, so `--check` runs fail CI.
//!
//! Runs in the private namespaces `main.rs` re-executes into: the bridge, the host links and
//! the namespaces are this run's own.

use crate::linux::e;
use ipnet::IpNet;
use nsplumb_core::{
    BackendExt, Destination, NetnsAdmin, NetnsRef, Plumber, Source, Spec, VethRequest,
};
use nsplumb_linux::LinuxBackend;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BRIDGE: &str = "br-soak";

pub struct Opts {
    /// Lifecycles through the in-process Plumber.
    pub plumber: usize,
    /// Lifecycles through the CLI.
    pub cli: usize,
    pub namespaces: usize,
    /// The `nsplumb` binary.
    pub nsplumb: PathBuf,
}

/// What the process holds at one moment.
#[derive(Debug, Clone, Copy)]
struct Usage {
    fds: usize,
    threads: usize,
    rss_kib: u64,
}

impl Usage {
    fn now() -> Usage {
        let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Usage {
            fds,
            threads: field("Threads:") as usize,
            rss_kib: field("VmRSS:"),
        }
    }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fds {}, threads {}, RSS {:.1} MiB",
            self.fds,
            self.threads,
            self.rss_kib as f64 / 1024.0
        )
    }
}

struct World {
    backend: LinuxBackend,
    namespaces: Vec<NetnsRef>,
    netns_dir: PathBuf,
}

/// How lifecycle `i` gets its link in: the three ways, in turn.
fn source(i: usize, k: usize) -> (Source, &'static str) {
    match i % 3 {
        0 => (
            Source::VethOnBridge {
                bridge: BRIDGE.into(),
                host_name: format!("vsk{k}"),
            },
            "--veth-on-bridge",
        ),
        1 => (Source::HostLink(format!("hs{k}")), "--link"),
        _ => (Source::CreatedInNamespace(format!("cs{k}")), "--link"),
    }
}

fn spec(i: usize, k: usize) -> Spec {
    let mut s = Spec::new(source(i, k).0, Destination::Name("eth0".into()));
    s.ipv4 = Some(format!("192.0.2.{}/24", 10 + k));
    s.ipv6 = Some(format!("fd00:50a::{:x}/64", 10 + k));
    s.announce_count = 3;
    s.announce_interval = Duration::from_millis(100);
    s
}

impl World {
    async fn new(namespaces: usize) -> Result<World, String> {
        let backend = LinuxBackend::new().map_err(e("open the Linux backend"))?;
        crate::linux::host_bridge(&backend, BRIDGE, &[("192.0.2.1/24".into(), false)]).await?;
        let mut w = World {
            backend,
            namespaces: Vec::new(),
            netns_dir: std::env::var_os("NSPLUMB_NETNS_DIR")
                .map(PathBuf::from)
                .ok_or("NSPLUMB_NETNS_DIR is not set (the run re-executes itself)")?,
        };
        for k in 0..namespaces {
            let ns = w
                .backend
                .create_netns(&format!("soak{k}"))
                .await
                .map_err(e("create a namespace"))?;
            let lo = w.backend.link_by_name(&ns, "lo").await.map_err(e("lo"))?;
            w.backend
                .set_link_up(&ns, lo.index)
                .await
                .map_err(e("lo up"))?;
            // A host link to move in (its peer up, for a carrier) and one born in the namespace.
            for (at, name, peer) in [
                (NetnsRef::Host, format!("hs{k}"), format!("hp{k}")),
                (ns.clone(), format!("cs{k}"), format!("cp{k}")),
            ] {
                let pair = w
                    .backend
                    .create_veth(
                        &at,
                        &VethRequest {
                            host_name: name,
                            host_master: None,
                            host_up: false,
                            peer_netns: at.clone(),
                            peer_name: peer,
                            peer_mac: None,
                            mtu: None,
                        },
                    )
                    .await
                    .map_err(e("create a veth pair"))?;
                w.backend
                    .set_link_up(&at, pair.peer_index)
                    .await
                    .map_err(e("veth peer up"))?;
            }
            w.namespaces.push(ns);
        }
        Ok(w)
    }

    /// Links (name, kind) and addresses (without the kernel's own fe80:: ones) of the host and
    /// every namespace, and the namespaces mounted in the run's directory.
    async fn kernel(&self) -> Result<BTreeSet<String>, String> {
        let mut seen = BTreeSet::new();
        for ns in std::iter::once(&NetnsRef::Host).chain(&self.namespaces) {
            let links = self.backend.list_links(ns).await.map_err(e("list links"))?;
            for l in &links {
                seen.insert(format!(
                    "{ns} link {} {:?} up={}",
                    l.name, l.kind, l.flags.up
                ));
            }
            for a in self
                .backend
                .list_addresses(ns, None)
                .await
                .map_err(e("list addresses"))?
            {
                let link_local =
                    matches!(a.net, IpNet::V6(v6) if v6.addr().is_unicast_link_local());
                if !link_local {
                    let name = links.iter().find(|l| l.index == a.index).map(|l| &l.name);
                    seen.insert(format!("{ns} addr {name:?} {}", a.net));
                }
            }
        }
        for entry in std::fs::read_dir(&self.netns_dir).map_err(e("read the netns dir"))? {
            let entry = entry.map_err(e("read the netns dir"))?;
            seen.insert(format!("netns {}", entry.file_name().to_string_lossy()));
        }
        Ok(seen)
    }
}

impl World {
    /// A link created in the namespace stays there after detach with the addresses the attach
    /// gave it (SPEC D1 removes none), and attaching it again with the same address fails
    /// (EEXIST): they are removed here, as the owner of such a link would, before the next
    /// lifecycle. Nothing else may be on it.
    async fn drop_kept_addresses(&self, i: usize, k: usize) -> Result<(), String> {
        let (Source::CreatedInNamespace(name), _) = source(i, k) else {
            return Ok(());
        };
        let ns = &self.namespaces[k];
        let link = self
            .backend
            .link_by_name(ns, &name)
            .await
            .map_err(e("link"))?;
        let ours = [
            format!("192.0.2.{}/24", 10 + k),
            format!("fd00:50a::{:x}/64", 10 + k),
        ];
        for a in self
            .backend
            .list_addresses(ns, Some(link.index))
            .await
            .map_err(e("list addresses"))?
        {
            if matches!(a.net, IpNet::V6(v6) if v6.addr().is_unicast_link_local()) {
                continue;
            }
            if !ours.contains(&a.net.to_string()) {
                return Err(format!(
                    "{name} in {ns} has {} that nsplumb never gave it",
                    a.net
                ));
            }
            self.backend
                .del_address(ns, link.index, a.net)
                .await
                .map_err(e("delete a kept address"))?;
        }
        Ok(())
    }
}

/// Processes still running the `nsplumb` binary (an announcer left behind would be one).
fn nsplumb_processes(binary: &Path) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter(|p| {
            p.file_name().to_string_lossy().parse::<u32>().is_ok()
                && std::fs::read_link(p.path().join("exe")).is_ok_and(|exe| exe == binary)
        })
        .count()
}

/// Interface records and pending intents left in the CLI's state files.
fn state_leftovers(state: &Path) -> Result<Vec<String>, String> {
    let mut left = Vec::new();
    for entry in std::fs::read_dir(state).map_err(e("read the state dir"))? {
        let path = entry.map_err(e("read the state dir"))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if !(name.starts_with("ns-") && name.ends_with(".json")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(e("read a state file"))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(e("parse a state file"))?;
        for key in ["interfaces", "pending"] {
            let n = v[key].as_array().map_or(0, |a| a.len());
            if n > 0 {
                left.push(format!("{name}: {n} {key}"));
            }
        }
    }
    Ok(left)
}

fn diff(before: &BTreeSet<String>, after: &BTreeSet<String>) -> String {
    let gone: Vec<_> = before.difference(after).collect();
    let new: Vec<_> = after.difference(before).collect();
    format!("gone {gone:?}, new {new:?}")
}

async fn plumber_lifecycles(
    w: &World,
    plumber: &Plumber<LinuxBackend>,
    range: std::ops::Range<usize>,
) -> Result<(), String> {
    for i in range {
        let k = i % w.namespaces.len();
        let ns = &w.namespaces[k];
        plumber
            .attach(ns, spec(i / w.namespaces.len(), k))
            .await
            .map_err(|err| format!("lifecycle {i}: attach in {ns}: {err}"))?;
        plumber
            .detach(ns, "eth0")
            .await
            .map_err(|err| format!("lifecycle {i}: detach in {ns}: {err}"))?;
        w.drop_kept_addresses(i / w.namespaces.len(), k).await?;
    }
    Ok(())
}

fn cli_lifecycle(w: &World, opts: &Opts, state: &Path, i: usize) -> Result<(), String> {
    let k = i % w.namespaces.len();
    let ns = format!("soak{k}");
    let (src, flag) = source(i / w.namespaces.len(), k);
    let value = match &src {
        Source::VethOnBridge { .. } => BRIDGE.to_string(),
        other => other.name().to_string(),
    };
    let (ipv4, ipv6) = (
        format!("192.0.2.{}/24", 10 + k),
        format!("fd00:50a::{:x}/64", 10 + k),
    );
    let mut attach = vec!["attach", "--netns", &ns, flag, &value];
    if matches!(src, Source::CreatedInNamespace(_)) {
        attach.push("--created-in-netns");
    }
    attach.extend([
        "--name",
        "eth0",
        "--ipv4",
        &ipv4,
        "--ipv6",
        &ipv6,
        "--announce-count",
        "3",
        "--announce-interval-ms",
        "100",
    ]);
    for args in [attach, vec!["detach", "--netns", &ns, "--name", "eth0"]] {
        let out = std::process::Command::new(&opts.nsplumb)
            .args(["--backend", "linux"])
            .args(&args)
            .env("NSPLUMB_STATE_DIR", state)
            .env_remove("RUST_LOG")
            .output()
            .map_err(e("run nsplumb"))?;
        if !out.status.success() {
            return Err(format!(
                "CLI lifecycle {i}: nsplumb {args:?}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}

/// Runs the soak; prints the figures; an error names the first failure or leak.
pub async fn run(opts: &Opts) -> Result<(), String> {
    let w = World::new(opts.namespaces).await?;
    let kernel_before = w.kernel().await?;
    let plumber = Plumber::new(
        Arc::new(w.backend.clone()),
        Arc::new(|f| {
            tokio::spawn(f);
        }),
    );
    // Warm-up: one lifecycle of each kind in each namespace opens the sockets that are kept.
    let warm = 3 * opts.namespaces;
    plumber_lifecycles(&w, &plumber, 0..warm).await?;
    let start = Usage::now();
    println!(
        "soak: {} Plumber lifecycles, {} CLI lifecycles, {} namespaces, announcements 3 x 100 ms",
        opts.plumber, opts.cli, opts.namespaces
    );
    println!("soak: Plumber start (after {warm} warm-up lifecycles): {start}");
    let t = Instant::now();
    let step = (opts.plumber / 10).max(1);
    let mut done = 0;
    while done < opts.plumber {
        let next = (done + step).min(opts.plumber);
        plumber_lifecycles(&w, &plumber, warm + done..warm + next).await?;
        done = next;
        println!(
            "soak: Plumber {done:>6} lifecycles, {:6.1} s: {}",
            t.elapsed().as_secs_f64(),
            Usage::now()
        );
    }
    let plumber_secs = t.elapsed().as_secs_f64();
    let peak = Usage::now();
    println!(
        "soak: Plumber end: {peak} ({:.2} ms per lifecycle)",
        plumber_secs * 1e3 / opts.plumber.max(1) as f64
    );
    // The Linux backend keeps an announcement's sender sockets until they sit unused for
    // SENDER_IDLE (15 s) and prunes them when it opens the next one; each new veth is a new
    // key, so right after a burst it holds about one socket per veth attached in the last 15 s.
    // Bounded by time, not by count: wait that long, run one more lifecycle of each kind in
    // each namespace (which prunes), and hold the figures then to the start's.
    tokio::time::sleep(Duration::from_secs(16)).await;
    let settle = warm + opts.plumber;
    plumber_lifecycles(&w, &plumber, settle..settle + warm).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let end = Usage::now();
    println!("soak: Plumber end, after 16 s idle and {warm} more lifecycles: {end}");
    let kernel_after = w.kernel().await?;
    let mut leaks = Vec::new();
    if kernel_after != kernel_before {
        leaks.push(format!(
            "kernel after the Plumber lifecycles: {}",
            diff(&kernel_before, &kernel_after)
        ));
    }
    if end.fds > start.fds {
        leaks.push(format!("open fds {} -> {}", start.fds, end.fds));
    }
    if end.threads > start.threads + 4 {
        leaks.push(format!("threads {} -> {}", start.threads, end.threads));
    }
    // The allocator keeps some memory: more than 16 MiB over thousands of lifecycles is a leak.
    if end.rss_kib > start.rss_kib + 16 * 1024 {
        leaks.push(format!("RSS {} -> {} KiB", start.rss_kib, end.rss_kib));
    }

    if opts.cli > 0 {
        let state = std::env::temp_dir().join(format!("nsplumb-soak-{}", std::process::id()));
        std::fs::create_dir_all(&state).map_err(e("create the state dir"))?;
        let before = nsplumb_processes(&opts.nsplumb);
        let t = Instant::now();
        let mut result = Ok(());
        for i in 0..opts.cli {
            result = cli_lifecycle(&w, opts, &state, i);
            if result.is_ok() {
                let k = i % w.namespaces.len();
                result = w.drop_kept_addresses(i / w.namespaces.len(), k).await;
            }
            if result.is_err() {
                break;
            }
            if (i + 1) % (opts.cli / 5).max(1) == 0 {
                println!(
                    "soak: CLI {:>5} lifecycles, {:6.1} s",
                    i + 1,
                    t.elapsed().as_secs_f64()
                );
            }
        }
        let cli_secs = t.elapsed().as_secs_f64();
        let left = state_leftovers(&state);
        let _ = std::fs::remove_dir_all(&state);
        result?;
        println!(
            "soak: CLI: {:.1} ms per lifecycle (attach + detach, two processes)",
            cli_secs * 1e3 / opts.cli as f64
        );
        let left = left?;
        if !left.is_empty() {
            leaks.push(format!("CLI state files: {left:?}"));
        }
        let after = nsplumb_processes(&opts.nsplumb);
        println!("soak: nsplumb processes running: {before} before, {after} after");
        if after > before {
            leaks.push(format!("{} nsplumb processes left running", after - before));
        }
        let kernel_cli = w.kernel().await?;
        if kernel_cli != kernel_before {
            leaks.push(format!(
                "kernel after the CLI lifecycles: {}",
                diff(&kernel_before, &kernel_cli)
            ));
        }
    }
    println!(
        "soak: kernel: {} links/addresses/namespaces before and after",
        kernel_before.len()
    );
    if leaks.is_empty() {
        println!("soak: no leak");
        Ok(())
    } else {
        Err(format!("soak: LEAK: {}", leaks.join("; ")))
    }
}
