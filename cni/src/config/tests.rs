use super::*;
use serde_json::json;
use std::time::Duration;

/// A request configuration: the common keys plus `extra`.
fn conf(version: &str, extra: Value) -> Map<String, Value> {
    let mut conf = json!({"cniVersion": version, "name": "net1", "type": "nsplumb-cni"});
    let object = conf.as_object_mut().unwrap();
    object.extend(extra.as_object().unwrap().clone());
    object.clone()
}

fn parse(extra: Value) -> Result<NetworkConfig, CniError> {
    NetworkConfig::parse(&conf("1.0.0", extra), Verb::Add)
}

fn error(extra: Value) -> CniError {
    parse(extra).unwrap_err()
}

// SPEC: C2 (the bridge plugin's defaults)
#[test]
fn defaults_are_the_bridge_plugins() {
    let c = parse(json!({})).unwrap();
    assert_eq!(c.bridge, "cni0");
    assert!(!c.is_gateway && !c.is_default_gateway && !c.force_address && !c.ip_masq);
    assert!(!c.hairpin_mode && !c.promisc_mode && !c.enable_dad && !c.port_isolation);
    assert_eq!((c.mtu, c.vlan), (None, None));
    assert!(c.vlan_trunk.is_empty());
    assert!(c.preserve_default_vlan);
    assert_eq!(c.ipam, None);
    assert_eq!(c.dns, None);
    assert_eq!(c.announce.count, 3);
    assert_eq!(c.announce.interval, Duration::from_secs(1));
    assert!(c.sysctls.is_empty());
    assert_eq!(
        (c.name.as_str(), c.plugin_type.as_str()),
        ("net1", "nsplumb-cni")
    );
    assert_eq!(c.version, SpecVersion::new(1, 0, 0));
}

// SPEC: C2 (a bridge plugin conflist works with "type" changed)
#[test]
fn podmans_bridge_configuration_is_read_with_the_same_meaning() {
    // The plugin object Podman 4.3 generates for a bridge network, as the request config.
    let c = NetworkConfig::parse(
        &conf(
            "0.4.0",
            json!({
                "bridge": "cni-podman1",
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "ranges": [[{"subnet": "10.89.0.0/24", "gateway": "10.89.0.1"}]]
                },
                "capabilities": {"ips": true}
            }),
        ),
        Verb::Add,
    )
    .unwrap();
    assert_eq!(c.bridge, "cni-podman1");
    assert!(c.is_gateway && c.ip_masq && c.hairpin_mode);
    assert_eq!(
        c.ipam,
        Some(IpamConfig {
            plugin: "host-local".into()
        })
    );
    assert_eq!(c.capabilities.get("ips"), Some(&true));
}

// SPEC: C2
#[test]
fn every_bridge_key_is_read() {
    let c = parse(json!({
        "bridge": "br-test",
        "isDefaultGateway": true,
        "forceAddress": true,
        "mtu": 9000,
        "promiscMode": true,
        "vlan": 100,
        "vlanTrunk": [{"id": 101}, {"minID": 200, "maxID": 202}, {"id": 201}],
        "preserveDefaultVlan": false,
        "enabledad": true,
        "portIsolation": true,
        "ipMasqBackend": "nftables",
        "macspoofchk": false,
        "disableContainerInterface": false,
        "dns": {"nameservers": ["192.0.2.53"], "search": ["example.org"]},
    }))
    .unwrap();
    assert_eq!(c.bridge, "br-test");
    assert!(
        c.is_default_gateway && c.is_gateway,
        "isDefaultGateway implies isGateway"
    );
    assert!(c.force_address && c.promisc_mode && c.enable_dad && c.port_isolation);
    assert_eq!(c.mtu, Some(9000));
    assert_eq!(c.vlan, Some(100));
    assert_eq!(c.vlan_trunk, vec![101, 200, 201, 202]);
    assert!(!c.preserve_default_vlan);
    let dns = c.dns.unwrap();
    assert_eq!(dns.nameservers, vec!["192.0.2.53".to_string()]);
    assert_eq!(dns.search, Some(vec!["example.org".to_string()]));
}

