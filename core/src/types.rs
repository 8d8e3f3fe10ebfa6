//! Plain data shared by the core, the backends and the front ends.

mod addr;
mod link;
mod mac;
mod netns;
mod route;
mod stats;
mod time;

pub use addr::{AddrFlags, AddrInfo};
pub use link::{BridgeInfo, IfIndex, LinkEvent, LinkFlags, LinkInfo, LinkKind, PeerRef, PortState};
pub use mac::{MacAddr, MacParseError};
pub use netns::NetnsRef;
pub use route::{Family, RouteInfo, RouteScope, RouteSpec};
pub use stats::LinkStats;
pub use time::Timestamp;

pub(crate) fn serde_display<T: std::fmt::Display, S: serde::Serializer>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}
