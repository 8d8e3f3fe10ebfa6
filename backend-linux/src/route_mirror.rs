//! A per-namespace mirror of the main table's routes, for SPEC A5 in a long-lived process.
//!
//! Every attach lists the routes of its namespace (A5, once per family). A dump costs time in
//! proportion to the routes already there, so a process attaching many interfaces into one
//! namespace paid more for each one. The mirror is kept up to date by the kernel's route, link
//! and address notifications, read without blocking before each answer, so an answer costs
//! what changed since the last one, not what is there.
//!
//! Freshness: rtnetlink queues a change's notification on every listening socket before it
//! sends the ack (or the reply) of the request that made it (`rtmsg_fib`, `inet6_rt_notify`,
//! the address and link notifiers all run in the request's own context). So once this process
//! has had a change acknowledged, its notification is already on the mirror's socket, and
//! draining that socket until `EAGAIN` before answering sees it. Changes made by others are
//! seen as soon as they are made, as a dump would.
//!
//! What notifications cannot tell, the mirror does not guess: the kernel removes IPv4 routes
//! without `RTM_DELROUTE` when their link goes down or away, or when an address goes (its
//! prefix route, routes using it as source, all routes of a link that lost its last address);
//! nexthop objects change routes silently too. Those events (a link down or gone only when a
//! mirrored route uses it), an overflow of the socket (`ENOBUFS`), anything it cannot parse
//! or apply exactly, mark the mirror stale: the next answer dumps both families again and
//! rebuilds it.
//!
//! Order: SPEC A5 names the *first* conflicting route, so the mirror answers in the kernel's
//! dump order. Dumps come in that order; a new route is inserted where the kernel's dump would
//! put it (see [`order`]). A dump found not to follow that model (see `RouteTable::load`)
//! leaves the mirror stale, so its answers stay exactly the dump's.

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::link::LinkFlags;
use netlink_packet_route::route::{RouteAttribute, RouteFlags, RouteHeader, RouteMessage};
use netlink_packet_route::RouteNetlinkMessage;
use nsplumb_core::{Family, RouteInfo};
use std::cmp::Ordering;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use crate::nl;

/// Groups the mirror listens to: routes of both families, links (down or gone flushes IPv4
/// routes silently), addresses of both families (a deleted address does too).
pub(crate) const MIRROR_GROUPS: [u32; 5] = [
    1,  // RTNLGRP_LINK
    5,  // RTNLGRP_IPV4_IFADDR
    7,  // RTNLGRP_IPV4_ROUTE
    9,  // RTNLGRP_IPV6_IFADDR
    11, // RTNLGRP_IPV6_ROUTE
];
/// `RTNLGRP_NEXTHOP`: a nexthop object changed or deleted changes or removes the routes using
/// it without route notifications. Joined when the kernel has it (≥ 5.3); its messages make
/// the mirror stale.
pub(crate) const RTNLGRP_NEXTHOP: u32 = 32;

/// Receive buffer of a mirror's socket: room for the notifications of a burst (a thousand
/// routes added by someone else) between two answers. Memory is only used by what is queued.
pub(crate) const MIRROR_RCVBUF: usize = 2 << 20;

const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;

/// One main-table route as the mirror keeps it.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    /// What the dump's answer holds (`nl::parse_route`).
    info: RouteInfo,
    /// With the destination, the kernel's key of a route in a table: `(tos, priority)`
    /// (IPv6: tos is 0 and priority is the metric).
    tos: u8,
    priority: u32,
    /// What else tells two routes of one key apart, for deletes.
    kind: u8,
    protocol: u8,
    prefsrc: Option<IpAddr>,
    /// Every link the route goes through (`RTA_OIF`, and each nexthop of a multipath route).
    oifs: Vec<u32>,
    /// Position among routes of one key: the dump's index, or later than every route before.
    seq: u64,
}

