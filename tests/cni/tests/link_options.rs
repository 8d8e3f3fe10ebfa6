//! The bridge plugin's link options through nsplumb-cni run directly (SPEC L1–L5 via C2/C3):
//! each read back as an operator would, with `ip -d -j link` and `bridge -d -j link`.

use std::path::Path;
use std::time::Duration;

use nsplumb_cni_tests::conflist::{AddressRange, BridgeNetwork};
use nsplumb_cni_tests::env::CniEnv;
use nsplumb_cni_tests::host::{self, Leftovers};
use nsplumb_cni_tests::isolation;
use nsplumb_cni_tests::netns::NamedNetns;
use nsplumb_cni_tests::plugin::{with_prev_result, Plugin, Verb};
use serde_json::{json, Value};

/// The only port of `bridge`: the ADD's host end.
fn host_end(bridge: &str) -> String {
    let ports = host::bridge_ports(bridge).expect("bridge ports");
    assert_eq!(ports.len(), 1, "one host end on {bridge}: {ports:?}");
    ports[0].clone()
}

fn mtu_of(netns: Option<&Path>, name: &str) -> u64 {
    let link = host::link_details(netns, name).expect("ip -d -j link");
    link["mtu"]
        .as_u64()
        .unwrap_or_else(|| panic!("no mtu for {name}: {link}"))
}

/// DEL with the ADD's result, as a runtime sends it.
fn del_with_result(plugin: &Plugin, ns: &NamedNetns, id: &str, config: &Value, added: &Value) {
    plugin
        .on(Verb::Del, id, ns.path())
        .config(&with_prev_result(config, added))
        .run()
        .expect("run DEL")
        .expect_result("DEL");
}

fn assert_nothing_left(network: &BridgeNetwork) {
    let left = Leftovers::wait_clean(&network.reservation_dir(), Duration::from_secs(5))
        .expect("leftovers");
    let Leftovers {
        host_veths,
        reservations,
        records,
        ..
    } = &left;
    assert!(
        host_veths.is_empty() && reservations.is_empty() && records.is_empty(),
        "left behind: {left:?}"
    );
}

#[test]
fn mtu_hairpin_and_isolation_are_applied_and_checked() {
    if !isolation::enter("mtu_hairpin_and_isolation_are_applied_and_checked") {
        return;
    }
    let env = CniEnv::new().expect("CNI environment");
    let mut network = env
        .network("nsp-opts", "nspo0", "192.0.2.0/24")
        .expect("network");
    network.cni_version = "1.1.0".into();
    network.mtu = Some(1400);
    network.hairpin_mode = true;
    network.extra.insert("portIsolation".into(), json!(true));
    let config = network.request_config();
    let plugin = env.plugin();
    let ns = NamedNetns::add("opts1").expect("netns");
    let added = plugin
        .on(Verb::Add, "opts1", ns.path())
        .config(&config)
        .run()
        .expect("run ADD")
        .expect_result("ADD with mtu, hairpinMode and portIsolation");
    let port = host_end("nspo0");

    // SPEC: L1 — the container end, the host end and the bridge the ADD created (C3).
    assert_eq!(mtu_of(Some(&ns.path()), "eth0"), 1400, "container end");
    assert_eq!(mtu_of(None, &port), 1400, "host end {port}");
    assert_eq!(mtu_of(None, "nspo0"), 1400, "bridge made by the ADD");
    // SPEC: L6 — the 1.1.0 result carries each interface's MTU.
    let interfaces = added["interfaces"].as_array().expect("interfaces[]");
    let eth0 = interfaces
        .iter()
        .find(|i| i["name"] == "eth0")
        .unwrap_or_else(|| panic!("no eth0 in {added}"));
    assert_eq!(eth0["mtu"], 1400, "{added}");
    assert!(
        interfaces
            .iter()
            .any(|i| i["name"] == port && i["mtu"] == 1400),
        "host end {port} with mtu 1400 in {added}"
    );

    // SPEC: L2, L4 — the port's flags.
    let flags = host::bridge_port_details(&port).expect("bridge -d -j link");
    assert_eq!(flags["hairpin"], true, "hairpinMode: {flags}");
    assert_eq!(flags["isolated"], true, "portIsolation: {flags}");

    // SPEC: C7 — CHECK agrees with what ADD made, and names a difference.
    let with_prev = with_prev_result(&config, &added);
    plugin
        .on(Verb::Check, "opts1", ns.path())
        .config(&with_prev)
        .run()
        .expect("run CHECK")
        .expect_result("CHECK right after ADD");
    host::run_bridge(&["link", "set", "dev", &port, "hairpin", "off"]).expect("hairpin off");
    let mut asks_1300 = with_prev.clone();
    asks_1300["mtu"] = json!(1300);
    let checked = plugin
        .on(Verb::Check, "opts1", ns.path())
        .config(&asks_1300)
        .run()
        .expect("run CHECK");
    assert!(!checked.success(), "CHECK must fail: {}", checked.stdout);
    let msg = checked.error_msg().unwrap_or_default();
    assert!(msg.contains("hairpinMode asks true"), "{msg}");
    assert!(msg.contains("mtu asks 1300"), "{msg}");

    del_with_result(&plugin, &ns, "opts1", &config, &added);
    assert_nothing_left(&network);
}

