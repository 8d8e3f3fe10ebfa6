//! nsplumb-cni killed mid-call (SPEC R1 for the plugin, issue #16 item 2): ADD and DEL are
//! crashed at each of the flows' crash points, and SIGKILLed at random moments over many
//! rounds; each time the runtime's next call (DEL, as a runtime does after a failed ADD)
//! reconciles, and once the containers are gone nothing is left.

use std::time::{Duration, Instant};

use nsplumb_cni_tests::conflist::BridgeNetwork;
use nsplumb_cni_tests::env::CniEnv;
use nsplumb_cni_tests::error::HarnessError;
use nsplumb_cni_tests::host::{self, Leftovers};
use nsplumb_cni_tests::isolation;
use nsplumb_cni_tests::netns::NamedNetns;
use nsplumb_cni_tests::plugin::{Plugin, Verb};
use rand::Rng;
use serde_json::Value;

/// The crash points of the host-state flows (`NSPLUMB_TEST_ABORT_AT`).
const CRASH_POINTS: [&str; 4] = [
    "before-kernel-attach",
    "after-kernel-attach",
    "before-kernel-detach",
    "after-kernel-detach",
];

/// A full DEL, as the runtime retries it: must succeed.
fn del(plugin: &Plugin, id: &str, ns: &NamedNetns, config: &Value) {
    plugin
        .on(Verb::Del, id, ns.path())
        .config(config)
        .run()
        .expect("run DEL")
        .expect_result(&format!("DEL of {id} after a crash"));
}

/// After every container's DEL: no host end, reservation, record or announcer left.
fn assert_nothing_left(network: &BridgeNetwork, round: &str) {
    let left = Leftovers::wait_clean(&network.reservation_dir(), Duration::from_secs(5))
        .expect("leftovers");
    assert!(left.is_clean(), "{round}: left behind: {left:?}");
}

#[test]
fn a_crash_at_each_point_is_reconciled_by_the_next_call() {
    if !isolation::enter("a_crash_at_each_point_is_reconciled_by_the_next_call") {
        return;
    }
    // SPEC: R1, C4, C6
    let env = CniEnv::new().expect("CNI environment");
    let network = env
        .network("nsp-crash", "nspk0", "192.0.2.0/24")
        .expect("network");
    let config = network.request_config();
    let plugin = env.plugin();
    for point in CRASH_POINTS {
        let ns = NamedNetns::add("crash").expect("netns");
        let detach_point = point.contains("detach");
        let add = plugin.on(Verb::Add, "crash", ns.path()).config(&config);
        let add = if detach_point {
            add
        } else {
            add.env("NSPLUMB_TEST_ABORT_AT", point)
        };
        let out = add.run().expect("run ADD");
        assert_eq!(out.success(), detach_point, "{point}: ADD {}", out.stderr);
        assert_eq!(
            out.stderr.contains(point),
            !detach_point,
            "{point}: the ADD crashed there: {}",
            out.stderr
        );
        if detach_point {
            let out = plugin
                .on(Verb::Del, "crash", ns.path())
                .config(&config)
                .env("NSPLUMB_TEST_ABORT_AT", point)
                .run()
                .expect("run DEL");
            assert!(
                !out.success() && out.stderr.contains(point),
                "{point}: the DEL must have crashed there: {}",
                out.stderr
            );
        }
        del(&plugin, "crash", &ns, &config);
        drop(ns);
        assert_nothing_left(&network, point);
        // The next ADD of the same container works after the crash.
        let ns = NamedNetns::add("crash").expect("netns");
        plugin
            .on(Verb::Add, "crash", ns.path())
            .config(&config)
            .run()
            .expect("run ADD")
            .expect_result(&format!("ADD after a crash at {point}"));
        del(&plugin, "crash", &ns, &config);
        drop(ns);
        assert_nothing_left(&network, point);
    }
}

#[test]
fn sigkill_at_random_moments_of_add_and_del_leaves_nothing() {
    if !isolation::enter("sigkill_at_random_moments_of_add_and_del_leaves_nothing") {
        return;
    }
    // SPEC: R1, C4, C6
    const ROUNDS: usize = 60;
    let env = CniEnv::new().expect("CNI environment");
    let network = env
        .network("nsp-kill", "nspk1", "192.0.2.0/24")
        .expect("network");
    let config = network.request_config();
    let plugin = env.plugin();
    // A neighbour that stays: the bridge is shared while rounds crash around it.
    let keeper = NamedNetns::add("keeper").expect("netns");
    plugin
        .on(Verb::Add, "keeper", keeper.path())
        .config(&config)
        .run()
        .expect("run ADD")
        .expect_result("ADD of the keeper");
    // The kill moments span one whole ADD of this machine and plugin (measured, not assumed:
    // a fixed window leaves most ADDs of a faster plugin unkilled), and a little after it.
    let probe = NamedNetns::add("probe").expect("netns");
    let started = Instant::now();
    plugin
        .on(Verb::Add, "probe", probe.path())
        .config(&config)
        .run()
        .expect("run ADD")
        .expect_result("ADD of the probe");
    let add_window = started
        .elapsed()
        .mul_f64(1.25)
        .max(Duration::from_millis(5));
    del(&plugin, "probe", &probe, &config);
    drop(probe);
    let mut rng = rand::rng();
    let (mut killed_adds, mut killed_dels) = (0, 0);
    for round in 0..ROUNDS {
        let id = format!("kill{round}");
        let ns = NamedNetns::add(&id).expect("netns");
        let add_after = rng.random_range(Duration::ZERO..add_window);
        match plugin
            .on(Verb::Add, &id, ns.path())
            .config(&config)
            .timeout(add_after)
            .run()
        {
            Err(HarnessError::Timeout { .. }) => killed_adds += 1,
            Ok(out) => assert!(out.success(), "round {round}: ADD {}", out.stdout),
            Err(e) => panic!("round {round}: ADD: {e}"),
        }
        // A DEL killed at a random moment too, then the one that completes.
        let del_after = Duration::from_micros(rng.random_range(0..40_000));
        match plugin
            .on(Verb::Del, &id, ns.path())
            .config(&config)
            .timeout(del_after)
            .run()
        {
            Err(HarnessError::Timeout { .. }) => killed_dels += 1,
            Ok(out) => assert!(out.success(), "round {round}: DEL {}", out.stdout),
            Err(e) => panic!("round {round}: DEL: {e}"),
        }
        del(&plugin, &id, &ns, &config);
        drop(ns);
        // Only the keeper's host end, reservation and record remain.
        let veths = host::host_veths().expect("veths");
        assert_eq!(veths.len(), 1, "round {round}: host ends {veths:?}");
        let reserved = host::reservations(&network.reservation_dir());
        assert_eq!(
            reserved.len(),
            1,
            "round {round}: reservations {reserved:?}"
        );
    }
    println!("killed {killed_adds} ADDs and {killed_dels} DELs of {ROUNDS} rounds");
    assert!(
        killed_adds > ROUNDS / 4 && killed_dels > 0,
        "the kill moments missed the calls: {killed_adds} ADDs, {killed_dels} DELs killed"
    );
    let keeper_ping = keeper
        .exec(&["ping", "-c", "1", "-W", "2", "192.0.2.1"])
        .expect("ping");
    assert!(keeper_ping.success(), "the keeper lost its network");
    del(&plugin, "keeper", &keeper, &config);
    drop(keeper);
    assert_nothing_left(&network, "the end");
}
