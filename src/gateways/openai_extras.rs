//! The extra fields OpenAI-compatible servers add to `/models` records.
//!
//! Each reader looks for one provider's documented fields and fills only what
//! it finds; a record that has none of them keeps the OpenAI basics. The
//! readers never overwrite a value an earlier one set, so the order below is
//! the precedence when a record carries several spellings.
//!
//! | provider | fields read |
//! |---|---|
//! | Groq | `context_window`, `max_completion_tokens` |
//! | Vercel AI Gateway | `context_window`, `max_tokens`, `pricing` (USD per token, strings) |
//! | Mistral | `max_context_length`, `capabilities` (`vision`, `function_calling`) |
//! | vLLM | `max_model_len` |
//! | Fireworks | `context_length`, `supports_image_input`, `supports_tools` |
//! | DeepInfra | `metadata` (`context_length`, `max_tokens`, `description`, `pricing` per 1M) |
//! | Hugging Face router | `architecture`, `providers[]` (`context_length`, `pricing` per 1M) |

use serde_json::Value;

use super::model::{Architecture, Model, Pricing};
use super::{json, price};

pub fn apply(model: &mut Model, v: &Value) {
    context(model, v);
    per_token_pricing(model, v);
    mistral_capabilities(model, v);
    fireworks_capabilities(model, v);
    if let Some(meta) = v.get("metadata").filter(|m| m.is_object()) {
        deepinfra(model, meta);
    }
    if let Some(provider) = hugging_face_provider(v) {
        hugging_face(model, v, provider);
    }
}

/// Context and output limits under their several names.
fn context(model: &mut Model, v: &Value) {
    let context = [
        "context_length",
        "context_window",
        "max_context_length",
        "max_model_len",
    ]
    .iter()
    .find_map(|key| json::count(v, key));
    let max_out = json::count(v, "max_completion_tokens").or_else(|| json::count(v, "max_tokens"));
    model.fill_limits(context, max_out);
}

/// Vercel's `pricing` (`input`/`output`/`input_cache_*`), or an
/// OpenRouter-shaped one (`prompt`/`completion`), both USD per token.
fn per_token_pricing(model: &mut Model, v: &Value) {
    let Some(p) = v.get("pricing").filter(|p| p.is_object()) else {
        return;
    };
    let get = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| p.get(*k).and_then(|x| price::convert(x, price::PER_TOKEN)))
    };
    model.fill_pricing(Pricing {
        prompt: get(&["input", "prompt"]),
        completion: get(&["output", "completion"]),
        request: get(&["request"]),
        image: get(&["image"]),
        input_cache_read: get(&["input_cache_read"]),
        input_cache_write: get(&["input_cache_write"]),
    });
}

fn mistral_capabilities(model: &mut Model, v: &Value) {
    let Some(caps) = json::object(v, "capabilities") else {
        return;
    };
    let flag = |k: &str| caps.get(k).and_then(Value::as_bool);
    capabilities(model, flag("vision"), flag("function_calling"));
}

fn fireworks_capabilities(model: &mut Model, v: &Value) {
    let flag = |k: &str| v.get(k).and_then(Value::as_bool);
    capabilities(model, flag("supports_image_input"), flag("supports_tools"));
}

/// Image input → `input_modalities`; tool calling → `supported_parameters`.
fn capabilities(model: &mut Model, vision: Option<bool>, tools: Option<bool>) {
    if let Some(vision) = vision
        && model.architecture.is_none()
    {
        let mut input = vec!["text".to_owned()];
        if vision {
            input.push("image".into());
        }
        model.architecture = Some(Architecture {
            input_modalities: Some(input),
            output_modalities: None,
        });
    }
    if tools == Some(true) && model.supported_parameters.is_none() {
        model.supported_parameters = Some(vec!["tools".into(), "tool_choice".into()]);
    }
}

fn deepinfra(model: &mut Model, meta: &Value) {
    model.fill_limits(
        json::count(meta, "context_length"),
        json::count(meta, "max_tokens"),
    );
    if model.description.is_none() {
        model.description = json::string(meta, "description");
    }
    if let Some(p) = meta.get("pricing") {
        let get = |k: &str| p.get(k).and_then(|x| price::convert(x, price::PER_MILLION));
        model.fill_pricing(Pricing {
            prompt: get("input_tokens"),
            completion: get("output_tokens"),
            input_cache_read: get("cache_read_tokens"),
            ..Pricing::default()
        });
    }
}

/// The router's first provider that is `live` (or its first at all): the
/// normalised record has one price, and the router lists providers in its
/// own preference order.
fn hugging_face_provider(v: &Value) -> Option<&Value> {
    let providers = v.get("providers")?.as_array()?;
    providers
        .iter()
        .find(|p| p.get("status").and_then(Value::as_str) == Some("live"))
        .or_else(|| providers.first())
        .filter(|p| p.is_object())
}

fn hugging_face(model: &mut Model, v: &Value, provider: &Value) {
    if model.architecture.is_none()
        && let Some(arch) = v.get("architecture")
    {
        model.architecture = Some(Architecture {
            input_modalities: json::strings(arch, "input_modalities"),
            output_modalities: json::strings(arch, "output_modalities"),
        });
    }
    model.fill_limits(json::count(provider, "context_length"), None);
    if let Some(p) = provider.get("pricing") {
        let get = |k: &str| p.get(k).and_then(|x| price::convert(x, price::PER_MILLION));
        model.fill_pricing(Pricing {
            prompt: get("input"),
            completion: get("output"),
            ..Pricing::default()
        });
    }
    let tools = provider.get("supports_tools").and_then(Value::as_bool);
    capabilities(model, None, tools);
}

#[cfg(test)]
#[path = "openai_extras_tests.rs"]
mod tests;
