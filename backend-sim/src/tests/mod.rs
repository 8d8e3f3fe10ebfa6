//! Fidelity tests of the simulator against observed Linux 6.x behaviour.

mod addrs;
mod backend;
mod bridge;
mod frames;
mod host;
mod links;
mod random;
mod routes;
mod sysctls;

use crate::Kernel;
use nsplumb_core::{IfIndex, NetnsRef, VethRequest};

pub(crate) const H: NetnsRef = NetnsRef::Host;

pub(crate) fn veth(
    k: &mut Kernel,
    ns: &NetnsRef,
    a: &str,
    peer_ns: &NetnsRef,
    b: &str,
) -> (IfIndex, IfIndex) {
    let p = k
        .create_veth(
            ns,
            &VethRequest {
                host_name: a.into(),
                host_master: None,
                host_up: false,
                peer_netns: peer_ns.clone(),
                peer_name: b.into(),
                peer_mac: None,
                mtu: None,
            },
        )
        .unwrap();
    (p.host_index, p.peer_index)
}

pub(crate) fn net(s: &str) -> ipnet::IpNet {
    s.parse().unwrap()
}
