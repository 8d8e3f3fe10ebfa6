//! SPEC C3, C4, C5: ADD's kernel part. The bridge is made ready, the veth attached through the
//! host-state layer (its records keyed by network, container ID and interface name), the
//! routes via a next hop added; the remaining announcements go to a detached process. A step
//! that fails undoes the ones before it: the attach (the host-state layer's detach), and what
//! the bridge setup changed when no other ADD uses the bridge (see [`super::bridge_lock`]).

use super::announcer;
use super::bridge_lock::{self, BridgeLock};
use super::plan::AttachPlan;
use super::{kernel_error, World};
use crate::dataplane::{AttachOutcome, AttachRequest, LinkReport};
use crate::error::{CniError, ErrorCode};
use nsplumb_core::{Attached, BackendExt, BridgeSetup, Errno, LinkInfo, MacAddr, NetnsRef, Origin};
use nsplumb_host::{AnnouncedBy, HostError, Owner};
use std::path::{Path, PathBuf};

/// What an ADD changed on the bridge, kept until the verb is over: a DEL in the same process
/// (the ADD's own rollback, SPEC C4) puts it back.
pub(crate) struct BridgeUndo {
    setup: BridgeSetup,
    lock_path: PathBuf,
}

/// The namespace of a `CNI_NETNS` path.
pub(super) fn netns_ref(path: &Path) -> NetnsRef {
    NetnsRef::path(path.to_string_lossy().as_ref())
}

/// The key of an attachment's records.
pub(super) fn owner_of(network: &str, container_id: &str, ifname: &str) -> Owner {
    Owner {
        network: network.to_string(),
        container_id: container_id.to_string(),
        ifname: ifname.to_string(),
    }
}

/// The whole kernel part of ADD, or nothing of it (SPEC C4).
pub(super) async fn attach(
    world: &World,
    request: &AttachRequest<'_>,
) -> Result<(AttachOutcome, BridgeUndo), CniError> {
    let plan = AttachPlan::new(request, nsplumb_host::veth_host_name())?;
    let netns = netns_ref(request.netns);
    let attachment = request.attachment;
    refuse_existing(world, &netns, &attachment.ifname).await?;

    let lock_path = bridge_lock::lock_path(&world.state_dir, &plan.bridge.name);
    let shared = BridgeLock::shared(&lock_path).map_err(|e| {
        kernel_error(format!(
            "cannot lock bridge {:?} ({}): {e}",
            plan.bridge.name,
            lock_path.display()
        ))
    })?;
    let setup = world
        .plumber
        .ensure_bridge(&plan.bridge)
        .await
        .map_err(|e| kernel_error(e.to_string()))?;
    let undo = BridgeUndo { setup, lock_path };

    let owner = owner_of(
        request.network,
        &attachment.container_id,
        &attachment.ifname,
    );
    let host_request = nsplumb_host::AttachRequest {
        netns: netns.clone(),
        spec: plan.spec,
        gateways: plan.gateways,
        announced_by: AnnouncedBy::Unrecorded,
        owner: Some(owner.clone()),
    };
    let attached = match nsplumb_host::attach(&world.store, &world.plumber, host_request).await {
        Ok(attached) => attached,
        Err(e) => {
            drop(shared);
            return Err(with_bridge_undone(world, attach_error(e), undo).await);
        }
    };
    for (dst, via) in &plan.routes_via {
        if let Err(e) = world.plumber.add_static_route(&netns, *dst, *via).await {
            drop(shared);
            let error = kernel_error(format!("ADD: {e}"));
            let error = detach_again(world, &owner, &netns, error).await;
            return Err(with_bridge_undone(world, error, undo).await);
        }
    }
    drop(shared);
    let outcome = match report(world, &netns, &undo.setup, &attached.attached).await {
        Ok(outcome) => outcome,
        Err(error) => {
            let error = detach_again(world, &owner, &netns, error).await;
            return Err(with_bridge_undone(world, error, undo).await);
        }
    };
    if attached.announcing.is_some() {
        // C5: ADD returns now; the rest is a detached process's, which DEL stops.
        let job = announcer::Job::new(&attached.attached, &world.state_dir);
        if let Err(e) = announcer::start(world, job).await {
            tracing::warn!(iface = %attachment.ifname, netns = %netns, "{e}");
        }
    }
    Ok((outcome, undo))
}

