//! A [`NetBackend`] layer that counts and times every backend call, per operation: the
//! in-process profile of where an attach spends its time (kernel round trips vs the rest).

use ipnet::IpNet;
use nsplumb_core::{
    AddrInfo, BackendError, Family, IfIndex, LinkEvents, LinkInfo, LinkStats, MacAddr, NetBackend,
    NetnsRef, RouteInfo, RouteSpec, Timestamp, VethPair, VethRequest,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Calls and total wall time per operation.
pub type OpStats = BTreeMap<&'static str, (u64, Duration)>;

pub struct Timed<B> {
    pub inner: B,
    per_op: Mutex<OpStats>,
}

impl<B: NetBackend> Timed<B> {
    pub fn new(inner: B) -> Timed<B> {
        Timed {
            inner,
            per_op: Mutex::new(BTreeMap::new()),
        }
    }

    /// The counters so far, and reset them.
    pub fn take(&self) -> OpStats {
        std::mem::take(&mut *self.per_op.lock().unwrap_or_else(|p| p.into_inner()))
    }

    async fn t<T>(&self, op: &'static str, f: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let r = f.await;
        let d = start.elapsed();
        let mut m = self.per_op.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(op).or_default();
        e.0 += 1;
        e.1 += d;
        r
    }
}

impl<B: NetBackend> NetBackend for Timed<B> {
    fn now(&self) -> Timestamp {
        self.inner.now()
    }
    async fn sleep_until(&self, deadline: Timestamp) {
        self.inner.sleep_until(deadline).await
    }
    async fn create_netns(&self, name: &str) -> Result<NetnsRef, BackendError> {
        self.t("create_netns", self.inner.create_netns(name)).await
    }
    async fn delete_netns(&self, netns: &NetnsRef) -> Result<(), BackendError> {
        self.t("delete_netns", self.inner.delete_netns(netns)).await
    }
    async fn list_netns(&self) -> Result<Vec<NetnsRef>, BackendError> {
        self.t("list_netns", self.inner.list_netns()).await
    }
    async fn prepare_netns(&self, netns: &NetnsRef) {
        self.inner.prepare_netns(netns).await
    }
    async fn netns_cookie(&self, netns: &NetnsRef) -> Result<Option<u64>, BackendError> {
        self.t("netns_cookie", self.inner.netns_cookie(netns)).await
    }
    async fn link_by_name(&self, netns: &NetnsRef, name: &str) -> Result<LinkInfo, BackendError> {
        self.t("link_by_name", self.inner.link_by_name(netns, name))
            .await
    }
    async fn link_by_index(&self, netns: &NetnsRef, i: IfIndex) -> Result<LinkInfo, BackendError> {
        self.t("link_by_index", self.inner.link_by_index(netns, i))
            .await
    }
    async fn list_links(&self, netns: &NetnsRef) -> Result<Vec<LinkInfo>, BackendError> {
        self.t("list_links", self.inner.list_links(netns)).await
    }
    async fn move_link(
        &self,
        from: &NetnsRef,
        i: IfIndex,
        to: &NetnsRef,
        name: &str,
    ) -> Result<IfIndex, BackendError> {
        self.t("move_link", self.inner.move_link(from, i, to, name))
            .await
    }
    async fn rename_link(&self, netns: &NetnsRef, i: IfIndex, n: &str) -> Result<(), BackendError> {
        self.t("rename_link", self.inner.rename_link(netns, i, n))
            .await
    }
    async fn set_link_up(&self, netns: &NetnsRef, i: IfIndex) -> Result<(), BackendError> {
        self.t("set_link_up", self.inner.set_link_up(netns, i))
            .await
    }
    async fn set_link_down(&self, netns: &NetnsRef, i: IfIndex) -> Result<(), BackendError> {
        self.t("set_link_down", self.inner.set_link_down(netns, i))
            .await
    }
    async fn set_mac(&self, netns: &NetnsRef, i: IfIndex, m: MacAddr) -> Result<(), BackendError> {
        self.t("set_mac", self.inner.set_mac(netns, i, m)).await
    }
    async fn set_master(
        &self,
        netns: &NetnsRef,
        i: IfIndex,
        m: Option<IfIndex>,
    ) -> Result<(), BackendError> {
        self.t("set_master", self.inner.set_master(netns, i, m))
            .await
    }
    async fn create_bridge(&self, netns: &NetnsRef, name: &str) -> Result<IfIndex, BackendError> {
        self.t("create_bridge", self.inner.create_bridge(netns, name))
            .await
    }
    async fn create_veth(
        &self,
        netns: &NetnsRef,
        r: &VethRequest,
    ) -> Result<VethPair, BackendError> {
        self.t("create_veth", self.inner.create_veth(netns, r))
            .await
    }
    async fn delete_links(&self, netns: &NetnsRef, i: &[IfIndex]) -> Result<(), BackendError> {
        self.t("delete_links", self.inner.delete_links(netns, i))
            .await
    }
    async fn add_address(
        &self,
        netns: &NetnsRef,
        i: IfIndex,
        net: IpNet,
        nodad: bool,
    ) -> Result<(), BackendError> {
        self.t("add_address", self.inner.add_address(netns, i, net, nodad))
            .await
    }
    async fn del_address(
        &self,
        netns: &NetnsRef,
        i: IfIndex,
        n: IpNet,
    ) -> Result<(), BackendError> {
        self.t("del_address", self.inner.del_address(netns, i, n))
            .await
    }
    async fn list_addresses(
        &self,
        netns: &NetnsRef,
        i: Option<IfIndex>,
    ) -> Result<Vec<AddrInfo>, BackendError> {
        self.t("list_addresses", self.inner.list_addresses(netns, i))
            .await
    }
    async fn add_route(&self, netns: &NetnsRef, r: &RouteSpec) -> Result<(), BackendError> {
        self.t("add_route", self.inner.add_route(netns, r)).await
    }
    async fn del_route(&self, netns: &NetnsRef, r: &RouteSpec) -> Result<(), BackendError> {
        self.t("del_route", self.inner.del_route(netns, r)).await
    }
    async fn list_routes(
        &self,
        netns: &NetnsRef,
        f: Family,
    ) -> Result<Vec<RouteInfo>, BackendError> {
        self.t("list_routes", self.inner.list_routes(netns, f))
            .await
    }
    async fn get_route(
        &self,
        netns: &NetnsRef,
        dst: IpAddr,
        oif: Option<IfIndex>,
    ) -> Result<RouteInfo, BackendError> {
        self.t("get_route", self.inner.get_route(netns, dst, oif))
            .await
    }
    async fn read_sysctl(&self, netns: &NetnsRef, p: &str) -> Result<String, BackendError> {
        self.t("read_sysctl", self.inner.read_sysctl(netns, p))
            .await
    }
    async fn write_sysctl(&self, netns: &NetnsRef, p: &str, v: &str) -> Result<(), BackendError> {
        self.t("write_sysctl", self.inner.write_sysctl(netns, p, v))
            .await
    }
    async fn subscribe_links(&self, netns: &NetnsRef) -> Result<LinkEvents, BackendError> {
        self.t("subscribe_links", self.inner.subscribe_links(netns))
            .await
    }
    async fn send_arp(
        &self,
        netns: &NetnsRef,
        i: IfIndex,
        m: MacAddr,
        a: Ipv4Addr,
    ) -> Result<(), BackendError> {
        self.t("send_arp", self.inner.send_arp(netns, i, m, a))
            .await
    }
    async fn send_na(
        &self,
        netns: &NetnsRef,
        i: IfIndex,
        m: MacAddr,
        a: Ipv6Addr,
    ) -> Result<(), BackendError> {
        self.t("send_na", self.inner.send_na(netns, i, m, a)).await
    }
    async fn link_stats(&self, netns: &NetnsRef, i: IfIndex) -> Result<LinkStats, BackendError> {
        self.t("link_stats", self.inner.link_stats(netns, i)).await
    }
}
