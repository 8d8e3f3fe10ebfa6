//! Virtual time: the kernel's timers (DAD, STP forward delay) and `sleep_until` deadlines.

use super::Kernel;
use crate::clock::KernelTimer;
use crate::link::Link;
use crate::namespace::NsId;
use nsplumb_core::{IfIndex, PortState, Timestamp};
use std::net::IpAddr;
use std::task::Waker;
use std::time::Duration;

impl Kernel {
    /// Virtual now.
    pub fn now(&self) -> Timestamp {
        self.clock.now
    }

    /// Earliest pending kernel timer (DAD, STP) or `sleep_until` deadline.
    pub fn next_deadline(&mut self) -> Option<Timestamp> {
        while let Some((&(at, seq), t)) = self.clock.timers.iter().next() {
            if self.timer_live(t, at) {
                break;
            }
            self.clock.timers.remove(&(at, seq));
        }
        let t = self.clock.timers.keys().next().map(|k| k.0);
        let s = self.clock.sleepers.keys().next().map(|k| k.0);
        match (t, s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves virtual time to `t` (never backwards), firing kernel timers in order and waking
    /// `sleep_until` futures that are due.
    pub fn advance_to(&mut self, t: Timestamp) {
        for w in self.advance_collect(t) {
            w.wake();
        }
    }

    pub fn advance_by(&mut self, d: Duration) {
        let t = self.clock.now + d;
        self.advance_to(t);
    }

    pub(crate) fn advance_collect(&mut self, t: Timestamp) -> Vec<Waker> {
        while let Some((at, timer)) = self.clock.pop_due_timer(t) {
            if at > self.clock.now {
                self.clock.now = at;
            }
            self.fire(at, timer);
        }
        if t > self.clock.now {
            self.clock.now = t;
        }
        self.clock.take_due_sleepers()
    }

    fn timer_live(&self, t: &KernelTimer, at: Timestamp) -> bool {
        match t {
            KernelTimer::Dad {
                ns,
                index,
                uid,
                addr,
            } => self
                .live_link(*ns, *index, *uid)
                .map(|l| {
                    l.addrs
                        .iter()
                        .any(|a| a.net.addr() == IpAddr::V6(*addr) && a.dad_deadline == Some(at))
                })
                .unwrap_or(false),
            KernelTimer::Stp { ns, index, uid } => self
                .live_link(*ns, *index, *uid)
                .and_then(|l| l.port.as_ref())
                .map(|p| p.stp_deadline == Some(at))
                .unwrap_or(false),
        }
    }

    /// Adds a kernel timer. Timers of deleted links or flushed addresses are not cancelled one
    /// by one; when the queue has doubled since the last sweep, stale ones are swept out (so a
    /// benchmark that never advances time does not grow it without bound).
    pub(super) fn schedule(&mut self, at: Timestamp, t: KernelTimer) {
        self.clock.add_timer(at, t);
        let n = self.clock.timers.len();
        if n >= 1024 && n >= 2 * self.swept_len {
            let stale: Vec<(Timestamp, u64)> = self
                .clock
                .timers
                .iter()
                .filter(|(k, t)| !self.timer_live(t, k.0))
                .map(|(k, _)| *k)
                .collect();
            for k in stale {
                self.clock.timers.remove(&k);
            }
            self.swept_len = self.clock.timers.len().max(512);
        }
    }

    fn live_link(&self, ns: NsId, index: IfIndex, uid: u64) -> Option<&Link> {
        self.namespaces
            .get(&ns)?
            .link(index)
            .ok()
            .filter(|l| l.uid == uid)
    }

    fn fire(&mut self, at: Timestamp, timer: KernelTimer) {
        if !self.timer_live(&timer, at) {
            return;
        }
        match timer {
            KernelTimer::Dad {
                ns,
                index,
                uid,
                addr,
            } => self.dad_timer(ns, index, uid, addr, at), // SPEC L5: see `dad`
            KernelTimer::Stp { ns, index, uid } => {
                let br_idx = self.lk(ns, index).master.expect("ports have a master");
                let fd = self
                    .lk(ns, br_idx)
                    .bridge()
                    .map(|b| b.forward_delay_cs)
                    .unwrap_or(1500);
                let port = self
                    .lk_mut(ns, index)
                    .port
                    .as_mut()
                    .expect("live timer implies port");
                match port.state {
                    PortState::Listening => {
                        port.state = PortState::Learning;
                        let next = at + Duration::from_millis(u64::from(fd) * 10);
                        port.stp_deadline = Some(next);
                        self.schedule(next, KernelTimer::Stp { ns, index, uid });
                    }
                    _ => {
                        port.state = PortState::Forwarding;
                        port.stp_deadline = None;
                        self.fwd_delta(ns, br_idx, 1);
                    }
                }
                self.notify(ns, index);
                self.bridge_select(ns, br_idx);
            }
        }
    }
}
