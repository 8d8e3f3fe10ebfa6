//! Attachments found by who asked for them ([`Owner`]) rather than by namespace and name: the
//! CNI plugin's DEL, whose `CNI_NETNS` may be empty or already gone, and its GC, which knows
//! only the attachments to keep (SPEC C6, C9).
//!
//! Where the namespace is given and its records hold the owner's interface, this is the usual
//! [`detach`]. Otherwise the records alone say what to remove: the host end of the veth pair
//! nsplumb created (deleting it takes the container end along, wherever that is), the process
//! still announcing, the records, and the intent of an attach whose process died (its
//! half-created pair, by its generated host-end name, as [`crate::reconcile`] does). A
//! namespace that is gone took its own links with it; what can be left is in the host.

use crate::abort_point::test_abort_point;
use crate::detach::detach;
use crate::error::HostError;
use crate::lock::FileLock;
use crate::paths::NsFiles;
use crate::process::ProcessRef;
use crate::record::{IfaceRecord, Owner, RecordPhase};
use crate::session::NsSession;
use crate::state_file::{self, NsState};
use crate::store::Store;
use crate::HostBackend;
use nsplumb_core::{BackendExt, Errno, IfIndex, NetnsRef, Origin, Plumber, Source};

/// What [`detach_owner`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OwnedDetach {
    /// Interface records of the owner detached.
    pub interfaces: usize,
    /// Intents of attaches whose process died, with what they had made.
    pub intents: usize,
}

impl OwnedDetach {
    pub fn found_any(&self) -> bool {
        self.interfaces + self.intents > 0
    }
}

/// Detach everything recorded for `owner` (SPEC C6, C9, R1): in `netns` by the usual flow when
/// it is given and holds the owner's record, else wherever the records are. Finding nothing is
/// not an error: what DEL removes may be gone already.
pub async fn detach_owner<B: HostBackend>(
    store: &Store,
    plumber: &Plumber<B>,
    owner: &Owner,
    netns: Option<&NetnsRef>,
) -> Result<OwnedDetach, HostError> {
    let mut done = OwnedDetach::default();
    let mut handled = None;
    if let Some(netns) = netns {
        if let Some(files) = store.files(netns) {
            done = detach_in_namespace(store, plumber, owner, netns, &files).await?;
            if done.found_any() {
                // One attachment, one record: no other file to look through.
                return Ok(done);
            }
            handled = Some(files.state);
        }
    }
    for (files, state) in store.state_files()? {
        if Some(&files.state) == handled.as_ref() || !holds(&state, owner) {
            continue;
        }
        let more = detach_by_records(plumber, &files, owner).await?;
        done.interfaces += more.interfaces;
        done.intents += more.intents;
    }
    Ok(done)
}

/// Whether `state` has a record or an intent of `owner`.
fn holds(state: &NsState, owner: &Owner) -> bool {
    state
        .interfaces
        .iter()
        .any(|r| r.owner.as_ref() == Some(owner))
        || state
            .pending
            .iter()
            .any(|p| p.owner.as_ref() == Some(owner))
}

/// The owner's interface in the namespace the caller named: an intent a dead process left is
/// reconciled first (the session does that), then the record is detached as the CLI detaches.
/// A link that vanished meanwhile (its pair deleted behind nsplumb's back) goes by the records.
async fn detach_in_namespace<B: HostBackend>(
    store: &Store,
    plumber: &Plumber<B>,
    owner: &Owner,
    netns: &NetnsRef,
    files: &NsFiles,
) -> Result<OwnedDetach, HostError> {
    let Some(mut state) = state_file::load(&files.state)? else {
        return Ok(OwnedDetach::default());
    };
    if state
        .pending
        .iter()
        .any(|p| p.owner.as_ref() == Some(owner))
    {
        drop(NsSession::begin(store, plumber, netns).await?);
        state = state_file::load(&files.state)?.unwrap_or_else(|| NsState::empty(netns));
    }
    let Some(record) = state
        .interfaces
        .iter()
        .find(|r| r.owner.as_ref() == Some(owner))
    else {
        return detach_by_records(plumber, files, owner).await;
    };
    let name = record.name().to_string();
    match detach(store, plumber, netns, &name).await {
        Ok(()) => Ok(OwnedDetach {
            interfaces: 1,
            intents: 0,
        }),
        Err(e) => {
            let still_there = plumber
                .backend()
                .link_by_index(netns, record.attached.ifindex)
                .await
                .is_ok_and(|l| l.name == name);
            if still_there {
                return Err(e);
            }
            plumber.forget(netns, &name);
            detach_by_records(plumber, files, owner).await
        }
    }
}