impl Entry {
    fn key_eq(&self, other: &Entry) -> bool {
        self.info.dst == other.info.dst && self.tos == other.tos && self.priority == other.priority
    }

    fn same_route(&self, other: &Entry) -> bool {
        Entry {
            seq: other.seq,
            ..self.clone()
        } == *other
    }
}

/// What a route message is to the mirror.
enum Parsed {
    /// Not a main-table route of the kind a dump returns (another table, a cached clone).
    Ignored,
    /// A route the mirror cannot follow exactly (IPv6 multipath, source routing, a nexthop
    /// object): the mirror goes stale.
    Unsupported,
    Route(Entry),
}

fn parse(msg: &RouteMessage) -> Parsed {
    if nl::route_table(msg) != u32::from(RouteHeader::RT_TABLE_MAIN)
        || msg.header.flags.contains(RouteFlags::Cloned)
    {
        return Parsed::Ignored;
    }
    let v6 = msg.header.address_family == netlink_packet_route::AddressFamily::Inet6;
    if !v6 && msg.header.address_family != netlink_packet_route::AddressFamily::Inet {
        return Parsed::Ignored;
    }
    let Some(info) = nl::parse_route(msg, v6) else {
        return Parsed::Unsupported;
    };
    if msg.header.source_prefix_length != 0 {
        return Parsed::Unsupported;
    }
    let mut priority = 0;
    let mut prefsrc = None;
    let mut oifs = Vec::new();
    for a in &msg.attributes {
        match a {
            RouteAttribute::Priority(p) => priority = *p,
            RouteAttribute::Oif(i) => oifs.push(*i),
            RouteAttribute::PrefSource(s) => {
                prefsrc = match s {
                    netlink_packet_route::route::RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
                    netlink_packet_route::route::RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
                    _ => return Parsed::Unsupported,
                }
            }
            // IPv6 dumps merge ECMP siblings into one message that notifications do not
            // match one for one.
            RouteAttribute::MultiPath(_) if v6 => return Parsed::Unsupported,
            RouteAttribute::MultiPath(hops) => oifs.extend(hops.iter().map(|h| h.interface_index)),
            RouteAttribute::NhId(_) => return Parsed::Unsupported,
            _ => {}
        }
    }
    Parsed::Route(Entry {
        info,
        tos: msg.header.tos,
        priority,
        kind: u8::from(msg.header.kind),
        protocol: u8::from(msg.header.protocol),
        prefsrc,
        oifs,
        seq: 0,
    })
}

/// The kernel's dump order of two routes of one family and table.
///
/// * IPv4 (`fib_table_dump`): the trie's leaves by key (the network address) ascending; in
///   a leaf, longer prefixes first, then tos descending, then priority ascending
///   (`fib_insert_alias`, `fib_find_alias`).
/// * IPv6 (`fib6_walk_continue`): the radix tree in post-order, left (bit 0) before right,
///   so a prefix comes after every longer one inside it; in a node, metric ascending
///   (`fib6_add_rt2node`).
///
/// Routes of one key keep the order they came in (`seq`).
fn order(a: &Entry, b: &Entry) -> Ordering {
    let prefix = match (a.info.dst, b.info.dst) {
        (ipnet::IpNet::V4(x), ipnet::IpNet::V4(y)) => u32::from(x.network())
            .cmp(&u32::from(y.network()))
            .then(y.prefix_len().cmp(&x.prefix_len()))
            .then(b.tos.cmp(&a.tos)),
        (ipnet::IpNet::V6(x), ipnet::IpNet::V6(y)) => post_order(
            u128::from(x.network()),
            x.prefix_len(),
            u128::from(y.network()),
            y.prefix_len(),
        ),
        (ipnet::IpNet::V4(_), ipnet::IpNet::V6(_)) => Ordering::Less,
        (ipnet::IpNet::V6(_), ipnet::IpNet::V4(_)) => Ordering::Greater,
    };
    prefix
        .then(a.priority.cmp(&b.priority))
        .then(a.seq.cmp(&b.seq))
}

