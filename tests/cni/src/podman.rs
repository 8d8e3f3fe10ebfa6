//! Podman 4.3 (Debian) with its CNI backend, confined to the test's sandbox.
//!
//! Everything Podman reads or writes is named explicitly, so nothing falls back to the
//! machine's defaults: `CONTAINERS_CONF` (network backend `cni`, the test's conflist and plugin
//! directories, runc, cgroupfs, file events, its tmp dir), `CONTAINERS_STORAGE_CONF` plus
//! `--root`/`--runroot` (vfs storage in the work directory), and every container runs from a
//! busybox root file system (`--rootfs`, no image) under the run's cgroup parent. Podman's
//! runtime state (`--runroot`, `tmp_dir`) is on the test's private `/run`, as Podman refuses a
//! runroot path longer than 50 characters.
//!
//! Why each setting (found on this machine, see the crate README): crun refuses the host's
//! hybrid cgroups, so `runc`; root here lacks CAP_SYS_RESOURCE, so explicit `nofile`/`nproc`
//! limits (Podman's default nofile 1048576 fails in runc's setrlimit); there is no systemd, so
//! `cgroupfs` and file events; a cgroup parent per run so the one machine-side trace (cgroups)
//! can be removed afterwards.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::command::{require_programs, Cmd, Finished};
use crate::conflist::BridgeNetwork;
use crate::env::CniEnv;
use crate::error::{HarnessError, Result};
use crate::plugin::SYSTEM_PLUGIN_DIR;
use crate::rootfs::busybox_rootfs;

/// Binaries the Podman harness runs, with the Debian package that brings each.
const NEEDED: &[(&str, &str)] = &[
    ("podman", "podman"),
    ("conmon", "conmon"),
    ("runc", "runc"),
    ("nsenter", "util-linux"),
];

/// A container to start.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub name: String,
    pub network: String,
    /// `--network NET:ip=...`: arrives at the plugin as `CNI_ARGS` `IP=`.
    pub ip: Option<Ipv4Addr>,
    /// `--mac-address`: arrives at the plugin as `CNI_ARGS` `MAC=`.
    pub mac: Option<String>,
    pub command: Vec<String>,
}

impl RunOptions {
    /// A long-lived container (`sleep`) on `network`.
    pub fn sleeper(name: &str, network: &str) -> RunOptions {
        RunOptions {
            name: name.into(),
            network: network.into(),
            ip: None,
            mac: None,
            command: vec!["/bin/sleep".into(), "100000".into()],
        }
    }

    pub fn ip(mut self, ip: Ipv4Addr) -> RunOptions {
        self.ip = Some(ip);
        self
    }

    pub fn mac(mut self, mac: &str) -> RunOptions {
        self.mac = Some(mac.into());
        self
    }

