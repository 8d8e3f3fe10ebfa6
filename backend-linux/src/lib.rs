//! nsplumb-linux: the [`NetBackend`] of the real kernel.
//!
//! * Links, addresses and routes: rtnetlink, one cached connection per namespace (keyed by the
//!   namespace file's device and inode, so two paths to one namespace share it).
//! * Announcements: an `AF_PACKET` socket (ARP, SPEC S2) and a raw ICMPv6 socket (NA, SPEC S3)
//!   created inside the namespace, cached.
//! * Sysctls: `/proc/sys` files opened inside the namespace.
//!
//! THE RULE: every socket and `/proc/sys` file of a namespace is opened on a short-lived std
//! thread that has `setns`-ed into it ([`netns::in_netns`]); tokio workers never change namespace.

mod announce;
mod netns;
mod nl;

use futures::stream::{self, StreamExt};
use futures::TryFutureExt;
use ipnet::IpNet;
use netlink_packet_core::NetlinkMessage;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags as NlLinkFlags, LinkInfo as NlLinkInfo,
    LinkMessage,
};
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope as NlScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netns::{in_netns, NsFile, NsKey};
use nl::{NlError, RawLink};
use nsplumb_core::{
    AddrInfo, BackendError, Errno, Family, IfIndex, LinkEvent, LinkEvents, LinkInfo, MacAddr,
    NetBackend, NetnsAdmin, NetnsRef, Op, PeerRef, Reply, Request, RouteInfo, RouteSpec, Timestamp,
    VethPair, VethRequest,
};
use rtnetlink::Handle;
use socket2::Socket;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use tracing::Instrument;

/// The process-wide epoch of [`NetBackend::now`]: captured once, on tokio's clock.
fn epoch() -> tokio::time::Instant {
    static EPOCH: OnceLock<tokio::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(tokio::time::Instant::now)
}

/// The link multicast group (`RTNLGRP_LINK`), joined with `NETLINK_ADD_MEMBERSHIP`.
const RTNLGRP_LINK: u32 = 1;

/// How many namespace threads this process has started (each `in_netns` call): the cost the
/// spare sockets save. For tests and benchmarks.
#[doc(hidden)]
pub fn thread_hops() -> u64 {
    netns::HOPS.load(std::sync::atomic::Ordering::Relaxed)
}

/// A link group number for one batch delete, unlikely to be in use by anyone else.
fn batch_group() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    0x4000_0000 | ((std::process::id() & 0x3fff) << 16) | (n & 0xffff)
}

struct Conn {
    handle: Handle,
    task: tokio::task::AbortHandle,
    used: std::time::Instant,
    /// Sockets opened inside the namespace ahead of need, in a thread hop that was made anyway.
    spares: Spares,
}

/// Sockets of a namespace opened ahead of time, so that taking one needs no thread hop (a
/// socket's namespace is fixed when it is created; what is done with it later can be done from
/// any thread).
#[derive(Default)]
struct Spares {
    /// Rtnetlink sockets for [`NetBackend::subscribe_links`], bound (with a port id) but in no
    /// group, so they receive nothing: one joins `RTNLGRP_LINK` when taken, after what is
    /// queued on it is drained, before the subscription is handed out (SPEC A11: subscribe
    /// first, then read). A subscription's socket comes back here when its stream is dropped
    /// (at most [`EVENT_SPARES_MAX`]).
    events: Vec<netlink_sys::Socket>,
    // No ARP (AF_PACKET) socket ahead: closing one waits for an RCU grace period in the kernel
    // (`packet_release` → `synchronize_net`, ~20 ms), so a spare that is never used costs
    // every short-lived process (the CLI) that much at exit.
    /// A raw ICMPv6 socket, receiving nothing, for the first NA sender (SPEC S3): set up for
    /// its interface and address when [`LinuxBackend::na_socket`] takes it.
    na: Option<Socket>,
}

/// Spare event sockets opened in a hop made for a subscription that found none, besides the
/// one it needs. Sockets of dropped subscriptions come back as spares, so only subscriptions
/// open at the same time need sockets of their own: a namespace with many of them (the host,
/// where every veth's host end is watched) hops once every `1 + EVENT_SPARES`.
const EVENT_SPARES: usize = 4;
/// At most this many event sockets are kept per namespace (fresh and returned ones); a dropped
/// subscription's socket beyond them is closed.
const EVENT_SPARES_MAX: usize = 8;

/// A link-event socket, not yet a member of any group. Runs inside the namespace.
fn open_event_socket() -> io::Result<netlink_sys::Socket> {
    let mut s = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
    // Room for bursts (50 links created at once) before ENOBUFS drops events.
    let _ = s.set_rx_buf_sz(1 << 20);
    s.set_non_blocking(true)?;
    // Bound once, now, with no groups: the kernel gives it a port id. Multicast reaches only
    // bound sockets, and a second bind (port id 0 again) would fail with EINVAL, so the group
    // is joined later with NETLINK_ADD_MEMBERSHIP (see `join_link_events`).
    s.bind_auto()?;
    Ok(s)
}

