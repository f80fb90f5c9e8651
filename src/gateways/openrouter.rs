//! OpenRouter: `GET {base}/models` answering `{"data":[…]}` with `name`,
//! `description`, `context_length`, `architecture`, `pricing` (USD per token,
//! strings), `top_provider` and `supported_parameters`.
//!
//! The normalised record is this shape, so the adapter copies field by field;
//! it still reads each one leniently, and normalises the price strings
//! (`"0.0000025000"` → `"0.0000025"`), so one odd field costs only itself.

use reqwest::{Client, Url};
use serde_json::Value;

use super::model::{Architecture, Pricing, TopProvider};
use super::{FetchError, Gateway, Model, http, json, price};

pub async fn fetch(
    client: &Client,
    gateway: &Gateway,
    base: &Url,
) -> Result<Vec<Model>, FetchError> {
    let url = http::join(base, "models")?;
    http::get_parsed(client, gateway, url, http::bearer(gateway)?, parse).await
}

pub fn parse(body: &[u8]) -> Result<Vec<Model>, FetchError> {
    json::records(&json::parse_body(body)?, "data", record)
}

fn record(v: &Value) -> Option<Model> {
    Some(Model {
        id: json::string(v, "id")?,
        name: json::string(v, "name"),
        description: json::string(v, "description"),
        created: json::integer(v, "created"),
        owned_by: json::string(v, "owned_by"),
        hugging_face_id: json::string(v, "hugging_face_id").filter(|h| !h.trim().is_empty()),
        context_length: json::count(v, "context_length"),
        architecture: v
            .get("architecture")
            .filter(|a| a.is_object())
            .map(|a| Architecture {
                input_modalities: json::strings(a, "input_modalities"),
                output_modalities: json::strings(a, "output_modalities"),
            }),
        pricing: v.get("pricing").filter(|p| p.is_object()).map(pricing),
        top_provider: v
            .get("top_provider")
            .filter(|t| t.is_object())
            .map(|t| TopProvider {
                context_length: json::count(t, "context_length"),
                max_completion_tokens: json::count(t, "max_completion_tokens"),
            }),
        supported_parameters: json::strings(v, "supported_parameters"),
        ..Model::default()
    })
}

fn pricing(p: &Value) -> Pricing {
    let get = |k: &str| p.get(k).and_then(|x| price::convert(x, price::PER_TOKEN));
    Pricing {
        prompt: get("prompt"),
        completion: get("completion"),
        request: get("request"),
        image: get("image"),
        input_cache_read: get("input_cache_read"),
        input_cache_write: get("input_cache_write"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_openrouter_list() {
        let models =
            parse(include_str!("../../tests/fixtures/openrouter.json").as_bytes()).unwrap();
        assert_eq!(models.len(), 4);
        let m = &models[0];
        assert_eq!(m.id, "openai/gpt-4o");
        assert_eq!(m.name.as_deref(), Some("OpenAI: GPT-4o"));
        assert_eq!(m.created, Some(1715558400));
        assert_eq!(m.context_length, Some(128000));
        let p = m.pricing.as_ref().unwrap();
        assert_eq!(p.prompt.as_deref(), Some("0.0000025"));
        assert_eq!(p.completion.as_deref(), Some("0.00001"));
        assert_eq!(p.request.as_deref(), Some("0"));
        assert_eq!(p.image.as_deref(), Some("0.003613"));
        assert_eq!(p.input_cache_read.as_deref(), Some("0.00000125"));
        let arch = m.architecture.as_ref().unwrap();
        assert_eq!(
            arch.input_modalities.clone().unwrap(),
            ["text", "image", "file"]
        );
        let top = m.top_provider.as_ref().unwrap();
        assert_eq!(
            (top.context_length, top.max_completion_tokens),
            (Some(128000), Some(16384))
        );
        assert!(
            m.supported_parameters
                .as_ref()
                .unwrap()
                .contains(&"tools".into())
        );
        assert_eq!(m.owned_by, None);
    }

    #[test]
    fn odd_fields_cost_only_themselves() {
        let body = br#"{"data":[{"id":"x","context_length":"big","pricing":{"prompt":"free","completion":"0.0000010"},"architecture":7}]}"#;
        let m = &parse(body).unwrap()[0];
        assert_eq!(m.context_length, None);
        assert_eq!(m.architecture, None);
        let p = m.pricing.as_ref().unwrap();
        assert_eq!(
            (p.prompt.as_deref(), p.completion.as_deref()),
            (None, Some("0.000001"))
        );
    }
}
