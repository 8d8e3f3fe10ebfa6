//! The per-namespace rtnetlink connection: opened once in a namespace thread hop (with the
//! spare sockets an attach needs next), cached by namespace key, dropped when idle.

use crate::announce;
use crate::events::open_event_spares;
use crate::lock;
use crate::netns::{self, in_netns, NsFile, NsKey};
use crate::nl::{self, NlError};
use crate::peers::NsidMap;
use crate::route_mirror::RouteMirror;
use crate::senders::Sender;
use netlink_packet_route::RouteNetlinkMessage;
use nsplumb_core::NetnsRef;
use rtnetlink::Handle;
use socket2::Socket;
use std::collections::HashMap;
use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

pub(crate) struct Conn {
    pub(crate) handle: Handle,
    pub(crate) task: tokio::task::AbortHandle,
    pub(crate) used: std::time::Instant,
    /// Sockets opened inside the namespace ahead of need, in a thread hop that was made anyway.
    pub(crate) spares: Spares,
    /// The namespace's cookie (or the errno reading it failed with), read in that same hop:
    /// an operation's first look at a namespace (its identity, SPEC R1) costs no hop of its
    /// own. `None` when the connection was opened without a hop (the thread's own namespace).
    pub(crate) cookie: Option<Result<u64, i32>>,
    /// The namespace's route mirror (SPEC A5, see `route_mirror`): closed with the connection.
    pub(crate) routes: RouteListing,
    /// Dumps on this connection take turns (see `Inner::req`).
    pub(crate) dump_turn: Arc<tokio::sync::Mutex<()>>,
}

/// How a namespace's routes are listed: by a dump each time until the same family has been
/// listed twice, then through a mirror. One attach lists each family at most once (SPEC A5),
/// so a namespace attached once (every namespace of a CNI runtime) pays no extra socket; the
/// second attach into it shows a namespace that takes many, where dumps grow with each one.
/// The mirror's socket is a spare event socket when one is left (no namespace hop).
#[derive(Default)]
pub(crate) struct RouteListing {
    /// Lists by dump so far, per family (IPv4, IPv6).
    pub(crate) lists: [u32; 2],
    pub(crate) mirror: Option<Arc<tokio::sync::Mutex<RouteMirror>>>,
}

/// Sockets of a namespace opened ahead of time, so that taking one needs no thread hop (a
/// socket's namespace is fixed when it is created; what is done with it later can be done from
/// any thread).
#[derive(Default)]
pub(crate) struct Spares {
    /// Rtnetlink sockets for [`NetBackend::subscribe_links`](nsplumb_core::NetBackend::subscribe_links), bound (with a port id) but in no
    /// group, so they receive nothing: one joins `RTNLGRP_LINK` when taken, after what is
    /// queued on it is drained, before the subscription is handed out (SPEC A11: subscribe
    /// first, then read). A subscription's socket comes back here when its stream is dropped
    /// (at most `events::EVENT_SPARES_MAX`).
    pub(crate) events: Vec<netlink_sys::Socket>,
    // No ARP (AF_PACKET) socket ahead: closing one waits for an RCU grace period in the kernel
    // (`packet_release` → `synchronize_net`, ~20 ms), so a spare that is never used costs
    // every short-lived process (the CLI) that much at exit.
    /// A raw ICMPv6 socket, receiving nothing, for the first NA sender (SPEC S3): set up for
    /// its interface and address when [`LinuxBackend::na_socket`](crate::LinuxBackend::na_socket) takes it.
    pub(crate) na: Option<Socket>,
}

/// A cached socket keeps its namespace alive. Namespaces deleted behind the backend's back are
/// released once their sockets sit unused this long (the host's connection is kept).
pub(crate) const CONN_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// Closes the connections unused for [`CONN_IDLE`] or ended, except the host's.
pub(crate) fn retain_live(conns: &mut HashMap<NsKey, Conn>, host: NsKey) {
    conns.retain(|k, c| {
        let keep = *k == host || (c.used.elapsed() < CONN_IDLE && !c.task.is_finished());
        if !keep {
            c.task.abort();
        }
        keep
    });
}

