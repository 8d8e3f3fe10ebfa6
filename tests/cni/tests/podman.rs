//! The plugin under test behind Podman 4.3's CNI backend (libcni 1.1.2): a hand-written
//! conflist of its type in the test's `network_config_dir`, containers from a busybox rootfs.

use std::net::Ipv4Addr;
use std::time::Duration;

use nsplumb_cni_tests::conflist::BridgeNetwork;
use nsplumb_cni_tests::env::CniEnv;
use nsplumb_cni_tests::host::{self, Leftovers};
use nsplumb_cni_tests::isolation;
use nsplumb_cni_tests::observe::judge;
use nsplumb_cni_tests::podman::{Podman, RunOptions};
use nsplumb_cni_tests::prober::answers;
use nsplumb_cni_tests::reuse::podman_round;

/// Podman on a network `name` over 192.0.2.0/24 (bridge `bridge`), checked to use CNI.
fn podman_on(env: &CniEnv, name: &str, bridge: &str) -> (Podman, BridgeNetwork) {
    let network = env.network(name, bridge, "192.0.2.0/24").expect("network");
    (podman_with(env, &network), network)
}

/// Podman with `network` installed, checked to use CNI.
fn podman_with(env: &CniEnv, network: &BridgeNetwork) -> Podman {
    let podman = Podman::new(env).expect("podman sandbox");
    podman.add_network(network).expect("install conflist");
    assert_eq!(
        podman.network_backend().expect("podman info"),
        "cni",
        "Podman must use its CNI backend"
    );
    podman
}

/// `podman run --rm` of a container named `name` that pings the network's gateway once; it
/// must succeed.
fn ping_gateway_once(podman: &Podman, network: &BridgeNetwork, name: &str) -> Duration {
    let gateway = network.gateway_v4().to_string();
    let done = podman
        .run_once(&RunOptions::sleeper(name, &network.name).command(&[
            "/bin/ping",
            "-c",
            "1",
            "-W",
            "2",
            &gateway,
        ]))
        .expect("podman run");
    assert!(
        done.success(),
        "ping of the gateway from container {name} failed: {} {}",
        done.stdout,
        done.stderr
    );
    done.elapsed
}

fn assert_nothing_left(podman: &Podman, network: &BridgeNetwork) {
    let left = Leftovers::wait_clean(&network.reservation_dir(), Duration::from_secs(5))
        .expect("read leftovers");
    assert!(left.is_clean(), "left after podman rm: {left:?}");
    assert_eq!(
        podman.containers().expect("podman ps"),
        Vec::<String>::new()
    );
}

#[test]
fn podman_run_pings_the_gateway() {
    if !isolation::enter("podman_run_pings_the_gateway") {
        return;
    }
    // SPEC: C3
    let env = CniEnv::new().expect("CNI environment");
    let (podman, network) = podman_on(&env, "nsp-pm-gw", "nsppm0");
    let elapsed = ping_gateway_once(&podman, &network, "gw");
    println!("podman run --rm (ping gateway) took {:?}", elapsed);
    // SPEC: C6
    assert_nothing_left(&podman, &network);
}

#[test]
fn podman_conflist_with_hairpin_mode_works() {
    if !isolation::enter("podman_conflist_with_hairpin_mode_works") {
        return;
    }
    // SPEC: C2, L2 — `"hairpinMode": true`, as `podman network create` 4.3 writes it.
    let env = CniEnv::new().expect("CNI environment");
    let mut network = env
        .network("nsp-pm-hp", "nsppm5", "192.0.2.0/24")
        .expect("network");
    network.hairpin_mode = true;
    let podman = podman_with(&env, &network);
    ping_gateway_once(&podman, &network, "hairpin");
    assert_nothing_left(&podman, &network);
}

