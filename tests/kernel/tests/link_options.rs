//! The link option requests of `LinuxBackend` (SPEC L1–L4), and the DAD flags L5 reads,
//! against the real kernel, each read back with iproute2 (`ip -d -j link`, `bridge -d -j
//! link`, `bridge -j vlan show`, `ip -j addr`) and with nsplumb's own reads (L6). In
//! namespaces each test creates, each test in its own isolated child process (see
//! `nsplumb_kernel_tests::privilege`).
//!
//! VLANs need a kernel with bridge VLAN filtering; this project's machines lack it
//! (`CONFIG_BRIDGE_VLAN_FILTERING`): there the test asserts EOPNOTSUPP and that nothing
//! changed, elsewhere that the VLANs are set. Which kernel it is comes from the link read.

use ipnet::IpNet;
use nsplumb_core::{
    BackendError, BackendExt, BridgeOptions, Errno, IfIndex, NetnsRef, Op, PortFlags,
    PortFlagsChange, VethRequest, VlanSpec,
};
use nsplumb_kernel_tests::fixture::{output_in, run_in, veth_request, Fixture};
use nsplumb_kernel_tests::privilege::enter;
use nsplumb_kernel_tests::state::{observe, Observe, State};
use nsplumb_linux::LinuxBackend;
use serde_json::Value;
use std::time::{Duration, Instant};

/// `ip -d -j link show dev NAME` in `ns`: the one link's object.
fn ip_link(ns: &NetnsRef, name: &str) -> Value {
    let out = run_in(ns, &["ip", "-d", "-j", "link", "show", "dev", name]);
    let v: Value = serde_json::from_str(&out).expect("ip -j output");
    v[0].clone()
}

/// `bridge -d -j link show dev NAME` in `ns`: the port's object.
fn bridge_link(ns: &NetnsRef, name: &str) -> Value {
    let out = run_in(ns, &["bridge", "-d", "-j", "link", "show", "dev", name]);
    let v: Value = serde_json::from_str(&out).expect("bridge -j output");
    v[0].clone()
}

/// `bridge -compressvlans -j vlan show` in `ns` (what `ListPortVlans` asks the kernel).
fn bridge_vlans(ns: &NetnsRef) -> Value {
    let out = run_in(ns, &["bridge", "-compressvlans", "-j", "vlan", "show"]);
    serde_json::from_str(&out).expect("bridge -j output")
}

/// What a failed link option request must leave as it was: links, addresses, routes and IPv6
/// sysctls (nsplumb's read), plus each link's MTU, master, VLAN filtering and port flags and the
/// VLAN tables as iproute2 shows them. Port states and timers are left out (they move alone).
async fn snapshot(b: &LinuxBackend, roles: &[(&str, &NetnsRef)]) -> (State, Vec<String>) {
    let opts = Observe {
        ignore_port_state: true,
        ignore_dad_timing: true,
        ..Observe::default()
    };
    let state = observe(b, roles, &opts).await;
    let mut shown = Vec::new();
    for (role, ns) in roles {
        let out = run_in(ns, &["ip", "-d", "-j", "link", "show"]);
        let links: Value = serde_json::from_str(&out).expect("ip -j output");
        for l in links.as_array().expect("a list of links") {
            let info = &l["linkinfo"];
            shown.push(format!(
                "{role} {} mtu={} master={} vlan_filtering={} hairpin={} isolated={}",
                l["ifname"],
                l["mtu"],
                l["master"],
                info["info_data"]["vlan_filtering"],
                info["info_slave_data"]["hairpin"],
                info["info_slave_data"]["isolated"],
            ));
        }
        shown.push(format!("{role} vlans {}", bridge_vlans(ns)));
    }
    (state, shown)
}

fn mtu_of(ns: &NetnsRef, name: &str) -> u64 {
    ip_link(ns, name)["mtu"].as_u64().expect("mtu")
}

fn link_exists(ns: &NetnsRef, name: &str) -> bool {
    output_in(ns, &["ip", "link", "show", "dev", name])
        .status
        .success()
}

fn assert_names(e: &BackendError, op: Op, errno: Errno, object: &str) {
    assert_eq!((e.op, e.errno), (op, errno), "{e}");
    assert!(e.object.contains(object), "{e}");
}

const NO_VLAN_FILTERING: &str =
    "the kernel lacks bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)";

