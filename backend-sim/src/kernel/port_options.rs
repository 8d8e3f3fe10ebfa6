//! Bridge port options as requests (SPEC L2–L4): `bridge link set dev X hairpin on isolated
//! on`, `bridge vlan add|del dev X vid A[-B] [pvid] [untagged]`, `bridge vlan show`.
//!
//! Linux 6.x (`rtnl_bridge_setlink` / `rtnl_bridge_dellink` without `BRIDGE_FLAGS_SELF`, then
//! `br_setlink` / `br_dellink` and `br_afspec`), measured on 6.18 where it applies:
//! - the link must be a bridge port: anything else, the bridge device included → EOPNOTSUPP
//!   (on either kernel model);
//! - each VLAN item is checked as it comes: VID 0 or ≥ 4095 → EINVAL ("Vlan id is invalid",
//!   both kernels), `pvid` on a range → EINVAL, a range whose end is not after its start →
//!   EINVAL; items before a failing one stay applied (the kernel is not atomic here);
//! - on a kernel without `CONFIG_BRIDGE_VLAN_FILTERING`, adding → EOPNOTSUPP, deleting → done
//!   (nothing to delete), the dump is empty.

use super::Kernel;
use crate::bridge_port::VlanTable;
use crate::namespace::NsId;
use nsplumb_core::{Errno, IfIndex, NetnsRef, PortFlagsChange, PortVlans, VlanSpec};

/// `br_vlan_valid_id`.
fn valid_vid(vid: u16) -> bool {
    (1..4095).contains(&vid)
}

/// `br_process_vlan_info`'s checks of one item (a range is a BEGIN/END pair on the wire).
fn check_item(v: &VlanSpec) -> Result<(), Errno> {
    if !valid_vid(v.first) || !valid_vid(v.last) {
        return Err(Errno::EINVAL);
    }
    if v.first != v.last && (v.pvid || v.last < v.first) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl Kernel {
    /// The namespace of a bridge port; EOPNOTSUPP for a link that is not one.
    fn port_ns(&self, r: &NetnsRef, idx: IfIndex) -> Result<NsId, Errno> {
        let id = self.resolve(r, idx)?;
        if self.lk(id, idx).port.is_none() {
            return Err(Errno::EOPNOTSUPP);
        }
        Ok(id)
    }

    /// Checks each item in turn and applies `f` to each of its VIDs in the port's table.
    fn each_vid(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        vlans: &[VlanSpec],
        f: impl Fn(&mut VlanTable, u16, &VlanSpec),
    ) -> Result<(), Errno> {
        let id = self.port_ns(r, idx)?;
        for v in vlans {
            check_item(v)?;
            let port = self.lk_mut(id, idx).port.as_mut().expect("checked");
            for vid in v.first..=v.last {
                f(&mut port.opts.vlans, vid, v);
            }
        }
        Ok(())
    }

    /// `IFLA_PROTINFO` with `IFLA_BRPORT_MODE` / `IFLA_BRPORT_ISOLATED` (SPEC L2, L4).
    pub fn set_port_flags(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        change: PortFlagsChange,
    ) -> Result<(), Errno> {
        let id = self.port_ns(r, idx)?;
        let opts = &mut self.lk_mut(id, idx).port.as_mut().expect("checked").opts;
        let before = opts.flags();
        if let Some(h) = change.hairpin {
            opts.hairpin = h;
        }
        if let Some(i) = change.isolated {
            opts.isolated = i;
        }
        if opts.flags() != before {
            self.notify(id, idx);
        }
        Ok(())
    }

    /// `bridge vlan add` (SPEC L3). See the module doc.
    pub fn add_port_vlans(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        vlans: &[VlanSpec],
    ) -> Result<(), Errno> {
        if !self.link_opts.vlan_filtering_supported {
            // The first item is checked, then its add fails.
            self.port_ns(r, idx)?;
            return match vlans.first() {
                Some(v) => check_item(v).and(Err(Errno::EOPNOTSUPP)),
                None => Ok(()),
            };
        }
        self.each_vid(r, idx, vlans, |t, vid, v| t.add(vid, v.pvid, v.untagged))
    }

    /// `bridge vlan del` (SPEC L3): absent VIDs are no error. See the module doc.
    pub fn del_port_vlans(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        vlans: &[VlanSpec],
    ) -> Result<(), Errno> {
        self.each_vid(r, idx, vlans, |t, vid, _| t.remove(vid))
    }

    /// `bridge vlan show`: every bridge port's and bridge's table that has VLANs, by index,
    /// compressed as the dump gives them.
    pub fn list_port_vlans(&self, r: &NetnsRef) -> Result<Vec<PortVlans>, Errno> {
        let id = self.ns_id(r)?;
        let mut out = Vec::new();
        for (&index, l) in &self.ns(id).links {
            let table = match (&l.port, l.bridge()) {
                (Some(p), _) => &p.opts.vlans,
                (None, Some(b)) => &b.opts.vlans,
                (None, None) => continue,
            };
            if !table.vids.is_empty() {
                out.push(PortVlans {
                    index,
                    vlans: table.compressed(),
                });
            }
        }
        Ok(out)
    }
}