/// Throw away everything queued on a non-blocking event socket. An ENOBUFS (the queue
/// overflowed) is cleared by reading it.
fn drain_event_socket(s: &netlink_sys::Socket) -> io::Result<()> {
    let mut buf = [0u8; 64];
    // Bounded: a socket in no group gets nothing new while it is drained.
    for _ in 0..1_000_000 {
        // SAFETY: a valid descriptor and a buffer of the length passed. A datagram is consumed
        // whole however short the buffer (MSG_TRUNC only reports its real length).
        let n = unsafe {
            libc::recv(
                s.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n >= 0 {
            continue;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(()),
            Some(libc::ENOBUFS) | Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(libc::EBUSY))
}

/// Make a spare (fresh or returned) an event subscription: nothing from before, everything
/// from now on. Needs no namespace: the socket's own is the one it listens to.
fn join_link_events(s: &netlink_sys::Socket) -> io::Result<()> {
    drain_event_socket(s)?;
    // Synchronous: broadcasts after this returns are queued on the socket.
    s.add_membership(RTNLGRP_LINK)
}

/// Up to `n` event sockets; stops at the first failure (spares are an optimisation).
fn open_event_spares(n: usize) -> Vec<netlink_sys::Socket> {
    (0..n).map_while(|_| open_event_socket().ok()).collect()
}

/// A cached socket keeps its namespace alive. Namespaces deleted behind the backend's back are
/// released once their sockets sit unused this long (the host's connection is kept).
const CONN_IDLE: std::time::Duration = std::time::Duration::from_secs(60);
/// Sender sockets serve the few announcements of one attach (at most 3, 2 s apart).
const SENDER_IDLE: std::time::Duration = std::time::Duration::from_secs(15);

/// A sender socket and when it was last used.
struct Sender {
    sock: Arc<Socket>,
    used: std::time::Instant,
}

fn prune_senders<K>(map: &mut HashMap<K, Sender>) {
    map.retain(|_, s| s.used.elapsed() < SENDER_IDLE);
}

struct Inner {
    host: NsFile,
    dir: PathBuf,
    /// One rtnetlink connection per namespace.
    conns: Mutex<HashMap<NsKey, Conn>>,
    /// Every namespace this backend has opened, by key: to map netns ids back to references.
    known: Mutex<HashMap<NsKey, NetnsRef>>,
    /// Per namespace: netns id (as seen there) → (namespace key, reference), filled on demand.
    nsids: Mutex<HashMap<NsKey, NsidMap>>,
    /// One packet socket per namespace (ARP).
    packet: Mutex<HashMap<NsKey, Sender>>,
    /// One raw ICMPv6 socket per (namespace, ifindex, source address) (NA).
    na: Mutex<HashMap<(NsKey, u32, Ipv6Addr), Sender>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(conns) = self.conns.get_mut() {
            for c in conns.values() {
                c.task.abort();
            }
        }
    }
}

/// The Linux implementation of [`NetBackend`]. Cheap to clone; clones share caches.
///
/// Must be used from within a tokio runtime (netlink connections are spawned with
/// `tokio::spawn`).
#[derive(Clone)]
pub struct LinuxBackend {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LinuxBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxBackend")
            .field("netns_dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn ifobj(index: IfIndex) -> String {
    format!("ifindex {index}")
}

impl LinuxBackend {
    /// A backend whose host namespace is the one this process runs in, with named namespaces
    /// in `$NSPLUMB_NETNS_DIR` or `/run/netns`.
    pub fn new() -> io::Result<LinuxBackend> {
        Self::with_netns_dir(netns::netns_dir())
    }

    /// As [`LinuxBackend::new`] with named namespaces kept in `dir`.
    pub fn with_netns_dir(dir: impl Into<PathBuf>) -> io::Result<LinuxBackend> {
        let _ = epoch();
        let host = NsFile::open(Path::new("/proc/self/ns/net"))?;
        let mut known = HashMap::new();
        known.insert(host.key, NetnsRef::Host);
        Ok(LinuxBackend {
            inner: Arc::new(Inner {
                host,
                dir: dir.into(),
                conns: Mutex::new(HashMap::new()),
                known: Mutex::new(known),
                nsids: Mutex::new(HashMap::new()),
                packet: Mutex::new(HashMap::new()),
                na: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Where named namespaces are created and listed.
    pub fn netns_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// How many namespaces have a cached rtnetlink connection (diagnostics, tests).
    pub fn cached_connections(&self) -> usize {
        lock(&self.inner.conns).len()
    }

    /// Close every cached socket of `netns` (netlink connection, sender sockets). A cached
    /// socket keeps its namespace alive: call this when a namespace is deleted by someone else.
    /// [`NetnsAdmin::delete_netns`] does it itself.
    pub fn forget_netns(&self, netns: &NetnsRef) {
        if let Ok(ns) = self.inner.resolve(netns) {
            self.inner.forget(ns.key);
        }
    }
}

/// Netns id → (namespace key, reference), as seen from one namespace.
type NsidMap = HashMap<i32, (NsKey, NetnsRef)>;

impl Inner {
    fn resolve(&self, netns: &NetnsRef) -> io::Result<NsFile> {
        match netns {
            NetnsRef::Host => Ok(self.host.clone()),
            NetnsRef::Path(p) => {
                let ns = NsFile::open(Path::new(&**p))?;
                lock(&self.known)
                    .entry(ns.key)
                    .or_insert_with(|| netns.clone());
                Ok(ns)
            }
        }
    }

    /// Whether `ns` has a live cached connection.
    fn connected(&self, ns: &NsFile) -> bool {
        lock(&self.conns)
            .get(&ns.key)
            .is_some_and(|c| !c.task.is_finished())
    }

    fn forget(&self, key: NsKey) {
        if let Some(c) = lock(&self.conns).remove(&key) {
            c.task.abort();
        }
        lock(&self.packet).remove(&key);
        lock(&self.na).retain(|(k, _, _), _| *k != key);
        let mut nsids = lock(&self.nsids);
        nsids.remove(&key);
        for map in nsids.values_mut() {
            map.retain(|_, (k, _)| *k != key);
        }
        drop(nsids);
        if key != self.host.key {
            lock(&self.known).remove(&key);
        }
    }

    async fn handle(&self, ns: &NsFile) -> Result<Handle, NlError> {
        {
            let mut conns = lock(&self.conns);
            if let Some(c) = conns.get_mut(&ns.key) {
                if !c.task.is_finished() {
                    c.used = std::time::Instant::now();
                    return Ok(c.handle.clone());
                }
            }
            let host = self.host.key;
            conns.retain(|k, c| {
                let keep = *k == host || (c.used.elapsed() < CONN_IDLE && !c.task.is_finished());
                if !keep {
                    c.task.abort();
                }
                keep
            });
        }
        // The hop that opens the connection also opens the sockets an attach needs next in
        // this namespace: one for link events (SPEC A11) and one for NA (SPEC S3); not ARP's
        // (see `Spares`).
        let (fd, spares) = in_netns(ns, || {
            let s = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
            let _ = s.set_ext_ack(true);
            let _ = s.set_cap_ack(true);
            // The kernel honours the filters of dump requests (list_routes asks for the main
            // table only). Kernels before 4.20 lack it: then everything is filtered here.
            let _ = s.set_netlink_get_strict_chk(true);
            // SAFETY: into_raw_fd hands over ownership of a valid descriptor.
            let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(s.into_raw_fd()) };
            let spares = Spares {
                events: open_event_spares(1),
                na: announce::open_na_socket().ok(),
            };
            Ok((fd, spares))
        })
        .await
        .map_err(|e| NlError::io(&e))?;
        // SAFETY: fd is an owned netlink socket descriptor.
        let sock = unsafe {
            <netlink_sys::TokioSocket as std::os::fd::FromRawFd>::from_raw_fd(fd.into_raw_fd())
        };
        let (conn, handle, _unsolicited) = rtnetlink::from_socket(sock);
        let task = tokio::spawn(conn).abort_handle();
        let mut conns = lock(&self.conns);
        if let Some(c) = conns.get(&ns.key) {
            if !c.task.is_finished() {
                task.abort();
                return Ok(c.handle.clone());
            }
        }
        conns.insert(
            ns.key,
            Conn {
                handle: handle.clone(),
                task,
                used: std::time::Instant::now(),
                spares,
            },
        );
        Ok(handle)
    }

    /// A spare event socket of `ns`'s live connection, if one is left.
    fn take_event_spare(&self, ns: &NsFile) -> Option<netlink_sys::Socket> {
        let mut conns = lock(&self.conns);
        let c = conns.get_mut(&ns.key).filter(|c| !c.task.is_finished())?;
        c.spares.events.pop()
    }

    /// Keep event sockets of `ns` (opened there, or returned by a dropped subscription) for
    /// later subscriptions, if `ns` has a live connection and there is room; the rest are
    /// closed. The caller holds `ns` open, so a connection under the same key is one of the
    /// same namespace (the kernel gives a live namespace's inode to no other).
    fn keep_event_spares(&self, ns: &NsFile, spares: Vec<netlink_sys::Socket>) {
        let mut conns = lock(&self.conns);
        if let Some(c) = conns.get_mut(&ns.key).filter(|c| !c.task.is_finished()) {
            let room = EVENT_SPARES_MAX.saturating_sub(c.spares.events.len());
            c.spares.events.extend(spares.into_iter().take(room));
        }
    }

    /// Give a dropped subscription's socket back to `ns`'s spares (see `keep_event_spares`).
    fn return_event_socket(&self, ns: &NsFile, s: netlink_sys::Socket) {
        // Leave the group first: from here on nothing new is queued. What is queued already
        // is drained now (to free it) and again when the socket is taken.
        if s.drop_membership(RTNLGRP_LINK).is_ok() && drain_event_socket(&s).is_ok() {
            self.keep_event_spares(ns, vec![s]);
        }
    }

    /// The spare NA socket of `ns`'s live connection, if not taken yet.
    fn take_na_spare(&self, ns: &NsFile) -> Option<Socket> {
        let mut conns = lock(&self.conns);
        let c = conns.get_mut(&ns.key).filter(|c| !c.task.is_finished())?;
        c.spares.na.take()
    }

    /// One request, its responses collected. Retries once on a connection that died (e.g. its
    /// runtime was shut down).
    async fn req(
        &self,
        ns: &NsFile,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        let handle = self.handle(ns).await?;
        let stream = match nl::start(&handle, msg.clone(), flags) {
            Ok(s) => s,
            Err(e) if e.dead_connection => {
                lock(&self.conns).remove(&ns.key);
                let handle = self.handle(ns).await?;
                nl::start(&handle, msg, flags)?
            }
            Err(e) => return Err(e),
        };
        nl::collect(stream).await
    }

    async fn get_link_msg(
        &self,
        ns: &NsFile,
        index: Option<IfIndex>,
        name: Option<&str>,
    ) -> Result<LinkMessage, NlError> {
        let mut m = LinkMessage::default();
        if let Some(i) = index {
            m.header.index = i;
        }
        if let Some(n) = name {
            m.attributes.push(LinkAttribute::IfName(n.to_string()));
        }
        let replies = self
            .req(ns, RouteNetlinkMessage::GetLink(m), nl::GET)
            .await?;
        replies
            .into_iter()
            .find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .ok_or_else(|| NlError::errno(Errno::ENODEV))
    }

    /// The id `ns` gives to `other` (RTM_GETNSID with NETNSA_FD), if one is assigned.
    async fn nsid_of(&self, ns: &NsFile, other: &NetnsRef) -> Option<i32> {
        let other = self.resolve(other).ok()?;
        let mut m = NsidMessage::default();
        m.attributes
            .push(NsidAttribute::Fd(other.fd.as_raw_fd() as u32));
        let replies = self
            .req(ns, RouteNetlinkMessage::GetNsId(m), nl::GET)
            .await
            .ok()?;
        replies.into_iter().find_map(|reply| match reply {
            RouteNetlinkMessage::NewNsId(n) => n.attributes.into_iter().find_map(|a| match a {
                NsidAttribute::Id(id) if id >= 0 => Some(id),
                _ => None,
            }),
            _ => None,
        })
    }

    /// The namespace that netns id `id` names, as seen from `ns`. Cached per namespace; on a
    /// miss it asks about the host first (a container end's peer is nearly always there), then
    /// only about namespaces not mapped from `ns` yet, so the cost of a link read does not grow
    /// with the number of namespaces.
    async fn peer_netns(&self, ns: &NsFile, id: i32) -> Option<NetnsRef> {
        let mapped: HashSet<NsKey> = {
            let nsids = lock(&self.nsids);
            let map = nsids.get(&ns.key);
            if let Some((_, r)) = map.and_then(|m| m.get(&id)) {
                return Some(r.clone());
            }
            map.map(|m| m.values().map(|(k, _)| *k).collect())
                .unwrap_or_default()
        };
        let mut candidates = vec![(self.host.key, NetnsRef::Host)];
        candidates.extend(
            lock(&self.known)
                .iter()
                .filter(|(k, _)| **k != self.host.key)
                .map(|(k, v)| (*k, v.clone())),
        );
        for (key, r) in candidates {
            if mapped.contains(&key) {
                continue;
            }
            let Some(found) = self.nsid_of(ns, &r).await else {
                continue;
            };
            lock(&self.nsids)
                .entry(ns.key)
                .or_default()
                .insert(found, (key, r.clone()));
            if found == id {
                return Some(r);
            }
        }
        None
    }

    /// Record that netns id `id`, as seen from `ns`, names `other` (told by the kernel).
    fn learn_nsid(&self, ns: &NsFile, id: i32, other: &NsFile, other_ref: &NetnsRef) {
        // The reference `peer_netns` would give: the first one this backend saw for it.
        let r = lock(&self.known)
            .get(&other.key)
            .cloned()
            .unwrap_or_else(|| other_ref.clone());
        lock(&self.nsids)
            .entry(ns.key)
            .or_default()
            .insert(id, (other.key, r));
    }

    /// Fill `peer` of links read from `ns` (named `ns_ref`).
    async fn finish_links(
        &self,
        ns: &NsFile,
        ns_ref: &NetnsRef,
        raws: Vec<RawLink>,
    ) -> Vec<LinkInfo> {
        let mut out = Vec::with_capacity(raws.len());
        for raw in raws {
            let mut info = raw.info;
            if let Some(index) = raw.peer_index {
                let netns = match raw.peer_nsid {
                    None => Some(ns_ref.clone()),
                    Some(id) => self.peer_netns(ns, id).await,
                };
                info.peer = Some(PeerRef { netns, index });
            }
            out.push(info);
        }
        out
    }

    async fn link(
        &self,
        ns: &NsFile,
        ns_ref: &NetnsRef,
        index: Option<IfIndex>,
        name: Option<&str>,
    ) -> Result<LinkInfo, NlError> {
        let msg = self.get_link_msg(ns, index, name).await?;
        let raw = nl::parse_link(&msg);
        Ok(self
            .finish_links(ns, ns_ref, vec![raw])
            .await
            .pop()
            .expect("one link in, one out"))
    }

    /// `ifindex 7` or `eth0 (ifindex 7)` when the link can still be read.
    async fn describe(&self, ns: &NsFile, index: IfIndex) -> String {
        match self.get_link_msg(ns, Some(index), None).await {
            Ok(m) => {
                let raw = nl::parse_link(&m);
                format!("{} (ifindex {index})", raw.info.name)
            }
            Err(_) => ifobj(index),
        }
    }

    /// RTM_DELLINK for every index, all queued before any answer is read; the first error.
    async fn pipelined(&self, ns: &NsFile, indices: &[IfIndex]) -> Option<(IfIndex, NlError)> {
        let handle = match self.handle(ns).await {
            Ok(h) => h,
            Err(e) => return indices.first().map(|i| (*i, e)),
        };
        let mut pending = Vec::with_capacity(indices.len());
        for &index in indices {
            match nl::start(
                &handle,
                RouteNetlinkMessage::DelLink(link_msg(index)),
                nl::ACK,
            ) {
                Ok(stream) => pending.push(nl::collect(stream).map_err(move |e| (index, e))),
                Err(e) => return Some((index, e)),
            }
        }
        futures::future::join_all(pending)
            .await
            .into_iter()
            .find_map(Result::err)
    }

    /// RTM_SETLINK of `attr` on every index, pipelined; each index with its result.
    async fn pipelined_set(
        &self,
        ns: &NsFile,
        indices: &[IfIndex],
        attr: LinkAttribute,
    ) -> Vec<(IfIndex, Result<(), NlError>)> {
        let handle = match self.handle(ns).await {
            Ok(h) => h,
            Err(e) => return indices.iter().map(|i| (*i, Err(e.clone()))).collect(),
        };
        let mut pending = Vec::with_capacity(indices.len());
        for &index in indices {
            let mut m = link_msg(index);
            m.attributes.push(attr.clone());
            let started = nl::start(&handle, RouteNetlinkMessage::SetLink(m), nl::ACK);
            pending.push(async move {
                match started {
                    Ok(stream) => (index, nl::collect(stream).await.map(|_| ())),
                    Err(e) => (index, Err(e)),
                }
            });
        }
        futures::future::join_all(pending).await
    }

    async fn setlink(&self, ns: &NsFile, msg: LinkMessage) -> Result<(), NlError> {
        self.req(ns, RouteNetlinkMessage::SetLink(msg), nl::ACK)
            .await
            .map(|_| ())
    }
}

fn link_msg(index: IfIndex) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m
}

fn family_of(ip: &IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn route_address(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

fn addr_msg(index: IfIndex, net: &IpNet) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family_of(&net.addr());
    m.header.prefix_len = net.prefix_len();
    m.header.index = index;
    m.header.scope = if net.addr().is_loopback() {
        AddressScope::Host
    } else {
        AddressScope::Universe
    };
    m.attributes.push(AddressAttribute::Local(net.addr()));
    m.attributes.push(AddressAttribute::Address(net.addr()));
    m
}

/// SPEC A5 needs the main table's routes of one family: the dump asks for that table only
/// (honoured with strict checking, see `Inner::handle`, so the local table, one route per
/// address, is not sent); the replies are filtered by table anyway.
fn routes_dump_msg(family: Family) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = match family {
        Family::V4 => AddressFamily::Inet,
        Family::V6 => AddressFamily::Inet6,
    };
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m
}

fn route_msg(route: &RouteSpec, for_delete: bool) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family_of(&route.dst.addr());
    m.header.destination_prefix_length = route.dst.prefix_len();
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    if for_delete {
        m.header.protocol = RouteProtocol::Unspec;
        m.header.scope = NlScope::NoWhere;
        m.header.kind = RouteType::Unspec;
    } else {
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = nl::scope_to_nl(route.scope);
        m.header.kind = RouteType::Unicast;
    }
    if route.dst.prefix_len() > 0 {
        m.attributes.push(RouteAttribute::Destination(route_address(
            route.dst.network(),
        )));
    }
    if let Some(gw) = route.gateway {
        m.attributes
            .push(RouteAttribute::Gateway(route_address(gw)));
    }
    m.attributes.push(RouteAttribute::Oif(route.oif));
    m
}

/// A sysctl path below `/proc/sys`, refused when it could leave it.
fn sysctl_path(path: &str) -> Option<PathBuf> {
    if path.is_empty()
        || path.starts_with('/')
        || path.contains('\0')
        || path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return None;
    }
    Some(Path::new("/proc/sys").join(path))
}

impl LinuxBackend {
    fn ns(&self, op: Op, netns: &NetnsRef) -> Result<NsFile, BackendError> {
        self.inner.resolve(netns).map_err(|e| {
            BackendError::new(
                op,
                Errno(e.raw_os_error().unwrap_or(libc::EIO)),
                netns,
                format!("namespace {netns}"),
            )
            .with_detail("cannot open the namespace file")
        })
    }

    fn err(op: Op, netns: &NetnsRef, object: impl Into<String>, e: NlError) -> BackendError {
        BackendError::new(op, e.errno, netns, object).with_detail(e.detail)
    }

    /// Send an address request; an error names the address and the link.
    #[allow(clippy::too_many_arguments)]
    async fn address_request(
        &self,
        op: Op,
        ns: &NsFile,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
        req: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), BackendError> {
        match self.inner.req(ns, req, flags).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let mut be = self.link_err(op, ns, netns, index, e).await;
                be.object = format!("{net} on {}", be.object);
                Err(be)
            }
        }
    }

    /// Error about link `index`, named by its current name when it can still be read.
    async fn link_err(
        &self,
        op: Op,
        ns: &NsFile,
        netns: &NetnsRef,
        index: IfIndex,
        e: NlError,
    ) -> BackendError {
        let object = if e.errno == Errno::ENODEV {
            ifobj(index)
        } else {
            self.inner.describe(ns, index).await
        };
        Self::err(op, netns, object, e)
    }

    async fn set_link(
        &self,
        op: Op,
        netns: &NetnsRef,
        index: IfIndex,
        msg: LinkMessage,
    ) -> Result<(), BackendError> {
        let ns = self.ns(op, netns)?;
        match self.inner.setlink(&ns, msg).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.link_err(op, &ns, netns, index, e).await),
        }
    }

    async fn index_by_name(
        &self,
        op: Op,
        ns: &NsFile,
        netns: &NetnsRef,
        name: &str,
    ) -> Result<IfIndex, BackendError> {
        self.inner
            .get_link_msg(ns, None, Some(name))
            .await
            .map(|m| m.header.index)
            .map_err(|e| Self::err(op, netns, name, e))
    }

    async fn packet_socket(&self, ns: &NsFile) -> io::Result<Arc<Socket>> {
        {
            let mut map = lock(&self.inner.packet);
            if let Some(s) = map.get_mut(&ns.key) {
                s.used = std::time::Instant::now();
                return Ok(s.sock.clone());
            }
            prune_senders(&mut map);
        }
        let sock = Arc::new(in_netns(ns, announce::open_packet).await?);
        let used = std::time::Instant::now();
        let entry = Sender {
            sock: sock.clone(),
            used,
        };
        lock(&self.inner.packet).insert(ns.key, entry);
        Ok(sock)
    }

    async fn na_socket(&self, ns: &NsFile, index: u32, src: Ipv6Addr) -> io::Result<Arc<Socket>> {
        let key = (ns.key, index, src);
        {
            let mut map = lock(&self.inner.na);
            if let Some(s) = map.get_mut(&key) {
                s.used = std::time::Instant::now();
                return Ok(s.sock.clone());
            }
            prune_senders(&mut map);
        }
        let sock = match self.inner.take_na_spare(ns) {
            Some(s) => {
                announce::setup_na(&s, index, src)?;
                s
            }
            None => in_netns(ns, move || announce::open_na(index, src)).await?,
        };
        let sock = Arc::new(sock);
        let used = std::time::Instant::now();
        let entry = Sender {
            sock: sock.clone(),
            used,
        };
        lock(&self.inner.na).insert(key, entry);
        Ok(sock)
    }
}

