//! Duplicate address detection of IPv6 addresses, with its probes on the segment (SPEC L5).
//!
//! Linux 6.x (`addrconf_dad_begin`/`_kick`/`_work`, `ndisc_recv_ns`, `ndisc_recv_na`), timing
//! measured on 6.18 (veth pair, both ends up, polled every 5 ms):
//! - no DAD on loopback and dummy (`IFF_LOOPBACK`/`IFF_NOARP`), nor when `accept_dad < 1` on
//!   both the link and `all`, nor for `nodad` addresses;
//! - the first probe (an NS from `::` to the solicited-node group) goes out after a random
//!   delay below `router_solicitation_delay` (1 s), then one every `retrans_time_ms` (1000),
//!   `dad_transmits` (1) in all; the address stops being tentative `retrans_time_ms` after the
//!   last one: 1.1–1.8 s with the defaults (measured 1096–1795 ms), 0.96–1.2 s with 3 × 200 ms,
//!   below 0.6 s with `dad_transmits` 0;
//! - a probe reaching a link that holds the address: if the address is valid there, that link
//!   answers with an NA to all-nodes, and when the NA reaches the prober its address becomes
//!   `tentative dadfailed` and stays so (measured: two namespaces on one bridge); if the address
//!   is tentative there too, the receiver is the one that fails (whoever probes first keeps it;
//!   measured); a `dadfailed` address defends nothing;
//! - a probe that comes back to the prober (a hairpin port) is ignored when it carries the
//!   prober's nonce: with `enhanced_dad` on the link or on `all` (both 1 by default, so a link's
//!   own `enhanced_dad=0` is not enough: measured, no failure); without a nonce it fails DAD;
//! - probes go where frames go (see `segment`): not through ports that do not forward yet (so
//!   a probe sent while the port is still learning finds nothing), not between isolated ports.
//!
//! DAD's NS and NA are not frames of the frame log and are not counted, like the kernel's other
//! own traffic (router solicitations, MLD), which the simulator does not model either.

use super::Kernel;
use crate::clock::KernelTimer;
use crate::link::Kind;
use crate::namespace::NsId;
use crate::sysctl::Table;
use nsplumb_core::{IfIndex, Timestamp};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::Duration;

/// Probes still to send per address being checked, by (link uid, address).
#[derive(Debug, Default)]
pub(crate) struct DadRuns {
    runs: BTreeMap<(u64, Ipv6Addr), DadRun>,
    swept_len: usize,
}

#[derive(Debug, Clone, Copy)]
struct DadRun {
    probes_left: u64,
    retrans: Duration,
    /// The enhanced-DAD nonce of its probes; 0 = none.
    nonce: u64,
}

fn enhanced_dad_key() -> u16 {
    static K: OnceLock<u16> = OnceLock::new();
    *K.get_or_init(|| Table::Conf6.index_of("enhanced_dad").expect("known key"))
}

impl Kernel {
    /// Starts DAD of `ip` on the link: the delay to its first probe, or `None` when the link
    /// does no DAD (the address is usable at once).
    pub(super) fn dad_begin(&mut self, id: NsId, idx: IfIndex, ip: Ipv6Addr) -> Option<Duration> {
        let l = self.lk(id, idx);
        if matches!(l.kind, Kind::Loopback | Kind::Dummy) {
            return None;
        }
        let uid = l.uid;
        let k = super::sysctls::keys();
        if self.link_val(id, idx, Table::Conf6, k.accept_dad) < 1
            && self.all_val(id, Table::Conf6, k.accept_dad) < 1
        {
            return None;
        }
        let transmits = self.link_val(id, idx, Table::Conf6, k.dad_transmits).max(0) as u64;
        let retrans_ms = self
            .link_val(id, idx, Table::Neigh6, k.retrans_time_ms6)
            .max(0) as u64;
        let delay_s = self
            .link_val(id, idx, Table::Conf6, k.rtr_solicit_delay)
            .max(0) as u64;
        let enhanced = self.link_val(id, idx, Table::Conf6, enhanced_dad_key()) > 0
            || self.all_val(id, Table::Conf6, enhanced_dad_key()) > 0;
        let first = Duration::from_nanos(self.rng.below(delay_s * 1_000_000_000));
        let nonce = if enhanced { self.rng.next_u64() | 1 } else { 0 };
        self.sweep_dad_runs();
        self.link_opts.dad.runs.insert(
            (uid, ip),
            DadRun {
                probes_left: transmits,
                retrans: Duration::from_millis(retrans_ms),
                nonce,
            },
        );
        Some(first)
    }

