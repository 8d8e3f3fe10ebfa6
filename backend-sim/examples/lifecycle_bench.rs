//! Rough throughput of simulated attach+detach lifecycles (about 20 backend calls each):
//! `cargo run --release -p nsplumb-sim --example lifecycle_bench [N] [PORTS]`, through the
//! fault layer (no rule programmed) like the test harness.

use futures::executor::block_on;
use nsplumb_core::{
    BackendExt, NetBackend, NetnsAdmin, NetnsRef, RouteScope, RouteSpec, VethRequest,
};
use nsplumb_sim::SimBackend;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let ports: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let sim = SimBackend::new(1);
    sim.set_frame_log_capacity(Some(1024));
    let (b, _faults) = sim.with_faults(1);
    let h = NetnsRef::Host;
    block_on(async {
        let ns = b.create_netns("c").await.unwrap();
        let br = b
            .create_bridge(&h, "br0", Default::default())
            .await
            .unwrap();
        b.set_link_up(&h, br).await.unwrap();
        for i in 0..ports {
            let req = VethRequest {
                host_name: format!("bg{i}"),
                host_master: Some(br),
                host_up: true,
                peer_netns: ns.clone(),
                peer_name: format!("bgp{i}"),
                peer_mac: None,
                mtu: None,
            };
            b.create_veth(&h, &req).await.unwrap();
        }
        let start = Instant::now();
        for _ in 0..n {
            let req = VethRequest {
                host_name: "vethx".into(),
                host_master: Some(br),
                host_up: true,
                peer_netns: ns.clone(),
                peer_name: "eth0".into(),
                peer_mac: Some("02:42:ac:11:00:02".parse().unwrap()),
                mtu: None,
            };
            let p = b.create_veth(&h, &req).await.unwrap();
            let i = p.peer_index;
            let l = b.link_by_index(&ns, i).await.unwrap();
            b.set_link_down(&ns, i).await.unwrap();
            b.list_routes(&ns, nsplumb_core::Family::V4).await.unwrap();
            b.add_address(&ns, i, "192.0.2.5/24".parse().unwrap(), false)
                .await
                .unwrap();
            let v = b
                .read_sysctl(&ns, "net/ipv6/conf/eth0/disable_ipv6")
                .await
                .unwrap();
            if v == "0" {
                b.write_sysctl(&ns, "net/ipv6/conf/eth0/disable_ipv6", "1")
                    .await
                    .unwrap();
            }
            b.read_sysctl(&ns, "net/ipv4/conf/eth0/arp_notify")
                .await
                .unwrap();
            b.set_link_up(&ns, i).await.unwrap();
            b.add_route(
                &ns,
                &RouteSpec {
                    dst: "198.51.100.0/24".parse().unwrap(),
                    gateway: None,
                    oif: i,
                    scope: RouteScope::Link,
                },
            )
            .await
            .unwrap();
            let ev = b.subscribe_links(&ns).await.unwrap();
            b.link_by_index(&ns, i).await.unwrap();
            b.link_by_index(&h, p.host_index).await.unwrap();
            b.send_arp(&ns, i, l.mac.unwrap(), "192.0.2.5".parse().unwrap())
                .await
                .unwrap();
            drop(ev);
            let counters = b.link_by_index(&ns, i).await.unwrap().stats;
            assert!(counters.is_some_and(|c| c.tx_packets > 0));
            b.set_link_down(&ns, i).await.unwrap();
            b.delete_links(&ns, &[i]).await.unwrap();
        }
        let dt = start.elapsed();
        println!(
            "{n} lifecycles with {ports} bridge ports in {dt:?}: {:.0}/s",
            f64::from(n) / dt.as_secs_f64()
        );
    });
}
