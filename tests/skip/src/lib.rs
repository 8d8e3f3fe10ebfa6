//! Tests that cannot run on this machine (no privileges, a tool missing) never pass silently:
//! with `CI=true` such a test fails; otherwise it prints a loud SKIP line and, when
//! `NSPLUMB_SKIPPED_FILE` names a file (`scripts/test` sets it), appends `NAME: REASON` to it,
//! so that the test command ends with one line naming every test that did not run and why.

pub mod isolate;

use std::io::Write;

/// The environment variable naming the file skipped tests append to.
pub const SKIPPED_FILE: &str = "NSPLUMB_SKIPPED_FILE";

/// `test` cannot run here because of `reason`: panics under `CI=true`, otherwise reports the
/// skip and returns (the caller then returns without running its body).
pub fn cannot_run(test: &str, reason: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} cannot run: {reason}; CI=true, so this is a failure");
    }
    eprintln!("\n!!!!!!!! SKIP {test}: {reason} !!!!!!!!\n");
    let Some(path) = std::env::var_os(SKIPPED_FILE) else {
        return;
    };
    // One short `write` on an O_APPEND file: lines of concurrent test processes do not mix.
    let line = format!("{test}: {reason}\n");
    let written = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "!!!!!!!! {test}: could not record the skip in {}: {e} !!!!!!!!",
            path.to_string_lossy()
        );
    }
}
