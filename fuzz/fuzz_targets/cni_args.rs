//! SPEC R3, C3, C10: the CNI plugin's environment (`CNI_ARGS` above all) through
//! `nsplumb-cni`'s `read_environment`, as libcni's skel and `LoadArgs` read it.
//!
//! Input: `CNI_ARGS`, then optionally NUL, `CNI_CONTAINERID`, NUL, `CNI_NETNS`, NUL,
//! `CNI_IFNAME`, NUL, `CNI_PATH` (what is not given is what Podman 4.3 sends for an ADD).
//!
//! Properties: any variables are an environment or an error 4 naming the variable, never a
//! panic; `CNI_ARGS` is accepted exactly when libcni's rule says (every `;`-separated pair has
//! exactly one `=`; `IgnoreUnknown` is 1/true/0/false in any case, the last one counts; `MAC` a
//! unicast, non-zero MAC; unknown keys only with `IgnoreUnknown` true), and what is accepted is
//! what the pairs say, the last pair of a key winning; every other variable is as given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsplumb_cni::cni_args::CniArgs;
use nsplumb_cni::env::{is_valid_name, read_environment};
use nsplumb_cni::{ErrorCode, Verb};
use nsplumb_core::MacAddr;
use std::collections::BTreeMap;
use std::path::PathBuf;

const PODMAN: [(&str, &str); 5] = [
    ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web"),
    (
        "CNI_CONTAINERID",
        "8c5f0e1c2d3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6e7f",
    ),
    (
        "CNI_NETNS",
        "/run/netns/netns-0b5e52b1-8f4c-7d1e-a2b3-c4d5e6f7a8b9",
    ),
    ("CNI_IFNAME", "eth0"),
    (
        "CNI_PATH",
        "/usr/local/libexec/cni:/usr/libexec/cni:/usr/local/lib/cni:/usr/lib/cni:/opt/cni/bin",
    ),
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut env: BTreeMap<String, String> = PODMAN
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for ((name, _), value) in PODMAN.iter().zip(text.split('\0')) {
        env.insert(name.to_string(), value.to_string());
    }
    let args_text = env["CNI_ARGS"].clone();
    let expected = libcni_rule(&args_text);
    let parsed = CniArgs::parse(&args_text);
    match (&parsed, &expected) {
        (Ok(args), Ok(want)) => assert_eq!(args, want, "{args_text:?}"),
        (Err(e), Err(())) => {
            assert_eq!(e.code, ErrorCode::INVALID_ENVIRONMENT);
            assert!(e.msg.starts_with("CNI_ARGS"), "{e}");
        }
        (got, _) => panic!("CNI_ARGS {args_text:?}: {got:?}, libcni's rule says {expected:?}"),
    }
    for verb in [Verb::Add, Verb::Del, Verb::Check] {
        match read_environment(verb, &env) {
            Ok(e) => {
                assert_eq!(Ok(&e.cni_args), parsed.as_ref(), "{verb}");
                let a = e.attachment.expect("ADD, DEL and CHECK have an attachment");
                assert_eq!(a.container_id, env["CNI_CONTAINERID"]);
                assert!(is_valid_name(&a.container_id));
                assert_eq!(a.ifname, env["CNI_IFNAME"]);
                assert!(nsplumb_core::check_ifname(&a.ifname).is_ok());
                match e.netns {
                    Some(p) => assert_eq!(p, PathBuf::from(&env["CNI_NETNS"])),
                    None => assert!(verb == Verb::Del && env["CNI_NETNS"].is_empty()),
                }
                let dirs: Vec<PathBuf> = env["CNI_PATH"]
                    .split(':')
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .collect();
                assert_eq!(e.cni_path, dirs);
            }
            Err(e) => {
                assert_eq!(e.code, ErrorCode::INVALID_ENVIRONMENT, "{e}");
                assert!(e.msg.contains("CNI_"), "{e} names no variable");
            }
        }
    }
});

const KUBERNETES: [&str; 4] = [
    "K8S_POD_NAME",
    "K8S_POD_NAMESPACE",
    "K8S_POD_INFRA_CONTAINER_ID",
    "K8S_POD_UID",
];

/// libcni's `LoadArgs` into the bridge plugin's arguments, restated.
fn libcni_rule(text: &str) -> Result<CniArgs, ()> {
    let mut args = CniArgs::default();
    if text.is_empty() {
        return Ok(args);
    }
    let mut unknown = Vec::new();
    for pair in text.split(';') {
        let kv: Vec<&str> = pair.split('=').collect();
        let [key, value] = kv[..] else {
            return Err(());
        };
        match key {
            "IgnoreUnknown" => {
                args.ignore_unknown = match value.to_ascii_lowercase().as_str() {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(()),
                }
            }
            "MAC" => {
                let mac: MacAddr = value.parse().map_err(|_| ())?;
                if mac.is_multicast() || mac.is_zero() {
                    return Err(());
                }
                args.mac = Some(mac);
            }
            "IP" => args.ip = Some(value.into()),
            "GATEWAY" => args.gateway = Some(value.into()),
            k if KUBERNETES.contains(&k) => {
                args.kubernetes.insert(k.into(), value.into());
            }
            _ => unknown.push(pair.to_string()),
        }
    }
    if !unknown.is_empty() && !args.ignore_unknown {
        return Err(());
    }
    args.ignored = unknown;
    Ok(args)
}
