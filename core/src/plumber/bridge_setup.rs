//! The bridge a CNI network's veths share, made ready before an attach puts a port on it (the
//! reference bridge plugin's `ensureBridge`, `ensureAddr` and forwarding, SPEC C3): the bridge
//! exists (created with its options if absent, reused if it is a bridge, an error if the name
//! is another kind of link), router advertisements are not accepted on it, it is up, it holds
//! the gateway addresses (`isGateway`, with `forceAddress` replacing a conflicting address),
//! and forwarding is on for their families.
//!
//! Every step on the bridge is recorded with its undo, so that an ADD that fails can put the
//! bridge back as it found it (SPEC C4): a bridge it created is deleted, addresses it added or
//! replaced are put back. Forwarding is host-wide state that other networks rely on the moment
//! it is on; it is turned on, never off again (as the bridge plugin does).

use super::Plumber;
use crate::backend::NetBackend;
use crate::backend_ext::BackendExt;
use crate::error::StepError;
use crate::request::Request;
use crate::types::{BridgeOptions, LinkInfo, LinkKind, NetnsRef};
use crate::undo::UndoLog;
use crate::{BackendError, Errno};
use ipnet::IpNet;
use tracing::Instrument;

/// How the shared bridge must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgePlan {
    /// In the host namespace.
    pub name: String,
    /// Used only when the bridge is created.
    pub options: BridgeOptions,
    /// The gateway addresses (`isGateway`), each with its subnet's prefix length.
    pub addresses: Vec<IpNet>,
    /// Replace an address that conflicts with one of `addresses` instead of failing: any
    /// other IPv4 address, an IPv6 address whose subnet overlaps (`forceAddress`).
    pub force_address: bool,
    pub forward_ipv4: bool,
    pub forward_ipv6: bool,
}

/// What [`Plumber::ensure_bridge`] found and did, for the result and for the undo.
#[derive(Debug, Clone)]
pub struct BridgeSetup {
    /// The bridge as it is after the setup (name, index, MAC, MTU).
    pub bridge: LinkInfo,
    /// Whether this setup created it.
    pub created: bool,
    /// The forwarding sysctls this setup turned on (paths below `/proc/sys`).
    pub forwarding_enabled: Vec<String>,
    undo: UndoLog,
}

impl BridgeSetup {
    /// Whether undoing would change anything.
    pub fn changed_the_bridge(&self) -> bool {
        !self.undo.is_empty()
    }
}

/// The sysctl that turns forwarding on for one family, host-wide.
const IPV4_FORWARD: &str = "net/ipv4/ip_forward";
const IPV6_FORWARD: &str = "net/ipv6/conf/all/forwarding";

/// How often a bridge that vanished between "exists" and "look it up" (another process deleted
/// it) is looked for again before giving up.
const LOOKUP_ATTEMPTS: usize = 3;

impl<B: NetBackend> Plumber<B> {
    /// Make the shared bridge ready (see the module documentation). On failure every step
    /// already done is undone, and the error says what could not be.
    pub async fn ensure_bridge(&self, plan: &BridgePlan) -> Result<BridgeSetup, StepError> {
        let span = tracing::info_span!("ensure_bridge", iface = %plan.name, netns = "host");
        self.ensure_bridge_steps(plan).instrument(span).await
    }

    async fn ensure_bridge_steps(&self, plan: &BridgePlan) -> Result<BridgeSetup, StepError> {
        let (bridge, created) = self.find_or_create_bridge(plan).await?;
        let mut setup = BridgeSetup {
            bridge,
            created,
            forwarding_enabled: Vec::new(),
            undo: UndoLog::default(),
        };
        if created {
            setup.undo.record_leave(Request::DeleteLinks {
                netns: NetnsRef::Host,
                indices: vec![setup.bridge.index],
            });
        }
        match self.prepare_bridge(plan, &mut setup).await {
            Ok(()) => Ok(setup),
            Err(error) => {
                let failed = self.undo_bridge_setup(setup).await.err();
                Err(match failed {
                    None => error,
                    Some(u) => StepError::new(format!("{error}; and {}", u.context), None),
                })
            }
        }
    }

