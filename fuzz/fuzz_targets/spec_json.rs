//! SPEC R3: a state-file or journal record read as `Spec` and as `Attached` (`serde_json`).
//!
//! Properties: any bytes are answered with a value or an error, never a panic; whatever reads
//! writes back to text that reads back equal, and that text is a fixed point; a record cut short
//! never reads as a record (no half-written file taken for a whole one); a `Spec` read from a
//! record is judged by `validate` exactly as the SPEC rules say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsplumb_core::{Attached, NetnsRef, Spec};
use nsplumb_fuzz::spec_check;
use serde::de::DeserializeOwned;
use serde::Serialize;

fuzz_target!(|data: &[u8]| {
    if let Some(spec) = round_trip::<Spec>(data) {
        let _verdict = spec_check::validate_and_check(&spec);
    }
    if let Some(attached) = round_trip::<Attached>(data) {
        if let NetnsRef::Path(p) = &attached.netns {
            assert!(
                !p.is_empty() && !p.contains('\0') && &**p != "host",
                "namespace path {p:?} read from a record"
            );
        }
    }
});

/// Read `T` from `data`; if it reads, check that it writes and reads back the same.
fn round_trip<T>(data: &[u8]) -> Option<T>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let value = match serde_json::from_slice::<T>(data) {
        Ok(v) => v,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return None;
        }
    };
    let text = serde_json::to_string(&value).expect("a value read writes back");
    let back: T = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{value:?} wrote {text:?}, which does not read back: {e}"));
    assert_eq!(back, value, "read back differently from {text:?}");
    assert_eq!(
        serde_json::to_string(&back).unwrap(),
        text,
        "not a fixed point"
    );
    // Cut short anywhere, the record is an error, not a smaller record (some 64 cuts, the last
    // byte always, so a long record costs no more than a short one).
    let stride = (text.len() / 64).max(1);
    let cuts = (0..text.len()).step_by(stride).chain([text.len() - 1]);
    for cut in cuts.filter(|i| text.is_char_boundary(*i)) {
        assert!(
            serde_json::from_str::<T>(&text[..cut]).is_err(),
            "{:?} (cut at {cut}) read as a whole record",
            &text[..cut]
        );
    }
    Some(value)
}
