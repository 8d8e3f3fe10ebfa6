//! The bridge plugin's link options that this build cannot apply: an ADD that asks for one is
//! refused with code 2 naming the key and why, before IPAM or the kernel is touched, rather
//! than attached without it. `mtu`, `hairpinMode`, `vlan`, `vlanTrunk`, `portIsolation` and
//! `enabledad` are the core's option steps (SPEC L1–L5) and are applied.

use super::NetworkConfig;
use crate::error::{CniError, ErrorCode};

impl NetworkConfig {
    /// SPEC C2, C4: every asked link option the attach would not honour, in one error.
    pub fn refuse_unapplied_link_options(&self) -> Result<(), CniError> {
        let mut asked = Vec::new();
        if self.promisc_mode {
            asked.push(
                "\"promiscMode\" = true: the core has no step that puts the bridge in \
                 promiscuous mode"
                    .to_string(),
            );
        }
        if let (true, Some(vlan)) = (self.is_gateway, self.vlan) {
            asked.push(format!(
                "\"isGateway\" with \"vlan\" = {vlan}: the bridge plugin puts the gateway \
                 addresses on a {}.{vlan} VLAN link, which this build does not make",
                self.bridge
            ));
        }
        if asked.is_empty() {
            return Ok(());
        }
        Err(CniError::new(
            ErrorCode::UNSUPPORTED_FIELD,
            format!(
                "network {}: not applied by this nsplumb-cni: {}; remove the key",
                self.name,
                asked.join("; ")
            ),
        ))
    }
}
