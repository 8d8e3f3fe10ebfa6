//! Links: reading, creation (bridge, dummy, veth pair), deletion, moving between namespaces,
//! renaming, up/down with the carrier that follows, and MAC changes.

use super::addresses::perm;
use super::Kernel;
use crate::addr::Addr;
use crate::bridge_port::BridgeOptions;
use crate::link::{check_name, BridgeState, Kind, Link};
use crate::namespace::NsId;
use ipnet::{IpNet, Ipv4Net};
use nsplumb_core::{
    Errno, IfIndex, LinkEvent, LinkInfo, LinkStats, MacAddr, NetnsRef, VethPair, VethRequest,
};
use std::net::{IpAddr, Ipv4Addr};

impl Kernel {
    pub fn link_by_name(&self, r: &NetnsRef, name: &str) -> Result<LinkInfo, Errno> {
        let id = self.ns_id(r)?;
        let idx = self.ns(id).index_of(name)?;
        Ok(self.info(id, idx))
    }

    pub fn link_by_index(&self, r: &NetnsRef, idx: IfIndex) -> Result<LinkInfo, Errno> {
        let id = self.resolve(r, idx)?;
        Ok(self.info(id, idx))
    }

    pub fn list_links(&self, r: &NetnsRef) -> Result<Vec<LinkInfo>, Errno> {
        let id = self.ns_id(r)?;
        Ok(self
            .ns(id)
            .links
            .keys()
            .map(|&i| self.info(id, i))
            .collect())
    }

    pub fn link_stats(&self, r: &NetnsRef, idx: IfIndex) -> Result<LinkStats, Errno> {
        let id = self.resolve(r, idx)?;
        Ok(self.lk(id, idx).stats)
    }

    pub(super) fn insert_link(
        &mut self,
        id: NsId,
        idx: IfIndex,
        name: String,
        kind: Kind,
        mac: MacAddr,
        mtu: u32,
    ) {
        self.next_uid += 1;
        let sysctl = self.inherited(id);
        let link = Link {
            uid: self.next_uid,
            name: name.clone(),
            kind,
            up: false,
            mac,
            mtu,
            master: None,
            port: None,
            addrs: Vec::new(),
            v6_ready: false,
            v6_mroute: false,
            sysctl,
            conf4_written: 0,
            stats: LinkStats::default(),
        };
        let ns = self.nsm(id);
        ns.links.insert(idx, Box::new(link));
        ns.names.insert(name, idx);
        self.notify(id, idx);
    }

    fn check_new_name(&self, id: NsId, name: &str) -> Result<(), Errno> {
        check_name(name)?;
        if self.ns(id).names.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        Ok(())
    }

    /// `ip link add NAME type bridge`: STP off, forward delay 15 s, random MAC, down.
    pub fn create_bridge(&mut self, r: &NetnsRef, name: &str) -> Result<IfIndex, Errno> {
        let id = self.ns_id(r)?;
        self.check_new_name(id, name)?;
        let idx = self.nsm(id).alloc_index();
        let mac = self.rng.mac();
        let b = BridgeState {
            stp: false,
            forward_delay_cs: 1500,
            ports: Default::default(),
            carrier: true,
            mac_set: false,
            fwd_ports: 0,
            port_macs: Default::default(),
            opts: BridgeOptions::new(self.link_opts.vlan_filtering_supported, false),
        };
        self.insert_link(id, idx, name.to_string(), Kind::Bridge(b), mac, 1500);
        Ok(idx)
    }

    /// Sim-only: a dummy link (carrier always on once up), for tests needing a plain host link.
    pub fn create_dummy(&mut self, r: &NetnsRef, name: &str) -> Result<IfIndex, Errno> {
        let id = self.ns_id(r)?;
        self.check_new_name(id, name)?;
        let idx = self.nsm(id).alloc_index();
        let mac = self.rng.mac();
        self.insert_link(id, idx, name.to_string(), Kind::Dummy, mac, 1500);
        Ok(idx)
    }

