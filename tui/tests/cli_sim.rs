//! The `nsplumb` binary against the simulator: every flag, every exit status, the JSON shapes,
//! and bad input (SPEC V1–V10) → exit 2 with nothing touched. Each test has its own
//! `NSPLUMB_STATE_DIR`, so its journal (the simulated kernel's state between processes) is its own.

mod announcer_stop;

use serde_json::Value;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Sim {
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {:?}", self.stdout))
    }
}

impl Sim {
    fn new() -> Sim {
        Sim {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, None)
    }

    /// Runs with the test-only crash hook `NSPLUMB_TEST_ABORT_AT=point` when given.
    fn run_env(&self, args: &[&str], abort_at: Option<&str>) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nsplumb"));
        cmd.args(args)
            .env("NSPLUMB_STATE_DIR", self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("NSPLUMB_TEST_ABORT_AT");
        if let Some(point) = abort_at {
            cmd.env("NSPLUMB_TEST_ABORT_AT", point);
        }
        let out: Output = cmd.output().expect("run nsplumb");
        if abort_at.is_some() {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                out.status.signal(),
                Some(libc::SIGABRT),
                "{args:?} should have crashed at {abort_at:?}: {:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "{args:?}: stdout {} stderr {}",
            r.stdout, r.stderr
        );
        r
    }

    /// The state file of a simulated namespace (`ctr1`, `host`), `{}` when there is none.
    fn state_of(&self, ns: &str) -> Value {
        let key = if ns == "host" {
            "host".to_string()
        } else {
            format!("_run_netns_{ns}")
        };
        match std::fs::read(self.dir.path().join(format!("sim-{key}.json"))) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Err(_) => serde_json::json!({}),
        }
    }

    /// Names of the interface records (sorted) and the number of pending intents in a
    /// namespace's state.
    fn records_of(&self, ns: &str) -> (Vec<String>, usize) {
        let st = self.state_of(ns);
        let names = st["interfaces"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| i["attached"]["name"].as_str().unwrap().to_string())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect()
            })
            .unwrap_or_default();
        let pending = st["pending"].as_array().map(|a| a.len()).unwrap_or(0);
        (names, pending)
    }

    fn list(&self) -> Value {
        self.ok(&["--json", "list"]).json()
    }

    fn names_in(&self, ns: &str) -> Vec<String> {
        self.ok(&["--json", "list", "--netns", ns])
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["ifname"].as_str().unwrap().to_string())
            .collect()
    }
}

#[test]
fn the_simulated_host_has_a_bridge_three_containers_and_dummies() {
    let s = Sim::new();
    let list = s.list();
    let arr = list.as_array().unwrap();
    let br0 = arr
        .iter()
        .find(|l| l["ifname"] == "br0" && l["netns"] == "host")
        .expect("br0 in host");
    assert_eq!(br0["kind"], "bridge");
    assert!(br0["flags"]
        .as_array()
        .unwrap()
        .contains(&Value::from("UP")));
    let addrs: Vec<&str> = br0["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["local"].as_str().unwrap())
        .collect();
    assert!(
        addrs.contains(&"192.0.2.1") && addrs.contains(&"fd00:1::1"),
        "{addrs:?}"
    );
    for d in ["dummy0", "dummy1", "dummy2"] {
        assert!(arr.iter().any(|l| l["ifname"] == d), "{d}");
    }
    let ns = s.ok(&["--json", "netns", "list"]).json();
    let names: Vec<&str> = ns
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["host", "ctr1", "ctr2", "ctr3"]);
    // Human output: a table.
    let t = s.ok(&["list", "--netns", "ctr1"]);
    assert!(t.stdout.starts_with("NETNS"), "{}", t.stdout);
    assert!(t.stdout.contains("lo"));
    let t = s.ok(&["netns", "list"]);
    assert_eq!(
        t.stdout.lines().collect::<Vec<_>>(),
        ["host", "ctr1", "ctr2", "ctr3"]
    );
}

// SPEC: S5
// SPEC: S9
#[test]
fn attach_json_prints_one_object_then_stays_until_the_announcements_are_sent() {
    let s = Sim::new();
    let t = Instant::now();
    let r = s.ok(&[
        "--json",
        "attach",
        "--netns",
        "ctr1",
        "--veth-on-bridge",
        "br0",
        "--prefix",
        "eth",
        "--ipv4",
        "192.0.2.10/24",
        "--ipv6",
        "fd00:1::10/64",
        "--announce-interval-ms",
        "200",
    ]);
    let elapsed = t.elapsed();
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    let v = r.json();
    assert_eq!(v["name"], "eth0");
    assert_eq!(v["netns"], "/run/netns/ctr1");
    assert!(v["ifindex"].as_u64().unwrap() > 1);
    assert!(v["mac"].as_str().unwrap().len() == 17);
    assert_eq!(v["ipv4"], "192.0.2.10/24");
    assert_eq!(v["ipv6"], "fd00:1::10/64");
    assert_eq!(v["master"], Value::Null);
    assert_eq!(v["announce"]["count"], 3);
    assert_eq!(v["announce"]["interval_ms"], 200);
    assert!(v["source"].as_str().unwrap().starts_with("vnsp"));
    assert!(
        elapsed >= Duration::from_millis(400),
        "the process stays until announcements 2 and 3 are sent: {elapsed:?}"
    );
    // Human output of a second attach.
    let r = s.ok(&[
        "attach",
        "--netns",
        "ctr1",
        "--link",
        "dummy0",
        "--prefix",
        "eth",
        "--announce-count",
        "0",
    ]);
    assert!(r.stdout.contains("attached dummy0 as eth1"), "{}", r.stdout);
}

