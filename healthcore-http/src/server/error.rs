//! [`ApiError`]: every error the API answers, as
//! `{"error": {"code", "message", "field"}}`.
//!
//! This module owns the mapping from engine, store and validation errors to
//! HTTP statuses. It must never put a backend's message (SQL, driver text,
//! stack traces) into a response: store failures are logged with their
//! detail and answered with a fixed message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use healthcore::ValidationError;
use healthcore::engine::EngineError;
use healthcore::store::StoreError;
use serde::Serialize;

/// An error answer: status, a stable machine code, a message for people
/// and, when one field is to blame, its name (dotted path for nested
/// fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    field: Option<&'a str>,
}

/// The error envelope every non-2xx answer has (for the OpenAPI document).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorEnvelope {
    /// What went wrong.
    error: ErrorDetail,
}

/// The body of [`ErrorEnvelope`].
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorDetail {
    /// A stable machine code (`invalid_field`, `not_found`, `conflict`, …).
    code: String,
    /// What was wrong, for people.
    message: String,
    /// The field (dotted path) or query/path parameter to blame, if one is.
    field: Option<String>,
}

/// The one 401 body, identical for missing, unknown and wrong tokens.
pub(crate) const UNAUTHORIZED_MESSAGE: &str = "missing or invalid bearer token";

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// The same error blaming `field`.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 400 `invalid_query` naming the query parameter.
    pub fn invalid_query(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", message).with_field(field)
    }

    /// 400 `invalid_path` naming the path parameter.
    pub fn invalid_path(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_path", message).with_field(field)
    }

    /// 401, always the same body.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            UNAUTHORIZED_MESSAGE,
        )
    }

    /// 403: the token is valid but is not an admin token.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this operation needs an admin token",
        )
    }

    /// 404 for `what`.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 409 with a message.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413.
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body is too large",
        )
    }

    /// 422 naming the field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    /// 500 with a fixed message (the detail goes to the log only).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    /// 503 with a fixed message.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The blamed field.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&Envelope {
            error: Body {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        })
        .unwrap_or_else(|_| {
            b"{\"error\":{\"code\":\"internal\",\"message\":\"internal error\",\"field\":null}}"
                .to_vec()
        });
        let mut res = (self.status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::invalid(e.field().to_owned(), e.to_string())
    }
}

/// Maps a store error: not-found and conflict are the caller's business;
/// everything else is logged and answered without detail.
pub(crate) fn from_store(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { what, .. } => ApiError::not_found(what),
        StoreError::Conflict(_) => ApiError::conflict("the resource changed meanwhile; retry"),
        StoreError::Unavailable(_) => {
            tracing::warn!(error = %e, "store unavailable");
            ApiError::unavailable("the store is unavailable; retry later")
        }
        other => {
            tracing::error!(error = %other, "store error");
            ApiError::internal()
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        from_store(e)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound { what, .. } => ApiError::not_found(what),
            EngineError::Invalid(v) => v.into(),
            EngineError::Conflict(m) => ApiError::conflict(m),
            EngineError::AlreadyExists { field, message } => {
                ApiError::conflict(message).with_field(field)
            }
            EngineError::NoChecker(kind) => ApiError::invalid(
                "kind",
                format!("no checker is registered for kind {kind:?}"),
            ),
            EngineError::ConfirmationRequired { expected } => ApiError::invalid(
                "confirm",
                format!("confirmation required: set confirm to {expected:?}"),
            ),
            EngineError::NotConfigured(what) => ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "not_configured",
                format!("no {what} is configured on this server"),
            ),
            EngineError::PassiveCheck { key } => ApiError::new(
                StatusCode::CONFLICT,
                "passive_check",
                format!(
                    "check {key} is passive (a heartbeat): it is judged from the reports it \
                     receives and cannot be run on demand; send a report instead"
                ),
            )
            .with_field("check"),
            EngineError::Unavailable(what) => {
                ApiError::unavailable(format!("{what} failed; see the server log"))
            }
            EngineError::Store(s) => from_store(s),
            other => {
                tracing::error!(error = %other, "engine error");
                ApiError::internal()
            }
        }
    }
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(e: ApiError) -> (StatusCode, serde_json::Value) {
        let res = e.into_response();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn envelope_shape() {
        let (s, v) = body(ApiError::invalid("interval", "must be at least 1s")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(v["error"]["code"], "invalid_field");
        assert_eq!(v["error"]["field"], "interval");
        let (s, v) = body(ApiError::not_found("target")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(v["error"]["field"].is_null());
    }

    #[tokio::test]
    async fn store_backend_errors_hide_detail() {
        let e = StoreError::Backend {
            store: "sqlite",
            message: "SELECT * FROM secrets".into(),
            source: "near \"FROM\": syntax error".into(),
        };
        let (s, v) = body(ApiError::from(EngineError::Store(e))).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        let text = v.to_string();
        assert!(!text.contains("SELECT"), "{text}");
        assert!(!text.contains("syntax"), "{text}");
    }

    #[test]
    fn engine_errors_map_to_statuses() {
        assert_eq!(
            ApiError::from(EngineError::Conflict("x".into())).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::from(EngineError::NoChecker("http".into())).field(),
            Some("kind")
        );
        let taken = ApiError::from(EngineError::AlreadyExists {
            field: "mac_address".into(),
            message: "taken".into(),
        });
        assert_eq!(
            (taken.status(), taken.field()),
            (StatusCode::CONFLICT, Some("mac_address"))
        );
        assert_eq!(
            ApiError::from(EngineError::ConfirmationRequired {
                expected: "a".into()
            })
            .status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
