//! What each backend keeps between processes: the namespace state files (both backends) and,
//! for the simulator, the journal that rebuilds its kernel in every process.

use crate::cancel::CANCEL_REQUEST_TIMEOUT;
use crate::intent::{self, PendingAttach};
use crate::journal::{Entry, Journal};
use crate::state::{
    self, Announcer, FileLock, NsFiles, NsState, RecordPhase, StoredIface, StoredRoute,
};
use nsplumb_core::{
    BackendExt, Errno, Family, IfaceState, NetBackend, NetnsAdmin, NetnsRef, Plumber, Spec,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How long a detach waits for the process still announcing to exit.
pub const ANNOUNCER_EXIT_TIMEOUT: Duration = Duration::from_secs(3);

pub enum Store {
    /// Nothing kept (the TUI's own simulated world).
    None,
    Linux {
        dir: PathBuf,
    },
    /// The simulated kernel lives in the process and is rebuilt from the journal; nsplumb's
    /// own state (records, intents, gateways) is kept in state files as on Linux.
    Sim {
        journal: Mutex<Journal>,
        dir: PathBuf,
    },
}

/// Operations of this process between `begin` and `commit`: a refresh waits for none.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Held from loading the state of a namespace until it is saved.
pub struct NsGuard {
    netns: NetnsRef,
    files: Option<NsFiles>,
    _lock: Option<FileLock>,
    /// Announcers of interfaces as loaded.
    announcers: HashMap<String, Announcer>,
    /// This process's attach, saved before the kernel is touched.
    pending: Option<PendingAttach>,
    /// Intents of other processes still alive (kept as they are).
    others_pending: Vec<PendingAttach>,
    /// The interface this process is detaching (saved as `detaching` before acting).
    detaching: Option<String>,
    /// Gateway routes of this namespace, as loaded and as changed by this process.
    gateways: Vec<StoredRoute>,
    /// The namespace's cookie, written with the records (see [`NsState::netns_cookie`]).
    netns_cookie: Option<u64>,
}

impl Drop for NsGuard {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

impl NsGuard {
    fn new(netns: &NetnsRef, files: Option<NsFiles>, lock: Option<FileLock>) -> NsGuard {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        NsGuard {
            netns: netns.clone(),
            files,
            _lock: lock,
            announcers: HashMap::new(),
            pending: None,
            others_pending: Vec::new(),
            detaching: None,
            gateways: Vec::new(),
            netns_cookie: None,
        }
    }

    pub fn announcer_of(&self, name: &str) -> Option<Announcer> {
        self.announcers.get(name).copied()
    }

    /// The gateway routes recorded for this namespace (G1).
    pub fn gateways(&self) -> &[StoredRoute] {
        &self.gateways
    }
}

impl Store {
    /// The files of a namespace in the state directory; `None` when nothing is kept.
    pub fn files_of(&self, netns: &NetnsRef) -> Option<NsFiles> {
        self.files(netns)
    }

    /// The state directory and how namespaces are keyed in it; `None` keeps nothing.
    fn files(&self, netns: &NetnsRef) -> Option<NsFiles> {
        match self {
            Store::None => None,
            Store::Linux { dir } => Some(state::ns_files(dir, netns)),
            Store::Sim { dir, .. } => Some(state::sim_ns_files(dir, netns)),
        }
    }

    /// Lock the namespace, load its state, reconcile what dead processes left (see
    /// [`crate::intent`]) and bring the plumber's registry in line with it.
    pub async fn begin<B: NetBackend + NetnsAdmin>(
        &self,
        plumber: &Plumber<B>,
        netns: &NetnsRef,
    ) -> Result<NsGuard, String> {
        let Some(files) = self.files(netns) else {
            return Ok(NsGuard::new(netns, None, None));
        };
        let lock_path = files.lock.clone();
        let lock = tokio::task::spawn_blocking(move || FileLock::acquire(&lock_path))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot lock {}: {e}", files.lock.display()))?;
        let mut loaded = state::load(&files.state)
            .map_err(|e| format!("cannot read state {}: {e}", files.state.display()))?;
        let cookie = plumber.backend().netns_cookie(netns).await.ok().flatten();
        let recreated = loaded.check_identity(cookie);
        if intent::reconcile(&**plumber.backend(), netns, &mut loaded).await || recreated {
            loaded.netns = netns.to_string();
            state::save(&files.state, &loaded)
                .map_err(|e| format!("cannot write state {}: {e}", files.state.display()))?;
        }
        let announcers = sync_registry(plumber, netns, &loaded).await;
        let mut guard = NsGuard::new(netns, Some(files), Some(lock));
        guard.announcers = announcers;
        guard.others_pending = loaded.pending;
        guard.gateways = loaded.gateways;
        guard.netns_cookie = loaded.netns_cookie;
        Ok(guard)
    }

    /// For a long-lived process (the TUI) and `list`: bring the registry of `netns` in line
    /// with its state file without taking the lock (the file is replaced atomically).
    pub async fn refresh<B: NetBackend + NetnsAdmin>(
        &self,
        plumber: &Plumber<B>,
        netns: &NetnsRef,
    ) {
        let Some(files) = self.files(netns) else {
            return;
        };
        if IN_FLIGHT.load(Ordering::SeqCst) > 0 {
            return;
        }
        if let Ok(mut loaded) = state::load(&files.state) {
            let has_records = !(loaded.interfaces.is_empty() && loaded.pending.is_empty());
            let cookie = match loaded.netns_cookie.is_some() && has_records {
                true => plumber.backend().netns_cookie(netns).await.ok().flatten(),
                false => None,
            };
            if loaded.check_identity(cookie) {
                // Records of a namespace that is gone: drop them now if nobody holds the lock
                // (never wait); adopt none of them either way.
                if let Ok(Some(_lock)) = FileLock::try_acquire(&files.lock) {
                    if let Ok(mut fresh) = state::load(&files.state) {
                        if fresh.check_identity(cookie) {
                            let _ = state::save(&files.state, &fresh);
                        }
                    }
                }
            }
            if intent::needs_reconcile(&loaded) {
                // Left by a dead process: reconcile now if nobody holds the lock (never wait).
                if let Ok(Some(_lock)) = FileLock::try_acquire(&files.lock) {
                    if let Ok(fresh) = state::load(&files.state) {
                        loaded = fresh;
                        if intent::reconcile(&**plumber.backend(), netns, &mut loaded).await {
                            let _ = state::save(&files.state, &loaded);
                        }
                    }
                }
            }
            if !loaded.interfaces.is_empty() || !plumber.interfaces(netns).is_empty() {
                sync_registry(plumber, netns, &loaded).await;
            }
        }
    }

    /// Before an attach touches the kernel: save what it intends, so that a later process can
    /// finish or undo it if this one dies. The name is chosen now, under the namespace lock,
    /// exactly as the attach will choose it. A spec the registry rejects is not recorded (the
    /// attach then fails before any kernel call).
    pub fn intend_attach<B: NetBackend>(
        &self,
        plumber: &Plumber<B>,
        guard: &mut NsGuard,
        spec: &Spec,
    ) -> Result<(), String> {
        if guard.files.is_none() {
            return Ok(());
        }
        let Ok(plan) = plumber.registry().prepare_attach(&guard.netns, spec) else {
            return Ok(());
        };
        let Some(me) = Announcer::me() else {
            return Err("cannot read this process's start time from /proc".into());
        };
        guard.pending = Some(PendingAttach::new(&plan.name, spec, me));
        save_ns(plumber, guard)
    }

    /// Before a detach touches the kernel: mark the record `detaching` (see [`crate::intent`]).
    pub fn intend_detach<B: NetBackend>(
        &self,
        plumber: &Plumber<B>,
        guard: &mut NsGuard,
        name: &str,
    ) -> Result<(), String> {
        if guard.files.is_none() {
            return Ok(());
        }
        guard.detaching = Some(name.to_string());
        save_ns(plumber, guard)
    }

    /// Simulator: record a change of its kernel, at once, as the kernel itself would keep it.
    /// Nothing to do on Linux.
    pub fn journal(&self, entry: Entry) -> Result<(), String> {
        match self {
            Store::Sim { journal, .. } => journal
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .append(&entry)
                .map_err(|e| format!("cannot append to the sim journal: {e}")),
            _ => Ok(()),
        }
    }

    /// G1 across processes: set the gateway of `gateway`'s family, replacing the one an earlier
    /// process set (the registry of this process does not know it), and record it.
    pub async fn set_gateway<B: NetBackend>(
        &self,
        plumber: &Plumber<B>,
        guard: &mut NsGuard,
        gateway: std::net::IpAddr,
    ) -> Result<(), String> {
        let netns = guard.netns.clone();
        let family = if gateway.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        };
        if plumber.registry().gateway(&netns, family).is_none() {
            let earlier: Vec<StoredRoute> = guard
                .gateways
                .iter()
                .filter(|g| g.family() == Some(family))
                .cloned()
                .collect();
            for g in earlier {
                self.delete_route(plumber, &netns, &g).await?;
                guard.gateways.retain(|x| *x != g);
            }
        }
        let result = plumber.set_gateway(&netns, Some(gateway)).await;
        // Journaled even when it failed: the simulator replays exactly what happened.
        self.journal(Entry::Gateway {
            netns: netns.to_string(),
            gateway: gateway.to_string(),
        })?;
        result.map_err(|e| e.to_string())?;
        guard.gateways.retain(|g| g.family() != Some(family));
        if let Some(r) = plumber.registry().gateway(&netns, family) {
            guard.gateways.push(StoredRoute::from_route(r));
        }
        Ok(())
    }

    /// G4 across processes: the interface `ifindex` was detached; remove the gateway routes
    /// recorded on it (the kernel normally dropped them with the link; a link that stays in
    /// the namespace keeps them otherwise) and their records.
    pub async fn drop_gateways_on<B: NetBackend>(
        &self,
        plumber: &Plumber<B>,
        guard: &mut NsGuard,
        ifindex: u32,
    ) -> Result<(), String> {
        let netns = guard.netns.clone();
        let on_link: Vec<StoredRoute> = guard
            .gateways
            .iter()
            .filter(|g| g.oif == ifindex)
            .cloned()
            .collect();
        for g in on_link {
            self.delete_route(plumber, &netns, &g).await?;
            guard.gateways.retain(|x| *x != g);
        }
        Ok(())
    }

    async fn delete_route<B: NetBackend>(
        &self,
        plumber: &Plumber<B>,
        netns: &NetnsRef,
        g: &StoredRoute,
    ) -> Result<(), String> {
        let Some(route) = g.to_route() else {
            return Ok(());
        };
        let r = plumber.backend().del_route(netns, &route).await;
        self.journal(Entry::DelRoute {
            netns: netns.to_string(),
            route: g.clone(),
        })?;
        match r {
            Ok(()) => Ok(()),
            // Gone with its link already (G4).
            Err(e) if e.is(Errno::ESRCH) || e.is(Errno::ENODEV) || e.is(Errno::ENOENT) => Ok(()),
            Err(e) => Err(format!(
                "failed to delete gateway route {} via {} in namespace {netns}: {e}",
                g.dst,
                g.gateway.as_deref().unwrap_or("-")
            )),
        }
    }

    /// Cross-process S8: stop the process still announcing `name` before detaching it: a CLI
    /// process is terminated, a long-lived one (the TUI) is asked to cancel (see
    /// [`crate::cancel`]; the record must already be marked `detaching`). False when it did
    /// not stop in time (the detach goes on).
    pub async fn stop_announcer(&self, guard: &mut NsGuard, name: &str) -> bool {
        let Some(a) = guard.announcers.remove(name) else {
            return true;
        };
        let files = guard.files.clone();
        let iface = name.to_string();
        let ok = tokio::task::spawn_blocking(move || match (a.on_request, files) {
            (true, Some(files)) => {
                crate::cancel::request_cancel(&a, &files, &iface, CANCEL_REQUEST_TIMEOUT)
            }
            _ => a.terminate(ANNOUNCER_EXIT_TIMEOUT),
        })
        .await
        .unwrap_or(false);
        if !ok {
            tracing::warn!(pid = a.pid, iface = name, "announcing process did not stop");
        }
        ok
    }

    /// Save the final namespace state (the intent or `detaching` mark of this process gone)
    /// and unlock. `announcing`: this process still announces that interface.
    pub fn commit<B: NetBackend>(
        &self,
        plumber: &Plumber<B>,
        mut guard: NsGuard,
        announcing: Option<(&str, Announcer)>,
    ) -> Result<(), String> {
        guard.pending = None;
        guard.detaching = None;
        if let Some((name, a)) = announcing {
            guard.announcers.insert(name.to_string(), a);
        }
        save_ns(plumber, &guard)
    }

    pub fn release_journal(&self) {
        if let Store::Sim { journal, .. } = self {
            journal.lock().unwrap_or_else(|p| p.into_inner()).release();
        }
    }

    /// The announcing process is done: clear its pid from the state.
    pub async fn clear_announcer(&self, netns: &NetnsRef, name: &str) {
        let Some(files) = self.files(netns) else {
            return;
        };
        let lock_path = files.lock.clone();
        let Ok(Ok(_lock)) =
            tokio::task::spawn_blocking(move || FileLock::acquire(&lock_path)).await
        else {
            return;
        };
        let Ok(mut st) = state::load(&files.state) else {
            return;
        };
        let me = Announcer::me();
        let mut changed = false;
        for i in &mut st.interfaces {
            let mine = matches!((i.announcer, me), (Some(a), Some(m)) if a.is_same_process(&m));
            if i.name == name && mine {
                i.announcer = None;
                changed = true;
            }
        }
        if changed {
            let _ = state::save(&files.state, &st);
        }
    }

    /// `netns del`: forget the state of a namespace that is gone.
    pub fn forget_ns(&self, netns: &NetnsRef) {
        if let Some(files) = self.files(netns) {
            let _ = std::fs::remove_file(&files.state);
            let _ = std::fs::remove_file(&files.lock);
        }
    }

    /// The state directory, when state is kept.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            Store::None => None,
            Store::Linux { dir } | Store::Sim { dir, .. } => Some(dir),
        }
    }
}