    pub fn command(mut self, argv: &[&str]) -> RunOptions {
        self.command = argv.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// Podman confined to one sandbox; removes all its containers when dropped.
pub struct Podman {
    containers_conf: PathBuf,
    storage_conf: PathBuf,
    root: PathBuf,
    runroot: PathBuf,
    rootfs: PathBuf,
    cgroup_parent: String,
    conf_dir: PathBuf,
}

impl Podman {
    /// Write the configuration and the root file system into `<work>/podman`.
    pub fn new(env: &CniEnv) -> Result<Podman> {
        require_programs(NEEDED)?;
        let base = env.base.join("podman");
        // Podman refuses a runroot longer than 50 characters: the runtime state goes to the
        // private /run (a tmpfs of the test), named after this environment.
        let run_dir = PathBuf::from(format!("/run/nsplumb-podman-{}", env.name()));
        let podman = Podman {
            containers_conf: base.join("containers.conf"),
            storage_conf: base.join("storage.conf"),
            root: base.join("storage"),
            runroot: run_dir.join("storage"),
            rootfs: base.join("rootfs"),
            cgroup_parent: format!("/{}/podman", env.sandbox.cgroup),
            conf_dir: env.conf_dir.clone(),
        };
        for dir in [&podman.root, &podman.runroot, &run_dir.join("tmp")] {
            std::fs::create_dir_all(dir).map_err(HarnessError::io("create", dir))?;
        }
        let containers_conf = format!(
            r#"[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[network]
network_backend = "cni"
network_config_dir = "{conf_dir}"
cni_plugin_dirs = ["{bin_dir}", "{system}"]
default_subnet = "198.51.100.0/24"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{base}/events.log"
tmp_dir = "{run_dir}/tmp"
volume_path = "{base}/volumes"
"#,
            conf_dir = env.conf_dir.display(),
            bin_dir = env.bin_dir.display(),
            system = SYSTEM_PLUGIN_DIR,
            base = base.display(),
            run_dir = run_dir.display(),
        );
        write(&podman.containers_conf, &containers_conf)?;
        let storage_conf = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            podman.root.display(),
            podman.runroot.display()
        );
        write(&podman.storage_conf, &storage_conf)?;
        busybox_rootfs(&podman.rootfs)?;
        Ok(podman)
    }

    /// A `podman` command with the sandbox's configuration and storage.
    pub fn cmd(&self, what: impl Into<String>) -> Cmd {
        Cmd::new(what, "podman")
            .env("CONTAINERS_CONF", &self.containers_conf)
            .env("CONTAINERS_STORAGE_CONF", &self.storage_conf)
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(["--storage-driver", "vfs"])
    }

    /// The network backend Podman chose (must be `cni`).
    pub fn network_backend(&self) -> Result<String> {
        let done = self
            .cmd("podman info (network backend)")
            .args(["info", "--format", "{{.Host.NetworkBackend}}"])
            .ok()?;
        Ok(done.stdout.trim().to_string())
    }

    /// Install `network` as `<conf_dir>/<name>.conflist`, where Podman finds it.
    pub fn add_network(&self, network: &BridgeNetwork) -> Result<PathBuf> {
        network.write_conflist(&self.conf_dir, &format!("{}.conflist", network.name))
    }

    fn run_args(&self, opts: &RunOptions) -> Vec<String> {
        let network = match opts.ip {
            Some(ip) => format!("{}:ip={ip}", opts.network),
            None => opts.network.clone(),
        };
        let mut args = vec![
            "--name".to_string(),
            opts.name.clone(),
            "--cgroup-parent".into(),
            self.cgroup_parent.clone(),
            "--network".into(),
            network,
        ];
        if let Some(mac) = &opts.mac {
            args.push("--mac-address".into());
            args.push(mac.clone());
        }
        args.push("--rootfs".into());
        args.push(self.rootfs.display().to_string());
        args.extend(opts.command.iter().cloned());
        args
    }

    /// `podman run -d`: returns when the container runs (CNI ADD done).
    pub fn start(&self, opts: &RunOptions) -> Result<Finished> {
        self.cmd(format!("podman run -d {}", opts.name))
            .args(["run", "-d"])
            .args(self.run_args(opts))
            .ok()
    }

    /// `podman run --rm` in the foreground: the command's own exit status, whatever it is.
    pub fn run_once(&self, opts: &RunOptions) -> Result<Finished> {
        self.cmd(format!("podman run --rm {}", opts.name))
            .args(["run", "--rm"])
            .args(self.run_args(opts))
            .run()
    }

    /// `podman exec NAME ARGS...`, whatever its exit status.
    pub fn exec(&self, name: &str, args: &[&str]) -> Result<Finished> {
        self.cmd(format!("podman exec {name} {}", args.join(" ")))
            .args(["exec", name])
            .args(args)
            .run()
    }

    /// Whether `target` answers a ping from inside container `name` (one try, 2 s).
    pub fn ping_from(&self, name: &str, target: Ipv4Addr) -> Result<bool> {
        let done = self.exec(name, &["ping", "-c", "1", "-W", "2", &target.to_string()])?;
        Ok(done.success())
    }

    /// The MAC address of the container's `eth0`.
    pub fn mac_of(&self, name: &str) -> Result<String> {
        let done = self
            .cmd(format!("read the MAC of {name}"))
            .args(["exec", name, "cat", "/sys/class/net/eth0/address"])
            .ok()?;
        Ok(done.stdout.trim().to_string())
    }

    /// The IPv4 address of the container's `eth0` (`ip -4 -o addr`).
    pub fn ipv4_of(&self, name: &str) -> Result<Ipv4Addr> {
        let done = self.exec(name, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"])?;
        done.stdout
            .split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .and_then(|cidr| cidr.split('/').next())
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| HarnessError::Parse {
                what: format!("IPv4 address of {name}'s eth0"),
                text: done.stdout.clone(),
                reason: "no inet line".into(),
            })
    }

    /// `podman stop -t 0`.
    pub fn stop(&self, name: &str) -> Result<()> {
        self.cmd(format!("podman stop {name}"))
            .args(["stop", "-t", "0", name])
            .ok()
            .map(drop)
    }

    /// `podman rm -f -t 0`: the container's CNI DEL runs before it returns.
    pub fn rm(&self, name: &str) -> Result<()> {
        self.cmd(format!("podman rm {name}"))
            .args(["rm", "-f", "-t", "0", name])
            .ok()
            .map(drop)
    }

    /// Names of all containers Podman knows.
    pub fn containers(&self) -> Result<Vec<String>> {
        let done = self
            .cmd("podman ps -a")
            .args(["ps", "-a", "--format", "{{.Names}}"])
            .ok()?;
        Ok(done.stdout.lines().map(String::from).collect())
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self
            .cmd("podman rm -a (cleanup)")
            .args(["rm", "-f", "-a", "-t", "0"])
            .timeout(Duration::from_secs(30))
            .run();
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(HarnessError::io("write", path))
}
