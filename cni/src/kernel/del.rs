//! SPEC C6: DEL's kernel part, best effort and idempotent. The host-state layer finds the
//! attachment by its owner (network, container ID, interface name): in `CNI_NETNS` when that
//! namespace is still there, by the records wherever they are when `CNI_NETNS` is empty or
//! gone. It stops the process still announcing (S8), deletes the veth pair (the host end it
//! recorded, when the namespace is gone) and drops the records. Nothing recorded is success:
//! what DEL removes is gone already, or was never this plugin's.

use super::add::{netns_ref, owner_of};
use super::{kernel_error, World};
use crate::dataplane::DetachRequest;
use crate::error::CniError;

pub(super) async fn detach(world: &World, request: &DetachRequest<'_>) -> Result<(), CniError> {
    let attachment = request.attachment;
    let owner = owner_of(
        request.network,
        &attachment.container_id,
        &attachment.ifname,
    );
    // A namespace file that is gone is as good as none: the records say the rest.
    let netns = request.netns.filter(|path| path.exists()).map(netns_ref);
    let done = nsplumb_host::detach_owner(&world.store, &world.plumber, &owner, netns.as_ref())
        .await
        .map_err(|e| kernel_error(format!("DEL: {e}")))?;
    tracing::debug!(
        container = %attachment.container_id,
        iface = %attachment.ifname,
        interfaces = done.interfaces,
        intents = done.intents,
        "detached"
    );
    Ok(())
}
