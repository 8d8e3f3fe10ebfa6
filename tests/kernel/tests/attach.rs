//! Attach, detach, gateways, statistics and listing: `Plumber<LinuxBackend>` on the real kernel.
//!
//! Each test runs in its own isolated child (see `nsplumb_kernel_tests::privilege`): the
//! "host" is a private network namespace, the containers are `nspl-kXXXXXX-*` namespaces.
//! Addresses from 192.0.2.0/24, 198.51.100.0/24 and fd00::/8 only.

use futures::{FutureExt, StreamExt};
use nsplumb_core::{
    AttachError, BackendExt, Destination, DetachError, Family, LinkEvent, LinkKind, MacAddr,
    NetBackend, NetnsRef, Origin, Source, Spec,
};
use nsplumb_kernel_tests::fixture::{plain_link, run_in, state_of, Fixture};
use nsplumb_kernel_tests::privilege::{enter, remount_proc_sys_read_only};
use nsplumb_kernel_tests::state::Observe;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const MAC_A: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a]);

fn host(src: &str) -> Spec {
    quiet(Spec::new(
        Source::HostLink(src.into()),
        Destination::Prefix("eth".into()),
    ))
}

fn named(src: &str, name: &str) -> Spec {
    quiet(Spec::new(
        Source::HostLink(src.into()),
        Destination::Name(name.into()),
    ))
}

/// One announcement, sent during attach: nothing lingers in the background.
fn quiet(mut s: Spec) -> Spec {
    s.announce_count = 1;
    s
}

fn names_in(links: &[nsplumb_core::LinkInfo]) -> BTreeSet<String> {
    links.iter().map(|l| l.name.clone()).collect()
}

fn err_text(e: &AttachError) -> String {
    e.to_string().to_lowercase()
}

// SPEC: N2
// SPEC: N1
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_names_refill_gaps_and_detach_frees_the_suffix() {
    if !enter("generated_names_refill_gaps_and_detach_frees_the_suffix") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    for d in ["d0", "d1", "d2", "d3"] {
        plain_link(&NetnsRef::Host, d);
    }
    for (d, want) in [("d0", "eth0"), ("d1", "eth1"), ("d2", "eth2")] {
        assert_eq!(p.attach(&ns, host(d)).await.unwrap().name, want);
    }
    // [eth0, eth2] registered: the gap is refilled.
    p.detach(&ns, "eth1").await.unwrap();
    assert!(fx.backend.link_by_name(&NetnsRef::Host, "d1").await.is_ok());
    assert_eq!(p.attach(&ns, host("d3")).await.unwrap().name, "eth1");
    // Detach then re-attach the same link: the suffix it had is free again.
    p.detach(&ns, "eth2").await.unwrap();
    assert_eq!(p.attach(&ns, host("d2")).await.unwrap().name, "eth2");
    let links = fx.backend.list_links(&ns).await.unwrap();
    assert_eq!(
        names_in(&links),
        ["eth0", "eth1", "eth2", "lo"].map(String::from).into()
    );
    // N1: in the host namespace the name is the source name, nothing moves.
    let a = p.attach(&NetnsRef::Host, host("d1")).await.unwrap();
    assert_eq!((a.name.as_str(), &a.origin), ("d1", &Origin::InHost));
    p.detach(&NetnsRef::Host, "d1").await.unwrap();
    assert!(fx.backend.link_by_name(&NetnsRef::Host, "d1").await.is_ok());
}

