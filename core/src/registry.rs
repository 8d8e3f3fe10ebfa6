//! Per-namespace bookkeeping: names (SPEC N1–N4), masters (V9), gateways (G4), and who is busy.

use crate::attach::{AttachPlan, MasterRef};
use crate::attached::{Attached, Origin};
use crate::detach::DetachPlan;
use crate::error::{AttachError, DetachError, StepError};
use crate::naming::generate_name;
use crate::spec::{Destination, Source, Spec};
use crate::types::{Family, NetnsRef, RouteSpec};
use crate::validate::{validate, FieldError, InvalidSpec, ValidSpec};
use std::collections::BTreeMap;

/// Where an interface is in its life.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IfaceState {
    /// Name reserved, attach under way.
    Attaching,
    Attached,
    Detaching,
    /// D3: the link disappeared behind nsplumb's back; the name stays reserved.
    Vanished,
}

/// One interface nsplumb manages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Interface {
    pub name: String,
    pub source: String,
    pub state: IfaceState,
    /// Set once attached.
    pub attached: Option<Attached>,
    /// Whether this interface is a bridge created by attach (it can be a master, V9).
    pub is_new_bridge: bool,
}

#[derive(Debug, Default, Clone)]
struct NsEntry {
    ifaces: BTreeMap<String, Interface>,
    /// Gateway and static routes added via G1/G3, by destination.
    routes_via: Vec<RouteSpec>,
}

/// The registry of every namespace nsplumb acts in. Pure data: callers lock it briefly and
/// never across a kernel call, so attaches to different namespaces never wait for each other.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    namespaces: BTreeMap<NetnsRef, NsEntry>,
}

impl Registry {
    /// A1 + N1–N4 + V9: validate, pick and reserve the destination name, resolve the master.
    /// Nothing is reserved when this fails. Every problem is reported at once, the master's
    /// included.
    pub fn prepare_attach(
        &mut self,
        netns: &NetnsRef,
        spec: &Spec,
    ) -> Result<AttachPlan, AttachError> {
        let valid = validate(spec);
        let master = self.resolve_master(netns, spec);
        match (valid, master) {
            (Ok(valid), Ok(master)) => self.reserve_name(netns, spec, valid, master),
            (Err(mut e), Err(problem)) => {
                e.problems.push(problem);
                Err(e.into())
            }
            (Err(e), Ok(_)) => Err(e.into()),
            (Ok(_), Err(problem)) => Err(InvalidSpec {
                problems: vec![problem],
            }
            .into()),
        }
    }

    /// As [`Registry::prepare_attach`] for a spec the caller validated already (it checked
    /// `spec` with [`validate`] before touching anything, and `valid` is the result): only
    /// what needs the registry is left, the master (V9) and the name.
    pub fn prepare_validated(
        &mut self,
        netns: &NetnsRef,
        spec: &Spec,
        valid: ValidSpec,
    ) -> Result<AttachPlan, AttachError> {
        let master = self
            .resolve_master(netns, spec)
            .map_err(|problem| InvalidSpec {
                problems: vec![problem],
            })?;
        self.reserve_name(netns, spec, valid, master)
    }

    /// V9: the master is the source name of a bridge attached in the same namespace.
    fn resolve_master(
        &self,
        netns: &NetnsRef,
        spec: &Spec,
    ) -> Result<Option<MasterRef>, FieldError> {
        let Some(m) = &spec.master else {
            return Ok(None);
        };
        self.namespaces
            .get(netns)
            .and_then(|entry| {
                entry
                    .ifaces
                    .values()
                    .find(|i| i.source == *m && i.is_new_bridge && i.state == IfaceState::Attached)
            })
            .and_then(|i| {
                Some(MasterRef {
                    name: i.name.clone(),
                    index: i.attached.as_ref()?.ifindex,
                })
            })
            .map(Some)
            .ok_or_else(|| FieldError {
                field: "master",
                value: m.clone(),
                reason: format!(
                    "could not find an appropriate master {m:?} for {:?}",
                    spec.source.name()
                ),
            })
    }

