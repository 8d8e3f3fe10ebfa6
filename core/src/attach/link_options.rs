//! SPEC L1–L4 in the attach: the MTU first in A4 (a veth nsplumb creates gets it at creation,
//! A2), then the host end's bridge port (hairpin, isolation, VLANs), each with its undo (A15).
//!
//! The port options need a veth whose host end is a port of a bridge in the host. The fast
//! path knows both from A2, where the bridge's VLAN filtering is checked before the pair is
//! created; any other link shows it in A4's read of the link, and its host end and bridge are
//! read before anything on the port changes.

use super::Attach;
use crate::attached::Origin;
use crate::command::Reply;
use crate::error::StepError;
use crate::request::Request;
use crate::spec::MIN_IPV6_MTU;
use crate::types::{
    BridgeInfo, IfIndex, LinkInfo, LinkKind, NetnsRef, PortFlags, PortFlagsChange, PortVlans,
    Timestamp, VlanSpec,
};
use crate::validate::{needs_a_veth_on_a_bridge, VlanPlan};
use crate::{BackendError, Errno};

/// What the outstanding request of the link options is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LinkOptionStep {
    MtuSet {
        old: u32,
    },
    /// The host end of a link that was not created as a veth on a bridge.
    HostEndRead,
    BridgeRead,
    /// The port's VLAN table before the change, so that an undo can put it back.
    VlansRead,
    FlagsSet,
    VlansAdded,
    DefaultVlanRemoved,
}

/// The host end's bridge port, as found before its options change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HostEnd {
    pub index: IfIndex,
    pub name: String,
    pub flags: PortFlags,
    /// The port's VLANs before the change (read only when an undo may need them).
    pub vlans: Vec<VlanSpec>,
}

impl Attach {
    /// L1, then L2–L4, then the rest of A4 (`configure_link`).
    pub(super) fn link_options(&mut self, now: Timestamp) {
        let current = self.link.as_ref().map(|l| l.mtu);
        match self.plan.spec.mtu {
            // The fast path's pair got it at creation (A2).
            Some(mtu) if !self.is_fast_path() && current != Some(mtu) => self.issue(
                Request::SetMtu {
                    netns: self.ns(),
                    index: self.index,
                    mtu,
                },
                LinkOptionStep::MtuSet {
                    old: current.unwrap_or(mtu),
                },
            ),
            _ => self.port_options(now),
        }
    }

