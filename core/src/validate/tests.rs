use super::*;
use crate::spec::{Destination, Source, Spec};
use crate::types::{PortFlagsChange, VlanSpec};

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

fn on_bridge() -> Spec {
    Spec::new(
        Source::VethOnBridge {
            bridge: "br0".into(),
            host_name: "vh0".into(),
        },
        Destination::Prefix("eth".into()),
    )
}

// SPEC: L1
#[test]
fn mtu_is_68_to_65535_and_at_least_1280_with_an_ipv6_address() {
    let mut s = base();
    for bad in [0, 67, 65536, u32::MAX] {
        s.mtu = Some(bad);
        let e = only(&s);
        assert_eq!(
            (e.field, e.value.as_str()),
            ("mtu", bad.to_string().as_str())
        );
        assert!(e.reason.contains("68 to 65535"), "{e}");
    }
    for good in [68, 576, 1500, 9000, 65535] {
        s.mtu = Some(good);
        assert_eq!(validate(&s).unwrap().mtu, Some(good));
    }
    s.ipv6 = Some("fd00::10/64".into());
    s.mtu = Some(1279);
    let e = only(&s);
    assert_eq!(
        e.to_string(),
        "mtu \"1279\": is below 1280, the least MTU of a link with an IPv6 address"
    );
    s.mtu = Some(1280);
    assert_eq!(validate(&s).unwrap().mtu, Some(1280));
    s.mtu = None;
    assert_eq!(validate(&s).unwrap().mtu, None);
}

// SPEC: L3
#[test]
fn vlan_ids_are_1_to_4094() {
    let mut s = on_bridge();
    for bad in [0, 4095, u16::MAX] {
        s.vlan = Some(bad);
        let e = only(&s);
        assert_eq!((e.field, e.value.clone()), ("vlan", bad.to_string()));
        assert!(e.reason.contains("1 to 4094"), "{e}");
    }
    s.vlan = Some(4094);
    let plan = validate(&s).unwrap().port.vlans.unwrap();
    assert_eq!(plan.pvid, Some(4094));
    assert!(plan.trunk.is_empty());
}

// SPEC: L3
#[test]
fn trunk_entries_are_ids_or_ranges_without_overlap_or_the_pvid() {
    for (entry, why) in [
        ("0", "VLAN ID 0 is not in the range 1 to 4094"),
        ("4095", "VLAN ID 4095 is not in the range 1 to 4094"),
        ("10-99999", "VLAN ID 99999 is not in the range 1 to 4094"),
        ("x", "is not a VLAN ID or range"),
        ("", "is not a VLAN ID or range"),
        ("1-2-3", "is not a VLAN ID or range"),
        ("+5", "is not a VLAN ID or range"),
        ("30-20", "range starts after it ends"),
    ] {
        let mut s = on_bridge();
        s.vlan_trunk = vec![entry.into()];
        let e = only(&s);
        assert_eq!((e.field, e.value.as_str()), ("vlan_trunk", entry));
        assert!(e.reason.contains(why), "{entry:?}: {e}");
    }
    let mut s = on_bridge();
    s.vlan = Some(25);
    s.vlan_trunk = vec![
        "10".into(),
        "20-30".into(),
        "5-10".into(),
        "40-50".into(),
        "45".into(),
    ];
    let p = problems(&s);
    let got: Vec<(&str, &str)> = p
        .iter()
        .map(|e| (e.value.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("20-30", "contains the PVID 25 (vlan)"),
            ("5-10", "overlaps \"10\""),
            ("45", "overlaps \"40-50\""),
        ]
    );
    s.vlan_trunk = vec!["10".into(), "20-24".into(), "26-30".into()];
    let plan = validate(&s).unwrap().port.vlans.unwrap();
    assert_eq!(plan.trunk, [(10, 10), (20, 24), (26, 30)]);
    assert_eq!(
        plan.to_add(),
        [
            VlanSpec {
                first: 25,
                last: 25,
                pvid: true,
                untagged: true
            },
            VlanSpec::tagged(10),
            VlanSpec {
                first: 20,
                last: 24,
                pvid: false,
                untagged: false
            },
            VlanSpec {
                first: 26,
                last: 30,
                pvid: false,
                untagged: false
            },
        ]
    );
}

