//! Synthetic, deterministic, OpenRouter-shaped model lists: what the mock
//! gateways serve.
//!
//! A record carries what OpenRouter's `GET /api/v1/models` gives (name, a
//! description of a few hundred characters, context length, architecture,
//! pricing as decimal strings, top provider, supported parameters) plus the
//! OpenAI fields (`object`, `owned_by`), so one body suits both the `openai`
//! and the `openrouter` adapters. Same inputs, same bytes: runs compare.

use serde_json::{Value, json};

const VENDORS: [&str; 10] = [
    "openai",
    "anthropic",
    "google",
    "meta-llama",
    "mistralai",
    "qwen",
    "deepseek",
    "cohere",
    "x-ai",
    "nvidia",
];
const FAMILIES: [&str; 8] = [
    "chat", "instruct", "coder", "vision", "reasoner", "mini", "large", "turbo",
];
const SIZES: [&str; 6] = ["8b", "14b", "32b", "70b", "235b-a22b", "405b"];
const PARAMETERS: [&str; 14] = [
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "tools",
    "tool_choice",
    "response_format",
    "structured_outputs",
    "logit_bias",
    "logprobs",
    "reasoning",
];

/// The id of model `index` (the same in every gateway, as aggregators list
/// the same models). Contains a `/`, as real ids do.
pub fn model_id(index: usize) -> String {
    let vendor = VENDORS[index % VENDORS.len()];
    let family = FAMILIES[(index / VENDORS.len()) % FAMILIES.len()];
    let size = SIZES[(index / 7) % SIZES.len()];
    format!("{vendor}/{family}-{size}-v{index}")
}

/// One OpenRouter-shaped record (about 1.3 KB of JSON).
pub fn model(gateway: usize, index: usize) -> Value {
    let id = model_id(index);
    let vendor = VENDORS[index % VENDORS.len()];
    let context = [8192u64, 32768, 131_072, 200_000, 1_048_576][index % 5];
    let vision = index.is_multiple_of(3);
    let tokenizer = ["GPT", "Claude", "Gemini", "Llama3", "Mistral", "Qwen"][index % 6];
    let max_completion = [4096u64, 8192, 16_384, 32_768][index % 4];
    let prompt_micro = 50 + (index * 37 + gateway * 11) % 15_000;
    json!({
        "id": id,
        "canonical_slug": format!("{id}-20250101"),
        "hugging_face_id": if index.is_multiple_of(2) { format!("{vendor}/{}", id.replace('/', "-")) } else { String::new() },
        "name": format!("{}: {}", title(vendor), title(id.split('/').nth(1).unwrap_or(&id))),
        "object": "model",
        "owned_by": vendor,
        "created": 1_690_000_000 + (index as i64) * 86_400,
        "description": description(vendor, index, context),
        "context_length": context,
        "architecture": {
            "modality": if vision { "text+image->text" } else { "text->text" },
            "input_modalities": if vision { vec!["text", "image"] } else { vec!["text"] },
            "output_modalities": ["text"],
            "tokenizer": tokenizer,
            "instruct_type": if index.is_multiple_of(4) { Value::Null } else { json!("chatml") }
        },
        "pricing": {
            "prompt": per_token(prompt_micro),
            "completion": per_token(prompt_micro * 4),
            "request": "0",
            "image": if vision { per_token(prompt_micro * 1000) } else { "0".into() },
            "web_search": "0",
            "internal_reasoning": "0",
            "input_cache_read": per_token(prompt_micro / 10),
            "input_cache_write": per_token(prompt_micro * 5 / 4)
        },
        "top_provider": {
            "context_length": context,
            "max_completion_tokens": max_completion,
            "is_moderated": index.is_multiple_of(5)
        },
        "per_request_limits": null,
        "supported_parameters": PARAMETERS[..6 + index % (PARAMETERS.len() - 6)].to_vec()
    })
}

/// The whole `GET /models` body of a gateway.
pub fn list_body(gateway: usize, models: usize) -> Vec<u8> {
    let data: Vec<Value> = (0..models).map(|i| model(gateway, i)).collect();
    serde_json::to_vec(&json!({"object": "list", "data": data}))
        .expect("BUG: a JSON value serialises")
}

/// USD per token from micro-dollars per million tokens, as OpenRouter
/// writes it (`"0.00000015"`): exact decimal, no float.
fn per_token(micro_per_million: usize) -> String {
    // micro-dollars per 1M tokens = 1e-12 USD per token.
    let digits = format!("{micro_per_million:0>13}");
    let (int, frac) = digits.split_at(digits.len() - 12);
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    match (int.is_empty(), frac.is_empty()) {
        (_, true) => if int.is_empty() { "0" } else { int }.to_owned(),
        (true, false) => format!("0.{frac}"),
        (false, false) => format!("{int}.{frac}"),
    }
}

fn title(raw: &str) -> String {
    raw.split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn description(vendor: &str, index: usize, context: u64) -> String {
    format!(
        "A {} model from {vendor}, tuned for instruction following, tool use and \
         multi-turn conversation. It supports a {context}-token context window, \
         structured outputs and function calling, and performs strongly on coding, \
         math and multilingual benchmarks. Release {index}; weights and usage terms \
         follow the provider's policy. Suitable for agents, retrieval-augmented \
         generation and long-document analysis.",
        FAMILIES[index % FAMILIES.len()]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_exact_decimal_strings() {
        assert_eq!(per_token(150), "0.00000000015");
        assert_eq!(per_token(1_500_000), "0.0000015");
        assert_eq!(per_token(0), "0");
        assert_eq!(per_token(2_000_000_000_000), "2");
    }

    #[test]
    fn a_record_is_openrouter_shaped_and_about_a_kilobyte() {
        let record = model(3, 42);
        assert_eq!(record["id"], model_id(42));
        assert!(record["pricing"]["prompt"].is_string());
        let size = serde_json::to_vec(&record).unwrap().len();
        assert!((900..2000).contains(&size), "{size} bytes");
    }
}
