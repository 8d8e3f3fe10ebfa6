//! The attach and detach flows on the simulator, with state files and the journal: what they
//! leave when a step after the kernel change fails, and the announcer a front end records for
//! a process of its own.

use nsplumb_core::{BackendExt, Destination, NetnsAdmin, NetnsRef, Plumber, Source, Spawner, Spec};
use nsplumb_host::{
    journal::Journal, state_file, AnnouncedBy, AnnouncerProcess, AttachRequest, ProcessRef, Store,
};
use nsplumb_sim::SimBackend;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct World {
    sim: SimBackend,
    plumber: Plumber<SimBackend>,
    ctr1: NetnsRef,
    dir: tempfile::TempDir,
}

fn tokio_spawner() -> Spawner {
    Arc::new(|f| {
        tokio::spawn(f);
    })
}

/// A host with `br0` (192.0.2.1/24) and `dummy0`, a namespace `ctr1`, virtual time jumping to
/// each deadline.
async fn world() -> World {
    let sim = SimBackend::new(1);
    let host = NetnsRef::Host;
    let br = sim
        .create_bridge(&host, "br0", Default::default())
        .await
        .unwrap();
    sim.set_link_up(&host, br).await.unwrap();
    sim.add_address(&host, br, "192.0.2.1/24".parse().unwrap(), false)
        .await
        .unwrap();
    sim.create_dummy(&host, "dummy0").unwrap();
    let ctr1 = sim.create_netns("ctr1").await.unwrap();
    // Past br0's link-local DAD: snapshots taken from here on differ only by what the test did.
    sim.advance_by(Duration::from_secs(3));
    let pacer = sim.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            if let Some(d) = pacer.next_deadline() {
                pacer.advance_to(d);
            }
        }
    });
    World {
        plumber: Plumber::new(Arc::new(sim.clone()), tokio_spawner()),
        sim,
        ctr1,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl World {
    /// The simulator's store, with a journal whose appends fail from now on when `broken`.
    fn store(&self, broken: bool) -> Store {
        let journal = Journal::open(self.dir.path()).unwrap();
        if broken {
            let _ = std::fs::remove_file(journal.path());
            std::fs::create_dir(journal.path()).unwrap();
        }
        Store::Sim {
            journal: Mutex::new(journal),
            dir: self.dir.path().to_path_buf(),
        }
    }

    fn records(&self, store: &Store) -> state_file::NsState {
        let files = store.files(&self.ctr1).unwrap();
        state_file::load(&files.state)
            .unwrap()
            .unwrap_or_else(|| state_file::NsState::empty(&self.ctr1))
    }
}

fn dummy0_as_eth0() -> Spec {
    let mut spec = Spec::new(
        Source::HostLink("dummy0".into()),
        Destination::Name("eth0".into()),
    );
    spec.announce_count = 0;
    spec
}

/// A journal append that fails after the kernel attach: the simulated kernel that other
/// processes rebuild has no such attach, so the attach is undone here too and the error says
/// so; the intent is gone and no record was written.
// SPEC: A15
// SPEC: R1
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_append_that_fails_after_the_kernel_attach_undoes_it() {
    let w = world().await;
    let store = w.store(true);
    let before = w.sim.snapshot();
    let request = AttachRequest::new(w.ctr1.clone(), dummy0_as_eth0());
    let e = nsplumb_host::attach(&store, &w.plumber, request)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sim journal") && e.contains("the attach was undone"),
        "{e}"
    );
    assert_eq!(w.sim.snapshot(), before, "dummy0 is back in the host");
    assert!(w.plumber.interfaces(&w.ctr1).is_empty());
    let st = w.records(&store);
    assert!(st.pending.is_empty() && st.interfaces.is_empty(), "{st:?}");
}