/// The state file is the truth between processes: adopt its records, forget attached
/// interfaces it no longer has (detached by another process). A record whose link is gone is
/// kept (SPEC D3: its name stays reserved; detach reports it, `forget` drops it). Returns the
/// live announcers by interface name.
async fn sync_registry<B: NetBackend>(
    plumber: &Plumber<B>,
    netns: &NetnsRef,
    loaded: &NsState,
) -> HashMap<String, Announcer> {
    let mut announcers = HashMap::new();
    let in_file: Vec<&str> = loaded.interfaces.iter().map(|i| i.name.as_str()).collect();
    let current = plumber.interfaces(netns);
    for i in &current {
        if i.state == IfaceState::Attached && !in_file.contains(&i.name.as_str()) {
            plumber.forget(netns, &i.name);
        }
    }
    for stored in &loaded.interfaces {
        if let Some(a) = stored.announcer.filter(|a| a.is_alive()) {
            announcers.insert(stored.name.clone(), a);
        }
        if current
            .iter()
            .any(|i| i.name == stored.name && i.state != IfaceState::Attached)
        {
            continue; // attaching, detaching or vanished in this process
        }
        if current.iter().any(|i| {
            i.name == stored.name && i.attached.as_ref().map(|a| a.ifindex) == Some(stored.ifindex)
        }) {
            continue; // known already
        }
        plumber.forget(netns, &stored.name);
        plumber.adopt(stored.to_attached(netns));
    }
    announcers
}

