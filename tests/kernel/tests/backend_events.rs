//! Link subscriptions on the attach path of `LinuxBackend`: a dropped subscription's socket is
//! reused by the next one in the same namespace (which then sees only what happens after it),
//! a cold namespace's subscription and first read share one thread hop, and the
//! `disable_ipv6` an attach takes from its one link read is the file's. Each test in its own
//! isolated child (see `nsplumb_kernel_tests::privilege`), so the process-wide hop counter
//! counts this test's hops only.

use futures::StreamExt;
use nsplumb_core::{BackendExt, Errno, LinkEvent, LinkEvents, NetBackend, NetnsRef};
use nsplumb_kernel_tests::fixture::{in_ns, run_in, veth_request, Fixture};
use nsplumb_kernel_tests::privilege::enter;
use nsplumb_linux::thread_hops;
use std::time::Duration;

/// The name an event is about.
fn name_of(ev: &LinkEvent) -> &str {
    match ev {
        LinkEvent::Changed(l) => &l.name,
        LinkEvent::Removed { name, .. } => name,
        LinkEvent::Lost => "(lost events)",
    }
}

/// Every event up to and including the first `Changed` of a link named `last` (2 s at most).
async fn events_until(events: &mut LinkEvents, last: &str) -> Vec<LinkEvent> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(ev) = events.next().await {
            let done = matches!(&ev, LinkEvent::Changed(l) if l.name == last);
            seen.push(ev);
            if done {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(found, "no event for {last} within 2 s; saw {seen:?}");
    seen
}

/// `ip -batch` of `lines` in `ns`.
fn ip_batch(ns: &NetnsRef, lines: &[String]) {
    let file = std::env::temp_dir().join(format!("nspl-batch-{:08x}", rand::random::<u32>()));
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    run_in(ns, &["ip", "-batch", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
}

/// A subscription dropped with events still queued on it (and one whose queue overflowed),
/// links changed while none is open: the next subscription in the namespace reuses the socket
/// (no thread hop) and delivers what happens after it returned, nothing from before.
// SPEC: A11
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_subscription_sees_only_what_happens_after_it() {
    if !enter("a_reused_subscription_sees_only_what_happens_after_it") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    let pair = b
        .create_veth(&ns, &veth_request("e0", &ns, "e1", None))
        .await
        .unwrap();
    for round in 0..3 {
        let mut first = b.subscribe_links(&ns).await.unwrap();
        // It works, then events are left queued on it, unread, and it is dropped.
        run_in(
            &ns,
            &[
                "ip",
                "link",
                "add",
                &format!("live{round}"),
                "type",
                "bridge",
            ],
        );
        events_until(&mut first, &format!("live{round}")).await;
        let pre = format!("pre{round}");
        run_in(&ns, &["ip", "link", "add", &pre, "type", "bridge"]);
        if round == 2 {
            // Far more than its receive queue holds: the kernel drops, the socket has ENOBUFS
            // pending when it is given back.
            let lines: Vec<String> = (0..600)
                .map(|i| format!("link add flood{i} type bridge"))
                .collect();
            ip_batch(&ns, &lines);
        }
        drop(first);
        // While no subscription is open: a link created, one deleted, one changed. (Nothing
        // the kernel reports later, as it does for a link brought up: that would be an event
        // after the subscription.)
        let gap = format!("gap{round}");
        run_in(&ns, &["ip", "link", "add", &gap, "type", "bridge"]);
        run_in(&ns, &["ip", "link", "del", &pre]);
        run_in(&ns, &["ip", "link", "set", &gap, "mtu", "1400"]);
        let hops = thread_hops();
        let mut second = b.subscribe_links(&ns).await.unwrap();
        assert_eq!(
            thread_hops() - hops,
            0,
            "round {round}: the dropped subscription's socket was not reused"
        );
        // After it returned: the veth goes up or down, a new link appears.
        let up = round % 2 == 0;
        if up {
            b.set_link_up(&ns, pair.host_index).await.unwrap();
        } else {
            b.set_link_down(&ns, pair.host_index).await.unwrap();
        }
        let post = format!("post{round}");
        run_in(&ns, &["ip", "link", "add", &post, "type", "bridge"]);
        let seen = events_until(&mut second, &post).await;
        let stale: Vec<&LinkEvent> = seen
            .iter()
            .filter(|ev| {
                let n = name_of(ev);
                matches!(ev, LinkEvent::Lost)
                    || n.starts_with("live")
                    || n.starts_with("pre")
                    || n.starts_with("gap")
                    || n.starts_with("flood")
            })
            .collect();
        assert!(
            stale.is_empty(),
            "round {round}: events from before the subscription: {stale:?}"
        );
        assert!(
            seen.iter().any(
                |ev| matches!(ev, LinkEvent::Changed(l) if l.index == pair.host_index && l.flags.up == up)
            ),
            "round {round}: no event with up={up} for e0; saw {seen:?}"
        );
        // Nothing else was queued for it either (the next event, if any, is not stale).
        if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(100), second.next()).await
        {
            assert!(!name_of(&ev).starts_with("gap"), "{ev:?}");
        }
    }
    // Two open at once, both dropped, two again: neither needs a hop, both see what follows.
    let one = b.subscribe_links(&ns).await.unwrap();
    let two = b.subscribe_links(&ns).await.unwrap();
    drop((one, two));
    let hops = thread_hops();
    let mut one = b.subscribe_links(&ns).await.unwrap();
    let mut two = b.subscribe_links(&ns).await.unwrap();
    assert_eq!(thread_hops() - hops, 0);
    run_in(&ns, &["ip", "link", "add", "both0", "type", "bridge"]);
    for events in [&mut one, &mut two] {
        let seen = events_until(events, "both0").await;
        assert!(
            seen.iter().all(|ev| !name_of(ev).starts_with("post")),
            "{seen:?}"
        );
    }
}

/// The attach order (SPEC A11: subscribe first, then read the link once): in a namespace the
/// backend has not seen, the subscription opens the netlink connection, and one thread hop
/// serves both; in a namespace it knows, neither needs a hop.
// SPEC: A11
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_then_read_hops_once_cold_and_never_warm() {
    if !enter("subscribe_then_read_hops_once_cold_and_never_warm") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    for name in ["a", "b"] {
        let ns = fx.netns(name).await;
        run_in(
            &ns,
            &[
                "ip", "link", "add", "c0", "type", "veth", "peer", "name", "c1",
            ],
        );
        let shown = run_in(&ns, &["ip", "-j", "link", "show", "c0"]);
        let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
        let index = shown[0]["ifindex"].as_u64().unwrap() as u32;
        b.forget_netns(&ns);
        // Cold.
        let hops = thread_hops();
        let mut events = b.subscribe_links(&ns).await.unwrap();
        let link = b.link_by_index(&ns, index).await.unwrap();
        assert_eq!(link.name, "c0");
        assert_eq!(thread_hops() - hops, 1, "{ns}: cold subscribe + read");
        run_in(&ns, &["ip", "link", "set", "c0", "up"]);
        let seen = events_until(&mut events, "c0").await;
        assert!(!seen.is_empty());
        drop(events);
        // Warm, as the next attach in this namespace: the previous subscription is gone.
        for round in 0..5 {
            let hops = thread_hops();
            let mut events = b.subscribe_links(&ns).await.unwrap();
            let link = b.link_by_index(&ns, index).await.unwrap();
            assert_eq!(link.index, index);
            assert_eq!(thread_hops() - hops, 0, "{ns}: warm round {round}");
            let up = round % 2 == 1;
            let state = if up { "up" } else { "down" };
            run_in(&ns, &["ip", "link", "set", "c0", state]);
            let ok = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(ev) = events.next().await {
                    if matches!(&ev, LinkEvent::Changed(l) if l.index == index && l.flags.up == up)
                    {
                        return true;
                    }
                }
                false
            })
            .await
            .unwrap_or(false);
            assert!(ok, "{ns}: warm round {round}: no event with up={up}");
        }
    }
}