/// The owner's records and intents in one state file, removed by what they name in the host,
/// under the file's lock. Each record is marked `detaching` first, so that a crash midway is
/// recognised and finished by the next call.
async fn detach_by_records<B: HostBackend>(
    plumber: &Plumber<B>,
    files: &NsFiles,
    owner: &Owner,
) -> Result<OwnedDetach, HostError> {
    let lock_path = files.lock.clone();
    let _lock = tokio::task::spawn_blocking(move || FileLock::acquire(&lock_path))
        .await
        .map_err(|e| HostError::Failed(format!("cannot lock {}: {e}", files.lock.display())))?
        .map_err(|e| HostError::Failed(format!("cannot lock {}: {e}", files.lock.display())))?;
    let Some(mut state) = state_file::load(&files.state)? else {
        return Ok(OwnedDetach::default());
    };
    let mut done = OwnedDetach::default();
    let me = ProcessRef::me();
    let mine = |r: &IfaceRecord| r.owner.as_ref() == Some(owner);
    if state.interfaces.iter().any(mine) {
        for record in state.interfaces.iter_mut().filter(|r| mine(r)) {
            record.phase = RecordPhase::Detaching;
            record.actor = me;
        }
        state_file::save(&files.state, &state)?;
        test_abort_point("before-kernel-detach");
        let (owned, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.interfaces)
            .into_iter()
            .partition(|r| mine(r));
        state.interfaces = kept;
        for mut record in owned {
            if let Some(announcer) = record.announcer.take() {
                let (files, name) = (files.clone(), record.name().to_string());
                let _ = tokio::task::spawn_blocking(move || announcer.stop(&files, &name)).await;
            }
            if let Origin::NewVeth { host_index } = record.attached.origin {
                delete_host_end(plumber, host_index, &record.attached.source).await?;
            }
            let ifindex = record.attached.ifindex;
            state.gateways.retain(|g| g.oif != ifindex);
            done.interfaces += 1;
        }
        test_abort_point("after-kernel-detach");
    }
    let mut kept = Vec::with_capacity(state.pending.len());
    for intent in std::mem::take(&mut state.pending) {
        // A live actor is an attach under way: the runtime's call for the same attachment
        // overlapped it, and that attach will record or undo what it makes.
        if intent.owner.as_ref() != Some(owner) || intent.actor.is_alive() {
            kept.push(intent);
            continue;
        }
        if let Source::VethOnBridge { host_name, .. } = &intent.spec.source {
            if let Ok(link) = plumber
                .backend()
                .link_by_name(&NetnsRef::Host, host_name)
                .await
            {
                delete_host_end(plumber, link.index, host_name).await?;
            }
        }
        done.intents += 1;
    }
    state.pending = kept;
    state_file::save(&files.state, &state)?;
    Ok(done)
}

/// Delete the host end `index` of a veth pair nsplumb made, if it is still the link of that
/// name (an index can be given to another link once the pair is gone).
async fn delete_host_end<B: HostBackend>(
    plumber: &Plumber<B>,
    index: IfIndex,
    name: &str,
) -> Result<(), HostError> {
    let host = NetnsRef::Host;
    match plumber.backend().link_by_index(&host, index).await {
        Ok(link) if link.name == name => {}
        Ok(_) => return Ok(()),
        Err(e) if e.is(Errno::ENODEV) => return Ok(()),
        Err(e) => {
            return Err(HostError::Failed(format!(
                "cannot look up the host end {name} (ifindex {index}): {e}"
            )))
        }
    }
    plumber
        .delete_link(&host, index)
        .await
        .map_err(|e| HostError::Failed(format!("cannot delete the host end {name}: {e}")))
}