    /// Put the bridge back as [`Plumber::ensure_bridge`] found it: delete it if it created
    /// it, else remove the addresses it added, restore those it replaced and its sysctls.
    /// Forwarding stays on. Steps already undone by someone else (a link or address gone) are
    /// fine; the others are all tried, and their failures reported together.
    pub async fn undo_bridge_setup(&self, setup: BridgeSetup) -> Result<(), StepError> {
        let mut failures = Vec::new();
        for request in setup.undo.into_plan() {
            match self.backend().execute(&request).await {
                Ok(_) => {}
                Err(e) if already_undone(&e) => {}
                Err(e) => failures.push(e.to_string()),
            }
        }
        match failures.is_empty() {
            true => Ok(()),
            false => Err(StepError::new(
                format!(
                    "undoing the setup of bridge {:?} failed: {}",
                    setup.bridge.name,
                    failures.join("; ")
                ),
                None,
            )),
        }
    }

    /// The bridge named by the plan, created with its options when there is none.
    async fn find_or_create_bridge(
        &self,
        plan: &BridgePlan,
    ) -> Result<(LinkInfo, bool), StepError> {
        let host = NetnsRef::Host;
        let backend = self.backend();
        let mut last = None;
        for _ in 0..LOOKUP_ATTEMPTS {
            match backend.link_by_name(&host, &plan.name).await {
                Ok(link) => return is_bridge(link, &plan.name).map(|l| (l, false)),
                Err(e) if e.is(Errno::ENODEV) => {}
                Err(e) => {
                    let ctx = format!("failed to look up bridge {:?}", plan.name);
                    return Err(StepError::new(ctx, Some(e)));
                }
            }
            match backend.create_bridge(&host, &plan.name, plan.options).await {
                Ok(index) => {
                    let link = backend.link_by_index(&host, index).await;
                    return match link {
                        Ok(link) => Ok((link, true)),
                        Err(e) => {
                            let ctx = format!("failed to read bridge {:?} it created", plan.name);
                            let _ = backend.delete_links(&host, &[index]).await;
                            Err(StepError::new(ctx, Some(e)))
                        }
                    };
                }
                // Created by another process in between: look it up again.
                Err(e) if e.is(Errno::EEXIST) => last = Some(e),
                Err(e) => {
                    let ctx = format!("failed to create bridge {:?}", plan.name);
                    return Err(StepError::new(ctx, Some(e)));
                }
            }
        }
        let ctx = format!(
            "bridge {:?} kept appearing and vanishing while it was looked up",
            plan.name
        );
        Err(StepError::new(ctx, last))
    }

    /// The steps on a bridge that exists: each recorded in `setup` with its undo.
    async fn prepare_bridge(
        &self,
        plan: &BridgePlan,
        setup: &mut BridgeSetup,
    ) -> Result<(), StepError> {
        let host = NetnsRef::Host;
        let backend = self.backend();
        let index = setup.bridge.index;
        let name = plan.name.clone();
        let step = |what: &str| {
            let name = name.clone();
            let what = what.to_string();
            move |e: BackendError| StepError::new(format!("{what} bridge {name:?}"), Some(e))
        };
        // A bridge takes the lowest MAC among its ports unless its MAC was set: pinned now,
        // before any port, the gateway's MAC never changes as containers come and go.
        if setup.created {
            if let Some(mac) = setup.bridge.mac {
                let pin = backend.set_mac(&host, index, mac).await;
                pin.map_err(step("failed to pin the MAC of"))?;
            }
        }
        let accept_ra = format!("net/ipv6/conf/{}/accept_ra", plan.name);
        self.set_sysctl(&accept_ra, "0", Some(&mut setup.undo))
            .await
            .map_err(step("failed to turn off router advertisements on"))?;
        if !setup.bridge.flags.up {
            let up = backend.set_link_up(&host, index).await;
            up.map_err(step("failed to set up"))?;
            setup.undo.record_in_namespace(Request::SetLinkDown {
                netns: host.clone(),
                index,
            });
        }
        if !plan.addresses.is_empty() {
            self.ensure_addresses(plan, setup).await?;
        }
        for (wanted, path) in [
            (plan.forward_ipv4, IPV4_FORWARD),
            (plan.forward_ipv6, IPV6_FORWARD),
        ] {
            if !wanted {
                continue;
            }
            let changed = self.set_sysctl(path, "1", None).await.map_err(|e| {
                StepError::new(format!("failed to turn on forwarding ({path})"), Some(e))
            })?;
            if changed {
                setup.forwarding_enabled.push(path.to_string());
            }
        }
        setup.bridge = backend
            .link_by_index(&host, index)
            .await
            .map_err(step("failed to read"))?;
        Ok(())
    }

