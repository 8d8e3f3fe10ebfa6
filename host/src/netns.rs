//! Named namespaces created and deleted through nsplumb: the simulator journals them (they are
//! part of its kernel), and a deleted namespace's records go with it.

use crate::error::HostError;
use crate::journal::Entry;
use crate::store::Store;
use crate::HostBackend;
use nsplumb_core::{NetnsRef, Plumber};

/// Create a named namespace the way `ip netns add` does.
pub async fn create_netns<B: HostBackend>(
    store: &Store,
    plumber: &Plumber<B>,
    name: &str,
) -> Result<NetnsRef, HostError> {
    let backend = plumber.backend();
    let netns = backend
        .create_netns(name)
        .await
        .map_err(|e| HostError::Failed(format!("failed to create namespace {name}: {e}")))?;
    if let Err(e) = store.journal(Entry::NetnsAdd {
        name: name.to_string(),
    }) {
        let undone = match backend.delete_netns(&netns).await {
            Ok(()) => "it was deleted again".to_string(),
            Err(d) => format!("deleting it again failed too: {d}"),
        };
        return Err(HostError::Failed(format!(
            "create namespace {name}: {e}; {undone}"
        )));
    }
    Ok(netns)
}

/// Delete a namespace (`ip netns del`) and forget its records.
pub async fn delete_netns<B: HostBackend>(
    store: &Store,
    plumber: &Plumber<B>,
    netns: &NetnsRef,
) -> Result<(), HostError> {
    store.forget_ns(netns);
    plumber
        .backend()
        .delete_netns(netns)
        .await
        .map_err(|e| HostError::Failed(format!("failed to delete namespace {netns}: {e}")))?;
    store
        .journal(Entry::NetnsDel {
            netns: netns.clone(),
        })
        .map_err(|e| {
            HostError::Failed(format!(
                "delete namespace {netns}: {e}; it is gone in this process only"
            ))
        })
}
