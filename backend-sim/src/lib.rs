//! nsplumb-sim: an in-memory Linux network kernel in virtual time, implementing
//! [`nsplumb_core::NetBackend`].
//!
//! - [`Kernel`]: the synchronous model (namespaces, links, addresses, routes, sysctls,
//!   neighbours, frames, counters, STP and DAD timers), matching Linux 6.x as seen through
//!   netlink; each module documents the kernel behaviour it follows ("Linux 6.x: ...").
//! - [`SimBackend`]: `Clone`, `Arc<Mutex<Kernel>>` inside, the async `NetBackend`.
//! - [`Faulty`]: a fault-injection layer over any `NetBackend` (smoltcp `FaultInjector` style).
//! - [`SimRuntime`]: a single-threaded executor that jumps virtual time to the next deadline.
//! - [`Snapshot`]: the observable state, for "rolled back == before" assertions.

mod addr;
mod backend;
mod clock;
mod fault;
pub mod frame;
mod kernel;
mod link;
mod namespace;
mod neighbour;
mod rng;
mod route;
mod runtime;
mod snapshot;
mod sysctl;

pub use backend::SimBackend;
pub use fault::{FaultHandle, FaultRule, Faulty};
pub use frame::FrameRecord;
pub use kernel::{errno, Kernel};
pub use neighbour::{NeighEntry, NeighState};
pub use runtime::SimRuntime;
pub use snapshot::{AddrSnap, LinkSnap, NetnsSnap, RouteSnap, Snapshot};

#[cfg(test)]
mod tests;