// SPEC: N3
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_attaches_end_as_eth0_to_eth49() {
    if !enter("fifty_parallel_attaches_end_as_eth0_to_eth49") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    for i in 0..50 {
        plain_link(&NetnsRef::Host, &format!("p{i}"));
    }
    let t = Instant::now();
    let results = futures::future::join_all((0..50).map(|i| {
        let p = p.clone();
        let ns = ns.clone();
        tokio::spawn(async move { p.attach(&ns, host(&format!("p{i}"))).await })
    }))
    .await;
    eprintln!("50 parallel attaches: {:?}", t.elapsed());
    let mut got: Vec<String> = results
        .into_iter()
        .map(|r| r.unwrap().unwrap().name)
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..50).map(|i| format!("eth{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    let mut kernel: Vec<String> = fx
        .backend
        .list_links(&ns)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .filter(|n| n != "lo")
        .collect();
    kernel.sort();
    assert_eq!(kernel, want);
}

// SPEC: N4
// SPEC: N2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_names_existing_name_fails_and_nothing_moves() {
    if !enter("explicit_names_existing_name_fails_and_nothing_moves") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    plain_link(&NetnsRef::Host, "d0");
    plain_link(&NetnsRef::Host, "d1");
    plain_link(&ns, "taken0"); // in the namespace, not managed by nsplumb
    let opts = Observe::default();
    let before = state_of(&fx.backend, &[&ns], &opts).await;
    let e = p.attach(&ns, named("d0", "taken0")).await.unwrap_err();
    let text = err_text(&e);
    assert!(text.contains("error renaming interface"), "{e}");
    assert!(text.contains("file exists"), "{e}");
    let after = state_of(&fx.backend, &[&ns], &opts).await;
    assert_eq!(before, after, "nothing moved:\n{}", before.diff(&after));
    // Explicit eth1 plus a generated one: the generated one is eth0.
    assert_eq!(
        p.attach(&ns, named("d0", "eth1")).await.unwrap().name,
        "eth1"
    );
    assert_eq!(p.attach(&ns, host("d1")).await.unwrap().name, "eth0");
    // A name nsplumb already manages: refused without a kernel call, same words.
    plain_link(&NetnsRef::Host, "d2");
    let e = p.attach(&ns, named("d2", "eth1")).await.unwrap_err();
    assert!(err_text(&e).contains("error renaming interface"), "{e}");
    assert!(err_text(&e).contains("file exists"), "{e}");
    assert!(fx.backend.link_by_name(&NetnsRef::Host, "d2").await.is_ok());
}

// SPEC: A5
// SPEC: A15
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_conflict_fails_and_the_link_is_back_in_the_host() {
    if !enter("route_conflict_fails_and_the_link_is_back_in_the_host") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    plain_link(&NetnsRef::Host, "d0");
    plain_link(&ns, "x0");
    run_in(&ns, &["ip", "link", "set", "x0", "up"]);
    run_in(&ns, &["ip", "route", "add", "192.0.2.0/25", "dev", "x0"]);
    run_in(
        &ns,
        &["ip", "-6", "route", "add", "fd00:5::/64", "dev", "x0"],
    );
    let opts = Observe::default();
    let before = state_of(&fx.backend, &[&ns], &opts).await;
    // The route lies inside the address's network.
    let mut spec = host("d0");
    spec.ipv4 = Some("192.0.2.10/24".into());
    let e = p.attach(&ns, spec).await.unwrap_err();
    eprintln!("route conflict: {e}");
    assert!(
        e.to_string().contains(
            "cannot program address 192.0.2.10/24 in sandbox interface because it conflicts with existing route 192.0.2.0/25"
        ),
        "{e}"
    );
    let after = state_of(&fx.backend, &[&ns], &opts).await;
    assert_eq!(before, after, "{}", before.diff(&after));
    // The address lies inside the route (IPv6).
    let mut spec = host("d0");
    spec.ipv6 = Some("fd00:5::10/120".into());
    let e = p.attach(&ns, spec).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("conflicts with existing route fd00:5::/64"),
        "{e}"
    );
    let after = state_of(&fx.backend, &[&ns], &opts).await;
    assert_eq!(before, after, "{}", before.diff(&after));
    // The name is free again.
    let mut spec = host("d0");
    spec.ipv4 = Some("198.51.100.10/24".into());
    assert_eq!(p.attach(&ns, spec).await.unwrap().name, "eth0");
}

