//! Probes: short, deterministic sequences of backend calls run on the kernel and on the
//! simulator, whose observed states must be equal. Each one pins a disagreement the
//! differential run found (see `KNOWN_SIM_BUGS` in `nsplumb_kernel_tests::differential`);
//! a probe is ignored while its simulator bug is not fixed, so that CI stays green.

use nsplumb_core::{
    BackendExt, NetBackend, NetnsAdmin, NetnsRef, RouteScope, RouteSpec, VethRequest,
};
use nsplumb_kernel_tests::fixture::Fixture;
use nsplumb_kernel_tests::host_settings;
use nsplumb_kernel_tests::privilege::enter;
use nsplumb_kernel_tests::state::{observe, Observe};
use nsplumb_sim::SimBackend;

fn opts() -> Observe {
    Observe {
        known_macs: ["02:00:5e:10:00:01".parse().unwrap()].into(),
        ..Observe::default()
    }
}

/// A fresh simulator on this machine's settings (SPEC R2: the namespaces it makes start as
/// the kernel's do here) and of this kernel's build (bridge VLAN filtering or not, SPEC L3).
async fn sim_like(fx: &Fixture) -> SimBackend {
    let (host, _) = host_settings::read(&fx.backend, &format!("{}-probe", fx.tag)).await;
    let vlan_filtering = host_settings::kernel_has_bridge_vlan_filtering(
        &fx.backend,
        &NetnsRef::Host,
        "nspl-vfprobe",
    )
    .await;
    let sim = SimBackend::new(1);
    sim.kernel()
        .set_host(&host)
        .unwrap_or_else(|e| panic!("simulated host: {e}"));
    sim.set_vlan_filtering_supported(vlan_filtering);
    sim
}

/// Run the generic probe `$probe(backend, ns)` in a fresh namespace of the kernel and of a
/// fresh simulator; the two observed states.
macro_rules! both {
    ($fx:expr, $probe:ident) => {{
        let sim = sim_like(&$fx).await;
        let ns = $fx.netns("p").await;
        $probe(&$fx.backend, &ns).await;
        let kernel = observe(&$fx.backend, &[("p", &ns)], &opts()).await;
        let sim = tokio::task::spawn_blocking(move || {
            futures::executor::block_on(async {
                let ns = sim.create_netns("p").await.unwrap();
                $probe(&sim, &ns).await;
                observe(&sim, &[("p", &ns)], &opts()).await
            })
        })
        .await
        .unwrap();
        (kernel, sim)
    }};
}

async fn bridge_with_mac<B: NetBackend>(b: &B, ns: &NetnsRef) {
    let br = b
        .create_bridge(ns, "br0", Default::default())
        .await
        .unwrap();
    b.set_mac(ns, br, "02:00:5e:10:00:01".parse().unwrap())
        .await
        .unwrap();
    b.set_link_up(ns, br).await.unwrap();
}

// SPEC: T2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// SIM-2, fixed in the simulator (`Kernel::set_mac` on a bridge reselects port states).
async fn bridge_without_ports_loses_carrier_when_its_mac_is_set() {
    if !enter("bridge_without_ports_loses_carrier_when_its_mac_is_set") {
        return;
    }
    let mut fx = Fixture::new();
    let (kernel, sim) = both!(fx, bridge_with_mac);
    assert!(
        kernel.has(&["link br0", "lower_up=false"]),
        "kernel:\n{kernel}"
    );
    assert_eq!(kernel, sim, "- kernel + sim:\n{}", kernel.diff(&sim));
}

async fn nothing<B: NetBackend>(_: &B, _: &NetnsRef) {}

// SPEC: T2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// SIM-1, fixed: a zero MAC (lo) is reported as none, as LinuxBackend does.
async fn loopback_has_no_mac() {
    if !enter("loopback_has_no_mac") {
        return;
    }
    let mut fx = Fixture::new();
    let (kernel, sim) = both!(fx, nothing);
    assert_eq!(kernel, sim, "- kernel + sim:\n{}", kernel.diff(&sim));
}

async fn port_leaves<B: NetBackend>(b: &B, ns: &NetnsRef) {
    let br = b
        .create_bridge(ns, "br0", Default::default())
        .await
        .unwrap();
    b.set_link_up(ns, br).await.unwrap();
    let req = VethRequest {
        host_name: "v0".into(),
        host_master: Some(br),
        host_up: true,
        peer_netns: ns.clone(),
        peer_name: "v1".into(),
        peer_mac: None,
        mtu: None,
    };
    let pair = b.create_veth(ns, &req).await.unwrap();
    b.delete_links(ns, &[pair.host_index]).await.unwrap();
    // A route on the bridge (up, whatever its carrier).
    let route = RouteSpec {
        dst: "198.51.100.0/24".parse().unwrap(),
        gateway: None,
        oif: br,
        scope: RouteScope::Link,
    };
    b.add_route(ns, &route).await.unwrap();
}

