//! A process pinned by its pid and start time: the actor of an intent record and the process
//! that still announces an interface. The start time (`/proc/PID/stat` field 22) tells a
//! recycled pid from the process that was recorded.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessRef {
    pub pid: u32,
    pub start_time: u64,
}

impl ProcessRef {
    /// This process (`None` only when `/proc` cannot be read).
    pub fn me() -> Option<ProcessRef> {
        // Read once per process (a start time never changes); a forked child has another pid
        // and reads its own.
        static ME: std::sync::Mutex<Option<ProcessRef>> = std::sync::Mutex::new(None);
        let pid = std::process::id();
        let mut me = ME.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = me.filter(|m| m.pid == pid) {
            return Some(known);
        }
        *me = ProcessRef::of(pid);
        *me
    }

    /// The live process `pid`.
    pub fn of(pid: u32) -> Option<ProcessRef> {
        Some(ProcessRef {
            pid,
            start_time: proc_start_time(pid)?,
        })
    }

    pub fn is_me(&self) -> bool {
        ProcessRef::me() == Some(*self)
    }

    /// Alive and the same process (not a zombie, not a recycled pid).
    pub fn is_alive(&self) -> bool {
        proc_start_time(self.pid) == Some(self.start_time)
    }

    /// Every thread of the process has exited (it is a zombie or gone): it cannot send any
    /// more. The leader alone turns zombie before the other threads are done, so each thread
    /// is checked.
    pub fn has_exited(&self) -> bool {
        if !self.is_alive() && proc_stat(self.pid).map(|(_, start)| start) != Some(self.start_time)
        {
            return true; // gone, or the pid was reused
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return true;
        };
        for t in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
                continue;
            };
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_string));
            if !matches!(state.as_deref(), Some("Z") | Some("X") | Some("x") | None) {
                return false;
            }
        }
        true
    }

    /// Send `signal` if the process is still the recorded one; false when it is not.
    pub fn signal(&self, signal: Signal) -> bool {
        self.is_alive() && kill(Pid::from_raw(self.pid as i32), signal).is_ok()
    }

    /// SIGTERM, then wait until every thread has exited (at most `timeout`); SIGKILL as the last
    /// resort, since it must not send after a detach returns (SPEC S8). A stale pid and this
    /// process itself are left alone. True once it has exited.
    pub fn terminate(&self, timeout: Duration) -> bool {
        if !self.is_alive() || self.pid == std::process::id() {
            return true;
        }
        self.signal(Signal::SIGTERM);
        if self.wait_exit(timeout) {
            return true;
        }
        self.signal(Signal::SIGKILL);
        self.wait_exit(Duration::from_secs(1))
    }

    fn wait_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.has_exited() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Start time of a live (non-zombie) process.
fn proc_start_time(pid: u32) -> Option<u64> {
    let (state, start) = proc_stat(pid)?;
    (!matches!(state.as_str(), "Z" | "X" | "x")).then_some(start)
}

/// State (field 3) and start time (field 22) from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((fields.first()?.to_string(), fields.get(19)?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_pid_is_not_alive_and_needs_no_termination() {
        let gone = ProcessRef {
            pid: u32::MAX - 1,
            start_time: 1,
        };
        assert!(!gone.is_alive() && gone.has_exited());
        assert!(gone.terminate(Duration::from_millis(10)));
        let me = ProcessRef::me().unwrap();
        assert!(me.is_alive() && me.is_me() && !me.has_exited());
    }

    #[test]
    fn a_recycled_pid_is_not_the_recorded_process() {
        let me = ProcessRef::me().unwrap();
        let earlier = ProcessRef {
            start_time: me.start_time.wrapping_sub(1),
            ..me
        };
        assert!(!earlier.is_alive());
        assert!(
            !earlier.signal(Signal::SIGUSR1),
            "no signal to a recycled pid"
        );
    }

    #[test]
    fn terminate_stops_a_child_and_waits_until_it_has_exited() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let p = ProcessRef::of(child.id()).unwrap();
        assert!(p.terminate(Duration::from_secs(3)));
        let status = child.wait().unwrap();
        assert!(!status.success());
    }
}
