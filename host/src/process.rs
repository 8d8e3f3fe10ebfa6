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

    /// Every thread of the process has exited or is in its exit (the kernel's `PF_EXITING`):
    /// none can return to user space, so it cannot send any more. The leader alone turns
    /// zombie before the other threads are done, so each thread is checked. An exit is not
    /// waited for to its end: closing an `AF_PACKET` socket there waits for an RCU grace
    /// period (6–20 ms), which would otherwise be the waiter's (a DEL's) too.
    pub fn is_exiting_or_gone(&self) -> bool {
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
            if task_may_run_user_code(&stat) {
                return false;
            }
        }
        true
    }

    /// Send `signal` if the process is still the recorded one; false when it is not.
    pub fn signal(&self, signal: Signal) -> bool {
        self.is_alive() && kill(Pid::from_raw(self.pid as i32), signal).is_ok()
    }

    /// SIGTERM, then wait until every thread has exited or is exiting (at most `timeout`);
    /// SIGKILL as the last resort, since it must not send after a detach returns (SPEC S8). A
    /// stale pid and this process itself are left alone. True once it cannot send any more.
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
            if self.is_exiting_or_gone() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The kernel's flag of a task in `do_exit` (`include/linux/sched.h`).
const PF_EXITING: u64 = 0x4;

/// Whether the task of a `/proc/PID/task/TID/stat` line may still run in user space: not a
/// zombie, not dead, not exiting.
fn task_may_run_user_code(stat: &str) -> bool {
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    let mut fields = rest.split_whitespace();
    let state = fields.next();
    // Field 9 (flags), the sixth after the state.
    let flags = fields.nth(5).and_then(|f| f.parse::<u64>().ok());
    !matches!(state, Some("Z") | Some("X") | Some("x") | None)
        && flags.is_none_or(|f| f & PF_EXITING == 0)
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
        assert!(!gone.is_alive() && gone.is_exiting_or_gone());
        assert!(gone.terminate(Duration::from_millis(10)));
        let me = ProcessRef::me().unwrap();
        assert!(me.is_alive() && me.is_me() && !me.is_exiting_or_gone());
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

    // SPEC: S8 (no frame after DEL returns: a thread in its exit cannot send)
    #[test]
    fn a_task_in_its_exit_cannot_run_user_code_any_more() {
        // Fields of /proc/PID/task/TID/stat up to the flags (field 9), as Linux 6.1 writes them.
        let running = "4242 (nsplumb-cni) S 1 4242 4242 0 -1 4194560 207 0 0 0";
        let exiting = "4242 (nsplumb-cni) D 1 4242 4242 0 -1 4194564 207 0 0 0";
        let zombie = "4242 (nsplumb-cni) Z 1 4242 4242 0 -1 4228108 207 0 0 0";
        let odd_name = "4242 (a) b (c)) R 1 4242 4242 0 -1 4194560 207 0 0 0";
        assert!(task_may_run_user_code(running));
        assert!(!task_may_run_user_code(exiting), "PF_EXITING (0x4) set");
        assert!(!task_may_run_user_code(zombie));
        assert!(
            task_may_run_user_code(odd_name),
            "the name ends at the last ')'"
        );
        assert!(!task_may_run_user_code("garbage"));
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