    /// `ensureAddr` for each gateway address: there already, added, or (with `forceAddress`)
    /// replacing the conflicting one; a conflict without it is an error naming both.
    async fn ensure_addresses(
        &self,
        plan: &BridgePlan,
        setup: &mut BridgeSetup,
    ) -> Result<(), StepError> {
        let host = NetnsRef::Host;
        let backend = self.backend();
        let index = setup.bridge.index;
        let mut present = backend
            .list_addresses(&host, Some(index))
            .await
            .map_err(|e| {
                let ctx = format!("failed to list the addresses of bridge {:?}", plan.name);
                StepError::new(ctx, Some(e))
            })?;
        present.retain(|a| a.index == index);
        let mut added = false;
        for wanted in &plan.addresses {
            if present.iter().any(|a| a.net == *wanted) {
                continue;
            }
            for other in present.iter().filter(|a| conflicts(&a.net, wanted)) {
                if !plan.force_address {
                    let ctx = format!(
                        "bridge {:?} already has the address {} where {wanted} is asked \
                         (forceAddress replaces it)",
                        plan.name, other.net
                    );
                    return Err(StepError::new(ctx, None));
                }
                match backend.del_address(&host, index, other.net).await {
                    Ok(()) => {}
                    Err(e) if e.is(Errno::EADDRNOTAVAIL) => continue,
                    Err(e) => {
                        let ctx = format!(
                            "failed to remove address {} from bridge {:?} (forceAddress)",
                            other.net, plan.name
                        );
                        return Err(StepError::new(ctx, Some(e)));
                    }
                }
                setup.undo.record_in_namespace(Request::AddAddress {
                    netns: host.clone(),
                    index,
                    net: other.net,
                    nodad: other.flags.nodad,
                });
            }
            // NODAD: the gateway must answer the moment the first container comes up.
            match backend.add_address(&host, index, *wanted, true).await {
                Ok(()) => {
                    added = true;
                    setup.undo.record_in_namespace(Request::DelAddress {
                        netns: host.clone(),
                        index,
                        net: *wanted,
                    });
                }
                // Added by a concurrent ADD of the same network.
                Err(e) if e.is(Errno::EEXIST) => {}
                Err(e) => {
                    let ctx = format!("failed to add address {wanted} to bridge {:?}", plan.name);
                    return Err(StepError::new(ctx, Some(e)));
                }
            }
        }
        if added && !setup.created {
            // As the bridge plugin: a bridge that now holds a gateway keeps its MAC.
            if let Some(mac) = setup.bridge.mac {
                backend.set_mac(&host, index, mac).await.map_err(|e| {
                    let ctx = format!("failed to pin the MAC of bridge {:?}", plan.name);
                    StepError::new(ctx, Some(e))
                })?;
            }
        }
        Ok(())
    }

    /// Read a host sysctl and write `value` if it differs; with `undo`, record the old value.
    /// A sysctl that does not exist (IPv6 off in the kernel) is left alone. True when written.
    async fn set_sysctl(
        &self,
        path: &str,
        value: &str,
        undo: Option<&mut UndoLog>,
    ) -> Result<bool, BackendError> {
        let host = NetnsRef::Host;
        let backend = self.backend();
        let old = match backend.read_sysctl(&host, path).await {
            Ok(old) => old,
            Err(e) if e.is(Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(e),
        };
        if old == value {
            return Ok(false);
        }
        backend.write_sysctl(&host, path, value).await?;
        if let Some(undo) = undo {
            undo.record_in_namespace(Request::WriteSysctl {
                netns: host,
                path: path.to_string(),
                value: old,
            });
        }
        Ok(true)
    }
}

/// A link named `name` must be a bridge to be shared.
fn is_bridge(link: LinkInfo, name: &str) -> Result<LinkInfo, StepError> {
    match link.kind {
        LinkKind::Bridge => Ok(link),
        ref other => Err(StepError::new(
            format!(
                "link {name:?} exists in the host namespace and is a {}, not a bridge",
                other.as_str()
            ),
            None,
        )),
    }
}

/// `ensureAddr`'s rule: any other IPv4 address conflicts; an IPv6 address conflicts when the
/// subnets overlap.
fn conflicts(present: &IpNet, wanted: &IpNet) -> bool {
    match (present, wanted) {
        (IpNet::V4(_), IpNet::V4(_)) => present != wanted,
        (IpNet::V6(_), IpNet::V6(_)) => {
            present != wanted
                && (present.contains(&wanted.addr()) || wanted.contains(&present.addr()))
        }
        _ => false,
    }
}

/// An undo step whose object is already gone.
fn already_undone(e: &BackendError) -> bool {
    e.is(Errno::ENODEV) || e.is(Errno::EADDRNOTAVAIL) || e.is(Errno::EEXIST)
}

#[cfg(test)]
mod tests;
