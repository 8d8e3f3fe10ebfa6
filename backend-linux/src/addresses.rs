//! Addresses: add (with `IFA_F_NODAD` on request, SPEC A4), delete, list.

use crate::netns::NsFile;
use crate::nl;
use crate::{ifobj, LinuxBackend};
use ipnet::IpNet;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nsplumb_core::{AddrInfo, BackendError, Errno, IfIndex, NetnsRef, Op};
use std::net::IpAddr;
use tracing::Instrument;

pub(crate) fn family_of(ip: &IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn addr_msg(index: IfIndex, net: &IpNet) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family_of(&net.addr());
    m.header.prefix_len = net.prefix_len();
    m.header.index = index;
    m.header.scope = if net.addr().is_loopback() {
        AddressScope::Host
    } else {
        AddressScope::Universe
    };
    m.attributes.push(AddressAttribute::Local(net.addr()));
    m.attributes.push(AddressAttribute::Address(net.addr()));
    m
}

impl LinuxBackend {
    /// Send an address request; an error names the address and the link.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn address_request(
        &self,
        op: Op,
        ns: &NsFile,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
        req: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), BackendError> {
        match self.inner.req(ns, req, flags).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let mut be = self.link_err(op, ns, netns, index, e).await;
                be.object = format!("{net} on {}", be.object);
                Err(be)
            }
        }
    }

    pub(crate) async fn add_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
        nodad: bool,
    ) -> Result<(), BackendError> {
        let op = Op::AddAddress;
        let ns = self.ns(op, netns)?;
        let mut m = addr_msg(index, &net);
        if let IpNet::V4(v4) = net {
            if v4.prefix_len() < 31 {
                m.attributes
                    .push(AddressAttribute::Broadcast(v4.broadcast()));
            }
        }
        if nodad {
            m.header.flags = AddressHeaderFlags::Nodad;
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        let span = tracing::debug_span!("add_address", ifindex = index, addr = %net, nodad, netns = %netns);
        let req = RouteNetlinkMessage::NewAddress(m);
        self.address_request(op, &ns, netns, index, net, req, nl::CREATE)
            .instrument(span)
            .await
    }

    pub(crate) async fn del_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
    ) -> Result<(), BackendError> {
        let op = Op::DelAddress;
        let ns = self.ns(op, netns)?;
        let m = addr_msg(index, &net);
        let span =
            tracing::debug_span!("del_address", ifindex = index, addr = %net, netns = %netns);
        let req = RouteNetlinkMessage::DelAddress(m);
        self.address_request(op, &ns, netns, index, net, req, nl::ACK)
            .instrument(span)
            .await
    }

    pub(crate) async fn list_addresses(
        &self,
        netns: &NetnsRef,
        index: Option<IfIndex>,
    ) -> Result<Vec<AddrInfo>, BackendError> {
        let op = Op::ListAddresses;
        let ns = self.ns(op, netns)?;
        let mut m = AddressMessage::default();
        if let Some(i) = index {
            // Honoured with strict checking (see `Inner::handle`); filtered below anyway.
            m.header.index = i;
        }
        let replies = match self
            .inner
            .req(&ns, RouteNetlinkMessage::GetAddress(m), nl::DUMP)
            .instrument(tracing::debug_span!("list_addresses", ifindex = ?index, netns = %netns))
            .await
        {
            // A filtered dump of a link that does not exist is ENODEV; the whole dump, filtered
            // here, had nothing for it.
            Err(e) if index.is_some() && e.errno == Errno::ENODEV => Ok(Vec::new()),
            other => other,
        }
        .map_err(|e| {
            Self::err(
                op,
                netns,
                index.map_or_else(|| "addresses".into(), ifobj),
                e,
            )
        })?;
        Ok(replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewAddress(a) => nl::parse_addr(a),
                _ => None,
            })
            .filter(|a| index.is_none_or(|i| a.index == i))
            .collect())
    }
}
