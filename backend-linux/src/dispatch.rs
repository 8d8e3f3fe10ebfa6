//! The traits, as thin dispatch: each [`Request`] to the operation that runs it (in the file of
//! its kernel object), namespace administration to `netns_admin`.

use crate::{epoch, LinuxBackend};
use nsplumb_core::{
    BackendError, LinkEvents, NetBackend, NetnsAdmin, NetnsRef, Op, Reply, Request, Timestamp,
};
use tracing::Instrument;

/// The kernel operations; [`LinuxBackend::run`] has the one match from a [`Request`] to the
/// operation that runs it (in `impl LinuxBackend` blocks, one file per kernel object).
impl NetBackend for LinuxBackend {
    fn now(&self) -> Timestamp {
        Timestamp::from_duration(tokio::time::Instant::now().saturating_duration_since(epoch()))
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        tokio::time::sleep_until(epoch() + deadline.as_duration()).await
    }

    async fn execute(&self, request: &Request) -> Result<Reply, BackendError> {
        let reply = self.run(request).await;
        // After the operation, so that whatever it cached is swept (see `reaper`).
        self.inner.arm_reaper();
        reply
    }

    async fn subscribe_links(&self, netns: &NetnsRef) -> Result<LinkEvents, BackendError> {
        let events = self.subscribe(netns).await;
        self.inner.arm_reaper();
        events
    }

    async fn prepare_netns(&self, netns: &NetnsRef) {
        if let Ok(ns) = self.ns(Op::GetLink, netns) {
            let span = tracing::debug_span!("prepare_netns", netns = %netns);
            let _ = self.inner.handle(&ns).instrument(span).await;
            self.inner.arm_reaper();
        }
    }
}

impl LinuxBackend {
    async fn run(&self, request: &Request) -> Result<Reply, BackendError> {
        use Request as R;
        let done = |r: Result<(), BackendError>| r.map(|()| Reply::Done);
        match request {
            R::LinkByName { netns, name } => self.link_by_name(netns, name).await.map(Reply::Link),
            R::LinkByIndex { netns, index } => {
                self.link_by_index(netns, *index).await.map(Reply::Link)
            }
            R::ListLinks { netns } => self.list_links(netns).await.map(Reply::Links),
            R::MoveLink {
                from,
                index,
                to,
                new_name,
            } => self
                .move_link(from, *index, to, new_name)
                .await
                .map(Reply::Index),
            R::RenameLink { netns, index, name } => {
                done(self.rename_link(netns, *index, name).await)
            }
            R::SetLinkUp { netns, index } => done(self.set_link_up(netns, *index).await),
            R::SetLinkDown { netns, index } => done(self.set_link_down(netns, *index).await),
            R::SetMac { netns, index, mac } => done(self.set_mac(netns, *index, *mac).await),
            R::SetMaster {
                netns,
                index,
                master,
            } => done(self.set_master(netns, *index, *master).await),
            R::CreateBridge {
                netns,
                name,
                options,
            } => self
                .create_bridge(netns, name, options)
                .await
                .map(Reply::Index),
            R::SetMtu { netns, index, mtu } => done(self.set_mtu(netns, *index, *mtu).await),
            R::SetPortFlags {
                netns,
                index,
                flags,
            } => done(self.set_port_flags(netns, *index, *flags).await),
            R::AddPortVlans {
                netns,
                index,
                vlans,
            } => done(self.change_port_vlans(netns, *index, vlans, false).await),
            R::DelPortVlans {
                netns,
                index,
                vlans,
            } => done(self.change_port_vlans(netns, *index, vlans, true).await),
            R::ListPortVlans { netns } => self.list_port_vlans(netns).await.map(Reply::Vlans),
            R::CreateVeth { netns, request } => {
                self.create_veth(netns, request).await.map(Reply::Veth)
            }
            R::DeleteLinks { netns, indices } => done(self.delete_links(netns, indices).await),
            R::AddAddress {
                netns,
                index,
                net,
                nodad,
            } => done(self.add_address(netns, *index, *net, *nodad).await),
            R::DelAddress { netns, index, net } => {
                done(self.del_address(netns, *index, *net).await)
            }
            R::ListAddresses { netns, index } => self
                .list_addresses(netns, *index)
                .await
                .map(Reply::Addresses),
            R::AddRoute { netns, route } => done(self.add_route(netns, route).await),
            R::DelRoute { netns, route } => done(self.del_route(netns, route).await),
            R::ListRoutes { netns, family } => {
                self.list_routes(netns, *family).await.map(Reply::Routes)
            }
            R::GetRoute { netns, dst, oif } => {
                self.get_route(netns, *dst, *oif).await.map(Reply::Route)
            }
            R::ReadSysctl { netns, path } => self.read_sysctl(netns, path).await.map(Reply::Value),
            R::WriteSysctl { netns, path, value } => {
                done(self.write_sysctl(netns, path, value).await)
            }
            R::SendArp {
                netns,
                index,
                mac,
                addr,
            } => done(self.send_arp(netns, *index, *mac, *addr).await),
            R::SendNa {
                netns,
                index,
                mac,
                addr,
            } => done(self.send_na(netns, *index, *mac, *addr).await),
        }
    }
}

/// Namespace administration, kept out of [`NetBackend`]: the core never creates namespaces.
impl NetnsAdmin for LinuxBackend {
    async fn create_netns(&self, name: &str) -> Result<NetnsRef, BackendError> {
        self.create_named(name).await
    }

    async fn delete_netns(&self, netns: &NetnsRef) -> Result<(), BackendError> {
        self.delete_named(netns).await
    }

    async fn list_netns(&self) -> Result<Vec<NetnsRef>, BackendError> {
        self.list_named().await
    }

    async fn netns_cookie(&self, netns: &NetnsRef) -> Result<Option<u64>, BackendError> {
        self.cookie_of(netns).await
    }
}
