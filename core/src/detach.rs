//! The detach lifecycle (SPEC D1, D3) as a sans-IO machine.

use crate::attached::Origin;
use crate::command::{Command, Input, Reply};
use crate::error::{DetachError, StepError};
use crate::event::{Event, EventKind, EventQueue, Phase};
use crate::request::Request;
use crate::types::{IfIndex, NetnsRef, PeerRef, Timestamp};
use crate::{BackendError, Errno};

/// What detach needs to know about an attached interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachPlan {
    pub netns: NetnsRef,
    pub name: String,
    pub source: String,
    pub index: IfIndex,
    pub origin: Origin,
    /// SPEC L1: the MTU to give back before the link leaves (a moved host link's old one).
    pub restore_mtu: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Await {
    Nothing,
    Lookup,
    Down,
    Mtu,
    Final,
}

/// Set down, give a moved link its old MTU back (SPEC L1), then delete (created links), rename
/// back (links found in the namespace) or move back to the host under the source name (moved
/// links), in one message.
#[derive(Debug)]
pub struct Detach {
    plan: DetachPlan,
    awaiting: Await,
    pending: Option<Request>,
    events: EventQueue,
    outcome: Option<Result<(), DetachError>>,
    /// Leave the final delete of a created link to the caller, who deletes many in one kernel
    /// batch ([`crate::Plumber::detach_many`]).
    defer_delete: bool,
    /// The link whose delete was left to the caller, until [`Detach::finish_deferred`].
    deferred: Option<(NetnsRef, IfIndex)>,
    /// The peer of the link as looked up, to delete a veth pair by its host end.
    peer: Option<PeerRef>,
}

impl Detach {
    pub fn new(plan: DetachPlan, now: Timestamp) -> Detach {
        let mut d = Detach {
            pending: Some(Request::LinkByIndex {
                netns: plan.netns.clone(),
                index: plan.index,
            }),
            plan,
            awaiting: Await::Lookup,
            events: EventQueue::default(),
            outcome: None,
            defer_delete: false,
            deferred: None,
            peer: None,
        };
        d.push(now, EventKind::Phase(Phase::Detaching));
        d
    }

    /// As [`Detach::new`], but a link nsplumb created (a bridge, a veth pair) is set down and
    /// then left for the caller to delete: the machine ends with [`Detach::deferred_delete`]
    /// and no outcome until [`Detach::finish_deferred`].
    pub fn with_deferred_delete(plan: DetachPlan, now: Timestamp) -> Detach {
        Detach {
            defer_delete: true,
            ..Detach::new(plan, now)
        }
    }

    /// The link the caller must delete, and where, once the machine is done with it. For a
    /// veth pair whose host end is still the recorded one, that is the host end, so that the
    /// pairs of many namespaces go in one batch in the host.
    pub fn deferred_delete(&self) -> Option<(&NetnsRef, IfIndex)> {
        self.deferred.as_ref().map(|(netns, index)| (netns, *index))
    }

    /// The result of the caller's delete of [`Detach::deferred_delete`]: the outcome follows.
    pub fn finish_deferred(&mut self, now: Timestamp, result: Result<(), BackendError>) {
        if self.deferred.take().is_none() {
            return;
        }
        match result {
            Ok(()) => self.done(now, Ok(())),
            Err(e) if e.is(Errno::ENODEV) => self.vanished(now),
            Err(e) => self.failed(now, Await::Final, e),
        }
    }

