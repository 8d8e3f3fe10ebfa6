//! State kept between processes on the Linux backend (`/run/nsplumb/` or `$NSPLUMB_STATE_DIR`).
//!
//! One JSON file per namespace, keyed by the namespace file's device and inode
//! (`ns-<dev>-<ino>.json`, or `path-<sanitized path>.json` when the file cannot be stat'ed),
//! written atomically (temp file + rename). Next to it `ns-<dev>-<ino>.lock`: an exclusive
//! `flock` held from loading the state until it is saved, so name allocation is atomic per
//! namespace across processes (SPEC N3) while different namespaces never wait for each other.

use crate::intent::PendingAttach;
use ipnet::{Ipv4Net, Ipv6Net};
use nsplumb_core::{
    AnnounceSettings, Attached, Family, MacAddr, NetnsRef, Origin, RouteScope, RouteSpec,
};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const STATE_VERSION: u32 = 1;

/// The state directory: `$NSPLUMB_STATE_DIR`, else `default`.
pub fn state_dir(default: &str) -> PathBuf {
    std::env::var_os("NSPLUMB_STATE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// The default state directory of the simulator: the user's runtime dir or `/tmp/nsplumb-$UID`.
pub fn sim_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NSPLUMB_STATE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d).join("nsplumb");
    }
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    PathBuf::from(format!("/tmp/nsplumb-{uid}"))
}

/// The process that is still sending announcements for an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcer {
    pub pid: u32,
    /// `/proc/PID/stat` field 22, so a recycled pid is not mistaken for the announcer.
    pub start_time: u64,
    /// How a detach from another process stops it: a CLI process is sent SIGTERM; a
    /// long-lived process (the TUI) must keep running, so it is asked instead (SIGUSR1, see
    /// [`crate::cancel`]) to cancel the announcements itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_request: bool,
}

impl Announcer {
    pub fn me() -> Option<Announcer> {
        Announcer::of(std::process::id())
    }

    /// The live process `pid` (pinned by its start time), stopped with SIGTERM.
    pub fn of(pid: u32) -> Option<Announcer> {
        Some(Announcer {
            pid,
            start_time: proc_start_time(pid)?,
            on_request: false,
        })
    }

    /// This process, to be asked rather than terminated (the TUI).
    pub fn me_on_request() -> Option<Announcer> {
        Announcer::me().map(|a| Announcer {
            on_request: true,
            ..a
        })
    }

    /// The same process (whatever the way to stop it).
    pub fn is_same_process(&self, other: &Announcer) -> bool {
        self.pid == other.pid && self.start_time == other.start_time
    }

    /// Alive and the same process (not a zombie, not a recycled pid).
    pub fn is_alive(&self) -> bool {
        proc_start_time(self.pid) == Some(self.start_time)
    }

    /// Every thread of the process has exited (it is a zombie or gone): it cannot send any
    /// more. The leader alone turns zombie before the other threads are done, so each thread
    /// is checked.
    pub fn has_exited(&self) -> bool {
        if !self.is_alive() && proc_start_time_any(self.pid) != Some(self.start_time) {
            return true; // gone, or the pid was reused
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return true;
        };
        for t in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
                continue;
            };
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_string));
            if !matches!(state.as_deref(), Some("Z") | Some("X") | Some("x") | None) {
                return false;
            }
        }
        true
    }

    /// SIGTERM, then wait until it has exited (at most `timeout`). A stale pid is ignored.
    pub fn terminate(&self, timeout: Duration) -> bool {
        if !self.is_alive() || self.pid == std::process::id() {
            return true;
        }
        // SAFETY: plain syscall; the pid was checked to be the recorded process just above.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.has_exited() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        // Last resort: it must not send after detach returns (SPEC S8).
        // SAFETY: as above.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            if self.has_exited() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

/// Start time of a live (non-zombie) process, from `/proc/PID/stat`.
fn proc_start_time(pid: u32) -> Option<u64> {
    let (state, start) = proc_stat(pid)?;
    if matches!(state.as_str(), "Z" | "X" | "x") {
        return None;
    }
    Some(start)
}

/// Start time of a process in any state (zombies included).
fn proc_start_time_any(pid: u32) -> Option<u64> {
    proc_stat(pid).map(|(_, start)| start)
}

fn proc_stat(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
    Some((fields.first()?.to_string(), fields.get(19)?.parse().ok()?))
}

/// How a stored interface came into its namespace (mirror of [`Origin`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StoredOrigin {
    MovedFromHost,
    InHost,
    CreatedInNamespace,
    NewBridge,
    NewVeth { host_index: u32 },
}