// SPEC: A4
// SPEC: A6
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_is_nodad_never_tentative_and_disable_ipv6_follows_the_addresses() {
    if !enter("ipv6_is_nodad_never_tentative_and_disable_ipv6_follows_the_addresses") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    for d in ["d0", "d1", "d2"] {
        plain_link(&NetnsRef::Host, d);
    }
    let mut dual = host("d0");
    dual.ipv4 = Some("192.0.2.10/24".into());
    dual.ipv6 = Some("fd00::10/64".into());
    dual.mac = Some(MAC_A.to_string());
    let a = p.attach(&ns, dual).await.unwrap();
    let b = &fx.backend;
    for _ in 0..2 {
        let addrs = b.list_addresses(&ns, Some(a.ifindex)).await.unwrap();
        let v6 = addrs
            .iter()
            .find(|x| x.net.to_string() == "fd00::10/64")
            .expect("IPv6 address configured");
        assert!(v6.flags.nodad && !v6.flags.tentative, "{v6:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let path = |n: &str| format!("net/ipv6/conf/{n}/disable_ipv6");
    assert_eq!(b.read_sysctl(&ns, &path("eth0")).await.unwrap(), "0");
    let mut v4 = host("d1");
    v4.ipv4 = Some("198.51.100.10/24".into());
    let a4 = p.attach(&ns, v4).await.unwrap();
    assert_eq!(b.read_sysctl(&ns, &path(&a4.name)).await.unwrap(), "1");
    // No address at all: also no IPv6 (no multicast groups joined, SPEC A6).
    let none = p.attach(&ns, host("d2")).await.unwrap();
    assert_eq!(b.read_sysctl(&ns, &path(&none.name)).await.unwrap(), "1");
    let addrs = b.list_addresses(&ns, Some(a4.ifindex)).await.unwrap();
    assert!(addrs.iter().all(|x| x.net.addr().is_ipv4()), "{addrs:?}");
}

// SPEC: A8
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_ipv6_sysctl_drops_the_ipv6_address_from_the_result() {
    if !enter("disable_ipv6_sysctl_drops_the_ipv6_address_from_the_result") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    plain_link(&NetnsRef::Host, "d0");
    let mut spec = host("d0");
    spec.ipv4 = Some("192.0.2.10/24".into());
    spec.ipv6 = Some("fd00::10/64".into());
    spec.sysctls = vec!["net.ipv6.conf.IFNAME.disable_ipv6=1".into()];
    let a = p.attach(&ns, spec).await.unwrap();
    assert_eq!(a.ipv6, None);
    assert_eq!(
        a.ipv6_dropped.map(|n| n.to_string()).as_deref(),
        Some("fd00::10/64")
    );
    let addrs = fx
        .backend
        .list_addresses(&ns, Some(a.ifindex))
        .await
        .unwrap();
    assert!(addrs.iter().all(|x| x.net.addr().is_ipv4()), "{addrs:?}");
    let listed = p.list(&ns).await.unwrap();
    let eth0 = listed.iter().find(|l| l.link.name == "eth0").unwrap();
    assert!(eth0.addresses.iter().all(|x| x.net.addr().is_ipv4()));
}

// SPEC: A6
// SPEC: A7
// SPEC: R2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_proc_sys_is_fine_when_values_are_already_right() {
    if !enter("read_only_proc_sys_is_fine_when_values_are_already_right") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    plain_link(&NetnsRef::Host, "d0");
    plain_link(&NetnsRef::Host, "d1");
    let b = &fx.backend;
    // A moved-in link takes the namespace's `default` values: `forwarding` is whatever the
    // namespace inherited (1 on a container host, SPEC R2), so that is the right value.
    let forwarding = b
        .read_sysctl(&ns, "net/ipv4/conf/default/forwarding")
        .await
        .unwrap();
    remount_proc_sys_read_only();
    let e = b
        .write_sysctl(&ns, "net/ipv4/ip_forward", "0")
        .await
        .unwrap_err();
    assert_eq!(e.errno, nsplumb_core::Errno::EROFS, "{e}");
    // Dual stack: disable_ipv6 is already 0; the sysctl already has its value. Only reads.
    let mut spec = host("d0");
    spec.ipv6 = Some("fd00::10/64".into());
    spec.sysctls = vec![
        format!("net.ipv4.conf.IFNAME.forwarding={}", forwarding.trim()),
        "net.ipv6.conf.IFNAME.disable_ipv6=0".into(),
    ];
    let a = p.attach(&ns, spec).await.unwrap();
    assert_eq!(
        a.ipv6.map(|n| n.to_string()).as_deref(),
        Some("fd00::10/64")
    );
    // IPv4 only needs disable_ipv6=1, a write: "failed to disable IPv6", rolled back (A15).
    let opts = Observe::default();
    let before = state_of(b, &[&ns], &opts).await;
    let mut spec = host("d1");
    spec.ipv4 = Some("192.0.2.10/24".into());
    let e = p.attach(&ns, spec).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("failed to disable IPv6 on interface eth1"),
        "{e}"
    );
    let after = state_of(b, &[&ns], &opts).await;
    assert_eq!(before, after, "{}", before.diff(&after));
}

