//! One error type for the whole API and one JSON body:
//! `{"error": {"code": "...", "message": "...", "fields": {...}}}`.
//!
//! Client errors carry safe messages. Infrastructure and unexpected errors log their whole cause
//! chain (with request and trace ids, from the request span) and answer a generic 500 body.
use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub use crate::domain::validation::FieldErrors;
use crate::domain::validation::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Validation { message: String, fields: FieldErrors },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method {method} not allowed")]
    MethodNotAllowed { method: String, allowed: Vec<&'static str> },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Unprocessable { message: String, fields: FieldErrors },
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_seconds: u64 },
    #[error("{0}")]
    ServiceUnavailable(String),
    /// A 503 with `Retry-After`: a bounded resource (the password hashing pool) is full.
    #[error("{message}")]
    Overloaded { message: String, retry_after_seconds: u64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The one place input the domain refused becomes the DRF-style 400 body.
impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        match e {
            Invalid::Malformed(message) => ApiError::BadRequest(message),
            Invalid::Fields(fields) => ApiError::Validation { message: "Invalid input.".into(), fields },
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    fields: &'a FieldErrors,
}

static NO_FIELDS: FieldErrors = BTreeMap::new();

impl ApiError {
    /// A 400 for one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Invalid::field(field, message).into()
    }

    /// A 422 for one field: it names an object that does not exist.
    pub fn unknown_reference(field: &str, message: impl Into<String>) -> Self {
        let fields = FieldErrors::from([(field.to_string(), vec![message.into()])]);
        ApiError::Unprocessable { message: "A referenced object does not exist.".into(), fields }
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found."))
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation { .. } => "invalid",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "not_authenticated",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::Forbidden(_) => "permission_denied",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed(_) => "precondition_failed",
            ApiError::PreconditionRequired(_) => "precondition_required",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unprocessable { .. } => "unprocessable",
            ApiError::TooManyRequests { .. } => "throttled",
            ApiError::ServiceUnavailable(_) | ApiError::Overloaded { .. } => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn fields(&self) -> &FieldErrors {
        match self {
            ApiError::Validation { fields, .. } | ApiError::Unprocessable { fields, .. } => fields,
            _ => &NO_FIELDS,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServiceUnavailable(_) | ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Internal(e) => {
                // The cause chain goes to the log (and Sentry), never to the client.
                crate::telemetry::report_internal_error(e);
                "Internal server error.".to_string()
            }
            other => other.to_string(),
        };
        let mut builder = HttpResponse::build(self.status_code());
        match self {
            ApiError::TooManyRequests { retry_after_seconds, .. }
            | ApiError::Overloaded { retry_after_seconds, .. } => {
                builder.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
            }
            // A dependency is down: a client (or proxy) may retry, not at once.
            ApiError::ServiceUnavailable(_) => {
                builder.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::MethodNotAllowed { allowed, .. } => {
                builder.insert_header((header::ALLOW, allowed.join(", ")));
            }
            ApiError::InvalidToken(_) => {
                builder.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
            }
            ApiError::Unauthorized(_) => {
                builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        builder.json(ErrorBody { error: ErrorDetail { code: self.code(), message, fields: self.fields() } })
    }
}

/// Attach a message to infrastructure errors: `.context("Failed to fetch estates page")?`.
pub trait ResultExt<T> {
    fn context_api(self, msg: &'static str) -> Result<T, ApiError>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn context_api(self, msg: &'static str) -> Result<T, ApiError> {
        self.map_err(|e| infrastructure(e, msg))
    }
}

/// An infrastructure error with `msg` as its context: a 503 when it is the database being
/// unavailable, else a 500 whose cause chain is logged.
pub fn infrastructure<E>(e: E, msg: &'static str) -> ApiError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let err = anyhow::Error::new(e);
    match err.downcast_ref::<sqlx::Error>().and_then(database_unavailable) {
        // Not a bug: the database is down, overloaded or too slow. A 503 with Retry-After
        // (counted under http_requests_total{status="503"}); the cause goes to the log.
        Some(reason) => {
            tracing::warn!(error = %format!("{:#}", err.context(msg)), "database unavailable: answering 503");
            ApiError::ServiceUnavailable(reason.into())
        }
        None => ApiError::Internal(err.context(msg)),
    }
}

/// The database failures that are the database being unreachable, saturated or too slow (a 503),
/// as opposed to a bug (a 500): pool exhaustion, a lost or refused connection, the server's
/// statement timeout (MariaDB 1969, MySQL 3024), a killed query, too many connections.
pub fn database_unavailable(e: &sqlx::Error) -> Option<&'static str> {
    match e {
        sqlx::Error::PoolTimedOut => Some("The database is busy; retry shortly."),
        sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            Some("The database is unavailable; retry shortly.")
        }
        sqlx::Error::Database(d) => match d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().map(|m| m.number()) {
            Some(1969 | 3024) => Some("The query took too long; retry shortly."),
            Some(1040 | 1203 | 1317) => Some("The database is busy; retry shortly."),
            _ => None,
        },
        _ => None,
    }
}
