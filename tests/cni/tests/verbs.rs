//! nsplumb-cni's verbs run as a runtime runs them (environment + stdin, one process per call),
//! each in a throwaway namespace: results in every version, error codes from the real binary,
//! masquerade, CHECK's differences, STATUS, GC, the announcer's life, concurrency. The
//! reference bridge plugin is not run here: these are nsplumb-cni's own behaviours.

use std::collections::BTreeSet;
use std::time::Duration;

use nsplumb_cni_tests::command::Cmd;
use nsplumb_cni_tests::conflist::{AddressRange, BridgeNetwork};
use nsplumb_cni_tests::env::CniEnv;
use nsplumb_cni_tests::host::{self, Leftovers};
use nsplumb_cni_tests::isolation;
use nsplumb_cni_tests::netns::NamedNetns;
use nsplumb_cni_tests::nsplumb_state;
use nsplumb_cni_tests::plugin::{with_prev_result, Outcome, Plugin, Verb};
use serde_json::{json, Value};

/// The plugin's environment and a network of it over 192.0.2.0/24.
fn network(name: &str, bridge: &str) -> (CniEnv, BridgeNetwork) {
    let env = CniEnv::new().expect("CNI environment");
    let network = env.network(name, bridge, "192.0.2.0/24").expect("network");
    (env, network)
}

fn add(plugin: &Plugin, id: &str, ns: &NamedNetns, config: &Value) -> Value {
    plugin
        .on(Verb::Add, id, ns.path())
        .config(config)
        .run()
        .expect("run ADD")
        .expect_result(&format!("ADD of {id}"))
}

fn del(plugin: &Plugin, id: &str, ns: &NamedNetns, config: &Value) {
    plugin
        .on(Verb::Del, id, ns.path())
        .config(config)
        .run()
        .expect("run DEL")
        .expect_result(&format!("DEL of {id}"));
}

/// Nothing of any container left once the test's namespaces are gone: host ends,
/// reservations, records, announcers, namespace mounts.
fn assert_nothing_left(network: &BridgeNetwork, namespaces: Vec<NamedNetns>) {
    drop(namespaces);
    let left = Leftovers::wait_clean(&network.reservation_dir(), Duration::from_secs(5))
        .expect("leftovers");
    assert!(left.is_clean(), "left behind: {left:?}");
}

/// The error a call must have answered: its code, and a message naming `names`.
fn assert_error(out: &Outcome, code: u64, names: &str, what: &str) {
    assert_ne!(out.code, 0, "{what}: must fail; stdout {}", out.stdout);
    assert_eq!(
        out.error_code(),
        Some(code),
        "{what}: stdout {}",
        out.stdout
    );
    let msg = out.error_msg().unwrap_or_default();
    assert!(
        msg.contains(names),
        "{what}: the message must name {names}: {msg}"
    );
}

#[test]
fn results_in_every_version_and_del_leaves_nothing() {
    if !isolation::enter("results_in_every_version_and_del_leaves_nothing") {
        return;
    }
    // SPEC: C1 — each result in its input's version and that version's shape; C3 — the result
    // lists the bridge, the host end and the container end, ips pointing at the container;
    // IPAM (Debian's host-local, which refuses 1.1.0) still works for a 1.1.0 input.
    let (env, mut network) = network("nsp-versions", "nspv0");
    let plugin = env.plugin();
    for (i, version) in ["0.3.1", "0.4.0", "1.0.0", "1.1.0"].into_iter().enumerate() {
        network.cni_version = version.into();
        let config = network.request_config();
        let id = format!("ver{i}");
        let ns = NamedNetns::add(&id).expect("netns");
        let result = add(&plugin, &id, &ns, &config);
        assert_eq!(result["cniVersion"], version, "{result}");
        let interfaces = result["interfaces"].as_array().expect("interfaces");
        assert_eq!(interfaces.len(), 3, "bridge, host end, container: {result}");
        assert_eq!(interfaces[0]["name"], "nspv0", "{result}");
        assert_eq!(interfaces[2]["name"], "eth0", "{result}");
        assert_eq!(
            interfaces[2]["sandbox"],
            ns.path().display().to_string(),
            "{result}"
        );
        let ip = &result["ips"][0];
        assert_eq!(ip["interface"], 2, "{result}");
        assert_eq!(ip["gateway"], "192.0.2.1", "{result}");
        // 0.3.x and 0.4.0 carry `ips[].version`; 1.0.0 dropped it.
        let has_version = ip.get("version").is_some();
        assert_eq!(has_version, version.starts_with('0'), "{version}: {result}");
        // The link the result describes is there, with its MAC.
        let eth0 = host::link(Some(&ns.path()), "eth0")
            .expect("links")
            .expect("eth0");
        assert_eq!(
            Some(eth0.mac.as_str()),
            interfaces[2]["mac"].as_str(),
            "{result}"
        );
        let with_prev = with_prev_result(&config, &result);
        if version != "0.3.1" {
            // SPEC: C7 — CHECK (from 0.4.0) succeeds on what ADD made.
            plugin
                .on(Verb::Check, &id, ns.path())
                .config(&with_prev)
                .run()
                .expect("run CHECK")
                .expect_result(&format!("CHECK at {version}"));
        }
        // SPEC: C6
        del(&plugin, &id, &ns, &with_prev);
    }
    assert_nothing_left(&network, Vec::new());
}

