//! Links: reads (by name, by index, all), changes through `RTM_SETLINK` (name, namespace, up,
//! MAC, master), the MTU, creation of bridges and veth pairs, and batch deletion.
//!
//! The MTU on this project's kernel (Linux 6.18; measured with `ip link` in a fresh namespace):
//! * veth and bridge accept 68..=65535; outside: EINVAL ("mtu less than device minimum" /
//!   "mtu greater than device maximum"), nothing changed. (This kernel has no `dummy` driver.)
//! * A veth's peer does not take the MTU of the end it is created with: each end carries its
//!   own `IFLA_MTU` ([`veth_msg`]).
//! * A bridge whose MTU was never changed follows its ports: the smallest port MTU at every
//!   port join, leave or port MTU change; 1500 once the last port left. An MTU given at creation
//!   does not count as changed (the first port overrides it); one changed later ([`mtu_msg`])
//!   stays whatever its ports do, and may exceed theirs.
//! * Below 1280 a link loses its IPv6 state: every IPv6 address, link-local too, and
//!   `net/ipv6/conf/IF/` go. Raised to 1280 or more (link up) the link-local comes back, the
//!   other addresses do not. Adding an IPv6 address below 1280: EINVAL.

use crate::conn::Inner;
use crate::netns::NsFile;
use crate::nl::{self, NlError};
use crate::{ifobj, LinuxBackend};
use futures::TryFutureExt;
use netlink_packet_route::link::{
    InfoBridge, InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags as NlLinkFlags,
    LinkInfo as NlLinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;
use nsplumb_core::{
    BackendError, BridgeOptions, Errno, IfIndex, LinkInfo, MacAddr, NetnsRef, Op, VethPair,
    VethRequest,
};
use std::os::fd::{AsRawFd, RawFd};
use tracing::Instrument;

/// A link group number for one batch delete, unlikely to be in use by anyone else.
fn batch_group() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    0x4000_0000 | ((std::process::id() & 0x3fff) << 16) | (n & 0xffff)
}

impl Inner {
    pub(crate) async fn get_link_msg(
        &self,
        ns: &NsFile,
        index: Option<IfIndex>,
        name: Option<&str>,
    ) -> Result<LinkMessage, NlError> {
        let mut m = LinkMessage::default();
        if let Some(i) = index {
            m.header.index = i;
        }
        if let Some(n) = name {
            m.attributes.push(LinkAttribute::IfName(n.to_string()));
        }
        let replies = self
            .req(ns, RouteNetlinkMessage::GetLink(m), nl::GET)
            .await?;
        replies
            .into_iter()
            .find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .ok_or_else(|| NlError::errno(Errno::ENODEV))
    }

    pub(crate) async fn link(
        &self,
        ns: &NsFile,
        ns_ref: &NetnsRef,
        index: Option<IfIndex>,
        name: Option<&str>,
    ) -> Result<LinkInfo, NlError> {
        let msg = self.get_link_msg(ns, index, name).await?;
        let raw = nl::parse_link(&msg);
        Ok(self
            .finish_links(ns, ns_ref, vec![raw])
            .await
            .pop()
            .expect("one link in, one out"))
    }

    /// `ifindex 7` or `eth0 (ifindex 7)` when the link can still be read.
    pub(crate) async fn describe(&self, ns: &NsFile, index: IfIndex) -> String {
        match self.get_link_msg(ns, Some(index), None).await {
            Ok(m) => {
                let raw = nl::parse_link(&m);
                format!("{} (ifindex {index})", raw.info.name)
            }
            Err(_) => ifobj(index),
        }
    }

    /// RTM_DELLINK for every index, all queued before any answer is read; the first error.
    pub(crate) async fn pipelined(
        &self,
        ns: &NsFile,
        indices: &[IfIndex],
    ) -> Option<(IfIndex, NlError)> {
        let handle = match self.handle(ns).await {
            Ok(h) => h,
            Err(e) => return indices.first().map(|i| (*i, e)),
        };
        let mut pending = Vec::with_capacity(indices.len());
        for &index in indices {
            match nl::start(
                &handle,
                RouteNetlinkMessage::DelLink(link_msg(index)),
                nl::ACK,
            ) {
                Ok(stream) => pending.push(nl::collect(stream).map_err(move |e| (index, e))),
                Err(e) => return Some((index, e)),
            }
        }
        futures::future::join_all(pending)
            .await
            .into_iter()
            .find_map(Result::err)
    }

