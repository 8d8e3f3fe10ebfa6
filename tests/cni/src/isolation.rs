//! Isolation of an end-to-end CNI test: a child process of its own, in fresh network, mount and
//! PID namespaces, with private mounts for everything a runtime writes.
//!
//! [`enter`] re-executes the test binary (this one test, `--exact`) as
//! `unshare --net --mount --pid --fork --mount-proc --kill-child --propagation private`. The
//! process that starts there is PID 1 of the new PID namespace ("init"): it lays out the private
//! mounts ([`crate::private_mounts`]), brings `lo` up, starts the test once more as its child
//! ("body") and reaps every process until the body exits, then exits with the body's status.
//!
//! Why a PID namespace with a reaping init: conmon (Podman) and containerd's shims daemonize, so
//! they become children of PID 1, and Podman checks liveness with `kill(pid, 0)`, which a
//! zombie passes. An init that reaps keeps that true, and when it exits the kernel kills every
//! process left in the namespace: after a panic, a timeout or a kill of the test, no container,
//! conmon or containerd outlives the test, and with the processes go the network namespaces
//! and mounts they held.
//!
//! In the body, the network namespace stands in for the host: the bridge, the host ends of the
//! veths, `ip_forward` and masquerade rules of the plugin under test are the test's own.
//!
//! What the machine still sees: the run's work directory under `$TMPDIR` (empty there; the
//! files live on the child's tmpfs; removed after), and the cgroups runc creates under
//! `nsplumb-cni-<random>` (removed after, see [`crate::cgroups`]).
//!
//! Without root (or `unshare`) the test FAILS under `CI=true`; otherwise it prints a loud SKIP
//! line and is named at the end of `scripts/test` ([`nsplumb_test_skip`]).

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{getpid, Pid};

use crate::{cgroups, command::Cmd, private_mounts};

const ROLE: &str = "NSPLUMB_CNI_ROLE";
const WORK: &str = "NSPLUMB_CNI_WORK";
const CGROUP: &str = "NSPLUMB_CNI_CGROUP";
const UNSHARE_FLAGS: &[&str] = &[
    "--net",
    "--mount",
    "--pid",
    "--fork",
    "--mount-proc",
    "--kill-child",
    "--propagation",
    "private",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Outside,
    Init,
    Body,
}

fn role() -> Role {
    match std::env::var(ROLE).as_deref() {
        Ok("init") => Role::Init,
        Ok("body") => Role::Body,
        _ => Role::Outside,
    }
}

/// Whether this process is an isolated test body.
pub fn is_isolated() -> bool {
    role() == Role::Body
}

/// The isolated body's private places: its work directory (a tmpfs) and the cgroup parent its
/// containers must use.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub work: PathBuf,
    pub cgroup: String,
}

impl Sandbox {
    /// The sandbox of this isolated body. Panics outside one: the harness must never write
    /// configuration or state to the machine's own paths.
    pub fn current() -> Sandbox {
        assert!(
            is_isolated(),
            "the CNI harness runs only inside an isolated test (isolation::enter)"
        );
        Sandbox::from_env()
    }

    fn from_env() -> Sandbox {
        Sandbox {
            work: PathBuf::from(std::env::var_os(WORK).expect("NSPLUMB_CNI_WORK set by enter")),
            cgroup: std::env::var(CGROUP).expect("NSPLUMB_CNI_CGROUP set by enter"),
        }
    }

    /// A path in the work directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.work.join(relative)
    }
}

/// Whether the calling test should run its body in this process: `true` in the isolated body;
/// `false` in the parent once the child ran the test and passed (the parent panics if the child
/// failed), or when isolation is impossible outside CI. Never returns in the child's init.
pub fn enter(test_name: &str) -> bool {
    match role() {
        Role::Body => return true,
        Role::Init => run_init(),
        Role::Outside => {}
    }
    if let Some(why) = unavailable() {
        nsplumb_test_skip::cannot_run(test_name, &why);
        return false;
    }
    let args: Vec<OsString> = [
        test_name,
        "--exact",
        "--nocapture",
        "--include-ignored",
        "--test-threads=1",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let (status, stdout) = reexec(&args, true);
    print!("{stdout}");
    // Observations show even when the harness captures the parent's output.
    // (libtest prints "test NAME ... " before the test's first line: search within lines.)
    for line in stdout.lines() {
        if let Some(at) = ["MEASUREMENT", "OBSERVATION"]
            .iter()
            .filter_map(|tag| line.find(tag))
            .min()
        {
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "{}", &line[at..]);
        }
    }
    assert!(
        status.success(),
        "{test_name} failed in its isolated child ({status})"
    );
    assert!(
        stdout.contains("1 passed"),
        "{test_name} did not run in its isolated child (wrong test name?)"
    );
    false
}