#[test]
fn errors_from_the_binary_name_what_is_wrong_and_touch_nothing() {
    if !isolation::enter("errors_from_the_binary_name_what_is_wrong_and_touch_nothing") {
        return;
    }
    // SPEC: C10, C2
    let (env, network) = network("nsp-errors", "nspx1");
    let plugin = env.plugin();
    let ns = NamedNetns::add("errs").expect("netns");
    let config = network.request_config();
    let with = |key: &str, value: Value| {
        let mut c = config.clone();
        c[key] = value;
        c
    };
    let cases: Vec<(&str, Value, Option<&str>, u64, &str)> = vec![
        (
            "unknown version",
            with("cniVersion", json!("0.2.0")),
            None,
            1,
            "0.2.0",
        ),
        (
            "unknown key",
            with("bridgeName", json!("x")),
            None,
            2,
            "bridgeName",
        ),
        (
            "link option without a core step",
            with("promiscMode", json!(true)),
            None,
            2,
            "promiscMode",
        ),
        (
            "bad value",
            with("isGateway", json!("yes")),
            None,
            7,
            "isGateway",
        ),
        ("bad mtu", with("mtu", json!(-1)), None, 7, "mtu"),
        ("not JSON", Value::Null, Some("{\"cniVersion\":"), 6, "JSON"),
    ];
    for (what, config, raw, code, names) in cases {
        let mut call = plugin.on(Verb::Add, "errs", ns.path()).config(&config);
        if let Some(raw) = raw {
            call = call.raw_stdin(raw);
        }
        let out = call.run().expect("run ADD");
        assert_error(&out, code, names, what);
        assert!(
            out.stdout.trim_start().starts_with('{'),
            "{what}: {}",
            out.stdout
        );
    }
    let out = plugin
        .on(Verb::Add, "errs", ns.path())
        .ifname("eth0/")
        .config(&config)
        .run()
        .expect("run ADD");
    assert_error(&out, 4, "CNI_IFNAME", "bad CNI_IFNAME");
    // Nothing touched by any of them.
    assert!(host::link(None, "nspx1").unwrap().is_none(), "bridge made");
    assert!(host::link(Some(&ns.path()), "eth0").unwrap().is_none());
    assert_nothing_left(&network, vec![ns]);
}

#[test]
fn a_failure_after_ipam_add_releases_the_reservation() {
    if !isolation::enter("a_failure_after_ipam_add_releases_the_reservation") {
        return;
    }
    // SPEC: C4 — IPAM gives two IPv4 addresses (two ranges), which nsplumb refuses after
    // IPAM ADD: the reservation is released, no bridge, no veth, no record.
    let (env, mut network) = network("nsp-two", "nspt0");
    network
        .ranges
        .push(AddressRange::new("198.51.100.0/24").expect("range"));
    let plugin = env.plugin();
    let ns = NamedNetns::add("two").expect("netns");
    let out = plugin
        .on(Verb::Add, "two", ns.path())
        .config(&network.request_config())
        .run()
        .expect("run ADD");
    assert_error(&out, 7, "two IPv4 addresses", "two addresses of one family");
    assert!(host::link(None, "nspt0").unwrap().is_none(), "bridge left");
    assert!(host::link(Some(&ns.path()), "eth0").unwrap().is_none());
    assert_nothing_left(&network, vec![ns]);
}

