//! The one detach flow, with its crash-safety steps, that every front end calls:
//!
//! 1. lock and load the namespace's records, reconcile ([`NsSession`]);
//! 2. mark the record `detaching` — crash point `before-kernel-detach`;
//! 3. stop the process still announcing it (S8: terminated, or asked if long-lived);
//! 4. detach (D1–D3), journal it (simulator) — crash point `after-kernel-detach`;
//! 5. remove the gateway routes recorded on its link (G4);
//! 6. commit: the record is gone (or stays `vanished`, D3).
//!
//! And `forget` (D3): drop the record of an interface whose link vanished.

use crate::abort_point::test_abort_point;
use crate::error::HostError;
use crate::gateway;
use crate::journal::Entry;
use crate::session::NsSession;
use crate::store::Store;
use crate::HostBackend;
use nsplumb_core::BackendExt;
use nsplumb_core::{Attached, DetachError, NetnsRef, Plumber};

/// The registered interface `name` of `netns`, as attached (records adopted already).
fn attached_named<B: HostBackend>(
    plumber: &Plumber<B>,
    netns: &NetnsRef,
    name: &str,
) -> Option<Attached> {
    plumber
        .interfaces(netns)
        .into_iter()
        .find(|i| i.name == name)
        .and_then(|i| i.attached)
}

/// SPEC D1–D3, G4 and R1 for one interface: see the module documentation.
pub async fn detach<B: HostBackend>(
    store: &Store,
    plumber: &Plumber<B>,
    netns: &NetnsRef,
    name: &str,
) -> Result<(), HostError> {
    let mut session = NsSession::begin(store, plumber, netns).await?;
    let attached = attached_named(plumber, netns, name);
    if attached.is_some() {
        // Marked before the kernel is touched: a crash from here on is recoverable.
        session.intend_detach(plumber, name).map_err(|e| {
            HostError::Failed(format!(
                "detach of {name} from namespace {netns}: cannot save its state: {e}"
            ))
        })?;
    }
    test_abort_point("before-kernel-detach");
    session.stop_announcer(name).await;
    let result = plumber.detach(netns, name).await;
    // Journaled even when it failed: the simulator replays exactly what happened.
    let journaled = store.journal(Entry::Detach {
        netns: netns.clone(),
        name: name.to_string(),
    });
    if let Err(e) = journaled {
        let mut msg = format!("detach of {name} from namespace {netns}: {e}");
        match (&result, &attached) {
            (Ok(()), Some(a)) => {
                // The simulated kernel that other processes see keeps it attached: so does its
                // record, and a later detach can still undo it.
                plumber.adopt(a.clone());
                msg.push_str(&format!(
                    "; the detach was undone: {name} stays attached in the simulated kernel"
                ));
            }
            (Err(d), _) => msg.push_str(&format!("; the detach failed too: {d}")),
            (Ok(()), None) => {}
        }
        session.cancel_detaching();
        session.commit(plumber)?;
        return Err(HostError::Failed(msg));
    }
    test_abort_point("after-kernel-detach");
    let mut gateway_error = None;
    if let (Ok(()), Some(a)) = (&result, &attached) {
        gateway_error = gateway::drop_on(&mut session, plumber, a.ifindex)
            .await
            .err();
    }
    session.commit(plumber)?;
    match result {
        Ok(()) => match gateway_error {
            Some(e) => Err(HostError::Failed(format!(
                "detached {name} from namespace {netns}, but {e}"
            ))),
            None => Ok(()),
        },
        Err(e @ DetachError::NotAttached { .. }) => Err(HostError::Failed(format!("detach: {e}"))),
        Err(e) => Err(HostError::Failed(format!(
            "detach of {name} from namespace {netns} failed: {e}"
        ))),
    }
}

/// SPEC D3: drop the record of an interface whose link vanished, freeing its name, and the
/// gateway routes recorded on it. A link that is still there is refused: detach restores it,
/// forgetting would strand it.
pub async fn forget<B: HostBackend>(
    store: &Store,
    plumber: &Plumber<B>,
    netns: &NetnsRef,
    name: &str,
) -> Result<(), HostError> {
    let mut session = NsSession::begin(store, plumber, netns).await?;
    let attached = attached_named(plumber, netns, name).ok_or_else(|| {
        HostError::Failed(format!(
            "forget: interface {name:?} is not attached in namespace {netns}"
        ))
    })?;
    let still_there = plumber
        .backend()
        .link_by_index(netns, attached.ifindex)
        .await
        .is_ok_and(|l| l.name == name);
    if still_there {
        return Err(HostError::Failed(format!(
            "forget: interface {name:?} is still in namespace {netns} (ifindex {}); detach it instead",
            attached.ifindex
        )));
    }
    plumber.forget(netns, name);
    if let Err(e) = store.journal(Entry::Forget {
        netns: netns.clone(),
        name: name.to_string(),
    }) {
        plumber.adopt(attached);
        return Err(HostError::Failed(format!(
            "forget of {name} in namespace {netns}: {e}; it stays recorded"
        )));
    }
    let gateways = gateway::drop_on(&mut session, plumber, attached.ifindex).await;
    session.commit(plumber)?;
    gateways.map_err(|e| {
        HostError::Failed(format!(
            "forgot vanished interface {name} in namespace {netns}, but {e}"
        ))
    })
}