fn io_errno(e: &io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::EIO))
}

/// One match from a [`Request`] to the operation that runs it; the operations are in
/// `impl LinuxBackend` below, grouped by kernel object.
impl NetBackend for LinuxBackend {
    fn now(&self) -> Timestamp {
        Timestamp::from_duration(tokio::time::Instant::now().saturating_duration_since(epoch()))
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        tokio::time::sleep_until(epoch() + deadline.as_duration()).await
    }

    async fn execute(&self, request: &Request) -> Result<Reply, BackendError> {
        use Request as R;
        let done = |r: Result<(), BackendError>| r.map(|()| Reply::Done);
        match request {
            R::LinkByName { netns, name } => self.link_by_name(netns, name).await.map(Reply::Link),
            R::LinkByIndex { netns, index } => {
                self.link_by_index(netns, *index).await.map(Reply::Link)
            }
            R::ListLinks { netns } => self.list_links(netns).await.map(Reply::Links),
            R::MoveLink {
                from,
                index,
                to,
                new_name,
            } => self
                .move_link(from, *index, to, new_name)
                .await
                .map(Reply::Index),
            R::RenameLink { netns, index, name } => {
                done(self.rename_link(netns, *index, name).await)
            }
            R::SetLinkUp { netns, index } => done(self.set_link_up(netns, *index).await),
            R::SetLinkDown { netns, index } => done(self.set_link_down(netns, *index).await),
            R::SetMac { netns, index, mac } => done(self.set_mac(netns, *index, *mac).await),
            R::SetMaster {
                netns,
                index,
                master,
            } => done(self.set_master(netns, *index, *master).await),
            R::CreateBridge { netns, name, .. } => {
                self.create_bridge(netns, name).await.map(Reply::Index)
            }
            // SPEC L1–L4 are not implemented yet (issue #13).
            R::SetMtu { .. }
            | R::SetPortFlags { .. }
            | R::AddPortVlans { .. }
            | R::DelPortVlans { .. }
            | R::ListPortVlans { .. } => Err(BackendError::new(
                request.op(),
                Errno::EOPNOTSUPP,
                request.netns(),
                request.object(),
            )),
            R::CreateVeth { netns, request } => {
                self.create_veth(netns, request).await.map(Reply::Veth)
            }
            R::DeleteLinks { netns, indices } => done(self.delete_links(netns, indices).await),
            R::AddAddress {
                netns,
                index,
                net,
                nodad,
            } => done(self.add_address(netns, *index, *net, *nodad).await),
            R::DelAddress { netns, index, net } => {
                done(self.del_address(netns, *index, *net).await)
            }
            R::ListAddresses { netns, index } => self
                .list_addresses(netns, *index)
                .await
                .map(Reply::Addresses),
            R::AddRoute { netns, route } => done(self.add_route(netns, route).await),
            R::DelRoute { netns, route } => done(self.del_route(netns, route).await),
            R::ListRoutes { netns, family } => {
                self.list_routes(netns, *family).await.map(Reply::Routes)
            }
            R::GetRoute { netns, dst, oif } => {
                self.get_route(netns, *dst, *oif).await.map(Reply::Route)
            }
            R::ReadSysctl { netns, path } => self.read_sysctl(netns, path).await.map(Reply::Value),
            R::WriteSysctl { netns, path, value } => {
                done(self.write_sysctl(netns, path, value).await)
            }
            R::SendArp {
                netns,
                index,
                mac,
                addr,
            } => done(self.send_arp(netns, *index, *mac, *addr).await),
            R::SendNa {
                netns,
                index,
                mac,
                addr,
            } => done(self.send_na(netns, *index, *mac, *addr).await),
        }
    }

