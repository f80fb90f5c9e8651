//! Cohere: `GET {base}/models?page_size=…&page_token=…` (Bearer) answering
//! `{"models":[{"name","endpoints","context_length","features",…}],
//! "next_page_token"}`.
//!
//! A Cohere model is named by `name`, which is what a chat request sends, so
//! it becomes the id. The list gives no prices or dates. `context_length` is
//! documented as a double; an integral value is read, a fraction is dropped.

use reqwest::{Client, Url};
use serde_json::Value;

use super::paging::{self, Page};
use super::{FetchError, Gateway, Model, http, json};

/// Cohere's largest page.
const PAGE_SIZE: u32 = 1000;

pub async fn fetch(
    client: &Client,
    gateway: &Gateway,
    base: &Url,
) -> Result<Vec<Model>, FetchError> {
    let headers = http::bearer(gateway)?;
    paging::follow(|token| {
        let headers = headers.clone();
        async move {
            let mut url = http::join(base, "models")?;
            url.query_pairs_mut()
                .append_pair("page_size", &PAGE_SIZE.to_string());
            if let Some(token) = &token {
                url.query_pairs_mut().append_pair("page_token", token);
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
    let models = json::records(body, "models", record)?;
    Ok(Page {
        models,
        next: json::string(body, "next_page_token"),
    })
}

fn record(v: &Value) -> Option<Model> {
    let mut model = Model {
        id: json::string(v, "name")?,
        ..Model::default()
    };
    model.fill_limits(json::count(v, "context_length"), None);
    Some(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_page_named_by_name() {
        let page = parse_page(include_str!("../../tests/fixtures/cohere.json").as_bytes()).unwrap();
        assert_eq!(page.models.len(), 4);
        assert_eq!(page.next, None);
        assert_eq!(page.models[0].id, "command-a-03-2025");
        assert_eq!(page.models[0].context_length, Some(256000));
        assert_eq!(page.models[3].id, "rerank-v3.5");
    }

    #[test]
    fn next_page_token_is_the_cursor() {
        let page = parse_page(br#"{"models":[{"name":"a","context_length":2048.0}],"next_page_token":"eyJwYWdlIjoxfQ=="}"#).unwrap();
        assert_eq!(page.next.as_deref(), Some("eyJwYWdlIjoxfQ=="));
        assert_eq!(page.models[0].context_length, Some(2048));
        let err = parse_page(br#"{"message":"invalid api token"}"#)
            .err()
            .unwrap();
        assert!(err.to_string().contains("\"models\" list"), "{err}");
    }
}