fn save_ns<B: NetBackend>(plumber: &Plumber<B>, guard: &NsGuard) -> Result<(), String> {
    let Some(files) = &guard.files else {
        return Ok(());
    };
    let me = Announcer::me();
    let interfaces: Vec<StoredIface> = plumber
        .interfaces(&guard.netns)
        .into_iter()
        .filter_map(|i| {
            let a = i.attached?;
            let announcer = guard.announcers.get(&i.name).copied();
            let mut stored = StoredIface::from_attached(&a, announcer);
            if guard.detaching.as_deref() == Some(i.name.as_str()) {
                stored.phase = RecordPhase::Detaching;
                stored.actor = me;
            } else if i.state == IfaceState::Vanished {
                stored.phase = RecordPhase::Vanished;
            }
            Some(stored)
        })
        .collect();
    let mut gateways = guard.gateways.clone();
    let registry = plumber.registry();
    for family in [Family::V4, Family::V6] {
        if let Some(r) = registry.gateway(&guard.netns, family) {
            gateways.retain(|g| g.family() != Some(family));
            gateways.push(StoredRoute::from_route(r));
        }
    }
    let mut pending = guard.others_pending.clone();
    pending.extend(guard.pending.clone());
    let st = NsState {
        version: state::STATE_VERSION,
        netns: guard.netns.to_string(),
        interfaces,
        pending,
        gateways,
        netns_cookie: guard.netns_cookie,
    };
    state::save(&files.state, &st)
        .map_err(|e| format!("cannot write state {}: {e}", files.state.display()))
}
