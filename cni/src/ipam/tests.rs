use super::*;
use crate::testutil::{
    conf, env, host_local, request, require_debian_plugins, reservations, script, DEBIAN_CNI_DIR,
};
use serde_json::json;

fn debian(name: &str) -> IpamPlugin {
    require_debian_plugins();
    IpamPlugin::find(name, &[PathBuf::from(DEBIAN_CNI_DIR)], IPAM_LIMITS).unwrap()
}

fn fake(dir: &Path, body: &str) -> IpamPlugin {
    script(dir, "fake-ipam", body);
    IpamPlugin::find("fake-ipam", &[dir.to_path_buf()], IPAM_LIMITS).unwrap()
}

/// A request for `verb` whose `ipam` is `ipam`, at `version`.
fn ipam_request(verb: Verb, version: &str, ipam: Value) -> Request {
    request(
        verb,
        &env(verb, DEBIAN_CNI_DIR),
        &conf(version, json!({ "ipam": ipam })),
    )
}

// SPEC: C3 (a 1.1.0 configuration works with Debian's 1.1.1 IPAM plugins, which refuse 1.1.0)
#[test]
fn a_1_1_0_configuration_gets_an_address_from_debians_host_local_and_del_releases_it() {
    let data = tempfile::tempdir().unwrap();
    let plugin = debian("host-local");
    let ipam = host_local(data.path(), "192.0.2.0/24");
    let result = plugin
        .add(&ipam_request(Verb::Add, "1.1.0", ipam.clone()))
        .unwrap();
    assert_eq!(result.ips.len(), 1);
    let address = result.ips[0].address;
    assert!("192.0.2.0/24"
        .parse::<ipnet::IpNet>()
        .unwrap()
        .contains(&address.addr()));
    assert_eq!(result.ips[0].gateway, "192.0.2.1".parse().ok());
    assert_eq!(reservations(data.path()), vec![address.addr().to_string()]);

    plugin.del(&ipam_request(Verb::Del, "1.1.0", ipam)).unwrap();
    assert!(reservations(data.path()).is_empty());
}

// SPEC: C1, C3 (every supported version reaches host-local)
#[test]
fn every_supported_version_reaches_host_local() {
    let data = tempfile::tempdir().unwrap();
    let plugin = debian("host-local");
    let ipam = host_local(data.path(), "198.51.100.0/24");
    for version in ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
        let result = plugin
            .add(&ipam_request(Verb::Add, version, ipam.clone()))
            .unwrap();
        assert_eq!(result.ips.len(), 1, "{version}");
        if version != "0.3.0" && version != "0.3.1" {
            plugin
                .check(&ipam_request(Verb::Check, version, ipam.clone()))
                .unwrap();
        }
        plugin
            .del(&ipam_request(Verb::Del, version, ipam.clone()))
            .unwrap();
        assert!(reservations(data.path()).is_empty(), "{version}");
    }
}

