//! Cross-process S8 for a long-lived announcer (the TUI): a detach from another process must
//! stop its announcements before detaching, but must not kill it.
//!
//! The long-lived process records itself as the announcer with `on_request`. The detaching
//! process, holding the namespace lock and having marked the record `detaching`, sends it
//! SIGUSR1 and waits (bounded) for an acknowledgement file `<state file stem>.cancelled-<name>`.
//! The announcer, on SIGUSR1, reads the state files of its namespaces (replaced atomically, so
//! no lock is needed), cancels the announcements of every record that is `detaching` with
//! itself as the announcer (`Plumber::cancel_announce`: no frame after it returns), and writes
//! the acknowledgement.

use crate::announcer::AnnouncerProcess;
use crate::paths::NsFiles;
use crate::process::ProcessRef;
use crate::record::RecordPhase;
use crate::state_file::{self, write_atomic};
use crate::store::Store;
use crate::HostBackend;
use nix::sys::signal::Signal;
use nsplumb_core::{NetnsRef, Plumber};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a detach waits for a long-lived announcer to confirm the cancel.
pub const CANCEL_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Where the announcer confirms that it stopped announcing `name`.
pub fn ack_path(files: &NsFiles, name: &str) -> PathBuf {
    let stem = files
        .state
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    files
        .state
        .with_file_name(format!("{stem}.cancelled-{name}"))
}

/// Detaching side: ask `announcer` to stop announcing `name` and wait until it confirms, it
/// exits, or the timeout passes. True when it confirmed or is gone. Blocking.
pub fn request_cancel(
    announcer: &AnnouncerProcess,
    files: &NsFiles,
    name: &str,
    timeout: Duration,
) -> bool {
    let process = announcer.process();
    if !process.is_alive() {
        return true;
    }
    let ack = ack_path(files, name);
    let _ = std::fs::remove_file(&ack);
    process.signal(Signal::SIGUSR1);
    let deadline = Instant::now() + timeout;
    let confirmed = loop {
        if ack.exists() || process.is_exiting_or_gone() {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = std::fs::remove_file(&ack);
    confirmed
}

/// Announcer side: cancel the announcements of every interface that another process is
/// detaching and that this process announces; confirm each. Returns how many were answered.
pub async fn answer_requests<B: HostBackend>(store: &Store, plumber: &Plumber<B>) -> usize {
    let Some(me) = ProcessRef::me() else { return 0 };
    let namespaces: BTreeSet<NetnsRef> = plumber
        .registry()
        .all_attached()
        .map(|a| a.netns.clone())
        .collect();
    let mut answered = 0;
    for netns in namespaces {
        let Some(files) = store.files(&netns) else {
            continue;
        };
        let st = match state_file::load(&files.state) {
            Ok(Some(st)) => st,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(%netns, "cannot answer cancel requests: {e}");
                continue;
            }
        };
        for record in st.interfaces {
            let mine = record.announcer.is_some_and(|a| a.process() == me);
            if record.phase != RecordPhase::Detaching || !mine {
                continue;
            }
            let name = &record.attached.name;
            plumber.cancel_announce(&netns, name).await;
            if let Err(e) = write_atomic(&ack_path(&files, name), me.pid.to_string().as_bytes()) {
                tracing::warn!(iface = %name, %netns, "cannot confirm the cancel request: {e}");
            }
            answered += 1;
        }
    }
    answered
}

/// Announcer side: answer cancel requests (SIGUSR1) for as long as the runtime lives. Call
/// before recording this process as an `on_request` announcer: until the handler is installed
/// SIGUSR1 would terminate the process.
pub fn spawn_listener<B: HostBackend>(
    store: Arc<Store>,
    plumber: Plumber<B>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut requests = signal(SignalKind::user_defined1())?;
    tokio::spawn(async move {
        while requests.recv().await.is_some() {
            let n = answer_requests(&store, &plumber).await;
            tracing::info!(answered = n, "cancel request answered");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::ns_files;

    #[test]
    fn a_gone_announcer_needs_no_answer() {
        let dir = tempfile::tempdir().unwrap();
        let files = ns_files(dir.path(), &NetnsRef::Host);
        let gone = AnnouncerProcess::on_request(ProcessRef {
            pid: u32::MAX - 1,
            start_time: 1,
        });
        let t = Instant::now();
        assert!(request_cancel(
            &gone,
            &files,
            "eth0",
            Duration::from_secs(5)
        ));
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(ack_path(&files, "eth0")
            .to_string_lossy()
            .ends_with(".cancelled-eth0"));
    }

    /// A long-lived announcer that never answers (hung, or SIGUSR1 ignored): the detach waits
    /// the bounded time, is told "not confirmed" (it goes ahead with a warning), and the
    /// announcer is neither killed nor signalled to death.
    // SPEC: S8
    #[test]
    fn an_announcer_that_does_not_answer_is_waited_for_a_bounded_time_and_left_running() {
        let dir = tempfile::tempdir().unwrap();
        let files = ns_files(dir.path(), &NetnsRef::Host);
        let mut child = std::process::Command::new("sh")
            .args(["-c", "trap '' USR1; echo ready; sleep 30"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The trap is set once the shell has printed.
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready.trim(), "ready");
        let silent = AnnouncerProcess::on_request(ProcessRef::of(child.id()).expect("it runs"));
        let timeout = Duration::from_millis(300);
        let t = Instant::now();
        let confirmed = request_cancel(&silent, &files, "eth0", timeout);
        let waited = t.elapsed();
        let still_running = silent.process().is_alive();
        let _ = child.kill();
        let _ = child.wait();
        assert!(!confirmed, "no answer must not count as a confirmation");
        assert!(waited >= timeout, "gave up after {waited:?}");
        assert!(waited < timeout * 5, "waited {waited:?}");
        assert!(still_running, "the silent announcer was killed");
        assert!(!ack_path(&files, "eth0").exists());
    }
}
