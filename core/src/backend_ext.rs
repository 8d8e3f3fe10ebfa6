//! Typed calls over any [`NetBackend`], written once: each builds its [`Request`], runs it
//! and takes the reply apart.

use crate::backend::NetBackend;
use crate::command::Reply;
use crate::request::{Request, VethPair, VethRequest};
use crate::types::{
    AddrInfo, BridgeOptions, Family, IfIndex, LinkInfo, MacAddr, NetnsRef, PortFlagsChange,
    PortVlans, RouteInfo, RouteSpec, VlanSpec,
};
use crate::{BackendError, Errno};
use ipnet::IpNet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One method per [`Request`] variant, for callers that want a value rather than a [`Reply`]
/// (front ends, tests, benchmarks). A reply of the wrong shape is an error naming the
/// operation, never a panic.
pub trait BackendExt: NetBackend {
    fn link_by_name(
        &self,
        netns: &NetnsRef,
        name: &str,
    ) -> impl Future<Output = Result<LinkInfo, BackendError>> + Send {
        call(
            self,
            Request::LinkByName {
                netns: netns.clone(),
                name: name.into(),
            },
            reply_link,
        )
    }

    fn link_by_index(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> impl Future<Output = Result<LinkInfo, BackendError>> + Send {
        call(
            self,
            Request::LinkByIndex {
                netns: netns.clone(),
                index,
            },
            reply_link,
        )
    }

    fn list_links(
        &self,
        netns: &NetnsRef,
    ) -> impl Future<Output = Result<Vec<LinkInfo>, BackendError>> + Send {
        call(
            self,
            Request::ListLinks {
                netns: netns.clone(),
            },
            reply_links,
        )
    }

    /// Move a link to `to` and name it `new_name` there, in one message; returns its index there.
    fn move_link(
        &self,
        from: &NetnsRef,
        index: IfIndex,
        to: &NetnsRef,
        new_name: &str,
    ) -> impl Future<Output = Result<IfIndex, BackendError>> + Send {
        call(
            self,
            Request::MoveLink {
                from: from.clone(),
                index,
                to: to.clone(),
                new_name: new_name.into(),
            },
            reply_index,
        )
    }

    fn rename_link(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        name: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::RenameLink {
                netns: netns.clone(),
                index,
                name: name.into(),
            },
            reply_done,
        )
    }

