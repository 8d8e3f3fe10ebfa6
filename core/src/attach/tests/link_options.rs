//! L1–L4: the MTU and the host end's bridge port, each step and its undo, in order.

use super::*;
use crate::types::{
    BridgeInfo, BridgeOptions, LinkKind, PortFlags, PortFlagsChange, PortVlans, VlanSpec,
};

/// `br0` (index 3) with VLAN filtering as given (`None`: the kernel does not say, as one built
/// without `CONFIG_BRIDGE_VLAN_FILTERING`).
fn bridge_vf(filtering: Option<bool>) -> LinkInfo {
    let mut b = bridge(3, false);
    b.bridge = Some(BridgeInfo {
        vlan_filtering: filtering,
        ..b.bridge.unwrap()
    });
    b
}

fn fast(spec: &mut Spec) {
    spec.source = Source::VethOnBridge {
        bridge: "br0".into(),
        host_name: "vp1".into(),
    };
}

fn bridge_lookup() -> Rq {
    Rq::LinkByName {
        netns: NetnsRef::Host,
        name: "br0".into(),
    }
}

fn create_veth(mtu: Option<u32>) -> Rq {
    Rq::CreateVeth {
        netns: NetnsRef::Host,
        request: VethRequest {
            host_name: "vp1".into(),
            host_master: Some(3),
            host_up: true,
            peer_netns: ns(),
            peer_name: "eth0".into(),
            peer_mac: Some(mac(0x0a)),
            mtu,
        },
    }
}

/// The fast path up to A4's read: bridge `br0` (3) as given, the pair created (host end 9,
/// container end 2).
fn fast_path_to_a4(spec: Spec, br: LinkInfo, mtu: Option<u32>) -> Script<Attach> {
    let mut s = start(spec);
    s.step("bridge lookup", bridge_lookup(), Ok(R::Link(br)));
    s.step(
        "create veth",
        create_veth(mtu),
        Ok(R::Veth(crate::VethPair {
            host_index: 9,
            peer_index: 2,
        })),
    );
    watch(&mut s, 2, link(2, "eth0", false));
    s
}

fn delete_pair() -> Rq {
    Rq::DeleteLinks {
        netns: NetnsRef::Host,
        indices: vec![9],
    }
}

fn set_mtu(index: IfIndex, mtu: u32) -> Rq {
    Rq::SetMtu {
        netns: ns(),
        index,
        mtu,
    }
}

fn port_flags(index: IfIndex, hairpin: Option<bool>, isolated: Option<bool>) -> Rq {
    Rq::SetPortFlags {
        netns: NetnsRef::Host,
        index,
        flags: PortFlagsChange { hairpin, isolated },
    }
}

fn pvid(vid: u16) -> VlanSpec {
    VlanSpec {
        first: vid,
        last: vid,
        pvid: true,
        untagged: true,
    }
}

fn range(first: u16, last: u16) -> VlanSpec {
    VlanSpec {
        first,
        last,
        pvid: false,
        untagged: false,
    }
}

fn add_vlans(index: IfIndex, vlans: Vec<VlanSpec>) -> Rq {
    Rq::AddPortVlans {
        netns: NetnsRef::Host,
        index,
        vlans,
    }
}

fn del_vlans(index: IfIndex, vlans: Vec<VlanSpec>) -> Rq {
    Rq::DelPortVlans {
        netns: NetnsRef::Host,
        index,
        vlans,
    }
}

/// A veth moved in whose other end (index 9) stays in the host.
fn host_veth(mtu: u32) -> LinkInfo {
    LinkInfo {
        mtu,
        ..veth_in_ns(5, "eth0", 9, mac(0xee))
    }
}

/// A5's first read fails: where these tests stop, to check the undo of every option before it.
fn routes_fail(s: &mut Script<Attach>, what: &str) {
    s.step(what, routes(Family::V4), err(Op::ListRoutes, Errno::EIO));
}

fn fails_with(s: &mut Script<Attach>, start: &str) -> String {
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err();
    if let AttachError::Failed {
        rollback_errors, ..
    } = e
    {
        assert!(rollback_errors.is_empty(), "{e}");
    }
    let text = e.to_string();
    assert!(text.starts_with(start), "{text}");
    text
}

