//! Any OpenAI-compatible server: `GET {base}/models` answering
//! `{"object":"list","data":[{"id","created","owned_by"}]}`.

use reqwest::Client;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;

use super::{FetchError, Gateway, Model, http};

#[derive(Deserialize)]
struct ListResponse {
    data: Option<Vec<serde_json::Value>>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Record {
    id: String,
    created: Option<i64>,
    owned_by: Option<String>,
}

pub async fn fetch(
    client: &Client,
    gateway: &Gateway,
    base: &Url,
) -> Result<Vec<Model>, FetchError> {
    let url = join(base, "models")?;
    let mut headers = HeaderMap::new();
    if let Some(key) = &gateway.api_key {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
            .map_err(|_| FetchError::Request("the API key is not a valid header value".into()))?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    parse(&http::get_body(client, gateway, url, headers).await?)
}

/// `base` + `/segment`, keeping every path segment of `base` (`Url::join`
/// would replace the last one: `…/v1` + `models` = `…/models`).
pub fn join(base: &Url, segment: &str) -> Result<Url, FetchError> {
    let text = format!("{}/{segment}", base.as_str().trim_end_matches('/'));
    Url::parse(&text).map_err(|e| FetchError::Request(format!("bad URL {text}: {e}")))
}

/// Parses the list; records without a string `id` are skipped.
pub fn parse(body: &[u8]) -> Result<Vec<Model>, FetchError> {
    let list: ListResponse =
        serde_json::from_slice(body).map_err(|e| FetchError::Parse(e.to_string()))?;
    let Some(data) = list.data else {
        return Err(FetchError::Parse(match list.error {
            Some(error) => format!("the upstream answered with an error: {error}"),
            None => "no \"data\" list in the response".into(),
        }));
    };
    Ok(data
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Record>(v).ok())
        .map(|r| Model {
            id: r.id,
            created: r.created,
            owned_by: r.owned_by,
            ..Model::default()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_openai_list() {
        let body = br#"{"object":"list","data":[
            {"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"},
            {"id":"whisper-1","object":"model","created":1677532384,"owned_by":"openai-internal","extra":1}
        ]}"#;
        let models = parse(body).unwrap();
        assert_eq!(models.len(), 2);
        assert_eq!(models[0].id, "gpt-4o");
        assert_eq!(models[0].created, Some(1715367049));
        assert_eq!(models[1].owned_by.as_deref(), Some("openai-internal"));
        assert_eq!(models[0].name, None);
    }

    #[test]
    fn skips_records_without_an_id() {
        let models = parse(br#"{"data":[{"object":"model"},{"id":7},{"id":"ok"}]}"#).unwrap();
        assert_eq!(
            models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["ok"]
        );
    }

    #[test]
    fn an_error_object_or_garbage_is_a_parse_error() {
        let err = parse(br#"{"error":{"message":"quota exceeded"}}"#).unwrap_err();
        assert!(err.to_string().contains("quota exceeded"));
        assert_eq!(parse(b"<html>oops</html>").unwrap_err().kind(), "parse");
        assert_eq!(
            parse(br#"{"data":[{"id":"a"}"#).unwrap_err().kind(),
            "parse"
        );
    }

    #[test]
    fn join_keeps_the_base_path() {
        let base = Url::parse("https://api.groq.com/openai/v1/").unwrap();
        assert_eq!(
            join(&base, "models").unwrap().as_str(),
            "https://api.groq.com/openai/v1/models"
        );
    }
}
