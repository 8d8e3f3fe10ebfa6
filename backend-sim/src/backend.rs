//! [`SimBackend`]: the async `NetBackend` over a shared [`Kernel`]. Every request locks the
//! kernel once and resolves at once, except `sleep_until` (virtual time).

use crate::fault::{FaultHandle, Faulty};
use crate::frame::FrameRecord;
use crate::kernel::Kernel;
use crate::neighbour::{NeighEntry, NeighState};
use crate::snapshot::Snapshot;
use futures::StreamExt;
use nsplumb_core::{
    BackendError, Errno, IfIndex, LinkEvents, MacAddr, NetBackend, NetnsAdmin, NetnsRef, Op, Reply,
    Request, RouteSpec, Timestamp,
};
use std::future::Future;
use std::net::IpAddr;
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

    /// Model a kernel with or without `CONFIG_BRIDGE_VLAN_FILTERING` (default: with; this
    /// project's machines: without). See [`Kernel::set_vlan_filtering_supported`].
    pub fn set_vlan_filtering_supported(&self, supported: bool) {
        self.kernel().set_vlan_filtering_supported(supported)
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

    async fn execute(&self, request: &Request) -> Result<Reply, BackendError> {
        self.run(request)
    }

    async fn subscribe_links(&self, netns: &NetnsRef) -> Result<LinkEvents, BackendError> {
        let rx = self
            .kernel()
            .subscribe_links(netns)
            .map_err(|e| BackendError::new(Op::SubscribeLinks, e, netns, "links"))?;
        Ok(rx.boxed())
    }
}

impl SimBackend {
    /// One request against the kernel, under one lock; resolves at once.
    fn run(&self, request: &Request) -> Result<Reply, BackendError> {
        use Request as R;
        let mut k = self.kernel();
        let done = |r: Result<(), Errno>| r.map(|()| Reply::Done);
        let result = match request {
            R::LinkByName { netns, name } => k.link_by_name(netns, name).map(Reply::Link),
            R::LinkByIndex { netns, index } => k.link_by_index(netns, *index).map(Reply::Link),
            R::ListLinks { netns } => k.list_links(netns).map(Reply::Links),
            R::MoveLink {
                from,
                index,
                to,
                new_name,
            } => {
                // Named as it was before: Linux can move the link and then fail the rename.
                let object = k.object_name(from, *index);
                return k
                    .move_link(from, *index, to, new_name)
                    .map(Reply::Index)
                    .map_err(|e| {
                        BackendError::new(Op::MoveLink, e, from, object)
                            .with_detail(format!("to {to} as {new_name}"))
                    });
            }
            R::RenameLink { netns, index, name } => done(k.rename_link(netns, *index, name)),
            R::SetLinkUp { netns, index } => done(k.set_link_up(netns, *index)),
            R::SetLinkDown { netns, index } => done(k.set_link_down(netns, *index)),
            R::SetMac { netns, index, mac } => done(k.set_mac(netns, *index, *mac)),
            R::SetMaster {
                netns,
                index,
                master,
            } => done(k.set_master(netns, *index, *master)),
            R::CreateBridge {
                netns,
                name,
                options,
            } => k.create_bridge_with(netns, name, options).map(Reply::Index),
            R::SetMtu { netns, index, mtu } => done(k.set_mtu(netns, *index, *mtu)),
            R::SetPortFlags {
                netns,
                index,
                flags,
            } => done(k.set_port_flags(netns, *index, *flags)),
            R::AddPortVlans {
                netns,
                index,
                vlans,
            } => done(k.add_port_vlans(netns, *index, vlans)),
            R::DelPortVlans {
                netns,
                index,
                vlans,
            } => done(k.del_port_vlans(netns, *index, vlans)),
            R::ListPortVlans { netns } => k.list_port_vlans(netns).map(Reply::Vlans),
            R::CreateVeth { netns, request } => k.create_veth(netns, request).map(Reply::Veth),
            R::DeleteLinks { netns, indices } => done(k.delete_links(netns, indices)),
            R::AddAddress {
                netns,
                index,
                net,
                nodad,
            } => done(k.add_address(netns, *index, *net, *nodad)),
            R::DelAddress { netns, index, net } => done(k.del_address(netns, *index, *net)),
            R::ListAddresses { netns, index } => {
                k.list_addresses(netns, *index).map(Reply::Addresses)
            }
            R::AddRoute { netns, route } => done(k.add_route(netns, route)),
            R::DelRoute { netns, route } => done(k.del_route(netns, route)),
            R::ListRoutes { netns, family } => k.list_routes(netns, *family).map(Reply::Routes),
            R::GetRoute { netns, dst, oif } => k.get_route(netns, *dst, *oif).map(Reply::Route),
            R::ReadSysctl { netns, path } => k.read_sysctl(netns, path).map(Reply::Value),
            R::WriteSysctl { netns, path, value } => done(k.write_sysctl(netns, path, value)),
            R::SendArp {
                netns,
                index,
                mac,
                addr,
            } => done(k.send_arp(netns, *index, *mac, *addr)),
            R::SendNa {
                netns,
                index,
                mac,
                addr,
            } => done(k.send_na(netns, *index, *mac, *addr)),
        };
        result.map_err(|errno| error(&k, request, errno))
    }
}

