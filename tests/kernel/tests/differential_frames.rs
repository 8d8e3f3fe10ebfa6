//! The simulator's announcements held to the kernel's: the same attach on both, then the frames
//! that leave the container interface compared — count, bytes, egress interface and spacing
//! (the simulator in virtual time, the kernel within ±50 ms).
//!
//! Kernel side: the test's private "host" namespace (see `nsplumb_kernel_tests::privilege`)
//! holds bridge `br0`; the container end is born in its namespace (`Source::VethOnBridge`), and
//! frames are captured on the host end of that veth, so only what left the container interface
//! is seen. Simulator side: the same topology, its frame log filtered to the container
//! interface. Addresses from 192.0.2.0/24 and fd00::/8 only.

use nsplumb_core::{BackendExt, Destination, MacAddr, NetnsRef, Plumber, Source, Spec};
use nsplumb_kernel_tests::capture::Capture;
use nsplumb_kernel_tests::differential::sim_spawner;
use nsplumb_kernel_tests::fixture::{run_in, Fixture};
use nsplumb_kernel_tests::privilege::enter;
use nsplumb_sim::{SimBackend, SimRuntime};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Measured spacing may differ from the setting by this much on the kernel (the bound).
const TOLERANCE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
struct Case {
    count: u32,
    interval_ms: u64,
    v4: bool,
    v6: bool,
    /// Detach this long after attach returns (S8), if set.
    detach_after_ms: Option<u64>,
}

fn spec(case: &Case, host_name: &str, mac: MacAddr) -> Spec {
    let mut s = Spec::new(
        Source::VethOnBridge {
            bridge: "br0".into(),
            host_name: host_name.into(),
        },
        Destination::Name("eth0".into()),
    );
    s.mac = Some(mac.to_string());
    s.ipv4 = case.v4.then(|| "192.0.2.10/24".into());
    s.ipv6 = case.v6.then(|| "fd00:1::10/64".into());
    s.announce_count = case.count;
    s.announce_interval = Duration::from_millis(case.interval_ms);
    s
}

/// Frames (bytes) that left the container interface, with their offsets from the first one.
type Trace = Vec<(Duration, Vec<u8>)>;

fn on_sim(case: &Case, mac: MacAddr) -> Trace {
    let sim = SimBackend::new(7);
    let mut rt = SimRuntime::new(sim.clone());
    let ns = {
        let mut k = sim.kernel();
        let br = k.create_bridge(&NetnsRef::Host, "br0").unwrap();
        k.set_link_up(&NetnsRef::Host, br).unwrap();
        k.add_address(&NetnsRef::Host, br, "192.0.2.1/24".parse().unwrap(), false)
            .unwrap();
        k.add_address(&NetnsRef::Host, br, "fd00:1::1/64".parse().unwrap(), true)
            .unwrap();
        k.create_netns("c").unwrap()
    };
    let plumber = Plumber::new(Arc::new(sim.clone()), sim_spawner(&rt));
    let s = spec(case, "vh0", mac);
    let (p, n) = (plumber.clone(), ns.clone());
    rt.block_on(async move {
        p.attach(&n, s).await.expect("attach on the simulator");
    });
    if let Some(after) = case.detach_after_ms {
        rt.run_for(Duration::from_millis(after));
        let (p, n) = (plumber.clone(), ns.clone());
        rt.block_on(async move { p.detach(&n, "eth0").await.expect("detach") });
    }
    rt.run_for(Duration::from_millis(case.interval_ms * 4 + 200));
    let frames: Vec<_> = sim
        .frame_log()
        .into_iter()
        .filter(|f| f.netns == ns && f.ifname == "eth0")
        .collect();
    let Some(first) = frames.first().map(|f| f.time) else {
        return Vec::new();
    };
    frames
        .into_iter()
        .map(|f| (f.time - first, f.bytes))
        .collect()
}

