//! SPEC V1–V10: every invalid field gives a clear error naming the field and the value, and
//! nothing reaches the (simulated) kernel: no backend call at all, snapshot unchanged.

use nsplumb_core::{AttachError, Attached, Destination, NetnsRef, Op, Origin, Source, Spec};
use nsplumb_tests::{ms, Harness};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};
use std::time::{Duration, Instant};

fn setup() -> (Harness, NetnsRef) {
    let h = Harness::new(42);
    let ns = h.netns("ctr");
    h.sim.create_dummy(&NetnsRef::Host, "hd0").unwrap();
    (h, ns)
}

fn valid() -> Spec {
    let mut s = Spec::new(
        Source::HostLink("hd0".into()),
        Destination::Prefix("eth".into()),
    );
    s.mac = Some("02:42:c0:00:02:0a".into());
    s.ipv4 = Some("192.0.2.10/24".into());
    s.ipv6 = Some("fd00::10/64".into());
    s.announce_count = 1;
    s
}

/// Attach `spec`, expect `Invalid`, and check that nothing was touched. Returns the message.
fn rejected(spec: Spec) -> (nsplumb_core::InvalidSpec, String) {
    let (mut h, ns) = setup();
    rejected_in(&mut h, &ns, spec)
}

fn rejected_in(h: &mut Harness, ns: &NetnsRef, spec: Spec) -> (nsplumb_core::InvalidSpec, String) {
    let before = h.snapshot();
    let calls = h.calls();
    let frames = h.frame_count();
    let err = h
        .attach(ns, spec.clone())
        .expect_err("invalid spec must be rejected");
    assert_eq!(h.calls(), calls, "no backend call for {spec:?}");
    assert_eq!(h.snapshot(), before, "simulator untouched for {spec:?}");
    assert_eq!(h.frame_count(), frames);
    assert!(err.is_invalid_input(), "{err}");
    assert!(
        h.plumber.interfaces(ns).is_empty()
            || h.plumber
                .interfaces(ns)
                .iter()
                .all(|i| i.state == nsplumb_core::IfaceState::Attached),
        "no name reserved"
    );
    let text = err.to_string();
    match err {
        AttachError::Invalid(inv) => (inv, text),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn names(field: &str, value: &str, text: &str) {
    assert!(
        text.contains(field),
        "error names the field {field:?}: {text}"
    );
    assert!(
        text.contains(value),
        "error names the value {value:?}: {text}"
    );
}

// SPEC: V1
#[test]
fn v1_source_name() {
    let too_long = "abcdefghijklmnop"; // 16 bytes
    for bad in ["", too_long, "a/b", "a b", ".", "..", "a:b", "a\tb", "a\nb"] {
        let mut s = valid();
        s.source = Source::HostLink(bad.into());
        let (inv, text) = rejected(s);
        assert_eq!(inv.problems.len(), 1, "{text}");
        assert_eq!(inv.problems[0].field, "source");
        assert_eq!(inv.problems[0].value, bad);
        if !bad.is_empty() && !bad.contains('\n') && !bad.contains('\t') {
            names("source", bad, &text);
        }
    }
    // 15 bytes is fine for validation (the link simply does not exist: a kernel error).
    let mut s = valid();
    s.source = Source::HostLink("abcdefghijklmno".into());
    let (mut h, ns) = setup();
    let err = h.attach(&ns, s).unwrap_err();
    assert!(!err.is_invalid_input());
}

// SPEC: V2
#[test]
fn v2_destination_name_and_prefix() {
    for bad in ["", "abcdefghijklmnop", "e/th", "e th", ".", "..", "e:0"] {
        let mut s = valid();
        s.destination = Destination::Name(bad.into());
        let (inv, text) = rejected(s);
        assert_eq!(inv.problems[0].field, "name", "{text}");
        assert_eq!(inv.problems[0].value, bad);
    }
    for bad in ["", "abcdefghijklmno", "e/", "e ", "e:"] {
        let mut s = valid();
        s.destination = Destination::Prefix(bad.into());
        let (inv, text) = rejected(s);
        assert_eq!(inv.problems[0].field, "prefix", "{text}");
        assert_eq!(inv.problems[0].value, bad);
    }
}

// SPEC: V2
#[test]
fn v2_generated_name_too_long_names_the_prefix() {
    let (mut h, ns) = setup();
    let prefix = "abcdefghijklmn"; // 14 bytes: n0..n9 fit, n10 does not
    for i in 0..10 {
        h.plumber.adopt(Attached {
            netns: ns.clone(),
            name: format!("{prefix}{i}"),
            source: format!("src{i}"),
            ifindex: 100 + i,
            mac: None,
            ipv4: None,
            ipv6: None,
            ipv6_dropped: None,
            master: None,
            origin: Origin::CreatedInNamespace,
            announce: nsplumb_core::AnnounceSettings {
                count: 0,
                interval: Duration::from_secs(1),
            },
            warnings: vec![],
            mtu: None,
            hairpin: false,
            isolated: false,
            vlans: vec![],
            original_mtu: None,
        });
    }
    let mut s = valid();
    s.destination = Destination::Prefix(prefix.into());
    let (inv, text) = rejected_in(&mut h, &ns, s);
    assert_eq!(inv.problems[0].field, "prefix");
    names("prefix", prefix, &text);
    assert!(!text.contains("EINVAL"), "{text}");
}

// SPEC: V3
#[test]
fn v3_mac() {
    for bad in [
        "zz:42:c0:00:02:0a",
        "02:42:c0:00:02",
        "02:42:c0:00:02:0a:0b",
        "01:00:5e:00:00:01",
        "ff:ff:ff:ff:ff:ff",
        "00:00:00:00:00:00",
        "0242c000020a",
    ] {
        let mut s = valid();
        s.mac = Some(bad.into());
        let (inv, text) = rejected(s);
        assert_eq!(inv.problems.len(), 1, "{text}");
        assert_eq!(inv.problems[0].field, "mac");
        names("mac", bad, &text);
    }
    // Both separators are accepted.
    for good in ["02:42:c0:00:02:0b", "02-42-c0-00-02-0b"] {
        let (mut h, ns) = setup();
        let mut s = valid();
        s.mac = Some(good.into());
        let a = h.attach(&ns, s).unwrap();
        assert_eq!(a.mac, Some("02:42:c0:00:02:0b".parse().unwrap()));
        let link = h.sim.kernel().link_by_index(&ns, a.ifindex).unwrap();
        assert_eq!(link.mac, a.mac);
    }
}

// SPEC: V4
#[test]
fn v4_addresses() {
    let cases: [(&str, Option<&str>, Option<&str>); 6] = [
        ("ipv4", Some("192.0.2.10"), None),
        ("ipv4", Some("fd00::1/64"), None),
        ("ipv4", Some("192.0.2.300/24"), None),
        ("ipv6", None, Some("192.0.2.10/24")),
        ("ipv6", None, Some("fd00::1")),
        ("ipv6", None, Some("fd00::zz/64")),
    ];
    for (field, v4, v6) in cases {
        let mut s = valid();
        s.ipv4 = v4.map(str::to_string);
        s.ipv6 = v6.map(str::to_string);
        let (inv, text) = rejected(s);
        assert_eq!(inv.problems.len(), 1, "{text}");
        assert_eq!(inv.problems[0].field, field);
        names(field, v4.or(v6).unwrap(), &text);
    }
}

// SPEC: V4
#[test]
fn v4_mapped_ipv4_is_stored_and_announced_as_four_bytes() {
    let (mut h, ns) = setup();
    let mut s = valid();
    s.ipv4 = Some("::ffff:192.0.2.77/120".into());
    s.ipv6 = None;
    let a = h.attach(&ns, s).unwrap();
    assert_eq!(a.ipv4, Some("192.0.2.77/24".parse().unwrap()));
    let arp = h.frames().into_iter().find(|f| f.is_arp()).unwrap();
    match arp.what {
        nsplumb_tests::Announce::Arp { sender_ip, .. } => {
            assert_eq!(
                sender_ip,
                "192.0.2.77".parse::<std::net::Ipv4Addr>().unwrap()
            )
        }
        _ => unreachable!(),
    }
}

// SPEC: V5
#[test]
fn v5_link_local_and_routes() {
    let mut s = valid();
    s.link_local = vec!["169.254.1.1/16".into(), "nope".into()];
    let (inv, text) = rejected(s);
    assert_eq!(inv.problems[0].field, "link_local");
    names("link_local", "nope", &text);

    let mut s = valid();
    s.routes = vec!["198.51.100.0".into()];
    let (inv, text) = rejected(s);
    assert_eq!(inv.problems[0].field, "route");
    names("route", "198.51.100.0", &text);
}

// SPEC: V5
#[test]
fn v5_unspecified_route_is_kept_but_not_installed() {
    let (mut h, ns) = setup();
    let mut s = valid();
    s.routes = vec!["0.0.0.0/0".into(), "::/0".into(), "198.51.100.0/24".into()];
    let a = h.attach(&ns, s).unwrap();
    let snap = h.snapshot();
    let routes = &snap.namespaces[&ns].routes;
    assert!(
        routes
            .iter()
            .any(|r| r.dst == "198.51.100.0/24".parse().unwrap() && r.oif == a.ifindex),
        "{routes:?}"
    );
    assert!(
        !routes.iter().any(|r| r.dst.prefix_len() == 0),
        "no default route installed: {routes:?}"
    );
    assert!(
        h.backend
            .calls()
            .iter()
            .filter(|c| c.op == Op::AddRoute)
            .count()
            == 1
    );
}

// SPEC: V6
#[test]
fn v6_sysctls() {
    for bad in [
        "net.ipv4.conf.IFNAME=1",
        "net.ipv4.conf.IFNAME.a.b=1",
        "kernel.ipv4.conf.IFNAME.forwarding=1",
        "net.ipx.conf.IFNAME.forwarding=1",
        "net.ipv4.conf.eth0.forwarding=1",
        "net.ipv4..IFNAME.forwarding=1",
        "net.ipv4.conf.IFNAME.=1",
        "net.ipv4.conf/x.IFNAME.forwarding=1",
        "net.ipv4.conf.IFNAME.../..=1",
        "net.ipv4.conf.IFNAME.forwarding",
        "net.ipv4.conf.IFNAME.forwarding=",
        "net.ipv4.conf.IFNAME.forwarding=1\n2",
        "net.ipv4.conf.IFNAME.forwar\0ding=1",
    ] {
        let mut s = valid();
        s.sysctls = vec!["net.ipv4.conf.IFNAME.arp_accept=1".into(), bad.into()];
        let (inv, text) = rejected(s);
        assert_eq!(inv.problems.len(), 1, "{bad:?}: {text}");
        assert_eq!(inv.problems[0].field, "sysctl");
        assert_eq!(inv.problems[0].value, bad);
        assert!(text.contains("sysctl"), "{text}");
    }
    // Both placeholders and the three families are accepted.
    let (mut h, ns) = setup();
    let mut s = valid();
    s.sysctls = vec![
        "net.ipv4.conf.ifname.arp_accept=1".into(),
        "net.ipv6.conf.IFNAME.accept_dad=0".into(),
    ];
    let a = h.attach(&ns, s).unwrap();
    let path = format!("net/ipv4/conf/{}/arp_accept", a.name);
    assert_eq!(h.sim.kernel().read_sysctl(&ns, &path).unwrap(), "1");
}

// SPEC: V7
#[test]
fn v7_announce_count() {
    let mut s = valid();
    s.announce_count = 4;
    let (inv, text) = rejected(s);
    assert_eq!(inv.problems.len(), 1);
    assert!(
        text.contains("announce count 4 is not in the range 0 to 3"),
        "{text}"
    );
    for ok in 0..=3 {
        let (mut h, ns) = setup();
        let mut s = valid();
        s.announce_count = ok;
        assert!(h.attach(&ns, s).is_ok());
    }
    assert_eq!(
        Spec::new(Source::HostLink("x".into()), Destination::Name("y".into())).announce_count,
        3
    );
}

// SPEC: V8
#[test]
fn v8_announce_interval() {
    for bad in [0u64, 99, 2001, 60_000] {
        let mut s = valid();
        s.announce_interval = ms(bad);
        let (inv, text) = rejected(s);
        assert_eq!(inv.problems.len(), 1);
        assert!(
            text.contains("announce_interval"),
            "names the option: {text}"
        );
        assert!(text.contains(&format!("{bad} ms")), "milliseconds: {text}");
        if bad > 0 {
            let nanos = (bad * 1_000_000).to_string();
            assert!(!text.contains(&nanos), "not nanoseconds: {text}");
        }
    }
    for ok in [100u64, 2000] {
        let (mut h, ns) = setup();
        let mut s = valid();
        s.announce_interval = ms(ok);
        assert!(h.attach(&ns, s).is_ok());
    }
    assert_eq!(
        Spec::new(Source::HostLink("x".into()), Destination::Name("y".into())).announce_interval,
        Duration::from_secs(1)
    );
}

// SPEC: V9
#[test]
fn v9_master_must_be_an_attached_bridge_in_the_same_namespace() {
    let (mut h, ns) = setup();
    let mut s = valid();
    s.master = Some("br9".into());
    let (inv, text) = rejected_in(&mut h, &ns, s);
    assert_eq!(inv.problems[0].field, "master");
    assert!(
        text.contains(r#"could not find an appropriate master "br9" for "hd0""#),
        "{text}"
    );
    // A bridge attached in another namespace does not count.
    let other = h.netns("other");
    let mut br = Spec::new(
        Source::NewBridge("br9".into()),
        Destination::Name("br9x".into()),
    );
    br.announce_count = 0;
    h.attach(&other, br).unwrap();
    let mut s = valid();
    s.master = Some("br9".into());
    let (_, text) = rejected_in(&mut h, &ns, s);
    assert!(
        text.contains("could not find an appropriate master"),
        "{text}"
    );
    // An attached non-bridge does not count either.
    h.sim.create_dummy(&ns, "cd0").unwrap();
    let mut cd = Spec::new(
        Source::CreatedInNamespace("cd0".into()),
        Destination::Name("x0".into()),
    );
    cd.announce_count = 0;
    h.attach(&ns, cd).unwrap();
    let mut s = valid();
    s.master = Some("cd0".into());
    let (_, text) = rejected_in(&mut h, &ns, s);
    assert!(
        text.contains(r#"could not find an appropriate master "cd0" for "hd0""#),
        "{text}"
    );
    // The right one works: the port is enslaved to the bridge's index.
    let mut br = Spec::new(
        Source::NewBridge("br1".into()),
        Destination::Name("brx".into()),
    );
    br.announce_count = 0;
    let b = h.attach(&ns, br).unwrap();
    let mut s = valid();
    s.master = Some("br1".into());
    let a = h.attach(&ns, s).unwrap();
    assert_eq!(a.master.as_deref(), Some("brx"));
    let link = h.sim.kernel().link_by_index(&ns, a.ifindex).unwrap();
    assert_eq!(link.master, Some(b.ifindex));
}

// SPEC: V10
#[test]
fn v10_flags_sources_are_validated_and_created_in_namespace_has_no_host_lookup() {
    let mut s = valid();
    s.source = Source::NewBridge("b r".into());
    let (inv, _) = rejected(s);
    assert_eq!(inv.problems[0].field, "source");
    let mut s = valid();
    s.source = Source::CreatedInNamespace("x/y".into());
    let (inv, _) = rejected(s);
    assert_eq!(inv.problems[0].field, "source");
    let mut s = valid();
    s.source = Source::VethOnBridge {
        bridge: "bridge-name-too-long".into(),
        host_name: "vh0".into(),
    };
    let (inv, text) = rejected(s);
    assert_eq!(inv.problems[0].field, "veth_on_bridge");
    names("veth_on_bridge", "bridge-name-too-long", &text);

    // created_in_namespace: no host lookup, no move.
    let (mut h, ns) = setup();
    h.sim.create_dummy(&ns, "inside").unwrap();
    let mut s = valid();
    s.source = Source::CreatedInNamespace("inside".into());
    let a = h.attach(&ns, s).unwrap();
    assert_eq!(a.origin, Origin::CreatedInNamespace);
    let calls = h.backend.calls();
    assert!(calls.iter().all(|c| c.netns == ns), "{calls:?}");
    assert!(calls.iter().all(|c| c.op != Op::MoveLink));
    // bridge: created inside the namespace.
    let mut s = valid();
    s.source = Source::NewBridge("nb0".into());
    s.ipv4 = Some("198.51.100.1/24".into());
    s.ipv6 = Some("fd01::1/64".into());
    let a = h.attach(&ns, s).unwrap();
    assert_eq!(a.origin, Origin::NewBridge);
    let link = h.sim.kernel().link_by_index(&ns, a.ifindex).unwrap();
    assert_eq!(link.kind, nsplumb_core::LinkKind::Bridge);
}

// SPEC: V1
// SPEC: V3
// SPEC: V7
// SPEC: V8
#[test]
fn several_invalid_fields_are_reported_together() {
    let mut s = valid();
    s.source = Source::HostLink("bad/name".into());
    s.mac = Some("01:00:00:00:00:01".into());
    s.ipv4 = Some("10.0.0.1".into());
    s.sysctls = vec!["net.ipv4.conf.eth0.forwarding=1".into()];
    s.announce_count = 9;
    s.announce_interval = ms(5);
    s.master = Some("nobr".into());
    let (inv, text) = rejected(s);
    let fields: Vec<&str> = inv.problems.iter().map(|p| p.field).collect();
    for f in [
        "source",
        "mac",
        "ipv4",
        "sysctl",
        "announce_count",
        "announce_interval_ms",
        "master",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}: {text}");
    }
    assert!(text.contains("bad/name") && text.contains("01:00:00:00:00:01"));
    assert!(text.contains("announce count 9 is not in the range 0 to 3"));
    assert!(text.contains("5 ms"));
}

/// Property: any valid spec with 1–5 fields spoilt is rejected with every spoilt field named,
/// without a single backend call and with the simulator untouched.
// SPEC: V1
// SPEC: V2
// SPEC: V3
// SPEC: V4
// SPEC: V6
// SPEC: V7
// SPEC: V8
#[test]
fn property_invalid_fields_touch_nothing() {
    const CASES: u32 = 3000;
    let seed = std::env::var("NSPLUMB_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let config = Config {
        cases: CASES,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        source_file: Some(file!()),
        ..Config::default()
    };
    println!("property_invalid_fields_touch_nothing: seed {seed} (NSPLUMB_SEED={seed} to repeat)");
    let bad_name = prop_oneof![
        Just(String::new()),
        Just("sixteen-bytes-xx".to_string()),
        "[a-z]{1,5}[/: ][a-z]{1,5}",
        Just(".".to_string()),
        Just("..".to_string()),
    ];
    let spoil = (
        proptest::option::of(bad_name.clone()),
        proptest::option::of(bad_name),
        proptest::option::of(prop_oneof![
            Just("01:02:03:04:05:06".to_string()),
            Just("00:00:00:00:00:00".to_string()),
            "[0-9a-f]{2}(:[0-9a-f]{2}){0,4}",
        ]),
        proptest::option::of(prop_oneof![
            "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            Just("fd00::1/64".to_string()),
        ]),
        proptest::option::of(prop_oneof![
            Just("net.ipv4.conf.eth0.forwarding=1".to_string()),
            Just("net.ipv4.conf.IFNAME.forwarding=".to_string()),
            Just("net.ipv9.conf.IFNAME.forwarding=1".to_string()),
            Just("net.ipv4.conf.IFNAME.../..=1".to_string()),
        ]),
        proptest::option::of(4u32..1000),
        proptest::option::of(prop_oneof![0u64..100, 2001u64..100_000]),
    )
        .prop_filter("at least one spoilt field", |t| {
            t.0.is_some()
                || t.1.is_some()
                || t.2.is_some()
                || t.3.is_some()
                || t.4.is_some()
                || t.5.is_some()
                || t.6.is_some()
        });
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    let ran = std::cell::Cell::new(0u32);
    let result = runner.run(&spoil, |(src, name, mac, ip4, sysctl, count, interval)| {
        ran.set(ran.get() + 1);
        let mut s = valid();
        let mut want = Vec::new();
        if let Some(v) = src {
            s.source = Source::HostLink(v);
            want.push("source");
        }
        if let Some(v) = name {
            s.destination = Destination::Name(v);
            want.push("name");
        }
        if let Some(v) = mac {
            s.mac = Some(v);
            want.push("mac");
        }
        if let Some(v) = ip4 {
            s.ipv4 = Some(v);
            want.push("ipv4");
        }
        if let Some(v) = sysctl {
            s.sysctls = vec![v];
            want.push("sysctl");
        }
        if let Some(v) = count {
            s.announce_count = v;
            want.push("announce_count");
        }
        if let Some(v) = interval {
            s.announce_interval = ms(v);
            want.push("announce_interval_ms");
        }
        let (mut h, ns) = setup();
        let before = h.snapshot();
        let err = h.attach(&ns, s).unwrap_err();
        prop_assert_eq!(h.calls(), 0);
        prop_assert_eq!(h.snapshot(), before);
        prop_assert!(h.plumber.interfaces(&ns).is_empty());
        let AttachError::Invalid(inv) = err else {
            return Err(TestCaseError::fail("expected Invalid"));
        };
        let fields: Vec<&str> = inv.problems.iter().map(|p| p.field).collect();
        prop_assert_eq!(fields.len(), want.len(), "{:?} vs {:?}", fields, want);
        for f in want {
            prop_assert!(fields.contains(&f), "{} missing in {:?}", f, fields);
        }
        Ok(())
    });
    println!(
        "property_invalid_fields_touch_nothing: {} cases in {:?}",
        ran.get(),
        started.elapsed()
    );
    if let Err(e) = result {
        panic!("{e} (seed {seed})");
    }
    assert!(ran.get() >= CASES);
}
