//! Plain data shared by the core, the backends and the front ends.

mod addr;
mod bridge_port;
mod link;
mod mac;
mod netns;
mod route;
mod stats;
mod time;

pub use addr::{AddrFlags, AddrInfo};
pub use bridge_port::{BridgeOptions, PortFlags, PortFlagsChange, PortVlans, VlanSpec};
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

/// The reverse of [`serde_display`]: parse the text form, naming what was wrong.
pub(crate) fn serde_fromstr<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
    D: serde::Deserializer<'de>,
{
    let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
    s.parse()
        .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
}

/// `Option<T>` in its text form (`null` or the `Display` string), both ways.
pub(crate) mod opt_text {
    pub fn serialize<T: std::fmt::Display, S: serde::Serializer>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
        D: serde::Deserializer<'de>,
    {
        let s = <Option<std::borrow::Cow<'de, str>> as serde::Deserialize>::deserialize(d)?;
        s.map(|s| {
            s.parse()
                .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
        })
        .transpose()
    }
}

/// A `Duration` as whole milliseconds, both ways.
pub(crate) mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        <u64 as serde::Deserialize>::deserialize(d).map(Duration::from_millis)
    }
}
