//! The shortcuts `LinuxBackend` takes on the attach path give the answers of the long way:
//! link indices from the echo of a creation (instead of lookups by name), `disable_ipv6` from
//! the link's netlink data (instead of `/proc/sys`), link subscriptions from sockets opened ahead
//! of time. Each test in its own isolated child (see `nsplumb_kernel_tests::privilege`).

use futures::StreamExt;
use nsplumb_core::{BackendExt, Errno, LinkEvent, NetBackend, NetnsAdmin, NetnsRef, PeerRef};
use nsplumb_kernel_tests::fixture::{in_ns, run_in, veth_request, Fixture};
use nsplumb_kernel_tests::privilege::enter;
use std::time::Duration;

/// `/proc/sys/PATH` as read by a thread inside `ns`: the value, or the errno.
fn proc_read(ns: &NetnsRef, path: &str) -> Result<String, Errno> {
    let full = format!("/proc/sys/{path}");
    in_ns(ns, move || {
        std::fs::read_to_string(&full)
            .map(|s| s.trim().to_string())
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))
    })
}

/// The backend's answer and the file's agree.
async fn same_answer(fx: &Fixture, ns: &NetnsRef, path: &str) -> Result<String, Errno> {
    let backend = fx.backend.read_sysctl(ns, path).await.map_err(|e| e.errno);
    let file = proc_read(ns, path);
    assert_eq!(backend, file, "{path} in {ns}");
    backend
}

// SPEC: A2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_links_report_the_indices_a_lookup_finds() {
    if !enter("created_links_report_the_indices_a_lookup_finds") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let host = NetnsRef::Host;
    let ctr = fx.netns("c").await;
    // Push the indices of the two namespaces apart, so a mix-up cannot pass.
    for i in 0..3 {
        run_in(
            &host,
            &["ip", "link", "add", &format!("pad{i}"), "type", "bridge"],
        );
    }
    // Container end born in another namespace (the attach fast path).
    let pair = b
        .create_veth(&host, &veth_request("vh0", &ctr, "eth0", None))
        .await
        .unwrap();
    assert_eq!(
        pair.host_index,
        b.link_by_name(&host, "vh0").await.unwrap().index
    );
    assert_eq!(
        pair.peer_index,
        b.link_by_name(&ctr, "eth0").await.unwrap().index
    );
    assert_ne!(pair.host_index, pair.peer_index);
    // The host end names its peer's namespace (the id from the echo, SPEC A12 reads it).
    let h = b.link_by_index(&host, pair.host_index).await.unwrap();
    assert_eq!(
        h.peer,
        Some(PeerRef {
            netns: Some(ctr.clone()),
            index: pair.peer_index
        })
    );
    let c = b.link_by_index(&ctr, pair.peer_index).await.unwrap();
    assert_eq!(
        c.peer,
        Some(PeerRef {
            netns: Some(host.clone()),
            index: pair.host_index
        })
    );
    // A second pair into a second namespace: its own id.
    let ctr2 = fx.netns("c2").await;
    let pair2 = b
        .create_veth(&host, &veth_request("vh2", &ctr2, "eth0", None))
        .await
        .unwrap();
    let h2 = b.link_by_index(&host, pair2.host_index).await.unwrap();
    assert_eq!(h2.peer.unwrap().netns, Some(ctr2.clone()));
    let h = b.link_by_index(&host, pair.host_index).await.unwrap();
    assert_eq!(h.peer.unwrap().netns, Some(ctr.clone()));
    // Both ends in one namespace.
    let pair = b
        .create_veth(&ctr, &veth_request("va", &ctr, "vb", None))
        .await
        .unwrap();
    assert_eq!(
        pair.host_index,
        b.link_by_name(&ctr, "va").await.unwrap().index
    );
    assert_eq!(
        pair.peer_index,
        b.link_by_name(&ctr, "vb").await.unwrap().index
    );
    // A bridge.
    let br = b
        .create_bridge(&ctr, "br9", Default::default())
        .await
        .unwrap();
    assert_eq!(br, b.link_by_name(&ctr, "br9").await.unwrap().index);
    // A failed creation still fails, naming the link.
    let e = b
        .create_veth(&host, &veth_request("vh0", &ctr, "eth1", None))
        .await
        .unwrap_err();
    assert_eq!(e.errno, Errno::EEXIST);
    assert!(e.to_string().contains("vh0"), "{e}");
}

