//! One test's CNI environment inside its sandbox: the plugin under test, the conflist
//! directory, the plugin directory and host-local's data directory, all in the work directory.

use std::path::PathBuf;

use crate::conflist::{AddressRange, BridgeNetwork};
use crate::error::{HarnessError, Result};
use crate::isolation::Sandbox;
use crate::plugin::{Plugin, PluginUnderTest, SYSTEM_PLUGIN_DIR};

/// Paths and the plugin of one isolated test.
#[derive(Debug, Clone)]
pub struct CniEnv {
    pub sandbox: Sandbox,
    pub plugin: PluginUnderTest,
    /// This environment's directory in the work directory; runtimes keep their state below it.
    pub base: PathBuf,
    /// Conflists (Podman's `network_config_dir`; bind-mounted on `/etc/cni/net.d` for ctr).
    pub conf_dir: PathBuf,
    /// The plugin under test under its type name, and links to the system's plugins (IPAM):
    /// first in Podman's `cni_plugin_dirs`; bind-mounted on `/opt/cni/bin` for ctr.
    pub bin_dir: PathBuf,
    /// host-local's `dataDir`.
    pub ipam_dir: PathBuf,
}

impl CniEnv {
    /// The environment of the current isolated test, with the plugin from `$NSPLUMB_CNI_PLUGIN`.
    pub fn new() -> Result<CniEnv> {
        CniEnv::with_plugin(PluginUnderTest::from_env())
    }

    pub fn with_plugin(plugin: PluginUnderTest) -> Result<CniEnv> {
        CniEnv::with_plugin_in(plugin, "cni")
    }

    /// An environment in `<work>/<dir>` (several plugins side by side in one run).
    pub fn with_plugin_in(plugin: PluginUnderTest, dir: &str) -> Result<CniEnv> {
        let sandbox = Sandbox::current();
        let base = sandbox.path(dir);
        let env = CniEnv {
            conf_dir: base.join("net.d"),
            bin_dir: base.join("cni-bin"),
            ipam_dir: base.join("ipam"),
            base,
            sandbox,
            plugin,
        };
        for dir in [&env.conf_dir, &env.bin_dir, &env.ipam_dir] {
            std::fs::create_dir_all(dir).map_err(HarnessError::io("create", dir))?;
        }
        env.link_plugins()?;
        Ok(env)
    }

    fn link_plugins(&self) -> Result<()> {
        let system = std::fs::read_dir(SYSTEM_PLUGIN_DIR)
            .map_err(HarnessError::io("list plugins in", SYSTEM_PLUGIN_DIR))?;
        for entry in system.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy() == self.plugin.type_name {
                continue;
            }
            let link = self.bin_dir.join(&name);
            std::os::unix::fs::symlink(entry.path(), &link)
                .map_err(HarnessError::io("link plugin", &link))?;
        }
        let link = self.bin_dir.join(&self.plugin.type_name);
        std::os::unix::fs::symlink(&self.plugin.path, &link)
            .map_err(HarnessError::io("link the plugin under test", &link))
    }

    /// The environment's directory name (unique within the run).
    pub fn name(&self) -> String {
        self.base
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// `CNI_PATH` as Podman builds it from `cni_plugin_dirs`: the test's directory first.
    pub fn cni_path(&self) -> Vec<PathBuf> {
        vec![self.bin_dir.clone(), PathBuf::from(SYSTEM_PLUGIN_DIR)]
    }

    /// The plugin under test, found by its type name in the test's plugin directory.
    pub fn plugin(&self) -> Plugin {
        Plugin::new(self.bin_dir.join(&self.plugin.type_name), &self.cni_path())
    }

    /// A bridge network of the plugin under test over `subnet`, reservations in `ipam_dir`.
    pub fn network(&self, name: &str, bridge: &str, subnet: &str) -> Result<BridgeNetwork> {
        Ok(BridgeNetwork::new(
            name,
            &self.plugin.type_name,
            bridge,
            AddressRange::new(subnet)?,
            &self.ipam_dir,
        ))
    }
}