// SPEC: V9
// SPEC: A4
// SPEC: D1
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_created_in_namespace_takes_a_port_via_master() {
    if !enter("bridge_created_in_namespace_takes_a_port_via_master") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    plain_link(&NetnsRef::Host, "d0");
    plain_link(&NetnsRef::Host, "d1");
    let br = p
        .attach(
            &ns,
            quiet(Spec::new(
                Source::NewBridge("brsrc".into()),
                Destination::Name("br0".into()),
            )),
        )
        .await
        .unwrap();
    assert_eq!(br.origin, Origin::NewBridge);
    let b = &fx.backend;
    let l = b.link_by_name(&ns, "br0").await.unwrap();
    assert_eq!(l.kind, LinkKind::Bridge);
    let mut port = host("d0");
    port.master = Some("brsrc".into());
    let a = p.attach(&ns, port).await.unwrap();
    assert_eq!(a.master.as_deref(), Some("br0"));
    assert_eq!(
        b.link_by_index(&ns, a.ifindex).await.unwrap().master,
        Some(l.index)
    );
    // V9: not a bridge nsplumb attached here.
    let mut bad = host("d1");
    bad.master = Some("d0".into());
    let e = p.attach(&ns, bad).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("could not find an appropriate master \"d0\" for \"d1\""),
        "{e}"
    );
    // D1: detaching the port moves it back; detaching the bridge deletes it.
    p.detach(&ns, &a.name).await.unwrap();
    let d0 = b.link_by_name(&NetnsRef::Host, "d0").await.unwrap();
    assert_eq!(d0.master, None);
    p.detach(&ns, "br0").await.unwrap();
    assert!(b.link_by_name(&ns, "br0").await.is_err());
    assert!(b.link_by_name(&NetnsRef::Host, "brsrc").await.is_err());
}

// SPEC: A2
// SPEC: D1
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn veth_fast_path_creates_the_container_end_in_the_namespace() {
    if !enter("veth_fast_path_creates_the_container_end_in_the_namespace") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    let b = fx.backend.clone();
    let br = b
        .create_bridge(&NetnsRef::Host, "br0", Default::default())
        .await
        .unwrap();
    b.set_link_up(&NetnsRef::Host, br).await.unwrap();
    let mut host_events = b.subscribe_links(&NetnsRef::Host).await.unwrap();
    let mut ns_events = b.subscribe_links(&ns).await.unwrap();
    let mut spec = quiet(Spec::new(
        Source::VethOnBridge {
            bridge: "br0".into(),
            host_name: "vh0".into(),
        },
        Destination::Prefix("eth".into()),
    ));
    spec.mac = Some(MAC_A.to_string());
    spec.ipv4 = Some("192.0.2.10/24".into());
    let t = Instant::now();
    let a = p.attach(&ns, spec).await.unwrap();
    eprintln!("veth fast path attach: {:?}", t.elapsed());
    assert!(matches!(a.origin, Origin::NewVeth { .. }));
    let inside = b.link_by_index(&ns, a.ifindex).await.unwrap();
    assert_eq!((inside.name.as_str(), inside.mac), ("eth0", Some(MAC_A)));
    let vh = b.link_by_name(&NetnsRef::Host, "vh0").await.unwrap();
    assert!(vh.flags.up);
    assert_eq!(vh.master, Some(br));
    // Born in the namespace: the host never saw a link named eth0 or with the container MAC,
    // and the namespace's first word about it already has the final name and MAC.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut saw_host = Vec::new();
    while let Some(Some(ev)) = host_events.next().now_or_never() {
        if let LinkEvent::Changed(l) = ev {
            saw_host.push((l.name.clone(), l.mac));
        }
    }
    assert!(
        saw_host
            .iter()
            .all(|(n, m)| n != "eth0" && *m != Some(MAC_A)),
        "{saw_host:?}"
    );
    let first = loop {
        match ns_events.next().now_or_never() {
            Some(Some(LinkEvent::Changed(l))) if l.index == a.ifindex => break l,
            Some(Some(_)) => continue,
            _ => panic!("no event for the container end"),
        }
    };
    assert_eq!((first.name.as_str(), first.mac), ("eth0", Some(MAC_A)));
    // D1: detach deletes the pair, the host end with it.
    p.detach(&ns, "eth0").await.unwrap();
    assert!(b.link_by_name(&NetnsRef::Host, "vh0").await.is_err());
    assert!(b.link_by_name(&ns, "eth0").await.is_err());
}