    async fn subscribe_links(&self, netns: &NetnsRef) -> Result<LinkEvents, BackendError> {
        let op = Op::SubscribeLinks;
        let ns = self.ns(op, netns)?;
        let span = tracing::debug_span!("subscribe_links", netns = %netns);
        let sock = async {
            // A spare of the namespace's connection (fresh, or returned by a dropped
            // subscription): no thread hop.
            if let Some(s) = self.inner.take_event_spare(&ns) {
                return Ok(s);
            }
            // No connection yet: open it now, as the next request would, in the one hop that
            // also opens a spare for this subscription (SPEC A11 subscribes before it reads).
            if !self.inner.connected(&ns) && self.inner.handle(&ns).await.is_ok() {
                if let Some(s) = self.inner.take_event_spare(&ns) {
                    return Ok(s);
                }
            }
            // All taken: a hop for this one and a few more.
            let (s, spares) = in_netns(&ns, || {
                Ok((open_event_socket()?, open_event_spares(EVENT_SPARES)))
            })
            .await?;
            self.inner.keep_event_spares(&ns, spares);
            Ok(s)
        }
        .instrument(span.clone())
        .await
        .and_then(|s| {
            // Events from here on are queued for the caller; none from before.
            let _entered = span.enter();
            join_link_events(&s)?;
            Ok(s)
        })
        // SAFETY: the socket owns its descriptor and AsyncFd owns the socket until dropped.
        .and_then(|s| unsafe { tokio::io::unix::AsyncFd::register(s).map_err(io::Error::from) })
        .map_err(|e| BackendError::new(op, io_errno(&e), netns, "link events"))?;
        let state = EventState {
            sock: Some(sock),
            broken: false,
            queue: VecDeque::new(),
            inner: self.inner.clone(),
            ns,
            netns: netns.clone(),
        };
        Ok(stream::unfold(state, |mut st| async move {
            loop {
                if let Some(ev) = st.queue.pop_front() {
                    return Some((ev, st));
                }
                let datagram = {
                    let sock = st.sock.as_ref()?;
                    let mut guard = match sock.readable().await {
                        Ok(g) => g,
                        Err(_) => {
                            st.mark_broken();
                            return None;
                        }
                    };
                    match guard.try_io(|s| s.get_ref().recv_from_full()) {
                        Ok(Ok((buf, _))) => buf,
                        Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                            // The subscriber re-reads what it waits on (SPEC A11: no lost
                            // event goes unnoticed).
                            tracing::warn!(netns = %st.netns, "link events lost (ENOBUFS)");
                            return Some((LinkEvent::Lost, st));
                        }
                        Ok(Err(_)) => {
                            st.mark_broken();
                            return None;
                        }
                        Err(_would_block) => continue,
                    }
                };
                st.parse(&datagram).await;
            }
        })
        .boxed())
    }

    async fn prepare_netns(&self, netns: &NetnsRef) {
        if let Ok(ns) = self.ns(Op::GetLink, netns) {
            let span = tracing::debug_span!("prepare_netns", netns = %netns);
            let _ = self.inner.handle(&ns).instrument(span).await;
        }
    }
}

