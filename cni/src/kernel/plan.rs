//! SPEC C3: an ADD's request as nsplumb's own vocabulary, before anything is touched: the
//! bridge to make ready ([`BridgePlan`]), the interface to attach ([`Spec`]: a veth whose
//! container end is born in the namespace under `CNI_IFNAME`), the default routes (G1) and the
//! routes via a next hop (G3). What nsplumb cannot install as asked is error 7, naming it.

use crate::config::NetworkConfig;
use crate::dataplane::AttachRequest;
use crate::error::{CniError, ErrorCode};
use ipnet::IpNet;
use nsplumb_core::{BridgeOptions, BridgePlan, Destination, Source, Spec, SysctlSetting};
use rscni_types::types::Route;
use std::net::IpAddr;

/// Everything ADD's kernel part does, in nsplumb's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachPlan {
    pub bridge: BridgePlan,
    pub spec: Spec,
    /// Default routes via these gateways, at most one per family (G1).
    pub gateways: Vec<IpAddr>,
    /// `dst via next hop` routes (G3), added once the interface is up.
    pub routes_via: Vec<(IpNet, IpAddr)>,
}

impl AttachPlan {
    /// The plan of `request`, whose veth host end will be named `host_name`.
    pub fn new(request: &AttachRequest<'_>, host_name: String) -> Result<AttachPlan, CniError> {
        let config = request.config;
        let addressing = request.addressing;
        let mut spec = Spec::new(
            Source::VethOnBridge {
                bridge: config.bridge.clone(),
                host_name,
            },
            Destination::Name(request.attachment.ifname.clone()),
        );
        spec.mac = request.mac.map(|m| m.to_string());
        for ip in &addressing.ips {
            let (slot, family) = match ip.address {
                IpNet::V4(_) => (&mut spec.ipv4, "IPv4"),
                IpNet::V6(_) => (&mut spec.ipv6, "IPv6"),
            };
            if let Some(first) = slot {
                return Err(invalid(format!(
                    "IPAM gave two {family} addresses, {first} and {}: nsplumb-cni puts one \
                     address of each family on the container interface",
                    ip.address
                )));
            }
            *slot = Some(ip.address.to_string());
        }
        spec.sysctls = config.sysctls.iter().map(sysctl_text).collect();
        spec.announce_count = config.announce.count;
        spec.announce_interval = config.announce.interval;
        link_options(&mut spec, config);

        let mut gateways: Vec<IpAddr> = Vec::new();
        let mut routes_via = Vec::new();
        for route in &addressing.routes {
            check_attributes(route)?;
            let dst = route.dst.trunc();
            let next_hop = addressing.next_hop(route);
            if let Some(hop) = next_hop {
                if hop.is_ipv4() != dst.addr().is_ipv4() {
                    return Err(invalid(format!(
                        "route {dst} via {hop}: the next hop is of the other address family"
                    )));
                }
            }
            match (dst.prefix_len() == 0, next_hop) {
                (true, Some(hop)) => match gateways.iter().find(|g| g.is_ipv4() == hop.is_ipv4()) {
                    Some(other) if *other != hop => {
                        return Err(invalid(format!(
                            "two default routes of one family, via {other} and via {hop}"
                        )))
                    }
                    Some(_) => {}
                    None => gateways.push(hop),
                },
                (true, None) => {
                    return Err(invalid(format!(
                        "route {dst} has no gateway and the network none to take (isGateway \
                         or an IPAM gateway): nsplumb-cni installs a default route via a \
                         gateway only"
                    )))
                }
                (false, Some(hop)) => routes_via.push((dst, hop)),
                (false, None) => spec.routes.push(dst.to_string()),
            }
        }
        check_spec(&spec)?;
        let bridge = BridgePlan {
            name: config.bridge.clone(),
            options: BridgeOptions {
                vlan_filtering: config.vlan.is_some() || !config.vlan_trunk.is_empty(),
                mtu: config.mtu,
            },
            addresses: addressing.bridge_addresses.clone(),
            force_address: config.force_address,
            forward_ipv4: addressing.forward_ipv4,
            forward_ipv6: addressing.forward_ipv6,
        };
        Ok(AttachPlan {
            bridge,
            spec,
            gateways,
            routes_via,
        })
    }
}