// SPEC: T2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_after_its_last_port_left() {
    if !enter("bridge_after_its_last_port_left") {
        return;
    }
    let mut fx = Fixture::new();
    let (kernel, sim) = both!(fx, port_leaves);
    let k = kernel.diff(&sim);
    eprintln!("kernel:\n{kernel}\n- kernel + sim:\n{k}");
    assert_eq!(kernel, sim, "- kernel + sim:\n{k}");
}

/// A bridge with its own MAC that had a forwarding port (so it got its fe80:: address) and
/// lost it (no carrier since), then a failed attach of it as a created-in-namespace link.
async fn failed_attach_of_a_bridge_without_carrier<B: NetBackend>(
    b: std::sync::Arc<B>,
    p: nsplumb_core::Plumber<B>,
    ns: NetnsRef,
) -> String {
    let br = b
        .create_bridge(&ns, "x0", Default::default())
        .await
        .unwrap();
    b.set_mac(&ns, br, "02:00:5e:10:00:01".parse().unwrap())
        .await
        .unwrap();
    b.set_link_up(&ns, br).await.unwrap();
    let req = VethRequest {
        host_name: "v0".into(),
        host_master: Some(br),
        host_up: true,
        peer_netns: ns.clone(),
        peer_name: "v1".into(),
        peer_mac: None,
        mtu: None,
    };
    let pair = b.create_veth(&ns, &req).await.unwrap();
    b.set_link_up(&ns, pair.peer_index).await.unwrap();
    // Until the bridge has its link-local address (the kernel: a few ms after forwarding).
    for _ in 0..150 {
        let addrs = b.list_addresses(&ns, Some(br)).await.unwrap();
        if addrs.iter().any(|a| a.net.to_string().starts_with("fe80")) {
            break;
        }
        b.sleep_until(b.now() + std::time::Duration::from_millis(20))
            .await;
    }
    b.set_master(&ns, pair.host_index, None).await.unwrap();
    let mut spec = nsplumb_core::Spec::new(
        nsplumb_core::Source::CreatedInNamespace("x0".into()),
        nsplumb_core::Destination::Name("br9".into()),
    );
    spec.ipv4 = Some("192.0.2.110/32".into());
    spec.mac = Some("02:00:5e:10:00:02".into());
    spec.routes = vec!["fd00:2::/64".into()];
    match p.attach(&ns, spec).await {
        Ok(a) => format!("attached {}", a.name),
        Err(nsplumb_core::AttachError::Failed {
            error,
            rollback_errors,
        }) => format!(
            "failed: {} cause={:?} rollback_errors={}",
            error.context,
            error.cause.map(|c| c.errno),
            rollback_errors.len()
        ),
        Err(e) => format!("invalid: {e}"),
    }
}

// SPEC: A15
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attach_of_a_bridge_without_carrier_agrees() {
    if !enter("failed_attach_of_a_bridge_without_carrier_agrees") {
        return;
    }
    let mut fx = Fixture::new();
    let ns = fx.netns("p").await;
    let kb = std::sync::Arc::new(fx.backend.clone());
    let kr = failed_attach_of_a_bridge_without_carrier(kb.clone(), fx.plumber(), ns.clone()).await;
    let kernel = observe(&fx.backend, &[("p", &ns)], &opts()).await;
    let sim = sim_like(&fx).await;
    let (sr, sim) = tokio::task::spawn_blocking(move || {
        let mut rt = nsplumb_sim::SimRuntime::new(sim.clone());
        let b = std::sync::Arc::new(sim.clone());
        let p = nsplumb_core::Plumber::new(
            b.clone(),
            nsplumb_kernel_tests::differential::sim_spawner(&rt),
        );
        let ns = sim.kernel().create_netns("p").unwrap();
        let ns2 = ns.clone();
        let r =
            rt.block_on(async move { failed_attach_of_a_bridge_without_carrier(b, p, ns2).await });
        let s = futures::executor::block_on(observe(&sim, &[("p", &ns)], &opts()));
        (r, s)
    })
    .await
    .unwrap();
    eprintln!("kernel: {kr}\nsim:    {sr}\nkernel state:\n{kernel}");
    assert_eq!(kr, sr);
    assert_eq!(kernel, sim, "- kernel + sim:\n{}", kernel.diff(&sim));
}
