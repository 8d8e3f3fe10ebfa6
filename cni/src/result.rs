//! SPEC C1, C3: ADD's result, merged with `prevResult` and written in the call's version.
//!
//! One model (the 1.1.0 result, `rscni_types`' [`CNIResult`]) and one rendering per version:
//! 1.1.0 has everything; 1.0.0 drops `interfaces[].mtu`, `socketPath`, `pciID` and the route
//! attributes 1.1.0 added; 0.3.0–0.4.0 drop them too and add `ips[].version`.

use crate::addressing::Addressing;
use crate::config::NetworkConfig;
use crate::dataplane::{AttachOutcome, LinkReport};
use crate::version::{V1_0, V1_1};
use rscni_types::legacy;
use rscni_types::types::{CNIResult, CNIResultWithVersion, Dns, Interface, IpConfig};
use rscni_types::version::SpecVersion;
use std::path::Path;

/// ADD's result: `prev` (a chained ADD's previous result) with this plugin's interfaces
/// `[bridge, host end, container end (sandbox = netns), gateway link]` appended, the
/// container's addresses pointing at the container end, the routes, and DNS (the
/// configuration's `dns` if set, else the IPAM plugin's, else `prev`'s).
pub fn add_result(
    prev: Option<&CNIResult>,
    outcome: &AttachOutcome,
    addressing: &Addressing,
    config: &NetworkConfig,
    netns: &Path,
) -> CNIResult {
    let mut result = prev.cloned().unwrap_or_default();
    let first = u32::try_from(result.interfaces.len()).expect("fewer than 2^32 interfaces");
    result.interfaces.push(interface(&outcome.bridge, None));
    result.interfaces.push(interface(&outcome.host_end, None));
    result.interfaces.push(interface(
        &outcome.container,
        Some(netns.to_string_lossy().into_owned()),
    ));
    if let Some(gateway_link) = &outcome.gateway_link {
        result.interfaces.push(interface(gateway_link, None));
    }
    let container = first + 2;
    result.ips.extend(addressing.ips.iter().map(|ip| IpConfig {
        interface: Some(container),
        address: ip.address,
        gateway: ip.gateway,
    }));
    result.routes.extend(addressing.routes.iter().cloned());
    let dns = config.dns.clone().or_else(|| addressing.dns.clone());
    if let Some(dns) = dns.filter(|d| !is_empty(d)) {
        result.dns = Some(dns);
    }
    result
}

fn interface(link: &LinkReport, sandbox: Option<String>) -> Interface {
    Interface {
        name: link.name.clone(),
        mac: link.mac.to_string(),
        mtu: Some(link.mtu),
        sandbox,
        socket_path: None,
        pci_id: None,
    }
}

fn is_empty(dns: &Dns) -> bool {
    dns.nameservers.is_empty()
        && dns.domain.as_deref().is_none_or(str::is_empty)
        && dns.search.as_ref().is_none_or(Vec::is_empty)
        && dns.options.as_ref().is_none_or(Vec::is_empty)
}

/// The result as `version` shapes it, with `cniVersion` set to it.
pub fn render(result: &CNIResult, version: SpecVersion) -> serde_json::Value {
    let mut result = result.clone();
    if version < V1_1 {
        for interface in &mut result.interfaces {
            interface.mtu = None;
            interface.socket_path = None;
            interface.pci_id = None;
        }
        for route in &mut result.routes {
            route.mtu = None;
            route.advmss = None;
            route.priority = None;
            route.table = None;
            route.scope = None;
        }
    }
    let rendered = if version < V1_0 {
        serde_json::to_value(legacy::CNIResult::new(version, result))
    } else {
        serde_json::to_value(CNIResultWithVersion::new(version, result))
    };
    rendered.expect("a CNI result serializes")
}

/// Reads a result of any supported version (an IPAM plugin's answer, a `prevResult`).
pub fn parse(json: &[u8]) -> Result<CNIResult, serde_json::Error> {
    serde_json::from_slice(json)
}

#[cfg(test)]
mod tests;
