//! containerd 1.6 (Debian) started by the test, driven with `ctr run --cni --rootfs`.
//!
//! `ctr run --cni` is the CNI runtime here, not the daemon: ctr 1.6 calls go-cni with
//! `WithDefaultConf` and nothing else (`cmd/ctr/commands/run/run.go`), so it reads the first
//! conflist of `/etc/cni/net.d` and finds plugins (and IPAM) in `/opt/cni/bin`, with no flag or
//! configuration key to change either. The harness bind-mounts the test's conflist and plugin
//! directories on those two paths, which exist only on the test's private tmpfs (see
//! [`crate::private_mounts`]). It runs ADD on `/proc/<pid>/ns/net` before the task starts and,
//! in the foreground mode only, DEL with an empty `CNI_NETNS` after the task exited (a detached
//! `ctr run -d` never calls DEL: the harness always runs in the foreground and stops the task
//! with `ctr task kill`).
//!
//! The daemon gets its own `--root`, `--state`, `--address` and a config that disables the CRI
//! plugin (which would otherwise watch `/etc/cni/net.d` itself); it is stopped, and the binds
//! removed, when the [`Containerd`] is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::command::{require_programs, wait_with_deadline, Cmd};
use crate::env::CniEnv;
use crate::error::{HarnessError, Result};
use crate::rootfs::busybox_rootfs;

const NEEDED: &[(&str, &str)] = &[
    ("containerd", "containerd"),
    ("ctr", "containerd"),
    ("containerd-shim-runc-v2", "containerd"),
    ("runc", "runc"),
];

/// go-cni's fixed conflist directory, used by `ctr run --cni`.
pub const CTR_CONF_DIR: &str = "/etc/cni/net.d";
/// go-cni's fixed plugin directory, used by `ctr run --cni` (also its `CNI_PATH`).
pub const CTR_BIN_DIR: &str = "/opt/cni/bin";

/// A containerd daemon of the test's own; stopped on drop.
pub struct Containerd {
    daemon: Option<Child>,
    dir: PathBuf,
    address: PathBuf,
    namespace: String,
    cgroup_parent: String,
    rootfs: PathBuf,
    binds: Vec<PathBuf>,
    tasks: Vec<String>,
}