impl NetnsAdmin for LinuxBackend {
    async fn create_netns(&self, name: &str) -> Result<NetnsRef, BackendError> {
        let dir = self.inner.dir.clone();
        let span = tracing::debug_span!("create_netns", netns = name, dir = %dir.display());
        let owned = name.to_string();
        let res = tokio::task::spawn_blocking(move || netns::create_named(&dir, &owned))
            .instrument(span)
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        let path = self.inner.dir.join(name);
        let netns = NetnsRef::path(path.to_string_lossy().into_owned());
        match res {
            Ok(_) => {
                tracing::debug!(netns = %netns, "namespace created");
                let _ = self.inner.resolve(&netns);
                Ok(netns)
            }
            Err(e) => Err(BackendError::new(
                Op::CreateNetns,
                io_errno(&e),
                &netns,
                name,
            )),
        }
    }

    async fn delete_netns(&self, netns: &NetnsRef) -> Result<(), BackendError> {
        let NetnsRef::Path(p) = netns else {
            return Err(
                BackendError::new(Op::DeleteNetns, Errno::EINVAL, netns, "host")
                    .with_detail("the host namespace cannot be deleted"),
            );
        };
        tracing::debug!(netns = %netns, "delete namespace");
        if let Ok(ns) = NsFile::open(Path::new(&**p)) {
            self.inner.forget(ns.key);
        }
        let path = PathBuf::from(&**p);
        tokio::task::spawn_blocking(move || netns::delete_path(&path))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
            .map_err(|e| BackendError::new(Op::DeleteNetns, io_errno(&e), netns, &**p))
    }

    async fn list_netns(&self) -> Result<Vec<NetnsRef>, BackendError> {
        let mut out = vec![NetnsRef::Host];
        let entries = match std::fs::read_dir(&self.inner.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(BackendError::new(
                    Op::ListNetns,
                    io_errno(&e),
                    &NetnsRef::Host,
                    self.inner.dir.display().to_string(),
                ))
            }
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        out.extend(
            names
                .into_iter()
                .map(|p| NetnsRef::path(p.to_string_lossy().into_owned())),
        );
        Ok(out)
    }

    async fn netns_cookie(&self, netns: &NetnsRef) -> Result<Option<u64>, BackendError> {
        let op = Op::NetnsCookie;
        let ns = self.ns(op, netns)?;
        in_netns(&ns, netns::cookie_here)
            .instrument(tracing::debug_span!("netns_cookie", netns = %netns))
            .await
            .map(Some)
            .map_err(|e| BackendError::new(op, io_errno(&e), netns, netns.to_string()))
    }
}

impl LinuxBackend {
    // ------------------------------------------------------------------ links

    async fn link_by_name(&self, netns: &NetnsRef, name: &str) -> Result<LinkInfo, BackendError> {
        let ns = self.ns(Op::GetLink, netns)?;
        self.inner
            .link(&ns, netns, None, Some(name))
            .instrument(tracing::debug_span!("link_by_name", iface = name, netns = %netns))
            .await
            .map_err(|e| Self::err(Op::GetLink, netns, name, e))
    }

