//! nsplumb: the command line and the terminal UI over `nsplumb-core`; what they keep between
//! processes, and the attach and detach flows, are `nsplumb-host`'s.

pub mod app;
pub mod cli;
pub mod commands;
pub mod output;
pub mod simworld;

use futures::future::BoxFuture;
use nsplumb_core::{NetnsRef, Spawner};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Background announcements run as tokio tasks.
pub fn tokio_spawner() -> Spawner {
    Arc::new(|f: BoxFuture<'static, ()>| {
        tokio::spawn(f);
    })
}

/// `NAME` → `DIR/NAME` (the backend's named-namespace directory), `host` → the host, a path
/// stays a path.
pub fn resolve_in(dir: &Path, s: &str) -> NetnsRef {
    if s == "host" || s.is_empty() {
        NetnsRef::Host
    } else if s.contains('/') {
        NetnsRef::path(s)
    } else {
        NetnsRef::path(PathBuf::from(dir).join(s).to_string_lossy().into_owned())
    }
}
