//! The one seam between logic and kernel: a narrow interface every backend implements.

use crate::command::Reply;
use crate::request::Request;
use crate::types::{LinkEvent, NetnsRef, Timestamp};
use crate::BackendError;
use futures::stream::BoxStream;
use std::future::Future;

/// Link events of one namespace; dropping the stream ends the subscription.
pub type LinkEvents = BoxStream<'static, LinkEvent>;

/// A kernel, real (`nsplumb-linux`: netlink, raw sockets, `/proc/sys` in the namespace) or
/// simulated (`nsplumb-sim`: in memory, in virtual time).
///
/// Every kernel operation is one [`Request`] run by [`NetBackend::execute`], so that a layer
/// (fault injection, timing, recording) wraps one method, as smoltcp's `phy` middlewares wrap
/// a device. Typed calls are in [`crate::BackendExt`]; namespace administration, which the
/// core never needs, is [`crate::NetnsAdmin`].
#[cfg_attr(test, mockall::automock)]
pub trait NetBackend: Send + Sync + 'static {
    /// Monotonic now on this backend's clock (virtual in the simulator): the driver's only
    /// source of time.
    fn now(&self) -> Timestamp;

    /// Resolve at `deadline` on this backend's clock.
    fn sleep_until(&self, deadline: Timestamp) -> impl Future<Output = ()> + Send;

    /// Run one kernel operation inside the namespace it names. Errors carry the errno, the
    /// operation and the object; the reply's shape is given on each [`Request`] variant.
    fn execute(
        &self,
        request: &Request,
    ) -> impl Future<Output = Result<Reply, BackendError>> + Send;

    /// Start receiving link events of `netns`. Events after this call returns are delivered.
    fn subscribe_links(
        &self,
        netns: &NetnsRef,
    ) -> impl Future<Output = Result<LinkEvents, BackendError>> + Send;

    /// Get ready to act in `netns` (Linux: open its netlink connection and sockets, one
    /// thread hop), so the first real request there does not pay for it. A hint: it never
    /// fails; the requests that follow report any problem with the namespace.
    ///
    /// [`Plumber::attach_many`](crate::Plumber::attach_many) calls it for every destination
    /// before the first move: a namespace's first contact right before a move makes that
    /// move wait one more kernel tick (measured: 16 → 20 ms per move on Linux).
    fn prepare_netns(&self, _netns: &NetnsRef) -> impl Future<Output = ()> + Send {
        async {}
    }
}