// SPEC: C2, C10 (code 2 naming the key and the value)
#[test]
fn a_key_neither_plugin_knows_is_error_2_naming_key_and_value() {
    let e = error(json!({"bridgee": "br0"}));
    assert_eq!(e.code, ErrorCode::UNSUPPORTED_FIELD);
    assert_eq!(
        e.msg,
        "invalid network configuration: key \"bridgee\" = \"br0\": not a configuration key of \
         nsplumb-cni or of the bridge plugin"
    );
    for (extra, key) in [
        (json!({"dns": {"server": "x"}}), "dns.server"),
        (json!({"announce": {"every": 1}}), "announce.every"),
        (
            json!({"vlanTrunk": [{"id": 5, "tag": 1}]}),
            "vlanTrunk[0].tag",
        ),
    ] {
        let e = error(extra);
        assert_eq!(e.code, ErrorCode::UNSUPPORTED_FIELD, "{key}");
        assert!(e.msg.contains(&format!("\"{key}\"")), "{key}: {e}");
    }
}

// SPEC: C2 (bridge keys nsplumb does not implement: error 2 when asked for)
#[test]
fn unimplemented_bridge_keys_are_error_2_when_turned_on() {
    for (key, value) in [
        ("macspoofchk", json!(true)),
        ("disableContainerInterface", json!(true)),
        ("ipMasqBackend", json!("iptables")),
    ] {
        let e = error(json!({ key: value }));
        assert_eq!(e.code, ErrorCode::UNSUPPORTED_FIELD, "{key}");
        assert!(
            e.msg.contains(&format!("\"{key}\" = {value}")),
            "{key}: {e}"
        );
    }
    let e = error(json!({"ipMasqBackend": "pf"}));
    assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
}

// SPEC: C2, C10 (code 7 naming the key and the value)
#[test]
fn a_known_key_with_a_bad_value_is_error_7_naming_key_and_value() {
    for (extra, says) in [
        (
            json!({"isGateway": "true"}),
            "key \"isGateway\" = \"true\": must be true or false",
        ),
        (
            json!({"mtu": 67}),
            "key \"mtu\" = 67: must be 0 (the default) or from 68 to 65535",
        ),
        (json!({"mtu": 65536}), "key \"mtu\" = 65536"),
        (
            json!({"mtu": 1500.5}),
            "key \"mtu\" = 1500.5: must be an integer",
        ),
        (
            json!({"bridge": "a-bridge-name-too-long"}),
            "key \"bridge\" = \"a-bridge-name-too-long\": is 22 bytes long",
        ),
        (json!({"bridge": 5}), "key \"bridge\" = 5: must be a string"),
        (
            json!({"vlan": 5000}),
            "invalid VLAN ID 5000 (must be between 0 and 4094)",
        ),
        (
            json!({"vlan": -100}),
            "invalid VLAN ID -100 (must be between 0 and 4094)",
        ),
        (
            json!({"ipam": {"type": "../../bin/sh"}}),
            "key \"ipam.type\" = \"../../bin/sh\"",
        ),
        (
            json!({"ipam": {"subnet": "192.0.2.0/24"}}),
            "key \"ipam.type\": is required",
        ),
        (
            json!({"dns": {"nameservers": ["not-an-ip"]}}),
            "key \"dns.nameservers[0]\" = \"not-an-ip\"",
        ),
        (
            json!({"runtimeConfig": {"mac": "01:00:5e:00:00:01"}}),
            "key \"runtimeConfig.mac\" = \"01:00:5e:00:00:01\": must be unicast",
        ),
        (
            json!({"args": {"cni": {"mac": "nope"}}}),
            "key \"args.cni.mac\" = \"nope\"",
        ),
        (
            json!({"capabilities": {"ips": "yes"}}),
            "key \"capabilities.ips\" = \"yes\"",
        ),
        (
            json!({"prevResult": {"ips": [{"address": "bad"}]}}),
            "key \"prevResult\"",
        ),
        (
            json!({"cni.dev/valid-attachments": [{"containerID": "a"}]}),
            "key \"cni.dev/valid-attachments\"",
        ),
    ] {
        let e = error(extra.clone());
        assert_eq!(e.code, ErrorCode::INVALID_CONFIG, "{extra}: {e}");
        assert!(e.msg.contains(says), "{extra}: {e}");
    }
}