/// The error of a failed request, naming its object as the kernel sees it after the failure
/// (a link by its current name).
fn error(k: &Kernel, request: &Request, errno: Errno) -> BackendError {
    use Request as R;
    let netns = request.netns();
    let new = |object: String| BackendError::new(request.op(), errno, netns, object);
    match request {
        R::LinkByIndex { index, .. }
        | R::SetMtu { index, .. }
        | R::SetPortFlags { index, .. }
        | R::SetLinkUp { index, .. }
        | R::SetLinkDown { index, .. }
        | R::SetMac { index, .. }
        | R::SetMaster { index, .. }
        | R::SendArp { index, .. }
        | R::SendNa { index, .. }
        | R::ListAddresses {
            index: Some(index), ..
        } => new(k.object_name(netns, *index)),
        R::RenameLink { index, name, .. } => {
            new(k.object_name(netns, *index)).with_detail(format!("to {name}"))
        }
        R::AddAddress { index, net, .. } | R::DelAddress { index, net, .. } => {
            new(k.object_name(netns, *index)).with_detail(net.to_string())
        }
        R::AddPortVlans { index, vlans, .. } | R::DelPortVlans { index, vlans, .. } => {
            let vids: Vec<String> = vlans.iter().map(|v| v.to_string()).collect();
            new(k.object_name(netns, *index)).with_detail(format!("VLAN {}", vids.join(",")))
        }
        R::DeleteLinks { indices, .. } => new(indices
            .iter()
            .map(|&i| k.object_name(netns, i))
            .collect::<Vec<_>>()
            .join(", ")),
        R::AddRoute { route, .. } | R::DelRoute { route, .. } => new(route_text(route)),
        R::GetRoute { dst, oif, .. } => new(match oif {
            Some(o) => format!("{dst} oif {}", k.object_name(netns, *o)),
            None => dst.to_string(),
        }),
        R::CreateVeth { request, .. } => new(request.host_name.clone()),
        R::ListAddresses { index: None, .. } => new("addresses".into()),
        R::ListLinks { .. } => new("links".into()),
        R::ListRoutes { .. } => new("routes".into()),
        R::LinkByName { .. }
        | R::MoveLink { .. }
        | R::CreateBridge { .. }
        | R::ListPortVlans { .. }
        | R::ReadSysctl { .. }
        | R::WriteSysctl { .. } => new(request.object()),
    }
}

impl NetnsAdmin for SimBackend {
    async fn create_netns(&self, name: &str) -> Result<NetnsRef, BackendError> {
        self.kernel().create_netns(name).map_err(|e| {
            BackendError::new(Op::CreateNetns, e, &NetnsRef::from_name_or_path(name), name)
        })
    }

    async fn delete_netns(&self, netns: &NetnsRef) -> Result<(), BackendError> {
        self.kernel()
            .delete_netns(netns)
            .map_err(|e| BackendError::new(Op::DeleteNetns, e, netns, netns.to_string()))
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
}

fn route_text(r: &RouteSpec) -> String {
    let mut s = r.dst.to_string();
    if let Some(g) = r.gateway {
        s.push_str(&format!(" via {g}"));
    }
    s.push_str(&format!(" dev {}", r.oif));
    s
}