/// `prepare_netns` (what `Plumber::attach_many` does for every destination before the first
/// move) is the namespace's one thread hop: the move's name check, the subscription and the
/// link read that follow need none. A namespace that does not exist is left to the requests
/// to report.
// SPEC: A3, A11
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_namespace_needs_no_further_hop() {
    if !enter("a_prepared_namespace_needs_no_further_hop") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("p").await;
    b.forget_netns(&ns);
    let hops = thread_hops();
    b.prepare_netns(&ns).await;
    assert_eq!(
        thread_hops() - hops,
        1,
        "{ns}: prepare opens the connection"
    );
    let hops = thread_hops();
    b.prepare_netns(&ns).await;
    let lo = b.link_by_name(&ns, "lo").await.unwrap();
    let events = b.subscribe_links(&ns).await.unwrap();
    let again = b.link_by_index(&ns, lo.index).await.unwrap();
    assert_eq!(again.name, "lo");
    drop(events);
    assert_eq!(thread_hops() - hops, 0, "{ns}: prepared, then used");
    let missing = NetnsRef::path("/run/netns/nsplumb-no-such-namespace");
    let hops = thread_hops();
    b.prepare_netns(&missing).await;
    assert_eq!(
        thread_hops() - hops,
        0,
        "a missing namespace is not entered"
    );
    let e = b.link_by_name(&missing, "lo").await.unwrap_err();
    assert_eq!(e.errno, Errno::ENOENT, "{e}");
}

