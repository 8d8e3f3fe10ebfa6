//! The one seam between logic and kernel: every kernel operation nsplumb needs, as one method.

use crate::types::{
    AddrInfo, Family, IfIndex, LinkEvent, LinkInfo, LinkStats, MacAddr, NetnsRef, RouteInfo,
    RouteSpec, Timestamp,
};
use crate::BackendError;
use futures::stream::BoxStream;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Link events of one namespace; dropping the stream ends the subscription.
pub type LinkEvents = BoxStream<'static, LinkEvent>;

/// What the fast path asks for: a veth pair whose container end is born in its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethRequest {
    /// Name of the end that stays in the namespace the call is made in (the "host" end).
    pub host_name: String,
    /// Bridge (in the host end's namespace) to enslave the host end to, in the same request.
    pub host_master: Option<IfIndex>,
    /// Bring the host end up in the same request.
    pub host_up: bool,
    /// Namespace the container end is created in.
    pub peer_netns: NetnsRef,
    /// The container end's final name.
    pub peer_name: String,
    /// The container end's MAC, set at creation.
    pub peer_mac: Option<MacAddr>,
}

/// Indices of a freshly created veth pair, each in its own namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VethPair {
    pub host_index: IfIndex,
    pub peer_index: IfIndex,
}

/// One method per kernel operation. Implemented by `nsplumb-linux` (netlink, raw sockets,
/// `/proc/sys` in the namespace) and `nsplumb-sim` (an in-memory kernel in virtual time).
///
/// Every method acts inside the namespace it is given; errors carry the errno and the operation.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait NetBackend: Send + Sync + 'static {
    // ---- clock: the driver's only source of time ----
    /// Monotonic now on this backend's clock (virtual in the simulator).
    fn now(&self) -> Timestamp;
    /// Resolve at `deadline` on this backend's clock.
    async fn sleep_until(&self, deadline: Timestamp);

    // ---- namespaces ----
    /// Create a named namespace the way `ip netns add` does; returns its reference.
    async fn create_netns(&self, name: &str) -> Result<NetnsRef, BackendError>;
    /// Delete a named namespace (`ip netns del`).
    async fn delete_netns(&self, netns: &NetnsRef) -> Result<(), BackendError>;
    /// Every namespace this backend can see, the host's own first.
    async fn list_netns(&self) -> Result<Vec<NetnsRef>, BackendError>;
    /// An identity of the namespace that is never reused while the system runs (Linux: the
    /// netns cookie, `SO_NETNS_COOKIE`), or `None` if the backend has none. The nsfs inode of
    /// a deleted namespace is given at once to the next one created, so state kept per
    /// (device, inode) must be checked against this before it is trusted.
    async fn netns_cookie(&self, _netns: &NetnsRef) -> Result<Option<u64>, BackendError> {
        Ok(None)
    }

    // ---- links ----
    async fn link_by_name(&self, netns: &NetnsRef, name: &str) -> Result<LinkInfo, BackendError>;
    async fn link_by_index(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> Result<LinkInfo, BackendError>;
    async fn list_links(&self, netns: &NetnsRef) -> Result<Vec<LinkInfo>, BackendError>;
    /// Move a link to another namespace and give it `new_name` there, in one message
    /// (`IFLA_NET_NS_FD` + `IFLA_IFNAME`). Returns its index in the destination.
    async fn move_link(
        &self,
        from: &NetnsRef,
        index: IfIndex,
        to: &NetnsRef,
        new_name: &str,
    ) -> Result<IfIndex, BackendError>;
    async fn rename_link(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        name: &str,
    ) -> Result<(), BackendError>;
    async fn set_link_up(&self, netns: &NetnsRef, index: IfIndex) -> Result<(), BackendError>;
    async fn set_link_down(&self, netns: &NetnsRef, index: IfIndex) -> Result<(), BackendError>;
    async fn set_mac(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
    ) -> Result<(), BackendError>;
    /// Enslave to `master` (a bridge in the same namespace), or release with `None`.
    async fn set_master(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        master: Option<IfIndex>,
    ) -> Result<(), BackendError>;
    async fn create_bridge(&self, netns: &NetnsRef, name: &str) -> Result<IfIndex, BackendError>;
    /// Create a veth pair in one request (see [`VethRequest`]); `netns` holds the host end.
    async fn create_veth(
        &self,
        netns: &NetnsRef,
        request: &VethRequest,
    ) -> Result<VethPair, BackendError>;
    /// Delete links, as one kernel batch where the backend can (a veth takes its peer along).
    async fn delete_links(&self, netns: &NetnsRef, indices: &[IfIndex])
        -> Result<(), BackendError>;

    // ---- addresses ----
    /// Add an address; `nodad` sets `IFA_F_NODAD` (IPv6).
    async fn add_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
        nodad: bool,
    ) -> Result<(), BackendError>;
    async fn del_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
    ) -> Result<(), BackendError>;
    /// Addresses of one link, or of every link when `index` is `None`.
    async fn list_addresses(
        &self,
        netns: &NetnsRef,
        index: Option<IfIndex>,
    ) -> Result<Vec<AddrInfo>, BackendError>;

    // ---- routes (main table) ----
    async fn add_route(&self, netns: &NetnsRef, route: &RouteSpec) -> Result<(), BackendError>;
    async fn del_route(&self, netns: &NetnsRef, route: &RouteSpec) -> Result<(), BackendError>;
    async fn list_routes(
        &self,
        netns: &NetnsRef,
        family: Family,
    ) -> Result<Vec<RouteInfo>, BackendError>;
    /// Route lookup (`ip route get DST [oif IDX]`).
    async fn get_route(
        &self,
        netns: &NetnsRef,
        dst: IpAddr,
        oif: Option<IfIndex>,
    ) -> Result<RouteInfo, BackendError>;

    // ---- sysctls, as paths below /proc/sys, e.g. `net/ipv6/conf/eth0/disable_ipv6` ----
    /// Read the value, trimmed. `ENOENT` when the file does not exist, `EISDIR` for a directory.
    async fn read_sysctl(&self, netns: &NetnsRef, path: &str) -> Result<String, BackendError>;
    async fn write_sysctl(
        &self,
        netns: &NetnsRef,
        path: &str,
        value: &str,
    ) -> Result<(), BackendError>;

    // ---- events, frames, counters ----
    /// Start receiving link events of `netns`. Events after this call returns are delivered.
    async fn subscribe_links(&self, netns: &NetnsRef) -> Result<LinkEvents, BackendError>;
    /// Send one unsolicited ARP request (SPEC S2) out of `index`.
    async fn send_arp(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv4Addr,
    ) -> Result<(), BackendError>;
    /// Send one unsolicited neighbour advertisement (SPEC S3) out of `index`.
    async fn send_na(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv6Addr,
    ) -> Result<(), BackendError>;
    /// 64-bit counters of one link (SPEC T1).
    async fn link_stats(&self, netns: &NetnsRef, index: IfIndex)
        -> Result<LinkStats, BackendError>;
}
