//! [`SimBackend`]: the async `NetBackend` over a shared [`Kernel`]. Every call locks the kernel
//! once and resolves at once, except `sleep_until` (virtual time).

use crate::fault::{FaultHandle, Faulty};
use crate::frame::FrameRecord;
use crate::kernel::Kernel;
use crate::neighbour::{NeighEntry, NeighState};
use crate::snapshot::Snapshot;
use futures::StreamExt;
use ipnet::IpNet;
use nsplumb_core::{
    AddrInfo, BackendError, Errno, Family, IfIndex, LinkEvents, LinkInfo, LinkStats, MacAddr,
    NetBackend, NetnsRef, Op, RouteInfo, RouteSpec, Timestamp, VethPair, VethRequest,
};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

/// The simulator as a `NetBackend`. Clones share one kernel.
#[derive(Clone, Default)]
pub struct SimBackend {
    kernel: Arc<Mutex<Kernel>>,
}

impl std::fmt::Debug for SimBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimBackend")
            .field("now", &self.now())
            .finish()
    }
}

impl SimBackend {
    /// A fresh kernel whose random choices (MACs, DAD delays) follow `seed`.
    pub fn new(seed: u64) -> Self {
        SimBackend {
            kernel: Arc::new(Mutex::new(Kernel::new(seed))),
        }
    }

    /// Direct access to the kernel, for the sim-only API not wrapped below.
    pub fn kernel(&self) -> MutexGuard<'_, Kernel> {
        self.kernel.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This backend wrapped in a fault-injection layer, and the handle to program it.
    pub fn with_faults(&self, seed: u64) -> (Faulty<SimBackend>, FaultHandle) {
        Faulty::new(self.clone(), seed)
    }

    // ---- virtual time ----
    pub fn advance_to(&self, t: Timestamp) {
        let wakers = self.kernel().advance_collect(t);
        for w in wakers {
            w.wake();
        }
    }

    pub fn advance_by(&self, d: Duration) {
        let t = self.now() + d;
        self.advance_to(t);
    }

    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.kernel().next_deadline()
    }

    // ---- sim-only API ----
    pub fn create_dummy(&self, netns: &NetnsRef, name: &str) -> Result<IfIndex, BackendError> {
        self.kernel()
            .create_dummy(netns, name)
            .map_err(|e| BackendError::new(Op::CreateBridge, e, netns, name).with_detail("dummy"))
    }

    /// A namespace under an arbitrary path (`/proc/PID/ns/net`).
    pub fn create_netns_at(&self, path: &str) -> Result<NetnsRef, Errno> {
        self.kernel().create_netns_at(path)
    }

    pub fn set_stp(&self, netns: &NetnsRef, bridge: IfIndex, enabled: bool) -> Result<(), Errno> {
        self.kernel().set_stp(netns, bridge, enabled)
    }

    pub fn set_forward_delay(
        &self,
        netns: &NetnsRef,
        bridge: IfIndex,
        cs: u32,
    ) -> Result<(), Errno> {
        self.kernel().set_forward_delay(netns, bridge, cs)
    }

    /// Change a MAC behind nsplumb's back.
    pub fn change_mac(&self, netns: &NetnsRef, index: IfIndex, mac: MacAddr) -> Result<(), Errno> {
        self.kernel().change_mac(netns, index, mac)
    }

    /// Delete a link behind nsplumb's back.
    pub fn remove_link(&self, netns: &NetnsRef, index: IfIndex) -> Result<(), Errno> {
        self.kernel().delete_link(netns, index)
    }

    pub fn add_neighbour(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        ip: IpAddr,
        mac: MacAddr,
        state: NeighState,
    ) -> Result<(), Errno> {
        self.kernel().add_neighbour(netns, index, ip, mac, state)
    }

    pub fn neighbours(&self, netns: &NetnsRef) -> Result<Vec<NeighEntry>, Errno> {
        self.kernel().neighbours(netns)
    }

    pub fn frame_log(&self) -> Vec<FrameRecord> {
        self.kernel().frame_log().to_vec()
    }

    pub fn set_frame_log_capacity(&self, cap: Option<usize>) {
        self.kernel().set_frame_log_capacity(cap)
    }

    pub fn clear_frame_log(&self) {
        self.kernel().clear_frame_log()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.kernel().snapshot()
    }

    fn by_index<T>(
        &self,
        op: Op,
        netns: &NetnsRef,
        index: IfIndex,
        f: impl FnOnce(&mut Kernel) -> Result<T, Errno>,
    ) -> Result<T, BackendError> {
        let mut k = self.kernel();
        f(&mut k).map_err(|e| BackendError::new(op, e, netns, k.object_name(netns, index)))
    }

    fn named<T>(
        &self,
        op: Op,
        netns: &NetnsRef,
        object: &str,
        f: impl FnOnce(&mut Kernel) -> Result<T, Errno>,
    ) -> Result<T, BackendError> {
        let mut k = self.kernel();
        f(&mut k).map_err(|e| BackendError::new(op, e, netns, object))
    }
}

