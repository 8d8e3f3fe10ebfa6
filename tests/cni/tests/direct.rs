//! The plugin under test run as a runtime runs it (environment + stdin, one process per call),
//! through the cases of the CNI notes §4: ADD, CHECK, ADD again, DEL, DEL again, DEL with the
//! namespace gone, DEL with an empty `CNI_NETNS`, a failed ADD, errors, reuse of an address.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use nsplumb_cni_tests::env::CniEnv;
use nsplumb_cni_tests::host;
use nsplumb_cni_tests::isolation;
use nsplumb_cni_tests::netns::NamedNetns;
use nsplumb_cni_tests::observe::{
    empty_netns_del, failed_add_leftovers, judge, supported_versions,
};
use nsplumb_cni_tests::plugin::{with_prev_result, Verb};
use nsplumb_cni_tests::prober::answers;
use nsplumb_cni_tests::reuse::DirectReuse;
use serde_json::Value;

/// The ADD result's container interface index and its first IP (SPEC C3's result shape).
fn container_ip(result: &Value, netns: &str) -> (usize, IpAddr) {
    let interfaces = result["interfaces"].as_array().expect("interfaces[]");
    let index = interfaces
        .iter()
        .position(|i| i["name"] == "eth0" && i["sandbox"] == netns)
        .unwrap_or_else(|| panic!("no eth0 with sandbox {netns} in {result}"));
    let ip = &result["ips"][0];
    assert_eq!(
        ip["interface"].as_u64(),
        Some(index as u64),
        "ips[0].interface must index the container interface: {result}"
    );
    let address: IpAddr = ip["address"]
        .as_str()
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("ips[0].address in {result}"));
    (index, address)
}

#[test]
fn version_answers_podmans_call_without_container_id() {
    if !isolation::enter("version_answers_podmans_call_without_container_id") {
        return;
    }
    // SPEC: C1
    let env = CniEnv::new().expect("CNI environment");
    let answer = env
        .plugin()
        .version_as_podman("1.0.0")
        .expect("run VERSION")
        .expect_result("VERSION as Podman 4.3 calls it (empty CNI_CONTAINERID)");
    let versions = supported_versions(&answer);
    for v in ["0.3.0", "0.3.1", "0.4.0", "1.0.0"] {
        assert!(
            versions.iter().any(|s| s == v),
            "supportedVersions lacks {v}: {answer}"
        );
    }
    judge(
        &env.plugin,
        "C1",
        "1.1.0 among supportedVersions",
        &versions,
        |v| v.iter().any(|s| s == "1.1.0"),
    );
}

