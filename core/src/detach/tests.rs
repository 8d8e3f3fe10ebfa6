use super::*;
use crate::testutil::*;
use crate::{Command as C, Op, Reply as R};

fn plan(origin: Origin, source: &str) -> DetachPlan {
    DetachPlan {
        netns: ns(),
        name: "eth0".into(),
        source: source.into(),
        index: 5,
        origin,
    }
}

fn run(origin: Origin, source: &str) -> Script<Detach> {
    let mut s = Script::new(Detach::new(plan(origin, source), Timestamp::ZERO));
    s.step(
        "look up",
        |c| matches!(c, C::LinkByIndex { index: 5, .. }),
        Ok(R::Link(link(5, "eth0", true))),
    );
    s.ok("down", |c| matches!(c, C::SetLinkDown { index: 5, .. }));
    s
}

// SPEC: D1
#[test]
fn moved_link_goes_back_to_the_host_under_its_source_name_in_one_message() {
    let mut s = run(Origin::MovedFromHost, "veth0");
    s.ok(
        "move back",
        |c| matches!(c, C::MoveLink { to: NetnsRef::Host, new_name, .. } if new_name == "veth0"),
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
            |c| matches!(c, C::DeleteLinks { indices, .. } if indices == &[5]),
        );
        assert_eq!(s.m.outcome(), Some(&Ok(())));
    }
    let mut s = run(Origin::CreatedInNamespace, "dummy0");
    s.ok(
        "rename back",
        |c| matches!(c, C::RenameLink { name, .. } if name == "dummy0"),
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
        |c| matches!(c, C::LinkByIndex { .. }),
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
        |c| matches!(c, C::LinkByIndex { .. }),
        Ok(R::Link(link(5, "other", true))),
    );
    s.idle();
    assert!(matches!(
        s.m.outcome(),
        Some(Err(DetachError::Vanished { .. }))
    ));
}