/// Bridge `br0` in `ns` and a veth whose host end `vh0` is its port; the peer `eth0` in `peer`.
async fn bridge_with_port(
    b: &LinuxBackend,
    ns: &NetnsRef,
    peer: &NetnsRef,
    options: BridgeOptions,
) -> (IfIndex, IfIndex) {
    let br = b.create_bridge(ns, "br0", options).await.unwrap();
    let request = VethRequest {
        host_master: Some(br),
        host_up: true,
        ..veth_request("vh0", peer, "eth0", None)
    };
    let pair = b.create_veth(ns, &request).await.unwrap();
    (br, pair.host_index)
}

// SPEC: L1
// SPEC: L6
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtu_is_set_at_creation_and_after_within_the_kernels_limits() {
    if !enter("mtu_is_set_at_creation_and_after_within_the_kernels_limits") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    let peer = fx.netns("c").await;
    // Both ends of a veth get the MTU at creation, the peer in its own namespace too.
    let request = VethRequest {
        mtu: Some(1400),
        ..veth_request("vh0", &peer, "eth0", None)
    };
    let pair = b.create_veth(&ns, &request).await.unwrap();
    assert_eq!((mtu_of(&ns, "vh0"), mtu_of(&peer, "eth0")), (1400, 1400));
    assert_eq!(
        b.link_by_index(&ns, pair.host_index).await.unwrap().mtu,
        1400
    );
    assert_eq!(
        b.link_by_index(&peer, pair.peer_index).await.unwrap().mtu,
        1400
    );
    // Changed later: read back by iproute2 and by the link read.
    b.set_mtu(&peer, pair.peer_index, 9000).await.unwrap();
    assert_eq!(mtu_of(&peer, "eth0"), 9000);
    assert_eq!(b.link_by_name(&peer, "eth0").await.unwrap().mtu, 9000);
    for mtu in [68, 65535] {
        b.set_mtu(&peer, pair.peer_index, mtu).await.unwrap();
        assert_eq!(mtu_of(&peer, "eth0"), u64::from(mtu));
    }
    // Outside 68..=65535: EINVAL naming the link, the kernel's reason, nothing changed.
    for (mtu, why) in [(67, "minimum"), (65536, "maximum")] {
        let e = b.set_mtu(&peer, pair.peer_index, mtu).await.unwrap_err();
        assert_names(&e, Op::SetMtu, Errno::EINVAL, "eth0");
        assert!(e.detail.contains(why), "{e}");
        assert_eq!(mtu_of(&peer, "eth0"), 65535);
    }
    let e = b.set_mtu(&peer, 999_999, 1500).await.unwrap_err();
    assert_names(&e, Op::SetMtu, Errno::ENODEV, "ifindex 999999");
    // A bridge created with an MTU; one out of range is refused and nothing is created.
    let options = BridgeOptions {
        mtu: Some(1400),
        ..Default::default()
    };
    let br = b.create_bridge(&ns, "br0", options).await.unwrap();
    assert_eq!(mtu_of(&ns, "br0"), 1400);
    assert_eq!(b.link_by_index(&ns, br).await.unwrap().mtu, 1400);
    let options = BridgeOptions {
        mtu: Some(67),
        ..Default::default()
    };
    let e = b.create_bridge(&ns, "br1", options).await.unwrap_err();
    assert_names(&e, Op::CreateBridge, Errno::EINVAL, "br1");
    assert!(!link_exists(&ns, "br1"));
}

/// What the simulator must model of a bridge's MTU: it follows the smallest port until it is
/// changed, and an MTU given at creation does not count as a change.
// SPEC: L1
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_mtu_follows_its_ports_until_it_is_changed() {
    if !enter("a_bridge_mtu_follows_its_ports_until_it_is_changed") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    let peer = fx.netns("c").await;
    let options = BridgeOptions {
        mtu: Some(1400),
        ..Default::default()
    };
    let (br, port) = bridge_with_port(&b, &ns, &peer, options).await;
    // The first port (1500) overrides the MTU given at creation.
    assert_eq!(mtu_of(&ns, "br0"), 1500);
    b.set_mtu(&ns, port, 1300).await.unwrap();
    assert_eq!(b.link_by_index(&ns, br).await.unwrap().mtu, 1300);
    // Changed on the bridge: it stays, above its port's, whatever the port does.
    b.set_mtu(&ns, br, 2000).await.unwrap();
    b.set_mtu(&ns, port, 1280).await.unwrap();
    assert_eq!(mtu_of(&ns, "br0"), 2000);
    assert_eq!(b.link_by_index(&ns, br).await.unwrap().mtu, 2000);
}

