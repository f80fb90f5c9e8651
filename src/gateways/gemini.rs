//! Google Gemini: `GET {base}/models?pageSize=…&pageToken=…` with
//! `x-goog-api-key`, answering `{"models":[{"name":"models/…","displayName",
//! "description","inputTokenLimit","outputTokenLimit",…}],"nextPageToken"}`.
//!
//! Ids lose the `models/` prefix (what a chat request names the model by).
//! The key goes in a header, never in the `?key=` query, so it cannot leak
//! through a URL in a log. A response without `models` is an empty page
//! (proto3 JSON omits empty lists), unless it carries an `error`.

use reqwest::header::{HeaderMap, HeaderName};
use reqwest::{Client, Url};
use serde_json::Value;

use super::paging::{self, Page};
use super::{FetchError, Gateway, Model, http, json};

/// Gemini's largest page.
const PAGE_SIZE: u32 = 1000;

pub async fn fetch(
    client: &Client,
    gateway: &Gateway,
    base: &Url,
) -> Result<Vec<Model>, FetchError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = &gateway.api_key {
        http::add_secret(
            &mut headers,
            HeaderName::from_static("x-goog-api-key"),
            key.expose(),
        )?;
    }
    paging::follow(|token| {
        let headers = headers.clone();
        async move {
            let mut url = http::join(base, "models")?;
            url.query_pairs_mut()
                .append_pair("pageSize", &PAGE_SIZE.to_string());
            if let Some(token) = &token {
                url.query_pairs_mut().append_pair("pageToken", token);
            }
            http::get_parsed(client, gateway, url, headers, parse_page).await
        }
    })
    .await
}

pub fn parse_page(body: &[u8]) -> Result<Page, FetchError> {
    parse_page_value(&json::parse_body(body)?)
}

fn parse_page_value(body: &Value) -> Result<Page, FetchError> {
    let models = match body.get("models") {
        None if body.is_object() && body.get("error").is_none() => Vec::new(),
        _ => json::records(body, "models", record)?,
    };
    Ok(Page {
        models,
        next: json::string(body, "nextPageToken"),
    })
}

fn record(v: &Value) -> Option<Model> {
    let name = json::string(v, "name")?;
    let id = name.strip_prefix("models/").unwrap_or(&name).to_owned();
    if id.is_empty() {
        return None;
    }
    let mut model = Model {
        id,
        name: json::string(v, "displayName"),
        description: json::string(v, "description"),
        ..Model::default()
    };
    model.fill_limits(
        json::count(v, "inputTokenLimit"),
        json::count(v, "outputTokenLimit"),
    );
    Some(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_page_stripping_the_models_prefix() {
        let page = parse_page(include_str!("../../tests/fixtures/gemini.json").as_bytes()).unwrap();
        assert_eq!(page.models.len(), 4);
        assert_eq!(page.next, None);
        let m = &page.models[0];
        assert_eq!(m.id, "gemini-2.5-pro");
        assert_eq!(m.name.as_deref(), Some("Gemini 2.5 Pro"));
        assert!(m.description.as_deref().unwrap().contains("Stable release"));
        assert_eq!(m.context_length, Some(1048576));
        let top = m.top_provider.as_ref().unwrap();
        assert_eq!(
            (top.context_length, top.max_completion_tokens),
            (Some(1048576), Some(65536))
        );
        assert_eq!((m.created, &m.pricing), (None, &None));
    }

    #[test]
    fn next_page_token_is_the_cursor_and_an_empty_object_an_empty_page() {
        let page =
            parse_page(br#"{"models":[{"name":"models/a"}],"nextPageToken":"Cg1"}"#).unwrap();
        assert_eq!(
            (page.models[0].id.as_str(), page.next.as_deref()),
            ("a", Some("Cg1"))
        );
        assert!(parse_page(b"{}").unwrap().models.is_empty());
        let err = parse_page(
            br#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}"#,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("API key not valid"), "{err}");
        assert_eq!(
            parse_page(br#"{"models":[{"name":"models/"},{"displayName":"x"}]}"#)
                .unwrap()
                .models
                .len(),
            0
        );
    }
}
