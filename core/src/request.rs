//! The kernel's vocabulary: every operation the machines ask a backend to run, as data, and
//! the [`Op`] that names it.
//!
//! A new kernel operation is a variant here (its `Op` and the arms the compiler then asks for
//! in this file), its arm in the simulator and its arm in the Linux backend; a typed call in
//! [`crate::BackendExt`] if callers want one. The machines, the driver, the middlewares and the
//! mock take it as it is.

use crate::types::{
    BridgeOptions, Family, IfIndex, MacAddr, NetnsRef, PortFlagsChange, RouteSpec, VlanSpec,
};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What the fast path asks for: a veth pair whose container end is born in its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethRequest {
    /// Name of the end that stays in the namespace the call is made in (the "host" end).
    pub host_name: String,
    /// Bridge (in the host end's namespace) to enslave the host end to, in the same request.
    pub host_master: Option<IfIndex>,
    /// Bring the host end up in the same request.
    pub host_up: bool,
    /// Namespace the container end is created in.
    pub peer_netns: NetnsRef,
    /// The container end's final name.
    pub peer_name: String,
    /// The container end's MAC, set at creation.
    pub peer_mac: Option<MacAddr>,
    /// Both ends' MTU, set at creation, before either is up (SPEC L1).
    pub mtu: Option<u32>,
}

/// Indices of a freshly created veth pair, each in its own namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VethPair {
    pub host_index: IfIndex,
    pub peer_index: IfIndex,
}

/// One kernel operation, acting inside the namespace it names. Run by
/// [`NetBackend::execute`](crate::NetBackend::execute); the [`Reply`](crate::Reply) of each is
/// given on its variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `Link`.
    LinkByName { netns: NetnsRef, name: String },
    /// `Link`.
    LinkByIndex { netns: NetnsRef, index: IfIndex },
    /// `Links`: every link of the namespace.
    ListLinks { netns: NetnsRef },
    /// `Index` (in `to`). Moves the link and gives it `new_name` there in one message
    /// (`IFLA_NET_NS_FD` + `IFLA_IFNAME`).
    MoveLink {
        from: NetnsRef,
        index: IfIndex,
        to: NetnsRef,
        new_name: String,
    },
    /// `Done`.
    RenameLink {
        netns: NetnsRef,
        index: IfIndex,
        name: String,
    },
    /// `Done`.
    SetLinkUp { netns: NetnsRef, index: IfIndex },
    /// `Done`.
    SetLinkDown { netns: NetnsRef, index: IfIndex },
    /// `Done`.
    SetMac {
        netns: NetnsRef,
        index: IfIndex,
        mac: MacAddr,
    },
    /// `Done`. Enslave to `master` (a bridge in the same namespace), or release with `None`.
    SetMaster {
        netns: NetnsRef,
        index: IfIndex,
        master: Option<IfIndex>,
    },
    /// `Index`.
    CreateBridge {
        netns: NetnsRef,
        name: String,
        options: BridgeOptions,
    },
    /// `Done`. `IFLA_MTU` (SPEC L1).
    SetMtu {
        netns: NetnsRef,
        index: IfIndex,
        mtu: u32,
    },
    /// `Done`. A bridge port's flags, as `bridge link set dev X hairpin on isolated on` sets
    /// them (AF_BRIDGE `RTM_SETLINK`, `IFLA_PROTINFO`; SPEC L2, L4).
    SetPortFlags {
        netns: NetnsRef,
        index: IfIndex,
        flags: PortFlagsChange,
    },
    /// `Done`. VLANs on a bridge port, as `bridge vlan add` adds them (SPEC L3).
    AddPortVlans {
        netns: NetnsRef,
        index: IfIndex,
        vlans: Vec<VlanSpec>,
    },
    /// `Done`. VLANs off a bridge port, as `bridge vlan del` (SPEC L3).
    DelPortVlans {
        netns: NetnsRef,
        index: IfIndex,
        vlans: Vec<VlanSpec>,
    },
    /// `Vlans`: the VLAN table of every bridge port of the namespace (`bridge vlan show`).
    ListPortVlans { netns: NetnsRef },
    /// `Veth`. `netns` holds the host end (see [`VethRequest`]).
    CreateVeth {
        netns: NetnsRef,
        request: VethRequest,
    },
    /// `Done`. As one kernel batch where the backend can (a veth takes its peer along).
    DeleteLinks {
        netns: NetnsRef,
        indices: Vec<IfIndex>,
    },
    /// `Done`. `nodad` sets `IFA_F_NODAD` (IPv6).
    AddAddress {
        netns: NetnsRef,
        index: IfIndex,
        net: IpNet,
        nodad: bool,
    },
    /// `Done`.
    DelAddress {
        netns: NetnsRef,
        index: IfIndex,
        net: IpNet,
    },
    /// `Addresses`: of one link, or of every link when `index` is `None`.
    ListAddresses {
        netns: NetnsRef,
        index: Option<IfIndex>,
    },
    /// `Done`. In the main table.
    AddRoute { netns: NetnsRef, route: RouteSpec },
    /// `Done`.
    DelRoute { netns: NetnsRef, route: RouteSpec },
    /// `Routes`: the main table's, of one family.
    ListRoutes { netns: NetnsRef, family: Family },
    /// `Route`: the lookup `ip route get DST [oif IDX]` makes.
    GetRoute {
        netns: NetnsRef,
        dst: IpAddr,
        oif: Option<IfIndex>,
    },
    /// `Value`, trimmed. `path` is below `/proc/sys`, e.g. `net/ipv6/conf/eth0/disable_ipv6`;
    /// `ENOENT` when the file does not exist, `EISDIR` for a directory.
    ReadSysctl { netns: NetnsRef, path: String },
    /// `Done`.
    WriteSysctl {
        netns: NetnsRef,
        path: String,
        value: String,
    },
    /// `Done`. One unsolicited ARP request (SPEC S2) out of `index`.
    SendArp {
        netns: NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv4Addr,
    },
    /// `Done`. One unsolicited neighbour advertisement (SPEC S3) out of `index`.
    SendNa {
        netns: NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv6Addr,
    },
}

