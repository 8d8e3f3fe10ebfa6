//! The attach lifecycle (SPEC A2–A15) as a sans-IO machine: its state and the shell that
//! routes each reply, event and deadline to the room of the phase it belongs to.
//!
//! - [`obtain`]: A2–A3, get the link into the namespace under its name;
//! - [`link_options`]: L1–L4 first in A4, the MTU and the host end's bridge port;
//! - [`configure`]: A4–A10, configure it, set it up, add its routes;
//! - [`wait`]: A11–A13, wait for the link, the bridge port and the `ff02::1` route;
//! - [`dad`]: L5, duplicate address detection on request (sysctls in A4, the address after A12);
//! - [`handoff`]: A14, the first announcement and the announcer handed over;
//! - [`rollback`]: A15, undo every completed step on failure.
//!
//! Errors are in [`crate::error`].

mod configure;
mod dad;
mod handoff;
mod link_options;
mod obtain;
mod rollback;
mod wait;

use crate::announce::Announcer;
use crate::attached::{Attached, Origin};
use crate::command::{Command, Input, Reply, SubscriptionId};
use crate::error::{AttachError, StepError};
use crate::event::{Event, EventKind, EventQueue, Phase};
use crate::request::Request;
use crate::types::{IfIndex, LinkInfo, NetnsRef, PortState, Timestamp};
use crate::undo::UndoLog;
use crate::validate::ValidSpec;
use crate::{BackendError, Source};
use configure::Configuring;
use dad::DadStep;
use ipnet::Ipv6Net;
use link_options::{HostEnd, LinkOptionStep};
use obtain::Obtaining;
use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::Duration;
use wait::Waiting;

pub use dad::DAD_POLL;

/// A9: retries after the first failed set-up, and their spacing.
pub const LINK_UP_RETRIES: u32 = 3;
pub const LINK_UP_RETRY_DELAY: Duration = Duration::from_millis(10);
/// A11: how long to wait for the link to report UP.
pub const LINK_UP_WAIT: Duration = Duration::from_secs(5);
/// A12: how long to wait for the bridge port to forward.
pub const BRIDGE_PORT_WAIT: Duration = Duration::from_millis(200);
/// A13: how long to wait for the `ff02::1` route, and how often to ask.
pub const MCAST_ROUTE_WAIT: Duration = Duration::from_millis(200);
pub const MCAST_ROUTE_POLL: Duration = Duration::from_millis(10);

const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const NS_EVENTS: SubscriptionId = 1;
const HOST_EVENTS: SubscriptionId = 2;

/// The master bridge resolved from the registry (SPEC V9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterRef {
    pub name: String,
    pub index: IfIndex,
}

/// Everything an attach needs decided up front: the validated spec, the reserved destination
/// name (SPEC N2/N3) and the resolved master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachPlan {
    pub netns: NetnsRef,
    pub spec: ValidSpec,
    pub name: String,
    pub master: Option<MasterRef>,
}

/// What the outstanding command's reply means: a step of one phase's room.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Await {
    Nothing,
    Obtain(Obtaining),
    Configure(Configuring),
    LinkOptions(LinkOptionStep),
    Wait(Waiting),
    Dad(DadStep),
    /// The first round's announcer command (A14).
    Announcing,
    /// An undo request (A15).
    Undo(Request),
}

impl From<Obtaining> for Await {
    fn from(step: Obtaining) -> Await {
        Await::Obtain(step)
    }
}

impl From<Configuring> for Await {
    fn from(step: Configuring) -> Await {
        Await::Configure(step)
    }
}

impl From<LinkOptionStep> for Await {
    fn from(step: LinkOptionStep) -> Await {
        Await::LinkOptions(step)
    }
}

impl From<DadStep> for Await {
    fn from(step: DadStep) -> Await {
        Await::Dad(step)
    }
}

impl From<Waiting> for Await {
    fn from(step: Waiting) -> Await {
        Await::Wait(step)
    }
}

/// A bridge as read in A2, for A12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KnownBridge {
    index: IfIndex,
    bridge: Option<crate::types::BridgeInfo>,
}

