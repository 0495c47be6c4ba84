//! ARM's error document: `{"error":{"code","message"}}` with an HTTP status.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct ArmError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ArmError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ArmError {
        ArmError { status, code: code.to_string(), message: message.into() }
    }
    pub fn bad_request(code: &str, message: impl Into<String>) -> ArmError {
        ArmError::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(message: impl Into<String>) -> ArmError {
        ArmError::new(StatusCode::NOT_FOUND, "ResourceNotFound", message)
    }
    pub fn conflict(code: &str, message: impl Into<String>) -> ArmError {
        ArmError::new(StatusCode::CONFLICT, code, message)
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(json!({ "error": { "code": self.code, "message": self.message } }))).into_response();
        resp.headers_mut().insert("x-ms-failure-cause", axum::http::HeaderValue::from_static("gateway"));
        resp
    }
}