/// `/proc/sys/net/ipv6/conf/NAME/disable_ipv6` read by a thread inside `ns`.
fn disable_ipv6_file(ns: &NetnsRef, name: &str) -> Result<String, Errno> {
    let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    in_ns(ns, move || {
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))
    })
}

/// `LinkInfo::ipv6_disabled` from one `link_by_index` (what an attach reads) is the file's
/// value: enabled, disabled through the backend's own `write_sysctl`, enabled again; and
/// unknown (`None`) exactly when the file is missing (no IPv6 on a link with MTU < 1280).
// SPEC: A6
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_info_ipv6_disabled_matches_proc_sys() {
    if !enter("link_info_ipv6_disabled_matches_proc_sys") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("a").await;
    let pair = b
        .create_veth(&ns, &veth_request("en0", &ns, "dis0", None))
        .await
        .unwrap();
    let (en, dis) = (pair.host_index, pair.peer_index);
    let path = |name: &str| format!("net/ipv6/conf/{name}/disable_ipv6");
    let check = |want_en: Option<bool>, want_dis: Option<bool>| {
        let b = b.clone();
        let ns = ns.clone();
        async move {
            for (index, name, want) in [(en, "en0", want_en), (dis, "dis0", want_dis)] {
                let link = b.link_by_index(&ns, index).await.unwrap();
                assert_eq!(link.name, name);
                let file = disable_ipv6_file(&ns, name);
                let from_file = match &file {
                    Ok(v) => Some(v == "1"),
                    Err(e) => {
                        assert_eq!(*e, Errno::ENOENT, "{name}");
                        None
                    }
                };
                assert_eq!(link.ipv6_disabled, from_file, "{name}: file says {file:?}");
                assert_eq!(link.ipv6_disabled, want, "{name}");
            }
        }
    };
    check(Some(false), Some(false)).await;
    b.write_sysctl(&ns, &path("dis0"), "1").await.unwrap();
    check(Some(false), Some(true)).await;
    // Up, too (the state an attach reads it in).
    b.set_link_up(&ns, en).await.unwrap();
    b.set_link_up(&ns, dis).await.unwrap();
    check(Some(false), Some(true)).await;
    b.write_sysctl(&ns, &path("dis0"), "0").await.unwrap();
    b.write_sysctl(&ns, &path("en0"), "1").await.unwrap();
    check(Some(true), Some(false)).await;
    // No IPv6 on the link at all: no file, no value.
    run_in(&ns, &["ip", "link", "set", "en0", "mtu", "1200"]);
    check(None, Some(false)).await;
}

/// A subscription whose queue overflows while nobody reads it says so (`LinkEvent::Lost`)
/// instead of going silent, so a waiter reads the link again (no lost event unnoticed).
// SPEC: A11
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflowing_subscription_reports_lost_events() {
    if !enter("an_overflowing_subscription_reports_lost_events") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let ns = fx.netns("o").await;
    let mut events = b.subscribe_links(&ns).await.unwrap();
    let lines: Vec<String> = (0..600)
        .map(|i| format!("link add over{i} type bridge"))
        .collect();
    ip_batch(&ns, &lines);
    let lost = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = events.next().await {
            if ev == LinkEvent::Lost {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        lost,
        Ok(true),
        "600 new links overflow the queue: Lost is reported"
    );
    // And the subscription goes on: once what was still queued is read, a later change
    // arrives (made earlier, it would have found the queue full and been lost as well).
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(500), events.next()).await {}
    run_in(&ns, &["ip", "link", "add", "after", "type", "bridge"]);
    let after = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(ev) = events.next().await {
            if matches!(&ev, LinkEvent::Changed(l) if l.name == "after") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        after,
        Ok(true),
        "the subscription still delivers after Lost"
    );
}
