//! The `CNI_*` environment of a call, checked per verb as libcni's skel checks it (code 4 naming
//! every missing or invalid variable).

use crate::cni_args::CniArgs;
use crate::error::CniError;
use crate::verb::Verb;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// Where the variables come from: the process environment, or a map in tests. The whole
/// environment is kept because a delegate (IPAM) runs with the same one.
pub trait EnvSource {
    fn var(&self, name: &str) -> Option<OsString>;
    fn vars(&self) -> Vec<(OsString, OsString)>;
}

/// The plugin's own process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }

    fn vars(&self) -> Vec<(OsString, OsString)> {
        std::env::vars_os().collect()
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<OsString> {
        self.get(name).map(OsString::from)
    }

    fn vars(&self) -> Vec<(OsString, OsString)> {
        self.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }
}

/// One container's interface on one network: what ADD creates and DEL, CHECK and GC name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Attachment {
    pub container_id: String,
    pub ifname: String,
}

/// The checked environment of a call.
#[derive(Debug, Clone)]
pub struct Environment {
    pub verb: Verb,
    /// ADD, DEL and CHECK: `CNI_CONTAINERID` and `CNI_IFNAME`.
    pub attachment: Option<Attachment>,
    /// `CNI_NETNS`: always there for ADD and CHECK; DEL may have none (SPEC C6).
    pub netns: Option<PathBuf>,
    pub cni_args: CniArgs,
    /// `CNI_PATH`, where delegates (IPAM) are looked for.
    pub cni_path: Vec<PathBuf>,
    /// Every variable, for delegates.
    pub all: Vec<(OsString, OsString)>,
}

/// `CNI_COMMAND`: missing, empty or unknown is code 4.
pub fn read_verb(env: &dyn EnvSource) -> Result<Verb, CniError> {
    let value = env.var("CNI_COMMAND").unwrap_or_default();
    if value.is_empty() {
        return Err(CniError::env(
            "required environment variable CNI_COMMAND is missing",
        ));
    }
    utf8("CNI_COMMAND", &value)?.parse()
}

/// Reads and checks what `verb` needs; reports every missing variable at once, then the first
/// invalid one.
pub fn read_environment(verb: Verb, env: &dyn EnvSource) -> Result<Environment, CniError> {
    let get = |name: &str| -> Result<Option<String>, CniError> {
        match env.var(name) {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) => utf8(name, &v).map(|s| Some(s.to_string())),
        }
    };
    let container_id = get("CNI_CONTAINERID")?;
    let netns = get("CNI_NETNS")?;
    let ifname = get("CNI_IFNAME")?;
    let args = get("CNI_ARGS")?;
    let path = get("CNI_PATH")?;

    let mut missing = Vec::new();
    if verb.has_attachment() {
        if container_id.is_none() {
            missing.push("CNI_CONTAINERID");
        }
        if netns.is_none() && verb != Verb::Del {
            missing.push("CNI_NETNS");
        }
        if ifname.is_none() {
            missing.push("CNI_IFNAME");
        }
    }
    if path.is_none() && verb != Verb::Version {
        missing.push("CNI_PATH");
    }
    match missing.as_slice() {
        [] => {}
        [one] => {
            return Err(CniError::env(format!(
                "required environment variable {one} is missing: {verb} needs it"
            )))
        }
        several => {
            return Err(CniError::env(format!(
                "required environment variables {} are missing: {verb} needs them",
                several.join(", ")
            )))
        }
    }

    let attachment = if verb.has_attachment() {
        let container_id = container_id.unwrap_or_default();
        let ifname = ifname.unwrap_or_default();
        check_container_id(&container_id)?;
        nsplumb_core::check_ifname(&ifname)
            .map_err(|reason| CniError::env(format!("CNI_IFNAME {ifname:?} {reason}")))?;
        Some(Attachment {
            container_id,
            ifname,
        })
    } else {
        None
    };
    let netns = match netns {
        Some(path) if verb.has_attachment() => {
            if !path.starts_with('/') {
                return Err(CniError::env(format!(
                    "CNI_NETNS {path:?} is not an absolute path"
                )));
            }
            Some(PathBuf::from(path))
        }
        _ => None,
    };
    let cni_args = match args {
        Some(text) if verb.has_attachment() => CniArgs::parse(&text)?,
        _ => CniArgs::default(),
    };
    let cni_path = path
        .map(|p| {
            p.split(':')
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    Ok(Environment {
        verb,
        attachment,
        netns,
        cni_args,
        cni_path,
        all: env.vars(),
    })
}

/// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`, the spec's rule for container IDs and network names.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn check_container_id(id: &str) -> Result<(), CniError> {
    if is_valid_name(id) {
        Ok(())
    } else {
        Err(CniError::env(format!(
            "CNI_CONTAINERID {id:?} must start with a letter or digit and hold only letters, \
             digits, '_', '.' and '-'"
        )))
    }
}

