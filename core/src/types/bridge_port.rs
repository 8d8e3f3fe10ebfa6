//! Bridge ports and VLANs: what SPEC L2–L4 set on a veth's host end, and what a link read
//! reports back.

use std::fmt;

/// A bridge port's flags as the kernel reports them (`IFLA_INFO_SLAVE_DATA`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct PortFlags {
    /// `IFLA_BRPORT_MODE`: frames may leave by the port they came in on (SPEC L2).
    pub hairpin: bool,
    /// `IFLA_BRPORT_ISOLATED`: no forwarding to other isolated ports (SPEC L4).
    pub isolated: bool,
}

/// The flags to change on a port; `None` leaves a flag as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PortFlagsChange {
    pub hairpin: Option<bool>,
    pub isolated: Option<bool>,
}

/// One VLAN ID, or a range of them, on a bridge port (`IFLA_BRIDGE_VLAN_INFO`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct VlanSpec {
    /// First VLAN ID, 1..=4094.
    pub first: u16,
    /// Last VLAN ID; equal to `first` for a single VLAN.
    pub last: u16,
    /// `BRIDGE_VLAN_INFO_PVID`: untagged frames entering the port get this VLAN.
    pub pvid: bool,
    /// `BRIDGE_VLAN_INFO_UNTAGGED`: frames of this VLAN leave the port untagged.
    pub untagged: bool,
}

impl VlanSpec {
    /// A single tagged VLAN.
    pub fn tagged(vid: u16) -> VlanSpec {
        VlanSpec {
            first: vid,
            last: vid,
            pvid: false,
            untagged: false,
        }
    }
}

impl fmt::Display for VlanSpec {
    /// `10`, `20-30`, with ` pvid` / ` untagged` as `bridge vlan` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first)?;
        if self.last != self.first {
            write!(f, "-{}", self.last)?;
        }
        if self.pvid {
            f.write_str(" pvid")?;
        }
        if self.untagged {
            f.write_str(" untagged")?;
        }
        Ok(())
    }
}

/// The VLAN table of one bridge port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PortVlans {
    pub index: super::IfIndex,
    pub vlans: Vec<VlanSpec>,
}

/// How to create a bridge (SPEC L1, L3; the CNI plugin's bridge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BridgeOptions {
    /// `IFLA_BR_VLAN_FILTERING` at creation.
    pub vlan_filtering: bool,
    pub mtu: Option<u32>,
}