/// One attached interface as stored between processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredIface {
    pub name: String,
    pub source: String,
    pub ifindex: u32,
    pub mac: Option<String>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    #[serde(default)]
    pub ipv6_dropped: Option<String>,
    pub master: Option<String>,
    pub origin: StoredOrigin,
    pub announce_count: u32,
    pub announce_interval_ms: u64,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The process still announcing this interface, if any.
    #[serde(default)]
    pub announcer: Option<Announcer>,
    /// `detaching` while a process is detaching it, so that a crash mid-detach is recognised
    /// by the next process (see [`crate::intent`]); `vanished` after a detach found the link
    /// gone (SPEC D3).
    #[serde(default, skip_serializing_if = "RecordPhase::is_attached")]
    pub phase: RecordPhase,
    /// The process that set `phase` to `detaching`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Announcer>,
}

/// Where a stored interface is in its life, as far as other processes need to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RecordPhase {
    #[default]
    Attached,
    /// A process is detaching it: the kernel may be half done if that process died.
    Detaching,
    /// SPEC D3: the link disappeared behind nsplumb's back; the name stays reserved.
    Vanished,
}

impl RecordPhase {
    fn is_attached(&self) -> bool {
        *self == RecordPhase::Attached
    }
}

/// A gateway (default) route set with `--gateway` (SPEC G1), kept so that a later process
/// can replace it (G1: one per family) and drop it with its interface (G4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRoute {
    pub dst: String,
    pub gateway: Option<String>,
    pub oif: u32,
    /// `universe`, `link` or `host`.
    pub scope: String,
}

impl StoredRoute {
    pub fn from_route(r: &RouteSpec) -> StoredRoute {
        StoredRoute {
            dst: r.dst.to_string(),
            gateway: r.gateway.map(|g| g.to_string()),
            oif: r.oif,
            scope: match r.scope {
                RouteScope::Universe => "universe",
                RouteScope::Link => "link",
                RouteScope::Host => "host",
            }
            .to_string(),
        }
    }

    /// `None` for a record that does not parse (it is then dropped, not acted on).
    pub fn to_route(&self) -> Option<RouteSpec> {
        Some(RouteSpec {
            dst: self.dst.parse().ok()?,
            gateway: match &self.gateway {
                Some(g) => Some(g.parse().ok()?),
                None => None,
            },
            oif: self.oif,
            scope: match self.scope.as_str() {
                "link" => RouteScope::Link,
                "host" => RouteScope::Host,
                _ => RouteScope::Universe,
            },
        })
    }

    pub fn family(&self) -> Option<Family> {
        let dst: ipnet::IpNet = self.dst.parse().ok()?;
        Some(Family::of(&dst))
    }
}

impl StoredIface {
    pub fn from_attached(a: &Attached, announcer: Option<Announcer>) -> StoredIface {
        StoredIface {
            name: a.name.clone(),
            source: a.source.clone(),
            ifindex: a.ifindex,
            mac: a.mac.map(|m| m.to_string()),
            ipv4: a.ipv4.map(|n| n.to_string()),
            ipv6: a.ipv6.map(|n| n.to_string()),
            ipv6_dropped: a.ipv6_dropped.map(|n| n.to_string()),
            master: a.master.clone(),
            origin: match a.origin {
                Origin::MovedFromHost => StoredOrigin::MovedFromHost,
                Origin::InHost => StoredOrigin::InHost,
                Origin::CreatedInNamespace => StoredOrigin::CreatedInNamespace,
                Origin::NewBridge => StoredOrigin::NewBridge,
                Origin::NewVeth { host_index } => StoredOrigin::NewVeth { host_index },
            },
            announce_count: a.announce.count,
            announce_interval_ms: a.announce.interval.as_millis() as u64,
            warnings: a.warnings.clone(),
            announcer,
            phase: RecordPhase::Attached,
            actor: None,
        }
    }