// SPEC: C3 (IP= in CNI_ARGS, args.cni.ips and runtimeConfig.ips reach the IPAM plugin, which
// reads them itself)
#[test]
fn requested_addresses_reach_host_local_from_each_source() {
    let data = tempfile::tempdir().unwrap();
    let plugin = debian("host-local");
    let ipam = host_local(data.path(), "192.0.2.0/24");
    let plain_env = env(Verb::Add, DEBIAN_CNI_DIR);
    let mut cni_args_env = plain_env.clone();
    cni_args_env.insert(
        "CNI_ARGS".into(),
        "IgnoreUnknown=1;K8S_POD_NAME=p;IP=192.0.2.77".into(),
    );
    let with = |extra: Value| {
        let mut c = conf("1.0.0", json!({ "ipam": ipam }));
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    for (req, wanted) in [
        (
            request(Verb::Add, &cni_args_env, &with(json!({}))),
            "192.0.2.77/24",
        ),
        (
            request(
                Verb::Add,
                &plain_env,
                &with(json!({"args": {"cni": {"ips": ["192.0.2.78"]}}})),
            ),
            "192.0.2.78/24",
        ),
        (
            request(
                Verb::Add,
                &plain_env,
                &with(json!({"runtimeConfig": {"ips": ["192.0.2.79"]}})),
            ),
            "192.0.2.79/24",
        ),
    ] {
        let result = plugin.add(&req).unwrap();
        assert_eq!(result.ips[0].address.to_string(), wanted);
        plugin.del(&req).unwrap();
    }
    assert!(reservations(data.path()).is_empty());
    // An address outside the range is host-local's error, passed on.
    let outside = request(
        Verb::Add,
        &plain_env,
        &with(json!({"args": {"cni": {"ips": ["198.51.100.1"]}}})),
    );
    let e = plugin.add(&outside).unwrap_err();
    assert!(e.msg.starts_with("IPAM plugin \"host-local\" ADD: "), "{e}");
    assert!(e.msg.contains("198.51.100.1"), "{e}");
}

// SPEC: C3 (the static IPAM plugin)
#[test]
fn debians_static_plugin_gives_its_address() {
    let plugin = debian("static");
    let ipam = json!({
        "type": "static",
        "addresses": [{"address": "198.51.100.10/24", "gateway": "198.51.100.1"}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {"nameservers": ["198.51.100.53"]},
    });
    let result = plugin
        .add(&ipam_request(Verb::Add, "1.1.0", ipam.clone()))
        .unwrap();
    assert_eq!(result.ips[0].address.to_string(), "198.51.100.10/24");
    assert_eq!(result.ips[0].gateway, "198.51.100.1".parse().ok());
    assert_eq!(result.dns.unwrap().nameservers, ["198.51.100.53"]);
    plugin.del(&ipam_request(Verb::Del, "1.1.0", ipam)).unwrap();
}

// SPEC: C8, C9 (an IPAM plugin too old to know STATUS counts as available; GC to it is fine)
#[test]
fn status_and_gc_to_ipam_plugins_that_predate_them_succeed() {
    let data = tempfile::tempdir().unwrap();
    let plugin = debian("host-local");
    let ipam = json!({"type": "host-local", "dataDir": data.path(), "ranges": [[{"subnet": "192.0.2.0/24"}]]});
    assert!(!plugin
        .supported_versions(&ipam_request(Verb::Status, "1.1.0", ipam.clone()))
        .unwrap()
        .contains(&V1_1));
    plugin
        .status(&ipam_request(Verb::Status, "1.1.0", ipam.clone()))
        .unwrap();
    let gc = conf(
        "1.1.0",
        json!({ "ipam": ipam, "cni.dev/valid-attachments": [] }),
    );
    plugin
        .gc(&request(Verb::Gc, &env(Verb::Gc, DEBIAN_CNI_DIR), &gc))
        .unwrap();
}

/// A fake IPAM plugin that logs each call (`COMMAND stdin`) and speaks only `versions`; it
/// answers ADD with 192.0.2.9 and STATUS with `status_reply` (exit 1 when not empty).
fn logging_fake(dir: &Path, versions: &[&str], status_reply: &str) -> IpamPlugin {
    let listed: Vec<String> = versions.iter().map(|v| format!("\"{v}\"")).collect();
    let accepted: Vec<String> = versions
        .iter()
        .map(|v| format!("*'\"cniVersion\":\"{v}\"'*"))
        .collect();
    fake(
        dir,
        &format!(
            r#"input=$(cat)
printf '%s %s\n' "$CNI_COMMAND" "$input" >> "{log}"
if [ "$CNI_COMMAND" = VERSION ]; then echo '{{"cniVersion":"1.0.0","supportedVersions":[{listed}]}}'; exit 0; fi
case "$input" in
{accepted}) ;;
*) echo '{{"code":1,"msg":"incompatible CNI versions"}}'; exit 1 ;;
esac
case "$CNI_COMMAND" in
ADD) echo '{{"cniVersion":"0.4.0","ips":[{{"version":"4","address":"192.0.2.9/24"}}]}}' ;;
STATUS) if [ -n '{status_reply}' ]; then echo '{status_reply}'; exit 1; fi ;;
esac"#,
            log = dir.join("log").display(),
            listed = listed.join(","),
            accepted = accepted.join("|"),
        ),
    )
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