/// Why L1 wants 1280 with IPv6: below it the kernel drops the link's IPv6 state, and raising
/// the MTU again does not bring the addresses back.
// SPEC: L1
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mtu_below_1280_takes_the_ipv6_addresses_away() {
    if !enter("an_mtu_below_1280_takes_the_ipv6_addresses_away") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    let pair = b
        .create_veth(&ns, &veth_request("vh0", &ns, "vp0", None))
        .await
        .unwrap();
    let ix = pair.host_index;
    let v6: IpNet = "fd00::10/64".parse().unwrap();
    let v4: IpNet = "192.0.2.10/24".parse().unwrap();
    b.add_address(&ns, ix, v6, true).await.unwrap();
    b.add_address(&ns, ix, v4, true).await.unwrap();
    let families = |addrs: &[nsplumb_core::AddrInfo]| {
        let v6 = addrs
            .iter()
            .filter(|a| matches!(a.net, IpNet::V6(_)))
            .count();
        (addrs.len() - v6, v6)
    };
    b.set_mtu(&ns, ix, 1279).await.unwrap();
    let addrs = b.list_addresses(&ns, Some(ix)).await.unwrap();
    assert_eq!(families(&addrs), (1, 0), "{addrs:?}");
    let e = b
        .read_sysctl(&ns, "net/ipv6/conf/vh0/disable_ipv6")
        .await
        .unwrap_err();
    assert_eq!(e.errno, Errno::ENOENT, "{e}");
    let e = b.add_address(&ns, ix, v6, true).await.unwrap_err();
    assert_eq!(e.errno, Errno::EINVAL, "{e}");
    b.set_mtu(&ns, ix, 1500).await.unwrap();
    let addrs = b.list_addresses(&ns, Some(ix)).await.unwrap();
    assert!(!addrs.iter().any(|a| a.net == v6), "{addrs:?}");
}

// SPEC: L2
// SPEC: L4
// SPEC: L6
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hairpin_and_isolated_are_set_on_a_bridge_port_and_read_back() {
    if !enter("hairpin_and_isolated_are_set_on_a_bridge_port_and_read_back") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    let peer = fx.netns("c").await;
    let (br, port) = bridge_with_port(&b, &ns, &peer, Default::default()).await;
    let flags = |hairpin, isolated| PortFlags { hairpin, isolated };
    let read = || async {
        let kernel = bridge_link(&ns, "vh0");
        let slave = &ip_link(&ns, "vh0")["linkinfo"]["info_slave_data"];
        let from_ip = (slave["hairpin"].as_bool(), slave["isolated"].as_bool());
        let from_bridge = (kernel["hairpin"].as_bool(), kernel["isolated"].as_bool());
        assert_eq!(from_ip, from_bridge);
        let ours = b.link_by_index(&ns, port).await.unwrap().port_flags;
        (from_bridge, ours)
    };
    assert_eq!(
        read().await,
        ((Some(false), Some(false)), Some(flags(false, false)))
    );
    let change = |hairpin, isolated| PortFlagsChange { hairpin, isolated };
    b.set_port_flags(&ns, port, change(Some(true), None))
        .await
        .unwrap();
    assert_eq!(
        read().await,
        ((Some(true), Some(false)), Some(flags(true, false)))
    );
    // `None` leaves a flag as it is.
    b.set_port_flags(&ns, port, change(None, Some(true)))
        .await
        .unwrap();
    assert_eq!(
        read().await,
        ((Some(true), Some(true)), Some(flags(true, true)))
    );
    b.set_port_flags(&ns, port, change(Some(false), Some(false)))
        .await
        .unwrap();
    assert_eq!(
        read().await,
        ((Some(false), Some(false)), Some(flags(false, false)))
    );
    // The list read agrees; the bridge and the peer are no ports.
    let links = b.list_links(&ns).await.unwrap();
    let by_name = |n: &str| links.iter().find(|l| l.name == n).unwrap().port_flags;
    assert_eq!(by_name("vh0"), Some(flags(false, false)));
    assert_eq!(by_name("br0"), None);
    let peer_link = b.link_by_name(&peer, "eth0").await.unwrap();
    assert_eq!(peer_link.port_flags, None);
    // Not a port (the bridge itself, a link in no bridge): EOPNOTSUPP naming the link.
    let e = b
        .set_port_flags(&ns, br, change(Some(true), None))
        .await
        .unwrap_err();
    assert_names(&e, Op::SetPortFlags, Errno::EOPNOTSUPP, "br0");
    assert_eq!(e.detail, "not a bridge port", "{e}");
    let e = b
        .set_port_flags(&peer, peer_link.index, change(None, Some(true)))
        .await
        .unwrap_err();
    assert_names(&e, Op::SetPortFlags, Errno::EOPNOTSUPP, "eth0");
    assert_eq!(e.detail, "not a bridge port", "{e}");
    assert_eq!(bridge_link(&ns, "vh0")["hairpin"].as_bool(), Some(false));
}

