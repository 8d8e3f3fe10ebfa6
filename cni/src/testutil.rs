//! Requests, IPAM configurations and scripted fake plugins for the unit tests.

use crate::request::Request;
use crate::verb::Verb;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

#[path = "../tests/common/script.rs"]
mod fake_program;
pub use fake_program::script;

/// Debian's reference plugins (host-local, static), installed by `.ci/install-deps`.
pub const DEBIAN_CNI_DIR: &str = "/usr/lib/cni";

/// The environment a runtime gives `verb` for container `c1`'s `eth0`, with `cni_path`.
pub fn env(verb: Verb, cni_path: &str) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> =
        [("CNI_COMMAND", verb.as_str()), ("CNI_PATH", cni_path)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    if verb.has_attachment() {
        env.insert("CNI_CONTAINERID".into(), "c1".into());
        env.insert("CNI_NETNS".into(), "/run/netns/nsplumb-test-c1".into());
        env.insert("CNI_IFNAME".into(), "eth0".into());
    }
    env
}

/// A request configuration for network `net1` at `version`, with `extra` keys.
pub fn conf(version: &str, extra: Value) -> Value {
    let mut conf = json!({"cniVersion": version, "name": "net1", "type": "nsplumb-cni"});
    conf.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    conf
}

/// host-local on `subnet`, its reservations in `data_dir`.
pub fn host_local(data_dir: &Path, subnet: &str) -> Value {
    json!({
        "type": "host-local",
        "dataDir": data_dir,
        "ranges": [[{"subnet": subnet}]],
        "routes": [{"dst": "0.0.0.0/0"}],
    })
}

pub fn request(verb: Verb, env: &BTreeMap<String, String>, conf: &Value) -> Request {
    Request::parse(verb, env, conf.to_string().into_bytes()).expect("a valid test request")
}

/// The addresses host-local holds for network `net1` in `data_dir`.
pub fn reservations(data_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("net1")) else {
        return Vec::new();
    };
    let mut held: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.parse::<std::net::IpAddr>().is_ok())
        .collect();
    held.sort();
    held
}

/// Fails the test when Debian's plugins are missing (they are a test dependency, not optional).
pub fn require_debian_plugins() {
    for plugin in ["host-local", "static"] {
        let path = Path::new(DEBIAN_CNI_DIR).join(plugin);
        assert!(
            path.is_file(),
            "{} is missing: run .ci/install-deps (containernetworking-plugins)",
            path.display()
        );
    }
}

/// A dataplane whose every kernel part fails (code [`FAILING_KERNEL`]), so that the protocol,
/// IPAM and masquerade steps around it can be driven without a kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailingDataplane;

/// The code [`FailingDataplane`] fails with: the real dataplane's for a kernel step.
pub const FAILING_KERNEL: crate::error::ErrorCode = crate::error::ErrorCode::KERNEL_FAILED;

impl FailingDataplane {
    fn error(verb: &str) -> crate::error::CniError {
        crate::error::CniError::new(FAILING_KERNEL, format!("{verb}: the test kernel fails"))
    }
}

impl crate::dataplane::Dataplane for FailingDataplane {
    fn attach(
        &self,
        _: &crate::dataplane::AttachRequest<'_>,
    ) -> Result<crate::dataplane::AttachOutcome, crate::error::CniError> {
        Err(Self::error("ADD"))
    }

    fn detach(
        &self,
        _: &crate::dataplane::DetachRequest<'_>,
    ) -> Result<(), crate::error::CniError> {
        Err(Self::error("DEL"))
    }

    fn check(&self, _: &crate::dataplane::CheckRequest<'_>) -> Result<(), crate::error::CniError> {
        Err(Self::error("CHECK"))
    }

    fn status(
        &self,
        _: &crate::dataplane::StatusRequest<'_>,
    ) -> Result<(), crate::error::CniError> {
        Err(crate::error::CniError::new(
            crate::error::ErrorCode::NOT_AVAILABLE,
            "STATUS: the test kernel fails",
        ))
    }

    fn gc(
        &self,
        _: &crate::dataplane::GcRequest<'_>,
    ) -> Result<crate::dataplane::GcOutcome, crate::error::CniError> {
        Err(Self::error("GC"))
    }
}