/// Timer-driven waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    UpRetry(Timestamp),
    LinkUp(Timestamp),
    Port(Timestamp),
    McastRetry {
        at: Timestamp,
        give_up: Timestamp,
    },
    /// L5: ask again whether the address is still tentative.
    DadPoll(Timestamp),
}

impl Wait {
    fn due(self) -> Timestamp {
        match self {
            Wait::UpRetry(t) | Wait::LinkUp(t) | Wait::Port(t) | Wait::DadPoll(t) => t,
            Wait::McastRetry { at, .. } => at,
        }
    }
}

/// One attach, from obtaining the link to the first announcement (or a complete rollback).
///
/// Drive it like quinn-proto's `Connection`: run each [`Command`] from [`Attach::poll_command`]
/// and feed the outcome to [`Attach::handle_input`]; wake it at [`Attach::poll_timeout`] with
/// [`Attach::handle_timeout`]; drain [`Attach::poll_event`]. When [`Attach::outcome`] is set the
/// attach is over; [`Attach::take_announcer`] then hands over the remaining announcements.
#[derive(Debug)]
pub struct Attach {
    plan: AttachPlan,
    awaiting: Await,
    wait: Option<Wait>,
    pending: Option<Command>,
    events: EventQueue,
    undo: UndoLog,
    origin: Origin,
    index: IfIndex,
    /// The source link as found before attach (for undo).
    original: Option<LinkInfo>,
    /// The link as read when A4 starts (A11's read, also A6's), kept current by the link
    /// events of the namespace subscription.
    link: Option<LinkInfo>,
    ipv6: Option<Ipv6Net>,
    ipv6_dropped: Option<Ipv6Net>,
    warnings: Vec<String>,
    up_failures: u32,
    peer: Option<IfIndex>,
    peer_state: Option<PortState>,
    /// The host bridge as read on the veth fast path (A2), so A12 need not read it again.
    known_bridge: Option<KnownBridge>,
    /// L2–L4: the host end's bridge port, once found.
    host_end: Option<HostEnd>,
    /// L1: the MTU a link moved in from the host had, when A4 changed it.
    original_mtu: Option<u32>,
    /// L5: when DAD has taken too long.
    dad_give_up: Option<Timestamp>,
    mcast_route_ok: bool,
    mcast_give_up: Option<Timestamp>,
    announcer: Option<Announcer>,
    rollback: VecDeque<Request>,
    failure: Option<StepError>,
    rollback_errors: Vec<BackendError>,
    outcome: Option<Result<Attached, AttachError>>,
    /// A2 and A3 are done: the link is in the namespace under its name, A4 is next.
    obtained: bool,
}

impl Attach {
    pub fn new(plan: AttachPlan, now: Timestamp) -> Attach {
        let origin = match (&plan.spec.source, plan.netns.is_host()) {
            (Source::HostLink(_), true) => Origin::InHost,
            (Source::HostLink(_), false) => Origin::MovedFromHost,
            (Source::CreatedInNamespace(_), _) => Origin::CreatedInNamespace,
            (Source::NewBridge(_), _) => Origin::NewBridge,
            (Source::VethOnBridge { .. }, _) => Origin::NewVeth { host_index: 0 },
        };
        let mut a = Attach {
            ipv6: plan.spec.ipv6,
            plan,
            awaiting: Await::Nothing,
            wait: None,
            pending: None,
            events: EventQueue::default(),
            undo: UndoLog::default(),
            origin,
            index: 0,
            original: None,
            link: None,
            ipv6_dropped: None,
            warnings: Vec::new(),
            up_failures: 0,
            peer: None,
            peer_state: None,
            known_bridge: None,
            host_end: None,
            original_mtu: None,
            dad_give_up: None,
            mcast_route_ok: true,
            mcast_give_up: None,
            announcer: None,
            rollback: VecDeque::new(),
            failure: None,
            rollback_errors: Vec::new(),
            outcome: None,
            obtained: false,
        };
        a.start(now);
        a
    }

    pub fn plan(&self) -> &AttachPlan {
        &self.plan
    }

    /// The destination name (reserved for this attach).
    pub fn name(&self) -> &str {
        &self.plan.name
    }

    pub fn poll_command(&mut self) -> Option<Command> {
        self.pending.take()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.wait.map(Wait::due)
    }

