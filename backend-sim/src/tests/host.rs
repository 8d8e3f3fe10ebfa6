//! Host settings (SPEC R2): what a new namespace copies under each
//! `net.core.devconf_inherit_init_net`, as measured on Linux 6.18 (see `host.rs`).

use super::*;
use crate::{DevconfInherit, HostSettings, HostSettingsError};
use nsplumb_core::Errno;

/// The columns of the measurement, in its order.
const COLUMNS: [&str; 12] = [
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/forwarding",
    "net/ipv4/conf/all/accept_redirects",
    "net/ipv4/conf/default/forwarding",
    "net/ipv4/conf/default/igmpv2_unsolicited_report_interval",
    "net/ipv4/conf/default/tag",
    "net/ipv4/conf/lo/forwarding",
    "net/ipv4/conf/lo/tag",
    "net/ipv6/conf/all/forwarding",
    "net/ipv6/conf/all/max_desync_factor",
    "net/ipv6/conf/default/max_addresses",
    "net/ipv6/conf/lo/max_addresses",
];

fn row(k: &Kernel, ns: &NetnsRef) -> String {
    COLUMNS
        .iter()
        .map(|p| k.read_sysctl(ns, p).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect()
}

/// The machine of the measurement: `ip_forward=1` (with what the kernel's write does to `all`
/// and `default`) and two IPv6 values changed.
fn container_host_init_net() -> Vec<(String, String)> {
    pairs(&[
        ("net/ipv4/ip_forward", "1"),
        ("net/ipv4/conf/all/accept_redirects", "0"),
        ("net/ipv4/conf/default/forwarding", "1"),
        (
            "net/ipv4/conf/default/igmpv2_unsolicited_report_interval",
            "10001",
        ),
        ("net/ipv6/conf/all/max_desync_factor", "601"),
        ("net/ipv6/conf/default/max_addresses", "17"),
    ])
}

const MODES: [DevconfInherit; 4] = [
    DevconfInherit::Ipv4FromInitNet,
    DevconfInherit::FromInitNet,
    DevconfInherit::KernelDefaults,
    DevconfInherit::FromCreator,
];

// SPEC: R2
#[test]
fn private_host_and_its_namespaces_inherit_as_measured_on_linux() {
    // (P as created, P after its own writes, Q created from P afterwards): the rows printed by
    // the measurement on Linux 6.18, mode by mode.
    let measured = [
        (
            "1 1 0 1 10001 0 1 0 0 600 16 16",
            "0 0 1 0 10001 7 0 7 0 600 18 16",
            "1 1 0 1 10001 0 1 0 0 600 16 16",
        ),
        (
            "1 1 0 1 10001 0 1 0 0 601 17 17",
            "0 0 1 0 10001 7 0 7 0 601 18 17",
            "1 1 0 1 10001 0 1 0 0 601 17 17",
        ),
        (
            "0 0 1 0 10000 0 0 0 0 600 16 16",
            "0 0 1 0 10000 7 0 7 0 600 18 16",
            "0 0 1 0 10000 0 0 0 0 600 16 16",
        ),
        (
            "1 1 0 1 10001 0 1 0 0 601 17 17",
            "0 0 1 0 10001 7 0 7 0 601 18 17",
            "0 0 1 0 10001 7 0 7 0 601 18 18",
        ),
    ];
    for (mode, (p, p_after, q)) in MODES.into_iter().zip(measured) {
        let mut k = Kernel::new(1);
        k.set_host(&HostSettings {
            devconf_inherit: mode,
            init_net: container_host_init_net(),
            host: Some(Vec::new()),
        })
        .unwrap();
        assert_eq!(row(&k, &H), p, "P, mode {mode:?}");
        k.write_sysctl(&H, "net/ipv4/ip_forward", "0").unwrap();
        k.write_sysctl(&H, "net/ipv4/conf/default/tag", "7")
            .unwrap();
        k.write_sysctl(&H, "net/ipv6/conf/default/max_addresses", "18")
            .unwrap();
        assert_eq!(row(&k, &H), p_after, "P after its writes, mode {mode:?}");
        let q_ns = k.create_netns("q").unwrap();
        assert_eq!(row(&k, &q_ns), q, "Q made from P, mode {mode:?}");
        // The knob is the initial namespace's: neither P nor Q has it.
        for ns in [&H, &q_ns] {
            assert_eq!(
                k.read_sysctl(ns, "net/core/devconf_inherit_init_net"),
                Err(Errno::ENOENT)
            );
        }
    }
}

// SPEC: R2
#[test]
fn a_host_that_is_init_net_passes_its_writes_on_as_its_mode_says() {
    for mode in MODES {
        let mut k = Kernel::new(1);
        let knob = "net/core/devconf_inherit_init_net";
        assert_eq!(k.read_sysctl(&H, knob).unwrap(), "0");
        k.write_sysctl(&H, knob, &mode.value().to_string()).unwrap();
        assert_eq!(k.read_sysctl(&H, knob).unwrap(), mode.value().to_string());
        k.write_sysctl(&H, "net/ipv4/ip_forward", "1").unwrap();
        k.write_sysctl(&H, "net/ipv6/conf/default/max_addresses", "17")
            .unwrap();
        k.write_sysctl(&H, "net/ipv6/conf/all/max_desync_factor", "601")
            .unwrap();
        let a = k.create_netns("a").unwrap();
        let (v4, v6) = match mode {
            DevconfInherit::Ipv4FromInitNet => (true, false),
            DevconfInherit::FromInitNet | DevconfInherit::FromCreator => (true, true),
            DevconfInherit::KernelDefaults => (false, false),
        };
        let on = |b: bool, yes: &'static str, no: &'static str| if b { yes } else { no };
        let r = |p: &str| k.read_sysctl(&a, p).unwrap();
        assert_eq!(r("net/ipv4/ip_forward"), on(v4, "1", "0"), "{mode:?}");
        assert_eq!(r("net/ipv4/conf/all/accept_redirects"), on(v4, "0", "1"));
        assert_eq!(r("net/ipv4/conf/default/forwarding"), on(v4, "1", "0"));
        assert_eq!(r("net/ipv4/conf/lo/forwarding"), on(v4, "1", "0"));
        assert_eq!(r("net/ipv6/conf/default/max_addresses"), on(v6, "17", "16"));
        assert_eq!(r("net/ipv6/conf/lo/max_addresses"), on(v6, "17", "16"));
        assert_eq!(
            r("net/ipv6/conf/all/max_desync_factor"),
            on(v6, "601", "600")
        );
        // A link made in the new namespace copies the new namespace's `default`.
        let _ = veth(&mut k, &a, "v0", &a, "v1");
        assert_eq!(
            k.read_sysctl(&a, "net/ipv4/conf/v0/forwarding").unwrap(),
            on(v4, "1", "0")
        );
        assert_eq!(k.read_sysctl(&a, knob), Err(Errno::ENOENT));
    }
}

// SPEC: R2
#[test]
fn mode_3_copies_the_host_as_it_is_when_the_namespace_is_made() {
    let mut k = Kernel::new(1);
    k.write_sysctl(&H, "net/core/devconf_inherit_init_net", "3")
        .unwrap();
    k.write_sysctl(&H, "net/ipv6/conf/all/forwarding", "1")
        .unwrap();
    let a = k.create_netns("a").unwrap();
    k.write_sysctl(&H, "net/ipv6/conf/all/forwarding", "0")
        .unwrap();
    let b = k.create_netns("b").unwrap();
    let fwd6 = "net/ipv6/conf/default/forwarding";
    assert_eq!(k.read_sysctl(&a, fwd6).unwrap(), "1");
    assert_eq!(k.read_sysctl(&b, fwd6).unwrap(), "0");
}

// SPEC: R2
#[test]
fn the_knob_and_the_settings_reject_what_the_kernel_rejects() {
    let mut k = Kernel::new(1);
    let knob = "net/core/devconf_inherit_init_net";
    for bad in ["4", "-1", "x", ""] {
        assert_eq!(k.write_sysctl(&H, knob, bad), Err(Errno::EINVAL), "{bad:?}");
    }
    assert_eq!(k.read_sysctl(&H, "net/core"), Err(Errno::EISDIR));
    let bad_path = HostSettings {
        init_net: pairs(&[("net/ipv4/conf/eth0/forwarding", "1")]),
        ..HostSettings::default()
    };
    assert_eq!(
        k.set_host(&bad_path),
        Err(HostSettingsError {
            path: "net/ipv4/conf/eth0/forwarding".into(),
            value: "1".into(),
            errno: Errno::EINVAL,
        })
    );
    let bad_value = HostSettings {
        host: Some(pairs(&[("net/ipv6/conf/default/mtu", "1000")])),
        ..HostSettings::default()
    };
    let e = k.set_host(&bad_value).unwrap_err();
    assert_eq!(
        (e.path.as_str(), e.errno),
        ("net/ipv6/conf/default/mtu", Errno::EINVAL)
    );
    assert!(
        e.to_string().contains("net/ipv6/conf/default/mtu=\"1000\""),
        "{e}"
    );
    // Nothing was half-applied.
    assert_eq!(
        k.read_sysctl(&H, "net/ipv6/conf/default/mtu").unwrap(),
        "1280"
    );
    k.create_netns("a").unwrap();
    let e = k.set_host(&HostSettings::default()).unwrap_err();
    assert_eq!(e.errno, Errno::EBUSY);
}

// SPEC: R2
#[test]
fn devconf_paths_are_all_settable() {
    let values: Vec<(String, String)> = crate::devconf_paths()
        .into_iter()
        .map(|p| {
            let v = Kernel::new(1).read_sysctl(&H, &p).unwrap();
            (p, v)
        })
        .collect();
    assert!(values.len() > 150, "{}", values.len());
    let mut k = Kernel::new(1);
    k.set_host(&HostSettings {
        init_net: values.clone(),
        host: Some(values),
        ..HostSettings::default()
    })
    .unwrap();
}

#[test]
fn ipv4_forwarding_on_all_changes_links_only_when_it_changes() {
    let mut k = Kernel::new(1);
    let (_, _) = veth(&mut k, &H, "v0", &H, "v1");
    let r = |k: &Kernel, p: &str| k.read_sysctl(&H, p).unwrap();
    k.write_sysctl(&H, "net/ipv4/conf/all/forwarding", "1")
        .unwrap();
    assert_eq!(r(&k, "net/ipv4/conf/all/accept_redirects"), "0");
    k.write_sysctl(&H, "net/ipv4/conf/v0/forwarding", "0")
        .unwrap();
    k.write_sysctl(&H, "net/ipv4/conf/all/forwarding", "1")
        .unwrap();
    assert_eq!(r(&k, "net/ipv4/conf/v0/forwarding"), "0");
    k.write_sysctl(&H, "net/ipv4/conf/all/forwarding", "5")
        .unwrap();
    assert_eq!(r(&k, "net/ipv4/conf/v0/forwarding"), "5");
    assert_eq!(r(&k, "net/ipv4/conf/default/forwarding"), "5");
    k.write_sysctl(&H, "net/ipv4/ip_forward", "0").unwrap();
    assert_eq!(r(&k, "net/ipv4/conf/all/accept_redirects"), "1");
    assert_eq!(r(&k, "net/ipv4/conf/v1/forwarding"), "0");
}

#[test]
fn ipv4_default_writes_reach_links_that_never_set_the_key() {
    let mut k = Kernel::new(1);
    let (_, _) = veth(&mut k, &H, "v0", &H, "v1");
    k.write_sysctl(&H, "net/ipv4/conf/v1/arp_ignore", "0")
        .unwrap();
    k.write_sysctl(&H, "net/ipv4/conf/default/arp_ignore", "2")
        .unwrap();
    let r = |p: &str| k.read_sysctl(&H, p).unwrap();
    assert_eq!(r("net/ipv4/conf/v0/arp_ignore"), "2");
    assert_eq!(r("net/ipv4/conf/lo/arp_ignore"), "2");
    assert_eq!(r("net/ipv4/conf/v1/arp_ignore"), "0", "written itself");
    let mut k = Kernel::new(1);
    let (_, _) = veth(&mut k, &H, "v0", &H, "v1");
    for (key, v) in [
        ("forwarding", "1"),
        ("route_localnet", "1"),
        ("promote_secondaries", "1"),
    ] {
        k.write_sysctl(&H, &format!("net/ipv4/conf/default/{key}"), v)
            .unwrap();
        assert_eq!(
            k.read_sysctl(&H, &format!("net/ipv4/conf/v0/{key}"))
                .unwrap(),
            "0",
            "{key}"
        );
    }
    k.write_sysctl(&H, "net/ipv6/conf/default/accept_ra", "2")
        .unwrap();
    assert_eq!(
        k.read_sysctl(&H, "net/ipv6/conf/v0/accept_ra").unwrap(),
        "1"
    );
    // A moved link starts over: the destination's default reaches it again.
    let b = k.create_netns("b").unwrap();
    k.write_sysctl(&H, "net/ipv4/conf/v0/arp_ignore", "1")
        .unwrap();
    let v0 = k.link_by_name(&H, "v0").unwrap().index;
    k.move_link(&H, v0, &b, "v0").unwrap();
    k.write_sysctl(&b, "net/ipv4/conf/default/arp_ignore", "2")
        .unwrap();
    assert_eq!(
        k.read_sysctl(&b, "net/ipv4/conf/v0/arp_ignore").unwrap(),
        "2"
    );
}

#[test]
fn ipv4_mc_forwarding_is_read_only() {
    let mut k = Kernel::new(1);
    for p in [
        "net/ipv4/conf/all/mc_forwarding",
        "net/ipv4/conf/lo/mc_forwarding",
    ] {
        assert_eq!(k.write_sysctl(&H, p, "0"), Err(Errno::EACCES));
        assert_eq!(k.read_sysctl(&H, p).unwrap(), "0");
    }
}
