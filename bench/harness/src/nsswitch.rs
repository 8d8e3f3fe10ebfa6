//! How much one "do X inside namespace N" costs, the way the Linux backend does it (a fresh std
//! thread that `setns`-es, per operation: `netns::in_netns`) against a persistent worker thread
//! that joined the namespace once. The backend pays this for every netlink connection, link
//! event subscription, sysctl read/write and sender socket of a namespace.

use crate::stats::{Figure, Report};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

type Job = Box<dyn FnOnce() + Send>;

fn setns(ns: &File) -> io::Result<()> {
    // SAFETY: plain syscall on a valid descriptor.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn netlink_socket() -> io::Result<()> {
    // SAFETY: socket(2); the descriptor is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(())
}

fn read_sysctl() -> io::Result<()> {
    std::fs::read_to_string("/proc/sys/net/ipv6/conf/lo/disable_ipv6").map(|_| ())
}

/// As `nsplumb_linux::netns::in_netns`: a new thread per call.
async fn per_call_thread(ns: &Path, op: fn() -> io::Result<()>) -> io::Result<()> {
    let path = ns.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("nsb-netns".into())
        .spawn(move || {
            let r = File::open(&path)
                .and_then(|f| setns(&f))
                .and_then(|()| op());
            let _ = tx.send(r);
        })?;
    rx.await
        .unwrap_or_else(|_| Err(io::Error::other("thread died")))
}

/// The proposed fix: one long-lived thread per namespace, jobs over a channel.
struct Worker {
    tx: mpsc::Sender<Job>,
}

impl Worker {
    fn new(ns: &Path) -> io::Result<Worker> {
        let f = File::open(ns)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("nsb-worker".into())
            .spawn(move || {
                let _ = ready_tx.send(setns(&f));
                while let Ok(job) = rx.recv() {
                    job();
                }
            })?;
        ready_rx
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("worker died")))?;
        Ok(Worker { tx })
    }

    async fn run(&self, op: fn() -> io::Result<()>) -> io::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Box::new(move || {
                let _ = tx.send(op());
            }))
            .map_err(|_| io::Error::other("worker gone"))?;
        rx.await
            .unwrap_or_else(|_| Err(io::Error::other("worker died")))
    }
}

pub async fn run(ns: &Path, m: usize, report: &mut Report) -> Result<(), String> {
    let err = |e: io::Error| format!("namespace switch bench: {e}");
    let worker = Worker::new(ns).map_err(err)?;
    for (name, op) in [
        ("netlink socket", netlink_socket as fn() -> io::Result<()>),
        ("sysctl read", read_sysctl),
    ] {
        let mut a = Vec::with_capacity(m);
        let mut b = Vec::with_capacity(m);
        for _ in 0..m {
            let t = Instant::now();
            per_call_thread(ns, op).await.map_err(err)?;
            a.push(t.elapsed());
            let t = Instant::now();
            worker.run(op).await.map_err(err)?;
            b.push(t.elapsed());
        }
        let id = name.replace(' ', "-");
        report.push(Figure::from_durations(
            &format!("NS.thread.{id}"),
            &format!("{name} in a namespace via a new thread + setns per call (backend today)"),
            &a,
        ));
        report.push(Figure::from_durations(
            &format!("NS.worker.{id}"),
            &format!("{name} in a namespace via a persistent per-namespace thread (proposed)"),
            &b,
        ));
    }
    Ok(())
}
