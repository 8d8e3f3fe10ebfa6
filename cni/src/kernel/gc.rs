//! SPEC C9: GC's kernel part. Every attachment of this network that the records hold and the
//! runtime's list (`cni.dev/valid-attachments`) does not is detached by its owner, in its
//! namespace when that is still there, else by the records: the process announcing it is
//! stopped, the host end deleted, the records dropped. The caller then releases each one's
//! address (IPAM DEL) and masquerade rules.

use super::{kernel_error, World};
use crate::dataplane::{GcOutcome, GcRequest};
use crate::env::Attachment;
use crate::error::CniError;
use nsplumb_core::NetnsRef;
use nsplumb_host::Owner;

pub(super) async fn gc(world: &World, request: &GcRequest<'_>) -> Result<GcOutcome, CniError> {
    let states = world
        .store
        .state_files()
        .map_err(|e| kernel_error(format!("GC: {e}")))?;
    let stale_owner = |owner: &Option<Owner>| -> Option<Owner> {
        let owner = owner.as_ref()?;
        let kept = request
            .valid
            .iter()
            .any(|a| a.container_id == owner.container_id && a.ifname == owner.ifname);
        (owner.network == request.network && !kept).then(|| owner.clone())
    };
    // Each stale owner once, with the namespace its record names (an intent's process must
    // be dead: a live one is an ADD under way, which GC must not race).
    let mut stale: Vec<(Owner, Option<NetnsRef>)> = Vec::new();
    for (_, state) in &states {
        let records = state
            .interfaces
            .iter()
            .filter_map(|r| Some((stale_owner(&r.owner)?, Some(r.attached.netns.clone()))));
        let intents = state
            .pending
            .iter()
            .filter(|p| !p.actor.is_alive())
            .filter_map(|p| Some((stale_owner(&p.owner)?, None)));
        for (owner, netns) in records.chain(intents) {
            if !stale.iter().any(|(o, _)| *o == owner) {
                stale.push((owner, netns));
            }
        }
    }
    let mut outcome = GcOutcome::default();
    for (owner, netns) in stale {
        let netns = netns.filter(|n| match n {
            NetnsRef::Host => false,
            NetnsRef::Path(p) => std::path::Path::new(&**p).exists(),
        });
        let detached =
            nsplumb_host::detach_owner(&world.store, &world.plumber, &owner, netns.as_ref()).await;
        match detached {
            Ok(_) => outcome.removed.push(Attachment {
                container_id: owner.container_id,
                ifname: owner.ifname,
            }),
            Err(e) => outcome.errors.push(kernel_error(format!(
                "GC of {}/{} in network {}: {e}",
                owner.container_id, owner.ifname, owner.network
            ))),
        }
    }
    Ok(outcome)
}
