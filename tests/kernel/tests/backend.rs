//! Every NetBackend method of `LinuxBackend` against the real kernel, in namespaces each test
//! creates (`nspl-kXXXXXX-*`), each test in its own isolated child process (see
//! `nsplumb_kernel_tests::privilege`); the machine's links are never touched. Addresses come
//! from 192.0.2.0/24, 198.51.100.0/24 and fd00::/8 only.

use futures::StreamExt;
use ipnet::IpNet;
use nsplumb_core::{
    BackendExt, Errno, Family, LinkEvent, LinkKind, MacAddr, NetBackend, NetnsAdmin, NetnsRef,
    PeerRef, PortState, RouteScope, RouteSpec,
};
use nsplumb_kernel_tests::capture::Capture;
use nsplumb_kernel_tests::fixture::{run_in, veth_request, Fixture};
use nsplumb_kernel_tests::privilege::enter;
use nsplumb_wire::{parse_frame, Announcement};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

const MAC_A: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);
const MAC_B: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x10, 0x00, 0x02]);

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_are_created_listed_and_deleted() {
    if !enter("namespaces_are_created_listed_and_deleted") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    let list = b.list_netns().await.unwrap();
    assert_eq!(list[0], NetnsRef::Host);
    assert!(list.contains(&ns), "{list:?}");
    // A new namespace has only lo.
    let links = b.list_links(&ns).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].kind, LinkKind::Loopback);
    // Same name again: EEXIST.
    let name = ns.to_string().rsplit('/').next().unwrap().to_string();
    assert_eq!(
        b.create_netns(&name).await.unwrap_err().errno,
        Errno::EEXIST
    );
    b.delete_netns(&ns).await.unwrap();
    assert!(!b.list_netns().await.unwrap().contains(&ns));
    let e = b.link_by_name(&ns, "lo").await.unwrap_err();
    assert_eq!(e.errno, Errno::ENOENT);
    assert!(b.delete_netns(&NetnsRef::Host).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_rename_mac_up_down_and_errors_name_the_interface() {
    if !enter("bridge_rename_mac_up_down_and_errors_name_the_interface") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    let br = b
        .create_bridge(&ns, "br0", Default::default())
        .await
        .unwrap();
    let l = b.link_by_index(&ns, br).await.unwrap();
    assert_eq!((l.name.as_str(), &l.kind), ("br0", &LinkKind::Bridge));
    let info = l.bridge.expect("bridge info");
    assert!(!info.stp_enabled);
    assert_eq!(info.forward_delay_cs, 1500);
    assert_eq!(
        b.create_bridge(&ns, "br0", Default::default())
            .await
            .unwrap_err()
            .errno,
        Errno::EEXIST
    );
    b.set_mac(&ns, br, MAC_A).await.unwrap();
    b.rename_link(&ns, br, "br-x").await.unwrap();
    let l = b.link_by_name(&ns, "br-x").await.unwrap();
    assert_eq!((l.index, l.mac), (br, Some(MAC_A)));
    assert!(!l.flags.up);
    b.set_link_up(&ns, br).await.unwrap();
    assert!(b.link_by_index(&ns, br).await.unwrap().flags.up);
    b.set_link_down(&ns, br).await.unwrap();
    assert!(!b.link_by_index(&ns, br).await.unwrap().flags.up);
    // Errors carry errno, object and namespace.
    let e = b.link_by_name(&ns, "nope0").await.unwrap_err();
    assert_eq!(e.errno, Errno::ENODEV);
    assert_eq!(e.object, "nope0");
    assert_eq!(e.netns, ns);
    let e = b.set_link_up(&ns, 9999).await.unwrap_err();
    assert_eq!(
        (e.errno, e.object.as_str()),
        (Errno::ENODEV, "ifindex 9999")
    );
    let e = b.rename_link(&ns, br, "lo").await.unwrap_err();
    assert_eq!(e.errno, Errno::EEXIST);
    assert!(e.object.contains("br-x"), "{e}");
    assert!(e.to_string().contains("file exists"), "{e}");
    let e = b
        .rename_link(&ns, br, "a-name-that-is-too-long")
        .await
        .unwrap_err();
    // The netlink policy of IFLA_IFNAME (at most IFNAMSIZ-1 bytes) answers ERANGE, with the
    // kernel's extended-ack text kept as detail.
    assert_eq!(e.errno, Errno::ERANGE, "{e}");
    eprintln!("too long a name: {e}");
    b.delete_links(&ns, &[br]).await.unwrap();
    assert_eq!(b.list_links(&ns).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_and_rename_land_in_one_message() {
    if !enter("move_and_rename_land_in_one_message") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let a = fx.netns("a").await;
    let c = fx.netns("c").await;
    // Both ends start in `a`; the one called eth0 there collides with nothing in `c`, but the
    // one we move is named like a link that already exists in `c`, which the one-message move
    // (name given with the move) never trips over.
    let pair = b
        .create_veth(&a, &veth_request("lo", &a, "ve-b", None))
        .await
        .map(Some)
        .unwrap_or(None);
    assert!(pair.is_none(), "lo exists, veth named lo must fail");
    let pair = b
        .create_veth(&a, &veth_request("ve-a", &a, "ve-b", None))
        .await
        .unwrap();
    b.create_bridge(&c, "ve-a", Default::default())
        .await
        .unwrap(); // same source name exists in `c`
    let idx = b.move_link(&a, pair.host_index, &c, "eth0").await.unwrap();
    let moved = b.link_by_index(&c, idx).await.unwrap();
    assert_eq!(moved.name, "eth0");
    assert_eq!(moved.kind, LinkKind::Veth);
    assert!(b.link_by_name(&a, "ve-a").await.is_err());
    // Its peer, still in `a`, now points into `c`.
    let peer = b.link_by_index(&a, pair.peer_index).await.unwrap();
    assert_eq!(
        peer.peer,
        Some(PeerRef {
            netns: Some(c.clone()),
            index: idx
        })
    );
    // A destination name that exists: EEXIST, and the link stays where it was (SPEC N4).
    let e = b
        .move_link(&a, pair.peer_index, &c, "eth0")
        .await
        .unwrap_err();
    assert_eq!(e.errno, Errno::EEXIST);
    assert_eq!(
        b.link_by_index(&a, pair.peer_index).await.unwrap().name,
        "ve-b"
    );
    // Move back under its source name.
    let back = b.move_link(&c, idx, &a, "ve-a").await.unwrap();
    assert_eq!(b.link_by_index(&a, back).await.unwrap().name, "ve-a");
}

// SPEC: T2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn veth_is_born_in_its_namespace_with_name_and_mac() {
    if !enter("veth_is_born_in_its_namespace_with_name_and_mac") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let host = fx.netns("h").await;
    let ctr = fx.netns("c").await;
    let br = b
        .create_bridge(&host, "br0", Default::default())
        .await
        .unwrap();
    let mut req = veth_request("vh0", &ctr, "eth0", Some(MAC_B));
    req.host_master = Some(br);
    req.host_up = true;
    let pair = b.create_veth(&host, &req).await.unwrap();
    let inside = b.link_by_index(&ctr, pair.peer_index).await.unwrap();
    assert_eq!(inside.name, "eth0");
    assert_eq!(inside.mac, Some(MAC_B));
    assert_eq!(inside.kind, LinkKind::Veth);
    assert_eq!(
        inside.peer,
        Some(PeerRef {
            netns: Some(host.clone()),
            index: pair.host_index
        })
    );
    let h = b.link_by_index(&host, pair.host_index).await.unwrap();
    assert!(h.flags.up, "host end up in the same request");
    assert_eq!(h.master, Some(br), "host end enslaved in the same request");
    assert!(h.port_state.is_some(), "bridge port reports its state");
    // T2: the listing shows every link with kind, master and peer.
    let links = b.list_links(&host).await.unwrap();
    let names: Vec<_> = links.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["lo", "br0", "vh0"]);
    let vh = links.iter().find(|l| l.name == "vh0").unwrap();
    assert_eq!(vh.master, Some(br));
    assert_eq!(vh.kind, LinkKind::Veth);
    assert_eq!(
        vh.peer,
        Some(PeerRef {
            netns: Some(ctr.clone()),
            index: pair.peer_index
        })
    );
    assert!(links
        .iter()
        .find(|l| l.name == "br0")
        .unwrap()
        .bridge
        .is_some());
    // set_master(None) releases.
    b.set_master(&host, pair.host_index, None).await.unwrap();
    assert_eq!(
        b.link_by_index(&host, pair.host_index)
            .await
            .unwrap()
            .master,
        None
    );
    b.set_master(&host, pair.host_index, Some(br))
        .await
        .unwrap();
    // Deleting one end takes the other along.
    b.delete_links(&host, &[pair.host_index]).await.unwrap();
    assert_eq!(
        b.link_by_name(&ctr, "eth0").await.unwrap_err().errno,
        Errno::ENODEV
    );
}

// SPEC: A4
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_with_nodad_are_never_tentative() {
    if !enter("addresses_with_nodad_are_never_tentative") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let a = fx.netns("a").await;
    let c = fx.netns("c").await;
    let pair = b
        .create_veth(&a, &veth_request("eth0", &c, "eth0", None))
        .await
        .unwrap();
    let i = pair.host_index;
    b.set_link_up(&a, i).await.unwrap();
    b.set_link_up(&c, pair.peer_index).await.unwrap();
    b.add_address(&a, i, net("192.0.2.10/24"), false)
        .await
        .unwrap();
    b.add_address(&a, i, net("fd00::10/64"), true)
        .await
        .unwrap();
    b.add_address(&a, i, net("fd00:1::10/64"), false)
        .await
        .unwrap();
    let addrs = b.list_addresses(&a, Some(i)).await.unwrap();
    let find = |n: &str| addrs.iter().find(|x| x.net == net(n)).cloned();
    let v4 = find("192.0.2.10/24").expect("v4 listed");
    assert!(v4.flags.permanent);
    let nodad = find("fd00::10/64").expect("v6 listed");
    assert!(nodad.flags.nodad, "IFA_F_NODAD set");
    assert!(!nodad.flags.tentative, "never tentative");
    let dad = find("fd00:1::10/64").expect("v6 with DAD listed");
    assert!(!dad.flags.nodad);
    assert!(dad.flags.tentative, "DAD takes a while on an up link");
    // Never tentative, also a while later.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let again = b.list_addresses(&a, Some(i)).await.unwrap();
    assert!(again
        .iter()
        .any(|x| x.net == net("fd00::10/64") && x.flags.nodad && !x.flags.tentative));
    // Duplicates and deletes.
    let e = b
        .add_address(&a, i, net("192.0.2.10/24"), false)
        .await
        .unwrap_err();
    assert_eq!(e.errno, Errno::EEXIST);
    assert!(e.object.contains("eth0"), "{e}");
    b.del_address(&a, i, net("192.0.2.10/24")).await.unwrap();
    b.del_address(&a, i, net("fd00::10/64")).await.unwrap();
    let left = b.list_addresses(&a, Some(i)).await.unwrap();
    assert!(!left.iter().any(|x| x.net == net("192.0.2.10/24")));
    assert!(!left.iter().any(|x| x.net == net("fd00::10/64")));
    assert_eq!(
        b.del_address(&a, i, net("192.0.2.10/24"))
            .await
            .unwrap_err()
            .errno,
        Errno::EADDRNOTAVAIL
    );
    // All links' addresses: includes lo's 127.0.0.1 only when lo is up; ours are there.
    let all = b.list_addresses(&a, None).await.unwrap();
    assert!(all.iter().any(|x| x.net == net("fd00:1::10/64")));
}

// SPEC: A8
// SPEC: R2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysctls_read_write_and_disable_ipv6_drops_v6_addresses() {
    if !enter("sysctls_read_write_and_disable_ipv6_drops_v6_addresses") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let a = fx.netns("a").await;
    let br = b
        .create_bridge(&a, "br0", Default::default())
        .await
        .unwrap();
    b.add_address(&a, br, net("fd00::1/64"), true)
        .await
        .unwrap();
    b.add_address(&a, br, net("192.0.2.1/24"), false)
        .await
        .unwrap();
    let key = "net/ipv6/conf/br0/disable_ipv6";
    assert_eq!(b.read_sysctl(&a, key).await.unwrap(), "0");
    b.write_sysctl(&a, key, "1").await.unwrap();
    assert_eq!(b.read_sysctl(&a, key).await.unwrap(), "1");
    let addrs = b.list_addresses(&a, Some(br)).await.unwrap();
    assert!(addrs.iter().all(|x| x.net.addr().is_ipv4()), "{addrs:?}");
    assert_eq!(addrs.len(), 1);
    // The namespace's own sysctl: another namespace keeps what it inherited (1 on a container
    // host, SPEC R2), before and after `a` writes the opposite.
    let fwd = "net/ipv4/ip_forward";
    let c = fx.netns("c").await;
    let inherited = b.read_sysctl(&c, fwd).await.unwrap();
    let other = if inherited == "0" { "1" } else { "0" };
    b.write_sysctl(&a, fwd, other).await.unwrap();
    assert_eq!(b.read_sysctl(&a, fwd).await.unwrap(), other);
    assert_eq!(b.read_sysctl(&c, fwd).await.unwrap(), inherited);
    let d = fx.netns("d").await;
    assert_eq!(b.read_sysctl(&d, fwd).await.unwrap(), inherited);
    assert_eq!(
        b.read_sysctl(&c, "net/ipv6/conf/br0/disable_ipv6")
            .await
            .unwrap_err()
            .errno,
        Errno::ENOENT
    );
    assert_eq!(
        b.read_sysctl(&a, "net/ipv4").await.unwrap_err().errno,
        Errno::EISDIR
    );
    assert_eq!(
        b.read_sysctl(&a, "net/../../etc/passwd")
            .await
            .unwrap_err()
            .errno,
        Errno::EINVAL
    );
}

