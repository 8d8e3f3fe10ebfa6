//! The link options' kernel-wide state (SPEC L1–L5) and bridge creation with options.
//!
//! Two kernels are modelled: one built with `CONFIG_BRIDGE_VLAN_FILTERING` (the default, as
//! the SPEC describes Linux 6.x), and one without, like this project's machines (Linux 6.18,
//! measured): there `ip link add B type bridge vlan_filtering 1` — and `vlan_filtering 0`
//! too, any `IFLA_BR_VLAN_FILTERING` — answers EOPNOTSUPP and leaves no bridge (the kernel
//! registers it, then unregisters it: its ifindex is used up); the bridge still reports
//! `IFLA_BR_VLAN_FILTERING` 0 in its link message; `bridge vlan add` on a port → EOPNOTSUPP,
//! `bridge vlan del` on a port succeeds (deletions are not checked), an invalid VID (0, 4095)
//! → EINVAL on either kernel; the VLAN dump is empty.

use super::dad::DadRuns;
use super::Kernel;
use nsplumb_core::{BridgeOptions, Errno, IfIndex, NetnsRef};

/// See the module doc.
#[derive(Debug)]
pub(crate) struct LinkOptionsState {
    /// The kernel has `CONFIG_BRIDGE_VLAN_FILTERING`.
    pub(crate) vlan_filtering_supported: bool,
    pub(crate) dad: DadRuns,
}

impl Default for LinkOptionsState {
    fn default() -> Self {
        LinkOptionsState {
            vlan_filtering_supported: true,
            dad: DadRuns::default(),
        }
    }
}

impl Kernel {
    /// Sim-only: model a kernel with (`true`, the default) or without
    /// `CONFIG_BRIDGE_VLAN_FILTERING`. Set it before creating bridges: ports enslaved
    /// before keep the VLAN table they got.
    pub fn set_vlan_filtering_supported(&mut self, supported: bool) {
        self.link_opts.vlan_filtering_supported = supported;
    }

    pub fn vlan_filtering_supported(&self) -> bool {
        self.link_opts.vlan_filtering_supported
    }

    /// `ip link add NAME [mtu N] type bridge [vlan_filtering 1]`: a bad MTU → EINVAL before
    /// anything; VLAN filtering on a kernel without it → EOPNOTSUPP, no bridge left (its index
    /// is used up, as the kernel registered it first).
    pub fn create_bridge_with(
        &mut self,
        r: &NetnsRef,
        name: &str,
        options: &BridgeOptions,
    ) -> Result<IfIndex, Errno> {
        if let Some(mtu) = options.mtu {
            self.check_bridge_mtu(mtu)?;
        }
        let idx = self.create_bridge(r, name)?;
        let id = self.ns_id(r)?;
        if options.vlan_filtering {
            if !self.link_opts.vlan_filtering_supported {
                self.destroy_link(id, idx);
                return Err(Errno::EOPNOTSUPP);
            }
            let b = self.lk_mut(id, idx).bridge_mut().expect("just created");
            b.opts.vlan_filtering = true;
        }
        if let Some(mtu) = options.mtu {
            self.apply_mtu(id, idx, mtu);
        }
        Ok(idx)
    }
}
