//! Namespace files, and THE RULE: anything that must live in a namespace (netlink sockets, raw
//! sockets, `/proc/sys` files) is opened on a short-lived std thread that has `setns`-ed into
//! it, or on the calling thread when that is already there. Tokio workers never change
//! namespace.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The identity of a namespace: (device, inode) of its nsfs file. Two paths to one namespace
/// (a bind mount and `/proc/PID/ns/net`) give the same key.
pub(crate) type NsKey = (u64, u64);

/// An open namespace file and its key. Keeping it open keeps the namespace alive.
#[derive(Debug, Clone)]
pub(crate) struct NsFile {
    pub fd: Arc<OwnedFd>,
    pub key: NsKey,
}

impl NsFile {
    pub fn open(path: &Path) -> io::Result<NsFile> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        Ok(NsFile {
            key: (meta.dev(), meta.ino()),
            fd: Arc::new(OwnedFd::from(file)),
        })
    }
}

/// Stack of a namespace thread. What runs there is small: `setns`, `socket()` and a few
/// `setsockopt`s, or open and read/write of one `/proc/sys` file. The default 2 MiB stack made
/// every exiting thread `madvise(MADV_DONTNEED)` its unused part, 1.7–2.5 ms under load.
pub(crate) const NETNS_THREAD_STACK: usize = 128 * 1024;

/// How many namespace threads [`in_netns`] has started in this process (tests assert on deltas).
pub(crate) static HOPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether the calling thread is in the namespace `key`.
pub(crate) fn thread_is_in(key: NsKey) -> bool {
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| (m.dev(), m.ino()) == key)
        .unwrap_or(false)
}

/// Run `f` in the namespace `ns`, and hand the result back: right here when the calling
/// thread is already there (the host namespace, usually: what `f` opens is the same, and a
/// thread costs a clone, its start and its exit), else on a fresh std thread that has joined
/// it. `f` must be short and not block (socket set-up, one `/proc/sys` file).
pub(crate) async fn in_netns<T, F>(ns: &NsFile, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let key = ns.key;
    if thread_is_in(key) {
        return f();
    }
    let fd = ns.fd.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    HOPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::thread::Builder::new()
        .name("nsplumb-netns".into())
        .stack_size(NETNS_THREAD_STACK)
        .spawn(move || {
            // A thread starts in its creator's namespace: checked again, since `setns` needs
            // CAP_SYS_ADMIN even to re-enter one's own namespace.
            let res = if thread_is_in(key) {
                Ok(())
            } else {
                setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
            }
            .and_then(|()| f());
            let _ = tx.send(res);
        })?;
    rx.await
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread died")))
}

/// The cookie of the namespace the calling thread is in (`SO_NETNS_COOKIE` of a socket made
/// here; Linux ≥ 5.14): unlike the nsfs inode, never given to another namespace.
pub(crate) fn cookie_here() -> io::Result<u64> {
    let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::DGRAM, None)?;
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: a valid socket, and an out-buffer of the size passed.
    let r = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cookie)
}

/// The directory named namespaces live in: `$NSPLUMB_NETNS_DIR` or `/run/netns`.
pub(crate) fn netns_dir() -> PathBuf {
    std::env::var_os("NSPLUMB_NETNS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/netns"))
}

/// Make `dir` exist and be a shared mount point, the way iproute2 prepares `/run/netns`
/// (so namespaces bind-mounted there propagate to other mount namespaces).
fn prepare_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut bound = false;
    loop {
        match mount(
            None::<&str>,
            dir,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            Err(nix::Error::EINVAL) if !bound => {
                // Not a mount point yet: bind it onto itself, then retry.
                mount(
                    Some(dir),
                    dir,
                    Some("none"),
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )?;
                bound = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// `ip netns add NAME`, blocking: run it on a thread of its own.
pub(crate) fn create_named(dir: &Path, name: &str) -> io::Result<PathBuf> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." || name.contains('\0') {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    prepare_dir(dir)?;
    let path = dir.join(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let target = path.clone();
    let res = std::thread::Builder::new()
        .name("nsplumb-unshare".into())
        .spawn(move || -> io::Result<()> {
            unshare(CloneFlags::CLONE_NEWNET)?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                Some("none"),
                MsFlags::MS_BIND,
                None::<&str>,
            )?;
            Ok(())
        })?
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("unshare thread panicked")));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

/// `ip netns del`: lazy unmount, then remove the file.
pub(crate) fn delete_path(path: &Path) -> io::Result<()> {
    umount2(path, MntFlags::MNT_DETACH)?;
    std::fs::remove_file(path)
}
