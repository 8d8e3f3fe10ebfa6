//! Announcements on the simulator, read back from its frame log in virtual time (SPEC S1–S9, A8).

use nsplumb_core::{
    Destination, EventKind, MacAddr, NetBackend, NetnsRef, Source, Spec, StopReason, Timestamp,
};
use nsplumb_sim::NeighState;
use nsplumb_tests::{ms, Announce, Frame, Harness};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

const MAC: &str = "02:42:c0:00:02:0a";
const V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

fn v6() -> Ipv6Addr {
    "fd00::10".parse().unwrap()
}

fn mac() -> MacAddr {
    MAC.parse().unwrap()
}

/// A host dummy `hd0` and a namespace `ctr`.
fn setup(seed: u64) -> (Harness, NetnsRef) {
    let h = Harness::new(seed);
    let ns = h.netns("ctr");
    h.sim.create_dummy(&NetnsRef::Host, "hd0").unwrap();
    (h, ns)
}

fn spec(count: u32, interval_ms: u64) -> Spec {
    let mut s = Spec::new(
        Source::HostLink("hd0".into()),
        Destination::Prefix("eth".into()),
    );
    s.mac = Some(MAC.into());
    s.ipv4 = Some(format!("{V4}/24"));
    s.ipv6 = Some(format!("{}/64", v6()));
    s.announce_count = count;
    s.announce_interval = ms(interval_ms);
    s
}

fn of_kind(frames: &[Frame], arp: bool) -> Vec<Frame> {
    frames
        .iter()
        .filter(|f| if arp { f.is_arp() } else { f.is_na() })
        .cloned()
        .collect()
}

fn gaps(frames: &[Frame]) -> Vec<Duration> {
    frames.windows(2).map(|w| w[1].time - w[0].time).collect()
}

// SPEC: S5
// SPEC: S4
// SPEC: S1
#[test]
fn counts_and_intervals_are_exact_in_virtual_time() {
    for count in [0u32, 1, 3] {
        for interval in [100u64, 500] {
            let (mut h, ns) = setup(7);
            let a = h.attach(&ns, spec(count, interval)).expect("attach");
            let attached_at = h.now();
            // S4: the first round went out during attach.
            let during = h.frames();
            assert_eq!(
                during.len(),
                if count == 0 { 0 } else { 2 },
                "count {count}: first ARP+NA during attach"
            );
            h.advance(Duration::from_millis(interval * 4) + Duration::from_secs(1));
            let all = h.frames();
            let arps = of_kind(&all, true);
            let nas = of_kind(&all, false);
            assert_eq!(arps.len(), count as usize, "ARP count={count} i={interval}");
            assert_eq!(nas.len(), count as usize, "NA count={count} i={interval}");
            assert!(all.iter().all(|f| f.netns == ns && f.index == a.ifindex));
            for g in gaps(&arps).into_iter().chain(gaps(&nas)) {
                assert_eq!(g, ms(interval), "spacing count={count}");
            }
            if let Some(first) = arps.first() {
                assert!(first.time <= attached_at);
            }
        }
    }
}

// SPEC: S2
#[test]
fn arp_frame_bytes() {
    let (mut h, ns) = setup(1);
    h.attach(&ns, spec(1, 100)).unwrap();
    let arp = h.frames().into_iter().find(|f| f.is_arp()).expect("an ARP");
    let m = mac().octets();
    let mut want = vec![0xff; 6]; // broadcast
    want.extend_from_slice(&m);
    want.extend_from_slice(&[0x08, 0x06]); // EtherType ARP
    want.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]); // htype 1, ptype 0x0800, 6, 4, request
    want.extend_from_slice(&m); // sender MAC
    want.extend_from_slice(&V4.octets()); // sender IP
    want.extend_from_slice(&[0; 6]); // target MAC zero
    want.extend_from_slice(&V4.octets()); // target IP = sender IP
    assert_eq!(arp.bytes, want);
    assert_eq!(arp.bytes.len(), 14 + 28);
}