pub(crate) struct Inner {
    pub(crate) host: NsFile,
    pub(crate) dir: PathBuf,
    /// Namespace files by path, kept open for the backend's life: set for a process that runs
    /// one command ([`LinuxBackend::pin_namespace_paths`](crate::LinuxBackend::pin_namespace_paths)),
    /// so that its requests do not open the file again each.
    pub(crate) pinned: Option<Mutex<HashMap<String, NsFile>>>,
    /// One rtnetlink connection per namespace.
    pub(crate) conns: Mutex<HashMap<NsKey, Conn>>,
    /// Every namespace this backend has opened, by key: to map netns ids back to references.
    pub(crate) known: Mutex<HashMap<NsKey, NetnsRef>>,
    /// Per namespace: netns id (as seen there) → (namespace key, reference), filled on demand.
    pub(crate) nsids: Mutex<HashMap<NsKey, NsidMap>>,
    /// One packet socket per namespace (ARP).
    pub(crate) packet: Mutex<HashMap<NsKey, Sender>>,
    /// One raw ICMPv6 socket per (namespace, ifindex, source address) (NA).
    pub(crate) na: Mutex<HashMap<(NsKey, u32, Ipv6Addr), Sender>>,
    /// Whether the sweep of idle cache entries runs (see `reaper`).
    pub(crate) reaper_running: Mutex<bool>,
    /// Receive buffer of route mirror sockets (`route_mirror::MIRROR_RCVBUF`; tests make it
    /// small to overflow it).
    pub(crate) mirror_rcvbuf: AtomicUsize,
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

impl Inner {
    pub(crate) fn resolve(&self, netns: &NetnsRef) -> io::Result<NsFile> {
        match netns {
            NetnsRef::Host => Ok(self.host.clone()),
            NetnsRef::Path(p) => {
                if let Some(ns) = self
                    .pinned
                    .as_ref()
                    .and_then(|m| lock(m).get(&**p).cloned())
                {
                    return Ok(ns);
                }
                let ns = NsFile::open(Path::new(&**p))?;
                if let Some(pinned) = &self.pinned {
                    lock(pinned).insert(p.to_string(), ns.clone());
                }
                lock(&self.known)
                    .entry(ns.key)
                    .or_insert_with(|| netns.clone());
                Ok(ns)
            }
        }
    }

    /// Whether `ns` has a live cached connection.
    pub(crate) fn connected(&self, ns: &NsFile) -> bool {
        lock(&self.conns)
            .get(&ns.key)
            .is_some_and(|c| !c.task.is_finished())
    }

    pub(crate) fn forget(&self, key: NsKey) {
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
        if let Some(pinned) = &self.pinned {
            lock(pinned).retain(|_, ns| ns.key != key);
        }
    }

    pub(crate) async fn handle(&self, ns: &NsFile) -> Result<Handle, NlError> {
        {
            let mut conns = lock(&self.conns);
            if let Some(c) = conns.get_mut(&ns.key) {
                if !c.task.is_finished() {
                    c.used = std::time::Instant::now();
                    return Ok(c.handle.clone());
                }
            }
            retain_live(&mut conns, self.host.key);
        }
        // The hop that opens the connection also opens the sockets an attach needs next in
        // this namespace: one for link events (SPEC A11) and one for NA (SPEC S3); not ARP's
        // (see `Spares`); and reads its cookie. Without a hop (the thread's own namespace)
        // nothing is opened ahead: taking it later costs no hop either.
        let hop = !netns::thread_is_in(ns.key);
        let (fd, spares, cookie) = in_netns(ns, move || {
            let s = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
            let _ = s.set_ext_ack(true);
            let _ = s.set_cap_ack(true);
            // The kernel honours the filters of dump requests (list_routes asks for the main
            // table only). Kernels before 4.20 lack it: then everything is filtered here.
            let _ = s.set_netlink_get_strict_chk(true);
            // SAFETY: into_raw_fd hands over ownership of a valid descriptor.
            let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(s.into_raw_fd()) };
            if !hop {
                return Ok((fd, Spares::default(), None));
            }
            let spares = Spares {
                events: open_event_spares(1),
                na: announce::open_na_socket().ok(),
            };
            let cookie = netns::cookie_here().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO));
            Ok((fd, spares, Some(cookie)))
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
                cookie,
                routes: RouteListing::default(),
                dump_turn: Arc::default(),
            },
        );
        Ok(handle)
    }

    /// The cookie of `ns` (`SO_NETNS_COOKIE`): read right here in the thread's own namespace,
    /// else taken from the hop that opened (or opens now) its connection.
    pub(crate) async fn cookie(&self, ns: &NsFile) -> io::Result<u64> {
        if netns::thread_is_in(ns.key) {
            return netns::cookie_here();
        }
        self.handle(ns)
            .await
            .map_err(|e| io::Error::from_raw_os_error(e.errno.0))?;
        let read = lock(&self.conns).get(&ns.key).and_then(|c| c.cookie);
        match read {
            Some(cookie) => cookie.map_err(io::Error::from_raw_os_error),
            // Opened without a hop by a thread that was in the namespace then.
            None => in_netns(ns, netns::cookie_here).await,
        }
    }

    /// One request, its responses collected. Retries once on a connection that died (e.g. its
    /// runtime was shut down).
    pub(crate) async fn req(
        &self,
        ns: &NsFile,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        let handle = self.handle(ns).await?;
        // A netlink socket runs one dump at a time: a dump asked for while another one's
        // replies are still being read (a table larger than one reply) gets EBUSY. Concurrent
        // callers in one namespace share its connection, so their dumps take turns.
        let turn = match flags & netlink_packet_core::NLM_F_DUMP {
            0 => None,
            _ => lock(&self.conns).get(&ns.key).map(|c| c.dump_turn.clone()),
        };
        let _turn = match turn {
            Some(t) => Some(t.lock_owned().await),
            None => None,
        };
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
}
