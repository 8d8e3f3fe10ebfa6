//! The process still sending an interface's announcements after attach returned (SPEC S5),
//! and how a detach from another process stops it first (S8).

use crate::cancel;
use crate::error::HostError;
use crate::lock::FileLock;
use crate::paths::NsFiles;
use crate::process::ProcessRef;
use crate::record::IfaceRecord;
use crate::state_file;
use crate::store::Store;
use nsplumb_core::NetnsRef;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a detach waits for a terminated announcer to exit.
pub const ANNOUNCER_EXIT_TIMEOUT: Duration = Duration::from_secs(3);

/// Recorded with the interface while its announcements are still being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnouncerProcess {
    pub pid: u32,
    pub start_time: u64,
    /// How a detach from another process stops it: a short-lived process (the CLI, a process
    /// the CNI plugin leaves behind) is terminated; a long-lived one (the TUI) must keep
    /// running, so it is asked instead to cancel the announcements itself (see
    /// [`crate::cancel`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_request: bool,
}

impl AnnouncerProcess {
    /// `process`, stopped with SIGTERM.
    pub fn terminable(process: ProcessRef) -> AnnouncerProcess {
        AnnouncerProcess {
            pid: process.pid,
            start_time: process.start_time,
            on_request: false,
        }
    }

    /// `process`, asked to cancel (it runs [`cancel::spawn_listener`]).
    pub fn on_request(process: ProcessRef) -> AnnouncerProcess {
        AnnouncerProcess {
            on_request: true,
            ..AnnouncerProcess::terminable(process)
        }
    }

    pub fn process(&self) -> ProcessRef {
        ProcessRef {
            pid: self.pid,
            start_time: self.start_time,
        }
    }

    /// Stop it announcing `iface` before the interface is detached: ask (`on_request`, the
    /// record already marked `detaching`) or terminate. Blocking. False when it did not stop
    /// in time (the detach goes on, with a warning).
    pub fn stop(&self, files: &NsFiles, iface: &str) -> bool {
        let stopped = match self.on_request {
            true => cancel::request_cancel(self, files, iface, cancel::CANCEL_REQUEST_TIMEOUT),
            false => self.process().terminate(ANNOUNCER_EXIT_TIMEOUT),
        };
        if !stopped {
            tracing::warn!(pid = self.pid, iface, "announcing process did not stop");
        }
        stopped
    }
}

/// Record `announcer` as the process sending the rest of `name`'s announcements, for a front
/// end whose announcements are sent by a process other than the one that attached (the CNI
/// plugin's ADD returns at once and leaves them to a process it starts). A detach (or DEL)
/// from any process then stops it first.
pub async fn record_announcer(
    store: &Store,
    netns: &NetnsRef,
    name: &str,
    announcer: AnnouncerProcess,
) -> Result<(), HostError> {
    update_record(store, netns, name, |record| {
        record.announcer = Some(announcer);
        true
    })
    .await?
    .then_some(())
    .ok_or_else(|| {
        HostError::Failed(format!(
            "cannot record the announcer of {name}: no interface {name:?} is recorded in namespace {netns}"
        ))
    })
}

/// The announcements of `name` are done: drop `process` from its record (if it is still the
/// recorded announcer).
pub async fn clear_announcer(
    store: &Store,
    netns: &NetnsRef,
    name: &str,
    process: ProcessRef,
) -> Result<(), HostError> {
    update_record(store, netns, name, |record| {
        let mine = record.announcer.is_some_and(|a| a.process() == process);
        if mine {
            record.announcer = None;
        }
        mine
    })
    .await
    .map(|_| ())
}

/// Change the record of `name` under the namespace lock; true when `change` changed it.
async fn update_record(
    store: &Store,
    netns: &NetnsRef,
    name: &str,
    change: impl FnOnce(&mut IfaceRecord) -> bool,
) -> Result<bool, HostError> {
    let Some(files) = store.files(netns) else {
        return Ok(false);
    };
    let lock_path = files.lock.clone();
    let _lock = tokio::task::spawn_blocking(move || FileLock::acquire(&lock_path))
        .await
        .map_err(|e| HostError::Failed(format!("cannot lock namespace {netns}: {e}")))?
        .map_err(|e| HostError::Failed(format!("cannot lock {}: {e}", files.lock.display())))?;
    let Some(mut st) = state_file::load(&files.state)? else {
        return Ok(false);
    };
    let Some(record) = st.interfaces.iter_mut().find(|r| r.name() == name) else {
        return Ok(false);
    };
    if !change(record) {
        return Ok(false);
    }
    state_file::save(&files.state, &st)?;
    Ok(true)
}
