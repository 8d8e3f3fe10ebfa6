//! One namespace's records, locked, loaded and reconciled, from the start of an operation
//! until its outcome is saved.
//!
//! The state file is the truth between processes: [`NsSession::begin`] takes the namespace
//! lock, reads the file (a corrupt one is an error, nothing acts on it), reconciles what dead
//! processes left (SPEC R1, see [`crate::reconcile`]) and brings the plumber's registry in line
//! with it (adopting records of other processes, forgetting interfaces they detached). Every
//! save writes the registry's interfaces back with what only the host state knows of them
//! (phase, announcer, owner), the intents, and the gateways.

use crate::announcer::AnnouncerProcess;
use crate::error::HostError;
use crate::lock::FileLock;
use crate::paths::NsFiles;
use crate::process::ProcessRef;
use crate::reconcile;
use crate::record::{IfaceRecord, IntentRecord, Owner, RecordPhase};
use crate::state_file::{self, NsState, StateError};
use crate::store::Store;
use crate::HostBackend;
use nsplumb_core::{IfaceState, NetnsRef, Plumber, RouteSpec, Spec};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Sessions open in this process: a refresh of the registry from the files waits for none, so
/// it never adopts a file older than what this process is doing.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn sessions_in_flight() -> usize {
    IN_FLIGHT.load(Ordering::SeqCst)
}

struct InFlight;

impl InFlight {
    fn new() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a record holds beyond the core's `Attached`.
#[derive(Debug, Clone, Default)]
struct HostSide {
    announcer: Option<AnnouncerProcess>,
    owner: Option<Owner>,
    /// Recorded `vanished` (D3) by an earlier process: it stays so until detached or forgotten.
    vanished: bool,
}

pub(crate) struct NsSession<'s> {
    store: &'s Store,
    netns: NetnsRef,
    files: Option<NsFiles>,
    _lock: Option<FileLock>,
    _in_flight: InFlight,
    /// By interface name.
    host_side: HashMap<String, HostSide>,
    /// This process's attach, saved before the kernel is touched.
    intent: Option<IntentRecord>,
    /// Intents of other processes still alive (kept as they are).
    others_intents: Vec<IntentRecord>,
    /// The interface this process is detaching (saved as `detaching` before acting).
    detaching: Option<String>,
    /// The gateway routes of this namespace, as loaded and as changed by this session.
    pub(crate) gateways: Vec<RouteSpec>,
    netns_cookie: Option<u64>,
}

