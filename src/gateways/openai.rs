//! Any OpenAI-compatible server: `GET {base}/models` answering
//! `{"object":"list","data":[{"id","created","owned_by",…}]}`.
//!
//! OpenAI itself gives only those three fields; the servers that copy its
//! shape add their own (Groq, Mistral, DeepInfra, vLLM, Fireworks, Vercel AI
//! Gateway, Hugging Face router…). Those well-known extras are read by
//! [`extras`](super::openai_extras) when present, so one kind serves them all.

use reqwest::{Client, Url};
use serde_json::Value;

use super::{FetchError, Gateway, Model, http, json, openai_extras};

pub async fn fetch(
    client: &Client,
    gateway: &Gateway,
    base: &Url,
) -> Result<Vec<Model>, FetchError> {
    let url = http::join(base, "models")?;
    http::get_parsed(client, gateway, url, http::bearer(gateway)?, parse).await
}

/// Parses the list; records without a string `id` are skipped.
pub fn parse(body: &[u8]) -> Result<Vec<Model>, FetchError> {
    json::records(&json::parse_body(body)?, "data", record)
}

fn record(v: &Value) -> Option<Model> {
    let mut model = Model {
        id: json::string(v, "id")?,
        created: json::integer(v, "created"),
        owned_by: json::string(v, "owned_by"),
        name: json::string(v, "name"),
        description: json::string(v, "description"),
        ..Model::default()
    };
    openai_extras::apply(&mut model, v);
    Some(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_openai_list() {
        let models = parse(include_str!("../../tests/fixtures/openai.json").as_bytes()).unwrap();
        assert_eq!(models.len(), 4);
        assert_eq!(models[0].id, "gpt-4o");
        assert_eq!(models[0].created, Some(1715367049));
        assert_eq!(models[0].owned_by.as_deref(), Some("system"));
        assert_eq!(models[0].name, None);
        assert_eq!(models[0].pricing, None);
        assert_eq!(models[0].context_length, None);
    }

    #[test]
    fn skips_records_without_an_id() {
        let models =
            parse(br#"{"data":[{"object":"model"},{"id":7},{"id":""},{"id":"ok"}]}"#).unwrap();
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
        assert_eq!(parse(b"[]").unwrap_err().kind(), "parse");
    }
}
