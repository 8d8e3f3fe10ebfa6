//! nsplumb-host: what nsplumb keeps on a host between processes, and the attach and detach
//! flows that every front end (the CLI, the TUI, the CNI plugin) calls.
//!
//! The core's [`Plumber`](nsplumb_core::Plumber) attaches and detaches within one process.
//! Front ends are many short processes (a CLI call, a CNI ADD) and one long one (the TUI), all
//! acting on one host, so this crate keeps, per namespace, a state file of records (the core's
//! own `Attached`, `Spec` and `RouteSpec`, with the phase, the acting and announcing processes),
//! locked while a process acts, and makes a process that dies at any moment leave nothing a
//! later one cannot reconcile (SPEC R1).
//!
//! - flows: [`attach`], [`detach`], [`forget`], [`set_gateway`], [`refresh`],
//!   [`create_netns`], [`delete_netns`], [`record_announcer`], [`clear_announcer`];
//!   a veth host end's name: [`veth_host_name`];
//! - where records live: [`Store`], [`paths`]; their format: [`state_file`], [`record`];
//! - crash safety: [`reconcile`], [`abort_point`]; the simulator's kernel: [`journal`];
//! - announcers and their cancellation: [`announcer`], [`cancel`], [`process`].

pub mod abort_point;
pub mod announcer;
mod attach;
pub mod cancel;
mod detach;
mod error;
mod gateway;
mod host_name;
pub mod journal;
pub mod lock;
mod netns;
pub mod paths;
pub mod process;
pub mod reconcile;
pub mod record;
mod refresh;
mod session;
pub mod state_file;
mod store;

pub use announcer::{clear_announcer, record_announcer, AnnouncerProcess};
pub use attach::{attach, check_attach, AnnouncedBy, Announcing, AttachOutcome, AttachRequest};
pub use detach::{detach, forget};
pub use error::HostError;
pub use gateway::set_gateway;
pub use host_name::veth_host_name;
pub use netns::{create_netns, delete_netns};
pub use process::ProcessRef;
pub use record::{IfaceRecord, IntentRecord, Owner, RecordPhase};
pub use refresh::refresh;
pub use store::Store;

/// The backend the host layer needs: the core's kernel operations plus namespace
/// administration (create, delete, and the cookie that tells a re-created namespace from the
/// old one). Every bound in this crate is this one.
pub trait HostBackend: nsplumb_core::NetBackend + nsplumb_core::NetnsAdmin {}

impl<B: nsplumb_core::NetBackend + nsplumb_core::NetnsAdmin> HostBackend for B {}
