use super::*;
use crate::spec::{Destination, Source, Spec};

fn base() -> Spec {
    Spec::new(
        Source::HostLink("veth0".into()),
        Destination::Prefix("eth".into()),
    )
}

fn problems(spec: &Spec) -> Vec<FieldError> {
    validate(spec).unwrap_err().problems
}

fn only(spec: &Spec) -> FieldError {
    let p = problems(spec);
    assert_eq!(p.len(), 1, "{p:?}");
    p.into_iter().next().unwrap()
}

// SPEC: V1
#[test]
fn source_names_follow_ifnamsiz_and_charset() {
    for bad in [
        "",
        "abcdefghijklmnop",
        "a/b",
        "a b",
        ".",
        "..",
        "a:b",
        "tab\t",
    ] {
        let mut s = base();
        s.source = Source::HostLink(bad.into());
        let e = only(&s);
        assert_eq!(e.field, "source", "{bad:?}");
        assert_eq!(e.value, bad);
    }
    let mut s = base();
    s.source = Source::HostLink("abcdefghijklmno".into());
    assert!(validate(&s).is_ok());
}

// SPEC: V2
#[test]
fn explicit_name_and_prefix_are_checked() {
    let mut s = base();
    s.destination = Destination::Name("way-too-long-name".into());
    assert_eq!(only(&s).field, "name");
    s.destination = Destination::Prefix("abcdefghijklmno".into());
    let e = only(&s);
    assert_eq!(e.field, "prefix");
    assert!(e.reason.contains("at most 14"), "{e}");
    s.destination = Destination::Prefix("abcdefghijklmn".into());
    assert!(validate(&s).is_ok());
}

// SPEC: V3
#[test]
fn mac_must_be_unicast_and_nonzero() {
    let mut s = base();
    for (bad, why) in [
        ("01:00:5e:00:00:01", "unicast"),
        ("00:00:00:00:00:00", "zero"),
        ("zz:00:00:00:00:01", "hex"),
    ] {
        s.mac = Some(bad.into());
        let e = only(&s);
        assert_eq!(e.field, "mac");
        assert!(e.to_string().contains(bad) && e.reason.contains(why), "{e}");
    }
    s.mac = Some("02-42-ac-11-00-02".into());
    assert_eq!(
        validate(&s).unwrap().mac.unwrap().to_string(),
        "02:42:ac:11:00:02"
    );
}

// SPEC: V4
#[test]
fn addresses_need_prefix_and_family_and_ipv4_is_four_bytes() {
    let mut s = base();
    s.ipv4 = Some("192.0.2.10".into());
    assert_eq!(only(&s).field, "ipv4");
    s.ipv4 = Some("fd00::1/64".into());
    assert_eq!(only(&s).field, "ipv4");
    s.ipv4 = Some("::ffff:192.0.2.10/120".into());
    let v = validate(&s).unwrap();
    assert_eq!(v.ipv4.unwrap().to_string(), "192.0.2.10/24");
    s.ipv4 = None;
    s.ipv6 = Some("192.0.2.1/24".into());
    assert_eq!(only(&s).field, "ipv6");
    s.ipv6 = Some("::ffff:192.0.2.10/120".into());
    assert_eq!(only(&s).field, "ipv6");
    s.ipv6 = Some("fd00::10/64".into());
    assert!(validate(&s).is_ok());
}

// SPEC: R3, V4, V5 (found by the `spec_from_cli` fuzz target: `096.0.2.10/24` was taken as
// 96.0.2.10, where `inet_aton` reads a leading zero as octal)
#[test]
fn an_ipv4_octet_with_a_leading_zero_is_not_an_address() {
    let mut s = base();
    s.ipv4 = Some("096.0.2.10/24".into());
    assert_eq!(only(&s).field, "ipv4");
    s.ipv4 = Some("::ffff:010.0.2.10/120".into());
    assert_eq!(only(&s).field, "ipv4");
    s.ipv4 = None;
    s.routes = vec!["010.0.0.0/8".into()];
    assert_eq!(only(&s).field, "route");
    s.routes.clear();
    s.link_local = vec!["169.254.01.1/16".into()];
    assert_eq!(only(&s).field, "link_local");
    // The prefix length is a plain decimal number; a sign or a space is not one.
    s.link_local = vec!["169.254.1.1/+16".into(), "169.254.1.1/ 16".into()];
    assert_eq!(problems(&s).len(), 2);
    s.link_local = vec!["169.254.1.1/016".into(), "0.0.0.0/0".into()];
    assert!(validate(&s).is_ok());
}

