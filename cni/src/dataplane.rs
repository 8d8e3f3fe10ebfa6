//! The seam between the CNI protocol and the kernel: what each verb asks of the links.
//!
//! Everything around it (environment, configuration, IPAM, masquerade, results) is this crate's;
//! the [`Dataplane`] does the bridge, the veth, addresses, routes, gateway addresses and
//! forwarding, L1–L5, the announcements and the records that let DEL and GC find a host end
//! (SPEC C3–C9, R1). The binary's is [`crate::kernel::KernelDataplane`].

use crate::addressing::Addressing;
use crate::config::NetworkConfig;
use crate::env::Attachment;
use crate::error::CniError;
use nsplumb_core::MacAddr;
use rscni_types::types::CNIResult;
use std::path::Path;

/// ADD's kernel part: the addresses are known (IPAM ran), nothing is on the links yet.
#[derive(Debug, Clone, Copy)]
pub struct AttachRequest<'a> {
    pub network: &'a str,
    pub attachment: &'a Attachment,
    /// `CNI_NETNS`: where the container end is born, named `attachment.ifname`.
    pub netns: &'a Path,
    pub config: &'a NetworkConfig,
    /// From `runtimeConfig.mac`, `args.cni.mac` or `CNI_ARGS` `MAC=` (SPEC C3).
    pub mac: Option<MacAddr>,
    pub addressing: &'a Addressing,
}

/// A link as the result reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkReport {
    pub name: String,
    pub mac: MacAddr,
    pub mtu: u32,
}

/// What ADD's kernel part made: the result's interfaces, in the bridge plugin's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachOutcome {
    pub bridge: LinkReport,
    pub host_end: LinkReport,
    /// The container end, inside `CNI_NETNS`.
    pub container: LinkReport,
    /// `isGateway` with a `vlan`: the `<bridge>.<vlan>` link that holds the gateway addresses.
    pub gateway_link: Option<LinkReport>,
}

/// DEL's kernel part (best effort, SPEC C6): `netns` is `None` when `CNI_NETNS` was empty.
#[derive(Debug, Clone, Copy)]
pub struct DetachRequest<'a> {
    pub network: &'a str,
    pub attachment: &'a Attachment,
    pub netns: Option<&'a Path>,
    pub config: &'a NetworkConfig,
}

/// CHECK's kernel part (SPEC C7): the links against the ADD's result and the configuration.
#[derive(Debug, Clone, Copy)]
pub struct CheckRequest<'a> {
    pub network: &'a str,
    pub attachment: &'a Attachment,
    pub netns: &'a Path,
    pub config: &'a NetworkConfig,
    pub mac: Option<MacAddr>,
    pub prev_result: &'a CNIResult,
}

/// STATUS's kernel part (SPEC C8): could an ADD succeed (the bridge exists or can be made)?
#[derive(Debug, Clone, Copy)]
pub struct StatusRequest<'a> {
    pub network: &'a str,
    pub config: &'a NetworkConfig,
}

/// GC's kernel part (SPEC C9): remove every attachment of `network` not in `valid`.
#[derive(Debug, Clone, Copy)]
pub struct GcRequest<'a> {
    pub network: &'a str,
    pub config: &'a NetworkConfig,
    pub valid: &'a [Attachment],
}

/// What GC removed: the caller releases their IPAM reservations (IPAM DEL for each). GC is
/// best effort: an attachment that could not be removed is in `errors`, the others go on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcOutcome {
    pub removed: Vec<Attachment>,
    pub errors: Vec<CniError>,
}

/// The kernel side of each verb. Implementations must leave nothing behind when they fail
/// (SPEC C4) and succeed when what DEL removes is already gone (C6).
pub trait Dataplane {
    fn attach(&self, request: &AttachRequest<'_>) -> Result<AttachOutcome, CniError>;
    fn detach(&self, request: &DetachRequest<'_>) -> Result<(), CniError>;
    fn check(&self, request: &CheckRequest<'_>) -> Result<(), CniError>;
    fn status(&self, request: &StatusRequest<'_>) -> Result<(), CniError>;
    fn gc(&self, request: &GcRequest<'_>) -> Result<GcOutcome, CniError>;
}
