//! The observable state of a set of namespaces, read through any [`NetBackend`] (the kernel or
//! the simulator) and normalised into sorted text lines, `ip -j` style: what legitimately
//! differs between two runs (ifindex numbers, MACs nobody set, DAD timing) is replaced by names
//! and markers, so that two states compare with `==` and a difference prints as a line diff.
//!
//! Used for "nothing left behind" (SPEC A15: state after a failed attach == state before) and
//! by the differential harness (simulator vs kernel).

use ipnet::IpNet;
use nsplumb_core::{
    AddrInfo, BackendExt, Errno, Family, IfIndex, LinkInfo, LinkKind, MacAddr, NetBackend, NetnsRef,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// What to read besides links, addresses and routes.
#[derive(Debug, Clone, Default)]
pub struct Observe {
    /// MACs that are deterministic (set by the test); any other MAC shows as `random`.
    pub known_macs: BTreeSet<MacAddr>,
    /// Sysctl paths below `/proc/sys` with `IFNAME` in them, read for every link but `lo`
    /// (`net/ipv6/conf/IFNAME/disable_ipv6` is always read).
    pub link_sysctls: BTreeSet<String>,
    /// Leave out the `tentative` flag of IPv6 addresses without `IFA_F_NODAD` (DAD timing).
    pub ignore_dad_timing: bool,
    /// Leave out bridge port states and the carrier of bridges: a port's state follows its
    /// carrier through the kernel's linkwatch (up to a second later), and a bridge's carrier
    /// follows its ports' states.
    pub ignore_port_state: bool,
}

/// The state of some namespaces as sorted lines, each starting with the namespace's role.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    pub lines: BTreeSet<String>,
}

impl State {
    /// `-` lines only in `self`, `+` lines only in `other`; empty when equal.
    pub fn diff(&self, other: &State) -> String {
        let mut out = String::new();
        for l in self.lines.difference(&other.lines) {
            let _ = writeln!(out, "- {l}");
        }
        for l in other.lines.difference(&self.lines) {
            let _ = writeln!(out, "+ {l}");
        }
        out
    }

    /// Lines of one namespace role.
    pub fn of(&self, role: &str) -> Vec<&str> {
        let p = format!("{role} ");
        self.lines
            .iter()
            .filter(|l| l.starts_with(&p))
            .map(String::as_str)
            .collect()
    }

