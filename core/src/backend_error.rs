//! The error every backend operation returns.

use crate::{Errno, NetnsRef, Op};
use std::fmt;

/// A failed kernel operation: which operation, on what, in which namespace, and the errno.
///
/// The errno is kept so the core can tell `EEXIST` from `ENODEV` from `ENETUNREACH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub struct BackendError {
    pub op: Op,
    pub errno: Errno,
    pub netns: NetnsRef,
    /// The object acted on: an interface name, `ifindex 7`, an address, a sysctl path.
    pub object: String,
    /// Extra words from the backend (the kernel's extended ack, a hint), may be empty.
    pub detail: String,
}

impl BackendError {
    pub fn new(op: Op, errno: Errno, netns: &NetnsRef, object: impl Into<String>) -> Self {
        BackendError {
            op,
            errno,
            netns: netns.clone(),
            object: object.into(),
            detail: String::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn is(&self, errno: Errno) -> bool {
        self.errno == errno
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} in namespace {}: {}",
            self.op.describe(),
            self.object,
            self.netns,
            self.errno
        )?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        if matches!(self.errno, Errno::EPERM | Errno::EACCES) {
            f.write_str(
                "; this needs CAP_NET_ADMIN: run as root, or inside a user + network namespace (unshare -rn)",
            )?;
        }
        Ok(())
    }
}
