//! Cross-process S8 with the TUI as the announcer: a detach from another process asks the TUI
//! (SIGUSR1 + an acknowledgement file) to cancel its announcements, and does not kill it.
//! In a test binary of its own: the TUI's SIGUSR1 listener is process-wide.

use nsplumb_core::{Destination, EventKind, NetnsRef, Plumber, Source, Spec, StopReason};
use nsplumb_host::{cancel, state_file, Store};
use nsplumb_tui::app::run::Runner;
use nsplumb_tui::app::Effect;
use nsplumb_tui::simworld::SimWorld;
use nsplumb_tui::tokio_spawner;
use std::sync::Arc;
use std::time::{Duration, Instant};

// SPEC: S8
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detach_from_another_process_asks_the_tui_to_cancel_its_announcements() {
    let dir = tempfile::tempdir().unwrap();
    let world = SimWorld::new(1).await.unwrap();
    world.spawn_pacer();
    let ns = NetnsRef::from_name_or_path("ctr1");

    // The TUI: listens for cancel requests, records itself as an on-request announcer.
    let tui_plumber = Plumber::new(world.backend.clone(), tokio_spawner());
    let mut tui = Runner::new(
        tui_plumber.clone(),
        Store::Linux {
            dir: dir.path().to_path_buf(),
        },
        Some(world.clone()),
        Arc::new(NetnsRef::from_name_or_path),
    );
    cancel::spawn_listener(tui.store.clone(), tui_plumber.clone()).unwrap();
    tui.announce_on_request = true;
    let mut tui_events = tui_plumber.subscribe();
    let mut spec = Spec::new(
        Source::VethOnBridge {
            bridge: "br0".into(),
            host_name: String::new(),
        },
        Destination::Name("eth0".into()),
    );
    spec.ipv4 = Some("192.0.2.70/24".into());
    spec.announce_interval = Duration::from_millis(2000);
    let msg = tui
        .run_effect(Effect::Attach {
            netns: ns.clone(),
            spec: Box::new(spec),
            gateway: None,
        })
        .await
        .unwrap();
    assert!(msg.contains("eth0"), "{msg}");

    // Another process (its own plumber and store on the same state directory) detaches.
    let cli_plumber = Plumber::new(world.backend.clone(), tokio_spawner());
    let cli_store = Store::Linux {
        dir: dir.path().to_path_buf(),
    };
    let files = cli_store.files(&ns).unwrap();
    let recorded = state_file::load(&files.state).unwrap().unwrap().interfaces[0]
        .announcer
        .expect("the TUI is the recorded announcer");
    assert!(recorded.on_request);
    assert_eq!(recorded.pid, std::process::id());
    let t = Instant::now();
    nsplumb_host::detach(&cli_store, &cli_plumber, &ns, "eth0")
        .await
        .unwrap();
    // Well within the time a detach waits for an answer: the TUI confirmed the cancel.
    assert!(
        t.elapsed() < cancel::CANCEL_REQUEST_TIMEOUT,
        "{:?}",
        t.elapsed()
    );

    // The TUI's announcer was cancelled before the detach touched the link: the first frame
    // went out during attach, not all three, and none after the cancel.
    let mut sent = 0;
    let mut cancelled = false;
    while let Ok(ev) = tui_events.try_recv() {
        if ev.iface != "eth0" {
            continue;
        }
        match ev.kind {
            EventKind::Announced { .. } => {
                assert!(!cancelled, "a frame after the cancel: {ev:?}");
                sent += 1
            }
            EventKind::AnnounceStopped(StopReason::Cancelled) => cancelled = true,
            _ => {}
        }
    }
    assert!(cancelled, "the TUI got AnnounceStopped(Cancelled)");
    assert!((1..3).contains(&sent), "{sent} of 3 sent");

    // Past the next two due times: nothing more from the TUI for eth0.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    while let Ok(ev) = tui_events.try_recv() {
        assert!(
            !(ev.iface == "eth0" && matches!(ev.kind, EventKind::Announced { .. })),
            "a frame after detach: {ev:?}"
        );
    }
    // The TUI is alive and its state shows nothing left.
    let st = state_file::load(&files.state).unwrap().unwrap();
    assert!(st.interfaces.is_empty(), "{st:?}");
    assert!(tui.run_effect(Effect::Refresh).await.is_ok());
}
