//! The Linux backend's route mirror (SPEC A5's route listing in a long-lived process) against
//! the kernel: after every kind of change, what it answers is exactly what a fresh dump gives,
//! in the same order (A5 names the first conflicting route). Addresses come from
//! 192.0.2.0/24, 198.51.100.0/24 and fd00::/8 only.

use nsplumb_core::{BackendExt, Family, IfIndex, NetnsRef, RouteInfo, RouteScope, RouteSpec};
use nsplumb_kernel_tests::fixture::{run_in, Fixture};
use nsplumb_kernel_tests::privilege::enter;
use nsplumb_linux::{route_dumps, LinuxBackend};
use std::time::{Duration, Instant};

/// A backend that dumps on every list, as a one-command process does: the reference.
fn fresh() -> LinuxBackend {
    LinuxBackend::new().expect("backend").pin_namespace_paths()
}

/// Lists both families through `b` (the mirror once built) and through a fresh dump, and
/// asserts they are equal, in order. Returns how many dumps `b` made for it.
async fn check(b: &LinuxBackend, reference: &LinuxBackend, ns: &NetnsRef, step: &str) -> u64 {
    let before = route_dumps();
    let mirrored: Vec<Vec<RouteInfo>> = vec![
        b.list_routes(ns, Family::V4).await.unwrap(),
        b.list_routes(ns, Family::V6).await.unwrap(),
    ];
    let dumps = route_dumps() - before;
    for (i, family) in [Family::V4, Family::V6].into_iter().enumerate() {
        let dumped = reference.list_routes(ns, family).await.unwrap();
        let sorted = |v: &[RouteInfo]| {
            let mut s: Vec<String> = v.iter().map(|r| format!("{r:?}")).collect();
            s.sort();
            s
        };
        assert_eq!(
            sorted(&mirrored[i]),
            sorted(&dumped),
            "{step}: {family:?} routes differ from a dump"
        );
        assert_eq!(
            mirrored[i], dumped,
            "{step}: {family:?} routes in another order than a dump's"
        );
    }
    dumps
}

async fn index(b: &LinuxBackend, ns: &NetnsRef, name: &str) -> IfIndex {
    b.link_by_name(ns, name).await.unwrap().index
}

/// Two veth pairs, both ends up, with addresses: `a0` 192.0.2.1/24 and fd00::1/64, `b0`
/// 198.51.100.1/24 and fd00:b::1/64.
fn links(ns: &NetnsRef) {
    for (l, v4, v6) in [
        ("a0", "192.0.2.1/24", "fd00::1/64"),
        ("b0", "198.51.100.1/24", "fd00:b::1/64"),
    ] {
        let peer = format!("{l}p");
        run_in(
            ns,
            &[
                "ip", "link", "add", l, "type", "veth", "peer", "name", &peer,
            ],
        );
        run_in(ns, &["ip", "link", "set", l, "up"]);
        run_in(ns, &["ip", "link", "set", &peer, "up"]);
        run_in(ns, &["ip", "addr", "add", v4, "dev", l]);
        run_in(ns, &["ip", "addr", "add", v6, "dev", l, "nodad"]);
    }
}

