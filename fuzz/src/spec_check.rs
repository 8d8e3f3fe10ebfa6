//! Validate a [`Spec`] and check the verdict: accepted values lie within their documented
//! ranges and are what was written; a rejection names every bad field, with its value, and
//! only bad fields.

use crate::spec_rules as rules;
use ipnet::{IpNet, Ipv4Net};
use nsplumb_core::naming::{generate_name, MAX_IFNAME_LEN};
use nsplumb_core::{
    check_ifname, validate, Destination, FieldError, InvalidSpec, Source, Spec, ValidSpec,
};
use std::net::IpAddr;

/// Run `validate` on `spec`, check its answer against the SPEC rules, and return it.
pub fn validate_and_check(spec: &Spec) -> Result<ValidSpec, InvalidSpec> {
    let verdict = validate(spec);
    let expected = expected_problems(spec);
    match &verdict {
        Ok(valid) => {
            assert!(
                expected.is_empty(),
                "validate accepted {spec:?} although {expected:?} break the SPEC rules"
            );
            check_valid(spec, valid);
        }
        Err(e) => check_invalid(spec, e, &expected),
    }
    assert_eq!(validate(spec), verdict, "validate is not deterministic");
    verdict
}

/// The (field, value) pairs the SPEC rules reject, in the order `validate` checks the fields.
pub fn expected_problems(spec: &Spec) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut expect = |ok: bool, field: &'static str, value: &str| {
        if !ok {
            out.push((field, value.to_string()));
        }
    };
    match &spec.source {
        Source::VethOnBridge { bridge, host_name } => {
            expect(
                rules::name_ok(bridge, MAX_IFNAME_LEN),
                "veth_on_bridge",
                bridge,
            );
            expect(
                rules::name_ok(host_name, MAX_IFNAME_LEN),
                "source",
                host_name,
            );
        }
        other => expect(
            rules::name_ok(other.name(), MAX_IFNAME_LEN),
            "source",
            other.name(),
        ),
    }
    match &spec.destination {
        Destination::Name(n) => expect(rules::name_ok(n, MAX_IFNAME_LEN), "name", n),
        Destination::Prefix(p) => expect(rules::name_ok(p, MAX_IFNAME_LEN - 1), "prefix", p),
    }
    if let Some(m) = &spec.mac {
        expect(rules::mac_ok(m), "mac", m);
    }
    if let Some(a) = &spec.ipv4 {
        expect(rules::ipv4_ok(a), "ipv4", a);
    }
    if let Some(a) = &spec.ipv6 {
        expect(rules::ipv6_ok(a), "ipv6", a);
    }
    for n in &spec.link_local {
        expect(rules::cidr(n).is_some(), "link_local", n);
    }
    for r in &spec.routes {
        expect(rules::cidr(r).is_some(), "route", r);
    }
    for s in &spec.sysctls {
        expect(rules::sysctl_ok(s), "sysctl", s);
    }
    expect(
        rules::announce_count_ok(spec.announce_count),
        "announce_count",
        &spec.announce_count.to_string(),
    );
    expect(
        rules::announce_interval_ok(spec.announce_interval),
        "announce_interval_ms",
        &spec.announce_interval.as_millis().to_string(),
    );
    if let Some(m) = &spec.master {
        expect(rules::name_ok(m, MAX_IFNAME_LEN), "master", m);
    }
    link_option_problems(spec, &mut expect);
    out
}

