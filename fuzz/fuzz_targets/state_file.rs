//! SPEC R3, R1: a namespace's state file (`nsplumb_host::state_file`) read from any bytes.
//!
//! Properties: any bytes are records or an error naming the file, never a panic; records that
//! read are of this format version and write back (as `save` writes them, pretty, and compact)
//! to text that reads back equal, a fixed point, with every key of the file (none dropped
//! unread, none read twice); a file cut short is never records (a torn
//! write is not taken for a smaller state); a version error is only for a file without this
//! version, a corruption names where in the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsplumb_host::state_file::{parse, NsState, StateError, STATE_VERSION};
use serde_json::Value;
use std::path::Path;

const PATH: &str = "/run/nsplumb/netns/4026532301.json";

fuzz_target!(|data: &[u8]| {
    let path = Path::new(PATH);
    match parse(path, data) {
        Ok(state) => check_records(path, data, &state),
        Err(e) => check_error(data, &e),
    }
});

fn check_records(path: &Path, data: &[u8], state: &NsState) {
    assert_eq!(state.version, STATE_VERSION);
    // What the bytes say, read whole: JSON with no key twice (one of two `interfaces` lists
    // dropped would forget records).
    match serde_json::from_slice::<NsState>(data) {
        Ok(strict) => assert_eq!(&strict, state, "read other than the bytes say"),
        Err(e) => panic!("read as records, but the bytes are not one record: {e}"),
    }
    // Every key in the file is one the records have: written back, each is there again,
    // unless its value is what writing leaves out (none, an empty list, the default phase).
    let input: Value = serde_json::from_slice(data).expect("records read from JSON");
    let written = serde_json::to_value(state).expect("records serialize");
    keys_kept(&input, &written, "");
    // As `save` writes it, then compact: both read back equal.
    let pretty = serde_json::to_vec_pretty(state).expect("records serialize");
    let back = parse(path, &pretty)
        .unwrap_or_else(|e| panic!("{state:?} wrote a file that does not read back: {e}"));
    assert_eq!(&back, state, "read back differently");
    assert_eq!(
        serde_json::to_vec_pretty(&back).unwrap(),
        pretty,
        "not a fixed point"
    );
    let compact = serde_json::to_vec(state).unwrap();
    assert_eq!(parse(path, &compact).ok().as_ref(), Some(state));
    // Cut short anywhere (some 64 cuts and the last byte), the file is not records.
    let stride = (compact.len() / 64).max(1);
    for cut in (0..compact.len())
        .step_by(stride)
        .chain([compact.len() - 1])
    {
        match parse(path, &compact[..cut]) {
            Ok(s) => panic!(
                "{:?} (cut at {cut}) read as {s:?}",
                String::from_utf8_lossy(&compact[..cut])
            ),
            Err(StateError::Corrupt { field, .. }) => assert_eq!(field, "the file"),
            Err(e) => panic!("cut at {cut}: not a corrupt file: {e}"),
        }
    }
}

fn keys_kept(input: &Value, written: &Value, at: &str) {
    match (input, written) {
        (Value::Object(i), Value::Object(w)) => {
            for (key, value) in i {
                match w.get(key) {
                    Some(kept) => keys_kept(value, kept, &format!("{at}.{key}")),
                    None => assert!(
                        matches!(value, Value::Null | Value::Bool(false))
                            || value.as_array().is_some_and(Vec::is_empty)
                            || (key == "phase" && value == "attached"),
                        "{at}.{key} = {value} read, but not in the records"
                    ),
                }
            }
        }
        (Value::Array(i), Value::Array(w)) => {
            assert_eq!(i.len(), w.len(), "{at}: list of another length");
            for (n, (i, w)) in i.iter().zip(w).enumerate() {
                keys_kept(i, w, &format!("{at}[{n}]"));
            }
        }
        _ => {}
    }
}

fn check_error(data: &[u8], e: &StateError) {
    let text = e.to_string();
    assert!(text.contains(PATH), "{text:?} does not name the file");
    match e {
        StateError::Version { found, .. } => {
            // Only a JSON value whose `version` is missing or another than ours.
            let value: serde_json::Value =
                serde_json::from_slice(data).expect("a version error for a file that is not JSON");
            let version = value.get("version");
            assert!(
                version.and_then(|v| v.as_u64()) != Some(u64::from(STATE_VERSION)),
                "version error for version {version:?}"
            );
            assert!(!found.is_empty());
        }
        StateError::Corrupt { field, reason, .. } => {
            assert!(!field.is_empty() && !reason.is_empty(), "{text}");
        }
        StateError::Read { .. } | StateError::Write { .. } => {
            panic!("I/O error from bytes: {text}")
        }
    }
}
