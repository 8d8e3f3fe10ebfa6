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
#[serde(rename_all = "snake_case", deny_unknown_fields)]
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

/// Link option bounds (SPEC L1, L3, L5): the kernel's `ETH_MIN_MTU`..`ETH_MAX_MTU`, IPv6's
/// minimum link MTU (RFC 8200; the kernel drops IPv6 from a link below it), the 802.1Q IDs a
/// port can carry, and how long an attach waits for DAD.
pub const MIN_MTU: u32 = 68;
pub const MAX_MTU: u32 = 65535;
pub const MIN_IPV6_MTU: u32 = 1280;
pub const MIN_VLAN: u16 = 1;
pub const MAX_VLAN: u16 = 4094;
pub const DEFAULT_DAD_TIMEOUT: Duration = Duration::from_secs(3);
pub const MIN_DAD_TIMEOUT: Duration = Duration::from_millis(100);
pub const MAX_DAD_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// SPEC L1: the interface's MTU (and the host end's, for a veth nsplumb creates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// SPEC L2: hairpin mode on the host end's bridge port.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hairpin: bool,
    /// SPEC L4: port isolation on the host end's bridge port.
    #[serde(default, skip_serializing_if = "is_false")]
    pub isolated: bool,
    /// SPEC L3: the port's PVID, untagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// SPEC L3: tagged VLANs on the port, each `"10"` or a range `"20-30"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlan_trunk: Vec<String>,
    /// SPEC L3: keep the default VLAN 1 on the port (removed otherwise).
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_default_vlan: bool,
    /// SPEC L5: duplicate address detection for the IPv6 address (NODAD otherwise).
    #[serde(default, skip_serializing_if = "is_false")]
    pub dad: bool,
    /// SPEC L5: how long the attach waits for DAD ([`DEFAULT_DAD_TIMEOUT`] when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dad_timeout_ms: Option<u64>,
}

// Serialized only when set, so that a record without options reads as it did before them.
fn is_false(b: &bool) -> bool {
    !*b
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
            mtu: None,
            hairpin: false,
            isolated: false,
            vlan: None,
            vlan_trunk: Vec::new(),
            keep_default_vlan: false,
            dad: false,
            dad_timeout_ms: None,
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

    // SPEC: L1
    // SPEC: L3
    // SPEC: L5
    #[test]
    fn link_options_read_back_and_are_left_out_when_unset() {
        let mut spec = Spec::new(
            Source::VethOnBridge {
                bridge: "br0".into(),
                host_name: "vnsp0001".into(),
            },
            Destination::Prefix("eth".into()),
        );
        let plain = serde_json::to_string(&spec).unwrap();
        for key in ["mtu", "hairpin", "isolated", "vlan", "keep_default", "dad"] {
            assert!(!plain.contains(key), "{key} in {plain}");
        }
        spec.mtu = Some(1400);
        spec.hairpin = true;
        spec.isolated = true;
        spec.vlan = Some(10);
        spec.vlan_trunk = vec!["20".into(), "30-40".into()];
        spec.keep_default_vlan = true;
        spec.dad = true;
        spec.dad_timeout_ms = Some(500);
        let text = serde_json::to_string(&spec).unwrap();
        assert!(text.contains(r#""vlan_trunk":["20","30-40"]"#), "{text}");
        assert_eq!(serde_json::from_str::<Spec>(&text).unwrap(), spec);
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

#[cfg(test)]
mod source_serde_tests {
    use super::Source;

    /// A key nsplumb never writes inside a source is an error, not dropped (SPEC R3; found by
    /// the state_file fuzz target: `veth_on_bridge` with a `pid` read as if it were not there).
    // SPEC: R3
    #[test]
    fn an_unknown_key_inside_a_source_is_an_error() {
        let good = r#"{"veth_on_bridge":{"bridge":"br0","host_name":"vh0"}}"#;
        assert!(serde_json::from_str::<Source>(good).is_ok());
        let bad = r#"{"veth_on_bridge":{"bridge":"br0","host_name":"vh0","pid":1}}"#;
        let err = serde_json::from_str::<Source>(bad).unwrap_err().to_string();
        assert!(err.contains("pid"), "{err}");
    }
}