    /// The DAD timer of `ip`: the next probe, or the end of DAD.
    pub(super) fn dad_timer(
        &mut self,
        id: NsId,
        idx: IfIndex,
        uid: u64,
        ip: Ipv6Addr,
        at: Timestamp,
    ) {
        let key = (uid, ip);
        let run = match self.link_opts.dad.runs.get_mut(&key) {
            Some(r) if r.probes_left > 0 => {
                r.probes_left -= 1;
                *r
            }
            _ => {
                self.link_opts.dad.runs.remove(&key);
                self.dad_end(id, idx, ip, false);
                return;
            }
        };
        if self.dad_probe(id, idx, ip, run.nonce) {
            self.dad_end(id, idx, ip, true);
            return;
        }
        let next = at + run.retrans;
        if let Some(a) = self.v6_addr_mut(id, idx, ip) {
            a.dad_deadline = Some(next);
        }
        self.schedule(
            next,
            KernelTimer::Dad {
                ns: id,
                index: idx,
                uid,
                addr: ip,
            },
        );
    }

    /// One probe of `ip` out of the link; whether the prober's DAD fails. A tentative holder
    /// elsewhere fails instead (see the module doc).
    fn dad_probe(&mut self, id: NsId, idx: IfIndex, ip: Ipv6Addr, nonce: u64) -> bool {
        for (rid, ridx) in self.segment_receivers(id, idx) {
            if self.v6_disabled(rid, ridx) {
                continue;
            }
            let Some(flags) = self.v6_addr_mut(rid, ridx, ip).map(|a| a.flags) else {
                continue;
            };
            if (rid, ridx) == (id, idx) {
                if nonce == 0 {
                    return true;
                }
                continue;
            }
            if flags.tentative {
                if !flags.dadfailed {
                    self.dad_end(rid, ridx, ip, true);
                }
                continue;
            }
            if self.segment_receivers(rid, ridx).contains(&(id, idx)) {
                return true;
            }
        }
        false
    }

    /// DAD of `ip` is over: usable, or `tentative dadfailed` for good.
    fn dad_end(&mut self, id: NsId, idx: IfIndex, ip: Ipv6Addr, failed: bool) {
        let uid = self.lk(id, idx).uid;
        self.link_opts.dad.runs.remove(&(uid, ip));
        if let Some(a) = self.v6_addr_mut(id, idx, ip) {
            a.dad_deadline = None;
            if failed {
                a.flags.dadfailed = true;
            } else {
                a.flags.tentative = false;
            }
        }
    }

    fn v6_addr_mut(
        &mut self,
        id: NsId,
        idx: IfIndex,
        ip: Ipv6Addr,
    ) -> Option<&mut crate::addr::Addr> {
        self.lk_mut(id, idx)
            .addrs
            .iter_mut()
            .find(|a| a.net.addr() == IpAddr::V6(ip))
    }

    /// Runs whose address went away (link deleted, address removed) are dropped once their
    /// number has doubled since the last sweep, so they cannot pile up.
    fn sweep_dad_runs(&mut self) {
        let n = self.link_opts.dad.runs.len();
        if n < 256 || n < 2 * self.link_opts.dad.swept_len {
            return;
        }
        let mut live = std::collections::BTreeSet::new();
        for (_, id) in self.ns_refs() {
            for l in self.ns(id).links.values() {
                for a in &l.addrs {
                    if let (IpAddr::V6(ip), Some(_)) = (a.net.addr(), a.dad_deadline) {
                        live.insert((l.uid, ip));
                    }
                }
            }
        }
        let dad = &mut self.link_opts.dad;
        dad.runs.retain(|k, _| live.contains(k));
        dad.swept_len = dad.runs.len().max(128);
    }
}
