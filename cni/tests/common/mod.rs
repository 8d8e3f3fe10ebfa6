//! Running the built `nsplumb-cni` as a runtime runs it, and running a test in a throwaway
//! network namespace.

#![allow(dead_code)] // each test binary uses a part

pub mod script;

use nsplumb_cni::child::{self, Limits, Stderr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

pub const PLUGIN: &str = env!("CARGO_BIN_EXE_nsplumb-cni");
pub const DEBIAN_CNI_DIR: &str = "/usr/lib/cni";

/// What one run of the plugin printed.
pub struct Outcome {
    pub exit: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {:?}", self.stdout))
    }
}

/// Runs the plugin with exactly `vars` as its environment and `stdin`, as libcni does.
pub fn run_plugin(vars: &[(&str, &str)], stdin: &[u8]) -> Outcome {
    let mut command = Command::new(PLUGIN);
    command.env_clear().envs(vars.iter().copied());
    let limits = Limits {
        timeout: Duration::from_secs(60),
        max_output: 1 << 20,
    };
    let out = child::run(command, stdin, Stderr::Capture, limits).expect("run nsplumb-cni");
    Outcome {
        exit: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

const CHILD: &str = "NSPLUMB_CNI_TEST_NETNS_CHILD";

/// Runs the calling test again in a child process inside a new network namespace (`unshare -n`,
/// with `-r` when not root), so that nftables rules and links it makes are its own and vanish
/// with it. Returns `true` in that child (run the body), `false` in the parent once the child
/// passed. Without a way to unshare the test fails under `CI=true`, and says SKIP loudly
/// otherwise (named again at the end of `scripts/test`).
pub fn in_private_netns(test_name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let root = nix::unistd::geteuid().is_root();
    let flags = if root { "-n" } else { "-rn" };
    let can = Command::new("unshare")
        .args([flags, "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !can {
        nsplumb_test_skip::cannot_run(
            test_name,
            &format!("needs root or user namespaces (unshare {flags})"),
        );
        return false;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new("unshare")
        .arg(flags)
        .arg(&exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stderr(Stdio::inherit())
        .output()
        .expect("run the test inside unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    assert!(
        out.status.success(),
        "{test_name} failed in its network namespace"
    );
    assert!(
        stdout.contains("1 passed"),
        "{test_name} did not run in its child (wrong name?)"
    );
    false
}

/// Fails unless `program` can be run: the tests' dependencies are installed by
/// `.ci/install-deps`, never skipped.
pub fn require(program: &Path) {
    assert!(
        program.is_file(),
        "{} is missing: run .ci/install-deps",
        program.display()
    );
}
