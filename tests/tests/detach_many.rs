//! `Plumber::detach_many` on the simulator: many interfaces of one namespace detached with the
//! created links deleted in one kernel batch (P4), each name with its own outcome (SPEC D1, D3).

use nsplumb_core::{Destination, DetachError, NetnsRef, Op, Source, Spec};
use nsplumb_tests::{diff, normalize, Harness};

/// Host: bridge `br0` (up, with a MAC) and dummies `hd0`, `hd1`; namespace `ctr`.
fn world(seed: u64) -> (Harness, NetnsRef) {
    let h = Harness::new(seed);
    let mut k = h.sim.kernel();
    let br = k.create_bridge(&NetnsRef::Host, "br0").unwrap();
    k.set_link_up(&NetnsRef::Host, br).unwrap();
    k.set_mac(&NetnsRef::Host, br, "02:00:00:00:0b:00".parse().unwrap())
        .unwrap();
    drop(k);
    h.sim.create_dummy(&NetnsRef::Host, "hd0").unwrap();
    h.sim.create_dummy(&NetnsRef::Host, "hd1").unwrap();
    let ns = h.netns("ctr");
    (h, ns)
}

fn veth_spec(i: usize) -> Spec {
    let mut s = Spec::new(
        Source::VethOnBridge {
            bridge: "br0".into(),
            host_name: format!("vh{i}"),
        },
        Destination::Name(format!("eth{i}")),
    );
    s.ipv4 = Some(format!("192.0.2.{}/32", 10 + i));
    s.announce_count = 0;
    s
}

fn moved_spec(source: &str, name: &str) -> Spec {
    let mut s = Spec::new(
        Source::HostLink(source.into()),
        Destination::Name(name.into()),
    );
    s.announce_count = 0;
    s
}

fn detach_many(h: &mut Harness, ns: &NetnsRef, names: &[&str]) -> Vec<Result<(), DetachError>> {
    let items: Vec<(NetnsRef, String)> =
        names.iter().map(|n| (ns.clone(), n.to_string())).collect();
    detach_many_across(h, items)
}

fn detach_many_across(
    h: &mut Harness,
    items: Vec<(NetnsRef, String)>,
) -> Vec<Result<(), DetachError>> {
    let p = h.plumber.clone();
    h.block_on(async move {
        let refs: Vec<(&NetnsRef, &str)> = items.iter().map(|(n, s)| (n, s.as_str())).collect();
        p.detach_many(&refs).await
    })
}

fn deletes_since(h: &Harness, from: usize) -> Vec<usize> {
    h.backend
        .calls_since(from)
        .iter()
        .filter(|c| c.op == Op::DeleteLink)
        .map(|c| usize::from(c.ok))
        .collect()
}

// SPEC: D1
#[test]
fn created_veths_are_deleted_in_one_batch_and_moved_links_go_home() {
    let (mut h, ns) = world(1);
    let before = normalize(&h.snapshot());
    for i in 0..5 {
        h.attach(&ns, veth_spec(i)).expect("veth attach");
    }
    h.attach(&ns, moved_spec("hd0", "eth5"))
        .expect("moved attach");
    h.attach(&ns, moved_spec("hd1", "eth6"))
        .expect("moved attach");
    let from = h.backend.log_len();

    let names = ["eth0", "eth5", "eth1", "eth2", "eth6", "eth3", "eth4"];
    let outcomes = detach_many(&mut h, &ns, &names);
    assert_eq!(outcomes.len(), names.len());
    for (name, o) in names.iter().zip(&outcomes) {
        assert!(o.is_ok(), "{name}: {o:?}");
    }
    // One kernel delete for the five veth pairs; the moved links were moved, not deleted.
    assert_eq!(
        deletes_since(&h, from),
        vec![1],
        "one successful batch delete"
    );
    let moves = h
        .backend
        .calls_since(from)
        .iter()
        .filter(|c| c.op == Op::MoveLink)
        .count();
    assert_eq!(moves, 2);
    // Everything as before the attaches: veths gone, hd0/hd1 back in the host, names free.
    let after = normalize(&h.snapshot());
    assert!(before == after, "{}", diff(&before, &after));
    assert!(h.plumber.interfaces(&ns).is_empty());
    h.attach(&ns, veth_spec(0))
        .expect("the names are free again");
}