/// SPEC C3, L1–L5: the bridge plugin's link options as the core's option steps.
/// `preserveDefaultVlan` matters only when a VLAN is asked, as in the bridge plugin.
fn link_options(spec: &mut Spec, config: &NetworkConfig) {
    spec.mtu = config.mtu;
    spec.hairpin = config.hairpin_mode;
    spec.isolated = config.port_isolation;
    spec.vlan = config.vlan;
    spec.vlan_trunk = trunk_ranges(&config.vlan_trunk);
    spec.keep_default_vlan =
        config.preserve_default_vlan && (config.vlan.is_some() || !config.vlan_trunk.is_empty());
    spec.dad = config.enable_dad;
}

/// Sorted, distinct VLAN IDs (config::vlan) as the core's trunk entries, runs as ranges
/// (`[10, 20, 21, 22]` → `["10", "20-22"]`).
fn trunk_ranges(ids: &[u16]) -> Vec<String> {
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for &id in ids {
        match runs.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(id) => *last = id,
            _ => runs.push((id, id)),
        }
    }
    runs.into_iter()
        .map(|(first, last)| match first == last {
            true => first.to_string(),
            false => format!("{first}-{last}"),
        })
        .collect()
}

/// SPEC C2, V1–V10, L1–L5: the core's checks of the spec, before the kernel is touched; each
/// problem names the configuration's key (`hairpinMode`, not the core's `hairpin`).
fn check_spec(spec: &Spec) -> Result<(), CniError> {
    let Err(invalid_spec) = nsplumb_core::validate(spec) else {
        return Ok(());
    };
    let problems: Vec<String> = invalid_spec
        .problems
        .iter()
        .map(|p| match config_key(p.field) {
            Some(key) => format!("{key} {:?}: {}", p.value, p.reason),
            None => p.to_string(),
        })
        .collect();
    Err(invalid(format!(
        "the interface cannot be made as configured: {}",
        problems.join("; ")
    )))
}

/// The configuration key behind a field of the core's spec that a link option fills.
fn config_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "mtu" => "mtu",
        "hairpin" => "hairpinMode",
        "isolated" => "portIsolation",
        "vlan" => "vlan",
        "vlan_trunk" => "vlanTrunk",
        "keep_default_vlan" => "preserveDefaultVlan",
        "dad" => "enabledad",
        _ => return None,
    })
}

fn invalid(msg: String) -> CniError {
    CniError::new(ErrorCode::INVALID_CONFIG, msg)
}

/// `net.ipv4.conf.IFNAME.arp_notify=1`, as the core's spec takes it (SPEC V6).
fn sysctl_text(setting: &SysctlSetting) -> String {
    format!("{}={}", setting.parts.join("."), setting.value)
}

/// The route attributes of CNI 1.1.0 (`mtu`, `advmss`, `priority`, `table`, `scope`) that an
/// IPAM plugin may return: nsplumb installs a route's destination and next hop, so a route
/// that asks for more is refused rather than installed differently.
fn check_attributes(route: &Route) -> Result<(), CniError> {
    let asked = [
        ("mtu", route.mtu.is_some()),
        ("advmss", route.advmss.is_some()),
        ("priority", route.priority.is_some()),
        ("table", route.table.is_some()),
        ("scope", route.scope.is_some()),
    ];
    match asked.iter().find(|(_, set)| *set) {
        None => Ok(()),
        Some((name, _)) => Err(invalid(format!(
            "route {}: its {name} is not supported (nsplumb-cni installs a route's destination \
             and gateway only)",
            route.dst
        ))),
    }
}

#[cfg(test)]
mod tests;