// SPEC: A12
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stp_bridge_means_no_port_wait() {
    if !enter("stp_bridge_means_no_port_wait") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    let b = fx.backend.clone();
    let br = b
        .create_bridge(&NetnsRef::Host, "brs", Default::default())
        .await
        .unwrap();
    run_in(
        &NetnsRef::Host,
        &[
            "ip",
            "link",
            "set",
            "brs",
            "type",
            "bridge",
            "stp_state",
            "1",
            "forward_delay",
            "400",
        ],
    );
    b.set_link_up(&NetnsRef::Host, br).await.unwrap();
    let mut spec = quiet(Spec::new(
        Source::VethOnBridge {
            bridge: "brs".into(),
            host_name: "vh0".into(),
        },
        Destination::Prefix("eth".into()),
    ));
    spec.ipv4 = Some("192.0.2.10/24".into());
    let t = Instant::now();
    let a = p.attach(&ns, spec).await.unwrap();
    let took = t.elapsed();
    let vh = b.link_by_name(&NetnsRef::Host, "vh0").await.unwrap();
    assert_ne!(
        vh.port_state,
        Some(nsplumb_core::PortState::Forwarding),
        "STP keeps the port out of forwarding for seconds"
    );
    assert!(
        a.warnings.is_empty(),
        "no port wait, no warning: {:?}",
        a.warnings
    );
    assert!(
        took < nsplumb_core::BRIDGE_PORT_WAIT,
        "attach took {took:?}: it waited for the STP port"
    );
}

// SPEC: G1
// SPEC: G2
// SPEC: G3
// SPEC: G4
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_and_static_routes() {
    if !enter("gateways_and_static_routes") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    let b = fx.backend.clone();
    plain_link(&NetnsRef::Host, "d0");
    let mut spec = host("d0");
    spec.ipv4 = Some("192.0.2.10/24".into());
    spec.ipv6 = Some("fd00::10/64".into());
    let a = p.attach(&ns, spec).await.unwrap();
    let default_via = |routes: &[nsplumb_core::RouteInfo], gw: &str| {
        routes.iter().any(|r| {
            r.dst.prefix_len() == 0
                && r.gateway.map(|g| g.to_string()).as_deref() == Some(gw)
                && r.oif == Some(a.ifindex)
        })
    };
    // G1 (both families), an empty gateway is a no-op.
    p.set_gateway(&ns, None).await.unwrap();
    p.set_gateway(&ns, Some("192.0.2.1".parse().unwrap()))
        .await
        .unwrap();
    p.set_gateway(&ns, Some("fd00::1".parse().unwrap()))
        .await
        .unwrap();
    assert!(default_via(
        &b.list_routes(&ns, Family::V4).await.unwrap(),
        "192.0.2.1"
    ));
    assert!(default_via(
        &b.list_routes(&ns, Family::V6).await.unwrap(),
        "fd00::1"
    ));
    // Setting another replaces it.
    p.set_gateway(&ns, Some("192.0.2.2".parse().unwrap()))
        .await
        .unwrap();
    let v4 = b.list_routes(&ns, Family::V4).await.unwrap();
    assert!(
        default_via(&v4, "192.0.2.2") && !default_via(&v4, "192.0.2.1"),
        "{v4:?}"
    );
    // No direct route to the gateway.
    let e = p
        .set_gateway(&ns, Some("198.51.100.1".parse().unwrap()))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("route for the gateway 198.51.100.1 could not be found"),
        "{e}"
    );
    // G2.
    p.unset_gateway(&ns, Family::V4).await.unwrap();
    p.unset_gateway(&ns, Family::V4).await.unwrap();
    assert!(!b
        .list_routes(&ns, Family::V4)
        .await
        .unwrap()
        .iter()
        .any(|r| r.dst.prefix_len() == 0));
    // G3.
    let dst: ipnet::IpNet = "198.51.100.0/24".parse().unwrap();
    let r = p
        .add_static_route(&ns, dst, "192.0.2.254".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(r.oif, a.ifindex);
    assert!(b.list_routes(&ns, Family::V4).await.unwrap().iter().any(
        |r| r.dst == dst && r.gateway.map(|g| g.to_string()).as_deref() == Some("192.0.2.254")
    ));
    p.remove_static_route(&ns, dst).await.unwrap();
    assert!(!b
        .list_routes(&ns, Family::V4)
        .await
        .unwrap()
        .iter()
        .any(|r| r.dst == dst));
    assert!(p.remove_static_route(&ns, dst).await.is_err());
    // G4: detaching the interface takes the gateway along; unsetting it later is a no-op.
    p.set_gateway(&ns, Some("192.0.2.1".parse().unwrap()))
        .await
        .unwrap();
    p.detach(&ns, "eth0").await.unwrap();
    assert!(!b
        .list_routes(&ns, Family::V4)
        .await
        .unwrap()
        .iter()
        .any(|r| r.dst.prefix_len() == 0));
    p.unset_gateway(&ns, Family::V4).await.unwrap();
    p.unset_gateway(&ns, Family::V6).await.unwrap();
}