async fn on_kernel(case: &Case, mac: MacAddr) -> Trace {
    let mut fx = Fixture::new();
    let host = NetnsRef::Host;
    tokio::task::block_in_place(|| {
        run_in(&host, &["ip", "link", "add", "br0", "type", "bridge"]);
        run_in(&host, &["ip", "addr", "add", "192.0.2.1/24", "dev", "br0"]);
        run_in(
            &host,
            &["ip", "addr", "add", "fd00:1::1/64", "dev", "br0", "nodad"],
        );
        run_in(&host, &["ip", "link", "set", "br0", "up"]);
    });
    let ns = fx.netns("c").await;
    let plumber = fx.plumber();
    // The host end exists only once attach creates it: capture on it from the first event on
    // is too late for the first frame, so capture on the bridge and keep the frames from the
    // container's MAC (the only sender on this bridge), which left through eth0.
    let br = fx.backend.link_by_name(&host, "br0").await.unwrap().index;
    let rec = Capture::open(&host, br).record();
    let attached = plumber
        .attach(&ns, spec(case, "vh0", mac))
        .await
        .expect("attach on the kernel");
    if let Some(after) = case.detach_after_ms {
        tokio::time::sleep(Duration::from_millis(after)).await;
        plumber.detach(&ns, "eth0").await.expect("detach");
    }
    tokio::time::sleep(Duration::from_millis(case.interval_ms * 4 + 200)).await;
    let frames = rec.stop();
    // Egress: the link the frames left by is the attached container interface.
    let peer = fx
        .backend
        .link_by_name(&host, "vh0")
        .await
        .map(|l| l.peer.map(|p| p.index));
    if case.detach_after_ms.is_none() {
        assert_eq!(
            peer.ok().flatten(),
            Some(attached.ifindex),
            "vh0 is eth0's peer"
        );
    }
    let ours: Vec<_> = frames
        .into_iter()
        .filter(|f| f.eth_src() == Some(mac) && f.announcement().is_some())
        .collect();
    let Some(first) = ours.first().map(|f| f.at) else {
        return Vec::new();
    };
    ours.into_iter()
        .map(|f| (f.at.duration_since(first), f.data))
        .collect()
}

fn compare(case: &Case, sim: &Trace, kernel: &Trace) {
    let show = |t: &Trace| {
        t.iter()
            .map(|(d, b)| format!("+{d:?} {} bytes", b.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sim.len(),
        kernel.len(),
        "{case:?}: frame counts differ\n sim    {:?}\n kernel {:?}",
        show(sim),
        show(kernel)
    );
    for (i, ((ds, bs), (dk, bk))) in sim.iter().zip(kernel).enumerate() {
        assert_eq!(bs, bk, "{case:?}: frame {i} differs byte for byte");
        let gap = if ds > dk { *ds - *dk } else { *dk - *ds };
        assert!(
            gap <= TOLERANCE,
            "{case:?}: frame {i} at +{dk:?} on the kernel, +{ds:?} on the simulator"
        );
    }
}

// SPEC: S2, S3, S5, S8
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_and_kernel_send_the_same_frames_at_the_same_times() {
    if !enter("simulator_and_kernel_send_the_same_frames_at_the_same_times") {
        return;
    }
    let cases = [
        Case {
            count: 3,
            interval_ms: 100,
            v4: true,
            v6: true,
            detach_after_ms: None,
        },
        Case {
            count: 2,
            interval_ms: 300,
            v4: true,
            v6: false,
            detach_after_ms: None,
        },
        Case {
            count: 3,
            interval_ms: 100,
            v4: false,
            v6: true,
            detach_after_ms: None,
        },
        Case {
            count: 1,
            interval_ms: 500,
            v4: true,
            v6: true,
            detach_after_ms: None,
        },
        Case {
            count: 3,
            interval_ms: 200,
            v4: true,
            v6: true,
            detach_after_ms: Some(250),
        },
    ];
    let started = Instant::now();
    for (i, case) in cases.iter().enumerate() {
        let mac = MacAddr([0x02, 0x00, 0x5e, 0x10, 0x00, i as u8]);
        let sim = on_sim(case, mac);
        let kernel = on_kernel(case, mac).await;
        compare(case, &sim, &kernel);
        let expected_rounds = match case.detach_after_ms {
            Some(after) => 1 + after / case.interval_ms,
            None => u64::from(case.count),
        };
        let per_round = u64::from(case.v4) + u64::from(case.v6);
        assert_eq!(sim.len() as u64, expected_rounds * per_round, "{case:?}");
        // Only one case per private host: the bridge and the host end name are reused.
        tokio::task::block_in_place(|| {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", "br0"])
                .status();
        });
    }
    eprintln!(
        "differential frames: {} cases, simulator and kernel agree ({:?})",
        cases.len(),
        started.elapsed()
    );
}
