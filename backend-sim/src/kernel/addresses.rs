//! `ip addr add/del/show`: IPv4 and IPv6 addresses of a link.

use super::sysctls::keys;
use super::Kernel;
use crate::addr::{same_addr, Addr};
use crate::link::Link;
use crate::sysctl::Table;
use ipnet::{IpNet, Ipv4Net};
use nsplumb_core::{AddrFlags, AddrInfo, Errno, IfIndex, NetnsRef};
use std::net::IpAddr;

impl Kernel {
    /// `ip addr add`: IPv6 on a link with IPv6 disabled → EACCES, with an MTU below 1280 →
    /// EINVAL; duplicates → EEXIST.
    pub fn add_address(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        net: IpNet,
        nodad: bool,
    ) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        if net.addr().is_ipv6() && self.v6_absent(id, idx) {
            return Err(Errno::EINVAL); // SPEC L1: `ipv6_add_dev` refuses below 1280
        }
        if net.addr().is_ipv6() && self.v6_disabled(id, idx) {
            return Err(Errno::EACCES);
        }
        if net.addr().is_ipv4() {
            self.nsm(id).local_table = true;
        }
        if self
            .lk(id, idx)
            .addrs
            .iter()
            .any(|a| same_addr(&a.net, &net))
        {
            return Err(Errno::EEXIST);
        }
        let tentative = net.addr().is_ipv6() && !nodad && !self.lk(id, idx).is_loopback();
        self.lk_mut(id, idx).addrs.push(Addr {
            net,
            flags: AddrFlags {
                nodad,
                tentative,
                permanent: true,
                dadfailed: false,
            },
            dad_deadline: None,
        });
        let l = self.lk_mut(id, idx);
        if net.addr().is_ipv6() && l.up && !l.is_loopback() {
            l.v6_mroute = true;
        }
        if tentative && self.lk(id, idx).v6_ready {
            self.start_dad(id, idx);
        }
        self.sync_routes(id, idx);
        Ok(())
    }

    /// `ip addr del`: EADDRNOTAVAIL when absent (IPv6 must match the prefix length too).
    pub fn del_address(&mut self, r: &NetnsRef, idx: IfIndex, net: IpNet) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        let promote = self.link_val(id, idx, Table::Conf4, keys().promote_secondaries) != 0
            || self.all_val(id, Table::Conf4, keys().promote_secondaries) != 0;
        let l = self.lk_mut(id, idx);
        let pos = l
            .addrs
            .iter()
            .position(|a| a.net.addr() == net.addr() && a.net.prefix_len() == net.prefix_len())
            .ok_or(Errno::EADDRNOTAVAIL)?;
        let gone = l.addrs.remove(pos);
        // Linux: deleting an IPv4 primary deletes its secondaries (same subnet, added later)
        // unless promote_secondaries is set.
        if let IpNet::V4(p) = gone.net {
            let primary = !l.addrs[..pos].iter().any(|a| same_subnet4(&a.net, &p));
            if primary && !promote {
                let mut i = pos;
                while i < l.addrs.len() {
                    if same_subnet4(&l.addrs[i].net, &p) {
                        l.addrs.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
        }
        self.sync_routes(id, idx);
        Ok(())
    }

    pub fn list_addresses(
        &self,
        r: &NetnsRef,
        idx: Option<IfIndex>,
    ) -> Result<Vec<AddrInfo>, Errno> {
        let id = self.ns_id(r)?;
        let ns = self.ns(id);
        // Linux order: IPv4 in insertion order, then IPv6 by scope (global first) and newest
        // first within a scope; a whole-namespace dump gives every link's IPv4, then IPv6.
        let v4 = |i: IfIndex, l: &Link, out: &mut Vec<AddrInfo>| {
            out.extend(
                l.addrs
                    .iter()
                    .filter(|a| a.net.addr().is_ipv4())
                    .map(|a| AddrInfo {
                        index: i,
                        net: a.net,
                        flags: a.flags,
                    }),
            )
        };
        let v6 = |i: IfIndex, l: &Link, out: &mut Vec<AddrInfo>| {
            let start = out.len();
            out.extend(
                l.addrs
                    .iter()
                    .rev()
                    .filter(|a| a.net.addr().is_ipv6())
                    .map(|a| AddrInfo {
                        index: i,
                        net: a.net,
                        flags: a.flags,
                    }),
            );
            out[start..].sort_by_key(|a| std::cmp::Reverse(v6_scope(&a.net)));
        };
        let mut out = Vec::new();
        match idx {
            Some(i) => {
                let l = ns.link(i)?;
                v4(i, l, &mut out);
                v6(i, l, &mut out);
            }
            None => {
                for (i, l) in &ns.links {
                    v4(*i, l, &mut out);
                }
                for (i, l) in &ns.links {
                    v6(*i, l, &mut out);
                }
            }
        }
        Ok(out)
    }
}

fn same_subnet4(a: &IpNet, p: &Ipv4Net) -> bool {
    matches!(a, IpNet::V4(x) if x.prefix_len() == p.prefix_len() && x.trunc() == p.trunc())
}

/// `ipv6_addr_src_scope` rank: global above link-local above host.
fn v6_scope(n: &IpNet) -> u8 {
    match n.addr() {
        IpAddr::V6(a) if a.is_loopback() => 1,
        IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => 2,
        _ => 14,
    }
}

pub(super) fn perm(nodad: bool) -> AddrFlags {
    AddrFlags {
        nodad,
        tentative: false,
        permanent: true,
        dadfailed: false,
    }
}
