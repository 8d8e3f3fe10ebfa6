//! Where a front end keeps its records: nowhere (a simulated world of its own), state files for
//! the real kernel, or state files plus the journal that is the simulator's kernel.

use crate::error::HostError;
use crate::journal::{Entry, Journal, JournalError};
use crate::paths::{self, NsFiles};
use crate::state_file::{self, NsState};
use nsplumb_core::NetnsRef;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

pub enum Store {
    /// Nothing kept (the TUI's own simulated world).
    None,
    /// State files in `dir` (`/run/nsplumb`), namespaces keyed by identity.
    Linux { dir: PathBuf },
    /// The simulated kernel lives in the process and is rebuilt from the journal; nsplumb's
    /// own records are kept in state files as on Linux.
    Sim {
        journal: Mutex<Journal>,
        dir: PathBuf,
    },
}

impl Store {
    /// The simulator's store in `dir`: takes the journal lock (blocking) and reads the changes
    /// to replay ([`crate::journal::replay`]). A journal that does not read back is an error
    /// naming it, before anything acts.
    pub fn open_sim(dir: PathBuf) -> Result<(Store, Vec<Entry>), HostError> {
        let journal = Journal::open(&dir)?;
        let entries = journal.entries()?;
        let store = Store::Sim {
            journal: Mutex::new(journal),
            dir,
        };
        Ok((store, entries))
    }

    /// The files of a namespace; `None` when nothing is kept.
    pub fn files(&self, netns: &NetnsRef) -> Option<NsFiles> {
        match self {
            Store::None => None,
            Store::Linux { dir } => Some(paths::ns_files(dir, netns)),
            Store::Sim { dir, .. } => Some(paths::sim_ns_files(dir, netns)),
        }
    }

    /// Simulator: record a kernel change at once, as the kernel itself would keep it. Nothing
    /// to do elsewhere.
    pub fn journal(&self, entry: Entry) -> Result<(), JournalError> {
        match self {
            Store::Sim { journal, .. } => lock(journal).append(&entry),
            _ => Ok(()),
        }
    }

    /// Simulator: let other processes at the journal (after this process's last change).
    pub fn release_journal(&self) {
        if let Store::Sim { journal, .. } = self {
            lock(journal).release();
        }
    }

    /// The records of every namespace kept here, read without the lock (files are replaced
    /// atomically): for a front end that finds its attachments by its own key ([`Owner`]), even
    /// in a namespace that is gone (CNI DEL with a vanished namespace, GC). A file that does
    /// not read back is an error naming it.
    ///
    /// [`Owner`]: crate::Owner
    pub fn all_states(&self) -> Result<Vec<NsState>, HostError> {
        Ok(self
            .state_files()?
            .into_iter()
            .map(|(_, state)| state)
            .collect())
    }

    /// [`Store::all_states`] with the files each state was read from, so that a caller can
    /// lock and change them.
    pub fn state_files(&self) -> Result<Vec<(NsFiles, NsState)>, HostError> {
        let (dir, prefixes): (&PathBuf, &[&str]) = match self {
            Store::None => return Ok(Vec::new()),
            Store::Linux { dir } => (dir, &["ns-", "path-"]),
            Store::Sim { dir, .. } => (dir, &["sim-"]),
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(HostError::Failed(format!(
                    "cannot list the state directory {}: {e}",
                    dir.display()
                )))
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.ends_with(".json") && prefixes.iter().any(|pre| name.starts_with(pre))
            })
            .collect();
        paths.sort();
        let mut states = Vec::new();
        for path in paths {
            if let Some(state) = state_file::load(&path)? {
                states.push((paths::files_of_state(&path), state));
            }
        }
        Ok(states)
    }

    /// A namespace that is gone: its records go with it.
    pub fn forget_ns(&self, netns: &NetnsRef) {
        if let Some(files) = self.files(netns) {
            let _ = std::fs::remove_file(&files.state);
            let _ = std::fs::remove_file(&files.lock);
        }
    }
}

fn lock(m: &Mutex<Journal>) -> MutexGuard<'_, Journal> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
