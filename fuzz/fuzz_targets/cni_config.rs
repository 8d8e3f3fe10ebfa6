//! SPEC R3, C1, C2, C10: the network configuration a runtime writes on the CNI plugin's stdin,
//! through `nsplumb-cni`'s own reading (`Stdin::decode`, then `NetworkConfig::parse`).
//!
//! Input: one byte choosing the verb (ADD, DEL, CHECK, STATUS, GC), then stdin's bytes.
//!
//! Properties: any bytes are a configuration or an error with one of the codes a configuration
//! can earn (1 version, 2 unknown key, 6 not JSON, 7 bad value), never a panic; an accepted one
//! is in a version this plugin speaks and that allows the verb, the same version every reply
//! to these bytes is written in, and every value is within its documented range (name, bridge,
//! MTU, VLANs sorted and unique, announcements, IPAM plugin a file name); its `prevResult`
//! written in any supported version (as the plugin passes it to IPAM) reads back and writes
//! again the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsplumb_cni::config::{MAX_MTU, MAX_VLAN_ID, MIN_MTU};
use nsplumb_cni::env::is_valid_name;
use nsplumb_cni::request::Stdin;
use nsplumb_cni::version::{reply_version, SUPPORTED_VERSIONS};
use nsplumb_cni::{result, CNIResult, CniError, ErrorCode, NetworkConfig, SpecVersion, Verb};
use nsplumb_core::{
    check_ifname, MAX_ANNOUNCE_COUNT, MAX_ANNOUNCE_INTERVAL, MIN_ANNOUNCE_INTERVAL,
};

const VERBS: [Verb; 5] = [Verb::Add, Verb::Del, Verb::Check, Verb::Status, Verb::Gc];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stdin)) = data.split_first() else {
        return;
    };
    let verb = VERBS[usize::from(selector) % VERBS.len()];
    let decoded = match Stdin::decode(stdin.to_vec()) {
        Ok(decoded) => decoded,
        Err(e) => {
            assert_eq!(e.code, ErrorCode::DECODING_FAILURE, "{e}");
            assert!(e.msg.contains("stdin"), "{e}");
            return;
        }
    };
    assert_eq!(decoded.bytes, stdin, "stdin is passed on unchanged");
    match NetworkConfig::parse(&decoded.object, verb) {
        Ok(config) => check_config(stdin, verb, &config),
        Err(e) => check_error(&e),
    }
});

fn check_config(stdin: &[u8], verb: Verb, c: &NetworkConfig) {
    assert!(SUPPORTED_VERSIONS.contains(&c.version), "{}", c.version);
    let since = match verb {
        Verb::Check => Some(SpecVersion::new(0, 4, 0)),
        Verb::Status | Verb::Gc => Some(SpecVersion::new(1, 1, 0)),
        _ => None,
    };
    assert!(
        since.is_none_or(|s| c.version >= s),
        "{verb} in {}",
        c.version
    );
    // SPEC C1: errors after this point (and results) are written in the call's version.
    assert_eq!(
        reply_version(stdin),
        c.version,
        "the configuration is read as {} but replies would be written in another version",
        c.version
    );
    assert!(is_valid_name(&c.name), "name {:?}", c.name);
    assert!(!c.plugin_type.is_empty());
    assert!(check_ifname(&c.bridge).is_ok(), "bridge {:?}", c.bridge);
    assert!(
        c.mtu.is_none_or(|m| (MIN_MTU..=MAX_MTU).contains(&m)),
        "{:?}",
        c.mtu
    );
    let vlan_ok = |id: u16| (1..=MAX_VLAN_ID).contains(&i64::from(id));
    assert!(c.vlan.is_none_or(vlan_ok), "vlan {:?}", c.vlan);
    assert!(
        c.vlan_trunk.iter().copied().all(vlan_ok),
        "{:?}",
        c.vlan_trunk
    );
    assert!(
        c.vlan_trunk.windows(2).all(|w| w[0] < w[1]),
        "trunk not sorted and unique: {:?}",
        c.vlan_trunk
    );
    assert!(!c.is_default_gateway || c.is_gateway);
    assert!(!(c.hairpin_mode && c.promisc_mode));
    assert!(c.announce.count <= MAX_ANNOUNCE_COUNT);
    assert!((MIN_ANNOUNCE_INTERVAL..=MAX_ANNOUNCE_INTERVAL).contains(&c.announce.interval));
    if let Some(ipam) = &c.ipam {
        let p = ipam.plugin.as_str();
        assert!(
            !p.is_empty() && !p.contains(['/', '\0']) && p != "." && p != "..",
            "{p:?}"
        );
    }
    for mac in [c.runtime_mac, c.args_mac].into_iter().flatten() {
        assert!(!mac.is_multicast() && !mac.is_zero(), "{mac}");
    }
    if let Some(prev) = &c.prev_result {
        check_prev_result(prev);
    }
}

/// Passed on in any version (to IPAM, in a chain), `prevResult` loses nothing that version has.
fn check_prev_result(prev: &CNIResult) {
    for version in SUPPORTED_VERSIONS {
        let written = result::render(prev, version);
        let text = serde_json::to_vec(&written).expect("a result serializes");
        assert_eq!(reply_version(&text), version, "{written}");
        let back = result::parse(&text)
            .unwrap_or_else(|e| panic!("{written} (version {version}) does not read back: {e}"));
        assert_eq!(
            result::render(&back, version),
            written,
            "version {version}: read back differently"
        );
    }
    // 1.1.0 holds all of it (an empty `dns` is written as none, as libcni does).
    let latest = serde_json::to_vec(&result::render(prev, SpecVersion::new(1, 1, 0))).unwrap();
    let mut want = prev.clone();
    want.dns = want.dns.filter(|d| {
        !(d.nameservers.is_empty()
            && d.domain.as_deref().is_none_or(str::is_empty)
            && d.search.as_ref().is_none_or(Vec::is_empty)
            && d.options.as_ref().is_none_or(Vec::is_empty))
    });
    assert_eq!(
        result::parse(&latest).ok(),
        Some(want),
        "1.1.0 loses something"
    );
}

fn check_error(e: &CniError) {
    let codes = [
        ErrorCode::INCOMPATIBLE_VERSION,
        ErrorCode::UNSUPPORTED_FIELD,
        ErrorCode::DECODING_FAILURE,
        ErrorCode::INVALID_CONFIG,
    ];
    assert!(codes.contains(&e.code), "code {}: {e}", e.code);
    assert!(!e.msg.is_empty());
    if [ErrorCode::UNSUPPORTED_FIELD, ErrorCode::INVALID_CONFIG].contains(&e.code) {
        assert!(e.msg.starts_with("invalid network configuration"), "{e}");
        assert!(e.msg.contains("key \""), "{e} names no key");
    } else {
        assert!(e.msg.contains("cniVersion"), "{e}");
    }
}