impl<'s> NsSession<'s> {
    /// Lock `netns`, load its records, reconcile, sync the registry.
    pub(crate) async fn begin<B: HostBackend>(
        store: &'s Store,
        plumber: &Plumber<B>,
        netns: &NetnsRef,
    ) -> Result<NsSession<'s>, HostError> {
        let in_flight = InFlight::new();
        let Some(files) = store.files(netns) else {
            return Ok(NsSession::new(store, netns, None, None, in_flight));
        };
        let lock_error = |e: std::io::Error| {
            HostError::Failed(format!("cannot lock {}: {e}", files.lock.display()))
        };
        // Uncontended (the usual case): taken here, without a blocking-pool thread.
        let lock = match FileLock::try_acquire(&files.lock).map_err(lock_error)? {
            Some(lock) => lock,
            None => {
                let lock_path = files.lock.clone();
                tokio::task::spawn_blocking(move || FileLock::acquire(&lock_path))
                    .await
                    .map_err(|e| HostError::Failed(format!("cannot lock namespace {netns}: {e}")))?
                    .map_err(lock_error)?
            }
        };
        let mut loaded = state_file::load(&files.state)?.unwrap_or_else(|| NsState::empty(netns));
        let cookie = plumber.backend().netns_cookie(netns).await.ok().flatten();
        let recreated = loaded.check_identity(cookie);
        let reconciled = reconcile::reconcile(plumber, netns, &mut loaded, &files.state).await?;
        if reconciled || recreated {
            loaded.netns = netns.clone();
            state_file::save(&files.state, &loaded)?;
        }
        sync_registry(plumber, netns, &loaded);
        let mut session = NsSession::new(store, netns, Some(files), Some(lock), in_flight);
        session.host_side = loaded
            .interfaces
            .iter()
            .map(|r| {
                let side = HostSide {
                    announcer: r.announcer.filter(|a| a.process().is_alive()),
                    owner: r.owner.clone(),
                    vanished: r.phase == RecordPhase::Vanished,
                };
                (r.attached.name.clone(), side)
            })
            .collect();
        session.others_intents = loaded.pending;
        session.gateways = loaded.gateways;
        session.netns_cookie = loaded.netns_cookie;
        Ok(session)
    }

    fn new(
        store: &'s Store,
        netns: &NetnsRef,
        files: Option<NsFiles>,
        lock: Option<FileLock>,
        in_flight: InFlight,
    ) -> NsSession<'s> {
        NsSession {
            store,
            netns: netns.clone(),
            files,
            _lock: lock,
            _in_flight: in_flight,
            host_side: HashMap::new(),
            intent: None,
            others_intents: Vec::new(),
            detaching: None,
            gateways: Vec::new(),
            netns_cookie: None,
        }
    }

    pub(crate) fn store(&self) -> &'s Store {
        self.store
    }

    pub(crate) fn netns(&self) -> &NetnsRef {
        &self.netns
    }

    /// Before an attach touches the kernel: save the name it holds and the request, so that a
    /// later process can finish or undo it if this one dies.
    pub(crate) fn intend_attach<B: HostBackend>(
        &mut self,
        plumber: &Plumber<B>,
        name: &str,
        spec: &Spec,
        owner: Option<Owner>,
        original_mtu: Option<u32>,
    ) -> Result<(), HostError> {
        if self.files.is_none() {
            return Ok(());
        }
        let actor = ProcessRef::me().ok_or_else(|| {
            HostError::Failed("cannot read this process's start time from /proc".into())
        })?;
        self.intent = Some(IntentRecord {
            name: name.to_string(),
            spec: spec.clone(),
            actor,
            owner: owner.clone(),
            original_mtu,
        });
        if let Some(owner) = owner {
            self.host_side.entry(name.to_string()).or_default().owner = Some(owner);
        }
        self.save(plumber)
    }

    /// Before a detach touches the kernel: mark the record `detaching`.
    pub(crate) fn intend_detach<B: HostBackend>(
        &mut self,
        plumber: &Plumber<B>,
        name: &str,
    ) -> Result<(), HostError> {
        self.detaching = Some(name.to_string());
        self.save(plumber)
    }

    /// The interface is no longer being detached by this process (the detach did not happen).
    pub(crate) fn cancel_detaching(&mut self) {
        self.detaching = None;
    }

    pub(crate) fn set_announcer(&mut self, name: &str, announcer: Option<AnnouncerProcess>) {
        self.host_side
            .entry(name.to_string())
            .or_default()
            .announcer = announcer;
    }

    /// Cross-process S8: stop the process still announcing `name` before it is detached (the
    /// record must already be marked `detaching`). False when it did not stop in time.
    pub(crate) async fn stop_announcer(&mut self, name: &str) -> bool {
        let announcer = self
            .host_side
            .get_mut(name)
            .and_then(|side| side.announcer.take());
        let (Some(announcer), Some(files)) = (announcer, self.files.clone()) else {
            return true;
        };
        let iface = name.to_string();
        tokio::task::spawn_blocking(move || announcer.stop(&files, &iface))
            .await
            .unwrap_or(false)
    }

    /// Save the outcome (this process's intent and `detaching` mark gone); the lock is released
    /// when the session is dropped.
    pub(crate) fn commit<B: HostBackend>(&mut self, plumber: &Plumber<B>) -> Result<(), HostError> {
        self.intent = None;
        self.detaching = None;
        self.save(plumber)
    }

    fn save<B: HostBackend>(&self, plumber: &Plumber<B>) -> Result<(), HostError> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let me = ProcessRef::me();
        let interfaces = plumber
            .interfaces(&self.netns)
            .into_iter()
            .filter_map(|i| {
                let side = self.host_side.get(&i.name).cloned().unwrap_or_default();
                let mut record = IfaceRecord::new(i.attached?);
                record.announcer = side.announcer;
                record.owner = side.owner;
                if self.detaching.as_deref() == Some(i.name.as_str()) {
                    record.phase = RecordPhase::Detaching;
                    record.actor = me;
                } else if i.state == IfaceState::Vanished || side.vanished {
                    record.phase = RecordPhase::Vanished;
                }
                Some(record)
            })
            .collect();
        let mut pending = self.others_intents.clone();
        pending.extend(self.intent.clone());
        let st = NsState {
            netns_cookie: self.netns_cookie,
            interfaces,
            pending,
            gateways: self.gateways.clone(),
            ..NsState::empty(&self.netns)
        };
        state_file::save(&files.state, &st).map_err(HostError::from)
    }
}

/// Adopt the records of the file, forget attached interfaces it no longer has (detached by
/// another process). A record whose link is gone is kept (SPEC D3: its name stays reserved;
/// detach reports it, `forget` drops it).
pub(crate) fn sync_registry<B: HostBackend>(
    plumber: &Plumber<B>,
    netns: &NetnsRef,
    loaded: &NsState,
) {
    let in_file: Vec<&str> = loaded.interfaces.iter().map(IfaceRecord::name).collect();
    let current = plumber.interfaces(netns);
    for i in &current {
        if i.state == IfaceState::Attached && !in_file.contains(&i.name.as_str()) {
            plumber.forget(netns, &i.name);
        }
    }
    for record in &loaded.interfaces {
        let name = record.name();
        let known = current.iter().find(|i| i.name == name);
        if known.is_some_and(|i| i.state != IfaceState::Attached) {
            continue; // attaching, detaching or vanished in this process
        }
        let same_link = known
            .and_then(|i| i.attached.as_ref())
            .is_some_and(|a| a.ifindex == record.attached.ifindex);
        if same_link {
            continue;
        }
        plumber.forget(netns, name);
        // The reference the current caller used: the file may name it another way.
        let attached = nsplumb_core::Attached {
            netns: netns.clone(),
            ..record.attached.clone()
        };
        plumber.adopt(attached);
    }
}

/// A state file read without the lock, for a refresh.
pub(crate) fn load_unlocked(files: &NsFiles) -> Result<Option<NsState>, StateError> {
    state_file::load(&files.state)
}
