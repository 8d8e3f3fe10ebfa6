//! What nsplumb-cni keeps between calls, read the way a person would check it (no nsplumb
//! crate: the harness drives any plugin): the records in its state directory and the
//! processes still sending announcements. Both must be empty once every container is gone.

use std::path::Path;

use serde_json::Value;

/// The plugin's state directory inside a test (the test's private `/run`).
pub const STATE_DIR: &str = "/run/nsplumb";
/// The argument that marks nsplumb-cni's announcing process.
pub const ANNOUNCER_ARG: &str = "--nsplumb-announce";

/// Every interface record and attach intent in the state files, as `file: name (owner)`.
pub fn records() -> Vec<String> {
    records_in(Path::new(STATE_DIR))
}

pub fn records_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let state: Value = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| panic!("state file {} does not read back", path.display()));
        let owner = |v: &Value| match v.get("owner") {
            Some(o) => format!("{}/{}/{}", o["network"], o["container_id"], o["ifname"]),
            None => "-".into(),
        };
        for record in state["interfaces"].as_array().into_iter().flatten() {
            let name = &record["attached"]["name"];
            found.push(format!("{file}: {name} ({})", owner(record)));
        }
        for intent in state["pending"].as_array().into_iter().flatten() {
            found.push(format!(
                "{file}: intent {} ({})",
                intent["name"],
                owner(intent)
            ));
        }
    }
    found.sort();
    found
}

/// The pids of nsplumb-cni's announcing processes still alive (not zombies).
pub fn announcers() -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let is_announcer = cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == ANNOUNCER_ARG.as_bytes());
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rfind(')')
                    .map(|i| s[i + 1..].trim_start().starts_with('Z'))
            })
            .unwrap_or(true);
        if is_announcer && !zombie {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids
}