/// SPEC C4: `CNI_IFNAME` already in the namespace is refused before anything changes.
async fn refuse_existing(world: &World, netns: &NetnsRef, ifname: &str) -> Result<(), CniError> {
    match world.plumber.backend().link_by_name(netns, ifname).await {
        Ok(link) => Err(kernel_error(format!(
            "container interface {ifname:?} already exists in namespace {netns} (ifindex {}); \
             nothing was changed",
            link.index
        ))),
        Err(e) if e.is(Errno::ENODEV) => Ok(()),
        Err(e) => Err(kernel_error(format!(
            "cannot look into namespace {netns}: {e}"
        ))),
    }
}

/// A failed attach of the host-state layer: bad input is the configuration's (7), anything
/// else the kernel's (103); the layer has undone the attach.
fn attach_error(e: HostError) -> CniError {
    match e.is_invalid_input() {
        true => CniError::new(ErrorCode::INVALID_CONFIG, e.to_string()),
        false => kernel_error(e.to_string()),
    }
}

/// Undo the attach of an ADD that failed after it; a failure of that is noted in `error`.
async fn detach_again(world: &World, owner: &Owner, netns: &NetnsRef, error: CniError) -> CniError {
    let detached =
        nsplumb_host::detach_owner(&world.store, &world.plumber, owner, Some(netns)).await;
    match detached {
        Ok(_) => error,
        Err(e) => error.with_notes([format!("undoing the attach failed: {e}")]),
    }
}

async fn with_bridge_undone(world: &World, error: CniError, undo: BridgeUndo) -> CniError {
    match release_bridge(world, undo).await {
        Ok(()) => error,
        Err(e) => error.with_notes([e.msg]),
    }
}

/// Put the bridge back as this ADD found it, if no other ADD is using it: none holds the
/// bridge lock (none is between making it ready and putting its port on it) and it has no
/// port. Otherwise it stays as it is, which the others rely on.
pub(crate) async fn release_bridge(world: &World, undo: BridgeUndo) -> Result<(), CniError> {
    if !undo.setup.changed_the_bridge() {
        return Ok(());
    }
    let name = undo.setup.bridge.name.clone();
    let Ok(Some(_sole)) = BridgeLock::try_exclusive(&undo.lock_path) else {
        return Ok(());
    };
    let backend = world.plumber.backend();
    let links = backend.list_links(&NetnsRef::Host).await.map_err(|e| {
        kernel_error(format!(
            "cannot tell whether bridge {name:?} has ports: {e}"
        ))
    })?;
    let index = undo.setup.bridge.index;
    if links.iter().any(|l| l.master == Some(index)) {
        return Ok(());
    }
    world
        .plumber
        .undo_bridge_setup(undo.setup)
        .await
        .map_err(|e| kernel_error(e.to_string()))
}

/// The result's interfaces: the bridge, the host end, the container end.
async fn report(
    world: &World,
    netns: &NetnsRef,
    setup: &BridgeSetup,
    attached: &Attached,
) -> Result<AttachOutcome, CniError> {
    let backend = world.plumber.backend();
    let Origin::NewVeth { host_index } = attached.origin else {
        return Err(kernel_error(format!(
            "interface {} in namespace {netns} was not made as a veth pair",
            attached.name
        )));
    };
    let host_end = backend
        .link_by_index(&NetnsRef::Host, host_index)
        .await
        .map_err(|e| {
            kernel_error(format!(
                "cannot read the host end of {}: {e}",
                attached.name
            ))
        })?;
    let container_mac = match attached.mac {
        Some(mac) => mac,
        None => backend
            .link_by_index(netns, attached.ifindex)
            .await
            .map_err(|e| kernel_error(format!("cannot read {}: {e}", attached.name)))?
            .mac
            .unwrap_or(MacAddr::ZERO),
    };
    Ok(AttachOutcome {
        bridge: link_report(&setup.bridge),
        container: LinkReport {
            name: attached.name.clone(),
            mac: container_mac,
            mtu: host_end.mtu,
        },
        host_end: link_report(&host_end),
        gateway_link: None,
    })
}

fn link_report(link: &LinkInfo) -> LinkReport {
    LinkReport {
        name: link.name.clone(),
        mac: link.mac.unwrap_or(MacAddr::ZERO),
        mtu: link.mtu,
    }
}