// SPEC: C2 (hairpin and promisc together is an error as in the bridge plugin)
#[test]
fn hairpin_and_promisc_together_is_an_error() {
    let e = error(json!({"hairpinMode": true, "promiscMode": true}));
    assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
    assert!(
        e.msg
            .contains("cannot set hairpin mode and promiscuous mode"),
        "{e}"
    );
}

// SPEC: C2, L3 (the bridge plugin's vlanTrunk cases and wordings)
#[test]
fn vlan_trunks_follow_the_bridge_plugin() {
    assert!(parse(json!({"vlanTrunk": []}))
        .unwrap()
        .vlan_trunk
        .is_empty());
    assert_eq!(
        parse(json!({"vlanTrunk": [{"id": 101, "minID": 200, "maxID": 201}]}))
            .unwrap()
            .vlan_trunk,
        vec![101, 200, 201]
    );
    for (trunk, says) in [
        (
            json!([{"minID": 100}]),
            "minID and maxID should be configured simultaneously, maxID is missing",
        ),
        (
            json!([{"maxID": 100}]),
            "minID and maxID should be configured simultaneously, minID is missing",
        ),
        (
            json!([{"minID": -1, "maxID": 100}]),
            "incorrect trunk minID parameter",
        ),
        (
            json!([{"minID": 5000, "maxID": 100}]),
            "incorrect trunk minID parameter",
        ),
        (
            json!([{"minID": 100, "maxID": 5000}]),
            "incorrect trunk maxID parameter",
        ),
        (json!([{"id": 5000}]), "incorrect trunk id parameter"),
        (json!([{"id": -1}]), "incorrect trunk id parameter"),
        (json!([{"id": 0}]), "incorrect trunk id parameter"),
        (
            json!([{"minID": 300, "maxID": 200}]),
            "minID is greater than maxID in trunk parameter",
        ),
        (json!([{}]), "a trunk entry needs id, or minID and maxID"),
        (json!({"id": 1}), "must be an array"),
    ] {
        let e = error(json!({ "vlanTrunk": trunk.clone() }));
        assert_eq!(e.code, ErrorCode::INVALID_CONFIG, "{trunk}");
        assert!(e.msg.contains(says), "{trunk}: {e}");
    }
    assert_eq!(parse(json!({"vlan": 0})).unwrap().vlan, None);
    assert_eq!(parse(json!({"vlan": 4094})).unwrap().vlan, Some(4094));
}

// SPEC: C2, V7, V8
#[test]
fn announce_takes_count_and_interval_with_the_specs_ranges_and_wordings() {
    let c = parse(json!({"announce": {"count": 0, "intervalMs": 250}})).unwrap();
    assert_eq!(c.announce.count, 0);
    assert_eq!(c.announce.interval, Duration::from_millis(250));
    let c = parse(json!({"announce": {"count": 1}})).unwrap();
    assert_eq!(
        (c.announce.count, c.announce.interval),
        (1, Duration::from_secs(1))
    );

    let e = error(json!({"announce": {"count": 4}}));
    assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
    assert!(
        e.msg
            .contains("announce count 4 is not in the range 0 to 3"),
        "{e}"
    );
    for ms in [99, 2001, -5] {
        let e = error(json!({"announce": {"intervalMs": ms}}));
        assert!(
            e.msg.contains(&format!(
                "announce interval (announce.intervalMs) {ms} ms is not in the range 100 to 2000 ms"
            )),
            "{e}"
        );
    }
}

