//! Bearer-secret checks for the warm, admin and cron endpoints.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use super::ApiError;
use crate::secret::Secret;

/// Which secret guards an endpoint, so messages can name its variable.
#[derive(Clone, Copy)]
pub enum Guard {
    Warming,
    Cron,
}

/// Passes when the request carries `Authorization: Bearer <secret>`.
pub fn require(headers: &HeaderMap, secret: Option<&Secret>, guard: Guard) -> Result<(), ApiError> {
    let Some(secret) = secret else {
        return Err(ApiError::Disabled(match guard {
            Guard::Warming => "this endpoint is disabled: set CACHE_WARMING_SECRET to enable it",
            Guard::Cron => "this endpoint is disabled: set CRON_SECRET to enable it",
        }));
    };
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or(ApiError::Unauthorized(
            "missing bearer token: send Authorization: Bearer <secret>",
        ))?;
    if secret.matches(token.trim()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("invalid bearer token"))
    }
}