/// Every kernel operation (each [`Request`], the link subscription, the namespace
/// administration of [`crate::NetnsAdmin`]), so errors, traces and fault rules can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    CreateNetns,
    DeleteNetns,
    ListNetns,
    NetnsCookie,
    GetLink,
    ListLinks,
    MoveLink,
    RenameLink,
    SetLinkUp,
    SetLinkDown,
    SetMac,
    SetMaster,
    CreateBridge,
    CreateVeth,
    DeleteLink,
    SetMtu,
    SetPortFlags,
    AddPortVlans,
    DelPortVlans,
    ListPortVlans,
    AddAddress,
    DelAddress,
    ListAddresses,
    AddRoute,
    DelRoute,
    ListRoutes,
    GetRoute,
    ReadSysctl,
    WriteSysctl,
    SubscribeLinks,
    SendArp,
    SendNa,
}

impl Op {
    /// Human wording for messages: "set link up", "add address".
    pub fn describe(self) -> &'static str {
        match self {
            Op::CreateNetns => "create namespace",
            Op::DeleteNetns => "delete namespace",
            Op::ListNetns => "list namespaces",
            Op::NetnsCookie => "read the namespace cookie",
            Op::GetLink => "look up link",
            Op::ListLinks => "list links",
            Op::MoveLink => "move link",
            Op::RenameLink => "rename link",
            Op::SetLinkUp => "set link up",
            Op::SetLinkDown => "set link down",
            Op::SetMac => "set MAC address",
            Op::SetMaster => "set master",
            Op::CreateBridge => "create bridge",
            Op::CreateVeth => "create veth pair",
            Op::DeleteLink => "delete link",
            Op::SetMtu => "set MTU",
            Op::SetPortFlags => "set bridge port flags",
            Op::AddPortVlans => "add bridge port VLANs",
            Op::DelPortVlans => "delete bridge port VLANs",
            Op::ListPortVlans => "list bridge port VLANs",
            Op::AddAddress => "add address",
            Op::DelAddress => "delete address",
            Op::ListAddresses => "list addresses",
            Op::AddRoute => "add route",
            Op::DelRoute => "delete route",
            Op::ListRoutes => "list routes",
            Op::GetRoute => "query route",
            Op::ReadSysctl => "read sysctl",
            Op::WriteSysctl => "write sysctl",
            Op::SubscribeLinks => "subscribe to link events",
            Op::SendArp => "send unsolicited ARP",
            Op::SendNa => "send unsolicited neighbour advertisement",
        }
    }
}