// SPEC: C2, V6
#[test]
fn sysctls_are_held_to_v6() {
    let c = parse(json!({"sysctls": {
        "net.ipv4.conf.IFNAME.arp_notify": "1",
        "net.ipv6.conf.IFNAME.accept_ra": "0",
    }}))
    .unwrap();
    let paths: Vec<String> = c.sysctls.iter().map(|s| s.path_for("eth0")).collect();
    assert_eq!(
        paths,
        [
            "net/ipv4/conf/eth0/arp_notify",
            "net/ipv6/conf/eth0/accept_ra"
        ]
    );
    for (key, value, says) in [
        (
            "net.ipv4.conf.eth0.arp_notify",
            json!("1"),
            "placeholder IFNAME",
        ),
        (
            "kernel.ipv4.conf.IFNAME.x",
            json!("1"),
            "must start with 'net.'",
        ),
        ("net.ipv4.conf.IFNAME.../..", json!("1"), "'/'"),
        ("net.ipv4.conf.IFNAME.x", json!(""), "must not be empty"),
        ("net.ipv4.conf.IFNAME.x", json!(1), "must be a string"),
    ] {
        let e = error(json!({"sysctls": { key: value.clone() }}));
        assert_eq!(e.code, ErrorCode::INVALID_CONFIG, "{key}");
        assert!(
            e.msg.contains(&format!("\"sysctls.{key}\" = {value}")),
            "{key}: {e}"
        );
        assert!(e.msg.contains(says), "{key}: {e}");
    }
}

// SPEC: C2 (every problem in one error)
#[test]
fn several_problems_are_reported_together_and_unknown_keys_make_it_code_2() {
    let e = error(json!({"mtu": "big", "vlan": 9999, "colour": "blue"}));
    assert_eq!(e.code, ErrorCode::UNSUPPORTED_FIELD);
    assert!(
        e.msg
            .starts_with("invalid network configuration (3 problems): "),
        "{e}"
    );
    for part in ["\"colour\"", "\"mtu\"", "\"vlan\""] {
        assert!(e.msg.contains(part), "{part}: {e}");
    }
    let e = error(json!({"mtu": "big", "vlan": 9999}));
    assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
}

// SPEC: C2 (the spec's own keys)
#[test]
fn the_specs_keys_are_read_and_reserved_ones_accepted() {
    let c = NetworkConfig::parse(
        &conf(
            "1.1.0",
            json!({
                "cniVersions": ["1.0.0", "1.1.0"],
                "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}],
                "cni.dev/attachments": [{"containerID": "c1", "ifname": "eth0"}],
                "cni.dev/something-later": {"x": 1},
                "prevResult": {
                    "cniVersion": "1.1.0",
                    "interfaces": [{"name": "lo0"}],
                    "ips": [{"address": "198.51.100.2/24", "interface": 0}]
                },
                "runtimeConfig": {"ips": ["192.0.2.9/24"], "portMappings": []},
                "args": {"cni": {"ips": ["192.0.2.9"]}, "org.example": {"x": 1}},
            }),
        ),
        Verb::Gc,
    )
    .unwrap();
    assert_eq!(
        c.valid_attachments,
        Some(vec![Attachment {
            container_id: "c1".into(),
            ifname: "eth0".into()
        }])
    );
    assert_eq!(c.prev_result.unwrap().ips.len(), 1);
    // The older key alone is read too.
    let c =
        NetworkConfig::parse(&conf("1.1.0", json!({"cni.dev/attachments": []})), Verb::Gc).unwrap();
    assert_eq!(c.valid_attachments, Some(vec![]));
}