/// Post-order of two prefixes in a binary radix tree: at the first bit they differ in (within
/// both), 0 first; when one contains the other, the longer (inner) one first.
fn post_order(a: u128, alen: u8, b: u128, blen: u8) -> Ordering {
    let common = alen.min(blen) as u32;
    let differ = (a ^ b).leading_zeros();
    if differ < common {
        // The bit at `differ` is 0 in the one that comes first.
        let abit = (a >> (127 - differ)) & 1;
        return if abit == 0 {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    blen.cmp(&alen)
}

/// The mirrored routes of both families, in dump order, and whether they can be trusted.
#[derive(Debug)]
pub(crate) struct RouteTable {
    v4: Vec<Entry>,
    v6: Vec<Entry>,
    /// Needs a dump before it answers again.
    pub(crate) stale: bool,
    next_seq: u64,
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable {
            v4: Vec::new(),
            v6: Vec::new(),
            stale: true,
            next_seq: 0,
        }
    }
}

impl RouteTable {
    fn family(&mut self, v6: bool) -> &mut Vec<Entry> {
        if v6 {
            &mut self.v6
        } else {
            &mut self.v4
        }
    }

    /// The answer of `list_routes` for `family`, exactly as a dump gives it.
    pub(crate) fn routes(&self, family: Family) -> Vec<RouteInfo> {
        let v = match family {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        };
        v.iter().map(|e| e.info.clone()).collect()
    }

    /// Replace the mirror by two fresh dumps (the replies of `RTM_GETROUTE` for the main
    /// table). Stays stale when the dumps hold what the mirror cannot follow, or are not in
    /// the order [`order`] expects: then the caller answers from the dump itself.
    pub(crate) fn load(&mut self, v4: &[RouteNetlinkMessage], v6: &[RouteNetlinkMessage]) {
        self.stale = false;
        self.v4 = self.load_family(v4, false);
        self.v6 = self.load_family(v6, true);
    }

    fn load_family(&mut self, replies: &[RouteNetlinkMessage], v6: bool) -> Vec<Entry> {
        let mut out = Vec::with_capacity(replies.len());
        for r in replies {
            let RouteNetlinkMessage::NewRoute(m) = r else {
                continue;
            };
            match parse(m) {
                Parsed::Ignored => {}
                Parsed::Unsupported => self.stale = true,
                Parsed::Route(mut e) => {
                    if e.info.dst.addr().is_ipv6() != v6 {
                        continue;
                    }
                    e.seq = self.next_seq;
                    self.next_seq += 1;
                    out.push(e);
                }
            }
        }
        if !out.is_sorted_by(|a, b| order(a, b) != Ordering::Greater) {
            tracing::debug!("route dump not in the expected order: mirror not used");
            self.stale = true;
        }
        out
    }

    /// Apply one datagram read from the mirror's socket. `settling`: the datagram may describe
    /// a change the last dump already showed (it was queued while the dump ran), so a route
    /// already there, or a deleted route already gone, is no surprise.
    pub(crate) fn apply_datagram(&mut self, datagram: &[u8], settling: bool) {
        let mut off = 0;
        while off < datagram.len() {
            if self.stale {
                return;
            }
            let Some(len) = datagram
                .get(off..off + 4)
                .map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")) as usize)
            else {
                self.stale = true;
                return;
            };
            if len < 16 || off + len > datagram.len() {
                self.stale = true;
                return;
            }
            match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&datagram[off..off + len]) {
                Ok(m) => self.apply(m.header.flags, m.payload, settling),
                Err(_) => self.stale = true,
            }
            off += (len + 3) & !3;
        }
    }

    fn apply(&mut self, flags: u16, payload: NetlinkPayload<RouteNetlinkMessage>, settling: bool) {
        let NetlinkPayload::InnerMessage(msg) = payload else {
            self.stale = true;
            return;
        };
        match msg {
            RouteNetlinkMessage::NewRoute(m) => self.new_route(&m, flags, settling),
            RouteNetlinkMessage::DelRoute(m) => self.del_route(&m, settling),
            RouteNetlinkMessage::NewLink(l) => {
                // Down flushes the link's IPv4 routes without notifications. A link that is
                // down and carries no route (every link moved into the namespace, before it
                // is configured) changes nothing.
                if !l.header.flags.contains(LinkFlags::Up) && self.uses_link(l.header.index) {
                    self.stale = true;
                }
            }
            // Gone (deleted, or moved to another namespace): its routes went silently. Its
            // addresses went before it, each with an `RTM_DELADDR` (below), so a link that
            // carries no mirrored route took nothing the mirror holds (a link moved out of
            // the host at each attach does not make the host's mirror dump again).
            RouteNetlinkMessage::DelLink(l) => {
                if self.uses_link(l.header.index) {
                    self.stale = true;
                }
            }
            // A deleted address takes its prefix route, the routes using it as source, and
            // every route of its link when it was the last one, without notifications.
            RouteNetlinkMessage::DelAddress(_) => self.stale = true,
            RouteNetlinkMessage::NewAddress(_) => {}
            _ => self.stale = true,
        }
    }

    fn uses_link(&self, index: u32) -> bool {
        self.v4
            .iter()
            .chain(&self.v6)
            .any(|e| e.oifs.contains(&index))
    }

    fn new_route(&mut self, m: &RouteMessage, flags: u16, settling: bool) {
        let mut e = match parse(m) {
            Parsed::Ignored => return,
            Parsed::Unsupported => {
                self.stale = true;
                return;
            }
            Parsed::Route(e) => e,
        };
        let v6 = e.info.dst.addr().is_ipv6();
        e.seq = self.next_seq;
        self.next_seq += 1;
        let routes = self.family(v6);
        if flags & NLM_F_REPLACE != 0 {
            // The kernel replaced the first route of this key in place.
            let same: Vec<usize> = (0..routes.len())
                .filter(|&i| routes[i].key_eq(&e))
                .collect();
            match same[..] {
                [i] => {
                    e.seq = routes[i].seq;
                    routes[i] = e;
                }
                [] if settling => insert(routes, e),
                _ => self.stale = true,
            }
            return;
        }
        if routes.iter().any(|r| r.same_route(&e)) {
            // Seen already (by the dump this follows).
            return;
        }
        let key_taken = routes.iter().any(|r| r.key_eq(&e));
        if flags & NLM_F_EXCL != 0 {
            // The first route of its key.
            if key_taken {
                self.stale = true;
            } else {
                insert(routes, e);
            }
        } else if v6 && e.info.gateway.is_none() {
            // Another IPv6 route of a taken key (one `fe80::/64` per link): after the others
            // (`fib6_add_rt2node`). One with a gateway may join a multipath route instead.
            insert(routes, e);
        } else {
            // IPv4 `prepend`/`append`, IPv6 ECMP: where it went is not certain.
            self.stale = true;
        }
    }

    fn del_route(&mut self, m: &RouteMessage, settling: bool) {
        let e = match parse(m) {
            Parsed::Ignored => return,
            Parsed::Unsupported => {
                self.stale = true;
                return;
            }
            Parsed::Route(e) => e,
        };
        let routes = self.family(e.info.dst.addr().is_ipv6());
        match routes.iter().position(|r| r.same_route(&e)) {
            Some(i) => {
                routes.remove(i);
            }
            None if settling => {}
            None => self.stale = true,
        }
    }
}

