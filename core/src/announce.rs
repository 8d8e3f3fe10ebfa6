//! Unsolicited ARP / NA scheduling (SPEC S1–S9) as a sans-IO machine.

use crate::command::{Command, Input, Reply};
use crate::event::{Event, EventKind, EventQueue, StopReason};
use crate::request::Request;
use crate::types::{IfIndex, MacAddr, NetnsRef, Timestamp};
use crate::Errno;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// What to announce, decided at the end of attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceTarget {
    pub netns: NetnsRef,
    pub iface: String,
    pub index: IfIndex,
    pub mac: MacAddr,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub count: u32,
    pub interval: Duration,
    /// A13 found the `ff02::1` route; when it did not, NA's ENETUNREACH is ignored (S7).
    pub mcast_route_ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Waiting for the next send at this time.
    Due(Timestamp),
    /// S6: re-reading the link before a send.
    CheckingLink,
    SendingArp,
    SendingNa,
    Stopped(StopReason),
}

/// Sends `count` rounds of ARP + NA, `interval` apart, re-checking the link before each.
///
/// The first round is due at creation (SPEC S4: it is sent during attach); the rest follow one
/// interval after the previous round went out (S5), so spacing is never below the interval.
#[derive(Debug)]
pub struct Announcer {
    target: AnnounceTarget,
    state: State,
    sent: u32,
    round_started: Timestamp,
    round_errors: Vec<String>,
    pending: Option<Request>,
    events: EventQueue,
}

impl Announcer {
    pub fn new(target: AnnounceTarget, now: Timestamp) -> Announcer {
        let mut a = Announcer {
            target,
            state: State::Due(now),
            sent: 0,
            round_started: now,
            round_errors: Vec::new(),
            pending: None,
            events: EventQueue::default(),
        };
        if a.target.count == 0 {
            a.stop(
                now,
                StopReason::NotStarted {
                    why: "announce count is 0".into(),
                },
            );
        }
        a
    }

    /// Rounds sent so far.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    pub fn stop_reason(&self) -> Option<&StopReason> {
        match &self.state {
            State::Stopped(r) => Some(r),
            _ => None,
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Stopped(_))
    }

    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.state {
            State::Due(t) => Some(t),
            _ => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Timestamp) {
        if let State::Due(t) = self.state {
            if now >= t {
                self.round_started = now;
                self.round_errors.clear();
                self.state = State::CheckingLink;
                self.pending = Some(Request::LinkByIndex {
                    netns: self.target.netns.clone(),
                    index: self.target.index,
                });
            }
        }
    }

    pub fn poll_command(&mut self) -> Option<Command> {
        self.pending.take().map(Command::Kernel)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// S8: stop now. A command already handed out may still complete; nothing follows it.
    pub fn cancel(&mut self, now: Timestamp) {
        if !self.is_finished() {
            self.pending = None;
            self.stop(now, StopReason::Cancelled);
        }
    }

    /// The driver found the announcer waiting for nothing: it stops, saying why.
    pub fn handle_stall(&mut self, now: Timestamp) {
        if !self.is_finished() {
            self.pending = None;
            let message = "announcing stalled: it waited for nothing".to_string();
            self.stop(now, StopReason::SendError { message });
        }
    }

    pub fn handle_input(&mut self, now: Timestamp, input: Input) {
        let Input::Reply(result) = input else {
            return;
        };
        match self.state {
            State::CheckingLink => match result {
                Ok(Reply::Link(link)) if link.mac == Some(self.target.mac) => self.send_next(now),
                Ok(Reply::Link(link)) => {
                    let reason = StopReason::MacChanged {
                        got: link.mac,
                        expected: self.target.mac,
                    };
                    self.warn(now, reason.to_string());
                    self.stop(now, reason);
                }
                Err(e) if e.is(Errno::ENODEV) => self.stop(now, StopReason::LinkGone),
                Err(e) => {
                    let message = format!("failed to refresh link attributes: {e}");
                    self.stop(now, StopReason::SendError { message });
                }
                Ok(other) => self.unexpected(now, other),
            },
            State::SendingArp => {
                if let Err(e) = result {
                    self.round_errors.push(e.to_string());
                }
                self.state = State::SendingNa;
                self.send_next(now);
            }
            State::SendingNa => {
                if let Err(e) = result {
                    let ignorable = e.is(Errno::ENETUNREACH) && !self.target.mcast_route_ok;
                    if !ignorable {
                        self.round_errors.push(e.to_string());
                    }
                }
                self.finish_round(now);
            }
            State::Due(_) | State::Stopped(_) => {}
        }
    }

    /// Issue the next send of this round, or finish it.
    fn send_next(&mut self, now: Timestamp) {
        let t = &self.target;
        if self.state == State::CheckingLink {
            self.state = State::SendingArp;
            if let Some(addr) = t.ipv4 {
                self.pending = Some(Request::SendArp {
                    netns: t.netns.clone(),
                    index: t.index,
                    mac: t.mac,
                    addr,
                });
                return;
            }
            self.state = State::SendingNa;
        }
        if self.state == State::SendingNa {
            if let Some(addr) = t.ipv6 {
                self.pending = Some(Request::SendNa {
                    netns: t.netns.clone(),
                    index: t.index,
                    mac: t.mac,
                    addr,
                });
                return;
            }
        }
        self.finish_round(now);
    }

    fn finish_round(&mut self, now: Timestamp) {
        if !self.round_errors.is_empty() {
            let message = self.round_errors.join("; ");
            self.stop(now, StopReason::SendError { message });
            return;
        }
        self.sent += 1;
        let next_due = (self.sent < self.target.count).then(|| now + self.target.interval);
        self.push(
            now,
            EventKind::Announced {
                sent: self.sent,
                of: self.target.count,
                next_due,
            },
        );
        match next_due {
            Some(t) => self.state = State::Due(t),
            None => self.stop(now, StopReason::Done),
        }
    }

    fn unexpected(&mut self, now: Timestamp, reply: Reply) {
        let message = format!("unexpected backend reply {reply:?}");
        self.stop(now, StopReason::SendError { message });
    }

    fn warn(&mut self, now: Timestamp, message: String) {
        self.push(now, EventKind::Warning(message));
    }

    fn stop(&mut self, now: Timestamp, reason: StopReason) {
        self.state = State::Stopped(reason.clone());
        self.push(now, EventKind::AnnounceStopped(reason));
    }

    fn push(&mut self, now: Timestamp, kind: EventKind) {
        self.events
            .push(&self.target.netns, &self.target.iface, now, kind);
    }

    /// Build no events: nobody listens.
    pub fn set_events(&mut self, enabled: bool) {
        self.events.set_enabled(enabled);
    }
}

#[cfg(test)]
mod tests;