    /// `Some` once the attach is over: attached, or failed and rolled back.
    pub fn outcome(&self) -> Option<&Result<Attached, AttachError>> {
        self.outcome.as_ref()
    }

    /// A2 and A3 are done: the link is in the namespace under its final name (and stays
    /// counted so). [`crate::Plumber::attach_many`] pauses each attach here, so that all links
    /// are obtained before any is configured.
    pub fn obtained(&self) -> bool {
        self.obtained
    }

    pub fn take_outcome(&mut self) -> Option<Result<Attached, AttachError>> {
        self.outcome.take()
    }

    /// The announcer with the remaining rounds, once the attach succeeded and more are due.
    pub fn take_announcer(&mut self) -> Option<Announcer> {
        self.announcer.take().filter(|a| !a.is_finished())
    }

    pub fn handle_timeout(&mut self, now: Timestamp) {
        let Some(wait) = self.wait else { return };
        if now < wait.due() {
            return;
        }
        self.wait = None;
        match wait {
            Wait::UpRetry(_) => self.set_up(now),
            Wait::LinkUp(_) => self.link_up_timed_out(now),
            Wait::Port(_) => self.port_timed_out(now),
            Wait::McastRetry { give_up, .. } => self.mcast_retry_due(now, give_up),
            Wait::DadPoll(_) => self.dad_poll(),
        }
    }

    pub fn handle_input(&mut self, now: Timestamp, input: Input) {
        match input {
            Input::Reply(result) => {
                let awaiting = std::mem::replace(&mut self.awaiting, Await::Nothing);
                self.on_reply(now, awaiting, result);
            }
            Input::LinkEvent { id, event } => self.on_link_event(now, id, event),
        }
    }

    /// Each reply to the room of the step that asked for it.
    fn on_reply(&mut self, now: Timestamp, awaiting: Await, result: Result<Reply, BackendError>) {
        match awaiting {
            Await::Obtain(step) => self.on_obtain_reply(now, step, result),
            Await::Configure(step) => self.on_configure_reply(now, step, result),
            Await::LinkOptions(step) => self.on_link_option_reply(now, step, result),
            Await::Wait(step) => self.on_wait_reply(now, step, result),
            Await::Dad(step) => self.on_dad_reply(now, step, result),
            Await::Announcing => self.on_announce_reply(now, result),
            Await::Undo(request) => self.on_undo_reply(now, request, result),
            Await::Nothing => match result {
                Ok(reply) => self.unexpected(now, &Await::Nothing, reply),
                Err(e) => self.fail(now, StepError::new("reply without a command", Some(e))),
            },
        }
    }

    /// A reply of a shape the step never gets: the attach fails (and rolls back).
    fn unexpected(&mut self, now: Timestamp, step: &dyn std::fmt::Debug, reply: Reply) {
        let ctx = format!("unexpected backend reply {reply:?} while awaiting {step:?}");
        self.fail(now, StepError::new(ctx, None))
    }

    // ---- plumbing ----

    fn issue(&mut self, command: impl Into<Command>, awaiting: impl Into<Await>) {
        debug_assert!(self.pending.is_none(), "one command at a time");
        self.pending = Some(command.into());
        self.awaiting = awaiting.into();
    }

    fn ns(&self) -> NetnsRef {
        self.plan.netns.clone()
    }

    fn push(&mut self, now: Timestamp, kind: EventKind) {
        self.events
            .push(&self.plan.netns, &self.plan.name, now, kind);
    }

    /// Build no events: nobody listens.
    pub fn set_events(&mut self, enabled: bool) {
        self.events.set_enabled(enabled);
    }

    fn phase(&mut self, now: Timestamp, phase: Phase) {
        tracing::debug!(iface = %self.plan.name, netns = %self.plan.netns, ifindex = self.index, phase = phase.as_str(), "attach phase");
        self.push(now, EventKind::Phase(phase));
    }

    fn warn(&mut self, now: Timestamp, message: String) {
        tracing::warn!(iface = %self.plan.name, netns = %self.plan.netns, "{message}");
        self.warnings.push(message.clone());
        self.push(now, EventKind::Warning(message));
    }

    fn source_name(&self) -> &str {
        self.plan.spec.source.name()
    }
}

#[cfg(test)]
mod tests;
