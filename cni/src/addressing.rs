//! SPEC C3: from the IPAM plugin's answer to what the attach installs, as the bridge plugin
//! derives it (`calcGateways`): each address with its gateway (the subnet's first address when
//! `isGateway` and IPAM named none), the default route for `isDefaultGateway`, the gateway
//! addresses the bridge gets, and the families to forward.

use crate::config::NetworkConfig;
use crate::error::{CniError, ErrorCode};
use ipnet::IpNet;
use rscni_types::types::{CNIResult, Dns, Route};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address of the container interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedIp {
    /// The address with its subnet's prefix length (e.g. `192.0.2.5/24`).
    pub address: IpNet,
    pub gateway: Option<IpAddr>,
}

/// What the attach installs and the result reports, before any link exists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Addressing {
    pub ips: Vec<AssignedIp>,
    /// Routes in the container; one without `gw` goes via its family's gateway
    /// ([`Self::next_hop`]).
    pub routes: Vec<Route>,
    /// The IPAM plugin's DNS (a configuration `dns` replaces it in the result).
    pub dns: Option<Dns>,
    /// `isGateway`: each gateway with its subnet's prefix, for the bridge (no repeats).
    pub bridge_addresses: Vec<IpNet>,
    /// `isGateway`: forwarding is turned on for each family the bridge has a gateway of.
    pub forward_ipv4: bool,
    pub forward_ipv6: bool,
}

impl Addressing {
    /// A layer-2 attachment (no `ipam`): no addresses, no routes.
    pub fn layer2() -> Addressing {
        Addressing::default()
    }

    /// Derives the addressing from IPAM plugin `plugin`'s result.
    pub fn from_ipam(
        ipam: CNIResult,
        config: &NetworkConfig,
        plugin: &str,
    ) -> Result<Addressing, CniError> {
        if ipam.ips.is_empty() {
            return Err(CniError::new(
                ErrorCode::IPAM_FAILED,
                format!("IPAM plugin {plugin:?} returned no IP addresses"),
            ));
        }
        let mut addressing = Addressing {
            routes: ipam.routes,
            dns: ipam.dns,
            ..Addressing::default()
        };
        for ip in ipam.ips {
            let gateway = match ip.gateway {
                Some(gw) => Some(gw),
                None if config.is_gateway => Some(first_host(&ip.address).ok_or_else(|| {
                    CniError::new(
                        ErrorCode::INVALID_CONFIG,
                        format!(
                            "isGateway: the subnet of {} from IPAM plugin {plugin:?} has no \
                             address for a gateway",
                            ip.address
                        ),
                    )
                })?),
                None => None,
            };
            if let Some(gw) = gateway.filter(|gw| *gw == ip.address.addr()) {
                return Err(CniError::new(
                    ErrorCode::INVALID_CONFIG,
                    format!(
                        "IPAM plugin {plugin:?} gave the container {} and named {gw} as its \
                         gateway: the same address",
                        ip.address
                    ),
                ));
            }
            if config.is_default_gateway {
                addressing.add_default_route(ip.address, gateway);
            }
            if let Some(gw) = gateway.filter(|_| config.is_gateway) {
                let on_bridge = IpNet::new(gw, ip.address.prefix_len())
                    .expect("a gateway takes its subnet's prefix length");
                if !addressing.bridge_addresses.contains(&on_bridge) {
                    addressing.bridge_addresses.push(on_bridge);
                }
                match gw {
                    IpAddr::V4(_) => addressing.forward_ipv4 = true,
                    IpAddr::V6(_) => addressing.forward_ipv6 = true,
                }
            }
            addressing.ips.push(AssignedIp {
                address: ip.address,
                gateway,
            });
        }
        Ok(addressing)
    }