    fn set_link_up(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::SetLinkUp {
                netns: netns.clone(),
                index,
            },
            reply_done,
        )
    }

    fn set_link_down(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::SetLinkDown {
                netns: netns.clone(),
                index,
            },
            reply_done,
        )
    }

    fn set_mac(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::SetMac {
                netns: netns.clone(),
                index,
                mac,
            },
            reply_done,
        )
    }

    /// Enslave to `master` (a bridge in the same namespace), or release with `None`.
    fn set_master(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        master: Option<IfIndex>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::SetMaster {
                netns: netns.clone(),
                index,
                master,
            },
            reply_done,
        )
    }

    fn create_bridge(
        &self,
        netns: &NetnsRef,
        name: &str,
        options: BridgeOptions,
    ) -> impl Future<Output = Result<IfIndex, BackendError>> + Send {
        call(
            self,
            Request::CreateBridge {
                netns: netns.clone(),
                name: name.into(),
                options,
            },
            reply_index,
        )
    }

    fn set_mtu(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mtu: u32,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::SetMtu {
                netns: netns.clone(),
                index,
                mtu,
            },
            reply_done,
        )
    }

    fn set_port_flags(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        flags: PortFlagsChange,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::SetPortFlags {
                netns: netns.clone(),
                index,
                flags,
            },
            reply_done,
        )
    }

    fn add_port_vlans(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        vlans: Vec<VlanSpec>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::AddPortVlans {
                netns: netns.clone(),
                index,
                vlans,
            },
            reply_done,
        )
    }

    fn del_port_vlans(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        vlans: Vec<VlanSpec>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::DelPortVlans {
                netns: netns.clone(),
                index,
                vlans,
            },
            reply_done,
        )
    }

    fn list_port_vlans(
        &self,
        netns: &NetnsRef,
    ) -> impl Future<Output = Result<Vec<PortVlans>, BackendError>> + Send {
        call(
            self,
            Request::ListPortVlans {
                netns: netns.clone(),
            },
            reply_vlans,
        )
    }

    /// Create a veth pair in one request (see [`VethRequest`]); `netns` holds the host end.
    fn create_veth(
        &self,
        netns: &NetnsRef,
        request: &VethRequest,
    ) -> impl Future<Output = Result<VethPair, BackendError>> + Send {
        call(
            self,
            Request::CreateVeth {
                netns: netns.clone(),
                request: request.clone(),
            },
            reply_veth,
        )
    }

    /// Delete links, as one kernel batch where the backend can.
    fn delete_links(
        &self,
        netns: &NetnsRef,
        indices: &[IfIndex],
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::DeleteLinks {
                netns: netns.clone(),
                indices: indices.to_vec(),
            },
            reply_done,
        )
    }

    fn add_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
        nodad: bool,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::AddAddress {
                netns: netns.clone(),
                index,
                net,
                nodad,
            },
            reply_done,
        )
    }

    fn del_address(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        net: IpNet,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::DelAddress {
                netns: netns.clone(),
                index,
                net,
            },
            reply_done,
        )
    }

    /// Addresses of one link, or of every link when `index` is `None`.
    fn list_addresses(
        &self,
        netns: &NetnsRef,
        index: Option<IfIndex>,
    ) -> impl Future<Output = Result<Vec<AddrInfo>, BackendError>> + Send {
        call(
            self,
            Request::ListAddresses {
                netns: netns.clone(),
                index,
            },
            reply_addresses,
        )
    }

    fn add_route(
        &self,
        netns: &NetnsRef,
        route: &RouteSpec,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::AddRoute {
                netns: netns.clone(),
                route: route.clone(),
            },
            reply_done,
        )
    }

    fn del_route(
        &self,
        netns: &NetnsRef,
        route: &RouteSpec,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::DelRoute {
                netns: netns.clone(),
                route: route.clone(),
            },
            reply_done,
        )
    }

    fn list_routes(
        &self,
        netns: &NetnsRef,
        family: Family,
    ) -> impl Future<Output = Result<Vec<RouteInfo>, BackendError>> + Send {
        call(
            self,
            Request::ListRoutes {
                netns: netns.clone(),
                family,
            },
            reply_routes,
        )
    }

    /// Route lookup (`ip route get DST [oif IDX]`).
    fn get_route(
        &self,
        netns: &NetnsRef,
        dst: IpAddr,
        oif: Option<IfIndex>,
    ) -> impl Future<Output = Result<RouteInfo, BackendError>> + Send {
        call(
            self,
            Request::GetRoute {
                netns: netns.clone(),
                dst,
                oif,
            },
            reply_route,
        )
    }

    /// Read a sysctl below `/proc/sys`, trimmed.
    fn read_sysctl(
        &self,
        netns: &NetnsRef,
        path: &str,
    ) -> impl Future<Output = Result<String, BackendError>> + Send {
        call(
            self,
            Request::ReadSysctl {
                netns: netns.clone(),
                path: path.into(),
            },
            reply_value,
        )
    }

    fn write_sysctl(
        &self,
        netns: &NetnsRef,
        path: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::WriteSysctl {
                netns: netns.clone(),
                path: path.into(),
                value: value.into(),
            },
            reply_done,
        )
    }

    /// Send one unsolicited ARP request (SPEC S2).
    fn send_arp(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv4Addr,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::SendArp {
                netns: netns.clone(),
                index,
                mac,
                addr,
            },
            reply_done,
        )
    }

    /// Send one unsolicited neighbour advertisement (SPEC S3).
    fn send_na(
        &self,
        netns: &NetnsRef,
        index: IfIndex,
        mac: MacAddr,
        addr: Ipv6Addr,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        call(
            self,
            Request::SendNa {
                netns: netns.clone(),
                index,
                mac,
                addr,
            },
            reply_done,
        )
    }
}

