//! The outcome of a successful attach: what is now in the namespace.

use crate::types::{IfIndex, MacAddr, NetnsRef, VlanSpec};
use crate::validate::AnnounceSettings;
use ipnet::{Ipv4Net, Ipv6Net};

/// How the link came to be in the namespace; decides what detach does (SPEC D1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Origin {
    /// Moved from the host; detach moves it back under its source name.
    MovedFromHost,
    /// Attached in the host namespace itself (N1): nothing moves.
    InHost,
    /// Already in the namespace; detach renames it back.
    CreatedInNamespace,
    /// Created by attach; detach deletes it.
    NewBridge,
    /// Created by attach with its host end `host_index` on a bridge; detach deletes the pair.
    NewVeth { host_index: IfIndex },
}

/// An attached interface as the caller sees it (SPEC A8: `ipv6` is `None` if it was dropped).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attached {
    pub netns: NetnsRef,
    pub name: String,
    pub source: String,
    pub ifindex: IfIndex,
    pub mac: Option<MacAddr>,
    #[serde(with = "crate::types::opt_text")]
    pub ipv4: Option<Ipv4Net>,
    #[serde(with = "crate::types::opt_text")]
    pub ipv6: Option<Ipv6Net>,
    /// A8: the requested IPv6 address, when it vanished after the sysctls and was dropped.
    #[serde(with = "crate::types::opt_text")]
    pub ipv6_dropped: Option<Ipv6Net>,
    /// Destination name of the master bridge.
    pub master: Option<String>,
    pub origin: Origin,
    pub announce: AnnounceSettings,
    pub warnings: Vec<String>,
    /// SPEC L1, L6: the interface's MTU after attach (`None` in records older than the link
    /// options).
    #[serde(default)]
    pub mtu: Option<u32>,
    /// SPEC L2, L6: hairpin mode was set on the host end's bridge port.
    #[serde(default)]
    pub hairpin: bool,
    /// SPEC L4, L6: port isolation was set on the host end's bridge port.
    #[serde(default)]
    pub isolated: bool,
    /// SPEC L3, L6: the VLANs added to the host end's bridge port.
    #[serde(default)]
    pub vlans: Vec<VlanSpec>,
    /// SPEC L1: the MTU a link moved in from the host had before attach changed it; detach
    /// gives it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_mtu: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // SPEC: L6
    #[test]
    fn a_record_from_before_the_link_options_reads_with_none_set() {
        let old = r#"{"netns":"/run/netns/ctr1","name":"eth0","source":"veth0","ifindex":2,
            "mac":null,"ipv4":null,"ipv6":null,"ipv6_dropped":null,"master":null,
            "origin":"moved_from_host","announce":{"count":3,"interval_ms":1000},"warnings":[]}"#;
        let a: Attached = serde_json::from_str(old).unwrap();
        assert_eq!(
            (a.mtu, a.hairpin, a.isolated, a.vlans.len(), a.original_mtu),
            (None, false, false, 0, None)
        );
        let mut moved = a.clone();
        moved.original_mtu = Some(1500);
        let text = serde_json::to_string(&moved).unwrap();
        assert!(text.contains(r#""original_mtu":1500"#), "{text}");
        assert_eq!(serde_json::from_str::<Attached>(&text).unwrap(), moved);
    }

    #[test]
    fn an_attached_interface_reads_back_from_its_json() {
        let attached = Attached {
            netns: NetnsRef::path("/run/netns/ctr1"),
            name: "eth0".into(),
            source: "vnsp0001".into(),
            ifindex: 2,
            mac: Some(MacAddr([2, 0x42, 0xc0, 0, 2, 10])),
            ipv4: Some("192.0.2.10/24".parse().unwrap()),
            ipv6: None,
            ipv6_dropped: Some("fd00::10/64".parse().unwrap()),
            master: None,
            origin: Origin::NewVeth { host_index: 7 },
            announce: AnnounceSettings {
                count: 3,
                interval: Duration::from_millis(1000),
            },
            warnings: vec!["w".into()],
            mtu: Some(1400),
            hairpin: true,
            isolated: false,
            vlans: vec![VlanSpec::tagged(20)],
            original_mtu: None,
        };
        let text = serde_json::to_string(&attached).unwrap();
        assert!(text.contains(r#""ipv4":"192.0.2.10/24""#), "{text}");
        assert!(text.contains(r#""mac":"02:42:c0:00:02:0a""#), "{text}");
        assert_eq!(serde_json::from_str::<Attached>(&text).unwrap(), attached);
        assert!(text.contains(r#""mtu":1400,"hairpin":true"#), "{text}");
        assert!(!text.contains("original_mtu"), "{text}");
        let bad = text.replace("192.0.2.10/24", "192.0.2.300/24");
        let e = serde_json::from_str::<Attached>(&bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("192.0.2.300/24"), "{e}");
    }
}