    /// RTM_SETLINK of `attr` on every index, pipelined; each index with its result.
    pub(crate) async fn pipelined_set(
        &self,
        ns: &NsFile,
        indices: &[IfIndex],
        attr: LinkAttribute,
    ) -> Vec<(IfIndex, Result<(), NlError>)> {
        let handle = match self.handle(ns).await {
            Ok(h) => h,
            Err(e) => return indices.iter().map(|i| (*i, Err(e.clone()))).collect(),
        };
        let mut pending = Vec::with_capacity(indices.len());
        for &index in indices {
            let mut m = link_msg(index);
            m.attributes.push(attr.clone());
            let started = nl::start(&handle, RouteNetlinkMessage::SetLink(m), nl::ACK);
            pending.push(async move {
                match started {
                    Ok(stream) => (index, nl::collect(stream).await.map(|_| ())),
                    Err(e) => (index, Err(e)),
                }
            });
        }
        futures::future::join_all(pending).await
    }

    pub(crate) async fn setlink(&self, ns: &NsFile, msg: LinkMessage) -> Result<(), NlError> {
        self.req(ns, RouteNetlinkMessage::SetLink(msg), nl::ACK)
            .await
            .map(|_| ())
    }
}

fn link_msg(index: IfIndex) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m
}

/// `IFLA_MTU` of link `index` (SPEC L1), the message `ip link set X mtu N` sends: an
/// RTM_NEWLINK (not SETLINK) without `NLM_F_CREATE`, which the kernel runs as a change.
pub(crate) fn mtu_msg(index: IfIndex, mtu: u32) -> LinkMessage {
    let mut m = link_msg(index);
    m.attributes.push(LinkAttribute::Mtu(mtu));
    m
}

/// A bridge, as `ip link add NAME [mtu N] type bridge [vlan_filtering 1]` asks for it.
/// `IFLA_BR_VLAN_FILTERING` is sent only to turn filtering on: a kernel without
/// `CONFIG_BRIDGE_VLAN_FILTERING` refuses the attribute whatever its value (EOPNOTSUPP).
pub(crate) fn bridge_msg(name: &str, options: &BridgeOptions) -> LinkMessage {
    let mut m = LinkMessage::default();
    if let Some(mtu) = options.mtu {
        m.attributes.push(LinkAttribute::Mtu(mtu));
    }
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    let mut info = vec![NlLinkInfo::Kind(InfoKind::Bridge)];
    if options.vlan_filtering {
        info.push(NlLinkInfo::Data(InfoData::Bridge(vec![
            InfoBridge::VlanFiltering(true),
        ])));
    }
    m.attributes.push(LinkAttribute::LinkInfo(info));
    m
}