    /// `isDefaultGateway`: a default route via this family's gateway, unless one is there.
    /// [different from the bridge plugin, which adds a second one when IPAM's default route
    /// has no `gw`; here that route goes via the gateway already]
    fn add_default_route(&mut self, address: IpNet, gateway: Option<IpAddr>) {
        let unspecified = match address {
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let default = IpNet::new(unspecified, 0).expect("prefix 0 is valid");
        if self.routes.iter().any(|r| r.dst == default) {
            return;
        }
        self.routes.push(Route {
            dst: default,
            gw: gateway,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        });
    }

    /// The next hop of a route: its own `gw`, else the gateway of its family's first address
    /// that has one (as the bridge plugin's `ConfigureIface`).
    pub fn next_hop(&self, route: &Route) -> Option<IpAddr> {
        route.gw.or_else(|| {
            self.ips
                .iter()
                .filter(|ip| ip.address.addr().is_ipv4() == route.dst.addr().is_ipv4())
                .find_map(|ip| ip.gateway)
        })
    }
}

/// The subnet's network address + 1, if the subnet has one.
fn first_host(address: &IpNet) -> Option<IpAddr> {
    match address.network() {
        IpAddr::V4(net) => u32::from(net)
            .checked_add(1)
            .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        IpAddr::V6(net) => u128::from(net)
            .checked_add(1)
            .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    }
    .filter(|gw| address.contains(gw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verb::Verb;
    use serde_json::json;

    fn config(extra: serde_json::Value) -> NetworkConfig {
        let mut conf = json!({"cniVersion": "1.0.0", "name": "n", "type": "nsplumb-cni"});
        conf.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        NetworkConfig::parse(conf.as_object().unwrap(), Verb::Add).unwrap()
    }

    fn ipam(result: serde_json::Value) -> CNIResult {
        serde_json::from_value(result).unwrap()
    }

    // SPEC: C3 (isGateway, isDefaultGateway as the bridge plugin)
    #[test]
    fn gateways_come_from_ipam_or_the_first_address_and_the_default_route_follows() {
        let result = ipam(json!({
            "ips": [
                {"version": "4", "address": "192.0.2.5/24"},
                {"address": "fd00:1::5/64", "gateway": "fd00:1::fe"},
            ],
            "routes": [{"dst": "198.51.100.0/24"}],
        }));
        let a =
            Addressing::from_ipam(result, &config(json!({"isDefaultGateway": true})), "x").unwrap();
        let gw4: IpAddr = "192.0.2.1".parse().unwrap();
        let gw6: IpAddr = "fd00:1::fe".parse().unwrap();
        assert_eq!(a.ips[0].gateway, Some(gw4));
        assert_eq!(a.ips[1].gateway, Some(gw6));
        assert_eq!(
            a.bridge_addresses,
            vec![
                "192.0.2.1/24".parse::<IpNet>().unwrap(),
                "fd00:1::fe/64".parse().unwrap()
            ]
        );
        assert!(a.forward_ipv4 && a.forward_ipv6);
        let dsts: Vec<String> = a.routes.iter().map(|r| r.dst.to_string()).collect();
        assert_eq!(dsts, ["198.51.100.0/24", "0.0.0.0/0", "::/0"]);
        assert_eq!(a.routes[1].gw, Some(gw4));
        assert_eq!(a.next_hop(&a.routes[0]), Some(gw4));
    }

    // SPEC: C3
    #[test]
    fn without_is_gateway_nothing_is_invented_and_ipams_default_route_is_kept() {
        let result = ipam(json!({
            "ips": [{"address": "192.0.2.5/24"}],
            "routes": [{"dst": "0.0.0.0/0"}],
        }));
        let a = Addressing::from_ipam(result.clone(), &config(json!({})), "x").unwrap();
        assert_eq!(a.ips[0].gateway, None);
        assert!(a.bridge_addresses.is_empty() && !a.forward_ipv4);
        assert_eq!(a.routes.len(), 1);
        assert_eq!(a.next_hop(&a.routes[0]), None);
        // isDefaultGateway with IPAM's own default route: no second one.
        let a =
            Addressing::from_ipam(result, &config(json!({"isDefaultGateway": true})), "x").unwrap();
        assert_eq!(a.routes.len(), 1);
        assert_eq!(a.next_hop(&a.routes[0]), "192.0.2.1".parse().ok());
    }

    #[test]
    fn no_addresses_or_a_gateway_that_is_the_containers_own_address_is_an_error() {
        let e = Addressing::from_ipam(ipam(json!({"ips": []})), &config(json!({})), "host-local")
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::IPAM_FAILED);
        assert!(e.msg.contains("\"host-local\""), "{e}");
        let e = Addressing::from_ipam(
            ipam(json!({"ips": [{"address": "192.0.2.1/24"}]})),
            &config(json!({"isGateway": true})),
            "static",
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
        assert!(e.msg.contains("192.0.2.1"), "{e}");
        let e = Addressing::from_ipam(
            ipam(json!({"ips": [{"address": "192.0.2.7/32"}]})),
            &config(json!({"isGateway": true})),
            "static",
        )
        .unwrap_err();
        assert!(e.msg.contains("no address for a gateway"), "{e}");
    }
}
