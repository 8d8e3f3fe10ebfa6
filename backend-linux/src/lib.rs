//! nsplumb-linux: the [`NetBackend`](nsplumb_core::NetBackend) of the real kernel.
//!
//! * Links, bridge ports, addresses and routes: rtnetlink, one cached connection per namespace
//!   (keyed by the namespace file's device and inode, so two paths to one namespace share it).
//! * Announcements: an `AF_PACKET` socket (ARP, SPEC S2) and a raw ICMPv6 socket (NA, SPEC S3)
//!   created inside the namespace, cached.
//! * Sysctls: `/proc/sys` files opened inside the namespace.
//!
//! THE RULE: every socket and `/proc/sys` file of a namespace is opened on a short-lived std
//! thread that has `setns`-ed into it (`netns::in_netns`), or right on the calling thread when
//! that is already in the namespace (the process's own); tokio workers never change namespace.
//!
//! One file per kernel object: `conn` (the per-namespace connection and its spare sockets),
//! `netns` (namespace files and thread hops), `links`, `peers` (where a veth's peer lives),
//! `bridge_port` (port flags, VLANs), `addresses`, `routes`, `route_mirror` (SPEC A5's routes
//! followed by notifications in a long-lived process), `sysctls`, `events` (link
//! subscriptions), `senders` (ARP/NA), `netns_admin`; `nl` converts netlink messages;
//! `dispatch` holds the trait impls.

mod addresses;
mod announce;
mod bridge_port;
mod conn;
mod dispatch;
mod events;
#[cfg(all(test, target_endian = "little"))]
mod iproute2_bytes;
mod links;
mod netns;
mod netns_admin;
mod nl;
mod peers;
mod reaper;
mod route_mirror;
mod routes;
mod senders;
mod sysctls;

use conn::Inner;
use netns::NsFile;
use nl::NlError;
use nsplumb_core::{BackendError, Errno, IfIndex, NetnsRef, Op};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The process-wide epoch of [`NetBackend::now`](nsplumb_core::NetBackend::now): captured once, on tokio's clock.
fn epoch() -> tokio::time::Instant {
    static EPOCH: OnceLock<tokio::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(tokio::time::Instant::now)
}

/// How many namespace threads this process has started (each `in_netns` call): the cost the
/// spare sockets save. For tests and benchmarks.
#[doc(hidden)]
pub fn thread_hops() -> u64 {
    netns::HOPS.load(std::sync::atomic::Ordering::Relaxed)
}

/// How many route dumps (`RTM_GETROUTE` of the main table) this process has made: what the
/// route mirror saves. For tests and benchmarks.
#[doc(hidden)]
pub fn route_dumps() -> u64 {
    routes::DUMPS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The Linux implementation of [`NetBackend`](nsplumb_core::NetBackend). Cheap to clone; clones share caches.
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
                pinned: None,
                conns: Mutex::new(HashMap::new()),
                known: Mutex::new(known),
                nsids: Mutex::new(HashMap::new()),
                packet: Mutex::new(HashMap::new()),
                na: Mutex::new(HashMap::new()),
                reaper_running: Mutex::new(false),
                mirror_rcvbuf: std::sync::atomic::AtomicUsize::new(route_mirror::MIRROR_RCVBUF),
            }),
        })
    }

    /// For a process that runs one command (the CLI): each namespace path is opened once and
    /// kept, so its requests do not open it again each (one `openat` + `statx` per request);
    /// the price, fine for one command, is that a namespace replaced at that path meanwhile
    /// is not followed. Call it before the backend is shared.
    pub fn pin_namespace_paths(mut self) -> LinuxBackend {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.pinned = Some(Mutex::new(HashMap::new()));
        }
        self
    }

    /// Where named namespaces are created and listed.
    pub fn netns_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// How many namespaces have a cached rtnetlink connection (diagnostics, tests).
    pub fn cached_connections(&self) -> usize {
        lock(&self.inner.conns).len()
    }

    /// For tests: the receive buffer of route mirror sockets opened from now on (a small one
    /// overflows, to exercise the mirror's recovery).
    #[doc(hidden)]
    pub fn set_route_mirror_rcvbuf(&self, bytes: usize) {
        self.inner
            .mirror_rcvbuf
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Close every cached socket of `netns` (netlink connection, sender sockets). A cached
    /// socket keeps its namespace alive: call this when a namespace is deleted by someone else.
    /// [`NetnsAdmin::delete_netns`](nsplumb_core::NetnsAdmin::delete_netns) does it itself.
    pub fn forget_netns(&self, netns: &NetnsRef) {
        if let Ok(ns) = self.inner.resolve(netns) {
            self.inner.forget(ns.key);
        }
    }
}

impl LinuxBackend {
    pub(crate) fn ns(&self, op: Op, netns: &NetnsRef) -> Result<NsFile, BackendError> {
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

    pub(crate) fn err(
        op: Op,
        netns: &NetnsRef,
        object: impl Into<String>,
        e: NlError,
    ) -> BackendError {
        BackendError::new(op, e.errno, netns, object).with_detail(e.detail)
    }
}

fn io_errno(e: &io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::EIO))
}
