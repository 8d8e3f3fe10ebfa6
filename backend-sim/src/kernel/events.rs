//! Link events (RTM_NEWLINK / RTM_DELLINK) to the namespace's subscribers.

use super::Kernel;
use crate::namespace::NsId;
use futures::channel::mpsc::{unbounded, UnboundedReceiver};
use nsplumb_core::{Errno, IfIndex, LinkEvent, NetnsRef};

impl Kernel {
    pub(super) fn notify(&mut self, id: NsId, idx: IfIndex) {
        if self.ns(id).has_subscribers() {
            let info = self.info(id, idx);
            self.nsm(id).emit(LinkEvent::Changed(info));
        }
    }

    /// Link events of the namespace from now on.
    pub fn subscribe_links(&mut self, r: &NetnsRef) -> Result<UnboundedReceiver<LinkEvent>, Errno> {
        let id = self.ns_id(r)?;
        let (tx, rx) = unbounded();
        let subs = &mut self.nsm(id).subscribers;
        subs.retain(|s| !s.is_closed());
        subs.push(tx);
        Ok(rx)
    }
}
