//! The observable state of the whole kernel as a comparable value (SPEC A15: "state after a
//! rolled-back attach == state before"), MTU, port flags and VLAN tables included (SPEC L6).
//! Counters, time, the frame log and allocator state are left out on purpose.

use crate::kernel::Kernel;
use crate::neighbour::NeighEntry;
use crate::sysctl::Table;
use ipnet::IpNet;
use nsplumb_core::{
    AddrFlags, BridgeInfo, IfIndex, LinkFlags, LinkKind, MacAddr, NetnsRef, PeerRef, PortFlags,
    PortState, VlanSpec,
};
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub namespaces: BTreeMap<NetnsRef, NetnsSnap>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsSnap {
    pub links: BTreeMap<IfIndex, LinkSnap>,
    /// Main-table routes of both families, sorted.
    pub routes: Vec<RouteSnap>,
    /// Sysctls that differ from the kernel defaults, by path below /proc/sys.
    pub sysctls: BTreeMap<String, String>,
    pub neighbours: Vec<NeighEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSnap {
    pub name: String,
    pub kind: LinkKind,
    pub flags: LinkFlags,
    pub mac: Option<MacAddr>,
    pub mtu: u32,
    pub master: Option<IfIndex>,
    pub peer: Option<PeerRef>,
    pub bridge: Option<BridgeInfo>,
    pub port_state: Option<PortState>,
    /// Hairpin and isolation, when the link is a bridge port (SPEC L2, L4).
    pub port_flags: Option<PortFlags>,
    /// The port's (or bridge's) VLAN table as `bridge vlan show` gives it (SPEC L3).
    pub vlans: Vec<VlanSpec>,
    /// Sorted by address.
    pub addrs: Vec<AddrSnap>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddrSnap {
    pub net: IpNet,
    pub nodad: bool,
    pub tentative: bool,
    pub permanent: bool,
    pub dadfailed: bool,
}

impl AddrSnap {
    pub fn flags(&self) -> AddrFlags {
        AddrFlags {
            nodad: self.nodad,
            tentative: self.tentative,
            permanent: self.permanent,
            dadfailed: self.dadfailed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteSnap {
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    pub oif: IfIndex,
    /// "universe", "link" or "host".
    pub scope: &'static str,
    pub metric: u32,
    /// `proto kernel`.
    pub kernel: bool,
}

impl Kernel {
    /// The whole observable state (see the module doc).
    pub fn snapshot(&self) -> Snapshot {
        let mut namespaces = BTreeMap::new();
        for (r, id) in self.ns_refs() {
            let ns = self.ns(id);
            let mut links = BTreeMap::new();
            let mut sysctls = BTreeMap::new();
            let mut vlans: BTreeMap<IfIndex, Vec<VlanSpec>> = self
                .list_port_vlans(r)
                .unwrap_or_default()
                .into_iter()
                .map(|p| (p.index, p.vlans))
                .collect();
            for (&idx, l) in &ns.links {
                let info = self.info(id, idx);
                let mut addrs: Vec<AddrSnap> = l
                    .addrs
                    .iter()
                    .map(|a| AddrSnap {
                        net: a.net,
                        nodad: a.flags.nodad,
                        tentative: a.flags.tentative,
                        permanent: a.flags.permanent,
                        dadfailed: a.flags.dadfailed,
                    })
                    .collect();
                addrs.sort();
                links.insert(
                    idx,
                    LinkSnap {
                        name: info.name,
                        kind: info.kind,
                        flags: info.flags,
                        mac: info.mac,
                        mtu: info.mtu,
                        master: info.master,
                        peer: info.peer,
                        bridge: info.bridge,
                        port_state: info.port_state,
                        port_flags: info.port_flags,
                        vlans: vlans.remove(&idx).unwrap_or_default(),
                        addrs,
                    },
                );
                sysctls.extend(self.link_sysctl_diffs(id, idx));
            }
            for (scope, o) in [("all", &ns.all), ("default", &ns.dflt)] {
                for (t, k, v) in &o.0 {
                    sysctls.insert(
                        format!(
                            "{}/{}/{}",
                            t.prefix(),
                            scope,
                            Table::keys(*t)[*k as usize].0
                        ),
                        v.clone(),
                    );
                }
            }
            let scope = |s: nsplumb_core::RouteScope| match s {
                nsplumb_core::RouteScope::Universe => "universe",
                nsplumb_core::RouteScope::Link => "link",
                nsplumb_core::RouteScope::Host => "host",
            };
            let mut routes: Vec<RouteSnap> = ns
                .routes4
                .iter()
                .chain(ns.routes6.iter())
                .map(|r| RouteSnap {
                    dst: r.dst,
                    gateway: r.gateway,
                    oif: r.oif,
                    scope: scope(r.scope.into()),
                    metric: r.metric,
                    kernel: r.kernel,
                })
                .collect();
            routes.sort();
            namespaces.insert(
                r.clone(),
                NetnsSnap {
                    links,
                    routes,
                    sysctls,
                    neighbours: ns.neigh.list(),
                },
            );
        }
        Snapshot { namespaces }
    }
}