/// A veth pair in one RTM_NEWLINK: the host end in the namespace the message is sent to, the
/// peer in the one `peer_netns_fd` names (`None`: the same). Each end carries the MTU (SPEC
/// L1: a veth's peer does not inherit it), before its name, in iproute2's order.
pub(crate) fn veth_msg(request: &VethRequest, peer_netns_fd: Option<RawFd>) -> LinkMessage {
    let mut peer = LinkMessage::default();
    if let Some(mtu) = request.mtu {
        peer.attributes.push(LinkAttribute::Mtu(mtu));
    }
    peer.attributes
        .push(LinkAttribute::IfName(request.peer_name.clone()));
    if let Some(mac) = request.peer_mac {
        peer.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    if let Some(fd) = peer_netns_fd {
        peer.attributes.push(LinkAttribute::NetNsFd(fd));
    }
    let mut m = LinkMessage::default();
    if request.host_up {
        m.header.flags = NlLinkFlags::Up;
        m.header.change_mask = NlLinkFlags::Up;
    }
    if let Some(mtu) = request.mtu {
        m.attributes.push(LinkAttribute::Mtu(mtu));
    }
    m.attributes
        .push(LinkAttribute::IfName(request.host_name.clone()));
    if let Some(master) = request.host_master {
        m.attributes.push(LinkAttribute::Controller(master));
    }
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        NlLinkInfo::Kind(InfoKind::Veth),
        NlLinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    m
}

impl LinuxBackend {
    /// Error about link `index`, named by its current name when it can still be read.
    pub(crate) async fn link_err(
        &self,
        op: Op,
        ns: &NsFile,
        netns: &NetnsRef,
        index: IfIndex,
        e: NlError,
    ) -> BackendError {
        let object = if e.errno == Errno::ENODEV {
            ifobj(index)
        } else {
            self.inner.describe(ns, index).await
        };
        Self::err(op, netns, object, e)
    }

    pub(crate) async fn set_link(
        &self,
        op: Op,
        netns: &NetnsRef,
        index: IfIndex,
        msg: LinkMessage,
    ) -> Result<(), BackendError> {
        let ns = self.ns(op, netns)?;
        match self.inner.setlink(&ns, msg).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.link_err(op, &ns, netns, index, e).await),
        }
    }

    pub(crate) async fn index_by_name(
        &self,
        op: Op,
        ns: &NsFile,
        netns: &NetnsRef,
        name: &str,
    ) -> Result<IfIndex, BackendError> {
        self.inner
            .get_link_msg(ns, None, Some(name))
            .await
            .map(|m| m.header.index)
            .map_err(|e| Self::err(op, netns, name, e))
    }

    pub(crate) async fn link_by_name(
        &self,
        netns: &NetnsRef,
        name: &str,
    ) -> Result<LinkInfo, BackendError> {
        let ns = self.ns(Op::GetLink, netns)?;
        self.inner
            .link(&ns, netns, None, Some(name))
            .instrument(tracing::debug_span!("link_by_name", iface = name, netns = %netns))
            .await
            .map_err(|e| Self::err(Op::GetLink, netns, name, e))
    }

    pub(crate) async fn link_by_index(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> Result<LinkInfo, BackendError> {
        let ns = self.ns(Op::GetLink, netns)?;
        self.inner
            .link(&ns, netns, Some(index), None)
            .instrument(tracing::debug_span!("link_by_index", ifindex = index, netns = %netns))
            .await
            .map_err(|e| Self::err(Op::GetLink, netns, ifobj(index), e))
    }

    pub(crate) async fn list_links(&self, netns: &NetnsRef) -> Result<Vec<LinkInfo>, BackendError> {
        let ns = self.ns(Op::ListLinks, netns)?;
        let span = tracing::debug_span!("list_links", netns = %netns);
        async {
            let replies = self
                .inner
                .req(
                    &ns,
                    RouteNetlinkMessage::GetLink(LinkMessage::default()),
                    nl::DUMP,
                )
                .await?;
            let raws = replies
                .iter()
                .filter_map(|r| match r {
                    RouteNetlinkMessage::NewLink(l) => Some(nl::parse_link(l)),
                    _ => None,
                })
                .collect();
            Ok(self.inner.finish_links(&ns, netns, raws).await)
        }
        .instrument(span)
        .await
        .map_err(|e| Self::err(Op::ListLinks, netns, "links", e))
    }

    pub(crate) async fn move_link(
        &self,
        from: &NetnsRef,
        index: IfIndex,
        to: &NetnsRef,
        new_name: &str,
    ) -> Result<IfIndex, BackendError> {
        let op = Op::MoveLink;
        let src = self.ns(op, from)?;
        let dst = self.ns(op, to)?;
        let span = tracing::debug_span!("move_link", ifindex = index, netns = %from, to = %to, iface = new_name);
        async {
            let old = self
                .inner
                .get_link_msg(&src, Some(index), None)
                .await
                .map_err(|e| Self::err(op, from, ifobj(index), e))?;
            let old_name = nl::parse_link(&old).info.name;
            let object = format!("{old_name} (ifindex {index})");
            if src.key == dst.key {
                // Same namespace: a plain rename.
                let mut m = link_msg(index);
                m.attributes
                    .push(LinkAttribute::IfName(new_name.to_string()));
                self.inner
                    .setlink(&src, m)
                    .await
                    .map_err(|e| Self::err(op, from, object.clone(), e))?;
                return Ok(index);
            }
            // The kernel moves first and renames after, in one message; a name taken in the
            // destination would fail after the move. Refuse before touching anything.
            match self.inner.get_link_msg(&dst, None, Some(new_name)).await {
                Ok(_) => {
                    return Err(Self::err(op, to, object, NlError::errno(Errno::EEXIST))
                        .with_detail(format!("{new_name} exists in {to}")))
                }
                Err(e) if e.errno == Errno::ENODEV => {}
                Err(e) => return Err(Self::err(op, to, new_name, e)),
            }
            let mut m = link_msg(index);
            m.attributes
                .push(LinkAttribute::NetNsFd(dst.fd.as_raw_fd()));
            m.attributes
                .push(LinkAttribute::IfName(new_name.to_string()));
            if let Err(e) = self.inner.setlink(&src, m).await {
                // Did it move anyway (rename failed after the move)? Bring it back.
                if self
                    .inner
                    .get_link_msg(&src, Some(index), None)
                    .await
                    .is_err()
                {
                    if let Ok(moved) = self.inner.get_link_msg(&dst, None, Some(&old_name)).await {
                        let mut back = link_msg(moved.header.index);
                        back.attributes
                            .push(LinkAttribute::NetNsFd(src.fd.as_raw_fd()));
                        back.attributes
                            .push(LinkAttribute::IfName(old_name.clone()));
                        let _ = self.inner.setlink(&dst, back).await;
                    }
                }
                return Err(Self::err(op, from, object, e));
            }
            self.inner.forget_link_senders(src.key, index);
            self.index_by_name(op, &dst, to, new_name).await
        }
        .instrument(span)
        .await
    }

    pub(crate) async fn rename_link(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        name: &str,
    ) -> Result<(), BackendError> {
        let mut m = link_msg(index);
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.set_link(Op::RenameLink, netns, index, m)
            .instrument(
                tracing::debug_span!("rename_link", ifindex = index, iface = name, netns = %netns),
            )
            .await
    }

    pub(crate) async fn set_link_up(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> Result<(), BackendError> {
        let mut m = link_msg(index);
        m.header.flags = NlLinkFlags::Up;
        m.header.change_mask = NlLinkFlags::Up;
        self.set_link(Op::SetLinkUp, netns, index, m)
            .instrument(tracing::debug_span!("set_link_up", ifindex = index, netns = %netns))
            .await
    }

    pub(crate) async fn set_link_down(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> Result<(), BackendError> {
        let mut m = link_msg(index);
        m.header.flags = NlLinkFlags::empty();
        m.header.change_mask = NlLinkFlags::Up;
        self.set_link(Op::SetLinkDown, netns, index, m)
            .instrument(tracing::debug_span!("set_link_down", ifindex = index, netns = %netns))
            .await
    }

    pub(crate) async fn set_mac(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
    ) -> Result<(), BackendError> {
        let mut m = link_msg(index);
        m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        self.set_link(Op::SetMac, netns, index, m)
            .instrument(
                tracing::debug_span!("set_mac", ifindex = index, mac = %mac, netns = %netns),
            )
            .await
    }

    pub(crate) async fn set_master(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        master: Option<IfIndex>,
    ) -> Result<(), BackendError> {
        let mut m = link_msg(index);
        m.attributes
            .push(LinkAttribute::Controller(master.unwrap_or(0)));
        self.set_link(Op::SetMaster, netns, index, m)
            .instrument(tracing::debug_span!("set_master", ifindex = index, master = ?master, netns = %netns))
            .await
    }

    /// SPEC L1. Sent as `ip link set X mtu N` sends it: an RTM_NEWLINK for the existing index
    /// (see [`mtu_msg`]); the kernel's limits and what follows from a change are above.
    pub(crate) async fn set_mtu(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mtu: u32,
    ) -> Result<(), BackendError> {
        let op = Op::SetMtu;
        let ns = self.ns(op, netns)?;
        let msg = RouteNetlinkMessage::NewLink(mtu_msg(index, mtu));
        match self
            .inner
            .req(&ns, msg, nl::ACK)
            .instrument(tracing::debug_span!("set_mtu", ifindex = index, mtu, netns = %netns))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(self.link_err(op, &ns, netns, index, e).await),
        }
    }

    pub(crate) async fn create_bridge(
        &self,
        netns: &NetnsRef,
        name: &str,
        options: &BridgeOptions,
    ) -> Result<IfIndex, BackendError> {
        let op = Op::CreateBridge;
        let ns = self.ns(op, netns)?;
        let m = bridge_msg(name, options);
        let span = tracing::debug_span!("create_bridge", iface = name, netns = %netns,
            mtu = ?options.mtu, vlan_filtering = options.vlan_filtering);
        async {
            let replies = self
                .inner
                .req(&ns, RouteNetlinkMessage::NewLink(m), nl::CREATE_ECHO)
                .await
                .map_err(|e| {
                    let lacks = options.vlan_filtering
                        && e.errno == Errno::EOPNOTSUPP
                        && e.detail.is_empty();
                    let be = Self::err(op, netns, name, e);
                    if lacks {
                        be.with_detail(crate::bridge_port::NO_VLAN_FILTERING)
                    } else {
                        be
                    }
                })?;
            match nl::echoed_link(&replies, name) {
                Some(echoed) => Ok(echoed.index),
                None => self.index_by_name(op, &ns, netns, name).await,
            }
        }
        .instrument(span)
        .await
    }

    pub(crate) async fn create_veth(
        &self,
        netns: &NetnsRef,
        request: &VethRequest,
    ) -> Result<VethPair, BackendError> {
        let op = Op::CreateVeth;
        let ns = self.ns(op, netns)?;
        let peer_ns = self.ns(op, &request.peer_netns)?;
        let object = format!("{} (peer {})", request.host_name, request.peer_name);
        let span = tracing::debug_span!("create_veth", iface = %request.host_name, peer = %request.peer_name,
            netns = %netns, peer_netns = %request.peer_netns, mac = ?request.peer_mac, mtu = ?request.mtu);
        async {
            let peer_fd = (peer_ns.key != ns.key).then(|| peer_ns.fd.as_raw_fd());
            let m = veth_msg(request, peer_fd);
            let replies = self
                .inner
                .req(&ns, RouteNetlinkMessage::NewLink(m), nl::CREATE_ECHO)
                .await
                .map_err(|e| Self::err(op, netns, object.clone(), e))?;
            // The echo (Linux >= 6.3) names both ends; older kernels: look them up by name.
            let echoed = nl::echoed_link(&replies, &request.host_name);
            if let Some(id) = echoed.and_then(|e| e.peer_nsid) {
                // The id this namespace gives the peer's: reading the host end later (SPEC
                // A12, S6) needs no RTM_GETNSID round to find where its peer is.
                self.inner
                    .learn_nsid(&ns, id, &peer_ns, &request.peer_netns);
            }
            let (host_index, peer_index) = match echoed {
                Some(nl::Echoed {
                    index,
                    peer_index: Some(peer),
                    ..
                }) => (index, peer),
                Some(nl::Echoed { index: host, .. }) => (
                    host,
                    self.index_by_name(op, &peer_ns, &request.peer_netns, &request.peer_name)
                        .await?,
                ),
                None => (
                    self.index_by_name(op, &ns, netns, &request.host_name)
                        .await?,
                    self.index_by_name(op, &peer_ns, &request.peer_netns, &request.peer_name)
                        .await?,
                ),
            };
            tracing::debug!(ifindex = host_index, peer_index, "veth created");
            Ok(VethPair {
                host_index,
                peer_index,
            })
        }
        .instrument(span)
        .await
    }

    pub(crate) async fn delete_links(
        &self,
        netns: &NetnsRef,
        indices: &[IfIndex],
    ) -> Result<(), BackendError> {
        let op = Op::DeleteLink;
        let ns = self.ns(op, netns)?;
        let span = tracing::debug_span!("delete_links", netns = %netns, count = indices.len());
        for &index in indices {
            self.inner.forget_link_senders(ns.key, index);
        }
        async {
            if indices.len() <= 1 {
                return match self.inner.pipelined(&ns, indices).await {
                    None => Ok(()),
                    Some((index, e)) => Err(Self::err(op, netns, ifobj(index), e)),
                };
            }
            // Each RTM_DELLINK by index waits for its own RCU grace period (~20 ms for a
            // veth), pipelined or not. A delete by IFLA_GROUP unregisters every member in one
            // go: tag the links with a group of their own (pipelined RTM_SETLINKs, cheap),
            // then send one RTM_DELLINK for the group.
            let group = batch_group();
            let tagged = self
                .inner
                .pipelined_set(&ns, indices, LinkAttribute::Group(group))
                .await;
            let mut first_err = tagged
                .iter()
                .find_map(|(i, r)| r.clone().err().map(|e| (*i, e)));
            let members: Vec<IfIndex> = tagged
                .iter()
                .filter(|(_, r)| r.is_ok())
                .map(|(i, _)| *i)
                .collect();
            if !members.is_empty() {
                let mut m = LinkMessage::default();
                m.attributes.push(LinkAttribute::Group(group));
                if let Err(e) = self
                    .inner
                    .req(&ns, RouteNetlinkMessage::DelLink(m), nl::ACK)
                    .await
                {
                    tracing::debug!(error = ?e, "group delete refused, deleting one by one");
                    if let Some(err) = self.inner.pipelined(&ns, &members).await {
                        first_err = first_err.or(Some(err));
                    }
                }
            }
            match first_err {
                None => Ok(()),
                Some((index, e)) => Err(Self::err(op, netns, ifobj(index), e)),
            }
        }
        .instrument(span)
        .await
    }
}
