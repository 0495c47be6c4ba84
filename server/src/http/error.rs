//! Errors as HTTP responses: the one place where an error's kind becomes a
//! status. Errors below this layer carry reasons (`ErrorKind`), not
//! statuses; the cause of a server-side failure is logged where it is
//! handled and never sent.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use regatlas_app::model::{ApiError, ErrorKind};
use serde::Serialize;

/// The status of an error: ARM's own 4xx when ARM refused, else the kind's.
pub fn status_for(e: &ApiError) -> StatusCode {
    match e.upstream_status.and_then(|s| StatusCode::from_u16(s).ok()) {
        Some(s) if s.is_client_error() => s,
        _ => status_of(e.kind),
    }
}

/// The status of each kind of failure.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Throttled => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Misdirected => StatusCode::MISDIRECTED_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::NotAllowed => StatusCode::FORBIDDEN,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
    }
}

/// What an error response's body holds: the status again (for scripts that
/// only see the body), why, a code and a message.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub status: u16,
    pub kind: ErrorKind,
    pub code: String,
    pub message: String,
}

/// An [`ApiError`] as an HTTP response.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = status_for(&self.0);
        let ApiError { kind, code, message, .. } = self.0;
        (status, Json(ErrorBody { status: status.as_u16(), kind, code, message })).into_response()
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure(e)
    }
}

/// For server functions: statuses from the same table.
pub fn sfn_status(e: &ApiError) -> u16 {
    status_for(e).as_u16()
}
