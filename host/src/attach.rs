//! The one attach flow, with its crash-safety steps, that every front end calls:
//!
//! 1. lock and load the namespace's records, reconcile what dead processes left ([`NsSession`]);
//! 2. reserve the name ([`Plumber::reserve`]: A1 validation and N1–N4, the name chosen once);
//! 3. write the intent (that name and the request) — crash point `before-kernel-attach`;
//! 4. attach under exactly that name (A2–A15), journal it (simulator) — `after-kernel-attach`;
//! 5. set the gateways: the attach and its gateways are one operation, so a gateway that fails
//!    rolls the interface back (detach), and both errors are reported if that fails too (G1);
//! 6. commit: the interface record replaces the intent, with the process still announcing it.
//!
//! The remaining announcements (S5) are sent in the background by this process; a short-lived
//! front end waits for them with [`Announcing::finish`].

use crate::abort_point::test_abort_point;
use crate::announcer::AnnouncerProcess;
use crate::error::HostError;
use crate::gateway;
use crate::journal::Entry;
use crate::process::ProcessRef;
use crate::record::Owner;
use crate::session::NsSession;
use crate::store::Store;
use crate::HostBackend;
use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use nsplumb_core::{
    validate, AttachError, Attached, BackendExt, Destination, Event, EventKind, NetnsRef, Plumber,
    Source, Spec, ValidSpec,
};
use std::net::IpAddr;
use std::time::Duration;

/// Who sends the announcements after the first (S5), as recorded for a detach from another
/// process to stop them first (S8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnouncedBy {
    /// This process, until they are sent; stopped with SIGTERM (the CLI).
    ThisProcess,
    /// This long-lived process, asked to cancel with SIGUSR1 (the TUI; it must run
    /// [`crate::cancel::spawn_listener`] first).
    ThisProcessOnRequest,
    /// Nobody recorded: nothing is kept between processes, or the front end records the
    /// process that will send them itself ([`crate::record_announcer`]).
    Unrecorded,
}

/// Everything one attach asks for.
#[derive(Debug, Clone)]
pub struct AttachRequest {
    pub netns: NetnsRef,
    pub spec: Spec,
    /// Default routes set after the attach, one per family (G1), as part of the operation.
    pub gateways: Vec<IpAddr>,
    pub announced_by: AnnouncedBy,
    /// Kept with the record, for a front end that finds its attachments by its own key.
    pub owner: Option<Owner>,
}

impl AttachRequest {
    pub fn new(netns: NetnsRef, spec: Spec) -> AttachRequest {
        AttachRequest {
            netns,
            spec,
            gateways: Vec::new(),
            announced_by: AnnouncedBy::ThisProcess,
            owner: None,
        }
    }
}

/// A successful attach, for the front end to show.
#[derive(Debug)]
pub struct AttachOutcome {
    pub attached: Attached,
    /// The gateways set (all of those asked for).
    pub gateways: Vec<IpAddr>,
    /// The announcements this process still sends; `None` when the first was the last.
    pub announcing: Option<Announcing>,
}

/// The background announcements of an interface this process attached.
#[derive(Debug)]
pub struct Announcing {
    netns: NetnsRef,
    name: String,
    events: UnboundedReceiver<Event>,
    /// How long they may take: every interval, plus the link waits of a round.
    budget: Duration,
    recorded: Option<AnnouncerProcess>,
}

impl Announcing {
    /// Wait until the announcements are sent (or stopped), then drop this process from the
    /// record. The journal is released first: other processes may act meanwhile (a detach
    /// that stops this process, S8).
    pub async fn finish(mut self, store: &Store) {
        store.release_journal();
        let (netns, name) = (self.netns.clone(), self.name.clone());
        let wait = async {
            while let Some(ev) = self.events.next().await {
                if is_stop_for(&ev, &netns, &name) {
                    break;
                }
            }
        };
        if tokio::time::timeout(self.budget, wait).await.is_err() {
            tracing::warn!(iface = %name, %netns, "announcements did not finish in time");
        }
        if let Some(me) = self.recorded {
            if let Err(e) = crate::clear_announcer(store, &netns, &name, me.process()).await {
                tracing::warn!(iface = %name, %netns, "cannot clear the announcer: {e}");
            }
        }
    }
}

