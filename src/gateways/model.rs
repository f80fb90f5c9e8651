//! The normalised model record every adapter produces.
//!
//! It is OpenRouter-compatible (the shape aggregators' frontends already
//! consume) plus the `gateway` it came from. A field the upstream does not give
//! stays `None` and is serialised as `null`: adapters never invent values.
//! Prices are USD per token as decimal strings, so no float rounding is ever
//! applied to them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Model {
    /// Exactly what to send as `model` to the gateway.
    pub id: String,
    /// The configured gateway id this record came from.
    pub gateway: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Unix seconds, as the provider gives it (its meaning varies by provider).
    pub created: Option<i64>,
    pub owned_by: Option<String>,
    pub context_length: Option<u64>,
    pub architecture: Option<Architecture>,
    pub pricing: Option<Pricing>,
    pub top_provider: Option<TopProvider>,
    pub supported_parameters: Option<Vec<String>>,
    /// The Hugging Face repository of the weights, where the gateway says
    /// (OpenRouter does): what links other gateways' ids to this model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hugging_face_id: Option<String>,
    /// When this gateway first listed this id (ms since epoch), as the store
    /// remembers it across fetches, restarts and instances (`changes`).
    pub first_seen: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Architecture {
    pub input_modalities: Option<Vec<String>>,
    pub output_modalities: Option<Vec<String>>,
}

/// USD per token (per request, per image), as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Pricing {
    pub prompt: Option<String>,
    pub completion: Option<String>,
    pub request: Option<String>,
    pub image: Option<String>,
    pub input_cache_read: Option<String>,
    pub input_cache_write: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TopProvider {
    pub context_length: Option<u64>,
    pub max_completion_tokens: Option<u64>,
}

impl Model {
    /// Fills context and output limits not set yet: when a provider spells a
    /// limit several ways, the first spelling read wins.
    pub fn fill_limits(&mut self, context: Option<u64>, max_out: Option<u64>) {
        if self.context_length.is_none() {
            self.context_length = context;
        }
        if context.is_none() && max_out.is_none() {
            return;
        }
        let top = self.top_provider.get_or_insert_with(TopProvider::default);
        if top.context_length.is_none() {
            top.context_length = context;
        }
        if top.max_completion_tokens.is_none() {
            top.max_completion_tokens = max_out;
        }
    }

    /// Fills the pricing unless one is set already or this one is empty.
    pub fn fill_pricing(&mut self, pricing: Pricing) {
        if self.pricing.is_none() && pricing != Pricing::default() {
            self.pricing = Some(pricing);
        }
    }

    /// Case-insensitive match of `needle` (already lower-case) on id or name.
    pub fn matches(&self, needle_lower: &str) -> bool {
        contains_ignore_case(&self.id, needle_lower)
            || self
                .name
                .as_deref()
                .is_some_and(|n| contains_ignore_case(n, needle_lower))
    }
}

fn contains_ignore_case(haystack: &str, needle_lower: &str) -> bool {
    if haystack.is_ascii() && needle_lower.is_ascii() {
        // The common case, without allocating a lower-cased copy.
        let (h, n) = (haystack.as_bytes(), needle_lower.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(needle_lower)
}

impl Model {
    /// The data-hygiene rules every record passes, whatever its adapter: a
    /// negative price (OpenRouter's `"-1"`, "varies by request") is unknown,
    /// and so is a context length of 0.
    pub fn sanitize(&mut self) {
        if let Some(pricing) = &mut self.pricing {
            for price in [
                &mut pricing.prompt,
                &mut pricing.completion,
                &mut pricing.request,
                &mut pricing.image,
                &mut pricing.input_cache_read,
                &mut pricing.input_cache_write,
            ] {
                if price.as_deref().is_some_and(|p| p.starts_with('-')) {
                    *price = None;
                }
            }
        }
        if self.context_length == Some(0) {
            self.context_length = None;
        }
        if let Some(top) = &mut self.top_provider
            && top.context_length == Some(0)
        {
            top.context_length = None;
        }
    }
}

/// Keeps the first record of each id, in the upstream's order, and drops
/// records without an id. Returns how many records were dropped.
pub fn dedup_by_id(models: &mut Vec<Model>) -> usize {
    let before = models.len();
    let mut seen = std::collections::HashSet::with_capacity(models.len());
    models.retain(|m| !m.id.is_empty() && seen.insert(m.id.clone()));
    before - models.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, name: Option<&str>) -> Model {
        Model {
            id: id.into(),
            name: name.map(Into::into),
            ..Model::default()
        }
    }

    #[test]
    fn negative_prices_and_a_zero_context_become_unknown() {
        let mut m = Model {
            context_length: Some(0),
            pricing: Some(Pricing {
                prompt: Some("-1".into()),
                completion: Some("-0.5".into()),
                request: Some("0".into()),
                image: Some("0.001".into()),
                ..Pricing::default()
            }),
            top_provider: Some(TopProvider {
                context_length: Some(0),
                max_completion_tokens: Some(4096),
            }),
            ..model("m", None)
        };
        m.sanitize();
        let p = m.pricing.as_ref().unwrap();
        assert_eq!((p.prompt.as_deref(), p.completion.as_deref()), (None, None));
        assert_eq!(
            (p.request.as_deref(), p.image.as_deref()),
            (Some("0"), Some("0.001"))
        );
        assert_eq!(m.context_length, None);
        let top = m.top_provider.unwrap();
        assert_eq!(
            (top.context_length, top.max_completion_tokens),
            (None, Some(4096))
        );
    }

    #[test]
    fn search_matches_id_or_name_ignoring_case() {
        let m = model("openai/gpt-4o", Some("GPT-4o Ünïcode"));
        assert!(m.matches("gpt-4o"));
        assert!(m.matches("openai/"));
        assert!(m.matches("ünïcode"));
        assert!(!m.matches("claude"));
    }

    #[test]
    fn unknown_fields_are_ignored_and_missing_ones_are_null() {
        let m: Model = serde_json::from_str(r#"{"id":"x","extra":{"a":1}}"#).unwrap();
        assert_eq!(m.id, "x");
        let json = serde_json::to_value(&m).unwrap();
        assert!(json["pricing"].is_null() && json["name"].is_null());
    }

    #[test]
    fn dedup_keeps_the_first_of_each_id_and_drops_empty_ids() {
        let mut list = vec![
            model("a", Some("first")),
            model("", None),
            model("b", None),
            model("a", Some("second")),
        ];
        assert_eq!(dedup_by_id(&mut list), 2);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name.as_deref(), Some("first"));
    }
}
