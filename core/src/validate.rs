//! SPEC V1–V10 and L1–L5: every field checked before any kernel call; all problems reported
//! at once.

mod link_options;

pub use link_options::{needs_a_veth_on_a_bridge, PortOptions, VlanPlan, DEFAULT_VLAN};

use crate::naming::MAX_IFNAME_LEN;
use crate::spec::{
    Destination, Source, Spec, MAX_ANNOUNCE_COUNT, MAX_ANNOUNCE_INTERVAL, MIN_ANNOUNCE_INTERVAL,
};
use crate::types::MacAddr;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// One rejected field: which, what value, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // V7/V8 and "hairpin needs a veth on a bridge" (L2–L4) have fixed wordings that read
        // as a sentence of their own.
        if self.field == "announce_count"
            || self.field == "announce_interval_ms"
            || self.reason.ends_with(link_options::NEEDS_A_VETH)
        {
            return f.write_str(&self.reason);
        }
        write!(f, "{} {:?}: {}", self.field, self.value, self.reason)
    }
}

/// Every problem found in a [`Spec`] (SPEC: several invalid fields → one error with all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub struct InvalidSpec {
    pub problems: Vec<FieldError>,
}

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid interface spec: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A sysctl to apply, split so that the interface name can be put in (SPEC V6, A7).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SysctlSetting {
    /// `net`, family, group, (IFNAME), leaf.
    pub parts: [String; 5],
    pub value: String,
}

impl SysctlSetting {
    /// The path below `/proc/sys` for interface `ifname`.
    pub fn path_for(&self, ifname: &str) -> String {
        let p = &self.parts;
        format!("{}/{}/{}/{}/{}", p[0], p[1], p[2], ifname, p[4])
    }
}

/// Announcement settings (SPEC V7, V8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnounceSettings {
    pub count: u32,
    #[serde(rename = "interval_ms", with = "crate::types::millis")]
    pub interval: Duration,
}

/// A spec that passed validation: typed, normalised, safe to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSpec {
    pub source: Source,
    pub destination: Destination,
    pub mac: Option<MacAddr>,
    pub ipv4: Option<Ipv4Net>,
    pub ipv6: Option<Ipv6Net>,
    pub link_local: Vec<IpNet>,
    pub routes: Vec<IpNet>,
    pub sysctls: Vec<SysctlSetting>,
    pub master: Option<String>,
    pub announce: AnnounceSettings,
    /// SPEC L1.
    pub mtu: Option<u32>,
    /// SPEC L2–L4: the host end's bridge port.
    pub port: PortOptions,
    /// SPEC L5: DAD on, with this timeout.
    pub dad: Option<Duration>,
}