// SPEC: L1
#[test]
fn a_veth_nsplumb_creates_gets_its_mtu_on_both_ends_at_creation() {
    let mut spec = dual_stack();
    fast(&mut spec);
    spec.mtu = Some(1400);
    let mut s = fast_path_to_a4(spec, bridge(3, false), Some(1400));
    // No MTU request in A4: straight to the addresses (MAC was set at creation too).
    routes_fail(&mut s, "routes");
    s.ok("the pair goes, its MTU with it", delete_pair());
    fails_with(
        &mut s,
        "error setting interface \"eth0\" IP to 192.0.2.10/24",
    );
}

// SPEC: L1
// SPEC: A15
#[test]
fn a_moved_link_gets_its_mtu_first_in_a4_and_back_on_rollback() {
    let mut spec = dual_stack();
    spec.mtu = Some(9000);
    let mut s = start(spec);
    moved_and_watched(&mut s, link(5, "eth0", false));
    s.ok("MTU first, before MAC and addresses", set_mtu(5, 9000));
    s.ok("mac", set_mac(mac(0x0a)));
    routes_fail(&mut s, "routes");
    s.ok("restore MAC", set_mac(mac(0xee)));
    // A move keeps the MTU: it is put back before the link leaves.
    s.ok("restore MTU", set_mtu(5, 1500));
    s.ok("move back", move_back(5));
    fails_with(&mut s, "error setting interface \"eth0\" IP");
}

// SPEC: L1
#[test]
fn an_mtu_the_link_has_already_is_not_set() {
    let mut spec = dual_stack();
    spec.mtu = Some(1500);
    spec.mac = None;
    let mut s = start(spec);
    moved_and_watched(&mut s, link(5, "eth0", false));
    routes_fail(&mut s, "routes, no MTU request");
    s.ok("move back, no MTU to restore", move_back(5));
    fails_with(&mut s, "error setting interface \"eth0\" IP");
}

// SPEC: L1
#[test]
fn a_failed_mtu_names_the_interface_and_the_value() {
    let mut spec = dual_stack();
    spec.mtu = Some(9000);
    let mut s = start(spec);
    moved_and_watched(&mut s, link(5, "eth0", false));
    s.step("MTU", set_mtu(5, 9000), err(Op::SetMtu, Errno::EINVAL));
    s.ok("move back", move_back(5));
    let e = fails_with(&mut s, "error setting interface \"eth0\" MTU to 9000");
    assert!(e.contains("invalid argument"), "{e}");
}

// SPEC: L1
#[test]
fn a_new_bridge_gets_its_mtu_in_a4_and_its_delete_undoes_it() {
    let mut spec = Spec::new(
        Source::NewBridge("nb0".into()),
        Destination::Name("br1".into()),
    );
    spec.mtu = Some(1400);
    spec.ipv4 = Some("192.0.2.1/24".into());
    let mut s = Script::new(Attach::new(
        AttachPlan {
            netns: ns(),
            spec: validate(&spec).unwrap(),
            name: "br1".into(),
            master: None,
        },
        Timestamp::ZERO,
    ));
    s.step(
        "create",
        Rq::CreateBridge {
            netns: ns(),
            name: "nb0".into(),
            options: BridgeOptions::default(),
        },
        Ok(R::Index(4)),
    );
    s.ok(
        "rename",
        Rq::RenameLink {
            netns: ns(),
            index: 4,
            name: "br1".into(),
        },
    );
    s.ok("subscribe", C::Subscribe { id: 1, netns: ns() });
    s.step(
        "read",
        read_link(4),
        Ok(R::Link(LinkInfo {
            name: "br1".into(),
            ..bridge(4, false)
        })),
    );
    s.ok("MTU", set_mtu(4, 1400));
    routes_fail(&mut s, "routes");
    s.ok(
        "delete the bridge: no MTU restore",
        Rq::DeleteLinks {
            netns: ns(),
            indices: vec![4],
        },
    );
    fails_with(&mut s, "error setting interface \"br1\" IP");
}

