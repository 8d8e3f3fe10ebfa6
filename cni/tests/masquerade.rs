//! `ipMasq` with nftables against the real `nft`, each test in its own network namespace (the
//! machine's ruleset is never touched).

mod common;

use common::{in_private_netns, require};
use nsplumb_cni::masquerade::{chain_name, Masquerade, TABLE};
use nsplumb_cni::Attachment;
use std::path::Path;
use std::process::Command;

fn owner(id: &str) -> Attachment {
    Attachment {
        container_id: id.into(),
        ifname: "eth0".into(),
    }
}

fn masquerade() -> Masquerade {
    let m = Masquerade::system();
    require(m.program());
    m
}

fn ruleset() -> String {
    let out = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

// SPEC: C3 (one rule set per container, in a nat postrouting chain per network), C6 (removed
// on DEL, again without error)
#[test]
fn rules_are_added_per_container_and_removed_on_del() {
    if !in_private_netns("rules_are_added_per_container_and_removed_on_del") {
        return;
    }
    let m = masquerade();
    let addresses = [
        "192.0.2.5/24".parse().unwrap(),
        "fd00:1::5/64".parse().unwrap(),
    ];
    m.add("net1", &owner("c1"), &addresses).unwrap();
    let text = ruleset();
    assert!(text.contains(&format!("table inet {TABLE}")), "{text}");
    assert!(
        text.contains("type nat hook postrouting priority srcnat; policy accept;"),
        "{text}"
    );
    assert!(
        text.contains("ip saddr 192.0.2.5 ip daddr != 192.0.2.0/24 ip daddr != 224.0.0.0/4 masquerade comment \"c1/eth0\""),
        "{text}"
    );
    assert!(
        text.contains("ip6 saddr fd00:1::5 ip6 daddr != fd00:1::/64 ip6 daddr != ff00::/8 masquerade comment \"c1/eth0\""),
        "{text}"
    );
    let rules = m.rules("net1").unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].source, "192.0.2.5");

    m.add("net1", &owner("c2"), &["192.0.2.6/24".parse().unwrap()])
        .unwrap();
    assert_eq!(m.remove("net1", &owner("c1")).unwrap(), 2);
    let left = m.rules("net1").unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].owner, "c2/eth0");
    assert_eq!(
        m.remove("net1", &owner("c1")).unwrap(),
        0,
        "DEL again: nothing, no error"
    );
    // A network whose chain was never made.
    assert_eq!(m.remove("other", &owner("c1")).unwrap(), 0);
    assert!(m.rules("other").unwrap().is_empty());
}

// SPEC: C3 (ADD again for the same container replaces its rules: idempotent)
#[test]
fn adding_again_replaces_the_containers_rules() {
    if !in_private_netns("adding_again_replaces_the_containers_rules") {
        return;
    }
    let m = masquerade();
    m.add("net1", &owner("c1"), &["192.0.2.5/24".parse().unwrap()])
        .unwrap();
    m.add("net1", &owner("c1"), &["192.0.2.5/24".parse().unwrap()])
        .unwrap();
    assert_eq!(m.rules("net1").unwrap().len(), 1);
    m.add("net1", &owner("c1"), &["192.0.2.9/24".parse().unwrap()])
        .unwrap();
    let rules = m.rules("net1").unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].source, "192.0.2.9");
}

// SPEC: C9 (GC removes the rules of every container not in the valid list, per network)
#[test]
fn gc_keeps_only_the_valid_containers_rules() {
    if !in_private_netns("gc_keeps_only_the_valid_containers_rules") {
        return;
    }
    let m = masquerade();
    let long_id = "f".repeat(200);
    for (i, id) in ["c1", "c2", long_id.as_str()].iter().enumerate() {
        let address = format!("192.0.2.{}/24", 10 + i).parse().unwrap();
        m.add("net1", &owner(id), &[address]).unwrap();
    }
    m.add("net2", &owner("c9"), &["198.51.100.9/24".parse().unwrap()])
        .unwrap();
    let removed = m.gc("net1", &[owner("c1"), owner(&long_id)]).unwrap();
    assert_eq!(removed, 1);
    let mut owners: Vec<String> = m
        .rules("net1")
        .unwrap()
        .into_iter()
        .map(|r| r.owner)
        .collect();
    owners.sort();
    assert_eq!(owners.len(), 2);
    assert_eq!(owners[0], "c1/eth0");
    assert!(
        owners[1].starts_with("fff") && owners[1].len() <= 128,
        "{}",
        owners[1]
    );
    assert_eq!(
        m.rules("net2").unwrap().len(),
        1,
        "another network is untouched"
    );
    assert_eq!(m.gc("net1", &[]).unwrap(), 2);
    assert!(m.rules("net1").unwrap().is_empty());
    assert!(
        ruleset().contains(&chain_name("net1")),
        "the empty chain stays"
    );
}

// SPEC: C10 (an nft that fails is error 102 naming what was being done)
#[test]
fn a_failing_nft_is_error_102() {
    let dir = tempfile::tempdir().unwrap();
    let nft = common::script::script(
        dir.path(),
        "nft",
        "echo 'Error: Could not process rule: Permission denied' >&2\nexit 1",
    );
    let m = Masquerade::with_program(&nft, nsplumb_cni::masquerade::NFT_LIMITS);
    let e = m
        .add("net1", &owner("c1"), &["192.0.2.5/24".parse().unwrap()])
        .unwrap_err();
    assert_eq!(e.code.0, 102);
    assert!(
        e.msg
            .contains("list the masquerade rules of network \"net1\""),
        "{e}"
    );
    assert!(e.msg.contains("Permission denied"), "{e}");
    let missing = Masquerade::with_program(
        Path::new("/nonexistent/nft"),
        nsplumb_cni::masquerade::NFT_LIMITS,
    );
    let e = missing.remove("net1", &owner("c1")).unwrap_err();
    assert_eq!(e.code.0, 102);
    assert!(e.msg.contains("/nonexistent/nft"), "{e}");
}
