//! The attach lifecycle (SPEC A2–A15) as a sans-IO machine.

use crate::announce::{AnnounceTarget, Announcer};
use crate::attached::{Attached, Origin};
use crate::command::{Command, Input, Reply, SubscriptionId};
use crate::error::{AttachError, StepError};
use crate::event::{Event, EventKind, EventQueue, Phase, StopReason};
use crate::request::{Request, VethRequest};
use crate::types::{
    Family, IfIndex, LinkEvent, LinkInfo, LinkKind, NetnsRef, PortState, RouteInfo, RouteScope,
    RouteSpec, Timestamp,
};
use crate::undo::UndoLog;
use crate::validate::{is_unspecified_route, ValidSpec};
use crate::{BackendError, Errno, Source};
use ipnet::{IpNet, Ipv6Net};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

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

/// What the outstanding command's reply means.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Await {
    Nothing,
    BridgeForVeth,
    VethCreated,
    BridgeCreated,
    LinkInNamespace,
    LinkInHost,
    Moved,
    /// Before setting an up link down: its routes and IPv6 addresses, to restore on failure.
    OwnRoutes(Family),
    OwnAddresses,
    Down,
    Renamed,
    MacSet,
    RoutesV4,
    Ipv4Added,
    DisableIpv6Read,
    DisableIpv6Written {
        old: String,
    },
    RoutesV6,
    Ipv6Added,
    MasterSet,
    LinkLocalAdded(usize),
    SysctlRead(usize),
    SysctlWritten(usize, String),
    AddressesChecked,
    Up,
    RouteAdded(usize),
    NsSubscribed,
    LinkRead,
    /// A11 read again after lost events.
    LinkReread,
    /// A12: the host end read again after lost events.
    PeerReread,
    HostSubscribed,
    PeerRead,
    BridgeRead,
    Unsubscribed(AfterUnsubscribe),
    McastRoute,
    Announcing,
    /// After a failed move: is the link still in the host?
    MoveFailedHostCheck(StepError),
    /// It left the host: did it land in the namespace under its source name?
    MoveFailedNamespaceCheck(StepError),
    Undo(Request),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterUnsubscribe {
    LinkUp,
    LinkNeverUp,
    PortDone,
}

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
    McastRetry { at: Timestamp, give_up: Timestamp },
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
        match self.wait? {
            Wait::UpRetry(t) | Wait::LinkUp(t) | Wait::Port(t) => Some(t),
            Wait::McastRetry { at, .. } => Some(at),
        }
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
        let due = match wait {
            Wait::UpRetry(t) | Wait::LinkUp(t) | Wait::Port(t) => t,
            Wait::McastRetry { at, .. } => at,
        };
        if now < due {
            return;
        }
        self.wait = None;
        match wait {
            Wait::UpRetry(_) => self.set_up(now),
            Wait::LinkUp(_) => {
                self.warn(
                    now,
                    format!(
                        "link {} did not come up within {} s; not announcing",
                        self.plan.name,
                        LINK_UP_WAIT.as_secs()
                    ),
                );
                self.unsubscribe(NS_EVENTS, AfterUnsubscribe::LinkNeverUp);
            }
            Wait::Port(_) => {
                self.warn(
                    now,
                    format!(
                        "bridge port of {} not forwarding after {} ms",
                        self.plan.name,
                        BRIDGE_PORT_WAIT.as_millis()
                    ),
                );
                self.unsubscribe(HOST_EVENTS, AfterUnsubscribe::PortDone);
            }
            Wait::McastRetry { give_up, .. } => {
                if now >= give_up {
                    self.mcast_route_ok = false;
                    self.warn(
                        now,
                        "no route to ff02::1 for the neighbour advertisement".into(),
                    );
                    self.announce(now);
                } else {
                    self.query_mcast_route(give_up);
                }
            }
        }
    }

    /// The driver found this attach waiting for nothing (see [`crate::Machine::handle_stall`]):
    /// it fails and rolls back (SPEC A15); a rollback under way goes on.
    pub fn handle_stall(&mut self, now: Timestamp) {
        if self.outcome.is_some() {
            return;
        }
        self.pending = None;
        self.awaiting = Await::Nothing;
        if self.failure.is_some() {
            return self.next_undo(now);
        }
        let ctx = format!(
            "attach of interface {:?} in namespace {} stalled: it waited for nothing (no deadline, no link events)",
            self.plan.name, self.plan.netns
        );
        self.fail(now, StepError::new(ctx, None));
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

    // ---- plumbing ----

    fn issue(&mut self, command: impl Into<Command>, awaiting: Await) {
        debug_assert!(self.pending.is_none(), "one command at a time");
        self.pending = Some(command.into());
        self.awaiting = awaiting;
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

    // ---- A2: obtain the link ----

    fn start(&mut self, now: Timestamp) {
        self.phase(now, Phase::Obtaining);
        let ns = self.ns();
        match self.plan.spec.source.clone() {
            Source::VethOnBridge { bridge, .. } => self.issue(
                Request::LinkByName {
                    netns: NetnsRef::Host,
                    name: bridge,
                },
                Await::BridgeForVeth,
            ),
            Source::NewBridge(name) => self.issue(
                Request::CreateBridge { netns: ns, name },
                Await::BridgeCreated,
            ),
            Source::CreatedInNamespace(name) => self.issue(
                Request::LinkByName { netns: ns, name },
                Await::LinkInNamespace,
            ),
            Source::HostLink(name) => self.issue(
                Request::LinkByName {
                    netns: NetnsRef::Host,
                    name,
                },
                Await::LinkInHost,
            ),
        }
    }

    fn on_reply(&mut self, now: Timestamp, awaiting: Await, result: Result<Reply, BackendError>) {
        match (awaiting, result) {
            // A2
            (Await::BridgeForVeth, Ok(Reply::Link(bridge))) => {
                let Source::VethOnBridge {
                    bridge: bname,
                    host_name,
                } = self.plan.spec.source.clone()
                else {
                    unreachable!("awaiting a bridge only on the veth path")
                };
                self.known_bridge = Some(KnownBridge {
                    index: bridge.index,
                    bridge: bridge.bridge,
                });
                if bridge.kind != LinkKind::Bridge {
                    let ctx = format!(
                        "veth_on_bridge {bname:?} is a {}, not a bridge",
                        bridge.kind.as_str()
                    );
                    return self.fail(now, StepError::new(ctx, None));
                }
                let request = VethRequest {
                    host_name,
                    host_master: Some(bridge.index),
                    host_up: true,
                    peer_netns: self.ns(),
                    peer_name: self.plan.name.clone(),
                    peer_mac: self.plan.spec.mac,
                };
                self.issue(
                    Request::CreateVeth {
                        netns: NetnsRef::Host,
                        request,
                    },
                    Await::VethCreated,
                );
            }
            (Await::BridgeForVeth, Err(e)) => {
                let ctx = match &self.plan.spec.source {
                    Source::VethOnBridge { bridge, .. } => {
                        format!("failed to find bridge {bridge:?} in the host namespace")
                    }
                    _ => unreachable!(),
                };
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::VethCreated, Ok(Reply::Veth(pair))) => {
                self.index = pair.peer_index;
                self.origin = Origin::NewVeth {
                    host_index: pair.host_index,
                };
                self.undo.record_leave(Request::DeleteLinks {
                    netns: NetnsRef::Host,
                    indices: vec![pair.host_index],
                });
                self.configure(now);
            }
            (Await::VethCreated, Err(e)) => {
                let ctx = if e.is(Errno::EEXIST) {
                    format!(
                        "error renaming interface {:?} to {:?}",
                        self.source_name(),
                        self.plan.name
                    )
                } else {
                    format!(
                        "failed to create veth pair {:?} / {:?}",
                        self.source_name(),
                        self.plan.name
                    )
                };
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::BridgeCreated, Ok(Reply::Index(index))) => {
                self.index = index;
                self.undo.record_leave(Request::DeleteLinks {
                    netns: self.ns(),
                    indices: vec![index],
                });
                self.rename(now);
            }
            (Await::BridgeCreated, Err(e)) => {
                let ctx = format!("failed to create bridge {:?}", self.source_name());
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::LinkInNamespace, Ok(Reply::Link(link))) => {
                self.index = link.index;
                self.original = Some(link);
                self.set_down(now);
            }
            (Await::LinkInHost, Ok(Reply::Link(link))) => {
                self.index = link.index;
                self.original = Some(link.clone());
                if self.plan.netns.is_host() {
                    return self.set_down(now);
                }
                if link.flags.up {
                    self.undo.record(Request::SetLinkUp {
                        netns: NetnsRef::Host,
                        index: link.index,
                    });
                }
                self.issue(
                    Request::MoveLink {
                        from: NetnsRef::Host,
                        index: link.index,
                        to: self.ns(),
                        new_name: self.plan.name.clone(),
                    },
                    Await::Moved,
                );
            }
            (Await::LinkInNamespace | Await::LinkInHost, Err(e)) => {
                let ctx = format!("failed to get link by name {:?}", self.source_name());
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::Moved, Ok(Reply::Index(index))) => {
                self.index = index;
                self.undo.record_leave(Request::MoveLink {
                    from: self.ns(),
                    index,
                    to: NetnsRef::Host,
                    new_name: self.source_name().to_string(),
                });
                // Moved links arrive down and already renamed (one message, SPEC A2/A3).
                self.configure(now);
            }
            (Await::Moved, Err(e)) => {
                let ctx = format!(
                    "error renaming interface {:?} to {:?}",
                    self.source_name(),
                    self.plan.name
                );
                // Linux moves first and renames second: EEXIST can come after the move.
                // Find out where the link is before reporting, so that it goes back (N4).
                self.issue(
                    Request::LinkByName {
                        netns: NetnsRef::Host,
                        name: self.source_name().to_string(),
                    },
                    Await::MoveFailedHostCheck(StepError::new(ctx, Some(e))),
                );
            }
            (Await::MoveFailedHostCheck(error), Err(e)) if e.is(Errno::ENODEV) => self.issue(
                Request::LinkByName {
                    netns: self.ns(),
                    name: self.source_name().to_string(),
                },
                Await::MoveFailedNamespaceCheck(error),
            ),
            (Await::MoveFailedHostCheck(error), _) => self.fail(now, error),
            (Await::MoveFailedNamespaceCheck(error), Ok(Reply::Link(link)))
                if link.mac == self.original.as_ref().and_then(|o| o.mac) =>
            {
                self.index = link.index;
                self.undo.record_leave(Request::MoveLink {
                    from: self.ns(),
                    index: link.index,
                    to: NetnsRef::Host,
                    new_name: self.source_name().to_string(),
                });
                self.fail(now, error)
            }
            (Await::MoveFailedNamespaceCheck(error), _) => self.fail(now, error),

            // A3
            (Await::OwnRoutes(Family::V4), Ok(Reply::Routes(routes))) => {
                self.remember_own_routes(&routes);
                self.issue(
                    Request::ListRoutes {
                        netns: self.ns(),
                        family: Family::V6,
                    },
                    Await::OwnRoutes(Family::V6),
                );
            }
            (Await::OwnRoutes(Family::V6), Ok(Reply::Routes(routes))) => {
                self.remember_own_routes(&routes);
                self.issue(
                    Request::ListAddresses {
                        netns: self.ns(),
                        index: Some(self.index),
                    },
                    Await::OwnAddresses,
                );
            }
            (Await::OwnAddresses, Ok(Reply::Addresses(addrs))) => {
                for a in addrs
                    .iter()
                    .filter(|a| a.index == self.index && matches!(a.net, IpNet::V6(_)))
                {
                    self.undo.record(Request::AddAddress {
                        netns: self.ns(),
                        index: self.index,
                        net: a.net,
                        nodad: a.flags.nodad,
                    });
                }
                self.undo.record(Request::SetLinkUp {
                    netns: self.ns(),
                    index: self.index,
                });
                self.issue_down();
            }
            (Await::OwnRoutes(_) | Await::OwnAddresses, Err(e)) => {
                let ctx = format!(
                    "failed to read the state of interface {:?}",
                    self.source_name()
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::Down, Ok(_)) => self.rename(now),
            (Await::Down, Err(e)) => {
                let ctx = format!("failed to set interface {:?} down", self.source_name());
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::Renamed, Ok(_)) => {
                if self.origin != Origin::NewBridge {
                    self.undo.record(Request::RenameLink {
                        netns: self.ns(),
                        index: self.index,
                        name: self.source_name().to_string(),
                    });
                }
                self.configure(now);
            }
            (Await::Renamed, Err(e)) => {
                let ctx = format!(
                    "error renaming interface {:?} to {:?}",
                    self.source_name(),
                    self.plan.name
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }

            // A4
            (Await::MacSet, Ok(_)) => self.ipv4(now),
            (Await::MacSet, Err(e)) => {
                let ctx = format!(
                    "error setting interface {:?} MAC to {:?}",
                    self.plan.name,
                    self.plan
                        .spec
                        .mac
                        .map(|m| m.to_string())
                        .unwrap_or_default()
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::RoutesV4, Ok(Reply::Routes(routes))) => {
                let addr = IpNet::V4(self.plan.spec.ipv4.expect("ipv4 step needs an address"));
                if let Some(err) = route_conflict(&addr, &routes) {
                    return self.fail(now, err);
                }
                self.issue(
                    Request::AddAddress {
                        netns: self.ns(),
                        index: self.index,
                        net: addr,
                        nodad: false,
                    },
                    Await::Ipv4Added,
                );
            }
            (Await::Ipv4Added, Ok(_)) => {
                let net = IpNet::V4(self.plan.spec.ipv4.expect("added"));
                self.undo.record_in_namespace(Request::DelAddress {
                    netns: self.ns(),
                    index: self.index,
                    net,
                });
                self.ipv6_switch(now);
            }
            (Await::RoutesV4 | Await::Ipv4Added, Err(e)) => {
                let ctx = format!(
                    "error setting interface {:?} IP to {}",
                    self.plan.name,
                    self.plan
                        .spec
                        .ipv4
                        .map(|a| a.to_string())
                        .unwrap_or_default()
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::DisableIpv6Read, Ok(Reply::Value(current))) => {
                self.disable_ipv6_known(now, current)
            }
            (Await::DisableIpv6Read, Err(e)) if e.is(Errno::ENOENT) => {
                // IPv6 is off in the kernel: fine when disabling, worth a word when enabling.
                if self.ipv6.is_some() {
                    self.warn(
                        now,
                        format!("cannot enable IPv6 on interface {}: {e}", self.plan.name),
                    );
                }
                self.ipv6_addr(now);
            }
            (Await::DisableIpv6Read, Err(e)) => {
                let ctx = format!("failed to configure ipv6 on interface {}", self.plan.name);
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::DisableIpv6Written { old }, Ok(_)) => {
                self.undo.record_in_namespace(Request::WriteSysctl {
                    netns: self.ns(),
                    path: self.disable_ipv6_path(),
                    value: old,
                });
                self.ipv6_addr(now);
            }
            (Await::DisableIpv6Written { .. }, Err(e)) => {
                let verb = if self.ipv6.is_some() {
                    "enable"
                } else {
                    "disable"
                };
                let ctx = format!("failed to {verb} IPv6 on interface {}", self.plan.name);
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::RoutesV6, Ok(Reply::Routes(routes))) => {
                let addr = IpNet::V6(self.ipv6.expect("ipv6 step needs an address"));
                if let Some(err) = route_conflict(&addr, &routes) {
                    return self.fail(now, err);
                }
                self.issue(
                    Request::AddAddress {
                        netns: self.ns(),
                        index: self.index,
                        net: addr,
                        nodad: true,
                    },
                    Await::Ipv6Added,
                );
            }
            (Await::Ipv6Added, Ok(_)) => {
                let net = IpNet::V6(self.ipv6.expect("added"));
                self.undo.record_in_namespace(Request::DelAddress {
                    netns: self.ns(),
                    index: self.index,
                    net,
                });
                self.master(now);
            }
            (Await::RoutesV6 | Await::Ipv6Added, Err(e)) => {
                let ctx = format!(
                    "error setting interface {:?} IPv6 to {}",
                    self.plan.name,
                    self.ipv6.map(|a| a.to_string()).unwrap_or_default()
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::MasterSet, Ok(_)) => {
                self.undo.record_in_namespace(Request::SetMaster {
                    netns: self.ns(),
                    index: self.index,
                    master: None,
                });
                self.link_local(now, 0);
            }
            (Await::MasterSet, Err(e)) => {
                let master = self
                    .plan
                    .master
                    .as_ref()
                    .map(|m| m.name.clone())
                    .unwrap_or_default();
                let ctx = format!(
                    "error setting interface {:?} master to {master:?}",
                    self.plan.name
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::LinkLocalAdded(i), Ok(_)) => {
                self.undo.record_in_namespace(Request::DelAddress {
                    netns: self.ns(),
                    index: self.index,
                    net: self.plan.spec.link_local[i],
                });
                self.link_local(now, i + 1);
            }
            (Await::LinkLocalAdded(i), Err(e)) => {
                let ctx = format!(
                    "error setting interface {:?} link local IPs to {}",
                    self.plan.name, self.plan.spec.link_local[i]
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::SysctlRead(i), Ok(Reply::Value(current))) => {
                let setting = &self.plan.spec.sysctls[i];
                if current.trim() == setting.value {
                    return self.sysctl(now, i + 1);
                }
                self.issue(
                    Request::WriteSysctl {
                        netns: self.ns(),
                        path: setting.path_for(&self.plan.name),
                        value: setting.value.clone(),
                    },
                    Await::SysctlWritten(i, current),
                );
            }
            (Await::SysctlRead(i), Err(e)) => {
                let path = format!(
                    "/proc/sys/{}",
                    self.plan.spec.sysctls[i].path_for(&self.plan.name)
                );
                let err = if e.is(Errno::ENOENT) || e.is(Errno::EISDIR) || e.is(Errno::ENOTDIR) {
                    StepError::new(format!("{path} is not a sysctl file"), None)
                } else {
                    StepError::new(format!("unable to read '{path}'"), Some(e))
                };
                self.fail(now, err)
            }
            (Await::SysctlWritten(i, old), Ok(_)) => {
                self.undo.record_in_namespace(Request::WriteSysctl {
                    netns: self.ns(),
                    path: self.plan.spec.sysctls[i].path_for(&self.plan.name),
                    value: old,
                });
                self.sysctl(now, i + 1);
            }
            (Await::SysctlWritten(i, _), Err(e)) => {
                let path = format!(
                    "/proc/sys/{}",
                    self.plan.spec.sysctls[i].path_for(&self.plan.name)
                );
                self.fail(
                    now,
                    StepError::new(format!("unable to write to '{path}'"), Some(e)),
                )
            }
            (Await::AddressesChecked, Ok(Reply::Addresses(addrs))) => {
                let has_v6 = addrs
                    .iter()
                    .any(|a| a.index == self.index && matches!(a.net, IpNet::V6(_)));
                if !has_v6 {
                    // A8: the sysctls took IPv6 away; report no address and send no NA.
                    let dropped = self.ipv6.take().expect("checked only with an IPv6 address");
                    self.ipv6_dropped = Some(dropped);
                    self.push(now, EventKind::Ipv6Dropped(dropped));
                }
                self.set_up(now);
            }
            (Await::AddressesChecked, Err(e)) => self.fail(
                now,
                StepError::new(
                    format!(
                        "failed to check IPv6 addresses of interface {:?}",
                        self.plan.name
                    ),
                    Some(e),
                ),
            ),

            // A9
            (Await::Up, Ok(_)) => {
                self.undo.record_in_namespace(Request::SetLinkDown {
                    netns: self.ns(),
                    index: self.index,
                });
                self.add_routes(now, 0);
            }
            (Await::Up, Err(e)) => {
                self.up_failures += 1;
                if self.up_failures > LINK_UP_RETRIES {
                    let ctx = format!("failed to set link up (interface {:?})", self.plan.name);
                    return self.fail(now, StepError::new(ctx, Some(e)));
                }
                tracing::debug!(iface = %self.plan.name, "retrying link up after {e}");
                self.wait = Some(Wait::UpRetry(now + LINK_UP_RETRY_DELAY));
            }

            // A10
            (Await::RouteAdded(i), Ok(_)) => {
                let route = self.route_spec(self.plan.spec.routes[i]);
                self.undo.record_in_namespace(Request::DelRoute {
                    netns: self.ns(),
                    route,
                });
                self.add_routes(now, i + 1);
            }
            (Await::RouteAdded(_), Err(e)) => {
                let list: Vec<String> = self
                    .plan
                    .spec
                    .routes
                    .iter()
                    .map(|r| r.to_string())
                    .collect();
                let ctx = format!(
                    "error setting interface {:?} routes to [{}]",
                    self.plan.name,
                    list.join(" ")
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }

            // A11
            (Await::NsSubscribed, Ok(_)) => self.issue(
                Request::LinkByIndex {
                    netns: self.ns(),
                    index: self.index,
                },
                Await::LinkRead,
            ),
            (Await::LinkRead, Ok(Reply::Link(link))) => {
                self.link = Some(link);
                self.configure_link(now);
            }
            (Await::NsSubscribed | Await::LinkRead, Err(e)) => {
                // A11's subscription and read open A4 (the read also serves A6).
                let ctx = format!(
                    "failed to watch interface {} (link events and state)",
                    self.plan.name
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (Await::Unsubscribed(next), _) => match next {
                AfterUnsubscribe::LinkUp => self.after_link_up(now),
                AfterUnsubscribe::LinkNeverUp => {
                    self.push(
                        now,
                        EventKind::AnnounceStopped(StopReason::NotStarted {
                            why: "the link did not come up".into(),
                        }),
                    );
                    self.finish(now)
                }
                AfterUnsubscribe::PortDone => self.wait_mcast(now),
            },

            // Lost events: what the read says replaces them; a failed read leaves the wait as
            // it is (it ends at its deadline).
            (Await::LinkReread, Ok(Reply::Link(link))) => {
                let up = link.flags.up;
                self.link = Some(link);
                if up && matches!(self.wait, Some(Wait::LinkUp(_))) {
                    self.wait = None;
                    self.unsubscribe(NS_EVENTS, AfterUnsubscribe::LinkUp);
                }
            }
            (Await::PeerReread, Ok(Reply::Link(peer))) => {
                self.peer_state = peer.port_state;
                if peer.port_state == Some(PortState::Forwarding)
                    && matches!(self.wait, Some(Wait::Port(_)))
                {
                    self.wait = None;
                    self.unsubscribe(HOST_EVENTS, AfterUnsubscribe::PortDone);
                }
            }
            (Await::LinkReread | Await::PeerReread, _) => {}

            // A12 (failures here only cost the wait, never the attach)
            (Await::HostSubscribed, Ok(_)) => {
                let peer = self.peer.expect("peer known");
                self.issue(
                    Request::LinkByIndex {
                        netns: NetnsRef::Host,
                        index: peer,
                    },
                    Await::PeerRead,
                );
            }
            (Await::PeerRead, Ok(Reply::Link(peer))) => {
                self.peer_state = self.peer_state.or(peer.port_state);
                match (peer.master, self.known_bridge) {
                    // Fast path: the bridge was read before the veth was created on it.
                    (Some(master), Some(bridge)) if bridge.index == master => {
                        self.port_wait_decision(now, bridge.bridge)
                    }
                    (Some(master), _) => self.issue(
                        Request::LinkByIndex {
                            netns: NetnsRef::Host,
                            index: master,
                        },
                        Await::BridgeRead,
                    ),
                    (None, _) => self.unsubscribe(HOST_EVENTS, AfterUnsubscribe::PortDone),
                }
            }
            (Await::BridgeRead, Ok(Reply::Link(bridge))) => {
                self.port_wait_decision(now, bridge.bridge)
            }
            (Await::HostSubscribed | Await::PeerRead | Await::BridgeRead, Err(e)) => {
                self.warn(
                    now,
                    format!("could not check the bridge port of {}: {e}", self.plan.name),
                );
                self.unsubscribe(HOST_EVENTS, AfterUnsubscribe::PortDone);
            }

            // A13
            (Await::McastRoute, Ok(_)) => self.announce(now),
            (Await::McastRoute, Err(_)) => {
                let give_up = match self.wait {
                    Some(Wait::McastRetry { give_up, .. }) => give_up,
                    _ => self.mcast_give_up.unwrap_or(now),
                };
                self.wait = Some(Wait::McastRetry {
                    at: now + MCAST_ROUTE_POLL,
                    give_up,
                });
            }

            // A14
            (Await::Announcing, result) => {
                let announcer = self.announcer.as_mut().expect("announcing");
                announcer.handle_input(now, Input::Reply(result));
                self.pump_announcer(now);
            }

            // A15
            (Await::Undo(command), result) => {
                match result {
                    Ok(Reply::Index(new_index)) => self.moved_back(&command, new_index),
                    Ok(_) => {}
                    Err(e) if already_undone(&command, &e) => {}
                    Err(e) => self.rollback_errors.push(e),
                }
                self.next_undo(now);
            }

            (awaiting, Ok(reply)) => {
                let ctx = format!("unexpected backend reply {reply:?} while awaiting {awaiting:?}");
                self.fail(now, StepError::new(ctx, None))
            }
            (Await::Nothing, Err(e)) => {
                self.fail(now, StepError::new("reply without a command", Some(e)))
            }
        }
    }

    fn on_link_event(&mut self, now: Timestamp, id: SubscriptionId, event: LinkEvent) {
        match (self.wait, id, event) {
            (Some(Wait::LinkUp(_)), NS_EVENTS, LinkEvent::Changed(link))
                if link.index == self.index && link.flags.up =>
            {
                self.wait = None;
                self.link = Some(link);
                self.unsubscribe(NS_EVENTS, AfterUnsubscribe::LinkUp);
            }
            // Any other state of the link while configuring (events queue until a wait).
            (_, NS_EVENTS, LinkEvent::Changed(link)) if link.index == self.index => {
                self.link = Some(link);
            }
            (_, HOST_EVENTS, LinkEvent::Changed(link)) if Some(link.index) == self.peer => {
                self.peer_state = link.port_state;
                if matches!(self.wait, Some(Wait::Port(_)))
                    && link.port_state == Some(PortState::Forwarding)
                {
                    self.wait = None;
                    self.unsubscribe(HOST_EVENTS, AfterUnsubscribe::PortDone);
                }
            }
            (Some(Wait::LinkUp(_)), NS_EVENTS, LinkEvent::Lost) => self.issue(
                Request::LinkByIndex {
                    netns: self.ns(),
                    index: self.index,
                },
                Await::LinkReread,
            ),
            (Some(Wait::Port(_)), HOST_EVENTS, LinkEvent::Lost) => {
                if let Some(peer) = self.peer {
                    self.issue(
                        Request::LinkByIndex {
                            netns: NetnsRef::Host,
                            index: peer,
                        },
                        Await::PeerReread,
                    )
                }
            }
            (Some(Wait::LinkUp(_)), NS_EVENTS, LinkEvent::Removed { index, .. })
                if index == self.index =>
            {
                self.wait = None;
                self.warn(
                    now,
                    format!(
                        "link {} vanished while waiting for it to come up",
                        self.plan.name
                    ),
                );
                self.unsubscribe(NS_EVENTS, AfterUnsubscribe::LinkNeverUp);
            }
            _ => {}
        }
    }

    // ---- A3 ----

    fn set_down(&mut self, now: Timestamp) {
        self.phase(now, Phase::Renaming);
        if self.original.as_ref().is_some_and(|l| l.flags.up) {
            // Setting an up link down flushes its routes and IPv6 addresses: note them first,
            // so that a rollback can put them back (A15).
            return self.issue(
                Request::ListRoutes {
                    netns: self.ns(),
                    family: Family::V4,
                },
                Await::OwnRoutes(Family::V4),
            );
        }
        self.issue_down();
    }

    fn issue_down(&mut self) {
        self.issue(
            Request::SetLinkDown {
                netns: self.ns(),
                index: self.index,
            },
            Await::Down,
        );
    }

    /// Undo entries that restore what the down flushes, run after the link is up again.
    fn remember_own_routes(&mut self, routes: &[RouteInfo]) {
        for r in routes.iter().filter(|r| r.oif == Some(self.index)) {
            self.undo.record(Request::AddRoute {
                netns: self.ns(),
                route: RouteSpec {
                    dst: r.dst,
                    gateway: r.gateway,
                    oif: self.index,
                    scope: r.scope,
                },
            });
        }
    }

    fn rename(&mut self, now: Timestamp) {
        let current = match &self.original {
            Some(l) => l.name.clone(),
            None => self.source_name().to_string(),
        };
        if current == self.plan.name {
            return self.configure(now);
        }
        self.issue(
            Request::RenameLink {
                netns: self.ns(),
                index: self.index,
                name: self.plan.name.clone(),
            },
            Await::Renamed,
        );
    }

    // ---- A4 ----

    /// A4 starts with A11's subscription and its one read: the read also carries A6's
    /// `disable_ipv6`, and "up" later comes from the notification of A9's own request, so the
    /// attach makes no read of its own for either (subscribe first: no lost event).
    fn configure(&mut self, now: Timestamp) {
        self.obtained = true;
        self.phase(now, Phase::Configuring);
        self.issue(
            Command::Subscribe {
                id: NS_EVENTS,
                netns: self.ns(),
            },
            Await::NsSubscribed,
        );
    }

    fn configure_link(&mut self, now: Timestamp) {
        let mac_at_creation = matches!(self.origin, Origin::NewVeth { .. });
        match self.plan.spec.mac {
            Some(mac) if !mac_at_creation => {
                if let Some(orig) = self.original.as_ref().and_then(|l| l.mac) {
                    if orig != mac {
                        self.undo.record(Request::SetMac {
                            netns: self.ns(),
                            index: self.index,
                            mac: orig,
                        });
                    }
                }
                self.issue(
                    Request::SetMac {
                        netns: self.ns(),
                        index: self.index,
                        mac,
                    },
                    Await::MacSet,
                );
            }
            _ => self.ipv4(now),
        }
    }

    fn ipv4(&mut self, now: Timestamp) {
        if self.plan.spec.ipv4.is_some() {
            self.issue(
                Request::ListRoutes {
                    netns: self.ns(),
                    family: Family::V4,
                },
                Await::RoutesV4,
            );
        } else {
            self.ipv6_switch(now);
        }
    }

    fn disable_ipv6_path(&self) -> String {
        format!("net/ipv6/conf/{}/disable_ipv6", self.plan.name)
    }

    /// A6: IPv6 on if and only if there is an IPv6 address.
    fn disable_ipv6_value(&self) -> &'static str {
        if self.ipv6.is_some() {
            "0"
        } else {
            "1"
        }
    }

    fn ipv6_switch(&mut self, now: Timestamp) {
        if let Some(disabled) = self.link.as_ref().and_then(|l| l.ipv6_disabled) {
            let current = if disabled { "1" } else { "0" };
            return self.disable_ipv6_known(now, current.to_string());
        }
        self.issue(
            Request::ReadSysctl {
                netns: self.ns(),
                path: self.disable_ipv6_path(),
            },
            Await::DisableIpv6Read,
        );
    }

    /// A6 once the current value is known: write only if different.
    fn disable_ipv6_known(&mut self, now: Timestamp, current: String) {
        let want = self.disable_ipv6_value();
        if current.trim() == want {
            self.ipv6_addr(now);
        } else {
            self.issue(
                Request::WriteSysctl {
                    netns: self.ns(),
                    path: self.disable_ipv6_path(),
                    value: want.into(),
                },
                Await::DisableIpv6Written { old: current },
            );
        }
    }

    fn ipv6_addr(&mut self, now: Timestamp) {
        if self.ipv6.is_some() {
            self.issue(
                Request::ListRoutes {
                    netns: self.ns(),
                    family: Family::V6,
                },
                Await::RoutesV6,
            );
        } else {
            self.master(now);
        }
    }

    fn master(&mut self, now: Timestamp) {
        match &self.plan.master {
            Some(m) => self.issue(
                Request::SetMaster {
                    netns: self.ns(),
                    index: self.index,
                    master: Some(m.index),
                },
                Await::MasterSet,
            ),
            None => self.link_local(now, 0),
        }
    }

    fn link_local(&mut self, now: Timestamp, i: usize) {
        match self.plan.spec.link_local.get(i) {
            Some(net) => self.issue(
                Request::AddAddress {
                    netns: self.ns(),
                    index: self.index,
                    net: *net,
                    nodad: false,
                },
                Await::LinkLocalAdded(i),
            ),
            None => self.sysctl(now, 0),
        }
    }

    fn sysctl(&mut self, now: Timestamp, i: usize) {
        match self.plan.spec.sysctls.get(i) {
            Some(setting) => {
                let path = setting.path_for(&self.plan.name);
                self.issue(
                    Request::ReadSysctl {
                        netns: self.ns(),
                        path,
                    },
                    Await::SysctlRead(i),
                )
            }
            None => self.check_ipv6(now),
        }
    }

    /// A8.
    fn check_ipv6(&mut self, now: Timestamp) {
        if self.ipv6.is_some() && !self.plan.spec.sysctls.is_empty() {
            self.issue(
                Request::ListAddresses {
                    netns: self.ns(),
                    index: Some(self.index),
                },
                Await::AddressesChecked,
            );
        } else {
            self.set_up(now);
        }
    }

    /// A12: no wait without a bridge or with STP (STP decides); else until forwarding.
    fn port_wait_decision(&mut self, now: Timestamp, bridge: Option<crate::types::BridgeInfo>) {
        match bridge.map(|b| b.stp_enabled) {
            None | Some(true) => self.unsubscribe(HOST_EVENTS, AfterUnsubscribe::PortDone),
            Some(false) if self.peer_state == Some(PortState::Forwarding) => {
                self.unsubscribe(HOST_EVENTS, AfterUnsubscribe::PortDone)
            }
            Some(false) => self.wait = Some(Wait::Port(now + BRIDGE_PORT_WAIT)),
        }
    }

    // ---- A9, A10 ----

    fn set_up(&mut self, now: Timestamp) {
        if self.up_failures == 0 {
            self.phase(now, Phase::SettingUp);
        }
        self.issue(
            Request::SetLinkUp {
                netns: self.ns(),
                index: self.index,
            },
            Await::Up,
        );
    }

    fn route_spec(&self, dst: IpNet) -> RouteSpec {
        RouteSpec {
            dst,
            gateway: None,
            oif: self.index,
            scope: RouteScope::Link,
        }
    }

    fn add_routes(&mut self, now: Timestamp, from: usize) {
        if from == 0 && !self.plan.spec.routes.is_empty() {
            self.phase(now, Phase::AddingRoutes);
        }
        let next = (from..self.plan.spec.routes.len())
            .find(|&i| !is_unspecified_route(&self.plan.spec.routes[i]));
        match next {
            Some(i) => {
                let route = self.route_spec(self.plan.spec.routes[i]);
                self.issue(
                    Request::AddRoute {
                        netns: self.ns(),
                        route,
                    },
                    Await::RouteAdded(i),
                );
            }
            None => self.wait_link(now),
        }
    }

    // ---- A11 ----

    /// Subscribed and read in A4: the events since then tell whether the link is up.
    fn wait_link(&mut self, now: Timestamp) {
        self.phase(now, Phase::WaitingForLink);
        if self.link.as_ref().is_some_and(|l| l.flags.up) {
            self.unsubscribe(NS_EVENTS, AfterUnsubscribe::LinkUp);
        } else {
            self.wait = Some(Wait::LinkUp(now + LINK_UP_WAIT));
        }
    }

    fn unsubscribe(&mut self, id: SubscriptionId, next: AfterUnsubscribe) {
        self.issue(Command::Unsubscribe { id }, Await::Unsubscribed(next));
    }

    /// S1: what to announce, if anything: the spec's MAC or the link's own, and the addresses.
    fn announce_target(&self) -> Result<AnnounceTarget, String> {
        let announce = self.plan.spec.announce;
        if announce.count == 0 {
            return Err("announce count is 0".into());
        }
        let ipv4 = self.plan.spec.ipv4.map(|n| n.addr());
        let ipv6 = self.ipv6.map(|n| n.addr());
        if ipv4.is_none() && ipv6.is_none() {
            return Err("no IP address to announce".into());
        }
        let mac = self
            .plan
            .spec
            .mac
            .or_else(|| self.link.as_ref().and_then(|l| l.mac))
            .filter(|m| !m.is_zero())
            .ok_or_else(|| "no MAC address to announce".to_string())?;
        Ok(AnnounceTarget {
            netns: self.ns(),
            iface: self.plan.name.clone(),
            index: self.index,
            mac,
            ipv4,
            ipv6,
            count: announce.count,
            interval: announce.interval,
            mcast_route_ok: true,
        })
    }

    fn after_link_up(&mut self, now: Timestamp) {
        if let Err(why) = self.announce_target() {
            self.push(
                now,
                EventKind::AnnounceStopped(StopReason::NotStarted { why }),
            );
            return self.finish(now);
        }
        // A12: only a veth whose peer sits in the host can be a port of a host bridge.
        let peer = self.link.as_ref().and_then(|l| match (&l.kind, &l.peer) {
            (LinkKind::Veth, Some(p)) if p.netns == Some(NetnsRef::Host) => Some(p.index),
            _ => None,
        });
        match peer {
            Some(peer) if !self.plan.netns.is_host() => {
                self.phase(now, Phase::WaitingForBridgePort);
                self.peer = Some(peer);
                self.issue(
                    Command::Subscribe {
                        id: HOST_EVENTS,
                        netns: NetnsRef::Host,
                    },
                    Await::HostSubscribed,
                );
            }
            _ => self.wait_mcast(now),
        }
    }

    // ---- A13 ----

    fn wait_mcast(&mut self, now: Timestamp) {
        if self.ipv6.is_none() {
            return self.announce(now);
        }
        self.phase(now, Phase::WaitingForMulticastRoute);
        let give_up = now + MCAST_ROUTE_WAIT;
        self.mcast_give_up = Some(give_up);
        self.query_mcast_route(give_up);
    }

    fn query_mcast_route(&mut self, give_up: Timestamp) {
        self.mcast_give_up = Some(give_up);
        self.issue(
            Request::GetRoute {
                netns: self.ns(),
                dst: IpAddr::V6(ALL_NODES),
                oif: Some(self.index),
            },
            Await::McastRoute,
        );
    }

    // ---- A14 ----

    fn announce(&mut self, now: Timestamp) {
        let mut target = match self.announce_target() {
            Ok(t) => t,
            Err(why) => {
                self.push(
                    now,
                    EventKind::AnnounceStopped(StopReason::NotStarted { why }),
                );
                return self.finish(now);
            }
        };
        target.mcast_route_ok = self.mcast_route_ok;
        self.phase(now, Phase::Announcing);
        let mut announcer = Announcer::new(target, now);
        announcer.set_events(self.events.enabled());
        announcer.handle_timeout(now);
        self.announcer = Some(announcer);
        self.pump_announcer(now);
    }

    /// Forward the announcer's command and events until its first round is over (SPEC S4).
    fn pump_announcer(&mut self, now: Timestamp) {
        let announcer = self.announcer.as_mut().expect("announcing");
        let command = announcer.poll_command();
        let mut events = Vec::new();
        while let Some(e) = announcer.poll_event() {
            events.push(e);
        }
        let first_round_over = announcer.sent() >= 1 || announcer.is_finished();
        let stop = announcer.stop_reason().cloned();
        for e in events {
            self.events.push_event(e);
        }
        if let Some(command) = command {
            return self.issue(command, Await::Announcing);
        }
        if first_round_over {
            if let Some(StopReason::SendError { message }) = stop {
                // S4: a failed first send is a warning, not an attach failure.
                self.warnings
                    .push(format!("first announcement failed: {message}"));
            }
            self.finish(now);
        }
    }

    fn finish(&mut self, now: Timestamp) {
        let attached = Attached {
            netns: self.ns(),
            name: self.plan.name.clone(),
            source: self.source_name().to_string(),
            ifindex: self.index,
            mac: self
                .plan
                .spec
                .mac
                .or_else(|| self.link.as_ref().and_then(|l| l.mac)),
            ipv4: self.plan.spec.ipv4,
            ipv6: self.ipv6,
            ipv6_dropped: self.ipv6_dropped,
            master: self.plan.master.as_ref().map(|m| m.name.clone()),
            origin: self.origin.clone(),
            announce: self.plan.spec.announce,
            warnings: self.warnings.clone(),
        };
        tracing::info!(iface = %attached.name, netns = %attached.netns, ifindex = attached.ifindex, mac = ?attached.mac, "attached");
        if self.events.enabled() {
            self.push(now, EventKind::Attached(Box::new(attached.clone())));
        }
        self.outcome = Some(Ok(attached));
    }

    // ---- A15 ----

    fn fail(&mut self, now: Timestamp, error: StepError) {
        tracing::warn!(iface = %self.plan.name, netns = %self.plan.netns, "attach failed: {error}");
        self.wait = None;
        self.announcer = None;
        self.failure = Some(error);
        let undo = std::mem::take(&mut self.undo);
        if !undo.is_empty() {
            self.phase(now, Phase::RollingBack);
        }
        self.rollback = undo.into_plan().into();
        self.next_undo(now);
    }

    fn next_undo(&mut self, now: Timestamp) {
        if let Some(command) = self.rollback.pop_front() {
            return self.issue(command.clone(), Await::Undo(command));
        }
        let error = self.failure.take().expect("rolling back a failure");
        let rollback_errors = std::mem::take(&mut self.rollback_errors);
        self.push(
            now,
            EventKind::RolledBack {
                cause: error.to_string(),
                rollback_errors: rollback_errors.iter().map(|e| e.to_string()).collect(),
            },
        );
        self.outcome = Some(Err(AttachError::Failed {
            error,
            rollback_errors,
        }));
    }
}

impl Attach {
    /// The link is back in the host, possibly under another index than it had before (the
    /// kernel keeps an index only where it is free): later undo steps follow it.
    fn moved_back(&mut self, request: &Request, new_index: IfIndex) {
        let Request::MoveLink {
            to: NetnsRef::Host, ..
        } = request
        else {
            return;
        };
        let Some(old) = self.original.as_ref().map(|l| l.index) else {
            return;
        };
        for c in &mut self.rollback {
            if let Request::SetLinkUp {
                netns: NetnsRef::Host,
                index,
            } = c
            {
                if *index == old {
                    *index = new_index;
                }
            }
        }
    }
}

/// Undo steps whose goal the kernel already reached: setting the link down removes its IPv6
/// addresses and its routes, so deleting them afterwards finds nothing.
fn already_undone(request: &Request, e: &BackendError) -> bool {
    match request {
        Request::DelAddress { .. } => e.is(Errno::EADDRNOTAVAIL),
        Request::DelRoute { .. } => e.is(Errno::ESRCH),
        // Brought back by the kernel when the link came up (connected and link-local ones).
        Request::AddRoute { .. } | Request::AddAddress { .. } => e.is(Errno::EEXIST),
        // A link that was to be deleted and is gone already.
        Request::DeleteLinks { .. } => e.is(Errno::ENODEV),
        _ => false,
    }
}

/// A5: the first route of the same family, with a specified destination, that contains the
/// address or lies inside the address's network.
fn route_conflict(addr: &IpNet, routes: &[RouteInfo]) -> Option<StepError> {
    let conflict = routes.iter().find(|r| {
        Family::of(&r.dst) == Family::of(addr)
            && !is_unspecified_route(&r.dst)
            && (r.dst.contains(&addr.addr()) || addr.contains(&r.dst.addr()))
    })?;
    Some(StepError::new(
        format!(
            "cannot program address {addr} in sandbox interface because it conflicts with existing route {conflict}"
        ),
        None,
    ))
}

#[cfg(test)]
mod tests;