#[test]
fn add_check_add_again_del_del_again() {
    if !isolation::enter("add_check_add_again_del_del_again") {
        return;
    }
    let env = CniEnv::new().expect("CNI environment");
    let network = env
        .network("nsp-direct", "nspd0", "192.0.2.0/24")
        .expect("network");
    let config = network.request_config();
    let plugin = env.plugin();
    let ns = NamedNetns::add("direct1").expect("netns");
    let netns = ns.path().display().to_string();

    // SPEC: C3 — ADD: bridge with the gateway, a veth whose container end is eth0 in the
    // namespace with the IPAM address, whose host end is a port of the bridge.
    let added = plugin
        .on(Verb::Add, "direct1", ns.path())
        .config(&config)
        .run()
        .expect("run ADD");
    let result = added.expect_result("ADD");
    println!("ADD took {:?}: {result}", added.elapsed);
    let (_, address) = container_ip(&result, &netns);
    assert!(
        "192.0.2.0/24"
            .parse::<ipnet::IpNet>()
            .unwrap()
            .contains(&address),
        "address {address} outside the range"
    );
    let eth0 = host::link(Some(&ns.path()), "eth0")
        .expect("read links")
        .expect("eth0 in the namespace");
    assert!(eth0.up, "eth0 must be up: {eth0:?}");
    assert!(
        eth0.addresses.contains(&format!("{address}/24")),
        "eth0 addresses {:?} lack {address}/24",
        eth0.addresses
    );
    let bridge = host::link(None, "nspd0")
        .expect("read links")
        .expect("bridge nspd0 in the host");
    assert!(
        bridge.addresses.contains(&"192.0.2.1/24".to_string()),
        "isGateway: bridge addresses {:?} lack 192.0.2.1/24",
        bridge.addresses
    );
    let ports = host::bridge_ports("nspd0").expect("bridge ports");
    assert_eq!(ports.len(), 1, "one host end on the bridge: {ports:?}");
    let routes = host::routes_v4(Some(&ns.path())).expect("routes");
    assert!(
        routes
            .iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "192.0.2.1"),
        "default route via the gateway missing: {routes:?}"
    );
    let reserved = host::reservations(&network.reservation_dir());
    assert_eq!(reserved.len(), 1, "one reservation: {reserved:?}");
    assert!(reserved[0].1.contains("direct1"), "{reserved:?}");
    let gw_ping = ns
        .exec(&["ping", "-c", "1", "-W", "2", "192.0.2.1"])
        .expect("ping");
    assert!(
        gw_ping.success(),
        "container -> gateway ping failed: {}",
        gw_ping.stdout
    );
    let IpAddr::V4(v4) = address else {
        panic!("IPv4 expected")
    };
    assert!(
        answers(v4, Duration::from_secs(5)).expect("probe"),
        "host -> container ping failed"
    );

    // SPEC: C7 — CHECK against the ADD's result.
    let with_prev = with_prev_result(&config, &result);
    let checked = plugin
        .on(Verb::Check, "direct1", ns.path())
        .config(&with_prev)
        .run()
        .expect("run CHECK");
    checked.expect_result("CHECK");

    // SPEC: C4 — CNI_IFNAME already in the namespace: an error, nothing changed.
    let before = (
        host::links(Some(&ns.path())).expect("links").len(),
        host::host_veths().expect("veths"),
        host::reservations(&network.reservation_dir()),
    );
    let again = plugin
        .on(Verb::Add, "direct1", ns.path())
        .config(&config)
        .run()
        .expect("run second ADD");
    assert_ne!(again.code, 0, "second ADD with eth0 present must fail");
    assert!(
        again.error_code().is_some() && again.error_msg().is_some(),
        "error JSON with code and msg on stdout: {}",
        again.stdout
    );
    println!(
        "second ADD: code {:?} msg {:?}",
        again.error_code(),
        again.error_msg()
    );
    let after = (
        host::links(Some(&ns.path())).expect("links").len(),
        host::host_veths().expect("veths"),
        host::reservations(&network.reservation_dir()),
    );
    assert_eq!(before, after, "a refused ADD changed something");

    // SPEC: C6 — DEL removes the veth and the reservation; a second DEL succeeds.
    for attempt in ["DEL", "second DEL"] {
        plugin
            .on(Verb::Del, "direct1", ns.path())
            .config(&with_prev)
            .run()
            .expect("run DEL")
            .expect_result(attempt);
        assert!(host::link(Some(&ns.path()), "eth0").unwrap().is_none());
        assert_eq!(host::host_veths().unwrap(), Vec::<String>::new());
        assert_eq!(host::reservations(&network.reservation_dir()), vec![]);
    }
}

#[test]
fn del_after_the_namespace_is_gone() {
    if !isolation::enter("del_after_the_namespace_is_gone") {
        return;
    }
    // SPEC: C6
    let env = CniEnv::new().expect("CNI environment");
    let network = env
        .network("nsp-gone", "nspg0", "192.0.2.0/24")
        .expect("network");
    let config = network.request_config();
    let plugin = env.plugin();
    let mut ns = NamedNetns::add("gone1").expect("netns");
    let result = plugin
        .on(Verb::Add, "gone1", ns.path())
        .config(&config)
        .run()
        .expect("run ADD")
        .expect_result("ADD");
    let path = ns.path();
    ns.delete().expect("delete the namespace");
    let del = plugin
        .on(Verb::Del, "gone1", &path)
        .config(&with_prev_result(&config, &result))
        .run()
        .expect("run DEL");
    del.expect_result("DEL with the namespace gone");
    assert_eq!(
        host::reservations(&network.reservation_dir()),
        vec![],
        "IPAM must release the address when the namespace is gone"
    );
    let left = host::Leftovers::wait_clean(&network.reservation_dir(), Duration::from_secs(5))
        .expect("leftovers");
    assert!(left.host_veths.is_empty(), "host ends left: {left:?}");
}