// SPEC: L1
#[test]
fn below_1280_the_kernel_takes_ipv6_away_so_a6_reads_the_sysctl_again() {
    let mut spec = dual_stack();
    spec.ipv6 = None;
    spec.mac = None;
    spec.mtu = Some(1000);
    let mut s = start(spec);
    // The read says IPv6 is on; after the MTU change it is gone (no conf directory).
    moved_and_watched(&mut s, link(5, "eth0", false));
    s.ok("MTU", set_mtu(5, 1000));
    s.step("routes", routes(Family::V4), Ok(R::Routes(vec![])));
    s.ok("v4", add_ipv4());
    s.step(
        "A6 reads instead of trusting the read from before the MTU",
        read_disable_ipv6(),
        err(Op::ReadSysctl, Errno::ENOENT),
    );
    s.step("up", up(5), err(Op::SetLinkUp, Errno::EPERM));
    for _ in 0..LINK_UP_RETRIES {
        s.fire_timer();
        s.step("up again", up(5), err(Op::SetLinkUp, Errno::EPERM));
    }
    s.ok("restore MTU", set_mtu(5, 1500));
    s.ok("move back", move_back(5));
    fails_with(&mut s, "failed to set link up");
}

// SPEC: L2
// SPEC: L4
// SPEC: A15
#[test]
fn fast_path_port_flags_come_after_the_mtu_and_go_with_the_pair() {
    let mut spec = dual_stack();
    fast(&mut spec);
    spec.hairpin = true;
    spec.isolated = true;
    let mut s = fast_path_to_a4(spec, bridge(3, false), None);
    s.ok(
        "hairpin and isolated on the host end",
        port_flags(9, Some(true), Some(true)),
    );
    routes_fail(&mut s, "routes");
    s.ok("the pair goes, its port with it", delete_pair());
    fails_with(&mut s, "error setting interface \"eth0\" IP");
}

// SPEC: L2
#[test]
fn only_the_flags_asked_for_change() {
    let mut spec = dual_stack();
    fast(&mut spec);
    spec.isolated = true;
    let mut s = fast_path_to_a4(spec, bridge(3, false), None);
    s.ok("isolated only", port_flags(9, None, Some(true)));
    routes_fail(&mut s, "routes");
    s.ok("delete", delete_pair());
    fails_with(&mut s, "error setting interface");
}

// SPEC: L2
// SPEC: L4
#[test]
fn a_failed_flag_change_names_the_port_and_the_options() {
    let mut spec = dual_stack();
    fast(&mut spec);
    spec.hairpin = true;
    spec.isolated = true;
    let mut s = fast_path_to_a4(spec, bridge(3, false), None);
    s.step(
        "flags",
        port_flags(9, Some(true), Some(true)),
        err(Op::SetPortFlags, Errno::EOPNOTSUPP),
    );
    s.ok("delete", delete_pair());
    fails_with(
        &mut s,
        "error setting hairpin and isolated on the bridge port \"vp1\" of interface \"eth0\"",
    );
}

// SPEC: L2
// SPEC: L4
// SPEC: A15
#[test]
fn a_moved_veth_has_its_host_end_read_and_its_flags_put_back_on_rollback() {
    let mut spec = dual_stack();
    spec.hairpin = true;
    spec.isolated = true;
    spec.mtu = Some(1400);
    let mut s = start(spec);
    moved_and_watched(&mut s, host_veth(1500));
    s.ok("MTU first", set_mtu(5, 1400));
    let mut end = port(9, 3, PortState::Forwarding);
    end.port_flags = Some(PortFlags {
        hairpin: false,
        isolated: false,
    });
    s.step("host end", read_host(9), Ok(R::Link(end)));
    s.step("its bridge", read_host(3), Ok(R::Link(bridge(3, false))));
    s.ok("flags", port_flags(9, Some(true), Some(true)));
    s.ok("mac", set_mac(mac(0x0a)));
    routes_fail(&mut s, "routes");
    s.ok("restore MAC", set_mac(mac(0xee)));
    s.ok("flags back", port_flags(9, Some(false), Some(false)));
    s.ok("MTU back", set_mtu(5, 1500));
    s.ok("move back", move_back(5));
    fails_with(&mut s, "error setting interface \"eth0\" IP");
}