#[test]
fn podman_ip_and_mac_arrive_as_cni_args() {
    if !isolation::enter("podman_ip_and_mac_arrive_as_cni_args") {
        return;
    }
    // SPEC: C3
    let env = CniEnv::new().expect("CNI environment");
    let (podman, network) = podman_on(&env, "nsp-pm-args", "nsppm1");
    let ip = Ipv4Addr::new(192, 0, 2, 50);
    let mac = "02:00:5e:00:01:50";
    podman
        .start(&RunOptions::sleeper("static", &network.name).ip(ip).mac(mac))
        .expect("podman run --ip --mac-address");
    assert_eq!(podman.mac_of("static").expect("MAC"), mac);
    assert_eq!(podman.ipv4_of("static").expect("IPv4"), ip);
    assert!(podman
        .ping_from("static", network.gateway_v4())
        .expect("ping"));
    assert!(
        answers(ip, Duration::from_secs(5)).expect("probe"),
        "the host must reach {ip}"
    );
    let reserved = host::reservations(&network.reservation_dir());
    assert_eq!(
        reserved.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        vec!["192.0.2.50"],
        "host-local must reserve the requested address"
    );
    podman.rm("static").expect("podman rm");
    // SPEC: C6
    assert_nothing_left(&podman, &network);
}

#[test]
fn podman_two_containers_reach_each_other() {
    if !isolation::enter("podman_two_containers_reach_each_other") {
        return;
    }
    // SPEC: C3
    let env = CniEnv::new().expect("CNI environment");
    let (podman, network) = podman_on(&env, "nsp-pm-two", "nsppm2");
    for name in ["one", "two"] {
        podman
            .start(&RunOptions::sleeper(name, &network.name))
            .expect("podman run");
    }
    let one = podman.ipv4_of("one").expect("IPv4 of one");
    let two = podman.ipv4_of("two").expect("IPv4 of two");
    assert_ne!(one, two, "distinct addresses");
    assert!(podman.ping_from("one", two).expect("ping"), "one -> two");
    assert!(podman.ping_from("two", one).expect("ping"), "two -> one");
    assert_eq!(
        host::bridge_ports("nsppm2").expect("ports").len(),
        2,
        "two host ends on the bridge"
    );
    podman.stop("one").expect("podman stop");
    podman.rm("one").expect("podman rm");
    podman.rm("two").expect("podman rm");
    // SPEC: C6
    assert_nothing_left(&podman, &network);
}

#[test]
fn podman_rm_leaves_nothing() {
    if !isolation::enter("podman_rm_leaves_nothing") {
        return;
    }
    // SPEC: C6
    let env = CniEnv::new().expect("CNI environment");
    let (podman, network) = podman_on(&env, "nsp-pm-rm", "nsppm3");
    for name in ["r1", "r2", "r3"] {
        podman
            .start(&RunOptions::sleeper(name, &network.name))
            .expect("podman run");
    }
    let during = Leftovers::collect(&network.reservation_dir()).expect("state");
    assert_eq!(during.host_veths.len(), 3, "three host ends: {during:?}");
    assert_eq!(
        during.reservations.len(),
        3,
        "three reservations: {during:?}"
    );
    assert_eq!(during.netns.len(), 3, "three netns mounts: {during:?}");
    assert_eq!(
        during.cni_cache.len(),
        3,
        "three cached results: {during:?}"
    );
    for name in ["r1", "r2", "r3"] {
        podman.rm(name).expect("podman rm");
    }
    assert_nothing_left(&podman, &network);
}

#[test]
fn podman_reused_address_answers_the_host_at_once() {
    if !isolation::enter("podman_reused_address_answers_the_host_at_once") {
        return;
    }
    // SPEC: C5
    let env = CniEnv::new().expect("CNI environment");
    let (podman, network) = podman_on(&env, "nsp-pm-reuse", "nsppm4");
    let observed = podman_round(&podman, &network.name, 0, Ipv4Addr::new(192, 0, 2, 200))
        .expect("reuse round");
    assert!(
        observed.stale_entry_held(),
        "precondition: the host's entry named the previous MAC when podman run began: \
         {observed:?}"
    );
    judge(
        &env.plugin,
        "C5",
        "the host's ping of the reused address answered at once after podman run",
        &observed,
        |o| o.answered_at_once(),
    );
    // SPEC: C6
    assert_nothing_left(&podman, &network);
}
