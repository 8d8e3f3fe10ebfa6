//! The outcome of a successful attach: what is now in the namespace.

use crate::types::{IfIndex, MacAddr, NetnsRef};
use crate::validate::AnnounceSettings;
use ipnet::{Ipv4Net, Ipv6Net};

/// How the link came to be in the namespace; decides what detach does (SPEC D1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Moved from the host; detach moves it back under its source name.
    MovedFromHost,
    /// Attached in the host namespace itself (N1): nothing moves.
    InHost,
    /// Already in the namespace; detach renames it back.
    CreatedInNamespace,
    /// Created by attach; detach deletes it.
    NewBridge,
    /// Created by attach with its host end `host_index` on a bridge; detach deletes the pair.
    NewVeth { host_index: IfIndex },
}

/// An attached interface as the caller sees it (SPEC A8: `ipv6` is `None` if it was dropped).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attached {
    pub netns: NetnsRef,
    pub name: String,
    pub source: String,
    pub ifindex: IfIndex,
    pub mac: Option<MacAddr>,
    #[serde(serialize_with = "opt_display")]
    pub ipv4: Option<Ipv4Net>,
    #[serde(serialize_with = "opt_display")]
    pub ipv6: Option<Ipv6Net>,
    /// A8: the requested IPv6 address, when it vanished after the sysctls and was dropped.
    #[serde(serialize_with = "opt_display")]
    pub ipv6_dropped: Option<Ipv6Net>,
    /// Destination name of the master bridge.
    pub master: Option<String>,
    pub origin: Origin,
    pub announce: AnnounceSettings,
    pub warnings: Vec<String>,
}

fn opt_display<T: std::fmt::Display, S: serde::Serializer>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}