    /// N1–N4: pick and hold the destination name of a valid spec.
    fn reserve_name(
        &mut self,
        netns: &NetnsRef,
        spec: &Spec,
        valid: ValidSpec,
        master: Option<MasterRef>,
    ) -> Result<AttachPlan, AttachError> {
        let entry = self.namespaces.entry(netns.clone()).or_default();

        // N1: in the host namespace the name is the source name.
        let name = if netns.is_host() {
            spec.source.name().to_string()
        } else {
            match &spec.destination {
                Destination::Name(n) => n.clone(),
                Destination::Prefix(p) => generate_name(p, entry.ifaces.keys().map(String::as_str))
                    .ok_or_else(|| InvalidSpec {
                        problems: vec![FieldError {
                            field: "prefix",
                            value: p.clone(),
                            reason: format!(
                                "every name {p}N up to 15 bytes is taken in namespace {netns}"
                            ),
                        }],
                    })?,
            }
        };
        // A link attached in the host namespace itself (N1) stays there, managed: it is not
        // free to be moved into another namespace.
        if let (Source::HostLink(src), false) = (&spec.source, netns.is_host()) {
            let held = self
                .namespaces
                .get(&NetnsRef::Host)
                .is_some_and(|h| h.ifaces.contains_key(src));
            if held {
                return Err(AttachError::Failed {
                    error: StepError::new(
                        format!("link {src:?} is attached in namespace host by nsplumb; detach it there first"),
                        None,
                    ),
                    rollback_errors: Vec::new(),
                });
            }
        }
        let entry = self.namespaces.entry(netns.clone()).or_default();
        if entry.ifaces.contains_key(&name) {
            // N4, without a kernel call: the name is ours already.
            return Err(AttachError::Failed {
                error: StepError::new(
                    format!(
                        "error renaming interface {:?} to {name:?}: file exists (the name is held by another interface nsplumb manages in namespace {netns})",
                        spec.source.name()
                    ),
                    None,
                ),
                rollback_errors: Vec::new(),
            });
        }
        entry.ifaces.insert(
            name.clone(),
            Interface {
                name: name.clone(),
                source: spec.source.name().to_string(),
                state: IfaceState::Attaching,
                attached: None,
                is_new_bridge: matches!(spec.source, Source::NewBridge(_)),
            },
        );
        Ok(AttachPlan {
            netns: netns.clone(),
            spec: valid,
            name,
            master,
        })
    }

    /// The attach succeeded: the interface is registered under its name.
    pub fn complete_attach(&mut self, attached: &Attached) {
        let entry = self.namespaces.entry(attached.netns.clone()).or_default();
        // prepare_attach registered it (a name lookup, no key to allocate); adopt did not.
        let iface = match entry.ifaces.get_mut(&attached.name) {
            Some(iface) => iface,
            None => entry
                .ifaces
                .entry(attached.name.clone())
                .or_insert_with(|| Interface {
                    name: attached.name.clone(),
                    source: attached.source.clone(),
                    state: IfaceState::Attached,
                    attached: None,
                    is_new_bridge: attached.origin == Origin::NewBridge,
                }),
        };
        iface.state = IfaceState::Attached;
        iface.attached = Some(attached.clone());
    }

    /// The attach failed and was rolled back: the name is free again (SPEC A15).
    pub fn abort_attach(&mut self, netns: &NetnsRef, name: &str) {
        if let Some(entry) = self.namespaces.get_mut(netns) {
            entry.ifaces.remove(name);
        }
    }

    /// Register an interface attached by an earlier process (state kept outside this one).
    pub fn adopt(&mut self, attached: Attached) {
        self.complete_attach(&attached);
    }

