//! Virtual time: a clock that only moves when told, kernel timers (DAD, STP) and the wakers of
//! `sleep_until` futures, all ordered by deadline.

use nsplumb_core::{IfIndex, Timestamp};
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::task::Waker;

use crate::namespace::NsId;

/// A kernel-side timer. Each names the link by namespace, index and the link's unique id, so a
/// timer that outlived its object (link deleted, moved, address removed) is recognised as stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KernelTimer {
    /// Duplicate address detection of `addr` finishes.
    Dad {
        ns: NsId,
        index: IfIndex,
        uid: u64,
        addr: Ipv6Addr,
    },
    /// The STP forward-delay timer of a bridge port expires (listening → learning → forwarding).
    Stp { ns: NsId, index: IfIndex, uid: u64 },
}

#[derive(Default)]
pub(crate) struct Clock {
    pub(crate) now: Timestamp,
    seq: u64,
    pub(crate) timers: BTreeMap<(Timestamp, u64), KernelTimer>,
    pub(crate) sleepers: BTreeMap<(Timestamp, u64), Option<Waker>>,
}

impl Clock {
    pub(crate) fn add_timer(&mut self, at: Timestamp, t: KernelTimer) {
        self.seq += 1;
        self.timers.insert((at, self.seq), t);
    }

    /// Registers a sleeper; the returned key identifies it for re-registration and removal.
    pub(crate) fn add_sleeper(&mut self, at: Timestamp, waker: Waker) -> (Timestamp, u64) {
        self.seq += 1;
        let key = (at, self.seq);
        self.sleepers.insert(key, Some(waker));
        key
    }

    /// Pops the first kernel timer due at or before `limit`.
    pub(crate) fn pop_due_timer(&mut self, limit: Timestamp) -> Option<(Timestamp, KernelTimer)> {
        let (&key, _) = self.timers.iter().next()?;
        if key.0 > limit {
            return None;
        }
        let t = self.timers.remove(&key)?;
        Some((key.0, t))
    }

    /// Removes every sleeper due at or before now and returns their wakers.
    pub(crate) fn take_due_sleepers(&mut self) -> Vec<Waker> {
        let mut out = Vec::new();
        while let Some((&key, _)) = self.sleepers.iter().next() {
            if key.0 > self.now {
                break;
            }
            if let Some(Some(w)) = self.sleepers.remove(&key) {
                out.push(w);
            }
        }
        out
    }
}
