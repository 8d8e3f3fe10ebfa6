//! The main routing table of one namespace and family.
//!
//! Linux 6.x (checked with `ip -j route` / `ip -6 -j route` and strace for errnos):
//! - IPv4 connected route `NET/LEN dev X proto kernel scope link` for each primary address while
//!   the link is up (none for a /32, none for loopback: those live in the local table);
//!   `ip route add` of a (dst, metric) that exists → EEXIST; delete without a match → ESRCH.
//! - IPv4: via a down link → ENETDOWN; a gateway not covered by a scope-link route on that
//!   link → ENETUNREACH. IPv6: down link → ENETDOWN; IPv6 disabled on the link → EACCES; a
//!   non-link-local gateway without a route on that link → EHOSTUNREACH.
//! - IPv6 prefix routes (metric 256) for each address while the link is up, `fe80::/64` from the
//!   link-local address; user routes default to metric 1024 (IPv4 0). IPv6 routes have no scope
//!   (reported as universe).
//! - Routes through a link vanish when it goes down, is deleted or moved; IPv6 ones also when
//!   IPv6 is disabled on it.

use ipnet::IpNet;
use nsplumb_core::{IfIndex, RouteInfo, RouteScope};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Route {
    pub(crate) dst: IpNet,
    pub(crate) gateway: Option<IpAddr>,
    pub(crate) oif: IfIndex,
    pub(crate) scope: RouteScopeOrd,
    pub(crate) metric: u32,
    /// `proto kernel` (connected / prefix routes) rather than added by a user.
    pub(crate) kernel: bool,
}

/// `RouteScope` with an order, for sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum RouteScopeOrd {
    Universe,
    Link,
    Host,
}

impl From<RouteScope> for RouteScopeOrd {
    fn from(s: RouteScope) -> Self {
        match s {
            RouteScope::Universe => RouteScopeOrd::Universe,
            RouteScope::Link => RouteScopeOrd::Link,
            RouteScope::Host => RouteScopeOrd::Host,
        }
    }
}

impl From<RouteScopeOrd> for RouteScope {
    fn from(s: RouteScopeOrd) -> Self {
        match s {
            RouteScopeOrd::Universe => RouteScope::Universe,
            RouteScopeOrd::Link => RouteScope::Link,
            RouteScopeOrd::Host => RouteScope::Host,
        }
    }
}

impl Route {
    pub(crate) fn info(&self) -> RouteInfo {
        RouteInfo {
            dst: self.dst,
            gateway: self.gateway,
            oif: Some(self.oif),
            scope: self.scope.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RouteTable {
    by_dst: BTreeMap<IpNet, Vec<Route>>,
    by_oif: crate::namespace::FxMap<IfIndex, BTreeSet<IpNet>>,
    plen_count: [u32; 129],
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable {
            by_dst: BTreeMap::new(),
            by_oif: Default::default(),
            plen_count: [0; 129],
        }
    }
}

impl RouteTable {
    pub(crate) fn insert(&mut self, r: Route) {
        self.plen_count[r.dst.prefix_len() as usize] += 1;
        self.by_oif.entry(r.oif).or_default().insert(r.dst);
        self.by_dst.entry(r.dst).or_default().push(r);
    }

    pub(crate) fn at(&self, dst: &IpNet) -> &[Route] {
        self.by_dst.get(dst).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Removes the first route at `dst` matching `pred`; returns it.
    pub(crate) fn remove_first(
        &mut self,
        dst: &IpNet,
        pred: impl Fn(&Route) -> bool,
    ) -> Option<Route> {
        let v = self.by_dst.get_mut(dst)?;
        let pos = v.iter().position(pred)?;
        let r = v.remove(pos);
        if v.is_empty() {
            self.by_dst.remove(dst);
        }
        self.after_remove(&r);
        Some(r)
    }

    fn after_remove(&mut self, r: &Route) {
        self.plen_count[r.dst.prefix_len() as usize] -= 1;
        let still = self.at(&r.dst).iter().any(|x| x.oif == r.oif);
        if !still {
            if let Some(set) = self.by_oif.get_mut(&r.oif) {
                set.remove(&r.dst);
                if set.is_empty() {
                    self.by_oif.remove(&r.oif);
                }
            }
        }
    }

    /// Removes every route through `oif` that matches `pred`.
    pub(crate) fn remove_oif(&mut self, oif: IfIndex, pred: impl Fn(&Route) -> bool) {
        let Some(dsts) = self.by_oif.get(&oif) else {
            return;
        };
        let dsts: Vec<IpNet> = dsts.iter().copied().collect();
        for dst in dsts {
            while self
                .remove_first(&dst, |r| r.oif == oif && pred(r))
                .is_some()
            {}
        }
    }

    pub(crate) fn has_oif(&self, oif: IfIndex) -> bool {
        self.by_oif.contains_key(&oif)
    }

    pub(crate) fn routes_of(&self, oif: IfIndex) -> impl Iterator<Item = &Route> + '_ {
        self.by_oif
            .get(&oif)
            .into_iter()
            .flat_map(|s| s.iter())
            .flat_map(move |d| self.at(d).iter().filter(move |r| r.oif == oif))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Route> + '_ {
        self.by_dst.values().flatten()
    }

    /// In the order `ip route show` prints: by network address, longer prefixes first for the
    /// same address (the IPv4 trie's order; checked: `192.0.2.0/25` before `192.0.2.0/24`).
    pub(crate) fn listing(&self) -> Vec<&Route> {
        let mut v: Vec<&Route> = self.iter().collect();
        v.sort_by(|a, b| {
            (
                a.dst.network(),
                std::cmp::Reverse(a.dst.prefix_len()),
                a.metric,
            )
                .cmp(&(
                    b.dst.network(),
                    std::cmp::Reverse(b.dst.prefix_len()),
                    b.metric,
                ))
        });
        v
    }

    /// Longest-prefix match, lowest metric first; `filter` restricts the candidates.
    pub(crate) fn lookup(&self, addr: IpAddr, filter: impl Fn(&Route) -> bool) -> Option<&Route> {
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        for plen in (0..=max).rev() {
            if self.plen_count[plen as usize] == 0 {
                continue;
            }
            let key = IpNet::new(addr, plen).expect("valid prefix").trunc();
            if let Some(v) = self.by_dst.get(&key) {
                if let Some(r) = v.iter().filter(|r| filter(r)).min_by_key(|r| r.metric) {
                    return Some(r);
                }
            }
        }
        None
    }
}

#[cfg(test)]
impl RouteTable {
    /// Internal consistency of the indices (tests only).
    pub(crate) fn check(&self) {
        let mut counts = [0u32; 129];
        for (dst, v) in &self.by_dst {
            assert!(!v.is_empty(), "empty bucket {dst}");
            for r in v {
                assert_eq!(&r.dst, dst);
                counts[r.dst.prefix_len() as usize] += 1;
                assert!(
                    self.by_oif
                        .get(&r.oif)
                        .map(|s| s.contains(dst))
                        .unwrap_or(false),
                    "by_oif misses {dst} dev {}",
                    r.oif
                );
            }
        }
        assert_eq!(counts, self.plen_count);
        for (oif, set) in &self.by_oif {
            for d in set {
                assert!(
                    self.at(d).iter().any(|r| r.oif == *oif),
                    "stale by_oif {d} dev {oif}"
                );
            }
        }
    }
}
