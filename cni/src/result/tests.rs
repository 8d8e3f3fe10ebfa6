use super::*;
use crate::addressing::AssignedIp;
use crate::verb::Verb;
use rscni_types::types::Route;
use serde_json::json;

fn link(name: &str, mac: &str, mtu: u32) -> LinkReport {
    LinkReport {
        name: name.into(),
        mac: mac.parse().unwrap(),
        mtu,
    }
}

fn outcome() -> AttachOutcome {
    AttachOutcome {
        bridge: link("cni0", "02:00:00:00:00:01", 1500),
        host_end: link("veth0a1b2c3d", "02:00:00:00:00:02", 1500),
        container: link("eth0", "02:00:00:00:00:03", 1500),
        gateway_link: None,
    }
}

fn config(extra: serde_json::Value) -> NetworkConfig {
    let mut conf = json!({"cniVersion": "1.1.0", "name": "net1", "type": "nsplumb-cni"});
    conf.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    NetworkConfig::parse(conf.as_object().unwrap(), Verb::Add).unwrap()
}

/// IPv4 and IPv6 addresses, a default route and one with the 1.1.0 attributes, IPAM's DNS.
fn addressing() -> Addressing {
    Addressing {
        ips: vec![
            AssignedIp {
                address: "192.0.2.5/24".parse().unwrap(),
                gateway: "192.0.2.1".parse().ok(),
            },
            AssignedIp {
                address: "fd00:1::5/64".parse().unwrap(),
                gateway: "fd00:1::1".parse().ok(),
            },
        ],
        routes: vec![
            Route {
                dst: "0.0.0.0/0".parse().unwrap(),
                gw: "192.0.2.1".parse().ok(),
                mtu: None,
                advmss: None,
                priority: None,
                table: None,
                scope: None,
            },
            Route {
                dst: "198.51.100.0/24".parse().unwrap(),
                gw: None,
                mtu: Some(1400),
                advmss: Some(1360),
                priority: Some(100),
                table: Some(254),
                scope: Some(0),
            },
        ],
        dns: Some(Dns {
            nameservers: vec!["192.0.2.53".into()],
            domain: Some("example.org".into()),
            search: None,
            options: None,
        }),
        ..Addressing::default()
    }
}

fn add(prev: Option<&CNIResult>, config: &NetworkConfig) -> CNIResult {
    add_result(
        prev,
        &outcome(),
        &addressing(),
        config,
        Path::new("/run/netns/c1"),
    )
}

// SPEC: C1, C3 (the result in each version's shape: 0.3.x/0.4.0 with ips[].version, 1.0.0
// without it, 1.1.0 with interfaces[].mtu and the route attributes)
#[test]
fn the_result_is_written_in_each_versions_shape() {
    let result = add(None, &config(json!({})));
    for version in ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
        let rendered = render(&result, version.parse().unwrap());
        assert_eq!(rendered["cniVersion"], version);
        insta::assert_json_snapshot!(format!("add_result_{version}"), rendered);
    }
}

// SPEC: C1 (what each shape may and may not hold, independent of the snapshots)
#[test]
fn fields_appear_only_in_the_versions_that_define_them() {
    let result = add(None, &config(json!({})));
    let v031 = render(&result, SpecVersion::new(0, 3, 1));
    assert_eq!(v031["ips"][0]["version"], "4");
    assert_eq!(v031["ips"][1]["version"], "6");
    assert!(v031["interfaces"][0].get("mtu").is_none());
    assert!(v031["routes"][1].get("priority").is_none());
    let v100 = render(&result, SpecVersion::new(1, 0, 0));
    assert!(v100["ips"][0].get("version").is_none());
    assert!(v100["interfaces"][2].get("mtu").is_none());
    assert!(v100["routes"][1].get("mtu").is_none());
    let v110 = render(&result, SpecVersion::new(1, 1, 0));
    assert_eq!(v110["interfaces"][2]["mtu"], 1500);
    assert_eq!(v110["interfaces"][2]["sandbox"], "/run/netns/c1");
    assert_eq!(v110["routes"][1]["priority"], 100);
    assert!(v110["ips"][0].get("version").is_none());
}