// SPEC: A6
// SPEC: A7
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_ipv6_read_over_netlink_matches_proc_sys() {
    if !enter("disable_ipv6_read_over_netlink_matches_proc_sys") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    b.create_veth(&ns, &veth_request("en0", &ns, "dis0", None))
        .await
        .unwrap();
    let path = |name: &str| format!("net/ipv6/conf/{name}/disable_ipv6");
    // Enabled, disabled (set behind the backend's back), and back.
    run_in(&ns, &["sysctl", "-qw", "net.ipv6.conf.dis0.disable_ipv6=1"]);
    assert_eq!(same_answer(&fx, &ns, &path("en0")).await, Ok("0".into()));
    assert_eq!(same_answer(&fx, &ns, &path("dis0")).await, Ok("1".into()));
    b.write_sysctl(&ns, &path("dis0"), "0").await.unwrap();
    assert_eq!(same_answer(&fx, &ns, &path("dis0")).await, Ok("0".into()));
    b.write_sysctl(&ns, &path("en0"), "1").await.unwrap();
    assert_eq!(same_answer(&fx, &ns, &path("en0")).await, Ok("1".into()));
    // Not interfaces, or none: the file's answers.
    for other in ["all", "default", "lo"] {
        assert!(same_answer(&fx, &ns, &path(other)).await.is_ok(), "{other}");
    }
    assert_eq!(
        same_answer(&fx, &ns, &path("nosuch0")).await,
        Err(Errno::ENOENT)
    );
    // A link without IPv6 (MTU below 1280): no inet6 data, no file, ENOENT both ways.
    run_in(&ns, &["ip", "link", "set", "en0", "mtu", "1200"]);
    assert_eq!(
        same_answer(&fx, &ns, &path("en0")).await,
        Err(Errno::ENOENT)
    );
    let e = b.read_sysctl(&ns, &path("en0")).await.unwrap_err();
    assert!(e.to_string().contains(&path("en0")), "{e}");
    // Back above 1280: IPv6 data again, with the default value.
    run_in(&ns, &["ip", "link", "set", "en0", "mtu", "1500"]);
    assert_eq!(same_answer(&fx, &ns, &path("en0")).await, Ok("0".into()));
    // A renamed link is found under its new name only.
    run_in(&ns, &["ip", "link", "set", "dis0", "name", "ren0"]);
    assert_eq!(same_answer(&fx, &ns, &path("ren0")).await, Ok("0".into()));
    assert_eq!(
        same_answer(&fx, &ns, &path("dis0")).await,
        Err(Errno::ENOENT)
    );
}

// SPEC: A11
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscription_sees_events_after_it_returns() {
    if !enter("every_subscription_sees_events_after_it_returns") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    let pair = b
        .create_veth(&ns, &veth_request("s0", &ns, "s1", None))
        .await
        .unwrap();
    // Several subscriptions in a row in one namespace (more than any sockets kept ready), each
    // sees the change made right after it returned. (Not necessarily as its first event: the
    // kernel's linkwatch work can still report the previous round's change.)
    for round in 0..4 {
        let mut events = b.subscribe_links(&ns).await.unwrap();
        let up = round % 2 == 0;
        if up {
            b.set_link_up(&ns, pair.host_index).await.unwrap();
        } else {
            b.set_link_down(&ns, pair.host_index).await.unwrap();
        }
        let seen = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(ev) = events.next().await {
                if let LinkEvent::Changed(l) = ev {
                    if l.index == pair.host_index && l.flags.up == up {
                        return true;
                    }
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        assert!(seen, "round {round}: no event with up={up} within 2 s");
    }
    // And in the host namespace.
    let host = NetnsRef::Host;
    let mut events = b.subscribe_links(&host).await.unwrap();
    run_in(&host, &["ip", "link", "add", "hs0", "type", "bridge"]);
    let seen = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(ev) = events.next().await {
            if matches!(&ev, LinkEvent::Changed(l) if l.name == "hs0") {
                return true;
            }
        }
        false
    })
    .await
    .expect("an event within 2 s");
    assert!(seen);
}

