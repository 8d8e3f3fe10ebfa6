//! The simulated kernel: every operation of `NetBackend`, synchronous, in virtual time.
//!
//! One `Kernel` holds every namespace. Operations validate everything before changing anything,
//! except where Linux itself is not atomic (documented at the operation).

use crate::addr::{eui64_link_local, same_addr, Addr};
use crate::clock::{Clock, KernelTimer};
use crate::frame::{self, FrameRecord, Parsed};
use crate::link::{check_name, BridgeState, Kind, Link, Port};
use crate::namespace::{Devconf, FxMap, Namespace, NsId, NsMap};
use crate::neighbour::{NeighEntry, NeighState, Update};
use crate::rng::Rng;
use crate::route::{Route, RouteScopeOrd, RouteTable};
use crate::sysctl::{self, builtin, DevconfInherit, Overrides, Scope, SysPath, Table, Target};
use futures::channel::mpsc::{unbounded, UnboundedReceiver};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nsplumb_core::{
    AddrFlags, AddrInfo, BridgeInfo, Errno, Family, IfIndex, LinkEvent, LinkFlags, LinkInfo,
    LinkStats, MacAddr, NetnsRef, PeerRef, PortFlags, PortState, RouteInfo, RouteScope, RouteSpec,
    Timestamp, VethPair, VethRequest,
};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::task::Waker;
use std::time::Duration;

const SEC: u64 = 1_000_000_000;

struct Keys {
    disable_ipv6: u16,
    accept_dad: u16,
    dad_transmits: u16,
    addr_gen_mode: u16,
    keep_addr_on_down: u16,
    accept_untracked_na: u16,
    forwarding6: u16,
    mtu6: u16,
    forwarding4: u16,
    accept_redirects4: u16,
    arp_accept: u16,
    promote_secondaries: u16,
    locktime4: u16,
    retrans_time_ms6: u16,
    rtr_solicit_delay: u16,
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let c6 = |k| Table::Conf6.index_of(k).expect("known key");
        let c4 = |k| Table::Conf4.index_of(k).expect("known key");
        Keys {
            disable_ipv6: c6("disable_ipv6"),
            accept_dad: c6("accept_dad"),
            dad_transmits: c6("dad_transmits"),
            addr_gen_mode: c6("addr_gen_mode"),
            keep_addr_on_down: c6("keep_addr_on_down"),
            accept_untracked_na: c6("accept_untracked_na"),
            forwarding6: c6("forwarding"),
            mtu6: c6("mtu"),
            rtr_solicit_delay: c6("router_solicitation_delay"),
            forwarding4: c4("forwarding"),
            accept_redirects4: c4("accept_redirects"),
            arp_accept: c4("arp_accept"),
            promote_secondaries: c4("promote_secondaries"),
            locktime4: Table::Neigh4.index_of("locktime").expect("known key"),
            retrans_time_ms6: Table::Neigh6
                .index_of("retrans_time_ms")
                .expect("known key"),
        }
    })
}

/// The in-memory kernel.
pub struct Kernel {
    ns_by_ref: FxMap<NetnsRef, NsId>,
    pub(crate) namespaces: NsMap,
    next_ns: NsId,
    pub(crate) clock: Clock,
    rng: Rng,
    next_uid: u64,
    frames: Vec<FrameRecord>,
    frame_cap: Option<usize>,
    swept_len: usize,
    /// `net.core.devconf_inherit_init_net` of the machine (see [`crate::HostSettings`]).
    pub(crate) devconf_inherit: DevconfInherit,
    /// The machine's initial namespace when it is not the simulated host (the host is then a
    /// namespace created from it, as a kernel test's private host); `None`: the host is it.
    pub(crate) outer_init_net: Option<Devconf>,
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel::new(0)
    }
}

impl Kernel {
    /// A kernel with only the host namespace (holding `lo`, index 1, down). `seed` drives MACs
    /// and DAD delays.
    pub fn new(seed: u64) -> Kernel {
        let mut k = Kernel {
            ns_by_ref: FxMap::default(),
            namespaces: NsMap::default(),
            next_ns: 0,
            clock: Clock::default(),
            rng: Rng::new(seed),
            next_uid: 0,
            frames: Vec::new(),
            frame_cap: None,
            swept_len: 512,
            devconf_inherit: DevconfInherit::default(),
            outer_init_net: None,
        };
        k.add_namespace(NetnsRef::Host);
        k
    }

    fn add_namespace(&mut self, r: NetnsRef) -> NsId {
        let id = self.next_ns;
        self.next_ns += 1;
        let devconf = if r.is_host() {
            Devconf::default()
        } else {
            self.devconf_for_new_namespace()
        };
        let mut ns = Namespace::new(r.clone(), devconf);
        let idx = ns.alloc_index();
        debug_assert_eq!(idx, 1);
        self.namespaces.insert(id, ns);
        self.ns_by_ref.insert(r, id);
        self.insert_link(id, 1, "lo".into(), Kind::Loopback, MacAddr::ZERO, 65536);
        id
    }

    // ------------------------------------------------------------------ time

    /// Virtual now.
    pub fn now(&self) -> Timestamp {
        self.clock.now
    }

