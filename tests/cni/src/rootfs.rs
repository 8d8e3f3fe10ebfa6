//! A container root file system without an image pull: Debian's static busybox and its applets,
//! enough for `podman run --rootfs` and `ctr run --rootfs` to ping, sleep and show addresses.

use std::path::{Path, PathBuf};

use crate::error::{HarnessError, Result};

/// Debian's busybox-static binary.
pub const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "ip", "ping", "sleep", "cat", "ls", "true", "echo", "arping", "ifconfig",
];

/// Build `<dir>` as a root file system; returns it.
pub fn busybox_rootfs(dir: &Path) -> Result<PathBuf> {
    if !Path::new(BUSYBOX).is_file() {
        return Err(HarnessError::Invalid {
            what: format!("busybox for the container rootfs ({BUSYBOX})"),
            reason: "missing: install busybox-static (.ci/install-deps)".into(),
        });
    }
    for sub in ["bin", "proc", "sys", "dev", "etc", "tmp", "run"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(HarnessError::io("create rootfs dir", &d))?;
    }
    let target = dir.join("bin/busybox");
    std::fs::copy(BUSYBOX, &target).map_err(HarnessError::io("copy busybox to", &target))?;
    for applet in APPLETS {
        let link = dir.join("bin").join(applet);
        std::os::unix::fs::symlink("busybox", &link)
            .map_err(HarnessError::io("link busybox applet", &link))?;
    }
    Ok(dir.to_path_buf())
}
