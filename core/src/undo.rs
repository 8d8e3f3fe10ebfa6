//! The undo log that makes a failed attach leave nothing behind (SPEC A15).

use crate::request::Request;

/// One completed step and the request that reverses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoEntry {
    pub request: Request,
    /// This step is reversed anyway when the link leaves the namespace (moved back to the host
    /// or deleted): addresses, routes, sysctls, master and up state go with it.
    pub implied_by_leaving: bool,
}

/// Reverse commands, recorded as steps complete and replayed last-first on failure.
#[derive(Debug, Default, Clone)]
pub struct UndoLog {
    entries: Vec<UndoEntry>,
    /// Set once a recorded step takes the link out of the namespace on undo.
    link_leaves: bool,
}

impl UndoLog {
    /// Record a step that is reversed only by running `command`.
    pub fn record(&mut self, request: Request) {
        self.entries.push(UndoEntry {
            request,
            implied_by_leaving: false,
        });
    }

    /// Record a step whose effect disappears when the link leaves the namespace.
    pub fn record_in_namespace(&mut self, request: Request) {
        self.entries.push(UndoEntry {
            request,
            implied_by_leaving: true,
        });
    }

    /// Record the step that brought the link into the namespace: `command` takes it out again.
    pub fn record_leave(&mut self, request: Request) {
        self.link_leaves = true;
        self.record(request);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The commands to run, in order: last step first, skipping what leaving makes moot.
    pub fn into_plan(self) -> Vec<Request> {
        let leaves = self.link_leaves;
        self.entries
            .into_iter()
            .rev()
            .filter(|e| !(leaves && e.implied_by_leaving))
            .map(|e| e.request)
            .collect()
    }
}