// SPEC: T1
// SPEC: T2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_and_listing() {
    if !enter("statistics_and_listing") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    let b = fx.backend.clone();
    let br = b
        .create_bridge(&NetnsRef::Host, "br0", Default::default())
        .await
        .unwrap();
    b.set_link_up(&NetnsRef::Host, br).await.unwrap();
    let mut spec = quiet(Spec::new(
        Source::VethOnBridge {
            bridge: "br0".into(),
            host_name: "vh0".into(),
        },
        Destination::Prefix("eth".into()),
    ));
    spec.ipv4 = Some("192.0.2.10/24".into());
    spec.ipv6 = Some("fd00::10/64".into());
    spec.mac = Some(MAC_A.to_string());
    p.attach(&ns, spec).await.unwrap();
    plain_link(&ns, "x0");
    // T1: the first announcements went out of eth0.
    let s = p.statistics(&ns, "eth0").await.unwrap();
    assert!(s.tx_packets >= 2 && s.tx_bytes >= 42 + 86, "{s:?}");
    let e = p.statistics(&ns, "nope0").await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("nope0") && text.contains(&ns.to_string()),
        "{text}"
    );
    // T2: every link, managed or not.
    let list = p.list(&ns).await.unwrap();
    let names: Vec<&str> = list.iter().map(|l| l.link.name.as_str()).collect();
    assert_eq!(names[..2], ["lo", "eth0"]);
    let mut rest = names[2..].to_vec();
    rest.sort();
    assert_eq!(rest, ["x0", "x0-p"]);
    let eth0 = &list[1];
    assert_eq!(eth0.managed_source.as_deref(), Some("vh0"));
    assert_eq!(eth0.link.kind, LinkKind::Veth);
    assert_eq!(eth0.link.mac, Some(MAC_A));
    assert!(eth0.link.flags.up);
    let peer = eth0.link.peer.clone().expect("veth peer");
    assert_eq!(peer.netns, Some(NetnsRef::Host));
    assert_eq!(
        b.link_by_index(&NetnsRef::Host, peer.index)
            .await
            .unwrap()
            .name,
        "vh0"
    );
    let addrs: BTreeSet<String> = eth0.addresses.iter().map(|a| a.net.to_string()).collect();
    assert!(
        addrs.contains("192.0.2.10/24") && addrs.contains("fd00::10/64"),
        "{addrs:?}"
    );
    assert_eq!(list[0].managed_source, None);
    let x0 = list.iter().find(|l| l.link.name == "x0").unwrap();
    assert_eq!(x0.managed_source, None);
    assert_eq!(x0.link.kind, LinkKind::Veth);
    let x0p = list.iter().find(|l| l.link.name == "x0-p").unwrap();
    assert_eq!(
        x0.link.peer.as_ref().map(|p| (p.netns.clone(), p.index)),
        Some((Some(ns.clone()), x0p.link.index))
    );
}

