//! nsplumb-sim: an in-memory Linux network kernel in virtual time, implementing
//! [`nsplumb_core::NetBackend`].
//!
//! - [`Kernel`]: the synchronous model (namespaces, links, addresses, routes, sysctls,
//!   neighbours, frames, counters, STP and DAD timers), matching Linux 6.x as seen through
//!   netlink; each module documents the kernel behaviour it follows ("Linux 6.x: ...").
//! - [`SimBackend`]: `Clone`, `Arc<Mutex<Kernel>>` inside, the async `NetBackend`; every call
//!   resolves at once except `sleep_until` (virtual time).
//! - [`Faulty`]: a fault-injection layer over any `NetBackend` (smoltcp `FaultInjector` style):
//!   per [`nsplumb_core::Op`], fail next / nth / with probability, with an errno, or delay in
//!   virtual time; a failed call never reaches the backend.
//! - [`SimRuntime`]: a single-threaded executor that jumps virtual time to the next deadline
//!   whenever everything is stalled, and panics on deadlock.
//! - [`Snapshot`]: the observable state, for "rolled back == before" assertions (SPEC A15).
//!
//! Linux 6.x behaviours checked on a real kernel (6.18, iproute2 6.1, throwaway namespaces)
//! and modelled here:
//! - new namespace: `lo` index 1, down; ifindex allocation cyclic per namespace, a veth peer
//!   registered before its host end; a moved link keeps its index when free there.
//! - names: > 15 bytes → ERANGE (netlink policy), `/ : whitespace . ..` → EINVAL, taken → EEXIST;
//!   renaming an UP link is allowed.
//! - move (`IFLA_NET_NS_FD` + `IFLA_IFNAME`): arrives down, addresses/routes/master dropped,
//!   sysctls from the destination's `conf/default`; if the current name is free in the
//!   destination and the new one taken, the kernel moves the link and *then* fails EEXIST.
//! - flags: LOWER_UP/RUNNING only while up; veth carrier needs both ends up; an up bridge
//!   without ports has carrier until the port selection runs, then carrier = some port forwards;
//!   bridge MAC = lowest port MAC (zero with no ports) unless set explicitly.
//! - bridge ports: disabled unless bridge up and port up with carrier; forwarding at once
//!   without STP; listening → learning → forwarding, forward delay each, with STP; toggling STP
//!   leaves port states alone; enabling STP clamps the delay to 2..=30 s.
//! - IPv4: addresses kept across down, connected route (scope link) only while up, none for /32;
//!   same address with another prefix length is another address; deleting a primary deletes
//!   its secondaries (promote_secondaries=0).
//! - IPv6: EUI-64 link-local (tentative, permanent) when up with carrier; DAD ~1–2 s; `nodad`
//!   never tentative; addresses flushed on down (keep_addr_on_down=0); `disable_ipv6=1` removes
//!   addresses and routes, `=0` regenerates the link-local; IPv6 address on a disabled link →
//!   EACCES; `ff00::/8` route after ready or after an address added while up.
//! - routes: EEXIST for the same (dst, metric), ESRCH on delete, ENETDOWN via a down link,
//!   ENETUNREACH (IPv4) / EHOSTUNREACH (IPv6) for an unreachable gateway, EACCES on a link
//!   with IPv6 disabled; `ip route get` with an IPv4 oif falls back to on-link.
//! - sysctls: the defaults of a fresh namespace (`sysctl -a`), values stored as written,
//!   ENOENT/EISDIR/EINVAL/EACCES; `all` writes of `forwarding`/`disable_ipv6` propagate, IPv4
//!   `default` writes reach links that never had the key written.
//! - host settings ([`HostSettings`]): `net.core.devconf_inherit_init_net` and the initial
//!   namespace's values decide a new namespace's `conf/all` and `conf/default` (SPEC R2).
//! - frames: ARP on a down link → ENETDOWN; NA bound to its source: absent or tentative source →
//!   EADDRNOTAVAIL, no `ff00::/8` route → ENETUNREACH; a veth whose peer is down drops (tx_dropped)
//!   and the send succeeds; GARP updates existing entries (only once the receiving namespace has
//!   an IPv4 address), creates with arp_accept=1; NA with O overrides an existing entry.
//!
//! Not modelled: kernel-originated traffic (router solicitations, MLD reports, DAD probes) and
//! their counters; linkwatch's asynchronous carrier delay; DAD conflicts; FDB learning (frames
//! are flooded); the local routing table.

mod addr;
mod backend;
mod clock;
mod fault;
pub mod frame;
mod host;
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
pub use host::{HostSettings, HostSettingsError};
pub use kernel::Kernel;
pub use neighbour::{NeighEntry, NeighState};
pub use runtime::SimRuntime;
pub use snapshot::{AddrSnap, LinkSnap, NetnsSnap, RouteSnap, Snapshot};
pub use sysctl::{devconf_paths, DevconfInherit};

#[cfg(test)]
mod tests;
