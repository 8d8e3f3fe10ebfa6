//! Routes of the main table: add, delete, list (SPEC A5), and the kernel's route lookup.

use crate::addresses::family_of;
use crate::conn::Inner;
use crate::events::{drain_event_socket, open_event_socket};
use crate::netns::{in_netns, NsFile};
use crate::nl::{self, NlError};
use crate::route_mirror::RouteMirror;
use crate::{lock, LinuxBackend};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope as NlScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nsplumb_core::{BackendError, Errno, Family, IfIndex, NetnsRef, Op, RouteInfo, RouteSpec};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing::Instrument;

fn route_address(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

/// SPEC A5 needs the main table's routes of one family: the dump asks for that table only
/// (honoured with strict checking, see `Inner::handle`, so the local table, one route per
/// address, is not sent); the replies are filtered by table anyway.
fn routes_dump_msg(family: Family) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = match family {
        Family::V4 => AddressFamily::Inet,
        Family::V6 => AddressFamily::Inet6,
    };
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m
}

fn route_msg(route: &RouteSpec, for_delete: bool) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family_of(&route.dst.addr());
    m.header.destination_prefix_length = route.dst.prefix_len();
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    if for_delete {
        m.header.protocol = RouteProtocol::Unspec;
        m.header.scope = NlScope::NoWhere;
        m.header.kind = RouteType::Unspec;
    } else {
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = nl::scope_to_nl(route.scope);
        m.header.kind = RouteType::Unicast;
    }
    if route.dst.prefix_len() > 0 {
        m.attributes.push(RouteAttribute::Destination(route_address(
            route.dst.network(),
        )));
    }
    if let Some(gw) = route.gateway {
        m.attributes
            .push(RouteAttribute::Gateway(route_address(gw)));
    }
    m.attributes.push(RouteAttribute::Oif(route.oif));
    m
}

/// Route dumps made by this process (see [`crate::route_dumps`]).
pub(crate) static DUMPS: AtomicU64 = AtomicU64::new(0);

/// The answer of `list_routes` from the replies of a dump.
fn route_infos(replies: &[RouteNetlinkMessage], family: Family) -> Vec<RouteInfo> {
    let v6 = family == Family::V6;
    replies
        .iter()
        .filter_map(|r| match r {
            RouteNetlinkMessage::NewRoute(r)
                if nl::route_table(r) == u32::from(RouteHeader::RT_TABLE_MAIN) =>
            {
                nl::parse_route(r, v6)
            }
            _ => None,
        })
        .collect()
}