    pub fn poll_command(&mut self) -> Option<Command> {
        self.pending.take().map(Command::Kernel)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    pub fn poll_timeout(&self) -> Option<Timestamp> {
        None
    }

    pub fn handle_timeout(&mut self, _now: Timestamp) {}

    /// The driver found this detach waiting for nothing: it fails, naming the interface.
    pub fn handle_stall(&mut self, now: Timestamp) {
        if self.outcome.is_some() || self.deferred.is_some() {
            return;
        }
        self.pending = None;
        self.awaiting = Await::Nothing;
        let ctx = format!(
            "detach of interface {:?} in namespace {} stalled: it waited for nothing",
            self.plan.name, self.plan.netns
        );
        self.done(now, Err(DetachError::Failed(StepError::new(ctx, None))));
    }

    pub fn outcome(&self) -> Option<&Result<(), DetachError>> {
        self.outcome.as_ref()
    }

    pub fn take_outcome(&mut self) -> Option<Result<(), DetachError>> {
        self.outcome.take()
    }

    pub fn handle_input(&mut self, now: Timestamp, input: Input) {
        let Input::Reply(result) = input else { return };
        let awaiting = std::mem::replace(&mut self.awaiting, Await::Nothing);
        match (awaiting, result) {
            // The index may have been reused by another link after ours vanished (D3).
            (Await::Lookup, Ok(Reply::Link(link))) if link.name != self.plan.name => {
                self.vanished(now)
            }
            (Await::Lookup, Ok(Reply::Link(link))) => {
                self.peer = link.peer;
                self.issue(
                    Request::SetLinkDown {
                        netns: self.plan.netns.clone(),
                        index: self.plan.index,
                    },
                    Await::Down,
                )
            }
            (Await::Lookup | Await::Down, Err(e)) if e.is(Errno::ENODEV) => self.vanished(now),
            (Await::Down, Ok(_)) => match self.plan.restore_mtu {
                Some(mtu) => self.issue(
                    Request::SetMtu {
                        netns: self.plan.netns.clone(),
                        index: self.plan.index,
                        mtu,
                    },
                    Await::Mtu,
                ),
                None => self.final_step(now),
            },
            (Await::Mtu, Ok(_)) => self.final_step(now),
            (Await::Mtu, Err(e)) if e.is(Errno::ENODEV) => self.vanished(now),
            (Await::Final, Ok(_)) => self.done(now, Ok(())),
            (Await::Final, Err(e)) if e.is(Errno::ENODEV) => self.vanished(now),
            (step, Err(e)) => self.failed(now, step, e),
            (step, Ok(reply)) => {
                let ctx = format!("unexpected backend reply {reply:?} in step {step:?}");
                self.done(now, Err(DetachError::Failed(StepError::new(ctx, None))))
            }
        }
    }

    fn issue(&mut self, request: Request, awaiting: Await) {
        self.pending = Some(request);
        self.awaiting = awaiting;
    }

    fn final_step(&mut self, now: Timestamp) {
        let p = &self.plan;
        let command = match &p.origin {
            Origin::NewBridge | Origin::NewVeth { .. } if self.defer_delete => {
                let host_end = match (&p.origin, &self.peer) {
                    (Origin::NewVeth { host_index }, Some(peer))
                        if peer.index == *host_index && peer.netns == Some(NetnsRef::Host) =>
                    {
                        Some((NetnsRef::Host, *host_index))
                    }
                    _ => None,
                };
                self.deferred = Some(host_end.unwrap_or_else(|| (p.netns.clone(), p.index)));
                return;
            }
            Origin::NewBridge | Origin::NewVeth { .. } => Request::DeleteLinks {
                netns: p.netns.clone(),
                indices: vec![p.index],
            },
            Origin::CreatedInNamespace if p.name != p.source => Request::RenameLink {
                netns: p.netns.clone(),
                index: p.index,
                name: p.source.clone(),
            },
            Origin::MovedFromHost => Request::MoveLink {
                from: p.netns.clone(),
                index: p.index,
                to: NetnsRef::Host,
                new_name: p.source.clone(),
            },
            Origin::CreatedInNamespace | Origin::InHost => return self.done(now, Ok(())),
        };
        self.issue(command, Await::Final);
    }

    fn vanished(&mut self, now: Timestamp) {
        let err = DetachError::Vanished {
            netns: self.plan.netns.to_string(),
            name: self.plan.name.clone(),
        };
        self.done(now, Err(err));
    }

    fn failed(&mut self, now: Timestamp, step: Await, e: BackendError) {
        let what = match step {
            Await::Lookup => "failed to look up",
            Await::Down => "failed to set down",
            Await::Mtu => "failed to restore the MTU of",
            _ => "failed to release",
        };
        let ctx = format!(
            "{what} interface {:?} in namespace {}",
            self.plan.name, self.plan.netns
        );
        self.done(now, Err(DetachError::Failed(StepError::new(ctx, Some(e)))));
    }

    fn done(&mut self, now: Timestamp, outcome: Result<(), DetachError>) {
        let kind = match &outcome {
            Ok(()) => EventKind::Detached,
            Err(e) => EventKind::DetachFailed(e.to_string()),
        };
        self.push(now, kind);
        self.outcome = Some(outcome);
    }

    fn push(&mut self, now: Timestamp, kind: EventKind) {
        self.events
            .push(&self.plan.netns, &self.plan.name, now, kind);
    }

    /// Build no events: nobody listens.
    pub fn set_events(&mut self, enabled: bool) {
        self.events.set_enabled(enabled);
    }
}

#[cfg(test)]
mod tests;
