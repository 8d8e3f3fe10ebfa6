//! SIGKILL at any moment (SPEC R1): the `nsplumb` CLI is killed after a random delay during
//! attach or detach, round after round, across two namespaces and the three ways in (a veth on a
//! bridge, a host link moved in, a link created in the namespace). After every kill the next
//! command must succeed, detaching what the state names must restore the kernel exactly, nothing
//! may be left (host veths, links and addresses in the namespace, records, pending intents), and
//! a new attach must get `eth0` again (each round that kills a detach attaches first, and every
//! source in every namespace once at the end).
//!
//! The test always runs in throwaway namespaces of its own (`unshare -nm`, plus `-r` as an
//! ordinary user, with a private `/run`): its network namespace is the "host", so what a kill
//! might leak vanishes with the child. The random delays come from a seed printed at the start;
//! `NSPLUMB_KILL_SEED=N` replays a run, `NSPLUMB_KILL_ROUNDS=N` changes the number of rounds.

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BRIDGE: &str = "br0";
const HOST_LINK: &str = "hl0";
const NS_LINK: &str = "a0";
const NAMESPACES: [&str; 2] = ["nspl-kill-a", "nspl-kill-b"];

/// splitmix64: a seeded sequence, so a failing run can be replayed from its printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug)]
enum Source {
    VethOnBridge,
    MovedHostLink,
    CreatedInNetns,
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The isolated world: a state dir, the private host and two namespaces.
struct World {
    state: tempfile::TempDir,
}

impl World {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nsplumb"));
        c.arg("--backend")
            .arg("linux")
            .args(args)
            .env("NSPLUMB_STATE_DIR", self.state.path())
            .env_remove("NSPLUMB_NETNS_DIR")
            .env_remove("NSPLUMB_TEST_ABORT_AT")
            .env_remove("RUST_LOG");
        c
    }

    fn nsplumb(&self, args: &[&str]) -> Run {
        let out = self.cmd(args).output().expect("run nsplumb");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts `args`, SIGKILLs it after `delay`; whether it was still running then.
    fn kill_after(&self, args: &[&str], delay: Duration) -> bool {
        let mut child = self
            .cmd(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nsplumb");
        std::thread::sleep(delay);
        let killed = child.try_wait().expect("poll nsplumb").is_none();
        if killed {
            child.kill().expect("SIGKILL nsplumb");
        }
        child.wait().expect("reap nsplumb");
        killed
    }

    /// The state file of `ns`: (interface record names, pending intent names).
    fn records(&self, ns: &str) -> (Vec<String>, Vec<String>) {
        let path = format!("/run/netns/{ns}");
        for entry in std::fs::read_dir(self.state.path()).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("ns-") && name.ends_with(".json")) {
                continue;
            }
            let bytes = std::fs::read(entry.path()).unwrap();
            let v: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("state file {name} does not parse: {e}"));
            if v["netns"] != path.as_str() && v["netns"] != ns {
                continue;
            }
            let names = |key: &str, field: fn(&Value) -> &Value| -> Vec<String> {
                v[key]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|r| field(r).as_str().unwrap().to_string())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            return (
                names("interfaces", |r| &r["attached"]["name"]),
                names("pending", |r| &r["name"]),
            );
        }
        (vec![], vec![])
    }
}

