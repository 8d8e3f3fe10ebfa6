//! The one thing an isolated run leaves on the machine by necessity: runc (under Podman and
//! containerd) creates cgroups in the machine's hierarchies, which no namespace hides. Each run
//! puts them under a parent named for the run (`nsplumb-cni-<random>`), and the process that
//! started the run removes that subtree from every hierarchy once the run's processes are dead.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Mount points of the cgroup (v1) and cgroup2 hierarchies, from `/proc/self/mountinfo`.
pub fn hierarchies() -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|line| {
            // "... mount_point options ... - fstype source super_options"
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            let mount_point = left.split_whitespace().nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .collect()
}

/// Remove `<hierarchy>/<name>` and everything below it, in every hierarchy (cgroup directories
/// are removed with `rmdir`, children first). Retries for up to 5 s while the last processes
/// leave. Returns the directories that could not be removed.
pub fn remove_tree(name: &str) -> Vec<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<PathBuf> = hierarchies()
            .iter()
            .map(|h| h.join(name))
            .filter(|d| d.exists())
            .filter(|d| !remove_bottom_up(d))
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn remove_bottom_up(dir: &Path) -> bool {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_bottom_up(&entry.path());
            }
        }
    }
    std::fs::remove_dir(dir).is_ok()
}

/// The cgroup directories named `name` that exist in any hierarchy (a test can assert a
/// runtime removed its own).
pub fn existing(name: &str) -> Vec<PathBuf> {
    hierarchies()
        .iter()
        .map(|h| h.join(name))
        .filter(|d| d.exists())
        .collect()
}
