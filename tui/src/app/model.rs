//! The TUI state, the messages that change it and the effects it asks for.

use super::form::AttachForm;
use crossterm::event::{KeyEvent, MouseEvent};
use nsplumb_core::{Errno, Event, LinkStats, MacAddr, NetnsRef, Op, Spec, Timestamp};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;

pub const LOG_CAPACITY: usize = 500;
pub const HISTORY: usize = 40;

/// A short label for a namespace: `host`, `ctr1` (for /run/netns/ctr1), `pid:123`,
/// `docker:abc`, or the path.
pub fn ns_label(n: &NetnsRef) -> String {
    match n {
        NetnsRef::Host => "host".into(),
        NetnsRef::Path(p) => {
            if let Some(rest) = p.strip_prefix("/run/netns/") {
                rest.to_string()
            } else if let Some(pid) = p
                .strip_prefix("/proc/")
                .and_then(|r| r.strip_suffix("/ns/net"))
            {
                format!("pid:{pid}")
            } else if let Some(d) = p
                .strip_prefix("/var/run/docker/netns/")
                .or_else(|| p.strip_prefix("/run/docker/netns/"))
            {
                format!("docker:{d}")
            } else {
                p.to_string()
            }
        }
    }
}

/// One link as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    pub netns: NetnsRef,
    pub index: u32,
    pub name: String,
    pub kind: String,
    pub up: bool,
    pub lower_up: bool,
    pub mac: Option<String>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub master: Option<String>,
    pub peer: Option<String>,
    /// The source name when nsplumb manages this link.
    pub managed: Option<String>,
    /// SPEC L1, L6.
    pub mtu: u32,
    /// SPEC L2, L4, L6: a bridge port's flags as [`port_label`] shows them; `None` for a link
    /// that is not a bridge port.
    pub port: Option<String>,
}

/// A bridge port's flags, short: `hp` (hairpin), `iso` (isolated), both, or `port` for a port
/// with neither.
pub fn port_label(flags: nsplumb_core::PortFlags) -> String {
    match (flags.hairpin, flags.isolated) {
        (true, true) => "hp,iso".into(),
        (true, false) => "hp".into(),
        (false, true) => "iso".into(),
        (false, false) => "port".into(),
    }
}

impl LinkRow {
    pub fn key(&self) -> (NetnsRef, String) {
        (self.netns.clone(), self.name.clone())
    }
    pub fn state(&self) -> &'static str {
        match (self.up, self.lower_up) {
            (true, true) => "UP",
            (true, false) => "UP,NO-CARRIER",
            (false, _) => "DOWN",
        }
    }
}

/// Everything read from the backend in one refresh.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub namespaces: Vec<NetnsRef>,
    pub links: Vec<LinkRow>,
    pub stats: Vec<((NetnsRef, String), LinkStats)>,
    /// Backend time of the reading.
    pub at: Timestamp,
}

/// Counters, rates and their history for the sparkline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatHist {
    pub last: LinkStats,
    pub at: Timestamp,
    pub rx_rate: f64,
    pub tx_rate: f64,
    /// rx+tx bytes per second, oldest first.
    pub history: VecDeque<u64>,
}

/// Announcement progress of one interface (SPEC S9).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub sent: u32,
    pub of: u32,
    pub next_due: Option<Timestamp>,
    pub stopped: Option<String>,
    pub phase: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Interfaces,
    Stats,
    Announce,
    Log,
}

