//! The protocol between a state machine and whoever runs it: commands out, inputs in.

use crate::backend::{LinkEvents, NetBackend, VethPair, VethRequest};
use crate::types::{
    AddrInfo, Family, IfIndex, LinkEvent, LinkInfo, LinkStats, MacAddr, NetnsRef, RouteInfo,
    RouteSpec,
};
use crate::{BackendError, Op};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Identifies one link-event subscription a machine asked for.
pub type SubscriptionId = u64;

/// One kernel operation a machine wants run: exactly one [`NetBackend`] method, or the
/// subscription bookkeeping the runner does for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    LinkByName {
        netns: NetnsRef,
        name: String,
    },
    LinkByIndex {
        netns: NetnsRef,
        index: IfIndex,
    },
    MoveLink {
        from: NetnsRef,
        index: IfIndex,
        to: NetnsRef,
        new_name: String,
    },
    RenameLink {
        netns: NetnsRef,
        index: IfIndex,
        name: String,
    },
    SetLinkUp {
        netns: NetnsRef,
        index: IfIndex,
    },
    SetLinkDown {
        netns: NetnsRef,
        index: IfIndex,
    },
    SetMac {
        netns: NetnsRef,
        index: IfIndex,
        mac: MacAddr,
    },
    SetMaster {
        netns: NetnsRef,
        index: IfIndex,
        master: Option<IfIndex>,
    },
    CreateBridge {
        netns: NetnsRef,
        name: String,
    },
    CreateVeth {
        netns: NetnsRef,
        request: VethRequest,
    },
    DeleteLinks {
        netns: NetnsRef,
        indices: Vec<IfIndex>,
    },
    AddAddress {
        netns: NetnsRef,
        index: IfIndex,
        net: IpNet,
        nodad: bool,
    },
    DelAddress {
        netns: NetnsRef,
        index: IfIndex,
        net: IpNet,
    },
    ListAddresses {
        netns: NetnsRef,
        index: Option<IfIndex>,
    },
    AddRoute {
        netns: NetnsRef,
        route: RouteSpec,
    },
    DelRoute {
        netns: NetnsRef,
        route: RouteSpec,
    },
    ListRoutes {
        netns: NetnsRef,
        family: Family,
    },
    GetRoute {
        netns: NetnsRef,
        dst: IpAddr,
        oif: Option<IfIndex>,
    },
    ReadSysctl {
        netns: NetnsRef,
        path: String,
    },
    WriteSysctl {
        netns: NetnsRef,
        path: String,
        value: String,
    },
    /// Start delivering link events of `netns` as [`Input::LinkEvent`] tagged with `id`.
    Subscribe {
        id: SubscriptionId,
        netns: NetnsRef,
    },
    /// Stop delivering events for `id` (always succeeds).
    Unsubscribe {
        id: SubscriptionId,
    },
    SendArp {
        netns: NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv4Addr,
    },
    SendNa {
        netns: NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv6Addr,
    },
    LinkStats {
        netns: NetnsRef,
        index: IfIndex,
    },
}

impl Command {
    /// The backend operation this command runs, for traces and fault injection.
    pub fn op(&self) -> Op {
        match self {
            Command::LinkByName { .. } | Command::LinkByIndex { .. } => Op::GetLink,
            Command::MoveLink { .. } => Op::MoveLink,
            Command::RenameLink { .. } => Op::RenameLink,
            Command::SetLinkUp { .. } => Op::SetLinkUp,
            Command::SetLinkDown { .. } => Op::SetLinkDown,
            Command::SetMac { .. } => Op::SetMac,
            Command::SetMaster { .. } => Op::SetMaster,
            Command::CreateBridge { .. } => Op::CreateBridge,
            Command::CreateVeth { .. } => Op::CreateVeth,
            Command::DeleteLinks { .. } => Op::DeleteLink,
            Command::AddAddress { .. } => Op::AddAddress,
            Command::DelAddress { .. } => Op::DelAddress,
            Command::ListAddresses { .. } => Op::ListAddresses,
            Command::AddRoute { .. } => Op::AddRoute,
            Command::DelRoute { .. } => Op::DelRoute,
            Command::ListRoutes { .. } => Op::ListRoutes,
            Command::GetRoute { .. } => Op::GetRoute,
            Command::ReadSysctl { .. } => Op::ReadSysctl,
            Command::WriteSysctl { .. } => Op::WriteSysctl,
            Command::Subscribe { .. } | Command::Unsubscribe { .. } => Op::SubscribeLinks,
            Command::SendArp { .. } => Op::SendArp,
            Command::SendNa { .. } => Op::SendNa,
            Command::LinkStats { .. } => Op::LinkStats,
        }
    }
}

