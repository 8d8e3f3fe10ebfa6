//! SPEC C3, C6–C9: delegation to the IPAM plugin that `ipam.type` names.
//!
//! The plugin is found in `CNI_PATH` and run as libcni's `DelegateAdd` runs it: the same
//! environment with `CNI_COMMAND` set to the verb, the whole configuration on stdin, its stderr
//! on ours. Unlike libcni it need not speak the call's version: a plugin that refuses it
//! (error 1, as Debian's 1.1.1 plugins refuse 1.1.0) is asked VERSION and called again at the
//! highest version both speak, with `cniVersion` (and `prevResult`) rewritten; its result is
//! read in that version and written later in the call's. The first call goes out at the call's
//! own version, so a plugin that speaks it costs one process, not two. STATUS and GC go only to
//! a plugin whose VERSION lists 1.1.0: an older one cannot know them (it counts as available,
//! and has nothing to collect).

use crate::child::{self, ChildError, Limits, Stderr};
use crate::env::Attachment;
use crate::error::{CniError, ErrorCode};
use crate::request::Request;
use crate::result;
use crate::verb::Verb;
use crate::version::{is_supported, CHECK_SINCE, V1_1};
use rscni_types::types::CNIResult;
use rscni_types::version::SpecVersion;
use serde_json::Value;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long an IPAM call may take and how much it may print. host-local answers in
/// milliseconds; the dhcp plugin waits for a lease, which can take seconds.
pub const IPAM_LIMITS: Limits = Limits {
    timeout: Duration::from_secs(60),
    max_output: 1 << 20,
};

/// An IPAM plugin found in `CNI_PATH`.
#[derive(Debug, Clone)]
pub struct IpamPlugin {
    pub name: String,
    pub path: PathBuf,
    limits: Limits,
}

/// The IPAM plugin is in none of `CNI_PATH`'s directories.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "IPAM plugin {name:?} (ipam.type) is not an executable file in any CNI_PATH directory ({dirs})"
)]
pub struct NotFound {
    pub name: String,
    pub dirs: String,
}

/// An error object a delegate printed.
#[derive(Debug, Clone, serde::Deserialize)]
struct DelegateError {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

/// What a delegate call gave back.
enum Answer {
    Done(Vec<u8>),
    Refused(DelegateError),
}

impl IpamPlugin {
    /// The first executable file named `name` in `cni_path`, as libcni's `FindInPath`.
    pub fn find(name: &str, cni_path: &[PathBuf], limits: Limits) -> Result<IpamPlugin, NotFound> {
        cni_path
            .iter()
            .map(|dir| dir.join(name))
            .find(|path| is_executable_file(path))
            .map(|path| IpamPlugin {
                name: name.to_string(),
                path,
                limits,
            })
            .ok_or_else(|| NotFound {
                name: name.to_string(),
                dirs: cni_path
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            })
    }

    /// IPAM ADD: the addresses, routes and DNS for the attachment.
    pub fn add(&self, request: &Request) -> Result<CNIResult, CniError> {
        let (version, out) = self.call_negotiating(request, Verb::Add, &[])?;
        result::parse(&out).map_err(|e| {
            CniError::new(
                ErrorCode::IPAM_FAILED,
                format!(
                    "IPAM plugin {:?} ADD answered with no CNI {version} result: {e}",
                    self.name
                ),
            )
        })
    }

    /// IPAM DEL of the call's attachment.
    pub fn del(&self, request: &Request) -> Result<(), CniError> {
        self.call_negotiating(request, Verb::Del, &[]).map(drop)
    }

    /// IPAM DEL of another attachment than the call's (GC releasing a stale one): its
    /// container ID and interface name, no namespace.
    pub fn del_attachment(&self, request: &Request, stale: &Attachment) -> Result<(), CniError> {
        let overrides = [
            ("CNI_CONTAINERID", OsString::from(&stale.container_id)),
            ("CNI_IFNAME", OsString::from(&stale.ifname)),
            ("CNI_NETNS", OsString::new()),
        ];
        self.call_negotiating(request, Verb::Del, &overrides)
            .map(drop)
    }

    /// IPAM CHECK.
    pub fn check(&self, request: &Request) -> Result<(), CniError> {
        self.call_negotiating(request, Verb::Check, &[]).map(drop)
    }

    /// IPAM STATUS (SPEC C8): a plugin too old to know STATUS counts as available; a refusal
    /// is error 50 (or the plugin's own 50 or 51).
    pub fn status(&self, request: &Request) -> Result<(), CniError> {
        if !self.knows_status_and_gc(request)? {
            return Ok(());
        }
        match self.exec(request, Verb::Status, &request.stdin.bytes, &[])? {
            Answer::Done(_) => Ok(()),
            Answer::Refused(e) => {
                let mut error = self.refusal(Verb::Status, e);
                if !matches!(error.code.0, 50 | 51) {
                    error.code = ErrorCode::NOT_AVAILABLE;
                }
                Err(error)
            }
        }
    }

    /// IPAM GC (SPEC C9): nothing to do for a plugin too old to know GC.
    pub fn gc(&self, request: &Request) -> Result<(), CniError> {
        if !self.knows_status_and_gc(request)? {
            return Ok(());
        }
        match self.exec(request, Verb::Gc, &request.stdin.bytes, &[])? {
            Answer::Done(_) => Ok(()),
            Answer::Refused(e) => Err(self.refusal(Verb::Gc, e)),
        }
    }