    /// Back to an [`Attached`] in `netns` (the reference the current caller used).
    pub fn to_attached(&self, netns: &NetnsRef) -> Attached {
        Attached {
            netns: netns.clone(),
            name: self.name.clone(),
            source: self.source.clone(),
            ifindex: self.ifindex,
            mac: self.mac.as_deref().and_then(|m| m.parse::<MacAddr>().ok()),
            ipv4: self.ipv4.as_deref().and_then(|n| n.parse::<Ipv4Net>().ok()),
            ipv6: self.ipv6.as_deref().and_then(|n| n.parse::<Ipv6Net>().ok()),
            ipv6_dropped: self
                .ipv6_dropped
                .as_deref()
                .and_then(|n| n.parse::<Ipv6Net>().ok()),
            master: self.master.clone(),
            origin: match self.origin {
                StoredOrigin::MovedFromHost => Origin::MovedFromHost,
                StoredOrigin::InHost => Origin::InHost,
                StoredOrigin::CreatedInNamespace => Origin::CreatedInNamespace,
                StoredOrigin::NewBridge => Origin::NewBridge,
                StoredOrigin::NewVeth { host_index } => Origin::NewVeth { host_index },
            },
            announce: AnnounceSettings {
                count: self.announce_count,
                interval: Duration::from_millis(self.announce_interval_ms),
            },
            warnings: self.warnings.clone(),
        }
    }
}

/// The whole state file of one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NsState {
    pub version: u32,
    /// The namespace as last named by a caller (informational).
    pub netns: String,
    pub interfaces: Vec<StoredIface>,
    /// Attaches under way (or cut short by a crash): written before the kernel is touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingAttach>,
    /// Gateway routes nsplumb set in this namespace (G1), at most one per family.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<StoredRoute>,
    /// The namespace's cookie when these records were written ([`NetnsAdmin::netns_cookie`]).
    /// The file is named after the nsfs inode, which the kernel gives to the next namespace
    /// as soon as this one is gone: a different cookie means the records are of a namespace
    /// that no longer exists.
    ///
    /// [`NetnsAdmin::netns_cookie`]: nsplumb_core::NetnsAdmin::netns_cookie
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns_cookie: Option<u64>,
}

impl NsState {
    /// Hold these records against the namespace's current cookie: if the namespace behind the
    /// file is a new one (same inode, other cookie), the old records are dropped, since all
    /// they named went with their namespace. True when the state changed (save it then).
    pub fn check_identity(&mut self, current: Option<u64>) -> bool {
        let Some(current) = current else {
            return false;
        };
        match self.netns_cookie {
            Some(known) if known == current => false,
            Some(known) => {
                tracing::info!(
                    netns = %self.netns,
                    old_cookie = known,
                    cookie = current,
                    records = self.interfaces.len() + self.pending.len(),
                    "namespace re-created under the same inode: dropping the records of the old one"
                );
                *self = NsState {
                    version: self.version,
                    netns: std::mem::take(&mut self.netns),
                    netns_cookie: Some(current),
                    ..NsState::default()
                };
                true
            }
            None => {
                self.netns_cookie = Some(current);
                true
            }
        }
    }
}

/// Where the files of one namespace live.
#[derive(Debug, Clone)]
pub struct NsFiles {
    pub state: PathBuf,
    pub lock: PathBuf,
}

/// The file key of a namespace: `ns-<dev>-<ino>` of its namespace file, else its sanitized path.
pub fn ns_key(netns: &NetnsRef) -> String {
    use std::os::unix::fs::MetadataExt;
    let path = match netns {
        NetnsRef::Host => "/proc/self/ns/net".to_string(),
        NetnsRef::Path(p) => p.to_string(),
    };
    match std::fs::metadata(&path) {
        Ok(m) => format!("ns-{}-{}", m.dev(), m.ino()),
        Err(_) => format!("path-{}", sanitize(&path)),
    }
}

