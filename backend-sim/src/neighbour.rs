//! Neighbour caches (ARP and NDP), per namespace, keyed by link and IP.
//!
//! Linux 6.x `arp_process` / `ndisc_recv_na` rules the simulator follows:
//! - A gratuitous ARP (sender IP == target IP) updates an existing entry for that IP (new MAC,
//!   state STALE); with `arp_accept=0` (default) it does not create one, with `arp_accept=1` it
//!   creates a STALE entry.
//! - An unsolicited NA with the Override flag replaces an existing entry's MAC (STALE); without
//!   `accept_untracked_na` it creates nothing.
//! - PERMANENT and NOARP entries are never changed by received frames; a frame carrying the
//!   MAC already cached leaves the state alone.
//! - Entries of a link are flushed when the link goes down, is deleted or moved; on carrier loss
//!   the non-permanent ones go (`arp_evict_nocarrier` / `ndisc_evict_nocarrier` = 1).

use nsplumb_core::{IfIndex, MacAddr};
use std::collections::BTreeMap;
use std::net::IpAddr;

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

#[derive(Debug, Clone, Default)]
pub(crate) struct Neighbours {
    pub(crate) entries: BTreeMap<(IfIndex, IpAddr), (MacAddr, NeighState)>,
}

impl Neighbours {
    /// Applies a received announcement. `create` allows creating a missing entry.
    pub(crate) fn learn(&mut self, index: IfIndex, ip: IpAddr, mac: MacAddr, create: bool) {
        match self.entries.get_mut(&(index, ip)) {
            Some((old, state)) => {
                if matches!(state, NeighState::Permanent | NeighState::Noarp) || *old == mac {
                    return;
                }
                *old = mac;
                *state = NeighState::Stale;
            }
            None if create => {
                self.entries.insert((index, ip), (mac, NeighState::Stale));
            }
            None => {}
        }
    }

    pub(crate) fn flush_link(&mut self, index: IfIndex, keep_permanent: bool) {
        if self.entries.is_empty() {
            return;
        }
        self.entries.retain(|(i, _), (_, s)| {
            *i != index || (keep_permanent && *s == NeighState::Permanent)
        });
    }

    pub(crate) fn list(&self) -> Vec<NeighEntry> {
        self.entries
            .iter()
            .map(|((index, ip), (mac, state))| NeighEntry {
                index: *index,
                ip: *ip,
                mac: *mac,
                state: *state,
            })
            .collect()
    }
}
