//! Cross-crate test support: a recording (call-counting, jittering) backend layer, a harness
//! that runs a [`Plumber`] on the simulator in virtual time, and frame-log helpers.

pub mod timed;

use ipnet::IpNet;
use nsplumb_core::{
    AttachError, Attached, BackendError, DetachError, IfIndex, LinkEvents, MacAddr, NetBackend,
    NetnsAdmin, NetnsRef, Op, Plumber, Reply, Request, Spawner, Spec, Timestamp,
};
use nsplumb_sim::{FaultHandle, Faulty, SimBackend, SimRuntime, Snapshot};
use nsplumb_wire::{parse_frame, Announcement};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A tiny seeded xorshift64* generator for jitter and test data (no external crate).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// A unicast, locally administered MAC.
    pub fn mac(&mut self) -> MacAddr {
        let v = self.next_u64().to_le_bytes();
        MacAddr([(v[0] & 0xfe) | 0x02, v[1], v[2], v[3], v[4], v[5].max(1)])
    }
}

/// One backend call as seen by [`Recording`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: Op,
    pub netns: NetnsRef,
    /// The interface index acted on, when the call names one.
    pub index: Option<IfIndex>,
    pub ok: bool,
    /// Virtual time when the call returned.
    pub at: Timestamp,
    /// Length of the simulator's frame log when the call returned.
    pub frames_after: usize,
}

#[derive(Default)]
struct RecState {
    calls: Vec<Call>,
    count: usize,
    jitter: Option<(Rng, u64)>,
    keep_log: bool,
    /// Namespaces where "set link up" is acknowledged but not done (a link that never comes up).
    swallow_up: Vec<NetnsRef>,
}

/// A `NetBackend` middleware that counts and logs every call (op, namespace, index, outcome,
/// time) and can delay each call by a seeded random virtual-time jitter, to vary how concurrent
/// operations interleave.
pub struct Recording<B> {
    inner: B,
    sim: SimBackend,
    state: Arc<Mutex<RecState>>,
}

impl<B> Recording<B> {
    pub fn new(inner: B, sim: SimBackend) -> Self {
        Recording {
            inner,
            sim,
            state: Arc::new(Mutex::new(RecState {
                keep_log: true,
                ..RecState::default()
            })),
        }
    }

    fn st(&self) -> MutexGuard<'_, RecState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// Number of backend operations called so far (clock reads are not counted).
    pub fn count(&self) -> usize {
        self.st().count
    }

    pub fn calls(&self) -> Vec<Call> {
        self.st().calls.clone()
    }

    pub fn calls_since(&self, from: usize) -> Vec<Call> {
        let st = self.st();
        st.calls[from.min(st.calls.len())..].to_vec()
    }

    pub fn log_len(&self) -> usize {
        self.st().calls.len()
    }

    /// In `netns`, acknowledge "set link up" without doing it: the link never comes up.
    pub fn swallow_set_up(&self, netns: &NetnsRef) {
        self.st().swallow_up.push(netns.clone());
    }

    /// Delay every call by a uniform random `0..max_ms` ms of virtual time (seeded), or stop.
    pub fn set_jitter(&self, jitter: Option<(u64, u64)>) {
        self.st().jitter = jitter.map(|(seed, max)| (Rng::new(seed), max.max(1)));
    }
}

impl<B: NetBackend> Recording<B> {
    async fn wrap<T>(
        &self,
        op: Op,
        netns: &NetnsRef,
        index: Option<IfIndex>,
        f: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        let delay = {
            let mut st = self.st();
            st.count += 1;
            st.jitter
                .as_mut()
                .map(|(rng, max)| Duration::from_millis(rng.below(*max)))
        };
        if let Some(d) = delay.filter(|d| !d.is_zero()) {
            let at = self.inner.now() + d;
            self.inner.sleep_until(at).await;
        }
        let r = f.await;
        let mut st = self.st();
        if st.keep_log {
            let frames_after = self.sim.kernel().frame_log().len();
            st.calls.push(Call {
                op,
                netns: netns.clone(),
                index,
                ok: r.is_ok(),
                at: self.inner.now(),
                frames_after,
            });
        }
        r
    }
}