impl Inner {
    /// The main table's routes of `family` in `ns`, as the kernel sends them.
    async fn dump_routes(
        &self,
        ns: &NsFile,
        family: Family,
    ) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        DUMPS.fetch_add(1, Ordering::Relaxed);
        self.req(
            ns,
            RouteNetlinkMessage::GetRoute(routes_dump_msg(family)),
            nl::DUMP,
        )
        .await
    }

    /// The route mirror of `ns`, opened now if `family` was listed by dump before (see
    /// `RouteListing`); `None`: dump. Opening it needs no namespace hop when a spare event
    /// socket is left (it is the same kind of socket), else one.
    async fn route_mirror(
        &self,
        ns: &NsFile,
        netns: &NetnsRef,
        family: Family,
    ) -> Option<Arc<tokio::sync::Mutex<RouteMirror>>> {
        // The dump would open the connection anyway; the count lives with it.
        self.handle(ns).await.ok()?;
        {
            let mut conns = lock(&self.conns);
            let c = conns.get_mut(&ns.key).filter(|c| !c.task.is_finished())?;
            if let Some(m) = &c.routes.mirror {
                return Some(m.clone());
            }
            let n = &mut c.routes.lists[usize::from(family == Family::V6)];
            *n += 1;
            if *n < 2 {
                return None;
            }
        }
        let sock = match self.take_event_spare(ns) {
            Some(s) => s,
            None => in_netns(ns, open_event_socket).await.ok()?,
        };
        // A spare may hold what a subscription left queued.
        drain_event_socket(&sock).ok()?;
        let rcvbuf = self.mirror_rcvbuf.load(Ordering::Relaxed);
        let mirror = match RouteMirror::new(sock, rcvbuf) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(netns = %netns, error = %e, "route mirror not opened");
                return None;
            }
        };
        let mut conns = lock(&self.conns);
        let c = conns.get_mut(&ns.key).filter(|c| !c.task.is_finished())?;
        let m = c
            .routes
            .mirror
            .get_or_insert_with(|| {
                tracing::debug!(netns = %netns, "route mirror opened");
                Arc::new(tokio::sync::Mutex::new(mirror))
            })
            .clone();
        Some(m)
    }

    /// `family`'s routes from the mirror: brought up to date by what its socket holds, or
    /// rebuilt from two dumps when stale.
    async fn mirrored_routes(
        &self,
        ns: &NsFile,
        netns: &NetnsRef,
        mirror: &tokio::sync::Mutex<RouteMirror>,
        family: Family,
    ) -> Result<Vec<RouteInfo>, NlError> {
        let mut m = mirror.lock().await;
        if !m.table.stale {
            m.drain(false, false);
            if !m.table.stale {
                return Ok(m.table.routes(family));
            }
            tracing::debug!(netns = %netns, "route mirror stale");
        }
        // Subscribed first (when opened), then what is queued now is thrown away (the dumps
        // show it), then the dumps, then what came during them is applied.
        m.drain(true, false);
        // One after the other: a netlink socket runs one dump at a time (EBUSY).
        let v4 = self.dump_routes(ns, Family::V4).await?;
        let v6 = self.dump_routes(ns, Family::V6).await?;
        m.table.load(&v4, &v6);
        if !m.table.stale {
            m.drain(false, true);
        }
        if !m.table.stale {
            tracing::debug!(
                netns = %netns,
                v4 = m.table.routes(Family::V4).len(),
                v6 = m.table.routes(Family::V6).len(),
                "route mirror built"
            );
            return Ok(m.table.routes(family));
        }
        tracing::debug!(netns = %netns, "route mirror stale after its dumps: answering from them");
        Ok(route_infos(
            if family == Family::V6 { &v6 } else { &v4 },
            family,
        ))
    }
}

impl LinuxBackend {
    pub(crate) async fn add_route(
        &self,
        netns: &NetnsRef,
        route: &RouteSpec,
    ) -> Result<(), BackendError> {
        let op = Op::AddRoute;
        let ns = self.ns(op, netns)?;
        self.inner
            .req(&ns, RouteNetlinkMessage::NewRoute(route_msg(route, false)), nl::CREATE)
            .instrument(tracing::debug_span!("add_route", dst = %route.dst, ifindex = route.oif, netns = %netns))
            .await
            .map(|_| ())
            .map_err(|e| Self::err(op, netns, format!("{} dev ifindex {}", route.dst, route.oif), e))
    }

    pub(crate) async fn del_route(
        &self,
        netns: &NetnsRef,
        route: &RouteSpec,
    ) -> Result<(), BackendError> {
        let op = Op::DelRoute;
        let ns = self.ns(op, netns)?;
        self.inner
            .req(&ns, RouteNetlinkMessage::DelRoute(route_msg(route, true)), nl::ACK)
            .instrument(tracing::debug_span!("del_route", dst = %route.dst, ifindex = route.oif, netns = %netns))
            .await
            .map(|_| ())
            .map_err(|e| Self::err(op, netns, format!("{} dev ifindex {}", route.dst, route.oif), e))
    }