impl Request {
    /// The operation, for errors, traces and fault injection.
    pub fn op(&self) -> Op {
        match self {
            Request::LinkByName { .. } | Request::LinkByIndex { .. } => Op::GetLink,
            Request::ListLinks { .. } => Op::ListLinks,
            Request::MoveLink { .. } => Op::MoveLink,
            Request::RenameLink { .. } => Op::RenameLink,
            Request::SetLinkUp { .. } => Op::SetLinkUp,
            Request::SetLinkDown { .. } => Op::SetLinkDown,
            Request::SetMac { .. } => Op::SetMac,
            Request::SetMaster { .. } => Op::SetMaster,
            Request::CreateBridge { .. } => Op::CreateBridge,
            Request::CreateVeth { .. } => Op::CreateVeth,
            Request::DeleteLinks { .. } => Op::DeleteLink,
            Request::SetMtu { .. } => Op::SetMtu,
            Request::SetPortFlags { .. } => Op::SetPortFlags,
            Request::AddPortVlans { .. } => Op::AddPortVlans,
            Request::DelPortVlans { .. } => Op::DelPortVlans,
            Request::ListPortVlans { .. } => Op::ListPortVlans,
            Request::AddAddress { .. } => Op::AddAddress,
            Request::DelAddress { .. } => Op::DelAddress,
            Request::ListAddresses { .. } => Op::ListAddresses,
            Request::AddRoute { .. } => Op::AddRoute,
            Request::DelRoute { .. } => Op::DelRoute,
            Request::ListRoutes { .. } => Op::ListRoutes,
            Request::GetRoute { .. } => Op::GetRoute,
            Request::ReadSysctl { .. } => Op::ReadSysctl,
            Request::WriteSysctl { .. } => Op::WriteSysctl,
            Request::SendArp { .. } => Op::SendArp,
            Request::SendNa { .. } => Op::SendNa,
        }
    }

    /// The namespace the request acts in (for a move, the one the link leaves).
    pub fn netns(&self) -> &NetnsRef {
        match self {
            Request::MoveLink { from, .. } => from,
            Request::LinkByName { netns, .. }
            | Request::LinkByIndex { netns, .. }
            | Request::ListLinks { netns }
            | Request::RenameLink { netns, .. }
            | Request::SetLinkUp { netns, .. }
            | Request::SetLinkDown { netns, .. }
            | Request::SetMac { netns, .. }
            | Request::SetMaster { netns, .. }
            | Request::CreateBridge { netns, .. }
            | Request::CreateVeth { netns, .. }
            | Request::DeleteLinks { netns, .. }
            | Request::SetMtu { netns, .. }
            | Request::SetPortFlags { netns, .. }
            | Request::AddPortVlans { netns, .. }
            | Request::DelPortVlans { netns, .. }
            | Request::ListPortVlans { netns }
            | Request::AddAddress { netns, .. }
            | Request::DelAddress { netns, .. }
            | Request::ListAddresses { netns, .. }
            | Request::AddRoute { netns, .. }
            | Request::DelRoute { netns, .. }
            | Request::ListRoutes { netns, .. }
            | Request::GetRoute { netns, .. }
            | Request::ReadSysctl { netns, .. }
            | Request::WriteSysctl { netns, .. }
            | Request::SendArp { netns, .. }
            | Request::SendNa { netns, .. } => netns,
        }
    }