/// The successful outcome of a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Done,
    Link(LinkInfo),
    Index(IfIndex),
    Veth(VethPair),
    Addresses(Vec<AddrInfo>),
    Routes(Vec<RouteInfo>),
    Route(RouteInfo),
    Value(String),
    Stats(LinkStats),
}

/// What a runner feeds back into a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The outcome of the command last handed out by `poll_command`.
    Reply(Result<Reply, BackendError>),
    /// A link event on a subscription the machine asked for.
    LinkEvent {
        id: SubscriptionId,
        event: LinkEvent,
    },
}

/// Run one command on a backend. Subscriptions are opened here and handed back to the runner,
/// which owns the event streams.
pub async fn execute<B: NetBackend + ?Sized>(
    backend: &B,
    command: &Command,
) -> (
    Result<Reply, BackendError>,
    Option<(SubscriptionId, LinkEvents)>,
) {
    use Command as C;
    let done = |r: Result<(), BackendError>| r.map(|()| Reply::Done);
    let reply = match command {
        C::LinkByName { netns, name } => backend.link_by_name(netns, name).await.map(Reply::Link),
        C::LinkByIndex { netns, index } => {
            backend.link_by_index(netns, *index).await.map(Reply::Link)
        }
        C::MoveLink {
            from,
            index,
            to,
            new_name,
        } => backend
            .move_link(from, *index, to, new_name)
            .await
            .map(Reply::Index),
        C::RenameLink { netns, index, name } => {
            done(backend.rename_link(netns, *index, name).await)
        }
        C::SetLinkUp { netns, index } => done(backend.set_link_up(netns, *index).await),
        C::SetLinkDown { netns, index } => done(backend.set_link_down(netns, *index).await),
        C::SetMac { netns, index, mac } => done(backend.set_mac(netns, *index, *mac).await),
        C::SetMaster {
            netns,
            index,
            master,
        } => done(backend.set_master(netns, *index, *master).await),
        C::CreateBridge { netns, name } => {
            backend.create_bridge(netns, name).await.map(Reply::Index)
        }
        C::CreateVeth { netns, request } => {
            backend.create_veth(netns, request).await.map(Reply::Veth)
        }
        C::DeleteLinks { netns, indices } => done(backend.delete_links(netns, indices).await),
        C::AddAddress {
            netns,
            index,
            net,
            nodad,
        } => done(backend.add_address(netns, *index, *net, *nodad).await),
        C::DelAddress { netns, index, net } => done(backend.del_address(netns, *index, *net).await),
        C::ListAddresses { netns, index } => backend
            .list_addresses(netns, *index)
            .await
            .map(Reply::Addresses),
        C::AddRoute { netns, route } => done(backend.add_route(netns, route).await),
        C::DelRoute { netns, route } => done(backend.del_route(netns, route).await),
        C::ListRoutes { netns, family } => {
            backend.list_routes(netns, *family).await.map(Reply::Routes)
        }
        C::GetRoute { netns, dst, oif } => {
            backend.get_route(netns, *dst, *oif).await.map(Reply::Route)
        }
        C::ReadSysctl { netns, path } => backend.read_sysctl(netns, path).await.map(Reply::Value),
        C::WriteSysctl { netns, path, value } => {
            done(backend.write_sysctl(netns, path, value).await)
        }
        C::Subscribe { id, netns } => {
            return match backend.subscribe_links(netns).await {
                Ok(stream) => (Ok(Reply::Done), Some((*id, stream))),
                Err(e) => (Err(e), None),
            }
        }
        C::Unsubscribe { .. } => Ok(Reply::Done),
        C::SendArp {
            netns,
            index,
            mac,
            addr,
        } => done(backend.send_arp(netns, *index, *mac, *addr).await),
        C::SendNa {
            netns,
            index,
            mac,
            addr,
        } => done(backend.send_na(netns, *index, *mac, *addr).await),
        C::LinkStats { netns, index } => backend.link_stats(netns, *index).await.map(Reply::Stats),
    };
    (reply, None)
}