fn is_stop_for(ev: &Event, netns: &NetnsRef, name: &str) -> bool {
    ev.iface == name && ev.netns == *netns && matches!(ev.kind, EventKind::AnnounceStopped(_))
}

/// "eth0" or "eth0N" (a prefix), for messages before the name is chosen.
fn destination(spec: &Spec) -> String {
    match &spec.destination {
        Destination::Name(n) => format!(" as {n}"),
        Destination::Prefix(p) => format!(" as {p}N"),
    }
}

/// SPEC A1 for a request: every problem of its spec at once, naming field and value, before
/// anything is locked, read or changed. [`attach`] starts with it; a front end may call it to
/// learn the verdict without attaching.
pub fn check_attach(request: &AttachRequest) -> Result<ValidSpec, HostError> {
    let spec = &request.spec;
    validate(spec).map_err(|e| {
        HostError::Invalid(format!(
            "attach of {}{} in namespace {}: {e}",
            spec.source.name(),
            destination(spec),
            request.netns
        ))
    })
}

/// SPEC A1–A16, G1 and R1 for one interface: see the module documentation.
pub async fn attach<B: HostBackend>(
    store: &Store,
    plumber: &Plumber<B>,
    request: AttachRequest,
) -> Result<AttachOutcome, HostError> {
    let valid = check_attach(&request)?;
    let AttachRequest {
        netns,
        spec,
        gateways,
        announced_by,
        owner,
    } = request;
    let source = spec.source.name().to_string();
    let mut session = NsSession::begin(store, plumber, &netns).await?;
    let reservation = plumber
        .reserve_validated(&netns, &spec, valid)
        .map_err(|e| match e {
            AttachError::Invalid(_) => HostError::Invalid(format!(
                "attach of {source}{} in namespace {netns}: {e}",
                destination(&spec)
            )),
            AttachError::Failed { .. } => HostError::Failed(format!(
                "attach of {source} in namespace {netns} failed: {e}"
            )),
        })?;
    let name = reservation.name().to_string();
    let original_mtu = moved_link_mtu(plumber, &netns, &spec).await;
    // Written down before the kernel is touched: a crash from here on is recoverable.
    session
        .intend_attach(plumber, &name, &spec, owner, original_mtu)
        .map_err(|e| {
            HostError::Failed(format!(
                "attach of {source} in namespace {netns}: cannot save its intent: {e}"
            ))
        })?;
    test_abort_point("before-kernel-attach");
    let mut events = plumber.subscribe();
    let attached = match reservation.attach().await {
        Ok(a) => a,
        Err(e) => {
            let journaled = store.journal(Entry::AttachFailed {
                netns: netns.clone(),
                spec: Box::new(spec),
            });
            let mut msg = format!("attach of {source} in namespace {netns} failed: {e}");
            if let Err(j) = journaled {
                msg.push_str(&format!(" (and {j})"));
            }
            return Err(failed_and_committed(&mut session, plumber, msg));
        }
    };
    let journaled = store.journal(Entry::Attach {
        netns: netns.clone(),
        name: name.clone(),
        spec: Box::new(spec),
    });
    if let Err(e) = journaled {
        // The simulated kernel that other processes see has no such attach: undo it here too,
        // so that what this process leaves agrees with it.
        let mut msg = format!("attach of {name} in namespace {netns}: {e}; the attach was undone");
        if let Err(u) = plumber.detach(&netns, &name).await {
            plumber.forget(&netns, &name);
            msg.push_str(&format!(" (in this process only; its detach failed: {u})"));
        }
        return Err(failed_and_committed(&mut session, plumber, msg));
    }
    test_abort_point("after-kernel-attach");
    for gw in &gateways {
        if let Err(e) = gateway::set(&mut session, plumber, *gw).await {
            let mut msg = format!("set gateway {gw} for {name} in namespace {netns} failed: {e}");
            match undo(&mut session, plumber, &attached).await {
                Ok(()) => msg.push_str("; the attach was rolled back"),
                Err(u) => msg.push_str(&format!("; rollback (detach) also failed: {u}")),
            }
            return Err(failed_and_committed(&mut session, plumber, msg));
        }
    }
    // Still announcing? Only if no AnnounceStopped for it was seen during attach.
    let mut stopped = attached.announce.count <= 1;
    while let Ok(ev) = events.try_recv() {
        stopped |= is_stop_for(&ev, &netns, &name);
    }
    let me = ProcessRef::me();
    let recorded = match (stopped, announced_by, me) {
        (false, AnnouncedBy::ThisProcess, Some(me)) => Some(AnnouncerProcess::terminable(me)),
        (false, AnnouncedBy::ThisProcessOnRequest, Some(me)) => {
            Some(AnnouncerProcess::on_request(me))
        }
        _ => None,
    };
    session.set_announcer(&name, recorded);
    if let Err(e) = session.commit(plumber) {
        // Without its record no later process could detach it: undo.
        let mut msg = format!("attach of {name} in namespace {netns}: {e}; the attach was undone");
        if let Err(u) = undo(&mut session, plumber, &attached).await {
            msg.push_str(&format!(" (detach failed: {u})"));
        }
        let _ = session.commit(plumber);
        return Err(HostError::Failed(msg));
    }
    drop(session);
    let announcing = (!stopped).then(|| Announcing {
        netns: netns.clone(),
        name: name.clone(),
        events,
        budget: attached.announce.interval * attached.announce.count + Duration::from_secs(7),
        recorded,
    });
    Ok(AttachOutcome {
        attached,
        gateways,
        announcing,
    })
}

