//! Crash safety between processes: an attach is written down as a pending record *before* the
//! kernel is touched, and a detach marks its record `detaching` before it acts. A process that
//! dies in between (crash, SIGKILL, power cut of the process) leaves such a record behind; the
//! next process that loads the namespace (under its lock) reconciles it with what the kernel
//! shows, so that whatever the crash left can still be detached exactly (the issue's "a crashed
//! process leaves nothing that a later call cannot clean up").

use crate::state::{Announcer, NsState, RecordPhase, StoredIface, StoredOrigin};
use nsplumb_core::{BackendExt, LinkInfo, LinkKind, NetBackend, NetnsRef, Source, Spec};
use serde::{Deserialize, Serialize};

/// Test-only crash hook: when `NSPLUMB_TEST_ABORT_AT` names `point`, the process aborts there
/// (SIGABRT, no unwinding, no destructors), exactly as a crash would. The CLI tests use it to
/// prove that a later process cleans up (`before-kernel-attach`, `after-kernel-attach`,
/// `before-kernel-detach`, `after-kernel-detach`). Not meant for anything but tests.
pub const TEST_ABORT_ENV: &str = "NSPLUMB_TEST_ABORT_AT";

/// See [`TEST_ABORT_ENV`]: abort here if the tests asked for a crash at `point`.
pub fn test_abort_point(point: &str) {
    if std::env::var_os(TEST_ABORT_ENV).is_some_and(|v| v == point) {
        eprintln!("nsplumb: {TEST_ABORT_ENV}={point}: aborting (test crash hook)");
        std::process::abort();
    }
}

/// Where the link of a pending attach comes from; decides what reconciliation looks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PendingSource {
    /// A link of the host, moved into the namespace under the intended name.
    HostLink,
    /// A veth pair created for the attach: the host end (the source name) on `bridge`.
    VethOnBridge { bridge: String },
    /// A link already in the namespace, renamed to the intended name.
    CreatedInNamespace,
    /// A bridge created in the namespace.
    NewBridge,
}

/// An attach as intended, saved before the kernel is touched: everything needed to find and
/// undo what it may have done if its process dies before saving the final record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAttach {
    /// The destination name, chosen under the namespace lock before acting.
    pub name: String,
    /// The source name: restored at detach (for a veth, the host end's name).
    pub source: String,
    pub origin: PendingSource,
    pub mac: Option<String>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub master: Option<String>,
    pub announce_count: u32,
    pub announce_interval_ms: u64,
    /// The process doing the attach; once it is gone the record is reconciled.
    pub actor: Announcer,
}

impl PendingAttach {
    pub fn new(name: &str, spec: &Spec, actor: Announcer) -> PendingAttach {
        let origin = match &spec.source {
            Source::HostLink(_) => PendingSource::HostLink,
            Source::VethOnBridge { bridge, .. } => PendingSource::VethOnBridge {
                bridge: bridge.clone(),
            },
            Source::CreatedInNamespace(_) => PendingSource::CreatedInNamespace,
            Source::NewBridge(_) => PendingSource::NewBridge,
        };
        PendingAttach {
            name: name.to_string(),
            source: spec.source.name().to_string(),
            origin,
            mac: spec.mac.clone(),
            ipv4: spec.ipv4.clone(),
            ipv6: spec.ipv6.clone(),
            master: spec.master.clone(),
            announce_count: spec.announce_count,
            announce_interval_ms: spec.announce_interval.as_millis() as u64,
            actor,
        }
    }

    /// The record of an attach that the kernel shows done, so that detach can undo it.
    fn attached_record(&self, link: &LinkInfo, origin: StoredOrigin) -> StoredIface {
        StoredIface {
            name: self.name.clone(),
            source: self.source.clone(),
            ifindex: link.index,
            mac: link.mac.map(|m| m.to_string()).or_else(|| self.mac.clone()),
            ipv4: self.ipv4.clone(),
            ipv6: self.ipv6.clone(),
            ipv6_dropped: None,
            master: self.master.clone(),
            origin,
            announce_count: self.announce_count,
            announce_interval_ms: self.announce_interval_ms,
            warnings: vec![format!(
                "recovered: the attaching process {} died before saving its state",
                self.actor.pid
            )],
            announcer: None,
            phase: RecordPhase::Attached,
            actor: None,
        }
    }
}

/// Whether a dead process left records to reconcile (cheap: no kernel call).
pub fn needs_reconcile(state: &NsState) -> bool {
    state.pending.iter().any(|p| !p.actor.is_alive())
        || state
            .interfaces
            .iter()
            .any(|i| i.phase == RecordPhase::Detaching && !i.actor.is_some_and(|a| a.is_alive()))
}

