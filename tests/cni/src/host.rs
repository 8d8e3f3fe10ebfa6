//! What a plugin left in the test's host namespace and private state: veths, bridge ports,
//! addresses, neighbour entries, host-local reservations, netns mounts, libcni's result cache.
//! Read with `ip -j` (the same view an operator has) and the file system.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::command::Cmd;
use crate::error::{HarnessError, Result};

/// libcni's cache of ADD results (private to the test: a tmpfs on `/var/lib/cni`).
pub const CNI_CACHE_DIR: &str = "/var/lib/cni/results";
/// Where `ip netns` and Podman mount network namespaces (private: a tmpfs on `/run`).
pub const NETNS_DIR: &str = "/run/netns";

fn ip_json(what: &str, netns: Option<&Path>, args: &[&str]) -> Result<Value> {
    let cmd = match netns {
        Some(path) => Cmd::new(what, "nsenter")
            .arg(format!("--net={}", path.display()))
            .args(["ip", "-j"]),
        None => Cmd::new(what, "ip").arg("-j"),
    };
    let done = cmd.args(args).ok()?;
    let text = done.stdout.trim();
    if text.is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    serde_json::from_str(text).map_err(|e| HarnessError::Parse {
        what: what.into(),
        text: text.into(),
        reason: e.to_string(),
    })
}

