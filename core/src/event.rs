//! What the machines report, so a front end can draw progress without side channels (SPEC S9).

use crate::attached::Attached;
use crate::types::{MacAddr, NetnsRef, Timestamp};
use ipnet::Ipv6Net;
use std::collections::VecDeque;
use std::fmt;

/// The attach and detach phases, in order (SPEC A1–A14, D1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// A2: find, create or move the link.
    Obtaining,
    /// A3: set down and rename.
    Renaming,
    /// A4–A8: MAC, addresses, IPv6 switch, master, link-local addresses, sysctls.
    Configuring,
    /// A9.
    SettingUp,
    /// A10.
    AddingRoutes,
    /// A11.
    WaitingForLink,
    /// A12.
    WaitingForBridgePort,
    /// L5: the IPv6 address added without NODAD, until it is no longer tentative.
    DetectingDuplicateAddress,
    /// A13.
    WaitingForMulticastRoute,
    /// A14: the first announcement.
    Announcing,
    /// A15: undoing completed steps after a failure.
    RollingBack,
    /// D1.
    Detaching,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Obtaining => "obtaining",
            Phase::Renaming => "renaming",
            Phase::Configuring => "configuring",
            Phase::SettingUp => "setting up",
            Phase::AddingRoutes => "adding routes",
            Phase::WaitingForLink => "waiting for link",
            Phase::WaitingForBridgePort => "waiting for bridge port",
            Phase::DetectingDuplicateAddress => "detecting duplicate address",
            Phase::WaitingForMulticastRoute => "waiting for ff02::1 route",
            Phase::Announcing => "announcing",
            Phase::RollingBack => "rolling back",
            Phase::Detaching => "detaching",
        }
    }
}

/// Why announcing ended or never began (SPEC S1, S4, S6–S8).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum StopReason {
    /// All n were sent.
    Done,
    /// Detach came first (S8).
    Cancelled,
    /// S6: the MAC is no longer ours.
    MacChanged {
        got: Option<MacAddr>,
        expected: MacAddr,
    },
    /// S6: the link is gone.
    LinkGone,
    /// A send failed (S4, S7).
    SendError { message: String },
    /// S1, A11: nothing to announce (no address, no MAC, count 0, link never came up).
    NotStarted { why: String },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Done => f.write_str("done"),
            StopReason::Cancelled => f.write_str("cancelled"),
            StopReason::MacChanged { got, expected } => {
                let got = got.map(|m| m.to_string()).unwrap_or_else(|| "none".into());
                write!(f, "MAC address changed, got {got}, expected {expected}")
            }
            StopReason::LinkGone => f.write_str("link gone"),
            StopReason::SendError { message } => write!(f, "send error: {message}"),
            StopReason::NotStarted { why } => write!(f, "not started: {why}"),
        }
    }
}

/// One observable step, stamped with the namespace, the interface and the time it happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    pub netns: NetnsRef,
    /// The destination name (the source name while it is not known yet).
    pub iface: String,
    pub at: Timestamp,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Phase(Phase),
    Warning(String),
    /// A8: the requested IPv6 address is not on the interface after the sysctls.
    Ipv6Dropped(#[serde(serialize_with = "crate::types::serde_display")] Ipv6Net),
    /// Announcement `sent` of `of` went out; `next_due` is when the next one will.
    Announced {
        sent: u32,
        of: u32,
        next_due: Option<Timestamp>,
    },
    AnnounceStopped(StopReason),
    Attached(Box<Attached>),
    /// A15: the attach failed; completed steps were undone.
    RolledBack {
        cause: String,
        rollback_errors: Vec<String>,
    },
    Detached,
    /// D3 and other detach failures.
    DetachFailed(String),
}

/// The events a machine has ready. Switched off when nobody listens, so that a lifecycle nobody
/// watches builds no event at all.
#[derive(Debug)]
pub(crate) struct EventQueue {
    queue: VecDeque<Event>,
    enabled: bool,
}

impl Default for EventQueue {
    fn default() -> Self {
        EventQueue {
            queue: VecDeque::new(),
            enabled: true,
        }
    }
}

impl EventQueue {
    pub(crate) fn push(&mut self, netns: &NetnsRef, iface: &str, at: Timestamp, kind: EventKind) {
        if self.enabled {
            self.queue.push_back(Event {
                netns: netns.clone(),
                iface: iface.to_string(),
                at,
                kind,
            });
        }
    }

    pub(crate) fn push_event(&mut self, event: Event) {
        if self.enabled {
            self.queue.push_back(event);
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        self.queue.pop_front()
    }

    pub(crate) fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
        if !enabled {
            self.queue.clear();
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }
}