    /// `ip link add HOST type veth peer name PEER netns NS [address MAC]` plus master and up in
    /// the same request; atomic like Linux (a failed master unregisters the pair).
    pub fn create_veth(&mut self, r: &NetnsRef, req: &VethRequest) -> Result<VethPair, Errno> {
        let id = self.ns_id(r)?;
        let pid = self.ns_id(&req.peer_netns)?;
        self.check_new_name(id, &req.host_name)?;
        self.check_new_name(pid, &req.peer_name)?;
        if id == pid && req.host_name == req.peer_name {
            return Err(Errno::EEXIST);
        }
        if let Some(m) = req.peer_mac {
            if !m.is_assignable() {
                return Err(Errno::EADDRNOTAVAIL);
            }
        }
        if let Some(m) = req.host_master {
            let ml = self.ns(id).links.get(&m).ok_or(Errno::EINVAL)?;
            if ml.bridge().is_none() {
                return Err(Errno::EOPNOTSUPP);
            }
        }
        let mtu = self.veth_mtu(req)?; // SPEC L1
        let peer_idx = self.nsm(pid).alloc_index();
        let host_idx = self.nsm(id).alloc_index();
        let peer_mac = req.peer_mac.unwrap_or_else(|| self.rng.mac());
        let host_mac = self.rng.mac();
        self.insert_link(
            pid,
            peer_idx,
            req.peer_name.clone(),
            Kind::Veth {
                peer_ns: id,
                peer: host_idx,
            },
            peer_mac,
            mtu,
        );
        self.insert_link(
            id,
            host_idx,
            req.host_name.clone(),
            Kind::Veth {
                peer_ns: pid,
                peer: peer_idx,
            },
            host_mac,
            mtu,
        );
        if let Some(m) = req.host_master {
            self.enslave(id, host_idx, m)?;
        }
        if req.host_up {
            self.up(id, host_idx);
        }
        Ok(VethPair {
            host_index: host_idx,
            peer_index: peer_idx,
        })
    }

    /// Deletes links as one batch: every index must exist (else ENODEV, nothing deleted);
    /// loopback cannot be deleted (EOPNOTSUPP). A veth takes its peer along.
    pub fn delete_links(&mut self, r: &NetnsRef, indices: &[IfIndex]) -> Result<(), Errno> {
        let id = self.ns_id(r)?;
        for &i in indices {
            if self.ns(id).link(i)?.is_loopback() {
                return Err(Errno::EOPNOTSUPP);
            }
        }
        for &i in indices {
            if self.ns(id).links.contains_key(&i) {
                self.destroy_link(id, i);
            }
        }
        Ok(())
    }

    /// Sim-only: delete a link behind nsplumb's back (same as `ip link del`).
    pub fn delete_link(&mut self, r: &NetnsRef, idx: IfIndex) -> Result<(), Errno> {
        self.delete_links(r, &[idx])
    }

    pub(super) fn destroy_link(&mut self, id: NsId, idx: IfIndex) {
        if self.lk(id, idx).up {
            self.down(id, idx);
        }
        if self.lk(id, idx).master.is_some() {
            self.release(id, idx);
        }
        let ports = self.ports_of(id, idx);
        for p in ports {
            self.release(id, p);
        }
        let link = self.detach_from_ns(id, idx);
        if let Kind::Veth { peer_ns, peer } = link.kind {
            if self
                .namespaces
                .get(&peer_ns)
                .map(|n| n.links.contains_key(&peer))
                .unwrap_or(false)
            {
                self.destroy_link(peer_ns, peer);
            }
        }
    }

    /// Removes a link from its namespace with its routes and neighbours; emits RTM_DELLINK.
    fn detach_from_ns(&mut self, id: NsId, idx: IfIndex) -> Box<Link> {
        let ns = self.nsm(id);
        ns.routes4.remove_oif(idx, |_| true);
        ns.routes6.remove_oif(idx, |_| true);
        ns.neigh.flush_link(idx, false);
        let link = ns.links.remove(&idx).expect("checked");
        ns.names.remove(&link.name);
        if ns.has_subscribers() {
            ns.emit(LinkEvent::Removed {
                index: idx,
                name: link.name.clone(),
            });
        }
        link
    }

