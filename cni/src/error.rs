//! SPEC C10: the error result a failing call prints on stdout, and the codes it uses.

use rscni_types::version::SpecVersion;
use std::fmt;

/// A CNI error code. Codes 0–99 are the spec's; 100 and up are nsplumb's own. A code an IPAM
/// plugin answered with is passed on as it is, so this is a number, not a closed enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// The configuration's `cniVersion` is not one this plugin speaks, or does not allow the
    /// verb (CHECK before 0.4.0, STATUS and GC before 1.1.0).
    pub const INCOMPATIBLE_VERSION: ErrorCode = ErrorCode(1);
    /// A configuration key this plugin does not know or does not implement.
    pub const UNSUPPORTED_FIELD: ErrorCode = ErrorCode(2);
    /// A `CNI_*` environment variable is missing or invalid.
    pub const INVALID_ENVIRONMENT: ErrorCode = ErrorCode(4);
    /// Reading stdin or writing stdout failed.
    pub const IO_FAILURE: ErrorCode = ErrorCode(5);
    /// stdin (or a delegate's answer) is not the JSON it must be.
    pub const DECODING_FAILURE: ErrorCode = ErrorCode(6);
    /// A known configuration key with a bad value, or keys that contradict each other.
    pub const INVALID_CONFIG: ErrorCode = ErrorCode(7);
    /// A transient condition: a delegate that did not answer in time.
    pub const TRY_AGAIN_LATER: ErrorCode = ErrorCode(11);
    /// STATUS: an ADD could not succeed now.
    pub const NOT_AVAILABLE: ErrorCode = ErrorCode(50);
    /// nsplumb: the IPAM plugin could not be run, or answered with something unusable.
    pub const IPAM_FAILED: ErrorCode = ErrorCode(101);
    /// nsplumb: the masquerade rules could not be read or changed (`nft`).
    pub const MASQUERADE_FAILED: ErrorCode = ErrorCode(102);
    /// nsplumb: a kernel step of the verb failed (bridge, veth, address, route, records, or the
    /// namespace could not be entered); what the verb had done was undone, and `details` says
    /// what could not be.
    pub const KERNEL_FAILED: ErrorCode = ErrorCode(103);
    /// nsplumb: CHECK found the links differ from the ADD's result or the configuration.
    pub const CHECK_FAILED: ErrorCode = ErrorCode(104);
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A failed call, as the runtime will read it: the code, a message that names the object and
/// the value at fault, and optional details (e.g. every problem when there are several).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CniError {
    pub code: ErrorCode,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> CniError {
        self.details = details.into();
        self
    }

    /// Adds `notes` (e.g. what a rollback could not undo) after the details already there.
    pub fn with_notes(mut self, notes: impl IntoIterator<Item = String>) -> CniError {
        let all: Vec<String> = std::iter::once(std::mem::take(&mut self.details))
            .chain(notes)
            .filter(|d| !d.is_empty())
            .collect();
        self.details = all.join("; ");
        self
    }

    /// A missing or invalid environment variable, named in the message (code 4).
    pub fn env(msg: impl Into<String>) -> CniError {
        CniError::new(ErrorCode::INVALID_ENVIRONMENT, msg)
    }

    /// The spec's error object for this error, in the protocol version in use (SPEC C1, C10).
    pub fn to_json(&self, version: SpecVersion) -> serde_json::Value {
        serde_json::json!({
            "cniVersion": version.to_string(),
            "code": self.code.0,
            "msg": self.msg,
            "details": self.details,
        })
    }
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (CNI error {})", self.msg, self.code)?;
        if !self.details.is_empty() {
            write!(f, ": {}", self.details)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC: C10
    #[test]
    fn the_error_object_has_the_four_keys_of_the_spec_in_the_version_in_use() {
        let e = CniError::env("required environment variable CNI_CONTAINERID is missing")
            .with_details("ADD needs it");
        let json = e.to_json(SpecVersion::new(0, 4, 0));
        assert_eq!(
            json,
            serde_json::json!({
                "cniVersion": "0.4.0",
                "code": 4,
                "msg": "required environment variable CNI_CONTAINERID is missing",
                "details": "ADD needs it",
            })
        );
        assert_eq!(
            e.to_string(),
            "required environment variable CNI_CONTAINERID is missing (CNI error 4): ADD needs it"
        );
    }
}
