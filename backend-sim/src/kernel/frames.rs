//! Frames: sending ARP/NA announcements, their way through veths and bridges (with the
//! links' counters), and the log of every frame sent.

use super::Kernel;
use crate::frame::FrameRecord;
use crate::link::{Kind, Link};
use crate::namespace::NsId;
use nsplumb_core::{Errno, IfIndex, MacAddr, NetnsRef, PortState};
use nsplumb_wire::Announcement;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

impl Kernel {
    /// Sends the unsolicited ARP (SPEC S2) out of the link: ENETDOWN when down (AF_PACKET).
    pub fn send_arp(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        mac: MacAddr,
        ip: Ipv4Addr,
    ) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        if !self.lk(id, idx).up {
            return Err(Errno::ENETDOWN);
        }
        self.send_frame(id, idx, nsplumb_wire::arp_announcement(mac, ip));
        Ok(())
    }

    /// Sends the unsolicited NA (SPEC S3). Linux 6.x, raw ICMPv6 socket bound to the address
    /// (checked with a real socket): the address not configured (or still tentative) in the
    /// namespace → EADDRNOTAVAIL (so also with IPv6 disabled, which removes the addresses);
    /// no `ff00::/8` route on the link (down, never ready) → ENETUNREACH.
    pub fn send_na(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        mac: MacAddr,
        ip: Ipv6Addr,
    ) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        // bind(): a link-local source must be on this very link (scope id), another address on
        // any link of the namespace; tentative addresses do not count.
        let has = |l: &Link| {
            l.addrs
                .iter()
                .any(|a| a.net.addr() == IpAddr::V6(ip) && !a.flags.tentative)
        };
        let link_local = (ip.segments()[0] & 0xffc0) == 0xfe80;
        let bound =
            has(self.lk(id, idx)) || (!link_local && self.ns(id).links.values().any(|l| has(l)));
        if !bound {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let l = self.lk(id, idx);
        if !l.up || !l.v6_mroute || self.v6_disabled(id, idx) {
            return Err(Errno::ENETUNREACH);
        }
        self.send_frame(id, idx, nsplumb_wire::na_frame(mac, ip));
        Ok(())
    }

    fn send_frame(&mut self, id: NsId, idx: IfIndex, bytes: Vec<u8>) {
        let mut visited = Vec::new();
        // Parsed once: every hop sees the same bytes.
        let parsed = nsplumb_wire::parse_frame(&bytes);
        let f = Frame {
            len: bytes.len() as u64,
            parsed: parsed.as_ref(),
            vlan: None,
        };
        self.xmit(id, idx, &f, &mut visited);
        let rec = FrameRecord {
            time: self.clock.now,
            netns: self.ns(id).netref.clone(),
            index: idx,
            ifname: self.lk(id, idx).name.clone(),
            bytes,
        };
        if let Some(cap) = self.frame_cap {
            if cap == 0 {
                return;
            }
            if self.frames.len() >= cap {
                let drop = (self.frames.len() + 1 - cap)
                    .max(cap / 2)
                    .min(self.frames.len());
                self.frames.drain(..drop);
            }
        }
        self.frames.push(rec);
    }

    /// A frame leaves `idx`.
    fn xmit(&mut self, id: NsId, idx: IfIndex, f: &Frame<'_>, visited: &mut Vec<u64>) {
        let uid = self.lk(id, idx).uid;
        if visited.contains(&uid) || visited.len() > 256 {
            return;
        }
        visited.push(uid);
        let len = f.len;
        let kind = self.lk(id, idx).kind.clone_shallow();
        match kind {
            ShallowKind::Veth(pns, p) => {
                let peer_up = self
                    .namespaces
                    .get(&pns)
                    .and_then(|n| n.links.get(&p))
                    .map(|l| l.up)
                    .unwrap_or(false);
                let st = &mut self.lk_mut(id, idx).stats;
                if !peer_up {
                    st.tx_dropped += 1;
                    return;
                }
                st.tx_packets += 1;
                st.tx_bytes += len;
                let ps = &mut self.lk_mut(pns, p).stats;
                ps.rx_packets += 1;
                ps.rx_bytes += len;
                self.receive(pns, p, f, visited);
            }
            ShallowKind::Bridge(ports) => {
                let st = &mut self.lk_mut(id, idx).stats;
                st.tx_packets += 1;
                st.tx_bytes += len;
                // SPEC L3: the bridge's own frames enter through its VLAN table.
                let Some(fb) = self.bridge_ingress(id, idx, None, f.vlan) else {
                    return;
                };
                for p in ports {
                    if let Some(vlan) = self.bridge_egress(id, None, p, fb) {
                        self.xmit(id, p, &Frame { vlan, ..*f }, visited);
                    }
                }
            }
            ShallowKind::Loopback => {
                let st = &mut self.lk_mut(id, idx).stats;
                st.tx_packets += 1;
                st.tx_bytes += len;
                st.rx_packets += 1;
                st.rx_bytes += len;
                self.local_deliver(id, idx, f);
            }
            ShallowKind::Dummy => {
                let st = &mut self.lk_mut(id, idx).stats;
                st.tx_packets += 1;
                st.tx_bytes += len;
            }
        }
    }

    fn forwarding_port(&self, id: NsId, p: IfIndex) -> bool {
        let l = self.lk(id, p);
        l.up && l
            .port
            .as_ref()
            .map(|p| p.state == PortState::Forwarding)
            .unwrap_or(false)
    }

    /// A frame arrives on `idx` (already counted as received there).
    fn receive(&mut self, id: NsId, idx: IfIndex, f: &Frame<'_>, visited: &mut Vec<u64>) {
        if !self.lk(id, idx).up {
            return;
        }
        if let Some(br) = self.lk(id, idx).master {
            if !self.forwarding_port(id, idx) || !self.lk(id, br).up {
                return;
            }
            // SPEC L2–L4: hairpin, isolation and VLAN membership decide (see `segment`).
            let Some(fb) = self.bridge_ingress(id, br, Some(idx), f.vlan) else {
                return;
            };
            let ports: Vec<IfIndex> = self
                .lk(id, br)
                .bridge()
                .expect("bridge")
                .ports
                .iter()
                .copied()
                .collect();
            for p in ports {
                if let Some(vlan) = self.bridge_egress(id, Some(idx), p, fb) {
                    self.xmit(id, p, &Frame { vlan, ..*f }, visited);
                }
            }
            if self.bridge_up(id, br, fb) != Some(None) {
                return;
            }
            let st = &mut self.lk_mut(id, br).stats;
            st.rx_packets += 1;
            st.rx_bytes += f.len;
            self.local_deliver(id, br, f);
            return;
        }
        if f.vlan.is_none() {
            self.local_deliver(id, idx, f);
        }
    }

    /// Every frame sent so far.
    pub fn frame_log(&self) -> &[FrameRecord] {
        &self.frames
    }

    /// Bounds the frame log (oldest records dropped first; `Some(0)` keeps none), for long
    /// benchmark runs; `None` (the default) keeps every frame.
    pub fn set_frame_log_capacity(&mut self, cap: Option<usize>) {
        self.frame_cap = cap;
        if let Some(c) = cap {
            if self.frames.len() > c {
                let d = self.frames.len() - c;
                self.frames.drain(..d);
            }
        }
    }

    pub fn clear_frame_log(&mut self) {
        self.frames.clear();
    }
}

/// A frame on its way through links: its length and what a receiving stack parses of it.
#[derive(Clone, Copy)]
pub(super) struct Frame<'a> {
    pub(super) len: u64,
    pub(super) parsed: Option<&'a Announcement>,
    /// Its 802.1Q tag on this hop (SPEC L3; a stack without a VLAN device drops it).
    pub(super) vlan: Option<u16>,
}

/// What `xmit` needs of a link's kind, without borrowing the kernel.
enum ShallowKind {
    Veth(NsId, IfIndex),
    Bridge(Vec<IfIndex>),
    Loopback,
    Dummy,
}

impl Kind {
    fn clone_shallow(&self) -> ShallowKind {
        match self {
            Kind::Veth { peer_ns, peer } => ShallowKind::Veth(*peer_ns, *peer),
            Kind::Bridge(b) => ShallowKind::Bridge(b.ports.iter().copied().collect()),
            Kind::Loopback => ShallowKind::Loopback,
            Kind::Dummy => ShallowKind::Dummy,
        }
    }
}
