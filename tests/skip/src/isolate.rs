//! Running one test in throwaway namespaces of its own, as root or as an ordinary user.
//!
//! [`enter`] re-executes the test binary (only this one test, `--exact`) under
//! `unshare -nm --propagation private`, plus `-r` (a user namespace in which the test is root)
//! when the caller is not root, with a tmpfs mounted where the test keeps its named network
//! namespaces. Everything the test creates (links, bridges, namespaces, processes' state in
//! them) goes with the child, even after a panic or a SIGKILL. When `unshare` is impossible the
//! test cannot run: [`crate::cannot_run`] (a failure under `CI=true`).

use std::ffi::OsString;
use std::process::{Command, Stdio};

const INNER: &str = "NSPLUMB_ISOLATED_TEST_CHILD";

/// Whether this process is the isolated child of [`enter`].
pub fn is_isolated() -> bool {
    std::env::var_os(INNER).is_some()
}

/// Where the child's private tmpfs is mounted.
pub enum Tmpfs<'a> {
    /// A fresh directory under the temp dir, named to the child by this environment variable
    /// (for code that takes its namespace directory from the environment).
    DirFromEnv(&'a str),
    /// `/run`, with an empty `/run/netns`: `ip netns` and tools that only know `/run/netns`
    /// see the test's namespaces alone.
    Run,
}

/// What the calling test does next.
pub enum Entered {
    /// This is the isolated child: run the test body here.
    RunHere,
    /// The child ran the test and passed; its stdout.
    Passed(String),
    /// The test cannot run here and was reported (outside `CI=true` only; under it, a panic).
    Skipped,
}

/// Whether this process runs as root (uid 0, in its user namespace).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `test_name` in an isolated child (see the module doc) with `env` set, unless this is
/// that child. Panics when the child fails.
pub fn enter(test_name: &str, tmpfs: Tmpfs, env: &[(&str, OsString)]) -> Entered {
    if is_isolated() {
        return Entered::RunHere;
    }
    let flags = if is_root() { "-nm" } else { "-rnm" };
    let can_unshare = Command::new("unshare")
        .args([flags, "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !can_unshare {
        crate::cannot_run(
            test_name,
            &format!(
                "needs root or unprivileged user namespaces (unshare {flags}) to create \
                 network namespaces"
            ),
        );
        return Entered::Skipped;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new("unshare");
    cmd.args([flags, "--propagation", "private", "sh", "-c"]);
    let mut temp_dir = None;
    match tmpfs {
        Tmpfs::DirFromEnv(var) => {
            // Tests of one binary run on parallel threads: the counter keeps their dirs apart.
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("nsplumb-k-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp netns dir");
            cmd.arg(format!(r#"mount -t tmpfs nsplumb "${var}" && exec "$@""#))
                .env(var, &dir);
            temp_dir = Some(dir);
        }
        Tmpfs::Run => {
            cmd.arg(r#"mount -t tmpfs nsplumb /run && mkdir /run/netns && exec "$@""#);
        }
    }
    let out = cmd
        .arg("sh")
        .arg(&exe)
        .args([
            test_name,
            "--exact",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(INNER, "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stderr(Stdio::inherit())
        .output()
        .expect("run the test inside unshare");
    if let Some(dir) = temp_dir {
        let _ = std::fs::remove_dir(&dir);
    }
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{stdout}");
    assert!(
        out.status.success(),
        "{test_name} failed in its isolated child (unshare {flags})"
    );
    assert!(
        stdout.contains("1 passed"),
        "{test_name} did not run in its isolated child (wrong test name?)"
    );
    Entered::Passed(stdout)
}