    async fn link_by_index(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> Result<LinkInfo, BackendError> {
        let ns = self.ns(Op::GetLink, netns)?;
        self.inner
            .link(&ns, netns, Some(index), None)
            .instrument(tracing::debug_span!("link_by_index", ifindex = index, netns = %netns))
            .await
            .map_err(|e| Self::err(Op::GetLink, netns, ifobj(index), e))
    }

    async fn list_links(&self, netns: &NetnsRef) -> Result<Vec<LinkInfo>, BackendError> {
        let ns = self.ns(Op::ListLinks, netns)?;
        let span = tracing::debug_span!("list_links", netns = %netns);
        async {
            let replies = self
                .inner
                .req(
                    &ns,
                    RouteNetlinkMessage::GetLink(LinkMessage::default()),
                    nl::DUMP,
                )
                .await?;
            let raws = replies
                .iter()
                .filter_map(|r| match r {
                    RouteNetlinkMessage::NewLink(l) => Some(nl::parse_link(l)),
                    _ => None,
                })
                .collect();
            Ok(self.inner.finish_links(&ns, netns, raws).await)
        }
        .instrument(span)
        .await
        .map_err(|e| Self::err(Op::ListLinks, netns, "links", e))
    }

    async fn move_link(
        &self,
        from: &NetnsRef,
        index: IfIndex,
        to: &NetnsRef,
        new_name: &str,
    ) -> Result<IfIndex, BackendError> {
        let op = Op::MoveLink;
        let src = self.ns(op, from)?;
        let dst = self.ns(op, to)?;
        let span = tracing::debug_span!("move_link", ifindex = index, netns = %from, to = %to, iface = new_name);
        async {
            let old = self
                .inner
                .get_link_msg(&src, Some(index), None)
                .await
                .map_err(|e| Self::err(op, from, ifobj(index), e))?;
            let old_name = nl::parse_link(&old).info.name;
            let object = format!("{old_name} (ifindex {index})");
            if src.key == dst.key {
                // Same namespace: a plain rename.
                let mut m = link_msg(index);
                m.attributes
                    .push(LinkAttribute::IfName(new_name.to_string()));
                self.inner
                    .setlink(&src, m)
                    .await
                    .map_err(|e| Self::err(op, from, object.clone(), e))?;
                return Ok(index);
            }
            // The kernel moves first and renames after, in one message; a name taken in the
            // destination would fail after the move. Refuse before touching anything.
            match self.inner.get_link_msg(&dst, None, Some(new_name)).await {
                Ok(_) => {
                    return Err(Self::err(op, to, object, NlError::errno(Errno::EEXIST))
                        .with_detail(format!("{new_name} exists in {to}")))
                }
                Err(e) if e.errno == Errno::ENODEV => {}
                Err(e) => return Err(Self::err(op, to, new_name, e)),
            }
            let mut m = link_msg(index);
            m.attributes
                .push(LinkAttribute::NetNsFd(dst.fd.as_raw_fd()));
            m.attributes
                .push(LinkAttribute::IfName(new_name.to_string()));
            if let Err(e) = self.inner.setlink(&src, m).await {
                // Did it move anyway (rename failed after the move)? Bring it back.
                if self
                    .inner
                    .get_link_msg(&src, Some(index), None)
                    .await
                    .is_err()
                {
                    if let Ok(moved) = self.inner.get_link_msg(&dst, None, Some(&old_name)).await {
                        let mut back = link_msg(moved.header.index);
                        back.attributes
                            .push(LinkAttribute::NetNsFd(src.fd.as_raw_fd()));
                        back.attributes
                            .push(LinkAttribute::IfName(old_name.clone()));
                        let _ = self.inner.setlink(&dst, back).await;
                    }
                }
                return Err(Self::err(op, from, object, e));
            }
            self.index_by_name(op, &dst, to, new_name).await
        }
        .instrument(span)
        .await
    }

    async fn rename_link(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        name: &str,
    ) -> Result<(), BackendError> {
        let mut m = link_msg(index);
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.set_link(Op::RenameLink, netns, index, m)
            .instrument(
                tracing::debug_span!("rename_link", ifindex = index, iface = name, netns = %netns),
            )
            .await
    }

    async fn set_link_up(&self, netns: &NetnsRef, index: IfIndex) -> Result<(), BackendError> {
        let mut m = link_msg(index);
        m.header.flags = NlLinkFlags::Up;
        m.header.change_mask = NlLinkFlags::Up;
        self.set_link(Op::SetLinkUp, netns, index, m)
            .instrument(tracing::debug_span!("set_link_up", ifindex = index, netns = %netns))
            .await
    }

    async fn set_link_down(&self, netns: &NetnsRef, index: IfIndex) -> Result<(), BackendError> {
        let mut m = link_msg(index);
        m.header.flags = NlLinkFlags::empty();
        m.header.change_mask = NlLinkFlags::Up;
        self.set_link(Op::SetLinkDown, netns, index, m)
            .instrument(tracing::debug_span!("set_link_down", ifindex = index, netns = %netns))
            .await
    }

    async fn set_mac(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
    ) -> Result<(), BackendError> {
        let mut m = link_msg(index);
        m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        self.set_link(Op::SetMac, netns, index, m)
            .instrument(
                tracing::debug_span!("set_mac", ifindex = index, mac = %mac, netns = %netns),
            )
            .await
    }

    async fn set_master(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        master: Option<IfIndex>,
    ) -> Result<(), BackendError> {
        let mut m = link_msg(index);
        m.attributes
            .push(LinkAttribute::Controller(master.unwrap_or(0)));
        self.set_link(Op::SetMaster, netns, index, m)
            .instrument(tracing::debug_span!("set_master", ifindex = index, master = ?master, netns = %netns))
            .await
    }

    async fn create_bridge(&self, netns: &NetnsRef, name: &str) -> Result<IfIndex, BackendError> {
        let op = Op::CreateBridge;
        let ns = self.ns(op, netns)?;
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![NlLinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        async {
            let replies = self
                .inner
                .req(&ns, RouteNetlinkMessage::NewLink(m), nl::CREATE_ECHO)
                .await
                .map_err(|e| Self::err(op, netns, name, e))?;
            match nl::echoed_link(&replies, name) {
                Some(echoed) => Ok(echoed.index),
                None => self.index_by_name(op, &ns, netns, name).await,
            }
        }
        .instrument(tracing::debug_span!("create_bridge", iface = name, netns = %netns))
        .await
    }

    async fn create_veth(
        &self,
        netns: &NetnsRef,
        request: &VethRequest,
    ) -> Result<VethPair, BackendError> {
        let op = Op::CreateVeth;
        let ns = self.ns(op, netns)?;
        let peer_ns = self.ns(op, &request.peer_netns)?;
        let object = format!("{} (peer {})", request.host_name, request.peer_name);
        let span = tracing::debug_span!("create_veth", iface = %request.host_name, peer = %request.peer_name,
            netns = %netns, peer_netns = %request.peer_netns, mac = ?request.peer_mac);
        async {
            let mut peer = LinkMessage::default();
            peer.attributes
                .push(LinkAttribute::IfName(request.peer_name.clone()));
            if let Some(mac) = request.peer_mac {
                peer.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
            }
            if peer_ns.key != ns.key {
                peer.attributes
                    .push(LinkAttribute::NetNsFd(peer_ns.fd.as_raw_fd()));
            }
            let mut m = LinkMessage::default();
            if request.host_up {
                m.header.flags = NlLinkFlags::Up;
                m.header.change_mask = NlLinkFlags::Up;
            }
            m.attributes
                .push(LinkAttribute::IfName(request.host_name.clone()));
            if let Some(master) = request.host_master {
                m.attributes.push(LinkAttribute::Controller(master));
            }
            m.attributes.push(LinkAttribute::LinkInfo(vec![
                NlLinkInfo::Kind(InfoKind::Veth),
                NlLinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
            ]));
            let replies = self
                .inner
                .req(&ns, RouteNetlinkMessage::NewLink(m), nl::CREATE_ECHO)
                .await
                .map_err(|e| Self::err(op, netns, object.clone(), e))?;
            // The echo (Linux >= 6.3) names both ends; older kernels: look them up by name.
            let echoed = nl::echoed_link(&replies, &request.host_name);
            if let Some(id) = echoed.and_then(|e| e.peer_nsid) {
                // The id this namespace gives the peer's: reading the host end later (SPEC
                // A12, S6) needs no RTM_GETNSID round to find where its peer is.
                self.inner
                    .learn_nsid(&ns, id, &peer_ns, &request.peer_netns);
            }
            let (host_index, peer_index) = match echoed {
                Some(nl::Echoed {
                    index,
                    peer_index: Some(peer),
                    ..
                }) => (index, peer),
                Some(nl::Echoed { index: host, .. }) => (
                    host,
                    self.index_by_name(op, &peer_ns, &request.peer_netns, &request.peer_name)
                        .await?,
                ),
                None => (
                    self.index_by_name(op, &ns, netns, &request.host_name)
                        .await?,
                    self.index_by_name(op, &peer_ns, &request.peer_netns, &request.peer_name)
                        .await?,
                ),
            };
            tracing::debug!(ifindex = host_index, peer_index, "veth created");
            Ok(VethPair {
                host_index,
                peer_index,
            })
        }
        .instrument(span)
        .await
    }

    async fn delete_links(
        &self,
        netns: &NetnsRef,
        indices: &[IfIndex],
    ) -> Result<(), BackendError> {
        let op = Op::DeleteLink;
        let ns = self.ns(op, netns)?;
        let span = tracing::debug_span!("delete_links", netns = %netns, count = indices.len());
        async {
            if indices.len() <= 1 {
                return match self.inner.pipelined(&ns, indices).await {
                    None => Ok(()),
                    Some((index, e)) => Err(Self::err(op, netns, ifobj(index), e)),
                };
            }
            // Each RTM_DELLINK by index waits for its own RCU grace period (~20 ms for a
            // veth), pipelined or not. A delete by IFLA_GROUP unregisters every member in one
            // go: tag the links with a group of their own (pipelined RTM_SETLINKs, cheap),
            // then send one RTM_DELLINK for the group.
            let group = batch_group();
            let tagged = self
                .inner
                .pipelined_set(&ns, indices, LinkAttribute::Group(group))
                .await;
            let mut first_err = tagged
                .iter()
                .find_map(|(i, r)| r.clone().err().map(|e| (*i, e)));
            let members: Vec<IfIndex> = tagged
                .iter()
                .filter(|(_, r)| r.is_ok())
                .map(|(i, _)| *i)
                .collect();
            if !members.is_empty() {
                let mut m = LinkMessage::default();
                m.attributes.push(LinkAttribute::Group(group));
                if let Err(e) = self
                    .inner
                    .req(&ns, RouteNetlinkMessage::DelLink(m), nl::ACK)
                    .await
                {
                    tracing::debug!(error = ?e, "group delete refused, deleting one by one");
                    if let Some(err) = self.inner.pipelined(&ns, &members).await {
                        first_err = first_err.or(Some(err));
                    }
                }
            }
            match first_err {
                None => Ok(()),
                Some((index, e)) => Err(Self::err(op, netns, ifobj(index), e)),
            }
        }
        .instrument(span)
        .await
    }

    // ------------------------------------------------------------------ addresses

    async fn add_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
        nodad: bool,
    ) -> Result<(), BackendError> {
        let op = Op::AddAddress;
        let ns = self.ns(op, netns)?;
        let mut m = addr_msg(index, &net);
        if let IpNet::V4(v4) = net {
            if v4.prefix_len() < 31 {
                m.attributes
                    .push(AddressAttribute::Broadcast(v4.broadcast()));
            }
        }
        if nodad {
            m.header.flags = AddressHeaderFlags::Nodad;
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        let span = tracing::debug_span!("add_address", ifindex = index, addr = %net, nodad, netns = %netns);
        let req = RouteNetlinkMessage::NewAddress(m);
        self.address_request(op, &ns, netns, index, net, req, nl::CREATE)
            .instrument(span)
            .await
    }

    async fn del_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
    ) -> Result<(), BackendError> {
        let op = Op::DelAddress;
        let ns = self.ns(op, netns)?;
        let m = addr_msg(index, &net);
        let span =
            tracing::debug_span!("del_address", ifindex = index, addr = %net, netns = %netns);
        let req = RouteNetlinkMessage::DelAddress(m);
        self.address_request(op, &ns, netns, index, net, req, nl::ACK)
            .instrument(span)
            .await
    }

    async fn list_addresses(
        &self,
        netns: &NetnsRef,
        index: Option<IfIndex>,
    ) -> Result<Vec<AddrInfo>, BackendError> {
        let op = Op::ListAddresses;
        let ns = self.ns(op, netns)?;
        let mut m = AddressMessage::default();
        if let Some(i) = index {
            // Honoured with strict checking (see `Inner::handle`); filtered below anyway.
            m.header.index = i;
        }
        let replies = match self
            .inner
            .req(&ns, RouteNetlinkMessage::GetAddress(m), nl::DUMP)
            .instrument(tracing::debug_span!("list_addresses", ifindex = ?index, netns = %netns))
            .await
        {
            // A filtered dump of a link that does not exist is ENODEV; the whole dump, filtered
            // here, had nothing for it.
            Err(e) if index.is_some() && e.errno == Errno::ENODEV => Ok(Vec::new()),
            other => other,
        }
        .map_err(|e| {
            Self::err(
                op,
                netns,
                index.map_or_else(|| "addresses".into(), ifobj),
                e,
            )
        })?;
        Ok(replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewAddress(a) => nl::parse_addr(a),
                _ => None,
            })
            .filter(|a| index.is_none_or(|i| a.index == i))
            .collect())
    }

    // ------------------------------------------------------------------ routes

    async fn add_route(&self, netns: &NetnsRef, route: &RouteSpec) -> Result<(), BackendError> {
        let op = Op::AddRoute;
        let ns = self.ns(op, netns)?;
        self.inner
            .req(&ns, RouteNetlinkMessage::NewRoute(route_msg(route, false)), nl::CREATE)
            .instrument(tracing::debug_span!("add_route", dst = %route.dst, ifindex = route.oif, netns = %netns))
            .await
            .map(|_| ())
            .map_err(|e| Self::err(op, netns, format!("{} dev ifindex {}", route.dst, route.oif), e))
    }

    async fn del_route(&self, netns: &NetnsRef, route: &RouteSpec) -> Result<(), BackendError> {
        let op = Op::DelRoute;
        let ns = self.ns(op, netns)?;
        self.inner
            .req(&ns, RouteNetlinkMessage::DelRoute(route_msg(route, true)), nl::ACK)
            .instrument(tracing::debug_span!("del_route", dst = %route.dst, ifindex = route.oif, netns = %netns))
            .await
            .map(|_| ())
            .map_err(|e| Self::err(op, netns, format!("{} dev ifindex {}", route.dst, route.oif), e))
    }

    async fn list_routes(
        &self,
        netns: &NetnsRef,
        family: Family,
    ) -> Result<Vec<RouteInfo>, BackendError> {
        let op = Op::ListRoutes;
        let ns = self.ns(op, netns)?;
        let v6 = family == Family::V6;
        let m = routes_dump_msg(family);
        let replies = self
            .inner
            .req(&ns, RouteNetlinkMessage::GetRoute(m), nl::DUMP)
            .instrument(tracing::debug_span!("list_routes", family = ?family, netns = %netns))
            .await
            .map_err(|e| Self::err(op, netns, "routes", e))?;
        Ok(replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewRoute(r)
                    if nl::route_table(r) == u32::from(RouteHeader::RT_TABLE_MAIN) =>
                {
                    nl::parse_route(r, v6)
                }
                _ => None,
            })
            .collect())
    }

    async fn get_route(
        &self,
        netns: &NetnsRef,
        dst: IpAddr,
        oif: Option<IfIndex>,
    ) -> Result<RouteInfo, BackendError> {
        let op = Op::GetRoute;
        let ns = self.ns(op, netns)?;
        let mut m = RouteMessage::default();
        m.header.address_family = family_of(&dst);
        m.header.destination_prefix_length = if dst.is_ipv4() { 32 } else { 128 };
        m.attributes
            .push(RouteAttribute::Destination(route_address(dst)));
        if let Some(oif) = oif {
            m.attributes.push(RouteAttribute::Oif(oif));
        }
        let object = match oif {
            Some(o) => format!("{dst} oif {o}"),
            None => dst.to_string(),
        };
        let replies = self
            .inner
            .req(&ns, RouteNetlinkMessage::GetRoute(m), nl::GET)
            .instrument(
                tracing::debug_span!("get_route", dst = %dst, ifindex = ?oif, netns = %netns),
            )
            .await
            .map_err(|e| Self::err(op, netns, object.clone(), e))?;
        replies
            .iter()
            .find_map(|r| match r {
                RouteNetlinkMessage::NewRoute(r) => nl::parse_route(r, dst.is_ipv6()),
                _ => None,
            })
            .ok_or_else(|| BackendError::new(op, Errno::ENETUNREACH, netns, object))
    }

    // ------------------------------------------------------------------ sysctls

    async fn read_sysctl(&self, netns: &NetnsRef, path: &str) -> Result<String, BackendError> {
        let op = Op::ReadSysctl;
        let ns = self.ns(op, netns)?;
        let Some(full) = sysctl_path(path) else {
            return Err(BackendError::new(op, Errno::EINVAL, netns, path)
                .with_detail("not a path below /proc/sys"));
        };
        let span = tracing::debug_span!("read_sysctl", path, netns = %netns);
        if let Some(iface) = nl::disable_ipv6_iface(path) {
            // SPEC A6 reads this on every attach: ask the cached rtnetlink connection instead of
            // opening the file on a namespace thread. Any trouble: read the file.
            let via_netlink = self
                .inner
                .get_link_msg(&ns, None, Some(iface))
                .instrument(span.clone())
                .await;
            if let Ok(msg) = via_netlink {
                return match nl::disable_ipv6(&msg) {
                    Some(v) => Ok(v.to_string()),
                    None => Err(BackendError::new(op, Errno::ENOENT, netns, path)),
                };
            }
        }
        in_netns(&ns, move || std::fs::read_to_string(full))
            .instrument(span)
            .await
            .map(|s| s.trim().to_string())
            .map_err(|e| BackendError::new(op, io_errno(&e), netns, path))
    }

    async fn write_sysctl(
        &self,
        netns: &NetnsRef,
        path: &str,
        value: &str,
    ) -> Result<(), BackendError> {
        let op = Op::WriteSysctl;
        let ns = self.ns(op, netns)?;
        let Some(full) = sysctl_path(path) else {
            return Err(BackendError::new(op, Errno::EINVAL, netns, path)
                .with_detail("not a path below /proc/sys"));
        };
        let bytes = value.as_bytes().to_vec();
        in_netns(&ns, move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(full)?;
            let n = f.write(&bytes)?;
            if n != bytes.len() {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            Ok(())
        })
        .instrument(tracing::debug_span!("write_sysctl", path, value, netns = %netns))
        .await
        .map_err(|e| BackendError::new(op, io_errno(&e), netns, path))
    }

    // ------------------------------------------------------------------ frames

    async fn send_arp(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv4Addr,
    ) -> Result<(), BackendError> {
        let op = Op::SendArp;
        let ns = self.ns(op, netns)?;
        let frame = nsplumb_wire::arp_announcement(mac, addr);
        let span = tracing::debug_span!("send_arp", ifindex = index, mac = %mac, addr = %addr, netns = %netns);
        let res = async {
            let sock = self.packet_socket(&ns).await?;
            announce::send_packet(&sock, index, &frame)
        }
        .instrument(span)
        .await;
        match res {
            Ok(()) => Ok(()),
            Err(e) => {
                let object = format!("{addr} on {}", self.inner.describe(&ns, index).await);
                Err(BackendError::new(op, io_errno(&e), netns, object))
            }
        }
    }

    async fn send_na(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv6Addr,
    ) -> Result<(), BackendError> {
        let op = Op::SendNa;
        let ns = self.ns(op, netns)?;
        let body = nsplumb_wire::na_body(mac, addr);
        let span = tracing::debug_span!("send_na", ifindex = index, mac = %mac, addr = %addr, netns = %netns);
        let res = async {
            let sock = self.na_socket(&ns, index, addr).await?;
            match announce::send_na(&sock, index, &body) {
                Ok(()) => Ok(()),
                Err(e) => {
                    // A cached socket can go stale (link recreated, address re-added): drop it
                    // and try once with a fresh one.
                    lock(&self.inner.na).remove(&(ns.key, index, addr));
                    tracing::debug!(error = %e, "NA send failed, retrying with a new socket");
                    let sock = self.na_socket(&ns, index, addr).await?;
                    announce::send_na(&sock, index, &body)
                }
            }
        }
        .instrument(span)
        .await;
        match res {
            Ok(()) => Ok(()),
            Err(e) => {
                lock(&self.inner.na).remove(&(ns.key, index, addr));
                let object = format!("{addr} on {}", self.inner.describe(&ns, index).await);
                Err(BackendError::new(op, io_errno(&e), netns, object))
            }
        }
    }
}

