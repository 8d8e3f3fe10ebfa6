//! SPEC C1: which protocol versions the plugin speaks, and which one a reply is written in.

use crate::error::{CniError, ErrorCode};
use crate::verb::Verb;
use rscni_types::version::SpecVersion;

/// Every version this plugin answers in (VERSION's `supportedVersions`). 0.1.0 and 0.2.0 had
/// another result shape (`ip4`/`ip6`) that no maintained runtime asks for.
pub const SUPPORTED_VERSIONS: [SpecVersion; 5] = [
    SpecVersion::new(0, 3, 0),
    SpecVersion::new(0, 3, 1),
    SpecVersion::new(0, 4, 0),
    SpecVersion::new(1, 0, 0),
    SpecVersion::new(1, 1, 0),
];

/// The highest supported version: what a reply uses when the input names none we know.
pub const HIGHEST_VERSION: SpecVersion = SpecVersion::new(1, 1, 0);

/// The first version with CHECK.
pub const CHECK_SINCE: SpecVersion = SpecVersion::new(0, 4, 0);
/// The first version with STATUS and GC, and with `interfaces[].mtu` and the route attributes.
pub const V1_1: SpecVersion = SpecVersion::new(1, 1, 0);
/// The first version whose results drop `ips[].version`.
pub const V1_0: SpecVersion = SpecVersion::new(1, 0, 0);

pub fn is_supported(version: SpecVersion) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

/// The version every reply to this input is written in (SPEC C1): the input's `cniVersion`
/// when it is one we speak, otherwise (unreadable input, no such key, a version we do not
/// know) the highest we speak.
pub fn reply_version(stdin: &[u8]) -> SpecVersion {
    declared_version(stdin)
        .filter(|v| is_supported(*v))
        .unwrap_or(HIGHEST_VERSION)
}

/// The `cniVersion` an input declares, if it can be read at all: read as the configuration is
/// read ([`crate::request::Stdin::decode`], a JSON object whose last equal key wins, as in Go's
/// `encoding/json`), so that replies are in the version the configuration was checked in.
fn declared_version(stdin: &[u8]) -> Option<SpecVersion> {
    let object: serde_json::Value = serde_json::from_slice(stdin).ok()?;
    object.get("cniVersion")?.as_str()?.parse().ok()
}

/// VERSION's answer (SPEC C1).
pub fn version_reply(version: SpecVersion) -> serde_json::Value {
    serde_json::json!({
        "cniVersion": version.to_string(),
        "supportedVersions": SUPPORTED_VERSIONS.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
    })
}

/// Parses a configuration's `cniVersion` and checks that it is spoken here and allows the verb.
pub fn negotiate(declared: &str, verb: Verb) -> Result<SpecVersion, CniError> {
    let version: SpecVersion = declared.parse().map_err(|_| {
        CniError::new(
            ErrorCode::DECODING_FAILURE,
            format!("cniVersion {declared:?} is not a version number"),
        )
    })?;
    if !is_supported(version) {
        return Err(CniError::new(
            ErrorCode::INCOMPATIBLE_VERSION,
            format!(
                "cniVersion {declared:?} is not supported by nsplumb-cni (it speaks {})",
                supported_list()
            ),
        ));
    }
    let since = match verb {
        Verb::Check => Some(CHECK_SINCE),
        Verb::Status | Verb::Gc => Some(V1_1),
        Verb::Add | Verb::Del | Verb::Version => None,
    };
    if let Some(since) = since.filter(|since| version < *since) {
        return Err(CniError::new(
            ErrorCode::INCOMPATIBLE_VERSION,
            format!("cniVersion {version} does not allow {verb}: it needs {since} or later"),
        ));
    }
    Ok(version)
}

/// `0.3.0, 0.3.1, ...`: the supported versions for a message.
pub fn supported_list() -> String {
    SUPPORTED_VERSIONS
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC: C1
    #[test]
    fn replies_use_the_input_version_or_the_highest_when_it_is_unknown_or_unreadable() {
        assert_eq!(
            reply_version(br#"{"cniVersion":"0.3.1"}"#),
            SpecVersion::new(0, 3, 1)
        );
        assert_eq!(
            reply_version(br#"{"cniVersion":"1.0.0","name":"x"}"#),
            SpecVersion::new(1, 0, 0)
        );
        for unknown in [
            &b"{\"cniVersion\":\"0.2.0\"}"[..],
            b"{\"cniVersion\":\"9.9.9\"}",
            b"{\"cniVersion\":\"one\"}",
            b"{\"cniVersion\":1}",
            b"{}",
            b"not json",
            b"",
        ] {
            assert_eq!(reply_version(unknown), HIGHEST_VERSION, "{unknown:?}");
        }
    }

    /// Caught by the `cni_config` fuzz target's property: with `cniVersion` given twice the
    /// configuration was checked in the last one (1.0.0) while replies, errors included, were
    /// written in 1.1.0 (the version reader refused the duplicate key, fell back to the highest).
    // SPEC: C1, R3
    #[test]
    fn the_reply_version_is_the_version_the_configuration_is_read_in() {
        let stdin = br#"{"cniVersion":"0.4.0","cniVersion":"1.0.0","name":"n","type":"x"}"#;
        let object = crate::request::Stdin::decode(stdin.to_vec())
            .unwrap()
            .object;
        let config = crate::NetworkConfig::parse(&object, Verb::Add).unwrap();
        assert_eq!(config.version, SpecVersion::new(1, 0, 0));
        assert_eq!(reply_version(stdin), config.version);
    }

    // SPEC: C1
    #[test]
    fn version_reply_lists_every_supported_version() {
        assert_eq!(
            version_reply(SpecVersion::new(1, 0, 0)),
            serde_json::json!({
                "cniVersion": "1.0.0",
                "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
            })
        );
    }

    // SPEC: C1, C10 (code 1)
    #[test]
    fn negotiation_refuses_unknown_versions_and_verbs_their_version_predates() {
        assert_eq!(
            negotiate("0.4.0", Verb::Check).unwrap(),
            SpecVersion::new(0, 4, 0)
        );
        let e = negotiate("0.2.0", Verb::Add).unwrap_err();
        assert_eq!(e.code, ErrorCode::INCOMPATIBLE_VERSION);
        assert!(
            e.msg.contains("\"0.2.0\"") && e.msg.contains("1.1.0"),
            "{e}"
        );
        let e = negotiate("0.3.1", Verb::Check).unwrap_err();
        assert_eq!(e.code, ErrorCode::INCOMPATIBLE_VERSION);
        assert!(e.msg.contains("CHECK") && e.msg.contains("0.4.0"), "{e}");
        for verb in [Verb::Status, Verb::Gc] {
            let e = negotiate("1.0.0", verb).unwrap_err();
            assert_eq!(e.code, ErrorCode::INCOMPATIBLE_VERSION);
            assert!(e.msg.contains(verb.as_str()), "{e}");
        }
        let e = negotiate("x.y", Verb::Add).unwrap_err();
        assert_eq!(e.code, ErrorCode::DECODING_FAILURE);
    }
}
