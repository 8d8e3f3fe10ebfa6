//! One network namespace: its links (by index and by name), routing tables, neighbour cache,
//! namespace-wide sysctls and link-event subscribers.
//!
//! Linux 6.x ifindex allocation (checked with veth pairs in a fresh namespace): `lo` is 1;
//! new links take the next index after the last one handed out (cyclic, skipping used ones, so
//! deleted indices are not reused at once); creating a veth pair registers the peer first
//! (peer 2, then 3); a link moved in keeps its index if free there, else gets the next one.

use crate::link::Link;
use crate::neighbour::Neighbours;
use crate::route::RouteTable;
use crate::sysctl::Overrides;
use futures::channel::mpsc::UnboundedSender;
use nsplumb_core::{Errno, IfIndex, LinkEvent, NetnsRef};
use std::collections::{BTreeMap, HashMap};

pub(crate) type NsId = u32;

pub(crate) struct Namespace {
    pub(crate) netref: NetnsRef,
    pub(crate) links: BTreeMap<IfIndex, Link>,
    pub(crate) names: HashMap<String, IfIndex>,
    next_ifindex: u32,
    /// `conf/all` values that differ from the built-in ones.
    pub(crate) all: Overrides,
    /// `conf/default` values that differ from the built-in ones.
    pub(crate) dflt: Overrides,
    pub(crate) routes4: RouteTable,
    pub(crate) routes6: RouteTable,
    pub(crate) neigh: Neighbours,
    pub(crate) subscribers: Vec<UnboundedSender<LinkEvent>>,
}

impl Namespace {
    pub(crate) fn new(netref: NetnsRef) -> Self {
        Namespace {
            netref,
            links: BTreeMap::new(),
            names: HashMap::new(),
            next_ifindex: 1,
            all: Overrides::default(),
            dflt: Overrides::default(),
            routes4: RouteTable::default(),
            routes6: RouteTable::default(),
            neigh: Neighbours::default(),
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
        self.links.get(&index).ok_or(Errno::ENODEV)
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
