//! The one error type of the HTTP API: each variant names its status, and the
//! body is always `{"success": false, "error": "<what to fix>"}`.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// How every error is answered (for the API document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// What went wrong and what to fix.
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or wrong bearer secret.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 404: unknown gateway, model or path.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// 413: body over the 1 MiB limit.
    #[error("request body is over the 1 MiB limit")]
    PayloadTooLarge,
    /// 502: nothing cached and the upstream failed.
    #[error("{0}")]
    BadGateway(String),
    /// 503: the feature needs a setting that is not set.
    #[error("{0}")]
    Disabled(&'static str),
    /// 503: the store cannot be reached.
    #[error("{0}")]
    NotReady(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Disabled(_) | Self::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = Json(ErrorBody {
            success: false,
            error: self.to_string(),
        });
        let mut response = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("BUG: static header"),
            );
        }
        response
    }
}

/// Where the router has no route.
pub async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no endpoint {method} {}", uri.path()))
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
