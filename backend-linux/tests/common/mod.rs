//! Shared helpers of the kernel tests: privilege, throwaway namespaces, frame capture.
//!
//! Privilege: as root the tests run directly. Otherwise the test re-executes itself inside
//! `unshare -rnm` (user + network + mount namespaces) with a tmpfs as `NSPLUMB_NETNS_DIR`.
//! When neither works the test FAILS under `CI=true` and prints a loud SKIP line otherwise.

#![allow(dead_code)]

use nix::sched::{setns, CloneFlags};
use nsplumb_core::{NetBackend, NetnsRef};
use nsplumb_linux::LinuxBackend;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

const INNER: &str = "NSPLUMB_TEST_UNSHARED";

/// Whether the calling test should run its body in this process. `false` means it already ran
/// (and passed) in a re-executed child, or was skipped outside CI.
pub fn enter(test_name: &str) -> bool {
    if nix::unistd::geteuid().is_root() || std::env::var_os(INNER).is_some() {
        return true;
    }
    let can_unshare = Command::new("unshare")
        .args(["-rnm", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !can_unshare {
        let msg = format!(
            "SKIP {test_name}: needs root or unprivileged user namespaces (unshare -rnm) \
             to create network namespaces"
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}; CI=true, so this is a failure");
        }
        eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
        return false;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir =
        std::env::temp_dir().join(format!("nsplumb-netns-{}-{test_name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp netns dir");
    let status = Command::new("unshare")
        .args(["-rnm", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs nsplumb "$NSPLUMB_NETNS_DIR" && exec "$@""#)
        .arg("sh")
        .arg(&exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .env("NSPLUMB_NETNS_DIR", &dir)
        .status()
        .expect("run the test inside unshare -rnm");
    let _ = std::fs::remove_dir(&dir);
    assert!(status.success(), "{test_name} failed inside unshare -rnm");
    false
}

/// Namespaces created for one test; deleted on drop, also when the test fails.
pub struct Fixture {
    pub backend: LinuxBackend,
    pub tag: String,
    created: Vec<NetnsRef>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let tag = format!("nspl-t{:06x}", rand::random::<u32>() & 0xff_ffff);
        Fixture {
            backend: LinuxBackend::new().expect("backend"),
            tag,
            created: Vec::new(),
        }
    }

    /// A fresh namespace named `nspl-tXXXXXX-NAME`.
    pub async fn netns(&mut self, name: &str) -> NetnsRef {
        let ns = self
            .backend
            .create_netns(&format!("{}-{name}", self.tag))
            .await
            .expect("create namespace");
        self.created.push(ns.clone());
        ns
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for ns in &self.created {
            self.backend.forget_netns(ns);
            if let NetnsRef::Path(p) = ns {
                let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

fn in_ns<T: Send + 'static>(ns: &NetnsRef, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = match ns {
        NetnsRef::Path(p) => p.clone(),
        NetnsRef::Host => "/proc/self/ns/net".into(),
    };
    std::thread::spawn(move || {
        let file = File::open(&path).expect("open namespace");
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("namespace thread")
}

/// Run a command inside `ns` (e.g. `ip link set br0 type bridge stp_state 1`).
pub fn run_in(ns: &NetnsRef, args: &[&str]) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = in_ns(ns, move || {
        Command::new(&args[0])
            .args(&args[1..])
            .output()
            .expect("run command")
    });
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An `AF_PACKET`/`ETH_P_ALL` capture socket bound to `ifindex` inside `ns`.
pub struct Capture(OwnedFd);

impl Capture {
    pub fn open(ns: &NetnsRef, ifindex: u32) -> Capture {
        let fd = in_ns(ns, move || {
            let proto = (libc::ETH_P_ALL as u16).to_be();
            // SAFETY: plain socket(2) call.
            let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
            assert!(
                fd >= 0,
                "capture socket: {}",
                std::io::Error::last_os_error()
            );
            // SAFETY: fd was just created and is owned here.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: sockaddr_ll is plain old data.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = proto;
            sll.sll_ifindex = ifindex as i32;
            // SAFETY: valid pointer/length pair.
            let rc = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            assert_eq!(rc, 0, "bind capture: {}", std::io::Error::last_os_error());
            fd
        });
        Capture(fd)
    }

    /// Frames received (not sent) on the interface until `pred` accepts one or `timeout`.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            let mut pfd = libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 50) };
            if pfd.revents & libc::POLLIN == 0 {
                continue;
            }
            // SAFETY: sockaddr_ll is plain old data.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: valid buffers.
            let n = unsafe {
                libc::recvfrom(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n <= 0 || from.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let frame = &buf[..n as usize];
            if pred(frame) {
                return Some(frame.to_vec());
            }
        }
        None
    }
}
