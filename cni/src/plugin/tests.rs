use super::*;
use crate::masquerade::{Masquerade, NFT_LIMITS};
use crate::testutil::FailingDataplane;
use crate::testutil::DEBIAN_CNI_DIR;
use crate::version::HIGHEST_VERSION;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What one call printed and returned.
struct Call {
    status: u8,
    stdout: String,
    stderr: String,
}

impl Call {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {:?}", self.stdout))
    }

    fn code(&self) -> u64 {
        self.json()["code"].as_u64().unwrap()
    }
}

fn tools() -> Tools {
    Tools {
        ipam_limits: crate::ipam::IPAM_LIMITS,
        // Never reached in these tests (the dataplane fails first); a path that cannot run.
        masquerade: Masquerade::with_program("/nonexistent/nft", NFT_LIMITS),
    }
}

fn call(vars: &[(&str, &str)], stdin: Result<&[u8], CniError>) -> Call {
    let env: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let stdin = stdin.map(<[u8]>::to_vec);
    let status = run(
        &FailingDataplane,
        &tools(),
        &env,
        |_| stdin,
        &mut stdout,
        &mut stderr,
    );
    Call {
        status,
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

type Vars = Vec<(&'static str, &'static str)>;

const ADD: [(&str, &str); 5] = [
    ("CNI_COMMAND", "ADD"),
    ("CNI_CONTAINERID", "c1"),
    ("CNI_NETNS", "/run/netns/c1"),
    ("CNI_IFNAME", "eth0"),
    ("CNI_PATH", DEBIAN_CNI_DIR),
];

fn with(
    base: &[(&'static str, &'static str)],
    changes: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut vars: Vec<_> = base
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .copied()
        .collect();
    vars.extend(changes.iter().filter(|(_, v)| !v.is_empty()).copied());
    vars
}

// SPEC: C1 (VERSION as Podman calls it: no container ID, dummy paths)
#[test]
fn version_answers_as_podman_calls_it() {
    let podman = [
        ("CNI_COMMAND", "VERSION"),
        ("CNI_CONTAINERID", ""),
        ("CNI_NETNS", "dummy"),
        ("CNI_IFNAME", "dummy"),
        ("CNI_PATH", "dummy"),
    ];
    let c = call(&podman, Ok(br#"{"cniVersion":"1.0.0"}"#));
    assert_eq!(c.status, 0);
    assert_eq!(
        c.json(),
        json!({"cniVersion": "1.0.0", "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]})
    );
    assert!(c.stderr.is_empty());
    let c = call(
        &[("CNI_COMMAND", "VERSION")],
        Ok(br#"{"cniVersion":"0.3.1"}"#),
    );
    assert_eq!(c.json()["cniVersion"], "0.3.1");
    for stdin in [
        Ok(&b""[..]),
        Ok(b"garbage"),
        Ok(br#"{"cniVersion":"7.0.0"}"#),
        Err(CniError::new(ErrorCode::IO_FAILURE, "closed")),
    ] {
        let c = call(&[("CNI_COMMAND", "VERSION")], stdin);
        assert_eq!(c.status, 0);
        assert_eq!(c.json()["cniVersion"], HIGHEST_VERSION.to_string());
    }
}

// SPEC: C10 (every error code the protocol layer gives, as an error object on stdout in the
// input's version, a non-zero exit, nothing on stderr)
#[test]
fn each_error_code_is_an_error_object_on_stdout_in_the_inputs_version() {
    let conf =
        |extra: &str| format!(r#"{{"cniVersion":"0.4.0","name":"n","type":"nsplumb-cni"{extra}}}"#);
    // (environment, stdin, code, cniVersion of the error, what the message names)
    let cases: Vec<(Vars, String, u64, &str, &str)> = vec![
        (
            with(&ADD, &[]),
            r#"{"cniVersion":"0.2.0","name":"n","type":"x"}"#.into(),
            1,
            "1.1.0",
            "\"0.2.0\"",
        ),
        (
            with(&ADD, &[("CNI_COMMAND", "CHECK")]),
            conf(""),
            7,
            "0.4.0",
            "\"prevResult\"",
        ),
        (
            with(&ADD, &[]),
            conf(r#","bridgeName":"br0""#),
            2,
            "0.4.0",
            "\"bridgeName\" = \"br0\"",
        ),
        (
            with(&ADD, &[("CNI_CONTAINERID", "")]),
            conf(""),
            4,
            "0.4.0",
            "CNI_CONTAINERID",
        ),
        (
            with(&ADD, &[("CNI_IFNAME", "eth0/")]),
            conf(""),
            4,
            "0.4.0",
            "CNI_IFNAME \"eth0/\"",
        ),
        (
            with(&ADD, &[("CNI_ARGS", "FOO=1")]),
            conf(""),
            4,
            "0.4.0",
            "FOO=1",
        ),
        (
            with(&ADD, &[("CNI_COMMAND", "BOGUS")]),
            conf(""),
            4,
            "0.4.0",
            "CNI_COMMAND \"BOGUS\"",
        ),
        (
            with(&ADD, &[]),
            "{\"cniVersion\":\"0.4.0\",".into(),
            6,
            "1.1.0",
            "not JSON",
        ),
        (
            with(&ADD, &[]),
            conf(r#","mtu":-1"#),
            7,
            "0.4.0",
            "\"mtu\" = -1",
        ),
        (
            with(&ADD, &[]),
            conf(""),
            103,
            "0.4.0",
            "the test kernel fails",
        ),
        (
            with(&ADD, &[("CNI_COMMAND", "DEL"), ("CNI_NETNS", "")]),
            conf(""),
            103,
            "0.4.0",
            "DEL",
        ),
        (
            with(&[("CNI_COMMAND", "GC"), ("CNI_PATH", DEBIAN_CNI_DIR)], &[]),
            r#"{"cniVersion":"1.1.0","name":"n","type":"x","cni.dev/valid-attachments":[]}"#.into(),
            103,
            "1.1.0",
            "GC",
        ),
        (
            with(
                &[("CNI_COMMAND", "STATUS"), ("CNI_PATH", DEBIAN_CNI_DIR)],
                &[],
            ),
            r#"{"cniVersion":"1.1.0","name":"n","type":"x"}"#.into(),
            50,
            "1.1.0",
            "the test kernel fails",
        ),
        (
            with(
                &[("CNI_COMMAND", "STATUS"), ("CNI_PATH", DEBIAN_CNI_DIR)],
                &[],
            ),
            r#"{"cniVersion":"1.0.0","name":"n","type":"x"}"#.into(),
            1,
            "1.0.0",
            "STATUS",
        ),
    ];
    for (vars, stdin, code, version, says) in cases {
        let c = call(&vars, Ok(stdin.as_bytes()));
        assert_eq!(c.status, EXIT_FAILURE, "{stdin}");
        let error = c.json();
        assert_eq!(error["code"], code, "{stdin}: {}", c.stdout);
        assert_eq!(error["cniVersion"], version, "{stdin}: {}", c.stdout);
        assert!(
            error["msg"].as_str().unwrap().contains(says),
            "{says}: {}",
            c.stdout
        );
        assert!(error.get("details").is_some());
        assert_eq!(error.as_object().unwrap().len(), 4);
        assert!(c.stderr.is_empty(), "{}", c.stderr);
    }
}

// SPEC: C10 (code 5: stdin could not be read)
#[test]
fn an_unreadable_stdin_is_error_5() {
    let c = call(
        &ADD,
        Err(CniError::new(
            ErrorCode::IO_FAILURE,
            "reading the network configuration from stdin: no end of input within 10s",
        )),
    );
    assert_eq!(c.code(), 5);
    assert_eq!(c.json()["cniVersion"], "1.1.0");
}

// SPEC: C10 (no CNI_COMMAND: code 4 on stdout, the about text for a person on stderr)
#[test]
fn without_a_command_the_error_goes_to_stdout_and_the_about_text_to_stderr() {
    let c = call(&[], Ok(b""));
    assert_eq!(c.status, EXIT_FAILURE);
    assert_eq!(c.code(), 4);
    assert!(c.json()["msg"].as_str().unwrap().contains("CNI_COMMAND"));
    assert!(
        c.stderr
            .contains("CNI protocol versions supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"),
        "{}",
        c.stderr
    );
}

/// Keys a fuzzed configuration draws from: every key the parser knows, and a stranger.
const KEYS: [&str; 30] = [
    "cniVersion",
    "name",
    "type",
    "bridge",
    "isGateway",
    "isDefaultGateway",
    "forceAddress",
    "ipMasq",
    "ipMasqBackend",
    "mtu",
    "hairpinMode",
    "promiscMode",
    "vlan",
    "vlanTrunk",
    "preserveDefaultVlan",
    "macspoofchk",
    "enabledad",
    "disableContainerInterface",
    "portIsolation",
    "ipam",
    "dns",
    "args",
    "runtimeConfig",
    "capabilities",
    "prevResult",
    "announce",
    "sysctls",
    "cni.dev/valid-attachments",
    "cniVersions",
    "strange",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            Just("1.0.0".to_string()),
            Just("0.4.0".to_string()),
            Just("host-local".to_string()),
            ".{0,12}"
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("minID".to_string()),
                    Just("maxID".to_string()),
                    Just("count".to_string()),
                    Just("mac".to_string()),
                    Just("type".to_string()),
                    ".{0,6}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn configuration() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::btree_map(prop::sample::select(&KEYS[..]), json_value(), 0..8).prop_map(
            |keys| {
                let mut object: serde_json::Map<String, Value> =
                    keys.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                object.entry("cniVersion").or_insert(json!("1.1.0"));
                Value::Object(object).to_string().into_bytes()
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    // SPEC: C10 (no input makes it panic; every answer is one JSON document on stdout)
    #[test]
    fn no_input_makes_it_panic_and_every_answer_is_json(
        verb in prop::sample::select(&["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION", "", "add"][..]),
        container in prop_oneof![Just("c1"), Just(""), Just("-x"), Just("a b")],
        ifname in prop_oneof![Just("eth0"), Just(""), Just("much-too-long-name")],
        args in prop_oneof![Just(""), Just("IgnoreUnknown=1;IP=192.0.2.5"), Just("A=B"), Just(";;")],
        stdin in configuration(),
    ) {
        let empty = tempfile::tempdir().unwrap();
        let cni_path = empty.path().display().to_string();
        let vars = [
            ("CNI_COMMAND", verb), ("CNI_CONTAINERID", container), ("CNI_NETNS", "/run/netns/c1"),
            ("CNI_IFNAME", ifname), ("CNI_ARGS", args), ("CNI_PATH", cni_path.as_str()),
        ];
        let c = call(&vars, Ok(&stdin));
        let answer = c.json();
        if c.status == 0 {
            prop_assert_eq!(verb, "VERSION");
            prop_assert!(answer.get("supportedVersions").is_some());
        } else {
            prop_assert!(answer["code"].as_u64().is_some());
            prop_assert!(answer["msg"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
}