#[test]
fn masquerade_rules_come_with_add_and_go_with_del() {
    if !isolation::enter("masquerade_rules_come_with_add_and_go_with_del") {
        return;
    }
    // SPEC: C3, C6 — ipMasq: the container's address is masqueraded, and no longer after DEL.
    let (env, mut network) = network("nsp-masq", "nspm0");
    network.ip_masq = true;
    let config = network.request_config();
    let plugin = env.plugin();
    let ns = NamedNetns::add("masq").expect("netns");
    let result = add(&plugin, "masq", &ns, &config);
    let address = result["ips"][0]["address"]
        .as_str()
        .and_then(|a| a.split('/').next())
        .expect("address")
        .to_string();
    let ruleset = || {
        Cmd::new("list nftables", "nft")
            .args(["list", "ruleset"])
            .ok()
            .expect("nft list ruleset")
            .stdout
    };
    let rules = ruleset();
    assert!(
        rules.contains(&format!("ip saddr {address}")) && rules.contains("masquerade"),
        "no masquerade of {address}: {rules}"
    );
    del(&plugin, "masq", &ns, &with_prev_result(&config, &result));
    let rules = ruleset();
    assert!(
        !rules.contains(&format!("ip saddr {address}")),
        "rule left: {rules}"
    );
    assert_nothing_left(&network, vec![ns]);
}

#[test]
fn check_names_each_difference() {
    if !isolation::enter("check_names_each_difference") {
        return;
    }
    // SPEC: C7
    let (env, network) = network("nsp-check", "nspc0");
    let config = network.request_config();
    let plugin = env.plugin();
    let ns = NamedNetns::add("chk").expect("netns");
    let result = add(&plugin, "chk", &ns, &config);
    let with_prev = with_prev_result(&config, &result);
    let address = result["ips"][0]["address"].as_str().expect("address");
    let removed = ns
        .exec(&["ip", "addr", "del", address, "dev", "eth0"])
        .expect("ip addr del");
    assert!(removed.success(), "{}", removed.stderr);
    let out = plugin
        .on(Verb::Check, "chk", ns.path())
        .config(&with_prev)
        .run()
        .expect("run CHECK");
    let code = out.error_code().unwrap_or_default();
    assert_ne!(out.code, 0, "CHECK must fail: {}", out.stdout);
    assert!(code >= 100, "nsplumb's own code: {}", out.stdout);
    let address_only = address.split('/').next().unwrap_or_default();
    assert!(
        out.error_msg().unwrap_or_default().contains(address_only),
        "the message names the missing address: {}",
        out.stdout
    );
    del(&plugin, "chk", &ns, &with_prev);
    assert_nothing_left(&network, vec![ns]);
}

#[test]
fn status_answers_whether_an_add_could_succeed() {
    if !isolation::enter("status_answers_whether_an_add_could_succeed") {
        return;
    }
    // SPEC: C8
    let (env, mut network) = network("nsp-status", "nsps0");
    network.cni_version = "1.1.0".into();
    let plugin = env.plugin();
    let out = plugin
        .call(Verb::Status)
        .config(&network.request_config())
        .run()
        .expect("run STATUS");
    assert!(
        out.success(),
        "STATUS with host-local there: {}",
        out.stdout
    );
    let mut missing = network.request_config();
    missing["ipam"]["type"] = json!("no-such-ipam");
    let out = plugin
        .call(Verb::Status)
        .config(&missing)
        .run()
        .expect("run STATUS");
    assert_error(&out, 50, "no-such-ipam", "STATUS without its IPAM plugin");
    assert!(
        host::link(None, "nsps0").unwrap().is_none(),
        "STATUS made the bridge"
    );
}

#[test]
fn gc_releases_every_stale_attachment() {
    if !isolation::enter("gc_releases_every_stale_attachment") {
        return;
    }
    // SPEC: C9
    let (env, mut network) = network("nsp-gc", "nspgc0");
    network.cni_version = "1.1.0".into();
    network.ip_masq = true;
    let config = network.request_config();
    let plugin = env.plugin();
    let keep = NamedNetns::add("gc-keep").expect("netns");
    let stale = NamedNetns::add("gc-stale").expect("netns");
    let kept = add(&plugin, "gc-keep", &keep, &config);
    add(&plugin, "gc-stale", &stale, &config);
    assert_eq!(host::host_veths().unwrap().len(), 2);

    let mut gc = config.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "gc-keep", "ifname": "eth0"}]);
    plugin
        .call(Verb::Gc)
        .config(&gc)
        .run()
        .expect("run GC")
        .expect_result("GC");
    let veths = host::host_veths().unwrap();
    assert_eq!(veths.len(), 1, "the stale host end must go: {veths:?}");
    let reserved = host::reservations(&network.reservation_dir());
    assert_eq!(reserved.len(), 1, "{reserved:?}");
    assert!(reserved[0].1.contains("gc-keep"), "{reserved:?}");
    let records = nsplumb_state::records();
    assert!(
        records.iter().all(|r| !r.contains("gc-stale")) && !records.is_empty(),
        "{records:?}"
    );
    let rules = Cmd::new("list nftables", "nft")
        .args(["list", "ruleset"])
        .ok()
        .expect("nft")
        .stdout;
    assert!(
        !rules.contains("gc-stale"),
        "stale masquerade left: {rules}"
    );
    // The kept container still works.
    plugin
        .on(Verb::Check, "gc-keep", keep.path())
        .config(&with_prev_result(&config, &kept))
        .run()
        .expect("run CHECK")
        .expect_result("CHECK of the kept container");
    del(&plugin, "gc-keep", &keep, &with_prev_result(&config, &kept));
    assert_nothing_left(&network, vec![keep, stale]);
}