// SPEC: L3
#[test]
fn the_default_vlan_goes_unless_kept_or_asked_for() {
    let mut s = on_bridge();
    s.vlan = Some(10);
    assert!(validate(&s).unwrap().port.vlans.unwrap().removes_default());
    s.keep_default_vlan = true;
    assert!(!validate(&s).unwrap().port.vlans.unwrap().removes_default());
    s.keep_default_vlan = false;
    s.vlan = Some(1);
    assert!(!validate(&s).unwrap().port.vlans.unwrap().removes_default());
    s.vlan = None;
    s.vlan_trunk = vec!["1-5".into()];
    assert!(!validate(&s).unwrap().port.vlans.unwrap().removes_default());
    assert_eq!(VlanPlan::default_vlan(), VlanSpec::tagged(1));
}

// SPEC: L3
#[test]
fn keep_default_vlan_needs_a_vlan() {
    let mut s = on_bridge();
    s.keep_default_vlan = true;
    let e = only(&s);
    assert_eq!(
        e.to_string(),
        "keep_default_vlan \"true\": needs vlan or vlan_trunk"
    );
    s.vlan_trunk = vec!["7".into()];
    let plan = validate(&s).unwrap().port.vlans.unwrap();
    assert!(plan.keep_default && plan.pvid.is_none());
}

// SPEC: L2
// SPEC: L3
// SPEC: L4
#[test]
fn port_options_on_a_new_bridge_are_refused_naming_each() {
    let mut s = Spec::new(
        Source::NewBridge("nb0".into()),
        Destination::Name("br0".into()),
    );
    s.hairpin = true;
    s.isolated = true;
    s.vlan = Some(10);
    s.vlan_trunk = vec!["20".into(), "30-40".into()];
    let p = problems(&s);
    let got: Vec<(&str, String)> = p.iter().map(|e| (e.field, e.to_string())).collect();
    assert_eq!(
        got,
        [
            ("hairpin", "hairpin needs a veth on a bridge".to_string()),
            ("isolated", "isolated needs a veth on a bridge".to_string()),
            ("vlan", "vlan needs a veth on a bridge".to_string()),
            ("vlan_trunk", "vlan needs a veth on a bridge".to_string()),
        ]
    );
    assert_eq!(p[3].value, "20,30-40");
    // Other sources are checked at attach, where the kernel tells what the link is.
    for source in [
        Source::HostLink("veth0".into()),
        Source::CreatedInNamespace("veth0".into()),
    ] {
        s.source = source;
        let port = validate(&s).unwrap().port;
        assert_eq!(port.asked(), ["hairpin", "isolated", "vlan"]);
        assert_eq!(
            port.flags_change(),
            Some(PortFlagsChange {
                hairpin: Some(true),
                isolated: Some(true)
            })
        );
    }
}

// SPEC: L2
// SPEC: L4
#[test]
fn no_port_option_means_no_port_change() {
    let v = validate(&on_bridge()).unwrap();
    assert!(v.port.is_empty());
    assert_eq!(v.port.flags_change(), None);
    let mut s = on_bridge();
    s.isolated = true;
    let port = validate(&s).unwrap().port;
    assert_eq!(
        port.flags_change(),
        Some(PortFlagsChange {
            hairpin: None,
            isolated: Some(true)
        })
    );
}

// SPEC: L5
#[test]
fn dad_timeout_defaults_to_3_s_is_bounded_and_needs_dad() {
    let mut s = on_bridge();
    assert_eq!(validate(&s).unwrap().dad, None);
    s.dad_timeout_ms = Some(500);
    let e = only(&s);
    assert_eq!(e.to_string(), "dad_timeout_ms \"500\": needs dad");
    s.dad = true;
    assert_eq!(validate(&s).unwrap().dad, Some(Duration::from_millis(500)));
    for bad in [0, 99, 30001] {
        s.dad_timeout_ms = Some(bad);
        let e = only(&s);
        assert_eq!(e.field, "dad_timeout_ms");
        assert!(e.reason.contains("100 to 30000 ms"), "{e}");
    }
    s.dad_timeout_ms = None;
    assert_eq!(validate(&s).unwrap().dad, Some(Duration::from_secs(3)));
}

// SPEC: L1
// SPEC: L3
// SPEC: L5
#[test]
fn link_option_problems_come_with_the_others_at_once() {
    let mut s = base();
    s.mac = Some("ff:ff:ff:ff:ff:ff".into());
    s.mtu = Some(10);
    s.vlan = Some(0);
    s.vlan_trunk = vec!["zz".into()];
    s.dad_timeout_ms = Some(1);
    let fields: Vec<_> = problems(&s).into_iter().map(|p| p.field).collect();
    assert_eq!(
        fields,
        ["mac", "mtu", "vlan", "vlan_trunk", "dad_timeout_ms"]
    );
}
