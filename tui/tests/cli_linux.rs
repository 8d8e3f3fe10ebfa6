//! The `nsplumb` binary against the real kernel, in throwaway namespaces `nspl-cli-<random>`
//! (created and deleted here), with a temporary `NSPLUMB_STATE_DIR`. Addresses only from
//! 192.0.2.0/24, 198.51.100.0/24 and fd00::/8; bridges only inside the private namespaces.
//! As an ordinary user each test re-executes itself in a user + network + mount namespace of its
//! own ([`root_or_skip`]); when that is impossible too it prints a loud SKIP line and is named at
//! the end of `scripts/test`, or fails when `CI=true`.

mod announcer_stop;

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Root here, or root in a user namespace of its own: as root the test runs in the machine's
/// namespace (next to its bridges, as `.ci/real-host-pass` wants); as an ordinary user it
/// re-executes itself under `unshare -rnm` with a private `/run` (so `/run/netns`, which `ip -n`
/// and nsplumb use, holds only its own namespaces). Neither possible: a loud skip, or a failure
/// under `CI=true`.
fn root_or_skip(test: &str) -> bool {
    use nsplumb_test_skip::isolate::{self, Entered, Tmpfs};
    if isolate::is_root() {
        return true;
    }
    matches!(isolate::enter(test, Tmpfs::Run, &[]), Entered::RunHere)
}

fn random_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut x = nanos ^ ((std::process::id() as u64) << 32);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
    format!("{:08x}", (x ^ (x >> 31)) as u32)
}

struct Kernel {
    ns: String,
    state: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.lines().next().unwrap_or(""))
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} / {}", self.stdout, self.stderr))
    }
}

impl Kernel {
    fn new() -> Kernel {
        let k = Kernel {
            ns: format!("nspl-cli-{}", random_suffix()),
            state: tempfile::tempdir().unwrap(),
        };
        let r = k.nsplumb(&["netns", "add", &k.ns]);
        assert_eq!(r.code, 0, "netns add: {}", r.stderr);
        k.ip(&["link", "set", "lo", "up"]);
        k
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nsplumb"));
        c.arg("--backend")
            .arg("linux")
            .args(args)
            .env("NSPLUMB_STATE_DIR", self.state.path())
            // `ip -n` below looks in /run/netns: so must nsplumb.
            .env_remove("NSPLUMB_NETNS_DIR")
            .env_remove("RUST_LOG");
        c
    }

