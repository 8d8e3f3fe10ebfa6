//! What a caller asks for when attaching an interface (moby: the interface options).

use std::time::Duration;

/// Where the interface's name inside the namespace comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// Exactly this name.
    Name(String),
    /// `prefix` + the lowest free number (SPEC N2).
    Prefix(String),
}

/// How the link to attach is obtained (SPEC A2, V10).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
///
/// Serialized as it is given (text fields stay text), so a record of a request can be read
/// back and validated again; fields missing from an older record take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub source: Source,
    pub destination: Destination,
    /// `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`.
    #[serde(default)]
    pub mac: Option<String>,
    /// CIDR, e.g. `192.0.2.10/24`.
    #[serde(default)]
    pub ipv4: Option<String>,
    /// CIDR, e.g. `fd00::10/64`.
    #[serde(default)]
    pub ipv6: Option<String>,
    #[serde(default)]
    pub link_local: Vec<String>,
    #[serde(default)]
    pub routes: Vec<String>,
    /// `net.X.Y.IFNAME.Z=V`.
    #[serde(default)]
    pub sysctls: Vec<String>,
    /// Source name of a bridge interface already attached in the same namespace.
    #[serde(default)]
    pub master: Option<String>,
    #[serde(default = "default_announce_count")]
    pub announce_count: u32,
    #[serde(
        rename = "announce_interval_ms",
        with = "crate::types::millis",
        default = "default_announce_interval"
    )]
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

fn default_announce_count() -> u32 {
    DEFAULT_ANNOUNCE_COUNT
}

fn default_announce_interval() -> Duration {
    DEFAULT_ANNOUNCE_INTERVAL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_reads_back_as_written_and_missing_fields_take_their_defaults() {
        let mut spec = Spec::new(
            Source::VethOnBridge {
                bridge: "br0".into(),
                host_name: "vnsp0001".into(),
            },
            Destination::Prefix("eth".into()),
        );
        spec.ipv4 = Some("192.0.2.10/24".into());
        spec.announce_interval = Duration::from_millis(250);
        let text = serde_json::to_string(&spec).unwrap();
        assert!(text.contains(r#""announce_interval_ms":250"#), "{text}");
        assert_eq!(serde_json::from_str::<Spec>(&text).unwrap(), spec);

        let minimal = r#"{"source":{"host_link":"veth0"},"destination":{"name":"eth0"}}"#;
        let read: Spec = serde_json::from_str(minimal).unwrap();
        assert_eq!(
            read,
            Spec::new(
                Source::HostLink("veth0".into()),
                Destination::Name("eth0".into())
            )
        );
    }

    // SPEC: R3
    #[test]
    fn an_unknown_source_kind_or_field_is_an_error_naming_it() {
        let kind = r#"{"source":{"hostlink":"veth0"},"destination":{"name":"eth0"}}"#;
        let e = serde_json::from_str::<Spec>(kind).unwrap_err().to_string();
        assert!(e.contains("unknown variant `hostlink`"), "{e}");
        let field =
            r#"{"source":{"host_link":"veth0"},"destination":{"name":"eth0"},"colour":"blue"}"#;
        let e = serde_json::from_str::<Spec>(field).unwrap_err().to_string();
        assert!(e.contains("unknown field `colour`"), "{e}");
    }
}
