//! SPEC A14: the first announcement, sent during the attach (S4), then the announcer with the
//! remaining rounds handed to the caller; and the attach's successful end.

use super::{Attach, Await};
use crate::announce::{AnnounceTarget, Announcer};
use crate::attached::Attached;
use crate::command::{Input, Reply};
use crate::event::{EventKind, Phase, StopReason};
use crate::types::Timestamp;
use crate::BackendError;

impl Attach {
    /// The reply to the announcer's command, during the first round.
    pub(super) fn on_announce_reply(
        &mut self,
        now: Timestamp,
        result: Result<Reply, BackendError>,
    ) {
        let announcer = self.announcer.as_mut().expect("announcing");
        announcer.handle_input(now, Input::Reply(result));
        self.pump_announcer(now);
    }

    /// S1: what to announce, if anything: the spec's MAC or the link's own, and the addresses.
    pub(super) fn announce_target(&self) -> Result<AnnounceTarget, String> {
        let announce = self.plan.spec.announce;
        if announce.count == 0 {
            return Err("announce count is 0".into());
        }
        let ipv4 = self.plan.spec.ipv4.map(|n| n.addr());
        let ipv6 = self.ipv6.map(|n| n.addr());
        if ipv4.is_none() && ipv6.is_none() {
            return Err("no IP address to announce".into());
        }
        let mac = self
            .plan
            .spec
            .mac
            .or_else(|| self.link.as_ref().and_then(|l| l.mac))
            .filter(|m| !m.is_zero())
            .ok_or_else(|| "no MAC address to announce".to_string())?;
        Ok(AnnounceTarget {
            netns: self.ns(),
            iface: self.plan.name.clone(),
            index: self.index,
            mac,
            ipv4,
            ipv6,
            count: announce.count,
            interval: announce.interval,
            mcast_route_ok: true,
        })
    }

    pub(super) fn announce(&mut self, now: Timestamp) {
        let mut target = match self.announce_target() {
            Ok(t) => t,
            Err(why) => {
                self.push(
                    now,
                    EventKind::AnnounceStopped(StopReason::NotStarted { why }),
                );
                return self.finish(now);
            }
        };
        target.mcast_route_ok = self.mcast_route_ok;
        self.phase(now, Phase::Announcing);
        let mut announcer = Announcer::new(target, now);
        announcer.set_events(self.events.enabled());
        announcer.handle_timeout(now);
        self.announcer = Some(announcer);
        self.pump_announcer(now);
    }

    /// Forward the announcer's command and events until its first round is over (SPEC S4).
    fn pump_announcer(&mut self, now: Timestamp) {
        let announcer = self.announcer.as_mut().expect("announcing");
        let command = announcer.poll_command();
        let mut events = Vec::new();
        while let Some(e) = announcer.poll_event() {
            events.push(e);
        }
        let first_round_over = announcer.sent() >= 1 || announcer.is_finished();
        let stop = announcer.stop_reason().cloned();
        for e in events {
            self.events.push_event(e);
        }
        if let Some(command) = command {
            return self.issue(command, Await::Announcing);
        }
        if first_round_over {
            if let Some(StopReason::SendError { message }) = stop {
                // S4: a failed first send is a warning, not an attach failure.
                self.warnings
                    .push(format!("first announcement failed: {message}"));
            }
            self.finish(now);
        }
    }

    pub(super) fn finish(&mut self, now: Timestamp) {
        let attached = Attached {
            netns: self.ns(),
            name: self.plan.name.clone(),
            source: self.source_name().to_string(),
            ifindex: self.index,
            mac: self
                .plan
                .spec
                .mac
                .or_else(|| self.link.as_ref().and_then(|l| l.mac)),
            ipv4: self.plan.spec.ipv4,
            ipv6: self.ipv6,
            ipv6_dropped: self.ipv6_dropped,
            master: self.plan.master.as_ref().map(|m| m.name.clone()),
            origin: self.origin.clone(),
            announce: self.plan.spec.announce,
            warnings: self.warnings.clone(),
            mtu: self.plan.spec.mtu.or(self.link.as_ref().map(|l| l.mtu)),
            hairpin: self.plan.spec.port.hairpin,
            isolated: self.plan.spec.port.isolated,
            vlans: self
                .plan
                .spec
                .port
                .vlans
                .as_ref()
                .map(|v| v.to_add())
                .unwrap_or_default(),
            original_mtu: self.original_mtu,
        };
        tracing::info!(iface = %attached.name, netns = %attached.netns, ifindex = attached.ifindex, mac = ?attached.mac, "attached");
        if self.events.enabled() {
            self.push(now, EventKind::Attached(Box::new(attached.clone())));
        }
        self.outcome = Some(Ok(attached));
    }
}
