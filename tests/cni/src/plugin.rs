//! Running a CNI plugin binary the way runtimes do (libcni's `invoke`): one process per call,
//! the `CNI_*` environment, the request configuration on stdin, the result or error JSON on
//! stdout, logs on stderr.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::command::Cmd;
use crate::error::{HarnessError, Result};

/// Environment variable naming the plugin binary under test (default: the workspace's
/// `nsplumb-cni`, [`built_nsplumb_cni`]).
pub const PLUGIN_ENV: &str = "NSPLUMB_CNI_PLUGIN";
/// The file name of nsplumb's plugin, as cargo builds it and conflists name it.
pub const NSPLUMB_CNI: &str = "nsplumb-cni";
/// This crate's build of the same program ([`built_nsplumb_cni`]).
pub const BUILT_NSPLUMB_CNI: &str = "nsplumb-cni-under-test";
/// Debian's reference bridge plugin (containernetworking-plugins 1.1.1).
pub const REFERENCE_BRIDGE: &str = "/usr/lib/cni/bridge";
/// The container interface name runtimes pass for a container's first network.
pub const IFNAME: &str = "eth0";
/// Where Debian installs the reference plugins (IPAM: host-local, static, dhcp).
pub const SYSTEM_PLUGIN_DIR: &str = "/usr/lib/cni";

/// Which expectations apply: the reference bridge plugin fails some SPEC behaviours by design
/// (those are measured and printed, not asserted); anything else is held to the SPEC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    ReferenceBridge,
    Nsplumb,
}

/// The plugin the tests drive: its binary, its `"type"` (the binary's file name, as runtimes
/// find it in `CNI_PATH`) and the expectations that apply.
#[derive(Debug, Clone)]
pub struct PluginUnderTest {
    pub path: PathBuf,
    pub type_name: String,
    pub kind: PluginKind,
}

impl PluginUnderTest {
    /// From `$NSPLUMB_CNI_PLUGIN`, else the workspace's `nsplumb-cni` ([`built_nsplumb_cni`]).
    /// Panics with the path when the binary is missing: a test must fail, not skip, when its
    /// plugin is not there.
    pub fn from_env() -> PluginUnderTest {
        let plugin = match std::env::var_os(PLUGIN_ENV) {
            Some(path) => PluginUnderTest::at(Path::new(&path)),
            None => PluginUnderTest::at(&built_nsplumb_cni()).map(|p| p.typed(NSPLUMB_CNI)),
        };
        plugin.unwrap_or_else(|e| panic!("plugin under test: {e}"))
    }

    /// Debian's reference bridge plugin: the comparison the SPEC's **[better]** items are
    /// measured against.
    pub fn reference() -> PluginUnderTest {
        PluginUnderTest::at(Path::new(REFERENCE_BRIDGE))
            .unwrap_or_else(|e| panic!("reference plugin: {e}"))
    }

    /// The plugin at `path`.
    pub fn at(path: &Path) -> Result<PluginUnderTest> {
        if !path.is_file() {
            return Err(HarnessError::Invalid {
                what: format!("plugin binary {}", path.display()),
                reason: format!(
                    "not a file (set {PLUGIN_ENV}, or install containernetworking-plugins \
                     for {REFERENCE_BRIDGE}: .ci/install-deps)"
                ),
            });
        }
        let type_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let kind = if type_name == "bridge" {
            PluginKind::ReferenceBridge
        } else {
            PluginKind::Nsplumb
        };
        Ok(PluginUnderTest {
            path: path.to_path_buf(),
            type_name,
            kind,
        })
    }

    /// The same binary under another conflist `"type"` (the name it is linked as).
    pub fn typed(mut self, type_name: &str) -> PluginUnderTest {
        self.type_name = type_name.into();
        self
    }

    pub fn is_reference(&self) -> bool {
        self.kind == PluginKind::ReferenceBridge
    }
}

