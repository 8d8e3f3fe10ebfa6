//! Throwaway namespaces for one test, commands inside them, and a `Plumber` over the kernel.
//!
//! Use only inside [`crate::privilege::enter`]'s child: there `NetnsRef::Host` is the test's
//! private host namespace and every namespace lives on a private tmpfs.

use nix::sched::{setns, CloneFlags};
use nsplumb_core::{MacAddr, NetnsAdmin, NetnsRef, Plumber, Spawner, VethRequest};
use nsplumb_linux::LinuxBackend;
use std::fs::File;
use std::os::fd::AsFd;
use std::process::{Command, Output};
use std::sync::Arc;

/// Namespaces created for one test (`nspl-kXXXXXX-NAME`); deleted on drop, also when the test
/// fails (and the isolated child's mount namespace takes them along anyway).
pub struct Fixture {
    pub backend: LinuxBackend,
    pub tag: String,
    created: Vec<NetnsRef>,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        assert!(
            crate::privilege::is_isolated(),
            "kernel tests run inside privilege::enter's isolated child"
        );
        let tag = format!("nspl-k{:06x}", rand::random::<u32>() & 0xff_ffff);
        Fixture {
            backend: LinuxBackend::new().expect("backend"),
            tag,
            created: Vec::new(),
        }
    }

    /// A fresh namespace named `nspl-kXXXXXX-NAME`.
    pub async fn netns(&mut self, name: &str) -> NetnsRef {
        let ns = self
            .backend
            .create_netns(&format!("{}-{name}", self.tag))
            .await
            .expect("create namespace");
        self.created.push(ns.clone());
        ns
    }

    /// A `Plumber` over this fixture's backend, background work on the current tokio runtime.
    pub fn plumber(&self) -> Plumber<LinuxBackend> {
        Plumber::new(Arc::new(self.backend.clone()), tokio_spawner())
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for ns in &self.created {
            self.backend.forget_netns(ns);
            if let NetnsRef::Path(p) = ns {
                let _ = nix::mount::umount2(&**p, nix::mount::MntFlags::MNT_DETACH);
                let _ = std::fs::remove_file(&**p);
            }
        }
    }
}

/// `tokio::spawn` as a [`Spawner`] (SPEC S5 background announcements).
pub fn tokio_spawner() -> Spawner {
    Arc::new(|f| {
        tokio::spawn(f);
    })
}

/// Run `f` on a std thread that has joined `ns` (for sockets and commands of that namespace).
pub fn in_ns<T: Send + 'static>(ns: &NetnsRef, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = match ns {
        NetnsRef::Path(p) => p.to_string(),
        NetnsRef::Host => "/proc/self/ns/net".to_string(),
    };
    std::thread::spawn(move || {
        let file = File::open(&path).expect("open namespace");
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("namespace thread")
}

/// Run a command inside `ns` and return its output, whatever its status.
pub fn output_in(ns: &NetnsRef, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    in_ns(ns, move || {
        Command::new(&args[0])
            .args(&args[1..])
            .output()
            .expect("run command")
    })
}

/// Run a command inside `ns` (e.g. `ip link set br0 type bridge stp_state 1`); panics when it
/// fails. Returns its stdout.
pub fn run_in(ns: &NetnsRef, args: &[&str]) -> String {
    let out = output_in(ns, args);
    assert!(
        out.status.success(),
        "command {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A plain link named `name` in `ns` to move around: one end of a veth pair whose other end,
/// `NAME-p`, stays in `ns` (down). (This kernel has no `dummy` driver, so a veth it is.)
pub fn plain_link(ns: &NetnsRef, name: &str) {
    let peer = format!("{name}-p");
    run_in(
        ns,
        &[
            "ip", "link", "add", name, "type", "veth", "peer", "name", &peer,
        ],
    );
}

/// Everything the test can see: the private host and the given namespaces, as `host`, `ns0`,
/// `ns1`, … (see [`crate::state`]).
pub async fn state_of(
    backend: &LinuxBackend,
    namespaces: &[&NetnsRef],
    opts: &crate::state::Observe,
) -> crate::state::State {
    let names: Vec<String> = (0..namespaces.len()).map(|i| format!("ns{i}")).collect();
    let mut roles: Vec<(&str, &NetnsRef)> = vec![("host", &NetnsRef::Host)];
    for (n, ns) in names.iter().zip(namespaces) {
        roles.push((n.as_str(), ns));
    }
    crate::state::observe(backend, &roles, opts).await
}

/// A veth pair request: `host` end down and in no bridge, `peer` end in `peer_ns`.
pub fn veth_request(
    host: &str,
    peer_ns: &NetnsRef,
    peer: &str,
    peer_mac: Option<MacAddr>,
) -> VethRequest {
    VethRequest {
        host_name: host.into(),
        host_master: None,
        host_up: false,
        peer_netns: peer_ns.clone(),
        peer_name: peer.into(),
        peer_mac,
        mtu: None,
    }
}