impl Tab {
    pub const ALL: [Tab; 4] = [Tab::Interfaces, Tab::Stats, Tab::Announce, Tab::Log];
    pub fn title(self) -> &'static str {
        match self {
            Tab::Interfaces => "Interfaces",
            Tab::Stats => "Statistics",
            Tab::Announce => "Announce",
            Tab::Log => "Events",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Sysctl,
    Mac,
    Gateway,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub netns: NetnsRef,
    pub iface: String,
    pub input: String,
    pub error: Option<String>,
}

impl Prompt {
    pub fn title(&self) -> String {
        match self.kind {
            PromptKind::Sysctl => format!(
                "Set sysctl on {} in {} (net.X.Y.IFNAME.Z=V)",
                self.iface,
                self.netns.short_name()
            ),
            PromptKind::Mac => format!(
                "Change MAC of {} in {}",
                self.iface,
                self.netns.short_name()
            ),
            PromptKind::Gateway => {
                format!("Set gateway in {} (IP)", self.netns.short_name())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    Form(Box<AttachForm>),
    Prompt(Prompt),
    /// Fault injection menu (simulator): the selected entry.
    Fault(usize),
}

/// What the effect runner does for the pure update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Attach {
        netns: NetnsRef,
        spec: Box<Spec>,
        gateway: Option<IpAddr>,
    },
    Detach {
        netns: NetnsRef,
        name: String,
    },
    SetSysctl {
        netns: NetnsRef,
        iface: String,
        path: String,
        value: String,
    },
    SetMac {
        netns: NetnsRef,
        iface: String,
        mac: MacAddr,
    },
    SetGateway {
        netns: NetnsRef,
        gateway: IpAddr,
    },
    InjectFault {
        op: Op,
        errno: Errno,
    },
    Refresh,
    Quit,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Snapshot(Snapshot),
    Event(Box<Event>),
    /// An effect finished: a line for the status bar and the log.
    Done(Result<String, String>),
    /// Backend time moved (drives "next send in").
    Tick(Timestamp),
}

#[derive(Debug, Clone)]
pub struct Model {
    pub backend_label: String,
    /// Simulator: fault injection available.
    pub sim: bool,
    pub namespaces: Vec<NetnsRef>,
    pub links: Vec<LinkRow>,
    /// Only the links of this namespace are shown (`n` cycles), `None` = all.
    pub ns_filter: Option<NetnsRef>,
    /// Indices into `links` of the rows shown in the interfaces and statistics views.
    pub view: Vec<usize>,
    pub stats: HashMap<(NetnsRef, String), StatHist>,
    pub progress: BTreeMap<(NetnsRef, String), Progress>,
    pub log: VecDeque<String>,
    pub now: Timestamp,
    pub tab: Tab,
    pub selected: usize,
    pub offset: usize,
    pub mode: Mode,
    pub status: Option<(bool, String)>,
    pub size: (u16, u16),
    pub quit: bool,
    /// The bridge offered by default for new veths.
    pub default_bridge: String,
}

impl Model {
    pub fn new(backend_label: &str, sim: bool) -> Model {
        Model {
            backend_label: backend_label.to_string(),
            sim,
            namespaces: Vec::new(),
            links: Vec::new(),
            ns_filter: None,
            view: Vec::new(),
            stats: HashMap::new(),
            progress: BTreeMap::new(),
            log: VecDeque::new(),
            now: Timestamp::ZERO,
            tab: Tab::Interfaces,
            selected: 0,
            offset: 0,
            mode: Mode::Normal,
            status: None,
            size: (120, 40),
            quit: false,
            default_bridge: if sim { "br0".into() } else { String::new() },
        }
    }

    pub fn push_log(&mut self, line: String) {
        if self.log.len() >= LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    /// Recompute the shown rows after the links or the filter changed.
    pub fn rebuild_view(&mut self) {
        if let Some(f) = &self.ns_filter {
            if !self.namespaces.contains(f) {
                self.ns_filter = None;
            }
        }
        self.view = match &self.ns_filter {
            None => (0..self.links.len()).collect(),
            Some(f) => self
                .links
                .iter()
                .enumerate()
                .filter(|(_, l)| &l.netns == f)
                .map(|(i, _)| i)
                .collect(),
        };
    }

    /// The shown link at a row of the interfaces or statistics view.
    pub fn link_at(&self, row: usize) -> Option<&LinkRow> {
        self.links.get(*self.view.get(row)?)
    }

    /// Number of selectable rows in the current tab.
    pub fn row_count(&self) -> usize {
        match self.tab {
            Tab::Interfaces | Tab::Stats => self.view.len(),
            Tab::Announce => self.progress.len(),
            Tab::Log => self.log.len(),
        }
    }

    pub fn selected_link(&self) -> Option<&LinkRow> {
        match self.tab {
            Tab::Interfaces | Tab::Stats => self.link_at(self.selected),
            Tab::Announce => {
                let (ns, name) = self.progress.keys().nth(self.selected)?;
                self.links
                    .iter()
                    .find(|l| &l.netns == ns && &l.name == name)
            }
            Tab::Log => None,
        }
    }

    /// The namespace the user is looking at (for the attach form's default).
    pub fn selected_namespace(&self) -> Option<NetnsRef> {
        if let Some(l) = self.selected_link().filter(|l| !l.netns.is_host()) {
            return Some(l.netns.clone());
        }
        self.namespaces.iter().find(|n| !n.is_host()).cloned()
    }
}
