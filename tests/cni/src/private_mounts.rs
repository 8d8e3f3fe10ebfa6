//! The private file system view of an isolated test (done by its PID 1, see [`crate::isolation`]):
//! everything a container runtime or a CNI plugin writes outside the test's work directory lands
//! on a tmpfs of the test's own mount namespace, so the machine's `/etc/cni`, `/var/lib/cni`,
//! containers storage, `/run/netns` and `/opt/cni` are never read for configuration nor written.
//!
//! * the work directory itself: a tmpfs (configs, rootfs, storage, IPAM data, logs);
//! * `/sys`: a fresh sysfs, so `/sys/class/net` shows the test's network namespace (the
//!   inherited one shows the machine's links), with the machine's `/sys/fs/cgroup` tree moved
//!   back on top (runc needs the cgroup hierarchies);
//! * `/run`: a tmpfs (netns mounts of `ip netns` and Podman, `/run/containers`, `/run/libpod`,
//!   runc's and containerd's state, shim sockets);
//! * `/dev/shm`: a tmpfs (Podman's lock manager creates `/dev/shm/libpod_lock` there);
//! * [`PRIVATE_DIRS`]: each an empty tmpfs. A directory the machine does not have is created
//!   on an overlay of its parent whose upper layer is in the work directory, so creating the
//!   mount point does not create it on the machine either.
//!
//! `/proc` is the PID namespace's own (`unshare --mount-proc`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use crate::error::{HarnessError, Result};

/// Directories runtimes and plugins use by default, made private and empty.
pub const PRIVATE_DIRS: &[&str] = &[
    "/etc/cni",
    "/var/lib/cni",
    "/var/lib/containers",
    "/var/lib/containerd",
    "/opt/cni",
];

/// Lay out the private mounts of this mount namespace. Only in an isolated test's PID 1.
pub fn set_up(work: &Path) -> Result<()> {
    mount_tmpfs(work, "work directory")?;
    remount_sysfs(work)?;
    mount_tmpfs(Path::new("/run"), "/run")?;
    // Podman's lock manager keeps its locks in /dev/shm/libpod_lock.
    mount_tmpfs_mode(Path::new("/dev/shm"), "/dev/shm", "mode=1777")?;
    for dir in ["/run/netns", "/run/lock"] {
        std::fs::create_dir_all(dir).map_err(HarnessError::io("create", dir))?;
    }
    let mut layout = Layout {
        work: work.to_path_buf(),
        overlaid: HashSet::new(),
    };
    for dir in PRIVATE_DIRS {
        layout.private_empty_dir(Path::new(dir))?;
    }
    for dir in ["/etc/cni/net.d", "/opt/cni/bin"] {
        std::fs::create_dir_all(dir).map_err(HarnessError::io("create", dir))?;
    }
    Ok(())
}

struct Layout {
    work: PathBuf,
    overlaid: HashSet<PathBuf>,
}

impl Layout {
    fn private_empty_dir(&mut self, dir: &Path) -> Result<()> {
        if !dir.exists() {
            let parent = dir.parent().ok_or_else(|| HarnessError::Invalid {
                what: format!("private directory {}", dir.display()),
                reason: "has no parent".into(),
            })?;
            if !parent.exists() {
                self.private_empty_dir(parent)?;
            } else if !self.overlaid.contains(parent) {
                self.overlay_in_place(parent)?;
            }
            std::fs::create_dir(dir).map_err(HarnessError::io("create mount point", dir))?;
        }
        mount_tmpfs(dir, &dir.display().to_string())
    }

    /// Mount an overlay on `dir` whose lower layer is `dir` itself: writes go to the work
    /// directory, reads see the machine's files.
    fn overlay_in_place(&mut self, dir: &Path) -> Result<()> {
        let name = dir.to_string_lossy().replace('/', "_");
        let upper = self.work.join(".overlay").join(&name).join("upper");
        let scratch = self.work.join(".overlay").join(&name).join("work");
        for d in [&upper, &scratch] {
            std::fs::create_dir_all(d).map_err(HarnessError::io("create overlay layer", d))?;
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            dir.display(),
            upper.display(),
            scratch.display()
        );
        mount(
            Some("nsplumb-cni"),
            dir,
            Some("overlay"),
            MsFlags::empty(),
            Some(options.as_str()),
        )
        .map_err(|source| HarnessError::Mount {
            what: format!("overlay ({options})"),
            target: dir.to_path_buf(),
            source,
        })?;
        self.overlaid.insert(dir.to_path_buf());
        Ok(())
    }
}

fn mount_tmpfs(target: &Path, what: &str) -> Result<()> {
    mount_tmpfs_mode(target, what, "mode=0755")
}

fn mount_tmpfs_mode(target: &Path, what: &str, mode: &str) -> Result<()> {
    mount(
        Some("nsplumb-cni"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(mode),
    )
    .map_err(|source| HarnessError::Mount {
        what: format!("tmpfs for {what}"),
        target: target.to_path_buf(),
        source,
    })
}

/// A sysfs of this network namespace on `/sys`, with the machine's cgroup mounts kept.
fn remount_sysfs(work: &Path) -> Result<()> {
    let cgroup = Path::new("/sys/fs/cgroup");
    let parked = work.join(".sys-fs-cgroup");
    std::fs::create_dir_all(&parked).map_err(HarnessError::io("create", &parked))?;
    let fail = |what: &str, target: &Path| {
        let what = what.to_string();
        let target = target.to_path_buf();
        move |source| HarnessError::Mount {
            what,
            target,
            source,
        }
    };
    mount(
        Some(cgroup),
        &parked,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(fail("bind of /sys/fs/cgroup", &parked))?;
    mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(fail("sysfs", Path::new("/sys")))?;
    mount(
        Some(&parked),
        cgroup,
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(fail("the parked cgroup tree (move)", cgroup))
}
