//! Small checks and conversions every action module shares.

use regatlas_app::model::ApiError;
use regatlas_domain::ErrorKind;
use serde_json::Value;

use crate::outbound::clean_text;

/// A request refused as invalid, with its code.
pub fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::Invalid, code, message)
}

/// A string from an ARM document, cleaned and cut to `max` characters
/// (empty when it is missing or not a string).
pub fn text(v: &Value, max: usize) -> String {
    clean_text(v.as_str().unwrap_or_default(), max)
}

/// ARM's name for a registry's webhooks, pipelines and pipeline runs: 5 to
/// 50 letters and digits.
pub fn arm_name(name: &str) -> bool {
    (5..=50).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric())
}
