//! What a caller asks for when attaching an interface (moby: the interface options).

use std::time::Duration;

/// Where the interface's name inside the namespace comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// Exactly this name.
    Name(String),
    /// `prefix` + the lowest free number (SPEC N2).
    Prefix(String),
}

/// How the link to attach is obtained (SPEC A2, V10).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// An existing link in the host namespace, moved into the target namespace.
    HostLink(String),
    /// A link that already lives in the target namespace: no host lookup, no move.
    CreatedInNamespace(String),
    /// A bridge created inside the target namespace, named by this source name.
    NewBridge(String),
    /// The fast path: a veth pair whose container end is born in the namespace and whose host
    /// end (named `host_name`) is enslaved to `bridge` in the host namespace and up.
    VethOnBridge { bridge: String, host_name: String },
}

impl Source {
    /// The source name: the link's name before attach, and its name again after detach.
    pub fn name(&self) -> &str {
        match self {
            Source::HostLink(n) | Source::CreatedInNamespace(n) | Source::NewBridge(n) => n,
            Source::VethOnBridge { host_name, .. } => host_name,
        }
    }
}

/// Announce defaults (SPEC V7, V8): three messages, one second apart, as RFC 5227 and 4861.
pub const DEFAULT_ANNOUNCE_COUNT: u32 = 3;
pub const DEFAULT_ANNOUNCE_INTERVAL: Duration = Duration::from_secs(1);
pub const MAX_ANNOUNCE_COUNT: u32 = 3;
pub const MIN_ANNOUNCE_INTERVAL: Duration = Duration::from_millis(100);
pub const MAX_ANNOUNCE_INTERVAL: Duration = Duration::from_secs(2);

/// An attach request as given by the caller, unvalidated.
///
/// Text fields stay text so that every problem can be reported at once, naming the field and
/// the value (SPEC V1–V10); [`crate::validate`] turns this into a [`crate::ValidSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub source: Source,
    pub destination: Destination,
    /// `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`.
    pub mac: Option<String>,
    /// CIDR, e.g. `192.0.2.10/24`.
    pub ipv4: Option<String>,
    /// CIDR, e.g. `fd00::10/64`.
    pub ipv6: Option<String>,
    pub link_local: Vec<String>,
    pub routes: Vec<String>,
    /// `net.X.Y.IFNAME.Z=V`.
    pub sysctls: Vec<String>,
    /// Source name of a bridge interface already attached in the same namespace.
    pub master: Option<String>,
    pub announce_count: u32,
    pub announce_interval: Duration,
}

impl Spec {
    /// A spec with defaults for everything but where the link comes from and its name.
    pub fn new(source: Source, destination: Destination) -> Spec {
        Spec {
            source,
            destination,
            mac: None,
            ipv4: None,
            ipv6: None,
            link_local: Vec::new(),
            routes: Vec::new(),
            sysctls: Vec::new(),
            master: None,
            announce_count: DEFAULT_ANNOUNCE_COUNT,
            announce_interval: DEFAULT_ANNOUNCE_INTERVAL,
        }
    }
}