fn utf8<'a>(name: &str, value: &'a OsStr) -> Result<&'a str, CniError> {
    value
        .to_str()
        .ok_or_else(|| CniError::env(format!("{name} {value:?} is not valid UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn add_env() -> BTreeMap<String, String> {
        env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c0ffee"),
            ("CNI_NETNS", "/run/netns/x"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/opt/cni/bin::/usr/lib/cni"),
            ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=p"),
        ])
    }

    #[test]
    fn a_complete_add_environment_is_read() {
        let e = read_environment(Verb::Add, &add_env()).unwrap();
        assert_eq!(
            e.attachment,
            Some(Attachment {
                container_id: "c0ffee".into(),
                ifname: "eth0".into()
            })
        );
        assert_eq!(e.netns, Some(PathBuf::from("/run/netns/x")));
        assert_eq!(
            e.cni_path,
            vec![PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")]
        );
        assert_eq!(e.cni_args.kubernetes["K8S_POD_NAME"], "p");
        assert_eq!(e.all.len(), 6);
    }

    // SPEC: C10 (code 4 naming the variables)
    #[test]
    fn every_missing_variable_is_named_at_once() {
        let e = read_environment(Verb::Add, &env(&[("CNI_COMMAND", "ADD")])).unwrap_err();
        assert_eq!(e.code, ErrorCode::INVALID_ENVIRONMENT);
        assert_eq!(
            e.msg,
            "required environment variables CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH \
             are missing: ADD needs them"
        );
        let mut del = add_env();
        del.insert("CNI_NETNS".into(), String::new());
        assert!(read_environment(Verb::Del, &del).unwrap().netns.is_none());
        del.remove("CNI_PATH");
        let e = read_environment(Verb::Del, &del).unwrap_err();
        assert_eq!(
            e.msg,
            "required environment variable CNI_PATH is missing: DEL needs it"
        );
    }

    // SPEC: C1 (VERSION without a container ID), C8, C9
    #[test]
    fn version_status_and_gc_need_no_attachment() {
        let podman = env(&[
            ("CNI_COMMAND", "VERSION"),
            ("CNI_CONTAINERID", ""),
            ("CNI_NETNS", "dummy"),
            ("CNI_IFNAME", "dummy"),
            ("CNI_PATH", "dummy"),
        ]);
        let e = read_environment(Verb::Version, &podman).unwrap();
        assert!(e.attachment.is_none() && e.netns.is_none());
        let gc = env(&[("CNI_COMMAND", "GC"), ("CNI_PATH", "/usr/lib/cni")]);
        assert!(read_environment(Verb::Gc, &gc)
            .unwrap()
            .attachment
            .is_none());
        assert!(read_environment(Verb::Status, &gc).is_ok());
    }

    // SPEC: C10 (code 4 naming the variable and the value)
    #[test]
    fn invalid_values_are_named() {
        for (var, value, named) in [
            ("CNI_CONTAINERID", "-bad", "CNI_CONTAINERID \"-bad\""),
            ("CNI_CONTAINERID", "a/b", "CNI_CONTAINERID \"a/b\""),
            ("CNI_IFNAME", "eth0:1", "CNI_IFNAME \"eth0:1\""),
            (
                "CNI_IFNAME",
                "a-name-of-16-chr",
                "CNI_IFNAME \"a-name-of-16-chr\"",
            ),
            ("CNI_NETNS", "run/netns/x", "CNI_NETNS \"run/netns/x\""),
            ("CNI_ARGS", "NOPE=1", "CNI_ARGS"),
        ] {
            let mut vars = add_env();
            vars.insert(var.into(), value.into());
            let e = read_environment(Verb::Add, &vars).unwrap_err();
            assert_eq!(e.code, ErrorCode::INVALID_ENVIRONMENT, "{var}={value}");
            assert!(e.msg.contains(named), "{var}={value}: {e}");
        }
    }

    // SPEC: C10 (code 4)
    #[test]
    fn the_command_must_be_there_and_known() {
        let e = read_verb(&env(&[])).unwrap_err();
        assert_eq!(e.code, ErrorCode::INVALID_ENVIRONMENT);
        assert!(e.msg.contains("CNI_COMMAND"), "{e}");
        let e = read_verb(&env(&[("CNI_COMMAND", "add")])).unwrap_err();
        assert!(e.msg.contains("CNI_COMMAND \"add\""), "{e}");
        assert_eq!(
            read_verb(&env(&[("CNI_COMMAND", "STATUS")])).unwrap(),
            Verb::Status
        );
    }

    #[test]
    fn names_follow_the_spec_rule() {
        for ok in ["a", "0", "abc_d.e-f", "F00"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "_a", ".a", "-a", "a b", "a/b", "é"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
