//! Errors of the lifecycles, with messages that name the object, the operation and the namespace.

use crate::validate::InvalidSpec;
use crate::BackendError;
use std::fmt;

/// A failed step: what nsplumb was doing (moby's wording where it exists) and the kernel's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepError {
    pub context: String,
    pub cause: Option<Box<BackendError>>,
}

impl StepError {
    pub fn new(context: impl Into<String>, cause: Option<BackendError>) -> Self {
        StepError {
            context: context.into(),
            cause: cause.map(Box::new),
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)?;
        if let Some(c) = &self.cause {
            write!(f, ": {c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StepError {}

/// Why an attach did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub enum AttachError {
    /// Bad input: nothing was touched (exit status 2).
    #[error(transparent)]
    Invalid(#[from] InvalidSpec),
    /// A step failed; everything done before it was undone (exit status 1).
    #[error("{error}{}", rollback_suffix(.rollback_errors))]
    Failed {
        error: StepError,
        /// Errors met while undoing, reported with the original (SPEC A15).
        rollback_errors: Vec<BackendError>,
    },
}

impl AttachError {
    /// Whether nothing at all was attempted on the kernel.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, AttachError::Invalid(_))
    }
}

fn rollback_suffix(errors: &[BackendError]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    format!("; rollback also failed: {}", list.join("; "))
}

/// Why a detach did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub enum DetachError {
    #[error("no interface {name:?} is attached in namespace {netns}")]
    NotAttached { netns: String, name: String },
    #[error(
        "interface {name:?} in namespace {netns} is being attached or detached by another call"
    )]
    Busy { netns: String, name: String },
    /// D3: the link disappeared behind nsplumb's back; the name stays reserved until forgotten.
    #[error("interface {name:?} vanished from namespace {netns}; it stays registered until detached again or forgotten")]
    Vanished { netns: String, name: String },
    #[error(transparent)]
    Failed(StepError),
}

/// Why a gateway or static route could not be set (SPEC G1–G3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub enum RouteError {
    #[error(transparent)]
    Failed(StepError),
}