impl RouteTable {
    /// A `recv` on the mirror's socket failed with `errno`: whether to read on. `EAGAIN`: all
    /// read. `ENOBUFS`: the socket overflowed and notifications were dropped, so what they
    /// said is unknown (stale); what is queued after is read (and thrown away).
    fn recv_failed(&mut self, errno: Option<i32>) -> bool {
        match errno {
            Some(libc::EAGAIN) => false,
            Some(libc::EINTR) => true,
            Some(libc::ENOBUFS) => {
                self.stale = true;
                true
            }
            _ => {
                self.stale = true;
                false
            }
        }
    }
}

fn insert(routes: &mut Vec<Entry>, e: Entry) {
    let at = routes.partition_point(|r| order(r, &e) != Ordering::Greater);
    routes.insert(at, e);
}

/// The mirror of one namespace: its socket (in the groups above) and its table.
pub(crate) struct RouteMirror {
    pub(crate) sock: netlink_sys::Socket,
    pub(crate) table: RouteTable,
    /// Where datagrams are read, kept between drains (one per answer).
    buf: Vec<u8>,
}

/// Most datagrams drained in one go; past it (someone changing routes faster than they can be
/// read) the mirror goes stale and the next answer dumps.
const DRAIN_MAX: usize = 100_000;
/// The largest datagram read whole; a longer one (`MSG_TRUNC`) makes the mirror stale.
const DRAIN_BUF: usize = 64 * 1024;

