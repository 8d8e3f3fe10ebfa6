//! Crash safety between processes (SPEC R1): an attach is written down as an intent *before*
//! the kernel is touched, and a detach marks its record `detaching` before it acts. A process
//! that dies in between (crash, SIGKILL) leaves such a record behind; the next process that
//! loads the namespace (under its lock) reconciles it with what the kernel shows, so that
//! whatever the crash left can still be detached exactly, and nothing is leaked.
//!
//! The kernel is read here with plain lookups; the one change, deleting a veth pair whose
//! attach was cut short, goes through the core ([`Plumber::delete_link`]).

use crate::error::HostError;
use crate::process::ProcessRef;
use crate::record::{IfaceRecord, IntentRecord, RecordPhase};
use crate::state_file::{NsState, StateError};
use crate::HostBackend;
use nsplumb_core::BackendExt;
use nsplumb_core::{
    validate, Attached, LinkInfo, LinkKind, NetnsRef, Origin, Plumber, Source, ValidSpec,
};
use std::path::Path;

/// Whether a dead process left records to reconcile (cheap: no kernel call).
pub fn needs_reconcile(state: &NsState) -> bool {
    let dead = |p: &ProcessRef| !p.is_alive();
    state.pending.iter().any(|p| dead(&p.actor))
        || state
            .interfaces
            .iter()
            .any(|i| i.phase == RecordPhase::Detaching && i.actor.as_ref().is_none_or(dead))
}

/// Bring the records that dead processes left in `state` in line with the kernel. Returns
/// whether anything changed (the caller saves the state then). Records of live processes are
/// left alone; the caller holds the namespace lock. `path` names the file in errors: an intent
/// whose request does not validate (read back) is a corrupt record, and nothing acts on it.
pub async fn reconcile<B: HostBackend>(
    plumber: &Plumber<B>,
    netns: &NetnsRef,
    state: &mut NsState,
    path: &Path,
) -> Result<bool, HostError> {
    let mut changed = false;
    let mut dead = Vec::new();
    for (i, p) in std::mem::take(&mut state.pending).into_iter().enumerate() {
        if p.actor.is_alive() {
            state.pending.push(p);
            continue;
        }
        let valid = validate(&p.spec).map_err(|e| StateError::Corrupt {
            path: path.into(),
            field: format!("pending[{i}].spec"),
            reason: e.to_string(),
        })?;
        dead.push((p, valid));
    }
    for (p, valid) in dead {
        changed = true;
        // A record already standing for this name wins: the process saved it and died before
        // removing its intent.
        if state.interfaces.iter().any(|i| i.name() == p.name) {
            continue;
        }
        match resolve_attach(plumber, netns, &p, &valid, &state.interfaces).await {
            Some(record) => {
                tracing::info!(iface = %p.name, %netns, pid = p.actor.pid, "recovered an attach whose process died");
                state.interfaces.push(record);
            }
            None => {
                tracing::info!(iface = %p.name, %netns, pid = p.actor.pid, "dropped the intent of an attach whose process died before it was done");
            }
        }
    }
    let backend = plumber.backend();
    let mut kept = Vec::with_capacity(state.interfaces.len());
    for mut record in std::mem::take(&mut state.interfaces) {
        let dead_detacher =
            record.phase == RecordPhase::Detaching && !record.actor.is_some_and(|a| a.is_alive());
        if !dead_detacher {
            kept.push(record);
            continue;
        }
        changed = true;
        match backend.link_by_index(netns, record.attached.ifindex).await {
            // Still there under its name: the detach did not get far; it can be retried.
            Ok(link) if link.name == record.attached.name => {
                record.phase = RecordPhase::Attached;
                record.actor = None;
                kept.push(record);
            }
            // Gone from the namespace (moved back, deleted): the detach was done (G4: its
            // gateway went with it).
            _ => {
                let ifindex = record.attached.ifindex;
                state.gateways.retain(|g| g.oif != ifindex);
            }
        }
    }
    state.interfaces = kept;
    Ok(changed)
}

