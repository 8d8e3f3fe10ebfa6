//! Where a veth's peer lives: netns ids (`IFLA_LINK_NETNSID`) mapped back to namespace
//! references, learned from creation echoes or asked with `RTM_GETNSID`, cached per namespace.

use crate::conn::Inner;
use crate::lock;
use crate::netns::{NsFile, NsKey};
use crate::nl::{self, RawLink};
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::RouteNetlinkMessage;
use nsplumb_core::{LinkInfo, NetnsRef, PeerRef};
use std::collections::{HashMap, HashSet};
use std::os::fd::AsRawFd;

/// Netns id → (namespace key, reference), as seen from one namespace.
pub(crate) type NsidMap = HashMap<i32, (NsKey, NetnsRef)>;

impl Inner {
    /// The id `ns` gives to `other` (RTM_GETNSID with NETNSA_FD), if one is assigned.
    pub(crate) async fn nsid_of(&self, ns: &NsFile, other: &NetnsRef) -> Option<i32> {
        let other = self.resolve(other).ok()?;
        let mut m = NsidMessage::default();
        m.attributes
            .push(NsidAttribute::Fd(other.fd.as_raw_fd() as u32));
        let replies = self
            .req(ns, RouteNetlinkMessage::GetNsId(m), nl::GET)
            .await
            .ok()?;
        replies.into_iter().find_map(|reply| match reply {
            RouteNetlinkMessage::NewNsId(n) => n.attributes.into_iter().find_map(|a| match a {
                NsidAttribute::Id(id) if id >= 0 => Some(id),
                _ => None,
            }),
            _ => None,
        })
    }

    /// The namespace that netns id `id` names, as seen from `ns`. Cached per namespace; on a
    /// miss it asks about the host first (a container end's peer is nearly always there), then
    /// only about namespaces not mapped from `ns` yet, so the cost of a link read does not grow
    /// with the number of namespaces.
    pub(crate) async fn peer_netns(&self, ns: &NsFile, id: i32) -> Option<NetnsRef> {
        let mapped: HashSet<NsKey> = {
            let nsids = lock(&self.nsids);
            let map = nsids.get(&ns.key);
            if let Some((_, r)) = map.and_then(|m| m.get(&id)) {
                return Some(r.clone());
            }
            map.map(|m| m.values().map(|(k, _)| *k).collect())
                .unwrap_or_default()
        };
        let mut candidates = vec![(self.host.key, NetnsRef::Host)];
        candidates.extend(
            lock(&self.known)
                .iter()
                .filter(|(k, _)| **k != self.host.key)
                .map(|(k, v)| (*k, v.clone())),
        );
        for (key, r) in candidates {
            if mapped.contains(&key) {
                continue;
            }
            let Some(found) = self.nsid_of(ns, &r).await else {
                continue;
            };
            lock(&self.nsids)
                .entry(ns.key)
                .or_default()
                .insert(found, (key, r.clone()));
            if found == id {
                return Some(r);
            }
        }
        None
    }

    /// Record that netns id `id`, as seen from `ns`, names `other` (told by the kernel).
    pub(crate) fn learn_nsid(&self, ns: &NsFile, id: i32, other: &NsFile, other_ref: &NetnsRef) {
        // The reference `peer_netns` would give: the first one this backend saw for it.
        let r = lock(&self.known)
            .get(&other.key)
            .cloned()
            .unwrap_or_else(|| other_ref.clone());
        lock(&self.nsids)
            .entry(ns.key)
            .or_default()
            .insert(id, (other.key, r));
    }

    /// Fill `peer` of links read from `ns` (named `ns_ref`).
    pub(crate) async fn finish_links(
        &self,
        ns: &NsFile,
        ns_ref: &NetnsRef,
        raws: Vec<RawLink>,
    ) -> Vec<LinkInfo> {
        let mut out = Vec::with_capacity(raws.len());
        for raw in raws {
            let mut info = raw.info;
            if let Some(index) = raw.peer_index {
                let netns = match raw.peer_nsid {
                    None => Some(ns_ref.clone()),
                    Some(id) => self.peer_netns(ns, id).await,
                };
                info.peer = Some(PeerRef { netns, index });
            }
            out.push(info);
        }
        out
    }
}
