//! The shortcuts `LinuxBackend` takes on the attach path give the answers of the long way:
//! link indices from the echo of a creation (instead of lookups by name), `disable_ipv6` from
//! the link's netlink data (instead of `/proc/sys`), link subscriptions from sockets opened ahead
//! of time. Each test in its own isolated child (see `nsplumb_kernel_tests::privilege`).

use futures::StreamExt;
use nsplumb_core::{Errno, LinkEvent, NetBackend, NetnsRef, VethRequest};
use nsplumb_kernel_tests::fixture::{in_ns, run_in, Fixture};
use nsplumb_kernel_tests::privilege::enter;
use std::time::Duration;

fn veth(host: &str, peer_ns: &NetnsRef, peer: &str) -> VethRequest {
    VethRequest {
        host_name: host.into(),
        host_master: None,
        host_up: false,
        peer_netns: peer_ns.clone(),
        peer_name: peer.into(),
        peer_mac: None,
    }
}

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
        .create_veth(&host, &veth("vh0", &ctr, "eth0"))
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
    // Both ends in one namespace.
    let pair = b.create_veth(&ctr, &veth("va", &ctr, "vb")).await.unwrap();
    assert_eq!(
        pair.host_index,
        b.link_by_name(&ctr, "va").await.unwrap().index
    );
    assert_eq!(
        pair.peer_index,
        b.link_by_name(&ctr, "vb").await.unwrap().index
    );
    // A bridge.
    let br = b.create_bridge(&ctr, "br9").await.unwrap();
    assert_eq!(br, b.link_by_name(&ctr, "br9").await.unwrap().index);
    // A failed creation still fails, naming the link.
    let e = b
        .create_veth(&host, &veth("vh0", &ctr, "eth1"))
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
    b.create_veth(&ns, &veth("en0", &ns, "dis0")).await.unwrap();
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
    let pair = b.create_veth(&ns, &veth("s0", &ns, "s1")).await.unwrap();
    // Several subscriptions in a row in one namespace (more than any sockets kept ready), each
    // sees the change made right after it returned, none sees events from before.
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
                    if l.index == pair.host_index {
                        return Some(l.flags.up);
                    }
                }
            }
            None
        })
        .await
        .expect("an event within 2 s");
        assert_eq!(seen, Some(up), "round {round}");
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
