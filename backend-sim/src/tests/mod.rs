//! Fidelity tests of the simulator against observed Linux 6.x behaviour.

mod addrs;
mod backend;
mod bridge;
mod dad;
mod frames;
mod host;
mod link_option_requests;
mod links;
mod mtu;
mod port_flags;
mod random;
mod routes;
mod sysctls;
mod vlans;

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

/// A bridge `br0` (up, no STP, with `options`) in the host and `n` namespaces `c0`, `c1`, …,
/// each holding `eth0`, the peer of the host's port `p0`, `p1`, …; everything up, the ports
/// forwarding.
pub(crate) struct Bridged {
    pub(crate) br: IfIndex,
    pub(crate) ns: Vec<NetnsRef>,
    pub(crate) ports: Vec<IfIndex>,
    pub(crate) eths: Vec<IfIndex>,
}

pub(crate) fn bridged(k: &mut Kernel, n: usize, options: &nsplumb_core::BridgeOptions) -> Bridged {
    let br = k.create_bridge_with(&H, "br0", options).unwrap();
    k.set_link_up(&H, br).unwrap();
    let mut b = Bridged {
        br,
        ns: Vec::new(),
        ports: Vec::new(),
        eths: Vec::new(),
    };
    for i in 0..n {
        let ns = k.create_netns(&format!("c{i}")).unwrap();
        let p = k
            .create_veth(
                &H,
                &VethRequest {
                    host_name: format!("p{i}"),
                    host_master: Some(br),
                    host_up: true,
                    peer_netns: ns.clone(),
                    peer_name: "eth0".into(),
                    peer_mac: None,
                    mtu: None,
                },
            )
            .unwrap();
        k.set_link_up(&ns, p.peer_index).unwrap();
        b.ns.push(ns);
        b.ports.push(p.host_index);
        b.eths.push(p.peer_index);
    }
    b
}

/// The address the test GARPs announce.
pub(crate) const GARP_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(192, 0, 2, 99);

/// Every `eth0` gets 192.0.2.(10+i)/24 and `arp_accept=1`, so a GARP that reaches its stack
/// creates a neighbour entry there.
pub(crate) fn listening(k: &mut Kernel, b: &Bridged) {
    for (i, ns) in b.ns.iter().enumerate() {
        let a = format!("192.0.2.{}/24", 10 + i);
        k.add_address(ns, b.eths[i], net(&a), false).unwrap();
        k.write_sysctl(ns, "net/ipv4/conf/eth0/arp_accept", "1")
            .unwrap();
    }
}

/// Sends a GARP for [`GARP_IP`] from `c{from}`'s eth0.
pub(crate) fn garp(k: &mut Kernel, b: &Bridged, from: usize) {
    let mac = k
        .link_by_index(&b.ns[from], b.eths[from])
        .unwrap()
        .mac
        .unwrap();
    k.send_arp(&b.ns[from], b.eths[from], mac, GARP_IP).unwrap();
}

/// Whether `c{at}`'s stack heard the GARP (it made a neighbour entry).
pub(crate) fn heard(k: &Kernel, b: &Bridged, at: usize) -> bool {
    k.neighbours(&b.ns[at])
        .unwrap()
        .iter()
        .any(|n| n.ip == std::net::IpAddr::V4(GARP_IP))
}
