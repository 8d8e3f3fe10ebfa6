//! Link events (SPEC A11): an rtnetlink socket in `RTNLGRP_LINK` per subscription, taken from
//! the namespace's spares when one is left, and given back when the subscription is dropped.

use crate::conn::Inner;
use crate::netns::{in_netns, NsFile};
use crate::{io_errno, lock, nl, LinuxBackend};
use futures::stream::{self, StreamExt};
use netlink_packet_core::NetlinkMessage;
use netlink_packet_route::RouteNetlinkMessage;
use nsplumb_core::{BackendError, LinkEvent, LinkEvents, NetnsRef, Op};
use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use tracing::Instrument;

/// The link multicast group (`RTNLGRP_LINK`), joined with `NETLINK_ADD_MEMBERSHIP`.
const RTNLGRP_LINK: u32 = 1;

/// Spare event sockets opened in a hop made for a subscription that found none, besides the
/// one it needs. Sockets of dropped subscriptions come back as spares, so only subscriptions
/// open at the same time need sockets of their own: a namespace with many of them (the host,
/// where every veth's host end is watched) hops once every `1 + EVENT_SPARES`.
const EVENT_SPARES: usize = 4;
/// At most this many event sockets are kept per namespace (fresh and returned ones); a dropped
/// subscription's socket beyond them is closed.
const EVENT_SPARES_MAX: usize = 8;

/// A link-event socket, not yet a member of any group. Runs inside the namespace.
pub(crate) fn open_event_socket() -> io::Result<netlink_sys::Socket> {
    let mut s = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
    // Room for bursts (50 links created at once) before ENOBUFS drops events.
    let _ = s.set_rx_buf_sz(1 << 20);
    s.set_non_blocking(true)?;
    // Bound once, now, with no groups: the kernel gives it a port id. Multicast reaches only
    // bound sockets, and a second bind (port id 0 again) would fail with EINVAL, so the group
    // is joined later with NETLINK_ADD_MEMBERSHIP (see `join_link_events`).
    s.bind_auto()?;
    Ok(s)
}

