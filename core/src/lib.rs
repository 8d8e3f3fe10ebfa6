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

#[cfg(any(test, feature = "mock"))]
pub use backend::MockNetBackend;
pub use backend::{LinkEvents, NetBackend, VethPair, VethRequest};
pub use backend_error::{BackendError, Op};
pub use errno::Errno;
pub use types::*;

pub mod naming;
mod spec;
mod validate;

pub use spec::{
    Destination, Source, Spec, DEFAULT_ANNOUNCE_COUNT, DEFAULT_ANNOUNCE_INTERVAL,
    MAX_ANNOUNCE_COUNT, MAX_ANNOUNCE_INTERVAL, MIN_ANNOUNCE_INTERVAL,
};
pub use validate::{
    check_ifname, is_unspecified_route, validate, AnnounceSettings, FieldError, InvalidSpec,
    SysctlSetting, ValidSpec,
};