// SPEC: S3
#[test]
fn na_frame_bytes() {
    let (mut h, ns) = setup(2);
    h.attach(&ns, spec(1, 100)).unwrap();
    let na = h.frames().into_iter().find(|f| f.is_na()).expect("an NA");
    let f = &na.bytes;
    let m = mac().octets();
    let ip = v6().octets();
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    assert_eq!(f.len(), 14 + 40 + 32);
    assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
    assert_eq!(&f[6..12], &m);
    assert_eq!(&f[12..14], &[0x86, 0xdd]);
    assert_eq!(f[14] >> 4, 6, "IPv6");
    assert_eq!(u16::from_be_bytes([f[18], f[19]]), 32, "payload length");
    assert_eq!(f[20], 58, "next header ICMPv6");
    assert_eq!(f[21], 255, "hop limit");
    assert_eq!(&f[22..38], &ip, "source = the advertised address");
    assert_eq!(&f[38..54], &all_nodes.octets());
    assert_eq!(&f[54..56], &[136, 0], "type 136 code 0");
    assert_eq!(&f[58..62], &[0x20, 0, 0, 0], "flags: Override only");
    assert_eq!(&f[62..78], &ip, "target");
    assert_eq!(
        &f[78..80],
        &[2, 1],
        "option: target link-layer address, length 1"
    );
    assert_eq!(&f[80..86], &m);
    // The ICMPv6 checksum over the pseudo header.
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&ip);
    add(&all_nodes.octets());
    add(&[0, 0, 0, 32, 0, 0, 0, 58]);
    add(&f[54..86]);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    assert_eq!(sum, 0xffff, "checksum verifies");
}

// SPEC: S6
#[test]
fn mac_change_behind_our_back_stops_the_next_send() {
    let (mut h, ns) = setup(3);
    let mut events = h.plumber.subscribe();
    let a = h.attach(&ns, spec(3, 500)).unwrap();
    assert_eq!(h.frames().len(), 2);
    let other: MacAddr = "02:00:00:00:00:99".parse().unwrap();
    h.sim.change_mac(&ns, a.ifindex, other).unwrap();
    h.advance(Duration::from_secs(3));
    let all = h.frames();
    assert_eq!(of_kind(&all, true).len(), 1, "no ARP after the MAC changed");
    assert_eq!(of_kind(&all, false).len(), 1, "no NA after the MAC changed");
    let mut stopped = None;
    while let Ok(e) = events.try_recv() {
        if let EventKind::AnnounceStopped(r) = e.kind {
            stopped = Some(r);
        }
    }
    match stopped {
        Some(StopReason::MacChanged { got, expected }) => {
            assert_eq!(got, Some(other));
            assert_eq!(expected, mac());
            let text = StopReason::MacChanged { got, expected }.to_string();
            assert!(text.contains("MAC address changed, got 02:00:00:00:00:99, expected"));
        }
        other => panic!("expected MacChanged, got {other:?}"),
    }
}

// SPEC: S8
#[test]
fn detach_200ms_after_attach_leaves_exactly_one_round() {
    let (mut h, ns) = setup(4);
    let a = h.attach(&ns, spec(3, 2000)).unwrap();
    h.advance(ms(200));
    h.detach(&ns, &a.name).unwrap();
    let at_detach = h.frame_count();
    h.advance(Duration::from_secs(10));
    let all = h.frames();
    assert_eq!(h.frame_count(), at_detach, "nothing after detach returned");
    assert_eq!(of_kind(&all, true).len(), 1);
    assert_eq!(of_kind(&all, false).len(), 1);
}

// SPEC: S8
#[test]
fn detach_just_before_a_round_is_due_cancels_it() {
    let (mut h, ns) = setup(5);
    let a = h.attach(&ns, spec(3, 100)).unwrap();
    h.advance(ms(99));
    h.detach(&ns, &a.name).unwrap();
    let n = h.frame_count();
    h.advance(Duration::from_secs(1));
    assert_eq!(h.frame_count(), n);
    assert_eq!(n, 2);
}

// SPEC: A8
#[test]
fn disable_ipv6_sysctl_means_no_na_but_arp() {
    let (mut h, ns) = setup(6);
    let mut s = spec(2, 100);
    s.sysctls = vec!["net.ipv6.conf.IFNAME.disable_ipv6=1".into()];
    let a = h.attach(&ns, s).unwrap();
    assert_eq!(a.ipv6, None, "A8: the result reports no IPv6 address");
    assert_eq!(a.ipv6_dropped, Some("fd00::10/64".parse().unwrap()));
    h.advance(Duration::from_secs(1));
    let all = h.frames();
    assert_eq!(of_kind(&all, true).len(), 2, "ARP still sent");
    assert_eq!(of_kind(&all, false).len(), 0, "no NA");
}