// SPEC: V5
#[test]
fn routes_and_link_local_are_cidrs_and_default_routes_are_kept() {
    let mut s = base();
    s.routes = vec!["198.51.100.0/24".into(), "0.0.0.0/0".into(), "::/0".into()];
    s.link_local = vec!["169.254.1.1/16".into()];
    let v = validate(&s).unwrap();
    assert_eq!(v.routes.len(), 3);
    assert!(is_unspecified_route(&v.routes[1]) && is_unspecified_route(&v.routes[2]));
    assert!(!is_unspecified_route(&v.routes[0]));
    s.routes = vec!["198.51.100.0".into()];
    assert_eq!(only(&s).field, "route");
    s.routes.clear();
    s.link_local = vec!["nonsense".into()];
    assert_eq!(only(&s).field, "link_local");
}

// SPEC: V6
#[test]
fn sysctl_keys_are_strict() {
    let mut s = base();
    for bad in [
        "net.ipv4.conf.IFNAME.arp_notify",  // no value
        "net.ipv4.conf.IFNAME.arp_notify=", // empty value
        "net.ipv4.conf.eth0.arp_notify=1",  // no placeholder
        "net.ipv4.conf.IFNAME=1",           // 4 parts
        "kernel.ipv4.conf.IFNAME.x=1",      // not net
        "net.core.conf.IFNAME.x=1",         // family
        "net.ipv4.conf.IFNAME.../..=1",     // empty parts
        "net.ipv4.conf.IFNAME.a/b=1",       // slash
        "net.ipv4.conf.IFNAME.x=1\n2",      // multi-line
        "net.ipv4.conf.IFNAME.x=\0",        // NUL
    ] {
        s.sysctls = vec![bad.into()];
        let e = only(&s);
        assert_eq!(e.field, "sysctl", "{bad:?}");
    }
    s.sysctls = vec!["net.ipv6.conf.ifname.disable_ipv6=1".into()];
    let v = validate(&s).unwrap();
    assert_eq!(
        v.sysctls[0].path_for("eth3"),
        "net/ipv6/conf/eth3/disable_ipv6"
    );
}

// SPEC: V6 (the key and the value given apart, as the CNI plugin's `sysctls` object does)
#[test]
fn a_sysctl_key_given_apart_follows_the_same_rules_and_may_not_hold_an_equals_sign() {
    let ok = SysctlSetting::parse("net.ipv4.conf.IFNAME.arp_notify", "1").unwrap();
    assert_eq!(ok.path_for("eth0"), "net/ipv4/conf/eth0/arp_notify");
    assert_eq!(ok.value, "1");
    let e = SysctlSetting::parse("net.ipv4.conf.IFNAME.a=b", "1").unwrap_err();
    assert!(e.contains("'='"), "{e}");
    let e = SysctlSetting::parse("net.ipv4.conf.eth0.arp_notify", "1").unwrap_err();
    assert!(e.contains("IFNAME"), "{e}");
    let e = SysctlSetting::parse("net.ipv4.conf.IFNAME.arp_notify", "").unwrap_err();
    assert!(e.contains("empty"), "{e}");
}

// SPEC: V7
#[test]
fn announce_count_range_and_text() {
    let mut s = base();
    s.announce_count = 4;
    assert_eq!(
        only(&s).to_string(),
        "announce count 4 is not in the range 0 to 3"
    );
    s.announce_count = 0;
    assert_eq!(validate(&s).unwrap().announce.count, 0);
}

// SPEC: V8
#[test]
fn announce_interval_range_in_milliseconds() {
    let mut s = base();
    s.announce_interval = Duration::from_millis(50);
    let e = only(&s);
    assert!(e.to_string().contains("announce_interval_ms"), "{e}");
    assert!(e.to_string().contains("50 ms"), "{e}");
    s.announce_interval = Duration::from_millis(2001);
    assert!(only(&s).to_string().contains("2001 ms"));
    s.announce_interval = Duration::from_millis(100);
    assert!(validate(&s).is_ok());
    s.announce_interval = Duration::from_secs(2);
    assert!(validate(&s).is_ok());
}

// SPEC: V10
#[test]
fn veth_fast_path_checks_bridge_and_host_names() {
    let mut s = base();
    s.source = Source::VethOnBridge {
        bridge: "br/0".into(),
        host_name: "a very long host name".into(),
    };
    let fields: Vec<_> = problems(&s).into_iter().map(|p| p.field).collect();
    assert_eq!(fields, ["veth_on_bridge", "source"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut s = base();
    s.mac = Some("ff:ff:ff:ff:ff:ff".into());
    s.ipv4 = Some("300.1.1.1/24".into());
    s.announce_count = 9;
    s.announce_interval = Duration::from_secs(5);
    let e = validate(&s).unwrap_err();
    assert_eq!(e.problems.len(), 4);
    let text = e.to_string();
    assert!(text.contains("mac \"ff:ff:ff:ff:ff:ff\""), "{text}");
    assert!(text.contains("ipv4 \"300.1.1.1/24\""), "{text}");
}
