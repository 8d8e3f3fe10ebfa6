//! SPEC A11–A13: wait until the link is up (events of the namespace subscription, at most
//! 5 s), until the host end's bridge port forwards (at most 200 ms, without STP), and until a
//! route to `ff02::1` exists (at most 200 ms). None of these waits fails the attach. DAD (L5)
//! runs between A12 and A13.

use super::{
    Attach, Wait, ALL_NODES, BRIDGE_PORT_WAIT, HOST_EVENTS, LINK_UP_WAIT, MCAST_ROUTE_POLL,
    MCAST_ROUTE_WAIT, NS_EVENTS,
};
use crate::command::{Command, Reply, SubscriptionId};
use crate::event::{EventKind, Phase, StopReason};
use crate::request::Request;
use crate::types::{BridgeInfo, LinkEvent, LinkKind, NetnsRef, PortState, Timestamp};
use crate::BackendError;
use std::net::IpAddr;

/// What the outstanding request of A11–A13 is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Waiting {
    Unsubscribed(AfterUnsubscribe),
    /// A11 read again after lost events.
    LinkReread,
    /// A12: the host end read again after lost events.
    PeerReread,
    HostSubscribed,
    PeerRead,
    BridgeRead,
    McastRoute,
}

/// Where an attach goes once a wait's subscription is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterUnsubscribe {
    LinkUp,
    LinkNeverUp,
    PortDone,
}

impl Attach {
    /// Replies of A11–A13.
    pub(super) fn on_wait_reply(
        &mut self,
        now: Timestamp,
        step: Waiting,
        result: Result<Reply, BackendError>,
    ) {
        match (step, result) {
            (Waiting::Unsubscribed(next), _) => match next {
                AfterUnsubscribe::LinkUp => self.after_link_up(now),
                // L5: the address still waits for DAD, which fails if the link stays down.
                AfterUnsubscribe::LinkNeverUp if self.dad_pending() => self.dad_start(now),
                AfterUnsubscribe::LinkNeverUp => {
                    self.push(
                        now,
                        EventKind::AnnounceStopped(StopReason::NotStarted {
                            why: "the link did not come up".into(),
                        }),
                    );
                    self.finish(now)
                }
                AfterUnsubscribe::PortDone => self.after_port(now),
            },

            // Lost events: what the read says replaces them; a failed read leaves the wait as
            // it is (it ends at its deadline).
            (Waiting::LinkReread, Ok(Reply::Link(link))) => {
                let up = link.flags.up;
                self.link = Some(link);
                if up && matches!(self.wait, Some(Wait::LinkUp(_))) {
                    self.wait = None;
                    self.unsubscribe(NS_EVENTS, AfterUnsubscribe::LinkUp);
                }
            }
            (Waiting::PeerReread, Ok(Reply::Link(peer))) => {
                self.peer_state = peer.port_state;
                if peer.port_state == Some(PortState::Forwarding)
                    && matches!(self.wait, Some(Wait::Port(_)))
                {
                    self.wait = None;
                    self.unsubscribe(HOST_EVENTS, AfterUnsubscribe::PortDone);
                }
            }
            (Waiting::LinkReread | Waiting::PeerReread, _) => {}

            // A12 (failures here only cost the wait, never the attach)
            (Waiting::HostSubscribed, Ok(_)) => {
                let peer = self.peer.expect("peer known");
                self.issue(
                    Request::LinkByIndex {
                        netns: NetnsRef::Host,
                        index: peer,
                    },
                    Waiting::PeerRead,
                );
            }
            (Waiting::PeerRead, Ok(Reply::Link(peer))) => {
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
                        Waiting::BridgeRead,
                    ),
                    (None, _) => self.unsubscribe(HOST_EVENTS, AfterUnsubscribe::PortDone),
                }
            }
            (Waiting::BridgeRead, Ok(Reply::Link(bridge))) => {
                self.port_wait_decision(now, bridge.bridge)
            }
            (Waiting::HostSubscribed | Waiting::PeerRead | Waiting::BridgeRead, Err(e)) => {
                self.warn(
                    now,
                    format!("could not check the bridge port of {}: {e}", self.plan.name),
                );
                self.unsubscribe(HOST_EVENTS, AfterUnsubscribe::PortDone);
            }

