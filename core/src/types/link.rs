//! What a backend reports about a link.

use super::{LinkStats, MacAddr, NetnsRef, PortFlags};

/// Interface index, unique within one namespace.
pub type IfIndex = u32;

/// The kinds of link nsplumb distinguishes; anything else is reported by its kernel kind string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    Loopback,
    Veth,
    Bridge,
    Dummy,
    Other(String),
}

impl LinkKind {
    pub fn as_str(&self) -> &str {
        match self {
            LinkKind::Loopback => "loopback",
            LinkKind::Veth => "veth",
            LinkKind::Bridge => "bridge",
            LinkKind::Dummy => "dummy",
            LinkKind::Other(s) => s,
        }
    }
}

/// Bridge port state as in `IFLA_BRPORT_STATE` (values are the kernel's `BR_STATE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    Disabled = 0,
    Listening = 1,
    Learning = 2,
    Forwarding = 3,
    Blocking = 4,
}

impl PortState {
    pub fn from_kernel(v: u8) -> Option<PortState> {
        Some(match v {
            0 => PortState::Disabled,
            1 => PortState::Listening,
            2 => PortState::Learning,
            3 => PortState::Forwarding,
            4 => PortState::Blocking,
            _ => return None,
        })
    }
}

/// Bridge-only attributes (from the bridge's `IFLA_LINKINFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct BridgeInfo {
    /// `IFLA_BR_STP_STATE != 0`.
    pub stp_enabled: bool,
    /// `IFLA_BR_FORWARD_DELAY`, in centiseconds as the kernel reports it.
    pub forward_delay_cs: u32,
    /// `IFLA_BR_VLAN_FILTERING`; `None` when the kernel does not report it (built without
    /// `CONFIG_BRIDGE_VLAN_FILTERING`).
    pub vlan_filtering: Option<bool>,
}

/// Where the other end of a veth lives, as far as the backend can tell.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct PeerRef {
    /// The peer's namespace when the backend knows it; `None` when the kernel only gave a
    /// namespace id that could not be mapped.
    pub netns: Option<NetnsRef>,
    pub index: IfIndex,
}

/// Administrative and operational state bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct LinkFlags {
    /// `IFF_UP`: administratively up.
    pub up: bool,
    /// `IFF_LOWER_UP`: carrier.
    pub lower_up: bool,
    /// `IFF_RUNNING`.
    pub running: bool,
}

/// One link as read from a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct LinkInfo {
    pub index: IfIndex,
    pub name: String,
    pub kind: LinkKind,
    pub flags: LinkFlags,
    pub mac: Option<MacAddr>,
    pub mtu: u32,
    /// Index of the master (bridge) in the same namespace.
    pub master: Option<IfIndex>,
    pub peer: Option<PeerRef>,
    /// Set when this link is a bridge.
    pub bridge: Option<BridgeInfo>,
    /// Set when this link is a bridge port.
    pub port_state: Option<PortState>,
    /// Set exactly when this link is a bridge port (SPEC L2, L4, L6).
    pub port_flags: Option<PortFlags>,
    /// `net.ipv6.conf.NAME.disable_ipv6` as the link message carries it (`IFLA_AF_SPEC`), so
    /// SPEC A6 needs no read of its own; `None` when the backend cannot tell (IPv6 off in the
    /// kernel, or not reported).
    pub ipv6_disabled: Option<bool>,
    /// The 64-bit counters (SPEC T1), read with the link so that listing and statistics need
    /// no request per link; `None` when the kernel sent none. Boxed: every link read and link
    /// event carries a `LinkInfo`, and the driver moves it several times per request (P5).
    pub stats: Option<Box<LinkStats>>,
}

/// A change seen on a link-event subscription.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum LinkEvent {
    /// `RTM_NEWLINK`: the link was created or changed; the full new state.
    Changed(LinkInfo),
    /// `RTM_DELLINK`.
    Removed { index: IfIndex, name: String },
    /// Events were dropped (the kernel's queue for this subscription overflowed, ENOBUFS):
    /// whoever waits on one should read the link again.
    Lost,
}

impl LinkEvent {
    /// The link the event is about; `None` for [`LinkEvent::Lost`].
    pub fn index(&self) -> Option<IfIndex> {
        match self {
            LinkEvent::Changed(l) => Some(l.index),
            LinkEvent::Removed { index, .. } => Some(*index),
            LinkEvent::Lost => None,
        }
    }
}
