//! SPEC C7: CHECK's kernel part. The links against the ADD's result (`prevResult`) and the
//! configuration: the container interface exists in the namespace and is a veth, its host end
//! is a port of the bridge and forwarding; the MACs, the addresses, the routes, the MTU, the
//! port flags (hairpin, isolation) and VLANs are as asked. Every difference is named, all of
//! them in one error.

use super::add::netns_ref;
use super::World;
use crate::config::NetworkConfig;
use crate::dataplane::CheckRequest;
use crate::error::{CniError, ErrorCode};
use nsplumb_core::{
    BackendExt, Family, LinkInfo, LinkKind, MacAddr, NetnsRef, PortState, VlanSpec,
};
use rscni_types::types::{CNIResult, Route};
use std::net::IpAddr;

pub(super) async fn check(world: &World, request: &CheckRequest<'_>) -> Result<(), CniError> {
    let netns = netns_ref(request.netns);
    let ifname = &request.attachment.ifname;
    let prev = request.prev_result;
    let sandbox = request.netns.to_string_lossy();
    let failed = |what: String| {
        CniError::new(
            ErrorCode::CHECK_FAILED,
            format!("CHECK of {ifname} in namespace {netns}: {what}"),
        )
    };
    let Some(slot) = prev
        .interfaces
        .iter()
        .position(|i| i.name == *ifname && i.sandbox.as_deref() == Some(sandbox.as_ref()))
    else {
        return Err(failed(format!(
            "prevResult lists no interface {ifname} with sandbox {sandbox}"
        )));
    };
    let backend = world.plumber.backend();
    let container = backend
        .link_by_name(&netns, ifname)
        .await
        .map_err(|e| failed(format!("the container interface is not there: {e}")))?;
    let mut diffs = Differences::default();
    diffs.kind(&container, LinkKind::Veth, "the container interface");
    diffs.mac(&container, &prev.interfaces[slot].mac, "prevResult");
    if let Some(mac) = request.mac {
        diffs.mac(&container, &mac.to_string(), "the configuration's MAC");
    }

    let bridge = backend
        .link_by_name(&NetnsRef::Host, &request.config.bridge)
        .await
        .map_err(|e| failed(format!("bridge {:?}: {e}", request.config.bridge)))?;
    diffs.kind(&bridge, LinkKind::Bridge, "the bridge");
    if let Some(entry) = prev.interfaces.iter().find(|i| i.name == bridge.name) {
        diffs.mac(&bridge, &entry.mac, "prevResult");
    }
    match &container.peer {
        None => diffs.note(format!("{ifname} has no peer in the host")),
        Some(peer) => match backend.link_by_index(&NetnsRef::Host, peer.index).await {
            Err(e) => diffs.note(format!("the host end of {ifname} is not there: {e}")),
            Ok(host_end) => {
                port(&mut diffs, &host_end, &bridge, request.config);
                match prev
                    .interfaces
                    .iter()
                    .find(|i| i.name == host_end.name && i.sandbox.is_none())
                {
                    Some(entry) => diffs.mac(&host_end, &entry.mac, "prevResult"),
                    None => diffs.note(format!(
                        "prevResult does not list the host end {}",
                        host_end.name
                    )),
                }
                vlans(&mut diffs, world, &host_end, request.config).await;
            }
        },
    }
    if let Some(mtu) = request.config.mtu {
        if container.mtu != mtu {
            diffs.note(format!(
                "{ifname} has MTU {}, mtu asks {mtu}",
                container.mtu
            ));
        }
    }

    let addresses = backend
        .list_addresses(&netns, Some(container.index))
        .await
        .map_err(|e| failed(format!("cannot read the addresses of {ifname}: {e}")))?;
    for ip in prev
        .ips
        .iter()
        .filter(|ip| ip.interface == Some(slot as u32))
    {
        let there = addresses
            .iter()
            .any(|a| a.index == container.index && a.net == ip.address);
        if !there {
            diffs.note(format!("address {} is not on {ifname}", ip.address));
        }
    }
    for family in [Family::V4, Family::V6] {
        let wanted: Vec<&Route> = prev
            .routes
            .iter()
            .filter(|r| Family::of(&r.dst) == family)
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let routes = backend
            .list_routes(&netns, family)
            .await
            .map_err(|e| failed(format!("cannot read the routes: {e}")))?;
        for route in wanted {
            let dst = route.dst.trunc();
            let via = next_hop(prev, route);
            let there = routes
                .iter()
                .any(|r| r.dst == dst && (via.is_none() || r.gateway == via));
            if !there {
                let via = via.map(|v| format!(" via {v}")).unwrap_or_default();
                diffs.note(format!("route {dst}{via} is not in the namespace"));
            }
        }
    }
    diffs.into_result(failed)
}

