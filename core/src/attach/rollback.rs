//! SPEC A15: nothing lost on failure. Every completed step left an undo request in the log;
//! on failure they run last-first, and errors met on the way are reported with the cause.

use super::{Attach, Await};
use crate::command::Reply;
use crate::error::{AttachError, StepError};
use crate::event::{EventKind, Phase};
use crate::request::Request;
use crate::types::{IfIndex, NetnsRef, Timestamp};
use crate::{BackendError, Errno};

impl Attach {
    /// The driver found this attach waiting for nothing (see [`crate::Machine::handle_stall`]):
    /// it fails and rolls back (SPEC A15); a rollback under way goes on.
    pub fn handle_stall(&mut self, now: Timestamp) {
        if self.outcome.is_some() {
            return;
        }
        self.pending = None;
        self.awaiting = Await::Nothing;
        if self.failure.is_some() {
            return self.next_undo(now);
        }
        let ctx = format!(
            "attach of interface {:?} in namespace {} stalled: it waited for nothing (no deadline, no link events)",
            self.plan.name, self.plan.netns
        );
        self.fail(now, StepError::new(ctx, None));
    }

    /// The reply to an undo request: the rollback goes on whatever it says.
    pub(super) fn on_undo_reply(
        &mut self,
        now: Timestamp,
        request: Request,
        result: Result<Reply, BackendError>,
    ) {
        match result {
            Ok(Reply::Index(new_index)) => self.moved_back(&request, new_index),
            Ok(_) => {}
            Err(e) if already_undone(&request, &e) => {}
            Err(e) => self.rollback_errors.push(e),
        }
        self.next_undo(now);
    }

    /// A step failed: undo every completed step, last first.
    pub(super) fn fail(&mut self, now: Timestamp, error: StepError) {
        tracing::warn!(iface = %self.plan.name, netns = %self.plan.netns, "attach failed: {error}");
        self.wait = None;
        self.announcer = None;
        self.failure = Some(error);
        let undo = std::mem::take(&mut self.undo);
        if !undo.is_empty() {
            self.phase(now, Phase::RollingBack);
        }
        self.rollback = undo.into_plan().into();
        self.next_undo(now);
    }

    /// The next undo request, or the end: the failure with the errors the rollback met.
    fn next_undo(&mut self, now: Timestamp) {
        if let Some(request) = self.rollback.pop_front() {
            return self.issue(request.clone(), Await::Undo(request));
        }
        let error = self.failure.take().expect("rolling back a failure");
        let rollback_errors = std::mem::take(&mut self.rollback_errors);
        self.push(
            now,
            EventKind::RolledBack {
                cause: error.to_string(),
                rollback_errors: rollback_errors.iter().map(|e| e.to_string()).collect(),
            },
        );
        self.outcome = Some(Err(AttachError::Failed {
            error,
            rollback_errors,
        }));
    }

    /// The link is back in the host, possibly under another index than it had before (the
    /// kernel keeps an index only where it is free): later undo steps follow it.
    fn moved_back(&mut self, request: &Request, new_index: IfIndex) {
        let Request::MoveLink {
            to: NetnsRef::Host, ..
        } = request
        else {
            return;
        };
        let Some(old) = self.original.as_ref().map(|l| l.index) else {
            return;
        };
        for c in &mut self.rollback {
            if let Request::SetLinkUp {
                netns: NetnsRef::Host,
                index,
            } = c
            {
                if *index == old {
                    *index = new_index;
                }
            }
        }
    }
}

/// Undo steps whose goal the kernel already reached: setting the link down removes its IPv6
/// addresses and its routes, so deleting them afterwards finds nothing.
fn already_undone(request: &Request, e: &BackendError) -> bool {
    match request {
        Request::DelAddress { .. } => e.is(Errno::EADDRNOTAVAIL),
        Request::DelRoute { .. } => e.is(Errno::ESRCH),
        // Brought back by the kernel when the link came up (connected and link-local ones).
        Request::AddRoute { .. } | Request::AddAddress { .. } => e.is(Errno::EEXIST),
        // A link that was to be deleted and is gone already.
        Request::DeleteLinks { .. } => e.is(Errno::ENODEV),
        _ => false,
    }
}
