//! The simulated kernel: every operation of `NetBackend`, synchronous, in virtual time.
//!
//! One `Kernel` holds every namespace. Operations validate everything before changing anything,
//! except where Linux itself is not atomic (documented at the operation). This file holds the
//! `Kernel` itself, its lookups and the namespaces; each kernel object has its own file below.

mod addrconf;
mod addresses;
mod bridge;
mod dad;
mod events;
mod frames;
mod link_options;
mod links;
mod mtu;
mod neighbours;
mod port_options;
mod routes;
mod segment;
mod sysctls;
mod time;

use crate::clock::Clock;
use crate::frame::FrameRecord;
use crate::link::{Kind, Link};
use crate::namespace::{Devconf, FxMap, Namespace, NsId, NsMap};
use crate::rng::Rng;
use crate::sysctl::DevconfInherit;
use nsplumb_core::{BridgeInfo, Errno, IfIndex, LinkFlags, LinkInfo, MacAddr, NetnsRef, PeerRef};

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
    /// Link options (SPEC L1–L5): the kernel model's VLAN filtering support, DAD runs.
    pub(crate) link_opts: link_options::LinkOptionsState,
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
            link_opts: Default::default(),
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
                // As nsplumb-linux reads it: a kernel without CONFIG_BRIDGE_VLAN_FILTERING
                // still reports `vlan_filtering 0` but none of the VLAN attributes that come
                // with support, so the answer there is "not supported", not "off".
                vlan_filtering: self
                    .link_opts
                    .vlan_filtering_supported
                    .then_some(b.opts.vlan_filtering),
            }),
            port_state: l.port.as_ref().map(|p| p.state),
            port_flags: l.port.as_ref().map(|p| p.opts.flags()),
            ipv6_disabled: (!self.v6_absent(id, idx)).then(|| self.v6_disabled(id, idx)),
            stats: Some(Box::new(l.stats)),
        }
    }

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

    pub(crate) fn ns_refs(&self) -> impl Iterator<Item = (&NetnsRef, NsId)> + '_ {
        self.ns_by_ref.iter().map(|(r, id)| (r, *id))
    }
}