#[test]
fn vlan_on_a_kernel_without_vlan_filtering_fails_leaving_nothing() {
    if !isolation::enter("vlan_on_a_kernel_without_vlan_filtering_fails_leaving_nothing") {
        return;
    }
    // SPEC: L3, C3, C4 — this project's kernels lack CONFIG_BRIDGE_VLAN_FILTERING.
    let env = CniEnv::new().expect("CNI environment");
    let mut network = env
        .network("nsp-vlan", "nspv0", "192.0.2.0/24")
        .expect("network");
    network.is_gateway = false;
    network.routes.clear();
    network.extra.insert("vlan".into(), json!(10));
    let config = network.request_config();
    let plugin = env.plugin();
    let ns = NamedNetns::add("vlan1").expect("netns");
    let failed = plugin
        .on(Verb::Add, "vlan1", ns.path())
        .config(&config)
        .run()
        .expect("run ADD");
    assert!(
        !failed.success(),
        "ADD with a VLAN succeeded: {}",
        failed.stdout
    );
    println!("ADD with vlan 10: {}", failed.stdout);
    let msg = failed.error_msg().unwrap_or_default().to_lowercase();
    assert!(
        msg.contains("vlan filtering") || msg.contains("vlan_filtering"),
        "the error must say the kernel lacks VLAN filtering: {}",
        failed.stdout
    );
    let container: Vec<String> = host::links(Some(&ns.path()))
        .expect("container links")
        .into_iter()
        .map(|l| l.name)
        .filter(|n| n != "lo")
        .collect();
    assert!(container.is_empty(), "left in the namespace: {container:?}");
    assert!(
        host::link(None, "nspv0").expect("links").is_none(),
        "the bridge this ADD created must go with it"
    );
    assert_nothing_left(&network);
}

#[test]
fn enabledad_waits_until_the_address_is_no_longer_tentative() {
    if !isolation::enter("enabledad_waits_until_the_address_is_no_longer_tentative") {
        return;
    }
    // SPEC: L5
    let env = CniEnv::new().expect("CNI environment");
    let mut network = env
        .network("nsp-dad", "nspd6", "192.0.2.0/24")
        .expect("network");
    network
        .ranges
        .push(AddressRange::new("fd00:db8:5::/64").expect("range"));
    network.extra.insert("enabledad".into(), json!(true));
    let config = network.request_config();
    let plugin = env.plugin();
    let ns = NamedNetns::add("dad1").expect("netns");
    let added = plugin
        .on(Verb::Add, "dad1", ns.path())
        .config(&config)
        .run()
        .expect("run ADD")
        .expect_result("ADD with enabledad");
    let v6: Vec<Value> = host::ipv6_addresses(Some(&ns.path()), "eth0")
        .expect("ip -6 addr")
        .into_iter()
        .filter(|a| a["scope"] == "global")
        .collect();
    assert_eq!(v6.len(), 1, "one global IPv6 address on eth0: {v6:?}");
    assert!(
        v6[0].get("tentative").is_none() && v6[0].get("dadfailed").is_none(),
        "DAD must be over when ADD returns: {}",
        v6[0]
    );
    let dad_on = ns
        .exec(&["sysctl", "-n", "net.ipv6.conf.eth0.accept_dad"])
        .expect("sysctl");
    assert_eq!(dad_on.stdout.trim(), "1", "accept_dad on eth0");
    del_with_result(&plugin, &ns, "dad1", &config, &added);
    assert_nothing_left(&network);
}
