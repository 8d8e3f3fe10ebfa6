//! The protocol between a state machine and whoever runs it: commands out, inputs in.

use crate::request::{Request, VethPair};
use crate::types::{AddrInfo, IfIndex, LinkEvent, LinkInfo, NetnsRef, PortVlans, RouteInfo};
use crate::BackendError;

/// Identifies one link-event subscription a machine asked for.
pub type SubscriptionId = u64;

/// What a machine hands out: a kernel request for the backend, or the subscription
/// bookkeeping the driver does for it (it owns the event streams).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run on the backend ([`NetBackend::execute`](crate::NetBackend::execute)).
    Kernel(Request),
    /// Start delivering link events of `netns` as [`Input::LinkEvent`] tagged with `id`.
    Subscribe { id: SubscriptionId, netns: NetnsRef },
    /// Stop delivering events for `id` (always succeeds).
    Unsubscribe { id: SubscriptionId },
}

impl From<Request> for Command {
    fn from(request: Request) -> Command {
        Command::Kernel(request)
    }
}

/// The successful outcome of a [`Request`] (or `Done` for a subscription command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Done,
    Link(LinkInfo),
    Links(Vec<LinkInfo>),
    Index(IfIndex),
    Veth(VethPair),
    Addresses(Vec<AddrInfo>),
    Routes(Vec<RouteInfo>),
    Route(RouteInfo),
    Value(String),
    Vlans(Vec<PortVlans>),
}

/// What a runner feeds back into a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The outcome of the command last handed out by `poll_command`.
    Reply(Result<Reply, BackendError>),
    /// A link event on a subscription the machine asked for.
    LinkEvent {
        id: SubscriptionId,
        event: LinkEvent,
    },
}