/// The workspace's `nsplumb-cni` as this crate builds it (binary `nsplumb-cni-under-test`,
/// `target/<profile>/deps/<test>` → `target/<profile>/nsplumb-cni-under-test`): `cargo test -p
/// nsplumb-cni-tests` builds it before any test runs. A missing binary fails the test with the
/// command that builds it.
pub fn built_nsplumb_cni() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test binary lives in target/<profile>/deps");
    let path = profile_dir.join(BUILT_NSPLUMB_CNI);
    assert!(
        path.is_file(),
        "{} is not built: cargo build --release -p nsplumb-cni-tests (or set {PLUGIN_ENV})",
        path.display()
    );
    path
}

/// A CNI verb (`CNI_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Add,
    Del,
    Check,
    Status,
    Gc,
    Version,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Add => "ADD",
            Verb::Del => "DEL",
            Verb::Check => "CHECK",
            Verb::Status => "STATUS",
            Verb::Gc => "GC",
            Verb::Version => "VERSION",
        }
    }
}

/// A plugin binary and the `CNI_PATH` it is given (where it finds its IPAM plugin).
#[derive(Debug, Clone)]
pub struct Plugin {
    binary: PathBuf,
    cni_path: String,
}

impl Plugin {
    pub fn new(binary: impl Into<PathBuf>, cni_path: &[PathBuf]) -> Plugin {
        let cni_path = cni_path
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        Plugin {
            binary: binary.into(),
            cni_path,
        }
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// A call with `verb`; set the attachment and the configuration, then [`Call::run`].
    pub fn call(&self, verb: Verb) -> Call<'_> {
        Call {
            plugin: self,
            verb,
            container_id: None,
            netns: None,
            ifname: None,
            args: None,
            extra_env: Vec::new(),
            config: Value::Null,
            raw_stdin: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// A call for the attachment `(id, netns, IFNAME)`: the shape of every ADD, CHECK and DEL
    /// a runtime makes for a container's first interface.
    pub fn on(&self, verb: Verb, id: &str, netns: impl AsRef<Path>) -> Call<'_> {
        self.call(verb).container(id).netns(netns).ifname(IFNAME)
    }

    /// The VERSION call Podman 4.3 (libcni 1.1.2) makes before every ADD and DEL: no container
    /// ID, placeholder netns/ifname/path.
    pub fn version_as_podman(&self, cni_version: &str) -> Result<Outcome> {
        let stdin = serde_json::json!({ "cniVersion": cni_version }).to_string();
        Cmd::new("CNI VERSION (as Podman calls it)", &self.binary)
            .env("CNI_COMMAND", "VERSION")
            .env("CNI_CONTAINERID", "")
            .env("CNI_NETNS", "dummy")
            .env("CNI_IFNAME", "dummy")
            .env("CNI_PATH", "dummy")
            .env_remove("CNI_ARGS")
            .stdin(stdin)
            .run()
            .map(Outcome::from)
    }
}

/// One invocation being prepared.
pub struct Call<'a> {
    plugin: &'a Plugin,
    verb: Verb,
    container_id: Option<String>,
    netns: Option<String>,
    ifname: Option<String>,
    args: Option<String>,
    extra_env: Vec<(String, String)>,
    config: Value,
    raw_stdin: Option<String>,
    timeout: Duration,
}

