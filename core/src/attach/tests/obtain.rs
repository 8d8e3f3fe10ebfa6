//! A2–A3: the link obtained (moved, created, found) and named; N4 on the way.

use super::*;
use crate::types::BridgeOptions;

// SPEC: N4
#[test]
fn name_taken_in_namespace_fails_and_the_link_stays_in_the_host() {
    let mut spec = dual_stack();
    spec.destination = Destination::Name("eth0".into());
    let mut s = start(spec);
    s.step(
        "lookup",
        lookup_veth0(),
        Ok(R::Link(link(5, "veth0", false))),
    );
    s.step("move fails", move_in(), err(Op::MoveLink, Errno::EEXIST));
    s.step(
        "still in the host?",
        lookup_veth0(),
        Ok(R::Link(link(5, "veth0", false))),
    );
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(
        e.contains("error renaming interface") && e.contains("file exists"),
        "{e}"
    );
}

// SPEC: N4, A15
#[test]
fn link_moved_before_the_rename_failed_is_moved_back() {
    // Linux moves the link under its own name, then fails the rename with EEXIST.
    let mut spec = dual_stack();
    spec.destination = Destination::Name("eth0".into());
    let mut s = start(spec);
    s.step(
        "lookup",
        lookup_veth0(),
        Ok(R::Link(link(5, "veth0", true))),
    );
    s.step("move fails", move_in(), err(Op::MoveLink, Errno::EEXIST));
    s.step(
        "gone from the host",
        lookup_veth0(),
        err(Op::GetLink, Errno::ENODEV),
    );
    s.step(
        "found in the namespace",
        Rq::LinkByName {
            netns: ns(),
            name: "veth0".into(),
        },
        Ok(R::Link(link(3, "veth0", false))),
    );
    s.step("moved back", move_back(3), Ok(R::Index(12)));
    // It had been up, and now has another index in the host: the restore follows it.
    s.ok(
        "up again under its new index",
        Rq::SetLinkUp {
            netns: NetnsRef::Host,
            index: 12,
        },
    );
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err();
    assert!(matches!(e, AttachError::Failed { rollback_errors, .. } if rollback_errors.is_empty()));
}

// SPEC: A2, V10
#[test]
fn veth_fast_path_creates_the_pair_in_one_request_and_deletes_it_on_failure() {
    let mut spec = dual_stack();
    spec.source = Source::VethOnBridge {
        bridge: "br0".into(),
        host_name: "vp1".into(),
    };
    let mut s = start(spec);
    s.step(
        "bridge lookup",
        Rq::LinkByName {
            netns: NetnsRef::Host,
            name: "br0".into(),
        },
        Ok(R::Link(bridge(3, false))),
    );
    s.step(
        "create veth",
        Rq::CreateVeth {
            netns: NetnsRef::Host,
            request: VethRequest {
                host_name: "vp1".into(),
                host_master: Some(3),
                host_up: true,
                peer_netns: ns(),
                peer_name: "eth0".into(),
                peer_mac: Some(mac(0x0a)),
                mtu: None,
            },
        },
        Ok(R::Veth(crate::VethPair {
            host_index: 9,
            peer_index: 2,
        })),
    );
    watch(&mut s, 2, link(2, "eth0", false));
    // Name and MAC were set at creation: straight to the addresses.
    s.step(
        "routes",
        routes(Family::V4),
        err(Op::ListRoutes, Errno::EIO),
    );
    s.ok(
        "delete the pair",
        Rq::DeleteLinks {
            netns: NetnsRef::Host,
            indices: vec![9],
        },
    );
    s.idle();
    assert!(s.m.outcome().unwrap().is_err());
}

// SPEC: V10, A2
#[test]
fn bridge_created_in_namespace_is_renamed_and_deleted_on_failure() {
    let mut spec = Spec::new(
        Source::NewBridge("br-int".into()),
        Destination::Name("br0".into()),
    );
    spec.mac = Some("02:42:c0:00:02:0b".into());
    let mut p = plan(spec);
    p.name = "br0".into();
    let mut s = Script::new(Attach::new(p, Timestamp::ZERO));
    s.step(
        "create",
        Rq::CreateBridge {
            netns: ns(),
            name: "br-int".into(),
            options: BridgeOptions::default(),
        },
        Ok(R::Index(4)),
    );
    s.ok(
        "rename",
        Rq::RenameLink {
            netns: ns(),
            index: 4,
            name: "br0".into(),
        },
    );
    watch(&mut s, 4, bridge(4, false));
    s.step(
        "mac fails",
        Rq::SetMac {
            netns: ns(),
            index: 4,
            mac: mac(0x0b),
        },
        err(Op::SetMac, Errno::EINVAL),
    );
    s.ok(
        "delete",
        Rq::DeleteLinks {
            netns: ns(),
            indices: vec![4],
        },
    );
    s.idle();
}
