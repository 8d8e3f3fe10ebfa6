//! Typed reads of JSON values that record a problem naming the key instead of failing.
//!
//! Go's `encoding/json`, which the bridge plugin uses, accepts exactly these types (no string
//! for a boolean, no fraction for an integer); `null` is the same as the key being absent.

use super::problems::Problems;
use serde_json::{Map, Value};

/// `true`/`false`; `null` is the default.
pub fn boolean(problems: &mut Problems, key: &str, value: &Value, default: bool) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Null => default,
        other => {
            problems.invalid(key, other, "must be true or false");
            default
        }
    }
}

/// A JSON integer; `null` is `None`.
pub fn integer(problems: &mut Problems, key: &str, value: &Value) -> Option<i64> {
    match value {
        Value::Null => None,
        Value::Number(n) if n.is_i64() => n.as_i64(),
        other => {
            problems.invalid(key, other, "must be an integer");
            None
        }
    }
}

/// A string; `null` is `None`.
pub fn string<'v>(problems: &mut Problems, key: &str, value: &'v Value) -> Option<&'v str> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => {
            problems.invalid(key, other, "must be a string");
            None
        }
    }
}

/// An array of strings; `null` is `None`.
pub fn strings(problems: &mut Problems, key: &str, value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Null => None,
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    other => problems.invalid(&format!("{key}[{i}]"), other, "must be a string"),
                }
            }
            Some(out)
        }
        other => {
            problems.invalid(key, other, "must be an array of strings");
            None
        }
    }
}

/// An object; `null` is `None`.
pub fn object<'v>(
    problems: &mut Problems,
    key: &str,
    value: &'v Value,
) -> Option<&'v Map<String, Value>> {
    match value {
        Value::Null => None,
        Value::Object(map) => Some(map),
        other => {
            problems.invalid(key, other, "must be an object");
            None
        }
    }
}