impl<B: NetBackend> NetBackend for Recording<B> {
    fn now(&self) -> Timestamp {
        self.inner.now()
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        self.inner.sleep_until(deadline).await
    }

    async fn execute(&self, request: &Request) -> Result<Reply, BackendError> {
        let (op, netns, index) = (request.op(), request.netns(), request.index());
        let swallowed =
            matches!(request, Request::SetLinkUp { .. }) && self.st().swallow_up.contains(netns);
        if swallowed {
            return self.wrap(op, netns, index, async { Ok(Reply::Done) }).await;
        }
        self.wrap(op, netns, index, self.inner.execute(request))
            .await
    }

    async fn subscribe_links(&self, netns: &NetnsRef) -> Result<LinkEvents, BackendError> {
        let events = self.inner.subscribe_links(netns);
        self.wrap(Op::SubscribeLinks, netns, None, events).await
    }

    async fn prepare_netns(&self, netns: &NetnsRef) {
        self.inner.prepare_netns(netns).await
    }
}

/// Namespace administration passes through unrecorded: the plumber never calls it.
impl<B: NetnsAdmin> NetnsAdmin for Recording<B> {
    async fn create_netns(&self, name: &str) -> Result<NetnsRef, BackendError> {
        self.inner.create_netns(name).await
    }

    async fn delete_netns(&self, netns: &NetnsRef) -> Result<(), BackendError> {
        self.inner.delete_netns(netns).await
    }

    async fn list_netns(&self) -> Result<Vec<NetnsRef>, BackendError> {
        self.inner.list_netns().await
    }

    async fn netns_cookie(&self, netns: &NetnsRef) -> Result<Option<u64>, BackendError> {
        self.inner.netns_cookie(netns).await
    }
}

/// The runtime's own `Send` spawner (kept under this name for the tests).
pub fn pump_spawner(rt: &SimRuntime) -> Spawner {
    rt.spawner()
}

/// The backend stack the tests drive: recording over fault injection over the simulator.
pub type TestBackend = Recording<Faulty<SimBackend>>;

/// A `Plumber` on the simulator, in virtual time, with fault injection and call recording.
pub struct Harness {
    pub sim: SimBackend,
    pub faults: FaultHandle,
    pub backend: Arc<TestBackend>,
    pub plumber: Plumber<TestBackend>,
    pub rt: SimRuntime,
}

impl Harness {
    pub fn new(seed: u64) -> Harness {
        let sim = SimBackend::new(seed);
        let (faulty, faults) = sim.with_faults(seed ^ 0x5eed);
        let backend = Arc::new(Recording::new(faulty, sim.clone()));
        let rt = SimRuntime::new(sim.clone());
        let spawner = pump_spawner(&rt);
        let plumber = Plumber::new(backend.clone(), spawner);
        Harness {
            sim,
            faults,
            backend,
            plumber,
            rt,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.sim.now()
    }

    pub fn block_on<T: 'static>(&mut self, fut: impl Future<Output = T> + 'static) -> T {
        self.rt.block_on(fut)
    }

    /// Create `/run/netns/NAME` directly in the simulated kernel (not through the recorder).
    pub fn netns(&self, name: &str) -> NetnsRef {
        self.sim
            .kernel()
            .create_netns(name)
            .expect("fresh namespace name")
    }

    pub fn attach(&mut self, netns: &NetnsRef, spec: Spec) -> Result<Attached, AttachError> {
        let p = self.plumber.clone();
        let ns = netns.clone();
        self.rt.block_on(async move { p.attach(&ns, spec).await })
    }

    pub fn detach(&mut self, netns: &NetnsRef, name: &str) -> Result<(), DetachError> {
        let p = self.plumber.clone();
        let ns = netns.clone();
        let name = name.to_string();
        self.rt.block_on(async move { p.detach(&ns, &name).await })
    }

    /// Let virtual time pass, running every background task due meanwhile.
    pub fn advance(&mut self, d: Duration) {
        let b = self.sim.clone();
        let at = self.sim.now() + d;
        self.rt.block_on(async move { b.sleep_until(at).await });
    }

    pub fn snapshot(&self) -> Snapshot {
        self.sim.snapshot()
    }

