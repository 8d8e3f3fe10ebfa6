//! The effect runner and the terminal loop.

use super::model::{Effect, LinkRow, Model, Msg, Snapshot};
use super::{update, view};
use crate::cli::BackendKind;
use crate::simworld::SimWorld;
use crate::tokio_spawner;
use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event as CtEvent};
use futures::StreamExt;
use nsplumb_core::BackendExt;
use nsplumb_core::{NetnsRef, Plumber, Source};
use nsplumb_host::{paths, AnnouncedBy, AttachRequest, HostBackend, Store};
use nsplumb_linux::LinuxBackend;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::unbounded_channel;

/// How often the links and counters are re-read.
pub const REFRESH: Duration = Duration::from_millis(500);

/// Logs go to `$NSPLUMB_STATE_DIR/nsplumb.log`, never to the terminal under the TUI.
fn init_file_logging(dir: &std::path::Path) {
    let _ = std::fs::create_dir_all(dir);
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("nsplumb.log"))
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Arc::new(file))
        .try_init();
}

pub async fn run_tui(kind: BackendKind) -> Result<(), String> {
    match kind {
        BackendKind::Sim => {
            init_file_logging(&paths::sim_state_dir());
            let world = SimWorld::new(1).await?;
            world.spawn_pacer();
            let plumber = Plumber::new(world.backend.clone(), tokio_spawner());
            let ctx = Runner::new(
                plumber,
                Store::None,
                Some(world),
                Arc::new(NetnsRef::from_name_or_path),
            );
            event_loop(ctx, Model::new("simulator", true)).await
        }
        BackendKind::Linux => {
            let dir = paths::state_dir("/run/nsplumb");
            init_file_logging(&dir);
            let backend =
                LinuxBackend::new().map_err(|e| format!("cannot open the Linux backend: {e}"))?;
            let netns_dir = backend.netns_dir().to_path_buf();
            let backend = Arc::new(backend);
            let plumber = Plumber::new(backend.clone(), tokio_spawner());
            let mut ctx = Runner::new(
                plumber,
                Store::Linux { dir },
                None,
                Arc::new(move |s: &str| crate::resolve_in(&netns_dir, s)),
            );
            ctx.discover_host = true;
            // Detaches from other processes ask the TUI to stop its announcements (S8).
            nsplumb_host::cancel::spawn_listener(ctx.store.clone(), ctx.plumber.clone())
                .map_err(|e| format!("cannot listen for cancel requests (SIGUSR1): {e}"))?;
            ctx.announce_on_request = true;
            // A cached netlink socket keeps its namespace alive: close those of namespaces
            // that went away (processes that exited, `ip netns del`).
            ctx.forget_netns = Some(Arc::new(move |n: &NetnsRef| backend.forget_netns(n)));
            event_loop(ctx, Model::new("linux", false)).await
        }
    }
}

/// Called with a namespace (e.g. one that went away).
pub type NetnsHook = Arc<dyn Fn(&NetnsRef) + Send + Sync>;
/// `NAME` or path → namespace.
pub type Resolver = Arc<dyn Fn(&str) -> NetnsRef + Send + Sync>;

/// Runs effects against a plumber.
pub struct Runner<B: HostBackend> {
    pub plumber: Plumber<B>,
    pub store: Arc<Store>,
    pub sim: Option<SimWorld>,
    pub resolve: Resolver,
    /// Linux: also find namespaces of Docker and of running processes.
    pub discover_host: bool,
    /// Called for a namespace that is no longer there.
    pub forget_netns: Option<NetnsHook>,
    /// Record this process as the announcer of what it attaches, to be asked to cancel by a
    /// detach from another process (set once [`nsplumb_host::cancel::spawn_listener`] runs).
    pub announce_on_request: bool,
    seen: Arc<std::sync::Mutex<Vec<NetnsRef>>>,
}

impl<B: HostBackend> Runner<B> {
    pub fn new(
        plumber: Plumber<B>,
        store: Store,
        sim: Option<SimWorld>,
        resolve: Resolver,
    ) -> Runner<B> {
        Runner {
            plumber,
            store: Arc::new(store),
            sim,
            resolve,
            discover_host: false,
            forget_netns: None,
            announce_on_request: false,
            seen: Arc::default(),
        }
    }
}

impl<B: HostBackend> Clone for Runner<B> {
    fn clone(&self) -> Self {
        Runner {
            plumber: self.plumber.clone(),
            store: self.store.clone(),
            sim: self.sim.clone(),
            resolve: self.resolve.clone(),
            discover_host: self.discover_host,
            forget_netns: self.forget_netns.clone(),
            announce_on_request: self.announce_on_request,
            seen: self.seen.clone(),
        }
    }
}