// SPEC: C2, C10 (name and type are required; name follows the spec's rule)
#[test]
fn name_and_type_are_required() {
    let mut c = conf("1.0.0", json!({}));
    c.remove("name");
    c.remove("type");
    let e = NetworkConfig::parse(&c, Verb::Add).unwrap_err();
    assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
    assert!(
        e.msg.contains("key \"name\": is required") && e.msg.contains("key \"type\": is required"),
        "{e}"
    );
    c.insert("name".into(), json!("bad name"));
    c.insert("type".into(), json!("nsplumb-cni"));
    let e = NetworkConfig::parse(&c, Verb::Add).unwrap_err();
    assert!(e.msg.contains("key \"name\" = \"bad name\""), "{e}");
}

// SPEC: C1, C10 (code 1 before any other problem)
#[test]
fn the_version_is_checked_first() {
    let mut c = conf("0.2.0", json!({"colour": 1}));
    let e = NetworkConfig::parse(&c, Verb::Add).unwrap_err();
    assert_eq!(e.code, ErrorCode::INCOMPATIBLE_VERSION);
    c.remove("cniVersion");
    let e = NetworkConfig::parse(&c, Verb::Add).unwrap_err();
    assert_eq!(e.code, ErrorCode::INCOMPATIBLE_VERSION);
    assert!(e.msg.contains("no cniVersion"), "{e}");
    c.insert("cniVersion".into(), json!(1.0));
    let e = NetworkConfig::parse(&c, Verb::Add).unwrap_err();
    assert_eq!(e.code, ErrorCode::DECODING_FAILURE);
    let e = NetworkConfig::parse(&conf("1.0.0", json!({})), Verb::Gc).unwrap_err();
    assert_eq!(e.code, ErrorCode::INCOMPATIBLE_VERSION);
}

// SPEC: C2 (null is an absent key, as for Go's encoding/json)
#[test]
fn null_values_are_absent_keys() {
    let c = parse(json!({
        "bridge": null, "isGateway": null, "mtu": null, "vlan": null, "vlanTrunk": null,
        "ipam": null, "dns": null, "preserveDefaultVlan": null, "prevResult": null,
    }))
    .unwrap();
    assert_eq!(c.bridge, "cni0");
    assert!(c.preserve_default_vlan);
    assert_eq!(
        (c.mtu, c.vlan, c.ipam, c.dns, c.prev_result),
        (None, None, None, None, None)
    );
    assert_eq!(parse(json!({"ipam": {}})).unwrap().ipam, None);
    assert_eq!(parse(json!({"ipam": {"type": ""}})).unwrap().ipam, None);
    assert_eq!(parse(json!({"dns": {}})).unwrap().dns, None);
    assert_eq!(parse(json!({"mtu": 0})).unwrap().mtu, None);
}

// SPEC: C2 (promiscMode, and a VLAN gateway link, have no step here: code 2 naming the key;
// the link options of L1–L5 are applied, not refused)
#[test]
fn only_the_options_without_a_step_are_refused() {
    let e = parse(json!({"promiscMode": true}))
        .unwrap()
        .refuse_unapplied_link_options()
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::UNSUPPORTED_FIELD);
    assert!(e.msg.contains("\"promiscMode\" = true"), "{}", e.msg);
    assert!(e.msg.contains("promiscuous"), "{}", e.msg);
    let e = parse(json!({"isGateway": true, "vlan": 10}))
        .unwrap()
        .refuse_unapplied_link_options()
        .unwrap_err();
    assert!(e.msg.contains("cni0.10"), "{}", e.msg);
    parse(json!({
        "mtu": 1400, "hairpinMode": true, "portIsolation": true, "enabledad": true,
        "vlan": 10, "vlanTrunk": [{"id": 20}], "preserveDefaultVlan": false,
    }))
    .unwrap()
    .refuse_unapplied_link_options()
    .unwrap();
}
