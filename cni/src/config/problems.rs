//! Every problem in a configuration, gathered so that one error names them all.

use crate::error::{CniError, ErrorCode};
use serde_json::Value;

/// One rejected key: which, its value, why, and whether it is unknown (code 2) or bad (7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub value: Option<String>,
    pub reason: String,
    pub code: ErrorCode,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(value) => write!(f, "key \"{}\" = {value}: {}", self.key, self.reason),
            None => write!(f, "key \"{}\": {}", self.key, self.reason),
        }
    }
}

/// The problems found so far.
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

/// How much of a value an error quotes.
const QUOTED_VALUE_MAX: usize = 80;

impl Problems {
    /// A key neither nsplumb-cni nor the bridge plugin knows, or one nsplumb does not implement.
    pub fn unsupported(&mut self, key: &str, value: &Value, reason: impl Into<String>) {
        self.push(key, Some(value), reason, ErrorCode::UNSUPPORTED_FIELD);
    }

    /// A known key with a bad value.
    pub fn invalid(&mut self, key: &str, value: &Value, reason: impl Into<String>) {
        self.push(key, Some(value), reason, ErrorCode::INVALID_CONFIG);
    }

    /// A required key that is absent, or keys that contradict each other.
    pub fn missing_or_conflicting(&mut self, key: &str, reason: impl Into<String>) {
        self.push(key, None, reason, ErrorCode::INVALID_CONFIG);
    }

    fn push(
        &mut self,
        key: &str,
        value: Option<&Value>,
        reason: impl Into<String>,
        code: ErrorCode,
    ) {
        self.0.push(Problem {
            key: key.to_string(),
            value: value.map(quote),
            reason: reason.into(),
            code,
        });
    }

    /// One error naming every problem: code 2 when a key is unsupported, 7 otherwise.
    pub fn into_result(self) -> Result<(), CniError> {
        let Some(first) = self.0.first() else {
            return Ok(());
        };
        let code = if self
            .0
            .iter()
            .any(|p| p.code == ErrorCode::UNSUPPORTED_FIELD)
        {
            ErrorCode::UNSUPPORTED_FIELD
        } else {
            first.code
        };
        let msg = if self.0.len() == 1 {
            format!("invalid network configuration: {first}")
        } else {
            let all: Vec<String> = self.0.iter().map(|p| p.to_string()).collect();
            format!(
                "invalid network configuration ({} problems): {}",
                self.0.len(),
                all.join("; ")
            )
        };
        Err(CniError::new(code, msg))
    }
}

/// A value as JSON text, shortened for a message.
fn quote(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= QUOTED_VALUE_MAX {
        return text;
    }
    let cut: String = text.chars().take(QUOTED_VALUE_MAX).collect();
    format!("{cut}...")
}
