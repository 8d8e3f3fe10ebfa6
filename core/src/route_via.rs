//! Gateways and static routes (SPEC G1, G3): find the link that reaches the next hop, then add
//! the route via it there.

use crate::command::{Command, Input, Reply};
use crate::error::{RouteError, StepError};
use crate::event::Event;
use crate::request::Request;
use crate::types::{NetnsRef, RouteScope, RouteSpec, Timestamp};
use ipnet::IpNet;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Await {
    Nothing,
    Lookup,
    Added,
}

/// Add `dst via next_hop` on the link the kernel would use to reach `next_hop` directly.
#[derive(Debug)]
pub struct RouteVia {
    netns: NetnsRef,
    dst: IpNet,
    via: IpAddr,
    awaiting: Await,
    pending: Option<Request>,
    route: Option<RouteSpec>,
    outcome: Option<Result<RouteSpec, RouteError>>,
}

impl RouteVia {
    pub fn new(netns: NetnsRef, dst: IpNet, via: IpAddr) -> RouteVia {
        RouteVia {
            pending: Some(Request::GetRoute {
                netns: netns.clone(),
                dst: via,
                oif: None,
            }),
            netns,
            dst,
            via,
            awaiting: Await::Lookup,
            route: None,
            outcome: None,
        }
    }

    /// The default route of `via`'s family (G1).
    pub fn default_gateway(netns: NetnsRef, via: IpAddr) -> RouteVia {
        let dst = match via {
            IpAddr::V4(_) => "0.0.0.0/0".parse().expect("literal"),
            IpAddr::V6(_) => "::/0".parse().expect("literal"),
        };
        RouteVia::new(netns, dst, via)
    }

    pub fn poll_command(&mut self) -> Option<Command> {
        self.pending.take().map(Command::Kernel)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        None
    }

    pub fn poll_timeout(&self) -> Option<Timestamp> {
        None
    }

    pub fn handle_timeout(&mut self, _now: Timestamp) {}

    /// The driver found this machine waiting for nothing: the route fails, naming it.
    pub fn handle_stall(&mut self, _now: Timestamp) {
        if self.outcome.is_some() {
            return;
        }
        self.pending = None;
        self.awaiting = Await::Nothing;
        let ctx = format!(
            "adding route {} via {} in namespace {} stalled: it waited for nothing",
            self.dst, self.via, self.netns
        );
        self.outcome = Some(Err(RouteError::Failed(StepError::new(ctx, None))));
    }

    /// Route machines report no events.
    pub fn set_events(&mut self, _enabled: bool) {}

    pub fn outcome(&self) -> Option<&Result<RouteSpec, RouteError>> {
        self.outcome.as_ref()
    }

    pub fn take_outcome(&mut self) -> Option<Result<RouteSpec, RouteError>> {
        self.outcome.take()
    }

    pub fn handle_input(&mut self, _now: Timestamp, input: Input) {
        let Input::Reply(result) = input else { return };
        match (
            std::mem::replace(&mut self.awaiting, Await::Nothing),
            result,
        ) {
            // The first route without a gateway names the link that reaches the next hop.
            (Await::Lookup, Ok(Reply::Route(r))) if r.gateway.is_none() && r.oif.is_some() => {
                let route = RouteSpec {
                    dst: self.dst,
                    gateway: Some(self.via),
                    oif: r.oif.expect("checked"),
                    scope: RouteScope::Universe,
                };
                self.pending = Some(Request::AddRoute {
                    netns: self.netns.clone(),
                    route: route.clone(),
                });
                self.route = Some(route);
                self.awaiting = Await::Added;
            }
            (Await::Lookup, result) => {
                let ctx = format!(
                    "route for the gateway {} could not be found in namespace {}",
                    self.via, self.netns
                );
                self.outcome = Some(Err(RouteError::Failed(StepError::new(ctx, result.err()))));
            }
            (Await::Added, Ok(_)) => self.outcome = Some(Ok(self.route.take().expect("set"))),
            (_, result) => {
                let ctx = format!(
                    "failed to add route {} via {} in namespace {}",
                    self.dst, self.via, self.netns
                );
                self.outcome = Some(Err(RouteError::Failed(StepError::new(ctx, result.err()))));
            }
        }
    }
}