/// `sleep_until` in virtual time.
struct Sleep {
    kernel: Arc<Mutex<Kernel>>,
    deadline: Timestamp,
    key: Option<(Timestamp, u64)>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let kernel = self.kernel.clone();
        let mut k = kernel.lock().unwrap_or_else(|e| e.into_inner());
        if k.clock.now >= self.deadline {
            if let Some(key) = self.key.take() {
                k.clock.sleepers.remove(&key);
            }
            return Poll::Ready(());
        }
        match self.key {
            Some(key) if k.clock.sleepers.contains_key(&key) => {
                k.clock.sleepers.insert(key, Some(cx.waker().clone()));
            }
            _ => {
                let key = k.clock.add_sleeper(self.deadline, cx.waker().clone());
                self.key = Some(key);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut k = self.kernel.lock().unwrap_or_else(|e| e.into_inner());
            k.clock.sleepers.remove(&key);
        }
    }
}

impl NetBackend for SimBackend {
    fn now(&self) -> Timestamp {
        self.kernel().now()
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        Sleep {
            kernel: self.kernel.clone(),
            deadline,
            key: None,
        }
        .await
    }

    async fn create_netns(&self, name: &str) -> Result<NetnsRef, BackendError> {
        let mut k = self.kernel();
        k.create_netns(name).map_err(|e| {
            BackendError::new(Op::CreateNetns, e, &NetnsRef::from_name_or_path(name), name)
        })
    }

    async fn delete_netns(&self, netns: &NetnsRef) -> Result<(), BackendError> {
        self.named(Op::DeleteNetns, netns, &netns.to_string(), |k| {
            k.delete_netns(netns)
        })
    }

    async fn list_netns(&self) -> Result<Vec<NetnsRef>, BackendError> {
        Ok(self.kernel().list_netns())
    }

    async fn netns_cookie(&self, netns: &NetnsRef) -> Result<Option<u64>, BackendError> {
        self.kernel()
            .netns_cookie(netns)
            .map(Some)
            .map_err(|e| BackendError::new(Op::NetnsCookie, e, netns, netns.to_string()))
    }

    async fn link_by_name(&self, netns: &NetnsRef, name: &str) -> Result<LinkInfo, BackendError> {
        self.named(Op::GetLink, netns, name, |k| k.link_by_name(netns, name))
    }

    async fn link_by_index(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> Result<LinkInfo, BackendError> {
        self.by_index(Op::GetLink, netns, index, |k| k.link_by_index(netns, index))
    }

    async fn list_links(&self, netns: &NetnsRef) -> Result<Vec<LinkInfo>, BackendError> {
        self.named(Op::ListLinks, netns, "links", |k| k.list_links(netns))
    }

    async fn move_link(
        &self,
        from: &NetnsRef,
        index: IfIndex,
        to: &NetnsRef,
        new_name: &str,
    ) -> Result<IfIndex, BackendError> {
        let mut k = self.kernel();
        let object = k.object_name(from, index);
        k.move_link(from, index, to, new_name).map_err(|e| {
            BackendError::new(Op::MoveLink, e, from, object)
                .with_detail(format!("to {to} as {new_name}"))
        })
    }

    async fn rename_link(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        name: &str,
    ) -> Result<(), BackendError> {
        self.by_index(Op::RenameLink, netns, index, |k| {
            k.rename_link(netns, index, name)
        })
        .map_err(|e| e.with_detail(format!("to {name}")))
    }

    async fn set_link_up(&self, netns: &NetnsRef, index: IfIndex) -> Result<(), BackendError> {
        self.by_index(Op::SetLinkUp, netns, index, |k| k.set_link_up(netns, index))
    }

    async fn set_link_down(&self, netns: &NetnsRef, index: IfIndex) -> Result<(), BackendError> {
        self.by_index(Op::SetLinkDown, netns, index, |k| {
            k.set_link_down(netns, index)
        })
    }

    async fn set_mac(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
    ) -> Result<(), BackendError> {
        self.by_index(Op::SetMac, netns, index, |k| k.set_mac(netns, index, mac))
    }

    async fn set_master(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        master: Option<IfIndex>,
    ) -> Result<(), BackendError> {
        self.by_index(Op::SetMaster, netns, index, |k| {
            k.set_master(netns, index, master)
        })
    }

    async fn create_bridge(&self, netns: &NetnsRef, name: &str) -> Result<IfIndex, BackendError> {
        self.named(Op::CreateBridge, netns, name, |k| {
            k.create_bridge(netns, name)
        })
    }

    async fn create_veth(
        &self,
        netns: &NetnsRef,
        request: &VethRequest,
    ) -> Result<VethPair, BackendError> {
        self.named(Op::CreateVeth, netns, &request.host_name, |k| {
            k.create_veth(netns, request)
        })
    }

    async fn delete_links(
        &self,
        netns: &NetnsRef,
        indices: &[IfIndex],
    ) -> Result<(), BackendError> {
        let mut k = self.kernel();
        k.delete_links(netns, indices).map_err(|e| {
            let object = indices
                .iter()
                .map(|&i| k.object_name(netns, i))
                .collect::<Vec<_>>()
                .join(", ");
            BackendError::new(Op::DeleteLink, e, netns, object)
        })
    }

    async fn add_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
        nodad: bool,
    ) -> Result<(), BackendError> {
        self.by_index(Op::AddAddress, netns, index, |k| {
            k.add_address(netns, index, net, nodad)
        })
        .map_err(|e| e.with_detail(net.to_string()))
    }

