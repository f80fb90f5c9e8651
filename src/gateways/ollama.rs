//! Ollama: `GET {base}/api/tags` answering `{"models":[{"name","model",
//! "modified_at","size","digest","details"}]}`.
//!
//! `base` is the server root (`http://127.0.0.1:11434`), not `/v1`. Ollama
//! gives no display name, context length, price or creation date (its
//! `modified_at` is when the model was pulled), so those stay null. A key is
//! sent as Bearer only when configured, for servers behind an auth proxy.

use reqwest::{Client, Url};

use super::{FetchError, Gateway, Model, http, json};

pub async fn fetch(
    client: &Client,
    gateway: &Gateway,
    base: &Url,
) -> Result<Vec<Model>, FetchError> {
    let url = http::join(base, "api/tags")?;
    http::get_parsed(client, gateway, url, http::bearer(gateway)?, parse).await
}

pub fn parse(body: &[u8]) -> Result<Vec<Model>, FetchError> {
    json::records(&json::parse_body(body)?, "models", |v| {
        Some(Model {
            id: json::string(v, "name").or_else(|| json::string(v, "model"))?,
            ..Model::default()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_tags_list() {
        let models = parse(include_str!("../../tests/fixtures/ollama.json").as_bytes()).unwrap();
        let ids: Vec<_> = models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "llama3.2:latest",
                "qwen2.5-coder:7b",
                "nomic-embed-text:latest"
            ]
        );
        assert_eq!(
            models[0],
            Model {
                id: "llama3.2:latest".into(),
                ..Model::default()
            }
        );
    }

    #[test]
    fn a_missing_list_is_an_error() {
        let err = parse(br#"{"error":"unauthorized"}"#).unwrap_err();
        assert!(err.to_string().contains("unauthorized"), "{err}");
    }
}