// SPEC: S1
#[test]
fn nothing_without_address() {
    let (mut h, ns) = setup(8);
    let mut s = spec(3, 100);
    s.ipv4 = None;
    s.ipv6 = None;
    h.attach(&ns, s).unwrap();
    h.advance(Duration::from_secs(1));
    assert!(h.frames().is_empty());
}

// SPEC: S9
#[test]
fn progress_events_name_k_of_n_and_next_due() {
    let (mut h, ns) = setup(9);
    let mut events = h.plumber.subscribe();
    h.attach(&ns, spec(3, 500)).unwrap();
    h.advance(Duration::from_secs(2));
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let EventKind::Announced { sent, of, next_due } = e.kind {
            seen.push((sent, of, next_due.map(|t| t - e.at), e.at));
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    for (i, (sent, of, next, _)) in seen.iter().enumerate() {
        assert_eq!(*sent, i as u32 + 1);
        assert_eq!(*of, 3);
        assert_eq!(*next, (i < 2).then_some(ms(500)));
    }
    assert_eq!(seen[1].3 - seen[0].3, ms(500));
}

/// Two namespaces on the host bridge via the veth fast path; namespace B holds a stale
/// neighbour entry for A's addresses. A's announcements cross the bridge and heal it.
#[test]
fn stale_neighbour_on_the_bridge_is_healed() {
    let mut h = Harness::new(10);
    let br = h
        .sim
        .kernel()
        .create_bridge(&NetnsRef::Host, "br0")
        .unwrap();
    h.sim.kernel().set_link_up(&NetnsRef::Host, br).unwrap();
    let ns_a = h.netns("a");
    let ns_b = h.netns("b");
    let mut sb = Spec::new(
        Source::VethOnBridge {
            bridge: "br0".into(),
            host_name: "vb".into(),
        },
        Destination::Name("eth0".into()),
    );
    sb.ipv4 = Some("192.0.2.20/24".into());
    sb.ipv6 = Some("fd00::20/64".into());
    sb.announce_count = 1;
    let b = h.attach(&ns_b, sb).unwrap();
    let old: MacAddr = "02:00:00:00:00:01".parse().unwrap();
    h.sim
        .add_neighbour(&ns_b, b.ifindex, IpAddr::V4(V4), old, NeighState::Stale)
        .unwrap();
    h.sim
        .add_neighbour(&ns_b, b.ifindex, IpAddr::V6(v6()), old, NeighState::Stale)
        .unwrap();
    let mut sa = spec(1, 100);
    sa.source = Source::VethOnBridge {
        bridge: "br0".into(),
        host_name: "va".into(),
    };
    let a = h.attach(&ns_a, sa).unwrap();
    assert_eq!(a.mac, Some(mac()));
    let neigh = h.sim.neighbours(&ns_b).unwrap();
    let v4 = neigh
        .iter()
        .find(|e| e.ip == IpAddr::V4(V4))
        .expect("IPv4 entry");
    assert_eq!(v4.mac, mac(), "ARP healed the stale IPv4 entry: {neigh:?}");
    let e6 = neigh
        .iter()
        .find(|e| e.ip == IpAddr::V6(v6()))
        .expect("IPv6 entry");
    assert_eq!(e6.mac, mac(), "NA healed the stale IPv6 entry: {neigh:?}");
    // The frames left A's container end.
    let fr = h.frames();
    assert!(fr
        .iter()
        .any(|f| f.netns == ns_a && f.index == a.ifindex && f.is_arp()));
    assert!(fr.iter().all(|f| match &f.what {
        Announce::Arp { sender_mac, .. } => *sender_mac == f.src_mac,
        _ => true,
    }));
}

/// The first announcement is sent before attach returns, at the attach's virtual time.
// SPEC: S4
#[test]
fn first_send_failure_is_a_warning() {
    let (mut h, ns) = setup(11);
    h.faults
        .fail_next(nsplumb_core::Op::SendArp, nsplumb_core::Errno::EIO);
    let a = h
        .attach(&ns, spec(3, 100))
        .expect("a failed first send does not fail attach");
    assert!(
        a.warnings
            .iter()
            .any(|w| w.contains("first announcement failed")),
        "{:?}",
        a.warnings
    );
    h.advance(Duration::from_secs(1));
    assert_eq!(of_kind(&h.frames(), true).len(), 0, "announcing ended");
    let _ = Timestamp::ZERO;
    let _ = h.backend.now();
}