/// A journal append that fails after the kernel detach: the simulated kernel that other
/// processes rebuild still has the interface, so its record stays attached (a later detach
/// undoes it) and the error says so.
// SPEC: D2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_append_that_fails_after_the_kernel_detach_keeps_the_record() {
    let w = world().await;
    let store = w.store(false);
    let request = AttachRequest::new(w.ctr1.clone(), dummy0_as_eth0());
    nsplumb_host::attach(&store, &w.plumber, request)
        .await
        .unwrap();
    drop(store);
    let store = w.store(true);
    let e = nsplumb_host::detach(&store, &w.plumber, &w.ctr1, "eth0")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sim journal") && e.contains("the detach was undone"),
        "{e}"
    );
    let st = w.records(&store);
    assert_eq!(st.interfaces.len(), 1, "{st:?}");
    assert_eq!(st.interfaces[0].attached.name, "eth0");
    assert_eq!(st.interfaces[0].phase, nsplumb_host::RecordPhase::Attached);
    assert!(st.interfaces[0].actor.is_none());
}

/// The attach and its gateways are one operation for every front end: a gateway that cannot
/// be set rolls the interface back, the error names the gateway and says so, and nothing is
/// left: not in the kernel, not in the records.
// SPEC: G1
// SPEC: A15
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_fails_rolls_the_attach_back() {
    let w = world().await;
    let store = w.store(false);
    let before = w.sim.snapshot();
    let mut spec = dummy0_as_eth0();
    spec.ipv4 = Some("192.0.2.40/24".into());
    let request = AttachRequest {
        gateways: vec!["198.51.100.1".parse().unwrap()],
        ..AttachRequest::new(w.ctr1.clone(), spec)
    };
    let e = nsplumb_host::attach(&store, &w.plumber, request)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("set gateway 198.51.100.1 for eth0")
            && e.contains("could not be found")
            && e.contains("the attach was rolled back"),
        "{e}"
    );
    assert_eq!(w.sim.snapshot(), before);
    let st = w.records(&store);
    assert!(st.interfaces.is_empty() && st.pending.is_empty() && st.gateways.is_empty());
}

/// A front end whose announcements are sent by a process of its own (the CNI plugin's ADD
/// returns at once) records that process; a detach from any process then stops it first (S8).
// SPEC: S8
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_announcer_process_is_stopped_by_the_detach() {
    let w = world().await;
    let store = Store::Linux {
        dir: w.dir.path().to_path_buf(),
    };
    let request = AttachRequest {
        announced_by: AnnouncedBy::Unrecorded,
        ..AttachRequest::new(w.ctr1.clone(), dummy0_as_eth0())
    };
    nsplumb_host::attach(&store, &w.plumber, request)
        .await
        .unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let announcer = AnnouncerProcess::terminable(ProcessRef::of(child.id()).unwrap());
    nsplumb_host::record_announcer(&store, &w.ctr1, "eth0", announcer)
        .await
        .unwrap();
    assert_eq!(w.records(&store).interfaces[0].announcer, Some(announcer));
    let e = nsplumb_host::record_announcer(&store, &w.ctr1, "eth9", announcer)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("eth9"), "{e}");

    // Another process detaches.
    let other = Plumber::new(Arc::new(w.sim.clone()), tokio_spawner());
    nsplumb_host::detach(&store, &other, &w.ctr1, "eth0")
        .await
        .unwrap();
    assert!(
        announcer.process().is_exiting_or_gone(),
        "the announcer was stopped first"
    );
    let _ = child.wait();
    assert!(w.records(&store).interfaces.is_empty());
}

