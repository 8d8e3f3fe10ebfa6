//! IPv6 addrconf: link-local addresses, DAD, what `NETDEV_DOWN` removes, and the kernel's
//! connected/prefix routes of a link.

use super::addresses::perm;
use super::sysctls::keys;
use super::Kernel;
use crate::addr::{eui64_link_local, same_addr, Addr};
use crate::clock::KernelTimer;
use crate::namespace::NsId;
use crate::route::{Route, RouteScopeOrd, RouteTable};
use crate::sysctl::Table;
use ipnet::{IpNet, Ipv6Net};
use nsplumb_core::{AddrFlags, IfIndex};
use std::net::{IpAddr, Ipv6Addr};

impl Kernel {
    /// Starts DAD for tentative addresses that wait for it (the link is ready).
    pub(super) fn start_dad(&mut self, id: NsId, idx: IfIndex) {
        if !self
            .lk(id, idx)
            .addrs
            .iter()
            .any(|a| a.flags.tentative && a.dad_deadline.is_none() && !a.flags.dadfailed)
        {
            return;
        }
        let pending: Vec<Ipv6Addr> = self
            .lk(id, idx)
            .addrs
            .iter()
            .filter(|a| a.flags.tentative && a.dad_deadline.is_none() && !a.flags.dadfailed)
            .filter_map(|a| match a.net {
                IpNet::V6(n) => Some(n.addr()),
                _ => None,
            })
            .collect();
        let uid = self.lk(id, idx).uid;
        for ip in pending {
            let delay = self.dad_begin(id, idx, ip); // SPEC L5: see `dad`
            let now = self.clock.now;
            let a = self
                .lk_mut(id, idx)
                .addrs
                .iter_mut()
                .find(|a| a.net.addr() == IpAddr::V6(ip))
                .expect("listed");
            match delay {
                None => a.flags.tentative = false,
                Some(d) => {
                    let at = now + d;
                    a.dad_deadline = Some(at);
                    self.schedule(
                        at,
                        KernelTimer::Dad {
                            ns: id,
                            index: idx,
                            uid,
                            addr: ip,
                        },
                    );
                }
            }
        }
    }

    /// addrconf `NETDEV_UP`/`NETDEV_CHANGE`: when the link is up with carrier and IPv6 on, it
    /// becomes ready: link-local (EUI-64, tentative) or `::1` on loopback, `ff00::/8`, DAD.
    pub(super) fn v6_check_ready(&mut self, id: NsId, idx: IfIndex) {
        let l = self.lk(id, idx);
        if l.v6_ready || !l.up || self.v6_disabled(id, idx) || !self.carrier(id, idx) {
            if l.v6_ready && l.up {
                self.start_dad(id, idx);
            }
            return;
        }
        let l = self.lk_mut(id, idx);
        l.v6_ready = true;
        l.v6_mroute = !l.is_loopback();
        let l = self.lk(id, idx);
        if l.is_loopback() {
            let lo = IpNet::V6(Ipv6Net::new(Ipv6Addr::LOCALHOST, 128).expect("valid"));
            if !l.addrs.iter().any(|a| same_addr(&a.net, &lo)) {
                self.lk_mut(id, idx).addrs.push(Addr {
                    net: lo,
                    flags: perm(false),
                    dad_deadline: None,
                });
            }
        } else {
            // addrconf_addr_gen: 0 = EUI-64, 3 = random interface id; 1 = none; 2 (stable
            // privacy) needs a stable_secret, which the simulator does not model: no address.
            let ll = match self.link_val(id, idx, Table::Conf6, keys().addr_gen_mode) {
                0 => IpNet::V6(eui64_link_local(l.mac)),
                3 => {
                    let iid = self.rng.next_u64().to_be_bytes();
                    let mut o = [0u8; 16];
                    o[0] = 0xfe;
                    o[1] = 0x80;
                    o[8..].copy_from_slice(&iid);
                    IpNet::V6(Ipv6Net::new(Ipv6Addr::from(o), 64).expect("valid"))
                }
                _ => {
                    self.start_dad(id, idx);
                    self.sync_routes(id, idx);
                    return;
                }
            };
            let l = self.lk(id, idx);
            if !l.addrs.iter().any(|a| same_addr(&a.net, &ll)) {
                self.lk_mut(id, idx).addrs.push(Addr {
                    net: ll,
                    flags: AddrFlags {
                        nodad: false,
                        tentative: true,
                        permanent: true,
                        dadfailed: false,
                    },
                    dad_deadline: None,
                });
            }
        }
        self.start_dad(id, idx);
        self.sync_routes(id, idx);
    }

    /// addrconf_ifdown for `NETDEV_DOWN` (and disable_ipv6): addresses flushed unless
    /// `keep_addr_on_down` (then global ones stay, tentative again unless nodad); routes gone.
    pub(super) fn ipv6_ifdown(&mut self, id: NsId, idx: IfIndex) {
        let k = keys();
        let keep = !self.v6_disabled(id, idx) && {
            let a = self.all_val(id, Table::Conf6, k.keep_addr_on_down);
            (if a != 0 {
                a
            } else {
                self.link_val(id, idx, Table::Conf6, k.keep_addr_on_down)
            }) > 0
        };
        let l = self.lk_mut(id, idx);
        l.v6_ready = false;
        l.v6_mroute = false;
        l.addrs.retain_mut(|a| match a.net {
            IpNet::V4(_) => true,
            IpNet::V6(n) => {
                let local = n.addr().is_loopback() || (n.addr().segments()[0] & 0xffc0) == 0xfe80;
                if keep && !local {
                    a.flags.tentative = !a.flags.nodad;
                    a.dad_deadline = None;
                    true
                } else {
                    false
                }
            }
        });
        let ns = self.nsm(id);
        ns.routes6.remove_oif(idx, |_| true);
        ns.neigh
            .entries
            .retain(|(i, ip), _| *i != idx || ip.is_ipv4());
    }

    /// Recomputes the kernel (connected / prefix) routes of a link from its state.
    pub(super) fn sync_routes(&mut self, id: NsId, idx: IfIndex) {
        let l = self.lk(id, idx);
        let mut want4: Vec<IpNet> = Vec::new();
        let mut want6: Vec<IpNet> = Vec::new();
        if l.up {
            for a in &l.addrs {
                match a.net {
                    IpNet::V4(n) if !l.is_loopback() && n.prefix_len() < 32 => {
                        want4.push(IpNet::V4(n.trunc()))
                    }
                    IpNet::V6(n) if !l.is_loopback() => want6.push(IpNet::V6(n.trunc())),
                    _ => {}
                }
            }
        }
        want4.sort();
        want4.dedup();
        want6.sort();
        want6.dedup();
        let ns = self.nsm(id);
        sync_table(&mut ns.routes4, idx, &want4, 0, RouteScopeOrd::Link);
        sync_table(&mut ns.routes6, idx, &want6, 256, RouteScopeOrd::Universe);
    }
}

fn sync_table(t: &mut RouteTable, oif: IfIndex, want: &[IpNet], metric: u32, scope: RouteScopeOrd) {
    if want.is_empty() && !t.has_oif(oif) {
        return;
    }
    let have: Vec<IpNet> = t
        .routes_of(oif)
        .filter(|r| r.kernel)
        .map(|r| r.dst)
        .collect();
    for d in &have {
        if !want.contains(d) {
            t.remove_first(d, |r| r.oif == oif && r.kernel);
        }
    }
    for d in want {
        if !have.contains(d) {
            t.insert(Route {
                dst: *d,
                gateway: None,
                oif,
                scope,
                metric,
                kernel: true,
            });
        }
    }
}