// SPEC: C3 (interfaces [bridge, host end, container end]; IPs point at the container end)
#[test]
fn interfaces_are_bridge_host_end_container_and_ips_point_at_the_container() {
    let result = add(None, &config(json!({})));
    let names: Vec<&str> = result.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["cni0", "veth0a1b2c3d", "eth0"]);
    assert_eq!(result.interfaces[0].sandbox, None);
    assert_eq!(result.interfaces[1].sandbox, None);
    assert_eq!(
        result.interfaces[2].sandbox.as_deref(),
        Some("/run/netns/c1")
    );
    assert!(result.ips.iter().all(|ip| ip.interface == Some(2)));

    let mut with_vlan = outcome();
    with_vlan.gateway_link = Some(link("cni0.100", "02:00:00:00:00:04", 1500));
    let result = add_result(
        None,
        &with_vlan,
        &addressing(),
        &config(json!({})),
        Path::new("/x"),
    );
    assert_eq!(result.interfaces[3].name, "cni0.100");
    assert!(result.ips.iter().all(|ip| ip.interface == Some(2)));
}

// SPEC: C3 (merged with prevResult: its entries first, our indices shifted)
#[test]
fn a_previous_result_is_kept_and_our_entries_follow_it() {
    let prev: CNIResult = serde_json::from_value(json!({
        "cniVersion": "0.4.0",
        "interfaces": [{"name": "lo"}, {"name": "macvlan0", "sandbox": "/run/netns/c1"}],
        "ips": [{"version": "4", "address": "198.51.100.9/24", "interface": 1}],
        "routes": [{"dst": "198.51.100.0/24"}],
        "dns": {"nameservers": ["198.51.100.53"]}
    }))
    .unwrap();
    let result = add(Some(&prev), &config(json!({})));
    let names: Vec<&str> = result.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["lo", "macvlan0", "cni0", "veth0a1b2c3d", "eth0"]);
    let indices: Vec<Option<u32>> = result.ips.iter().map(|ip| ip.interface).collect();
    assert_eq!(indices, [Some(1), Some(4), Some(4)]);
    assert_eq!(result.routes.len(), 3);
    // IPAM's DNS replaces the previous one; with none from IPAM or config, the previous stays.
    assert_eq!(result.dns.unwrap().nameservers, ["192.0.2.53"]);
    let mut no_dns = addressing();
    no_dns.dns = None;
    let result = add_result(
        Some(&prev),
        &outcome(),
        &no_dns,
        &config(json!({})),
        Path::new("/x"),
    );
    assert_eq!(result.dns.unwrap().nameservers, ["198.51.100.53"]);
}

// SPEC: C3 (the configuration's dns overrides the IPAM plugin's)
#[test]
fn the_configurations_dns_overrides_ipams() {
    let result = add(
        None,
        &config(json!({"dns": {"nameservers": ["198.51.100.1"]}})),
    );
    let dns = result.dns.unwrap();
    assert_eq!(dns.nameservers, ["198.51.100.1"]);
    assert_eq!(dns.domain, None);
}

// SPEC: C3 (IPAM answers in any supported version are read)
#[test]
fn ipam_results_of_every_version_are_read() {
    // host-local 1.1.1's answer at 0.3.1, and the same at 1.0.0 and 1.1.0.
    for answer in [
        json!({"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "192.0.2.7/24", "gateway": "192.0.2.1"}], "routes": [{"dst": "0.0.0.0/0"}], "dns": {}}),
        json!({"cniVersion": "1.0.0", "ips": [{"address": "192.0.2.7/24", "gateway": "192.0.2.1"}], "routes": [{"dst": "0.0.0.0/0"}]}),
        json!({"cniVersion": "1.1.0", "ips": [{"address": "192.0.2.7/24", "gateway": "192.0.2.1"}], "routes": [{"dst": "0.0.0.0/0", "priority": 5}], "dns": null}),
    ] {
        let parsed = parse(answer.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.ips.len(), 1, "{answer}");
        assert_eq!(parsed.ips[0].address.to_string(), "192.0.2.7/24");
        assert_eq!(parsed.routes[0].dst.to_string(), "0.0.0.0/0");
    }
    assert!(parse(br#"{"ips": [{"address": "192.0.2.7"}]}"#).is_err());
}
