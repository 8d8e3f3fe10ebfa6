//! The small generic async driver: runs the sans-IO machines against any [`NetBackend`].

use crate::announce::Announcer;
use crate::attach::{Attach, AttachPlan};
use crate::attached::Attached;
use crate::backend::{LinkEvents, NetBackend};
use crate::backend_ext::BackendExt;
use crate::command::{Command, Input, Reply, SubscriptionId};
use crate::detach::Detach;
use crate::error::{AttachError, DetachError, RouteError, StepError};
use crate::event::Event;
use crate::machine::Machine;
use crate::registry::{Interface, Registry};
use crate::route_via::RouteVia;
use crate::spec::Spec;
use crate::types::{AddrInfo, Family, IfIndex, LinkInfo, LinkStats, NetnsRef, RouteSpec, VlanSpec};
use crate::validate::ValidSpec;
use crate::{BackendError, Errno};
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::task::AtomicWaker;
use futures::StreamExt;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tracing::Instrument;

/// Namespaces [`Plumber::attach_many`] prepares at once: each costs a thread hop on Linux,
/// and more in flight than cores gains nothing.
const PREPARE_IN_FLIGHT: usize = 8;

/// Namespaces [`Plumber::attach_many`] configures at once (each one's interfaces in order).
const CONFIGURE_IN_FLIGHT: usize = 8;

/// Runs a background future (the announcements after the first, SPEC S5) on the caller's
/// executor: `tokio::spawn` in a program, a virtual-time pool in the simulator.
pub type Spawner = Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>;

/// One link as listed (SPEC T2): the kernel's view plus whether nsplumb manages it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkView {
    #[serde(flatten)]
    pub link: LinkInfo,
    pub addresses: Vec<AddrInfo>,
    /// The source name, when nsplumb attached this link.
    pub managed_source: Option<String>,
    /// SPEC L6: the link's VLAN table when it is a port of a VLAN-filtering bridge (empty
    /// otherwise, and on a kernel without bridge VLAN filtering).
    pub vlans: Vec<VlanSpec>,
}

/// Attach, detach, gateways, statistics and listing over one backend.
///
/// Cheap to clone; every clone shares the registry. Attaches to different namespaces run fully
/// in parallel (SPEC A16): the registry lock is held only to pick names, never across a kernel
/// call.
pub struct Plumber<B: NetBackend> {
    inner: Arc<Inner<B>>,
}

