//! SPEC C2: the network configuration a runtime gives on stdin.
//!
//! The bridge plugin's keys keep their meaning and defaults, so that `"type": "bridge"` can
//! become `"type": "nsplumb-cni"` in a conflist; next to them the spec's own keys and nsplumb's
//! `announce` and `sysctls`. Everything is checked before any side effect, and every problem is
//! reported in one error: code 2 for a key neither plugin knows (or one nsplumb does not
//! implement), code 7 for a bad value, each naming the key and the value.

mod link_options;
mod problems;
mod sections;
mod values;
mod vlan;

pub use problems::Problem;
pub use vlan::MAX_VLAN_ID;

use crate::env::{is_valid_name, Attachment};
use crate::error::{CniError, ErrorCode};
use crate::verb::Verb;
use crate::version;
use nsplumb_core::{
    AnnounceSettings, MacAddr, SysctlSetting, DEFAULT_ANNOUNCE_COUNT, DEFAULT_ANNOUNCE_INTERVAL,
};
use problems::Problems;
use rscni_types::types::{CNIResult, Dns};
use rscni_types::version::SpecVersion;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The bridge the bridge plugin uses when the configuration names none.
pub const DEFAULT_BRIDGE: &str = "cni0";

/// The smallest and largest MTU an interface takes (SPEC L1).
pub const MIN_MTU: u32 = 68;
pub const MAX_MTU: u32 = 65535;

/// A checked network configuration (SPEC C2).
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// The `cniVersion` of the call: every reply is written in it (SPEC C1).
    pub version: SpecVersion,
    /// The network's name: with the container ID and interface name, the key of an attachment.
    pub name: String,
    /// The conflist's `type` (the binary's name as the runtime found it).
    pub plugin_type: String,
    pub bridge: String,
    /// `isGateway`, or implied by `isDefaultGateway`.
    pub is_gateway: bool,
    pub is_default_gateway: bool,
    pub force_address: bool,
    pub ip_masq: bool,
    /// `mtu`; 0 or absent leaves the kernel's default (as the bridge plugin does).
    pub mtu: Option<u32>,
    pub hairpin_mode: bool,
    pub promisc_mode: bool,
    /// `vlan`: the host port's untagged PVID; 0 or absent is none.
    pub vlan: Option<u16>,
    /// `vlanTrunk`: tagged VLAN IDs, sorted, without repeats.
    pub vlan_trunk: Vec<u16>,
    /// `preserveDefaultVlan`: keep VLAN 1 on the port when VLANs are set (default true).
    pub preserve_default_vlan: bool,
    pub enable_dad: bool,
    pub port_isolation: bool,
    /// `ipam`; `None` for none or `{}`: a layer-2 attachment without addresses.
    pub ipam: Option<IpamConfig>,
    /// `dns`, when any of its fields is set: it replaces the IPAM plugin's DNS in the result.
    pub dns: Option<Dns>,
    pub capabilities: BTreeMap<String, bool>,
    /// `runtimeConfig.mac`: the highest-priority MAC source (SPEC C3).
    pub runtime_mac: Option<MacAddr>,
    /// `args.cni.mac`: the MAC source between `runtimeConfig.mac` and `CNI_ARGS` `MAC=`.
    pub args_mac: Option<MacAddr>,
    /// nsplumb's `announce` (SPEC V7, V8).
    pub announce: AnnounceSettings,
    /// nsplumb's `sysctls` (SPEC V6), set on the container interface.
    pub sysctls: Vec<SysctlSetting>,
    /// The previous plugin's result (chained ADD) or the ADD's final result (DEL, CHECK).
    pub prev_result: Option<CNIResult>,
    /// GC: `cni.dev/valid-attachments` (or the older `cni.dev/attachments`).
    pub valid_attachments: Option<Vec<Attachment>>,
}

/// `ipam`: which plugin to delegate to; the rest of the object is that plugin's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamConfig {
    pub plugin: String,
}

impl NetworkConfig {
    /// Checks a request configuration for `verb`: its version first (code 1), then every key.
    pub fn parse(stdin: &Map<String, Value>, verb: Verb) -> Result<NetworkConfig, CniError> {
        let version = match stdin.get("cniVersion") {
            None | Some(Value::Null) => {
                return Err(CniError::new(
                    ErrorCode::INCOMPATIBLE_VERSION,
                    "the configuration has no cniVersion (that means 0.1.0, which nsplumb-cni \
                     does not speak)",
                ))
            }
            Some(Value::String(declared)) => version::negotiate(declared, verb)?,
            Some(other) => {
                return Err(CniError::new(
                    ErrorCode::DECODING_FAILURE,
                    format!("cniVersion {other} is not a string"),
                ))
            }
        };
        let mut problems = Problems::default();
        let mut config = NetworkConfig::defaults(version);
        let mut name = None;
        let mut plugin_type = None;
        for (key, value) in stdin {
            config.read_key(&mut problems, key, value, &mut name, &mut plugin_type);
        }
        match name {
            None => problems.missing_or_conflicting("name", "is required"),
            Some(n) if !is_valid_name(n) => problems.invalid(
                "name",
                &Value::from(n),
                "must start with a letter or digit and hold only letters, digits, '_', '.' and '-'",
            ),
            Some(n) => config.name = n.to_string(),
        }
        match plugin_type {
            None | Some("") => problems.missing_or_conflicting("type", "is required"),
            Some(t) => config.plugin_type = t.to_string(),
        }
        if config.is_default_gateway {
            config.is_gateway = true;
        }
        if config.hairpin_mode && config.promisc_mode {
            problems.missing_or_conflicting(
                "hairpinMode",
                "cannot set hairpin mode and promiscuous mode (promiscMode) at the same time",
            );
        }
        problems.into_result()?;
        Ok(config)
    }