    /// SPEC A5's input. A long-lived backend answers through the namespace's route mirror once
    /// it has one (see `RouteListing`), so the cost does not grow with the routes there; a
    /// one-command process (pinned namespace paths) dumps, once per family anyway, and opens
    /// nothing more.
    pub(crate) async fn list_routes(
        &self,
        netns: &NetnsRef,
        family: Family,
    ) -> Result<Vec<RouteInfo>, BackendError> {
        let op = Op::ListRoutes;
        let ns = self.ns(op, netns)?;
        async {
            if self.inner.pinned.is_none() {
                if let Some(mirror) = self.inner.route_mirror(&ns, netns, family).await {
                    return self
                        .inner
                        .mirrored_routes(&ns, netns, &mirror, family)
                        .await;
                }
            }
            let replies = self.inner.dump_routes(&ns, family).await?;
            Ok(route_infos(&replies, family))
        }
        .instrument(tracing::debug_span!("list_routes", family = ?family, netns = %netns))
        .await
        .map_err(|e| Self::err(op, netns, "routes", e))
    }

    pub(crate) async fn get_route(
        &self,
        netns: &NetnsRef,
        dst: IpAddr,
        oif: Option<IfIndex>,
    ) -> Result<RouteInfo, BackendError> {
        let op = Op::GetRoute;
        let ns = self.ns(op, netns)?;
        let mut m = RouteMessage::default();
        m.header.address_family = family_of(&dst);
        m.header.destination_prefix_length = if dst.is_ipv4() { 32 } else { 128 };
        m.attributes
            .push(RouteAttribute::Destination(route_address(dst)));
        if let Some(oif) = oif {
            m.attributes.push(RouteAttribute::Oif(oif));
        }
        let object = match oif {
            Some(o) => format!("{dst} oif {o}"),
            None => dst.to_string(),
        };
        let replies = self
            .inner
            .req(&ns, RouteNetlinkMessage::GetRoute(m), nl::GET)
            .instrument(
                tracing::debug_span!("get_route", dst = %dst, ifindex = ?oif, netns = %netns),
            )
            .await
            .map_err(|e| Self::err(op, netns, object.clone(), e))?;
        replies
            .iter()
            .find_map(|r| match r {
                RouteNetlinkMessage::NewRoute(r) => nl::parse_route(r, dst.is_ipv6()),
                _ => None,
            })
            .ok_or_else(|| BackendError::new(op, Errno::ENETUNREACH, netns, object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsplumb_core::RouteScope;

    #[test]
    fn route_dump_asks_for_the_main_table_byte_exact() {
        use netlink_packet_core::Emitable;
        for (family, af) in [(Family::V4, 2u8), (Family::V6, 10)] {
            let msg = nl::wrap(
                RouteNetlinkMessage::GetRoute(routes_dump_msg(family)),
                nl::DUMP,
            );
            let mut buf = vec![0u8; msg.buffer_len()];
            msg.emit(&mut buf);
            let mut want = Vec::new();
            want.extend_from_slice(&28u32.to_ne_bytes()); // nlmsg_len
            want.extend_from_slice(&26u16.to_ne_bytes()); // RTM_GETROUTE
            want.extend_from_slice(&0x0301u16.to_ne_bytes()); // NLM_F_REQUEST | NLM_F_DUMP
            want.extend_from_slice(&[0; 8]); // seq, pid
                                             // rtmsg: family, dst_len, src_len, tos, table RT_TABLE_MAIN, protocol, scope, type
            want.extend_from_slice(&[af, 0, 0, 0, 254, 0, 0, 0]);
            want.extend_from_slice(&0u32.to_ne_bytes()); // rtm_flags
            assert_eq!(buf, want, "{family:?}");
        }
    }

    #[test]
    fn route_messages_carry_destination_gateway_and_oif() {
        let spec = RouteSpec {
            dst: "198.51.100.0/24".parse().unwrap(),
            gateway: Some("192.0.2.1".parse().unwrap()),
            oif: 4,
            scope: RouteScope::Universe,
        };
        let m = route_msg(&spec, false);
        assert_eq!(m.header.destination_prefix_length, 24);
        assert_eq!(m.header.table, RouteHeader::RT_TABLE_MAIN);
        assert!(m.attributes.contains(&RouteAttribute::Oif(4)));
        let default = RouteSpec {
            dst: "0.0.0.0/0".parse().unwrap(),
            ..spec
        };
        let m = route_msg(&default, true);
        assert!(!m
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Destination(_))));
        assert_eq!(m.header.scope, NlScope::NoWhere);
    }
}