// SPEC: A13
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_add_list_query_delete_and_ff02_with_oif() {
    if !enter("routes_add_list_query_delete_and_ff02_with_oif") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let a = fx.netns("a").await;
    let c = fx.netns("c").await;
    let pair = b
        .create_veth(&a, &veth_request("eth0", &c, "eth0", None))
        .await
        .unwrap();
    let i = pair.host_index;
    b.set_link_up(&a, i).await.unwrap();
    b.add_address(&a, i, net("192.0.2.10/24"), false)
        .await
        .unwrap();
    b.add_address(&a, i, net("fd00::10/64"), true)
        .await
        .unwrap();
    b.set_link_up(&c, pair.peer_index).await.unwrap();
    let link_route = RouteSpec {
        dst: net("198.51.100.0/25"),
        gateway: None,
        oif: i,
        scope: RouteScope::Link,
    };
    b.add_route(&a, &link_route).await.unwrap();
    let default = RouteSpec {
        dst: net("0.0.0.0/0"),
        gateway: Some("192.0.2.1".parse().unwrap()),
        oif: i,
        scope: RouteScope::Universe,
    };
    b.add_route(&a, &default).await.unwrap();
    assert_eq!(
        b.add_route(&a, &link_route).await.unwrap_err().errno,
        Errno::EEXIST
    );
    let routes = b.list_routes(&a, Family::V4).await.unwrap();
    assert!(routes.iter().any(|r| r.dst == net("198.51.100.0/25")
        && r.oif == Some(i)
        && r.scope == RouteScope::Link));
    assert!(routes
        .iter()
        .any(|r| r.dst == net("0.0.0.0/0") && r.gateway == default.gateway));
    assert!(
        routes.iter().any(|r| r.dst == net("192.0.2.0/24")),
        "connected route"
    );
    assert!(routes.iter().all(|r| r.dst.addr().is_ipv4()));
    let v6 = b.list_routes(&a, Family::V6).await.unwrap();
    assert!(v6.iter().any(|r| r.dst == net("fd00::/64")));
    // Queries.
    let r = b
        .get_route(&a, "198.51.100.7".parse().unwrap(), None)
        .await
        .unwrap();
    assert_eq!((r.oif, r.gateway), (Some(i), None));
    let r = b
        .get_route(&a, "198.51.100.200".parse().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(r.gateway, default.gateway);
    // A13: ff02::1 asked with oif answers on an IPv6 link...
    let ff02: IpAddr = "ff02::1".parse().unwrap();
    let mut found = None;
    for _ in 0..50 {
        if let Ok(r) = b.get_route(&a, ff02, Some(i)).await {
            found = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(found.expect("a route to ff02::1 via oif").oif, Some(i));
    // ...and not once IPv6 is off there.
    b.write_sysctl(&a, "net/ipv6/conf/eth0/disable_ipv6", "1")
        .await
        .unwrap();
    assert!(b.get_route(&a, ff02, Some(i)).await.is_err());
    // Delete.
    b.del_route(&a, &link_route).await.unwrap();
    b.del_route(&a, &default).await.unwrap();
    let routes = b.list_routes(&a, Family::V4).await.unwrap();
    assert!(!routes.iter().any(|r| r.dst == net("198.51.100.0/25")));
    assert!(!routes.iter().any(|r| r.dst == net("0.0.0.0/0")));
    assert_eq!(
        b.del_route(&a, &link_route).await.unwrap_err().errno,
        Errno::ESRCH
    );
    assert_eq!(
        b.get_route(&a, "198.51.100.200".parse().unwrap(), None)
            .await
            .unwrap_err()
            .errno,
        Errno::ENETUNREACH
    );
}

// SPEC: A12
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_port_states_come_from_netlink() {
    if !enter("bridge_port_states_come_from_netlink") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let host = fx.netns("h").await;
    let ctr = fx.netns("c").await;
    // Without STP: forwarding as soon as the port has carrier.
    let plain = b
        .create_bridge(&host, "br0", Default::default())
        .await
        .unwrap();
    b.set_link_up(&host, plain).await.unwrap();
    let mut req = veth_request("vp0", &ctr, "eth0", None);
    req.host_master = Some(plain);
    req.host_up = true;
    let p = b.create_veth(&host, &req).await.unwrap();
    assert_eq!(
        b.link_by_index(&host, p.host_index)
            .await
            .unwrap()
            .port_state,
        Some(PortState::Disabled),
        "no carrier yet: the peer is down"
    );
    b.set_link_up(&ctr, p.peer_index).await.unwrap();
    let state = wait_port(&b, &host, p.host_index, PortState::Forwarding, 2000).await;
    assert_eq!(state, Some(PortState::Forwarding));

    // With STP (kernel STP, forward delay 2 s): listening, then learning, then forwarding.
    let stp = b
        .create_bridge(&host, "br1", Default::default())
        .await
        .unwrap();
    run_in(
        &host,
        &[
            "ip",
            "link",
            "set",
            "br1",
            "type",
            "bridge",
            "stp_state",
            "1",
            "forward_delay",
            "200",
        ],
    );
    let info = b.link_by_index(&host, stp).await.unwrap().bridge.unwrap();
    assert!(info.stp_enabled);
    assert_eq!(info.forward_delay_cs, 200);
    b.set_link_up(&host, stp).await.unwrap();
    let mut req = veth_request("vp1", &ctr, "eth1", None);
    req.host_master = Some(stp);
    req.host_up = true;
    let q = b.create_veth(&host, &req).await.unwrap();
    b.set_link_up(&ctr, q.peer_index).await.unwrap();
    let first = wait_port(&b, &host, q.host_index, PortState::Listening, 1000).await;
    assert_eq!(first, Some(PortState::Listening));
    let learning = wait_port(&b, &host, q.host_index, PortState::Learning, 3500).await;
    assert_eq!(learning, Some(PortState::Learning));
    let fwd = wait_port(&b, &host, q.host_index, PortState::Forwarding, 3500).await;
    assert_eq!(fwd, Some(PortState::Forwarding));
}

async fn wait_port(
    b: &nsplumb_linux::LinuxBackend,
    ns: &NetnsRef,
    index: u32,
    want: PortState,
    ms: u64,
) -> Option<PortState> {
    let deadline = Instant::now() + Duration::from_millis(ms);
    let mut last = None;
    while Instant::now() < deadline {
        last = b.link_by_index(ns, index).await.unwrap().port_state;
        if last == Some(want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    last
}

// SPEC: S2
// SPEC: S3
// SPEC: T1
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arp_and_na_leave_byte_exact_and_counters_count() {
    if !enter("arp_and_na_leave_byte_exact_and_counters_count") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let a = fx.netns("a").await;
    let c = fx.netns("c").await;
    let pair = b
        .create_veth(&a, &veth_request("eth0", &c, "cap0", None))
        .await
        .unwrap();
    let (i, j) = (pair.host_index, pair.peer_index);
    b.set_mac(&a, i, MAC_A).await.unwrap();
    b.add_address(&a, i, net("fd00::10/64"), true)
        .await
        .unwrap();
    b.set_link_up(&a, i).await.unwrap();
    b.set_link_up(&c, j).await.unwrap();
    let cap = Capture::open(&c, j);
    let counters = |l: nsplumb_core::LinkInfo| l.stats.expect("the link read carries IFLA_STATS64");
    let before = counters(b.link_by_index(&a, i).await.unwrap());

    // S2
    let ip4 = Ipv4Addr::new(192, 0, 2, 10);
    b.send_arp(&a, i, MAC_A, ip4).await.unwrap();
    let want = nsplumb_wire::arp_announcement(MAC_A, ip4);
    let got = cap
        .wait_for(Duration::from_secs(2), |f| {
            matches!(parse_frame(f), Some(Announcement::Arp { .. }))
        })
        .expect("the ARP announcement arrives on the peer");
    assert_eq!(got, want, "byte-exact ARP frame");

    // S3
    let ip6: Ipv6Addr = "fd00::10".parse().unwrap();
    b.send_na(&a, i, MAC_A, ip6).await.unwrap();
    let want = nsplumb_wire::na_frame(MAC_A, ip6);
    let got = cap
        .wait_for(Duration::from_secs(2), |f| {
            matches!(parse_frame(f), Some(Announcement::Na { message, .. }) if message.target == ip6)
        })
        .expect("the NA arrives on the peer");
    assert_eq!(got, want, "byte-exact NA frame (kernel-computed checksum)");
    // The cached socket is reused for the next sends.
    b.send_na(&a, i, MAC_A, ip6).await.unwrap();
    b.send_arp(&a, i, MAC_A, ip4).await.unwrap();

    // T1: 64-bit counters moved.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let after = counters(b.link_by_index(&a, i).await.unwrap());
    assert!(
        after.tx_packets >= before.tx_packets + 4,
        "{before:?} -> {after:?}"
    );
    assert!(after.tx_bytes >= before.tx_bytes + 2 * 42 + 2 * 86);
    let peer = counters(b.link_by_index(&c, j).await.unwrap());
    assert!(peer.rx_packets >= 4, "{peer:?}");
    // A dump carries them too (T2 and the TUI make no request per link).
    let listed = b.list_links(&c).await.unwrap();
    let listed = listed
        .into_iter()
        .find(|l| l.index == j)
        .expect("cap0 listed");
    assert!(counters(listed).rx_packets >= 4);
    let e = b.link_by_index(&a, 9999).await.unwrap_err();
    assert_eq!(e.errno, Errno::ENODEV);
    assert!(e.to_string().contains("ifindex 9999") && e.to_string().contains(&a.to_string()));

    // Sending out of a link that is gone: an error naming it.
    assert!(b.send_arp(&a, 9999, MAC_A, ip4).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_events_arrive_after_subscribe() {
    if !enter("link_events_arrive_after_subscribe") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let a = fx.netns("a").await;
    let mut events = b.subscribe_links(&a).await.unwrap();
    let br = b
        .create_bridge(&a, "br0", Default::default())
        .await
        .unwrap();
    b.set_link_up(&a, br).await.unwrap();
    let mut saw_up = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while !saw_up {
        let ev = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("events in time")
            .expect("stream open");
        if let LinkEvent::Changed(l) = ev {
            if l.index == br && l.flags.up {
                assert_eq!(l.name, "br0");
                assert_eq!(l.kind, LinkKind::Bridge);
                saw_up = true;
            }
        }
    }
    b.delete_links(&a, &[br]).await.unwrap();
    loop {
        let ev = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("removal in time")
            .expect("stream open");
        if let LinkEvent::Removed { index, name } = ev {
            assert_eq!((index, name.as_str()), (br, "br0"));
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_veths_are_deleted_in_one_batch() {
    if !enter("fifty_veths_are_deleted_in_one_batch") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let a = fx.netns("a").await;
    let c = fx.netns("c").await;
    let make = |tag: &'static str| {
        let b = b.clone();
        let (a, c) = (a.clone(), c.clone());
        async move {
            let mut idx = Vec::new();
            for n in 0..50 {
                let p = b
                    .create_veth(
                        &a,
                        &veth_request(&format!("{tag}{n}"), &c, &format!("{tag}{n}"), None),
                    )
                    .await
                    .unwrap();
                idx.push(p.host_index);
            }
            idx
        }
    };
    let one_by_one = make("s").await;
    let batch = make("b").await;
    let t = Instant::now();
    for i in &one_by_one {
        b.delete_links(&a, &[*i]).await.unwrap();
    }
    let serial = t.elapsed();
    let t = Instant::now();
    b.delete_links(&a, &batch).await.unwrap();
    let batched = t.elapsed();
    eprintln!("delete 50 veths: one by one {serial:?}, one batch {batched:?}");
    assert_eq!(b.list_links(&a).await.unwrap().len(), 1);
    assert_eq!(b.list_links(&c).await.unwrap().len(), 1);
    assert!(
        batched * 3 < serial,
        "one batch ({batched:?}) should cost far less than 50 deletes ({serial:?})"
    );
    // A bad index in the middle: the others are still deleted, the bad one is reported.
    let x = b
        .create_veth(&a, &veth_request("x0", &c, "x0", None))
        .await
        .unwrap();
    let y = b
        .create_veth(&a, &veth_request("y0", &c, "y0", None))
        .await
        .unwrap();
    let e = b
        .delete_links(&a, &[x.host_index, 9999, y.host_index])
        .await
        .unwrap_err();
    assert_eq!(
        (e.errno, e.object.as_str()),
        (Errno::ENODEV, "ifindex 9999")
    );
    assert_eq!(b.list_links(&a).await.unwrap().len(), 1);
    // The first error is reported, naming the link.
    let e = b.delete_links(&a, &[9998, 9999]).await.unwrap_err();
    assert_eq!(e.errno, Errno::ENODEV);
    assert_eq!(e.object, "ifindex 9998");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_is_monotonic_and_sleep_until_waits() {
    if !enter("clock_is_monotonic_and_sleep_until_waits") {
        return;
    }
    let b = nsplumb_linux::LinuxBackend::new().unwrap();
    let t0 = b.now();
    b.sleep_until(t0 + Duration::from_millis(30)).await;
    let t1 = b.now();
    assert!(t1 - t0 >= Duration::from_millis(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_pid_paths_and_bind_mounts_name_the_same_namespace() {
    if !enter("proc_pid_paths_and_bind_mounts_name_the_same_namespace") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let a = fx.netns("a").await;
    let NetnsRef::Path(path) = &a else {
        unreachable!()
    };
    // A process living in the namespace gives a second path to it.
    let mut child = std::process::Command::new("nsenter")
        .arg(format!("--net={path}"))
        .args(["sleep", "30"])
        .spawn()
        .expect("nsenter");
    let proc_path = NetnsRef::path(format!("/proc/{}/ns/net", child.id()));
    // Wait until nsenter has joined the namespace.
    let ino = |p: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).map(|m| m.ino()).ok()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while ino(&format!("/proc/{}/ns/net", child.id())) != ino(path) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let br = b
        .create_bridge(&proc_path, "br0", Default::default())
        .await
        .unwrap();
    assert_eq!(b.link_by_name(&a, "br0").await.unwrap().index, br);
    assert_eq!(b.list_links(&proc_path).await.unwrap().len(), 2);
    assert_eq!(
        b.cached_connections(),
        1,
        "two paths, one namespace, one connection"
    );
    // The host namespace works without setns privileges too: it is only read here.
    assert!(!b.list_links(&NetnsRef::Host).await.unwrap().is_empty());
    let _ = child.kill();
    let _ = child.wait();
}

/// Per-operation wall-clock cost on this kernel, printed (not asserted beyond sanity): the
/// numbers the simulator's delay model and the fast-path choice (SPEC A2) rest on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_operation_timings() {
    if !enter("per_operation_timings") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let a = fx.netns("a").await;
    let c = fx.netns("c").await;
    const N: u32 = 10;
    let mut report = Vec::new();
    macro_rules! time {
        ($name:expr, $body:expr) => {{
            let t = Instant::now();
            let out = $body;
            report.push(($name, t.elapsed()));
            out
        }};
    }
    let br = b
        .create_bridge(&a, "br0", Default::default())
        .await
        .unwrap();
    b.set_link_up(&a, br).await.unwrap();
    let mut pairs = Vec::new();
    for n in 0..N {
        let mut req = veth_request(&format!("vh{n}"), &c, &format!("eth{n}"), Some(MAC_B));
        req.host_master = Some(br);
        req.host_up = true;
        pairs.push(time!(
            "create_veth (peer in other ns, enslaved, up)",
            b.create_veth(&a, &req).await.unwrap()
        ));
    }
    let mut moved = Vec::new();
    for (n, p) in pairs.iter().enumerate() {
        moved.push(time!(
            "move_link + rename (one message)",
            b.move_link(&c, p.peer_index, &a, &format!("m{n}"))
                .await
                .unwrap()
        ));
    }
    for (n, m) in moved.iter().enumerate() {
        time!(
            "move_link back",
            b.move_link(&a, *m, &c, &format!("eth{n}")).await.unwrap()
        );
    }
    for p in &pairs {
        time!(
            "set_link_up",
            b.set_link_up(&a, p.host_index).await.unwrap()
        );
        time!(
            "link_by_index",
            b.link_by_index(&a, p.host_index).await.unwrap()
        );
    }
    for (n, p) in pairs.iter().enumerate() {
        let addr = net(&format!("fd00::{}/64", n + 1));
        time!(
            "add_address (v6, nodad)",
            b.add_address(&a, p.host_index, addr, true).await.unwrap()
        );
        let ip6 = match addr.addr() {
            IpAddr::V6(v6) => v6,
            IpAddr::V4(_) => unreachable!(),
        };
        time!(
            "send_na",
            b.send_na(&a, p.host_index, MAC_A, ip6).await.unwrap()
        );
        time!(
            "send_arp",
            b.send_arp(&a, p.host_index, MAC_A, Ipv4Addr::new(192, 0, 2, 1))
                .await
                .unwrap()
        );
        let key = format!("net/ipv6/conf/vh{n}/disable_ipv6");
        time!("read_sysctl", b.read_sysctl(&a, &key).await.unwrap());
        time!("write_sysctl", b.write_sysctl(&a, &key, "0").await.unwrap());
    }
    for _ in 0..N {
        time!(
            "list_links (12 links, peers mapped)",
            b.list_links(&a).await.unwrap()
        );
        time!(
            "get_route ff02::1 oif",
            b.get_route(&a, "ff02::1".parse().unwrap(), Some(pairs[0].host_index))
                .await
                .unwrap()
        );
        time!(
            "subscribe_links",
            drop(b.subscribe_links(&a).await.unwrap())
        );
    }
    let mut names: Vec<&str> = Vec::new();
    for (n, _) in &report {
        if !names.contains(n) {
            names.push(n);
        }
    }
    eprintln!("per-operation timings ({N} runs each, this kernel):");
    for n in names {
        let ds: Vec<Duration> = report
            .iter()
            .filter(|(m, _)| *m == n)
            .map(|(_, d)| *d)
            .collect();
        let total: Duration = ds.iter().sum();
        let max = ds.iter().max().unwrap();
        eprintln!(
            "  {n:<48} mean {:>9.3?}  max {:>9.3?}",
            total / ds.len() as u32,
            max
        );
    }
}

// SPEC: D2 (safe to call concurrently), A5
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_dumps_in_one_namespace_all_answer() {
    if !enter("concurrent_dumps_in_one_namespace_all_answer") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("dumps").await;
    // Tables too large for one reply, so that each dump is still running when the next one is
    // asked for: a netlink socket runs one dump at a time (the kernel answers another with
    // EBUSY), and every list through the namespace's one connection must still get its answer.
    run_in(
        &ns,
        &[
            "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d0p",
        ],
    );
    run_in(&ns, &["ip", "link", "set", "d0", "up"]);
    run_in(&ns, &["ip", "addr", "add", "192.0.2.1/24", "dev", "d0"]);
    let batch = std::env::temp_dir().join(format!("nsplumb-dumps-{}.batch", std::process::id()));
    let lines: String = (0..600)
        .map(|i| format!("route add fd00:d::{i:x}/128 dev d0\n"))
        .chain((2..250).map(|i| format!("route add 198.51.100.{i}/32 dev d0\n")))
        .collect();
    std::fs::write(&batch, lines).unwrap();
    run_in(&ns, &["ip", "-batch", batch.to_str().unwrap()]);
    let _ = std::fs::remove_file(&batch);
    let lists = (0..32).map(|i| {
        let b = b.clone();
        let ns = ns.clone();
        async move {
            match i % 3 {
                0 => b.list_links(&ns).await.map(|v| v.len()),
                1 => b.list_routes(&ns, Family::V6).await.map(|v| v.len()),
                _ => b.list_addresses(&ns, None).await.map(|v| v.len()),
            }
        }
    });
    let answers = futures::future::join_all(lists).await;
    let failed: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of 32 lists failed: {failed:?}",
        failed.len()
    );
    let routes = answers[1].as_ref().unwrap();
    assert!(
        *routes >= 600,
        "the IPv6 dump holds the 600 routes added: {routes}"
    );
}
