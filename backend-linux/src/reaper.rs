//! Closing what a long-lived backend cached for namespaces once it sits unused.
//!
//! A cached socket (a namespace's rtnetlink connection with its spares and route mirror, an ARP
//! or NA sender) keeps its namespace alive in the kernel and holds a descriptor. Without a
//! sweep of its own a cache is only pruned when the next entry is opened, so a runtime that
//! attaches a burst of containers and then idles would keep every one of them (and namespaces
//! already deleted) until its next attach. One task per backend sweeps while anything is
//! cached and ends when nothing is; a one-command process (pinned namespace paths) never
//! starts it.

use crate::conn::{retain_live, Inner};
use crate::lock;
use crate::senders::{close_packet_sockets, prune_senders, SENDER_IDLE};
use std::sync::{Arc, Weak};

/// How often the sweep runs while something is cached: an idle entry lives at most its idle
/// time plus this.
const SWEEP_EVERY: std::time::Duration = SENDER_IDLE;

impl Inner {
    /// Starts the sweep unless it runs, for a backend shared by long-lived callers.
    pub(crate) fn arm_reaper(self: &Arc<Self>) {
        if self.pinned.is_some() {
            return;
        }
        let mut running = lock(&self.reaper_running);
        if *running || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        *running = true;
        tokio::spawn(sweep(Arc::downgrade(self)));
    }

    /// Drops every cached entry unused past its idle time; whether anything but the host's
    /// connection is left.
    pub(crate) fn prune_idle(&self) -> bool {
        let host = self.host.key;
        let closed_packet;
        let left = {
            let mut conns = lock(&self.conns);
            retain_live(&mut conns, host);
            let mut packet = lock(&self.packet);
            closed_packet = prune_senders(&mut packet);
            let mut na = lock(&self.na);
            drop(prune_senders(&mut na));
            conns.keys().any(|k| *k != host) || !packet.is_empty() || !na.is_empty()
        };
        close_packet_sockets(closed_packet);
        left
    }
}

async fn sweep(backend: Weak<Inner>) {
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        let Some(inner) = backend.upgrade() else {
            return;
        };
        // Decided under the flag's lock: an entry cached after this sweep looked finds the
        // flag cleared and starts a new sweep.
        let mut running = lock(&inner.reaper_running);
        if !inner.prune_idle() {
            *running = false;
            return;
        }
    }
}
