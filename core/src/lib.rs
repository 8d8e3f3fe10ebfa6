//! nsplumb-core: the logic of plumbing interfaces into network namespaces, without I/O.
//!
//! The state machines here (attach, detach, announce) never touch a socket or a clock: they take
//! inputs stamped with `now`, hand out [`Command`]s for a backend to run, report [`Event`]s and
//! tell the caller their next deadline. [`Plumber`] is the small async driver that runs them
//! against any [`NetBackend`].
//!
//! Every kernel operation is one [`Request`]; a backend runs it in [`NetBackend::execute`].
//! [`BackendExt`] gives typed calls over any backend, [`NetnsAdmin`] the namespace
//! administration the core itself never needs.

mod backend;
mod backend_error;
mod backend_ext;
mod errno;
mod netns_admin;
mod request;
pub mod types;

pub use backend::{LinkEvents, NetBackend};
pub use backend_error::BackendError;
pub use backend_ext::BackendExt;
pub use errno::Errno;
pub use netns_admin::NetnsAdmin;
pub use request::{Op, Request, VethPair, VethRequest};
pub use types::*;

pub mod naming;
mod spec;
mod validate;

pub use spec::{
    Destination, Source, Spec, DEFAULT_ANNOUNCE_COUNT, DEFAULT_ANNOUNCE_INTERVAL,
    DEFAULT_DAD_TIMEOUT, MAX_ANNOUNCE_COUNT, MAX_ANNOUNCE_INTERVAL, MAX_DAD_TIMEOUT, MAX_MTU,
    MAX_VLAN, MIN_ANNOUNCE_INTERVAL, MIN_DAD_TIMEOUT, MIN_IPV6_MTU, MIN_MTU, MIN_VLAN,
};
pub use validate::{
    check_ifname, is_unspecified_route, needs_a_veth_on_a_bridge, validate, AnnounceSettings,
    FieldError, InvalidSpec, PortOptions, SysctlSetting, ValidSpec, VlanPlan, DEFAULT_VLAN,
};

mod announce;
mod attach;
mod attached;
mod command;
mod error;
mod event;
mod undo;

pub use announce::{AnnounceTarget, Announcer};
pub use attach::{
    Attach, AttachPlan, MasterRef, BRIDGE_PORT_WAIT, DAD_POLL, LINK_UP_RETRIES,
    LINK_UP_RETRY_DELAY, LINK_UP_WAIT, MCAST_ROUTE_POLL, MCAST_ROUTE_WAIT,
};
pub use attached::{Attached, Origin};
pub use command::{Command, Input, Reply, SubscriptionId};
pub use error::{AttachError, DetachError, RouteError, StepError};
pub use event::{Event, EventKind, Phase, StopReason};

mod detach;
mod machine;
mod plumber;
mod registry;
mod route_via;

pub use detach::{Detach, DetachPlan};
pub use machine::Machine;
pub use plumber::{BridgePlan, BridgeSetup, LinkView, Plumber, Reservation, Spawner};
pub use registry::{IfaceState, Interface, Registry};
pub use route_via::RouteVia;

#[cfg(test)]
mod testutil;
