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
        .and_then(bearer_token)
        .ok_or(ApiError::Unauthorized(
            "missing bearer token: send Authorization: Bearer <secret>",
        ))?;
    if secret.matches(token) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("invalid bearer token"))
    }
}

/// The token of a `Bearer` credential. The scheme is case-insensitive
/// (RFC 9110 §11.1): `bearer`, `BEARER` and `Bearer` are one scheme.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive() {
        for value in ["Bearer s3", "bearer s3", "BEARER s3", "BeArEr   s3 "] {
            assert_eq!(bearer_token(value), Some("s3"), "{value:?}");
        }
    }

    #[test]
    fn other_schemes_and_bare_tokens_are_not_bearers() {
        for value in ["Basic czM=", "s3", "Bearer", "Bearers3", ""] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }
}