/// For a binary (the benchmark): returns in the isolated body; outside, re-executes this
/// binary isolated with the same arguments and exits with its status.
pub fn isolate_main() {
    match role() {
        Role::Body => return,
        Role::Init => run_init(),
        Role::Outside => {}
    }
    if let Some(why) = unavailable() {
        eprintln!("cannot isolate: {why}");
        std::process::exit(2);
    }
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let (status, _) = reexec(&args, false);
    std::process::exit(exit_code(status));
}

/// Why isolation is impossible here, if it is.
fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some(
            "needs root: Podman, containerd and runc run as root inside the test's private \
             namespaces"
                .into(),
        );
    }
    let probe = Cmd::new("probe unshare", "unshare")
        .args(UNSHARE_FLAGS)
        .arg("true")
        .run();
    match probe {
        Ok(done) if done.success() => None,
        Ok(done) => Some(format!(
            "unshare {} failed: {}",
            UNSHARE_FLAGS.join(" "),
            done.stderr.trim()
        )),
        Err(e) => Some(e.to_string()),
    }
}

/// Run this executable with `args` isolated; clean the machine-side leftovers (work directory,
/// cgroups) whatever happened. Returns the exit status and, if `capture`, the stdout.
fn reexec(args: &[OsString], capture: bool) -> (ExitStatus, String) {
    let exe = std::env::current_exe().expect("own executable path");
    let tag = format!("{:08x}", rand::random::<u32>());
    // Short: Podman and conmon put socket paths below it.
    let work = std::env::temp_dir().join(format!("nspcni-{tag}"));
    std::fs::create_dir_all(&work).expect("create the work directory's mount point");
    let cgroup = format!("nsplumb-cni-{tag}");
    let mut command = Command::new("unshare");
    command
        .args(UNSHARE_FLAGS)
        .arg(&exe)
        .args(args)
        .env(ROLE, "init")
        .env(WORK, &work)
        .env(CGROUP, &cgroup)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .stdout(if capture {
            Stdio::piped()
        } else {
            Stdio::inherit()
        });
    let out = command
        .output()
        .expect("run the isolated child under unshare");
    clean_machine_side(&work, &cgroup);
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn clean_machine_side(work: &Path, cgroup: &str) {
    let left = cgroups::remove_tree(cgroup);
    if !left.is_empty() {
        eprintln!("WARNING: cgroups of the isolated run still present: {left:?}");
    }
    // The files lived on the child's tmpfs; the machine holds only the empty mount point.
    if let Err(e) = std::fs::remove_dir(work) {
        eprintln!(
            "WARNING: work directory {} not empty on the machine ({e}); removing it",
            work.display()
        );
        let _ = std::fs::remove_dir_all(work);
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// PID 1 of the isolated run: private mounts, `lo` up, the body as a child, reap all.
fn run_init() -> ! {
    if getpid() != Pid::from_raw(1) {
        eprintln!("isolation: init must be PID 1 of its PID namespace (unshare --pid --fork)");
        std::process::exit(101);
    }
    let sandbox = Sandbox::from_env();
    if let Err(e) = private_mounts::set_up(&sandbox.work) {
        eprintln!("isolation: private mounts: {e}");
        std::process::exit(101);
    }
    if let Err(e) = Cmd::new("bring lo up", "ip")
        .args(["link", "set", "lo", "up"])
        .ok()
    {
        eprintln!("isolation: {e}");
        std::process::exit(101);
    }
    let exe = std::env::current_exe().expect("own executable path");
    let body = match Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(ROLE, "body")
        .spawn()
    {
        Ok(child) => Pid::from_raw(child.id() as i32),
        Err(e) => {
            eprintln!("isolation: start the test body: {e}");
            std::process::exit(101);
        }
    };
    loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == body => std::process::exit(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == body => {
                eprintln!("isolation: the test body died of {signal:?}");
                std::process::exit(128 + signal as i32)
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                eprintln!("isolation: waiting for the test body: {e}");
                std::process::exit(101);
            }
        }
    }
}