    async fn del_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
    ) -> Result<(), BackendError> {
        self.by_index(Op::DelAddress, netns, index, |k| {
            k.del_address(netns, index, net)
        })
        .map_err(|e| e.with_detail(net.to_string()))
    }

    async fn list_addresses(
        &self,
        netns: &NetnsRef,
        index: Option<IfIndex>,
    ) -> Result<Vec<AddrInfo>, BackendError> {
        match index {
            Some(i) => self.by_index(Op::ListAddresses, netns, i, |k| {
                k.list_addresses(netns, index)
            }),
            None => self.named(Op::ListAddresses, netns, "addresses", |k| {
                k.list_addresses(netns, index)
            }),
        }
    }

    async fn add_route(&self, netns: &NetnsRef, route: &RouteSpec) -> Result<(), BackendError> {
        self.named(Op::AddRoute, netns, &route_text(route), |k| {
            k.add_route(netns, route)
        })
    }

    async fn del_route(&self, netns: &NetnsRef, route: &RouteSpec) -> Result<(), BackendError> {
        self.named(Op::DelRoute, netns, &route_text(route), |k| {
            k.del_route(netns, route)
        })
    }

    async fn list_routes(
        &self,
        netns: &NetnsRef,
        family: Family,
    ) -> Result<Vec<RouteInfo>, BackendError> {
        self.named(Op::ListRoutes, netns, "routes", |k| {
            k.list_routes(netns, family)
        })
    }

    async fn get_route(
        &self,
        netns: &NetnsRef,
        dst: IpAddr,
        oif: Option<IfIndex>,
    ) -> Result<RouteInfo, BackendError> {
        let k = self.kernel();
        k.get_route(netns, dst, oif).map_err(|e| {
            let object = match oif {
                Some(o) => format!("{dst} oif {}", k.object_name(netns, o)),
                None => dst.to_string(),
            };
            BackendError::new(Op::GetRoute, e, netns, object)
        })
    }

    async fn read_sysctl(&self, netns: &NetnsRef, path: &str) -> Result<String, BackendError> {
        self.named(Op::ReadSysctl, netns, path, |k| k.read_sysctl(netns, path))
    }

    async fn write_sysctl(
        &self,
        netns: &NetnsRef,
        path: &str,
        value: &str,
    ) -> Result<(), BackendError> {
        self.named(Op::WriteSysctl, netns, path, |k| {
            k.write_sysctl(netns, path, value)
        })
    }

    async fn subscribe_links(&self, netns: &NetnsRef) -> Result<LinkEvents, BackendError> {
        let rx = self.named(Op::SubscribeLinks, netns, "links", |k| {
            k.subscribe_links(netns)
        })?;
        Ok(rx.boxed())
    }

    async fn send_arp(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv4Addr,
    ) -> Result<(), BackendError> {
        self.by_index(Op::SendArp, netns, index, |k| {
            k.send_arp(netns, index, mac, addr)
        })
    }

    async fn send_na(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv6Addr,
    ) -> Result<(), BackendError> {
        self.by_index(Op::SendNa, netns, index, |k| {
            k.send_na(netns, index, mac, addr)
        })
    }

    async fn link_stats(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> Result<LinkStats, BackendError> {
        self.by_index(Op::LinkStats, netns, index, |k| k.link_stats(netns, index))
    }
}

fn route_text(r: &RouteSpec) -> String {
    let mut s = r.dst.to_string();
    if let Some(g) = r.gateway {
        s.push_str(&format!(" via {g}"));
    }
    s.push_str(&format!(" dev {}", r.oif));
    s
}