    /// Earliest pending kernel timer (DAD, STP) or `sleep_until` deadline.
    pub fn next_deadline(&mut self) -> Option<Timestamp> {
        while let Some((&(at, seq), t)) = self.clock.timers.iter().next() {
            if self.timer_live(t, at) {
                break;
            }
            self.clock.timers.remove(&(at, seq));
        }
        let t = self.clock.timers.keys().next().map(|k| k.0);
        let s = self.clock.sleepers.keys().next().map(|k| k.0);
        match (t, s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves virtual time to `t` (never backwards), firing kernel timers in order and waking
    /// `sleep_until` futures that are due.
    pub fn advance_to(&mut self, t: Timestamp) {
        for w in self.advance_collect(t) {
            w.wake();
        }
    }

    pub fn advance_by(&mut self, d: Duration) {
        let t = self.clock.now + d;
        self.advance_to(t);
    }

    pub(crate) fn advance_collect(&mut self, t: Timestamp) -> Vec<Waker> {
        while let Some((at, timer)) = self.clock.pop_due_timer(t) {
            if at > self.clock.now {
                self.clock.now = at;
            }
            self.fire(at, timer);
        }
        if t > self.clock.now {
            self.clock.now = t;
        }
        self.clock.take_due_sleepers()
    }

    fn timer_live(&self, t: &KernelTimer, at: Timestamp) -> bool {
        match t {
            KernelTimer::Dad {
                ns,
                index,
                uid,
                addr,
            } => self
                .live_link(*ns, *index, *uid)
                .map(|l| {
                    l.addrs
                        .iter()
                        .any(|a| a.net.addr() == IpAddr::V6(*addr) && a.dad_deadline == Some(at))
                })
                .unwrap_or(false),
            KernelTimer::Stp { ns, index, uid } => self
                .live_link(*ns, *index, *uid)
                .and_then(|l| l.port.as_ref())
                .map(|p| p.stp_deadline == Some(at))
                .unwrap_or(false),
        }
    }

    /// Adds a kernel timer. Timers of deleted links or flushed addresses are not cancelled one
    /// by one; when the queue has doubled since the last sweep, stale ones are swept out (so a
    /// benchmark that never advances time does not grow it without bound).
    fn schedule(&mut self, at: Timestamp, t: KernelTimer) {
        self.clock.add_timer(at, t);
        let n = self.clock.timers.len();
        if n >= 1024 && n >= 2 * self.swept_len {
            let stale: Vec<(Timestamp, u64)> = self
                .clock
                .timers
                .iter()
                .filter(|(k, t)| !self.timer_live(t, k.0))
                .map(|(k, _)| *k)
                .collect();
            for k in stale {
                self.clock.timers.remove(&k);
            }
            self.swept_len = self.clock.timers.len().max(512);
        }
    }

    fn live_link(&self, ns: NsId, index: IfIndex, uid: u64) -> Option<&Link> {
        self.namespaces
            .get(&ns)?
            .links
            .get(&index)
            .filter(|l| l.uid == uid)
    }

    fn fire(&mut self, at: Timestamp, timer: KernelTimer) {
        if !self.timer_live(&timer, at) {
            return;
        }
        match timer {
            KernelTimer::Dad {
                ns, index, addr, ..
            } => {
                let l = self.lk_mut(ns, index);
                if let Some(a) = l
                    .addrs
                    .iter_mut()
                    .find(|a| a.net.addr() == IpAddr::V6(addr))
                {
                    a.flags.tentative = false;
                    a.dad_deadline = None;
                }
            }
            KernelTimer::Stp { ns, index, uid } => {
                let br_idx = self.lk(ns, index).master.expect("ports have a master");
                let fd = self
                    .lk(ns, br_idx)
                    .bridge()
                    .map(|b| b.forward_delay_cs)
                    .unwrap_or(1500);
                let port = self
                    .lk_mut(ns, index)
                    .port
                    .as_mut()
                    .expect("live timer implies port");
                match port.state {
                    PortState::Listening => {
                        port.state = PortState::Learning;
                        let next = at + Duration::from_millis(u64::from(fd) * 10);
                        port.stp_deadline = Some(next);
                        self.schedule(next, KernelTimer::Stp { ns, index, uid });
                    }
                    _ => {
                        port.state = PortState::Forwarding;
                        port.stp_deadline = None;
                        self.fwd_delta(ns, br_idx, 1);
                    }
                }
                self.notify(ns, index);
                self.bridge_select(ns, br_idx);
            }
        }
    }

    // ------------------------------------------------------------------ lookups

    /// Like Linux's netns cookie: never reused, even when a path is (a namespace deleted
    /// and created again under the same name gets a new one). ENOENT for an unknown namespace.
    pub fn netns_cookie(&self, r: &NetnsRef) -> Result<u64, Errno> {
        self.ns_id(r).map(|id| u64::from(id) + 1)
    }

    pub(crate) fn ns_id(&self, r: &NetnsRef) -> Result<NsId, Errno> {
        self.ns_by_ref.get(r).copied().ok_or(Errno::ENOENT)
    }

    pub(crate) fn ns(&self, id: NsId) -> &Namespace {
        &self.namespaces[&id]
    }

    fn nsm(&mut self, id: NsId) -> &mut Namespace {
        self.namespaces
            .get_mut(&id)
            .expect("namespace ids are kept valid")
    }

    fn lk(&self, id: NsId, idx: IfIndex) -> &Link {
        &self.ns(id).links[&idx]
    }

    fn lk_mut(&mut self, id: NsId, idx: IfIndex) -> &mut Link {
        self.nsm(id)
            .links
            .get_mut(&idx)
            .expect("link checked before")
    }

    fn resolve(&self, r: &NetnsRef, idx: IfIndex) -> Result<NsId, Errno> {
        let id = self.ns_id(r)?;
        self.ns(id).link(idx)?;
        Ok(id)
    }

    /// The name of a link for error messages: its name, or `ifindex N` when it does not exist.
    pub fn object_name(&self, r: &NetnsRef, idx: IfIndex) -> String {
        self.ns_id(r)
            .ok()
            .and_then(|id| self.ns(id).links.get(&idx))
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("ifindex {idx}"))
    }

    /// Internal carrier: veth when both ends are up; bridge its own bit; others always.
    pub(crate) fn carrier(&self, id: NsId, idx: IfIndex) -> bool {
        let l = self.lk(id, idx);
        match &l.kind {
            Kind::Veth { peer_ns, peer } => {
                l.up && self
                    .namespaces
                    .get(peer_ns)
                    .and_then(|n| n.links.get(peer))
                    .map(|p| p.up)
                    .unwrap_or(false)
            }
            Kind::Bridge(b) => b.carrier,
            Kind::Loopback | Kind::Dummy => true,
        }
    }

    pub(crate) fn info(&self, id: NsId, idx: IfIndex) -> LinkInfo {
        let l = self.lk(id, idx);
        let carrier = l.up && self.carrier(id, idx);
        let peer = match &l.kind {
            Kind::Veth { peer_ns, peer } => Some(PeerRef {
                netns: self.namespaces.get(peer_ns).map(|n| n.netref.clone()),
                index: *peer,
            }),
            _ => None,
        };
        LinkInfo {
            index: idx,
            name: l.name.clone(),
            kind: l.kind(),
            flags: LinkFlags {
                up: l.up,
                lower_up: carrier,
                running: carrier,
            },
            // As nsplumb-linux reports it: an all-zero address (loopback, a bridge without
            // ports) is no MAC.
            mac: (!l.mac.is_zero()).then_some(l.mac),
            mtu: l.mtu,
            master: l.master,
            peer,
            bridge: l.bridge().map(|b| BridgeInfo {
                stp_enabled: b.stp,
                forward_delay_cs: b.forward_delay_cs,
                vlan_filtering: Some(false),
            }),
            port_state: l.port.as_ref().map(|p| p.state),
            port_flags: l.port.as_ref().map(|_| PortFlags::default()),
            ipv6_disabled: Some(self.v6_disabled(id, idx)),
            stats: Some(l.stats),
        }
    }

    fn notify(&mut self, id: NsId, idx: IfIndex) {
        if self.ns(id).has_subscribers() {
            let info = self.info(id, idx);
            self.nsm(id).emit(LinkEvent::Changed(info));
        }
    }

    // ------------------------------------------------------------------ sysctl helpers

    fn link_val(&self, id: NsId, idx: IfIndex, table: Table, key: u16) -> i64 {
        let l = self.lk(id, idx);
        match l.sysctl.get(table, key) {
            Some(v) => v.parse().unwrap_or(0),
            None => sysctl::builtin_int(
                table,
                key,
                Scope::Link {
                    kind: &l.kind(),
                    mtu: l.mtu,
                },
            ),
        }
    }

    fn all_val(&self, id: NsId, table: Table, key: u16) -> i64 {
        match self.ns(id).all.get(table, key) {
            Some(v) => v.parse().unwrap_or(0),
            None => sysctl::builtin_int(table, key, Scope::All),
        }
    }

    pub(crate) fn v6_disabled(&self, id: NsId, idx: IfIndex) -> bool {
        self.link_val(id, idx, Table::Conf6, keys().disable_ipv6) != 0
    }

    /// Sysctls a new or moved-in link starts with: the namespace's `default` values (but the
    /// IPv6 MTU, which follows the link).
    pub(crate) fn inherited(&self, id: NsId) -> Overrides {
        let mut o = self.ns(id).dflt.clone();
        if !o.is_empty() {
            o.0.retain(|(t, k, _)| !(*t == Table::Conf6 && *k == keys().mtu6));
        }
        o
    }

    // ------------------------------------------------------------------ namespaces

    /// `ip netns add NAME`: `/run/netns/NAME`; EEXIST if it exists, EINVAL for a bad name.
    pub fn create_netns(&mut self, name: &str) -> Result<NetnsRef, Errno> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(Errno::EINVAL);
        }
        let r = NetnsRef::path(format!("/run/netns/{name}"));
        if self.ns_by_ref.contains_key(&r) {
            return Err(Errno::EEXIST);
        }
        self.add_namespace(r.clone());
        Ok(r)
    }

    /// Sim-only: a namespace known by an arbitrary path (e.g. `/proc/1234/ns/net`, as a
    /// container runtime hands it over); EEXIST if that path is taken, EINVAL if not absolute.
    pub fn create_netns_at(&mut self, path: &str) -> Result<NetnsRef, Errno> {
        if !path.starts_with('/') || path.len() < 2 {
            return Err(Errno::EINVAL);
        }
        let r = NetnsRef::path(path);
        if self.ns_by_ref.contains_key(&r) {
            return Err(Errno::EEXIST);
        }
        self.add_namespace(r.clone());
        Ok(r)
    }

    /// `ip netns del`: destroys its links (a veth takes its peer along, in any namespace).
    pub fn delete_netns(&mut self, r: &NetnsRef) -> Result<(), Errno> {
        if r.is_host() {
            return Err(Errno::EINVAL);
        }
        let id = self.ns_id(r)?;
        let idxs: Vec<IfIndex> = self.ns(id).links.keys().copied().collect();
        for idx in idxs {
            if self.ns(id).links.contains_key(&idx) {
                self.destroy_link(id, idx);
            }
        }
        self.namespaces.remove(&id);
        self.ns_by_ref.remove(r);
        Ok(())
    }

    /// The host first, then the others by path.
    pub fn list_netns(&self) -> Vec<NetnsRef> {
        let mut v: Vec<NetnsRef> = self
            .ns_by_ref
            .keys()
            .filter(|r| !r.is_host())
            .cloned()
            .collect();
        v.sort();
        v.insert(0, NetnsRef::Host);
        v
    }

    // ------------------------------------------------------------------ links: reading

    pub fn link_by_name(&self, r: &NetnsRef, name: &str) -> Result<LinkInfo, Errno> {
        let id = self.ns_id(r)?;
        let idx = self.ns(id).index_of(name)?;
        Ok(self.info(id, idx))
    }

    pub fn link_by_index(&self, r: &NetnsRef, idx: IfIndex) -> Result<LinkInfo, Errno> {
        let id = self.resolve(r, idx)?;
        Ok(self.info(id, idx))
    }

    pub fn list_links(&self, r: &NetnsRef) -> Result<Vec<LinkInfo>, Errno> {
        let id = self.ns_id(r)?;
        Ok(self
            .ns(id)
            .links
            .keys()
            .map(|&i| self.info(id, i))
            .collect())
    }

    // ------------------------------------------------------------------ links: creation

    fn insert_link(
        &mut self,
        id: NsId,
        idx: IfIndex,
        name: String,
        kind: Kind,
        mac: MacAddr,
        mtu: u32,
    ) {
        self.next_uid += 1;
        let sysctl = self.inherited(id);
        let link = Link {
            uid: self.next_uid,
            name: name.clone(),
            kind,
            up: false,
            mac,
            mtu,
            master: None,
            port: None,
            addrs: Vec::new(),
            v6_ready: false,
            v6_mroute: false,
            sysctl,
            conf4_written: 0,
            stats: LinkStats::default(),
        };
        let ns = self.nsm(id);
        ns.links.insert(idx, link);
        ns.names.insert(name, idx);
        self.notify(id, idx);
    }

    fn check_new_name(&self, id: NsId, name: &str) -> Result<(), Errno> {
        check_name(name)?;
        if self.ns(id).names.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        Ok(())
    }

    /// `ip link add NAME type bridge`: STP off, forward delay 15 s, random MAC, down.
    pub fn create_bridge(&mut self, r: &NetnsRef, name: &str) -> Result<IfIndex, Errno> {
        let id = self.ns_id(r)?;
        self.check_new_name(id, name)?;
        let idx = self.nsm(id).alloc_index();
        let mac = self.rng.mac();
        let b = BridgeState {
            stp: false,
            forward_delay_cs: 1500,
            ports: Default::default(),
            carrier: true,
            mac_set: false,
            fwd_ports: 0,
            port_macs: Default::default(),
        };
        self.insert_link(id, idx, name.to_string(), Kind::Bridge(b), mac, 1500);
        Ok(idx)
    }

    /// Sim-only: a dummy link (carrier always on once up), for tests needing a plain host link.
    pub fn create_dummy(&mut self, r: &NetnsRef, name: &str) -> Result<IfIndex, Errno> {
        let id = self.ns_id(r)?;
        self.check_new_name(id, name)?;
        let idx = self.nsm(id).alloc_index();
        let mac = self.rng.mac();
        self.insert_link(id, idx, name.to_string(), Kind::Dummy, mac, 1500);
        Ok(idx)
    }

    /// `ip link add HOST type veth peer name PEER netns NS [address MAC]` plus master and up in
    /// the same request; atomic like Linux (a failed master unregisters the pair).
    pub fn create_veth(&mut self, r: &NetnsRef, req: &VethRequest) -> Result<VethPair, Errno> {
        let id = self.ns_id(r)?;
        let pid = self.ns_id(&req.peer_netns)?;
        self.check_new_name(id, &req.host_name)?;
        self.check_new_name(pid, &req.peer_name)?;
        if id == pid && req.host_name == req.peer_name {
            return Err(Errno::EEXIST);
        }
        if let Some(m) = req.peer_mac {
            if !m.is_assignable() {
                return Err(Errno::EADDRNOTAVAIL);
            }
        }
        if let Some(m) = req.host_master {
            let ml = self.ns(id).links.get(&m).ok_or(Errno::EINVAL)?;
            if ml.bridge().is_none() {
                return Err(Errno::EOPNOTSUPP);
            }
        }
        let peer_idx = self.nsm(pid).alloc_index();
        let host_idx = self.nsm(id).alloc_index();
        let peer_mac = req.peer_mac.unwrap_or_else(|| self.rng.mac());
        let host_mac = self.rng.mac();
        self.insert_link(
            pid,
            peer_idx,
            req.peer_name.clone(),
            Kind::Veth {
                peer_ns: id,
                peer: host_idx,
            },
            peer_mac,
            1500,
        );
        self.insert_link(
            id,
            host_idx,
            req.host_name.clone(),
            Kind::Veth {
                peer_ns: pid,
                peer: peer_idx,
            },
            host_mac,
            1500,
        );
        if let Some(m) = req.host_master {
            self.enslave(id, host_idx, m)?;
        }
        if req.host_up {
            self.up(id, host_idx);
        }
        Ok(VethPair {
            host_index: host_idx,
            peer_index: peer_idx,
        })
    }

    // ------------------------------------------------------------------ links: deletion

    /// Deletes links as one batch: every index must exist (else ENODEV, nothing deleted);
    /// loopback cannot be deleted (EOPNOTSUPP). A veth takes its peer along.
    pub fn delete_links(&mut self, r: &NetnsRef, indices: &[IfIndex]) -> Result<(), Errno> {
        let id = self.ns_id(r)?;
        for &i in indices {
            if self.ns(id).link(i)?.is_loopback() {
                return Err(Errno::EOPNOTSUPP);
            }
        }
        for &i in indices {
            if self.ns(id).links.contains_key(&i) {
                self.destroy_link(id, i);
            }
        }
        Ok(())
    }

    /// Sim-only: delete a link behind nsplumb's back (same as `ip link del`).
    pub fn delete_link(&mut self, r: &NetnsRef, idx: IfIndex) -> Result<(), Errno> {
        self.delete_links(r, &[idx])
    }

    fn destroy_link(&mut self, id: NsId, idx: IfIndex) {
        if self.lk(id, idx).up {
            self.down(id, idx);
        }
        if self.lk(id, idx).master.is_some() {
            self.release(id, idx);
        }
        let ports: Vec<IfIndex> = self
            .lk(id, idx)
            .bridge()
            .map(|b| b.ports.iter().copied().collect())
            .unwrap_or_default();
        for p in ports {
            self.release(id, p);
        }
        let link = self.detach_from_ns(id, idx);
        if let Kind::Veth { peer_ns, peer } = link.kind {
            if self
                .namespaces
                .get(&peer_ns)
                .map(|n| n.links.contains_key(&peer))
                .unwrap_or(false)
            {
                self.destroy_link(peer_ns, peer);
            }
        }
    }

    /// Removes a link from its namespace with its routes and neighbours; emits RTM_DELLINK.
    fn detach_from_ns(&mut self, id: NsId, idx: IfIndex) -> Link {
        let ns = self.nsm(id);
        ns.routes4.remove_oif(idx, |_| true);
        ns.routes6.remove_oif(idx, |_| true);
        ns.neigh.flush_link(idx, false);
        let link = ns.links.remove(&idx).expect("checked");
        ns.names.remove(&link.name);
        if ns.has_subscribers() {
            ns.emit(LinkEvent::Removed {
                index: idx,
                name: link.name.clone(),
            });
        }
        link
    }

    // ------------------------------------------------------------------ links: changes

    /// `ip link set DEV netns NS name NEW` in one message.
    ///
    /// Linux 6.x (`__dev_change_net_namespace`, checked on the kernel): the link arrives DOWN,
    /// without addresses, routes or master, with the destination's `default` sysctls, keeping
    /// its index when free. If its current name is taken in the destination, `NEW` is used
    /// instead (EEXIST, nothing changes, when `NEW` is taken too). If the current name is free,
    /// the link moves under it and is renamed afterwards: when `NEW` is taken there the call
    /// fails with EEXIST *after* the move (the kernel is not atomic here). Loopback and bridges
    /// are namespace-local (EINVAL). Moving within the same namespace is a rename.
    pub fn move_link(
        &mut self,
        from: &NetnsRef,
        idx: IfIndex,
        to: &NetnsRef,
        new_name: &str,
    ) -> Result<IfIndex, Errno> {
        let id = self.resolve(from, idx)?;
        let tid = self.ns_id(to)?;
        check_name(new_name)?;
        if id == tid {
            self.rename_link(from, idx, new_name)?;
            return Ok(idx);
        }
        let l = self.lk(id, idx);
        if matches!(l.kind, Kind::Loopback | Kind::Bridge(_)) {
            return Err(Errno::EINVAL);
        }
        let cur_taken = self.ns(tid).names.contains_key(&l.name);
        let new_taken = self.ns(tid).names.contains_key(new_name);
        if cur_taken && new_taken {
            return Err(Errno::EEXIST);
        }
        if self.lk(id, idx).up {
            self.down(id, idx);
        }
        if self.lk(id, idx).master.is_some() {
            self.release(id, idx);
        }
        let mut link = self.detach_from_ns(id, idx);
        link.addrs.clear();
        link.v6_ready = false;
        link.v6_mroute = false;
        link.sysctl = self.inherited(tid);
        link.conf4_written = 0;
        if cur_taken {
            link.name = new_name.to_string();
        }
        let renamed_on_arrival = link.name == new_name;
        let new_idx = self.nsm(tid).reserve_index(idx);
        if let Kind::Veth { peer_ns, peer } = link.kind {
            if let Some(p) = self
                .namespaces
                .get_mut(&peer_ns)
                .and_then(|n| n.links.get_mut(&peer))
            {
                p.kind = Kind::Veth {
                    peer_ns: tid,
                    peer: new_idx,
                };
            }
        }
        let ns = self.nsm(tid);
        ns.names.insert(link.name.clone(), new_idx);
        ns.links.insert(new_idx, link);
        self.notify(tid, new_idx);
        if !renamed_on_arrival {
            if new_taken {
                return Err(Errno::EEXIST);
            }
            self.do_rename(tid, new_idx, new_name);
        }
        Ok(new_idx)
    }

    /// `ip link set DEV name NEW`. Linux 6.x renames UP links too (checked; older kernels said
    /// EBUSY).
    pub fn rename_link(&mut self, r: &NetnsRef, idx: IfIndex, name: &str) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        check_name(name)?;
        let l = self.lk(id, idx);
        if l.name == name {
            return Ok(());
        }
        if self.ns(id).names.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        self.do_rename(id, idx, name);
        Ok(())
    }

    fn do_rename(&mut self, id: NsId, idx: IfIndex, name: &str) {
        let ns = self.nsm(id);
        let l = ns.links.get_mut(&idx).expect("checked");
        let old = std::mem::replace(&mut l.name, name.to_string());
        ns.names.remove(&old);
        ns.names.insert(name.to_string(), idx);
        self.notify(id, idx);
    }

    pub fn set_link_up(&mut self, r: &NetnsRef, idx: IfIndex) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        if !self.lk(id, idx).up {
            self.up(id, idx);
        }
        Ok(())
    }

    pub fn set_link_down(&mut self, r: &NetnsRef, idx: IfIndex) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        if self.lk(id, idx).up {
            self.down(id, idx);
        }
        Ok(())
    }

    fn up(&mut self, id: NsId, idx: IfIndex) {
        self.lk_mut(id, idx).up = true;
        if self.lk(id, idx).is_loopback()
            && !self
                .lk(id, idx)
                .addrs
                .iter()
                .any(|a| a.net.addr() == IpAddr::V4(Ipv4Addr::LOCALHOST))
        {
            let net = IpNet::V4(Ipv4Net::new(Ipv4Addr::LOCALHOST, 8).expect("valid"));
            self.nsm(id).local_table = true;
            self.lk_mut(id, idx).addrs.push(Addr {
                net,
                flags: perm(false),
                dad_deadline: None,
            });
        }
        self.notify(id, idx);
        self.sync_routes(id, idx);
        self.v6_check_ready(id, idx);
        if let Kind::Veth { peer_ns, peer } = self.lk(id, idx).kind {
            if self
                .namespaces
                .get(&peer_ns)
                .and_then(|n| n.links.get(&peer))
                .map(|p| p.up)
                .unwrap_or(false)
            {
                self.carrier_on(peer_ns, peer);
                self.carrier_on(id, idx);
            }
        }
        let ports: Vec<IfIndex> = self
            .lk(id, idx)
            .bridge()
            .map(|b| b.ports.iter().copied().collect())
            .unwrap_or_default();
        for p in ports {
            self.port_refresh(id, p);
        }
        if self.lk(id, idx).master.is_some() {
            self.port_refresh(id, idx);
        }
    }

    fn down(&mut self, id: NsId, idx: IfIndex) {
        let had_carrier = self.carrier(id, idx);
        self.lk_mut(id, idx).up = false;
        self.ipv6_ifdown(id, idx);
        {
            let ns = self.nsm(id);
            ns.routes4.remove_oif(idx, |_| true);
            ns.neigh.flush_link(idx, false);
        }
        let ports: Vec<IfIndex> = self
            .lk(id, idx)
            .bridge()
            .map(|b| b.ports.iter().copied().collect())
            .unwrap_or_default();
        for p in ports {
            self.port_refresh(id, p);
        }
        if !self
            .lk(id, idx)
            .bridge()
            .map(|b| b.ports.is_empty())
            .unwrap_or(true)
        {
            self.bridge_select(id, idx);
        }
        if self.lk(id, idx).master.is_some() {
            self.port_refresh(id, idx);
        }
        self.notify(id, idx);
        if let Kind::Veth { peer_ns, peer } = self.lk(id, idx).kind {
            if had_carrier
                && self
                    .namespaces
                    .get(&peer_ns)
                    .map(|n| n.links.contains_key(&peer))
                    .unwrap_or(false)
            {
                self.carrier_off(peer_ns, peer);
            }
        }
    }

    /// The link is up and its carrier just came on.
    fn carrier_on(&mut self, id: NsId, idx: IfIndex) {
        if !self.lk(id, idx).up {
            return;
        }
        self.v6_check_ready(id, idx);
        if self.lk(id, idx).master.is_some() {
            self.port_refresh(id, idx);
        }
        self.notify(id, idx);
    }

    /// The link is up and its carrier just went off.
    fn carrier_off(&mut self, id: NsId, idx: IfIndex) {
        if !self.lk(id, idx).up {
            return;
        }
        self.nsm(id).neigh.flush_link(idx, true);
        if self.lk(id, idx).master.is_some() {
            self.port_refresh(id, idx);
        }
        self.notify(id, idx);
    }

    /// `ip link set DEV address MAC`: multicast or zero → EADDRNOTAVAIL. A bridge's MAC then
    /// stays fixed; a port's MAC change makes its bridge recalculate its own.
    pub fn set_mac(&mut self, r: &NetnsRef, idx: IfIndex, mac: MacAddr) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        if !mac.is_assignable() {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let l = self.lk_mut(id, idx);
        let old = std::mem::replace(&mut l.mac, mac);
        let is_bridge = if let Some(b) = l.bridge_mut() {
            b.mac_set = true;
            true
        } else {
            false
        };
        let master = l.master;
        self.notify(id, idx);
        if is_bridge && old != mac {
            // Linux 6.x: br_set_mac_address -> br_stp_change_bridge_id -> br_port_state_selection:
            // carrier on iff some port forwards, so a bridge without ports loses its carrier.
            self.bridge_select(id, idx);
        }
        if let Some(m) = master {
            let b = self.lk_mut(id, m).bridge_mut().expect("bridge");
            b.remove_mac(old);
            b.add_mac(mac);
            if self.recalc_bridge_id(id, m) {
                self.bridge_select(id, m);
            }
        }
        Ok(())
    }

    /// Sim-only: change a MAC behind nsplumb's back (no validation beyond the kernel's).
    pub fn change_mac(&mut self, r: &NetnsRef, idx: IfIndex, mac: MacAddr) -> Result<(), Errno> {
        self.set_mac(r, idx, mac)
    }

    // ------------------------------------------------------------------ bridges

    /// `ip link set DEV master BR` / `nomaster` (`do_set_master`): the old master is released
    /// first; unknown master → EINVAL, not a bridge → EOPNOTSUPP; `br_add_if`: loopback or a
    /// port without a valid MAC → EINVAL, a bridge as port → ELOOP.
    pub fn set_master(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        master: Option<IfIndex>,
    ) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        let cur = self.lk(id, idx).master;
        if cur == master {
            return Ok(());
        }
        if cur.is_some() {
            self.release(id, idx);
        }
        if let Some(m) = master {
            self.enslave(id, idx, m)?;
        }
        Ok(())
    }

    fn enslave(&mut self, id: NsId, idx: IfIndex, m: IfIndex) -> Result<(), Errno> {
        let ml = self.ns(id).links.get(&m).ok_or(Errno::EINVAL)?;
        if ml.bridge().is_none() {
            return Err(Errno::EOPNOTSUPP);
        }
        let l = self.lk(id, idx);
        if l.is_loopback() || !l.mac.is_assignable() {
            return Err(Errno::EINVAL);
        }
        if l.bridge().is_some() {
            return Err(Errno::ELOOP);
        }
        let l = self.lk_mut(id, idx);
        l.master = Some(m);
        l.port = Some(Port {
            state: PortState::Disabled,
            stp_deadline: None,
        });
        let mac = self.lk(id, idx).mac;
        let b = self.lk_mut(id, m).bridge_mut().expect("bridge");
        b.ports.insert(idx);
        b.add_mac(mac);
        self.notify(id, idx);
        if self.recalc_bridge_id(id, m) {
            self.bridge_select(id, m);
        }
        self.port_refresh(id, idx);
        Ok(())
    }

    fn release(&mut self, id: NsId, idx: IfIndex) {
        let Some(m) = self.lk(id, idx).master else {
            return;
        };
        let state = self.lk(id, idx).port.as_ref().map(|p| p.state);
        let was_enabled = state.map(|s| s != PortState::Disabled).unwrap_or(false);
        let l = self.lk_mut(id, idx);
        l.master = None;
        l.port = None;
        let mac = l.mac;
        if let Some(b) = self.lk_mut(id, m).bridge_mut() {
            b.ports.remove(&idx);
            b.remove_mac(mac);
            if state == Some(PortState::Forwarding) {
                b.fwd_ports -= 1;
            }
        }
        self.notify(id, idx);
        let changed = self.recalc_bridge_id(id, m);
        if was_enabled || changed {
            self.bridge_select(id, m);
        }
    }

    /// `br_stp_recalculate_bridge_id`: lowest port MAC, zero without ports, unless set by the user.
    fn recalc_bridge_id(&mut self, id: NsId, br: IfIndex) -> bool {
        let b = self.lk(id, br).bridge().expect("bridge");
        if b.mac_set {
            return false;
        }
        let mac = b.port_macs.keys().next().copied().unwrap_or(MacAddr::ZERO);
        if mac == self.lk(id, br).mac {
            return false;
        }
        self.lk_mut(id, br).mac = mac;
        self.notify(id, br);
        true
    }

    /// Re-evaluates one port: enabled iff bridge up, port up with carrier.
    fn port_refresh(&mut self, id: NsId, idx: IfIndex) {
        let Some(br) = self.lk(id, idx).master else {
            return;
        };
        let enabled = self.lk(id, br).up && self.lk(id, idx).up && self.carrier(id, idx);
        let (stp, fd) = {
            let b = self.lk(id, br).bridge().expect("bridge");
            (b.stp, b.forward_delay_cs)
        };
        let now = self.clock.now;
        let uid = self.lk(id, idx).uid;
        let port = self.lk_mut(id, idx).port.as_mut().expect("port");
        let old = port.state;
        let disabled = port.state == PortState::Disabled;
        let mut timer = None;
        if enabled && disabled {
            if !stp || fd == 0 {
                port.state = PortState::Forwarding;
            } else {
                port.state = PortState::Listening;
                let at = now + Duration::from_millis(u64::from(fd) * 10);
                port.stp_deadline = Some(at);
                timer = Some(at);
            }
        } else if !enabled && !disabled {
            port.state = PortState::Disabled;
            port.stp_deadline = None;
        } else {
            return;
        }
        let new = port.state;
        if new == PortState::Forwarding {
            self.fwd_delta(id, br, 1);
        } else if old == PortState::Forwarding {
            self.fwd_delta(id, br, -1);
        }
        if let Some(at) = timer {
            self.schedule(
                at,
                KernelTimer::Stp {
                    ns: id,
                    index: idx,
                    uid,
                },
            );
        }
        self.notify(id, idx);
        self.bridge_select(id, br);
    }

    fn fwd_delta(&mut self, id: NsId, br: IfIndex, d: i32) {
        let b = self.lk_mut(id, br).bridge_mut().expect("bridge");
        b.fwd_ports = b.fwd_ports.wrapping_add_signed(d);
    }

    /// `br_port_state_selection` carrier rule: on iff some port forwards.
    fn bridge_select(&mut self, id: NsId, br: IfIndex) {
        let fwd = self.lk(id, br).bridge().expect("bridge").fwd_ports > 0;
        let b = self.lk_mut(id, br).bridge_mut().expect("bridge");
        if b.carrier == fwd {
            return;
        }
        b.carrier = fwd;
        if fwd {
            self.carrier_on(id, br);
        } else {
            self.carrier_off(id, br);
        }
    }

    fn bridge_of(&self, r: &NetnsRef, br: IfIndex) -> Result<NsId, Errno> {
        let id = self.resolve(r, br)?;
        if self.lk(id, br).bridge().is_none() {
            return Err(Errno::EOPNOTSUPP);
        }
        Ok(id)
    }

    /// Sim-only (`ip link set BR type bridge stp_state 0|1`). Linux 6.x (checked): ports keep
    /// their state either way; forward-delay timers already running go on (a listening port
    /// still walks to forwarding after STP is turned off); enabling STP clamps the forward
    /// delay to 2..=30 s.
    pub fn set_stp(&mut self, r: &NetnsRef, br: IfIndex, enabled: bool) -> Result<(), Errno> {
        let id = self.bridge_of(r, br)?;
        let b = self.lk_mut(id, br).bridge_mut().expect("bridge");
        b.stp = enabled;
        if enabled {
            b.forward_delay_cs = b.forward_delay_cs.clamp(200, 3000);
        }
        self.notify(id, br);
        // Linux 6.x: br_stp_set_enabled (either way) reselects port states, and the carrier
        // follows: off when no port forwards (a bridge without ports goes NO-CARRIER).
        self.bridge_select(id, br);
        Ok(())
    }

    /// Sim-only (`ip link set BR type bridge forward_delay CS`). With STP on, Linux accepts
    /// 200..=3000 cs only (ERANGE otherwise).
    pub fn set_forward_delay(&mut self, r: &NetnsRef, br: IfIndex, cs: u32) -> Result<(), Errno> {
        let id = self.bridge_of(r, br)?;
        let b = self.lk_mut(id, br).bridge_mut().expect("bridge");
        if b.stp && !(200..=3000).contains(&cs) {
            return Err(Errno::ERANGE);
        }
        b.forward_delay_cs = cs;
        self.notify(id, br);
        Ok(())
    }

    // ------------------------------------------------------------------ IPv6 addrconf

    fn dad_delay(&mut self, id: NsId, idx: IfIndex) -> Option<Duration> {
        let l = self.lk(id, idx);
        // IFF_LOOPBACK and IFF_NOARP (dummy) links skip DAD.
        if matches!(l.kind, Kind::Loopback | Kind::Dummy) {
            return None;
        }
        let k = keys();
        if self.link_val(id, idx, Table::Conf6, k.accept_dad) < 1
            && self.all_val(id, Table::Conf6, k.accept_dad) < 1
        {
            return None;
        }
        let transmits = self.link_val(id, idx, Table::Conf6, k.dad_transmits).max(0) as u64;
        let retrans = self
            .link_val(id, idx, Table::Neigh6, k.retrans_time_ms6)
            .max(0) as u64;
        let delay_s = self
            .link_val(id, idx, Table::Conf6, k.rtr_solicit_delay)
            .max(0) as u64;
        let rand = self.rng.below(delay_s * SEC);
        Some(Duration::from_nanos(rand + transmits * retrans * 1_000_000))
    }

    /// Starts DAD for tentative addresses that wait for it (the link is ready).
    fn start_dad(&mut self, id: NsId, idx: IfIndex) {
        if !self
            .lk(id, idx)
            .addrs
            .iter()
            .any(|a| a.flags.tentative && a.dad_deadline.is_none())
        {
            return;
        }
        let pending: Vec<Ipv6Addr> = self
            .lk(id, idx)
            .addrs
            .iter()
            .filter(|a| a.flags.tentative && a.dad_deadline.is_none())
            .filter_map(|a| match a.net {
                IpNet::V6(n) => Some(n.addr()),
                _ => None,
            })
            .collect();
        let uid = self.lk(id, idx).uid;
        for ip in pending {
            let delay = self.dad_delay(id, idx);
            let now = self.clock.now;
            let a = self
                .lk_mut(id, idx)
                .addrs
                .iter_mut()
                .find(|a| a.net.addr() == IpAddr::V6(ip))
                .expect("listed");
            match delay {
                None => a.flags.tentative = false,
                Some(d) => {
                    let at = now + d;
                    a.dad_deadline = Some(at);
                    self.schedule(
                        at,
                        KernelTimer::Dad {
                            ns: id,
                            index: idx,
                            uid,
                            addr: ip,
                        },
                    );
                }
            }
        }
    }

    /// addrconf `NETDEV_UP`/`NETDEV_CHANGE`: when the link is up with carrier and IPv6 on, it
    /// becomes ready: link-local (EUI-64, tentative) or `::1` on loopback, `ff00::/8`, DAD.
    fn v6_check_ready(&mut self, id: NsId, idx: IfIndex) {
        let l = self.lk(id, idx);
        if l.v6_ready || !l.up || self.v6_disabled(id, idx) || !self.carrier(id, idx) {
            if l.v6_ready && l.up {
                self.start_dad(id, idx);
            }
            return;
        }
        let l = self.lk_mut(id, idx);
        l.v6_ready = true;
        l.v6_mroute = !l.is_loopback();
        let l = self.lk(id, idx);
        if l.is_loopback() {
            let lo = IpNet::V6(Ipv6Net::new(Ipv6Addr::LOCALHOST, 128).expect("valid"));
            if !l.addrs.iter().any(|a| same_addr(&a.net, &lo)) {
                self.lk_mut(id, idx).addrs.push(Addr {
                    net: lo,
                    flags: perm(false),
                    dad_deadline: None,
                });
            }
        } else {
            // addrconf_addr_gen: 0 = EUI-64, 3 = random interface id; 1 = none; 2 (stable
            // privacy) needs a stable_secret, which the simulator does not model: no address.
            let ll = match self.link_val(id, idx, Table::Conf6, keys().addr_gen_mode) {
                0 => IpNet::V6(eui64_link_local(l.mac)),
                3 => {
                    let iid = self.rng.next_u64().to_be_bytes();
                    let mut o = [0u8; 16];
                    o[0] = 0xfe;
                    o[1] = 0x80;
                    o[8..].copy_from_slice(&iid);
                    IpNet::V6(Ipv6Net::new(Ipv6Addr::from(o), 64).expect("valid"))
                }
                _ => {
                    self.start_dad(id, idx);
                    self.sync_routes(id, idx);
                    return;
                }
            };
            let l = self.lk(id, idx);
            if !l.addrs.iter().any(|a| same_addr(&a.net, &ll)) {
                self.lk_mut(id, idx).addrs.push(Addr {
                    net: ll,
                    flags: AddrFlags {
                        nodad: false,
                        tentative: true,
                        permanent: true,
                        dadfailed: false,
                    },
                    dad_deadline: None,
                });
            }
        }
        self.start_dad(id, idx);
        self.sync_routes(id, idx);
    }

    /// addrconf_ifdown for `NETDEV_DOWN` (and disable_ipv6): addresses flushed unless
    /// `keep_addr_on_down` (then global ones stay, tentative again unless nodad); routes gone.
    fn ipv6_ifdown(&mut self, id: NsId, idx: IfIndex) {
        let k = keys();
        let keep = !self.v6_disabled(id, idx) && {
            let a = self.all_val(id, Table::Conf6, k.keep_addr_on_down);
            (if a != 0 {
                a
            } else {
                self.link_val(id, idx, Table::Conf6, k.keep_addr_on_down)
            }) > 0
        };
        let l = self.lk_mut(id, idx);
        l.v6_ready = false;
        l.v6_mroute = false;
        l.addrs.retain_mut(|a| match a.net {
            IpNet::V4(_) => true,
            IpNet::V6(n) => {
                let local = n.addr().is_loopback() || (n.addr().segments()[0] & 0xffc0) == 0xfe80;
                if keep && !local {
                    a.flags.tentative = !a.flags.nodad;
                    a.dad_deadline = None;
                    true
                } else {
                    false
                }
            }
        });
        let ns = self.nsm(id);
        ns.routes6.remove_oif(idx, |_| true);
        ns.neigh
            .entries
            .retain(|(i, ip), _| *i != idx || ip.is_ipv4());
    }

    /// Recomputes the kernel (connected / prefix) routes of a link from its state.
    fn sync_routes(&mut self, id: NsId, idx: IfIndex) {
        let l = self.lk(id, idx);
        let mut want4: Vec<IpNet> = Vec::new();
        let mut want6: Vec<IpNet> = Vec::new();
        if l.up {
            for a in &l.addrs {
                match a.net {
                    IpNet::V4(n) if !l.is_loopback() && n.prefix_len() < 32 => {
                        want4.push(IpNet::V4(n.trunc()))
                    }
                    IpNet::V6(n) if !l.is_loopback() => want6.push(IpNet::V6(n.trunc())),
                    _ => {}
                }
            }
        }
        want4.sort();
        want4.dedup();
        want6.sort();
        want6.dedup();
        let ns = self.nsm(id);
        sync_table(&mut ns.routes4, idx, &want4, 0, RouteScopeOrd::Link);
        sync_table(&mut ns.routes6, idx, &want6, 256, RouteScopeOrd::Universe);
    }

    // ------------------------------------------------------------------ addresses

    /// `ip addr add`: IPv6 on a link with IPv6 disabled → EACCES; duplicates → EEXIST.
    pub fn add_address(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        net: IpNet,
        nodad: bool,
    ) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        if net.addr().is_ipv6() && self.v6_disabled(id, idx) {
            return Err(Errno::EACCES);
        }
        if net.addr().is_ipv4() {
            self.nsm(id).local_table = true;
        }
        if self
            .lk(id, idx)
            .addrs
            .iter()
            .any(|a| same_addr(&a.net, &net))
        {
            return Err(Errno::EEXIST);
        }
        let tentative = net.addr().is_ipv6() && !nodad && !self.lk(id, idx).is_loopback();
        self.lk_mut(id, idx).addrs.push(Addr {
            net,
            flags: AddrFlags {
                nodad,
                tentative,
                permanent: true,
                dadfailed: false,
            },
            dad_deadline: None,
        });
        let l = self.lk_mut(id, idx);
        if net.addr().is_ipv6() && l.up && !l.is_loopback() {
            l.v6_mroute = true;
        }
        if tentative && self.lk(id, idx).v6_ready {
            self.start_dad(id, idx);
        }
        self.sync_routes(id, idx);
        Ok(())
    }

    /// `ip addr del`: EADDRNOTAVAIL when absent (IPv6 must match the prefix length too).
    pub fn del_address(&mut self, r: &NetnsRef, idx: IfIndex, net: IpNet) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        let promote = self.link_val(id, idx, Table::Conf4, keys().promote_secondaries) != 0
            || self.all_val(id, Table::Conf4, keys().promote_secondaries) != 0;
        let l = self.lk_mut(id, idx);
        let pos = l
            .addrs
            .iter()
            .position(|a| a.net.addr() == net.addr() && a.net.prefix_len() == net.prefix_len())
            .ok_or(Errno::EADDRNOTAVAIL)?;
        let gone = l.addrs.remove(pos);
        // Linux: deleting an IPv4 primary deletes its secondaries (same subnet, added later)
        // unless promote_secondaries is set.
        if let IpNet::V4(p) = gone.net {
            let primary = !l.addrs[..pos].iter().any(|a| same_subnet4(&a.net, &p));
            if primary && !promote {
                let mut i = pos;
                while i < l.addrs.len() {
                    if same_subnet4(&l.addrs[i].net, &p) {
                        l.addrs.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
        }
        self.sync_routes(id, idx);
        Ok(())
    }

    pub fn list_addresses(
        &self,
        r: &NetnsRef,
        idx: Option<IfIndex>,
    ) -> Result<Vec<AddrInfo>, Errno> {
        let id = self.ns_id(r)?;
        let ns = self.ns(id);
        // Linux order: IPv4 in insertion order, then IPv6 by scope (global first) and newest
        // first within a scope; a whole-namespace dump gives every link's IPv4, then IPv6.
        let v4 = |i: IfIndex, l: &Link, out: &mut Vec<AddrInfo>| {
            out.extend(
                l.addrs
                    .iter()
                    .filter(|a| a.net.addr().is_ipv4())
                    .map(|a| AddrInfo {
                        index: i,
                        net: a.net,
                        flags: a.flags,
                    }),
            )
        };
        let v6 = |i: IfIndex, l: &Link, out: &mut Vec<AddrInfo>| {
            let start = out.len();
            out.extend(
                l.addrs
                    .iter()
                    .rev()
                    .filter(|a| a.net.addr().is_ipv6())
                    .map(|a| AddrInfo {
                        index: i,
                        net: a.net,
                        flags: a.flags,
                    }),
            );
            out[start..].sort_by_key(|a| std::cmp::Reverse(v6_scope(&a.net)));
        };
        let mut out = Vec::new();
        match idx {
            Some(i) => {
                let l = ns.link(i)?;
                v4(i, l, &mut out);
                v6(i, l, &mut out);
            }
            None => {
                for (i, l) in &ns.links {
                    v4(*i, l, &mut out);
                }
                for (i, l) in &ns.links {
                    v6(*i, l, &mut out);
                }
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------------ routes

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

    // ------------------------------------------------------------------ sysctls

    fn sys_target(
        &self,
        id: NsId,
        table: Table,
        target: Target<'_>,
    ) -> Result<Option<IfIndex>, Errno> {
        match target {
            Target::All => Ok(None),
            Target::Default => {
                if sysctl::table_is_neigh(table) && !self.ns(id).netref.is_host() {
                    Err(Errno::ENOENT)
                } else {
                    Ok(None)
                }
            }
            Target::Dev(name) => self
                .ns(id)
                .names
                .get(name)
                .copied()
                .map(Some)
                .ok_or(Errno::ENOENT),
        }
    }

    /// Reads `/proc/sys/PATH` in the namespace: ENOENT, EISDIR as the file system says.
    pub fn read_sysctl(&self, r: &NetnsRef, path: &str) -> Result<String, Errno> {
        let id = self.ns_id(r)?;
        let (table, target, key) = match sysctl::parse(path)? {
            SysPath::Dir => return Err(Errno::EISDIR),
            SysPath::TargetDir(t, tg) => {
                self.sys_target(id, t, tg)?;
                return Err(Errno::EISDIR);
            }
            SysPath::IpForward => (Table::Conf4, Target::All, Some(keys().forwarding4)),
            SysPath::DevconfInherit => return self.read_devconf_inherit(id),
            SysPath::Key(t, tg, k) => (t, tg, k),
        };
        let dev = self.sys_target(id, table, target)?;
        let key = key.ok_or(Errno::ENOENT)?;
        let ns = self.ns(id);
        Ok(match (target, dev) {
            (_, Some(i)) => {
                let l = self.lk(id, i);
                l.sysctl
                    .get(table, key)
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        builtin(
                            table,
                            key,
                            Scope::Link {
                                kind: &l.kind(),
                                mtu: l.mtu,
                            },
                        )
                        .into_owned()
                    })
            }
            (Target::All, _) => ns
                .all
                .get(table, key)
                .map(str::to_string)
                .unwrap_or_else(|| builtin(table, key, Scope::All).into_owned()),
            _ => ns
                .dflt
                .get(table, key)
                .map(str::to_string)
                .unwrap_or_else(|| builtin(table, key, Scope::Default).into_owned()),
        })
    }

    /// Writes `/proc/sys/PATH` with its kernel effect (`disable_ipv6`, `forwarding` on `all`).
    pub fn write_sysctl(&mut self, r: &NetnsRef, path: &str, value: &str) -> Result<(), Errno> {
        let id = self.ns_id(r)?;
        let (table, target, key) = match sysctl::parse(path)? {
            SysPath::Dir => return Err(Errno::EISDIR),
            SysPath::TargetDir(t, tg) => {
                self.sys_target(id, t, tg)?;
                return Err(Errno::EISDIR);
            }
            SysPath::IpForward => (Table::Conf4, Target::All, Some(keys().forwarding4)),
            SysPath::DevconfInherit => return self.write_devconf_inherit(id, value),
            SysPath::Key(t, tg, k) => (t, tg, k),
        };
        let dev = self.sys_target(id, table, target)?;
        let key = key.ok_or(Errno::ENOENT)?;
        if sysctl::is_read_only(table, key) {
            return Err(Errno::EACCES);
        }
        let mtu = dev.map(|i| self.lk(id, i).mtu);
        let v = sysctl::normalise(table, key, value, mtu)?;
        let k = keys();
        match dev {
            Some(i) => self.set_link_sysctl(id, i, table, key, v),
            None if target == Target::All => {
                let old = self.all_val(id, table, key);
                let b = builtin(table, key, Scope::All);
                self.nsm(id).all.set(table, key, v.clone(), &b);
                // `inet_forward_change` runs only when the value changes.
                let forwarding4 =
                    table == Table::Conf4 && key == k.forwarding4 && old.to_string() != v;
                if forwarding4 {
                    let redirects = if v == "0" { "1" } else { "0" };
                    let b = builtin(table, k.accept_redirects4, Scope::All);
                    let all = &mut self.nsm(id).all;
                    all.set(table, k.accept_redirects4, redirects.into(), &b);
                }
                let propagate = (table == Table::Conf6
                    && (key == k.disable_ipv6 || key == k.forwarding6))
                    || forwarding4;
                if propagate {
                    let b = builtin(table, key, Scope::Default);
                    self.nsm(id).dflt.set(table, key, v.clone(), &b);
                    let idxs: Vec<IfIndex> = self.ns(id).links.keys().copied().collect();
                    for i in idxs {
                        self.set_link_sysctl(id, i, table, key, v.clone());
                    }
                }
            }
            None => {
                let b = builtin(table, key, Scope::Default);
                self.nsm(id).dflt.set(table, key, v.clone(), &b);
                if sysctl::default_write_reaches_links(table, key) {
                    for l in self.nsm(id).links.values_mut() {
                        if l.conf4_written & (1 << key) == 0 {
                            let kind = l.kind();
                            let b = builtin(
                                table,
                                key,
                                Scope::Link {
                                    kind: &kind,
                                    mtu: l.mtu,
                                },
                            );
                            l.sysctl.set(table, key, v.clone(), &b);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn set_link_sysctl(&mut self, id: NsId, idx: IfIndex, table: Table, key: u16, v: String) {
        let was_disabled = self.v6_disabled(id, idx);
        let l = self.lk_mut(id, idx);
        let b = builtin(
            table,
            key,
            Scope::Link {
                kind: &l.kind(),
                mtu: l.mtu,
            },
        )
        .into_owned();
        l.sysctl.set(table, key, v, &b);
        if table == Table::Conf4 {
            l.conf4_written |= 1 << key;
        }
        if table == Table::Conf6 && key == keys().disable_ipv6 {
            let now_disabled = self.v6_disabled(id, idx);
            if now_disabled && !was_disabled {
                self.ipv6_ifdown(id, idx);
            } else if !now_disabled && was_disabled {
                self.v6_check_ready(id, idx);
            }
        }
    }

    // ------------------------------------------------------------------ events

    /// Link events of the namespace from now on.
    pub fn subscribe_links(&mut self, r: &NetnsRef) -> Result<UnboundedReceiver<LinkEvent>, Errno> {
        let id = self.ns_id(r)?;
        let (tx, rx) = unbounded();
        let subs = &mut self.nsm(id).subscribers;
        subs.retain(|s| !s.is_closed());
        subs.push(tx);
        Ok(rx)
    }

    // ------------------------------------------------------------------ frames

    /// Sends the unsolicited ARP (SPEC S2) out of the link: ENETDOWN when down (AF_PACKET).
    pub fn send_arp(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        mac: MacAddr,
        ip: Ipv4Addr,
    ) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        if !self.lk(id, idx).up {
            return Err(Errno::ENETDOWN);
        }
        self.send_frame(id, idx, frame::arp_frame(mac, ip));
        Ok(())
    }

    /// Sends the unsolicited NA (SPEC S3). Linux 6.x, raw ICMPv6 socket bound to the address
    /// (checked with a real socket): the address not configured (or still tentative) in the
    /// namespace → EADDRNOTAVAIL (so also with IPv6 disabled, which removes the addresses);
    /// no `ff00::/8` route on the link (down, never ready) → ENETUNREACH.
    pub fn send_na(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        mac: MacAddr,
        ip: Ipv6Addr,
    ) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        // bind(): a link-local source must be on this very link (scope id), another address on
        // any link of the namespace; tentative addresses do not count.
        let has = |l: &Link| {
            l.addrs
                .iter()
                .any(|a| a.net.addr() == IpAddr::V6(ip) && !a.flags.tentative)
        };
        let link_local = (ip.segments()[0] & 0xffc0) == 0xfe80;
        let bound = has(self.lk(id, idx)) || (!link_local && self.ns(id).links.values().any(has));
        if !bound {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let l = self.lk(id, idx);
        if !l.up || !l.v6_mroute || self.v6_disabled(id, idx) {
            return Err(Errno::ENETUNREACH);
        }
        self.send_frame(id, idx, frame::na_frame(mac, ip));
        Ok(())
    }

    fn send_frame(&mut self, id: NsId, idx: IfIndex, bytes: Vec<u8>) {
        let mut visited = Vec::new();
        // Parsed once: every hop sees the same bytes.
        let parsed = frame::parse(&bytes).map(|(_, _, p)| p);
        let f = Frame {
            len: bytes.len() as u64,
            parsed: parsed.as_ref(),
        };
        self.xmit(id, idx, &f, &mut visited);
        let rec = FrameRecord {
            time: self.clock.now,
            netns: self.ns(id).netref.clone(),
            index: idx,
            ifname: self.lk(id, idx).name.clone(),
            bytes,
        };
        if let Some(cap) = self.frame_cap {
            if cap == 0 {
                return;
            }
            if self.frames.len() >= cap {
                let drop = (self.frames.len() + 1 - cap)
                    .max(cap / 2)
                    .min(self.frames.len());
                self.frames.drain(..drop);
            }
        }
        self.frames.push(rec);
    }

    /// A frame leaves `idx`.
    fn xmit(&mut self, id: NsId, idx: IfIndex, f: &Frame<'_>, visited: &mut Vec<u64>) {
        let uid = self.lk(id, idx).uid;
        if visited.contains(&uid) || visited.len() > 256 {
            return;
        }
        visited.push(uid);
        let len = f.len;
        let kind = self.lk(id, idx).kind.clone_shallow();
        match kind {
            ShallowKind::Veth(pns, p) => {
                let peer_up = self
                    .namespaces
                    .get(&pns)
                    .and_then(|n| n.links.get(&p))
                    .map(|l| l.up)
                    .unwrap_or(false);
                let st = &mut self.lk_mut(id, idx).stats;
                if !peer_up {
                    st.tx_dropped += 1;
                    return;
                }
                st.tx_packets += 1;
                st.tx_bytes += len;
                let ps = &mut self.lk_mut(pns, p).stats;
                ps.rx_packets += 1;
                ps.rx_bytes += len;
                self.receive(pns, p, f, visited);
            }
            ShallowKind::Bridge(ports) => {
                let st = &mut self.lk_mut(id, idx).stats;
                st.tx_packets += 1;
                st.tx_bytes += len;
                for p in ports {
                    if self.forwarding_port(id, p) {
                        self.xmit(id, p, f, visited);
                    }
                }
            }
            ShallowKind::Loopback => {
                let st = &mut self.lk_mut(id, idx).stats;
                st.tx_packets += 1;
                st.tx_bytes += len;
                st.rx_packets += 1;
                st.rx_bytes += len;
                self.local_deliver(id, idx, f);
            }
            ShallowKind::Dummy => {
                let st = &mut self.lk_mut(id, idx).stats;
                st.tx_packets += 1;
                st.tx_bytes += len;
            }
        }
    }

    fn forwarding_port(&self, id: NsId, p: IfIndex) -> bool {
        let l = self.lk(id, p);
        l.up && l
            .port
            .as_ref()
            .map(|p| p.state == PortState::Forwarding)
            .unwrap_or(false)
    }

    /// A frame arrives on `idx` (already counted as received there).
    fn receive(&mut self, id: NsId, idx: IfIndex, f: &Frame<'_>, visited: &mut Vec<u64>) {
        if !self.lk(id, idx).up {
            return;
        }
        if let Some(br) = self.lk(id, idx).master {
            if !self.forwarding_port(id, idx) || !self.lk(id, br).up {
                return;
            }
            let ports: Vec<IfIndex> = self
                .lk(id, br)
                .bridge()
                .expect("bridge")
                .ports
                .iter()
                .copied()
                .collect();
            for p in ports {
                if p != idx && self.forwarding_port(id, p) {
                    self.xmit(id, p, f, visited);
                }
            }
            let st = &mut self.lk_mut(id, br).stats;
            st.rx_packets += 1;
            st.rx_bytes += f.len;
            self.local_deliver(id, br, f);
            return;
        }
        self.local_deliver(id, idx, f);
    }

    /// The receiving stack: neighbour cache updates from announcements.
    fn local_deliver(&mut self, id: NsId, idx: IfIndex, f: &Frame<'_>) {
        let Some(p) = f.parsed.cloned() else {
            return;
        };
        let k = keys();
        match p {
            Parsed::Arp {
                op,
                sender_mac,
                sender_ip,
                target_ip,
                ..
            } => {
                if op != 1 && op != 2 {
                    return;
                }
                // arp_is_garp: the sender's address type must be unicast; with no IPv4 table
                // yet in the namespace it is "broadcast", and a local address on the receiving
                // link is "local" (checked: no update before any address exists).
                let garp = sender_ip == target_ip
                    && self.ns(id).local_table
                    && !self
                        .lk(id, idx)
                        .addrs
                        .iter()
                        .any(|a| a.net.addr() == IpAddr::V4(sender_ip));
                let accept = self
                    .link_val(id, idx, Table::Conf4, k.arp_accept)
                    .max(self.all_val(id, Table::Conf4, k.arp_accept));
                let u = Update {
                    create: garp && accept >= 1,
                    override_: garp,
                    weak: false,
                };
                let lock_cs = self.link_val(id, idx, Table::Neigh4, k.locktime4).max(0) as u64;
                let now = self.clock.now;
                self.nsm(id).neigh.learn(
                    idx,
                    IpAddr::V4(sender_ip),
                    sender_mac,
                    u,
                    now,
                    Some(Duration::from_millis(lock_cs * 10)),
                );
            }
            Parsed::Na {
                hop_limit,
                flags,
                target,
                tll,
                checksum_ok,
                ..
            } => {
                if hop_limit != 255
                    || !checksum_ok
                    || self.v6_disabled(id, idx)
                    || !self.lk(id, idx).v6_ready
                {
                    return;
                }
                let Some(mac) = tll else { return };
                let u = Update {
                    create: self.link_val(id, idx, Table::Conf6, k.accept_untracked_na) > 0,
                    override_: flags & 0x20 != 0,
                    weak: true,
                };
                let now = self.clock.now;
                self.nsm(id)
                    .neigh
                    .learn(idx, IpAddr::V6(target), mac, u, now, None);
            }
        }
    }

    /// Every frame sent so far.
    pub fn frame_log(&self) -> &[FrameRecord] {
        &self.frames
    }

    /// Bounds the frame log (oldest records dropped first; `Some(0)` keeps none), for long
    /// benchmark runs; `None` (the default) keeps every frame.
    pub fn set_frame_log_capacity(&mut self, cap: Option<usize>) {
        self.frame_cap = cap;
        if let Some(c) = cap {
            if self.frames.len() > c {
                let d = self.frames.len() - c;
                self.frames.drain(..d);
            }
        }
    }

    pub fn clear_frame_log(&mut self) {
        self.frames.clear();
    }

    // ------------------------------------------------------------------ counters, neighbours

    pub fn link_stats(&self, r: &NetnsRef, idx: IfIndex) -> Result<LinkStats, Errno> {
        let id = self.resolve(r, idx)?;
        Ok(self.lk(id, idx).stats)
    }

    /// Sim-only: `ip neigh add IP lladdr MAC dev DEV nud STATE` (replace if present).
    pub fn add_neighbour(
        &mut self,
        r: &NetnsRef,
        idx: IfIndex,
        ip: IpAddr,
        mac: MacAddr,
        state: NeighState,
    ) -> Result<(), Errno> {
        let id = self.resolve(r, idx)?;
        let now = self.clock.now;
        self.nsm(id)
            .neigh
            .entries
            .insert((idx, ip), (mac, state, now));
        Ok(())
    }

    /// Sim-only: every neighbour entry of the namespace.
    pub fn neighbours(&self, r: &NetnsRef) -> Result<Vec<NeighEntry>, Errno> {
        let id = self.ns_id(r)?;
        Ok(self.ns(id).neigh.list())
    }

    pub(crate) fn ns_refs(&self) -> impl Iterator<Item = (&NetnsRef, NsId)> + '_ {
        self.ns_by_ref.iter().map(|(r, id)| (r, *id))
    }

    pub(crate) fn link_sysctl_diffs(&self, id: NsId, idx: IfIndex) -> BTreeMap<String, String> {
        let l = self.lk(id, idx);
        l.sysctl
            .0
            .iter()
            .map(|(t, k, v)| {
                (
                    format!("{}/{}/{}", t.prefix(), l.name, t.keys()[*k as usize].0),
                    v.clone(),
                )
            })
            .collect()
    }
}

fn same_subnet4(a: &IpNet, p: &Ipv4Net) -> bool {
    matches!(a, IpNet::V4(x) if x.prefix_len() == p.prefix_len() && x.trunc() == p.trunc())
}

/// `ipv6_addr_src_scope` rank: global above link-local above host.
fn v6_scope(n: &IpNet) -> u8 {
    match n.addr() {
        IpAddr::V6(a) if a.is_loopback() => 1,
        IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => 2,
        _ => 14,
    }
}

fn perm(nodad: bool) -> AddrFlags {
    AddrFlags {
        nodad,
        tentative: false,
        permanent: true,
        dadfailed: false,
    }
}

fn sync_table(t: &mut RouteTable, oif: IfIndex, want: &[IpNet], metric: u32, scope: RouteScopeOrd) {
    if want.is_empty() && !t.has_oif(oif) {
        return;
    }
    let have: Vec<IpNet> = t
        .routes_of(oif)
        .filter(|r| r.kernel)
        .map(|r| r.dst)
        .collect();
    for d in &have {
        if !want.contains(d) {
            t.remove_first(d, |r| r.oif == oif && r.kernel);
        }
    }
    for d in want {
        if !have.contains(d) {
            t.insert(Route {
                dst: *d,
                gateway: None,
                oif,
                scope,
                metric,
                kernel: true,
            });
        }
    }
}

/// A frame on its way through links: its length and what a receiving stack parses of it.
struct Frame<'a> {
    len: u64,
    parsed: Option<&'a Parsed>,
}

/// What `xmit` needs of a link's kind, without borrowing the kernel.
enum ShallowKind {
    Veth(NsId, IfIndex),
    Bridge(Vec<IfIndex>),
    Loopback,
    Dummy,
}

impl Kind {
    fn clone_shallow(&self) -> ShallowKind {
        match self {
            Kind::Veth { peer_ns, peer } => ShallowKind::Veth(*peer_ns, *peer),
            Kind::Bridge(b) => ShallowKind::Bridge(b.ports.iter().copied().collect()),
            Kind::Loopback => ShallowKind::Loopback,
            Kind::Dummy => ShallowKind::Dummy,
        }
    }
}
