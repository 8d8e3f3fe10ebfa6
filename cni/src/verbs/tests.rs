use super::*;
use crate::dataplane::{AttachOutcome, GcOutcome, LinkReport};
use crate::env::Attachment;
use crate::masquerade::NFT_LIMITS;
use crate::testutil::{
    conf, env, host_local, request, require_debian_plugins, reservations, script, DEBIAN_CNI_DIR,
};
use crate::testutil::{FailingDataplane, FAILING_KERNEL};
use nsplumb_core::MacAddr;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::path::Path;

/// Records what each verb asked of the links; fails the steps it is told to.
#[derive(Default)]
struct FakeDataplane {
    calls: RefCell<Vec<String>>,
    fail: Vec<&'static str>,
    attached: RefCell<Option<(Option<MacAddr>, Addressing, String)>>,
    detached_netns: RefCell<Vec<Option<String>>>,
    gc_removes: Vec<Attachment>,
}

impl FakeDataplane {
    fn failing(steps: &[&'static str]) -> FakeDataplane {
        FakeDataplane {
            fail: steps.to_vec(),
            ..FakeDataplane::default()
        }
    }

    fn step(&self, name: &'static str) -> Result<(), CniError> {
        self.calls.borrow_mut().push(name.to_string());
        if self.fail.contains(&name) {
            return Err(CniError::new(ErrorCode(199), format!("fake {name} failed")));
        }
        Ok(())
    }

    fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

fn link(name: &str, last: u8) -> LinkReport {
    LinkReport {
        name: name.into(),
        mac: MacAddr([2, 0, 0, 0, 0, last]),
        mtu: 1500,
    }
}

impl Dataplane for FakeDataplane {
    fn attach(&self, r: &AttachRequest<'_>) -> Result<AttachOutcome, CniError> {
        self.step("attach")?;
        *self.attached.borrow_mut() = Some((r.mac, r.addressing.clone(), r.config.bridge.clone()));
        Ok(AttachOutcome {
            bridge: link(&r.config.bridge, 1),
            host_end: link("veth0001", 2),
            container: link(&r.attachment.ifname, 3),
            gateway_link: None,
        })
    }

    fn detach(&self, r: &DetachRequest<'_>) -> Result<(), CniError> {
        self.detached_netns
            .borrow_mut()
            .push(r.netns.map(|p| p.display().to_string()));
        self.step("detach")
    }

    fn check(&self, r: &CheckRequest<'_>) -> Result<(), CniError> {
        assert!(!r.prev_result.interfaces.is_empty());
        self.step("check")
    }

    fn status(&self, _: &StatusRequest<'_>) -> Result<(), CniError> {
        self.step("status")
    }

    fn gc(&self, _: &GcRequest<'_>) -> Result<GcOutcome, CniError> {
        self.step("gc")?;
        Ok(GcOutcome {
            removed: self.gc_removes.clone(),
            errors: Vec::new(),
        })
    }
}

/// A scripted `nft` that logs its arguments and input into `dir/nft.log`, lists no rules, and
/// fails every change when `fail` is set.
fn fake_nft(dir: &Path, fail: bool) -> Masquerade {
    let log = dir.join("nft.log");
    let change = if fail {
        "echo 'Error: Could not process rule: Operation not supported' >&2; exit 1"
    } else {
        "exit 0"
    };
    let nft = script(
        dir,
        "nft",
        &format!(
            r#"printf '%s\n' "$*" >> "{log}"
if [ "$2" = list ]; then echo '{{"nftables":[{{"metainfo":{{"json_schema_version":1}}}}]}}'; exit 0; fi
cat >> "{log}"; echo >> "{log}"
{change}"#,
            log = log.display()
        ),
    );
    Masquerade::with_program(nft, NFT_LIMITS)
}

fn nft_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("nft.log")).unwrap_or_default()
}

struct Setup {
    dir: tempfile::TempDir,
    tools: Tools,
}

fn setup(nft_fails: bool) -> Setup {
    require_debian_plugins();
    let dir = tempfile::tempdir().unwrap();
    let tools = Tools {
        ipam_limits: IPAM_LIMITS,
        masquerade: fake_nft(dir.path(), nft_fails),
    };
    Setup { dir, tools }
}