/// Every namespace on the host: the backend's list, `/var/run/docker/netns/*` and the
/// namespaces of running processes, deduplicated by (device, inode); the host's own first.
pub fn discover_namespaces(listed: Vec<NetnsRef>) -> Vec<NetnsRef> {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut add = |r: NetnsRef| {
        let path = match &r {
            NetnsRef::Host => "/proc/self/ns/net".to_string(),
            NetnsRef::Path(p) => p.to_string(),
        };
        let Ok(md) = std::fs::metadata(&path) else {
            return;
        };
        if seen.insert((md.dev(), md.ino())) {
            out.push(r);
        }
    };
    add(NetnsRef::Host);
    for r in listed {
        add(r);
    }
    for dir in ["/var/run/docker/netns", "/run/docker/netns"] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut v: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            v.sort();
            for p in v {
                add(NetnsRef::path(p.to_string_lossy().into_owned()));
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir("/proc") {
        let mut pids: Vec<u32> = rd
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort();
        for pid in pids {
            add(NetnsRef::path(format!("/proc/{pid}/ns/net")));
        }
    }
    out
}

impl<B: HostBackend> Runner<B> {
    /// Read every namespace, link, address and counter.
    pub async fn snapshot(&self) -> Snapshot {
        let backend = self.plumber.backend();
        let listed = backend
            .list_netns()
            .await
            .unwrap_or_else(|_| vec![NetnsRef::Host]);
        let namespaces = if self.discover_host {
            discover_namespaces(listed)
        } else {
            listed
        };
        if let Some(forget) = &self.forget_netns {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            for gone in seen.iter().filter(|n| !namespaces.contains(n)) {
                forget(gone);
            }
            *seen = namespaces.clone();
        }
        let mut links = Vec::new();
        let mut stats = Vec::new();
        for ns in &namespaces {
            // Interfaces attached or detached by other processes (Linux state files).
            if let Err(e) = nsplumb_host::refresh(&self.store, &self.plumber, ns).await {
                tracing::warn!(netns = %ns, "{e}");
            }
            let Ok(views) = self.plumber.list(ns).await else {
                continue;
            };
            let names: HashMap<u32, String> = views
                .iter()
                .map(|v| (v.link.index, v.link.name.clone()))
                .collect();
            for v in views {
                let l = &v.link;
                let first = |v4: bool| {
                    v.addresses
                        .iter()
                        .filter(|a| a.net.addr().is_ipv4() == v4)
                        .find(|a| v4 || !matches!(a.net.addr(), std::net::IpAddr::V6(x) if x.segments()[0] & 0xffc0 == 0xfe80))
                        .map(|a| a.net.to_string())
                };
                if let Some(s) = l.stats.as_deref() {
                    stats.push(((ns.clone(), l.name.clone()), *s));
                }
                links.push(LinkRow {
                    netns: ns.clone(),
                    index: l.index,
                    name: l.name.clone(),
                    kind: l.kind.as_str().to_string(),
                    up: l.flags.up,
                    lower_up: l.flags.lower_up,
                    mac: l.mac.map(|m| m.to_string()),
                    ipv4: first(true),
                    ipv6: first(false),
                    master: l
                        .master
                        .map(|m| names.get(&m).cloned().unwrap_or_else(|| format!("if{m}"))),
                    peer: l.peer.as_ref().map(|p| match &p.netns {
                        Some(n) if n != ns => format!("{}@{}", p.index, super::model::ns_label(n)),
                        _ => format!("if{}", p.index),
                    }),
                    managed: v.managed_source.clone(),
                    mtu: l.mtu,
                    port: l.port_flags.map(super::model::port_label),
                });
            }
        }
        Snapshot {
            namespaces,
            links,
            stats,
            at: backend.now(),
        }
    }

    /// Run one effect; the result line goes to the status bar and the log.
    pub async fn run_effect(&self, effect: Effect) -> Result<String, String> {
        let p = &self.plumber;
        match effect {
            Effect::Attach {
                netns,
                mut spec,
                gateway,
            } => {
                if let Source::VethOnBridge { host_name, .. } = &mut spec.source {
                    *host_name = nsplumb_host::veth_host_name();
                }
                // Still announcing after attach: recorded so that a detach from another
                // process asks this one to cancel first (S8), never kills it.
                let announced_by = match self.announce_on_request {
                    true => AnnouncedBy::ThisProcessOnRequest,
                    false => AnnouncedBy::Unrecorded,
                };
                let request = AttachRequest {
                    gateways: gateway.into_iter().collect(),
                    announced_by,
                    ..AttachRequest::new(netns.clone(), *spec)
                };
                let outcome = nsplumb_host::attach(&self.store, p, request)
                    .await
                    .map_err(|e| e.to_string())?;
                let a = &outcome.attached;
                let mut msg = format!(
                    "attached {} as {} in {}",
                    a.source,
                    a.name,
                    netns.short_name()
                );
                for gw in &outcome.gateways {
                    msg.push_str(&format!(", gateway {gw}"));
                }
                if let (Some(announcing), true) = (outcome.announcing, self.announce_on_request) {
                    let store = self.store.clone();
                    tokio::spawn(async move { announcing.finish(&store).await });
                }
                Ok(msg)
            }
            Effect::Detach { netns, name } => {
                nsplumb_host::detach(&self.store, p, &netns, &name)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("detached {name} from {}", netns.short_name()))
            }
            Effect::SetSysctl {
                netns,
                iface,
                path,
                value,
            } => {
                let b = p.backend();
                let cur = b.read_sysctl(&netns, &path).await.map_err(|e| {
                    format!(
                        "unable to read '{path}' for {iface} in {}: {e}",
                        netns.short_name()
                    )
                })?;
                if cur.trim() == value {
                    return Ok(format!("{path} is already {value}"));
                }
                b.write_sysctl(&netns, &path, &value).await.map_err(|e| {
                    format!(
                        "unable to write '{path}' for {iface} in {}: {e}",
                        netns.short_name()
                    )
                })?;
                Ok(format!("{path} = {value} (was {cur})"))
            }
            Effect::SetMac { netns, iface, mac } => {
                let b = p.backend();
                let link = b
                    .link_by_name(&netns, &iface)
                    .await
                    .map_err(|e| format!("cannot find {iface} in {}: {e}", netns.short_name()))?;
                b.set_mac(&netns, link.index, mac).await.map_err(|e| {
                    format!(
                        "failed to set MAC of {iface} in {}: {e}",
                        netns.short_name()
                    )
                })?;
                Ok(format!(
                    "MAC of {iface} in {} is now {mac}",
                    netns.short_name()
                ))
            }
            Effect::SetGateway { netns, gateway } => {
                nsplumb_host::set_gateway(&self.store, p, &netns, gateway)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("gateway {gateway} set in {}", netns.short_name()))
            }
            Effect::InjectFault { op, errno } => match &self.sim {
                Some(w) => {
                    w.inject(op, errno);
                    Ok(format!(
                        "the next {} will fail with {}",
                        op.describe(),
                        errno.name()
                    ))
                }
                None => Err("fault injection is only available on the simulator".into()),
            },
            Effect::Refresh | Effect::Quit => Ok(String::new()),
        }
    }
}