/// A link subscription. Dropped, it gives its socket back to the namespace's spares (see
/// `Inner::return_event_socket`), unless the socket failed.
struct EventState {
    /// `None` only while being dropped.
    sock: Option<tokio::io::unix::AsyncFd<netlink_sys::Socket>>,
    /// The socket returned an error: closed, not reused.
    broken: bool,
    queue: VecDeque<LinkEvent>,
    inner: Arc<Inner>,
    ns: NsFile,
    netns: NetnsRef,
}

impl EventState {
    /// The socket failed: close it when dropped, do not reuse it.
    fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl Drop for EventState {
    fn drop(&mut self) {
        let Some(sock) = self.sock.take() else {
            return;
        };
        // Deregistered from the reactor (also after its runtime is gone: then the error is
        // ignored), then leaves the group and is kept for the next subscription.
        let s = sock.into_inner();
        if !self.broken {
            self.inner.return_event_socket(&self.ns, s);
        }
    }
}

impl EventState {
    async fn parse(&mut self, datagram: &[u8]) {
        let mut off = 0;
        let mut raws = Vec::new();
        while off + 16 <= datagram.len() {
            let len =
                u32::from_ne_bytes(datagram[off..off + 4].try_into().expect("4 bytes")) as usize;
            if len < 16 || off + len > datagram.len() {
                break;
            }
            if let Ok(m) =
                NetlinkMessage::<RouteNetlinkMessage>::deserialize(&datagram[off..off + len])
            {
                if let netlink_packet_core::NetlinkPayload::InnerMessage(inner) = m.payload {
                    match inner {
                        RouteNetlinkMessage::NewLink(l) => raws.push(Ok(nl::parse_link(&l))),
                        RouteNetlinkMessage::DelLink(l) => {
                            let raw = nl::parse_link(&l);
                            raws.push(Err(LinkEvent::Removed {
                                index: raw.info.index,
                                name: raw.info.name,
                            }))
                        }
                        _ => {}
                    }
                }
            }
            off += (len + 3) & !3;
        }
        for r in raws {
            match r {
                Ok(raw) => {
                    let mut infos = self
                        .inner
                        .finish_links(&self.ns, &self.netns, vec![raw])
                        .await;
                    if let Some(info) = infos.pop() {
                        self.queue.push_back(LinkEvent::Changed(info));
                    }
                }
                Err(removed) => self.queue.push_back(removed),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsplumb_core::RouteScope;

    #[test]
    fn sysctl_paths_stay_below_proc_sys() {
        assert_eq!(
            sysctl_path("net/ipv6/conf/eth0/disable_ipv6"),
            Some(PathBuf::from("/proc/sys/net/ipv6/conf/eth0/disable_ipv6"))
        );
        for bad in [
            "",
            "/etc/passwd",
            "net/../../etc",
            "net//x",
            "net/./x",
            "a\0b",
        ] {
            assert_eq!(sysctl_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn route_dump_asks_for_the_main_table_byte_exact() {
        use netlink_packet_core::Emitable;
        for (family, af) in [(Family::V4, 2u8), (Family::V6, 10)] {
            let msg = nl::wrap(
                RouteNetlinkMessage::GetRoute(routes_dump_msg(family)),
                nl::DUMP,
            );
            let mut buf = vec![0u8; msg.buffer_len()];
            msg.emit(&mut buf);
            let mut want = Vec::new();
            want.extend_from_slice(&28u32.to_ne_bytes()); // nlmsg_len
            want.extend_from_slice(&26u16.to_ne_bytes()); // RTM_GETROUTE
            want.extend_from_slice(&0x0301u16.to_ne_bytes()); // NLM_F_REQUEST | NLM_F_DUMP
            want.extend_from_slice(&[0; 8]); // seq, pid
                                             // rtmsg: family, dst_len, src_len, tos, table RT_TABLE_MAIN, protocol, scope, type
            want.extend_from_slice(&[af, 0, 0, 0, 254, 0, 0, 0]);
            want.extend_from_slice(&0u32.to_ne_bytes()); // rtm_flags
            assert_eq!(buf, want, "{family:?}");
        }
    }

    #[test]
    fn route_messages_carry_destination_gateway_and_oif() {
        let spec = RouteSpec {
            dst: "198.51.100.0/24".parse().unwrap(),
            gateway: Some("192.0.2.1".parse().unwrap()),
            oif: 4,
            scope: RouteScope::Universe,
        };
        let m = route_msg(&spec, false);
        assert_eq!(m.header.destination_prefix_length, 24);
        assert_eq!(m.header.table, RouteHeader::RT_TABLE_MAIN);
        assert!(m.attributes.contains(&RouteAttribute::Oif(4)));
        let default = RouteSpec {
            dst: "0.0.0.0/0".parse().unwrap(),
            ..spec
        };
        let m = route_msg(&default, true);
        assert!(!m
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Destination(_))));
        assert_eq!(m.header.scope, NlScope::NoWhere);
    }
}