// SPEC: A5
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_mirror_answers_as_a_fresh_dump_after_every_change() {
    if !enter("route_mirror_answers_as_a_fresh_dump_after_every_change") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let reference = fresh();
    let ns = fx.netns("mirror").await;
    links(&ns);
    let a0 = index(&b, &ns, "a0").await;

    // The first list of each family dumps; the second builds the mirror (two dumps); from
    // then on no dump.
    assert_eq!(check(&b, &reference, &ns, "first").await, 2);
    assert_eq!(check(&b, &reference, &ns, "second").await, 2);
    assert_eq!(check(&b, &reference, &ns, "mirror").await, 0);

    // The backend's own changes.
    let own = [
        RouteSpec {
            dst: "198.51.100.128/25".parse().unwrap(),
            gateway: None,
            oif: a0,
            scope: RouteScope::Link,
        },
        RouteSpec {
            dst: "0.0.0.0/0".parse().unwrap(),
            gateway: Some("192.0.2.254".parse().unwrap()),
            oif: a0,
            scope: RouteScope::Universe,
        },
        RouteSpec {
            dst: "fd00:10::/64".parse().unwrap(),
            gateway: None,
            oif: a0,
            scope: RouteScope::Universe,
        },
        RouteSpec {
            dst: "::/0".parse().unwrap(),
            gateway: Some("fd00::fe".parse().unwrap()),
            oif: a0,
            scope: RouteScope::Universe,
        },
    ];
    for r in &own {
        b.add_route(&ns, r).await.unwrap();
        assert_eq!(
            check(&b, &reference, &ns, &format!("add {}", r.dst)).await,
            0
        );
    }
    b.del_route(&ns, &own[0]).await.unwrap();
    assert_eq!(check(&b, &reference, &ns, "own delete").await, 0);

    // Changes this process did not make, in every corner of the dump order: nested prefixes,
    // one prefix with several metrics, host routes, gateways.
    for cmd in [
        "route add 192.0.2.128/26 via 192.0.2.2",
        "route add 192.0.2.128/25 dev a0",
        "route add 198.51.100.0/26 dev b0 metric 20",
        "route add 198.51.100.0/26 dev a0 metric 10",
        "route add 198.51.100.77/32 via 198.51.100.2",
        "route add 192.0.2.0/27 dev b0",
        "-6 route add fd00:1::/64 via fd00::2",
        "-6 route add fd00:1::/80 dev b0",
        "-6 route add fd00::/16 dev a0 metric 2048",
        "-6 route add fd00::/16 dev b0 metric 512",
        "-6 route add fd00:1::77/128 dev a0",
        "-6 route add fd80::/9 dev b0",
    ] {
        let mut args = vec!["ip"];
        args.extend(cmd.split(' '));
        run_in(&ns, &args);
        assert_eq!(check(&b, &reference, &ns, cmd).await, 0, "{cmd}");
    }
    for cmd in [
        "route del 192.0.2.128/26",
        "route del 198.51.100.0/26 dev b0 metric 20",
        "-6 route del fd00::/16 dev a0 metric 2048",
        "-6 route del fd00:1::/80",
    ] {
        let mut args = vec!["ip"];
        args.extend(cmd.split(' '));
        run_in(&ns, &args);
        assert_eq!(check(&b, &reference, &ns, cmd).await, 0, "{cmd}");
    }
    // Replaced in place.
    run_in(
        &ns,
        &[
            "ip",
            "route",
            "replace",
            "192.0.2.128/25",
            "via",
            "192.0.2.3",
        ],
    );
    assert_eq!(check(&b, &reference, &ns, "replace").await, 0);

    // A link that goes up: IPv6 adds a second fe80::/64 (a key already taken); followed.
    run_in(
        &ns,
        &[
            "ip", "link", "add", "c0", "type", "veth", "peer", "name", "c0p",
        ],
    );
    assert_eq!(check(&b, &reference, &ns, "new link (down)").await, 0);
    run_in(&ns, &["ip", "link", "set", "c0p", "up"]);
    run_in(&ns, &["ip", "link", "set", "c0", "up"]);
    assert_eq!(check(&b, &reference, &ns, "c0 up").await, 0);

    // What the kernel removes without telling: the mirror dumps again.
    run_in(&ns, &["ip", "link", "set", "b0", "down"]);
    assert_eq!(check(&b, &reference, &ns, "link down").await, 2);
    assert_eq!(check(&b, &reference, &ns, "after link down").await, 0);
    run_in(&ns, &["ip", "addr", "del", "192.0.2.1/24", "dev", "a0"]);
    assert_eq!(check(&b, &reference, &ns, "address delete").await, 2);
    // A link that carries no route goes: nothing to dump again.
    run_in(
        &ns,
        &[
            "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d0p",
        ],
    );
    run_in(&ns, &["ip", "link", "del", "d0"]);
    assert_eq!(check(&b, &reference, &ns, "unused link delete").await, 0);
    run_in(&ns, &["ip", "link", "del", "a0"]);
    assert_eq!(check(&b, &reference, &ns, "link delete").await, 2);
    assert_eq!(check(&b, &reference, &ns, "after link delete").await, 0);
}

// SPEC: A5
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_mirror_recovers_from_an_overflow() {
    if !enter("route_mirror_recovers_from_an_overflow") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    // Room for a few notifications only.
    b.set_route_mirror_rcvbuf(4096);
    let reference = fresh();
    let ns = fx.netns("flood").await;
    links(&ns);
    check(&b, &reference, &ns, "first").await;
    check(&b, &reference, &ns, "second").await;
    assert_eq!(check(&b, &reference, &ns, "mirror").await, 0);

    // 1200 routes added by someone else while nobody reads: the socket overflows (ENOBUFS).
    let mut batch = String::new();
    for i in 0..1200u32 {
        batch.push_str(&format!("route add fd00:f:{i:x}::/64 dev a0\n"));
    }
    for i in 0..200u32 {
        batch.push_str(&format!(
            "route add 198.51.100.{}/32 dev a0\n",
            if i < 100 { i } else { i + 20 }
        ));
    }
    let file = std::env::temp_dir().join(format!("{}-batch", fx.tag));
    std::fs::write(&file, batch).unwrap();
    run_in(&ns, &["ip", "-batch", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        check(&b, &reference, &ns, "after the flood").await,
        2,
        "an overflow makes the mirror dump again"
    );
    assert_eq!(check(&b, &reference, &ns, "after the rebuild").await, 0);
    assert!(b.list_routes(&ns, Family::V6).await.unwrap().len() > 1200);
}

/// A one-command process (pinned namespace paths) keeps dumping: no mirror, no extra socket.
// SPEC: A5
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_backend_dumps_every_list() {
    if !enter("a_pinned_backend_dumps_every_list") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("pinned").await;
    links(&ns);
    let b = fresh();
    let before = route_dumps();
    for _ in 0..3 {
        b.list_routes(&ns, Family::V4).await.unwrap();
        b.list_routes(&ns, Family::V6).await.unwrap();
    }
    assert_eq!(route_dumps() - before, 6);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The mirror closes with its namespace's connection: no descriptor is left behind.
// SPEC: A5
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_mirror_is_closed_with_the_namespace_connection() {
    if !enter("route_mirror_is_closed_with_the_namespace_connection") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("fds").await;
    links(&ns);
    let reference = fresh();
    // Warm up what the process keeps anyway (the reference's connection, runtime threads).
    reference.list_routes(&ns, Family::V4).await.unwrap();
    let b = LinuxBackend::new().unwrap();
    let baseline = open_fds();
    check(&b, &reference, &ns, "first").await;
    check(&b, &reference, &ns, "second").await;
    assert_eq!(check(&b, &reference, &ns, "mirror").await, 0);
    assert!(open_fds() > baseline);
    b.forget_netns(&ns);
    // The connection's task ends on its next poll.
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_fds() > baseline && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(open_fds(), baseline, "descriptors left after forget_netns");
}