/// A front end that keys its attachments by its own key finds them in the records of every
/// namespace, with the owner it gave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_is_kept_with_the_record_and_found_in_every_state() {
    let w = world().await;
    let store = Store::Linux {
        dir: w.dir.path().to_path_buf(),
    };
    let owner = nsplumb_host::Owner {
        network: "net1".into(),
        container_id: "c0ffee".into(),
        ifname: "eth0".into(),
    };
    let request = AttachRequest {
        owner: Some(owner.clone()),
        ..AttachRequest::new(w.ctr1.clone(), dummy0_as_eth0())
    };
    nsplumb_host::attach(&store, &w.plumber, request)
        .await
        .unwrap();
    let found: Vec<_> = store
        .all_states()
        .unwrap()
        .into_iter()
        .flat_map(|st| st.interfaces)
        .filter(|r| r.owner.as_ref() == Some(&owner))
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].attached.source, "dummy0");
    nsplumb_host::detach(&store, &w.plumber, &w.ctr1, "eth0")
        .await
        .unwrap();
    assert!(store
        .all_states()
        .unwrap()
        .iter()
        .all(|st| st.interfaces.is_empty()));
}

/// A process that died after moving a host link in with link options (before saving its
/// record) leaves an intent that the next process turns into a record carrying the options,
/// with the MTU the link had before (read into the intent) for detach to give back; the record
/// reads back from the state file as written.
// SPEC: R1
// SPEC: L1
// SPEC: L6
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_attach_with_link_options_is_recovered_with_them() {
    let w = world().await;
    let host = NetnsRef::Host;
    let dummy0 = w.sim.link_by_name(&host, "dummy0").await.unwrap();
    // What the dead process did to the kernel: dummy0 moved in as eth0.
    w.sim
        .move_link(&host, dummy0.index, &w.ctr1, "eth0")
        .await
        .unwrap();
    let mut spec = Spec::new(
        Source::HostLink("dummy0".into()),
        Destination::Name("eth0".into()),
    );
    spec.mtu = Some(9000);
    spec.ipv6 = Some("fd00::10/64".into());
    spec.dad = true;
    spec.dad_timeout_ms = Some(2000);
    let me = ProcessRef::me().unwrap();
    let dead = ProcessRef {
        start_time: me.start_time + 1,
        ..me
    };
    let mut state = state_file::NsState::empty(&w.ctr1);
    state.pending.push(nsplumb_host::IntentRecord {
        name: "eth0".into(),
        spec,
        actor: dead,
        owner: None,
        original_mtu: Some(dummy0.mtu),
    });
    let path = w.dir.path().join("ctr1.json");
    let changed = nsplumb_host::reconcile::reconcile(&w.plumber, &w.ctr1, &mut state, &path)
        .await
        .unwrap();
    assert!(changed);
    assert!(state.pending.is_empty());
    let [record] = state.interfaces.as_slice() else {
        panic!("one recovered record: {state:?}");
    };
    let a = &record.attached;
    assert_eq!(a.origin, nsplumb_core::Origin::MovedFromHost);
    assert_eq!(a.original_mtu, Some(dummy0.mtu), "given back at detach");
    assert_eq!(a.mtu, Some(dummy0.mtu), "as the link shows it");
    assert_eq!(a.ipv6.unwrap().to_string(), "fd00::10/64");
    state_file::save(&path, &state).unwrap();
    assert_eq!(state_file::load(&path).unwrap(), Some(state));
}

