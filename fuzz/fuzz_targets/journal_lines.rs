//! SPEC R3, R1: the simulator's journal (`nsplumb_host::journal`) read from any text.
//!
//! Properties: any text is a list of changes or an error naming the file (and, for a line that
//! does not read, its number within the text), never a panic; a journal that reads starts with
//! this version's `format` line (its first line that is not blank); its changes, written again
//! as the journal writes them, read back the same, each line a fixed point; a last line cut
//! short (a writer that died mid-append) is skipped and changes nothing, while the same piece
//! ended by a newline is an error, never a smaller change.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsplumb_host::journal::{parse, Entry, JournalError, JOURNAL_VERSION};
use std::path::Path;

const PATH: &str = "/run/nsplumb/sim-journal";

fuzz_target!(|data: &[u8]| {
    // `Journal::entries` reads the file as UTF-8 text: other bytes are an I/O error there.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new(PATH);
    match parse(path, text) {
        Ok(entries) => check_entries(path, text, &entries),
        Err(e) => check_error(text, &e),
    }
});

fn line(entry: &Entry) -> String {
    let mut s = serde_json::to_string(entry).expect("journal entries serialize");
    s.push('\n');
    s
}

fn check_entries(path: &Path, text: &str, entries: &[Entry]) {
    assert!(
        !entries.iter().any(|e| matches!(e, Entry::Format { .. })),
        "a format line among the changes: {entries:?}"
    );
    // Only whole lines count: the first one that is not blank is this version's format line
    // (an empty journal, or one whose only line is torn, has none).
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    // Every whole line is read whole: as JSON that ends where the line ends, with no key
    // twice, giving the changes in order.
    let lines: Vec<&str> = whole.lines().filter(|l| !l.trim().is_empty()).collect();
    if let Some((_, changes)) = lines.split_first() {
        assert_eq!(
            changes.len(),
            entries.len(),
            "{} lines, {} changes",
            changes.len(),
            entries.len()
        );
        for (l, entry) in changes.iter().zip(entries) {
            let strict: Entry = serde_json::from_str(l).unwrap_or_else(|e| {
                panic!("line {l:?} read as {entry:?}, but it is not one change: {e}")
            });
            assert_eq!(&strict, entry, "line {l:?}");
        }
    }
    if let Some(first) = lines.first() {
        let format: Entry = serde_json::from_str(first)
            .unwrap_or_else(|e| panic!("first line {first:?} accepted but does not read: {e}"));
        assert_eq!(
            format,
            Entry::Format {
                version: JOURNAL_VERSION
            },
            "a journal accepted without this version's format line first"
        );
    } else {
        assert!(entries.is_empty(), "changes without a line: {entries:?}");
    }
    // Written again as the journal writes them: the same changes, each line a fixed point.
    let mut again = line(&Entry::Format {
        version: JOURNAL_VERSION,
    });
    for entry in entries {
        let l = line(entry);
        let back: Entry = serde_json::from_str(&l).expect("a written line reads");
        assert_eq!(&back, entry);
        assert_eq!(line(&back), l, "not a fixed point");
        again.push_str(&l);
    }
    let back = parse(path, &again).unwrap_or_else(|e| panic!("{again:?} does not read back: {e}"));
    assert_eq!(back, entries, "read back differently");
    // A torn append (no newline) is skipped; the same piece ended by a newline is an error.
    if let Some(last) = entries.last() {
        let l = line(last);
        let stride = (l.len() / 16).max(1);
        for cut in (1..l.len() - 1).step_by(stride) {
            if !l.is_char_boundary(cut) {
                continue;
            }
            let torn = format!("{again}{}", &l[..cut]);
            assert_eq!(
                parse(path, &torn).ok().as_deref(),
                Some(entries),
                "{torn:?}"
            );
            let cut_line = format!("{again}{}\n", &l[..cut]);
            assert!(
                parse(path, &cut_line).is_err(),
                "{cut_line:?} read as a whole journal"
            );
        }
    }
}

fn check_error(text: &str, e: &JournalError) {
    let message = e.to_string();
    assert!(message.contains(PATH), "{message:?} does not name the file");
    match e {
        JournalError::Corrupt {
            line,
            field,
            reason,
            ..
        } => {
            let lines = text.split_inclusive('\n').count();
            assert!(
                (1..=lines).contains(line),
                "line {line} of a text of {lines} lines"
            );
            assert!(!field.is_empty() || !reason.is_empty(), "{message}");
        }
        JournalError::Older { found, .. } => assert!(!found.is_empty()),
        JournalError::Io { .. } | JournalError::Released { .. } => {
            panic!("a file error from text: {message}")
        }
    }
}
