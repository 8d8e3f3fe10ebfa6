use super::*;
use crate::attached::Origin;
use crate::spec::{Destination, Source, Spec};
use crate::validate::AnnounceSettings;
use std::time::Duration;

fn ns() -> NetnsRef {
    NetnsRef::Path("/run/netns/ctr1".into())
}

fn spec(src: &str) -> Spec {
    Spec::new(
        Source::HostLink(src.into()),
        Destination::Prefix("eth".into()),
    )
}

fn attached(name: &str, source: &str, index: u32, origin: Origin) -> Attached {
    Attached {
        netns: ns(),
        name: name.into(),
        source: source.into(),
        ifindex: index,
        mac: None,
        ipv4: None,
        ipv6: None,
        ipv6_dropped: None,
        master: None,
        origin,
        announce: AnnounceSettings {
            count: 3,
            interval: Duration::from_secs(1),
        },
        warnings: vec![],
        mtu: None,
        hairpin: false,
        isolated: false,
        vlans: vec![],
        original_mtu: None,
    }
}

// SPEC: N2, N3
#[test]
fn reservations_make_concurrent_prefixes_distinct_and_failures_free_names() {
    let mut r = Registry::default();
    let names: Vec<String> = (0..5)
        .map(|i| {
            r.prepare_attach(&ns(), &spec(&format!("v{i}")))
                .unwrap()
                .name
        })
        .collect();
    assert_eq!(names, ["eth0", "eth1", "eth2", "eth3", "eth4"]);
    r.abort_attach(&ns(), "eth1");
    r.abort_attach(&ns(), "eth3");
    assert_eq!(r.prepare_attach(&ns(), &spec("x")).unwrap().name, "eth1");
    assert_eq!(r.prepare_attach(&ns(), &spec("y")).unwrap().name, "eth3");
}

// SPEC: N1
#[test]
fn host_namespace_keeps_the_source_name() {
    let mut r = Registry::default();
    let plan = r.prepare_attach(&NetnsRef::Host, &spec("veth7")).unwrap();
    assert_eq!(plan.name, "veth7");
}

// SPEC: N4
#[test]
fn explicit_name_held_by_nsplumb_fails_without_kernel() {
    let mut r = Registry::default();
    let mut s = spec("a");
    s.destination = Destination::Name("eth1".into());
    r.prepare_attach(&ns(), &s).unwrap();
    let e = r.prepare_attach(&ns(), &s).unwrap_err().to_string();
    assert!(
        e.contains("error renaming interface") && e.contains("file exists"),
        "{e}"
    );
    // explicit eth1 plus a generated one → eth0
    assert_eq!(r.prepare_attach(&ns(), &spec("b")).unwrap().name, "eth0");
}

// SPEC: V9
#[test]
fn master_must_be_an_attached_bridge_in_the_same_namespace() {
    let mut r = Registry::default();
    let mut s = spec("veth1");
    s.master = Some("br-x".into());
    let e = r.prepare_attach(&ns(), &s).unwrap_err().to_string();
    assert!(
        e.contains("could not find an appropriate master \"br-x\" for \"veth1\""),
        "{e}"
    );
    assert!(r.interfaces(&ns()).next().is_none(), "nothing reserved");
    let mut b = Spec::new(
        Source::NewBridge("br-x".into()),
        Destination::Name("br0".into()),
    );
    b.announce_count = 0;
    r.prepare_attach(&ns(), &b).unwrap();
    r.complete_attach(&attached("br0", "br-x", 4, Origin::NewBridge));
    let plan = r.prepare_attach(&ns(), &s).unwrap();
    assert_eq!(plan.master.unwrap().name, "br0");
    // A non-bridge with that source name does not qualify.
    let mut other = Registry::default();
    other.adopt(attached("eth9", "br-x", 5, Origin::MovedFromHost));
    assert!(other.prepare_attach(&ns(), &s).is_err());
}

// SPEC: D2, D3
#[test]
fn detach_is_exclusive_and_vanished_interfaces_keep_their_name() {
    let mut r = Registry::default();
    r.adopt(attached("eth0", "veth0", 5, Origin::MovedFromHost));
    let plan = r.begin_detach(&ns(), "eth0").unwrap();
    assert_eq!(plan.index, 5);
    assert_eq!(
        r.begin_detach(&ns(), "eth0").unwrap_err(),
        DetachError::Busy {
            netns: ns().to_string(),
            name: "eth0".into(),
        }
    );
    let vanished = DetachError::Vanished {
        netns: ns().to_string(),
        name: "eth0".into(),
    };
    r.detach_failed(&ns(), "eth0", &vanished);
    assert_eq!(
        r.interface(&ns(), "eth0").unwrap().state,
        IfaceState::Vanished
    );
    assert_eq!(
        r.prepare_attach(&ns(), &spec("v")).unwrap().name,
        "eth1",
        "eth0 stays reserved"
    );
    assert!(
        r.begin_detach(&ns(), "eth0").is_ok(),
        "may be detached again"
    );
    r.complete_detach(&ns(), "eth0");
    assert_eq!(
        r.begin_detach(&ns(), "eth0").unwrap_err(),
        DetachError::NotAttached {
            netns: ns().to_string(),
            name: "eth0".into(),
        }
    );
    assert!(!r.forget(&ns(), "eth0"));
}

// SPEC: G4
#[test]
fn detaching_the_gateway_link_forgets_the_gateway() {
    let mut r = Registry::default();
    r.adopt(attached("eth0", "veth0", 5, Origin::MovedFromHost));
    r.record_route(
        &ns(),
        RouteSpec {
            dst: "0.0.0.0/0".parse().unwrap(),
            gateway: Some("192.0.2.1".parse().unwrap()),
            oif: 5,
            scope: crate::types::RouteScope::Universe,
        },
    );
    assert!(r.gateway(&ns(), Family::V4).is_some());
    r.begin_detach(&ns(), "eth0").unwrap();
    r.complete_detach(&ns(), "eth0");
    assert!(r.gateway(&ns(), Family::V4).is_none());
}