            // A13
            (Waiting::McastRoute, Ok(_)) => self.announce(now),
            (Waiting::McastRoute, Err(_)) => {
                let give_up = match self.wait {
                    Some(Wait::McastRetry { give_up, .. }) => give_up,
                    _ => self.mcast_give_up.unwrap_or(now),
                };
                self.wait = Some(Wait::McastRetry {
                    at: now + MCAST_ROUTE_POLL,
                    give_up,
                });
            }
            (step, Ok(reply)) => self.unexpected(now, &step, reply),
        }
    }

    pub(super) fn on_link_event(&mut self, now: Timestamp, id: SubscriptionId, event: LinkEvent) {
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
                Waiting::LinkReread,
            ),
            (Some(Wait::Port(_)), HOST_EVENTS, LinkEvent::Lost) => {
                if let Some(peer) = self.peer {
                    self.issue(
                        Request::LinkByIndex {
                            netns: NetnsRef::Host,
                            index: peer,
                        },
                        Waiting::PeerReread,
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

    /// A11's deadline passed: not an error, but nothing is announced.
    pub(super) fn link_up_timed_out(&mut self, now: Timestamp) {
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

    /// A12's deadline passed: a warning, and on.
    pub(super) fn port_timed_out(&mut self, now: Timestamp) {
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

    /// A13: ask again, or give up at `give_up` and announce without the route (S7).
    pub(super) fn mcast_retry_due(&mut self, now: Timestamp, give_up: Timestamp) {
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

    /// Subscribed and read in A4: the events since then tell whether the link is up.
    pub(super) fn wait_link(&mut self, now: Timestamp) {
        self.phase(now, Phase::WaitingForLink);
        if self.link.as_ref().is_some_and(|l| l.flags.up) {
            self.unsubscribe(NS_EVENTS, AfterUnsubscribe::LinkUp);
        } else {
            self.wait = Some(Wait::LinkUp(now + LINK_UP_WAIT));
        }
    }

    fn unsubscribe(&mut self, id: SubscriptionId, next: AfterUnsubscribe) {
        self.issue(Command::Unsubscribe { id }, Waiting::Unsubscribed(next));
    }

    fn after_link_up(&mut self, now: Timestamp) {
        // A12 serves the announcements and DAD's probes (L5); with neither, it is skipped.
        if let (Err(why), false) = (self.announce_target(), self.dad_pending()) {
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
                    Waiting::HostSubscribed,
                );
            }
            _ => self.after_port(now),
        }
    }

    /// After A12: DAD when asked for (L5), else A13.
    fn after_port(&mut self, now: Timestamp) {
        if self.dad_pending() {
            self.dad_start(now)
        } else {
            self.wait_mcast(now)
        }
    }

    /// After DAD: A13 and A14, unless there is nothing to announce.
    pub(super) fn after_dad(&mut self, now: Timestamp) {
        match self.announce_target() {
            Ok(_) => self.wait_mcast(now),
            Err(why) => {
                self.push(
                    now,
                    EventKind::AnnounceStopped(StopReason::NotStarted { why }),
                );
                self.finish(now)
            }
        }
    }

    /// A12: no wait without a bridge or with STP (STP decides); else until forwarding.
    fn port_wait_decision(&mut self, now: Timestamp, bridge: Option<BridgeInfo>) {
        match bridge.map(|b| b.stp_enabled) {
            None | Some(true) => self.unsubscribe(HOST_EVENTS, AfterUnsubscribe::PortDone),
            Some(false) if self.peer_state == Some(PortState::Forwarding) => {
                self.unsubscribe(HOST_EVENTS, AfterUnsubscribe::PortDone)
            }
            Some(false) => self.wait = Some(Wait::Port(now + BRIDGE_PORT_WAIT)),
        }
    }

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
            Waiting::McastRoute,
        );
    }
}