// SPEC: D1
// SPEC: D3
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detach_each_origin_and_a_vanished_link() {
    if !enter("detach_each_origin_and_a_vanished_link") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    let b = fx.backend.clone();
    plain_link(&NetnsRef::Host, "d0");
    run_in(&NetnsRef::Host, &["ip", "link", "set", "d0", "up"]);
    plain_link(&ns, "inside");
    let opts = Observe::default();
    let before = state_of(&b, &[&ns], &opts).await;
    // Moved from the host, created in the namespace, a new bridge.
    let mut moved = host("d0");
    moved.ipv4 = Some("192.0.2.10/24".into());
    moved.mac = Some(MAC_A.to_string());
    p.attach(&ns, moved).await.unwrap();
    let created = p
        .attach(
            &ns,
            quiet(Spec::new(
                Source::CreatedInNamespace("inside".into()),
                Destination::Prefix("eth".into()),
            )),
        )
        .await
        .unwrap();
    assert_eq!(
        (created.name.as_str(), &created.origin),
        ("eth1", &Origin::CreatedInNamespace)
    );
    p.attach(
        &ns,
        quiet(Spec::new(
            Source::NewBridge("nb".into()),
            Destination::Prefix("br".into()),
        )),
    )
    .await
    .unwrap();
    for name in ["eth0", "eth1", "br0"] {
        p.detach(&ns, name).await.unwrap();
    }
    // D2: again: a clear error.
    assert!(matches!(
        p.detach(&ns, "eth0").await,
        Err(DetachError::NotAttached { .. })
    ));
    let after = state_of(&b, &[&ns], &opts).await;
    // The moved link is back under its source name; its MAC stays what attach set (moby
    // does not restore it either) and it comes back down.
    let d0 = b.link_by_name(&NetnsRef::Host, "d0").await.unwrap();
    assert_eq!(d0.mac, Some(MAC_A));
    assert!(b.link_by_name(&ns, "inside").await.is_ok());
    let links: BTreeSet<String> = names_in(&b.list_links(&ns).await.unwrap());
    assert_eq!(links, ["inside", "inside-p", "lo"].map(String::from).into());
    let host_before: Vec<&str> = before
        .of("host")
        .into_iter()
        .filter(|l| l.contains(" link ") && !l.contains("d0"))
        .collect();
    let host_after: Vec<&str> = after
        .of("host")
        .into_iter()
        .filter(|l| l.contains(" link ") && !l.contains("d0"))
        .collect();
    assert_eq!(host_before, host_after);

    // D3: the link vanishes behind nsplumb's back.
    let a = p.attach(&ns, host("d0")).await.unwrap();
    b.delete_links(&ns, &[a.ifindex]).await.unwrap();
    let e = p.detach(&ns, "eth0").await.unwrap_err();
    assert!(matches!(e, DetachError::Vanished { .. }), "{e}");
    // The name stays reserved until forgotten.
    plain_link(&NetnsRef::Host, "d1");
    assert_eq!(p.attach(&ns, host("d1")).await.unwrap().name, "eth1");
    assert!(matches!(
        p.detach(&ns, "eth0").await,
        Err(DetachError::Vanished { .. })
    ));
    assert!(p.forget(&ns, "eth0"));
    plain_link(&NetnsRef::Host, "d2");
    assert_eq!(p.attach(&ns, host("d2")).await.unwrap().name, "eth0");
}

// SPEC: A15
/// CORE-1 (found here, fixed in core): a host link that was up, whose ifindex is taken inside
/// the namespace (so the move gives it a new one, and the move back keeps that new one): after
/// a failed attach it must be back up; the undo once used the stale index (ENODEV).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_link_comes_back_up_when_its_index_changed() {
    if !enter("host_link_comes_back_up_when_its_index_changed") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("c").await;
    let p = fx.plumber();
    plain_link(&NetnsRef::Host, "d0"); // host: lo 1, d0-p 2, d0 3
    run_in(&NetnsRef::Host, &["ip", "link", "set", "d0", "up"]);
    plain_link(&ns, "x0"); // namespace: lo 1, x0-p 2, x0 3: d0 arrives as 4
    run_in(&ns, &["ip", "link", "set", "x0", "up"]);
    run_in(&ns, &["ip", "route", "add", "192.0.2.0/25", "dev", "x0"]);
    let opts = Observe::default();
    let before = state_of(&fx.backend, &[&ns], &opts).await;
    let mut spec = host("d0");
    spec.ipv4 = Some("192.0.2.10/24".into());
    let e = p.attach(&ns, spec).await.unwrap_err();
    eprintln!("{e}");
    let after = state_of(&fx.backend, &[&ns], &opts).await;
    assert_eq!(before, after, "{}", before.diff(&after));
    assert!(
        !e.to_string().contains("rollback also failed"),
        "rollback must not fail: {e}"
    );
}