#[test]
fn add_returns_before_the_announcements_and_del_stops_them() {
    if !isolation::enter("add_returns_before_the_announcements_and_del_stops_them") {
        return;
    }
    // SPEC: C5 — three announcements 2 s apart: ADD returns long before the last, a detached
    // process sends the rest, and DEL stops it at once, even when the runtime runs plugins
    // with SIGTERM ignored (inherited across exec, as from a Go runtime that ignores it).
    // SAFETY: this isolated test process is single-threaded here and restores nothing.
    unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGTERM,
            nix::sys::signal::SigHandler::SigIgn,
        )
    }
    .expect("ignore SIGTERM");
    let (env, mut network) = network("nsp-ann", "nspa0");
    network
        .extra
        .insert("announce".into(), json!({"count": 3, "intervalMs": 2000}));
    let config = network.request_config();
    let plugin = env.plugin();
    let ns = NamedNetns::add("ann").expect("netns");
    let out = plugin
        .on(Verb::Add, "ann", ns.path())
        .config(&config)
        .run()
        .expect("run ADD");
    let result = out.expect_result("ADD");
    assert!(
        out.elapsed < Duration::from_secs(2),
        "ADD waited for the announcements: {:?}",
        out.elapsed
    );
    let announcers = nsplumb_state::announcers();
    assert_eq!(
        announcers.len(),
        1,
        "one announcing process: {announcers:?}"
    );
    let out = plugin
        .on(Verb::Del, "ann", ns.path())
        .config(&with_prev_result(&config, &result))
        .run()
        .expect("run DEL");
    out.expect_result("DEL");
    assert!(
        out.elapsed < Duration::from_secs(1),
        "DEL waited for the announcer instead of stopping it: {:?}",
        out.elapsed
    );
    assert_eq!(
        nsplumb_state::announcers(),
        Vec::<u32>::new(),
        "DEL must stop the announcer before it returns"
    );
    assert_nothing_left(&network, vec![ns]);
}

#[test]
fn fifty_concurrent_adds_and_dels() {
    if !isolation::enter("fifty_concurrent_adds_and_dels") {
        return;
    }
    // SPEC: C11
    const N: usize = 50;
    let (env, network) = network("nsp-many", "nspn0");
    let config = network.request_config();
    let plugin = env.plugin();
    let namespaces: Vec<NamedNetns> = (0..N)
        .map(|i| NamedNetns::add(&format!("many{i}")).expect("netns"))
        .collect();
    let results: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = namespaces
            .iter()
            .map(|ns| {
                let (plugin, config) = (&plugin, &config);
                s.spawn(move || {
                    plugin
                        .on(Verb::Add, ns.name(), ns.path())
                        .config(config)
                        .timeout(Duration::from_secs(120))
                        .run()
                        .expect("run ADD")
                        .expect_result(&format!("ADD of {}", ns.name()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("ADD thread"))
            .collect()
    });
    let addresses: BTreeSet<&str> = results
        .iter()
        .map(|r| r["ips"][0]["address"].as_str().expect("address"))
        .collect();
    assert_eq!(addresses.len(), N, "distinct addresses: {addresses:?}");
    let ports = host::bridge_ports("nspn0").expect("ports");
    assert_eq!(ports.len(), N, "one bridge port each: {ports:?}");
    for ns in &namespaces {
        let eth0 = host::link(Some(&ns.path()), "eth0").expect("links");
        assert!(eth0.is_some_and(|l| l.up), "{}: eth0 up", ns.name());
    }
    std::thread::scope(|s| {
        for (ns, result) in namespaces.iter().zip(&results) {
            let (plugin, config) = (&plugin, &config);
            s.spawn(move || {
                plugin
                    .on(Verb::Del, ns.name(), ns.path())
                    .config(&with_prev_result(config, result))
                    .timeout(Duration::from_secs(120))
                    .run()
                    .expect("run DEL")
                    .expect_result(&format!("DEL of {}", ns.name()))
            });
        }
    });
    assert_nothing_left(&network, namespaces);
}
