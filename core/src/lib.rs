//! nsplumb-core: the logic of plumbing interfaces into network namespaces, without I/O.
//!
//! The state machines here (attach, detach, announce) never touch a socket or a clock: they take
//! inputs stamped with `now`, hand out [`Command`]s for a backend to run, report [`Event`]s and
//! tell the caller their next deadline. [`Plumber`] is the small async driver that runs them
//! against any [`NetBackend`].

mod backend;
mod backend_error;
mod errno;
pub mod types;

pub use backend::{LinkEvents, NetBackend, VethPair, VethRequest};
#[cfg(any(test, feature = "mock"))]
pub use backend::MockNetBackend;
pub use backend_error::{BackendError, Op};
pub use errno::Errno;
pub use types::*;