fn sanitize(path: &str) -> String {
    path.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn ns_files(dir: &Path, netns: &NetnsRef) -> NsFiles {
    files_for_key(dir, ns_key(netns))
}

/// The simulator's namespaces exist only in memory: keyed by their path, never by a file of
/// the real machine that happens to have the same path.
pub fn sim_ns_files(dir: &Path, netns: &NetnsRef) -> NsFiles {
    let path = match netns {
        NetnsRef::Host => "host".to_string(),
        NetnsRef::Path(p) => p.to_string(),
    };
    files_for_key(dir, format!("sim-{}", sanitize(&path)))
}

fn files_for_key(dir: &Path, key: String) -> NsFiles {
    NsFiles {
        state: dir.join(format!("{key}.json")),
        lock: dir.join(format!("{key}.lock")),
    }
}

/// An exclusive `flock` on a file, released on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

/// The lock file itself, created if missing and never truncated (it holds no data).
fn open_lock_file(path: &Path) -> io::Result<std::fs::File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
}

impl FileLock {
    /// The lock if nobody holds it, else `None` at once.
    pub fn try_acquire(path: &Path) -> io::Result<Option<FileLock>> {
        let file = open_lock_file(path)?;
        // SAFETY: a valid, open fd.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r == 0 {
            return Ok(Some(FileLock { file }));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) || e.kind() == io::ErrorKind::Interrupted {
            Ok(None)
        } else {
            Err(e)
        }
    }

    /// Blocks until the lock is held.
    pub fn acquire(path: &Path) -> io::Result<FileLock> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = open_lock_file(path)?;
        loop {
            // SAFETY: a valid, open fd.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                return Ok(FileLock { file });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: a valid, open fd; closing would release it too.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

pub fn load(path: &Path) -> io::Result<NsState> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.is_empty() => Ok(NsState::default()),
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(NsState::default()),
        Err(e) => Err(e),
    }
}

/// Write atomically: a temp file in the same directory, fsync, rename over.
pub fn save(path: &Path, state: &NsState) -> io::Result<()> {
    write_atomic(path, &serde_json::to_vec_pretty(state)?)
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_iface_round_trips_attached() {
        let a = Attached {
            netns: NetnsRef::Path("/run/netns/x".into()),
            name: "eth0".into(),
            source: "vnsp00000001".into(),
            ifindex: 7,
            mac: Some("02:00:00:00:00:01".parse().unwrap()),
            ipv4: Some("192.0.2.10/24".parse().unwrap()),
            ipv6: None,
            ipv6_dropped: Some("fd00::1/64".parse().unwrap()),
            master: None,
            origin: Origin::NewVeth { host_index: 9 },
            announce: AnnounceSettings {
                count: 2,
                interval: Duration::from_millis(250),
            },
            warnings: vec!["w".into()],
        };
        let s = StoredIface::from_attached(&a, None);
        let json = serde_json::to_string(&s).unwrap();
        let back: StoredIface = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_attached(&a.netns), a);
    }

    #[test]
    fn dead_pid_is_not_alive() {
        let a = Announcer {
            pid: u32::MAX - 1,
            start_time: 1,
            on_request: false,
        };
        assert!(!a.is_alive());
        assert!(a.terminate(Duration::from_millis(10)));
        assert!(Announcer::me().unwrap().is_alive());
    }
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    #[test]
    fn records_of_a_namespace_with_another_cookie_are_dropped() {
        let mut st = NsState {
            version: STATE_VERSION,
            netns: "/run/netns/c".into(),
            netns_cookie: Some(7),
            ..NsState::default()
        };
        st.gateways.push(StoredRoute {
            dst: "0.0.0.0/0".into(),
            gateway: Some("192.0.2.1".into()),
            oif: 2,
            scope: "universe".into(),
        });
        let kept = st.clone();
        assert!(!st.check_identity(Some(7)), "same namespace: unchanged");
        assert!(!st.check_identity(None), "no cookie known: unchanged");
        assert_eq!(st, kept);
        assert!(st.check_identity(Some(9)), "re-created: changed");
        assert!(st.gateways.is_empty() && st.interfaces.is_empty() && st.pending.is_empty());
        assert_eq!(
            (st.netns_cookie, st.version, st.netns.as_str()),
            (Some(9), STATE_VERSION, "/run/netns/c")
        );
        let mut legacy = NsState::default();
        assert!(
            legacy.check_identity(Some(3)),
            "the first cookie is recorded"
        );
        assert_eq!(legacy.netns_cookie, Some(3));
    }
}
