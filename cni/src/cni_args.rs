//! `CNI_ARGS`: `K=V;K=V` pairs, read as libcni's `LoadArgs` reads them for the bridge and
//! host-local plugins (every pair exactly one `=`; a key nobody knows is an error unless
//! `IgnoreUnknown` is true).

use crate::error::CniError;
use crate::mac::parse_mac;
use nsplumb_core::MacAddr;
use std::collections::BTreeMap;

/// Keys this plugin reads, or passes to IPAM plugins that read them themselves (`IP`,
/// `GATEWAY`), or that runtimes send to every plugin (`K8S_*`).
const KNOWN_KEYS: [&str; 8] = [
    "IgnoreUnknown",
    "MAC",
    "IP",
    "GATEWAY",
    "K8S_POD_NAME",
    "K8S_POD_NAMESPACE",
    "K8S_POD_INFRA_CONTAINER_ID",
    "K8S_POD_UID",
];

/// `CNI_ARGS`, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    pub ignore_unknown: bool,
    /// `MAC=`: the lowest-priority MAC source (SPEC C3).
    pub mac: Option<MacAddr>,
    /// `IP=` as given: the IPAM plugin reads and checks it (host-local: one address; static: a
    /// list of CIDRs).
    pub ip: Option<String>,
    /// `GATEWAY=` as given, for the static IPAM plugin.
    pub gateway: Option<String>,
    /// `K8S_POD_NAME`, `K8S_POD_NAMESPACE`, ... as given.
    pub kubernetes: BTreeMap<String, String>,
    /// Pairs no one here knows, kept because `IgnoreUnknown` allowed them.
    pub ignored: Vec<String>,
}

impl CniArgs {
    /// Parses `CNI_ARGS`; every problem is an error 4 naming the variable and the pair.
    pub fn parse(text: &str) -> Result<CniArgs, CniError> {
        let mut args = CniArgs::default();
        if text.is_empty() {
            return Ok(args);
        }
        let mut unknown = Vec::new();
        for pair in text.split(';') {
            let mut parts = pair.split('=');
            let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(CniError::env(format!(
                    "CNI_ARGS pair {pair:?} is not of the form KEY=VALUE"
                )));
            };
            match key {
                "IgnoreUnknown" => args.ignore_unknown = parse_bool(pair, value)?,
                "MAC" => {
                    args.mac = Some(parse_mac(value).map_err(|reason| {
                        CniError::env(format!("CNI_ARGS MAC={value:?}: {reason}"))
                    })?)
                }
                "IP" => args.ip = Some(value.to_string()),
                "GATEWAY" => args.gateway = Some(value.to_string()),
                k if KNOWN_KEYS.contains(&k) => {
                    args.kubernetes.insert(k.to_string(), value.to_string());
                }
                _ => unknown.push(pair.to_string()),
            }
        }
        if !unknown.is_empty() && !args.ignore_unknown {
            return Err(CniError::env(format!(
                "CNI_ARGS has unknown keys {unknown:?} (known: {}); add IgnoreUnknown=1 to \
                 allow them",
                KNOWN_KEYS.join(", ")
            )));
        }
        args.ignored = unknown;
        Ok(args)
    }
}

/// libcni's `UnmarshallableBool`: `1`/`true` and `0`/`false`, in any case.
fn parse_bool(pair: &str, value: &str) -> Result<bool, CniError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(CniError::env(format!(
            "CNI_ARGS pair {pair:?}: IgnoreUnknown must be 1, true, 0 or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn podmans_args_are_read() {
        // What Podman 4.3 sends for `--ip` and `--mac-address`.
        let args =
            CniArgs::parse("IgnoreUnknown=1;K8S_POD_NAME=web;MAC=02:11:22:33:44:55;IP=192.0.2.50")
                .unwrap();
        assert!(args.ignore_unknown);
        assert_eq!(args.mac, Some("02:11:22:33:44:55".parse().unwrap()));
        assert_eq!(args.ip.as_deref(), Some("192.0.2.50"));
        assert_eq!(args.kubernetes["K8S_POD_NAME"], "web");
        assert_eq!(CniArgs::parse("").unwrap(), CniArgs::default());
    }

    // SPEC: C10 (code 4 naming the variable)
    #[test]
    fn unknown_keys_need_ignore_unknown_wherever_it_stands() {
        let e = CniArgs::parse("FOO=bar;K8S_POD_NAME=x").unwrap_err();
        assert_eq!(e.code, ErrorCode::INVALID_ENVIRONMENT);
        assert!(
            e.msg.contains("CNI_ARGS") && e.msg.contains("FOO=bar"),
            "{e}"
        );
        let args = CniArgs::parse("FOO=bar;IgnoreUnknown=true").unwrap();
        assert_eq!(args.ignored, vec!["FOO=bar".to_string()]);
        let e = CniArgs::parse("FOO=bar;IgnoreUnknown=0").unwrap_err();
        assert!(e.msg.contains("FOO=bar"), "{e}");
    }

    // SPEC: C10 (code 4 naming the variable)
    #[test]
    fn malformed_pairs_and_values_are_errors_naming_them() {
        for (text, named) in [
            ("IP", "\"IP\""),
            ("IP=1=2", "\"IP=1=2\""),
            ("IgnoreUnknown=1;", "\"\""),
            ("IgnoreUnknown=yes", "IgnoreUnknown=yes"),
            ("MAC=01:00:5e:00:00:01", "MAC=\"01:00:5e:00:00:01\""),
            ("MAC=zz", "MAC=\"zz\""),
        ] {
            let e = CniArgs::parse(text).unwrap_err();
            assert_eq!(e.code, ErrorCode::INVALID_ENVIRONMENT, "{text}");
            assert!(
                e.msg.contains("CNI_ARGS") && e.msg.contains(named),
                "{text}: {e}"
            );
        }
    }
}
