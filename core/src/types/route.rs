//! Routes: what nsplumb adds and what it reads back.

use super::IfIndex;
use ipnet::IpNet;
use std::net::IpAddr;

/// `RT_SCOPE_*` values nsplumb uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteScope {
    Universe,
    Link,
    Host,
}

/// A route to add or delete (main table).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    #[serde(
        serialize_with = "crate::types::serde_display",
        deserialize_with = "crate::types::serde_fromstr"
    )]
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    pub oif: IfIndex,
    pub scope: RouteScope,
}

/// A route read from the main table, or the answer of a route query (`ip route get`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct RouteInfo {
    #[serde(serialize_with = "crate::types::serde_display")]
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    pub oif: Option<IfIndex>,
    pub scope: RouteScope,
}

impl std::fmt::Display for RouteInfo {
    /// Shaped like `ip route`: `192.0.2.0/24 dev 4 scope link`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.dst)?;
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(oif) = self.oif {
            write!(f, " dev {oif}")?;
        }
        if self.scope == RouteScope::Link {
            f.write_str(" scope link")?;
        }
        Ok(())
    }
}

/// Address family selector for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(net: &IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }
}
