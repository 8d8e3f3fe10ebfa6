//! The state file of one namespace: its records, read back whole or not at all (SPEC R3).
//!
//! JSON, replaced atomically (a temp file in the same directory, fsync, rename), so a reader
//! without the lock sees the old file or the new one, never half of one. A file that does not
//! read back (bad JSON, an unknown field, a value that does not parse, another format version)
//! is an error naming the file and the field; nothing acts on it.

use crate::record::{IfaceRecord, IntentRecord};
use nsplumb_core::{NetnsRef, RouteSpec};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The format written and read. 1 was nsplumb's own mirror of the core's types; 2 stores the
/// core's `Attached`, `Spec` and `RouteSpec` themselves.
pub const STATE_VERSION: u32 = 2;

/// Every record of one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NsState {
    pub version: u32,
    /// The namespace as last named by a caller (informational: the file is keyed by identity).
    pub netns: NetnsRef,
    /// The namespace's cookie when these records were written (Linux: `SO_NETNS_COOKIE`). The
    /// file is named after the nsfs inode, which the kernel gives to the next namespace as soon
    /// as this one is gone: a different cookie means the records are of a namespace that no
    /// longer exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns_cookie: Option<u64>,
    #[serde(default)]
    pub interfaces: Vec<IfaceRecord>,
    /// Attaches under way (or cut short by a crash): written before the kernel is touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<IntentRecord>,
    /// Gateway routes nsplumb set in this namespace (SPEC G1), at most one per family.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<RouteSpec>,
}

impl NsState {
    /// No records yet.
    pub fn empty(netns: &NetnsRef) -> NsState {
        NsState {
            version: STATE_VERSION,
            netns: netns.clone(),
            netns_cookie: None,
            interfaces: Vec::new(),
            pending: Vec::new(),
            gateways: Vec::new(),
        }
    }

    /// Hold these records against the namespace's current cookie: if the namespace behind the
    /// file is a new one (same inode, other cookie), the old records are dropped, since all
    /// they named went with their namespace. True when the state changed (save it then).
    pub fn check_identity(&mut self, current: Option<u64>) -> bool {
        let Some(current) = current else {
            return false;
        };
        match self.netns_cookie {
            Some(known) if known == current => false,
            Some(known) => {
                tracing::info!(
                    netns = %self.netns,
                    old_cookie = known,
                    cookie = current,
                    records = self.interfaces.len() + self.pending.len(),
                    "namespace re-created under the same inode: dropping the records of the old one"
                );
                *self = NsState {
                    netns_cookie: Some(current),
                    ..NsState::empty(&self.netns)
                };
                true
            }
            None => {
                self.netns_cookie = Some(current);
                true
            }
        }
    }

    pub fn has_records(&self) -> bool {
        !(self.interfaces.is_empty() && self.pending.is_empty())
    }
}

/// Why a state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("state file {} is corrupt: {field}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        /// Where in the file, e.g. `interfaces[0].attached.mac`.
        field: String,
        reason: String,
    },
    #[error("state file {} has format version {found}, this nsplumb reads version {STATE_VERSION}: detach its interfaces with the nsplumb that wrote it, or remove the file", path.display())]
    Version { path: PathBuf, found: String },
    #[error("cannot write state file {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// The records in `path`; `None` when there is no file yet.
pub fn load(path: &Path) -> Result<Option<NsState>, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Read {
                path: path.into(),
                source,
            })
        }
    };
    parse(path, &bytes).map(Some)
}

/// The records in a state file's contents, checked as [`load`] checks them; `path` only names
/// the file in errors. Public so that the check can be run on bytes without a file (the fuzz
/// target `state_file`, SPEC R3).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<NsState, StateError> {
    let corrupt = |field: &str, reason: String| StateError::Corrupt {
        path: path.into(),
        field: field.into(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt("the file", e.to_string()))?;
    match value.get("version") {
        Some(v) if v.as_u64() == Some(u64::from(STATE_VERSION)) => {}
        found => {
            return Err(StateError::Version {
                path: path.into(),
                found: found.map_or_else(|| "(none)".to_string(), |v| v.to_string()),
            })
        }
    }
    // From the bytes, not from `value`: a JSON object keeps only the last of two equal keys,
    // so two `interfaces` lists (or two `mac`s) would read as one; records read from the bytes
    // refuse the second as a duplicate field.
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        // An unknown key "" at the top has an empty path: name the file instead of nothing.
        let field = Some(e.path().to_string()).filter(|f| !f.is_empty());
        corrupt(
            field.as_deref().unwrap_or("the file"),
            e.into_inner().to_string(),
        )
    })
}

