//! The one error type of the harness: every variant names the operation and the object, so a
//! failing end-to-end test says which runtime step broke and on what.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while preparing or driving a runtime, a plugin or the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{what}: cannot start `{program}`: {source}")]
    Spawn {
        what: String,
        program: String,
        source: std::io::Error,
    },
    #[error("{what}: `{program}` did not finish within {after:?} (killed); stderr: {stderr}")]
    Timeout {
        what: String,
        program: String,
        after: Duration,
        stderr: String,
    },
    #[error("{what}: `{command}` failed ({status}); stdout: {stdout}; stderr: {stderr}")]
    Failed {
        what: String,
        command: String,
        status: String,
        stdout: String,
        stderr: String,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mount {what} on {target}: {source}")]
    Mount {
        what: String,
        target: PathBuf,
        source: nix::Error,
    },
    #[error("{what}: cannot parse {text:?}: {reason}")]
    Parse {
        what: String,
        text: String,
        reason: String,
    },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
}

/// Result of the harness's operations.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

impl HarnessError {
    /// An I/O error on `path` during `op` (e.g. "write containers.conf").
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| HarnessError::Io { op, path, source }
    }
}
