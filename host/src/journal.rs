//! The simulator's journal: its kernel, kept between processes.
//!
//! The simulated kernel lives in one process's memory, so every process rebuilds it by
//! replaying the kernel changes that earlier processes made, in order. `sim-journal` (in the
//! state directory) holds one JSON object per line, `{"<change>": {fields}}`: a `format` line
//! first, then one line per change, appended as soon as the change is made (so a process that dies right after a change
//! leaves it in the journal, as the kernel would keep it). `sim-journal.lock` is held
//! exclusively from the replay until the last append of the process.
//!
//! A line that does not read back is an error naming the file, the line and the field (SPEC R3):
//! replaying a half-read line would build another kernel than the one the records describe.
//! Only a last line cut short (no newline: a writer died mid-write) is skipped.

use crate::lock::FileLock;
use crate::HostBackend;
use nsplumb_core::{Destination, NetnsRef, Plumber, RouteSpec, Spec};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The format written and read; a journal without a `format` line is of the format before
/// (whose unknown source kinds replayed as a host link move).
pub const JOURNAL_VERSION: u32 = 2;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Entry {
    /// The first line.
    Format {
        version: u32,
    },
    NetnsAdd {
        name: String,
    },
    NetnsDel {
        netns: NetnsRef,
    },
    /// An attach as asked for, with the name it got.
    Attach {
        netns: NetnsRef,
        name: String,
        spec: Box<Spec>,
    },
    /// An attach that failed in the kernel and was rolled back: replayed too, so that whatever
    /// it consumed in the simulated kernel (random MACs, interface indices) is consumed again.
    AttachFailed {
        netns: NetnsRef,
        spec: Box<Spec>,
    },
    Detach {
        netns: NetnsRef,
        name: String,
    },
    Gateway {
        netns: NetnsRef,
        gateway: IpAddr,
    },
    /// A route removed by a later process than the one that set it (G1, G4).
    DelRoute {
        netns: NetnsRef,
        route: RouteSpec,
    },
    /// SPEC D3: a vanished interface forgotten (registry only; replayed for naming).
    Forget {
        netns: NetnsRef,
        name: String,
    },
}

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot use the sim journal {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("the sim journal {} is corrupt: line {line}: {field}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        field: String,
        reason: String,
    },
    #[error("the sim journal {} was written by an older nsplumb (format {found}, this one reads {JOURNAL_VERSION}): remove it to start the simulated host afresh", path.display())]
    Older { path: PathBuf, found: String },
    #[error("cannot append to the sim journal {}: it was released (the lock is no longer held)", path.display())]
    Released { path: PathBuf },
}

/// The journal of one state directory; holds its lock while alive.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    lock: Option<FileLock>,
}

