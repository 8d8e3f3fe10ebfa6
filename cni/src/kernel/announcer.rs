//! SPEC C5, S5, S8: the announcements after the first, from a process of their own, so that
//! ADD returns at once. The plugin binary runs itself again in a hidden mode
//! ([`ANNOUNCER_ARG`]), in a session of its own with stdout and stderr on `/dev/null` (a
//! runtime reads the plugin's stdout to its end: it must not wait for this process).
//!
//! The ADD process records the new process with the interface ([`nsplumb_host::record_announcer`]),
//! so that DEL stops it (SIGTERM) before it detaches: no frame for the interface after DEL
//! returns. Only then does it tell the process to start, on its stdin: a process whose ADD died
//! before recording it reads end-of-file instead, and exits without sending anything.
//!
//! The process waits one interval, sends the remaining rounds through the core's announcer
//! (the link is looked at before each: gone or another MAC stops it, S6), and drops itself
//! from the record.

use super::World;
use nix::sys::signal::Signal;
use nsplumb_core::{AnnounceTarget, Attached, MacAddr, NetnsRef, Plumber};
use nsplumb_host::{AnnouncerProcess, ProcessRef, Store};
use nsplumb_linux::LinuxBackend;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// `nsplumb-cni --nsplumb-announce JOB`: the hidden mode. Runtimes run plugins without
/// arguments, so no runtime call can be mistaken for it.
pub const ANNOUNCER_ARG: &str = "--nsplumb-announce";

/// The word on stdin that lets the process start.
const GO: &[u8] = b"go\n";

/// What the announcing process sends, and where it drops itself from the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub netns: String,
    pub iface: String,
    pub ifindex: u32,
    pub mac: MacAddr,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// The rounds after the first.
    pub remaining: u32,
    pub interval_ms: u64,
    pub state_dir: PathBuf,
}

impl Job {
    /// The rest of `attached`'s announcements; its first went out during the attach.
    pub fn new(attached: &Attached, state_dir: &Path) -> Job {
        Job {
            netns: attached.netns.to_string(),
            iface: attached.name.clone(),
            ifindex: attached.ifindex,
            mac: attached.mac.unwrap_or(MacAddr::ZERO),
            ipv4: attached.ipv4.map(|n| n.addr()),
            ipv6: attached.ipv6.map(|n| n.addr()),
            remaining: attached.announce.count.saturating_sub(1),
            interval_ms: attached.announce.interval.as_millis() as u64,
            state_dir: state_dir.to_path_buf(),
        }
    }

    fn netns(&self) -> NetnsRef {
        NetnsRef::from_name_or_path(&self.netns)
    }
}

/// ADD's side: start the process, record it with the interface, then let it go.
pub(super) async fn start(world: &World, job: Job) -> Result<(), String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot start the announcing process: no path to myself: {e}"))?;
    let arg = serde_json::to_string(&job).expect("a job serializes");
    let mut command = Command::new(&exe);
    command
        .arg(ANNOUNCER_ARG)
        .arg(arg)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut terminable = nix::sys::signal::SigSet::empty();
    terminable.add(Signal::SIGTERM);
    // This process's ARP socket goes on in the child, which outlives it: the last close of a
    // packet socket waits for an RCU grace period, which the runtime would otherwise wait for
    // in this process's exit (see `LinuxBackend::packet_socket_fds`). The child never uses it.
    let handed_over = world.plumber.backend().packet_socket_fds();
    // SAFETY: setsid, fcntl, sigaction and sigprocmask are async-signal-safe, and
    // `handed_over` was allocated before the fork; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            for &fd in &handed_over {
                // Only the child's descriptor table: the flag is per descriptor.
                // SAFETY: `fd` stays open in the child until exec: the backend that owns it is
                // not dropped in a forked child.
                let fd = std::os::fd::BorrowedFd::borrow_raw(fd);
                nix::fcntl::fcntl(
                    fd,
                    nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
                )
                .map_err(std::io::Error::from)?;
            }
            // DEL stops this process with SIGTERM. A runtime may run plugins with SIGTERM
            // ignored or blocked (both survive exec): DEL would then wait for its timeout
            // while the announcements went on.
            nix::sys::signal::signal(Signal::SIGTERM, nix::sys::signal::SigHandler::SigDfl)
                .map_err(std::io::Error::from)?;
            nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_UNBLOCK,
                Some(&terminable),
                None,
            )
            .map_err(std::io::Error::from)
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the announcing process {}: {e}", exe.display()))?;
    let stdin = child.stdin.take();
    let process = ProcessRef::of(child.id())
        .ok_or_else(|| format!("the announcing process {} died at once", child.id()))?;
    let recorded = nsplumb_host::record_announcer(
        &world.store,
        &job.netns(),
        &job.iface,
        AnnouncerProcess::terminable(process),
    )
    .await;
    // Without the record, DEL could not stop it: it is not told to start, and exits.
    recorded.map_err(|e| format!("the remaining announcements are not sent: {e}"))?;
    if let Some(mut stdin) = stdin {
        stdin
            .write_all(GO)
            .map_err(|e| format!("cannot start the announcing process: {e}"))?;
    }
    Ok(())
}

/// The hidden mode's body: exit status 0 when the announcements ran (or were not to run).
pub fn run(job_json: &str) -> u8 {
    let job: Job = match serde_json::from_str(job_json) {
        Ok(job) => job,
        Err(e) => {
            tracing::error!("announcer: bad job: {e}");
            return 2;
        }
    };
    let mut go = Vec::new();
    let _ = std::io::stdin().take(GO.len() as u64).read_to_end(&mut go);
    if go != GO {
        return 0; // the ADD died before recording this process
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(_) => return 1,
    };
    runtime.block_on(announce(job))
}

async fn announce(job: Job) -> u8 {
    let Ok(backend) = LinuxBackend::new() else {
        return 1;
    };
    let plumber = Plumber::new(Arc::new(backend), Arc::new(|_work| {}));
    let interval = Duration::from_millis(job.interval_ms);
    tokio::time::sleep(interval).await;
    let target = AnnounceTarget {
        netns: job.netns(),
        iface: job.iface.clone(),
        index: job.ifindex,
        mac: job.mac,
        ipv4: job.ipv4,
        ipv6: job.ipv6,
        count: job.remaining,
        interval,
        mcast_route_ok: true,
    };
    let stopped = plumber.announce(target).await;
    tracing::debug!(iface = %job.iface, netns = %job.netns, "announcements stopped: {stopped}");
    let store = Store::Linux {
        dir: job.state_dir.clone(),
    };
    if let Some(me) = ProcessRef::me() {
        let _ = nsplumb_host::clear_announcer(&store, &job.netns(), &job.iface, me).await;
    }
    0
}
