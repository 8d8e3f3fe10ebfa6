//! The effect runner against the simulator, without a terminal: effects act on the simulated
//! kernel and the plumber's events drive the model (announce progress, stop reasons).

use futures::StreamExt;
use nsplumb_core::{Destination, Errno, NetnsRef, Op, Plumber, Source, Spec};
use nsplumb_host::Store;
use nsplumb_tui::app::model::{Model, Msg};
use nsplumb_tui::app::run::Runner;
use nsplumb_tui::app::{update, Effect};
use nsplumb_tui::simworld::SimWorld;
use nsplumb_tui::tokio_spawner;
use std::sync::Arc;
use std::time::Duration;

async fn setup() -> (Runner<nsplumb_tui::simworld::SimNet>, Model) {
    let world = SimWorld::new(1).await.unwrap();
    world.spawn_pacer();
    let plumber = Plumber::new(world.backend.clone(), tokio_spawner());
    let runner = Runner::new(
        plumber,
        Store::None,
        Some(world),
        Arc::new(NetnsRef::from_name_or_path),
    );
    let model = Model::new("simulator", true);
    let snap = runner.snapshot().await;
    let (model, _) = update(model, Msg::Snapshot(snap));
    (runner, model)
}

fn veth_spec(ipv4: &str, interval_ms: u64) -> Spec {
    let mut spec = Spec::new(
        Source::VethOnBridge {
            bridge: "br0".into(),
            host_name: String::new(),
        },
        Destination::Prefix("eth".into()),
    );
    spec.ipv4 = Some(ipv4.into());
    spec.announce_interval = Duration::from_millis(interval_ms);
    spec
}

// SPEC: S6
// SPEC: S9
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_then_mac_change_stops_announcing_and_the_model_shows_why() {
    let (runner, mut model) = setup().await;
    let mut events = runner.plumber.subscribe();
    let ctr1 = NetnsRef::from_name_or_path("ctr1");
    let r = runner
        .run_effect(Effect::Attach {
            netns: ctr1.clone(),
            spec: Box::new(veth_spec("192.0.2.10/24", 300)),
            gateway: Some("192.0.2.1".parse().unwrap()),
        })
        .await;
    let msg = r.expect("attach");
    assert!(
        msg.contains("as eth0 in ctr1") && msg.contains("gateway 192.0.2.1"),
        "{msg}"
    );
    model = update(model, Msg::Snapshot(runner.snapshot().await)).0;
    let eth0 = model
        .links
        .iter()
        .find(|l| l.netns == ctr1 && l.name == "eth0")
        .expect("eth0 listed");
    assert_eq!(eth0.ipv4.as_deref(), Some("192.0.2.10/24"));
    assert!(eth0.managed.as_deref().unwrap().starts_with("vnsp"));
    assert!(eth0.peer.as_deref().unwrap().ends_with("@host"));
    let key = (ctr1.clone(), "eth0".to_string());
    while let Ok(e) = events.try_recv() {
        model = update(model, Msg::Event(Box::new(e))).0;
    }
    assert_eq!(model.progress[&key].sent, 1);
    assert_eq!(model.progress[&key].of, 3);
    assert!(model.progress[&key].next_due.is_some());
    // Change the MAC behind the announcer's back: the next round stops (S6).
    let r = runner
        .run_effect(Effect::SetMac {
            netns: ctr1.clone(),
            iface: "eth0".into(),
            mac: "02:11:22:33:44:55".parse().unwrap(),
        })
        .await;
    assert!(r.is_ok(), "{r:?}");
    let stopped = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = events.next().await {
            let stop = matches!(e.kind, nsplumb_core::EventKind::AnnounceStopped(_));
            model = update(model.clone(), Msg::Event(Box::new(e))).0;
            if stop {
                break;
            }
        }
    })
    .await;
    assert!(stopped.is_ok(), "announcing stopped");
    let p = &model.progress[&key];
    assert!(
        p.stopped
            .as_deref()
            .unwrap()
            .contains("MAC address changed"),
        "{p:?}"
    );
    assert!(model.log.iter().any(|l| l.contains("announcing stopped")));
    // A sysctl through the runner.
    let r = runner
        .run_effect(Effect::SetSysctl {
            netns: ctr1.clone(),
            iface: "eth0".into(),
            path: "net/ipv4/conf/eth0/arp_notify".into(),
            value: "1".into(),
        })
        .await;
    assert!(r.is_ok(), "{r:?}");
    let r = runner
        .run_effect(Effect::Detach {
            netns: ctr1.clone(),
            name: "eth0".into(),
        })
        .await;
    assert!(r.is_ok(), "{r:?}");
    model = update(model, Msg::Snapshot(runner.snapshot().await)).0;
    assert!(!model
        .links
        .iter()
        .any(|l| l.netns == ctr1 && l.name == "eth0"));
}

// SPEC: A15
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_fault_fails_the_next_attach_and_it_is_rolled_back() {
    let (runner, _) = setup().await;
    let before = runner.snapshot().await.links;
    let r = runner
        .run_effect(Effect::InjectFault {
            op: Op::MoveLink,
            errno: Errno::EBUSY,
        })
        .await;
    assert!(r.unwrap().contains("move link"));
    let mut spec = Spec::new(
        Source::HostLink("dummy0".into()),
        Destination::Name("eth0".into()),
    );
    spec.announce_count = 0;
    let r = runner
        .run_effect(Effect::Attach {
            netns: NetnsRef::from_name_or_path("ctr2"),
            spec: Box::new(spec.clone()),
            gateway: None,
        })
        .await;
    let err = r.expect_err("the injected fault fails the attach");
    assert!(err.contains("EBUSY") || err.contains("busy"), "{err}");
    let after = runner.snapshot().await.links;
    assert_eq!(before, after, "rolled back: nothing changed");
    // The fault was for the next operation only.
    let r = runner
        .run_effect(Effect::Attach {
            netns: NetnsRef::from_name_or_path("ctr2"),
            spec: Box::new(spec),
            gateway: None,
        })
        .await;
    assert!(r.is_ok(), "{r:?}");
}

/// The attach and its gateway are one operation, in the TUI as in the CLI: a gateway that
/// cannot be set rolls the interface back, and the error says both.
// SPEC: G1
// SPEC: A15
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_gateway_rolls_the_attach_back_as_the_cli_does() {
    let (runner, _) = setup().await;
    let before = runner.snapshot().await.links;
    let ctr1 = NetnsRef::from_name_or_path("ctr1");
    let mut dummy1_spec = Spec::new(
        Source::HostLink("dummy1".into()),
        Destination::Name("eth0".into()),
    );
    dummy1_spec.ipv4 = Some("192.0.2.40/24".into());
    let r = runner
        .run_effect(Effect::Attach {
            netns: ctr1.clone(),
            spec: Box::new(dummy1_spec),
            gateway: Some("198.51.100.1".parse().unwrap()),
        })
        .await;
    let err = r.expect_err("the gateway has no route in ctr1");
    assert!(
        err.contains("198.51.100.1") && err.contains("could not be found"),
        "{err}"
    );
    assert!(runner.plumber.interfaces(&ctr1).is_empty());
    let after = runner.snapshot().await.links;
    assert_eq!(before, after, "rolled back: nothing changed");
}