    /// Whether some line contains every one of `parts`.
    pub fn has(&self, parts: &[&str]) -> bool {
        self.lines
            .iter()
            .any(|l| parts.iter().all(|p| l.contains(p)))
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

fn kind(k: &LinkKind) -> &str {
    k.as_str()
}

/// IPv6 link-local addresses the kernel generates from the MAC (EUI-64) show as
/// `fe80::auto/64` when they match the link's MAC (`fe80::other` otherwise), so random MACs do
/// not leak in.
fn addr_text(a: &AddrInfo, link: Option<&LinkInfo>, opts: &Observe) -> String {
    let mut net = a.net.to_string();
    if let IpNet::V6(v6) = a.net {
        if v6.addr().segments()[0] == 0xfe80 {
            let eui = link.and_then(|l| l.mac).map(|mac| {
                let m = mac.octets();
                [
                    0xfe80,
                    0,
                    0,
                    0,
                    u16::from_be_bytes([m[0] ^ 2, m[1]]),
                    u16::from_be_bytes([m[2], 0xff]),
                    u16::from_be_bytes([0xfe, m[3]]),
                    u16::from_be_bytes([m[4], m[5]]),
                ]
            });
            let bridge = link.is_some_and(|l| l.kind == LinkKind::Bridge);
            net = if eui == Some(v6.addr().segments()) || (bridge && !a.flags.nodad) {
                // A bridge's address follows its first MAC, which follows its ports.
                format!("fe80::auto/{}", v6.prefix_len())
            } else {
                format!("fe80::other/{}", v6.prefix_len())
            };
        }
    }
    let v6 = matches!(a.net, IpNet::V6(_));
    let tentative = if v6 && !a.flags.nodad && opts.ignore_dad_timing {
        String::new()
    } else {
        format!(" tentative={}", a.flags.tentative)
    };
    format!(
        "addr {net} nodad={} permanent={}{tentative}",
        a.flags.nodad, a.flags.permanent
    )
}

/// A bridge's MAC is the kernel's choice (the lowest port MAC, zero once the last port left)
/// unless set explicitly: always shown as `bridge`.
fn mac_text(l: &LinkInfo, opts: &Observe) -> String {
    match l.mac {
        _ if l.kind == LinkKind::Bridge => "bridge".into(),
        None => "none".into(),
        Some(m) if m.is_zero() => "zero".into(),
        Some(m) if opts.known_macs.contains(&m) => m.to_string(),
        Some(_) => "random".into(),
    }
}

/// Read links, addresses, main-table routes and sysctls of every `(role, namespace)`.
/// Panics when a namespace cannot be read (the caller's topology is broken).
pub async fn observe<B: NetBackend + ?Sized>(
    backend: &B,
    roles: &[(&str, &NetnsRef)],
    opts: &Observe,
) -> State {
    // First every namespace's links, so peers can be named across namespaces.
    let mut links: BTreeMap<String, Vec<LinkInfo>> = BTreeMap::new();
    for (role, ns) in roles {
        let l = backend
            .list_links(ns)
            .await
            .unwrap_or_else(|e| panic!("list links of {role}: {e}"));
        links.insert(role.to_string(), l);
    }
    let role_of = |ns: &NetnsRef| roles.iter().find(|(_, n)| *n == ns).map(|(r, _)| *r);
    let name_of = |role: &str, index: IfIndex| -> String {
        links
            .get(role)
            .and_then(|ls| ls.iter().find(|l| l.index == index))
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("#{index}?"))
    };
    let mut lines = BTreeSet::new();
    for (role, ns) in roles {
        let ls = &links[*role];
        let by_index: BTreeMap<IfIndex, &LinkInfo> = ls.iter().map(|l| (l.index, l)).collect();
        for l in ls {
            let master = l
                .master
                .map(|m| name_of(role, m))
                .unwrap_or_else(|| "-".into());
            let peer = match &l.peer {
                None => "-".into(),
                Some(p) => match p.netns.as_ref().and_then(role_of) {
                    Some(r) => format!("{r}/{}", name_of(r, p.index)),
                    None => "elsewhere".into(),
                },
            };
            let port = if opts.ignore_port_state {
                String::new()
            } else {
                format!(
                    " port={}",
                    l.port_state
                        .map(|s| format!("{s:?}").to_lowercase())
                        .unwrap_or_else(|| "-".into())
                )
            };
            let stp = l
                .bridge
                .map(|b| format!(" stp={}", b.stp_enabled))
                .unwrap_or_default();
            // SPEC L2, L4, L6: a bridge port's flags.
            let flags = l
                .port_flags
                .map(|f| format!(" hairpin={} isolated={}", f.hairpin, f.isolated))
                .unwrap_or_default();
            let lower_up = if opts.ignore_port_state && l.kind == LinkKind::Bridge {
                "?".to_string()
            } else {
                l.flags.lower_up.to_string()
            };
            lines.insert(format!(
                "{role} link {} kind={} up={} lower_up={lower_up} mac={} mtu={} master={master} peer={peer}{port}{stp}{flags}",
                l.name,
                kind(&l.kind),
                l.flags.up,
                mac_text(l, opts),
                l.mtu,
            ));
            if l.kind == LinkKind::Loopback {
                continue;
            }
            let mut keys: Vec<String> = vec!["net/ipv6/conf/IFNAME/disable_ipv6".into()];
            keys.extend(opts.link_sysctls.iter().cloned());
            keys.sort();
            keys.dedup();
            for key in keys {
                let path = key.replace("IFNAME", &l.name);
                let value = match backend.read_sysctl(ns, &path).await {
                    Ok(v) => v,
                    Err(e) => format!("error {}", e.errno.name()),
                };
                lines.insert(format!("{role} sysctl {path} = {value}"));
            }
        }
        // SPEC L3, L6: each bridge port's VLAN table. A kernel without bridge VLAN filtering
        // has none (EOPNOTSUPP, as `nsplumb list` reads it).
        match backend.list_port_vlans(ns).await {
            Ok(ports) => {
                for p in ports {
                    let vlans: Vec<String> = p.vlans.iter().map(|v| v.to_string()).collect();
                    lines.insert(format!(
                        "{role} link {} vlans {}",
                        name_of(role, p.index),
                        vlans.join(", ")
                    ));
                }
            }
            Err(e) if e.errno == Errno::EOPNOTSUPP => {}
            Err(e) => panic!("list port VLANs of {role}: {e}"),
        }
        let addrs = backend
            .list_addresses(ns, None)
            .await
            .unwrap_or_else(|e| panic!("list addresses of {role}: {e}"));
        for a in &addrs {
            let link = by_index.get(&a.index).copied();
            lines.insert(format!(
                "{role} link {} {}",
                link.map(|l| l.name.clone())
                    .unwrap_or_else(|| format!("#{}?", a.index)),
                addr_text(a, link, opts)
            ));
        }
        for family in [Family::V4, Family::V6] {
            let routes = backend
                .list_routes(ns, family)
                .await
                .unwrap_or_else(|e| panic!("list routes of {role}: {e}"));
            for r in routes {
                let dev = r
                    .oif
                    .map(|i| name_of(role, i))
                    .unwrap_or_else(|| "-".into());
                let via = r.gateway.map(|g| format!(" via {g}")).unwrap_or_default();
                lines.insert(format!(
                    "{role} route {}{via} dev {dev} scope {:?}",
                    r.dst, r.scope
                ));
            }
        }
    }
    State { lines }
}
