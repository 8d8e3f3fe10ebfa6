//! Links as the kernel keeps them: loopback, veth, bridge and dummy, with their flags, port
//! state and per-link sysctls.
//!
//! Linux 6.x, checked with `ip -d -j link`:
//! - `IFF_LOWER_UP`/`IFF_RUNNING` are reported only while the link is administratively up.
//! - veth: carrier when both ends are up (one end up alone: `NO-CARRIER`).
//! - bridge: its carrier bit starts on (an up bridge without ports shows `LOWER_UP`); it is
//!   recomputed whenever the port state selection runs (port added, removed, enabled, disabled,
//!   STP transition): on iff at least one port is forwarding. So a bridge whose last port was
//!   released stays `NO-CARRIER`.
//! - bridge MAC: random at creation, then the numerically lowest port MAC whenever ports change,
//!   `00:00:00:00:00:00` with no ports, unless the MAC was set explicitly (then it sticks).
//! - dummy and loopback: carrier always on.

use crate::addr::Addr;
use crate::namespace::NsId;
use crate::sysctl::Overrides;
use nsplumb_core::{Errno, IfIndex, LinkStats, MacAddr, PortState, Timestamp};
use std::collections::BTreeSet;

#[derive(Debug, Clone)]
pub(crate) struct BridgeState {
    pub(crate) stp: bool,
    pub(crate) forward_delay_cs: u32,
    pub(crate) ports: BTreeSet<IfIndex>,
    /// The bridge's own carrier bit (see the module doc).
    pub(crate) carrier: bool,
    /// The MAC was set by the user: no more recalculation from the ports.
    pub(crate) mac_set: bool,
    /// How many ports forward (the carrier rule without a scan).
    pub(crate) fwd_ports: u32,
    /// Multiset of port MACs (the bridge id rule without a scan).
    pub(crate) port_macs: std::collections::BTreeMap<MacAddr, u32>,
}

impl BridgeState {
    pub(crate) fn add_mac(&mut self, m: MacAddr) {
        *self.port_macs.entry(m).or_default() += 1;
    }

    pub(crate) fn remove_mac(&mut self, m: MacAddr) {
        if let Some(c) = self.port_macs.get_mut(&m) {
            *c -= 1;
            if *c == 0 {
                self.port_macs.remove(&m);
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Loopback,
    Veth { peer_ns: NsId, peer: IfIndex },
    Bridge(BridgeState),
    Dummy,
}

#[derive(Debug, Clone)]
pub(crate) struct Port {
    pub(crate) state: PortState,
    /// Next STP transition (listening → learning → forwarding), in virtual time.
    pub(crate) stp_deadline: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub(crate) struct Link {
    /// Unique over the kernel's lifetime (timers use it to detect staleness).
    pub(crate) uid: u64,
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) up: bool,
    pub(crate) mac: MacAddr,
    pub(crate) mtu: u32,
    pub(crate) master: Option<IfIndex>,
    pub(crate) port: Option<Port>,
    pub(crate) addrs: Vec<Addr>,
    /// addrconf's `IF_READY`: IPv6 configured on this link since it came up with carrier.
    pub(crate) v6_ready: bool,
    /// The `ff00::/8` multicast route (local table) exists. Linux 6.x (checked): added when the
    /// link becomes ready, or when an IPv6 address is added while the link is up (even without
    /// carrier); not by an address added while down; removed when the link goes down or IPv6
    /// is disabled; it stays when the address goes.
    pub(crate) v6_mroute: bool,
    pub(crate) sysctl: Overrides,
    /// IPv4 keys (bit = key index) written on this link itself, which `conf/default` writes no
    /// longer reach (the `in_device`'s `cnf.state`; cleared when the link changes namespace).
    pub(crate) conf4_written: u64,
    pub(crate) stats: LinkStats,
}

impl Link {
    pub(crate) fn kind(&self) -> nsplumb_core::LinkKind {
        use nsplumb_core::LinkKind;
        match self.kind {
            Kind::Loopback => LinkKind::Loopback,
            Kind::Veth { .. } => LinkKind::Veth,
            Kind::Bridge(_) => LinkKind::Bridge,
            Kind::Dummy => LinkKind::Dummy,
        }
    }

    pub(crate) fn bridge(&self) -> Option<&BridgeState> {
        match &self.kind {
            Kind::Bridge(b) => Some(b),
            _ => None,
        }
    }

    pub(crate) fn bridge_mut(&mut self) -> Option<&mut BridgeState> {
        match &mut self.kind {
            Kind::Bridge(b) => Some(b),
            _ => None,
        }
    }

    pub(crate) fn is_loopback(&self) -> bool {
        matches!(self.kind, Kind::Loopback)
    }
}

/// `dev_valid_name` plus the netlink attribute policy: longer than 15 bytes → ERANGE
/// (`IFLA_IFNAME` is `NLA_STRING` with len IFNAMSIZ-1; checked on the real kernel with a raw
/// RTM_SETLINK); empty, `.`, `..`, or containing `/`, `:` or whitespace → EINVAL.
pub(crate) fn check_name(name: &str) -> Result<(), Errno> {
    if name.len() > 15 {
        return Err(Errno::ERANGE);
    }
    if name.is_empty()
        || name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}