/// `ip ARGS` (in `ns` when given), which must succeed; returns stdout.
fn ip(ns: Option<&str>, args: &[&str]) -> String {
    let mut c = Command::new("ip");
    if let Some(ns) = ns {
        c.args(["-n", ns]);
    }
    let out = c.args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {ns:?} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every link with whether it is set up and its addresses, in the host and in both namespaces.
/// Left out: the operational state (the kernel's own: a bridge that had a port says UP, not
/// UNKNOWN, once it is gone) and link-local IPv6 addresses (the kernel adds them on its own
/// schedule after a link goes up).
fn kernel_snapshot() -> Vec<String> {
    let mut lines = Vec::new();
    for ns in [None, Some(NAMESPACES[0]), Some(NAMESPACES[1])] {
        let up = ip(ns, &["-br", "link", "show", "up"]);
        let up: Vec<&str> = up
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        for line in ip(ns, &["-br", "addr"]).lines() {
            let mut words = line.split_whitespace();
            let name = words.next().unwrap_or_default();
            let _operstate = words.next();
            let addrs: Vec<&str> = words.filter(|w| !w.starts_with("fe80:")).collect();
            lines.push(format!(
                "{}: {name} {} {}",
                ns.unwrap_or("host"),
                if up.contains(&name) { "up" } else { "down" },
                addrs.join(" ")
            ));
        }
    }
    lines
}

/// A detach leaves a link that was created in the namespace there, down, under its source name
/// and with the addresses the attach gave it (SPEC D1 removes none): only those may be on `a0`
/// of `ns`; they are flushed so that the next comparison with the baseline is exact.
fn flush_kept_addresses(ns: &str, ipv4: &str, context: &str) {
    let line = ip(Some(ns), &["-br", "addr", "show", "dev", NS_LINK]);
    let kept: Vec<&str> = line
        .split_whitespace()
        .skip(2)
        .filter(|w| !w.starts_with("fe80:"))
        .collect();
    assert!(
        kept.iter().all(|a| *a == ipv4 || *a == "fd00::10/64"),
        "{context}: {NS_LINK} in {ns} has addresses nsplumb never gave it: {kept:?}"
    );
    ip(
        Some(ns),
        &["addr", "flush", "dev", NS_LINK, "scope", "global"],
    );
}

/// The kernel is as at `baseline`; else a panic naming what is new and what is missing.
fn assert_restored(baseline: &[String], context: &str) {
    let now = kernel_snapshot();
    let new: Vec<&String> = now.iter().filter(|l| !baseline.contains(l)).collect();
    let gone: Vec<&String> = baseline.iter().filter(|l| !now.contains(l)).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "{context}: the kernel is not restored: new {new:?}, missing {gone:?}"
    );
}

fn attach_args<'a>(ns: &'a str, source: Source, ipv4: &'a str) -> Vec<&'a str> {
    let mut args = vec!["attach", "--netns", ns];
    match source {
        Source::VethOnBridge => args.extend(["--veth-on-bridge", BRIDGE]),
        Source::MovedHostLink => args.extend(["--link", HOST_LINK]),
        Source::CreatedInNetns => args.extend(["--link", NS_LINK, "--created-in-netns"]),
    }
    args.extend([
        "--prefix",
        "eth",
        "--ipv4",
        ipv4,
        "--ipv6",
        "fd00::10/64",
        "--announce-count",
        "2",
        "--announce-interval-ms",
        "100",
    ]);
    args
}

/// Detaches everything the state of `ns` names after the process before was killed: recorded
/// interfaces must detach; a pending intent whose process died before the kernel was touched
/// has nothing to detach (a clear error naming it).
fn clean_up(w: &World, ns: &str, round: usize) {
    let (records, pending) = w.records(ns);
    for name in &records {
        let r = w.nsplumb(&["detach", "--netns", ns, "--name", name]);
        assert_eq!(
            r.code,
            Some(0),
            "round {round}: detach {name}: {}",
            r.stderr
        );
    }
    for name in pending.iter().filter(|n| !records.contains(n)) {
        let r = w.nsplumb(&["detach", "--netns", ns, "--name", name]);
        assert!(
            r.code == Some(0) || (r.code == Some(1) && r.stderr.contains(name.as_str())),
            "round {round}: detach of the pending {name}: {:?} {}",
            r.code,
            r.stderr
        );
    }
}

