//! The simulator's journal: earlier successful mutating commands, replayed by every process so
//! that `attach` then `detach` in separate processes behave as on the kernel.
//!
//! `$NSPLUMB_STATE_DIR/sim-journal` holds one JSON object per line, in the order the commands
//! succeeded. Replay is sequential and deterministic: attaches use the name they got the first
//! time (never the prefix again) and announce nothing. `sim-journal.lock` is held exclusively
//! from replay until the new entry is appended.

use crate::state::FileLock;
use nsplumb_core::{Destination, Source, Spec};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An attach request as recorded (mirror of [`Spec`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecRecord {
    /// `link`, `created_in_netns`, `bridge` or `veth_on_bridge`.
    pub source_kind: String,
    pub source: String,
    #[serde(default)]
    pub bridge: Option<String>,
    pub mac: Option<String>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    #[serde(default)]
    pub link_local: Vec<String>,
    #[serde(default)]
    pub routes: Vec<String>,
    #[serde(default)]
    pub sysctls: Vec<String>,
    pub master: Option<String>,
    pub announce_count: u32,
    pub announce_interval_ms: u64,
}

impl SpecRecord {
    pub fn from_spec(spec: &Spec) -> SpecRecord {
        let (source_kind, source, bridge) = match &spec.source {
            Source::HostLink(n) => ("link", n.clone(), None),
            Source::CreatedInNamespace(n) => ("created_in_netns", n.clone(), None),
            Source::NewBridge(n) => ("bridge", n.clone(), None),
            Source::VethOnBridge { bridge, host_name } => {
                ("veth_on_bridge", host_name.clone(), Some(bridge.clone()))
            }
        };
        SpecRecord {
            source_kind: source_kind.into(),
            source,
            bridge,
            mac: spec.mac.clone(),
            ipv4: spec.ipv4.clone(),
            ipv6: spec.ipv6.clone(),
            link_local: spec.link_local.clone(),
            routes: spec.routes.clone(),
            sysctls: spec.sysctls.clone(),
            master: spec.master.clone(),
            announce_count: spec.announce_count,
            announce_interval_ms: spec.announce_interval.as_millis() as u64,
        }
    }

    /// The spec to replay: the name it got, nothing announced.
    pub fn to_replay_spec(&self, name: &str) -> Spec {
        self.to_replay_spec_as(Destination::Name(name.to_string()))
    }

    /// The spec to replay with a destination as first given (a failed attach).
    pub fn to_replay_spec_as(&self, destination: Destination) -> Spec {
        let source = match self.source_kind.as_str() {
            "created_in_netns" => Source::CreatedInNamespace(self.source.clone()),
            "bridge" => Source::NewBridge(self.source.clone()),
            "veth_on_bridge" => Source::VethOnBridge {
                bridge: self.bridge.clone().unwrap_or_default(),
                host_name: self.source.clone(),
            },
            _ => Source::HostLink(self.source.clone()),
        };
        let mut spec = Spec::new(source, destination);
        spec.mac = self.mac.clone();
        spec.ipv4 = self.ipv4.clone();
        spec.ipv6 = self.ipv6.clone();
        spec.link_local = self.link_local.clone();
        spec.routes = self.routes.clone();
        spec.sysctls = self.sysctls.clone();
        spec.master = self.master.clone();
        spec.announce_count = 0;
        spec.announce_interval = Duration::from_millis(self.announce_interval_ms);
        spec
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Entry {
    NetnsAdd {
        name: String,
    },
    NetnsDel {
        netns: String,
    },
    Attach {
        netns: String,
        name: String,
        spec: Box<SpecRecord>,
        /// Unused since the announcer is kept in the namespace state; read for old journals.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        announcer: Option<crate::state::Announcer>,
    },
    /// An attach that failed and was rolled back: replayed too, so that whatever it consumed
    /// in the simulated kernel (random MACs, interface indices) is consumed again.
    AttachFailed {
        netns: String,
        /// `Some` for `--name`, else the prefix.
        name: Option<String>,
        prefix: Option<String>,
        spec: Box<SpecRecord>,
    },
    Detach {
        netns: String,
        name: String,
    },
    Gateway {
        netns: String,
        gateway: String,
    },
    /// A gateway route removed by a later process than the one that set it (G1, G4).
    DelRoute {
        netns: String,
        route: crate::state::StoredRoute,
    },
    /// SPEC D3: a vanished interface forgotten (registry only; replayed for naming).
    Forget {
        netns: String,
        name: String,
    },
}

/// The journal files of one state directory; holds the lock while alive.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    lock: Option<FileLock>,
}

impl Journal {
    /// Take the journal lock (blocking).
    pub fn open(dir: &Path) -> io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        let lock = FileLock::acquire(&dir.join("sim-journal.lock"))?;
        Ok(Journal {
            path: dir.join("sim-journal"),
            lock: Some(lock),
        })
    }

    /// Every entry; lines that do not parse are skipped (a crashed writer leaves at most one).
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    pub fn append(&self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_string(entry)?;
        line.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(line.as_bytes())?;
        f.sync_data()
    }

    /// Let other processes in (after the last append of this process).
    pub fn release(&mut self) {
        self.lock = None;
    }
}