// SPEC: A1, R3 (bad input is refused before anything is locked, read or changed: not even
// the namespace's state file is opened, so a corrupt one is not reported and a dead
// process's leftovers are not reconciled first)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_spec_is_refused_before_the_namespace_is_locked_or_read() {
    let w = world().await;
    let store = w.store(false);
    let files = store.files(&w.ctr1).unwrap();
    std::fs::write(&files.state, "{ not a state file").unwrap();
    let mut spec = dummy0_as_eth0();
    spec.mac = Some("01:00:5e:00:00:01".into());
    spec.ipv4 = Some("192.0.2.300/24".into());
    let before = w.sim.snapshot();
    let e = nsplumb_host::attach(&store, &w.plumber, AttachRequest::new(w.ctr1.clone(), spec))
        .await
        .unwrap_err();
    assert!(e.is_invalid_input(), "{e}");
    let text = e.to_string();
    assert!(text.contains(r#"mac "01:00:5e:00:00:01""#), "{text}");
    assert!(text.contains(r#"ipv4 "192.0.2.300/24""#), "{text}");
    assert!(!files.lock.exists(), "the namespace lock was taken");
    assert_eq!(w.sim.snapshot(), before);
}

fn owner(container_id: &str) -> nsplumb_host::Owner {
    nsplumb_host::Owner {
        network: "net1".into(),
        container_id: container_id.into(),
        ifname: "eth0".into(),
    }
}

/// A veth on br0 into ctr1 as eth0, recorded for `owner`, the way the CNI plugin's ADD makes
/// it; returns the host end's name.
async fn veth_for(w: &World, store: &Store, owner: nsplumb_host::Owner) -> String {
    let host_name = nsplumb_host::veth_host_name();
    let mut spec = Spec::new(
        Source::VethOnBridge {
            bridge: "br0".into(),
            host_name: host_name.clone(),
        },
        Destination::Name("eth0".into()),
    );
    spec.ipv4 = Some("192.0.2.50/24".into());
    spec.announce_count = 0;
    let request = AttachRequest {
        owner: Some(owner),
        announced_by: AnnouncedBy::Unrecorded,
        ..AttachRequest::new(w.ctr1.clone(), spec)
    };
    nsplumb_host::attach(store, &w.plumber, request)
        .await
        .unwrap();
    host_name
}

fn no_records(store: &Store) -> bool {
    store
        .all_states()
        .unwrap()
        .iter()
        .all(|st| st.interfaces.is_empty() && st.pending.is_empty())
}

/// CNI DEL with its namespace there: the owner's record is found in that namespace and
/// detached by the usual flow; a second DEL finds nothing and is fine.
// SPEC: C6
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_in_its_namespace_is_detached_by_the_usual_flow() {
    let w = world().await;
    let store = Store::Linux {
        dir: w.dir.path().to_path_buf(),
    };
    let names = |ns: NetnsRef| {
        let sim = w.sim.clone();
        async move {
            let links = sim.list_links(&ns).await.unwrap();
            links.into_iter().map(|l| l.name).collect::<Vec<_>>()
        }
    };
    let before = (names(NetnsRef::Host).await, names(w.ctr1.clone()).await);
    veth_for(&w, &store, owner("c1")).await;
    let done = nsplumb_host::detach_owner(&store, &w.plumber, &owner("c1"), Some(&w.ctr1))
        .await
        .unwrap();
    assert_eq!(done.interfaces, 1);
    let after = (names(NetnsRef::Host).await, names(w.ctr1.clone()).await);
    assert_eq!(after, before, "the veth pair is gone");
    assert!(no_records(&store));
    let again = nsplumb_host::detach_owner(&store, &w.plumber, &owner("c1"), Some(&w.ctr1))
        .await
        .unwrap();
    assert!(!again.found_any());
}

/// CNI DEL with an empty `CNI_NETNS` (containerd's after the task exited) or GC: the records
/// alone say what to remove. The host end goes (and the container end with it), the process
/// still announcing is stopped first, the record is dropped; another owner's stays.
// SPEC: C6, C9, S8
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_namespace_an_owner_is_detached_by_its_records() {
    let w = world().await;
    let store = Store::Linux {
        dir: w.dir.path().to_path_buf(),
    };
    let host_end = veth_for(&w, &store, owner("c1")).await;
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let announcer = AnnouncerProcess::terminable(ProcessRef::of(child.id()).unwrap());
    nsplumb_host::record_announcer(&store, &w.ctr1, "eth0", announcer)
        .await
        .unwrap();
    let other = w.ctr1.clone();
    let mut other_spec = dummy0_as_eth0();
    other_spec.destination = Destination::Name("eth1".into());
    let request = AttachRequest {
        owner: Some(owner("c2")),
        ..AttachRequest::new(other, other_spec)
    };
    nsplumb_host::attach(&store, &w.plumber, request)
        .await
        .unwrap();

    // Another process, which knows nothing of the namespace.
    let fresh = Plumber::new(Arc::new(w.sim.clone()), tokio_spawner());
    let done = nsplumb_host::detach_owner(&store, &fresh, &owner("c1"), None)
        .await
        .unwrap();
    assert_eq!(done.interfaces, 1);
    assert!(announcer.process().is_exiting_or_gone(), "stopped first");
    let _ = child.wait();
    let host = NetnsRef::Host;
    assert!(w.sim.link_by_name(&host, &host_end).await.is_err());
    assert!(w.sim.link_by_name(&w.ctr1, "eth0").await.is_err());
    let st = w.records(&store);
    assert_eq!(st.interfaces.len(), 1, "{st:?}");
    assert_eq!(st.interfaces[0].owner, Some(owner("c2")));
}

/// The namespace is gone (the runtime deleted it before DEL): its links went with it, the
/// records go now; nothing is an error.
// SPEC: C6
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_whose_namespace_is_gone_leaves_records_only_and_they_go() {
    let w = world().await;
    let store = Store::Linux {
        dir: w.dir.path().to_path_buf(),
    };
    veth_for(&w, &store, owner("c1")).await;
    w.sim.delete_netns(&w.ctr1).await.unwrap();
    let done = nsplumb_host::detach_owner(&store, &w.plumber, &owner("c1"), Some(&w.ctr1))
        .await
        .unwrap();
    assert_eq!(done.interfaces, 1);
    assert!(no_records(&store));
    assert!(w
        .sim
        .list_links(&NetnsRef::Host)
        .await
        .unwrap()
        .iter()
        .all(|l| !l.name.starts_with("vnsp")));
}

/// An attach whose process died after it created the veth pair and before it recorded it
/// leaves an intent: the owner's DEL, with the namespace or without it, deletes the pair by
/// its host end's name and drops the intent.
// SPEC: R1, C6
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_intent_of_a_dead_attach_is_undone_by_its_owner() {
    for with_namespace in [false, true] {
        let w = world().await;
        let store = Store::Linux {
            dir: w.dir.path().to_path_buf(),
        };
        let host_name = nsplumb_host::veth_host_name();
        let mut spec = Spec::new(
            Source::VethOnBridge {
                bridge: "br0".into(),
                host_name: host_name.clone(),
            },
            Destination::Name("eth0".into()),
        );
        spec.announce_count = 0;
        w.sim
            .create_veth(
                &NetnsRef::Host,
                &nsplumb_core::VethRequest {
                    host_name: host_name.clone(),
                    host_master: None,
                    host_up: false,
                    peer_netns: w.ctr1.clone(),
                    peer_name: "eth0".into(),
                    peer_mac: None,
                    mtu: None,
                },
            )
            .await
            .unwrap();
        let files = store.files(&w.ctr1).unwrap();
        let mut state = state_file::NsState::empty(&w.ctr1);
        state.pending.push(nsplumb_host::IntentRecord {
            name: "eth0".into(),
            spec,
            actor: ProcessRef {
                pid: u32::MAX - 7,
                start_time: 1,
            },
            owner: Some(owner("c1")),
            original_mtu: None,
        });
        std::fs::create_dir_all(w.dir.path()).unwrap();
        state_file::save(&files.state, &state).unwrap();

        let netns = with_namespace.then(|| w.ctr1.clone());
        let done = nsplumb_host::detach_owner(&store, &w.plumber, &owner("c1"), netns.as_ref())
            .await
            .unwrap();
        assert!(done.found_any(), "with namespace: {with_namespace}");
        assert!(
            w.sim
                .link_by_name(&NetnsRef::Host, &host_name)
                .await
                .is_err(),
            "the half-made pair is gone (with namespace: {with_namespace})"
        );
        assert!(w.sim.link_by_name(&w.ctr1, "eth0").await.is_err());
        assert!(no_records(&store));
    }
}
