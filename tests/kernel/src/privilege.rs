//! Privilege and isolation: every kernel test runs in a child process of its own, inside fresh
//! network and mount namespaces.
//!
//! [`enter`] re-executes the test binary (only this one test, `--exact`) under
//! `unshare -nm --propagation private` (plus `-r`, a user namespace, when not root), with a
//! tmpfs mounted on `$NSPLUMB_NETNS_DIR`. Inside the child:
//!
//! * `/proc/self/ns/net` is a throwaway namespace, so `NetnsRef::Host` of a `LinuxBackend` is
//!   the test's **private host**: bridges, dummies and veth ends the test puts "in the host"
//!   never reach the machine's real host namespace (a thread that `setns`-es would not do:
//!   `LinuxBackend` opens `/proc/self/ns/net`, the process's namespace).
//! * Named namespaces (`nspl-k<random>-*`) are bind-mounted on the private tmpfs, invisible to
//!   the host; when the child exits its namespaces go with it, even after a panic or a kill.
//! * The mount namespace is the test's own, so a test may remount `/proc/sys` read-only
//!   ([`remount_proc_sys_read_only`]).
//!
//! * [`outer_netns`] names the namespace the parent test process runs in (normally the
//!   machine's initial namespace), for the tests that read or set the machine's own settings.
//!
//! When `unshare` is impossible the test FAILS under `CI=true`; otherwise it prints a loud SKIP
//! line and is listed at the end of `scripts/test` ([`nsplumb_test_skip`]).

use std::process::{Command, Stdio};

const INNER: &str = "NSPLUMB_KERNEL_TEST_CHILD";
const OUTER_NETNS: &str = "NSPLUMB_KERNEL_TEST_OUTER_NETNS";

/// Whether this process is the isolated child of [`enter`].
pub fn is_isolated() -> bool {
    std::env::var_os(INNER).is_some()
}

/// Whether the calling test should run its body in this process: `true` inside the isolated
/// child; `false` in the parent once the child ran the test and passed (the parent panics if
/// the child failed), or when it was skipped outside CI.
pub fn enter(test_name: &str) -> bool {
    if is_isolated() {
        return true;
    }
    let root = nix::unistd::geteuid().is_root();
    let flags = if root { "-nm" } else { "-rnm" };
    let can_unshare = Command::new("unshare")
        .args([flags, "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !can_unshare {
        nsplumb_test_skip::cannot_run(
            test_name,
            &format!(
                "needs root or unprivileged user namespaces (unshare {flags}) to create \
                 network namespaces"
            ),
        );
        return false;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = std::env::temp_dir().join(format!(
        "nsplumb-k-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("temp netns dir");
    let out = Command::new("unshare")
        .args([flags, "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs nsplumb "$NSPLUMB_NETNS_DIR" && exec "$@""#)
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
        .env(OUTER_NETNS, format!("/proc/{}/ns/net", std::process::id()))
        .env("NSPLUMB_NETNS_DIR", &dir)
        .stderr(Stdio::inherit())
        .output()
        .expect("run the test inside unshare");
    let _ = std::fs::remove_dir(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    // Summary lines (`differential: ...`) show even when the harness captures output.
    for line in stdout.lines().filter(|l| l.starts_with("differential:")) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
    assert!(
        out.status.success(),
        "{test_name} failed in its isolated child (unshare {flags})"
    );
    assert!(
        stdout.contains("1 passed"),
        "{test_name} did not run in its isolated child (wrong test name?)"
    );
    false
}

/// Inside [`enter`]'s child: the network namespace of the parent test process (the one the
/// child's private host was made from), by its `/proc/PID/ns/net` path.
pub fn outer_netns() -> Option<nsplumb_core::NetnsRef> {
    std::env::var(OUTER_NETNS)
        .ok()
        .filter(|_| is_isolated())
        .map(nsplumb_core::NetnsRef::path)
}

/// Remount `/proc/sys` read-only in this process's mount namespace (only inside [`enter`]'s
/// child, which owns its mount namespace). Reads still work; writes fail with `EROFS`.
pub fn remount_proc_sys_read_only() {
    assert!(is_isolated(), "only inside the isolated child");
    use nix::mount::{mount, MsFlags};
    mount(
        Some("/proc/sys"),
        "/proc/sys",
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .expect("bind /proc/sys");
    mount(
        None::<&str>,
        "/proc/sys",
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .expect("remount /proc/sys read-only");
}
