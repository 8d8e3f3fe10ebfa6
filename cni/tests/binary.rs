//! The built `nsplumb-cni` driven as runtimes drive it: the `CNI_*` environment and the
//! configuration on stdin, one process per call.

mod common;

use common::{run_plugin, DEBIAN_CNI_DIR, PLUGIN};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADD: [(&str, &str); 5] = [
    ("CNI_COMMAND", "ADD"),
    ("CNI_CONTAINERID", "c0ffee"),
    ("CNI_NETNS", "/run/netns/nsplumb-test"),
    ("CNI_IFNAME", "eth0"),
    ("CNI_PATH", DEBIAN_CNI_DIR),
];

fn conf(version: &str) -> serde_json::Value {
    json!({"cniVersion": version, "name": "nsp-bin", "type": "nsplumb-cni", "bridge": "nspb0"})
}

// SPEC: C1 (VERSION as Podman 4.3 calls it, before every ADD and DEL: no container ID)
#[test]
fn version_answers_podmans_call_without_a_container_id() {
    let podman = [
        ("CNI_COMMAND", "VERSION"),
        ("CNI_CONTAINERID", ""),
        ("CNI_NETNS", "dummy"),
        ("CNI_IFNAME", "dummy"),
        ("CNI_PATH", "dummy"),
    ];
    let out = run_plugin(&podman, br#"{"cniVersion":"1.0.0"}"#);
    assert_eq!(out.exit, Some(0));
    assert_eq!(
        out.json(),
        json!({"cniVersion": "1.0.0", "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]})
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    // With a container ID, and with a version the plugin does not know.
    let with_id = [("CNI_COMMAND", "VERSION"), ("CNI_CONTAINERID", "c1")];
    let out = run_plugin(&with_id, br#"{"cniVersion":"0.9.0"}"#);
    assert_eq!(out.exit, Some(0));
    assert_eq!(out.json()["cniVersion"], "1.1.0");
}

// SPEC: C1, C10 (each error: the spec's object on stdout in the input's version, exit 1,
// nothing but logs on stderr)
#[test]
fn errors_are_objects_on_stdout_with_a_non_zero_exit() {
    let mut unknown_key = conf("0.3.1");
    unknown_key["hairpin"] = json!(true);
    let mut bad_value = conf("1.0.0");
    bad_value["vlan"] = json!(4095);
    let no_id: Vec<_> = ADD
        .iter()
        .copied()
        .filter(|(k, _)| *k != "CNI_CONTAINERID")
        .collect();
    let bytes = |v: &serde_json::Value| v.to_string().into_bytes();
    let cases = [
        Expected::error(&ADD, bytes(&conf("0.1.0")), 1, "1.1.0", "\"0.1.0\""),
        Expected::error(
            &ADD,
            bytes(&unknown_key),
            2,
            "0.3.1",
            "key \"hairpin\" = true",
        ),
        Expected::error(&no_id, bytes(&conf("0.4.0")), 4, "0.4.0", "CNI_CONTAINERID"),
        // Unreadable input: the highest version.
        Expected::error(
            &ADD,
            b"{\"cniVersion\": \"1.0.0\" ".to_vec(),
            6,
            "1.1.0",
            "not JSON",
        ),
        Expected::error(&ADD, bytes(&bad_value), 7, "1.0.0", "invalid VLAN ID 4095"),
        // A namespace that is not there: nothing is touched.
        Expected::error(
            &ADD,
            bytes(&conf("1.1.0")),
            103,
            "1.1.0",
            "cannot look into namespace /run/netns/nsplumb-test",
        ),
    ];
    for case in cases {
        let out = run_plugin(case.vars, &case.stdin);
        assert_eq!(out.exit, Some(1), "{}", out.stdout);
        let error = out.json();
        assert_eq!(error["code"], case.code, "{}", out.stdout);
        assert_eq!(error["cniVersion"], case.version, "{}", out.stdout);
        let msg = error["msg"].as_str().unwrap();
        assert!(msg.contains(case.says), "{}: {}", case.says, out.stdout);
        assert!(out.stderr.is_empty(), "stderr: {}", out.stderr);
    }
}

/// A call and the error object it must print.
struct Expected<'a> {
    vars: &'a [(&'a str, &'a str)],
    stdin: Vec<u8>,
    code: u64,
    version: &'a str,
    says: &'a str,
}

impl<'a> Expected<'a> {
    fn error(
        vars: &'a [(&'a str, &'a str)],
        stdin: Vec<u8>,
        code: u64,
        version: &'a str,
        says: &'a str,
    ) -> Expected<'a> {
        Expected {
            vars,
            stdin,
            code,
            version,
            says,
        }
    }
}

// SPEC: C10 (logs on stderr only)
#[test]
fn logs_go_to_stderr_only() {
    let mut vars = ADD.to_vec();
    vars.push(("NSPLUMB_CNI_LOG", "debug"));
    let out = run_plugin(&vars, conf("1.0.0").to_string().as_bytes());
    assert_eq!(out.json()["code"], 103);
    assert!(
        out.stderr.contains("cannot look into namespace"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("c0ffee"),
        "the span names the container: {}",
        out.stderr
    );
}

// SPEC: C10 (bounded reads: a configuration over 4 MiB is refused, not swallowed)
#[test]
fn a_huge_configuration_is_refused() {
    let mut huge = b"{\"cniVersion\":\"1.0.0\",\"name\":\"".to_vec();
    huge.resize(5 << 20, b'a');
    let out = run_plugin(&ADD, &huge);
    assert_eq!(out.exit, Some(1));
    assert_eq!(out.json()["code"], 6);
    assert!(
        out.json()["msg"].as_str().unwrap().contains("larger than"),
        "{}",
        out.stdout
    );
}

// SPEC: C10 (no input makes it hang: a runtime that never closes stdin)
#[test]
fn a_stdin_that_never_closes_does_not_hang_the_plugin() {
    for (command, bound, code) in [
        ("VERSION", Duration::from_secs(5), None),
        ("ADD", Duration::from_secs(20), Some(5)),
    ] {
        let mut vars = ADD.to_vec();
        vars[0] = ("CNI_COMMAND", command);
        let mut child = Command::new(PLUGIN)
            .env_clear()
            .envs(vars)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(br#"{"cniVersion":"1.0.0""#).unwrap();
        let started = Instant::now();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        assert!(
            started.elapsed() < bound,
            "{command} took {:?}",
            started.elapsed()
        );
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        match code {
            None => assert_eq!(answer["cniVersion"], "1.1.0"),
            Some(code) => assert_eq!(answer["code"], code, "{answer}"),
        }
    }
}

// SPEC: C3, C4 (through the binary: IPAM ADD by Debian's host-local at 1.1.0, then the
// kernel part fails (the namespace is not there) and the address is released: nothing left)
#[test]
fn a_failed_add_releases_its_host_local_address() {
    common::require(&Path::new(DEBIAN_CNI_DIR).join("host-local"));
    let data = tempfile::tempdir().unwrap();
    let mut c = conf("1.1.0");
    c["ipam"] = json!({"type": "host-local", "dataDir": data.path(), "ranges": [[{"subnet": "192.0.2.0/24"}]]});
    let out = run_plugin(&ADD, c.to_string().as_bytes());
    assert_eq!(out.json()["code"], 103, "{}", out.stdout);
    let network = data.path().join("nsp-bin");
    let held: Vec<String> = std::fs::read_dir(&network)
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        network.exists(),
        "host-local ran (its network directory exists)"
    );
    assert!(held.is_empty(), "reservations left: {held:?}");
}
