//! The bridge plugin's link options that this build's core cannot apply yet (SPEC L1–L5 land
//! as option steps of the core's attach): an ADD that asks for one is refused with code 2
//! naming each key, before IPAM or the kernel is touched, rather than attached without it.

use super::NetworkConfig;
use crate::error::{CniError, ErrorCode};

impl NetworkConfig {
    /// SPEC C2, C4: every asked link option the attach would not honour, in one error.
    pub fn refuse_unapplied_link_options(&self) -> Result<(), CniError> {
        let mut asked = Vec::new();
        if let Some(mtu) = self.mtu {
            asked.push(format!("\"mtu\" = {mtu} (SPEC L1)"));
        }
        if self.hairpin_mode {
            asked.push("\"hairpinMode\" = true (SPEC L2)".to_string());
        }
        if let Some(vlan) = self.vlan {
            asked.push(format!("\"vlan\" = {vlan} (SPEC L3)"));
        }
        if !self.vlan_trunk.is_empty() {
            asked.push(format!("\"vlanTrunk\" = {:?} (SPEC L3)", self.vlan_trunk));
        }
        if self.port_isolation {
            asked.push("\"portIsolation\" = true (SPEC L4)".to_string());
        }
        if self.enable_dad {
            asked.push("\"enabledad\" = true (SPEC L5)".to_string());
        }
        if self.promisc_mode {
            asked.push("\"promiscMode\" = true".to_string());
        }
        if asked.is_empty() {
            return Ok(());
        }
        Err(CniError::new(
            ErrorCode::UNSUPPORTED_FIELD,
            format!(
                "network {}: {} not applied by this nsplumb-cni yet (its link options are \
                 not in this build); remove the key or use a newer nsplumb-cni",
                self.name,
                asked.join(", ")
            ),
        ))
    }
}