    /// The versions the plugin's VERSION lists.
    pub fn supported_versions(&self, request: &Request) -> Result<Vec<SpecVersion>, CniError> {
        #[derive(serde::Deserialize)]
        struct Reply {
            #[serde(rename = "supportedVersions", default)]
            supported: Vec<String>,
        }
        let query = serde_json::json!({ "cniVersion": request.version().to_string() });
        let answer = self.exec(request, Verb::Version, query.to_string().as_bytes(), &[])?;
        let out = match answer {
            Answer::Done(out) => out,
            Answer::Refused(e) => return Err(self.refusal(Verb::Version, e)),
        };
        let reply: Reply = serde_json::from_slice(&out).map_err(|e| {
            CniError::new(
                ErrorCode::IPAM_FAILED,
                format!(
                    "IPAM plugin {:?} VERSION answered with no version list: {e}",
                    self.name
                ),
            )
        })?;
        Ok(reply
            .supported
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect())
    }

    fn knows_status_and_gc(&self, request: &Request) -> Result<bool, CniError> {
        let versions = self.supported_versions(request)?;
        let knows = versions.iter().any(|v| *v >= V1_1);
        if !knows {
            tracing::debug!(plugin = %self.name, ?versions, "IPAM plugin predates STATUS and GC");
        }
        Ok(knows)
    }

    /// Calls at the request's version; on error 1, again at the highest version both speak.
    fn call_negotiating(
        &self,
        request: &Request,
        verb: Verb,
        overrides: &[(&str, OsString)],
    ) -> Result<(SpecVersion, Vec<u8>), CniError> {
        let refused = match self.exec(request, verb, &request.stdin.bytes, overrides)? {
            Answer::Done(out) => return Ok((request.version(), out)),
            Answer::Refused(e) if e.code == ErrorCode::INCOMPATIBLE_VERSION.0 => e,
            Answer::Refused(e) => return Err(self.refusal(verb, e)),
        };
        let theirs = self.supported_versions(request)?;
        let floor = if verb == Verb::Check {
            CHECK_SINCE
        } else {
            SpecVersion::new(0, 3, 0)
        };
        let Some(version) = theirs
            .iter()
            .copied()
            .filter(|v| is_supported(*v) && *v >= floor && *v != request.version())
            .max()
        else {
            let mut error = self.refusal(verb, refused);
            error.details = format!(
                "it speaks {}; none of them is one nsplumb-cni can use for {verb}",
                theirs
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Err(error);
        };
        tracing::debug!(
            plugin = %self.name,
            refused = %request.version(),
            %version,
            "IPAM plugin refused the call's version; calling it again"
        );
        let stdin = rewrite_version(request, version);
        match self.exec(request, verb, &stdin, overrides)? {
            Answer::Done(out) => Ok((version, out)),
            Answer::Refused(e) => Err(self.refusal(verb, e)),
        }
    }

    fn exec(
        &self,
        request: &Request,
        verb: Verb,
        stdin: &[u8],
        overrides: &[(&str, OsString)],
    ) -> Result<Answer, CniError> {
        let mut command = Command::new(&self.path);
        command
            .env_clear()
            .envs(request.env.all.iter().map(|(k, v)| (k, v)))
            .env("CNI_COMMAND", verb.as_str());
        for (name, value) in overrides {
            command.env(name, value);
        }
        let output = child::run(command, stdin, Stderr::Inherit, self.limits)
            .map_err(|e| self.run_error(verb, e))?;
        if output.status.success() {
            return Ok(Answer::Done(output.stdout));
        }
        serde_json::from_slice::<DelegateError>(&output.stdout)
            .map(Answer::Refused)
            .map_err(|_| {
                CniError::new(
                    ErrorCode::IPAM_FAILED,
                    format!(
                        "IPAM plugin {:?} {verb} failed ({}) without an error object",
                        self.name, output.status
                    ),
                )
                .with_details(
                    String::from_utf8_lossy(&output.stdout)
                        .chars()
                        .take(400)
                        .collect::<String>(),
                )
            })
    }

    fn run_error(&self, verb: Verb, error: ChildError) -> CniError {
        let code = match error {
            ChildError::Timeout { .. } => ErrorCode::TRY_AGAIN_LATER,
            _ => ErrorCode::IPAM_FAILED,
        };
        CniError::new(code, format!("IPAM plugin {:?} {verb}: {error}", self.name))
    }

    /// The plugin's own error, passed on with its code, the plugin and the verb named.
    fn refusal(&self, verb: Verb, e: DelegateError) -> CniError {
        let code = if e.code == 0 {
            ErrorCode::IPAM_FAILED
        } else {
            ErrorCode(e.code)
        };
        CniError::new(
            code,
            format!("IPAM plugin {:?} {verb}: {}", self.name, e.msg),
        )
        .with_details(e.details)
    }
}

/// The request's configuration with `cniVersion` (and a `prevResult`, in its shape) changed to
/// `version`.
fn rewrite_version(request: &Request, version: SpecVersion) -> Vec<u8> {
    let mut object = request.stdin.object.clone();
    object.insert("cniVersion".into(), Value::from(version.to_string()));
    if let Some(prev) = &request.config.prev_result {
        object.insert("prevResult".into(), result::render(prev, version));
    }
    serde_json::to_vec(&Value::Object(object)).expect("a JSON object serializes")
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests;
