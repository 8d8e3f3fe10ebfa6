//! Fault injection as a composable layer over any `NetBackend`, in the style of smoltcp's
//! `FaultInjector`: seeded, per [`Op`]; fail the next call, the nth call from now, or each call
//! with a probability, with a chosen errno; and an optional virtual-time delay per op (slept on
//! the wrapped backend's clock). A failed call never reaches the wrapped backend, so it has no
//! side effect.

use crate::rng::Rng;
use ipnet::IpNet;
use nsplumb_core::{
    AddrInfo, BackendError, Errno, Family, IfIndex, LinkEvents, LinkInfo, LinkStats, MacAddr,
    NetBackend, NetnsRef, Op, RouteInfo, RouteSpec, Timestamp, VethPair, VethRequest,
};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// One programmed fault.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultRule {
    /// Fail the next call of the op.
    FailNext(Errno),
    /// Fail the nth call from now (1 = the next one).
    FailNth(u64, Errno),
    /// Fail each call with probability `p` (0..=1), drawn from the seeded generator.
    FailWithProbability(f64, Errno),
    /// Delay every call of the op by this much virtual time before running it.
    Delay(Duration),
}

#[derive(Default)]
struct OpPlan {
    /// Calls remaining until each pending countdown fault fires.
    countdown: Vec<(u64, Errno)>,
    probability: Option<(f64, Errno)>,
    delay: Option<Duration>,
}

struct Plan {
    rng: Rng,
    ops: HashMap<Op, OpPlan>,
    injected: u64,
}

/// Shared between the layer and its handles: the plan, and a flag that lets calls skip the
/// lock entirely while no rule is programmed (the common case in benchmarks).
struct Shared {
    armed: AtomicBool,
    plan: Mutex<Plan>,
}

/// Programs the faults of a [`Faulty`] layer; clones share the plan.
#[derive(Clone)]
pub struct FaultHandle {
    shared: Arc<Shared>,
}

impl FaultHandle {
    fn plan(&self) -> MutexGuard<'_, Plan> {
        self.shared.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, op: Op, rule: FaultRule) {
        self.shared.armed.store(true, Ordering::SeqCst);
        let mut p = self.plan();
        let e = p.ops.entry(op).or_default();
        match rule {
            FaultRule::FailNext(errno) => e.countdown.push((1, errno)),
            FaultRule::FailNth(n, errno) => e.countdown.push((n.max(1), errno)),
            FaultRule::FailWithProbability(pr, errno) => e.probability = Some((pr, errno)),
            FaultRule::Delay(d) => e.delay = Some(d),
        }
    }

    pub fn fail_next(&self, op: Op, errno: Errno) {
        self.add(op, FaultRule::FailNext(errno));
    }

    pub fn fail_nth(&self, op: Op, n: u64, errno: Errno) {
        self.add(op, FaultRule::FailNth(n, errno));
    }

    pub fn fail_with_probability(&self, op: Op, p: f64, errno: Errno) {
        self.add(op, FaultRule::FailWithProbability(p, errno));
    }

    pub fn delay(&self, op: Op, d: Duration) {
        self.add(op, FaultRule::Delay(d));
    }

    /// Removes every rule of one op.
    pub fn clear_op(&self, op: Op) {
        self.plan().ops.remove(&op);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.plan().ops.clear();
    }

    /// How many calls failed by injection so far.
    pub fn injected(&self) -> u64 {
        self.plan().injected
    }

    /// Decides the fate of one call: (delay, failure).
    fn decide(&self, op: Op) -> (Option<Duration>, Option<Errno>) {
        if !self.shared.armed.load(Ordering::Relaxed) {
            return (None, None);
        }
        let mut p = self.plan();
        let Plan { rng, ops, injected } = &mut *p;
        let Some(e) = ops.get_mut(&op) else {
            return (None, None);
        };
        let mut fail = None;
        for c in e.countdown.iter_mut() {
            c.0 -= 1;
            if c.0 == 0 && fail.is_none() {
                fail = Some(c.1);
            }
        }
        e.countdown.retain(|c| c.0 > 0);
        if fail.is_none() {
            if let Some((pr, errno)) = e.probability {
                if rng.unit() < pr {
                    fail = Some(errno);
                }
            }
        }
        if fail.is_some() {
            *injected += 1;
        }
        (e.delay, fail)
    }
}

/// A `NetBackend` that injects faults before delegating to `B`.
#[derive(Clone)]
pub struct Faulty<B> {
    inner: B,
    handle: FaultHandle,
}