// SPEC: L2
#[test]
fn flags_the_port_has_already_are_not_set_again() {
    let mut spec = dual_stack();
    spec.mac = None;
    spec.hairpin = true;
    let mut s = start(spec);
    moved_and_watched(&mut s, host_veth(1500));
    let mut end = port(9, 3, PortState::Forwarding);
    end.port_flags = Some(PortFlags {
        hairpin: true,
        isolated: false,
    });
    s.step("host end", read_host(9), Ok(R::Link(end)));
    s.step("its bridge", read_host(3), Ok(R::Link(bridge(3, false))));
    routes_fail(&mut s, "routes, no flag request");
    s.ok("move back, nothing to restore", move_back(5));
    fails_with(&mut s, "error setting interface");
}

// SPEC: L2
// SPEC: L3
// SPEC: L4
#[test]
fn port_options_on_a_link_that_is_not_a_veth_on_a_bridge_fail_before_any_port_change() {
    let mut spec = dual_stack();
    spec.hairpin = true;
    let mut dummy = link(5, "eth0", false);
    dummy.kind = LinkKind::Dummy;
    let mut s = start(spec.clone());
    moved_and_watched(&mut s, dummy);
    s.ok("move back", move_back(5));
    let e = fails_with(&mut s, "hairpin needs a veth on a bridge");
    assert!(
        e.contains("interface \"eth0\" is a dummy, not a veth"),
        "{e}"
    );

    // A veth whose other end is in another namespace.
    spec.isolated = true;
    let mut s = start(spec.clone());
    let mut elsewhere = host_veth(1500);
    elsewhere.peer = Some(crate::types::PeerRef {
        netns: Some(NetnsRef::path("/run/netns/other")),
        index: 9,
    });
    moved_and_watched(&mut s, elsewhere);
    s.ok("move back", move_back(5));
    let e = fails_with(&mut s, "hairpin and isolated need a veth on a bridge");
    assert!(e.contains("other end is not in the host namespace"), "{e}");

    // A veth whose host end is in no bridge.
    spec.isolated = false;
    spec.vlan = Some(10);
    let mut s = start(spec);
    moved_and_watched(&mut s, host_veth(1500));
    s.step(
        "host end",
        read_host(9),
        Ok(R::Link(link(9, "veth0-p", true))),
    );
    s.ok("move back", move_back(5));
    let e = fails_with(&mut s, "hairpin and vlan need a veth on a bridge");
    assert!(e.contains("its host end is not a bridge port"), "{e}");
}

// SPEC: L3
#[test]
fn fast_path_vlans_pvid_untagged_then_trunk_then_the_default_vlan_removed() {
    let mut spec = dual_stack();
    fast(&mut spec);
    spec.vlan = Some(10);
    spec.vlan_trunk = vec!["20-30".into(), "40".into()];
    let mut s = fast_path_to_a4(spec, bridge_vf(Some(true)), None);
    s.ok(
        "PVID untagged, then the trunk, in one request",
        add_vlans(9, vec![pvid(10), range(20, 30), range(40, 40)]),
    );
    s.ok(
        "default VLAN 1 off",
        del_vlans(9, vec![VlanSpec::tagged(1)]),
    );
    routes_fail(&mut s, "routes");
    s.ok("the pair goes, its VLANs with it", delete_pair());
    fails_with(&mut s, "error setting interface");
}

// SPEC: L3
#[test]
fn the_default_vlan_stays_when_kept() {
    let mut spec = dual_stack();
    fast(&mut spec);
    spec.vlan_trunk = vec!["20".into()];
    spec.keep_default_vlan = true;
    let mut s = fast_path_to_a4(spec, bridge_vf(Some(true)), None);
    s.ok("trunk", add_vlans(9, vec![range(20, 20)]));
    routes_fail(&mut s, "routes, VLAN 1 kept");
    s.ok("delete", delete_pair());
    fails_with(&mut s, "error setting interface");
}