    /// The link acted on, when the request names one by index (the first of a batch).
    pub fn index(&self) -> Option<IfIndex> {
        match self {
            Request::LinkByIndex { index, .. }
            | Request::MoveLink { index, .. }
            | Request::RenameLink { index, .. }
            | Request::SetLinkUp { index, .. }
            | Request::SetLinkDown { index, .. }
            | Request::SetMac { index, .. }
            | Request::SetMaster { index, .. }
            | Request::SetMtu { index, .. }
            | Request::SetPortFlags { index, .. }
            | Request::AddPortVlans { index, .. }
            | Request::DelPortVlans { index, .. }
            | Request::AddAddress { index, .. }
            | Request::DelAddress { index, .. }
            | Request::SendArp { index, .. }
            | Request::SendNa { index, .. } => Some(*index),
            Request::DeleteLinks { indices, .. } => indices.first().copied(),
            Request::ListAddresses { index, .. } => *index,
            Request::AddRoute { route, .. } | Request::DelRoute { route, .. } => Some(route.oif),
            Request::GetRoute { oif, .. } => *oif,
            Request::LinkByName { .. }
            | Request::ListLinks { .. }
            | Request::CreateBridge { .. }
            | Request::CreateVeth { .. }
            | Request::ListPortVlans { .. }
            | Request::ListRoutes { .. }
            | Request::ReadSysctl { .. }
            | Request::WriteSysctl { .. } => None,
        }
    }

    /// The object acted on, as an error names it when the backend has nothing better: an
    /// interface name, `ifindex 7`, an address, a route, a sysctl path.
    pub fn object(&self) -> String {
        let ix = |i: &IfIndex| format!("ifindex {i}");
        match self {
            Request::LinkByName { name, .. } | Request::CreateBridge { name, .. } => name.clone(),
            Request::LinkByIndex { index, .. }
            | Request::MoveLink { index, .. }
            | Request::RenameLink { index, .. }
            | Request::SetLinkUp { index, .. }
            | Request::SetLinkDown { index, .. }
            | Request::SetMac { index, .. }
            | Request::SetMaster { index, .. }
            | Request::SetMtu { index, .. }
            | Request::SetPortFlags { index, .. } => ix(index),
            Request::AddPortVlans { index, vlans, .. }
            | Request::DelPortVlans { index, vlans, .. } => {
                let vids: Vec<String> = vlans.iter().map(|v| v.to_string()).collect();
                format!("VLAN {} on ifindex {index}", vids.join(","))
            }
            Request::ListPortVlans { .. } => "bridge port VLANs".into(),
            Request::ListLinks { .. } => "links".into(),
            Request::CreateVeth { request, .. } => {
                format!("{} (peer {})", request.host_name, request.peer_name)
            }
            Request::DeleteLinks { indices, .. } => {
                indices.iter().map(ix).collect::<Vec<_>>().join(", ")
            }
            Request::AddAddress { index, net, .. } | Request::DelAddress { index, net, .. } => {
                format!("{net} on ifindex {index}")
            }
            Request::ListAddresses { index, .. } => index.as_ref().map_or("addresses".into(), ix),
            Request::AddRoute { route, .. } | Request::DelRoute { route, .. } => {
                format!("{} dev ifindex {}", route.dst, route.oif)
            }
            Request::ListRoutes { .. } => "routes".into(),
            Request::GetRoute { dst, oif, .. } => match oif {
                Some(o) => format!("{dst} oif {o}"),
                None => dst.to_string(),
            },
            Request::ReadSysctl { path, .. } | Request::WriteSysctl { path, .. } => path.clone(),
            Request::SendArp { index, addr, .. } => format!("{addr} on ifindex {index}"),
            Request::SendNa { index, addr, .. } => format!("{addr} on ifindex {index}"),
        }
    }
}
