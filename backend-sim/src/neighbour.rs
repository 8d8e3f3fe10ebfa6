//! Neighbour caches (ARP and NDP), per namespace, keyed by link and IP.
//!
//! Linux 6.x `arp_process` / `ndisc_recv_na` rules the simulator follows:
//! - A gratuitous ARP (sender IP == target IP, and the sender IP routed as unicast in the
//!   receiving namespace: checked, with no route to it the kernel ignores the frame) updates an
//!   existing entry for that IP (new MAC, state STALE); with `arp_accept=0` (default) it does
//!   not create one, with `arp_accept=1` it creates a STALE entry. Any ARP may also replace the
//!   MAC of an entry not updated for `locktime` (1 s).
//! - An unsolicited NA with the Override flag replaces an existing entry's MAC (STALE); without
//!   it a REACHABLE entry with another MAC only becomes STALE; without `accept_untracked_na` it
//!   creates nothing.
//! - PERMANENT and NOARP entries are never changed by received frames; a frame carrying the
//!   MAC already cached leaves the state alone.
//! - Entries of a link are flushed when the link goes down, is deleted or moved; on carrier loss
//!   the non-permanent ones go (`arp_evict_nocarrier` / `ndisc_evict_nocarrier` = 1).

use nsplumb_core::{IfIndex, MacAddr, Timestamp};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// `NUD_*` states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NeighState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
    Noarp,
    Permanent,
}

/// One neighbour cache entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NeighEntry {
    pub index: IfIndex,
    pub ip: IpAddr,
    pub mac: MacAddr,
    pub state: NeighState,
}

/// How a received frame may change an entry (`NEIGH_UPDATE_F_*`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Update {
    /// Create a missing entry (arp_accept with a gratuitous ARP, accept_untracked_na).
    pub(crate) create: bool,
    /// `NEIGH_UPDATE_F_OVERRIDE`: replace a different cached MAC.
    pub(crate) override_: bool,
    /// `NEIGH_UPDATE_F_WEAK_OVERRIDE`: a different MAC without override demotes a connected
    /// entry to STALE (keeping its MAC).
    pub(crate) weak: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Neighbours {
    /// (MAC, state, last update of the MAC in virtual time).
    pub(crate) entries: BTreeMap<(IfIndex, IpAddr), (MacAddr, NeighState, Timestamp)>,
}

impl Neighbours {
    /// `neigh_update` for a received frame announcing `ip` at `mac` (new state STALE).
    /// `locktime`: an entry not updated for that long may be overridden anyway (IPv4 ARP).
    pub(crate) fn learn(
        &mut self,
        index: IfIndex,
        ip: IpAddr,
        mac: MacAddr,
        u: Update,
        now: Timestamp,
        locktime: Option<Duration>,
    ) {
        match self.entries.get_mut(&(index, ip)) {
            Some((old, state, updated)) => {
                if matches!(state, NeighState::Permanent | NeighState::Noarp) {
                    return;
                }
                let valid = !matches!(state, NeighState::Incomplete | NeighState::Failed);
                if !valid {
                    *old = mac;
                    *state = NeighState::Stale;
                    *updated = now;
                    return;
                }
                if *old == mac {
                    return;
                }
                let override_ =
                    u.override_ || locktime.map(|l| now >= *updated + l).unwrap_or(false);
                if override_ {
                    *old = mac;
                    *state = NeighState::Stale;
                    *updated = now;
                } else if u.weak && *state == NeighState::Reachable {
                    *state = NeighState::Stale;
                }
            }
            None if u.create => {
                self.entries
                    .insert((index, ip), (mac, NeighState::Stale, now));
            }
            None => {}
        }
    }

    pub(crate) fn flush_link(&mut self, index: IfIndex, keep_permanent: bool) {
        if self.entries.is_empty() {
            return;
        }
        self.entries.retain(|(i, _), (_, s, _)| {
            *i != index || (keep_permanent && *s == NeighState::Permanent)
        });
    }

    pub(crate) fn list(&self) -> Vec<NeighEntry> {
        self.entries
            .iter()
            .map(|((index, ip), (mac, state, _))| NeighEntry {
                index: *index,
                ip: *ip,
                mac: *mac,
                state: *state,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    #[test]
    fn neigh_update_rules() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Timestamp::ZERO;
        let lock = Some(Duration::from_secs(1));
        let mut n = Neighbours::default();
        let plain = Update {
            create: false,
            override_: false,
            weak: false,
        };
        // absent + no create: nothing
        n.learn(2, ip, m("02:00:00:00:00:01"), plain, t0, lock);
        assert!(n.entries.is_empty());
        n.entries
            .insert((2, ip), (m("02:00:00:00:00:01"), NeighState::Reachable, t0));
        // different MAC, no override, within locktime: ignored
        n.learn(2, ip, m("02:00:00:00:00:02"), plain, t0, lock);
        assert_eq!(n.list()[0].mac, m("02:00:00:00:00:01"));
        // after locktime any ARP overrides
        n.learn(
            2,
            ip,
            m("02:00:00:00:00:02"),
            plain,
            t0 + Duration::from_secs(1),
            lock,
        );
        assert_eq!(
            (n.list()[0].mac, n.list()[0].state),
            (m("02:00:00:00:00:02"), NeighState::Stale)
        );
        // weak override (NA without O) demotes a REACHABLE entry, keeps its MAC
        n.entries
            .insert((2, ip), (m("02:00:00:00:00:01"), NeighState::Reachable, t0));
        let weak = Update {
            create: false,
            override_: false,
            weak: true,
        };
        n.learn(2, ip, m("02:00:00:00:00:03"), weak, t0, None);
        assert_eq!(
            (n.list()[0].mac, n.list()[0].state),
            (m("02:00:00:00:00:01"), NeighState::Stale)
        );
        // same MAC keeps the state
        n.entries
            .insert((2, ip), (m("02:00:00:00:00:01"), NeighState::Reachable, t0));
        let ov = Update {
            create: false,
            override_: true,
            weak: true,
        };
        n.learn(2, ip, m("02:00:00:00:00:01"), ov, t0, None);
        assert_eq!(n.list()[0].state, NeighState::Reachable);
        // permanent never changes
        n.entries
            .insert((2, ip), (m("02:00:00:00:00:01"), NeighState::Permanent, t0));
        n.learn(2, ip, m("02:00:00:00:00:09"), ov, t0, None);
        assert_eq!(n.list()[0].mac, m("02:00:00:00:00:01"));
        // create
        let ip2: IpAddr = "192.0.2.8".parse().unwrap();
        n.learn(
            2,
            ip2,
            m("02:00:00:00:00:09"),
            Update {
                create: true,
                override_: true,
                weak: false,
            },
            t0,
            lock,
        );
        assert_eq!(n.list().len(), 2);
        n.flush_link(2, true);
        assert_eq!(n.list().len(), 1);
        n.flush_link(2, false);
        assert!(n.list().is_empty());
    }
}