/// Throw away everything queued on a non-blocking event socket. An ENOBUFS (the queue
/// overflowed) is cleared by reading it.
pub(crate) fn drain_event_socket(s: &netlink_sys::Socket) -> io::Result<()> {
    let mut buf = [0u8; 64];
    // Bounded: a socket in no group gets nothing new while it is drained.
    for _ in 0..1_000_000 {
        // SAFETY: a valid descriptor and a buffer of the length passed. A datagram is consumed
        // whole however short the buffer (MSG_TRUNC only reports its real length).
        let n = unsafe {
            libc::recv(
                s.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n >= 0 {
            continue;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(()),
            Some(libc::ENOBUFS) | Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(libc::EBUSY))
}

/// Make a spare (fresh or returned) an event subscription: nothing from before, everything
/// from now on. Needs no namespace: the socket's own is the one it listens to.
pub(crate) fn join_link_events(s: &netlink_sys::Socket) -> io::Result<()> {
    drain_event_socket(s)?;
    // Synchronous: broadcasts after this returns are queued on the socket.
    s.add_membership(RTNLGRP_LINK)
}

/// Up to `n` event sockets; stops at the first failure (spares are an optimisation).
pub(crate) fn open_event_spares(n: usize) -> Vec<netlink_sys::Socket> {
    (0..n).map_while(|_| open_event_socket().ok()).collect()
}

impl Inner {
    /// A spare event socket of `ns`'s live connection, if one is left.
    pub(crate) fn take_event_spare(&self, ns: &NsFile) -> Option<netlink_sys::Socket> {
        let mut conns = lock(&self.conns);
        let c = conns.get_mut(&ns.key).filter(|c| !c.task.is_finished())?;
        c.spares.events.pop()
    }

    /// Keep event sockets of `ns` (opened there, or returned by a dropped subscription) for
    /// later subscriptions, if `ns` has a live connection and there is room; the rest are
    /// closed. The caller holds `ns` open, so a connection under the same key is one of the
    /// same namespace (the kernel gives a live namespace's inode to no other).
    pub(crate) fn keep_event_spares(&self, ns: &NsFile, spares: Vec<netlink_sys::Socket>) {
        let mut conns = lock(&self.conns);
        if let Some(c) = conns.get_mut(&ns.key).filter(|c| !c.task.is_finished()) {
            let room = EVENT_SPARES_MAX.saturating_sub(c.spares.events.len());
            c.spares.events.extend(spares.into_iter().take(room));
        }
    }

    /// Give a dropped subscription's socket back to `ns`'s spares (see `keep_event_spares`).
    pub(crate) fn return_event_socket(&self, ns: &NsFile, s: netlink_sys::Socket) {
        // Leave the group first: from here on nothing new is queued. What is queued already
        // is drained now (to free it) and again when the socket is taken.
        if s.drop_membership(RTNLGRP_LINK).is_ok() && drain_event_socket(&s).is_ok() {
            self.keep_event_spares(ns, vec![s]);
        }
    }
}

impl LinuxBackend {
    /// [`NetBackend::subscribe_links`](nsplumb_core::NetBackend::subscribe_links): SPEC A11.
    pub(crate) async fn subscribe(&self, netns: &NetnsRef) -> Result<LinkEvents, BackendError> {
        let op = Op::SubscribeLinks;
        let ns = self.ns(op, netns)?;
        let span = tracing::debug_span!("subscribe_links", netns = %netns);
        let sock = async {
            // A spare of the namespace's connection (fresh, or returned by a dropped
            // subscription): no thread hop.
            if let Some(s) = self.inner.take_event_spare(&ns) {
                return Ok(s);
            }
            // No connection yet: open it now, as the next request would, in the one hop that
            // also opens a spare for this subscription (SPEC A11 subscribes before it reads).
            if !self.inner.connected(&ns) && self.inner.handle(&ns).await.is_ok() {
                if let Some(s) = self.inner.take_event_spare(&ns) {
                    return Ok(s);
                }
            }
            // All taken: a hop for this one and a few more.
            let (s, spares) = in_netns(&ns, || {
                Ok((open_event_socket()?, open_event_spares(EVENT_SPARES)))
            })
            .await?;
            self.inner.keep_event_spares(&ns, spares);
            Ok(s)
        }
        .instrument(span.clone())
        .await
        .and_then(|s| {
            // Events from here on are queued for the caller; none from before.
            let _entered = span.enter();
            join_link_events(&s)?;
            Ok(s)
        })
        // SAFETY: the socket owns its descriptor and AsyncFd owns the socket until dropped.
        .and_then(|s| unsafe { tokio::io::unix::AsyncFd::register(s).map_err(io::Error::from) })
        .map_err(|e| BackendError::new(op, io_errno(&e), netns, "link events"))?;
        let state = EventState {
            sock: Some(sock),
            broken: false,
            queue: VecDeque::new(),
            inner: self.inner.clone(),
            ns,
            netns: netns.clone(),
        };
        Ok(stream::unfold(state, |mut st| async move {
            loop {
                if let Some(ev) = st.queue.pop_front() {
                    return Some((ev, st));
                }
                let datagram = {
                    let sock = st.sock.as_ref()?;
                    let mut guard = match sock.readable().await {
                        Ok(g) => g,
                        Err(_) => {
                            st.mark_broken();
                            return None;
                        }
                    };
                    match guard.try_io(|s| s.get_ref().recv_from_full()) {
                        Ok(Ok((buf, _))) => buf,
                        Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                            // The subscriber re-reads what it waits on (SPEC A11: no lost
                            // event goes unnoticed).
                            tracing::warn!(netns = %st.netns, "link events lost (ENOBUFS)");
                            return Some((LinkEvent::Lost, st));
                        }
                        Ok(Err(_)) => {
                            st.mark_broken();
                            return None;
                        }
                        Err(_would_block) => continue,
                    }
                };
                st.parse(&datagram).await;
            }
        })
        .boxed())
    }
}

/// A link subscription. Dropped, it gives its socket back to the namespace's spares (see
/// `Inner::return_event_socket`), unless the socket failed.
struct EventState {
    /// `None` only while being dropped.
    sock: Option<tokio::io::unix::AsyncFd<netlink_sys::Socket>>,
    /// The socket returned an error: closed, not reused.
    broken: bool,
    queue: VecDeque<LinkEvent>,
    inner: Arc<Inner>,
    ns: NsFile,
    netns: NetnsRef,
}

impl EventState {
    /// The socket failed: close it when dropped, do not reuse it.
    fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl Drop for EventState {
    fn drop(&mut self) {
        let Some(sock) = self.sock.take() else {
            return;
        };
        // Deregistered from the reactor (also after its runtime is gone: then the error is
        // ignored), then leaves the group and is kept for the next subscription.
        let s = sock.into_inner();
        if !self.broken {
            self.inner.return_event_socket(&self.ns, s);
        }
    }
}

impl EventState {
    async fn parse(&mut self, datagram: &[u8]) {
        let mut off = 0;
        let mut raws = Vec::new();
        while off + 16 <= datagram.len() {
            let len =
                u32::from_ne_bytes(datagram[off..off + 4].try_into().expect("4 bytes")) as usize;
            if len < 16 || off + len > datagram.len() {
                break;
            }
            if let Ok(m) =
                NetlinkMessage::<RouteNetlinkMessage>::deserialize(&datagram[off..off + len])
            {
                if let netlink_packet_core::NetlinkPayload::InnerMessage(inner) = m.payload {
                    match inner {
                        RouteNetlinkMessage::NewLink(l) => raws.push(Ok(nl::parse_link(&l))),
                        RouteNetlinkMessage::DelLink(l) => {
                            let raw = nl::parse_link(&l);
                            raws.push(Err(LinkEvent::Removed {
                                index: raw.info.index,
                                name: raw.info.name,
                            }))
                        }
                        _ => {}
                    }
                }
            }
            off += (len + 3) & !3;
        }
        for r in raws {
            match r {
                Ok(raw) => {
                    let mut infos = self
                        .inner
                        .finish_links(&self.ns, &self.netns, vec![raw])
                        .await;
                    if let Some(info) = infos.pop() {
                        self.queue.push_back(LinkEvent::Changed(info));
                    }
                }
                Err(removed) => self.queue.push_back(removed),
            }
        }
    }
}
