//! Where a frame may go through a bridge (SPEC L2–L4), and which stacks a frame sent out of a
//! link reaches (the segment, for DAD; SPEC L5).
//!
//! Linux 6.x (`br_handle_frame_finish`, `br_flood`, `should_deliver`, `br_allowed_ingress`,
//! `br_allowed_egress`, `br_handle_vlan`):
//! - a frame goes out of a port only when the port forwards, and not back out of the port it
//!   came in on unless that port has hairpin mode;
//! - a frame that came in on an isolated port does not leave by another isolated port (the
//!   bridge's own stack still gets it);
//! - with VLAN filtering on, an untagged frame entering a port (or sent by the bridge's own
//!   stack) is classified into the PVID (none: dropped), a tagged one must be a member; it
//!   leaves a port (or goes up to the bridge's stack) only when that table has the VID, without
//!   its tag when the VID is egress-untagged there. A tagged frame reaching a plain stack is
//!   dropped (no VLAN device is modelled). With filtering off, tags pass untouched.
//! - ND's own multicast is not looped back to the sender (`mc_loop` 0 on the ndisc socket);
//!   only hairpin brings a frame back to it.

use super::Kernel;
use crate::link::Kind;
use crate::namespace::NsId;
use nsplumb_core::{IfIndex, PortState};

/// A frame's place in a bridge: its 802.1Q tag and the VID the bridge classified it into
/// (`None` with filtering off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InBridge {
    pub(super) tag: Option<u16>,
    pub(super) vid: Option<u16>,
    /// It entered on an isolated port.
    pub(super) isolated: bool,
}

impl Kernel {
    fn filtering(&self, id: NsId, br: IfIndex) -> bool {
        self.lk(id, br)
            .bridge()
            .map(|b| b.opts.vlan_filtering)
            .unwrap_or(false)
    }

    /// A frame with `tag` enters bridge `br` from port `from` (or from the bridge's own stack
    /// when `None`); `None`: dropped at ingress.
    pub(super) fn bridge_ingress(
        &self,
        id: NsId,
        br: IfIndex,
        from: Option<IfIndex>,
        tag: Option<u16>,
    ) -> Option<InBridge> {
        let port = from.and_then(|p| self.lk(id, p).port.as_ref());
        let isolated = port.map(|p| p.opts.isolated).unwrap_or(false);
        if !self.filtering(id, br) {
            return Some(InBridge {
                tag,
                vid: None,
                isolated,
            });
        }
        let table = match port {
            Some(p) => &p.opts.vlans,
            None => &self.lk(id, br).bridge()?.opts.vlans,
        };
        let vid = table.ingress(tag)?;
        Some(InBridge {
            tag,
            vid: Some(vid),
            isolated,
        })
    }

    /// The tag a frame leaves port `to` with (`Some(None)`: untagged), or `None` when it does
    /// not leave there (see the module doc).
    pub(super) fn bridge_egress(
        &self,
        id: NsId,
        from: Option<IfIndex>,
        to: IfIndex,
        f: InBridge,
    ) -> Option<Option<u16>> {
        let l = self.lk(id, to);
        let port = l.port.as_ref()?;
        if !l.up || port.state != PortState::Forwarding {
            return None;
        }
        if from == Some(to) && !port.opts.hairpin {
            return None;
        }
        if f.isolated && port.opts.isolated {
            return None;
        }
        egress_tag(&port.opts.vlans, f)
    }

    /// The tag a frame goes up to the bridge's own stack with, or `None` when it does not.
    pub(super) fn bridge_up(&self, id: NsId, br: IfIndex, f: InBridge) -> Option<Option<u16>> {
        egress_tag(&self.lk(id, br).bridge()?.opts.vlans, f)
    }

    /// The links whose stack receives a frame sent untagged out of `idx`, in the order the
    /// frame reaches them (`idx` itself when a hairpin sends it back).
    pub(super) fn segment_receivers(&self, id: NsId, idx: IfIndex) -> Vec<(NsId, IfIndex)> {
        let mut out = Vec::new();
        let mut visited = Vec::new();
        self.walk_out(id, idx, None, &mut visited, &mut out);
        out
    }

    fn walk_out(
        &self,
        id: NsId,
        idx: IfIndex,
        tag: Option<u16>,
        visited: &mut Vec<u64>,
        out: &mut Vec<(NsId, IfIndex)>,
    ) {
        let l = self.lk(id, idx);
        if visited.contains(&l.uid) || visited.len() > 256 || !l.up {
            return;
        }
        visited.push(l.uid);
        match &l.kind {
            Kind::Veth { peer_ns, peer } => {
                let peer_up = self
                    .namespaces
                    .get(peer_ns)
                    .and_then(|n| n.links.get(peer))
                    .map(|p| p.up)
                    .unwrap_or(false);
                if peer_up {
                    self.walk_in(*peer_ns, *peer, tag, visited, out);
                }
            }
            Kind::Bridge(b) => {
                let Some(f) = self.bridge_ingress(id, idx, None, tag) else {
                    return;
                };
                for &p in &b.ports {
                    if let Some(t) = self.bridge_egress(id, None, p, f) {
                        self.walk_out(id, p, t, visited, out);
                    }
                }
            }
            Kind::Loopback | Kind::Dummy => {}
        }
    }

    fn walk_in(
        &self,
        id: NsId,
        idx: IfIndex,
        tag: Option<u16>,
        visited: &mut Vec<u64>,
        out: &mut Vec<(NsId, IfIndex)>,
    ) {
        let l = self.lk(id, idx);
        let Some(br) = l.master else {
            if tag.is_none() {
                out.push((id, idx));
            }
            return;
        };
        let forwards = l
            .port
            .as_ref()
            .map(|p| p.state == PortState::Forwarding)
            .unwrap_or(false);
        if !forwards || !self.lk(id, br).up {
            return;
        }
        let Some(f) = self.bridge_ingress(id, br, Some(idx), tag) else {
            return;
        };
        let ports = self.ports_of(id, br);
        for p in ports {
            if let Some(t) = self.bridge_egress(id, Some(idx), p, f) {
                self.walk_out(id, p, t, visited, out);
            }
        }
        if let Some(None) = self.bridge_up(id, br, f) {
            out.push((id, br));
        }
    }
}

/// `br_allowed_egress` + `br_handle_vlan` against one table.
fn egress_tag(table: &crate::bridge_port::VlanTable, f: InBridge) -> Option<Option<u16>> {
    match f.vid {
        None => Some(f.tag),
        Some(v) => {
            let untagged = table.egress_untagged(v)?;
            Some((!untagged).then_some(v))
        }
    }
}