/// Bring the records that dead processes left in `state` in line with the kernel. Returns
/// whether anything changed (the caller saves the state then). Records of live processes are
/// left alone; the caller holds the namespace lock.
pub async fn reconcile<B: NetBackend>(backend: &B, netns: &NetnsRef, state: &mut NsState) -> bool {
    let mut changed = false;
    let pending = std::mem::take(&mut state.pending);
    for p in pending {
        if p.actor.is_alive() {
            state.pending.push(p);
            continue;
        }
        changed = true;
        // A record already standing for this name wins: the process saved it and crashed
        // before removing its intent.
        if state.interfaces.iter().any(|i| i.name == p.name) {
            continue;
        }
        if let Some(record) = resolve_attach(backend, netns, &p).await {
            tracing::info!(iface = %p.name, %netns, pid = p.actor.pid, "recovered an attach whose process died");
            state.interfaces.push(record);
        } else {
            tracing::info!(iface = %p.name, %netns, pid = p.actor.pid, "dropped the intent of an attach whose process died before changing the kernel");
        }
    }
    let mut kept = Vec::with_capacity(state.interfaces.len());
    for mut i in std::mem::take(&mut state.interfaces) {
        let dead_detacher =
            i.phase == RecordPhase::Detaching && !i.actor.is_some_and(|a| a.is_alive());
        if !dead_detacher {
            kept.push(i);
            continue;
        }
        changed = true;
        match backend.link_by_index(netns, i.ifindex).await {
            // Still there under its name: the detach did not get far; it can be retried.
            Ok(link) if link.name == i.name => {
                i.phase = RecordPhase::Attached;
                i.actor = None;
                kept.push(i);
            }
            // Gone from the namespace (moved back, deleted): the detach was done.
            _ => {
                let ifindex = i.ifindex;
                state.gateways.retain(|g| g.oif != ifindex);
            }
        }
    }
    state.interfaces = kept;
    changed
}

/// What the kernel shows of a pending attach: its record if the link is attached, else
/// `None` (after deleting a half-created veth pair, whose host end has our generated name).
async fn resolve_attach<B: NetBackend>(
    backend: &B,
    netns: &NetnsRef,
    p: &PendingAttach,
) -> Option<StoredIface> {
    let in_ns = backend.link_by_name(netns, &p.name).await.ok();
    match &p.origin {
        // N1: in the host namespace nothing was moved or renamed; nothing to restore.
        PendingSource::HostLink if netns.is_host() => None,
        PendingSource::HostLink => {
            let link = in_ns?;
            // Moved and renamed in one message (A2): the source name is free in the host.
            let still_in_host = backend
                .link_by_name(&NetnsRef::Host, &p.source)
                .await
                .is_ok();
            (!still_in_host).then(|| p.attached_record(&link, StoredOrigin::MovedFromHost))
        }
        PendingSource::VethOnBridge { .. } => {
            let host_end = backend
                .link_by_name(&NetnsRef::Host, &p.source)
                .await
                .ok()?;
            match in_ns {
                Some(link)
                    if link
                        .peer
                        .as_ref()
                        .is_some_and(|peer| peer.index == host_end.index) =>
                {
                    Some(p.attached_record(
                        &link,
                        StoredOrigin::NewVeth {
                            host_index: host_end.index,
                        },
                    ))
                }
                _ => {
                    // Half created: the host end is ours (a generated name); deleting it takes
                    // its peer along.
                    if let Err(e) = backend
                        .delete_links(&NetnsRef::Host, &[host_end.index])
                        .await
                    {
                        tracing::warn!(host_end = %p.source, "cannot delete a half-created veth pair: {e}");
                    }
                    None
                }
            }
        }
        PendingSource::CreatedInNamespace => {
            if p.name == p.source {
                return None;
            }
            let link = in_ns?;
            let source_left = backend.link_by_name(netns, &p.source).await.is_ok();
            (!source_left).then(|| p.attached_record(&link, StoredOrigin::CreatedInNamespace))
        }
        PendingSource::NewBridge => {
            let link = in_ns?;
            let renamed_from_source =
                p.name == p.source || backend.link_by_name(netns, &p.source).await.is_err();
            (link.kind == LinkKind::Bridge && renamed_from_source)
                .then(|| p.attached_record(&link, StoredOrigin::NewBridge))
        }
    }
}