    /// D2: exactly one detach at a time per interface; a second gets a clear error.
    pub fn begin_detach(
        &mut self,
        netns: &NetnsRef,
        name: &str,
    ) -> Result<DetachPlan, DetachError> {
        let not_attached = || DetachError::NotAttached {
            netns: netns.to_string(),
            name: name.to_string(),
        };
        let iface = self
            .namespaces
            .get_mut(netns)
            .and_then(|e| e.ifaces.get_mut(name))
            .ok_or_else(not_attached)?;
        let attached = match (&iface.state, &iface.attached) {
            (IfaceState::Attached | IfaceState::Vanished, Some(a)) => a.clone(),
            (IfaceState::Attaching | IfaceState::Detaching, _) => {
                return Err(DetachError::Busy {
                    netns: netns.to_string(),
                    name: name.to_string(),
                })
            }
            _ => return Err(not_attached()),
        };
        iface.state = IfaceState::Detaching;
        Ok(DetachPlan {
            netns: netns.clone(),
            name: name.to_string(),
            source: attached.source,
            index: attached.ifindex,
            origin: attached.origin,
            restore_mtu: attached.original_mtu,
        })
    }

    /// Detach done: forget the interface and the routes that went with its link (G4).
    pub fn complete_detach(&mut self, netns: &NetnsRef, name: &str) {
        if let Some(entry) = self.namespaces.get_mut(netns) {
            if let Some(iface) = entry.ifaces.remove(name) {
                if let Some(a) = iface.attached {
                    entry.routes_via.retain(|r| r.oif != a.ifindex);
                }
            }
        }
    }

    /// Detach failed: D3 keeps a vanished interface registered; anything else stays attached.
    pub fn detach_failed(&mut self, netns: &NetnsRef, name: &str, error: &DetachError) {
        if let Some(iface) = self
            .namespaces
            .get_mut(netns)
            .and_then(|e| e.ifaces.get_mut(name))
        {
            iface.state = match error {
                DetachError::Vanished { .. } => IfaceState::Vanished,
                _ => IfaceState::Attached,
            };
        }
    }

    /// D3: drop an interface (normally a vanished one) without touching the kernel.
    pub fn forget(&mut self, netns: &NetnsRef, name: &str) -> bool {
        self.namespaces
            .get_mut(netns)
            .and_then(|e| e.ifaces.remove(name))
            .is_some()
    }

    pub fn interface(&self, netns: &NetnsRef, name: &str) -> Option<&Interface> {
        self.namespaces.get(netns)?.ifaces.get(name)
    }

    /// Every interface of one namespace, by name.
    pub fn interfaces(&self, netns: &NetnsRef) -> impl Iterator<Item = &Interface> {
        self.namespaces
            .get(netns)
            .into_iter()
            .flat_map(|e| e.ifaces.values())
    }

    /// Every attached interface in every namespace.
    pub fn all_attached(&self) -> impl Iterator<Item = &Attached> {
        self.namespaces
            .values()
            .flat_map(|e| e.ifaces.values())
            .filter_map(|i| i.attached.as_ref())
    }

    pub fn record_route(&mut self, netns: &NetnsRef, route: RouteSpec) {
        let entry = self.namespaces.entry(netns.clone()).or_default();
        entry.routes_via.retain(|r| r.dst != route.dst);
        entry.routes_via.push(route);
    }

    /// The recorded route to `dst`, removed from the record.
    pub fn take_route(&mut self, netns: &NetnsRef, dst: &ipnet::IpNet) -> Option<RouteSpec> {
        let entry = self.namespaces.get_mut(netns)?;
        let pos = entry.routes_via.iter().position(|r| r.dst == *dst)?;
        Some(entry.routes_via.remove(pos))
    }

    /// The gateway (default route) recorded for a family (G1, G4).
    pub fn gateway(&self, netns: &NetnsRef, family: Family) -> Option<&RouteSpec> {
        self.namespaces
            .get(netns)?
            .routes_via
            .iter()
            .find(|r| Family::of(&r.dst) == family && crate::validate::is_unspecified_route(&r.dst))
    }
}

#[cfg(test)]
mod tests;
