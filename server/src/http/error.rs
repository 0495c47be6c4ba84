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

/// A body for a refusal the HTTP layer itself decides (a Host or an origin
/// it does not serve), with the status it chose.
pub fn refusal(status: StatusCode, kind: ErrorKind, code: &str, message: &str) -> Response {
    (status, Json(ErrorBody { status: status.as_u16(), kind, code: code.into(), message: message.into() })).into_response()
}

/// An [`ApiError`] as an HTTP response.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = status_of(self.0.kind);
        let ApiError { kind, code, message } = self.0;
        (status, Json(ErrorBody { status: status.as_u16(), kind, code, message })).into_response()
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure(e)
    }
}

impl From<crate::migration::MigrationError> for Failure {
    fn from(e: crate::migration::MigrationError) -> Failure {
        Failure(e.into())
    }
}

/// For server functions: statuses from the same table.
pub fn sfn_status(kind: ErrorKind) -> u16 {
    status_of(kind).as_u16()
}