// SPEC: D3
#[test]
fn a_link_gone_behind_our_back_is_vanished_and_the_others_still_go() {
    let (mut h, ns) = world(2);
    let mut indices = Vec::new();
    for i in 0..3 {
        indices.push(h.attach(&ns, veth_spec(i)).expect("attach").ifindex);
    }
    // eth1 disappears outside nsplumb: the batch that names it fails, each is retried alone.
    h.sim.kernel().delete_link(&ns, indices[1]).unwrap();
    let from = h.backend.log_len();

    let outcomes = detach_many(&mut h, &ns, &["eth0", "eth1", "eth2"]);
    assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
    assert!(
        matches!(&outcomes[1], Err(DetachError::Vanished { name, .. }) if name == "eth1"),
        "{:?}",
        outcomes[1]
    );
    assert!(outcomes[2].is_ok(), "{:?}", outcomes[2]);
    // eth1's lookup already found it gone, so the batch held only eth0 and eth2.
    assert_eq!(deletes_since(&h, from), vec![1]);
    for ns_link in h.sim.kernel().list_links(&ns).unwrap() {
        assert!(
            !ns_link.name.starts_with("eth"),
            "left behind: {}",
            ns_link.name
        );
    }
    // D3: the vanished name stays reserved until forgotten; the others are free.
    let names: Vec<String> = h
        .plumber
        .interfaces(&ns)
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["eth1"]);
}

// SPEC: D1
#[test]
fn a_failed_batch_is_retried_link_by_link_so_each_outcome_is_its_own() {
    let (mut h, ns) = world(3);
    for i in 0..3 {
        h.attach(&ns, veth_spec(i)).expect("attach");
    }
    // The batch fails (EBUSY once), the retries one by one succeed.
    h.faults
        .fail_next(Op::DeleteLink, nsplumb_core::Errno::EBUSY);
    let from = h.backend.log_len();
    let outcomes = detach_many(&mut h, &ns, &["eth0", "eth1", "eth2", "nope"]);
    assert!(outcomes[..3].iter().all(Result::is_ok), "{outcomes:?}");
    assert!(
        matches!(&outcomes[3], Err(DetachError::NotAttached { name, .. }) if name == "nope"),
        "{:?}",
        outcomes[3]
    );
    assert_eq!(deletes_since(&h, from), vec![0, 1, 1, 1]);
    assert!(h.plumber.interfaces(&ns).is_empty());
}

// SPEC: D1
#[test]
fn the_veth_pairs_of_many_namespaces_go_in_one_batch_in_the_host() {
    let (mut h, _) = world(4);
    let before = normalize(&h.snapshot());
    let mut items = Vec::new();
    for i in 0..4 {
        let ns = h.netns(&format!("c{i}"));
        let mut spec = veth_spec(i);
        spec.destination = Destination::Name("eth0".into());
        h.attach(&ns, spec).expect("attach");
        items.push((ns, "eth0".to_string()));
    }
    let from = h.backend.log_len();
    let outcomes = detach_many_across(&mut h, items.clone());
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let deletes: Vec<_> = h
        .backend
        .calls_since(from)
        .into_iter()
        .filter(|c| c.op == Op::DeleteLink)
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert_eq!(deletes[0].netns, NetnsRef::Host, "by the host ends");
    assert!(deletes[0].ok);
    for (ns, _) in &items {
        assert!(h.plumber.interfaces(ns).is_empty());
        let left: Vec<_> = h.sim.kernel().list_links(ns).unwrap();
        assert!(left.iter().all(|l| l.name == "lo"), "{left:?}");
    }
    // The host is as before but for the four new namespaces.
    let mut after = normalize(&h.snapshot());
    after
        .namespaces
        .retain(|n, _| !items.iter().any(|(ns, _)| n == ns));
    assert!(before == after, "{}", diff(&before, &after));
}