impl Setup {
    fn conf(&self, version: &str, extra: Value) -> Value {
        let mut c = conf(
            version,
            json!({"ipam": host_local(self.dir.path(), "192.0.2.0/24")}),
        );
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    }

    fn run(&self, dp: &dyn Dataplane, verb: Verb, conf: &Value) -> Result<Option<Value>, CniError> {
        self.run_env(dp, &env(verb, DEBIAN_CNI_DIR), verb, conf)
    }

    fn run_env(
        &self,
        dp: &dyn Dataplane,
        vars: &std::collections::BTreeMap<String, String>,
        verb: Verb,
        conf: &Value,
    ) -> Result<Option<Value>, CniError> {
        execute(dp, &self.tools, &request(verb, vars, conf))
    }

    fn held(&self) -> Vec<String> {
        reservations(self.dir.path())
    }
}

// SPEC: C3 (IPAM ADD, the attach with the addresses and the MAC, masquerade, the result in the
// call's version)
#[test]
fn add_attaches_with_ipams_addresses_and_answers_in_the_calls_version() {
    let s = setup(false);
    let dp = FakeDataplane::default();
    let mut vars = env(Verb::Add, DEBIAN_CNI_DIR);
    vars.insert(
        "CNI_ARGS".into(),
        "IgnoreUnknown=1;MAC=02:00:00:00:00:aa".into(),
    );
    let conf = s.conf(
        "1.1.0",
        json!({"bridge": "nspbr0", "isDefaultGateway": true, "ipMasq": true}),
    );
    let result = s.run_env(&dp, &vars, Verb::Add, &conf).unwrap().unwrap();
    assert_eq!(dp.calls(), ["attach"]);
    let (mac, addressing, bridge) = dp.attached.borrow().clone().unwrap();
    assert_eq!(mac, Some("02:00:00:00:00:aa".parse().unwrap()));
    assert_eq!(bridge, "nspbr0");
    assert_eq!(
        addressing.bridge_addresses,
        ["192.0.2.1/24".parse().unwrap()]
    );
    assert!(addressing.forward_ipv4);
    assert_eq!(s.held().len(), 1);
    let address = format!("{}/24", s.held()[0]);

    assert_eq!(result["cniVersion"], "1.1.0");
    assert_eq!(result["interfaces"][0]["name"], "nspbr0");
    assert_eq!(
        result["interfaces"][2]["sandbox"],
        "/run/netns/nsplumb-test-c1"
    );
    assert_eq!(result["interfaces"][2]["mtu"], 1500);
    assert_eq!(result["ips"][0]["address"], address.as_str());
    assert_eq!(result["ips"][0]["gateway"], "192.0.2.1");
    assert_eq!(result["ips"][0]["interface"], 2);
    assert_eq!(result["routes"][0]["dst"], "0.0.0.0/0");

    let log = nft_log(s.dir.path());
    assert!(
        log.contains("-j list chain inet nsplumb masq-net1"),
        "{log}"
    );
    assert!(
        log.contains(&format!("\"right\":\"{}\"", s.held()[0])),
        "{log}"
    );
    assert!(log.contains("\"comment\":\"c1/eth0\""), "{log}");
}

// SPEC: C3 (no ipam: a layer-2 attachment, no IPAM run, no masquerade)
#[test]
fn a_layer2_add_runs_no_ipam() {
    let s = setup(false);
    let dp = FakeDataplane::default();
    let conf = conf("0.4.0", json!({"ipMasq": true}));
    let result = s.run(&dp, Verb::Add, &conf).unwrap().unwrap();
    assert_eq!(result["cniVersion"], "0.4.0");
    assert_eq!(result["interfaces"].as_array().unwrap().len(), 3);
    assert!(result.get("ips").is_none());
    assert!(nft_log(s.dir.path()).is_empty());
}

// SPEC: C4 (a failed attach releases the address; nothing is left)
#[test]
fn a_failed_attach_releases_the_address() {
    let s = setup(false);
    let dp = FakeDataplane::failing(&["attach"]);
    let e = s
        .run(&dp, Verb::Add, &s.conf("1.0.0", json!({})))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode(199));
    assert_eq!(dp.calls(), ["attach"]);
    assert!(s.held().is_empty());
}