impl RouteMirror {
    /// A mirror over `sock`, an rtnetlink socket of the namespace (non-blocking, bound, in no
    /// group yet). Stale until loaded.
    pub(crate) fn new(sock: netlink_sys::Socket, rcvbuf: usize) -> io::Result<RouteMirror> {
        set_rcvbuf(&sock, rcvbuf);
        for g in MIRROR_GROUPS {
            sock.add_membership(g)?;
        }
        // Kernels without nexthop objects have no such group: nothing to follow then.
        let _ = sock.add_membership(RTNLGRP_NEXTHOP);
        Ok(RouteMirror {
            sock,
            table: RouteTable::default(),
            buf: vec![0; DRAIN_BUF],
        })
    }

    /// Read everything queued on the socket, without blocking, and apply it (or throw it away,
    /// `discard`, before a dump that will show its effect anyway).
    pub(crate) fn drain(&mut self, discard: bool, settling: bool) {
        let buf = &mut self.buf;
        for _ in 0..DRAIN_MAX {
            // SAFETY: a valid descriptor and a buffer of the length passed.
            let n = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                if self
                    .table
                    .recv_failed(io::Error::last_os_error().raw_os_error())
                {
                    continue;
                }
                return;
            }
            let n = n as usize;
            if discard || self.table.stale {
                continue;
            }
            if n > buf.len() {
                self.table.stale = true;
                continue;
            }
            self.table.apply_datagram(&buf[..n], settling);
        }
        self.table.stale = true;
    }
}