impl Journal {
    /// Take the journal lock (blocking).
    pub fn open(dir: &Path) -> Result<Journal, JournalError> {
        let path = dir.join("sim-journal");
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let lock = FileLock::acquire(&dir.join("sim-journal.lock")).map_err(io)?;
        Ok(Journal {
            path,
            lock: Some(lock),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every change, in order (the `format` line left out).
    pub fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(JournalError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let entries = parse(&self.path, &text)?;
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        if whole < text.len() {
            // Cut the torn line off, so that the next append starts a line of its own.
            let f = std::fs::OpenOptions::new().write(true).open(&self.path);
            f.and_then(|f| f.set_len(whole as u64))
                .map_err(|source| JournalError::Io {
                    path: self.path.clone(),
                    source,
                })?;
        }
        Ok(entries)
    }

    /// Append one change (the `format` line first if the journal is new), synced to disk.
    pub fn append(&self, entry: &Entry) -> Result<(), JournalError> {
        if self.lock.is_none() {
            return Err(JournalError::Released {
                path: self.path.clone(),
            });
        }
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        let mut text = String::new();
        if f.metadata().map_err(io)?.len() == 0 {
            text.push_str(&line(&Entry::Format {
                version: JOURNAL_VERSION,
            }));
        }
        text.push_str(&line(entry));
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_data().map_err(io)
    }

    /// Let other processes in (after the last append of this process).
    pub fn release(&mut self) {
        self.lock = None;
    }
}

fn line(entry: &Entry) -> String {
    let mut s = serde_json::to_string(entry).expect("journal entries serialize");
    s.push('\n');
    s
}

/// The changes in a journal's text, checked as [`Journal::entries`] checks them (a last line
/// without a newline is skipped, not an error); `path` only names the file in errors. Public so
/// that the check can be run on text without a file or its lock (the fuzz target
/// `journal_lines`, SPEC R3).
pub fn parse(path: &Path, text: &str) -> Result<Vec<Entry>, JournalError> {
    let mut entries = Vec::new();
    let mut format_read = false;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, raw) in lines.iter().enumerate() {
        let number = i + 1;
        if !raw.ends_with('\n') {
            // The last line, cut short by a writer that died: the change it describes was made
            // by nobody who lived to rely on it.
            tracing::warn!(path = %path.display(), line = number, "skipping a journal line cut short");
            break;
        }
        if raw.trim().is_empty() {
            continue;
        }
        let de = &mut serde_json::Deserializer::from_str(raw);
        let entry: Result<Entry, _> = serde_path_to_error::deserialize(&mut *de);
        // One change per line, read to its end: a line holding more (two changes run together
        // when a newline was lost) is corrupt, not its first change.
        if let (Ok(_), Err(e)) = (&entry, de.end()) {
            return Err(JournalError::Corrupt {
                path: path.into(),
                line: number,
                field: "the line".into(),
                reason: e.to_string(),
            });
        }
        // The first line that is not blank is the format line: blank lines before it do not
        // make a journal without one readable.
        let first = !std::mem::replace(&mut format_read, true);
        match (first, entry) {
            (true, Ok(Entry::Format { version })) if version == JOURNAL_VERSION => {}
            (true, Ok(Entry::Format { version })) => {
                return Err(JournalError::Older {
                    path: path.into(),
                    found: version.to_string(),
                })
            }
            (true, _) => {
                return Err(JournalError::Older {
                    path: path.into(),
                    found: "1, without a format line".into(),
                })
            }
            (_, Ok(Entry::Format { .. })) => {
                return Err(JournalError::Corrupt {
                    path: path.into(),
                    line: number,
                    field: "format".into(),
                    reason: "a second format line".into(),
                })
            }
            (_, Ok(entry)) => entries.push(entry),
            (_, Err(e)) => {
                let field = e.path().to_string();
                return Err(JournalError::Corrupt {
                    path: path.into(),
                    line: number,
                    field,
                    reason: e.into_inner().to_string(),
                });
            }
        }
    }
    Ok(entries)
}

/// Rebuild the simulated kernel: every change, in order, on `plumber` (one used for nothing
/// else: nsplumb's own records come from the state files, as on Linux). Attaches use the name
/// they got the first time and announce nothing. A change that fails again is logged and
/// skipped (the same input gives the same result every time).
pub async fn replay<B: HostBackend>(plumber: &Plumber<B>, entries: &[Entry]) {
    let backend = plumber.backend();
    for entry in entries {
        let r: Result<(), String> = match entry {
            Entry::Format { .. } => Ok(()),
            Entry::NetnsAdd { name } => backend
                .create_netns(name)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Entry::NetnsDel { netns } => {
                backend.delete_netns(netns).await.map_err(|e| e.to_string())
            }
            Entry::Attach { netns, name, spec } => {
                let mut spec = replay_spec(spec);
                spec.destination = Destination::Name(name.clone());
                plumber
                    .attach(netns, spec)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Entry::AttachFailed { netns, spec } => {
                let _ = plumber.attach(netns, replay_spec(spec)).await;
                Ok(())
            }
            Entry::Detach { netns, name } => {
                plumber.detach(netns, name).await.map_err(|e| e.to_string())
            }
            Entry::Gateway { netns, gateway } => plumber
                .set_gateway(netns, Some(*gateway))
                .await
                .map_err(|e| e.to_string()),
            Entry::DelRoute { netns, route } => plumber
                .delete_route(netns, route)
                .await
                .map_err(|e| e.to_string()),
            Entry::Forget { netns, name } => {
                plumber.forget(netns, name);
                Ok(())
            }
        };
        if let Err(err) = r {
            tracing::warn!(?entry, "journal replay step failed: {err}");
        }
    }
}

/// Replayed attaches send nothing: the frames went out when the change was made.
fn replay_spec(spec: &Spec) -> Spec {
    Spec {
        announce_count: 0,
        ..spec.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsplumb_core::Source;

    fn attach_entry() -> Entry {
        Entry::Attach {
            netns: NetnsRef::path("/run/netns/ctr1"),
            name: "eth0".into(),
            spec: Box::new(Spec::new(
                Source::VethOnBridge {
                    bridge: "br0".into(),
                    host_name: "vnsp00000001".into(),
                },
                Destination::Prefix("eth".into()),
            )),
        }
    }

    #[test]
    fn entries_read_back_as_appended_after_a_format_line() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.entries().unwrap(), vec![]);
        let forget = Entry::Forget {
            netns: NetnsRef::Host,
            name: "dummy0".into(),
        };
        j.append(&attach_entry()).unwrap();
        j.append(&forget).unwrap();
        let text = std::fs::read_to_string(j.path()).unwrap();
        assert!(text.starts_with(r#"{"format":{"version":2}}"#), "{text}");
        assert_eq!(j.entries().unwrap(), vec![attach_entry(), forget]);
    }

    /// An unknown source kind used to replay as a host link move; now it is an error naming
    /// the file, the line and the field, and nothing is replayed.
    // SPEC: R3
    #[test]
    fn a_line_that_does_not_read_back_is_an_error_naming_the_line_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.append(&attach_entry()).unwrap();
        let good = std::fs::read_to_string(j.path()).unwrap();
        let cases = [
            (
                good.replace("veth_on_bridge", "veth_on_brige"),
                "line 2: attach.spec.source",
                "veth_on_brige",
            ),
            (
                good.replace("\"eth\"", "7"),
                "line 2: attach.spec.destination.prefix",
                "invalid type",
            ),
            (good.replace("\"attach\"", "\"attack\""), "line 2", "attack"),
            (
                good.replace("\"netns\":\"/run", "\"netns\":\"\\u0000/run"),
                "line 2: attach.netns",
                "NUL",
            ),
            (
                format!("{good}{{\"format\":{{\"version\":2}}}}\n"),
                "line 3: format",
                "second format line",
            ),
        ];
        for (text, place, what) in cases {
            assert_ne!(text, good, "{place}: the case changes nothing");
            std::fs::write(j.path(), &text).unwrap();
            let e = j.entries().unwrap_err().to_string();
            assert!(
                e.contains(&*j.path().to_string_lossy()) && e.contains(place) && e.contains(what),
                "{place}: {e}"
            );
        }
        // The line of the older format is refused as such.
        let older = r#"{"op":"attach","netns":"/run/netns/ctr1","name":"eth0","spec":{"source_kind":"brige","source":"dummy0","mac":null,"ipv4":null,"ipv6":null,"master":null,"announce_count":0,"announce_interval_ms":1000}}"#;
        std::fs::write(j.path(), format!("{older}\n")).unwrap();
        let e = j.entries().unwrap_err().to_string();
        assert!(e.contains("older nsplumb"), "{e}");
    }

    /// Found by the fuzz target `journal_lines`: a line holding a change and more after it (two
    /// changes run together) replayed its first change and dropped the rest. Seen while writing
    /// that target's properties: blank lines before the first line let a journal without a
    /// format line be read.
    // SPEC: R3
    #[test]
    fn a_line_is_read_to_its_end_and_the_first_line_that_is_not_blank_is_the_format() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let forget = r#"{"forget":{"netns":"host","name":"dummy0"}}"#;
        let format = r#"{"format":{"version":2}}"#;
        let cases = [
            (format!("{format}\n{forget}{forget}\n"), "line 2: the line"),
            (format!("{format}\n{forget} x\n"), "line 2: the line"),
            (format!("{format}@{forget}\n"), "line 1: the line"),
            (format!("\n{forget}\n"), "format 1, without a format line"),
            (format!("\n \n{format}\n{forget}\n"), ""),
        ];
        for (text, says) in cases {
            std::fs::write(j.path(), &text).unwrap();
            match j.entries() {
                Ok(entries) => {
                    assert!(says.is_empty(), "{text:?} read as {entries:?}");
                    assert_eq!(entries.len(), 1, "{text:?}");
                }
                Err(e) => {
                    let e = e.to_string();
                    assert!(!says.is_empty(), "{text:?}: {e}");
                    assert!(e.contains(says), "{text:?}: {e}");
                }
            }
        }
    }

    #[test]
    fn a_last_line_cut_short_is_skipped_and_a_released_journal_is_not_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(&attach_entry()).unwrap();
        let mut text = std::fs::read_to_string(j.path()).unwrap();
        text.push_str(r#"{"op":"detach","netns":"/run/ne"#);
        std::fs::write(j.path(), &text).unwrap();
        assert_eq!(j.entries().unwrap(), vec![attach_entry()]);
        j.append(&attach_entry()).unwrap();
        assert_eq!(j.entries().unwrap(), vec![attach_entry(), attach_entry()]);
        j.release();
        let e = j.append(&attach_entry()).unwrap_err().to_string();
        assert!(e.contains("released"), "{e}");
    }
}