/// Write the records atomically.
pub fn save(path: &Path, state: &NsState) -> Result<(), StateError> {
    let bytes = serde_json::to_vec_pretty(state).map_err(io::Error::from);
    bytes
        .and_then(|b| write_atomic(path, &b))
        .map_err(|source| StateError::Write {
            path: path.into(),
            source,
        })
}

/// A temp file in the same directory, fsync, rename over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::announcer::AnnouncerProcess;
    use crate::process::ProcessRef;
    use crate::record::RecordPhase;
    use nsplumb_core::{AnnounceSettings, Attached, Destination, Origin, RouteScope, Source, Spec};
    use std::time::Duration;

    fn sample() -> NsState {
        let netns = NetnsRef::path("/run/netns/ctr1");
        let me = ProcessRef {
            pid: 42,
            start_time: 7,
        };
        let mut st = NsState::empty(&netns);
        st.netns_cookie = Some(4096);
        st.interfaces.push(IfaceRecord {
            phase: RecordPhase::Detaching,
            actor: Some(me),
            announcer: Some(AnnouncerProcess::on_request(me)),
            ..IfaceRecord::new(Attached {
                netns: netns.clone(),
                name: "eth0".into(),
                source: "vnsp00000001".into(),
                ifindex: 7,
                mac: Some("02:00:00:00:00:01".parse().unwrap()),
                ipv4: Some("192.0.2.10/24".parse().unwrap()),
                ipv6: None,
                ipv6_dropped: Some("fd00::1/64".parse().unwrap()),
                master: None,
                origin: Origin::NewVeth { host_index: 9 },
                announce: AnnounceSettings {
                    count: 2,
                    interval: Duration::from_millis(250),
                },
                warnings: vec!["w".into()],
                mtu: Some(1400),
                hairpin: true,
                isolated: true,
                vlans: vec![nsplumb_core::VlanSpec::tagged(20)],
                original_mtu: Some(1500),
            })
        });
        // SPEC L1–L5: a request with every link option reads back as written.
        let mut spec = Spec::new(
            Source::HostLink("dummy0".into()),
            Destination::Prefix("eth".into()),
        );
        spec.mtu = Some(1400);
        spec.hairpin = true;
        spec.isolated = true;
        spec.vlan = Some(10);
        spec.vlan_trunk = vec!["20-30".into()];
        spec.keep_default_vlan = true;
        spec.dad = true;
        spec.dad_timeout_ms = Some(500);
        st.pending.push(IntentRecord {
            name: "eth1".into(),
            spec,
            actor: me,
            owner: None,
            original_mtu: Some(1500),
        });
        st.gateways.push(RouteSpec {
            dst: "0.0.0.0/0".parse().unwrap(),
            gateway: Some("192.0.2.1".parse().unwrap()),
            oif: 7,
            scope: RouteScope::Universe,
        });
        st
    }

    #[test]
    fn records_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ns.json");
        assert_eq!(load(&path).unwrap(), None);
        let st = sample();
        save(&path, &st).unwrap();
        assert_eq!(load(&path).unwrap(), Some(st));
    }

    /// Each `(text, field, what)`: a file holding `text` is refused with an error naming the
    /// file, `field` and `what`.
    fn assert_each_refused<const N: usize>(good: &str, cases: [(String, &str, &str); N]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ns.json");
        for (text, field, what) in cases {
            assert_ne!(text, good, "{field}: the case changes nothing");
            std::fs::write(&path, &text).unwrap();
            let e = load(&path).unwrap_err().to_string();
            assert!(
                e.contains(&*path.to_string_lossy()) && e.contains(field) && e.contains(what),
                "{field}: {e}"
            );
        }
    }

    /// Each way a file can be wrong is an error that names the file and the field; none is
    /// dropped or defaulted (format 1 turned an unreadable MAC into none and dropped a gateway
    /// whose destination did not parse).
    // SPEC: R3
    #[test]
    fn a_corrupt_field_is_an_error_naming_the_file_and_the_field() {
        let good = serde_json::to_string(&sample()).unwrap();
        let cases = [
            (
                good.replace("02:00:00:00:00:01", "zz:zz"),
                "interfaces[0].attached.mac",
                "zz:zz",
            ),
            (
                good.replace("\"ifindex\":7", "\"ifindex\":\"7\""),
                "interfaces[0].attached.ifindex",
                "invalid type",
            ),
            (
                good.replace("\"0.0.0.0/0\"", "\"bogus\""),
                "gateways[0].dst",
                "bogus",
            ),
            (
                good.replace("\"host_link\"", "\"hostlink\""),
                "pending[0].spec.source",
                "hostlink",
            ),
            (
                good.replace("\"detaching\"", "\"half\""),
                "interfaces[0].phase",
                "half",
            ),
            (
                good.replace("\"gateways\"", "\"gateway_routes\""),
                "gateway_routes",
                "unknown field",
            ),
            (good[..good.len() / 2].to_string(), "the file", "EOF"),
        ];
        assert_each_refused(&good, cases);
    }

    /// Found by the fuzz target `state_file`: a key given twice read as its last value (a bad
    /// MAC hidden by a second `mac`, one of two `interfaces` lists dropped), and a key the
    /// records do not have inside `attached`, `announce`, `origin` or a gateway was dropped
    /// unread. Both are corrupt files now, named with the field.
    // SPEC: R3
    #[test]
    fn a_key_given_twice_or_unknown_inside_a_record_is_an_error_naming_the_field() {
        let good = serde_json::to_string(&sample()).unwrap();
        let cases = [
            // Found by the fuzz target too: an unknown key "" named no field at all.
            (
                good.replace(r#""version":2"#, r#""version":2,"":1"#),
                "corrupt: the file: unknown field ``",
                "expected one of",
            ),
            (
                good.replace(r#""mac":"02:"#, r#""mac":"zz","mac":"02:"#),
                "interfaces[0].attached.mac",
                "zz",
            ),
            (
                good.replace(r#""pending":"#, r#""interfaces":[],"pending":"#),
                "interfaces",
                "duplicate field",
            ),
            (
                good.replace(r#""ifindex":7"#, r#""ifindex":7,"oipv4":"192.0.2.1/24""#),
                "interfaces[0].attached.oipv4",
                "unknown field",
            ),
            (
                good.replace(r#""interval_ms":250"#, r#""interval_ms":250,"jitter":1"#),
                "interfaces[0].attached.announce.jitter",
                "unknown field",
            ),
            (
                good.replace(r#""host_index":9"#, r#""host_index":9,"peer":3"#),
                "interfaces[0].attached.origin.new_veth.peer",
                "unknown field",
            ),
            (
                good.replace(r#""oif":7"#, r#""oif":7,"table":100"#),
                "gateways[0].table",
                "unknown field",
            ),
        ];
        assert_each_refused(&good, cases);
    }

    #[test]
    fn a_file_of_another_format_version_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ns.json");
        let v1 = r#"{ "version": 1, "netns": "/run/netns/c", "interfaces": [ { "name": "eth0",
            "source": "dummy0", "ifindex": 7, "mac": null, "ipv4": null, "ipv6": null,
            "master": null, "origin": { "kind": "moved_from_host" }, "announce_count": 3,
            "announce_interval_ms": 1000 } ] }"#;
        std::fs::write(&path, v1).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.contains(&*path.to_string_lossy()) && e.contains("format version 1"),
            "{e}"
        );
        std::fs::write(&path, r#"{"netns":"host"}"#).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("format version (none)"), "{e}");
    }

    #[test]
    fn records_of_a_namespace_with_another_cookie_are_dropped() {
        let mut st = sample();
        let kept = st.clone();
        assert!(!st.check_identity(Some(4096)), "same namespace: unchanged");
        assert!(!st.check_identity(None), "no cookie known: unchanged");
        assert_eq!(st, kept);
        assert!(st.check_identity(Some(9)), "re-created: changed");
        assert!(!st.has_records() && st.gateways.is_empty());
        assert_eq!(st.netns_cookie, Some(9));
        assert_eq!(st.netns, kept.netns);
        let mut first = NsState::empty(&NetnsRef::Host);
        assert!(
            first.check_identity(Some(3)),
            "the first cookie is recorded"
        );
        assert_eq!(first.netns_cookie, Some(3));
    }
}