impl<B: NetBackend + ?Sized> BackendExt for B {}

/// Run `request` and take its reply apart with `pick`, which hands back a reply of another
/// shape.
async fn call<B: NetBackend + ?Sized, T>(
    backend: &B,
    request: Request,
    pick: fn(Reply) -> Result<T, Box<Reply>>,
) -> Result<T, BackendError> {
    let reply = backend.execute(&request).await?;
    pick(reply).map_err(|other| {
        BackendError::new(request.op(), Errno::EIO, request.netns(), request.object())
            .with_detail(format!("the backend answered {other:?}"))
    })
}

fn reply_done(reply: Reply) -> Result<(), Box<Reply>> {
    match reply {
        Reply::Done => Ok(()),
        other => Err(Box::new(other)),
    }
}

/// The other extractors `call` takes: one reply shape each, any other handed back.
macro_rules! extractors {
    ($($name:ident: $variant:ident($ty:ty)),* $(,)?) => {$(
        fn $name(reply: Reply) -> Result<$ty, Box<Reply>> {
            match reply {
                Reply::$variant(value) => Ok(value),
                other => Err(Box::new(other)),
            }
        }
    )*};
}

extractors!(
    reply_link: Link(LinkInfo),
    reply_links: Links(Vec<LinkInfo>),
    reply_index: Index(IfIndex),
    reply_veth: Veth(VethPair),
    reply_addresses: Addresses(Vec<AddrInfo>),
    reply_routes: Routes(Vec<RouteInfo>),
    reply_route: Route(RouteInfo),
    reply_value: Value(String),
    reply_vlans: Vlans(Vec<PortVlans>),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MockNetBackend;
    use crate::Op;
    use futures::executor::block_on;

    #[test]
    fn a_reply_of_the_wrong_shape_is_an_error_naming_the_operation() {
        let mut b = MockNetBackend::new();
        b.expect_execute()
            .returning(|_| Box::pin(std::future::ready(Ok(Reply::Done))));
        let ns = NetnsRef::path("/run/netns/ctr1");
        let e = block_on(b.link_by_index(&ns, 7)).unwrap_err();
        assert_eq!(e.op, Op::GetLink);
        assert_eq!(e.object, "ifindex 7");
        assert_eq!(
            e.to_string(),
            "look up link ifindex 7 in namespace /run/netns/ctr1: input/output error (EIO) \
             (the backend answered Done)"
        );
    }

    #[test]
    fn each_helper_sends_its_request_and_unpacks_the_reply() {
        let mut b = MockNetBackend::new();
        let ns = NetnsRef::path("/run/netns/ctr1");
        let move_back = Request::MoveLink {
            from: ns.clone(),
            index: 5,
            to: NetnsRef::Host,
            new_name: "veth0".into(),
        };
        b.expect_execute()
            .withf(move |r| *r == move_back)
            .returning(|_| Box::pin(std::future::ready(Ok(Reply::Index(12)))));
        let read = Request::ReadSysctl {
            netns: ns.clone(),
            path: "net/ipv4/conf/eth0/arp_notify".into(),
        };
        b.expect_execute()
            .withf(move |r| *r == read)
            .returning(|_| Box::pin(std::future::ready(Ok(Reply::Value("1".into())))));
        let moved = block_on(b.move_link(&ns, 5, &NetnsRef::Host, "veth0"));
        assert_eq!(moved, Ok(12));
        let value = block_on(b.read_sysctl(&ns, "net/ipv4/conf/eth0/arp_notify"));
        assert_eq!(value, Ok("1".to_string()));
    }
}
