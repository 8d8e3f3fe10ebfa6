//! nsplumb-cni: nsplumb as a CNI plugin, a drop-in for the reference `bridge` plugin
//! (SPEC C1–C11).
//!
//! A runtime runs the binary once per operation with the `CNI_*` environment and the network
//! configuration on stdin. This crate reads and checks both ([`env`], [`config`],
//! [`request`]), delegates addresses to the IPAM plugin ([`ipam`]), masquerades with nftables
//! ([`masquerade`]) and writes results and errors in the call's protocol version ([`result`],
//! [`error`], [`version`]). The kernel work of each verb is behind the [`Dataplane`] trait,
//! done by [`kernel`] on the real kernel; [`plugin::run`] is one whole call.

pub mod addressing;
pub mod bounded;
pub mod child;
pub mod cni_args;
pub mod config;
pub mod dataplane;
pub mod entry;
pub mod env;
pub mod error;
pub mod ipam;
pub mod kernel;
pub mod mac;
pub mod masquerade;
pub mod plugin;
pub mod request;
pub mod result;
pub mod verb;
pub mod verbs;
pub mod version;

#[cfg(test)]
mod testutil;

pub use addressing::{Addressing, AssignedIp};
pub use config::{IpamConfig, NetworkConfig};
pub use dataplane::{
    AttachOutcome, AttachRequest, CheckRequest, Dataplane, DetachRequest, GcOutcome, GcRequest,
    LinkReport, StatusRequest,
};
pub use env::{Attachment, EnvSource, Environment, ProcessEnv};
pub use error::{CniError, ErrorCode};
pub use kernel::KernelDataplane;
pub use request::Request;
pub use verb::Verb;
pub use verbs::Tools;

/// The protocol's result types (the 1.1.0 model every version is rendered from).
pub use rscni_types::types::{CNIResult, Dns, Interface, IpConfig, Route};
pub use rscni_types::version::SpecVersion;