/// Validate everything that can be checked without the kernel (SPEC A1, V1–V8, V10, L1–L5).
/// The master (V9) needs the namespace registry and is resolved by the caller.
pub fn validate(spec: &Spec) -> Result<ValidSpec, InvalidSpec> {
    let mut problems = Vec::new();
    let mut bad = |field: &'static str, value: &str, reason: String| {
        problems.push(FieldError {
            field,
            value: value.to_string(),
            reason,
        })
    };

    // V1 / V10: the source and, for the fast path, the bridge.
    match &spec.source {
        Source::VethOnBridge { bridge, host_name } => {
            if let Err(r) = check_ifname(bridge) {
                bad("veth_on_bridge", bridge, r);
            }
            if let Err(r) = check_ifname(host_name) {
                bad("source", host_name, r);
            }
        }
        other => {
            if let Err(r) = check_ifname(other.name()) {
                bad("source", other.name(), r);
            }
        }
    }

    // V2
    match &spec.destination {
        Destination::Name(n) => {
            if let Err(r) = check_ifname(n) {
                bad("name", n, r);
            }
        }
        Destination::Prefix(p) => {
            if let Err(r) = check_name_chars(p, MAX_IFNAME_LEN - 1) {
                bad("prefix", p, r);
            }
        }
    }

    // V3
    let mac = spec
        .mac
        .as_deref()
        .and_then(|m| match m.parse::<MacAddr>() {
            Err(e) => {
                bad("mac", m, e.to_string());
                None
            }
            Ok(mac) if mac.is_multicast() => {
                bad("mac", m, "must be unicast (I/G bit clear)".into());
                None
            }
            Ok(mac) if mac.is_zero() => {
                bad("mac", m, "must not be all zero".into());
                None
            }
            Ok(mac) => Some(mac),
        });

    // V4
    let ipv4 = spec.ipv4.as_deref().and_then(|s| match parse_cidr(s) {
        Err(r) => {
            bad("ipv4", s, r);
            None
        }
        Ok(net) => match as_ipv4(net) {
            Some(v4) => Some(v4),
            None => {
                bad("ipv4", s, "is not an IPv4 address".into());
                None
            }
        },
    });
    let ipv6 = spec.ipv6.as_deref().and_then(|s| match parse_cidr(s) {
        Err(r) => {
            bad("ipv6", s, r);
            None
        }
        Ok(IpNet::V6(v6)) if as_ipv4(IpNet::V6(v6)).is_none() => Some(v6),
        Ok(_) => {
            bad("ipv6", s, "is not an IPv6 address".into());
            None
        }
    });

    // V5
    let mut link_local = Vec::new();
    for s in &spec.link_local {
        match parse_cidr(s) {
            Ok(n) => link_local.push(normalise(n)),
            Err(r) => bad("link_local", s, r),
        }
    }
    let mut routes = Vec::new();
    for s in &spec.routes {
        match parse_cidr(s) {
            Ok(n) => routes.push(normalise(n).trunc()),
            Err(r) => bad("route", s, r),
        }
    }

    // V6
    let mut sysctls = Vec::new();
    for s in &spec.sysctls {
        match parse_sysctl(s) {
            Ok(setting) => sysctls.push(setting),
            Err(r) => bad("sysctl", s, r),
        }
    }

    // V7, V8: fixed wordings.
    if spec.announce_count > MAX_ANNOUNCE_COUNT {
        bad(
            "announce_count",
            &spec.announce_count.to_string(),
            format!(
                "announce count {} is not in the range 0 to {MAX_ANNOUNCE_COUNT}",
                spec.announce_count
            ),
        );
    }
    if spec.announce_interval < MIN_ANNOUNCE_INTERVAL
        || spec.announce_interval > MAX_ANNOUNCE_INTERVAL
    {
        let ms = spec.announce_interval.as_millis();
        bad(
            "announce_interval_ms",
            &ms.to_string(),
            format!(
                "announce interval (announce_interval_ms) {ms} ms is not in the range {} to {} ms",
                MIN_ANNOUNCE_INTERVAL.as_millis(),
                MAX_ANNOUNCE_INTERVAL.as_millis()
            ),
        );
    }

    // V9 (syntax only; existence is the registry's).
    if let Some(m) = &spec.master {
        if let Err(r) = check_ifname(m) {
            bad("master", m, r);
        }
    }

    // L1–L5
    let options = link_options::check(spec, &mut bad);

    if !problems.is_empty() {
        return Err(InvalidSpec { problems });
    }
    Ok(ValidSpec {
        source: spec.source.clone(),
        destination: spec.destination.clone(),
        mac,
        ipv4,
        ipv6,
        link_local,
        routes,
        sysctls,
        master: spec.master.clone(),
        announce: AnnounceSettings {
            count: spec.announce_count,
            interval: spec.announce_interval,
        },
        mtu: options.mtu,
        port: options.port,
        dad: options.dad,
    })
}

/// V1: an interface name the kernel will take.
pub fn check_ifname(name: &str) -> Result<(), String> {
    check_name_chars(name, MAX_IFNAME_LEN)
}

