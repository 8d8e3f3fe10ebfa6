//! The plugin under test behind containerd 1.6's `ctr run --cni` (go-cni): the test's daemon,
//! its conflist as the only one in (the private) `/etc/cni/net.d`.

use std::time::Duration;

use nsplumb_cni_tests::containerd::Containerd;
use nsplumb_cni_tests::env::CniEnv;
use nsplumb_cni_tests::host::{self, Leftovers};
use nsplumb_cni_tests::isolation;

#[test]
fn ctr_run_cni_pings_the_gateway_and_stop_leaves_nothing() {
    if !isolation::enter("ctr_run_cni_pings_the_gateway_and_stop_leaves_nothing") {
        return;
    }
    // SPEC: C3
    let env = CniEnv::new().expect("CNI environment");
    let network = env
        .network("nsp-ctr", "nspctr0", "192.0.2.0/24")
        .expect("network");
    network
        .write_conflist(&env.conf_dir, "10-nsp-ctr.conflist")
        .expect("install conflist");
    let mut containerd = Containerd::start(&env).expect("start containerd");
    let gateway = network.gateway_v4();
    let mut task = containerd
        .run_cni(
            "c1",
            &format!("ping -c 1 -W 2 {gateway} && echo PING-OK; exec sleep 600"),
        )
        .expect("ctr run --cni");
    assert!(
        task.wait_for_output("PING-OK", Duration::from_secs(30)),
        "the container did not reach the gateway; ctr output: {}; containerd log: {}",
        task.output(),
        containerd.log()
    );
    let during = Leftovers::collect(&network.reservation_dir()).expect("state");
    assert_eq!(during.host_veths.len(), 1, "one host end: {during:?}");
    assert_eq!(during.reservations.len(), 1, "one reservation: {during:?}");
    assert_eq!(
        host::bridge_ports("nspctr0").expect("ports"),
        during.host_veths,
        "the host end is a port of the bridge"
    );

    // Stop: ctr's foreground run deletes the task, then runs DEL (with an empty CNI_NETNS).
    containerd.kill_task("c1").expect("ctr task kill");
    let status = task.wait(Duration::from_secs(30)).expect("ctr run ends");
    println!("ctr run ended with {status} after the task was killed");
    // SPEC: C6
    let left = Leftovers::wait_clean(&network.reservation_dir(), Duration::from_secs(10))
        .expect("leftovers");
    assert!(left.is_clean(), "left after the task stopped: {left:?}");
    assert_eq!(
        containerd.tasks().expect("ctr task ls"),
        Vec::<String>::new()
    );
    assert_eq!(
        containerd.containers().expect("ctr containers ls"),
        Vec::<String>::new(),
        "ctr run --rm removes the container"
    );
}
