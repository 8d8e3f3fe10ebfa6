//! Child processes with an end (SPEC C10): the IPAM plugin and `nft` run with their input on
//! stdin, their output read up to a limit, and a deadline after which they are killed.

use crate::bounded::{read_to_end_bounded, write_all_bounded, BoundedReadError, PIPE_ATOMIC};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How much a child may print and how long it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub timeout: Duration,
    pub max_output: usize,
}

/// What a child printed on stdout (and, when captured, stderr) and how it ended.
#[derive(Debug)]
pub struct ChildOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a child's run did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("could not start {program}: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{program} did not finish within {timeout:?} and was killed")]
    Timeout { program: PathBuf, timeout: Duration },
    #[error("{program} printed more than {limit} bytes and was killed")]
    TooMuchOutput { program: PathBuf, limit: usize },
    #[error("reading the output of {program} failed: {source}")]
    Io {
        program: PathBuf,
        source: std::io::Error,
    },
}

/// Whether the child's stderr is the plugin's own (a delegate's log lines reach the runtime,
/// as the spec says) or read into [`ChildOutput::stderr`] (to quote in an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stderr {
    Inherit,
    Capture,
}

/// Runs `command` with `input` on its stdin and returns its output, or kills it (and whatever
/// it started: it leads a process group of its own) once it exceeds `limits`.
pub fn run(
    mut command: Command,
    input: &[u8],
    stderr: Stderr,
    limits: Limits,
) -> Result<ChildOutput, ChildError> {
    let program = PathBuf::from(command.get_program());
    let deadline = Instant::now() + limits.timeout;
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .process_group(0);
    command.stderr(match stderr {
        Stderr::Inherit => Stdio::inherit(),
        Stderr::Capture => Stdio::piped(),
    });
    let mut child = command.spawn().map_err(|source| ChildError::Spawn {
        program: program.clone(),
        source,
    })?;
    std::thread::scope(|scope| {
        if let Some(mut stdin) = child.stdin.take() {
            // A child that exits without reading its input is not an error here: its answer is.
            // An input that fits a fresh pipe's buffer is written at once, without a thread.
            if input.len() <= PIPE_ATOMIC {
                let _ = write_all_bounded(&mut stdin, input, deadline);
            } else {
                scope.spawn(move || write_all_bounded(&mut stdin, input, deadline));
            }
        }
        let captured = child.stderr.take().map(|mut err| {
            scope.spawn(move || read_to_end_bounded(&mut err, limits.max_output, deadline))
        });
        let stdout = child.stdout.take().map(|mut out| {
            read_to_end_bounded(&mut out, limits.max_output, deadline)
                .map_err(|e| bounded_error(e, &program, limits))
        });
        let result = stdout
            .unwrap_or(Ok(Vec::new()))
            .and_then(|stdout| {
                let stderr = match captured {
                    Some(handle) => handle
                        .join()
                        .unwrap_or(Ok(Vec::new()))
                        .map_err(|e| bounded_error(e, &program, limits))?,
                    None => Vec::new(),
                };
                Ok((stdout, stderr))
            })
            .and_then(|(stdout, stderr)| {
                let status = wait_until(&mut child, deadline, &program, limits)?;
                Ok(ChildOutput {
                    status,
                    stdout,
                    stderr,
                })
            });
        if result.is_err() {
            // Before the scope joins the helper threads: killing ends their reads and writes.
            kill_group(&mut child);
        }
        result
    })
}

/// SIGKILL to the child's process group, then reap the child.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn bounded_error(e: BoundedReadError, program: &Path, limits: Limits) -> ChildError {
    let program = program.to_path_buf();
    match e {
        BoundedReadError::TooLarge { limit } => ChildError::TooMuchOutput { program, limit },
        BoundedReadError::Timeout { .. } => ChildError::Timeout {
            program,
            timeout: limits.timeout,
        },
        BoundedReadError::Io(source) => ChildError::Io { program, source },
    }
}

/// Waits for the child's exit until `deadline`. The child closed its stdout already, so it is
/// normally exiting: the first checks come quickly.
fn wait_until(
    child: &mut Child,
    deadline: Instant,
    program: &Path,
    limits: Limits,
) -> Result<ExitStatus, ChildError> {
    let mut pause = Duration::from_micros(50);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(source) => {
                return Err(ChildError::Io {
                    program: program.to_path_buf(),
                    source,
                })
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(ChildError::Timeout {
                program: program.to_path_buf(),
                timeout: limits.timeout,
            });
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script]);
        c
    }

    const LIMITS: Limits = Limits {
        timeout: Duration::from_secs(5),
        max_output: 64 * 1024,
    };

    #[test]
    fn the_child_reads_its_input_and_its_output_and_status_come_back() {
        let out = run(
            sh("cat; echo oops >&2; exit 3"),
            b"hello",
            Stderr::Capture,
            LIMITS,
        )
        .unwrap();
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr, b"oops\n");
        assert_eq!(out.status.code(), Some(3));
    }

    // SPEC: C10 (timeouts on child processes)
    #[test]
    fn a_child_that_does_not_finish_is_killed_at_the_deadline() {
        let limits = Limits {
            timeout: Duration::from_millis(200),
            ..LIMITS
        };
        let started = Instant::now();
        let e = run(sh("sleep 30"), b"", Stderr::Inherit, limits).unwrap_err();
        assert!(matches!(e, ChildError::Timeout { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // Closes its stdout but keeps running: the wait for its exit has the same deadline.
        let e = run(sh("exec >&-; sleep 30"), b"", Stderr::Inherit, limits).unwrap_err();
        assert!(matches!(e, ChildError::Timeout { .. }), "{e}");
    }

    // SPEC: C10 (bounded reads)
    #[test]
    fn a_child_that_prints_too_much_is_killed() {
        let limits = Limits {
            max_output: 1000,
            ..LIMITS
        };
        let e = run(sh("yes"), b"", Stderr::Inherit, limits).unwrap_err();
        assert!(
            matches!(e, ChildError::TooMuchOutput { limit: 1000, .. }),
            "{e}"
        );
    }

    #[test]
    fn a_missing_program_is_a_spawn_error_naming_it() {
        let e = run(
            Command::new("/nonexistent/ipam"),
            b"",
            Stderr::Inherit,
            LIMITS,
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ipam"), "{e}");
    }

    #[test]
    fn a_child_that_ignores_a_large_input_does_not_block_the_run() {
        let out = run(
            sh("echo done"),
            &vec![b'x'; 1 << 20],
            Stderr::Inherit,
            LIMITS,
        )
        .unwrap();
        assert_eq!(out.stdout, b"done\n");
    }
}