impl Call<'_> {
    pub fn container(mut self, id: &str) -> Self {
        self.container_id = Some(id.into());
        self
    }

    /// `CNI_NETNS`; an empty string is passed as an empty variable (DEL allows it).
    pub fn netns(mut self, path: impl AsRef<Path>) -> Self {
        self.netns = Some(path.as_ref().display().to_string());
        self
    }

    pub fn ifname(mut self, name: &str) -> Self {
        self.ifname = Some(name.into());
        self
    }

    /// `CNI_ARGS`, e.g. `IgnoreUnknown=1;IP=192.0.2.50;MAC=02:00:00:00:00:0a`.
    pub fn cni_args(mut self, args: &str) -> Self {
        self.args = Some(args.into());
        self
    }

    /// One more environment variable for the plugin (e.g. `NSPLUMB_TEST_ABORT_AT`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.extra_env.push((key.into(), value.into()));
        self
    }

    /// The request configuration written to stdin.
    pub fn config(mut self, config: &Value) -> Self {
        self.config = config.clone();
        self
    }

    /// Bytes for stdin in place of the configuration (input that is not JSON).
    pub fn raw_stdin(mut self, text: &str) -> Self {
        self.raw_stdin = Some(text.into());
        self
    }

    /// The plugin is killed (SIGKILL) once it runs this long; [`Call::run`] then answers
    /// [`crate::error::HarnessError::Timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Execute the plugin; any exit status is an [`Outcome`] (only failing to run it is an error).
    pub fn run(self) -> Result<Outcome> {
        let _span = tracing::info_span!(
            "cni_call",
            verb = self.verb.as_str(),
            container = self.container_id.as_deref().unwrap_or(""),
            netns = self.netns.as_deref().unwrap_or(""),
            iface = self.ifname.as_deref().unwrap_or("")
        )
        .entered();
        let mut cmd = Cmd::new(
            format!(
                "CNI {} of {}",
                self.verb.as_str(),
                self.plugin.binary.display()
            ),
            &self.plugin.binary,
        )
        .env("CNI_COMMAND", self.verb.as_str())
        .env("CNI_PATH", &self.plugin.cni_path)
        .timeout(self.timeout)
        .stdin(
            self.raw_stdin
                .clone()
                .unwrap_or_else(|| self.config.to_string()),
        );
        for (key, value) in &self.extra_env {
            cmd = cmd.env(key, value);
        }
        for (key, value) in [
            ("CNI_CONTAINERID", &self.container_id),
            ("CNI_NETNS", &self.netns),
            ("CNI_IFNAME", &self.ifname),
            ("CNI_ARGS", &self.args),
        ] {
            cmd = match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        let outcome = Outcome::from(cmd.run()?);
        tracing::debug!(code = outcome.code, elapsed = ?outcome.elapsed, "plugin returned");
        Ok(outcome)
    }
}

/// What a plugin call produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Exit code (`128 + signal` if killed).
    pub code: i32,
    /// stdout parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    pub stdout: String,
    pub stderr: String,
    /// Process spawn to exit: what a runtime waits for.
    pub elapsed: Duration,
}

impl From<crate::command::Finished> for Outcome {
    fn from(done: crate::command::Finished) -> Self {
        let json = serde_json::from_str(done.stdout.trim()).ok();
        Outcome {
            code: done.code(),
            json,
            stdout: done.stdout,
            stderr: done.stderr,
            elapsed: done.elapsed,
        }
    }
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// The CNI error code of an error result (`{"code":..,"msg":..}` on stdout).
    pub fn error_code(&self) -> Option<u64> {
        self.json.as_ref()?.get("code")?.as_u64()
    }

    /// The error message of an error result.
    pub fn error_msg(&self) -> Option<&str> {
        self.json.as_ref()?.get("msg")?.as_str()
    }

    /// The result JSON of a call that must have succeeded; otherwise an error with everything
    /// the plugin said.
    pub fn result(&self, what: &str) -> Result<Value> {
        if !self.success() {
            return Err(HarnessError::Failed {
                what: what.into(),
                command: "CNI plugin".into(),
                status: format!("exit code {}", self.code),
                stdout: self.stdout.clone(),
                stderr: self.stderr.clone(),
            });
        }
        Ok(self.json.clone().unwrap_or(Value::Null))
    }

    /// [`Outcome::result`] for a test: panics on failure.
    pub fn expect_result(&self, what: &str) -> Value {
        self.result(what).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// `config` with `prevResult` set, as runtimes send to DEL and CHECK.
pub fn with_prev_result(config: &Value, prev_result: &Value) -> Value {
    let mut config = config.clone();
    if let Value::Object(map) = &mut config {
        map.insert("prevResult".into(), prev_result.clone());
    }
    config
}
