//! The errors a caller can see. Each has a stable `code`, an HTTP status and a message that
//! says what was wrong and, where it helps, what to do. Bad input is always a 4xx.

use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{method} is not allowed here; use {allowed}")]
    MethodNotAllowed { method: String, allowed: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the install store is unavailable; try again shortly")]
    Unavailable(#[source] StoreError),
    /// The request is well-formed but asks for something without the consent it needs.
    #[error("{0}")]
    ConsentRequired(String),
    /// Input an app validated and refused, with a message per field.
    #[error("{text}")]
    Invalid {
        text: String,
        errors: serde_json::Map<String, serde_json::Value>,
    },
    /// A per-tenant limit was reached; `retry_after` says when trying again can succeed (a
    /// rate), `None` when it cannot until something is removed (a quota).
    #[error("{text}")]
    TooMany {
        text: String,
        retry_after: Option<std::time::Duration>,
    },
    /// A service this host depends on (Lambda, Mattermost) failed; nothing was changed.
    #[error("{0}")]
    Dependency(String),
}

impl Error {
    /// The error as an Apps call answer: field errors stay attached to their fields.
    pub fn to_call_response(&self) -> crate::protocol::apps::CallResponse {
        use crate::protocol::apps::CallResponse;
        match self {
            Error::Invalid { text, errors } => {
                CallResponse::field_errors(text.clone(), errors.clone())
            }
            other => CallResponse::error(other.to_string()),
        }
    }

    /// A stable, machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "bad_request",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::Unavailable(_) => "unavailable",
            Error::ConsentRequired(_) => "consent_required",
            Error::Invalid { .. } => "invalid",
            Error::TooMany { .. } => "too_many_requests",
            Error::Dependency(_) => "dependency_failed",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::MethodNotAllowed { .. } => 405,
            Error::Conflict(_) => 409,
            Error::PayloadTooLarge { .. } => 413,
            Error::UnsupportedMediaType(_) => 415,
            Error::TooMany { .. } => 429,
            Error::Unavailable(_) => 503,
            Error::ConsentRequired(_) | Error::Invalid { .. } => 400,
            Error::Dependency(_) => 502,
        }
    }

    /// Whole seconds for a `Retry-After` header, rounded up.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            Error::TooMany {
                retry_after: Some(wait),
                ..
            } => Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
            _ => None,
        }
    }

    /// The JSON body: an Apps error response (`{"type":"error","text":...}`) with the code, so
    /// Mattermost shows the text and scripts can match the code.
    pub fn body(&self) -> ErrorBody {
        let data = match self {
            Error::Invalid { errors, .. } => Some(serde_json::json!({ "errors": errors })),
            _ => None,
        };
        ErrorBody {
            kind: "error",
            code: self.code(),
            text: self.to_string(),
            data,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => {
                Error::Conflict("the record was changed by someone else; reload and retry".into())
            }
            // A record that is not there is the caller's mistake, not an outage.
            StoreError::NotFound => Error::NotFound("no such record".into()),
            other => Error::Unavailable(other),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: &'static str,
    pub text: String,
    /// Field errors, as in an Apps error response (`data.errors`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}
