//! The one seam between logic and kernel: every kernel operation nsplumb needs, as one method.

use crate::types::{
    AddrInfo, Family, IfIndex, LinkEvent, LinkInfo, LinkStats, MacAddr, NetnsRef, RouteInfo,
    RouteSpec, Timestamp,
};
use crate::BackendError;
use futures::stream::BoxStream;
use ipnet::IpNet;
use std::future::Future;
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
pub trait NetBackend: Send + Sync + 'static {
    // ---- clock: the driver's only source of time ----
    /// Monotonic now on this backend's clock (virtual in the simulator).
    fn now(&self) -> Timestamp;
    /// Resolve at `deadline` on this backend's clock.
    fn sleep_until(&self, deadline: Timestamp) -> impl Future<Output = ()> + Send;

    // ---- namespaces ----
    /// Create a named namespace the way `ip netns add` does; returns its reference.
    fn create_netns(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<NetnsRef, BackendError>> + Send;
    /// Delete a named namespace (`ip netns del`).
    fn delete_netns(
        &self,
        netns: &NetnsRef,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Every namespace this backend can see, the host's own first.
    fn list_netns(&self) -> impl Future<Output = Result<Vec<NetnsRef>, BackendError>> + Send;
    /// An identity of the namespace that is never reused while the system runs (Linux: the
    /// netns cookie, `SO_NETNS_COOKIE`), or `None` if the backend has none. The nsfs inode of
    /// a deleted namespace is given at once to the next one created, so state kept per
    /// (device, inode) must be checked against this before it is trusted.
    fn netns_cookie(
        &self,
        _netns: &NetnsRef,
    ) -> impl Future<Output = Result<Option<u64>, BackendError>> + Send {
        async { Ok(None) }
    }

    /// Get ready to act in `netns` (Linux: open its netlink connection and sockets, one
    /// thread hop), so the first real request there does not pay for it. A hint: it never
    /// fails; the requests that follow report any problem with the namespace.
    ///
    /// [`Plumber::attach_many`](crate::Plumber::attach_many) calls it for every destination
    /// before the first move: a namespace's first contact right before a move makes that
    /// move wait one more kernel tick (measured: 16 → 20 ms per move on Linux).
    fn prepare_netns(&self, _netns: &NetnsRef) -> impl Future<Output = ()> + Send {
        async {}
    }

    // ---- links ----
    fn link_by_name(
        &self,
        netns: &NetnsRef,
        name: &str,
    ) -> impl Future<Output = Result<LinkInfo, BackendError>> + Send;
    fn link_by_index(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> impl Future<Output = Result<LinkInfo, BackendError>> + Send;
    fn list_links(
        &self,
        netns: &NetnsRef,
    ) -> impl Future<Output = Result<Vec<LinkInfo>, BackendError>> + Send;
    /// Move a link to another namespace and give it `new_name` there, in one message
    /// (`IFLA_NET_NS_FD` + `IFLA_IFNAME`). Returns its index in the destination.
    fn move_link(
        &self,
        from: &NetnsRef,
        index: IfIndex,
        to: &NetnsRef,
        new_name: &str,
    ) -> impl Future<Output = Result<IfIndex, BackendError>> + Send;
    fn rename_link(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        name: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn set_link_up(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn set_link_down(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn set_mac(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Enslave to `master` (a bridge in the same namespace), or release with `None`.
    fn set_master(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        master: Option<IfIndex>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn create_bridge(
        &self,
        netns: &NetnsRef,
        name: &str,
    ) -> impl Future<Output = Result<IfIndex, BackendError>> + Send;
    /// Create a veth pair in one request (see [`VethRequest`]); `netns` holds the host end.
    fn create_veth(
        &self,
        netns: &NetnsRef,
        request: &VethRequest,
    ) -> impl Future<Output = Result<VethPair, BackendError>> + Send;
    /// Delete links, as one kernel batch where the backend can (a veth takes its peer along).
    fn delete_links(
        &self,
        netns: &NetnsRef,
        indices: &[IfIndex],
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    // ---- addresses ----
    /// Add an address; `nodad` sets `IFA_F_NODAD` (IPv6).
    fn add_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
        nodad: bool,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn del_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Addresses of one link, or of every link when `index` is `None`.
    fn list_addresses(
        &self,
        netns: &NetnsRef,
        index: Option<IfIndex>,
    ) -> impl Future<Output = Result<Vec<AddrInfo>, BackendError>> + Send;

    // ---- routes (main table) ----
    fn add_route(
        &self,
        netns: &NetnsRef,
        route: &RouteSpec,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn del_route(
        &self,
        netns: &NetnsRef,
        route: &RouteSpec,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn list_routes(
        &self,
        netns: &NetnsRef,
        family: Family,
    ) -> impl Future<Output = Result<Vec<RouteInfo>, BackendError>> + Send;
    /// Route lookup (`ip route get DST [oif IDX]`).
    fn get_route(
        &self,
        netns: &NetnsRef,
        dst: IpAddr,
        oif: Option<IfIndex>,
    ) -> impl Future<Output = Result<RouteInfo, BackendError>> + Send;

    // ---- sysctls, as paths below /proc/sys, e.g. `net/ipv6/conf/eth0/disable_ipv6` ----
    /// Read the value, trimmed. `ENOENT` when the file does not exist, `EISDIR` for a directory.
    fn read_sysctl(
        &self,
        netns: &NetnsRef,
        path: &str,
    ) -> impl Future<Output = Result<String, BackendError>> + Send;
    fn write_sysctl(
        &self,
        netns: &NetnsRef,
        path: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    // ---- events, frames, counters ----
    /// Start receiving link events of `netns`. Events after this call returns are delivered.
    fn subscribe_links(
        &self,
        netns: &NetnsRef,
    ) -> impl Future<Output = Result<LinkEvents, BackendError>> + Send;
    /// Send one unsolicited ARP request (SPEC S2) out of `index`.
    fn send_arp(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv4Addr,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Send one unsolicited neighbour advertisement (SPEC S3) out of `index`.
    fn send_na(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv6Addr,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// 64-bit counters of one link (SPEC T1).
    fn link_stats(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> impl Future<Output = Result<LinkStats, BackendError>> + Send;
}
