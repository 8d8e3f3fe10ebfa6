//! Writing a fake program for a test (shared by the unit tests, `src/testutil.rs`, and the
//! integration tests, `tests/common`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes an executable `/bin/sh` script `name` into `dir`.
///
/// The file is written by a `cp` child, never through a descriptor of this process: another
/// test thread forking at that moment would inherit a writable descriptor and make our exec
/// of the script fail with ETXTBSY ("Text file busy").
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let draft = dir.join(format!(".{name}.draft"));
    std::fs::write(&draft, format!("#!/bin/sh\n{body}\n")).unwrap();
    let copied = std::process::Command::new("cp")
        .arg(&draft)
        .arg(&path)
        .status()
        .unwrap();
    assert!(
        copied.success(),
        "cp {} {}",
        draft.display(),
        path.display()
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