// SPEC: C3 (talk to the IPAM plugin at a version it supports, rewrite cniVersion and prevResult)
#[test]
fn a_refused_version_is_retried_at_the_highest_version_both_speak() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = logging_fake(dir.path(), &["0.3.1", "0.4.0"], "");
    let conf = conf(
        "1.1.0",
        json!({
            "ipam": {"type": "fake-ipam"},
            "prevResult": {"cniVersion": "1.1.0", "interfaces": [{"name": "x", "mtu": 1400}], "ips": [{"address": "198.51.100.2/24"}]}
        }),
    );
    let req = request(Verb::Add, &env(Verb::Add, DEBIAN_CNI_DIR), &conf);
    let result = plugin.add(&req).unwrap();
    assert_eq!(result.ips[0].address.to_string(), "192.0.2.9/24");
    let calls = calls(dir.path());
    assert_eq!(calls.len(), 3, "{calls:#?}");
    assert!(
        calls[0].starts_with("ADD ") && calls[0].contains("\"cniVersion\":\"1.1.0\""),
        "{calls:#?}"
    );
    assert!(calls[1].starts_with("VERSION "), "{calls:#?}");
    let retried: Value = serde_json::from_str(calls[2].strip_prefix("ADD ").unwrap()).unwrap();
    assert_eq!(retried["cniVersion"], "0.4.0");
    assert_eq!(retried["prevResult"]["cniVersion"], "0.4.0");
    assert_eq!(retried["prevResult"]["ips"][0]["version"], "4");
    assert!(retried["prevResult"]["interfaces"][0].get("mtu").is_none());
    assert_eq!(retried["ipam"]["type"], "fake-ipam");
}

// SPEC: C3 (one process when the plugin speaks the call's version)
#[test]
fn a_plugin_that_speaks_the_calls_version_is_called_once() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = logging_fake(dir.path(), &["0.4.0", "1.0.0"], "");
    plugin
        .add(&request(
            Verb::Add,
            &env(Verb::Add, DEBIAN_CNI_DIR),
            &conf("1.0.0", json!({"ipam": {"type": "fake-ipam"}})),
        ))
        .unwrap();
    assert_eq!(calls(dir.path()).len(), 1);
}

// SPEC: C10 (code 1 when no version is shared)
#[test]
fn a_plugin_that_speaks_no_usable_version_is_error_1_listing_its_versions() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = logging_fake(dir.path(), &["0.1.0", "0.2.0"], "");
    let e = plugin
        .add(&request(
            Verb::Add,
            &env(Verb::Add, DEBIAN_CNI_DIR),
            &conf("1.0.0", json!({"ipam": {"type": "fake-ipam"}})),
        ))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::INCOMPATIBLE_VERSION);
    assert!(e.msg.contains("IPAM plugin \"fake-ipam\" ADD"), "{e}");
    assert!(e.details.contains("0.1.0, 0.2.0"), "{e}");
}

// SPEC: C8 (STATUS goes to a plugin that knows it; its refusal is error 50 or its own 50/51)
#[test]
fn status_reaches_a_plugin_that_knows_it_and_a_refusal_is_not_available() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = logging_fake(dir.path(), &["1.0.0", "1.1.0"], "");
    let status = request(
        Verb::Status,
        &env(Verb::Status, DEBIAN_CNI_DIR),
        &conf("1.1.0", json!({"ipam": {"type": "fake-ipam"}})),
    );
    plugin.status(&status).unwrap();
    assert!(calls(dir.path()).iter().any(|c| c.starts_with("STATUS ")));

    for (reply, code) in [
        (r#"{"code":51,"msg":"pool gone"}"#, 51),
        (r#"{"code":999,"msg":"disk full"}"#, 50),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let plugin = logging_fake(dir.path(), &["1.1.0"], reply);
        let e = plugin.status(&status).unwrap_err();
        assert_eq!(e.code, ErrorCode(code), "{reply}");
        assert!(e.msg.contains("IPAM plugin \"fake-ipam\" STATUS"), "{e}");
    }
}

// SPEC: C3 (same environment, CNI_COMMAND forced; GC's DEL names the stale attachment)
#[test]
fn the_plugin_runs_with_the_callers_environment_and_its_own_command() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = fake(
        dir.path(),
        &format!(
            "cat >/dev/null; env | grep -E '^(CNI_|NSPLUMB_T)' | sort > \"{}/env.$CNI_COMMAND\"; \
             echo '{{\"cniVersion\":\"1.1.0\",\"ips\":[{{\"address\":\"192.0.2.9/24\"}}]}}'",
            dir.path().display()
        ),
    );
    let mut vars = env(Verb::Add, DEBIAN_CNI_DIR);
    vars.insert("NSPLUMB_TEST_MARK".into(), "kept".into());
    vars.insert("CNI_ARGS".into(), "IgnoreUnknown=1;K8S_POD_NAME=p".into());
    let conf = conf(
        "1.1.0",
        json!({"ipam": {"type": "fake-ipam"}, "cni.dev/valid-attachments": []}),
    );
    plugin.add(&request(Verb::Add, &vars, &conf)).unwrap();
    let seen = std::fs::read_to_string(dir.path().join("env.ADD")).unwrap();
    assert_eq!(
        seen,
        "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=p\nCNI_COMMAND=ADD\nCNI_CONTAINERID=c1\nCNI_IFNAME=eth0\n\
         CNI_NETNS=/run/netns/nsplumb-test-c1\nCNI_PATH=/usr/lib/cni\nNSPLUMB_TEST_MARK=kept\n"
    );

    let gc = request(Verb::Gc, &env(Verb::Gc, DEBIAN_CNI_DIR), &conf);
    let stale = Attachment {
        container_id: "gone1".into(),
        ifname: "eth1".into(),
    };
    plugin.del_attachment(&gc, &stale).unwrap();
    let seen = std::fs::read_to_string(dir.path().join("env.DEL")).unwrap();
    assert_eq!(
        seen,
        "CNI_COMMAND=DEL\nCNI_CONTAINERID=gone1\nCNI_IFNAME=eth1\nCNI_NETNS=\nCNI_PATH=/usr/lib/cni\n"
    );
}

