//! Sysctls: `/proc/sys` files opened in a namespace thread hop, except `disable_ipv6` of an
//! interface, read from its link message on the cached connection (SPEC A6).

use crate::netns::in_netns;
use crate::{io_errno, nl, LinuxBackend};
use nsplumb_core::{BackendError, Errno, NetnsRef, Op};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tracing::Instrument;

/// A sysctl path below `/proc/sys`, refused when it could leave it.
fn sysctl_path(path: &str) -> Option<PathBuf> {
    if path.is_empty()
        || path.starts_with('/')
        || path.contains('\0')
        || path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return None;
    }
    Some(Path::new("/proc/sys").join(path))
}

impl LinuxBackend {
    pub(crate) async fn read_sysctl(
        &self,
        netns: &NetnsRef,
        path: &str,
    ) -> Result<String, BackendError> {
        let op = Op::ReadSysctl;
        let ns = self.ns(op, netns)?;
        let Some(full) = sysctl_path(path) else {
            return Err(BackendError::new(op, Errno::EINVAL, netns, path)
                .with_detail("not a path below /proc/sys"));
        };
        let span = tracing::debug_span!("read_sysctl", path, netns = %netns);
        if let Some(iface) = nl::disable_ipv6_iface(path) {
            // SPEC A6 reads this on every attach: ask the cached rtnetlink connection instead of
            // opening the file on a namespace thread. Any trouble: read the file.
            let via_netlink = self
                .inner
                .get_link_msg(&ns, None, Some(iface))
                .instrument(span.clone())
                .await;
            if let Ok(msg) = via_netlink {
                return match nl::disable_ipv6(&msg) {
                    Some(v) => Ok(v.to_string()),
                    None => Err(BackendError::new(op, Errno::ENOENT, netns, path)),
                };
            }
        }
        in_netns(&ns, move || std::fs::read_to_string(full))
            .instrument(span)
            .await
            .map(|s| s.trim().to_string())
            .map_err(|e| BackendError::new(op, io_errno(&e), netns, path))
    }

    pub(crate) async fn write_sysctl(
        &self,
        netns: &NetnsRef,
        path: &str,
        value: &str,
    ) -> Result<(), BackendError> {
        let op = Op::WriteSysctl;
        let ns = self.ns(op, netns)?;
        let Some(full) = sysctl_path(path) else {
            return Err(BackendError::new(op, Errno::EINVAL, netns, path)
                .with_detail("not a path below /proc/sys"));
        };
        let bytes = value.as_bytes().to_vec();
        in_netns(&ns, move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(full)?;
            let n = f.write(&bytes)?;
            if n != bytes.len() {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            Ok(())
        })
        .instrument(tracing::debug_span!("write_sysctl", path, value, netns = %netns))
        .await
        .map_err(|e| BackendError::new(op, io_errno(&e), netns, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_paths_stay_below_proc_sys() {
        assert_eq!(
            sysctl_path("net/ipv6/conf/eth0/disable_ipv6"),
            Some(PathBuf::from("/proc/sys/net/ipv6/conf/eth0/disable_ipv6"))
        );
        for bad in [
            "",
            "/etc/passwd",
            "net/../../etc",
            "net//x",
            "net/./x",
            "a\0b",
        ] {
            assert_eq!(sysctl_path(bad), None, "{bad:?}");
        }
    }
}
