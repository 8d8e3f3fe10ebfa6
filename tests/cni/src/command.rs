//! Running an external program (plugin, podman, ctr, ip) with a deadline and its output
//! captured: a runtime that hangs must fail the test, not hold CI until its 90 minutes pass.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::Pid;

use crate::error::{HarnessError, Result};

/// Default deadline of one external command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A finished process: how it ended, what it printed, how long it ran (spawn to exit).
#[derive(Debug, Clone)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Finished {
    /// The exit code, or `128 + signal` when it was killed by a signal.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| 128 + self.status.signal().unwrap_or(0))
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }
}

/// A command with a label (what it is for), a deadline and optional bytes for its stdin.
pub struct Cmd {
    command: Command,
    what: String,
    timeout: Duration,
    stdin: Option<Vec<u8>>,
}

impl Cmd {
    /// `what` says what the command does for the test ("podman run keeper"); it prefixes errors.
    pub fn new(what: impl Into<String>, program: impl AsRef<std::ffi::OsStr>) -> Self {
        Cmd {
            command: Command::new(program),
            what: what.into(),
            timeout: DEFAULT_TIMEOUT,
            stdin: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn env(
        mut self,
        key: impl AsRef<std::ffi::OsStr>,
        val: impl AsRef<std::ffi::OsStr>,
    ) -> Self {
        self.command.env(key, val);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env_remove(key);
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        let mut s = self.command.get_program().to_string_lossy().into_owned();
        for a in self.command.get_args() {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Run to completion (or the deadline, then SIGKILL and [`HarnessError::Timeout`]),
    /// whatever the exit status.
    pub fn run(mut self) -> Result<Finished> {
        let program = self.display();
        self.command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = self.command.spawn().map_err(|source| HarnessError::Spawn {
            what: self.what.clone(),
            program: program.clone(),
            source,
        })?;
        if let Some(bytes) = self.stdin.take() {
            let mut pipe = child.stdin.take().expect("stdin was piped");
            // A plugin may exit without reading its stdin: a broken pipe is its answer, not ours.
            let _ = pipe.write_all(&bytes);
        }
        let stdout = reader(child.stdout.take().expect("stdout was piped"));
        let stderr = reader(child.stderr.take().expect("stderr was piped"));
        let (status, timed_out) = wait_with_deadline(&mut child, self.timeout);
        let elapsed = started.elapsed();
        let stdout = collect(stdout);
        let stderr = collect(stderr);
        if timed_out {
            return Err(HarnessError::Timeout {
                what: self.what,
                program,
                after: self.timeout,
                stderr,
            });
        }
        Ok(Finished {
            status,
            stdout,
            stderr,
            elapsed,
        })
    }

    /// Run and require exit status 0; returns the output.
    pub fn ok(self) -> Result<Finished> {
        let what = self.what.clone();
        let command = self.display();
        let done = self.run()?;
        if !done.success() {
            return Err(HarnessError::Failed {
                what,
                command,
                status: done.status.to_string(),
                stdout: done.stdout,
                stderr: done.stderr,
            });
        }
        Ok(done)
    }

    /// Start without waiting (stdout and stderr to `log`, stdin closed): for daemons and for
    /// foreground runtimes the test stops itself (`ctr run` of a long-lived task).
    pub fn spawn_logged(mut self, log: &std::path::Path) -> Result<Child> {
        let program = self.display();
        let out = std::fs::File::create(log).map_err(HarnessError::io("create log", log))?;
        let err = out
            .try_clone()
            .map_err(HarnessError::io("duplicate log fd", log))?;
        self.command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                what: self.what,
                program,
                source,
            })
    }
}

/// Wait for `child`; kill it at the deadline (then the flag is true). The exit is observed with `WNOWAIT` first so the
/// watchdog can never signal a reaped (and possibly reused) pid.
pub(crate) fn wait_with_deadline(child: &mut Child, timeout: Duration) -> (ExitStatus, bool) {
    let pid = Pid::from_raw(child.id() as i32);
    let exited = Arc::new(Mutex::new(false));
    let killed = Arc::new(Mutex::new(false));
    let (cancel, cancelled) = mpsc::channel::<()>();
    let watchdog = {
        let exited = Arc::clone(&exited);
        let killed = Arc::clone(&killed);
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(timeout) {
                let exited = exited.lock().expect("exited flag");
                if !*exited {
                    let _ = kill(pid, Signal::SIGKILL);
                    *killed.lock().expect("killed flag") = true;
                }
            }
        })
    };
    // Retry only when a signal interrupted the wait.
    while let Err(nix::errno::Errno::EINTR) =
        waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
    {}
    *exited.lock().expect("exited flag") = true;
    let _ = cancel.send(());
    let status = child.wait().expect("reap a child that exited");
    let _ = watchdog.join();
    let timed_out = *killed.lock().expect("killed flag");
    (status, timed_out)
}

/// A pipe read on its own thread, so a full pipe never blocks the child.
struct PipeReader {
    text: Arc<Mutex<Vec<u8>>>,
    eof: mpsc::Receiver<()>,
}

fn reader(mut pipe: impl Read + Send + 'static) -> PipeReader {
    let text = Arc::new(Mutex::new(Vec::new()));
    let (tx, eof) = mpsc::channel();
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("pipe buffer")
                .extend_from_slice(&chunk[..n]);
        }
        let _ = tx.send(());
    });
    PipeReader { text, eof }
}

/// What a pipe carried. A daemon the command started may keep the pipe open after the command
/// exited: then wait at most 200 ms for the end and take what arrived.
fn collect(pipe: PipeReader) -> String {
    let _ = pipe.eof.recv_timeout(Duration::from_millis(200));
    let bytes = pipe.text.lock().expect("pipe buffer");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Fail, naming the Debian package, when a program is not on `PATH`.
pub fn require_programs(needed: &[(&str, &str)]) -> Result<()> {
    for (program, package) in needed {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
            .unwrap_or(false);
        if !found {
            return Err(HarnessError::Invalid {
                what: format!("program {program}"),
                reason: format!("not on PATH: install {package} (.ci/install-deps)"),
            });
        }
    }
    Ok(())
}
