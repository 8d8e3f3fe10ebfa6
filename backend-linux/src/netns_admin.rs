//! Named namespaces ([`nsplumb_core::NetnsAdmin`]): create, delete, list, cookie.

use crate::netns::{self, NsFile};
use crate::{io_errno, LinuxBackend};
use nsplumb_core::{BackendError, Errno, NetnsRef, Op};
use std::io;
use std::path::{Path, PathBuf};
use tracing::Instrument;

impl LinuxBackend {
    pub(crate) async fn create_named(&self, name: &str) -> Result<NetnsRef, BackendError> {
        let dir = self.inner.dir.clone();
        let span = tracing::debug_span!("create_netns", netns = name, dir = %dir.display());
        let owned = name.to_string();
        let res = tokio::task::spawn_blocking(move || netns::create_named(&dir, &owned))
            .instrument(span)
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        let path = self.inner.dir.join(name);
        let netns = NetnsRef::path(path.to_string_lossy().into_owned());
        match res {
            Ok(_) => {
                tracing::debug!(netns = %netns, "namespace created");
                let _ = self.inner.resolve(&netns);
                Ok(netns)
            }
            Err(e) => Err(BackendError::new(
                Op::CreateNetns,
                io_errno(&e),
                &netns,
                name,
            )),
        }
    }

    pub(crate) async fn delete_named(&self, netns: &NetnsRef) -> Result<(), BackendError> {
        let NetnsRef::Path(p) = netns else {
            return Err(
                BackendError::new(Op::DeleteNetns, Errno::EINVAL, netns, "host")
                    .with_detail("the host namespace cannot be deleted"),
            );
        };
        tracing::debug!(netns = %netns, "delete namespace");
        if let Ok(ns) = NsFile::open(Path::new(&**p)) {
            self.inner.forget(ns.key);
        }
        let path = PathBuf::from(&**p);
        tokio::task::spawn_blocking(move || netns::delete_path(&path))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
            .map_err(|e| BackendError::new(Op::DeleteNetns, io_errno(&e), netns, &**p))
    }

    pub(crate) async fn list_named(&self) -> Result<Vec<NetnsRef>, BackendError> {
        let mut out = vec![NetnsRef::Host];
        let entries = match std::fs::read_dir(&self.inner.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(BackendError::new(
                    Op::ListNetns,
                    io_errno(&e),
                    &NetnsRef::Host,
                    self.inner.dir.display().to_string(),
                ))
            }
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        out.extend(
            names
                .into_iter()
                .map(|p| NetnsRef::path(p.to_string_lossy().into_owned())),
        );
        Ok(out)
    }

    pub(crate) async fn cookie_of(&self, netns: &NetnsRef) -> Result<Option<u64>, BackendError> {
        let op = Op::NetnsCookie;
        let ns = self.ns(op, netns)?;
        self.inner
            .cookie(&ns)
            .instrument(tracing::debug_span!("netns_cookie", netns = %netns))
            .await
            .map(Some)
            .map_err(|e| BackendError::new(op, io_errno(&e), netns, netns.to_string()))
    }
}
