//! Addresses as configured on and reported by a link.

use super::IfIndex;
use ipnet::IpNet;

/// `IFA_F_*` bits nsplumb cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct AddrFlags {
    /// `IFA_F_NODAD`: no duplicate address detection (SPEC A4).
    pub nodad: bool,
    /// `IFA_F_TENTATIVE`: DAD still running; the address cannot be used as a source yet.
    pub tentative: bool,
    /// `IFA_F_PERMANENT`: configured, not autoconfigured.
    pub permanent: bool,
    /// `IFA_F_DADFAILED`: another host on the link holds the address (SPEC L5).
    pub dadfailed: bool,
}

/// One address on one link.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct AddrInfo {
    pub index: IfIndex,
    #[serde(serialize_with = "crate::types::serde_display")]
    pub net: IpNet,
    pub flags: AddrFlags,
}