// SPEC: D1
// SPEC: D3
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detach_many_deletes_the_veth_pairs_of_many_namespaces_in_one_batch() {
    if !enter("detach_many_deletes_the_veth_pairs_of_many_namespaces_in_one_batch") {
        return;
    }
    let mut fx = Fixture::new();
    let p = fx.plumber();
    let b = fx.backend.clone();
    let br = b
        .create_bridge(&NetnsRef::Host, "br0", Default::default())
        .await
        .unwrap();
    b.set_link_up(&NetnsRef::Host, br).await.unwrap();
    let mut namespaces = Vec::new();
    for i in 0..4 {
        let ns = fx.netns(&format!("m{i}")).await;
        let mut spec = quiet(Spec::new(
            Source::VethOnBridge {
                bridge: "br0".into(),
                host_name: format!("vm{i}"),
            },
            Destination::Name("eth0".into()),
        ));
        spec.ipv4 = Some(format!("192.0.2.{}/24", 40 + i));
        p.attach(&ns, spec).await.unwrap();
        namespaces.push(ns);
    }
    // A moved link in the last namespace too, and one veth that vanishes behind our back.
    plain_link(&NetnsRef::Host, "dm0");
    p.attach(&namespaces[3], named("dm0", "eth1"))
        .await
        .unwrap();
    let gone = b.link_by_name(&namespaces[2], "eth0").await.unwrap();
    b.delete_links(&namespaces[2], &[gone.index]).await.unwrap();

    let items: Vec<(&NetnsRef, &str)> = vec![
        (&namespaces[0], "eth0"),
        (&namespaces[1], "eth0"),
        (&namespaces[2], "eth0"),
        (&namespaces[3], "eth1"),
        (&namespaces[3], "eth0"),
    ];
    let outcomes = p.detach_many(&items).await;
    for (i, o) in outcomes.iter().enumerate() {
        if i == 2 {
            assert!(matches!(o, Err(DetachError::Vanished { .. })), "{o:?}");
        } else {
            assert!(o.is_ok(), "{:?}: {o:?}", items[i]);
        }
    }
    for (i, ns) in namespaces.iter().enumerate() {
        let links = b.list_links(ns).await.unwrap();
        assert_eq!(names_in(&links), ["lo".to_string()].into(), "namespace {i}");
        assert!(b
            .link_by_name(&NetnsRef::Host, &format!("vm{i}"))
            .await
            .is_err());
    }
    // The moved link is back in the host under its own name; no port is left on the bridge.
    assert!(b.link_by_name(&NetnsRef::Host, "dm0").await.is_ok());
    let ports = b
        .list_links(&NetnsRef::Host)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.master == Some(br))
        .count();
    assert_eq!(ports, 0);
}

// SPEC: A2
// SPEC: A15
// SPEC: N4
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_many_moves_every_link_first_and_fails_alone() {
    if !enter("attach_many_moves_every_link_first_and_fails_alone") {
        return;
    }
    let mut fx = Fixture::new();
    let p = fx.plumber();
    let b = fx.backend.clone();
    let mut items = Vec::new();
    let mut namespaces = Vec::new();
    for i in 0..3 {
        let ns = fx.netns(&format!("am{i}")).await;
        plain_link(&NetnsRef::Host, &format!("da{i}"));
        let mut spec = named(&format!("da{i}"), "eth0");
        spec.ipv4 = Some(format!("192.0.2.{}/24", 60 + i));
        spec.ipv6 = Some(format!("fd00::{}/64", 60 + i));
        items.push((ns.clone(), spec));
        namespaces.push(ns);
    }
    // A fourth asks for a name the first takes in the same namespace: it fails, its link stays.
    plain_link(&NetnsRef::Host, "da3");
    items.push((namespaces[0].clone(), named("da3", "eth0")));
    let outcomes = p.attach_many(items).await;
    for (i, ns) in namespaces.iter().enumerate() {
        let a = outcomes[i].as_ref().unwrap_or_else(|e| panic!("{i}: {e}"));
        assert_eq!(a.name, "eth0");
        let link = b.link_by_name(ns, "eth0").await.unwrap();
        assert!(link.flags.up, "{i}: up");
        let addrs: Vec<String> = b
            .list_addresses(ns, Some(link.index))
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.net.to_string())
            .collect();
        assert!(
            addrs.contains(&format!("192.0.2.{}/24", 60 + i)),
            "{addrs:?}"
        );
        assert!(addrs.contains(&format!("fd00::{}/64", 60 + i)), "{addrs:?}");
    }
    let e = err_text(outcomes[3].as_ref().unwrap_err());
    assert!(e.contains("file exists"), "{e}");
    assert!(b.link_by_name(&NetnsRef::Host, "da3").await.is_ok());
    for ns in &namespaces {
        p.detach(ns, "eth0").await.unwrap();
    }
    for i in 0..3 {
        assert!(b
            .link_by_name(&NetnsRef::Host, &format!("da{i}"))
            .await
            .is_ok());
    }
}