#[test]
fn del_with_an_empty_netns() {
    if !isolation::enter("del_with_an_empty_netns") {
        return;
    }
    // SPEC: C6
    let env = CniEnv::new().expect("CNI environment");
    let network = env
        .network("nsp-empty", "nspe0", "192.0.2.0/24")
        .expect("network");
    let observed = empty_netns_del(&env.plugin(), &network, &network.reservation_dir())
        .expect("DEL with an empty CNI_NETNS");
    assert_eq!(
        observed.exit_code, 0,
        "DEL with an empty CNI_NETNS must succeed"
    );
    assert!(
        !observed.reservation_left,
        "IPAM must release the address on DEL with an empty CNI_NETNS"
    );
    judge(
        &env.plugin,
        "C6",
        "the recorded host end deleted by DEL with an empty CNI_NETNS",
        &observed,
        |o| o.host_end_left.is_none(),
    );
}

#[test]
fn failed_add_leaves_nothing() {
    if !isolation::enter("failed_add_leaves_nothing") {
        return;
    }
    // SPEC: C4
    let env = CniEnv::new().expect("CNI environment");
    let mut network = env
        .network("nsp-fail", "nspf0", "192.0.2.0/24")
        .expect("network");
    let observed = failed_add_leftovers(&env.plugin(), &mut network).expect("failed ADD");
    judge(
        &env.plugin,
        "C4",
        "no veth, link or reservation left by an ADD that failed in IPAM",
        &observed,
        |o| o.left_nothing(),
    );
    let left = host::Leftovers::wait_clean(&network.reservation_dir(), Duration::from_secs(5))
        .expect("leftovers");
    assert!(left.is_clean(), "after the DELs: {left:?}");
}

#[test]
fn missing_container_id_is_error_4_on_stdout() {
    if !isolation::enter("missing_container_id_is_error_4_on_stdout") {
        return;
    }
    // SPEC: C10
    let env = CniEnv::new().expect("CNI environment");
    let network = env
        .network("nsp-err", "nspx0", "192.0.2.0/24")
        .expect("network");
    let ns = NamedNetns::add("err1").expect("netns");
    let out = env
        .plugin()
        .call(Verb::Add)
        .netns(ns.path())
        .ifname("eth0")
        .config(&network.request_config())
        .run()
        .expect("run ADD");
    assert_ne!(out.code, 0);
    assert_eq!(out.error_code(), Some(4), "stdout: {}", out.stdout);
    assert!(
        out.error_msg()
            .unwrap_or_default()
            .contains("CNI_CONTAINERID"),
        "the message must name the variable: {}",
        out.stdout
    );
    assert!(
        host::link(None, "nspx0").unwrap().is_none(),
        "nothing may be touched"
    );
}

#[test]
fn reused_address_answers_the_host_at_once() {
    if !isolation::enter("reused_address_answers_the_host_at_once") {
        return;
    }
    // SPEC: C5
    let env = CniEnv::new().expect("CNI environment");
    let network = env
        .network("nsp-reuse", "nspr0", "192.0.2.0/24")
        .expect("network");
    let plugin = env.plugin();
    let reuse = DirectReuse::new(&plugin, &network).expect("keeper");
    let observed = reuse
        .round(0, Ipv4Addr::new(192, 0, 2, 200))
        .expect("reuse round");
    assert!(
        observed.stale_entry_held(),
        "precondition: the host's entry named the previous MAC when the ADD began: {observed:?}"
    );
    judge(
        &env.plugin,
        "C5",
        "the host's ping of the reused address answered at once after ADD",
        &observed,
        |o| o.answered_at_once(),
    );
}
