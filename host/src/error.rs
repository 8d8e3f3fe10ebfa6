//! Why a host-state operation failed, in the two classes every front end tells apart: bad input
//! (nothing touched; the CLI's exit status 2) and a failure (whatever changed was undone, or the
//! message says what was left; exit status 1).

use crate::journal::JournalError;
use crate::state_file::StateError;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Bad input, found before the kernel was touched.
    #[error("{0}")]
    Invalid(String),
    /// The operation failed; the message names the object, the operation and what was undone.
    #[error("{0}")]
    Failed(String),
    /// A state file could not be read or written (a corrupt one is never acted on, SPEC R3).
    #[error(transparent)]
    State(#[from] StateError),
    /// The simulator's journal could not be read or appended to.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl HostError {
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, HostError::Invalid(_))
    }
}
