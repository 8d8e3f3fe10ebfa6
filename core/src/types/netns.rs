//! Naming network namespaces.

use std::fmt;
use std::sync::Arc;

/// Which network namespace an operation acts in.
///
/// `Host` is the namespace nsplumb itself runs in (moby's "default" namespace: names are kept
/// and nothing moves). `Path` is a bind-mounted or procfs namespace file such as
/// `/run/netns/ctr1` or `/proc/1234/ns/net`; backends resolve it, the core only compares it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetnsRef {
    Host,
    /// Shared, so that the copy every command and event carries is a reference count.
    Path(Arc<str>),
}

impl NetnsRef {
    /// `NAME` → `/run/netns/NAME`; anything containing `/` is taken as a path.
    pub fn from_name_or_path(s: &str) -> NetnsRef {
        if s == "host" || s.is_empty() {
            NetnsRef::Host
        } else if s.contains('/') {
            NetnsRef::Path(s.into())
        } else {
            NetnsRef::Path(format!("/run/netns/{s}").into())
        }
    }

    /// A namespace file by its path.
    pub fn path(p: impl Into<Arc<str>>) -> NetnsRef {
        NetnsRef::Path(p.into())
    }

    pub fn is_host(&self) -> bool {
        matches!(self, NetnsRef::Host)
    }

    /// Short name for display: `ctr1` for `/run/netns/ctr1`, the path otherwise.
    pub fn short_name(&self) -> &str {
        match self {
            NetnsRef::Host => "host",
            NetnsRef::Path(p) => p.strip_prefix("/run/netns/").unwrap_or(p),
        }
    }
}

impl fmt::Display for NetnsRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetnsRef::Host => f.write_str("host"),
            NetnsRef::Path(p) => f.write_str(p),
        }
    }
}

impl fmt::Debug for NetnsRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for NetnsRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The text form written by `Display`: `host`, or the namespace file's path.
impl<'de> serde::Deserialize<'de> for NetnsRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        match &*s {
            "host" => Ok(NetnsRef::Host),
            "" => Err(serde::de::Error::custom("an empty namespace path")),
            p if p.contains('\0') => Err(serde::de::Error::custom(format!(
                "namespace path {p:?} contains a NUL byte"
            ))),
            p => Ok(NetnsRef::Path(p.into())),
        }
    }
}
