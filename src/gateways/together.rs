//! Together AI: `GET {base}/models` (Bearer) answering a bare JSON array of
//! `{"id","created","type","display_name","organization","context_length",
//! "pricing":{"input","output",…}}`, prices in USD per million tokens as
//! numbers.
//!
//! A 200 whose body is an object instead of the array is reported with the
//! object's `error`, when it has one.

use reqwest::{Client, Url};
use serde_json::Value;

use super::model::Pricing;
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
    parse_value(&json::parse_body(body)?)
}

fn parse_value(body: &Value) -> Result<Vec<Model>, FetchError> {
    let items = body
        .as_array()
        .ok_or_else(|| json::unexpected_shape(body, "a JSON array of models"))?;
    Ok(items.iter().filter_map(record).collect())
}

fn record(v: &Value) -> Option<Model> {
    let mut model = Model {
        id: json::string(v, "id")?,
        name: json::string(v, "display_name"),
        created: json::integer(v, "created"),
        owned_by: json::string(v, "organization"),
        ..Model::default()
    };
    model.fill_limits(json::count(v, "context_length"), None);
    if let Some(p) = v.get("pricing") {
        let get = |k: &str| p.get(k).and_then(|x| price::convert(x, price::PER_MILLION));
        model.fill_pricing(Pricing {
            prompt: get("input"),
            completion: get("output"),
            ..Pricing::default()
        });
    }
    Some(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_bare_array_with_per_million_prices() {
        let models = parse(include_str!("../../tests/fixtures/together.json").as_bytes()).unwrap();
        assert_eq!(models.len(), 4);
        let m = &models[0];
        assert_eq!(m.id, "meta-llama/Llama-3.3-70B-Instruct-Turbo");
        assert_eq!(m.name.as_deref(), Some("Meta Llama 3.3 70B Instruct Turbo"));
        assert_eq!(m.owned_by.as_deref(), Some("Meta"));
        assert_eq!(m.created, Some(1733443200));
        assert_eq!(m.context_length, Some(131072));
        let p = m.pricing.as_ref().unwrap();
        assert_eq!(
            (p.prompt.as_deref(), p.completion.as_deref()),
            (Some("0.00000088"), Some("0.00000088"))
        );
        let r1 = &models[1];
        let p = r1.pricing.as_ref().unwrap();
        assert_eq!(
            (p.prompt.as_deref(), p.completion.as_deref()),
            (Some("0.000003"), Some("0.000007"))
        );
        let mini = &models[2];
        assert_eq!(
            mini.pricing.as_ref().unwrap().prompt.as_deref(),
            Some("0.00000015")
        );
    }

    #[test]
    fn an_object_instead_of_the_array_is_an_error() {
        let err = parse(br#"{"error":{"message":"Invalid API key provided"}}"#).unwrap_err();
        assert!(
            err.to_string().contains("Invalid API key provided"),
            "{err}"
        );
        let err = parse(br#"{"data":[]}"#).unwrap_err();
        assert!(err.to_string().contains("a JSON array"), "{err}");
    }
}
