use super::*;
use crate::testutil::*;
use crate::{Op, Reply as R, Request as Rq};

fn plan(origin: Origin, source: &str) -> DetachPlan {
    DetachPlan {
        netns: ns(),
        name: "eth0".into(),
        source: source.into(),
        index: 5,
        origin,
        restore_mtu: None,
    }
}

fn run(origin: Origin, source: &str) -> Script<Detach> {
    run_plan(plan(origin, source))
}

fn run_plan(plan: DetachPlan) -> Script<Detach> {
    let mut s = Script::new(Detach::new(plan, Timestamp::ZERO));
    s.step(
        "look up",
        Rq::LinkByIndex {
            netns: ns(),
            index: 5,
        },
        Ok(R::Link(link(5, "eth0", true))),
    );
    s.ok(
        "down",
        Rq::SetLinkDown {
            netns: ns(),
            index: 5,
        },
    );
    s
}

// SPEC: D1
#[test]
fn moved_link_goes_back_to_the_host_under_its_source_name_in_one_message() {
    let mut s = run(Origin::MovedFromHost, "veth0");
    s.ok(
        "move back",
        Rq::MoveLink {
            from: ns(),
            index: 5,
            to: NetnsRef::Host,
            new_name: "veth0".into(),
        },
    );
    s.idle();
    assert_eq!(s.m.outcome(), Some(&Ok(())));
}

// SPEC: D1
#[test]
fn created_links_are_deleted_and_found_links_renamed_back() {
    for origin in [Origin::NewBridge, Origin::NewVeth { host_index: 9 }] {
        let mut s = run(origin, "x");
        s.ok(
            "delete",
            Rq::DeleteLinks {
                netns: ns(),
                indices: vec![5],
            },
        );
        assert_eq!(s.m.outcome(), Some(&Ok(())));
    }
    let mut s = run(Origin::CreatedInNamespace, "dummy0");
    s.ok(
        "rename back",
        Rq::RenameLink {
            netns: ns(),
            index: 5,
            name: "dummy0".into(),
        },
    );
    assert_eq!(s.m.outcome(), Some(&Ok(())));
    let mut s = run(Origin::InHost, "eth0");
    s.idle();
    assert_eq!(s.m.outcome(), Some(&Ok(())));
}

// SPEC: D3
#[test]
fn vanished_link_is_reported() {
    let mut s = Script::new(Detach::new(
        plan(Origin::MovedFromHost, "veth0"),
        Timestamp::ZERO,
    ));
    s.step(
        "gone",
        Rq::LinkByIndex {
            netns: ns(),
            index: 5,
        },
        err(Op::GetLink, Errno::ENODEV),
    );
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(e.contains("vanished") && e.contains("eth0"), "{e}");
}

// SPEC: D3
#[test]
fn an_index_reused_by_another_link_is_not_touched() {
    let mut s = Script::new(Detach::new(
        plan(Origin::MovedFromHost, "veth0"),
        Timestamp::ZERO,
    ));
    s.step(
        "index 5 is someone else now",
        Rq::LinkByIndex {
            netns: ns(),
            index: 5,
        },
        Ok(R::Link(link(5, "other", true))),
    );
    s.idle();
    assert_eq!(
        s.m.outcome(),
        Some(&Err(DetachError::Vanished {
            netns: ns().to_string(),
            name: "eth0".into(),
        }))
    );
}

/// `with_deferred_delete`: the machine stops before the delete and names the link to delete;
/// a veth pair by its host end only when the looked-up peer is that recorded host end.
// SPEC: D1
#[test]
fn a_deferred_delete_names_the_host_end_only_when_the_peer_is_still_ours() {
    let deferred = |found: crate::LinkInfo| {
        let plan = plan(Origin::NewVeth { host_index: 9 }, "vh0");
        let mut s = Script::new(Detach::with_deferred_delete(plan, Timestamp::ZERO));
        s.step(
            "look up",
            Rq::LinkByIndex {
                netns: ns(),
                index: 5,
            },
            Ok(R::Link(found)),
        );
        s.ok(
            "down",
            Rq::SetLinkDown {
                netns: ns(),
                index: 5,
            },
        );
        s.idle();
        assert_eq!(s.m.outcome(), None, "no outcome before the caller's delete");
        let target = s.m.deferred_delete().map(|(n, i)| (n.clone(), i));
        (s, target)
    };
    let mac = mac(0xee);
    let (_, t) = deferred(veth_in_ns(5, "eth0", 9, mac));
    assert_eq!(t, Some((NetnsRef::Host, 9)), "the recorded host end");
    // The peer is another link now (index 9 reused, or a peer in another namespace): the
    // container end is deleted instead, never a host link that is not ours.
    let (_, t) = deferred(veth_in_ns(5, "eth0", 12, mac));
    assert_eq!(t, Some((ns(), 5)));
    let (mut s, t) = deferred(link(5, "eth0", true));
    assert_eq!(t, Some((ns(), 5)));
    s.m.finish_deferred(
        Timestamp::ZERO,
        Err(BackendError::new(
            Op::DeleteLink,
            Errno::ENODEV,
            &ns(),
            "eth0",
        )),
    );
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(e.contains("vanished"), "{e}");
    assert_eq!(s.m.deferred_delete(), None);
}

// SPEC: L1
#[test]
fn a_moved_link_gets_its_old_mtu_back_before_it_leaves() {
    let mut s = run_plan(DetachPlan {
        restore_mtu: Some(1500),
        ..plan(Origin::MovedFromHost, "veth0")
    });
    s.ok(
        "old MTU, while the link is down in the namespace",
        Rq::SetMtu {
            netns: ns(),
            index: 5,
            mtu: 1500,
        },
    );
    s.ok(
        "move back",
        Rq::MoveLink {
            from: ns(),
            index: 5,
            to: NetnsRef::Host,
            new_name: "veth0".into(),
        },
    );
    s.idle();
    assert_eq!(s.m.outcome(), Some(&Ok(())));
}

// SPEC: L1
#[test]
fn a_failed_mtu_restore_fails_the_detach_naming_it_and_leaves_the_link() {
    let mut s = run_plan(DetachPlan {
        restore_mtu: Some(1500),
        ..plan(Origin::MovedFromHost, "veth0")
    });
    s.step(
        "old MTU",
        Rq::SetMtu {
            netns: ns(),
            index: 5,
            mtu: 1500,
        },
        err(Op::SetMtu, Errno::EINVAL),
    );
    s.idle();
    let e = s.m.outcome().unwrap().as_ref().unwrap_err().to_string();
    assert!(
        e.starts_with(
            "failed to restore the MTU of interface \"eth0\" in namespace /run/netns/ctr1"
        ),
        "{e}"
    );
    // Gone meanwhile: D3.
    let mut s = run_plan(DetachPlan {
        restore_mtu: Some(1500),
        ..plan(Origin::MovedFromHost, "veth0")
    });
    s.step(
        "old MTU",
        Rq::SetMtu {
            netns: ns(),
            index: 5,
            mtu: 1500,
        },
        err(Op::SetMtu, Errno::ENODEV),
    );
    assert!(matches!(
        s.m.outcome(),
        Some(Err(DetachError::Vanished { .. }))
    ));
}