/// The host end as a port of the bridge, forwarding, with the flags the configuration asks.
fn port(diffs: &mut Differences, host_end: &LinkInfo, bridge: &LinkInfo, config: &NetworkConfig) {
    let name = &host_end.name;
    if host_end.master != Some(bridge.index) {
        diffs.note(format!(
            "host end {name} is not a port of bridge {}",
            bridge.name
        ));
    }
    if host_end.port_state != Some(PortState::Forwarding) {
        let state = host_end
            .port_state
            .map_or_else(|| "not a bridge port".to_string(), |s| format!("{s:?}"));
        diffs.note(format!("bridge port {name} is not forwarding ({state})"));
    }
    let flags = host_end.port_flags.unwrap_or_default();
    if flags.hairpin != config.hairpin_mode {
        diffs.note(format!(
            "bridge port {name} has hairpin {}, hairpinMode asks {}",
            flags.hairpin, config.hairpin_mode
        ));
    }
    if flags.isolated != config.port_isolation {
        diffs.note(format!(
            "bridge port {name} has isolation {}, portIsolation asks {}",
            flags.isolated, config.port_isolation
        ));
    }
    if let Some(mtu) = config.mtu {
        if host_end.mtu != mtu {
            diffs.note(format!(
                "host end {name} has MTU {}, mtu asks {mtu}",
                host_end.mtu
            ));
        }
    }
}

/// `vlan`, `vlanTrunk`, `preserveDefaultVlan` against the port's VLAN table.
async fn vlans(
    diffs: &mut Differences,
    world: &World,
    host_end: &LinkInfo,
    config: &NetworkConfig,
) {
    if config.vlan.is_none() && config.vlan_trunk.is_empty() {
        return;
    }
    let name = &host_end.name;
    let table = match world
        .plumber
        .backend()
        .list_port_vlans(&NetnsRef::Host)
        .await
    {
        Ok(table) => table,
        Err(e) => return diffs.note(format!("cannot read the VLANs of port {name}: {e}")),
    };
    let on_port: Vec<VlanSpec> = table
        .into_iter()
        .filter(|p| p.index == host_end.index)
        .flat_map(|p| p.vlans)
        .collect();
    let has = |vid: u16| on_port.iter().find(|v| v.first <= vid && vid <= v.last);
    if let Some(pvid) = config.vlan {
        if !has(pvid).is_some_and(|v| v.pvid && v.untagged) {
            diffs.note(format!(
                "port {name} lacks VLAN {pvid} as its untagged PVID"
            ));
        }
    }
    for vid in &config.vlan_trunk {
        if has(*vid).is_none() {
            diffs.note(format!("port {name} lacks trunk VLAN {vid}"));
        }
    }
    if !config.preserve_default_vlan && config.vlan != Some(1) && has(1).is_some() {
        diffs.note(format!("port {name} still has the default VLAN 1"));
    }
}

/// A route's next hop as ADD installed it: its own `gw`, else its family's gateway in the
/// result's addresses (the bridge plugin's `ConfigureIface`, [`crate::Addressing::next_hop`]).
fn next_hop(prev: &CNIResult, route: &Route) -> Option<IpAddr> {
    route.gw.or_else(|| {
        prev.ips
            .iter()
            .filter(|ip| ip.address.addr().is_ipv4() == route.dst.addr().is_ipv4())
            .find_map(|ip| ip.gateway)
    })
}

/// What differs, in order.
#[derive(Default)]
struct Differences(Vec<String>);

impl Differences {
    fn note(&mut self, what: String) {
        self.0.push(what);
    }

    fn kind(&mut self, link: &LinkInfo, kind: LinkKind, what: &str) {
        if link.kind != kind {
            self.note(format!(
                "{what} {} is a {}, not a {}",
                link.name,
                link.kind.as_str(),
                kind.as_str()
            ));
        }
    }

    fn mac(&mut self, link: &LinkInfo, expected: &str, source: &str) {
        let expected_mac = expected.parse::<MacAddr>().ok();
        if expected_mac.is_some() && link.mac != expected_mac {
            let got = link
                .mac
                .map_or_else(|| "none".to_string(), |m| m.to_string());
            self.note(format!(
                "{} has MAC {got}, {source} says {expected}",
                link.name
            ));
        }
    }

    fn into_result(self, failed: impl Fn(String) -> CniError) -> Result<(), CniError> {
        match self.0.is_empty() {
            true => Ok(()),
            false => Err(failed(self.0.join("; "))),
        }
    }
}
