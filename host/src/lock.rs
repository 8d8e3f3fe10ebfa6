//! The namespace lock: an exclusive `flock` on a file next to the records, held from loading
//! them until they are saved, so that name allocation is atomic per namespace across processes
//! (SPEC N3) while different namespaces never wait for each other.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;

/// A lock on a file (exclusive, or shared with [`FileLock::acquire_shared`]), released when
/// dropped (or when the process dies).
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

/// The lock file itself, created if missing and never truncated (it holds no data).
fn open_lock_file(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
}

impl FileLock {
    /// Blocks until the lock is held.
    pub fn acquire(path: &Path) -> io::Result<FileLock> {
        let file = open_lock_file(path)?;
        file.lock()?;
        Ok(FileLock { file })
    }

    /// Blocks until the lock is held shared: shared holders never wait for each other, only for
    /// an exclusive holder (the CNI plugin's bridge lock).
    pub fn acquire_shared(path: &Path) -> io::Result<FileLock> {
        let file = open_lock_file(path)?;
        file.lock_shared()?;
        Ok(FileLock { file })
    }

    /// The lock if nobody holds it, else `None` at once.
    pub fn try_acquire(path: &Path) -> io::Result<Option<FileLock>> {
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock { file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases it too; unlocking first lets a waiter in at once.
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC: N3
    #[test]
    fn a_held_lock_is_not_given_twice_and_is_free_again_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ns.lock");
        let held = FileLock::acquire(&path).unwrap();
        assert!(FileLock::try_acquire(&path).unwrap().is_none());
        drop(held);
        let again = FileLock::try_acquire(&path).unwrap();
        assert!(again.is_some());
    }
}
