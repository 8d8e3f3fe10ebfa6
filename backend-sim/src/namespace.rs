//! One network namespace: its links (by index and by name), routing tables, neighbour cache,
//! namespace-wide sysctls and link-event subscribers.
//!
//! Linux 6.x ifindex allocation (checked with veth pairs in a fresh namespace): `lo` is 1;
//! new links take the next index after the last one handed out (cyclic, skipping used ones, so
//! deleted indices are not reused at once); creating a veth pair registers the peer first
//! (peer 2, then 3); a link moved in keeps its index if free there, else gets the next one.
//!
//! A new namespace starts with the `conf/all` and `conf/default` values [`inherit`] gives
//! (`net.core.devconf_inherit_init_net`, see [`DevconfInherit`]), before its `lo` exists.

use crate::link::Link;
use crate::neighbour::Neighbours;
use crate::route::RouteTable;
use crate::sysctl::{DevconfInherit, Overrides, Table};
use futures::channel::mpsc::UnboundedSender;
use nsplumb_core::{Errno, IfIndex, LinkEvent, NetnsRef};
use std::collections::{BTreeMap, HashMap};

pub(crate) type NsId = u32;

pub(crate) struct Namespace {
    pub(crate) netref: NetnsRef,
    /// Boxed: a link is large, and the map's nodes move their values on every insert and
    /// removal (with `LinkInfo`'s copies, they made memmove 16–18% of P5's time).
    pub(crate) links: BTreeMap<IfIndex, Box<Link>>,
    pub(crate) names: FxMap<String, IfIndex>,
    next_ifindex: u32,
    /// `conf/all` values that differ from the built-in ones.
    pub(crate) all: Overrides,
    /// `conf/default` values that differ from the built-in ones.
    pub(crate) dflt: Overrides,
    pub(crate) routes4: RouteTable,
    pub(crate) routes6: RouteTable,
    pub(crate) neigh: Neighbours,
    /// The IPv4 local table exists (created with the first IPv4 address, never freed).
    pub(crate) local_table: bool,
    pub(crate) subscribers: Vec<UnboundedSender<LinkEvent>>,
}

/// A namespace's `conf/all` and `conf/default` values of IPv4 and IPv6 (what a new namespace
/// copies), as overrides of the built-in values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Devconf {
    pub(crate) all: Overrides,
    pub(crate) dflt: Overrides,
}

impl Devconf {
    /// The namespace's values (its `neigh/default` ones stay: the kernel does not copy them).
    pub(crate) fn of(ns: &Namespace) -> Devconf {
        Devconf {
            all: ns.all.clone(),
            dflt: ns.dflt.clone(),
        }
        .only(&[Table::Conf4, Table::Conf6])
    }

    fn only(mut self, tables: &[Table]) -> Devconf {
        self.all.0.retain(|(t, _, _)| tables.contains(t));
        self.dflt.0.retain(|(t, _, _)| tables.contains(t));
        self
    }
}

/// `devinet_init_net` and `addrconf_init_net`: the values a namespace created now starts with,
/// from the machine's initial namespace and the creating namespace.
pub(crate) fn inherit(mode: DevconfInherit, init_net: &Devconf, creator: &Devconf) -> Devconf {
    match mode {
        DevconfInherit::Ipv4FromInitNet => init_net.clone().only(&[Table::Conf4]),
        DevconfInherit::FromInitNet => init_net.clone().only(&[Table::Conf4, Table::Conf6]),
        DevconfInherit::KernelDefaults => Devconf::default(),
        DevconfInherit::FromCreator => creator.clone().only(&[Table::Conf4, Table::Conf6]),
    }
}

impl Namespace {
    pub(crate) fn new(netref: NetnsRef, devconf: Devconf) -> Self {
        Namespace {
            netref,
            links: BTreeMap::new(),
            names: FxMap::default(),
            next_ifindex: 1,
            all: devconf.all,
            dflt: devconf.dflt,
            routes4: RouteTable::default(),
            routes6: RouteTable::default(),
            neigh: Neighbours::default(),
            local_table: false,
            subscribers: Vec::new(),
        }
    }

    /// `dev_index_reserve(net, 0)`: cyclic allocation from the last handed-out index.
    pub(crate) fn alloc_index(&mut self) -> IfIndex {
        loop {
            let i = self.next_ifindex;
            self.next_ifindex = if i >= i32::MAX as u32 { 1 } else { i + 1 };
            if !self.links.contains_key(&i) {
                return i;
            }
        }
    }

    /// `dev_index_reserve(net, wanted)` falling back to a fresh index when taken.
    pub(crate) fn reserve_index(&mut self, wanted: IfIndex) -> IfIndex {
        if wanted != 0 && !self.links.contains_key(&wanted) {
            wanted
        } else {
            self.alloc_index()
        }
    }

    pub(crate) fn link(&self, index: IfIndex) -> Result<&Link, Errno> {
        self.links.get(&index).map(|l| &**l).ok_or(Errno::ENODEV)
    }

    pub(crate) fn index_of(&self, name: &str) -> Result<IfIndex, Errno> {
        self.names.get(name).copied().ok_or(Errno::ENODEV)
    }

    pub(crate) fn emit(&mut self, ev: LinkEvent) {
        match self.subscribers.len() {
            0 => {}
            1 => {
                if self.subscribers[0].unbounded_send(ev).is_err() {
                    self.subscribers.clear();
                }
            }
            _ => self
                .subscribers
                .retain(|s| s.unbounded_send(ev.clone()).is_ok()),
        }
    }

    pub(crate) fn has_subscribers(&self) -> bool {
        !self.subscribers.is_empty()
    }
}

/// Namespaces by id: a slab (ids are never reused), so lookups are an index, not a hash.
#[derive(Default)]
pub(crate) struct NsMap(Vec<Option<Box<Namespace>>>);

impl NsMap {
    pub(crate) fn get(&self, id: &NsId) -> Option<&Namespace> {
        self.0.get(*id as usize).and_then(|n| n.as_deref())
    }

    pub(crate) fn get_mut(&mut self, id: &NsId) -> Option<&mut Namespace> {
        self.0.get_mut(*id as usize).and_then(|n| n.as_deref_mut())
    }

    pub(crate) fn insert(&mut self, id: NsId, ns: Namespace) {
        let i = id as usize;
        if self.0.len() <= i {
            self.0.resize_with(i + 1, || None);
        }
        self.0[i] = Some(Box::new(ns));
    }

    pub(crate) fn remove(&mut self, id: &NsId) {
        if let Some(slot) = self.0.get_mut(*id as usize) {
            *slot = None;
        }
    }
}

impl std::ops::Index<&NsId> for NsMap {
    type Output = Namespace;
    fn index(&self, id: &NsId) -> &Namespace {
        self.get(id).expect("namespace ids are kept valid")
    }
}

/// FxHash (rustc's hasher): the maps here are keyed by small trusted values, SipHash's DoS
/// resistance buys nothing and costs most of a call.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;