async fn event_loop<B: HostBackend>(runner: Runner<B>, mut model: Model) -> Result<(), String> {
    let (tx, mut rx) = unbounded_channel::<Msg>();
    // Plumber events → messages.
    {
        let mut events = runner.plumber.subscribe();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(e) = events.next().await {
                if tx.send(Msg::Event(Box::new(e))).is_err() {
                    break;
                }
            }
        });
    }
    // Periodic refresh and clock ticks.
    let refresh_now = Arc::new(tokio::sync::Notify::new());
    {
        let runner = runner.clone();
        let tx = tx.clone();
        let notify = refresh_now.clone();
        tokio::spawn(async move {
            loop {
                let s = runner.snapshot().await;
                if tx.send(Msg::Snapshot(s)).is_err() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(REFRESH) => {}
                    _ = notify.notified() => {}
                }
            }
        });
    }
    {
        let backend = runner.plumber.backend().clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if tx.send(Msg::Tick(backend.now())).is_err() {
                    break;
                }
            }
        });
    }
    // Terminal input on its own thread.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let tx = tx.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(true) = event::poll(Duration::from_millis(50)) {
                    let msg = match event::read() {
                        Ok(CtEvent::Key(k)) => Msg::Key(k),
                        Ok(CtEvent::Mouse(m)) => Msg::Mouse(m),
                        Ok(CtEvent::Resize(w, h)) => Msg::Resize(w, h),
                        _ => continue,
                    };
                    if tx.send(msg).is_err() {
                        break;
                    }
                }
            }
        });
    }

    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            stop.store(true, Ordering::Relaxed);
            ratatui::restore();
            return Err(format!(
                "cannot use the terminal for the TUI: {e} (try a subcommand, see --help)"
            ));
        }
    };
    let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    if let Ok(size) = terminal.size() {
        model.size = (size.width, size.height);
    }
    let result: Result<(), String> = async {
        loop {
            terminal
                .draw(|f| view(&model, f))
                .map_err(|e| format!("cannot draw: {e}"))?;
            let Some(first) = rx.recv().await else { break };
            let mut batch = vec![first];
            while let Ok(m) = rx.try_recv() {
                batch.push(m);
            }
            for msg in batch {
                let (m, effects) = update(model, msg);
                model = m;
                for e in effects {
                    match e {
                        Effect::Quit => {}
                        Effect::Refresh => refresh_now.notify_one(),
                        e => {
                            let runner = runner.clone();
                            let tx = tx.clone();
                            let notify = refresh_now.clone();
                            tokio::spawn(async move {
                                let r = runner.run_effect(e).await;
                                let _ = tx.send(Msg::Done(r));
                                notify.notify_one();
                            });
                        }
                    }
                }
            }
            if model.quit {
                break;
            }
        }
        Ok(())
    }
    .await;
    stop.store(true, Ordering::Relaxed);
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    result
}
