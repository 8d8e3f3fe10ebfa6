//! Who may delete a network's bridge (SPEC C4, C11). An ADD that created the bridge and then
//! failed deletes it again, but only while no other ADD is between "the bridge is ready" and
//! "my port is on it": each ADD holds a shared `flock` on `bridge-<name>.lock` in the state
//! directory for that span, and the failing one deletes the bridge only if it can take the lock
//! exclusively (nobody else in that span) and the bridge has no port (nobody after it).
//!
//! Shared locks never wait for each other, so concurrent ADDs on one bridge do not serialise;
//! a kill releases the lock with the process.

use nsplumb_host::lock::FileLock;
use std::io;
use std::path::{Path, PathBuf};

/// A lock on one bridge's lifetime, shared or exclusive; released when dropped.
#[derive(Debug)]
pub struct BridgeLock {
    _held: FileLock,
}

/// The lock file of `bridge` in `state_dir`.
pub fn lock_path(state_dir: &Path, bridge: &str) -> PathBuf {
    state_dir.join(format!("bridge-{bridge}.lock"))
}

impl BridgeLock {
    /// Held from making the bridge ready until the ADD's port is on it. Blocks only while a
    /// failed ADD decides about deleting the bridge.
    pub fn shared(path: &Path) -> io::Result<BridgeLock> {
        Ok(BridgeLock {
            _held: FileLock::acquire_shared(path)?,
        })
    }

    /// The right to delete the bridge, if no ADD holds the shared lock now; `None` otherwise.
    pub fn try_exclusive(path: &Path) -> io::Result<Option<BridgeLock>> {
        Ok(FileLock::try_acquire(path)?.map(|held| BridgeLock { _held: held }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC: C11 (ADDs share the bridge; only a lone failing ADD may delete it)
    #[test]
    fn shared_holders_coexist_and_keep_the_exclusive_lock_away() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "cni0");
        assert!(path.ends_with("bridge-cni0.lock"));
        let a = BridgeLock::shared(&path).unwrap();
        let b = BridgeLock::shared(&path).unwrap();
        assert!(BridgeLock::try_exclusive(&path).unwrap().is_none());
        drop(a);
        assert!(BridgeLock::try_exclusive(&path).unwrap().is_none());
        drop(b);
        let sole = BridgeLock::try_exclusive(&path).unwrap();
        assert!(sole.is_some());
    }
}