impl<B: NetBackend> Clone for Plumber<B> {
    fn clone(&self) -> Self {
        Plumber {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<B> {
    backend: Arc<B>,
    registry: Mutex<Registry>,
    listeners: Mutex<Vec<mpsc::UnboundedSender<Event>>>,
    announcers: Mutex<HashMap<(NetnsRef, String), Arc<AnnounceControl>>>,
    spawner: Spawner,
}

/// Shared between a background announcer task and detach (SPEC S8).
struct AnnounceControl {
    announcer: futures::lock::Mutex<Announcer>,
    cancelled: AtomicBool,
    waker: AtomicWaker,
}

impl<B: NetBackend> Plumber<B> {
    pub fn new(backend: Arc<B>, spawner: Spawner) -> Plumber<B> {
        Plumber {
            inner: Arc::new(Inner {
                backend,
                registry: Mutex::new(Registry::default()),
                listeners: Mutex::new(Vec::new()),
                announcers: Mutex::new(HashMap::new()),
                spawner,
            }),
        }
    }

    pub fn backend(&self) -> &Arc<B> {
        &self.inner.backend
    }

    /// Every event from now on (phases, announcements, warnings, rollbacks).
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded();
        lock(&self.inner.listeners).push(tx);
        rx
    }

    /// A copy of the registry, for display and for saving state between processes.
    pub fn registry(&self) -> Registry {
        lock(&self.inner.registry).clone()
    }

    pub fn interfaces(&self, netns: &NetnsRef) -> Vec<Interface> {
        lock(&self.inner.registry)
            .interfaces(netns)
            .cloned()
            .collect()
    }

    /// Register an interface attached by an earlier process, so naming and detach know it.
    pub fn adopt(&self, attached: Attached) {
        lock(&self.inner.registry).adopt(attached);
    }

    /// D3: forget an interface without touching the kernel.
    pub fn forget(&self, netns: &NetnsRef, name: &str) -> bool {
        lock(&self.inner.registry).forget(netns, name)
    }

    /// SPEC A1–A15. Returns once the interface is configured and the first announcement went
    /// out; the rest are sent in the background through the spawner.
    pub async fn attach(&self, netns: &NetnsRef, spec: Spec) -> Result<Attached, AttachError> {
        self.reserve(netns, &spec)?.attach().await
    }

    /// A1 and N1–N4 without touching the kernel: validate `spec` and hold its destination
    /// name. A caller that must write down what it is about to do before the kernel changes
    /// (crash safety, SPEC R1) learns the name here, and the attach then uses exactly it; the
    /// name is chosen once. Dropping the reservation unused frees the name.
    pub fn reserve(&self, netns: &NetnsRef, spec: &Spec) -> Result<Reservation<B>, AttachError> {
        let plan = lock(&self.inner.registry).prepare_attach(netns, spec)?;
        Ok(Reservation {
            plumber: self.clone(),
            plan: Some(plan),
        })
    }

    /// [`Plumber::reserve`] for a caller that validated `spec` itself before touching
    /// anything (`valid` is [`crate::validate`]'s answer for it): only the master (V9) and the
    /// name are left to check, so nothing is validated twice.
    pub fn reserve_validated(
        &self,
        netns: &NetnsRef,
        spec: &Spec,
        valid: ValidSpec,
    ) -> Result<Reservation<B>, AttachError> {
        let plan = lock(&self.inner.registry).prepare_validated(netns, spec, valid)?;
        Ok(Reservation {
            plumber: self.clone(),
            plan: Some(plan),
        })
    }

    /// Attach many interfaces (SPEC A1–A15 for each), of one namespace or of many, in rounds:
    /// every destination namespace is prepared ([`NetBackend::prepare_netns`]), then every
    /// link is obtained (A2, A3: created, or moved and renamed) in the order given, then each
    /// is configured, brought up and announced (a namespace's interfaces in the order given,
    /// up to eight namespaces at a time). The kernel's namespace move waits for an RCU
    /// barrier (4–6 ticks); other work right before it (a link coming up, the first contact
    /// with a namespace) makes it wait a tick more, so the moves go back to back as in one
    /// `ip -batch` (P2). Each interface gets its own outcome, in the order given; a failure
    /// rolls back that interface only (A15).
    pub async fn attach_many(
        &self,
        interfaces: Vec<(NetnsRef, Spec)>,
    ) -> Vec<Result<Attached, AttachError>> {
        let mut outcomes: Vec<Option<Result<Attached, AttachError>>> = Vec::new();
        let mut planned = Vec::new();
        for (slot, (netns, spec)) in interfaces.into_iter().enumerate() {
            outcomes.push(None);
            match lock(&self.inner.registry).prepare_attach(&netns, &spec) {
                Ok(plan) => planned.push((slot, netns, plan)),
                Err(e) => outcomes[slot] = Some(Err(e)),
            }
        }
        let destinations: BTreeSet<&NetnsRef> = planned
            .iter()
            .map(|(_, netns, _)| netns)
            .filter(|netns| !netns.is_host())
            .collect();
        let backend = &*self.inner.backend;
        futures::stream::iter(destinations)
            .for_each_concurrent(PREPARE_IN_FLIGHT, |netns| backend.prepare_netns(netns))
            .await;
        let mut started: Vec<(usize, NetnsRef, String, Attach)> = Vec::new();
        for (slot, netns, plan) in planned {
            let name = plan.name.clone();
            let span = tracing::info_span!("attach", iface = %name, netns = %netns);
            let mut machine = Attach::new(plan, self.inner.backend.now());
            self.inner
                .run_until(&mut machine, Attach::obtained)
                .instrument(span)
                .await;
            started.push((slot, netns, name, machine));
        }
        // Each namespace's interfaces in the order given (A5 and the names see the ones
        // before), namespaces side by side: their waits (link up, port forwarding) overlap.
        let mut by_netns: BTreeMap<NetnsRef, Vec<(usize, String, Attach)>> = BTreeMap::new();
        for (slot, netns, name, machine) in started {
            by_netns
                .entry(netns)
                .or_default()
                .push((slot, name, machine));
        }
        let configured: Vec<Vec<(usize, Result<Attached, AttachError>)>> =
            futures::stream::iter(by_netns)
                .map(|(netns, machines)| async move {
                    let mut done = Vec::with_capacity(machines.len());
                    for (slot, name, mut machine) in machines {
                        let span = tracing::info_span!("attach", iface = %name, netns = %netns);
                        self.inner.run(&mut machine).instrument(span).await;
                        done.push((slot, self.finish_attach(&netns, &name, &mut machine)));
                    }
                    done
                })
                .buffer_unordered(CONFIGURE_IN_FLIGHT)
                .collect()
                .await;
        for (slot, outcome) in configured.into_iter().flatten() {
            outcomes[slot] = Some(outcome);
        }
        outcomes
            .into_iter()
            .map(|o| o.expect("every interface has an outcome"))
            .collect()
    }

    /// Register a finished attach (or free its name) and start its background announcements.
    fn finish_attach(
        &self,
        netns: &NetnsRef,
        name: &str,
        machine: &mut Attach,
    ) -> Result<Attached, AttachError> {
        let outcome = machine.take_outcome().unwrap_or_else(|| {
            Err(AttachError::Failed {
                error: no_outcome("attach", netns, name),
                rollback_errors: Vec::new(),
            })
        });
        match &outcome {
            Ok(attached) => {
                if let Some(announcer) = machine.take_announcer() {
                    let control = Arc::new(AnnounceControl {
                        announcer: futures::lock::Mutex::new(announcer),
                        cancelled: AtomicBool::new(false),
                        waker: AtomicWaker::new(),
                    });
                    lock(&self.inner.announcers)
                        .insert((netns.clone(), name.to_string()), control.clone());
                    lock(&self.inner.registry).complete_attach(attached);
                    let inner = self.inner.clone();
                    (self.inner.spawner)(Box::pin(async move {
                        inner.announce_in_background(control).await
                    }));
                } else {
                    lock(&self.inner.registry).complete_attach(attached);
                }
            }
            Err(_) => lock(&self.inner.registry).abort_attach(netns, name),
        }
        outcome
    }

    /// SPEC D1–D3. Announcing stops before anything else: no frame leaves for this interface
    /// after this returns (S8).
    pub async fn detach(&self, netns: &NetnsRef, name: &str) -> Result<(), DetachError> {
        let plan = lock(&self.inner.registry).begin_detach(netns, name)?;
        self.cancel_announce(netns, name).await;
        let span = tracing::info_span!("detach", iface = %name, netns = %netns);
        let mut machine = Detach::new(plan, self.inner.backend.now());
        self.inner.run(&mut machine).instrument(span).await;
        self.finish_detach(netns, name, &mut machine)
    }

    /// Detach many interfaces (SPEC D1 for each), of one namespace or of many: the links
    /// nsplumb created (veth pairs, bridges) are set down one by one, then deleted in one
    /// kernel batch per namespace (a veth pair by its host end, so the pairs of many
    /// containers go in one batch in the host), which pays the kernel's per-delete RCU wait
    /// once instead of once per link (P4). Other origins are detached one by one as
    /// [`Plumber::detach`] does. Each interface gets its own outcome, in the order given; a
    /// failed batch is retried link by link so that every outcome is that link's own (D3: a
    /// link gone behind our back is `Vanished`).
    pub async fn detach_many(
        &self,
        interfaces: &[(&NetnsRef, &str)],
    ) -> Vec<Result<(), DetachError>> {
        let mut outcomes: Vec<Option<Result<(), DetachError>>> = vec![None; interfaces.len()];
        let mut deferred: Vec<(usize, Detach)> = Vec::new();
        for (slot, (netns, name)) in interfaces.iter().enumerate() {
            let plan = match lock(&self.inner.registry).begin_detach(netns, name) {
                Ok(plan) => plan,
                Err(e) => {
                    outcomes[slot] = Some(Err(e));
                    continue;
                }
            };
            self.cancel_announce(netns, name).await;
            let span = tracing::info_span!("detach", iface = %name, netns = %netns);
            let mut machine = Detach::with_deferred_delete(plan, self.inner.backend.now());
            self.inner.run(&mut machine).instrument(span).await;
            if machine.deferred_delete().is_some() {
                deferred.push((slot, machine));
            } else {
                outcomes[slot] = Some(self.finish_detach(netns, name, &mut machine));
            }
        }
        // One batch per namespace the deletes happen in.
        let mut batches: Vec<(NetnsRef, Vec<(usize, Detach)>)> = Vec::new();
        for (slot, machine) in deferred {
            let (where_, _) = machine.deferred_delete().expect("deferred");
            match batches.iter_mut().find(|(n, _)| n == where_) {
                Some((_, members)) => members.push((slot, machine)),
                None => batches.push((where_.clone(), vec![(slot, machine)])),
            }
        }
        for (where_, members) in batches {
            let backend = &self.inner.backend;
            let index_of = |m: &Detach| m.deferred_delete().expect("deferred").1;
            let all: Vec<IfIndex> = members.iter().map(|(_, m)| index_of(m)).collect();
            let batch = backend.delete_links(&where_, &all).await;
            for (slot, mut machine) in members {
                let result = match &batch {
                    Ok(()) => Ok(()),
                    // One bad link fails the whole batch: ask for each on its own.
                    Err(_) => backend.delete_links(&where_, &[index_of(&machine)]).await,
                };
                machine.finish_deferred(self.inner.backend.now(), result);
                let (netns, name) = interfaces[slot];
                outcomes[slot] = Some(self.finish_detach(netns, name, &mut machine));
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.expect("every interface has an outcome"))
            .collect()
    }

    /// Hand a finished detach's events out and settle the registry with its outcome.
    fn finish_detach(
        &self,
        netns: &NetnsRef,
        name: &str,
        machine: &mut Detach,
    ) -> Result<(), DetachError> {
        self.inner.drain_events(machine);
        let outcome = machine
            .take_outcome()
            .unwrap_or_else(|| Err(DetachError::Failed(no_outcome("detach", netns, name))));
        let mut registry = lock(&self.inner.registry);
        match &outcome {
            Ok(()) => registry.complete_detach(netns, name),
            Err(e) => registry.detach_failed(netns, name, e),
        }
        outcome
    }

    /// Stop the background announcements of an interface (SPEC S8); true if some were due.
    /// When this returns, no further frame leaves for it.
    pub async fn cancel_announce(&self, netns: &NetnsRef, name: &str) -> bool {
        let control = lock(&self.inner.announcers).remove(&(netns.clone(), name.to_string()));
        let Some(control) = control else { return false };
        control.cancelled.store(true, Ordering::SeqCst);
        control.waker.wake();
        // Taking the lock waits out a send in progress; none starts after it.
        let mut announcer = control.announcer.lock().await;
        announcer.cancel(self.inner.backend.now());
        self.inner.drain_events(&mut *announcer);
        true
    }

    /// G1: a default route via `gateway` on the link that reaches it. `None` is a no-op.
    pub async fn set_gateway(
        &self,
        netns: &NetnsRef,
        gateway: Option<IpAddr>,
    ) -> Result<(), RouteError> {
        let Some(gateway) = gateway else {
            return Ok(());
        };
        let family = if gateway.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        };
        self.unset_gateway(netns, family).await?;
        let mut machine = RouteVia::default_gateway(netns.clone(), gateway);
        self.inner.run(&mut machine).await;
        let route = route_outcome(&mut machine, netns)?;
        lock(&self.inner.registry).record_route(netns, route);
        Ok(())
    }

    /// G2: remove the default route set by [`Plumber::set_gateway`]; a no-op when none is set.
    pub async fn unset_gateway(&self, netns: &NetnsRef, family: Family) -> Result<(), RouteError> {
        let route = {
            let mut registry = lock(&self.inner.registry);
            let dst = registry.gateway(netns, family).map(|r| r.dst);
            dst.and_then(|d| registry.take_route(netns, &d))
        };
        match route {
            Some(route) => self.del_route(netns, route).await,
            None => Ok(()),
        }
    }

    /// G3: `dst via next_hop`, on the link that reaches the next hop.
    pub async fn add_static_route(
        &self,
        netns: &NetnsRef,
        dst: IpNet,
        via: IpAddr,
    ) -> Result<RouteSpec, RouteError> {
        let mut machine = RouteVia::new(netns.clone(), dst.trunc(), via);
        self.inner.run(&mut machine).await;
        let route = route_outcome(&mut machine, netns)?;
        lock(&self.inner.registry).record_route(netns, route.clone());
        Ok(route)
    }

    /// G3: remove a static route added by [`Plumber::add_static_route`].
    pub async fn remove_static_route(
        &self,
        netns: &NetnsRef,
        dst: IpNet,
    ) -> Result<(), RouteError> {
        let route = lock(&self.inner.registry).take_route(netns, &dst.trunc());
        match route {
            Some(route) => self.del_route(netns, route).await,
            None => Err(RouteError::Failed(StepError::new(
                format!("no route to {dst} was added by nsplumb in namespace {netns}"),
                None,
            ))),
        }
    }

    async fn del_route(&self, netns: &NetnsRef, route: RouteSpec) -> Result<(), RouteError> {
        match self.inner.backend.del_route(netns, &route).await {
            Ok(_) => Ok(()),
            // G4: the kernel already dropped it with its link.
            Err(e) if e.is(crate::Errno::ESRCH) || e.is(crate::Errno::ENODEV) => Ok(()),
            Err(e) => Err(RouteError::Failed(StepError::new(
                format!("failed to delete route {} in namespace {netns}", route.dst),
                Some(e),
            ))),
        }
    }

    /// T1: the 64-bit counters of an interface by its name in `netns`.
    pub async fn statistics(&self, netns: &NetnsRef, name: &str) -> Result<LinkStats, StepError> {
        let context = || format!("failed to retrieve the statistics for {name} in netns {netns}");
        let backend = &self.inner.backend;
        let link = backend
            .link_by_name(netns, name)
            .await
            .map_err(|e| StepError::new(context(), Some(e)))?;
        link.stats.map(|s| *s).ok_or_else(|| {
            StepError::new(
                format!("{}: the kernel reported no counters for it", context()),
                None,
            )
        })
    }

    /// T2: every link of `netns`, managed or not, with its addresses (and, L6, the VLANs of
    /// bridge ports).
    pub async fn list(&self, netns: &NetnsRef) -> Result<Vec<LinkView>, StepError> {
        let context = || format!("failed to list links of namespace {netns}");
        let backend = &self.inner.backend;
        let links = backend
            .list_links(netns)
            .await
            .map_err(|e| StepError::new(context(), Some(e)))?;
        let addrs = backend
            .list_addresses(netns, None)
            .await
            .map_err(|e| StepError::new(context(), Some(e)))?;
        // Bridge ports only: a namespace without any costs no VLAN dump.
        let vlans = if links.iter().any(|l| l.master.is_some()) {
            match backend.list_port_vlans(netns).await {
                Ok(ports) => ports,
                // A kernel without bridge VLAN filtering has no VLAN table to show.
                Err(e) if e.is(Errno::EOPNOTSUPP) => Vec::new(),
                Err(e) => return Err(StepError::new(context(), Some(e))),
            }
        } else {
            Vec::new()
        };
        let registry = lock(&self.inner.registry);
        Ok(links
            .into_iter()
            .map(|link| LinkView {
                vlans: vlans
                    .iter()
                    .filter(|p| p.index == link.index)
                    .flat_map(|p| p.vlans.iter().copied())
                    .collect(),
                addresses: addrs
                    .iter()
                    .filter(|a| a.index == link.index)
                    .cloned()
                    .collect(),
                managed_source: registry
                    .interface(netns, &link.name)
                    .filter(|i| i.attached.as_ref().is_some_and(|a| a.ifindex == link.index))
                    .map(|i| i.source.clone()),
                link,
            })
            .collect())
    }
}

/// A destination name held for one attach (see [`Plumber::reserve`]).
pub struct Reservation<B: NetBackend> {
    plumber: Plumber<B>,
    /// `None` once the attach has started.
    plan: Option<AttachPlan>,
}

impl<B: NetBackend> Reservation<B> {
    /// The name the interface will have in its namespace.
    pub fn name(&self) -> &str {
        &self.plan().name
    }

    pub fn netns(&self) -> &NetnsRef {
        &self.plan().netns
    }

    /// The validated spec, the name and the resolved master.
    pub fn plan(&self) -> &AttachPlan {
        self.plan
            .as_ref()
            .expect("a reservation holds its plan until it attaches")
    }

    /// SPEC A2–A15 under the reserved name.
    pub async fn attach(mut self) -> Result<Attached, AttachError> {
        let plan = self.plan.take().expect("a reservation attaches once");
        let plumber = self.plumber.clone();
        let netns = plan.netns.clone();
        let name = plan.name.clone();
        let span = tracing::info_span!("attach", iface = %name, netns = %netns);
        let mut machine = Attach::new(plan, plumber.inner.backend.now());
        plumber.inner.run(&mut machine).instrument(span).await;
        plumber.finish_attach(&netns, &name, &mut machine)
    }
}

impl<B: NetBackend> Drop for Reservation<B> {
    fn drop(&mut self) {
        if let Some(plan) = self.plan.take() {
            lock(&self.plumber.inner.registry).abort_attach(&plan.netns, &plan.name);
        }
    }
}

impl<B: NetBackend> Inner<B> {
    fn drain_events<M: Machine + ?Sized>(&self, machine: &mut M) {
        let mut listeners = None;
        while let Some(event) = machine.poll_event() {
            let l = listeners.get_or_insert_with(|| lock(&self.listeners));
            l.retain(|tx| tx.unbounded_send(event.clone()).is_ok());
        }
    }

    /// Run one command: a kernel request on the backend, or a subscription opened into (or
    /// dropped from) `subscriptions`, the event streams the driver polls.
    async fn command(
        &self,
        command: &Command,
        subscriptions: &mut Vec<(SubscriptionId, LinkEvents)>,
    ) -> Result<Reply, BackendError> {
        match command {
            Command::Kernel(request) => self.backend.execute(request).await,
            Command::Subscribe { id, netns } => {
                let events = self.backend.subscribe_links(netns).await?;
                subscriptions.push((*id, events));
                Ok(Reply::Done)
            }
            Command::Unsubscribe { id } => {
                subscriptions.retain(|(sid, _)| sid != id);
                Ok(Reply::Done)
            }
        }
    }

    /// Run a machine to its end: commands one at a time, then link events or its deadline.
    async fn run<M: Machine>(&self, machine: &mut M) {
        self.run_until(machine, |_| false).await
    }

    /// Run a machine until `pause` holds before its next command (or to its end). A paused
    /// machine holds no subscription: pause only where it has none open.
    async fn run_until<M: Machine>(&self, machine: &mut M, pause: impl Fn(&M) -> bool) {
        let backend = &*self.backend;
        machine.set_events(!lock(&self.listeners).is_empty());
        let mut subscriptions: Vec<(SubscriptionId, LinkEvents)> = Vec::new();
        let mut told_stall = false;
        loop {
            self.drain_events(machine);
            if pause(machine) {
                debug_assert!(subscriptions.is_empty(), "paused with a subscription open");
                return;
            }
            if let Some(command) = machine.poll_command() {
                let result = self.command(&command, &mut subscriptions).await;
                machine.handle_input(backend.now(), Input::Reply(result));
                continue;
            }
            if machine.is_done() {
                break;
            }
            let deadline = machine.poll_timeout();
            if deadline.is_none() && subscriptions.is_empty() {
                // Nothing would ever wake it: tell it, so that it ends with an outcome (an
                // attach fails and rolls back). One that stalls again after that is stopped.
                if told_stall {
                    tracing::error!("state machine still waits for nothing; stopping it");
                    break;
                }
                tracing::error!("state machine waits for nothing; telling it");
                told_stall = true;
                machine.handle_stall(backend.now());
                continue;
            }
            let mut sleep = std::pin::pin!(deadline.map(|d| backend.sleep_until(d)));
            let wake = futures::future::poll_fn(|cx| {
                let mut ended = None;
                for (i, (id, stream)) in subscriptions.iter_mut().enumerate() {
                    match stream.poll_next_unpin(cx) {
                        Poll::Ready(Some(event)) => return Poll::Ready(Wake::Event(*id, event)),
                        Poll::Ready(None) => ended = Some(i),
                        Poll::Pending => {}
                    }
                }
                if let Some(i) = ended {
                    return Poll::Ready(Wake::Ended(i));
                }
                match sleep.as_mut().as_pin_mut().map(|s| s.poll(cx)) {
                    Some(Poll::Ready(())) => Poll::Ready(Wake::Timer),
                    _ => Poll::Pending,
                }
            })
            .await;
            let now = backend.now();
            match wake {
                Wake::Event(id, event) => machine.handle_input(now, Input::LinkEvent { id, event }),
                Wake::Ended(i) => {
                    drop(subscriptions.remove(i));
                }
                Wake::Timer => machine.handle_timeout(now),
            }
        }
        self.drain_events(machine);
    }

    /// SPEC S5: the remaining rounds, each one interval after the previous; stops on detach.
    async fn announce_in_background(self: Arc<Self>, control: Arc<AnnounceControl>) {
        let backend = &*self.backend;
        loop {
            let due = {
                let announcer = control.announcer.lock().await;
                if announcer.is_finished() || control.cancelled.load(Ordering::SeqCst) {
                    break;
                }
                announcer.poll_timeout()
            };
            let Some(due) = due else { break };
            let sleep = std::pin::pin!(backend.sleep_until(due));
            CancelOrSleep {
                control: &control,
                sleep,
            }
            .await;
            let mut announcer = control.announcer.lock().await;
            if control.cancelled.load(Ordering::SeqCst) {
                break;
            }
            announcer.handle_timeout(backend.now());
            while let Some(command) = announcer.poll_command() {
                let result = self.command(&command, &mut Vec::new()).await;
                announcer.handle_input(backend.now(), Input::Reply(result));
            }
            self.drain_events(&mut *announcer);
            if announcer.is_finished() {
                break;
            }
        }
        let mut announcers = lock(&self.announcers);
        announcers.retain(|_, c| !Arc::ptr_eq(c, &control));
    }
}

enum Wake {
    Event(SubscriptionId, crate::types::LinkEvent),
    Ended(usize),
    Timer,
}

/// Resolves at the deadline or as soon as detach cancels.
struct CancelOrSleep<'a, S> {
    control: &'a AnnounceControl,
    sleep: Pin<&'a mut S>,
}

impl<S: Future<Output = ()>> Future for CancelOrSleep<'_, S> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.control.waker.register(cx.waker());
        if self.control.cancelled.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        self.sleep.as_mut().poll(cx)
    }
}

/// The error of a machine the driver stopped before it had an outcome (one that stalled even
/// after being told): never a panic.
fn no_outcome(what: &str, netns: &NetnsRef, name: &str) -> StepError {
    StepError::new(
        format!("{what} of interface {name:?} in namespace {netns} ended without an outcome"),
        None,
    )
}

fn route_outcome(machine: &mut RouteVia, netns: &NetnsRef) -> Result<RouteSpec, RouteError> {
    machine.take_outcome().unwrap_or_else(|| {
        let ctx = format!("adding a route in namespace {netns} ended without an outcome");
        Err(RouteError::Failed(StepError::new(ctx, None)))
    })
}

/// A poisoned lock only means another task panicked mid-update of plain data; keep going.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

mod announce_again;
mod bridge_setup;
mod kernel_cleanup;

pub use bridge_setup::{BridgePlan, BridgeSetup};

#[cfg(test)]
mod tests;
