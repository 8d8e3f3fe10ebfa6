//! Link MTU (SPEC L1): limits per kind, the bridge's MTU from its ports, and IPv6 going away
//! below 1280.
//!
//! Linux 6.18, measured with `ip link` in a throwaway namespace:
//! - veth and bridge: `min_mtu` 68, `max_mtu` 65535; outside → EINVAL ("mtu less than device
//!   minimum" / "greater than device maximum"), at creation too (`ip link add v0 mtu 67 type
//!   veth` → EINVAL, nothing created). Loopback: no limits (`mtu 0` and `mtu 1000000`
//!   accepted). Dummy (`dummy_setup`: `min_mtu = max_mtu = 0`): no limits either.
//! - setting the MTU a link already has is a no-op (`netif_set_mtu_ext` returns early).
//! - veth: `ip link add v0 mtu 1400 type veth peer name v1` gives v1 1500: each end gets the
//!   MTU its own attributes carry; [`VethRequest::mtu`] asks for both.
//! - bridge (`br_mtu_auto_adjust`): follows the smallest port MTU when a port is added or
//!   removed or a port's MTU changes, 1500 once the last port is gone; a fresh bridge has 1500.
//!   An MTU set on the bridge (a real change, through `ndo_change_mtu`) pins it for good
//!   (`BROPT_MTU_SET_BY_USER`); setting the MTU it already has pins nothing; `IFLA_MTU` at
//!   creation pins nothing either (`ip link add b mtu 9000 type bridge` drops to 1500 when a
//!   1500 port joins).
//! - below 1280 (`IPV6_MIN_MTU`) the link loses its IPv6 device (`addrconf_ifdown(dev,
//!   unregister)`): addresses and routes go, `net/ipv6/conf/DEV` and `net/ipv6/neigh/DEV`
//!   disappear (ENOENT), the link message carries no `AF_INET6`, adding an IPv6 address →
//!   EINVAL, an IPv6 route through it → ENODEV. A link created below 1280 never had one. Back
//!   at 1280 or more the IPv6 device is created afresh: sysctls from `conf/default` (what was
//!   written on the link before is lost), the link-local comes back when the link is up.
//! - `net/ipv6/conf/DEV/mtu` follows the link's MTU on every change.
//!
//! Not modelled: loopback and dummy below 1280 (loopback keeps its IPv6 device) or below 68
//! (IPv4 goes away).

use super::Kernel;
use crate::namespace::NsId;
use crate::sysctl::Table;
use nsplumb_core::{Errno, IfIndex, LinkKind, NetnsRef, VethRequest};

/// `IPV6_MIN_MTU`.
pub(crate) const IPV6_MIN_MTU: u32 = 1280;
/// `ETH_DATA_LEN`: a new link's MTU, and a bridge's without ports.
pub(crate) const ETH_DATA_LEN: u32 = 1500;

/// `min_mtu..=max_mtu` of a link kind as the kernel sets them (`ether_setup`, `veth_setup`,
/// `br_dev_setup`, `dummy_setup`, `loopback_setup`).
fn mtu_limits(kind: &LinkKind) -> (u32, u32) {
    match kind {
        LinkKind::Loopback | LinkKind::Dummy => (0, u32::MAX),
        _ => (68, 65535),
    }
}

fn check_mtu(kind: &LinkKind, mtu: u32) -> Result<(), Errno> {
    let (min, max) = mtu_limits(kind);
    if (min..=max).contains(&mtu) {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

impl Kernel {
    /// `ip link set DEV mtu N` (SPEC L1). See the module doc.
    pub fn set_mtu(&mut self, r: &NetnsRef, idx: IfIndex, mtu: u32) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        let l = self.lk(id, idx);
        if l.mtu == mtu {
            return Ok(());
        }
        check_mtu(&l.kind(), mtu)?;
        if let Some(b) = self.lk_mut(id, idx).bridge_mut() {
            b.opts.mtu_set_by_user = true;
        }
        self.apply_mtu(id, idx, mtu);
        Ok(())
    }

    /// The MTU both ends of a new veth get: [`VethRequest::mtu`] checked against the veth
    /// limits before anything is created.
    pub(super) fn veth_mtu(&self, req: &VethRequest) -> Result<u32, Errno> {
        match req.mtu {
            Some(m) => check_mtu(&LinkKind::Veth, m).map(|()| m),
            None => Ok(ETH_DATA_LEN),
        }
    }

    /// An MTU at bridge creation (`IFLA_MTU` in `RTM_NEWLINK`), checked before the bridge
    /// exists; it does not pin the MTU.
    pub(super) fn check_bridge_mtu(&self, mtu: u32) -> Result<(), Errno> {
        check_mtu(&LinkKind::Bridge, mtu)
    }

    /// `br_mtu_auto_adjust`: unless pinned, the smallest port MTU, 1500 without ports.
    pub(super) fn bridge_mtu_auto(&mut self, id: NsId, br: IfIndex) {
        let Some(b) = self.ns(id).links.get(&br).and_then(|l| l.bridge()) else {
            return;
        };
        if b.opts.mtu_set_by_user {
            return;
        }
        let min = b.ports.iter().map(|p| self.lk(id, *p).mtu).min();
        let mtu = min.unwrap_or(ETH_DATA_LEN);
        if mtu != self.lk(id, br).mtu {
            self.apply_mtu(id, br, mtu);
        }
    }

    /// Whether the link has no IPv6 device because its MTU is below 1280 (SPEC L1).
    pub(crate) fn v6_absent(&self, id: NsId, idx: IfIndex) -> bool {
        let l = self.lk(id, idx);
        l.mtu < IPV6_MIN_MTU && !l.is_loopback()
    }

    /// `NETDEV_CHANGEMTU`: the new MTU, IPv6 going or coming back, the master following.
    pub(super) fn apply_mtu(&mut self, id: NsId, idx: IfIndex, mtu: u32) {
        let was_absent = self.v6_absent(id, idx);
        self.lk_mut(id, idx).mtu = mtu;
        let absent = self.v6_absent(id, idx);
        let ipv6_tables = |t: &Table| matches!(t, Table::Conf6 | Table::Neigh6);
        if absent && !was_absent {
            self.ipv6_ifdown(id, idx);
            self.lk_mut(id, idx)
                .sysctl
                .0
                .retain(|(t, _, _)| !ipv6_tables(t));
        } else if was_absent && !absent {
            let fresh: Vec<_> = self
                .inherited(id)
                .0
                .into_iter()
                .filter(|(t, _, _)| ipv6_tables(t))
                .collect();
            let o = &mut self.lk_mut(id, idx).sysctl.0;
            o.retain(|(t, _, _)| !ipv6_tables(t));
            o.extend(fresh);
            o.sort_by_key(|a| (a.0, a.1));
            self.v6_check_ready(id, idx);
        } else if !absent {
            let mtu6 = super::sysctls::keys().mtu6;
            self.lk_mut(id, idx)
                .sysctl
                .0
                .retain(|(t, k, _)| !(*t == Table::Conf6 && *k == mtu6));
        }
        self.notify(id, idx);
        if let Some(br) = self.lk(id, idx).master {
            self.bridge_mtu_auto(id, br);
        }
    }
}