    /// Backend operations called so far through the plumber.
    pub fn calls(&self) -> usize {
        self.backend.count()
    }

    pub fn frames(&self) -> Vec<Frame> {
        frames(&self.sim)
    }

    pub fn frame_count(&self) -> usize {
        self.sim.kernel().frame_log().len()
    }
}

/// What an announcement frame carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announce {
    Arp {
        sender_mac: MacAddr,
        sender_ip: Ipv4Addr,
        target_ip: Ipv4Addr,
    },
    Na {
        target: Ipv6Addr,
        tll: Option<MacAddr>,
    },
    Other,
}

/// One entry of the simulator's frame log, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Position in the frame log.
    pub pos: usize,
    pub time: Timestamp,
    pub netns: NetnsRef,
    pub index: IfIndex,
    pub ifname: String,
    pub src_mac: MacAddr,
    pub what: Announce,
    pub bytes: Vec<u8>,
}

impl Frame {
    pub fn is_arp(&self) -> bool {
        matches!(self.what, Announce::Arp { .. })
    }
    pub fn is_na(&self) -> bool {
        matches!(self.what, Announce::Na { .. })
    }
}

/// The parsed frame log of a simulator.
pub fn frames(sim: &SimBackend) -> Vec<Frame> {
    frames_from(sim, 0)
}

/// The parsed frame log from position `from` on.
pub fn frames_from(sim: &SimBackend, from: usize) -> Vec<Frame> {
    let k = sim.kernel();
    k.frame_log()
        .iter()
        .enumerate()
        .skip(from)
        .map(|(pos, r)| {
            let (what, src_mac) = match parse_frame(&r.bytes) {
                Some(Announcement::Arp {
                    eth_src,
                    sender_mac,
                    sender_ip,
                    target_ip,
                    ..
                }) => (
                    Announce::Arp {
                        sender_mac,
                        sender_ip,
                        target_ip,
                    },
                    eth_src,
                ),
                Some(Announcement::Na {
                    eth_src, message, ..
                }) => (
                    Announce::Na {
                        target: message.target,
                        tll: message.target_mac(),
                    },
                    eth_src,
                ),
                None => (Announce::Other, MacAddr::ZERO),
            };
            Frame {
                pos,
                time: r.time,
                netns: r.netns.clone(),
                index: r.index,
                ifname: r.ifname.clone(),
                src_mac,
                what,
                bytes: r.bytes.clone(),
            }
        })
        .collect()
}

/// Milliseconds as a `Duration`.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A [`Snapshot`] with interface indices replaced by names: links keyed by name, masters,
/// peers, route output interfaces and neighbour entries by the name of the link they point to.
/// Linux (and the simulator) may give a link a new index when it moves back to its namespace
/// (the old one is kept only when free), so "state after rollback == state before" compares
/// these. The carrier and MAC of a bridge without ports are left out too (they depend on
/// whether a port ever came and went, in Linux as in the simulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormSnapshot {
    pub namespaces: std::collections::BTreeMap<NetnsRef, NormNetns>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormNetns {
    pub links: std::collections::BTreeMap<String, NormLink>,
    pub routes: Vec<NormRoute>,
    pub sysctls: std::collections::BTreeMap<String, String>,
    pub neighbours: Vec<(String, IpAddr, MacAddr, String)>,
}

/// A route: destination, gateway, output link name, scope, metric, `proto kernel`.
pub type NormRoute = (IpNet, Option<IpAddr>, String, &'static str, u32, bool);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormLink {
    /// The link with `master` and `peer` cleared (see the fields below).
    pub link: nsplumb_sim::LinkSnap,
    pub master: Option<String>,
    pub peer: Option<(Option<NetnsRef>, String)>,
}