    fn nsplumb(&self, args: &[&str]) -> Run {
        let out: Output = self.cmd(args).output().expect("run nsplumb");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// nsplumb run inside `host`'s namespace (`ip netns exec`), so that a second private
    /// namespace plays the host: its bridges and links are the test's own. `abort_at` sets the
    /// test-only crash hook `NSPLUMB_TEST_ABORT_AT`; the process must then die of SIGABRT.
    fn nsplumb_from(&self, host: &Kernel, args: &[&str], abort_at: Option<&str>) -> Run {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &host.ns, env!("CARGO_BIN_EXE_nsplumb")])
            .arg("--backend")
            .arg("linux")
            .args(args)
            .env("NSPLUMB_STATE_DIR", self.state.path())
            .env_remove("NSPLUMB_NETNS_DIR")
            .env_remove("RUST_LOG")
            .env_remove("NSPLUMB_TEST_ABORT_AT");
        if let Some(point) = abort_at {
            c.env("NSPLUMB_TEST_ABORT_AT", point);
        }
        let out = c.output().expect("ip netns exec nsplumb");
        let r = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if abort_at.is_some() {
            // `ip netns exec` reports the child's death by a signal as exit status 128+N or
            // dies the same way itself.
            use std::os::unix::process::ExitStatusExt;
            let by_abort = out.status.signal() == Some(libc::SIGABRT)
                || out.status.code() == Some(128 + libc::SIGABRT);
            assert!(
                by_abort && r.stderr.contains("test crash hook"),
                "{args:?} should have crashed at {abort_at:?}: {:?} {}",
                out.status,
                r.stderr
            );
        }
        r
    }

    /// The state file nsplumb keeps for this namespace (`{}` when there is none).
    fn state_file(&self) -> Value {
        let want = format!("/run/netns/{}", self.ns);
        for e in std::fs::read_dir(self.state.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("ns-") && name.ends_with(".json")) {
                continue;
            }
            let v: Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            if v["netns"] == want.as_str() {
                return v;
            }
        }
        serde_json::json!({})
    }

    /// Names of the interface records (sorted) and the number of pending intents in the state.
    fn records(&self) -> (Vec<String>, usize) {
        let st = self.state_file();
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
        (names, st["pending"].as_array().map_or(0, |a| a.len()))
    }

    /// `ip -n NS ARGS`, which must succeed; returns stdout.
    fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.ns)
            .args(args)
            .output()
            .expect("ip");
        assert!(
            out.status.success(),
            "ip -n {} {args:?}: {}",
            self.ns,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn links(&self) -> BTreeSet<String> {
        self.ip(&["-br", "link"])
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(|n| n.split('@').next().unwrap().to_string())
            .collect()
    }

    fn snapshot(&self) -> (String, String) {
        (self.ip(&["-br", "link"]), self.ip(&["-br", "addr"]))
    }

    /// A veth pair inside the namespace; `peer_up` gives `name` a carrier.
    fn veth(&self, name: &str, peer: &str, peer_up: bool) {
        self.ip(&["link", "add", name, "type", "veth", "peer", "name", peer]);
        if peer_up {
            self.ip(&["link", "set", peer, "up"]);
        }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let r = self.nsplumb(&["netns", "del", &self.ns]);
        if r.code != 0 {
            let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        }
    }
}