    /// Replies of the link option steps.
    pub(super) fn on_link_option_reply(
        &mut self,
        now: Timestamp,
        step: LinkOptionStep,
        result: Result<Reply, BackendError>,
    ) {
        match (step, result) {
            (LinkOptionStep::MtuSet { old }, Ok(_)) => {
                let mtu = self.plan.spec.mtu.expect("set only when asked");
                let undo = Request::SetMtu {
                    netns: self.ns(),
                    index: self.index,
                    mtu: old,
                };
                match self.origin {
                    // Deleting the bridge takes its MTU along.
                    Origin::NewBridge => self.undo.record_in_namespace(undo),
                    // The MTU moves with the link: it is put back explicitly (and at detach).
                    _ => self.undo.record(undo),
                }
                if self.origin == Origin::MovedFromHost {
                    self.original_mtu = Some(old);
                }
                if mtu < MIN_IPV6_MTU {
                    // The kernel took IPv6 off the link: A6 reads the sysctl afresh.
                    if let Some(link) = self.link.as_mut() {
                        link.ipv6_disabled = None;
                    }
                }
                self.port_options(now);
            }
            (LinkOptionStep::MtuSet { .. }, Err(e)) => {
                let ctx = format!(
                    "error setting interface {:?} MTU to {}",
                    self.plan.name,
                    self.plan.spec.mtu.unwrap_or_default()
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (LinkOptionStep::HostEndRead, Ok(Reply::Link(host_end))) => {
                let Some(master) = host_end.master else {
                    return self.not_on_a_bridge(now, "its host end is not a bridge port");
                };
                self.host_end = Some(HostEnd {
                    index: host_end.index,
                    name: host_end.name,
                    flags: host_end.port_flags.unwrap_or_default(),
                    vlans: Vec::new(),
                });
                self.issue(
                    Request::LinkByIndex {
                        netns: NetnsRef::Host,
                        index: master,
                    },
                    LinkOptionStep::BridgeRead,
                );
            }
            (LinkOptionStep::BridgeRead, Ok(Reply::Link(bridge))) => {
                if bridge.kind != LinkKind::Bridge {
                    let why = format!("its host end's master is a {}", bridge.kind.as_str());
                    return self.not_on_a_bridge(now, &why);
                }
                if let Err(e) = self.check_vlan_filtering(&bridge.name, bridge.bridge) {
                    return self.fail(now, e);
                }
                match self.plan.spec.port.vlans {
                    Some(_) => self.issue(
                        Request::ListPortVlans {
                            netns: NetnsRef::Host,
                        },
                        LinkOptionStep::VlansRead,
                    ),
                    None => self.port_flags(now),
                }
            }
            (LinkOptionStep::VlansRead, Ok(Reply::Vlans(ports))) => {
                let host_end = self.host_end.as_mut().expect("read before its VLANs");
                host_end.vlans = port_vlans(&ports, host_end.index);
                self.port_flags(now);
            }
            (
                LinkOptionStep::HostEndRead
                | LinkOptionStep::BridgeRead
                | LinkOptionStep::VlansRead,
                Err(e),
            ) => {
                let ctx = format!(
                    "failed to read the bridge port of interface {:?} in the host namespace",
                    self.plan.name
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (LinkOptionStep::FlagsSet, Ok(_)) => {
                let host_end = self.host_end.as_ref().expect("known before its flags");
                let change = self
                    .plan
                    .spec
                    .port
                    .flags_change()
                    .expect("set only if asked");
                let undo = Request::SetPortFlags {
                    netns: NetnsRef::Host,
                    index: host_end.index,
                    flags: PortFlagsChange {
                        hairpin: change.hairpin.map(|_| host_end.flags.hairpin),
                        isolated: change.isolated.map(|_| host_end.flags.isolated),
                    },
                };
                self.record_port_undo(undo);
                self.port_vlans(now);
            }
            (LinkOptionStep::FlagsSet, Err(e)) => {
                let asked: Vec<&str> = self
                    .plan
                    .spec
                    .port
                    .asked()
                    .into_iter()
                    .filter(|o| *o != "vlan")
                    .collect();
                let ctx = format!(
                    "error setting {} on the bridge port {:?} of interface {:?}",
                    asked.join(" and "),
                    self.host_end_name(),
                    self.plan.name
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (LinkOptionStep::VlansAdded, Ok(_)) => {
                let plan = self.vlan_plan().clone();
                let host_end = self.host_end.as_ref().expect("known before its VLANs");
                let (index, before) = (host_end.index, host_end.vlans.clone());
                // Put back what the port had of the VLANs it is given (and the PVID it loses),
                // after taking the new ones off.
                let restore = touched(&before, &plan);
                if !restore.is_empty() {
                    self.record_port_undo(Request::AddPortVlans {
                        netns: NetnsRef::Host,
                        index,
                        vlans: restore,
                    });
                }
                self.record_port_undo(Request::DelPortVlans {
                    netns: NetnsRef::Host,
                    index,
                    vlans: plan.to_add(),
                });
                if plan.removes_default() {
                    self.issue(
                        Request::DelPortVlans {
                            netns: NetnsRef::Host,
                            index,
                            vlans: vec![VlanPlan::default_vlan()],
                        },
                        LinkOptionStep::DefaultVlanRemoved,
                    );
                } else {
                    self.configure_link(now);
                }
            }
            (LinkOptionStep::VlansAdded, Err(e)) => {
                let list: Vec<String> = self
                    .vlan_plan()
                    .to_add()
                    .iter()
                    .map(|v| v.to_string())
                    .collect();
                let mut ctx = format!(
                    "error adding VLAN {} to the bridge port {:?} of interface {:?}",
                    list.join(", "),
                    self.host_end_name(),
                    self.plan.name
                );
                if e.is(Errno::EOPNOTSUPP) {
                    ctx.push_str(&format!(" ({})", KERNEL_LACKS_VLAN_FILTERING));
                }
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (LinkOptionStep::DefaultVlanRemoved, Ok(_)) => {
                // Added back by the undo that restores what the port had.
                self.configure_link(now);
            }
            (LinkOptionStep::DefaultVlanRemoved, Err(e)) => {
                let ctx = format!(
                    "error removing the default VLAN 1 from the bridge port {:?} of interface {:?}",
                    self.host_end_name(),
                    self.plan.name
                );
                self.fail(now, StepError::new(ctx, Some(e)))
            }
            (step, Ok(reply)) => self.unexpected(now, &step, reply),
        }
    }

    /// L3 before anything on the port changes: the bridge must filter VLANs.
    pub(super) fn check_vlan_filtering(
        &self,
        bridge: &str,
        info: Option<BridgeInfo>,
    ) -> Result<(), StepError> {
        if self.plan.spec.port.vlans.is_none() {
            return Ok(());
        }
        match info.and_then(|b| b.vlan_filtering) {
            Some(true) => Ok(()),
            Some(false) => Err(StepError::new(
                format!("vlan needs VLAN filtering on bridge {bridge:?}, which has it off"),
                None,
            )),
            None => Err(StepError::new(
                format!("vlan on bridge {bridge:?}: {KERNEL_LACKS_VLAN_FILTERING}"),
                None,
            )),
        }
    }

    fn is_fast_path(&self) -> bool {
        matches!(self.origin, Origin::NewVeth { .. })
    }

    /// L2–L4: the host end's port, found first unless the fast path made it.
    fn port_options(&mut self, now: Timestamp) {
        if self.plan.spec.port.is_empty() {
            return self.configure_link(now);
        }
        if let Origin::NewVeth { host_index } = self.origin {
            // A fresh port: default flags, the bridge's default VLAN; the pair's delete undoes
            // all of it.
            self.host_end = Some(HostEnd {
                index: host_index,
                name: self.source_name().to_string(),
                flags: PortFlags::default(),
                vlans: Vec::new(),
            });
            return self.port_flags(now);
        }
        let link = self.link.as_ref().expect("read at the start of A4");
        let host_peer = match (&link.kind, &link.peer) {
            (LinkKind::Veth, Some(p)) if p.netns == Some(NetnsRef::Host) => Some(p.index),
            _ => None,
        };
        match host_peer {
            Some(peer) => self.issue(
                Request::LinkByIndex {
                    netns: NetnsRef::Host,
                    index: peer,
                },
                LinkOptionStep::HostEndRead,
            ),
            None => {
                let why = describe_not_a_host_veth(link);
                self.not_on_a_bridge(now, &why)
            }
        }
    }

    fn port_flags(&mut self, now: Timestamp) {
        let host_end = self.host_end.as_ref().expect("found before its options");
        let wanted = self.plan.spec.port.flags_change();
        let differs = wanted.is_some_and(|c| {
            c.hairpin.is_some_and(|h| h != host_end.flags.hairpin)
                || c.isolated.is_some_and(|i| i != host_end.flags.isolated)
        });
        match wanted {
            Some(flags) if differs => self.issue(
                Request::SetPortFlags {
                    netns: NetnsRef::Host,
                    index: host_end.index,
                    flags,
                },
                LinkOptionStep::FlagsSet,
            ),
            _ => self.port_vlans(now),
        }
    }

    fn port_vlans(&mut self, now: Timestamp) {
        let Some(plan) = &self.plan.spec.port.vlans else {
            return self.configure_link(now);
        };
        let index = self
            .host_end
            .as_ref()
            .expect("found before its VLANs")
            .index;
        self.issue(
            Request::AddPortVlans {
                netns: NetnsRef::Host,
                index,
                vlans: plan.to_add(),
            },
            LinkOptionStep::VlansAdded,
        );
    }

    /// The fast path's pair is deleted on rollback, its port with it; a port of a veth that
    /// was there before gets its settings back explicitly.
    fn record_port_undo(&mut self, undo: Request) {
        if self.is_fast_path() {
            self.undo.record_in_namespace(undo);
        } else {
            self.undo.record(undo);
        }
    }

    fn vlan_plan(&self) -> &VlanPlan {
        self.plan.spec.port.vlans.as_ref().expect("VLAN step")
    }

    fn host_end_name(&self) -> String {
        self.host_end
            .as_ref()
            .map(|h| h.name.clone())
            .unwrap_or_default()
    }

    /// L2–L4 asked of a link that is not a veth whose host end is a bridge port.
    fn not_on_a_bridge(&mut self, now: Timestamp, why: &str) {
        let asked = self.plan.spec.port.asked();
        let what = match asked.as_slice() {
            [one] => needs_a_veth_on_a_bridge(one),
            [init @ .., last] => format!("{} and {last} need a veth on a bridge", init.join(", ")),
            [] => unreachable!("checked only with port options"),
        };
        let ctx = format!("{what}: interface {:?} {why}", self.plan.name);
        self.fail(now, StepError::new(ctx, None))
    }
}

/// L3 on a kernel built without `CONFIG_BRIDGE_VLAN_FILTERING` (as this project's machines).
pub(super) const KERNEL_LACKS_VLAN_FILTERING: &str =
    "this kernel lacks bridge VLAN filtering (built without CONFIG_BRIDGE_VLAN_FILTERING)";

fn describe_not_a_host_veth(link: &LinkInfo) -> String {
    match (&link.kind, &link.peer) {
        (LinkKind::Veth, _) => "is a veth whose other end is not in the host namespace".into(),
        (kind, _) => format!("is a {}, not a veth", kind.as_str()),
    }
}

/// The VLAN table of port `index`, from a dump of every port.
fn port_vlans(ports: &[PortVlans], index: IfIndex) -> Vec<VlanSpec> {
    ports
        .iter()
        .filter(|p| p.index == index)
        .flat_map(|p| p.vlans.iter().copied())
        .collect()
}

/// What the port had that `plan` changes: entries sharing a VLAN with it, the PVID entry when
/// it sets a new PVID, VLAN 1 when it removes the default.
fn touched(before: &[VlanSpec], plan: &VlanPlan) -> Vec<VlanSpec> {
    let added = plan.to_add();
    let overlaps = |v: &VlanSpec, a: u16, b: u16| v.first <= b && a <= v.last;
    before
        .iter()
        .filter(|v| {
            added.iter().any(|a| overlaps(v, a.first, a.last))
                || (v.pvid && plan.pvid.is_some())
                || (plan.removes_default() && overlaps(v, 1, 1))
        })
        .copied()
        .collect()
}
