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

use nsplumb_test_skip::isolate::{self, Entered, Tmpfs};

const OUTER_NETNS: &str = "NSPLUMB_KERNEL_TEST_OUTER_NETNS";

/// Whether this process is the isolated child of [`enter`].
pub fn is_isolated() -> bool {
    isolate::is_isolated()
}

/// Whether the calling test should run its body in this process: `true` inside the isolated
/// child; `false` in the parent once the child ran the test and passed (the parent panics if
/// the child failed), or when it was skipped outside CI.
pub fn enter(test_name: &str) -> bool {
    let outer = format!("/proc/{}/ns/net", std::process::id());
    match isolate::enter(
        test_name,
        Tmpfs::DirFromEnv("NSPLUMB_NETNS_DIR"),
        &[(OUTER_NETNS, outer.into())],
    ) {
        Entered::RunHere => true,
        Entered::Skipped => false,
        Entered::Passed(stdout) => {
            // Summary lines (`differential: ...`) show even when the harness captures output.
            for line in stdout.lines().filter(|l| l.starts_with("differential:")) {
                use std::io::Write;
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            false
        }
    }
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
