//! Namespace administration: what a front end or a test does around nsplumb, never the core.

use crate::types::NetnsRef;
use crate::BackendError;
use std::future::Future;

/// Create, delete, list and identify network namespaces. Implemented by both backends and
/// passed through by every middleware; the machines and [`crate::Plumber`] do not need it.
pub trait NetnsAdmin: Send + Sync {
    /// Create a named namespace the way `ip netns add` does; returns its reference.
    fn create_netns(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<NetnsRef, BackendError>> + Send;

    /// Delete a named namespace (`ip netns del`).
    fn delete_netns(
        &self,
        netns: &NetnsRef,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Every namespace this backend can see, the host's own first.
    fn list_netns(&self) -> impl Future<Output = Result<Vec<NetnsRef>, BackendError>> + Send;

    /// An identity of the namespace that is never reused while the system runs (Linux: the
    /// netns cookie, `SO_NETNS_COOKIE`), or `None` if the backend has none. The nsfs inode of
    /// a deleted namespace is given at once to the next one created, so state kept per
    /// (device, inode) must be checked against this before it is trusted.
    fn netns_cookie(
        &self,
        _netns: &NetnsRef,
    ) -> impl Future<Output = Result<Option<u64>, BackendError>> + Send {
        async { Ok(None) }
    }
}
