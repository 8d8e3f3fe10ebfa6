//! `ip route add/del/show/get` on the main table.

use super::Kernel;
use crate::route::{Route, RouteScopeOrd};
use ipnet::IpNet;
use nsplumb_core::{Errno, Family, IfIndex, NetnsRef, RouteInfo, RouteScope, RouteSpec};
use std::net::IpAddr;

impl Kernel {
    /// `ip route add` (NLM_F_EXCL). See the `route` module for the errnos.
    pub fn add_route(&mut self, r: &NetnsRef, spec: &RouteSpec) -> Result<(), Errno> {
        let id = self.resolve(r, spec.oif)?;
        let l = self.lk(id, spec.oif);
        if spec
            .gateway
            .map(|g| g.is_ipv4() != spec.dst.addr().is_ipv4())
            .unwrap_or(false)
        {
            return Err(Errno::EINVAL);
        }
        let v6 = spec.dst.addr().is_ipv6();
        if v6 && self.v6_absent(id, spec.oif) {
            return Err(Errno::ENODEV); // SPEC L1: no IPv6 device below 1280 (checked)
        }
        if v6 && self.v6_disabled(id, spec.oif) {
            return Err(Errno::EACCES);
        }
        if !l.up {
            return Err(Errno::ENETDOWN);
        }
        let ns = self.ns(id);
        let (table, metric, scope) = if v6 {
            (&ns.routes6, 1024, RouteScopeOrd::Universe)
        } else {
            (&ns.routes4, 0, RouteScopeOrd::from(spec.scope))
        };
        if let Some(gw) = spec.gateway {
            match gw {
                IpAddr::V4(_) => {
                    if spec.scope != RouteScope::Universe {
                        return Err(Errno::ENETUNREACH);
                    }
                    let ok = table
                        .lookup(gw, |rt| {
                            rt.oif == spec.oif
                                && rt.scope >= RouteScopeOrd::Link
                                && rt.gateway.is_none()
                        })
                        .is_some();
                    if !ok {
                        return Err(Errno::ENETUNREACH);
                    }
                }
                IpAddr::V6(g) => {
                    let link_local = (g.segments()[0] & 0xffc0) == 0xfe80;
                    let ok = link_local
                        || table
                            .lookup(gw, |rt| rt.oif == spec.oif && rt.gateway.is_none())
                            .is_some();
                    if !ok {
                        return Err(Errno::EHOSTUNREACH);
                    }
                }
            }
        }
        let dst = spec.dst.trunc();
        if table.at(&dst).iter().any(|rt| rt.metric == metric) {
            return Err(Errno::EEXIST);
        }
        let route = Route {
            dst,
            gateway: spec.gateway,
            oif: spec.oif,
            scope,
            metric,
            kernel: false,
        };
        let ns = self.nsm(id);
        if v6 { &mut ns.routes6 } else { &mut ns.routes4 }.insert(route);
        Ok(())
    }

    /// `ip route del`: the first route at `dst` through `oif` (with the same gateway when one is
    /// given, and for IPv4 the same scope); ESRCH when none.
    pub fn del_route(&mut self, r: &NetnsRef, spec: &RouteSpec) -> Result<(), Errno> {
        let id = self.ns_id(r)?;
        let dst = spec.dst.trunc();
        let v6 = dst.addr().is_ipv6();
        let scope = RouteScopeOrd::from(spec.scope);
        let ns = self.nsm(id);
        let table = if v6 { &mut ns.routes6 } else { &mut ns.routes4 };
        table
            .remove_first(&dst, |rt| {
                rt.oif == spec.oif
                    && (spec.gateway.is_none() || rt.gateway == spec.gateway)
                    && (v6 || rt.scope == scope)
            })
            .map(|_| ())
            .ok_or(Errno::ESRCH)
    }

    /// The main table, like `ip route show` (not the local table).
    pub fn list_routes(&self, r: &NetnsRef, family: Family) -> Result<Vec<RouteInfo>, Errno> {
        let id = self.ns_id(r)?;
        let ns = self.ns(id);
        let t = match family {
            Family::V4 => &ns.routes4,
            Family::V6 => &ns.routes6,
        };
        Ok(t.listing().into_iter().map(Route::info).collect())
    }

    /// `ip route get DST [oif IDX]`. Multicast IPv6 with an oif resolves through the link's
    /// `ff00::/8` local route (see `Link::v6_mroute`: after the link became ready, or after an
    /// IPv6 address was added while it was up), else ENETUNREACH as Linux answers. Otherwise longest-prefix match over the main table.
    pub fn get_route(
        &self,
        r: &NetnsRef,
        dst: IpAddr,
        oif: Option<IfIndex>,
    ) -> Result<RouteInfo, Errno> {
        let id = self.ns_id(r)?;
        if let Some(o) = oif {
            self.ns(id).link(o)?;
        }
        let host = IpNet::new(dst, if dst.is_ipv4() { 32 } else { 128 }).expect("valid");
        if let (IpAddr::V6(d), Some(o)) = (dst, oif) {
            if d.is_multicast() {
                let l = self.lk(id, o);
                if l.up && l.v6_mroute && !self.v6_disabled(id, o) {
                    return Ok(RouteInfo {
                        dst: host,
                        gateway: None,
                        oif: Some(o),
                        scope: RouteScope::Universe,
                    });
                }
                return Err(Errno::ENETUNREACH);
            }
        }
        let ns = self.ns(id);
        let t = if dst.is_ipv4() {
            &ns.routes4
        } else {
            &ns.routes6
        };
        let found = t.lookup(dst, |rt| oif.map(|o| rt.oif == o).unwrap_or(true));
        // IPv4 with an output interface and no route through it: Linux assumes the destination
        // is on-link (checked: `ip route get 192.0.2.77 oif OTHER` answers `dev OTHER`), as
        // long as the interface is up.
        if let (IpAddr::V4(_), Some(o), None) = (dst, oif, found) {
            if !self.lk(id, o).up {
                return Err(Errno::ENETUNREACH);
            }
            return Ok(RouteInfo {
                dst: host,
                gateway: None,
                oif: Some(o),
                scope: RouteScope::Universe,
            });
        }
        let rt = found.ok_or(Errno::ENETUNREACH)?;
        Ok(RouteInfo {
            dst: host,
            gateway: rt.gateway,
            oif: Some(rt.oif),
            scope: RouteScope::Universe,
        })
    }
}
