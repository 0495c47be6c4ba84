//! Long-running operations, as ARM prescribes them.
//!
//! A PUT or PATCH answers 201/200 with `Azure-AsyncOperation` (a status
//! document to poll) and the resource is read with a final GET once the
//! operation succeeds. A DELETE or POST answers 202 with `Location` (202
//! while running; the final response when done), sometimes also with
//! `Azure-AsyncOperation`, which is preferred. `Retry-After` sets the pace.
//!
//! An [`LroHandle`] is plain data: the caller persists it (the dashboard
//! stores it on the operation row) and [`ArmClient::poll`] resumes from it
//! after a restart.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    client::{ArmClient, ArmResponse},
    models::{OperationState, OperationStatus},
    ArmError,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PollMode {
    AsyncOperation,
    Location,
}

/// Everything needed to resume polling an operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LroHandle {
    pub mode: PollMode,
    /// The URL polled (`Azure-AsyncOperation` or `Location`).
    pub poll_url: String,
    /// The resource's URL (with api-version) for the final GET.
    pub resource_url: String,
    /// Whether a final GET of the resource follows success (PUT/PATCH).
    pub final_get: bool,
    pub started_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    /// Seconds ARM asked to wait between polls.
    pub retry_after_secs: u64,
}

/// One poll's result.
#[derive(Clone, Debug, PartialEq)]
pub enum LroPoll {
    InProgress {
        retry_after: Duration,
        percent: Option<f64>,
    },
    /// Done; the resource from the final GET (PUT/PATCH) or the final body.
    Succeeded {
        resource: Option<Value>,
    },
    Failed {
        code: String,
        message: String,
    },
}

impl LroHandle {
    /// The handle for an accepted request, or `None` when it finished at once
    /// (200 with no operation header).
    pub fn from_response(method: &Method, resource_url: &str, r: &ArmResponse, timeout: Duration) -> Option<LroHandle> {
        let async_op = r.header("azure-asyncoperation").map(str::to_string);
        let location = r.header("location").map(str::to_string);
        let (mode, poll_url) = match (async_op, location) {
            (Some(a), _) => (PollMode::AsyncOperation, a),
            (None, Some(l)) => (PollMode::Location, l),
            (None, None) => return None,
        };
        let now = Utc::now();
        Some(LroHandle {
            mode,
            poll_url,
            resource_url: resource_url.to_string(),
            final_get: matches!(*method, Method::PUT | Method::PATCH),
            started_at: now,
            deadline: now + chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::hours(1)),
            retry_after_secs: r.retry_after().map(|d| d.as_secs()).unwrap_or(10),
        })
    }
}

impl ArmClient {
    /// Polls an operation once (with the client's retries for transient failures).
    pub async fn poll(&self, h: &LroHandle) -> Result<LroPoll, ArmError> {
        if Utc::now() > h.deadline {
            return Err(ArmError::Deadline { url: h.poll_url.clone() });
        }
        match h.mode {
            PollMode::AsyncOperation => {
                let r = self.send(Method::GET, &h.poll_url, None).await?;
                let st: OperationStatus = r.json()?;
                let retry_after = r.retry_after().unwrap_or(Duration::from_secs(h.retry_after_secs.max(1)));
                match st.status {
                    OperationState::Succeeded => {
                        let resource = if h.final_get { Some(self.final_get(h).await?) } else { None };
                        Ok(LroPoll::Succeeded { resource })
                    }
                    OperationState::Failed | OperationState::Canceled => {
                        let e = st.error.unwrap_or_default();
                        Ok(LroPoll::Failed {
                            code: if e.code.is_empty() { st.status.to_string() } else { e.code },
                            message: if e.message.is_empty() { format!("The operation ended {}.", st.status) } else { e.message },
                        })
                    }
                    _ => Ok(LroPoll::InProgress { retry_after, percent: st.percent_complete }),
                }
            }
            PollMode::Location => match self.send(Method::GET, &h.poll_url, None).await {
                Ok(r) if r.status == StatusCode::ACCEPTED => {
                    Ok(LroPoll::InProgress { retry_after: r.retry_after().unwrap_or(Duration::from_secs(h.retry_after_secs.max(1))), percent: None })
                }
                Ok(r) => {
                    let body = if r.body.is_empty() { None } else { serde_json::from_slice(&r.body).ok() };
                    let resource = if h.final_get { Some(self.final_get(h).await?) } else { body };
                    Ok(LroPoll::Succeeded { resource })
                }
                Err(ArmError::Api { code, message, status, .. }) if status < 500 && status != 429 => Ok(LroPoll::Failed { code, message }),
                Err(e) => Err(e),
            },
        }
    }

    async fn final_get(&self, h: &LroHandle) -> Result<Value, ArmError> {
        self.get(&h.resource_url).await
    }

    /// Polls until the operation ends or its deadline passes.
    pub async fn wait(&self, h: &LroHandle) -> Result<LroPoll, ArmError> {
        loop {
            match self.poll(h).await? {
                LroPoll::InProgress { retry_after, .. } => tokio::time::sleep(retry_after.min(Duration::from_secs(60))).await,
                done => return Ok(done),
            }
        }
    }
}
