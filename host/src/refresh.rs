//! For listings and a long-lived front end (the TUI): bring the registry of a namespace in line
//! with its state file without waiting for the lock (the file is replaced atomically), so that
//! interfaces attached or detached by other processes show as managed or not.

use crate::error::HostError;
use crate::lock::FileLock;
use crate::reconcile;
use crate::session::{load_unlocked, sessions_in_flight, sync_registry};
use crate::state_file;
use crate::store::Store;
use crate::HostBackend;
use nsplumb_core::{NetnsRef, Plumber};

/// Adopt what the records of `netns` say. Left by a dead process, they are reconciled first,
/// if nobody holds the lock (never waits). A state file that does not read back is an error
/// naming it (the registry is left as it was).
pub async fn refresh<B: HostBackend>(
    store: &Store,
    plumber: &Plumber<B>,
    netns: &NetnsRef,
) -> Result<(), HostError> {
    let Some(files) = store.files(netns) else {
        return Ok(());
    };
    if sessions_in_flight() > 0 {
        return Ok(());
    }
    let Some(mut loaded) = load_unlocked(&files)? else {
        if !plumber.interfaces(netns).is_empty() {
            sync_registry(plumber, netns, &state_file::NsState::empty(netns));
        }
        return Ok(());
    };
    let cookie = match loaded.netns_cookie.is_some() && loaded.has_records() {
        true => plumber.backend().netns_cookie(netns).await.ok().flatten(),
        false => None,
    };
    if loaded.check_identity(cookie) {
        // Records of a namespace that is gone: drop them now if nobody holds the lock; adopt
        // none of them either way.
        if let Ok(Some(_lock)) = FileLock::try_acquire(&files.lock) {
            if let Some(mut fresh) = state_file::load(&files.state)? {
                if fresh.check_identity(cookie) {
                    state_file::save(&files.state, &fresh)?;
                }
            }
        }
    }
    if reconcile::needs_reconcile(&loaded) {
        if let Ok(Some(_lock)) = FileLock::try_acquire(&files.lock) {
            if let Some(mut fresh) = state_file::load(&files.state)? {
                if reconcile::reconcile(plumber, netns, &mut fresh, &files.state).await? {
                    state_file::save(&files.state, &fresh)?;
                }
                loaded = fresh;
            }
        }
    }
    if loaded.has_records() || !plumber.interfaces(netns).is_empty() {
        sync_registry(plumber, netns, &loaded);
    }
    Ok(())
}