// SPEC: R1
#[test]
fn sigkill_at_random_moments_of_attach_and_detach_leaves_nothing() {
    use nsplumb_test_skip::isolate::{self, Entered, Tmpfs};
    let test = "sigkill_at_random_moments_of_attach_and_detach_leaves_nothing";
    if !matches!(isolate::enter(test, Tmpfs::Run, &[]), Entered::RunHere) {
        return;
    }
    let seed = std::env::var("NSPLUMB_KILL_SEED")
        .ok()
        .map(|s| s.parse::<u64>().expect("NSPLUMB_KILL_SEED is a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let rounds: usize = std::env::var("NSPLUMB_KILL_ROUNDS")
        .ok()
        .map(|s| s.parse().expect("NSPLUMB_KILL_ROUNDS is a number"))
        .unwrap_or(200);
    println!("kill-anywhere: seed {seed} (NSPLUMB_KILL_SEED={seed} replays), {rounds} rounds");
    let mut rng = Rng(seed);

    let w = World {
        state: tempfile::tempdir().unwrap(),
    };
    ip(None, &["link", "set", "lo", "up"]);
    ip(None, &["link", "add", BRIDGE, "type", "bridge"]);
    ip(None, &["link", "set", BRIDGE, "up"]);
    ip(
        None,
        &[
            "link", "add", HOST_LINK, "type", "veth", "peer", "name", "hp0",
        ],
    );
    ip(None, &["link", "set", "hp0", "up"]);
    for ns in NAMESPACES {
        let r = w.nsplumb(&["netns", "add", ns]);
        assert_eq!(r.code, Some(0), "netns add {ns}: {}", r.stderr);
        ip(Some(ns), &["link", "set", "lo", "up"]);
        ip(
            Some(ns),
            &["link", "add", NS_LINK, "type", "veth", "peer", "name", "b0"],
        );
        ip(Some(ns), &["link", "set", "b0", "up"]);
    }
    let baseline = kernel_snapshot();

    // How long each command takes, to spread the kills over its whole run.
    let timed = |args: &[&str]| {
        let t = Instant::now();
        let r = w.nsplumb(args);
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
        (t.elapsed(), r)
    };
    let (attach_time, r) = timed(&attach_args(
        NAMESPACES[0],
        Source::VethOnBridge,
        "192.0.2.10/24",
    ));
    assert!(r.stdout.contains("eth0"), "{}", r.stdout);
    let (detach_time, _) = timed(&["detach", "--netns", NAMESPACES[0], "--name", "eth0"]);
    flush_kept_addresses(NAMESPACES[0], "192.0.2.10/24", "the first attach");
    println!("kill-anywhere: attach takes {attach_time:?}, detach {detach_time:?}");
    assert_restored(&baseline, "after the first attach and detach");

    let sources = [
        Source::VethOnBridge,
        Source::MovedHostLink,
        Source::CreatedInNetns,
    ];
    let mut killed = [0usize; 2];
    let mut finished = [0usize; 2];
    let started = Instant::now();
    for round in 0..rounds {
        let which = rng.below(2) as usize;
        let ns = NAMESPACES[which];
        let ipv4 = ["192.0.2.10/24", "192.0.2.11/24"][which];
        let source = sources[rng.below(3) as usize];
        let attach = attach_args(ns, source, ipv4);
        // 0: kill an attach; 1: kill a detach.
        let phase = rng.below(2) as usize;
        let window = if phase == 0 { attach_time } else { detach_time };
        let delay = Duration::from_micros(rng.below(window.as_micros() as u64 * 6 / 5 + 1));
        let was_running = if phase == 0 {
            w.kill_after(&attach, delay)
        } else {
            let r = w.nsplumb(&attach);
            assert_eq!(r.code, Some(0), "round {round}: attach: {}", r.stderr);
            assert!(r.stdout.contains("eth0"), "round {round}: {}", r.stdout);
            w.kill_after(&["detach", "--netns", ns, "--name", "eth0"], delay)
        };
        if was_running {
            killed[phase] += 1;
        } else {
            finished[phase] += 1;
        }
        let context = format!(
            "round {round} ({source:?} in {ns}, {} killed after {delay:?}, seed {seed})",
            ["attach", "detach"][phase]
        );

        // The next command succeeds and reconciles.
        let r = w.nsplumb(&["list", "--netns", ns, "--json"]);
        assert_eq!(r.code, Some(0), "{context}: list: {}", r.stderr);
        let left = w.records(ns);
        clean_up(&w, ns, round);
        flush_kept_addresses(ns, ipv4, &context);
        assert_eq!(w.records(ns), (vec![], vec![]), "{context}: records left");
        assert_restored(
            &baseline,
            &format!("{context}: after the clean-up of {left:?}"),
        );
    }
    // Names start again from eth0 (each detach-phase round checked it too): every source in
    // every namespace attaches as eth0 and detaches back to the baseline.
    for (which, ns) in NAMESPACES.iter().enumerate() {
        let ipv4 = ["192.0.2.10/24", "192.0.2.11/24"][which];
        for source in sources {
            let r = w.nsplumb(&attach_args(ns, source, ipv4));
            assert_eq!(r.code, Some(0), "final {source:?} in {ns}: {}", r.stderr);
            assert!(
                r.stdout.contains("eth0"),
                "final {source:?} in {ns}: {}",
                r.stdout
            );
            let r = w.nsplumb(&["detach", "--netns", ns, "--name", "eth0"]);
            assert_eq!(r.code, Some(0), "final detach in {ns}: {}", r.stderr);
            flush_kept_addresses(ns, ipv4, "final");
            assert_restored(&baseline, &format!("final {source:?} in {ns}"));
            assert_eq!(w.records(ns), (vec![], vec![]), "final {source:?} in {ns}");
        }
    }
    println!(
        "kill-anywhere: {rounds} rounds in {:?}: attach killed {} (finished first {}), \
         detach killed {} (finished first {})",
        started.elapsed(),
        killed[0],
        finished[0],
        killed[1],
        finished[1]
    );
    assert!(
        killed[0] >= rounds / 10 && killed[1] >= rounds / 10,
        "too few commands were killed mid-way ({killed:?} of {rounds}): the delays miss them"
    );
}