// SPEC: D1
#[test]
fn attach_then_detach_from_another_process_restores_the_link() {
    let s = Sim::new();
    s.ok(&[
        "attach",
        "--netns",
        "ctr2",
        "--link",
        "dummy0",
        "--name",
        "eth5",
        "--ipv4",
        "192.0.2.20/24",
        "--announce-count",
        "1",
    ]);
    assert!(s.names_in("ctr2").contains(&"eth5".to_string()));
    assert!(!s.names_in("host").contains(&"dummy0".to_string()));
    let r = s.ok(&["--json", "detach", "--netns", "ctr2", "--name", "eth5"]);
    assert_eq!(r.json()["ok"], true);
    assert!(!s.names_in("ctr2").contains(&"eth5".to_string()));
    assert!(s.names_in("host").contains(&"dummy0".to_string()));
    // A second detach: a clear error, exit 1 (D2).
    let r = s.run(&["detach", "--netns", "ctr2", "--name", "eth5"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("eth5") && r.stderr.contains("ctr2"),
        "{}",
        r.stderr
    );
}

// SPEC: N2
#[test]
fn prefix_names_across_processes_refill_gaps() {
    let s = Sim::new();
    for want in ["eth0", "eth1", "eth2"] {
        let r = s.ok(&[
            "--json",
            "attach",
            "--netns",
            "ctr3",
            "--veth-on-bridge",
            "br0",
            "--prefix",
            "eth",
            "--announce-count",
            "0",
        ]);
        assert_eq!(r.json()["name"], want);
    }
    s.ok(&["detach", "--netns", "ctr3", "--name", "eth1"]);
    let r = s.ok(&[
        "--json",
        "attach",
        "--netns",
        "ctr3",
        "--veth-on-bridge",
        "br0",
        "--prefix",
        "eth",
        "--announce-count",
        "0",
    ]);
    assert_eq!(r.json()["name"], "eth1");
}

// SPEC: V9
// SPEC: V10
// SPEC: G1
#[test]
fn every_attach_flag() {
    let s = Sim::new();
    let b = s.ok(&[
        "--json",
        "attach",
        "--netns",
        "ctr3",
        "--link",
        "brx",
        "--bridge",
        "--name",
        "brx",
        "--announce-count",
        "0",
    ]);
    assert_eq!(b.json()["origin"], "new_bridge");
    let r = s.ok(&[
        "--json",
        "attach",
        "--netns",
        "ctr3",
        "--veth-on-bridge",
        "br0",
        "--name",
        "e1",
        "--master",
        "brx",
        "--mac",
        "02-aa-bb-cc-dd-01",
        "--ipv4",
        "192.0.2.50/24",
        "--ipv6",
        "fd00:1::50/64",
        "--link-local",
        "169.254.1.1/16",
        "--link-local",
        "fe80::50/64",
        "--route",
        "198.51.100.0/24",
        "--route",
        "0.0.0.0/0",
        "--sysctl",
        "net.ipv4.conf.IFNAME.arp_notify=1",
        "--gateway",
        "192.0.2.1",
        "--announce-count",
        "1",
        "--announce-interval-ms",
        "100",
    ]);
    let v = r.json();
    assert_eq!(v["name"], "e1");
    assert_eq!(v["master"], "brx");
    assert_eq!(v["mac"], "02:aa:bb:cc:dd:01");
    assert_eq!(v["gateways"][0], "192.0.2.1");
    assert_eq!(v["announce"]["count"], 1);
    assert_eq!(v["announce"]["interval_ms"], 100);
    let list = s.ok(&["--json", "list", "--netns", "ctr3"]).json();
    let e1 = list
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ifname"] == "e1")
        .unwrap()
        .clone();
    assert_eq!(e1["master"], "brx");
    assert_eq!(e1["managed"], true);
    let locals: Vec<&str> = e1["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["local"].as_str().unwrap())
        .collect();
    assert!(
        locals.contains(&"169.254.1.1") && locals.contains(&"192.0.2.50"),
        "{locals:?}"
    );
    // --created-in-netns: no host lookup; a link that is not in the namespace fails (exit 1).
    let r = s.run(&[
        "attach",
        "--netns",
        "ctr3",
        "--link",
        "dummy1",
        "--created-in-netns",
        "--name",
        "x1",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("dummy1"), "{}", r.stderr);
    assert!(s.names_in("host").contains(&"dummy1".to_string()));
}

// SPEC: A8
#[test]
fn ipv6_dropped_by_a_sysctl_is_null_in_the_json() {
    let s = Sim::new();
    let r = s.ok(&[
        "--json",
        "attach",
        "--netns",
        "ctr1",
        "--veth-on-bridge",
        "br0",
        "--name",
        "e6",
        "--ipv4",
        "192.0.2.60/24",
        "--ipv6",
        "fd00:1::60/64",
        "--sysctl",
        "net.ipv6.conf.IFNAME.disable_ipv6=1",
        "--announce-count",
        "1",
    ]);
    let v = r.json();
    assert_eq!(v["ipv6"], Value::Null);
    assert_eq!(v["ipv6_dropped"], "fd00:1::60/64");
}

// SPEC: A15
// SPEC: N4
#[test]
fn failures_exit_1_and_leave_everything_as_it_was() {
    let s = Sim::new();
    let before = s.list();
    // No such host link.
    let r = s.run(&[
        "attach", "--netns", "ctr1", "--link", "nosuch0", "--name", "eth0",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("nosuch0") && r.stderr.contains("ctr1"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    // N4: the name exists in the namespace.
    let r = s.run(&[
        "--json", "attach", "--netns", "ctr1", "--link", "dummy0", "--name", "lo",
    ]);
    assert_eq!(r.code, 1);
    let err = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        err.contains("error renaming interface") && err.contains("file exists"),
        "{err}"
    );
    // G1: a gateway without a route: the attach is rolled back.
    let r = s.run(&[
        "attach",
        "--netns",
        "ctr1",
        "--link",
        "dummy1",
        "--name",
        "eth0",
        "--ipv4",
        "192.0.2.70/24",
        "--gateway",
        "198.51.100.1",
        "--announce-count",
        "0",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("198.51.100.1"), "{}", r.stderr);
    // Detach of something not attached.
    let r = s.run(&["--json", "detach", "--netns", "ctr1", "--name", "eth9"]);
    assert_eq!(r.code, 1);
    assert!(r.json()["error"].as_str().unwrap().contains("eth9"));
    // Statistics of a missing link.
    let r = s.run(&["stats", "--netns", "ctr1", "--name", "eth9"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("eth9") && r.stderr.contains("ctr1"),
        "{}",
        r.stderr
    );
    assert_eq!(s.list(), before, "nothing changed");
}

#[test]
fn stats_json_and_table() {
    let s = Sim::new();
    s.ok(&[
        "attach",
        "--netns",
        "ctr1",
        "--veth-on-bridge",
        "br0",
        "--name",
        "eth0",
        "--ipv4",
        "192.0.2.10/24",
        "--announce-count",
        "1",
    ]);
    let v = s.ok(&["--json", "stats", "--netns", "ctr1"]).json();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    let eth0 = arr.iter().find(|x| x["ifname"] == "eth0").unwrap();
    for dir in ["rx", "tx"] {
        for k in ["bytes", "packets", "errors", "dropped"] {
            assert!(eth0["stats64"][dir][k].is_u64(), "{dir}.{k}");
        }
    }
    let one = s
        .ok(&["--json", "stats", "--netns", "ctr1", "--name", "eth0"])
        .json();
    assert_eq!(one.as_array().unwrap().len(), 1);
    let t = s.ok(&["stats", "--netns", "ctr1"]);
    assert!(
        t.stdout.starts_with("NAME") && t.stdout.contains("eth0"),
        "{}",
        t.stdout
    );
}

#[test]
fn netns_add_and_del() {
    let s = Sim::new();
    let v = s.ok(&["--json", "netns", "add", "extra"]).json();
    assert_eq!(v["netns"], "/run/netns/extra");
    assert!(s.names_in("extra").contains(&"lo".to_string()));
    let r = s.run(&["netns", "add", "extra"]);
    assert_eq!(r.code, 1, "exists: {}", r.stderr);
    s.ok(&["netns", "del", "extra"]);
    let r = s.run(&["list", "--netns", "extra"]);
    assert_eq!(r.code, 1);
    let r = s.run(&["netns", "add", "a/b"]);
    assert_eq!(r.code, 2);
}

/// Every SPEC V rule: exit 2, a line naming the field on stderr, `{"error"}` on stdout with
/// --json, and nothing touched.
// SPEC: V1
// SPEC: V2
// SPEC: V3
// SPEC: V4
// SPEC: V5
// SPEC: V6
// SPEC: V7
// SPEC: V8
// SPEC: V9
// SPEC: V10
#[test]
fn invalid_input_exits_2_and_touches_nothing() {
    let s = Sim::new();
    let before = s.list();
    let base = ["--json", "attach", "--netns", "ctr1"];
    let cases: &[(&[&str], &str)] = &[
        (&["--link", "has space", "--name", "eth0"], "source"),
        (&["--link", "abcdefghijklmnop", "--name", "eth0"], "source"),
        (&["--link", "a/b", "--name", "eth0"], "source"),
        (&["--link", "dummy0", "--name", ".."], "name"),
        (&["--link", "dummy0", "--name", "a:b"], "name"),
        (
            &["--link", "dummy0", "--prefix", "abcdefghijklmno"],
            "prefix",
        ),
        (
            &[
                "--link",
                "dummy0",
                "--name",
                "e",
                "--mac",
                "01:00:5e:00:00:01",
            ],
            "unicast",
        ),
        (
            &[
                "--link",
                "dummy0",
                "--name",
                "e",
                "--mac",
                "00:00:00:00:00:00",
            ],
            "all zero",
        ),
        (
            &[
                "--link",
                "dummy0",
                "--name",
                "e",
                "--mac",
                "zz:00:00:00:00:01",
            ],
            "mac",
        ),
        (
            &["--link", "dummy0", "--name", "e", "--ipv4", "fd00::1/64"],
            "ipv4",
        ),
        (
            &["--link", "dummy0", "--name", "e", "--ipv4", "192.0.2.1"],
            "prefix length",
        ),
        (
            &["--link", "dummy0", "--name", "e", "--ipv6", "192.0.2.1/24"],
            "ipv6",
        ),
        (
            &["--link", "dummy0", "--name", "e", "--route", "nope"],
            "route",
        ),
        (
            &["--link", "dummy0", "--name", "e", "--link-local", "nope/x"],
            "link_local",
        ),
        (
            &[
                "--link",
                "dummy0",
                "--name",
                "e",
                "--sysctl",
                "net.ipv4.conf.IFNAME.../..=1",
            ],
            "sysctl",
        ),
        (
            &[
                "--link",
                "dummy0",
                "--name",
                "e",
                "--sysctl",
                "net.core.x.IFNAME.y=1",
            ],
            "sysctl",
        ),
        (
            &[
                "--link",
                "dummy0",
                "--name",
                "e",
                "--sysctl",
                "net.ipv4.conf.eth0.arp_notify=1",
            ],
            "IFNAME",
        ),
        (
            &[
                "--link",
                "dummy0",
                "--name",
                "e",
                "--sysctl",
                "net.ipv4.conf.IFNAME.arp_notify=",
            ],
            "empty",
        ),
        (
            &["--link", "dummy0", "--name", "e", "--announce-count", "4"],
            "announce count 4 is not in the range 0 to 3",
        ),
        (
            &[
                "--link",
                "dummy0",
                "--name",
                "e",
                "--announce-interval-ms",
                "50",
            ],
            "announce_interval_ms",
        ),
        (
            &[
                "--link",
                "dummy0",
                "--name",
                "e",
                "--announce-interval-ms",
                "2001",
            ],
            "2001 ms",
        ),
        (
            &["--link", "dummy0", "--name", "e", "--master", "nosuch"],
            "could not find an appropriate master \"nosuch\" for \"dummy0\"",
        ),
        (
            &["--link", "dummy0", "--name", "e", "--gateway", "not-an-ip"],
            "gateway",
        ),
        // V10: the flags exclude each other (clap usage errors).
        (
            &[
                "--link",
                "dummy0",
                "--name",
                "e",
                "--bridge",
                "--created-in-netns",
            ],
            "cannot be used with",
        ),
        (
            &["--veth-on-bridge", "br0", "--name", "e", "--bridge"],
            "cannot be used with",
        ),
        (
            &["--link", "dummy0", "--veth-on-bridge", "br0", "--name", "e"],
            "cannot be used with",
        ),
        (
            &["--link", "dummy0", "--name", "e", "--prefix", "eth"],
            "cannot be used with",
        ),
        (&["--name", "e"], "required"),
        (&["--link", "dummy0"], "required"),
        (
            &["--link", "dummy0", "--name", "e", "--announce-count", "-1"],
            "error",
        ),
    ];
    for (args, needle) in cases {
        let mut all: Vec<&str> = base.to_vec();
        all.extend_from_slice(args);
        let r = s.run(&all);
        assert_eq!(r.code, 2, "{args:?}: {} {}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(needle),
            "{args:?}: stderr {:?} lacks {needle:?}",
            r.stderr
        );
        let v = r.json();
        assert!(v["error"].is_string(), "{args:?}: {v}");
    }
    // Several invalid fields: all in one error.
    let r = s.run(&[
        "attach",
        "--netns",
        "ctr1",
        "--link",
        "dummy0",
        "--name",
        "e",
        "--mac",
        "01:00:00:00:00:00",
        "--ipv4",
        "x/1",
        "--announce-count",
        "9",
    ]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("mac")
            && r.stderr.contains("ipv4")
            && r.stderr.contains("announce count 9")
    );
    // Missing required options of other subcommands.
    assert_eq!(s.run(&["detach", "--netns", "ctr1"]).code, 2);
    assert_eq!(s.run(&["stats"]).code, 2);
    assert_eq!(
        s.run(&["detach", "--netns", "ctr1", "--name", "bad name"])
            .code,
        2
    );
    assert_eq!(s.run(&["--backend", "nope", "list"]).code, 2);
    assert_eq!(s.list(), before, "nothing touched");
}

// SPEC: S8
#[test]
fn detach_from_another_process_stops_the_process_still_announcing() {
    use std::io::{BufRead, BufReader};
    let s = Sim::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nsplumb"))
        .args([
            "--json",
            "attach",
            "--netns",
            "ctr1",
            "--veth-on-bridge",
            "br0",
            "--name",
            "eth0",
            "--ipv4",
            "192.0.2.10/24",
            "--announce-interval-ms",
            "2000",
        ])
        .env("NSPLUMB_STATE_DIR", s.dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let announcer = nsplumb_host::ProcessRef::of(child.id()).expect("the attach process runs");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["name"], "eth0");
    assert!(child.try_wait().unwrap().is_none(), "still announcing");
    let t = Instant::now();
    s.ok(&["detach", "--netns", "ctr1", "--name", "eth0"]);
    assert!(t.elapsed() < Duration::from_secs(3));
    // The announcing process was stopped before detach returned (SPEC S8).
    announcer_stop::assert_stopped_before_detach_returned(&mut child, announcer);
    assert!(!s.names_in("ctr1").contains(&"eth0".to_string()));
}

/// Failed attaches are replayed too: what a later process lists is what an earlier one saw.
#[test]
fn the_journal_replays_failures_so_every_process_sees_the_same_kernel() {
    let s = Sim::new();
    // Fails in the kernel after creating the veth (the name exists in the namespace).
    let r = s.run(&[
        "attach",
        "--netns",
        "ctr1",
        "--veth-on-bridge",
        "br0",
        "--name",
        "lo",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = s.ok(&[
        "--json",
        "attach",
        "--netns",
        "ctr1",
        "--veth-on-bridge",
        "br0",
        "--prefix",
        "eth",
        "--announce-count",
        "0",
    ]);
    let v = r.json();
    let list = s.ok(&["--json", "list", "--netns", "ctr1"]).json();
    let eth0 = list
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ifname"] == "eth0")
        .unwrap()
        .clone();
    assert_eq!(eth0["address"], v["mac"]);
    assert_eq!(eth0["ifindex"], v["ifindex"]);
    assert_eq!(s.list(), s.list(), "replay is deterministic");
}

// SPEC: N3
#[test]
fn twenty_concurrent_attach_processes_get_eth0_to_eth19_on_the_sim() {
    let s = Sim::new();
    let children: Vec<_> = (0..20)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_nsplumb"))
                .args([
                    "--json",
                    "attach",
                    "--netns",
                    "ctr2",
                    "--veth-on-bridge",
                    "br0",
                    "--prefix",
                    "eth",
                    "--announce-count",
                    "0",
                ])
                .env("NSPLUMB_STATE_DIR", s.dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut names = std::collections::BTreeSet::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        names.insert(v["name"].as_str().unwrap().to_string());
    }
    let want: std::collections::BTreeSet<String> = (0..20).map(|i| format!("eth{i}")).collect();
    assert_eq!(names, want);
    let listed: std::collections::BTreeSet<String> = s
        .names_in("ctr2")
        .into_iter()
        .filter(|n| n.starts_with("eth"))
        .collect();
    assert_eq!(listed, want);
}

fn has(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n == name)
}

/// A process that dies between changing the kernel and saving its state leaves an intent
/// record; the next process finds the link attached and detach restores it exactly.
// SPEC: A15
// SPEC: D1
#[test]
fn a_crash_after_the_kernel_attach_is_undone_by_a_detach_from_a_new_process() {
    let s = Sim::new();
    let host_before = s.names_in("host");
    // A host link moved in and renamed.
    s.run_env(
        &[
            "attach",
            "--netns",
            "ctr1",
            "--link",
            "dummy0",
            "--name",
            "eth0",
            "--ipv4",
            "192.0.2.30/24",
        ],
        Some("after-kernel-attach"),
    );
    assert_eq!(
        s.records_of("ctr1"),
        (vec![], 1),
        "only the intent was saved"
    );
    // A veth pair created on the bridge.
    s.run_env(
        &[
            "attach",
            "--netns",
            "ctr1",
            "--veth-on-bridge",
            "br0",
            "--name",
            "eth1",
        ],
        Some("after-kernel-attach"),
    );
    // The second process found eth0 attached by the dead first one and recorded it; its own
    // intent is all that is left of it.
    assert_eq!(s.records_of("ctr1"), (vec!["eth0".to_string()], 1));
    let ctr1 = s.names_in("ctr1");
    assert!(has(&ctr1, "eth0") && has(&ctr1, "eth1"), "{ctr1:?}");
    // `list` reconciled what the dead process left: both are managed interfaces now.
    assert_eq!(
        s.records_of("ctr1"),
        (vec!["eth0".to_string(), "eth1".to_string()], 0)
    );
    let listed = s.ok(&["--json", "list", "--netns", "ctr1"]).json();
    let mut managed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["managed"] == true)
        .map(|l| l["ifname"].as_str().unwrap())
        .collect();
    managed.sort();
    assert_eq!(managed, vec!["eth0", "eth1"]);
    let host = s.names_in("host");
    assert!(!has(&host, "dummy0"), "{host:?}");
    assert_eq!(
        host.len(),
        host_before.len(),
        "dummy0 left, a veth host end came"
    );

    let r = s.run(&["detach", "--netns", "ctr1", "--name", "eth0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = s.run(&["detach", "--netns", "ctr1", "--name", "eth1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Exactly as before: dummy0 back under its name, the veth pair gone, nothing recorded.
    assert_eq!(s.names_in("host"), host_before);
    assert_eq!(s.names_in("ctr1"), vec!["lo".to_string()]);
    assert_eq!(s.records_of("ctr1"), (vec![], 0));
}

/// A process that dies after writing its intent but before touching the kernel leaves a
/// record that the next process drops: the same name attaches again and nothing is listed.
#[test]
fn a_crash_before_the_kernel_attach_leaves_the_name_free() {
    let s = Sim::new();
    let before = s.list();
    s.run_env(
        &[
            "attach", "--netns", "ctr2", "--link", "dummy1", "--name", "eth0",
        ],
        Some("before-kernel-attach"),
    );
    assert_eq!(s.records_of("ctr2"), (vec![], 1), "the intent was saved");
    assert_eq!(s.list(), before, "the kernel was not touched");
    let r = s.ok(&[
        "--json",
        "attach",
        "--netns",
        "ctr2",
        "--link",
        "dummy1",
        "--name",
        "eth0",
        "--announce-count",
        "0",
    ]);
    assert_eq!(r.json()["name"], "eth0");
    assert_eq!(s.records_of("ctr2"), (vec!["eth0".to_string()], 0));
    // A prefix attach after a crashed one gets the lowest free name, not one after it.
    s.run_env(
        &[
            "attach", "--netns", "ctr3", "--link", "dummy2", "--prefix", "eth",
        ],
        Some("before-kernel-attach"),
    );
    let r = s.ok(&[
        "--json",
        "attach",
        "--netns",
        "ctr3",
        "--link",
        "dummy2",
        "--prefix",
        "eth",
        "--announce-count",
        "0",
    ]);
    assert_eq!(r.json()["name"], "eth0");
    s.ok(&["detach", "--netns", "ctr2", "--name", "eth0"]);
    s.ok(&["detach", "--netns", "ctr3", "--name", "eth0"]);
    assert_eq!(s.list(), before);
}

/// A detach cut short before the kernel keeps the record (retry works); one cut short after
/// the kernel leaves nothing behind.
// SPEC: D2
#[test]
fn a_crashed_detach_can_be_retried_or_is_complete() {
    let s = Sim::new();
    let before = s.list();
    s.ok(&[
        "attach",
        "--netns",
        "ctr1",
        "--link",
        "dummy0",
        "--name",
        "eth0",
        "--announce-count",
        "0",
    ]);
    s.run_env(
        &["detach", "--netns", "ctr1", "--name", "eth0"],
        Some("before-kernel-detach"),
    );
    let st = s.state_of("ctr1");
    assert_eq!(st["interfaces"][0]["phase"], "detaching", "{st}");
    assert!(has(&s.names_in("ctr1"), "eth0"));
    // The retry finds it attached and detaches it.
    s.ok(&["detach", "--netns", "ctr1", "--name", "eth0"]);
    assert_eq!(s.list(), before);
    assert_eq!(s.records_of("ctr1"), (vec![], 0));

    s.ok(&[
        "attach",
        "--netns",
        "ctr1",
        "--link",
        "dummy0",
        "--name",
        "eth0",
        "--announce-count",
        "0",
    ]);
    s.run_env(
        &["detach", "--netns", "ctr1", "--name", "eth0"],
        Some("after-kernel-detach"),
    );
    assert_eq!(s.list(), before, "the kernel detach was done");
    // The record of the dead detacher is dropped: a later detach is a clear error (D2) and
    // the name attaches again.
    let r = s.run(&["detach", "--netns", "ctr1", "--name", "eth0"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("eth0"), "{}", r.stderr);
    assert_eq!(s.records_of("ctr1"), (vec![], 0));
    s.ok(&[
        "attach",
        "--netns",
        "ctr1",
        "--link",
        "dummy0",
        "--name",
        "eth0",
        "--announce-count",
        "0",
    ]);
}

/// Gateways set by one process are known to the next: a second `--gateway` of the same
/// family replaces the first (one per family), and detaching the interface that carries the
/// gateway drops its record (G4).
// SPEC: G1
// SPEC: G4
#[test]
fn gateways_are_kept_between_processes() {
    let s = Sim::new();
    let gateways = |s: &Sim| -> Vec<(String, u64)> {
        s.state_of("ctr1")["gateways"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|g| {
                        (
                            g["gateway"].as_str().unwrap().to_string(),
                            g["oif"].as_u64().unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let eth0 = s
        .ok(&[
            "--json",
            "attach",
            "--netns",
            "ctr1",
            "--veth-on-bridge",
            "br0",
            "--name",
            "eth0",
            "--ipv4",
            "192.0.2.31/24",
            "--gateway",
            "192.0.2.1",
            "--announce-count",
            "0",
        ])
        .json();
    let eth0_index = eth0["ifindex"].as_u64().unwrap();
    assert_eq!(gateways(&s), vec![("192.0.2.1".to_string(), eth0_index)]);
    // Another process, another interface, the same family: replaces the default route (an
    // unknown earlier one would make the kernel answer EEXIST).
    let eth1 = s
        .ok(&[
            "--json",
            "attach",
            "--netns",
            "ctr1",
            "--veth-on-bridge",
            "br0",
            "--name",
            "eth1",
            "--ipv4",
            "198.51.100.2/24",
            "--gateway",
            "198.51.100.1",
            "--announce-count",
            "0",
        ])
        .json();
    let eth1_index = eth1["ifindex"].as_u64().unwrap();
    assert_eq!(gateways(&s), vec![("198.51.100.1".to_string(), eth1_index)]);
    // G4 from a new process: the gateway goes with its interface.
    s.ok(&["detach", "--netns", "ctr1", "--name", "eth1"]);
    assert_eq!(gateways(&s), vec![]);
    // And a new gateway can be set again (the kernel has no default route left).
    s.ok(&[
        "attach",
        "--netns",
        "ctr1",
        "--veth-on-bridge",
        "br0",
        "--name",
        "eth2",
        "--ipv4",
        "198.51.100.3/24",
        "--gateway",
        "198.51.100.1",
        "--announce-count",
        "0",
    ]);
    assert_eq!(gateways(&s).len(), 1);
    // Detaching the interface that does not carry it keeps it.
    s.ok(&["detach", "--netns", "ctr1", "--name", "eth0"]);
    assert_eq!(gateways(&s).len(), 1);
    s.ok(&["detach", "--netns", "ctr1", "--name", "eth2"]);
    assert_eq!(gateways(&s), vec![]);
}

/// A link that vanishes behind nsplumb's back (here renamed by another attach that takes it
/// as a link of the namespace): a detach from a new process reports it, the name stays
/// reserved across processes until `forget`.
// SPEC: D3
#[test]
fn a_vanished_interface_stays_reserved_across_processes_until_forgotten() {
    let s = Sim::new();
    s.ok(&[
        "attach",
        "--netns",
        "ctr1",
        "--link",
        "dummy0",
        "--prefix",
        "eth",
        "--announce-count",
        "0",
    ]);
    s.ok(&[
        "attach",
        "--netns",
        "ctr1",
        "--link",
        "eth0",
        "--created-in-netns",
        "--name",
        "wan9",
        "--announce-count",
        "0",
    ]);
    let r = s.run(&["detach", "--netns", "ctr1", "--name", "eth0"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("vanished") && r.stderr.contains("eth0") && r.stderr.contains("ctr1"),
        "{}",
        r.stderr
    );
    let st = s.state_of("ctr1");
    let eth0 = st["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["attached"]["name"] == "eth0")
        .unwrap_or_else(|| panic!("eth0 still recorded: {st}"));
    assert_eq!(eth0["phase"], "vanished");
    // Reported again by the next process, and its name is not handed out.
    let r = s.run(&["detach", "--netns", "ctr1", "--name", "eth0"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("vanished"), "{}", r.stderr);
    let r = s.ok(&[
        "--json",
        "attach",
        "--netns",
        "ctr1",
        "--link",
        "dummy1",
        "--prefix",
        "eth",
        "--announce-count",
        "0",
    ]);
    assert_eq!(r.json()["name"], "eth1");
    // A link that is still there cannot be forgotten.
    let r = s.run(&["forget", "--netns", "ctr1", "--name", "eth1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("detach it instead"), "{}", r.stderr);
    // Forgetting the vanished one frees its name.
    s.ok(&["forget", "--netns", "ctr1", "--name", "eth0"]);
    assert!(!has(&s.records_of("ctr1").0, "eth0"));
    let r = s.ok(&[
        "--json",
        "attach",
        "--netns",
        "ctr1",
        "--link",
        "dummy2",
        "--prefix",
        "eth",
        "--announce-count",
        "0",
    ]);
    assert_eq!(r.json()["name"], "eth0");
}

/// The simulated kernel is its journal: a line that does not read back (an unknown source
/// kind, a line of an older format) is an error naming the file and what is wrong, and no
/// command acts on a half-read journal (the journal is left as it was).
// SPEC: R3
#[test]
fn a_journal_line_that_does_not_read_back_is_an_error_naming_the_file() {
    let s = Sim::new();
    let journal = s.dir.path().join("sim-journal");
    let unknown_kind = concat!(
        r#"{"format":{"version":2}}"#,
        "\n",
        r#"{"attach":{"netns":"/run/netns/ctr1","name":"eth0","spec":{"source":{"veth_on_brige":{"bridge":"br0","host_name":"dummy0"}},"destination":{"name":"eth0"},"announce_count":0}}}"#,
        "\n"
    );
    // The format before this one: its unknown kinds replayed as a host link move.
    let older = concat!(
        r#"{"op":"attach","netns":"/run/netns/ctr1","name":"eth0","spec":{"source_kind":"brige","source":"dummy0","mac":null,"ipv4":null,"ipv6":null,"master":null,"announce_count":0,"announce_interval_ms":1000}}"#,
        "\n"
    );
    for (text, needle) in [(unknown_kind, "veth_on_brige"), (older, "older")] {
        std::fs::write(&journal, text).unwrap();
        for args in [
            &["--json", "list"][..],
            &[
                "attach", "--netns", "ctr2", "--link", "dummy1", "--name", "eth0",
            ][..],
        ] {
            let r = s.run(args);
            assert_eq!(r.code, 1, "{args:?}: {} {}", r.stdout, r.stderr);
            assert!(
                r.stderr.contains(&*journal.to_string_lossy()) && r.stderr.contains(needle),
                "{args:?}: {}",
                r.stderr
            );
            assert_eq!(
                std::fs::read_to_string(&journal).unwrap(),
                text,
                "{args:?} changed the journal"
            );
        }
    }
    std::fs::remove_file(&journal).unwrap();
    let host = s.names_in("host");
    assert!(has(&host, "dummy0"), "{host:?}");
}

/// A state file with a field that does not read back is an error naming the file, the field
/// and the value; the command fails and nothing acts on the record (the link stays where it is).
// SPEC: R3
#[test]
fn a_corrupt_state_file_field_is_an_error_and_nothing_acts_on_it() {
    let s = Sim::new();
    let v = s
        .ok(&[
            "--json",
            "attach",
            "--netns",
            "ctr1",
            "--link",
            "dummy0",
            "--name",
            "eth0",
            "--announce-count",
            "0",
        ])
        .json();
    let mac = v["mac"].as_str().unwrap().to_string();
    let file = s.dir.path().join("sim-_run_netns_ctr1.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&mac), "{text}");
    let corrupt = text.replacen(&format!("\"{mac}\""), "\"zz:zz\"", 1);
    std::fs::write(&file, &corrupt).unwrap();
    let journal = std::fs::read_to_string(s.dir.path().join("sim-journal")).unwrap();
    for args in [
        &["detach", "--netns", "ctr1", "--name", "eth0"][..],
        &["forget", "--netns", "ctr1", "--name", "eth0"][..],
        &[
            "attach", "--netns", "ctr1", "--link", "dummy1", "--prefix", "eth",
        ][..],
    ] {
        let r = s.run(args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(&*file.to_string_lossy())
                && r.stderr.contains("mac")
                && r.stderr.contains("zz:zz"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), corrupt, "{args:?}");
        assert_eq!(
            std::fs::read_to_string(s.dir.path().join("sim-journal")).unwrap(),
            journal,
            "{args:?} changed the simulated kernel"
        );
    }
    // Put right, the record works again.
    std::fs::write(&file, &text).unwrap();
    s.ok(&["detach", "--netns", "ctr1", "--name", "eth0"]);
    assert!(has(&s.names_in("host"), "dummy0"));
}

/// A bad value for each link option: exit 2, one line naming the field and the value, and
/// nothing touched (the kernel is not asked: the namespaces' links and state are as before).
// SPEC: L1
// SPEC: L2
// SPEC: L3
// SPEC: L4
// SPEC: L5
// SPEC: A1
#[test]
fn bad_link_options_exit_2_and_touch_nothing() {
    let s = Sim::new();
    let before = s.list();
    let veth = [
        "--json",
        "attach",
        "--netns",
        "ctr1",
        "--veth-on-bridge",
        "br0",
    ];
    let cases: &[(&[&str], &str)] = &[
        (&["--mtu", "67"], r#"mtu "67""#),
        (&["--mtu", "65536"], r#"mtu "65536""#),
        (&["--mtu", "abc"], "--mtu"),
        (
            &["--mtu", "1279", "--ipv6", "fd00:1::60/64"],
            r#"mtu "1279""#,
        ),
        (&["--vlan", "0"], r#"vlan "0""#),
        (&["--vlan", "4095"], r#"vlan "4095""#),
        (&["--vlan", "70000"], "--vlan"),
        (&["--vlan-trunk", "10,5000"], r#"vlan_trunk "5000""#),
        (&["--vlan-trunk", "30-20"], r#"vlan_trunk "30-20""#),
        (&["--vlan-trunk", "10-20,15"], "vlan_trunk"),
        (&["--vlan", "12", "--vlan-trunk", "10-20"], "vlan_trunk"),
        (&["--vlan-trunk", "x"], r#"vlan_trunk "x""#),
        (&["--keep-default-vlan"], "keep_default_vlan"),
        (&["--dad-timeout-ms", "500"], "needs dad"),
        (
            &["--dad", "--dad-timeout-ms", "99"],
            r#"dad_timeout_ms "99""#,
        ),
        (
            &["--dad", "--dad-timeout-ms", "30001"],
            r#"dad_timeout_ms "30001""#,
        ),
        (
            &["--hairpin", "--link", "brx", "--bridge"],
            "hairpin needs a veth on a bridge",
        ),
    ];
    for (args, needle) in cases {
        // A new bridge takes no port options; the other cases are a veth on br0.
        let mut all: Vec<&str> = if args.contains(&"--bridge") {
            vec!["--json", "attach", "--netns", "ctr1"]
        } else {
            veth.to_vec()
        };
        all.extend_from_slice(args);
        all.extend_from_slice(&["--prefix", "eth"]);
        let r = s.run(&all);
        assert_eq!(r.code, 2, "{args:?}: {} {}", r.stdout, r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(needle),
            "{args:?}: stderr {:?} lacks {needle:?}",
            r.stderr
        );
        assert!(r.json()["error"].is_string(), "{args:?}");
    }
    // Isolated and VLANs on a new bridge too, all in one line.
    let r = s.run(&[
        "attach",
        "--netns",
        "ctr1",
        "--link",
        "brx",
        "--bridge",
        "--name",
        "brx",
        "--isolated",
        "--vlan",
        "10",
        "--mtu",
        "50",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    for needle in [
        "isolated needs a veth on a bridge",
        "vlan needs a veth on a bridge",
        r#"mtu "50""#,
    ] {
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
    }
    assert_eq!(s.list(), before, "nothing touched");
    assert_eq!(s.records_of("ctr1"), (vec![], 0), "nothing recorded");
}

/// VLANs on a veth whose bridge has VLAN filtering off: exit 1 naming the bridge, after reading
/// only; the pair is never made.
// SPEC: L3
// SPEC: A15
#[test]
fn vlans_on_a_bridge_without_vlan_filtering_fail_naming_it_and_change_nothing() {
    let s = Sim::new();
    let before = s.list();
    let r = s.run(&[
        "attach",
        "--netns",
        "ctr1",
        "--veth-on-bridge",
        "br0",
        "--prefix",
        "eth",
        "--vlan",
        "10",
        "--vlan-trunk",
        "20-30",
    ]);
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("br0") && r.stderr.contains("VLAN filtering"),
        "{}",
        r.stderr
    );
    assert_eq!(s.list(), before, "nothing changed");
    assert_eq!(s.records_of("ctr1"), (vec![], 0));
}

/// The options reach the kernel and show where the interface is shown: the attach's JSON and
/// `list --json` (MTU on both ends of the pair, the host end's port flags), and detach takes
/// the pair away. Needs the simulator's link options (branch opts-sim, issue #13): the
/// simulator on this branch answers EOPNOTSUPP to SetPortFlags.
// SPEC: L1
// SPEC: L2
// SPEC: L4
// SPEC: L6
#[test]
fn link_options_reach_the_kernel_and_show_in_list_json() {
    let s = Sim::new();
    let before = s.list();
    let a = s
        .ok(&[
            "--json",
            "attach",
            "--netns",
            "ctr1",
            "--veth-on-bridge",
            "br0",
            "--name",
            "eth5",
            "--mtu",
            "1400",
            "--hairpin",
            "--isolated",
            "--announce-count",
            "0",
        ])
        .json();
    assert_eq!(a["mtu"], 1400, "{a}");
    assert_eq!(a["hairpin"], true, "{a}");
    assert_eq!(a["isolated"], true, "{a}");
    let list = s.list();
    let links = list.as_array().unwrap();
    let eth5 = links
        .iter()
        .find(|l| l["ifname"] == "eth5" && l["netns_name"] == "ctr1")
        .expect("eth5 in ctr1");
    assert_eq!(eth5["mtu"], 1400);
    assert_eq!(eth5["hairpin"], Value::Null, "not a bridge port");
    let host_end = links
        .iter()
        .find(|l| l["netns"] == "host" && l["master"] == "br0" && l["kind"] == "veth")
        .expect("the host end on br0");
    assert_eq!(host_end["mtu"], 1400, "{host_end}");
    assert_eq!(host_end["hairpin"], true, "{host_end}");
    assert_eq!(host_end["isolated"], true, "{host_end}");
    s.ok(&["detach", "--netns", "ctr1", "--name", "eth5"]);
    // Everything is as before, except what Linux does to a bridge whose last port leaves
    // (br_stp_recalculate_bridge_id, carrier check): br0 had no port before this test, so it
    // is left with an all-zero MAC and no carrier, as `ip link` shows on the kernel.
    let mut expected = before;
    let br0 = expected
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|l| l["ifname"] == "br0" && l["netns"] == "host")
        .expect("br0 in the host");
    br0["address"] = Value::Null;
    br0["flags"] = serde_json::json!(["UP"]);
    assert_eq!(s.list(), expected);
}
