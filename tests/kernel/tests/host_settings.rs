//! The simulator's host settings held to the kernel (SPEC R2): what a namespace starts with
//! under `net.core.devconf_inherit_init_net`, on this machine as it is, and under every mode
//! (the `_root_only` test sets the machine's own sysctls for a moment, and restores them).

use nsplumb_core::{BackendExt, NetBackend, NetnsAdmin, NetnsRef};
use nsplumb_kernel_tests::fixture::{in_ns, Fixture};
use nsplumb_kernel_tests::host_settings::{self, inheritance_paths, read_paths, Source, KNOB};
use nsplumb_kernel_tests::privilege::{enter, outer_netns};
use nsplumb_sim::{HostSettings, SimBackend};
use nsplumb_test_skip::cannot_run;
use std::collections::BTreeMap;

type Values = BTreeMap<String, String>;

/// The tests here do not overlap: one sets the machine's mode that the other reads. (Held by
/// the parent process around its isolated child.)
static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn enter_alone(test: &str) -> bool {
    let _alone = MACHINE.lock().unwrap_or_else(|e| e.into_inner());
    enter(test)
}

/// Writes a host's administrator makes in the private host, with this `ip_forward`.
fn private_host_writes(ip_forward: i64) -> Vec<(&'static str, String)> {
    vec![
        ("net/ipv4/ip_forward", ip_forward.to_string()),
        ("net/ipv4/conf/default/tag", "7".into()),
        ("net/ipv6/conf/default/max_addresses", "18".into()),
        ("net/ipv6/conf/all/forwarding", "1".into()),
    ]
}

async fn apply<B: NetBackend>(b: &B, writes: &[(&str, String)]) {
    for (path, v) in writes {
        b.write_sysctl(&NetnsRef::Host, path, v)
            .await
            .unwrap_or_else(|e| panic!("write {path}={v} in the private host: {e}"));
    }
}

/// A simulator on `settings`, the private host's `writes` made in it, then a namespace made:
/// (the simulated private host's values, the new namespace's), for the keys of the kernel's.
fn on_sim(
    settings: &HostSettings,
    writes: &[(&str, String)],
    kernel_p: &Values,
    kernel_q: &Values,
) -> (Values, Values) {
    let sim = SimBackend::new(1);
    sim.kernel()
        .set_host(settings)
        .unwrap_or_else(|e| panic!("simulated host: {e}"));
    futures::executor::block_on(async {
        apply(&sim, writes).await;
        let q = sim.create_netns("q").await.unwrap();
        let keys = |v: &Values| v.keys().cloned().collect::<Vec<_>>();
        (
            read_paths(&sim, &NetnsRef::Host, &keys(kernel_p)).await,
            read_paths(&sim, &q, &keys(kernel_q)).await,
        )
    })
}

