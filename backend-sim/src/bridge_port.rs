//! What a bridge keeps per port and per bridge for the link options (SPEC L1–L4): port flags,
//! VLAN tables, VLAN filtering and whether the user fixed the bridge's MTU.
//!
//! Linux 6.x (`net/bridge/br_vlan.c`, `br_netlink.c`; the tables' shape checked with
//! `bridge -j vlan show` on kernels built with `CONFIG_BRIDGE_VLAN_FILTERING`):
//! - with VLAN filtering built in, every new port gets the bridge's `default_pvid` (1) as PVID
//!   and egress-untagged (`nbp_vlan_init`), whether filtering is on or off; so does the bridge
//!   device itself;
//! - a port has at most one PVID: adding a VID with `pvid` moves it there, adding the PVID's
//!   VID again without `pvid` takes it away; `untagged` is set or cleared on every add;
//! - deleting a VID the port does not have is not an error (`br_vlan_info` ignores it);
//! - the dump (`RTEXT_FILTER_BRVLAN_COMPRESSED`) merges consecutive VIDs with the same flags
//!   into one range; the PVID stays on its own as no neighbour shares its flags.

use nsplumb_core::{PortFlags, VlanSpec};
use std::collections::BTreeMap;

/// The bridge's `default_pvid`.
pub(crate) const DEFAULT_PVID: u16 = 1;

/// One port's (or one bridge device's) VLAN table: VID → egress untagged, and the PVID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VlanTable {
    pub(crate) vids: BTreeMap<u16, bool>,
    pub(crate) pvid: Option<u16>,
}

impl VlanTable {
    /// The table a new port (or bridge) starts with: VID 1, PVID, untagged.
    pub(crate) fn default_pvid() -> VlanTable {
        let mut t = VlanTable::default();
        t.add(DEFAULT_PVID, true, true);
        t
    }

    /// `__vlan_add` / `__vlan_flags_update`: adds the VID or updates its flags.
    pub(crate) fn add(&mut self, vid: u16, pvid: bool, untagged: bool) {
        self.vids.insert(vid, untagged);
        if pvid {
            self.pvid = Some(vid);
        } else if self.pvid == Some(vid) {
            self.pvid = None;
        }
    }

    pub(crate) fn remove(&mut self, vid: u16) {
        self.vids.remove(&vid);
        if self.pvid == Some(vid) {
            self.pvid = None;
        }
    }

    /// Egress: `None` when the VID is not a member, else whether it leaves untagged.
    pub(crate) fn egress_untagged(&self, vid: u16) -> Option<bool> {
        self.vids.get(&vid).copied()
    }

    /// Ingress: the VID an untagged frame is classified into (the PVID), or a tagged frame's
    /// VID when it is a member; `None`: dropped.
    pub(crate) fn ingress(&self, tag: Option<u16>) -> Option<u16> {
        match tag {
            None => self.pvid,
            Some(v) => self.vids.contains_key(&v).then_some(v),
        }
    }

    /// As the compressed dump gives it: consecutive VIDs with equal flags as one range.
    pub(crate) fn compressed(&self) -> Vec<VlanSpec> {
        let mut out: Vec<VlanSpec> = Vec::new();
        for (&vid, &untagged) in &self.vids {
            let pvid = self.pvid == Some(vid);
            if let Some(last) = out.last_mut() {
                if last.last + 1 == vid && last.pvid == pvid && last.untagged == untagged {
                    last.last = vid;
                    continue;
                }
            }
            out.push(VlanSpec {
                first: vid,
                last: vid,
                pvid,
                untagged,
            });
        }
        out
    }
}

/// A bridge port's link options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PortOptions {
    pub(crate) hairpin: bool,
    pub(crate) isolated: bool,
    /// Empty on a kernel without `CONFIG_BRIDGE_VLAN_FILTERING` (no table at all).
    pub(crate) vlans: VlanTable,
}

impl PortOptions {
    /// A new port: flags off, and the default PVID when the kernel has VLAN filtering.
    pub(crate) fn new(vlan_filtering_supported: bool) -> PortOptions {
        PortOptions {
            vlans: if vlan_filtering_supported {
                VlanTable::default_pvid()
            } else {
                VlanTable::default()
            },
            ..PortOptions::default()
        }
    }

    pub(crate) fn flags(&self) -> PortFlags {
        PortFlags {
            hairpin: self.hairpin,
            isolated: self.isolated,
        }
    }
}

/// A bridge's link options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BridgeOptions {
    /// `BROPT_VLAN_ENABLED`.
    pub(crate) vlan_filtering: bool,
    /// `BROPT_MTU_SET_BY_USER`: set by an MTU change through `ndo_change_mtu` (not by
    /// `IFLA_MTU` at creation); from then on the MTU no longer follows the ports.
    pub(crate) mtu_set_by_user: bool,
    /// The bridge device's own VLAN table (`bridge vlan show` lists it with the ports).
    pub(crate) vlans: VlanTable,
}

impl BridgeOptions {
    pub(crate) fn new(vlan_filtering_supported: bool, vlan_filtering: bool) -> BridgeOptions {
        BridgeOptions {
            vlan_filtering,
            mtu_set_by_user: false,
            vlans: if vlan_filtering_supported {
                VlanTable::default_pvid()
            } else {
                VlanTable::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_merges_equal_neighbours_only() {
        let mut t = VlanTable::default_pvid();
        for v in 20..=30 {
            t.add(v, false, false);
        }
        t.add(31, false, true);
        t.add(2, false, false);
        let got: Vec<String> = t.compressed().iter().map(|v| v.to_string()).collect();
        assert_eq!(got, ["1 pvid untagged", "2", "20-30", "31 untagged"]);
    }

    #[test]
    fn pvid_moves_and_readding_without_pvid_clears_it() {
        let mut t = VlanTable::default_pvid();
        t.add(10, true, true);
        assert_eq!(t.pvid, Some(10));
        assert_eq!(t.egress_untagged(1), Some(true));
        t.add(10, false, false);
        assert_eq!(t.pvid, None);
        assert_eq!(t.ingress(None), None);
        assert_eq!(t.ingress(Some(10)), Some(10));
        assert_eq!(t.ingress(Some(11)), None);
    }
}