/// The receive buffer: forced past `net.core.rmem_max` when allowed (as root), else as large
/// as that allows.
fn set_rcvbuf(sock: &netlink_sys::Socket, bytes: usize) {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: a valid descriptor and an int option value of the size passed.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{Emitable, NetlinkHeader};
    use netlink_packet_route::link::LinkMessage;
    use netlink_packet_route::route::{RouteAddress, RouteProtocol, RouteType};
    use netlink_packet_route::AddressFamily;

    fn route(dst: &str, oif: u32, metric: u32) -> RouteMessage {
        let net: ipnet::IpNet = dst.parse().unwrap();
        let mut m = RouteMessage::default();
        m.header.address_family = match net {
            ipnet::IpNet::V4(_) => AddressFamily::Inet,
            ipnet::IpNet::V6(_) => AddressFamily::Inet6,
        };
        m.header.destination_prefix_length = net.prefix_len();
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.kind = RouteType::Unicast;
        if net.prefix_len() > 0 {
            m.attributes.push(RouteAttribute::Destination(match net {
                ipnet::IpNet::V4(n) => RouteAddress::Inet(n.network()),
                ipnet::IpNet::V6(n) => RouteAddress::Inet6(n.network()),
            }));
        }
        m.attributes.push(RouteAttribute::Table(254));
        if metric != 0 {
            m.attributes.push(RouteAttribute::Priority(metric));
        }
        m.attributes.push(RouteAttribute::Oif(oif));
        m
    }

    fn datagram(msg: RouteNetlinkMessage, flags: u16) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        m.finalize();
        let mut buf = vec![0; m.buffer_len()];
        m.emit(&mut buf);
        buf
    }

    fn dsts(t: &RouteTable, f: Family) -> Vec<String> {
        t.routes(f).iter().map(|r| r.dst.to_string()).collect()
    }

    fn loaded(v4: &[&str], v6: &[&str]) -> RouteTable {
        let mut t = RouteTable::default();
        let v4: Vec<_> = v4
            .iter()
            .map(|d| RouteNetlinkMessage::NewRoute(route(d, 2, 0)))
            .collect();
        let v6: Vec<_> = v6
            .iter()
            .map(|d| RouteNetlinkMessage::NewRoute(route(d, 2, 256)))
            .collect();
        t.load(&v4, &v6);
        t
    }

    #[test]
    fn new_routes_go_where_the_kernel_dumps_them() {
        let mut t = loaded(&["0.0.0.0/0", "198.51.100.0/24"], &["fd00::/64", "::/0"]);
        assert!(!t.stale);
        for (d, m) in [
            ("192.0.2.0/24", 0),
            ("198.51.100.0/25", 0),
            ("198.51.100.128/25", 0),
        ] {
            t.apply_datagram(
                &datagram(RouteNetlinkMessage::NewRoute(route(d, 3, m)), NLM_F_EXCL),
                false,
            );
        }
        for d in ["fd00::/16", "fd00::1/128", "fd00:1::/64", "fd01::/64"] {
            t.apply_datagram(
                &datagram(RouteNetlinkMessage::NewRoute(route(d, 3, 1024)), NLM_F_EXCL),
                false,
            );
        }
        assert!(!t.stale);
        assert_eq!(
            dsts(&t, Family::V4),
            [
                "0.0.0.0/0",
                "192.0.2.0/24",
                "198.51.100.0/25",
                "198.51.100.0/24",
                "198.51.100.128/25"
            ]
        );
        assert_eq!(
            dsts(&t, Family::V6),
            [
                "fd00::1/128",
                "fd00::/64",
                "fd00:1::/64",
                "fd00::/16",
                "fd01::/64",
                "::/0"
            ]
        );
        // Deleted: gone; deleted again (not there): stale.
        let del = datagram(
            RouteNetlinkMessage::DelRoute(route("192.0.2.0/24", 3, 0)),
            0,
        );
        t.apply_datagram(&del, false);
        assert!(!t.stale);
        assert_eq!(t.routes(Family::V4).len(), 4);
        t.apply_datagram(&del, false);
        assert!(t.stale);
    }

    #[test]
    fn a_dump_out_of_the_expected_order_leaves_the_mirror_stale() {
        let t = loaded(&["198.51.100.0/24", "192.0.2.0/24"], &[]);
        assert!(t.stale);
    }

    #[test]
    fn uncertain_changes_make_the_mirror_stale() {
        let flows: Vec<(Vec<u8>, bool)> = vec![
            // IPv4 append (no NLM_F_EXCL): where it went is not followed.
            (
                datagram(
                    RouteNetlinkMessage::NewRoute(route("192.0.2.0/24", 3, 0)),
                    0,
                ),
                true,
            ),
            // IPv6 without a gateway of a taken key: appended, followed.
            (
                datagram(RouteNetlinkMessage::NewRoute(route("fd00::/64", 3, 256)), 0),
                false,
            ),
            // EXCL for a key the mirror has: it missed something.
            (
                datagram(
                    RouteNetlinkMessage::NewRoute(route("198.51.100.0/24", 3, 0)),
                    NLM_F_EXCL,
                ),
                true,
            ),
            // Replace of the one route of its key: in place.
            (
                datagram(
                    RouteNetlinkMessage::NewRoute(route("198.51.100.0/24", 3, 0)),
                    NLM_F_REPLACE,
                ),
                false,
            ),
            // A link that carried routes deleted, or an address deleted: IPv4 routes went
            // silently.
            (
                datagram(
                    RouteNetlinkMessage::DelLink({
                        let mut l = LinkMessage::default();
                        l.header.index = 2;
                        l
                    }),
                    0,
                ),
                true,
            ),
            // A link that carried none: nothing changed.
            (
                datagram(RouteNetlinkMessage::DelLink(LinkMessage::default()), 0),
                false,
            ),
            (
                datagram(RouteNetlinkMessage::DelAddress(Default::default()), 0),
                true,
            ),
            // Garbage.
            (vec![8, 0, 0, 0, 1, 2, 3, 4], true),
            (
                {
                    let mut d =
                        datagram(RouteNetlinkMessage::NewRoute(route("fd00::/64", 3, 256)), 0);
                    d.truncate(d.len() - 4);
                    d
                },
                true,
            ),
        ];
        for (i, (d, stale)) in flows.into_iter().enumerate() {
            let mut t = loaded(&["198.51.100.0/24"], &["fd00::/64"]);
            t.apply_datagram(&d, false);
            assert_eq!(t.stale, stale, "case {i}");
        }
    }

    #[test]
    fn a_link_going_down_matters_only_when_routes_use_it() {
        let mut t = loaded(&["198.51.100.0/24"], &[]);
        let mut down = LinkMessage::default();
        down.header.index = 7;
        t.apply_datagram(
            &datagram(RouteNetlinkMessage::NewLink(down.clone()), 0),
            false,
        );
        assert!(!t.stale, "no route uses link 7");
        down.header.index = 2;
        t.apply_datagram(
            &datagram(RouteNetlinkMessage::NewLink(down.clone()), 0),
            false,
        );
        assert!(t.stale, "198.51.100.0/24 goes through link 2");
        let mut t = loaded(&["198.51.100.0/24"], &[]);
        down.header.flags = LinkFlags::Up;
        t.apply_datagram(&datagram(RouteNetlinkMessage::NewLink(down), 0), false);
        assert!(!t.stale, "up");
    }

    #[test]
    fn settling_after_a_dump_accepts_what_the_dump_showed() {
        let mut t = loaded(&["198.51.100.0/24"], &[]);
        t.apply_datagram(
            &datagram(
                RouteNetlinkMessage::NewRoute(route("198.51.100.0/24", 2, 0)),
                NLM_F_EXCL,
            ),
            true,
        );
        t.apply_datagram(
            &datagram(
                RouteNetlinkMessage::DelRoute(route("192.0.2.0/24", 2, 0)),
                0,
            ),
            true,
        );
        assert!(!t.stale);
        assert_eq!(dsts(&t, Family::V4), ["198.51.100.0/24"]);
    }

    #[test]
    fn enobufs_makes_the_mirror_stale() {
        let mut t = loaded(&["198.51.100.0/24"], &[]);
        assert!(!t.recv_failed(Some(libc::EAGAIN)));
        assert!(t.recv_failed(Some(libc::EINTR)));
        assert!(!t.stale);
        assert!(
            t.recv_failed(Some(libc::ENOBUFS)),
            "reads on past the overflow"
        );
        assert!(t.stale);
        let mut t = loaded(&["198.51.100.0/24"], &[]);
        assert!(!t.recv_failed(Some(libc::EBADF)));
        assert!(t.stale);
    }

    #[test]
    fn draining_an_empty_socket_keeps_the_mirror_fresh() {
        let sock = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE).unwrap();
        sock.set_non_blocking(true).unwrap();
        let mut m = RouteMirror {
            sock,
            table: loaded(&["198.51.100.0/24"], &[]),
            buf: vec![0; DRAIN_BUF],
        };
        m.drain(false, false);
        assert!(!m.table.stale);
    }
}