// SPEC: L3
#[test]
fn a_bridge_without_vlan_filtering_refuses_before_the_pair_exists() {
    let mut spec = dual_stack();
    fast(&mut spec);
    spec.vlan = Some(10);
    let mut s = start(spec.clone());
    s.step(
        "bridge lookup",
        bridge_lookup(),
        Ok(R::Link(bridge_vf(Some(false)))),
    );
    let e = fails_with(
        &mut s,
        "vlan needs VLAN filtering on bridge \"br0\", which has it off",
    );
    assert!(!e.contains("rollback"), "{e}");

    // A kernel built without it does not even report the setting.
    let mut s = start(spec);
    s.step(
        "bridge lookup",
        bridge_lookup(),
        Ok(R::Link(bridge_vf(None))),
    );
    fails_with(
        &mut s,
        "vlan on bridge \"br0\": this kernel lacks bridge VLAN filtering (built without CONFIG_BRIDGE_VLAN_FILTERING)",
    );
}

// SPEC: L3
#[test]
fn a_kernel_refusing_the_vlans_is_named_and_the_pair_removed() {
    let mut spec = dual_stack();
    fast(&mut spec);
    spec.vlan = Some(10);
    spec.hairpin = true;
    let mut s = fast_path_to_a4(spec, bridge_vf(Some(true)), None);
    s.ok("hairpin", port_flags(9, Some(true), None));
    s.step(
        "VLANs refused",
        add_vlans(9, vec![pvid(10)]),
        err(Op::AddPortVlans, Errno::EOPNOTSUPP),
    );
    s.ok("delete", delete_pair());
    let e = fails_with(
        &mut s,
        "error adding VLAN 10 pvid untagged to the bridge port \"vp1\" of interface \"eth0\" (this kernel lacks bridge VLAN filtering",
    );
    assert!(e.contains("operation not supported"), "{e}");
}

// SPEC: L3
// SPEC: A15
#[test]
fn a_moved_veth_gets_back_the_vlans_its_port_had() {
    let mut spec = dual_stack();
    spec.mac = None;
    spec.vlan = Some(10);
    spec.vlan_trunk = vec!["20-30".into()];
    let mut s = start(spec);
    moved_and_watched(&mut s, host_veth(1500));
    s.step(
        "host end",
        read_host(9),
        Ok(R::Link(port(9, 3, PortState::Forwarding))),
    );
    s.step(
        "its bridge",
        read_host(3),
        Ok(R::Link(bridge_vf(Some(true)))),
    );
    // The port's table before: VLAN 1 as PVID, 25 tagged, 100 tagged (untouched).
    let before = vec![pvid(1), range(25, 25), range(100, 100)];
    s.step(
        "the VLAN table, for the undo",
        Rq::ListPortVlans {
            netns: NetnsRef::Host,
        },
        Ok(R::Vlans(vec![
            PortVlans {
                index: 7,
                vlans: vec![pvid(1)],
            },
            PortVlans {
                index: 9,
                vlans: before.clone(),
            },
        ])),
    );
    s.ok("add", add_vlans(9, vec![pvid(10), range(20, 30)]));
    s.ok("default off", del_vlans(9, vec![VlanSpec::tagged(1)]));
    routes_fail(&mut s, "routes");
    s.ok("ours off", del_vlans(9, vec![pvid(10), range(20, 30)]));
    s.ok(
        "what the port had of them (and its PVID) back",
        add_vlans(9, vec![pvid(1), range(25, 25)]),
    );
    s.ok("move back", move_back(5));
    fails_with(&mut s, "error setting interface");
}

// SPEC: L3
#[test]
fn a_moved_veth_on_a_bridge_without_filtering_fails_after_reading_only() {
    let mut spec = dual_stack();
    spec.vlan_trunk = vec!["20".into()];
    let mut s = start(spec);
    moved_and_watched(&mut s, host_veth(1500));
    s.step(
        "host end",
        read_host(9),
        Ok(R::Link(port(9, 3, PortState::Forwarding))),
    );
    s.step(
        "its bridge",
        read_host(3),
        Ok(R::Link(bridge_vf(Some(false)))),
    );
    s.ok("move back", move_back(5));
    fails_with(
        &mut s,
        "vlan needs VLAN filtering on bridge \"br0\", which has it off",
    );
}

// SPEC: L3
#[test]
fn a_failed_default_vlan_removal_is_named_and_rolled_back() {
    let mut spec = dual_stack();
    fast(&mut spec);
    spec.vlan = Some(10);
    let mut s = fast_path_to_a4(spec, bridge_vf(Some(true)), None);
    s.ok("add", add_vlans(9, vec![pvid(10)]));
    s.step(
        "default off",
        del_vlans(9, vec![VlanSpec::tagged(1)]),
        err(Op::DelPortVlans, Errno::EINVAL),
    );
    s.ok("delete", delete_pair());
    fails_with(
        &mut s,
        "error removing the default VLAN 1 from the bridge port \"vp1\" of interface \"eth0\"",
    );
}

