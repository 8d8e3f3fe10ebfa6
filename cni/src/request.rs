//! One call, read and checked in the order libcni's skel checks it: environment (code 4),
//! stdin's JSON (6), version (1), configuration keys (2, 7).

use crate::config::NetworkConfig;
use crate::env::{read_environment, Attachment, EnvSource, Environment};
use crate::error::{CniError, ErrorCode};
use crate::verb::Verb;
use nsplumb_core::MacAddr;
use rscni_types::version::SpecVersion;
use serde_json::{Map, Value};

/// The configuration as the runtime gave it: the bytes go to delegates unchanged.
#[derive(Debug, Clone)]
pub struct Stdin {
    pub bytes: Vec<u8>,
    pub object: Map<String, Value>,
}

impl Stdin {
    /// stdin must be one JSON object.
    pub fn decode(bytes: Vec<u8>) -> Result<Stdin, CniError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(CniError::new(
                ErrorCode::DECODING_FAILURE,
                "no network configuration on stdin",
            ));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(object)) => Ok(Stdin { bytes, object }),
            Ok(other) => Err(CniError::new(
                ErrorCode::DECODING_FAILURE,
                format!(
                    "the network configuration on stdin must be a JSON object, not {}",
                    json_kind(&other)
                ),
            )),
            Err(e) => Err(CniError::new(
                ErrorCode::DECODING_FAILURE,
                format!("the network configuration on stdin is not JSON: {e}"),
            )),
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A checked call: what the verbs act on.
#[derive(Debug, Clone)]
pub struct Request {
    pub verb: Verb,
    pub env: Environment,
    pub config: NetworkConfig,
    pub stdin: Stdin,
}

impl Request {
    pub fn parse(verb: Verb, env: &dyn EnvSource, stdin: Vec<u8>) -> Result<Request, CniError> {
        let env = read_environment(verb, env)?;
        let stdin = Stdin::decode(stdin)?;
        let config = NetworkConfig::parse(&stdin.object, verb)?;
        Ok(Request {
            verb,
            env,
            config,
            stdin,
        })
    }

    /// The protocol version of this call: replies and errors are written in it.
    pub fn version(&self) -> SpecVersion {
        self.config.version
    }

    /// The attachment of an ADD, DEL or CHECK.
    pub fn attachment(&self) -> Option<&Attachment> {
        self.env.attachment.as_ref()
    }

    /// The container interface's MAC, by SPEC C3's priority.
    pub fn mac(&self) -> Option<MacAddr> {
        self.config.mac(self.env.cni_args.mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn add_env() -> BTreeMap<String, String> {
        [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", "/run/netns/c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/usr/lib/cni"),
            ("CNI_ARGS", "IgnoreUnknown=1;MAC=02:00:00:00:00:03"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    // SPEC: C10 (code 6)
    #[test]
    fn stdin_must_be_one_json_object() {
        for (input, says) in [
            (&b""[..], "no network configuration"),
            (b"  \n", "no network configuration"),
            (b"{\"cniVersion\":", "not JSON"),
            (b"[1,2]", "not an array"),
            (b"\"text\"", "not a string"),
        ] {
            let e = Request::parse(Verb::Add, &add_env(), input.to_vec()).unwrap_err();
            assert_eq!(e.code, ErrorCode::DECODING_FAILURE, "{input:?}");
            assert!(e.msg.contains(says), "{input:?}: {e}");
        }
    }

    // SPEC: C10 (the environment is checked before stdin, as libcni does)
    #[test]
    fn environment_errors_come_before_configuration_errors() {
        let mut env = add_env();
        env.remove("CNI_IFNAME");
        let e = Request::parse(Verb::Add, &env, b"not json".to_vec()).unwrap_err();
        assert_eq!(e.code, ErrorCode::INVALID_ENVIRONMENT);
    }

    // SPEC: C3 (MAC priority: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC=)
    #[test]
    fn the_mac_comes_from_the_highest_source_given() {
        let conf = |extra: &str| {
            format!(r#"{{"cniVersion":"1.0.0","name":"n","type":"nsplumb-cni"{extra}}}"#)
                .into_bytes()
        };
        let mac = |extra: &str| {
            Request::parse(Verb::Add, &add_env(), conf(extra))
                .unwrap()
                .mac()
                .unwrap()
                .to_string()
        };
        assert_eq!(mac(""), "02:00:00:00:00:03");
        assert_eq!(
            mac(r#","args":{"cni":{"mac":"02:00:00:00:00:02"}}"#),
            "02:00:00:00:00:02"
        );
        assert_eq!(
            mac(
                r#","args":{"cni":{"mac":"02:00:00:00:00:02"}},"runtimeConfig":{"mac":"02:00:00:00:00:01"}"#
            ),
            "02:00:00:00:00:01"
        );
    }
}
