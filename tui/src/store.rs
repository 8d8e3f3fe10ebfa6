//! What each backend keeps between processes: the Linux state directory or the sim journal.

use crate::journal::{Entry, Journal};
use crate::state::{self, Announcer, FileLock, NsFiles, NsState, StoredIface};
use nsplumb_core::{IfaceState, NetBackend, NetnsRef, Plumber};
use std::collections::HashMap;
use std::path::PathBuf;
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
    Sim {
        journal: Mutex<Journal>,
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
}

impl Drop for NsGuard {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

impl NsGuard {
    fn new(
        netns: &NetnsRef,
        files: Option<NsFiles>,
        lock: Option<FileLock>,
        announcers: HashMap<String, Announcer>,
    ) -> NsGuard {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        NsGuard {
            netns: netns.clone(),
            files,
            _lock: lock,
            announcers,
        }
    }

    pub fn announcer_of(&self, name: &str) -> Option<Announcer> {
        self.announcers.get(name).copied()
    }
}

impl Store {
    /// Lock the namespace, load its state into the plumber (adopt). For Linux only; the sim
    /// journal was replayed when the process started.
    pub async fn begin<B: NetBackend>(
        &self,
        plumber: &Plumber<B>,
        netns: &NetnsRef,
    ) -> Result<NsGuard, String> {
        let dir = match self {
            Store::Linux { dir } => dir,
            Store::None => return Ok(NsGuard::new(netns, None, None, HashMap::new())),
            Store::Sim { journal } => {
                // The journal is locked for the whole process; find who still announces.
                let entries = journal
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entries()
                    .unwrap_or_default();
                let key = netns.to_string();
                let mut announcers = HashMap::new();
                for e in entries {
                    match e {
                        Entry::Attach {
                            netns,
                            name,
                            announcer,
                            ..
                        } if netns == key => match announcer {
                            Some(a) => {
                                announcers.insert(name, a);
                            }
                            None => {
                                announcers.remove(&name);
                            }
                        },
                        Entry::Detach { netns, name } if netns == key => {
                            announcers.remove(&name);
                        }
                        _ => {}
                    }
                }
                announcers.retain(|_, a: &mut Announcer| a.is_alive());
                return Ok(NsGuard::new(netns, None, None, announcers));
            }
        };
        let files = state::ns_files(dir, netns);
        let lock_path = files.lock.clone();
        let lock = tokio::task::spawn_blocking(move || FileLock::acquire(&lock_path))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot lock {}: {e}", files.lock.display()))?;
        let loaded = state::load(&files.state)
            .map_err(|e| format!("cannot read state {}: {e}", files.state.display()))?;
        let announcers = sync_registry(plumber, netns, loaded).await;
        Ok(NsGuard::new(netns, Some(files), Some(lock), announcers))
    }

    /// Linux, for a long-lived process (the TUI): bring the registry of `netns` in line with its
    /// state file without taking the lock (the file is replaced atomically).
    pub async fn refresh<B: NetBackend>(&self, plumber: &Plumber<B>, netns: &NetnsRef) {
        let Store::Linux { dir } = self else { return };
        if IN_FLIGHT.load(Ordering::SeqCst) > 0 {
            return;
        }
        let files = state::ns_files(dir, netns);
        if let Ok(loaded) = state::load(&files.state) {
            if !loaded.interfaces.is_empty() || !plumber.interfaces(netns).is_empty() {
                sync_registry(plumber, netns, loaded).await;
            }
        }
    }

    /// Cross-process S8: stop the process still announcing `name` before detaching it.
    pub async fn stop_announcer(&self, guard: &mut NsGuard, name: &str) {
        if let Some(a) = guard.announcers.remove(name) {
            let ok = tokio::task::spawn_blocking(move || a.terminate(ANNOUNCER_EXIT_TIMEOUT))
                .await
                .unwrap_or(false);
            if !ok {
                tracing::warn!(pid = a.pid, iface = name, "announcing process did not exit");
            }
        }
    }

    /// Save the namespace state (Linux) and/or append the journal entry (sim); unlock.
    pub fn commit<B: NetBackend>(
        &self,
        plumber: &Plumber<B>,
        mut guard: NsGuard,
        entry: Option<Entry>,
        announcing: Option<(&str, Announcer)>,
    ) -> Result<(), String> {
        match self {
            Store::None => Ok(()),
            Store::Sim { journal } => match entry {
                Some(e) => journal
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .append(&e)
                    .map_err(|e| format!("cannot append to the sim journal: {e}")),
                None => Ok(()),
            },
            Store::Linux { .. } => {
                if let Some((name, a)) = announcing {
                    guard.announcers.insert(name.to_string(), a);
                }
                save_ns(plumber, &guard)
            }
        }
    }

    pub fn release_journal(&self) {
        if let Store::Sim { journal } = self {
            journal.lock().unwrap_or_else(|p| p.into_inner()).release();
        }
    }

    /// The announcing process is done: clear its pid from the state (Linux).
    pub async fn clear_announcer(&self, netns: &NetnsRef, name: &str) {
        let Store::Linux { dir } = self else { return };
        let files = state::ns_files(dir, netns);
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
            if i.name == name && i.announcer.is_some() && i.announcer == me {
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
        if let Store::Linux { dir } = self {
            let files = state::ns_files(dir, netns);
            let _ = std::fs::remove_file(&files.state);
            let _ = std::fs::remove_file(&files.lock);
        }
    }
}

/// The state file is the truth between processes: adopt its records (unless stale), forget
/// attached interfaces it no longer has (detached by another process). Returns the live
/// announcers by interface name.
async fn sync_registry<B: NetBackend>(
    plumber: &Plumber<B>,
    netns: &NetnsRef,
    loaded: NsState,
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
            continue; // attaching or detaching in this process
        }
        if current.iter().any(|i| {
            i.name == stored.name && i.attached.as_ref().map(|a| a.ifindex) == Some(stored.ifindex)
        }) {
            continue; // known already
        }
        // A record whose link is gone or renamed is stale (e.g. the namespace was deleted and
        // its inode reused): drop it rather than reserve a name for nothing.
        match plumber.backend().link_by_index(netns, stored.ifindex).await {
            Ok(link) if link.name == stored.name => {}
            _ => {
                tracing::info!(iface = %stored.name, %netns, "dropping stale state record");
                announcers.remove(&stored.name);
                continue;
            }
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
    let interfaces: Vec<StoredIface> = plumber
        .interfaces(&guard.netns)
        .into_iter()
        .filter_map(|i| {
            let a = i.attached?;
            let announcer = guard.announcers.get(&i.name).copied();
            Some(StoredIface::from_attached(&a, announcer))
        })
        .collect();
    let st = NsState {
        version: state::STATE_VERSION,
        netns: guard.netns.to_string(),
        interfaces,
    };
    state::save(&files.state, &st)
        .map_err(|e| format!("cannot write state {}: {e}", files.state.display()))
}