/// SPEC L1, R1: the MTU of a host link that the attach moves in and gives another MTU, for
/// the intent (a read only when an MTU is asked for; `None` when the link cannot be read: the
/// attach then fails on its own lookup).
async fn moved_link_mtu<B: HostBackend>(
    plumber: &Plumber<B>,
    netns: &NetnsRef,
    spec: &Spec,
) -> Option<u32> {
    let Source::HostLink(source) = &spec.source else {
        return None;
    };
    if spec.mtu.is_none() || netns.is_host() {
        return None;
    }
    let link = plumber
        .backend()
        .link_by_name(&NetnsRef::Host, source)
        .await
        .ok()?;
    (Some(link.mtu) != spec.mtu).then_some(link.mtu)
}

/// The attach failed with `msg`: save what is left (the intent gone), and say so if even
/// that fails.
fn failed_and_committed<B: HostBackend>(
    session: &mut NsSession<'_>,
    plumber: &Plumber<B>,
    mut msg: String,
) -> HostError {
    if let Err(e) = session.commit(plumber) {
        msg.push_str(&format!("; and {e}"));
    }
    HostError::Failed(msg)
}

/// Roll an attach back: detach it and journal that. If the simulated kernel that other
/// processes see keeps it (the journal append failed), so does this process's registry, so
/// that the record stays and a later detach can undo it.
async fn undo<B: HostBackend>(
    session: &mut NsSession<'_>,
    plumber: &Plumber<B>,
    attached: &Attached,
) -> Result<(), String> {
    let netns = session.netns().clone();
    let name = attached.name.clone();
    let result = plumber.detach(&netns, &name).await;
    let journaled = session.store().journal(Entry::Detach {
        netns,
        name: name.clone(),
    });
    result.map_err(|e| e.to_string())?;
    if let Err(e) = journaled {
        plumber.adopt(attached.clone());
        return Err(format!("{e}; {name} stays attached"));
    }
    Ok(())
}
