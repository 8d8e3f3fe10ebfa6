//! The configuration keys whose value is an object or a list: each read into its type, or
//! problems naming the key (and the inner key) recorded.

use super::problems::Problems;
use super::values;
use crate::env::Attachment;
use crate::mac::parse_mac;
use crate::IpamConfig;
use nsplumb_core::{
    AnnounceSettings, MacAddr, SysctlSetting, DEFAULT_ANNOUNCE_COUNT, DEFAULT_ANNOUNCE_INTERVAL,
    MAX_ANNOUNCE_COUNT, MAX_ANNOUNCE_INTERVAL, MIN_ANNOUNCE_INTERVAL,
};
use rscni_types::types::{CNIResult, Dns};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// `capabilities`: which runtime capabilities the plugin takes, each `true` or `false`.
pub fn capabilities(p: &mut Problems, value: &Value) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    for (name, v) in values::object(p, "capabilities", value)
        .into_iter()
        .flatten()
    {
        out.insert(
            name.clone(),
            values::boolean(p, &format!("capabilities.{name}"), v, false),
        );
    }
    out
}

/// `runtimeConfig`: its `mac` (checked) and `ips` (a list the IPAM plugin reads itself); other
/// capabilities belong to other plugins of the chain.
pub fn runtime_config(p: &mut Problems, value: &Value) -> Option<MacAddr> {
    let fields = values::object(p, "runtimeConfig", value)?;
    if let Some(ips) = fields.get("ips") {
        values::strings(p, "runtimeConfig.ips", ips);
    }
    mac_field(p, "runtimeConfig.mac", fields.get("mac"))
}

/// `args`: `args.cni.mac` (checked) and `args.cni.ips` (read by the IPAM plugin); the other
/// namespaces of `args` belong to other plugins.
pub fn args(p: &mut Problems, value: &Value) -> Option<MacAddr> {
    let fields = values::object(p, "args", value)?;
    let cni = values::object(p, "args.cni", fields.get("cni")?)?;
    if let Some(ips) = cni.get("ips") {
        values::strings(p, "args.cni.ips", ips);
    }
    mac_field(p, "args.cni.mac", cni.get("mac"))
}

fn mac_field(p: &mut Problems, key: &str, value: Option<&Value>) -> Option<MacAddr> {
    let value = value?;
    let text = values::string(p, key, value)?;
    if text.is_empty() {
        return None; // the bridge plugin's "not set"
    }
    parse_mac(text)
        .map_err(|reason| p.invalid(key, value, reason))
        .ok()
}

/// `prevResult`, in any supported version's shape.
pub fn prev_result(p: &mut Problems, value: &Value) -> Option<CNIResult> {
    if value.is_null() {
        return None;
    }
    serde_json::from_value(value.clone())
        .map_err(|e| p.invalid("prevResult", value, format!("is not a CNI result: {e}")))
        .ok()
}

/// `ipam`: absent, `{}` or an empty `type` is a layer-2 attachment; otherwise `type` names a
/// plugin file in `CNI_PATH`.
pub fn ipam(p: &mut Problems, value: &Value) -> Option<IpamConfig> {
    let fields = values::object(p, "ipam", value)?;
    if fields.is_empty() {
        return None;
    }
    let Some(plugin) = fields.get("type") else {
        p.missing_or_conflicting("ipam.type", "is required when ipam has other keys");
        return None;
    };
    let plugin = values::string(p, "ipam.type", plugin)?;
    if plugin.is_empty() {
        return None;
    }
    if plugin.contains('/') || plugin == "." || plugin == ".." || plugin.contains('\0') {
        p.invalid(
            "ipam.type",
            &Value::from(plugin),
            "must be a plugin file name in CNI_PATH, not a path",
        );
        return None;
    }
    Some(IpamConfig {
        plugin: plugin.to_string(),
    })
}

/// `dns`: set (any field present) replaces the IPAM plugin's DNS in the result.
pub fn dns(p: &mut Problems, value: &Value) -> Option<Dns> {
    let fields = values::object(p, "dns", value)?;
    let mut dns = Dns::default();
    let mut set = false;
    for (name, v) in fields {
        let key = format!("dns.{name}");
        match name.as_str() {
            "nameservers" => {
                let servers = values::strings(p, &key, v);
                for (i, server) in servers.iter().flatten().enumerate() {
                    if server.parse::<IpAddr>().is_err() {
                        p.invalid(
                            &format!("{key}[{i}]"),
                            &Value::from(server.as_str()),
                            "must be an IPv4 or IPv6 address",
                        );
                    }
                }
                set |= servers.is_some();
                dns.nameservers = servers.unwrap_or_default();
            }
            "domain" => {
                dns.domain = values::string(p, &key, v).map(str::to_string);
                set |= dns.domain.as_deref().is_some_and(|d| !d.is_empty());
            }
            "search" => {
                dns.search = values::strings(p, &key, v);
                set |= dns.search.is_some();
            }
            "options" => {
                dns.options = values::strings(p, &key, v);
                set |= dns.options.is_some();
            }
            _ => p.unsupported(
                &key,
                v,
                "dns has nameservers, domain, search and options only",
            ),
        }
    }
    set.then_some(dns)
}

