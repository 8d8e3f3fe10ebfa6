//! Smoke test of the real binary in a terminal, driven with tmux: start the TUI on the
//! simulator, open the help, attach an interface through the form (including an inline
//! validation error), watch the announcements finish, detach it, quit.
//! Without tmux: a loud SKIP line, or a failure when `CI=true`.

use std::process::Command;
use std::time::{Duration, Instant};

struct Session {
    name: String,
}

impl Session {
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }
    fn literal(&self, text: &str) {
        self.tmux(&["send-keys", "-t", &self.name, "-l", text]);
    }
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", &self.name])
    }
    /// Wait until the screen no longer shows `needle` (at most 10 s).
    fn wait_gone(&self, needle: &str) {
        let t = Instant::now();
        while self.screen().contains(needle) {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{needle:?} stays on screen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the screen shows `needle` (at most 10 s).
    fn wait_for(&self, needle: &str) -> String {
        let t = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            if t.elapsed() > Duration::from_secs(10) {
                panic!("screen never showed {needle:?}:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

#[test]
fn tui_in_tmux_attach_announce_detach() {
    if Command::new("tmux").arg("-V").output().is_err() {
        nsplumb_test_skip::cannot_run(
            "tui_in_tmux_attach_announce_detach",
            "tmux not installed (.ci/install-deps installs it)",
        );
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let s = Session {
        name: format!("nsplumb-smoke-{}", std::process::id()),
    };
    let cmd = format!(
        "NSPLUMB_STATE_DIR={} {}",
        state.path().display(),
        env!("CARGO_BIN_EXE_nsplumb")
    );
    let st = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &s.name,
            "-x",
            "120",
            "-y",
            "40",
            &cmd,
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let screen = s.wait_for("br0");
    assert!(screen.contains("Interfaces") && screen.contains("ctr1") && screen.contains("ctr3"));
    assert!(screen.contains("192.0.2.1/24"), "{screen}");

    // Help overlay.
    s.keys(&["?"]);
    s.wait_for("this help");
    // `?` closes it too (an Escape followed at once by a key would read as Alt+key).
    s.keys(&["?"]);
    s.wait_gone("this help");

    // Attach form: namespace ctr1 (the default), a veth on br0, prefix eth, an IPv4 address,
    // first with an invalid announce count.
    s.keys(&["a"]);
    s.wait_for("Attach an interface");
    for _ in 0..6 {
        s.keys(&["Down"]);
    }
    s.literal("192.0.2.77/24");
    for _ in 0..7 {
        s.keys(&["Down"]);
    }
    s.keys(&["BSpace"]);
    s.literal("4");
    s.keys(&["Enter"]);
    s.wait_for("announce count 4 is not in the range 0 to 3");
    s.keys(&["BSpace"]);
    s.literal("3");
    s.keys(&["Down", "BSpace", "BSpace", "BSpace", "BSpace"]);
    s.literal("200");
    s.keys(&["Enter"]);
    s.wait_for("attached vnsp");
    let screen = s.wait_for("192.0.2.77/24");
    assert!(screen.contains("eth0"), "{screen}");

    // Announcement progress, driven by the plumber's events.
    s.keys(&["3"]);
    let screen = s.wait_for("done");
    assert!(screen.contains("3/3"), "{screen}");

    // Detach it from the interfaces view, showing namespace ctr1 only (n: host, then ctr1).
    s.keys(&["1"]);
    s.wait_for("all namespaces");
    s.keys(&["n"]);
    s.wait_for("namespace host");
    s.keys(&["n"]);
    s.wait_for("namespace ctr1 (1/2)");
    s.keys(&["G"]);
    s.wait_for("namespace ctr1 (2/2)");
    s.keys(&["d"]);
    s.wait_for("detached");
    let t = Instant::now();
    while s.screen().contains("192.0.2.77") {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "eth0 is gone after detach"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Quit: the session ends.
    s.keys(&["q"]);
    let t = Instant::now();
    while Command::new("tmux")
        .args(["has-session", "-t", &s.name])
        .status()
        .map(|st| st.success())
        .unwrap_or(false)
    {
        assert!(t.elapsed() < Duration::from_secs(5), "nsplumb quit on q");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Logs went to the file, not to the terminal.
    assert!(state.path().join("nsplumb.log").exists());
}