// SPEC: C4 (masquerade failing after the attach undoes the attach and releases the address)
#[test]
fn a_failed_masquerade_undoes_the_attach_and_releases_the_address() {
    let s = setup(true);
    let dp = FakeDataplane::default();
    let e = s
        .run(&dp, Verb::Add, &s.conf("1.0.0", json!({"ipMasq": true})))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::MASQUERADE_FAILED);
    assert!(e.msg.contains("Operation not supported"), "{e}");
    assert_eq!(dp.calls(), ["attach", "detach"]);
    assert!(s.held().is_empty());
}

// SPEC: C4 (what could not be undone is in the error's details)
#[test]
fn a_failed_undo_is_reported_with_the_error() {
    let s = setup(true);
    let dp = FakeDataplane::failing(&["detach"]);
    let e = s
        .run(&dp, Verb::Add, &s.conf("1.0.0", json!({"ipMasq": true})))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::MASQUERADE_FAILED);
    assert!(
        e.details
            .contains("undoing the attach failed: fake detach failed"),
        "{e}"
    );
    assert!(s.held().is_empty());
}

// SPEC: C4 (an unusable IPAM answer is released before anything else happens)
#[test]
fn an_unusable_ipam_answer_is_released() {
    let s = setup(false);
    let log = s.dir.path().join("ipam.log");
    script(
        s.dir.path(),
        "empty-ipam",
        &format!(
            r#"cat >/dev/null; echo "$CNI_COMMAND" >> "{}"; echo '{{"cniVersion":"1.0.0","ips":[]}}'"#,
            log.display()
        ),
    );
    let dp = FakeDataplane::default();
    let mut vars = env(Verb::Add, DEBIAN_CNI_DIR);
    vars.insert("CNI_PATH".into(), s.dir.path().display().to_string());
    let e = s
        .run_env(
            &dp,
            &vars,
            Verb::Add,
            &conf("1.0.0", json!({"ipam": {"type": "empty-ipam"}})),
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::IPAM_FAILED);
    assert!(dp.calls().is_empty());
    assert_eq!(std::fs::read_to_string(log).unwrap(), "ADD\nDEL\n");
}

// SPEC: C2, C4 (an IPAM plugin that is not installed is found missing before any step)
#[test]
fn a_missing_ipam_plugin_is_error_7_before_any_step() {
    let s = setup(false);
    let dp = FakeDataplane::default();
    let e = s
        .run(
            &dp,
            Verb::Add,
            &conf("1.0.0", json!({"ipam": {"type": "no-such-ipam"}})),
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
    assert!(
        e.msg.contains("\"no-such-ipam\"") && e.msg.contains(DEBIAN_CNI_DIR),
        "{e}"
    );
    assert!(dp.calls().is_empty());
}

// SPEC: C6 (DEL runs every step even when one fails, and reports the failure)
#[test]
fn del_runs_every_step_even_when_one_fails() {
    let s = setup(false);
    let conf = s.conf("1.0.0", json!({"ipMasq": true}));
    s.run(&FakeDataplane::default(), Verb::Add, &conf).unwrap();
    assert_eq!(s.held().len(), 1);

    let dp = FakeDataplane::failing(&["detach"]);
    let e = s.run(&dp, Verb::Del, &conf).unwrap_err();
    assert_eq!(e.code, ErrorCode(199));
    assert!(s.held().is_empty(), "IPAM DEL ran after the failed detach");
    let log = nft_log(s.dir.path());
    assert_eq!(
        log.matches("-j list chain inet nsplumb masq-net1").count(),
        2,
        "{log}"
    );

    // Again, with nothing left: success (SPEC C6, idempotent).
    s.run(&FakeDataplane::default(), Verb::Del, &conf).unwrap();
}

// SPEC: C6 (DEL with an empty CNI_NETNS still cleans up)
#[test]
fn del_with_an_empty_netns_detaches_by_record_and_releases() {
    let s = setup(false);
    let conf = s.conf("0.3.1", json!({}));
    s.run(&FakeDataplane::default(), Verb::Add, &conf).unwrap();
    let dp = FakeDataplane::default();
    let mut vars = env(Verb::Del, DEBIAN_CNI_DIR);
    vars.insert("CNI_NETNS".into(), String::new());
    s.run_env(&dp, &vars, Verb::Del, &conf).unwrap();
    assert_eq!(*dp.detached_netns.borrow(), [None]);
    assert!(s.held().is_empty());
}

// SPEC: C7 (CHECK needs prevResult; IPAM CHECK, then the links)
#[test]
fn check_needs_the_adds_result_and_asks_ipam_and_the_links() {
    let s = setup(false);
    let dp = FakeDataplane::default();
    let conf = s.conf("1.0.0", json!({}));
    let e = s.run(&dp, Verb::Check, &conf).unwrap_err();
    assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
    assert!(e.msg.contains("\"prevResult\""), "{e}");

    let result = s.run(&dp, Verb::Add, &conf).unwrap().unwrap();
    let mut with_prev = conf.clone();
    with_prev["prevResult"] = result;
    s.run(&dp, Verb::Check, &with_prev).unwrap();
    assert_eq!(dp.calls(), ["attach", "check"]);
    // IPAM CHECK ran: host-local fails it once the reservation is gone.
    s.run(&dp, Verb::Del, &with_prev).unwrap();
    let e = s.run(&dp, Verb::Check, &with_prev).unwrap_err();
    assert!(e.msg.starts_with("IPAM plugin \"host-local\" CHECK"), "{e}");
}

// SPEC: C8 (a missing IPAM plugin is error 50; then the links are asked)
#[test]
fn status_needs_the_ipam_plugin_and_the_links() {
    let s = setup(false);
    let dp = FakeDataplane::default();
    s.run(&dp, Verb::Status, &s.conf("1.1.0", json!({})))
        .unwrap();
    assert_eq!(dp.calls(), ["status"]);
    let e = s
        .run(
            &dp,
            Verb::Status,
            &conf("1.1.0", json!({"ipam": {"type": "no-such-ipam"}})),
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NOT_AVAILABLE);
    assert!(e.msg.contains("\"no-such-ipam\""), "{e}");
    let e = s
        .run(&FailingDataplane, Verb::Status, &s.conf("1.1.0", json!({})))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NOT_AVAILABLE);
}

