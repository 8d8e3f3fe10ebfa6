//! The neighbour cache: what a receiving stack learns from ARP/NA announcements, and the
//! sim-only neighbour table access.

use super::frames::Frame;
use super::sysctls::keys;
use super::Kernel;
use crate::namespace::NsId;
use crate::neighbour::{NeighEntry, NeighState, Update};
use crate::sysctl::Table;
use nsplumb_core::{Errno, IfIndex, MacAddr, NetnsRef};
use nsplumb_wire::Announcement;
use std::net::IpAddr;
use std::time::Duration;

impl Kernel {
    /// The receiving stack: neighbour cache updates from announcements.
    pub(super) fn local_deliver(&mut self, id: NsId, idx: IfIndex, f: &Frame<'_>) {
        let Some(p) = f.parsed else {
            return;
        };
        let k = keys();
        match p {
            Announcement::Arp {
                hlen,
                plen,
                op,
                sender_mac,
                sender_ip,
                target_ip,
                ..
            } => {
                // arp_rcv: Ethernet and IPv4 lengths only; arp_process: requests and replies.
                if (*hlen, *plen) != (6, 4) || (*op != 1 && *op != 2) {
                    return;
                }
                let (sender_mac, sender_ip) = (*sender_mac, *sender_ip);
                // arp_is_garp: the sender's address type must be unicast; with no IPv4 table
                // yet in the namespace it is "broadcast", and a local address on the receiving
                // link is "local" (checked: no update before any address exists).
                let garp = sender_ip == *target_ip
                    && self.ns(id).local_table
                    && !self
                        .lk(id, idx)
                        .addrs
                        .iter()
                        .any(|a| a.net.addr() == IpAddr::V4(sender_ip));
                let accept = self
                    .link_val(id, idx, Table::Conf4, k.arp_accept)
                    .max(self.all_val(id, Table::Conf4, k.arp_accept));
                let u = Update {
                    create: garp && accept >= 1,
                    override_: garp,
                    weak: false,
                };
                let lock_cs = self.link_val(id, idx, Table::Neigh4, k.locktime4).max(0) as u64;
                let now = self.clock.now;
                self.nsm(id).neigh.learn(
                    idx,
                    IpAddr::V4(sender_ip),
                    sender_mac,
                    u,
                    now,
                    Some(Duration::from_millis(lock_cs * 10)),
                );
            }
            Announcement::Na {
                hop_limit,
                checksum_ok,
                message,
                ..
            } => {
                if *hop_limit != 255
                    || !checksum_ok
                    || self.v6_disabled(id, idx)
                    || !self.lk(id, idx).v6_ready
                {
                    return;
                }
                let Some(mac) = message.target_mac() else {
                    return;
                };
                let u = Update {
                    create: self.link_val(id, idx, Table::Conf6, k.accept_untracked_na) > 0,
                    override_: message.override_flag,
                    weak: true,
                };
                let now = self.clock.now;
                self.nsm(id)
                    .neigh
                    .learn(idx, IpAddr::V6(message.target), mac, u, now, None);
            }
        }
    }

    /// Sim-only: `ip neigh add IP lladdr MAC dev DEV nud STATE` (replace if present).
    pub fn add_neighbour(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        ip: IpAddr,
        mac: MacAddr,
        state: NeighState,
    ) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        let now = self.clock.now;
        self.nsm(id)
            .neigh
            .entries
            .insert((idx, ip), (mac, state, now));
        Ok(())
    }

    /// Sim-only: every neighbour entry of the namespace.
    pub fn neighbours(&self, r: &NetnsRef) -> Result<Vec<NeighEntry>, Errno> {
        let id = self.ns_id(r)?;
        Ok(self.ns(id).neigh.list())
    }
}