    fn defaults(version: SpecVersion) -> NetworkConfig {
        NetworkConfig {
            version,
            name: String::new(),
            plugin_type: String::new(),
            bridge: DEFAULT_BRIDGE.to_string(),
            is_gateway: false,
            is_default_gateway: false,
            force_address: false,
            ip_masq: false,
            mtu: None,
            hairpin_mode: false,
            promisc_mode: false,
            vlan: None,
            vlan_trunk: Vec::new(),
            preserve_default_vlan: true,
            enable_dad: false,
            port_isolation: false,
            ipam: None,
            dns: None,
            capabilities: BTreeMap::new(),
            runtime_mac: None,
            args_mac: None,
            announce: AnnounceSettings {
                count: DEFAULT_ANNOUNCE_COUNT,
                interval: DEFAULT_ANNOUNCE_INTERVAL,
            },
            sysctls: Vec::new(),
            prev_result: None,
            valid_attachments: None,
        }
    }

    fn read_key<'v>(
        &mut self,
        p: &mut Problems,
        key: &str,
        value: &'v Value,
        name: &mut Option<&'v str>,
        plugin_type: &mut Option<&'v str>,
    ) {
        match key {
            // The spec's own keys.
            "cniVersion" => {}
            "cniVersions" => {
                values::strings(p, key, value);
            }
            "name" => *name = values::string(p, key, value),
            "type" => *plugin_type = values::string(p, key, value),
            "capabilities" => self.capabilities = sections::capabilities(p, value),
            "runtimeConfig" => self.runtime_mac = sections::runtime_config(p, value),
            "args" => self.args_mac = sections::args(p, value),
            "prevResult" => self.prev_result = sections::prev_result(p, value),
            "ipam" => self.ipam = sections::ipam(p, value),
            "dns" => self.dns = sections::dns(p, value),
            "ipMasq" => self.ip_masq = values::boolean(p, key, value, false),
            "cni.dev/valid-attachments" => {
                self.valid_attachments = sections::attachments(p, key, value)
            }
            "cni.dev/attachments" => {
                // The 1.1.0 text's name for the same list; libcni sends both.
                let older = sections::attachments(p, key, value);
                self.valid_attachments = self.valid_attachments.take().or(older);
            }
            k if k.starts_with("cni.dev/") => {} // reserved for the spec; nothing for a plugin
            // The bridge plugin's keys.
            "bridge" => {
                if let Some(bridge) = values::string(p, key, value) {
                    match nsplumb_core::check_ifname(bridge) {
                        Ok(()) => self.bridge = bridge.to_string(),
                        Err(reason) => p.invalid(key, value, reason),
                    }
                }
            }
            "isGateway" => self.is_gateway = values::boolean(p, key, value, false),
            "isDefaultGateway" => self.is_default_gateway = values::boolean(p, key, value, false),
            "forceAddress" => self.force_address = values::boolean(p, key, value, false),
            "ipMasqBackend" => sections::masquerade_backend(p, value),
            "mtu" => self.mtu = mtu(p, value),
            "hairpinMode" => self.hairpin_mode = values::boolean(p, key, value, false),
            "promiscMode" => self.promisc_mode = values::boolean(p, key, value, false),
            "vlan" => self.vlan = vlan::pvid(p, value),
            "vlanTrunk" => self.vlan_trunk = vlan::trunk(p, value),
            "preserveDefaultVlan" => {
                self.preserve_default_vlan = values::boolean(p, key, value, true)
            }
            "enabledad" => self.enable_dad = values::boolean(p, key, value, false),
            "portIsolation" => self.port_isolation = values::boolean(p, key, value, false),
            "macspoofchk" | "disableContainerInterface" => {
                if values::boolean(p, key, value, false) {
                    p.unsupported(
                        key,
                        value,
                        "nsplumb-cni does not implement it (false is accepted)",
                    );
                }
            }
            // nsplumb's own.
            "announce" => {
                if let Some(announce) = sections::announce(p, value) {
                    self.announce = announce;
                }
            }
            "sysctls" => self.sysctls = sections::sysctls(p, value),
            _ => p.unsupported(
                key,
                value,
                "not a configuration key of nsplumb-cni or of the bridge plugin",
            ),
        }
    }

    /// The MAC for the container interface (SPEC C3): `runtimeConfig.mac`, else `args.cni.mac`,
    /// else `CNI_ARGS` `MAC=`.
    pub fn mac(&self, cni_args_mac: Option<MacAddr>) -> Option<MacAddr> {
        self.runtime_mac.or(self.args_mac).or(cni_args_mac)
    }
}

/// `mtu`: 0 is unset, otherwise SPEC L1's range.
fn mtu(p: &mut Problems, value: &Value) -> Option<u32> {
    let mtu = values::integer(p, "mtu", value)?;
    if mtu == 0 {
        return None;
    }
    match u32::try_from(mtu) {
        Ok(mtu) if (MIN_MTU..=MAX_MTU).contains(&mtu) => Some(mtu),
        _ => {
            p.invalid(
                "mtu",
                value,
                format!("must be 0 (the default) or from {MIN_MTU} to {MAX_MTU}"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests;