impl<B: NetBackend> Faulty<B> {
    pub fn new(inner: B, seed: u64) -> (Self, FaultHandle) {
        let handle = FaultHandle {
            shared: Arc::new(Shared {
                armed: AtomicBool::new(false),
                plan: Mutex::new(Plan {
                    rng: Rng::new(seed),
                    ops: HashMap::new(),
                    injected: 0,
                }),
            }),
        };
        (
            Faulty {
                inner,
                handle: handle.clone(),
            },
            handle,
        )
    }

    pub fn inner(&self) -> &B {
        &self.inner
    }

    pub fn handle(&self) -> &FaultHandle {
        &self.handle
    }

    async fn gate(
        &self,
        op: Op,
        netns: &NetnsRef,
        object: impl FnOnce() -> String + Send,
    ) -> Result<(), BackendError> {
        let (delay, fail) = self.handle.decide(op);
        if let Some(d) = delay {
            let at = self.inner.now() + d;
            self.inner.sleep_until(at).await;
        }
        match fail {
            Some(errno) => {
                Err(BackendError::new(op, errno, netns, object()).with_detail("injected fault"))
            }
            None => Ok(()),
        }
    }
}

fn ix(i: IfIndex) -> String {
    format!("ifindex {i}")
}

impl<B: NetBackend> NetBackend for Faulty<B> {
    fn now(&self) -> Timestamp {
        self.inner.now()
    }
    async fn sleep_until(&self, deadline: Timestamp) {
        self.inner.sleep_until(deadline).await
    }
    async fn create_netns(&self, name: &str) -> Result<NetnsRef, BackendError> {
        self.gate(Op::CreateNetns, &NetnsRef::from_name_or_path(name), || {
            name.into()
        })
        .await?;
        self.inner.create_netns(name).await
    }
    async fn delete_netns(&self, netns: &NetnsRef) -> Result<(), BackendError> {
        self.gate(Op::DeleteNetns, netns, || netns.to_string())
            .await?;
        self.inner.delete_netns(netns).await
    }
    async fn list_netns(&self) -> Result<Vec<NetnsRef>, BackendError> {
        self.gate(Op::ListNetns, &NetnsRef::Host, || "namespaces".into())
            .await?;
        self.inner.list_netns().await
    }
    async fn prepare_netns(&self, netns: &NetnsRef) {
        self.inner.prepare_netns(netns).await
    }
    async fn netns_cookie(&self, netns: &NetnsRef) -> Result<Option<u64>, BackendError> {
        self.gate(Op::NetnsCookie, netns, || netns.to_string())
            .await?;
        self.inner.netns_cookie(netns).await
    }
    async fn link_by_name(&self, netns: &NetnsRef, name: &str) -> Result<LinkInfo, BackendError> {
        self.gate(Op::GetLink, netns, || name.into()).await?;
        self.inner.link_by_name(netns, name).await
    }
    async fn link_by_index(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> Result<LinkInfo, BackendError> {
        self.gate(Op::GetLink, netns, || ix(index)).await?;
        self.inner.link_by_index(netns, index).await
    }
    async fn list_links(&self, netns: &NetnsRef) -> Result<Vec<LinkInfo>, BackendError> {
        self.gate(Op::ListLinks, netns, || "links".into()).await?;
        self.inner.list_links(netns).await
    }
    async fn move_link(
        &self,
        from: &NetnsRef,
        index: IfIndex,
        to: &NetnsRef,
        new_name: &str,
    ) -> Result<IfIndex, BackendError> {
        self.gate(Op::MoveLink, from, || ix(index)).await?;
        self.inner.move_link(from, index, to, new_name).await
    }
    async fn rename_link(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        name: &str,
    ) -> Result<(), BackendError> {
        self.gate(Op::RenameLink, netns, || ix(index)).await?;
        self.inner.rename_link(netns, index, name).await
    }
    async fn set_link_up(&self, netns: &NetnsRef, index: IfIndex) -> Result<(), BackendError> {
        self.gate(Op::SetLinkUp, netns, || ix(index)).await?;
        self.inner.set_link_up(netns, index).await
    }
    async fn set_link_down(&self, netns: &NetnsRef, index: IfIndex) -> Result<(), BackendError> {
        self.gate(Op::SetLinkDown, netns, || ix(index)).await?;
        self.inner.set_link_down(netns, index).await
    }
    async fn set_mac(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
    ) -> Result<(), BackendError> {
        self.gate(Op::SetMac, netns, || ix(index)).await?;
        self.inner.set_mac(netns, index, mac).await
    }
    async fn set_master(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        master: Option<IfIndex>,
    ) -> Result<(), BackendError> {
        self.gate(Op::SetMaster, netns, || ix(index)).await?;
        self.inner.set_master(netns, index, master).await
    }
    async fn create_bridge(&self, netns: &NetnsRef, name: &str) -> Result<IfIndex, BackendError> {
        self.gate(Op::CreateBridge, netns, || name.into()).await?;
        self.inner.create_bridge(netns, name).await
    }
    async fn create_veth(
        &self,
        netns: &NetnsRef,
        request: &VethRequest,
    ) -> Result<VethPair, BackendError> {
        self.gate(Op::CreateVeth, netns, || request.host_name.clone())
            .await?;
        self.inner.create_veth(netns, request).await
    }
    async fn delete_links(
        &self,
        netns: &NetnsRef,
        indices: &[IfIndex],
    ) -> Result<(), BackendError> {
        self.gate(Op::DeleteLink, netns, || format!("{indices:?}"))
            .await?;
        self.inner.delete_links(netns, indices).await
    }
    async fn add_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
        nodad: bool,
    ) -> Result<(), BackendError> {
        self.gate(Op::AddAddress, netns, || ix(index)).await?;
        self.inner.add_address(netns, index, net, nodad).await
    }
    async fn del_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
    ) -> Result<(), BackendError> {
        self.gate(Op::DelAddress, netns, || ix(index)).await?;
        self.inner.del_address(netns, index, net).await
    }
    async fn list_addresses(
        &self,
        netns: &NetnsRef,
        index: Option<IfIndex>,
    ) -> Result<Vec<AddrInfo>, BackendError> {
        self.gate(Op::ListAddresses, netns, || "addresses".into())
            .await?;
        self.inner.list_addresses(netns, index).await
    }
    async fn add_route(&self, netns: &NetnsRef, route: &RouteSpec) -> Result<(), BackendError> {
        self.gate(Op::AddRoute, netns, || route.dst.to_string())
            .await?;
        self.inner.add_route(netns, route).await
    }
    async fn del_route(&self, netns: &NetnsRef, route: &RouteSpec) -> Result<(), BackendError> {
        self.gate(Op::DelRoute, netns, || route.dst.to_string())
            .await?;
        self.inner.del_route(netns, route).await
    }
    async fn list_routes(
        &self,
        netns: &NetnsRef,
        family: Family,
    ) -> Result<Vec<RouteInfo>, BackendError> {
        self.gate(Op::ListRoutes, netns, || "routes".into()).await?;
        self.inner.list_routes(netns, family).await
    }
    async fn get_route(
        &self,
        netns: &NetnsRef,
        dst: IpAddr,
        oif: Option<IfIndex>,
    ) -> Result<RouteInfo, BackendError> {
        self.gate(Op::GetRoute, netns, || dst.to_string()).await?;
        self.inner.get_route(netns, dst, oif).await
    }
    async fn read_sysctl(&self, netns: &NetnsRef, path: &str) -> Result<String, BackendError> {
        self.gate(Op::ReadSysctl, netns, || path.into()).await?;
        self.inner.read_sysctl(netns, path).await
    }
    async fn write_sysctl(
        &self,
        netns: &NetnsRef,
        path: &str,
        value: &str,
    ) -> Result<(), BackendError> {
        self.gate(Op::WriteSysctl, netns, || path.into()).await?;
        self.inner.write_sysctl(netns, path, value).await
    }
    async fn subscribe_links(&self, netns: &NetnsRef) -> Result<LinkEvents, BackendError> {
        self.gate(Op::SubscribeLinks, netns, || "links".into())
            .await?;
        self.inner.subscribe_links(netns).await
    }
    async fn send_arp(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv4Addr,
    ) -> Result<(), BackendError> {
        self.gate(Op::SendArp, netns, || ix(index)).await?;
        self.inner.send_arp(netns, index, mac, addr).await
    }
    async fn send_na(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv6Addr,
    ) -> Result<(), BackendError> {
        self.gate(Op::SendNa, netns, || ix(index)).await?;
        self.inner.send_na(netns, index, mac, addr).await
    }
    async fn link_stats(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> Result<LinkStats, BackendError> {
        self.gate(Op::LinkStats, netns, || ix(index)).await?;
        self.inner.link_stats(netns, index).await
    }
}