// SPEC: C10 (the plugin's own error is passed on, naming the plugin and the verb)
#[test]
fn the_plugins_error_is_passed_on_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = fake(
        dir.path(),
        r#"cat >/dev/null; echo '{"code":7,"msg":"no subnet","details":"ranges is empty"}'; exit 1"#,
    );
    let e = plugin
        .del(&ipam_request(
            Verb::Del,
            "1.0.0",
            json!({"type": "fake-ipam"}),
        ))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
    assert_eq!(e.msg, "IPAM plugin \"fake-ipam\" DEL: no subnet");
    assert_eq!(e.details, "ranges is empty");
}

// SPEC: C10 (codes 11 and 101: a plugin that hangs, crashes or answers nonsense)
#[test]
fn a_hung_crashed_or_garbled_plugin_is_an_error_and_never_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "fake-ipam", "sleep 30");
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..IPAM_LIMITS
    };
    let slow = IpamPlugin::find("fake-ipam", &[dir.path().to_path_buf()], limits).unwrap();
    let req = ipam_request(Verb::Add, "1.0.0", json!({"type": "fake-ipam"}));
    let started = std::time::Instant::now();
    let e = slow.add(&req).unwrap_err();
    assert_eq!(e.code, ErrorCode::TRY_AGAIN_LATER, "{e}");
    assert!(e.msg.contains("did not finish within"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));

    for (body, says) in [
        (
            "cat >/dev/null; echo 'segfault' ; exit 139",
            "failed (exit status: 139) without an error object",
        ),
        (
            "cat >/dev/null; echo 'not json'",
            "answered with no CNI 1.0.0 result",
        ),
        ("cat >/dev/null; yes", "printed more than"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let e = fake(dir.path(), body).add(&req).unwrap_err();
        assert_eq!(e.code, ErrorCode::IPAM_FAILED, "{body}: {e}");
        assert!(e.to_string().contains(says), "{body}: {e}");
    }
}

#[test]
fn the_plugin_is_the_first_executable_file_in_cni_path() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    std::fs::write(first.path().join("fake-ipam"), "not executable").unwrap();
    script(second.path(), "fake-ipam", "true");
    let dirs = [
        PathBuf::from("/nonexistent"),
        first.path().to_path_buf(),
        second.path().to_path_buf(),
    ];
    let found = IpamPlugin::find("fake-ipam", &dirs, IPAM_LIMITS).unwrap();
    assert_eq!(found.path, second.path().join("fake-ipam"));
    let e = IpamPlugin::find("dhcp-nope", &dirs, IPAM_LIMITS).unwrap_err();
    assert!(
        e.to_string().contains("\"dhcp-nope\"") && e.to_string().contains("/nonexistent:"),
        "{e}"
    );
}