fn names(links: &Value) -> Vec<String> {
    links
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.get("ifname")?.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Names of the veths in this (the test's host) namespace.
pub fn host_veths() -> Result<Vec<String>> {
    ip_json("list host veths", None, &["link", "show", "type", "veth"]).map(|v| names(&v))
}

/// Names of the ports of `bridge`.
pub fn bridge_ports(bridge: &str) -> Result<Vec<String>> {
    let links = ip_json("list links", None, &["link", "show"])?;
    Ok(links
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|l| l.get("master").and_then(Value::as_str) == Some(bridge))
                .filter_map(|l| l.get("ifname")?.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

/// A link as `ip -j addr` shows it.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub name: String,
    pub mac: String,
    pub mtu: u64,
    pub up: bool,
    pub addresses: Vec<String>,
    pub master: Option<String>,
}

fn link_views(value: &Value) -> Vec<LinkView> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| LinkView {
                    name: l["ifname"].as_str().unwrap_or_default().into(),
                    mac: l["address"].as_str().unwrap_or_default().into(),
                    mtu: l["mtu"].as_u64().unwrap_or_default(),
                    up: l["flags"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|x| x == "UP")),
                    addresses: l["addr_info"]
                        .as_array()
                        .map(|ai| {
                            ai.iter()
                                .filter_map(|a| {
                                    Some(format!(
                                        "{}/{}",
                                        a.get("local")?.as_str()?,
                                        a.get("prefixlen")?.as_u64()?
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    master: l["master"].as_str().map(String::from),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The links of the namespace at `netns` (`None`: the test's host namespace).
pub fn links(netns: Option<&Path>) -> Result<Vec<LinkView>> {
    ip_json("list links and addresses", netns, &["addr", "show"]).map(|v| link_views(&v))
}

/// One link by name, if present.
pub fn link(netns: Option<&Path>, name: &str) -> Result<Option<LinkView>> {
    Ok(links(netns)?.into_iter().find(|l| l.name == name))
}

/// The IPv4 routes of a namespace, as `ip -j route` prints them.
pub fn routes_v4(netns: Option<&Path>) -> Result<Vec<Value>> {
    ip_json("list routes", netns, &["-4", "route", "show"])
        .map(|v| v.as_array().cloned().unwrap_or_default())
}

/// A neighbour (ARP/NDP) entry of the test's host namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub dev: String,
    pub lladdr: Option<String>,
    pub state: Vec<String>,
}

/// The host's neighbour entry for `ip`, if any.
pub fn neighbour(ip: IpAddr) -> Result<Option<Neighbour>> {
    let v = ip_json(
        "read neighbour entry",
        None,
        &["neigh", "show", "to", &ip.to_string()],
    )?;
    Ok(v.as_array().and_then(|a| a.first()).map(|n| Neighbour {
        dev: n["dev"].as_str().unwrap_or_default().into(),
        lladdr: n["lladdr"].as_str().map(String::from),
        state: n["state"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
    }))
}

/// STP state of a bridge port (`/sys/class/net/<port>/brport/state`: 3 = forwarding); the
/// test's own sysfs shows its namespace.
pub fn bridge_port_state(port: &str) -> Option<u8> {
    std::fs::read_to_string(format!("/sys/class/net/{port}/brport/state"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `ip -d -j link show dev <name>` in `netns` (`None`: the test's host namespace): the link
/// with its details (`mtu`, `linkinfo`), as an operator reads it (SPEC L1, L6).
pub fn link_details(netns: Option<&Path>, name: &str) -> Result<Value> {
    let links = ip_json(
        "read link details",
        netns,
        &["-d", "link", "show", "dev", name],
    )?;
    Ok(links.get(0).cloned().unwrap_or(Value::Null))
}

/// `bridge -d -j link show dev <port>` in the test's host namespace: the port's flags
/// (`hairpin`, `isolated`, SPEC L2, L4).
pub fn bridge_port_details(port: &str) -> Result<Value> {
    let what = "read bridge port details";
    let done = Cmd::new(what, "bridge")
        .args(["-d", "-j", "link", "show", "dev", port])
        .ok()?;
    let text = done.stdout.trim();
    let ports: Value = serde_json::from_str(text).map_err(|e| HarnessError::Parse {
        what: what.into(),
        text: text.into(),
        reason: e.to_string(),
    })?;
    Ok(ports.get(0).cloned().unwrap_or(Value::Null))
}

/// Run `bridge <args>` in the test's host namespace (e.g. to change a port behind a plugin's
/// back before a CHECK).
pub fn run_bridge(args: &[&str]) -> Result<()> {
    Cmd::new(format!("bridge {}", args.join(" ")), "bridge")
        .args(args)
        .ok()
        .map(|_| ())
}

/// The IPv6 addresses of `name` in `netns` as `ip -j -6 addr` shows them, with their flags
/// (`tentative`, `dadfailed`, SPEC L5).
pub fn ipv6_addresses(netns: Option<&Path>, name: &str) -> Result<Vec<Value>> {
    let links = ip_json(
        "read IPv6 addresses",
        netns,
        &["-6", "addr", "show", "dev", name],
    )?;
    Ok(links[0]["addr_info"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// host-local reservations in `dir` (the network's data directory): `(address, content)`.
/// `lock` and `last_reserved_ip.*` are bookkeeping, not reservations.
pub fn reservations(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, String)> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lock" && !n.starts_with("last_reserved_ip"))
        .map(|n| {
            let content = std::fs::read_to_string(dir.join(&n)).unwrap_or_default();
            (n, content)
        })
        .collect();
    found.sort();
    found
}

fn dir_names(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// What is left after every container was removed: none of it may remain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    pub host_veths: Vec<String>,
    pub reservations: Vec<(String, String)>,
    pub netns: Vec<String>,
    pub cni_cache: Vec<String>,
    /// nsplumb-cni's records and intents ([`crate::nsplumb_state::records`]).
    pub records: Vec<String>,
    /// nsplumb-cni's announcing processes still alive.
    pub announcers: Vec<u32>,
}

impl Leftovers {
    /// Read them now; `reservation_dir` is the network's host-local directory.
    pub fn collect(reservation_dir: &Path) -> Result<Leftovers> {
        Ok(Leftovers {
            host_veths: host_veths()?,
            reservations: reservations(reservation_dir),
            netns: dir_names(NETNS_DIR),
            cni_cache: dir_names(CNI_CACHE_DIR),
            records: crate::nsplumb_state::records(),
            announcers: crate::nsplumb_state::announcers(),
        })
    }

    pub fn is_clean(&self) -> bool {
        *self == Leftovers::default()
    }

    /// Poll until clean or `within` elapsed (a namespace's links go when the kernel's
    /// `cleanup_net` runs, shortly after the last process left it); the last reading.
    pub fn wait_clean(reservation_dir: &Path, within: Duration) -> Result<Leftovers> {
        let deadline = Instant::now() + within;
        loop {
            let now = Leftovers::collect(reservation_dir)?;
            if now.is_clean() || Instant::now() > deadline {
                return Ok(now);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