impl Containerd {
    /// Bind the test's CNI directories on go-cni's paths, start containerd, wait until it
    /// answers.
    pub fn start(env: &CniEnv) -> Result<Containerd> {
        require_programs(NEEDED)?;
        let dir = env.base.join("containerd");
        let root = dir.join("root");
        let state = dir.join("state");
        for d in [&root, &state] {
            std::fs::create_dir_all(d).map_err(HarnessError::io("create", d))?;
        }
        let mut ctrd = Containerd {
            daemon: None,
            address: dir.join("containerd.sock"),
            namespace: format!("nsplumb-{}", env.sandbox.cgroup),
            cgroup_parent: format!("/{}/containerd", env.sandbox.cgroup),
            rootfs: busybox_rootfs(&dir.join("rootfs"))?,
            dir,
            binds: Vec::new(),
            tasks: Vec::new(),
        };
        ctrd.bind(&env.conf_dir, Path::new(CTR_CONF_DIR))?;
        ctrd.bind(&env.bin_dir, Path::new(CTR_BIN_DIR))?;
        let config = ctrd.dir.join("config.toml");
        let text = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n\
             [grpc]\n  address = \"{sock}\"\n\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\n\
             [debug]\n  address = \"{dir}/debug.sock\"\n",
            root = root.display(),
            state = state.display(),
            sock = ctrd.address.display(),
            dir = ctrd.dir.display(),
        );
        std::fs::write(&config, text).map_err(HarnessError::io("write", &config))?;
        let daemon = Cmd::new("start containerd", "containerd")
            .arg("--config")
            .arg(&config)
            .arg("--root")
            .arg(&root)
            .arg("--state")
            .arg(&state)
            .arg("--address")
            .arg(&ctrd.address)
            .spawn_logged(&ctrd.dir.join("containerd.log"))?;
        ctrd.daemon = Some(daemon);
        ctrd.wait_ready(Duration::from_secs(20))?;
        Ok(ctrd)
    }

    fn bind(&mut self, source: &Path, target: &Path) -> Result<()> {
        mount(
            Some(source),
            target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| HarnessError::Mount {
            what: format!("bind of {}", source.display()),
            target: target.to_path_buf(),
            source: e,
        })?;
        self.binds.push(target.to_path_buf());
        Ok(())
    }

    fn wait_ready(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let done = self.ctr("ctr version").arg("version").run()?;
            if done.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(HarnessError::Failed {
                    what: format!("containerd ready within {within:?}"),
                    command: "ctr version".into(),
                    status: done.status.to_string(),
                    stdout: done.stdout,
                    stderr: format!("{}; log: {}", done.stderr, self.log()),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The daemon's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// A `ctr` command talking to this daemon, in the test's containerd namespace.
    pub fn ctr(&self, what: impl Into<String>) -> Cmd {
        Cmd::new(what, "ctr")
            .arg("--address")
            .arg(&self.address)
            .args(["--namespace", &self.namespace])
    }

    /// `ctr run --cni --rm --rootfs` of `sh -c SCRIPT` as container `id`, in the foreground
    /// (so ctr runs CNI DEL when the task ends); the caller waits on the returned task.
    pub fn run_cni(&mut self, id: &str, script: &str) -> Result<ForegroundTask> {
        let log = self.dir.join(format!("ctr-run-{id}.log"));
        let child = self
            .ctr(format!("ctr run --cni {id}"))
            .args(["run", "--cni", "--rm", "--rootfs"])
            .arg("--cgroup")
            .arg(format!("{}/{id}", self.cgroup_parent))
            .arg(&self.rootfs)
            .arg(id)
            .args(["/bin/sh", "-c", script])
            .spawn_logged(&log)?;
        self.tasks.push(id.to_string());
        Ok(ForegroundTask {
            id: id.into(),
            child,
            log,
        })
    }

    /// `ctr task kill -s SIGKILL ID`: the foreground `ctr run` then deletes the task and runs DEL.
    pub fn kill_task(&self, id: &str) -> Result<()> {
        self.ctr(format!("ctr task kill {id}"))
            .args(["task", "kill", "--signal", "SIGKILL", id])
            .ok()
            .map(drop)
    }

    /// Container IDs containerd still knows (`ctr containers ls -q`).
    pub fn containers(&self) -> Result<Vec<String>> {
        let done = self
            .ctr("ctr containers ls")
            .args(["containers", "ls", "-q"])
            .ok()?;
        Ok(done.stdout.lines().map(String::from).collect())
    }

    /// Task IDs still running (`ctr task ls -q`).
    pub fn tasks(&self) -> Result<Vec<String>> {
        let done = self.ctr("ctr task ls").args(["task", "ls", "-q"]).ok()?;
        Ok(done.stdout.lines().map(String::from).collect())
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for id in std::mem::take(&mut self.tasks) {
            let _ = self
                .ctr("ctr task kill (cleanup)")
                .args(["task", "kill", "--signal", "SIGKILL", &id])
                .timeout(Duration::from_secs(10))
                .run();
            let _ = self
                .ctr("ctr task rm (cleanup)")
                .args(["task", "rm", "-f", &id])
                .timeout(Duration::from_secs(10))
                .run();
            let _ = self
                .ctr("ctr container rm (cleanup)")
                .args(["containers", "rm", &id])
                .timeout(Duration::from_secs(10))
                .run();
        }
        if let Some(mut daemon) = self.daemon.take() {
            let _ = kill(Pid::from_raw(daemon.id() as i32), Signal::SIGTERM);
            let (_, timed_out) = wait_with_deadline(&mut daemon, Duration::from_secs(10));
            if timed_out {
                eprintln!("containerd did not stop on SIGTERM within 10 s (killed)");
            }
        }
        for target in self.binds.drain(..).rev() {
            let _ = umount2(&target, MntFlags::MNT_DETACH);
        }
    }
}

/// A foreground `ctr run --cni`: its output goes to a log the test reads.
pub struct ForegroundTask {
    pub id: String,
    child: Child,
    log: PathBuf,
}

impl ForegroundTask {
    /// What the container printed so far (and ctr's own messages).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the output contains `marker`; false after `within` or when ctr exited first.
    pub fn wait_for_output(&mut self, marker: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.output().contains(marker) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.output().contains(marker);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Wait for `ctr run` to exit (it ran CNI DEL first); error after `within` (then killed).
    pub fn wait(mut self, within: Duration) -> Result<ExitStatus> {
        let (status, timed_out) = wait_with_deadline(&mut self.child, within);
        if timed_out {
            return Err(HarnessError::Timeout {
                what: format!("ctr run --cni {} to finish", self.id),
                program: "ctr run".into(),
                after: within,
                stderr: self.output(),
            });
        }
        Ok(status)
    }
}