// SPEC: L3
// SPEC: L6
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vlans_work_where_the_kernel_filters_and_fail_cleanly_where_it_cannot() {
    if !enter("vlans_work_where_the_kernel_filters_and_fail_cleanly_where_it_cannot") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    let peer = fx.netns("c").await;
    let probe = b
        .create_bridge(&ns, "brp", Default::default())
        .await
        .unwrap();
    let supported = b
        .link_by_index(&ns, probe)
        .await
        .unwrap()
        .bridge
        .expect("bridge info")
        .vlan_filtering;
    b.delete_links(&ns, &[probe]).await.unwrap();
    let filtering = BridgeOptions {
        vlan_filtering: true,
        ..Default::default()
    };
    let pvid = VlanSpec {
        first: 10,
        last: 10,
        pvid: true,
        untagged: true,
    };
    let trunk = VlanSpec {
        last: 30,
        ..VlanSpec::tagged(20)
    };
    match supported {
        None => {
            // This project's kernel: `ip -d` shows "vlan_filtering 0", but without the
            // attributes only a filtering kernel sends, so the link read says "unsupported".
            assert!(!link_exists(&ns, "brp"), "the probe bridge is gone");
            let (br, port) = bridge_with_port(&b, &ns, &peer, Default::default()).await;
            let data = &ip_link(&ns, "br0")["linkinfo"]["info_data"];
            assert_eq!(data["vlan_filtering"].as_u64(), Some(0));
            assert!(data.get("vlan_default_pvid").is_none(), "{data}");
            let roles = [("a", &ns), ("c", &peer)];
            let before = snapshot(&b, &roles).await;
            assert!(
                before.1.contains(&"a vlans []".to_string()),
                "{:?}",
                before.1
            );
            // A bridge with filtering: EOPNOTSUPP saying why, nothing created.
            let e = b.create_bridge(&ns, "brv", filtering).await.unwrap_err();
            assert_names(&e, Op::CreateBridge, Errno::EOPNOTSUPP, "brv");
            assert_eq!(e.detail, NO_VLAN_FILTERING, "{e}");
            assert!(!link_exists(&ns, "brv"));
            // VLANs on a port: EOPNOTSUPP naming the VLANs, the port and why.
            let e = b
                .add_port_vlans(&ns, port, vec![pvid, trunk])
                .await
                .unwrap_err();
            assert_names(
                &e,
                Op::AddPortVlans,
                Errno::EOPNOTSUPP,
                "VLAN 10 pvid untagged,20-30 on vh0",
            );
            assert_eq!(e.detail, NO_VLAN_FILTERING, "{e}");
            // One VID or one range alone: the same.
            for vlans in [vec![pvid], vec![trunk]] {
                let e = b.add_port_vlans(&ns, port, vlans).await.unwrap_err();
                assert_eq!(
                    (e.errno, e.detail.as_str()),
                    (Errno::EOPNOTSUPP, NO_VLAN_FILTERING)
                );
            }
            // The bridge itself is no port.
            let e = b.add_port_vlans(&ns, br, vec![pvid]).await.unwrap_err();
            assert_names(&e, Op::AddPortVlans, Errno::EOPNOTSUPP, "on br0");
            assert_eq!(e.detail, "not a bridge port", "{e}");
            // ListPortVlans answers, with nothing: the dump carries no VLAN tables.
            assert_eq!(b.list_port_vlans(&ns).await.unwrap(), vec![]);
            assert_eq!(b.list_port_vlans(&peer).await.unwrap(), vec![]);
            // A delete is accepted: the kernel ignores each VID it cannot delete.
            b.del_port_vlans(&ns, port, vec![VlanSpec::tagged(1)])
                .await
                .unwrap();
            b.del_port_vlans(&ns, port, vec![trunk]).await.unwrap();
            // Not a port: EOPNOTSUPP, add and delete alike.
            let eth0 = b.link_by_name(&peer, "eth0").await.unwrap().index;
            let e = b.add_port_vlans(&peer, eth0, vec![pvid]).await.unwrap_err();
            assert_names(&e, Op::AddPortVlans, Errno::EOPNOTSUPP, "on eth0");
            assert_eq!(e.detail, "not a bridge port", "{e}");
            let e = b
                .del_port_vlans(&peer, eth0, vec![VlanSpec::tagged(1)])
                .await
                .unwrap_err();
            assert_names(&e, Op::DelPortVlans, Errno::EOPNOTSUPP, "on eth0");
            // Nothing changed by any of it.
            let after = snapshot(&b, &roles).await;
            assert_eq!(before.1, after.1);
            assert!(before.0 == after.0, "{}", before.0.diff(&after.0));
        }
        Some(_) => {
            // A kernel with VLAN filtering: a filtering bridge, its new port in VLAN 1.
            let (br, port) = bridge_with_port(&b, &ns, &peer, filtering).await;
            let info = b.link_by_index(&ns, br).await.unwrap().bridge.unwrap();
            assert_eq!(info.vlan_filtering, Some(true));
            b.add_port_vlans(&ns, port, vec![pvid, trunk])
                .await
                .unwrap();
            b.del_port_vlans(&ns, port, vec![VlanSpec::tagged(1)])
                .await
                .unwrap();
            let tables = b.list_port_vlans(&ns).await.unwrap();
            assert_eq!(tables.len(), 1, "{tables:?}");
            assert_eq!(
                (tables[0].index, &tables[0].vlans),
                (port, &vec![pvid, trunk])
            );
            let shown = bridge_vlans(&ns);
            let vh0 = shown
                .as_array()
                .and_then(|ports| ports.iter().find(|p| p["ifname"] == "vh0"))
                .expect("vh0 in bridge vlan show");
            let vids: Vec<(u64, Option<u64>)> = vh0["vlans"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| (v["vlan"].as_u64().unwrap(), v["vlanEnd"].as_u64()))
                .collect();
            assert_eq!(vids, vec![(10, None), (20, Some(30))]);
        }
    }
}

