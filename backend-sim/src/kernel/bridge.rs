//! Bridges and their ports: enslaving, releasing, port states (STP), the bridge's MAC and
//! carrier.

use super::Kernel;
use crate::bridge_port::PortOptions;
use crate::clock::KernelTimer;
use crate::link::Port;
use crate::namespace::NsId;
use nsplumb_core::{Errno, IfIndex, MacAddr, NetnsRef, PortState};
use std::time::Duration;

impl Kernel {
    /// `ip link set DEV master BR` / `nomaster` (`do_set_master`): the old master is released
    /// first; unknown master → EINVAL, not a bridge → EOPNOTSUPP; `br_add_if`: loopback or a
    /// port without a valid MAC → EINVAL, a bridge as port → ELOOP.
    pub fn set_master(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        master: Option<IfIndex>,
    ) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        let cur = self.lk(id, idx).master;
        if cur == master {
            return Ok(());
        }
        if cur.is_some() {
            self.release(id, idx);
        }
        if let Some(m) = master {
            self.enslave(id, idx, m)?;
        }
        Ok(())
    }

    pub(super) fn enslave(&mut self, id: NsId, idx: IfIndex, m: IfIndex) -> Result<(), Errno> {
        let ml = self.ns(id).links.get(&m).ok_or(Errno::EINVAL)?;
        if ml.bridge().is_none() {
            return Err(Errno::EOPNOTSUPP);
        }
        let l = self.lk(id, idx);
        if l.is_loopback() || !l.mac.is_assignable() {
            return Err(Errno::EINVAL);
        }
        if l.bridge().is_some() {
            return Err(Errno::ELOOP);
        }
        let opts = PortOptions::new(self.link_opts.vlan_filtering_supported);
        let l = self.lk_mut(id, idx);
        l.master = Some(m);
        l.port = Some(Port {
            state: PortState::Disabled,
            stp_deadline: None,
            opts,
        });
        let mac = self.lk(id, idx).mac;
        let b = self.lk_mut(id, m).bridge_mut().expect("bridge");
        b.ports.insert(idx);
        b.add_mac(mac);
        self.notify(id, idx);
        if self.recalc_bridge_id(id, m) {
            self.bridge_select(id, m);
        }
        self.port_refresh(id, idx);
        self.bridge_mtu_auto(id, m); // SPEC L1
        Ok(())
    }

    pub(super) fn release(&mut self, id: NsId, idx: IfIndex) {
        let Some(m) = self.lk(id, idx).master else {
            return;
        };
        let state = self.lk(id, idx).port.as_ref().map(|p| p.state);
        let was_enabled = state.map(|s| s != PortState::Disabled).unwrap_or(false);
        let l = self.lk_mut(id, idx);
        l.master = None;
        l.port = None;
        let mac = l.mac;
        if let Some(b) = self.lk_mut(id, m).bridge_mut() {
            b.ports.remove(&idx);
            b.remove_mac(mac);
            if state == Some(PortState::Forwarding) {
                b.fwd_ports -= 1;
            }
        }
        self.notify(id, idx);
        let changed = self.recalc_bridge_id(id, m);
        if was_enabled || changed {
            self.bridge_select(id, m);
        }
        self.bridge_mtu_auto(id, m); // SPEC L1
    }

    /// `br_stp_recalculate_bridge_id`: lowest port MAC, zero without ports, unless set by the user.
    pub(super) fn recalc_bridge_id(&mut self, id: NsId, br: IfIndex) -> bool {
        let b = self.lk(id, br).bridge().expect("bridge");
        if b.mac_set {
            return false;
        }
        let mac = b.port_macs.keys().next().copied().unwrap_or(MacAddr::ZERO);
        if mac == self.lk(id, br).mac {
            return false;
        }
        self.lk_mut(id, br).mac = mac;
        self.notify(id, br);
        true
    }

    /// Re-evaluates one port: enabled iff bridge up, port up with carrier.
    /// The ports of bridge `idx` (none when it is not a bridge), copied out so that the
    /// caller can change the kernel while it goes through them.
    pub(super) fn ports_of(&self, id: NsId, idx: IfIndex) -> Vec<IfIndex> {
        self.lk(id, idx)
            .bridge()
            .map(|b| b.ports.iter().copied().collect())
            .unwrap_or_default()
    }

    pub(super) fn port_refresh(&mut self, id: NsId, idx: IfIndex) {
        let Some(br) = self.lk(id, idx).master else {
            return;
        };
        let enabled = self.lk(id, br).up && self.lk(id, idx).up && self.carrier(id, idx);
        let (stp, fd) = {
            let b = self.lk(id, br).bridge().expect("bridge");
            (b.stp, b.forward_delay_cs)
        };
        let now = self.clock.now;
        let uid = self.lk(id, idx).uid;
        let port = self.lk_mut(id, idx).port.as_mut().expect("port");
        let old = port.state;
        let disabled = port.state == PortState::Disabled;
        let mut timer = None;
        if enabled && disabled {
            if !stp || fd == 0 {
                port.state = PortState::Forwarding;
            } else {
                port.state = PortState::Listening;
                let at = now + Duration::from_millis(u64::from(fd) * 10);
                port.stp_deadline = Some(at);
                timer = Some(at);
            }
        } else if !enabled && !disabled {
            port.state = PortState::Disabled;
            port.stp_deadline = None;
        } else {
            return;
        }
        let new = port.state;
        if new == PortState::Forwarding {
            self.fwd_delta(id, br, 1);
        } else if old == PortState::Forwarding {
            self.fwd_delta(id, br, -1);
        }
        if let Some(at) = timer {
            self.schedule(
                at,
                KernelTimer::Stp {
                    ns: id,
                    index: idx,
                    uid,
                },
            );
        }
        self.notify(id, idx);
        self.bridge_select(id, br);
    }

    pub(super) fn fwd_delta(&mut self, id: NsId, br: IfIndex, d: i32) {
        let b = self.lk_mut(id, br).bridge_mut().expect("bridge");
        b.fwd_ports = b.fwd_ports.wrapping_add_signed(d);
    }

    /// `br_port_state_selection` carrier rule: on iff some port forwards.
    pub(super) fn bridge_select(&mut self, id: NsId, br: IfIndex) {
        let fwd = self.lk(id, br).bridge().expect("bridge").fwd_ports > 0;
        let b = self.lk_mut(id, br).bridge_mut().expect("bridge");
        if b.carrier == fwd {
            return;
        }
        b.carrier = fwd;
        if fwd {
            self.carrier_on(id, br);
        } else {
            self.carrier_off(id, br);
        }
    }

    fn bridge_of(&self, r: &NetnsRef, br: IfIndex) -> Result<NsId, Errno> {
        let id = self.resolve(r, br)?;
        if self.lk(id, br).bridge().is_none() {
            return Err(Errno::EOPNOTSUPP);
        }
        Ok(id)
    }

    /// Sim-only (`ip link set BR type bridge stp_state 0|1`). Linux 6.x (checked): ports keep
    /// their state either way; forward-delay timers already running go on (a listening port
    /// still walks to forwarding after STP is turned off); enabling STP clamps the forward
    /// delay to 2..=30 s.
    pub fn set_stp(&mut self, r: &NetnsRef, br: IfIndex, enabled: bool) -> Result<(), Errno> {
        let id = self.bridge_of(r, br)?;
        let b = self.lk_mut(id, br).bridge_mut().expect("bridge");
        b.stp = enabled;
        if enabled {
            b.forward_delay_cs = b.forward_delay_cs.clamp(200, 3000);
        }
        self.notify(id, br);
        // Linux 6.x: br_stp_set_enabled (either way) reselects port states, and the carrier
        // follows: off when no port forwards (a bridge without ports goes NO-CARRIER).
        self.bridge_select(id, br);
        Ok(())
    }

    /// Sim-only (`ip link set BR type bridge forward_delay CS`). With STP on, Linux accepts
    /// 200..=3000 cs only (ERANGE otherwise).
    pub fn set_forward_delay(&mut self, r: &NetnsRef, br: IfIndex, cs: u32) -> Result<(), Errno> {
        let id = self.bridge_of(r, br)?;
        let b = self.lk_mut(id, br).bridge_mut().expect("bridge");
        if b.stp && !(200..=3000).contains(&cs) {
            return Err(Errno::ERANGE);
        }
        b.forward_delay_cs = cs;
        self.notify(id, br);
        Ok(())
    }
}