    /// `ip link set DEV netns NS name NEW` in one message.
    ///
    /// Linux 6.x (`__dev_change_net_namespace`, checked on the kernel): the link arrives DOWN,
    /// without addresses, routes or master, with the destination's `default` sysctls, keeping
    /// its index when free. If its current name is taken in the destination, `NEW` is used
    /// instead (EEXIST, nothing changes, when `NEW` is taken too). If the current name is free,
    /// the link moves under it and is renamed afterwards: when `NEW` is taken there the call
    /// fails with EEXIST *after* the move (the kernel is not atomic here). Loopback and bridges
    /// are namespace-local (EINVAL). Moving within the same namespace is a rename.
    pub fn move_link(
        &mut self,
        from: &NetnsRef,
        idx: IfIndex,
        to: &NetnsRef,
        new_name: &str,
    ) -> Result<IfIndex, Errno> {
        let id = self.resolve(from, idx)?;
        let tid = self.ns_id(to)?;
        check_name(new_name)?;
        if id == tid {
            self.rename_link(from, idx, new_name)?;
            return Ok(idx);
        }
        let l = self.lk(id, idx);
        if matches!(l.kind, Kind::Loopback | Kind::Bridge(_)) {
            return Err(Errno::EINVAL);
        }
        let cur_taken = self.ns(tid).names.contains_key(&l.name);
        let new_taken = self.ns(tid).names.contains_key(new_name);
        if cur_taken && new_taken {
            return Err(Errno::EEXIST);
        }
        if self.lk(id, idx).up {
            self.down(id, idx);
        }
        if self.lk(id, idx).master.is_some() {
            self.release(id, idx);
        }
        let mut link = self.detach_from_ns(id, idx);
        link.addrs.clear();
        link.v6_ready = false;
        link.v6_mroute = false;
        link.sysctl = self.inherited(tid);
        link.conf4_written = 0;
        if cur_taken {
            link.name = new_name.to_string();
        }
        let renamed_on_arrival = link.name == new_name;
        let new_idx = self.nsm(tid).reserve_index(idx);
        if let Kind::Veth { peer_ns, peer } = link.kind {
            if let Some(p) = self
                .namespaces
                .get_mut(&peer_ns)
                .and_then(|n| n.links.get_mut(&peer))
            {
                p.kind = Kind::Veth {
                    peer_ns: tid,
                    peer: new_idx,
                };
            }
        }
        let ns = self.nsm(tid);
        ns.names.insert(link.name.clone(), new_idx);
        ns.links.insert(new_idx, link);
        self.notify(tid, new_idx);
        if !renamed_on_arrival {
            if new_taken {
                return Err(Errno::EEXIST);
            }
            self.do_rename(tid, new_idx, new_name);
        }
        Ok(new_idx)
    }