// SPEC: C9 (the stale attachments' reservations are released, masquerade rules of owners not in
// the list are collected, valid ones are kept)
#[test]
fn gc_releases_what_the_dataplane_removed_and_keeps_the_valid() {
    let s = setup(false);
    let conf = s.conf("1.1.0", json!({"ipMasq": true}));
    let add_for = |id: &str| {
        let mut vars = env(Verb::Add, DEBIAN_CNI_DIR);
        vars.insert("CNI_CONTAINERID".into(), id.into());
        s.run_env(&FakeDataplane::default(), &vars, Verb::Add, &conf)
            .unwrap()
            .unwrap()
    };
    let kept = add_for("c1");
    add_for("gone1");
    assert_eq!(s.held().len(), 2);

    let dp = FakeDataplane {
        gc_removes: vec![Attachment {
            container_id: "gone1".into(),
            ifname: "eth0".into(),
        }],
        ..FakeDataplane::default()
    };
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "c1", "ifname": "eth0"}]);
    s.run(&dp, Verb::Gc, &gc).unwrap();
    assert_eq!(dp.calls(), ["gc"]);
    let kept_address = kept["ips"][0]["address"].as_str().unwrap();
    assert_eq!(format!("{}/24", s.held()[0]), kept_address);
    assert_eq!(s.held().len(), 1);
    assert!(nft_log(s.dir.path()).contains("-j list chain inet nsplumb masq-net1"));

    let e = s.run(&dp, Verb::Gc, &conf).unwrap_err();
    assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
    assert!(e.msg.contains("cni.dev/valid-attachments"), "{e}");
}

// SPEC: C4, C6, C9 (a kernel part that fails: its error, the ADD's address released, the
// other steps of a best-effort verb still run)
#[test]
fn a_failing_dataplane_gives_its_error_and_the_other_steps_still_run() {
    let s = setup(false);
    let conf = s.conf("1.1.0", json!({"ipMasq": true}));
    let e = s.run(&FailingDataplane, Verb::Add, &conf).unwrap_err();
    assert_eq!(e.code, FAILING_KERNEL);
    assert!(e.msg.contains("the test kernel fails"), "{e}");
    assert!(s.held().is_empty(), "the ADD's address was released");
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([]);
    let e = s.run(&FailingDataplane, Verb::Gc, &gc).unwrap_err();
    assert_eq!(e.code, FAILING_KERNEL);
    assert!(
        nft_log(s.dir.path()).contains("-j list chain"),
        "masquerade GC ran"
    );
}
