//! Where the records of a namespace live.
//!
//! One directory (`/run/nsplumb/` or `$NSPLUMB_STATE_DIR`), one JSON file per namespace and a
//! lock file next to it. On Linux a namespace is keyed by its namespace file's device and inode
//! (`ns-<dev>-<ino>`; `path-<sanitized path>` when it cannot be stat'ed), so every path to the
//! same namespace finds the same records. The simulator's namespaces live only in memory and
//! are keyed by their path (`sim-<sanitized path>`), never by a file of the real machine.

use nsplumb_core::NetnsRef;
use std::path::{Path, PathBuf};

/// The state directory: `$NSPLUMB_STATE_DIR`, else `default`.
pub fn state_dir(default: &str) -> PathBuf {
    std::env::var_os("NSPLUMB_STATE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// The simulator's state directory: `$NSPLUMB_STATE_DIR`, else the user's runtime directory,
/// else `/tmp/nsplumb-$UID` (a user's simulated host is their own).
pub fn sim_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NSPLUMB_STATE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d).join("nsplumb");
    }
    PathBuf::from(format!("/tmp/nsplumb-{}", nix::unistd::getuid()))
}

/// The files of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsFiles {
    /// The records (see [`crate::state_file`]).
    pub state: PathBuf,
    /// Held exclusively from loading the records until they are saved (see [`crate::lock`]).
    pub lock: PathBuf,
}

/// The file key of a namespace on Linux: `ns-<dev>-<ino>` of its namespace file, else its
/// sanitized path.
pub fn ns_key(netns: &NetnsRef) -> String {
    use std::os::unix::fs::MetadataExt;
    let path = match netns {
        NetnsRef::Host => "/proc/self/ns/net".to_string(),
        NetnsRef::Path(p) => p.to_string(),
    };
    match std::fs::metadata(&path) {
        Ok(m) => format!("ns-{}-{}", m.dev(), m.ino()),
        Err(_) => format!("path-{}", sanitize(&path)),
    }
}

/// The files of a namespace of the real kernel.
pub fn ns_files(dir: &Path, netns: &NetnsRef) -> NsFiles {
    files_for_key(dir, ns_key(netns))
}

/// The files of a namespace of the simulator, keyed by its path.
pub fn sim_ns_files(dir: &Path, netns: &NetnsRef) -> NsFiles {
    let path = match netns {
        NetnsRef::Host => "host".to_string(),
        NetnsRef::Path(p) => p.to_string(),
    };
    files_for_key(dir, format!("sim-{}", sanitize(&path)))
}

/// The files of the namespace whose records are in `state` (a `<key>.json` of the state
/// directory).
pub fn files_of_state(state: &Path) -> NsFiles {
    NsFiles {
        state: state.to_path_buf(),
        lock: state.with_extension("lock"),
    }
}

fn files_for_key(dir: &Path, key: String) -> NsFiles {
    NsFiles {
        state: dir.join(format!("{key}.json")),
        lock: dir.join(format!("{key}.lock")),
    }
}

fn sanitize(path: &str) -> String {
    path.chars()
        .map(|c| match c.is_ascii_alphanumeric() || c == '-' {
            true => c,
            false => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_namespaces_are_keyed_by_their_path() {
        let dir = Path::new("/state");
        let f = sim_ns_files(dir, &NetnsRef::from_name_or_path("ctr1"));
        assert_eq!(f.state, Path::new("/state/sim-_run_netns_ctr1.json"));
        assert_eq!(f.lock, Path::new("/state/sim-_run_netns_ctr1.lock"));
        assert_eq!(
            sim_ns_files(dir, &NetnsRef::Host).state,
            Path::new("/state/sim-host.json")
        );
    }

    #[test]
    fn real_namespaces_are_keyed_by_device_and_inode() {
        let key = ns_key(&NetnsRef::Host);
        assert!(key.starts_with("ns-"), "{key}");
        let gone = ns_key(&NetnsRef::path("/run/netns/no such namespace"));
        assert_eq!(gone, "path-_run_netns_no_such_namespace");
    }
}