    /// `ip link set DEV name NEW`. Linux 6.x renames UP links too (checked; older kernels said
    /// EBUSY).
    pub fn rename_link(&mut self, r: &NetnsRef, idx: IfIndex, name: &str) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        check_name(name)?;
        let l = self.lk(id, idx);
        if l.name == name {
            return Ok(());
        }
        if self.ns(id).names.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        self.do_rename(id, idx, name);
        Ok(())
    }

    fn do_rename(&mut self, id: NsId, idx: IfIndex, name: &str) {
        let ns = self.nsm(id);
        let l = ns.links.get_mut(&idx).expect("checked");
        let old = std::mem::replace(&mut l.name, name.to_string());
        ns.names.remove(&old);
        ns.names.insert(name.to_string(), idx);
        self.notify(id, idx);
    }

    pub fn set_link_up(&mut self, r: &NetnsRef, idx: IfIndex) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        if !self.lk(id, idx).up {
            self.up(id, idx);
        }
        Ok(())
    }

    pub fn set_link_down(&mut self, r: &NetnsRef, idx: IfIndex) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        if self.lk(id, idx).up {
            self.down(id, idx);
        }
        Ok(())
    }

    fn up(&mut self, id: NsId, idx: IfIndex) {
        self.lk_mut(id, idx).up = true;
        if self.lk(id, idx).is_loopback()
            && !self
                .lk(id, idx)
                .addrs
                .iter()
                .any(|a| a.net.addr() == IpAddr::V4(Ipv4Addr::LOCALHOST))
        {
            let net = IpNet::V4(Ipv4Net::new(Ipv4Addr::LOCALHOST, 8).expect("valid"));
            self.nsm(id).local_table = true;
            self.lk_mut(id, idx).addrs.push(Addr {
                net,
                flags: perm(false),
                dad_deadline: None,
            });
        }
        self.notify(id, idx);
        self.sync_routes(id, idx);
        self.v6_check_ready(id, idx);
        if let Kind::Veth { peer_ns, peer } = self.lk(id, idx).kind {
            if self
                .namespaces
                .get(&peer_ns)
                .and_then(|n| n.links.get(&peer))
                .map(|p| p.up)
                .unwrap_or(false)
            {
                self.carrier_on(peer_ns, peer);
                self.carrier_on(id, idx);
            }
        }
        let ports = self.ports_of(id, idx);
        for p in ports {
            self.port_refresh(id, p);
        }
        if self.lk(id, idx).master.is_some() {
            self.port_refresh(id, idx);
        }
    }

    fn down(&mut self, id: NsId, idx: IfIndex) {
        let had_carrier = self.carrier(id, idx);
        self.lk_mut(id, idx).up = false;
        self.ipv6_ifdown(id, idx);
        {
            let ns = self.nsm(id);
            ns.routes4.remove_oif(idx, |_| true);
            ns.neigh.flush_link(idx, false);
        }
        let ports = self.ports_of(id, idx);
        for p in ports {
            self.port_refresh(id, p);
        }
        if !self
            .lk(id, idx)
            .bridge()
            .map(|b| b.ports.is_empty())
            .unwrap_or(true)
        {
            self.bridge_select(id, idx);
        }
        if self.lk(id, idx).master.is_some() {
            self.port_refresh(id, idx);
        }
        self.notify(id, idx);
        if let Kind::Veth { peer_ns, peer } = self.lk(id, idx).kind {
            if had_carrier
                && self
                    .namespaces
                    .get(&peer_ns)
                    .map(|n| n.links.contains_key(&peer))
                    .unwrap_or(false)
            {
                self.carrier_off(peer_ns, peer);
            }
        }
    }

    /// The link is up and its carrier just came on.
    pub(super) fn carrier_on(&mut self, id: NsId, idx: IfIndex) {
        if !self.lk(id, idx).up {
            return;
        }
        self.v6_check_ready(id, idx);
        if self.lk(id, idx).master.is_some() {
            self.port_refresh(id, idx);
        }
        self.notify(id, idx);
    }

    /// The link is up and its carrier just went off.
    pub(super) fn carrier_off(&mut self, id: NsId, idx: IfIndex) {
        if !self.lk(id, idx).up {
            return;
        }
        self.nsm(id).neigh.flush_link(idx, true);
        if self.lk(id, idx).master.is_some() {
            self.port_refresh(id, idx);
        }
        self.notify(id, idx);
    }

    /// `ip link set DEV address MAC`: multicast or zero → EADDRNOTAVAIL. A bridge's MAC then
    /// stays fixed; a port's MAC change makes its bridge recalculate its own.
    pub fn set_mac(&mut self, r: &NetnsRef, idx: IfIndex, mac: MacAddr) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        if !mac.is_assignable() {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let l = self.lk_mut(id, idx);
        let old = std::mem::replace(&mut l.mac, mac);
        let is_bridge = if let Some(b) = l.bridge_mut() {
            b.mac_set = true;
            true
        } else {
            false
        };
        let master = l.master;
        self.notify(id, idx);
        if is_bridge && old != mac {
            // Linux 6.x: br_set_mac_address -> br_stp_change_bridge_id -> br_port_state_selection:
            // carrier on iff some port forwards, so a bridge without ports loses its carrier.
            self.bridge_select(id, idx);
        }
        if let Some(m) = master {
            let b = self.lk_mut(id, m).bridge_mut().expect("bridge");
            b.remove_mac(old);
            b.add_mac(mac);
            if self.recalc_bridge_id(id, m) {
                self.bridge_select(id, m);
            }
        }
        Ok(())
    }

    /// Sim-only: change a MAC behind nsplumb's back (no validation beyond the kernel's).
    pub fn change_mac(&mut self, r: &NetnsRef, idx: IfIndex, mac: MacAddr) -> Result<(), Errno> {
        self.set_mac(r, idx, mac)
    }
}
