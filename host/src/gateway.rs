//! Gateways across processes (SPEC G1, G4). A process's registry knows only the gateway it set
//! itself; the state file knows the one an earlier process set. Setting a gateway replaces the
//! recorded one of its family (one per family; an unknown earlier route would make the kernel
//! answer EEXIST), and detaching the interface that carries a gateway drops its route and its
//! record (the kernel drops the route with a link that leaves the namespace, not with one that
//! stays).

use crate::error::HostError;
use crate::journal::Entry;
use crate::session::NsSession;
use crate::HostBackend;
use nsplumb_core::{Family, IfIndex, Plumber, RouteSpec};
use std::net::IpAddr;

fn family_of(gateway: IpAddr) -> Family {
    match gateway {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

/// G1 across processes: set the gateway of `gateway`'s family and record it. The error names
/// the gateway and the namespace.
pub(crate) async fn set<B: HostBackend>(
    session: &mut NsSession<'_>,
    plumber: &Plumber<B>,
    gateway: IpAddr,
) -> Result<(), String> {
    let netns = session.netns().clone();
    let family = family_of(gateway);
    if plumber.registry().gateway(&netns, family).is_none() {
        let earlier: Vec<RouteSpec> = session
            .gateways
            .iter()
            .filter(|g| Family::of(&g.dst) == family)
            .cloned()
            .collect();
        for route in earlier {
            delete(session, plumber, &route).await?;
        }
    }
    let result = plumber.set_gateway(&netns, Some(gateway)).await;
    // Journaled even when it failed: the simulator replays exactly what happened.
    let journaled = session.store().journal(Entry::Gateway {
        netns: netns.clone(),
        gateway,
    });
    result.map_err(|e| e.to_string())?;
    if let Err(e) = journaled {
        // Not in the simulated kernel that other processes see: not here either.
        let _ = plumber.unset_gateway(&netns, family).await;
        return Err(format!("{e}; the gateway {gateway} was removed again"));
    }
    session.gateways.retain(|g| Family::of(&g.dst) != family);
    session
        .gateways
        .extend(plumber.registry().gateway(&netns, family).cloned());
    Ok(())
}

/// G4 across processes: the interface `ifindex` was detached; remove the gateway routes
/// recorded on it and their records.
pub(crate) async fn drop_on<B: HostBackend>(
    session: &mut NsSession<'_>,
    plumber: &Plumber<B>,
    ifindex: IfIndex,
) -> Result<(), String> {
    let on_link: Vec<RouteSpec> = session
        .gateways
        .iter()
        .filter(|g| g.oif == ifindex)
        .cloned()
        .collect();
    for route in on_link {
        delete(session, plumber, &route).await?;
    }
    Ok(())
}

async fn delete<B: HostBackend>(
    session: &mut NsSession<'_>,
    plumber: &Plumber<B>,
    route: &RouteSpec,
) -> Result<(), String> {
    let netns = session.netns().clone();
    let result = plumber.delete_route(&netns, route).await;
    session
        .store()
        .journal(Entry::DelRoute {
            netns,
            route: route.clone(),
        })
        .map_err(|e| e.to_string())?;
    result.map_err(|e| e.to_string())?;
    session.gateways.retain(|g| g != route);
    Ok(())
}

/// A front end's own gateway command (the TUI's `w`): G1 on its own, under the lock.
pub async fn set_gateway<B: HostBackend>(
    store: &crate::Store,
    plumber: &Plumber<B>,
    netns: &nsplumb_core::NetnsRef,
    gateway: IpAddr,
) -> Result<(), HostError> {
    let mut session = NsSession::begin(store, plumber, netns).await?;
    let result = set(&mut session, plumber, gateway).await;
    session.commit(plumber)?;
    result.map_err(|e| {
        HostError::Failed(format!(
            "set gateway {gateway} in namespace {netns} failed: {e}"
        ))
    })
}
