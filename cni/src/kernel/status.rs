//! SPEC C8: STATUS's kernel part. An ADD could succeed when the bridge is there (or this
//! process may create it: CAP_NET_ADMIN) and the records can be written; otherwise error 50,
//! saying why.

use super::World;
use crate::dataplane::StatusRequest;
use crate::error::{CniError, ErrorCode};
use nsplumb_core::{BackendExt, Errno, LinkKind, NetnsRef};

/// `CAP_NET_ADMIN`'s bit in `/proc/self/status`'s `CapEff`.
const CAP_NET_ADMIN: u32 = 12;

pub(super) async fn status(world: &World, request: &StatusRequest<'_>) -> Result<(), CniError> {
    let bridge = &request.config.bridge;
    let unavailable = |why: String| {
        CniError::new(
            ErrorCode::NOT_AVAILABLE,
            format!(
                "nsplumb-cni cannot serve ADD on network {}: {why}",
                request.network
            ),
        )
    };
    let backend = world.plumber.backend();
    match backend.link_by_name(&NetnsRef::Host, bridge).await {
        Ok(link) if link.kind == LinkKind::Bridge => {}
        Ok(link) => {
            return Err(unavailable(format!(
                "link {bridge:?} is a {}, not a bridge",
                link.kind.as_str()
            )))
        }
        Err(e) if e.is(Errno::ENODEV) => {
            if !has_net_admin() {
                return Err(unavailable(format!(
                    "bridge {bridge:?} does not exist and this process lacks CAP_NET_ADMIN to \
                     create it"
                )));
            }
        }
        Err(e) => {
            return Err(unavailable(format!(
                "cannot look up bridge {bridge:?}: {e}"
            )))
        }
    }
    let dir = &world.state_dir;
    let writable = std::fs::create_dir_all(dir).and_then(|()| {
        let probe = tempfile_in(dir)?;
        std::fs::remove_file(&probe)
    });
    writable.map_err(|e| {
        unavailable(format!(
            "the state directory {} is not writable: {e}",
            dir.display()
        ))
    })
}

/// A file created in `dir`, to prove it writable.
fn tempfile_in(dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    let path = dir.join(format!(".status-{}", std::process::id()));
    std::fs::write(&path, b"")?;
    Ok(path)
}

fn has_net_admin() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}