/// GC's list of attachments to keep: `[{"containerID": .., "ifname": ..}]`.
pub fn attachments(p: &mut Problems, key: &str, value: &Value) -> Option<Vec<Attachment>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        #[serde(rename = "containerID")]
        container_id: String,
        ifname: String,
    }
    if value.is_null() {
        return None;
    }
    let entries: Vec<Entry> = serde_json::from_value(value.clone())
        .map_err(|e| {
            p.invalid(
                key,
                value,
                format!("must be a list of {{containerID, ifname}}: {e}"),
            )
        })
        .ok()?;
    Some(
        entries
            .into_iter()
            .map(|e| Attachment {
                container_id: e.container_id,
                ifname: e.ifname,
            })
            .collect(),
    )
}

/// `ipMasqBackend`: nsplumb masquerades with nftables; asking for iptables is unsupported.
pub fn masquerade_backend(p: &mut Problems, value: &Value) {
    match values::string(p, "ipMasqBackend", value) {
        None | Some("nftables") => {}
        Some("iptables") => p.unsupported(
            "ipMasqBackend",
            value,
            "nsplumb-cni masquerades with nftables only",
        ),
        Some(_) => p.invalid(
            "ipMasqBackend",
            value,
            "must be \"nftables\" (\"iptables\" is the bridge plugin's other backend)",
        ),
    }
}

/// nsplumb's `announce`: `{"count": 0..=3, "intervalMs": 100..=2000}` (SPEC V7, V8).
pub fn announce(p: &mut Problems, value: &Value) -> Option<AnnounceSettings> {
    let fields = values::object(p, "announce", value)?;
    let mut settings = AnnounceSettings {
        count: DEFAULT_ANNOUNCE_COUNT,
        interval: DEFAULT_ANNOUNCE_INTERVAL,
    };
    for (name, v) in fields {
        let key = format!("announce.{name}");
        match name.as_str() {
            "count" => {
                let Some(count) = values::integer(p, &key, v) else {
                    continue;
                };
                match u32::try_from(count)
                    .ok()
                    .filter(|c| *c <= MAX_ANNOUNCE_COUNT)
                {
                    Some(count) => settings.count = count,
                    None => p.invalid(
                        &key,
                        v,
                        format!(
                            "announce count {count} is not in the range 0 to {MAX_ANNOUNCE_COUNT}"
                        ),
                    ),
                }
            }
            "intervalMs" => {
                let Some(ms) = values::integer(p, &key, v) else {
                    continue;
                };
                let allowed = MIN_ANNOUNCE_INTERVAL..=MAX_ANNOUNCE_INTERVAL;
                let interval = u64::try_from(ms).ok().map(Duration::from_millis);
                match interval.filter(|i| allowed.contains(i)) {
                    Some(interval) => settings.interval = interval,
                    None => {
                        let (min, max) = (allowed.start().as_millis(), allowed.end().as_millis());
                        let reason = format!(
                            "announce interval (announce.intervalMs) {ms} ms is not in the range \
                             {min} to {max} ms"
                        );
                        p.invalid(&key, v, reason);
                    }
                }
            }
            _ => p.unsupported(&key, v, "announce has count and intervalMs only"),
        }
    }
    Some(settings)
}

/// nsplumb's `sysctls`: `{"net.ipv4.conf.IFNAME.arp_notify": "1"}`, each held to SPEC V6.
pub fn sysctls(p: &mut Problems, value: &Value) -> Vec<SysctlSetting> {
    let mut out = Vec::new();
    for (name, v) in values::object(p, "sysctls", value).into_iter().flatten() {
        let key = format!("sysctls.{name}");
        let Some(text) = values::string(p, &key, v) else {
            continue;
        };
        match SysctlSetting::parse(name, text) {
            Ok(setting) => out.push(setting),
            Err(reason) => p.invalid(&key, v, reason),
        }
    }
    out
}
