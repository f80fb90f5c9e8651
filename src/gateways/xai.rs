//! xAI: `GET {base}/language-models` (Bearer) answering `{"models":[{"id",
//! "created","owned_by","input_modalities","output_modalities",
//! "prompt_text_token_price","cached_prompt_text_token_price",
//! "completion_text_token_price",…}]}`.
//!
//! A kind of its own rather than an `openai` extra: the path, the list key
//! (`models`, not `data`) and the price unit all differ from xAI's
//! OpenAI-compatible `/models`, which gives ids only (that one still works
//! with `kind = "openai"`). Prices are in cents per 100 million tokens
//! (grok-3's `30000` = $3 per 1M), converted exactly to USD per token.
//! `prompt_image_token_price` is per image *token*, not per image as the
//! normalised `image` price is, so it is not mapped.

use reqwest::{Client, Url};
use serde_json::Value;

use super::model::{Architecture, Pricing};
use super::{FetchError, Gateway, Model, http, json, price};

pub async fn fetch(
    client: &Client,
    gateway: &Gateway,
    base: &Url,
) -> Result<Vec<Model>, FetchError> {
    let url = http::join(base, "language-models")?;
    http::get_parsed(client, gateway, url, http::bearer(gateway)?, parse).await
}

pub fn parse(body: &[u8]) -> Result<Vec<Model>, FetchError> {
    json::records(&json::parse_body(body)?, "models", record)
}

fn record(v: &Value) -> Option<Model> {
    let mut model = Model {
        id: json::string(v, "id")?,
        created: json::integer(v, "created"),
        owned_by: json::string(v, "owned_by"),
        ..Model::default()
    };
    let input = json::strings(v, "input_modalities");
    let output = json::strings(v, "output_modalities");
    if input.is_some() || output.is_some() {
        model.architecture = Some(Architecture {
            input_modalities: input,
            output_modalities: output,
        });
    }
    let get = |k: &str| {
        v.get(k)
            .and_then(|x| price::convert(x, price::CENTS_PER_100M))
    };
    model.fill_pricing(Pricing {
        prompt: get("prompt_text_token_price"),
        completion: get("completion_text_token_price"),
        input_cache_read: get("cached_prompt_text_token_price"),
        ..Pricing::default()
    });
    Some(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_language_models_with_cent_prices() {
        let models = parse(include_str!("../../tests/fixtures/xai.json").as_bytes()).unwrap();
        assert_eq!(models.len(), 3);
        let m = &models[0];
        assert_eq!(m.id, "grok-3");
        assert_eq!(m.created, Some(1743724800));
        assert_eq!(m.owned_by.as_deref(), Some("xai"));
        let p = m.pricing.as_ref().unwrap();
        assert_eq!(p.prompt.as_deref(), Some("0.000003"));
        assert_eq!(p.completion.as_deref(), Some("0.000015"));
        assert_eq!(p.input_cache_read.as_deref(), Some("0.00000075"));
        assert_eq!(p.image, None);
        let mini = models[1].pricing.as_ref().unwrap();
        assert_eq!(mini.prompt.as_deref(), Some("0.0000003"));
        assert_eq!(mini.completion.as_deref(), Some("0.0000005"));
        let vision = models[2].architecture.as_ref().unwrap();
        assert_eq!(vision.input_modalities.clone().unwrap(), ["text", "image"]);
        assert_eq!(
            models[2].pricing.as_ref().unwrap().prompt.as_deref(),
            Some("0.000002")
        );
    }
}