/// `(tentative, dadfailed)` of `addr` in `ip -j addr show dev NAME` in `ns`.
fn ip_addr_flags(ns: &NetnsRef, name: &str, addr: &str) -> (bool, bool) {
    let out = run_in(ns, &["ip", "-j", "addr", "show", "dev", name]);
    let v: Value = serde_json::from_str(&out).expect("ip -j output");
    let a = v[0]["addr_info"]
        .as_array()
        .and_then(|l| l.iter().find(|a| a["local"] == addr))
        .unwrap_or_else(|| panic!("{addr} on {name}: {out}"));
    let flag = |k: &str| a[k].as_bool().unwrap_or(false);
    (flag("tentative"), flag("dadfailed"))
}

/// The read L5's wait polls: an address added without NODAD is tentative while the kernel
/// probes, then either plain or, when another interface on the link holds it, tentative and
/// dadfailed; the link read agrees with `ip -j addr` at the end.
// SPEC: L5
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dad_shows_as_tentative_then_done_or_dadfailed() {
    if !enter("dad_shows_as_tentative_then_done_or_dadfailed") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    let peer = fx.netns("c").await;
    let request = VethRequest {
        host_up: true,
        ..veth_request("vh0", &peer, "eth0", None)
    };
    let pair = b.create_veth(&ns, &request).await.unwrap();
    b.set_link_up(&peer, pair.peer_index).await.unwrap();
    let taken: IpNet = "fd00::10/64".parse().unwrap();
    let free: IpNet = "fd00::11/64".parse().unwrap();
    b.add_address(&peer, pair.peer_index, taken, true)
        .await
        .unwrap();
    let ix = pair.host_index;
    b.add_address(&ns, ix, taken, false).await.unwrap();
    b.add_address(&ns, ix, free, false).await.unwrap();
    let flags_of = |addrs: &[nsplumb_core::AddrInfo], net: IpNet| {
        let a = addrs.iter().find(|a| a.net == net).expect("the address");
        (a.flags.tentative, a.flags.dadfailed, a.flags.nodad)
    };
    let addrs = b.list_addresses(&ns, Some(ix)).await.unwrap();
    assert_eq!(flags_of(&addrs, taken), (true, false, false), "{addrs:?}");
    assert_eq!(flags_of(&addrs, free), (true, false, false), "{addrs:?}");
    // This kernel: up to rtr_solicit_delay (1 s) before the probe, retrans_time (1 s) after.
    let deadline = Instant::now() + Duration::from_secs(6);
    let addrs = loop {
        let addrs = b.list_addresses(&ns, Some(ix)).await.unwrap();
        let done = flags_of(&addrs, taken).1 && !flags_of(&addrs, free).0;
        if done || Instant::now() > deadline {
            break addrs;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(flags_of(&addrs, taken), (true, true, false), "{addrs:?}");
    assert_eq!(flags_of(&addrs, free), (false, false, false), "{addrs:?}");
    assert_eq!(ip_addr_flags(&ns, "vh0", "fd00::10"), (true, true));
    assert_eq!(ip_addr_flags(&ns, "vh0", "fd00::11"), (false, false));
}
