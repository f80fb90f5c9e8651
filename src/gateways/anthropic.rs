//! Anthropic: `GET {base}/models?limit=…&after_id=…` with `x-api-key` and
//! `anthropic-version: 2023-06-01`, answering
//! `{"data":[{"id","display_name","created_at","type"}],"has_more","first_id","last_id"}`.
//!
//! Pages are chained by `after_id = last_id` while `has_more` is true.
//! `created_at` is an RFC 3339 date (the model's release), turned into unix
//! seconds; Anthropic gives no context length or prices in this list.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Url};
use serde_json::Value;

use super::paging::{self, Page};
use super::{FetchError, Gateway, Model, http, json};

/// The API version the response shape above belongs to.
const API_VERSION: &str = "2023-06-01";
/// Anthropic's largest page.
const PAGE_SIZE: u32 = 1000;

pub async fn fetch(
    client: &Client,
    gateway: &Gateway,
    base: &Url,
) -> Result<Vec<Model>, FetchError> {
    let headers = headers(gateway)?;
    paging::follow(|after| {
        let headers = headers.clone();
        async move {
            let mut url = http::join(base, "models")?;
            url.query_pairs_mut()
                .append_pair("limit", &PAGE_SIZE.to_string());
            if let Some(after) = &after {
                url.query_pairs_mut().append_pair("after_id", after);
            }
            http::get_parsed(client, gateway, url, headers, parse_page).await
        }
    })
    .await
}

fn headers(gateway: &Gateway) -> Result<HeaderMap, FetchError> {
    let mut headers = HeaderMap::new();
    headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
    if let Some(key) = &gateway.api_key {
        http::add_secret(
            &mut headers,
            HeaderName::from_static("x-api-key"),
            key.expose(),
        )?;
    }
    Ok(headers)
}

/// One page: its models and, when `has_more`, the cursor of the next.
pub fn parse_page(body: &[u8]) -> Result<Page, FetchError> {
    parse_page_value(&json::parse_body(body)?)
}

fn parse_page_value(body: &Value) -> Result<Page, FetchError> {
    let models = json::records(body, "data", record)?;
    let has_more = body
        .get("has_more")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let next = match (has_more, json::string(body, "last_id")) {
        (false, _) => None,
        (true, Some(last)) => Some(last),
        (true, None) => {
            return Err(FetchError::Parse(
                "\"has_more\" is true but \"last_id\" is missing".into(),
            ));
        }
    };
    Ok(Page { models, next })
}

fn record(v: &Value) -> Option<Model> {
    Some(Model {
        id: json::string(v, "id")?,
        name: json::string(v, "display_name"),
        created: json::rfc3339_seconds(v, "created_at"),
        ..Model::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_page_and_its_cursor() {
        let page =
            parse_page(include_str!("../../tests/fixtures/anthropic.json").as_bytes()).unwrap();
        assert_eq!(page.models.len(), 5);
        assert_eq!(
            page.next, None,
            "the fixture is the whole list: has_more is false"
        );
        let m = &page.models[0];
        assert_eq!(m.id, "claude-sonnet-4-20250514");
        assert_eq!(m.name.as_deref(), Some("Claude Sonnet 4"));
        assert_eq!(m.created, Some(1_747_872_000));
        assert_eq!(
            (m.context_length, &m.pricing, &m.owned_by),
            (None, &None, &None)
        );
    }

    #[test]
    fn has_more_chains_on_last_id() {
        let page = parse_page(
            br#"{"data":[{"id":"a","type":"model"}],"has_more":true,"first_id":"a","last_id":"a"}"#,
        )
        .unwrap();
        assert_eq!(page.next.as_deref(), Some("a"));
        let err = parse_page(br#"{"data":[],"has_more":true}"#).unwrap_err();
        assert!(err.to_string().contains("last_id"), "{err}");
    }

    #[test]
    fn an_error_object_is_reported() {
        let body = br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        let err = parse_page(body).err().unwrap();
        assert!(err.to_string().contains("invalid x-api-key"), "{err}");
    }
}