fn assert_same(what: &str, kernel: &Values, sim: &Values) {
    let diff: Vec<String> = kernel
        .iter()
        .filter(|(k, v)| sim.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: kernel {v}, sim {:?}", sim.get(k)))
        .collect();
    assert!(
        diff.is_empty(),
        "{what}: the simulator differs:\n{}",
        diff.join("\n")
    );
    assert!(
        kernel.len() > 200,
        "{what}: only {} values read",
        kernel.len()
    );
}

// SPEC: R2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_inherits_like_the_kernel_on_this_machine() {
    if !enter_alone("simulator_inherits_like_the_kernel_on_this_machine") {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let probe = format!("{}-probe", fx.tag);
    let (before, source) = host_settings::read(&b, &probe).await;
    println!("machine: {}", host_settings::describe(&before, source));
    // `ip_forward` flipped from what the private host inherited.
    let fwd = b.read_sysctl(&NetnsRef::Host, "net/ipv4/ip_forward").await;
    let writes = private_host_writes(i64::from(fwd.unwrap().trim() == "0"));
    apply(&b, &writes).await;
    let q = fx.netns("q").await;
    let kernel_p = read_paths(&b, &NetnsRef::Host, &inheritance_paths()).await;
    let kernel_q = read_paths(&b, &q, &inheritance_paths()).await;
    // The private host: its settings, then its own writes with their kernel side effects.
    let (sim_p, sim_q) = on_sim(&before, &writes, &kernel_p, &kernel_q);
    assert_same("the private host after its writes", &kernel_p, &sim_p);
    if source == Source::InitNet {
        // The real mode and init_net: the new namespace follows from them and the writes.
        assert_same("a namespace made after the writes", &kernel_q, &sim_q);
    }
    // Settings read now (a probe stands for init_net when it cannot be read) give it too.
    let (after, _) = host_settings::read(&b, &probe).await;
    let (_, sim_q) = on_sim(&after, &[], &kernel_p, &kernel_q);
    assert_same(
        "a namespace made on the settings read after",
        &kernel_q,
        &sim_q,
    );
}

/// The machine's own sysctls set for a moment (in its initial namespace, from a thread that
/// joined it); the old values come back on drop, also when the test fails.
struct MachineSysctls {
    init_net: NetnsRef,
    saved: Vec<(String, String)>,
}

impl MachineSysctls {
    fn set(init_net: &NetnsRef, values: &[(&str, String)]) -> MachineSysctls {
        let mut m = MachineSysctls {
            init_net: init_net.clone(),
            saved: Vec::new(),
        };
        for (path, v) in values {
            let old = m.io(path, None);
            m.saved.push((path.to_string(), old));
            m.io(path, Some(v.clone()));
        }
        m
    }

    /// Reads (`None`) or writes `/proc/sys/PATH` in the initial namespace.
    fn io(&self, path: &str, value: Option<String>) -> String {
        let file = format!("/proc/sys/{path}");
        in_ns(&self.init_net, move || match value {
            None => std::fs::read_to_string(&file).map(|v| v.trim().to_string()),
            Some(v) => std::fs::write(&file, &v).map(|()| v),
        })
        .unwrap_or_else(|e| panic!("machine sysctl {path}: {e}"))
    }
}

impl Drop for MachineSysctls {
    fn drop(&mut self) {
        for (path, old) in self.saved.iter().rev() {
            let file = format!("/proc/sys/{path}");
            let old = old.clone();
            let res = in_ns(&self.init_net, move || std::fs::write(&file, old));
            if let Err(e) = res {
                eprintln!("!!!!!!!! could not restore the machine's {path}: {e} !!!!!!!!");
            }
        }
    }
}

// SPEC: R2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_inherits_like_the_kernel_under_every_mode_root_only() {
    const NAME: &str = "simulator_inherits_like_the_kernel_under_every_mode_root_only";
    if !nix::unistd::geteuid().is_root() {
        cannot_run(
            NAME,
            "sets the machine's net.core.devconf_inherit_init_net: needs root",
        );
        return;
    }
    if !enter_alone(NAME) {
        return;
    }
    let mut fx = Fixture::new();
    let b = fx.backend.clone();
    let init_net = outer_netns().expect("the parent's namespace");
    let Ok(machine_mode) = b.read_sysctl(&init_net, KNOB).await else {
        cannot_run(
            NAME,
            "the test process does not run in the machine's initial namespace",
        );
        return;
    };
    // init_net made to differ from the compiled-in values in IPv4 and IPv6, and the private
    // host made to differ from init_net, so that every mode gives another answer.
    let read = |path: &'static str| {
        let b = b.clone();
        let ns = init_net.clone();
        async move {
            let v = b.read_sysctl(&ns, path).await.unwrap();
            v.trim().parse::<i64>().unwrap()
        }
    };
    let ip_forward = 1 - read("net/ipv4/ip_forward").await.min(1);
    let max_addresses = read("net/ipv6/conf/default/max_addresses").await + 1;
    let desync = read("net/ipv6/conf/all/max_desync_factor").await + 1;
    apply(&b, &private_host_writes(1 - ip_forward)).await;
    for mode in 0..=3 {
        let (settings, q) = {
            let _machine = MachineSysctls::set(
                &init_net,
                &[
                    (KNOB, mode.to_string()),
                    ("net/ipv4/ip_forward", ip_forward.to_string()),
                    (
                        "net/ipv6/conf/default/max_addresses",
                        max_addresses.to_string(),
                    ),
                    ("net/ipv6/conf/all/max_desync_factor", desync.to_string()),
                ],
            );
            let q = fx.netns(&format!("q{mode}")).await;
            let (settings, source) = host_settings::read(&b, "unused").await;
            assert_eq!(source, Source::InitNet);
            (settings, q)
        };
        let kernel_p = read_paths(&b, &NetnsRef::Host, &inheritance_paths()).await;
        let kernel_q = read_paths(&b, &q, &inheritance_paths()).await;
        println!(
            "mode {mode}: {}; new namespace: ip_forward={} ipv6 default/max_addresses={}",
            host_settings::describe(&settings, Source::InitNet),
            kernel_q["net/ipv4/conf/all/forwarding"],
            kernel_q["net/ipv6/conf/default/max_addresses"],
        );
        // The settings hold the private host as it is now (after its writes): no writes again.
        let (_, sim_q) = on_sim(&settings, &[], &kernel_p, &kernel_q);
        assert_same(&format!("mode {mode}: a new namespace"), &kernel_q, &sim_q);
    }
    assert_eq!(
        b.read_sysctl(&init_net, KNOB).await.unwrap(),
        machine_mode,
        "the machine's mode is back"
    );
}