// SPEC: N3
#[test]
fn twenty_concurrent_attach_processes_get_eth0_to_eth19() {
    if !root_or_skip("twenty_concurrent_attach_processes_get_eth0_to_eth19") {
        return;
    }
    let k = Kernel::new();
    for i in 0..20 {
        k.veth(&format!("s{i}"), &format!("p{i}"), false);
    }
    let children: Vec<_> = (0..20)
        .map(|i| {
            k.cmd(&[
                "--json",
                "attach",
                "--netns",
                &k.ns,
                "--link",
                &format!("s{i}"),
                "--created-in-netns",
                "--prefix",
                "eth",
                "--announce-count",
                "0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut names = BTreeSet::new();
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
    let want: BTreeSet<String> = (0..20).map(|i| format!("eth{i}")).collect();
    assert_eq!(names, want);
    let links = k.links();
    for n in &want {
        assert!(links.contains(n), "{n} in {links:?}");
    }
    // The state file knows all twenty: the next attach gets eth20.
    k.veth("s20", "p20", false);
    let r = k.nsplumb(&[
        "--json",
        "attach",
        "--netns",
        &k.ns,
        "--link",
        "s20",
        "--created-in-netns",
        "--prefix",
        "eth",
        "--announce-count",
        "0",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["name"], "eth20");
}

// SPEC: D1
// SPEC: S8
#[test]
fn attach_then_detach_from_another_process_restores_the_link() {
    if !root_or_skip("attach_then_detach_from_another_process_restores_the_link") {
        return;
    }
    let k = Kernel::new();
    k.veth("a0", "b0", true);
    let before = k.snapshot();
    // Announcing for ~4 s: the attach process stays alive.
    let mut child = k
        .cmd(&[
            "--json",
            "attach",
            "--netns",
            &k.ns,
            "--link",
            "a0",
            "--created-in-netns",
            "--name",
            "eth0",
            "--ipv4",
            "192.0.2.10/24",
            "--announce-count",
            "3",
            "--announce-interval-ms",
            "2000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let announcer = nsplumb_host::ProcessRef::of(child.id()).expect("the attach process runs");
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert_eq!(v["name"], "eth0");
    assert_eq!(v["ipv6"], Value::Null);
    assert!(k.links().contains("eth0"));
    assert!(k.ip(&["-br", "addr"]).contains("192.0.2.10/24"));
    let t = Instant::now();
    let r = k.nsplumb(&["detach", "--netns", &k.ns, "--name", "eth0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // The announcing process was stopped before detach returned (SPEC S8).
    announcer_stop::assert_stopped_before_detach_returned(&mut child, announcer);
    let links = k.links();
    assert!(links.contains("a0") && !links.contains("eth0"), "{links:?}");
    // Renamed back and down (a link created in the namespace stays there, D1).
    let after = k.snapshot();
    assert_eq!(
        before.0.lines().count(),
        after.0.lines().count(),
        "{}",
        after.0
    );
    assert!(
        after
            .0
            .lines()
            .any(|l| l.starts_with("a0@b0") && l.contains("DOWN")),
        "{}",
        after.0
    );
}

#[test]
fn exit_codes_0_1_2_on_the_kernel() {
    if !root_or_skip("exit_codes_0_1_2_on_the_kernel") {
        return;
    }
    let k = Kernel::new();
    k.veth("c0", "d0", false);
    k.veth("c1", "d1", false);
    let before = k.snapshot();
    // 2: invalid input, nothing touched.
    let r = k.nsplumb(&[
        "--json",
        "attach",
        "--netns",
        &k.ns,
        "--link",
        "c0",
        "--created-in-netns",
        "--name",
        "eth0",
        "--announce-count",
        "4",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("announce count 4 is not in the range 0 to 3"));
    assert_eq!(k.snapshot(), before);
    // 1: no such link; rolled back, nothing changed.
    let r = k.nsplumb(&[
        "attach",
        "--netns",
        &k.ns,
        "--link",
        "nosuch",
        "--created-in-netns",
        "--name",
        "eth0",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("nosuch"), "{}", r.stderr);
    assert_eq!(k.snapshot(), before);
    // SPEC: N4 — the name exists: exit 1, the link stays where it was.
    let r = k.nsplumb(&[
        "attach",
        "--netns",
        &k.ns,
        "--link",
        "c0",
        "--created-in-netns",
        "--name",
        "c1",
        "--ipv4",
        "192.0.2.30/24",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("file exists"), "{}", r.stderr);
    assert_eq!(k.snapshot(), before);
    // 0: a bridge inside the namespace, a port on it, a gateway.
    let r = k.nsplumb(&[
        "--json",
        "attach",
        "--netns",
        &k.ns,
        "--link",
        "brx",
        "--bridge",
        "--name",
        "brx",
        "--announce-count",
        "0",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = k.nsplumb(&[
        "--json",
        "attach",
        "--netns",
        &k.ns,
        "--link",
        "c0",
        "--created-in-netns",
        "--name",
        "eth0",
        "--master",
        "brx",
        "--ipv4",
        "198.51.100.10/24",
        "--ipv6",
        "fd00:5::10/64",
        "--gateway",
        "198.51.100.1",
        "--announce-count",
        "1",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["master"], "brx");
    assert!(k.ip(&["route"]).contains("default via 198.51.100.1"));
    let list = k.nsplumb(&["--json", "list", "--netns", &k.ns]);
    assert_eq!(list.code, 0);
    let arr = list.json();
    let eth0 = arr
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ifname"] == "eth0")
        .unwrap()
        .clone();
    assert_eq!(eth0["source"], "c0");
    assert_eq!(eth0["master"], "brx");
    let stats = k.nsplumb(&["--json", "stats", "--netns", &k.ns, "--name", "eth0"]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert!(stats.json()[0]["stats64"]["tx"]["packets"].is_u64());
    // Detach both; everything is back (the bridge deleted, c0 renamed back).
    assert_eq!(
        k.nsplumb(&["detach", "--netns", &k.ns, "--name", "eth0"])
            .code,
        0
    );
    assert_eq!(
        k.nsplumb(&["detach", "--netns", &k.ns, "--name", "brx"])
            .code,
        0
    );
    let links = k.links();
    assert!(
        links.contains("c0") && !links.contains("brx") && !links.contains("eth0"),
        "{links:?}"
    );
    // 1: detaching again.
    assert_eq!(
        k.nsplumb(&["detach", "--netns", &k.ns, "--name", "eth0"])
            .code,
        1
    );
}

// SPEC: A2
#[test]
fn a_host_link_moves_in_and_back_out() {
    if !root_or_skip("a_host_link_moves_in_and_back_out") {
        return;
    }
    let k = Kernel::new();
    // A veth whose host end lives in the host only for this test; its peer is in the private
    // namespace, so deleting the namespace removes the pair even if the test fails.
    let host_end = format!("nsplh{}", &random_suffix()[..6]);
    let st = Command::new("ip")
        .args([
            "link", "add", &host_end, "type", "veth", "peer", "name", "hp0", "netns", &k.ns,
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let r = k.nsplumb(&[
        "--json",
        "attach",
        "--netns",
        &k.ns,
        "--link",
        &host_end,
        "--prefix",
        "eth",
        "--ipv4",
        "192.0.2.40/24",
        "--announce-count",
        "0",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["name"], "eth0");
    assert!(k.links().contains("eth0"));
    let r = k.nsplumb(&["detach", "--netns", &k.ns, "--name", "eth0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let st = Command::new("ip")
        .args(["link", "show", &host_end])
        .output()
        .unwrap();
    assert!(st.status.success(), "{host_end} is back in the host");
    let _ = Command::new("ip").args(["link", "del", &host_end]).status();
}

/// A crashed announcing process (SIGKILL) leaves a stale pid: a later detach ignores it.
#[test]
fn a_crashed_attach_process_leaves_nothing_a_detach_cannot_clean_up() {
    if !root_or_skip("a_crashed_attach_process_leaves_nothing_a_detach_cannot_clean_up") {
        return;
    }
    let k = Kernel::new();
    k.veth("a0", "b0", true);
    let mut child = k
        .cmd(&[
            "--json",
            "attach",
            "--netns",
            &k.ns,
            "--link",
            "a0",
            "--created-in-netns",
            "--name",
            "eth0",
            "--ipv4",
            "192.0.2.12/24",
            "--announce-interval-ms",
            "2000",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("eth0"), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();
    let r = k.nsplumb(&["detach", "--netns", &k.ns, "--name", "eth0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(k.links().contains("a0"));
}

/// One lock per namespace: a held lock on namespace A blocks attaches to A only.
// SPEC: A16
#[test]
fn different_namespaces_never_wait_for_each_other() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    if !root_or_skip("different_namespaces_never_wait_for_each_other") {
        return;
    }
    let a = Kernel::new();
    let b = Kernel {
        ns: format!("nspl-cli-{}", random_suffix()),
        state: tempfile::tempdir().unwrap(),
    };
    assert_eq!(a.nsplumb(&["netns", "add", &b.ns]).code, 0);
    a.veth("x0", "y0", false);
    b.veth("x0", "y0", false);
    let md = std::fs::metadata(format!("/run/netns/{}", a.ns)).unwrap();
    let lock_path = a
        .state
        .path()
        .join(format!("ns-{}-{}.lock", md.dev(), md.ino()));
    let lock = std::fs::File::create(&lock_path).unwrap();
    // SAFETY: a valid fd.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let args = |ns: &str| {
        vec![
            "attach".to_string(),
            "--netns".into(),
            ns.to_string(),
            "--link".into(),
            "x0".into(),
            "--created-in-netns".into(),
            "--prefix".into(),
            "eth".into(),
            "--announce-count".into(),
            "0".into(),
        ]
    };
    let a_args = args(&a.ns);
    let mut waiting = a
        .cmd(&a_args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Namespace B shares the state directory but not the lock.
    let b_args = args(&b.ns);
    let t = Instant::now();
    let mut c = a.cmd(&b_args.iter().map(String::as_str).collect::<Vec<_>>());
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t.elapsed() < Duration::from_secs(3));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "A waits for its lock"
    );
    drop(lock);
    let st = waiting.wait().unwrap();
    assert!(st.success());
    assert!(a.links().contains("eth0"));
    assert!(b.links().contains("eth0"));
}

/// A process killed between the kernel attach and saving its state (the test-only crash hook
/// aborts it there) leaves an intent; a detach from a new process restores the link exactly:
/// the moved link back in the host under its source name, the created veth pair gone.
// SPEC: A15
// SPEC: D1
#[test]
fn a_crash_after_the_kernel_attach_is_undone_by_a_detach_from_a_new_process() {
    if !root_or_skip("a_crash_after_the_kernel_attach_is_undone_by_a_detach_from_a_new_process") {
        return;
    }
    let k = Kernel::new();
    // A second private namespace plays the host: its bridge and veth are the test's own.
    let h = Kernel::new();
    h.ip(&["link", "add", "brt", "type", "bridge"]);
    h.ip(&["link", "set", "brt", "up"]);
    h.veth("hl0", "hp0", true);
    let host_before = h.links();
    let ns_before = k.links();
    k.nsplumb_from(
        &h,
        &[
            "attach",
            "--netns",
            &k.ns,
            "--link",
            "hl0",
            "--name",
            "eth0",
            "--ipv4",
            "192.0.2.50/24",
        ],
        Some("after-kernel-attach"),
    );
    assert_eq!(k.records(), (vec![], 1), "only the intent was saved");
    k.nsplumb_from(
        &h,
        &[
            "attach",
            "--netns",
            &k.ns,
            "--veth-on-bridge",
            "brt",
            "--name",
            "eth1",
        ],
        Some("after-kernel-attach"),
    );
    // The second process recognised eth0 as attached by the dead first one.
    assert_eq!(k.records(), (vec!["eth0".to_string()], 1));
    let ns_links = k.links();
    assert!(
        ns_links.contains("eth0") && ns_links.contains("eth1"),
        "{ns_links:?}"
    );
    let host_links = h.links();
    assert!(!host_links.contains("hl0"), "{host_links:?}");
    assert!(
        host_links.iter().any(|l| l.starts_with("vnsp")),
        "{host_links:?}"
    );

    let r = k.nsplumb_from(&h, &["detach", "--netns", &k.ns, "--name", "eth0"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = k.nsplumb_from(&h, &["detach", "--netns", &k.ns, "--name", "eth1"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        h.links(),
        host_before,
        "hl0 back under its name, no veth host end"
    );
    assert_eq!(k.links(), ns_before);
    assert_eq!(k.records(), (vec![], 0), "nothing left in the state");
}

/// A process killed after saving its intent but before touching the kernel: the next one
/// drops the intent, the same name attaches again, nothing is left.
#[test]
fn a_crash_before_the_kernel_attach_leaves_the_name_free() {
    if !root_or_skip("a_crash_before_the_kernel_attach_leaves_the_name_free") {
        return;
    }
    let k = Kernel::new();
    let h = Kernel::new();
    k.veth("a0", "b0", true);
    let before = k.snapshot();
    let attach = [
        "attach",
        "--netns",
        &k.ns,
        "--link",
        "a0",
        "--created-in-netns",
        "--name",
        "eth0",
        "--announce-count",
        "0",
    ];
    k.nsplumb_from(&h, &attach, Some("before-kernel-attach"));
    assert_eq!(k.records(), (vec![], 1), "the intent was saved");
    assert_eq!(k.snapshot(), before, "the kernel was not touched");
    let r = k.nsplumb_from(&h, &attach, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(k.links().contains("eth0"));
    assert_eq!(k.records(), (vec!["eth0".to_string()], 0));
    let r = k.nsplumb_from(&h, &["detach", "--netns", &k.ns, "--name", "eth0"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(k.links().contains("a0") && !k.links().contains("eth0"));
    assert_eq!(k.records(), (vec![], 0));
}

/// Gateways set by one process are replaced by the next (one default route per family) and
/// removed with the interface that carries them, from another process.
// SPEC: G1
// SPEC: G4
#[test]
fn gateways_are_kept_between_processes_on_the_kernel() {
    if !root_or_skip("gateways_are_kept_between_processes_on_the_kernel") {
        return;
    }
    let k = Kernel::new();
    k.veth("a0", "b0", true);
    k.veth("c0", "d0", true);
    let defaults = |k: &Kernel| -> Vec<String> {
        k.ip(&["-4", "route", "show", "default"])
            .lines()
            .map(|l| l.trim().to_string())
            .collect()
    };
    let attach = |link: &str, name: &str, ip: &str, gw: &str| {
        let r = k.nsplumb(&[
            "attach",
            "--netns",
            &k.ns,
            "--link",
            link,
            "--created-in-netns",
            "--name",
            name,
            "--ipv4",
            ip,
            "--gateway",
            gw,
            "--announce-count",
            "0",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    };
    attach("a0", "eth0", "192.0.2.61/24", "192.0.2.1");
    let d = defaults(&k);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].contains("via 192.0.2.1 dev eth0"), "{d:?}");
    // A new process replaces it rather than failing with "file exists".
    attach("c0", "eth1", "198.51.100.2/24", "198.51.100.1");
    let d = defaults(&k);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].contains("via 198.51.100.1 dev eth1"), "{d:?}");
    assert_eq!(
        k.state_file()["gateways"].as_array().map(|a| a.len()),
        Some(1)
    );
    let r = k.nsplumb(&["detach", "--netns", &k.ns, "--name", "eth1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(defaults(&k), Vec::<String>::new());
    assert_eq!(
        k.state_file()["gateways"],
        Value::Null,
        "no gateway recorded"
    );
    let r = k.nsplumb(&["detach", "--netns", &k.ns, "--name", "eth0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// A link deleted behind nsplumb's back: a detach from a new process reports it, the name
/// stays reserved across processes until `forget`.
// SPEC: D3
#[test]
fn a_vanished_interface_stays_reserved_until_forgotten_on_the_kernel() {
    if !root_or_skip("a_vanished_interface_stays_reserved_until_forgotten_on_the_kernel") {
        return;
    }
    let k = Kernel::new();
    k.veth("a0", "b0", true);
    k.veth("c0", "d0", true);
    let attach = |link: &str| {
        let r = k.nsplumb(&[
            "--json",
            "attach",
            "--netns",
            &k.ns,
            "--link",
            link,
            "--created-in-netns",
            "--prefix",
            "eth",
            "--announce-count",
            "0",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.json()["name"].as_str().unwrap().to_string()
    };
    assert_eq!(attach("a0"), "eth0");
    k.ip(&["link", "del", "eth0"]);
    let r = k.nsplumb(&["detach", "--netns", &k.ns, "--name", "eth0"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("vanished") && r.stderr.contains("eth0") && r.stderr.contains(&k.ns),
        "{}",
        r.stderr
    );
    assert_eq!(k.records(), (vec!["eth0".to_string()], 0));
    assert_eq!(attach("c0"), "eth1", "eth0 stays reserved");
    let r = k.nsplumb(&["forget", "--netns", &k.ns, "--name", "eth0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(k.records(), (vec!["eth1".to_string()], 0));
    let r = k.nsplumb(&["detach", "--netns", &k.ns, "--name", "eth1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// A detach killed before the kernel keeps the record (a retry restores the link); one killed
/// after the kernel leaves nothing behind, and the name attaches again.
// SPEC: D1
// SPEC: D2
#[test]
fn a_crashed_detach_can_be_retried_or_is_complete_on_the_kernel() {
    if !root_or_skip("a_crashed_detach_can_be_retried_or_is_complete_on_the_kernel") {
        return;
    }
    let k = Kernel::new();
    let h = Kernel::new();
    h.veth("hl0", "hp0", true);
    let host_before = h.links();
    let attach = [
        "attach",
        "--netns",
        &k.ns,
        "--link",
        "hl0",
        "--name",
        "eth0",
        "--announce-count",
        "0",
    ];
    let detach = ["detach", "--netns", &k.ns, "--name", "eth0"];
    let r = k.nsplumb_from(&h, &attach, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    k.nsplumb_from(&h, &detach, Some("before-kernel-detach"));
    assert_eq!(k.state_file()["interfaces"][0]["phase"], "detaching");
    assert!(k.links().contains("eth0"));
    let r = k.nsplumb_from(&h, &detach, None);
    assert_eq!(r.code, 0, "the retry detaches: {}", r.stderr);
    assert_eq!(h.links(), host_before);
    assert_eq!(k.records(), (vec![], 0));

    let r = k.nsplumb_from(&h, &attach, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    k.nsplumb_from(&h, &detach, Some("after-kernel-detach"));
    assert_eq!(h.links(), host_before, "hl0 is back in the host");
    let r = k.nsplumb_from(&h, &detach, None);
    assert_eq!(r.code, 1, "a clear error (D2): {}", r.stderr);
    assert!(r.stderr.contains("eth0"), "{}", r.stderr);
    assert_eq!(k.records(), (vec![], 0));
    let r = k.nsplumb_from(&h, &attach, None);
    assert_eq!(r.code, 0, "the name is free again: {}", r.stderr);
    let r = k.nsplumb_from(&h, &detach, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// The state file is named after the namespace's nsfs inode, which the kernel gives to the
/// next namespace as soon as one is deleted: records of a namespace deleted outside nsplumb
/// (`ip netns del`, a container gone) must not hold names in the new one. The namespace
/// cookie tells them apart.
// SPEC: N4
#[test]
fn a_namespace_recreated_under_the_same_inode_starts_with_no_records() {
    if !root_or_skip("a_namespace_recreated_under_the_same_inode_starts_with_no_records") {
        return;
    }
    let k = Kernel::new();
    let attach = |link: &str| {
        k.nsplumb(&[
            "attach",
            "--netns",
            &k.ns,
            "--link",
            link,
            "--created-in-netns",
            "--name",
            "eth0",
            "--announce-count",
            "0",
        ])
    };
    let inode = || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/run/netns/{}", k.ns))
            .unwrap()
            .ino()
    };
    k.veth("a0", "b0", true);
    let r = attach("a0");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let before = inode();
    for args in [vec!["netns", "del", &k.ns], vec!["netns", "add", &k.ns]] {
        let st = Command::new("ip").args(&args).status().unwrap();
        assert!(st.success(), "ip {args:?}");
    }
    let after = inode();
    eprintln!("inode before {before}, after {after} (the kernel reuses it at once)");
    k.ip(&["link", "set", "lo", "up"]);
    k.veth("c0", "d0", true);
    let r = attach("c0");
    assert_eq!(
        r.code, 0,
        "the old namespace's eth0 held the name: {}",
        r.stderr
    );
    assert_eq!(k.records(), (vec!["eth0".to_string()], 0));
    let r = k.nsplumb(&["detach", "--netns", &k.ns, "--name", "eth0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(k.links().contains("c0"), "renamed back: {:?}", k.links());
}