// SPEC: L1
// SPEC: L2
// SPEC: L3
// SPEC: L4
// SPEC: L6
#[test]
fn the_attached_interface_reports_its_options() {
    let mut spec = dual_stack();
    fast(&mut spec);
    spec.ipv6 = None;
    spec.mtu = Some(1400);
    spec.hairpin = true;
    spec.vlan = Some(10);
    spec.vlan_trunk = vec!["20-30".into()];
    let mut s = start(spec);
    s.step(
        "bridge lookup",
        bridge_lookup(),
        Ok(R::Link(bridge_vf(Some(true)))),
    );
    s.step(
        "create veth",
        create_veth(Some(1400)),
        Ok(R::Veth(crate::VethPair {
            host_index: 9,
            peer_index: 5,
        })),
    );
    watch(
        &mut s,
        5,
        LinkInfo {
            mtu: 1400,
            ..v6_unknown(link(5, "eth0", false))
        },
    );
    s.ok("hairpin", port_flags(9, Some(true), None));
    s.ok("VLANs", add_vlans(9, vec![pvid(10), range(20, 30)]));
    s.ok("default off", del_vlans(9, vec![VlanSpec::tagged(1)]));
    s.step("routes", routes(Family::V4), Ok(R::Routes(vec![])));
    s.ok("v4", add_ipv4());
    s.step("sysctl", read_disable_ipv6(), Ok(R::Value("1".into())));
    s.ok("up", up(5));
    ns_event(&mut s, veth_in_ns(5, "eth0", 9, mac(0x0a)));
    s.ok("unsub", C::Unsubscribe { id: 1 });
    s.ok("sub host", subscribe_host());
    read_host_end(&mut s, "host end");
    s.ok("unsub host", C::Unsubscribe { id: 2 });
    first_announcement_v4(&mut s);
    let a = s.m.outcome().unwrap().as_ref().unwrap();
    assert_eq!(a.mtu, Some(1400));
    assert!(a.hairpin && !a.isolated);
    assert_eq!(a.vlans, [pvid(10), range(20, 30)]);
    assert_eq!(
        a.original_mtu, None,
        "a created pair has no MTU to give back"
    );
}

// SPEC: L1
#[test]
fn a_moved_link_records_its_old_mtu_for_detach() {
    let mut spec = dual_stack();
    spec.ipv6 = None;
    spec.mac = None;
    spec.mtu = Some(9000);
    let mut s = start(spec);
    moved_and_watched(&mut s, v6_unknown(veth_in_ns(5, "eth0", 9, mac(0x0a))));
    s.ok("MTU", set_mtu(5, 9000));
    s.step("routes", routes(Family::V4), Ok(R::Routes(vec![])));
    s.ok("v4", add_ipv4());
    s.step("sysctl", read_disable_ipv6(), Ok(R::Value("1".into())));
    s.ok("up", up(5));
    // The link reports up with its new MTU (the read before said 1500).
    ns_event(
        &mut s,
        LinkInfo {
            mtu: 9000,
            ..veth_in_ns(5, "eth0", 9, mac(0x0a))
        },
    );
    s.ok("unsub", C::Unsubscribe { id: 1 });
    s.ok("sub host", subscribe_host());
    s.step(
        "peer, in no bridge",
        read_host(9),
        Ok(R::Link(link(9, "veth0-p", true))),
    );
    s.ok("unsub host", C::Unsubscribe { id: 2 });
    first_announcement_v4(&mut s);
    let a = s.m.outcome().unwrap().as_ref().unwrap();
    assert_eq!((a.mtu, a.original_mtu), (Some(9000), Some(1500)));
}

fn first_announcement_v4(s: &mut Script<Attach>) {
    s.step(
        "S6",
        read_link(5),
        Ok(R::Link(veth_in_ns(5, "eth0", 9, mac(0x0a)))),
    );
    s.ok("ARP", arp());
    s.idle();
}
