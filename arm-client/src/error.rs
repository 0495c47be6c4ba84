//! Errors of the ARM client.

/// What went wrong talking to ARM.
#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    /// The credential could not produce a token.
    #[error("cannot get an ARM token: {0}")]
    Credential(String),
    /// The credential configuration is incomplete or invalid.
    #[error("invalid credential configuration: {0}")]
    Config(String),
    /// ARM answered with an error document (`{"error":{"code","message"}}`).
    #[error("ARM {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        /// `Retry-After`, when ARM sent one (429, 503).
        retry_after_ms: Option<u64>,
    },
    /// No HTTP response (connection refused, reset, timeout).
    #[error("cannot reach {url}: {message}")]
    Transport { url: String, message: String },
    /// A response that is not what the ARM contract says.
    #[error("unexpected response from {url}: {message}")]
    Decode { url: String, message: String },
    /// A long-running operation ARM accepted ended in failure.
    #[error("ARM operation failed: {code}: {message}")]
    OperationFailed { code: String, message: String },
    /// A long-running operation was still running at its deadline.
    #[error("operation {url} still running at its deadline")]
    Deadline { url: String },
}

impl ArmError {
    /// The ARM error code, when ARM gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ArmError::Api { code, .. } | ArmError::OperationFailed { code, .. } => Some(code),
            _ => None,
        }
    }

    /// HTTP status, when there was a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            ArmError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again later may succeed (throttling, server errors, transport).
    pub fn is_transient(&self) -> bool {
        match self {
            ArmError::Api { status, .. } => *status == 429 || *status >= 500,
            ArmError::Transport { .. } | ArmError::Credential(_) => true,
            _ => false,
        }
    }
}
