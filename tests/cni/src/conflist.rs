//! Network configurations with the reference bridge plugin's keys, the plugin type a parameter:
//! the same conflist drives the bridge plugin today and nsplumb-cni once its type is changed
//! (SPEC C2). Addresses are limited to documentation and ULA ranges.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use crate::error::{HarnessError, Result};

/// The only prefixes a test network may use.
pub const ALLOWED_PREFIXES: &[&str] = &["192.0.2.0/24", "198.51.100.0/24", "fd00::/8"];

/// The CNI version of the conflists: Podman 4.3 speaks libcni 1.1.2, whose highest is 1.0.0
/// (a 1.1.0 conflist makes it reject the result).
pub const DEFAULT_CNI_VERSION: &str = "1.0.0";

/// One host-local range set (a subnet, optionally narrowed).
#[derive(Debug, Clone)]
pub struct AddressRange {
    pub subnet: IpNet,
    pub range_start: Option<IpAddr>,
    pub range_end: Option<IpAddr>,
    pub gateway: Option<IpAddr>,
}

impl AddressRange {
    /// A range over `subnet`, which must lie in [`ALLOWED_PREFIXES`].
    pub fn new(subnet: &str) -> Result<AddressRange> {
        let parsed: IpNet =
            subnet
                .parse()
                .map_err(|e: ipnet::AddrParseError| HarnessError::Parse {
                    what: "test subnet".into(),
                    text: subnet.into(),
                    reason: e.to_string(),
                })?;
        let allowed = ALLOWED_PREFIXES
            .iter()
            .map(|p| p.parse::<IpNet>().expect("allowed prefix"))
            .any(|p| p.contains(&parsed));
        if !allowed {
            return Err(HarnessError::Invalid {
                what: format!("test subnet {subnet}"),
                reason: format!("not inside {}", ALLOWED_PREFIXES.join(", ")),
            });
        }
        Ok(AddressRange {
            subnet: parsed,
            range_start: None,
            range_end: None,
            gateway: None,
        })
    }

    /// Only the addresses `start..=end` are handed out.
    pub fn narrowed(mut self, start: IpAddr, end: IpAddr) -> AddressRange {
        assert!(
            self.subnet.contains(&start) && self.subnet.contains(&end),
            "range {start}..{end} outside {}",
            self.subnet
        );
        self.range_start = Some(start);
        self.range_end = Some(end);
        self
    }

    /// The gateway the bridge plugin puts on the bridge: the given one, else the first host.
    pub fn gateway(&self) -> IpAddr {
        self.gateway.unwrap_or_else(|| match self.subnet {
            IpNet::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) + 1)),
            IpNet::V6(n) => IpAddr::V6((u128::from(n.network()) + 1).into()),
        })
    }

    fn to_json(&self) -> Value {
        let mut range = Map::new();
        range.insert("subnet".into(), json!(self.subnet.to_string()));
        if let Some(ip) = self.range_start {
            range.insert("rangeStart".into(), json!(ip.to_string()));
        }
        if let Some(ip) = self.range_end {
            range.insert("rangeEnd".into(), json!(ip.to_string()));
        }
        if let Some(ip) = self.gateway {
            range.insert("gateway".into(), json!(ip.to_string()));
        }
        json!([Value::Object(range)])
    }
}

/// A bridge network: the bridge plugin's keys with host-local IPAM keeping its reservations in
/// `data_dir` (inside the test's work directory, never `/var/lib/cni/networks`).
#[derive(Debug, Clone)]
pub struct BridgeNetwork {
    pub name: String,
    pub plugin_type: String,
    pub cni_version: String,
    pub bridge: String,
    pub is_gateway: bool,
    pub is_default_gateway: bool,
    pub ip_masq: bool,
    pub hairpin_mode: bool,
    pub mtu: Option<u32>,
    pub ranges: Vec<AddressRange>,
    pub routes: Vec<IpNet>,
    pub data_dir: PathBuf,
    /// More plugin keys (e.g. nsplumb's `announce`), merged last.
    pub extra: Map<String, Value>,
}

impl BridgeNetwork {
    /// `isGateway`, a default route, one range: the conflist of the benchmark and of
    /// most tests.
    pub fn new(
        name: &str,
        plugin_type: &str,
        bridge: &str,
        range: AddressRange,
        data_dir: &Path,
    ) -> BridgeNetwork {
        BridgeNetwork {
            name: name.into(),
            plugin_type: plugin_type.into(),
            cni_version: DEFAULT_CNI_VERSION.into(),
            bridge: bridge.into(),
            is_gateway: true,
            is_default_gateway: false,
            ip_masq: false,
            hairpin_mode: false,
            mtu: None,
            ranges: vec![range],
            routes: vec!["0.0.0.0/0".parse().expect("default route")],
            data_dir: data_dir.to_path_buf(),
            extra: Map::new(),
        }
    }

    /// The gateway of the first IPv4 range.
    pub fn gateway_v4(&self) -> Ipv4Addr {
        self.ranges
            .iter()
            .find_map(|r| match r.gateway() {
                IpAddr::V4(ip) => Some(ip),
                IpAddr::V6(_) => None,
            })
            .expect("network has an IPv4 range")
    }

    /// The plugin object (what goes in `plugins[]`).
    pub fn plugin_object(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("type".into(), json!(self.plugin_type));
        obj.insert("bridge".into(), json!(self.bridge));
        obj.insert("isGateway".into(), json!(self.is_gateway));
        obj.insert("isDefaultGateway".into(), json!(self.is_default_gateway));
        obj.insert("ipMasq".into(), json!(self.ip_masq));
        obj.insert("hairpinMode".into(), json!(self.hairpin_mode));
        if let Some(mtu) = self.mtu {
            obj.insert("mtu".into(), json!(mtu));
        }
        let ranges: Vec<Value> = self.ranges.iter().map(AddressRange::to_json).collect();
        let routes: Vec<Value> = self
            .routes
            .iter()
            .map(|r| json!({ "dst": r.to_string() }))
            .collect();
        obj.insert(
            "ipam".into(),
            json!({
                "type": "host-local",
                "dataDir": self.data_dir.display().to_string(),
                "ranges": ranges,
                "routes": routes,
            }),
        );
        for (k, v) in &self.extra {
            obj.insert(k.clone(), v.clone());
        }
        Value::Object(obj)
    }

    /// The network configuration list a runtime reads.
    pub fn conflist(&self) -> Value {
        json!({
            "cniVersion": self.cni_version,
            "name": self.name,
            "plugins": [self.plugin_object()],
        })
    }

    /// The request configuration of a direct call: the plugin object plus `name` and
    /// `cniVersion`, as a runtime derives it from the conflist.
    pub fn request_config(&self) -> Value {
        let mut obj = self.plugin_object();
        if let Value::Object(map) = &mut obj {
            map.insert("cniVersion".into(), json!(self.cni_version));
            map.insert("name".into(), json!(self.name));
        }
        obj
    }

    /// Write `<dir>/<file_name>`; returns its path.
    pub fn write_conflist(&self, dir: &Path, file_name: &str) -> Result<PathBuf> {
        let path = dir.join(file_name);
        let text = serde_json::to_string_pretty(&self.conflist()).expect("conflist serializes");
        std::fs::write(&path, text).map_err(HarnessError::io("write conflist", &path))?;
        Ok(path)
    }

    /// host-local's directory of this network's reservations.
    pub fn reservation_dir(&self) -> PathBuf {
        self.data_dir.join(&self.name)
    }
}