/// What the kernel shows of an intent: its record if the link is attached, else `None` (after
/// deleting a half-created veth pair, whose host end has our generated name).
async fn resolve_attach<B: HostBackend>(
    plumber: &Plumber<B>,
    netns: &NetnsRef,
    p: &IntentRecord,
    valid: &ValidSpec,
    records: &[IfaceRecord],
) -> Option<IfaceRecord> {
    let backend = plumber.backend();
    let source = p.spec.source.name();
    let in_ns = backend.link_by_name(netns, &p.name).await.ok();
    let (link, origin) = match &p.spec.source {
        // N1: in the host namespace nothing was moved or renamed; nothing to restore.
        Source::HostLink(_) if netns.is_host() => return None,
        Source::HostLink(_) => {
            let link = in_ns?;
            // Moved and renamed in one message (A2): the source name is free in the host.
            let still_in_host = backend.link_by_name(&NetnsRef::Host, source).await.is_ok();
            if still_in_host {
                return None;
            }
            (link, Origin::MovedFromHost)
        }
        Source::VethOnBridge { .. } => {
            let host_end = backend.link_by_name(&NetnsRef::Host, source).await.ok()?;
            match in_ns {
                Some(link)
                    if link
                        .peer
                        .as_ref()
                        .is_some_and(|peer| peer.index == host_end.index) =>
                {
                    let host_index = host_end.index;
                    (link, Origin::NewVeth { host_index })
                }
                _ => {
                    // Half created: the host end is ours (a generated name); deleting it takes
                    // its peer along.
                    if let Err(e) = plumber.delete_link(&NetnsRef::Host, host_end.index).await {
                        tracing::warn!(host_end = %source, "cannot delete a half-created veth pair: {e}");
                    }
                    return None;
                }
            }
        }
        Source::CreatedInNamespace(_) => {
            if p.name == source {
                return None;
            }
            let link = in_ns?;
            if backend.link_by_name(netns, source).await.is_ok() {
                return None;
            }
            (link, Origin::CreatedInNamespace)
        }
        Source::NewBridge(_) => {
            let link = in_ns?;
            let renamed_from_source =
                p.name == source || backend.link_by_name(netns, source).await.is_err();
            if link.kind != LinkKind::Bridge || !renamed_from_source {
                return None;
            }
            (link, Origin::NewBridge)
        }
    };
    Some(recovered_record(netns, p, valid, &link, origin, records))
}

/// The record of an attach the kernel shows done, so that detach can undo it.
fn recovered_record(
    netns: &NetnsRef,
    p: &IntentRecord,
    valid: &ValidSpec,
    link: &LinkInfo,
    origin: Origin,
    records: &[IfaceRecord],
) -> IfaceRecord {
    // The master is named by its source name in the request, by its name in the record.
    let master = p.spec.master.as_ref().and_then(|m| {
        records
            .iter()
            .find(|r| r.attached.source == *m && r.attached.origin == Origin::NewBridge)
            .map(|r| r.attached.name.clone())
    });
    let attached = Attached {
        netns: netns.clone(),
        name: p.name.clone(),
        source: p.spec.source.name().to_string(),
        ifindex: link.index,
        mac: link.mac.or(valid.mac),
        ipv4: valid.ipv4,
        ipv6: valid.ipv6,
        ipv6_dropped: None,
        master,
        origin: origin.clone(),
        announce: valid.announce,
        warnings: vec![format!(
            "recovered: the attaching process {} died before saving its state",
            p.actor.pid
        )],
        // L2–L4 as asked (the process may have died before setting them; detach does not
        // depend on them), the MTU as the link shows it, and the MTU to give back when the
        // link was moved in (the same as it has if the process died before changing it).
        mtu: Some(link.mtu),
        hairpin: valid.port.hairpin,
        isolated: valid.port.isolated,
        vlans: valid
            .port
            .vlans
            .as_ref()
            .map(|v| v.to_add())
            .unwrap_or_default(),
        original_mtu: (origin == Origin::MovedFromHost)
            .then_some(p.original_mtu)
            .flatten(),
    };
    IfaceRecord {
        owner: p.owner.clone(),
        ..IfaceRecord::new(attached)
    }
}
