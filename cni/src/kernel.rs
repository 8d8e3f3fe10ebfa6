//! The binary's [`Dataplane`]: the real kernel through nsplumb's core ([`Plumber`] over the
//! Linux backend) and host-state layer (`nsplumb-host`: records, locks, crash reconcile,
//! announcer processes), the same code paths as the `nsplumb` CLI (SPEC C3–C9, R1).
//!
//! - ADD ([`add`]): the bridge made ready ([`Plumber::ensure_bridge`]), the veth attached by
//!   [`nsplumb_host::attach`] (records keyed by network, container ID and interface name), the
//!   routes via a next hop, the remaining announcements left to a detached process
//!   ([`announcer`]);
//! - DEL ([`del`]) and GC ([`gc`]): [`nsplumb_host::detach_owner`], in the namespace when it is
//!   there, by the records when it is not;
//! - CHECK ([`check`]), STATUS ([`status`]).
//!
//! One process per call: a current-thread runtime, built on the first verb that needs the
//! kernel (VERSION and every error found before never build it).

mod add;
pub mod announcer;
mod bridge_lock;
mod check;
mod del;
mod gc;
pub mod plan;
mod status;

use crate::dataplane::{
    AttachOutcome, AttachRequest, CheckRequest, Dataplane, DetachRequest, GcOutcome, GcRequest,
    StatusRequest,
};
use crate::error::{CniError, ErrorCode};
use nsplumb_core::{Plumber, Spawner};
use nsplumb_host::{paths, Store};
use nsplumb_linux::LinuxBackend;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// Where the records live when `NSPLUMB_STATE_DIR` does not say: the CLI's directory, on the
/// tmpfs that is cleared at boot with the links the records describe.
pub const DEFAULT_STATE_DIR: &str = "/run/nsplumb";

/// The kernel dataplane of one plugin process.
pub struct KernelDataplane {
    state_dir: PathBuf,
    world: OnceLock<Result<World, CniError>>,
    /// What this process's ADD did to the bridge, for the DEL that undoes the ADD when a step
    /// after the attach fails (SPEC C4): a bridge it created goes too.
    last_add: Mutex<Option<add::BridgeUndo>>,
}

/// What a verb that touches the kernel needs, built once per process.
pub(crate) struct World {
    runtime: tokio::runtime::Runtime,
    pub(crate) plumber: Plumber<LinuxBackend>,
    pub(crate) store: Store,
    pub(crate) state_dir: PathBuf,
}

impl World {
    fn new(state_dir: PathBuf) -> Result<World, CniError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| kernel_error(format!("cannot start the async runtime: {e}")))?;
        let backend = {
            let _in_runtime = runtime.enter();
            LinuxBackend::new()
                .map_err(|e| kernel_error(format!("cannot open the Linux backend: {e}")))?
        };
        Ok(World {
            runtime,
            plumber: Plumber::new(Arc::new(backend), no_background_work()),
            store: Store::Linux {
                dir: state_dir.clone(),
            },
            state_dir,
        })
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

/// This process does no work in the background: it exits once its verb is done. The
/// announcements after the first are a detached process's ([`announcer`]).
fn no_background_work() -> Spawner {
    Arc::new(|_work| {})
}

impl KernelDataplane {
    /// Records in `$NSPLUMB_STATE_DIR`, else [`DEFAULT_STATE_DIR`]. Nothing is opened yet.
    pub fn from_env() -> KernelDataplane {
        KernelDataplane::with_state_dir(paths::state_dir(DEFAULT_STATE_DIR))
    }

    pub fn with_state_dir(state_dir: PathBuf) -> KernelDataplane {
        KernelDataplane {
            state_dir,
            world: OnceLock::new(),
            last_add: Mutex::new(None),
        }
    }

    fn world(&self) -> Result<&World, CniError> {
        self.world
            .get_or_init(|| World::new(self.state_dir.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl Dataplane for KernelDataplane {
    fn attach(&self, request: &AttachRequest<'_>) -> Result<AttachOutcome, CniError> {
        let world = self.world()?;
        let (outcome, undo) = world.block_on(add::attach(world, request))?;
        *lock(&self.last_add) = Some(undo);
        Ok(outcome)
    }

    fn detach(&self, request: &DetachRequest<'_>) -> Result<(), CniError> {
        let world = self.world()?;
        let undo_add = lock(&self.last_add).take();
        world.block_on(async {
            del::detach(world, request).await?;
            match undo_add {
                Some(undo) => add::release_bridge(world, undo).await,
                None => Ok(()),
            }
        })
    }

    fn check(&self, request: &CheckRequest<'_>) -> Result<(), CniError> {
        let world = self.world()?;
        world.block_on(check::check(world, request))
    }

    fn status(&self, request: &StatusRequest<'_>) -> Result<(), CniError> {
        let world = self
            .world()
            .map_err(|e| CniError::new(ErrorCode::NOT_AVAILABLE, e.msg))?;
        world.block_on(status::status(world, request))
    }

    fn gc(&self, request: &GcRequest<'_>) -> Result<GcOutcome, CniError> {
        let world = self.world()?;
        world.block_on(gc::gc(world, request))
    }
}

/// A kernel step of a verb failed (code 103).
pub(crate) fn kernel_error(msg: impl Into<String>) -> CniError {
    CniError::new(ErrorCode::KERNEL_FAILED, msg)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