fn check_name_chars(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > max {
        return Err(format!(
            "is {} bytes long, at most {max} allowed",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err("must not be '.' or '..'".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(format!("must not contain {c:?}"));
    }
    Ok(())
}

/// `ADDRESS/LEN`, the address in std's strict text form: ipnet's own parser takes IPv4 octets
/// with leading zeros (`010.0.2.1` as 10.0.2.1), which `inet_aton` and other tools read as
/// octal (8.0.2.1), so such a text would not name one address for everyone (SPEC R3).
fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let Some((addr, len)) = s.split_once('/') else {
        return Err("needs a prefix length (CIDR, e.g. 192.0.2.10/24)".into());
    };
    let not_cidr = || "is not an address with prefix length (CIDR)".to_string();
    let addr = addr.parse::<IpAddr>().map_err(|_| not_cidr())?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_cidr());
    }
    let len = len.parse::<u8>().map_err(|_| not_cidr())?;
    IpNet::new(addr, len).map_err(|_| not_cidr())
}

/// IPv4 in any form (including `::ffff:a.b.c.d/len`) as 4 bytes (SPEC V4 [better]).
fn as_ipv4(net: IpNet) -> Option<Ipv4Net> {
    match net {
        IpNet::V4(v4) => Some(v4),
        IpNet::V6(v6) => {
            let v4 = v6.addr().to_ipv4_mapped()?;
            let len = v6.prefix_len().checked_sub(96)?;
            Ipv4Net::new(v4, len).ok()
        }
    }
}

fn normalise(net: IpNet) -> IpNet {
    as_ipv4(net).map(IpNet::V4).unwrap_or(net)
}

/// Whether a route destination is unspecified (`0.0.0.0/0`, `::/0`): kept, not installed (V5).
pub fn is_unspecified_route(net: &IpNet) -> bool {
    match net.addr() {
        IpAddr::V4(a) => a.is_unspecified(),
        IpAddr::V6(a) => a.is_unspecified(),
    }
}

fn parse_sysctl(s: &str) -> Result<SysctlSetting, String> {
    if s.contains('\0') {
        return Err("must not contain NUL".into());
    }
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| "expected the form net.X.Y.IFNAME.Z=VALUE".to_string())?;
    SysctlSetting::parse(key, value)
}

impl SysctlSetting {
    /// SPEC V6 for a key and its value given apart (the CNI plugin's `sysctls` object), with
    /// the same rules and wordings as the `KEY=VALUE` form.
    pub fn parse(key: &str, value: &str) -> Result<SysctlSetting, String> {
        if key.contains('\0') || value.contains('\0') {
            return Err("must not contain NUL".into());
        }
        if value.is_empty() {
            return Err("value must not be empty".into());
        }
        if value.contains('\n') || value.contains('\r') {
            return Err("value must be a single line".into());
        }
        if key.contains('/') {
            return Err("key must not contain '/'".into());
        }
        if key.contains('=') {
            return Err("key must not contain '='".into());
        }
        let parts: Vec<&str> = key.split('.').collect();
        if parts.len() != 5 {
            return Err(format!(
                "key has {} dot-separated parts, expected 5 (net.X.Y.IFNAME.Z)",
                parts.len()
            ));
        }
        if parts.iter().any(|p| p.is_empty()) {
            return Err("key has an empty part (no '..' allowed)".into());
        }
        if parts[0] != "net" {
            return Err("key must start with 'net.'".into());
        }
        if !matches!(parts[1], "ipv4" | "ipv6" | "mpls") {
            return Err(format!(
                "key family {:?} is not one of ipv4, ipv6, mpls",
                parts[1]
            ));
        }
        if parts[3] != "IFNAME" && parts[3] != "ifname" {
            return Err("key part 4 must be the placeholder IFNAME".into());
        }
        Ok(SysctlSetting {
            parts: std::array::from_fn(|i| parts[i].to_string()),
            value: value.to_string(),
        })
    }
}

#[cfg(test)]
mod tests;
