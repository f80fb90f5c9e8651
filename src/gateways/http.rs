//! The HTTP side shared by every network adapter: one client, a bounded body
//! read, and the mapping from transport failures to [`FetchError`].

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, StatusCode, Url, redirect};

use super::{FetchError, Gateway, redact};

/// Longest upstream error body quoted in a message.
const SNIPPET_CHARS: usize = 200;
/// Redirects followed on the same host (e.g. `/models` → `/models/`).
const MAX_REDIRECTS: usize = 3;

pub fn client() -> Client {
    Client::builder()
        .user_agent(concat!("models-cache/", env!("CARGO_PKG_VERSION")))
        // A redirect to another host would carry the API key there: stop and
        // report it instead.
        .redirect(redirect::Policy::custom(|attempt| {
            let same_host =
                attempt.previous().first().map(|u| u.host_str()) == Some(attempt.url().host_str());
            if same_host && attempt.previous().len() <= MAX_REDIRECTS {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .build()
        .expect("BUG: a reqwest client with static settings always builds")
}

/// `base` + `/path`, keeping every path segment of `base` (`Url::join`
/// would replace the last one: `…/v1` + `models` = `…/models`) and its
/// query (`?api-version=…`).
pub fn join(base: &Url, path: &str) -> Result<Url, FetchError> {
    if base.cannot_be_a_base() {
        return Err(FetchError::Request(format!(
            "bad URL {}: it cannot take a path",
            redact(base)
        )));
    }
    let mut url = base.clone();
    url.set_path(&format!("{}/{path}", base.path().trim_end_matches('/')));
    Ok(url)
}

/// `Authorization: Bearer <key>` when the gateway has a key.
pub fn bearer(gateway: &Gateway) -> Result<HeaderMap, FetchError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = &gateway.api_key {
        add_secret(
            &mut headers,
            AUTHORIZATION,
            &format!("Bearer {}", key.expose()),
        )?;
    }
    Ok(headers)
}

/// Adds a header holding a secret, marked sensitive so that reqwest never
/// shows it in a `Debug` output.
pub fn add_secret(
    headers: &mut HeaderMap,
    name: HeaderName,
    value: &str,
) -> Result<(), FetchError> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| FetchError::Request("the API key is not a valid header value".into()))?;
    value.set_sensitive(true);
    headers.insert(name, value);
    Ok(())
}

/// GETs `url` as [`get_body`] does, and parses the body on a background
/// thread ([`crate::background`]): the parsing of a revalidated list yields
/// the CPU to reads. A body that makes the list the caller holds is not
/// parsed at all ([`super::unchanged`]).
pub async fn get_parsed<T: Send + 'static>(
    client: &Client,
    gateway: &Gateway,
    url: Url,
    headers: HeaderMap,
    parse: fn(&[u8]) -> Result<T, FetchError>,
) -> Result<T, FetchError> {
    let body = get_body(client, gateway, url, headers).await?;
    super::unchanged::note(&body)?;
    crate::background::run(move || parse(&body)).await
}

/// GETs `url` and returns the body of a 2xx answer, at most the gateway's cap.
pub async fn get_body(
    client: &Client,
    gateway: &Gateway,
    url: Url,
    headers: HeaderMap,
) -> Result<Vec<u8>, FetchError> {
    let mut response = client
        .get(url)
        .headers(headers)
        .send()
        .await
        .map_err(transport_error)?;
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(FetchError::Auth {
            gateway: gateway.id.clone(),
            status: status.as_u16(),
        });
    }
    if status.is_redirection() {
        let to = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|to| response.url().join(to).ok())
            // Shown without a query or userinfo: it may carry a token.
            .map_or_else(|| "an unknown location".into(), |url| redact(&url));
        return Err(FetchError::Redirect(to));
    }
    let limit = gateway.max_body_bytes;
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(FetchError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(FetchError::Status {
            status: status.as_u16(),
            snippet: snippet(&body),
        });
    }
    Ok(body)
}

fn transport_error(e: reqwest::Error) -> FetchError {
    // The URL is dropped from the message: some providers put keys in it.
    let e = e.without_url();
    let chain = error_chain(&e);
    if e.is_connect() {
        FetchError::Connect {
            refused: caused_by(&e, std::io::ErrorKind::ConnectionRefused),
            detail: chain,
        }
    } else {
        FetchError::Request(chain)
    }
}

/// Whether an I/O error of `kind` is somewhere in `e`'s chain.
fn caused_by(e: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    let mut cause = Some(e);
    while let Some(error) = cause {
        if error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == kind)
        {
            return true;
        }
        cause = error.source();
    }
    false
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The start of an error body, on one line, for the error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.is_empty() => "(empty body)".into(),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_the_base_path() {
        let base = Url::parse("https://api.groq.com/openai/v1/").unwrap();
        assert_eq!(
            join(&base, "models").unwrap().as_str(),
            "https://api.groq.com/openai/v1/models"
        );
        let root = Url::parse("http://127.0.0.1:11434").unwrap();
        assert_eq!(
            join(&root, "api/tags").unwrap().as_str(),
            "http://127.0.0.1:11434/api/tags"
        );
    }

    #[test]
    fn join_keeps_the_query_and_never_shows_credentials() {
        let base = Url::parse("https://u:pw@example.com/openai?api-version=1").unwrap();
        assert_eq!(
            join(&base, "models").unwrap().as_str(),
            "https://u:pw@example.com/openai/models?api-version=1"
        );
        let odd = Url::parse("mailto:u@example.com?key=zzz").unwrap();
        let error = join(&odd, "models").unwrap_err().to_string();
        assert!(!error.contains("zzz"), "{error}");
    }

    #[test]
    fn snippets_are_one_short_line() {
        assert_eq!(
            snippet(b"<html>\n  <b>Bad</b>\n</html>"),
            "<html> <b>Bad</b> </html>"
        );
        assert_eq!(snippet(b""), "(empty body)");
        assert_eq!(
            snippet("é".repeat(300).as_bytes()).chars().count(),
            SNIPPET_CHARS + 1
        );
    }
}