pub fn normalize(s: &Snapshot) -> NormSnapshot {
    let name_of = |ns: &NetnsRef, idx: IfIndex| -> String {
        s.namespaces
            .get(ns)
            .and_then(|n| n.links.get(&idx))
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("#{idx}"))
    };
    let mut namespaces = std::collections::BTreeMap::new();
    for (r, n) in &s.namespaces {
        let mut links = std::collections::BTreeMap::new();
        for (idx, l) in &n.links {
            let mut link = l.clone();
            // Linux: an empty bridge keeps the carrier it was created with until a port comes
            // and goes (then br_port_state_selection turns it off): history, not state.
            let has_ports = n.links.values().any(|p| p.master == Some(*idx));
            // Likewise its MAC: without a MAC set by the user it follows the lowest port and
            // becomes zero when the last port leaves (br_stp_recalculate_bridge_id).
            if link.bridge.is_some() && !has_ports {
                link.flags.lower_up = false;
                link.flags.running = false;
                link.mac = None;
            }
            // And its IPv6 link-local address: addrconf gives it one the first time the bridge
            // has carrier (say while a port of a failed attach was up) and keeps it: kernel
            // history too, not something nsplumb configured or could take back.
            if link.bridge.is_some() {
                link.addrs.retain(|a| !is_ipv6_link_local(&a.net));
            }
            let master = link.master.take().map(|m| name_of(r, m));
            let peer = link.peer.take().map(|p| {
                let name = p
                    .netns
                    .as_ref()
                    .map(|pn| name_of(pn, p.index))
                    .unwrap_or_else(|| format!("#{}", p.index));
                (p.netns, name)
            });
            links.insert(l.name.clone(), NormLink { link, master, peer });
        }
        let is_bridge = |idx: IfIndex| n.links.get(&idx).is_some_and(|l| l.bridge.is_some());
        let mut routes: Vec<_> = n
            .routes
            .iter()
            .filter(|rt| !(rt.kernel && is_bridge(rt.oif) && is_ipv6_link_local(&rt.dst)))
            .map(|rt| {
                (
                    rt.dst,
                    rt.gateway,
                    name_of(r, rt.oif),
                    rt.scope,
                    rt.metric,
                    rt.kernel,
                )
            })
            .collect();
        routes.sort();
        let mut neighbours: Vec<_> = n
            .neighbours
            .iter()
            .map(|e| (name_of(r, e.index), e.ip, e.mac, format!("{:?}", e.state)))
            .collect();
        neighbours.sort();
        namespaces.insert(
            r.clone(),
            NormNetns {
                links,
                routes,
                sysctls: n.sysctls.clone(),
                neighbours,
            },
        );
    }
    NormSnapshot { namespaces }
}

impl Harness {
    /// The snapshot with indices replaced by names (see [`normalize`]).
    pub fn norm(&self) -> NormSnapshot {
        normalize(&self.snapshot())
    }
}

fn is_ipv6_link_local(net: &ipnet::IpNet) -> bool {
    matches!(net, ipnet::IpNet::V6(v6) if (v6.addr().segments()[0] & 0xffc0) == 0xfe80)
}

/// A short description of what differs between two normalized snapshots (for messages).
pub fn diff(a: &NormSnapshot, b: &NormSnapshot) -> String {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<_> =
        a.namespaces.keys().chain(b.namespaces.keys()).collect();
    for k in keys {
        match (a.namespaces.get(k), b.namespaces.get(k)) {
            (Some(x), Some(y)) => {
                let names: std::collections::BTreeSet<_> =
                    x.links.keys().chain(y.links.keys()).collect();
                for n in names {
                    if x.links.get(n) != y.links.get(n) {
                        out.push(format!(
                            "{k} link {n}:\n    {:?}\n vs {:?}",
                            x.links.get(n),
                            y.links.get(n)
                        ));
                    }
                }
                if x.routes != y.routes {
                    out.push(format!(
                        "{k} routes:\n    {:?}\n vs {:?}",
                        x.routes, y.routes
                    ));
                }
                if x.sysctls != y.sysctls {
                    out.push(format!(
                        "{k} sysctls:\n    {:?}\n vs {:?}",
                        x.sysctls, y.sysctls
                    ));
                }
                if x.neighbours != y.neighbours {
                    out.push(format!(
                        "{k} neighbours:\n    {:?}\n vs {:?}",
                        x.neighbours, y.neighbours
                    ));
                }
            }
            (x, y) => out.push(format!("{k}: {} vs {}", x.is_some(), y.is_some())),
        }
    }
    out.join("\n")
}