/// Normalise an `ip -j route` destination ("default", "192.0.2.5", "fd00::/64").
fn ip_dst(dst: &str, v6: bool) -> ipnet::IpNet {
    match dst {
        "default" if v6 => "::/0".parse().unwrap(),
        "default" => "0.0.0.0/0".parse().unwrap(),
        d if d.contains('/') => d.parse().unwrap(),
        d => ipnet::IpNet::from(d.parse::<std::net::IpAddr>().unwrap()),
    }
}

/// `ip route show table main` of one family in `ns`: (destination, oif name).
fn ip_main_routes(ns: &NetnsRef, v6: bool) -> Vec<(ipnet::IpNet, String)> {
    let fam = if v6 { "-6" } else { "-4" };
    let out = run_in(ns, &["ip", "-j", fam, "route", "show", "table", "main"]);
    let routes: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let mut v: Vec<_> = routes
        .iter()
        .map(|r| {
            (
                ip_dst(r["dst"].as_str().unwrap(), v6),
                r["dev"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

// SPEC: A5
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_and_address_dumps_give_what_ip_shows() {
    if !enter("route_and_address_dumps_give_what_ip_shows") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    let pair = b
        .create_veth(&ns, &veth_request("r0", &ns, "r1", None))
        .await
        .unwrap();
    for i in [pair.host_index, pair.peer_index] {
        b.set_link_up(&ns, i).await.unwrap();
    }
    b.set_link_up(&ns, 1).await.unwrap(); // lo
                                          // Many local-table entries (one per address), a few main-table routes, and routes in a
                                          // table of their own, which SPEC A5 does not look at.
    for i in 0..20u32 {
        let v4 = format!("198.51.100.{}/24", i + 1);
        let v6 = format!("fd00:5::{:x}/64", i + 1);
        b.add_address(&ns, pair.host_index, v4.parse().unwrap(), false)
            .await
            .unwrap();
        b.add_address(&ns, pair.host_index, v6.parse().unwrap(), true)
            .await
            .unwrap();
    }
    run_in(&ns, &["ip", "route", "add", "203.0.113.0/24", "dev", "r0"]);
    run_in(
        &ns,
        &["ip", "route", "add", "default", "via", "198.51.100.254"],
    );
    run_in(
        &ns,
        &[
            "ip",
            "route",
            "add",
            "192.0.2.0/24",
            "dev",
            "r1",
            "table",
            "100",
        ],
    );
    run_in(
        &ns,
        &[
            "ip",
            "-6",
            "route",
            "add",
            "fd00:7::/64",
            "dev",
            "r1",
            "table",
            "100",
        ],
    );
    let name_of = |i: u32| {
        if i == pair.host_index {
            "r0".to_string()
        } else if i == pair.peer_index {
            "r1".to_string()
        } else {
            format!("ifindex {i}")
        }
    };
    for (family, v6) in [
        (nsplumb_core::Family::V4, false),
        (nsplumb_core::Family::V6, true),
    ] {
        let mut got: Vec<(ipnet::IpNet, String)> = b
            .list_routes(&ns, family)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.dst, r.oif.map_or_else(String::new, name_of)))
            .collect();
        got.sort();
        let want = ip_main_routes(&ns, v6);
        assert!(want.len() >= 2, "{want:?}");
        assert_eq!(got, want, "{family:?}");
    }
    // Addresses: of one link, of every link, and of a link that does not exist (none).
    let all = b.list_addresses(&ns, None).await.unwrap();
    let of_r0 = b.list_addresses(&ns, Some(pair.host_index)).await.unwrap();
    assert!(of_r0.len() >= 40, "{}", of_r0.len());
    assert!(of_r0.iter().all(|a| a.index == pair.host_index));
    assert_eq!(
        of_r0,
        all.iter()
            .filter(|a| a.index == pair.host_index)
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(b.list_addresses(&ns, Some(9999)).await.unwrap(), vec![]);
}

/// NA senders: the first of a namespace is set up from the socket opened with its connection,
/// the next ones inside the namespace as before; either way the same frames and the same errors.
// SPEC: S3
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn na_senders_from_spare_and_fresh_sockets_agree() {
    if !enter("na_senders_from_spare_and_fresh_sockets_agree") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let a = fx.netns("a").await;
    let c = fx.netns("c").await;
    let pair = b
        .create_veth(&a, &veth_request("na0", &c, "na1", None))
        .await
        .unwrap();
    let (i, j) = (pair.host_index, pair.peer_index);
    let mac = nsplumb_core::MacAddr([0x02, 0x00, 0x5e, 0x10, 0x00, 0x07]);
    b.set_mac(&a, i, mac).await.unwrap();
    let ll: std::net::Ipv6Addr = "fe80::5e:1007".parse().unwrap();
    let global: std::net::Ipv6Addr = "fd00:6::7".parse().unwrap();
    for addr in [ll, global] {
        let net = format!("{addr}/64").parse().unwrap();
        b.add_address(&a, i, net, true).await.unwrap();
    }
    b.set_link_up(&a, i).await.unwrap();
    b.set_link_up(&c, j).await.unwrap();
    // An address the link does not have: refused, and again (the spare is gone by then).
    let missing: std::net::Ipv6Addr = "fd00:6::99".parse().unwrap();
    let e1 = b.send_na(&a, i, mac, missing).await.unwrap_err();
    let e2 = b.send_na(&a, i, mac, missing).await.unwrap_err();
    assert_eq!(e1.errno, e2.errno);
    assert_eq!(e1.errno, Errno(libc::EADDRNOTAVAIL));
    assert_eq!(e1.to_string(), e2.to_string());
    // A link-local source (bound with the interface as scope) from a fresh spare (a new
    // connection opens one), then a global one from a socket opened in the namespace.
    b.forget_netns(&a);
    b.link_by_index(&a, i).await.unwrap();
    let cap = nsplumb_kernel_tests::capture::Capture::open(&c, j);
    for addr in [ll, global] {
        b.send_na(&a, i, mac, addr).await.unwrap();
        let want = nsplumb_wire::na_frame(mac, addr);
        let got = cap
            .wait_for(Duration::from_secs(2), |f| {
                matches!(nsplumb_wire::parse_frame(f), Some(nsplumb_wire::Announcement::Na { message, .. }) if message.target == addr)
            })
            .expect("the NA arrives on the peer");
        assert_eq!(got, want, "byte-exact NA from {addr}");
    }
}

/// `netns_cookie`: one per namespace, stable while it lives, and a namespace created again
/// under the same name (and, as the kernel does, the same nsfs inode) has another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_netns_cookie_tells_a_recreated_namespace_from_the_old_one() {
    if !enter("the_netns_cookie_tells_a_recreated_namespace_from_the_old_one") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let host = b.netns_cookie(&NetnsRef::Host).await.unwrap().unwrap();
    let ns = fx.netns("k").await;
    let first = b.netns_cookie(&ns).await.unwrap().unwrap();
    assert_eq!(b.netns_cookie(&ns).await.unwrap(), Some(first));
    assert_ne!(first, host);
    let NetnsRef::Path(path) = &ns else {
        panic!("a named namespace has a path")
    };
    let name = std::path::Path::new(&**path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    b.forget_netns(&ns);
    b.delete_netns(&ns).await.unwrap();
    let again = b.create_netns(&name).await.unwrap();
    assert_eq!(again, ns);
    let second = b.netns_cookie(&again).await.unwrap().unwrap();
    assert!(second != first && second != host, "{first} {second} {host}");
}