/// L1–L5, in the order `validate` reports them.
fn link_option_problems(spec: &Spec, expect: &mut dyn FnMut(bool, &'static str, &str)) {
    if let Some(mtu) = spec.mtu {
        expect(
            rules::mtu_ok(mtu, spec.ipv6.is_some()),
            "mtu",
            &mtu.to_string(),
        );
    }
    if let Some(vid) = spec.vlan {
        expect(rules::vlan_id_ok(vid.into()), "vlan", &vid.to_string());
    }
    // Each trunk entry: well formed, not holding the PVID, not overlapping an earlier one.
    let mut earlier: Vec<(u32, u32)> = Vec::new();
    for entry in &spec.vlan_trunk {
        let Some((first, last)) = rules::vlan_range(entry) else {
            expect(false, "vlan_trunk", entry);
            continue;
        };
        let holds_pvid = spec
            .vlan
            .is_some_and(|p| (first..=last).contains(&u32::from(p)));
        let overlaps = earlier.iter().any(|&(a, b)| a <= last && first <= b);
        expect(!holds_pvid && !overlaps, "vlan_trunk", entry);
        earlier.push((first, last));
    }
    let any_vlan = spec.vlan.is_some() || !spec.vlan_trunk.is_empty();
    expect(
        !spec.keep_default_vlan || any_vlan,
        "keep_default_vlan",
        "true",
    );
    // A bridge nsplumb creates is no veth on a bridge: no port options (L2–L4).
    if matches!(spec.source, Source::NewBridge(_)) {
        expect(!spec.hairpin, "hairpin", "true");
        expect(!spec.isolated, "isolated", "true");
        if let Some(vid) = spec.vlan {
            expect(false, "vlan", &vid.to_string());
        }
        if !spec.vlan_trunk.is_empty() {
            expect(false, "vlan_trunk", &spec.vlan_trunk.join(","));
        }
    }
    if let Some(ms) = spec.dad_timeout_ms {
        expect(
            spec.dad && rules::dad_timeout_ok(ms),
            "dad_timeout_ms",
            &ms.to_string(),
        );
    }
}

fn check_invalid(spec: &Spec, e: &InvalidSpec, expected: &[(&'static str, String)]) {
    let got: Vec<(&'static str, String)> = e
        .problems
        .iter()
        .map(|p| (p.field, p.value.clone()))
        .collect();
    assert_eq!(
        got, expected,
        "validate's problems differ from the SPEC rules' for {spec:?}"
    );
    let text = e.to_string();
    assert!(
        !text.contains('\n'),
        "an invalid spec must read as one line: {text:?}"
    );
    for p in &e.problems {
        assert!(!p.reason.is_empty(), "no reason given for {p:?}");
        assert!(text.contains(&p.to_string()), "{text:?} leaves out {p:?}");
        assert!(names_field_and_value(p), "{p} does not name its field");
    }
}

/// Every message names its field and its value; V7/V8 name them in their fixed wording.
fn names_field_and_value(p: &FieldError) -> bool {
    let text = p.to_string();
    match p.field {
        "announce_count" => text.contains("announce count") && text.contains(&p.value),
        "announce_interval_ms" => {
            text.contains("announce_interval_ms") && text.contains(&format!("{} ms", p.value))
        }
        // L2–L4 on a link that is no veth on a bridge: a sentence naming the option.
        _ if text.ends_with("needs a veth on a bridge") => {
            text.starts_with(p.field.split('_').next().unwrap_or(p.field))
        }
        field => text.starts_with(&format!("{field} {:?}: ", p.value)),
    }
}

fn check_valid(spec: &Spec, v: &ValidSpec) {
    assert_eq!(v.source, spec.source);
    assert_eq!(v.destination, spec.destination);
    assert_eq!(v.master, spec.master);
    for name in names_of(spec) {
        check_ifname(name).expect("an accepted name is a kernel interface name");
    }

    // V3: the address is the one written, in one of the two documented forms.
    assert_eq!(v.mac.is_some(), spec.mac.is_some());
    if let (Some(text), Some(mac)) = (&spec.mac, v.mac) {
        assert!(mac.is_assignable(), "{mac} accepted but not assignable");
        assert_eq!(
            text.to_ascii_lowercase().replace('-', ":"),
            mac.to_string(),
            "MAC {text:?} accepted but not in a documented form"
        );
    }

    // V4: IPv4 always as 4 bytes; IPv6 never an IPv4 address in disguise.
    assert_eq!(v.ipv4.is_some(), spec.ipv4.is_some());
    if let (Some(text), Some(net)) = (&spec.ipv4, v.ipv4) {
        assert_eq!(IpNet::V4(net), as_written(text), "ipv4 {text:?}");
    }
    assert_eq!(v.ipv6.is_some(), spec.ipv6.is_some());
    if let (Some(text), Some(net)) = (&spec.ipv6, v.ipv6) {
        assert_eq!(IpNet::V6(net), as_written(text), "ipv6 {text:?}");
    }

    // V5: every entry kept, in order, as written; routes as networks.
    assert_eq!(v.link_local.len(), spec.link_local.len());
    for (text, net) in spec.link_local.iter().zip(&v.link_local) {
        assert_eq!(*net, as_written(text), "link-local {text:?}");
    }
    assert_eq!(v.routes.len(), spec.routes.len());
    for (text, net) in spec.routes.iter().zip(&v.routes) {
        assert_eq!(*net, as_written(text).trunc(), "route {text:?}");
    }

    // V6: every setting kept whole, and its path stays below /proc/sys for any valid name.
    assert_eq!(v.sysctls.len(), spec.sysctls.len());
    let ifname = match &spec.destination {
        Destination::Name(n) => n.clone(),
        Destination::Prefix(p) => {
            let n = generate_name(p, []).expect("an accepted prefix leaves room for a number");
            check_ifname(&n).expect("a generated name is a kernel interface name");
            n
        }
    };
    for (text, setting) in spec.sysctls.iter().zip(&v.sysctls) {
        assert_eq!(
            format!("{}={}", setting.parts.join("."), setting.value),
            *text,
            "sysctl read back differently"
        );
        let path = setting.path_for(&ifname);
        assert!(
            rules::stays_below_proc_sys(&path),
            "{path:?} leaves /proc/sys"
        );
        assert_eq!(path.split('/').nth(3), Some(ifname.as_str()));
    }

    // V7, V8.
    assert_eq!(v.announce.count, spec.announce_count);
    assert_eq!(v.announce.interval, spec.announce_interval);
    assert!(rules::announce_count_ok(v.announce.count));
    assert!(rules::announce_interval_ok(v.announce.interval));
}

/// The network an accepted CIDR text stands for, IPv4 in 4 bytes whatever its form (V4).
fn as_written(text: &str) -> IpNet {
    let (addr, len) = rules::cidr(text).expect("an accepted address is a CIDR");
    match addr {
        IpAddr::V6(a) if len >= 96 && a.to_ipv4_mapped().is_some() => IpNet::V4(
            Ipv4Net::new(a.to_ipv4_mapped().expect("mapped"), len - 96).expect("length fits"),
        ),
        _ => IpNet::new(addr, len).expect("length fits the family"),
    }
}

fn names_of(spec: &Spec) -> Vec<&str> {
    let mut names = vec![spec.source.name()];
    if let Source::VethOnBridge { bridge, .. } = &spec.source {
        names.push(bridge);
    }
    if let Destination::Name(n) = &spec.destination {
        names.push(n);
    }
    names.extend(spec.master.as_deref());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn veth() -> Spec {
        Spec::new(
            Source::VethOnBridge {
                bridge: "br0".into(),
                host_name: "vh0".into(),
            },
            Destination::Name("eth0".into()),
        )
    }

    /// The oracle agrees with `validate` on the link options, good and bad (SPEC L1–L5).
    // SPEC: L1
    // SPEC: L3
    // SPEC: L5
    #[test]
    fn the_link_option_rules_agree_with_validate() {
        let mut good = veth();
        good.mtu = Some(1400);
        good.vlan = Some(10);
        good.vlan_trunk = vec!["20-30".into(), "40".into()];
        good.keep_default_vlan = true;
        good.dad = true;
        good.dad_timeout_ms = Some(500);
        assert!(validate_and_check(&good).is_ok());

        let mut bad = veth();
        bad.ipv6 = Some("fd00::2/64".into());
        bad.mtu = Some(1279);
        bad.vlan = Some(25);
        bad.vlan_trunk = vec!["20-30".into(), "29".into(), "30-20".into(), "x".into()];
        bad.dad_timeout_ms = Some(500);
        let e = validate_and_check(&bad).unwrap_err();
        assert_eq!(e.problems.len(), 6, "{e}");

        let mut bridge = Spec::new(
            Source::NewBridge("br1".into()),
            Destination::Name("br1".into()),
        );
        bridge.hairpin = true;
        bridge.isolated = true;
        bridge.keep_default_vlan = true;
        let e = validate_and_check(&bridge).unwrap_err();
        assert_eq!(e.problems.len(), 3, "{e}");
    }
}
