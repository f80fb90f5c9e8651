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

/// One model in this many has its price changed by [`repriced_body`] (5 %).
pub const REPRICED_EVERY: usize = 20;

/// [`list_body`] in round `round` of the changes scenario: one model in
/// [`REPRICED_EVERY`] has a prompt price of that round's (round 0 is
/// [`list_body`] itself).
pub fn repriced_body(gateway: usize, models: usize, round: usize) -> Vec<u8> {
    let data: Vec<Value> = (0..models)
        .map(|i| {
            let mut record = model(gateway, i);
            if round > 0 && i.is_multiple_of(REPRICED_EVERY) {
                record["pricing"]["prompt"] = json!(per_token(20_000 + round * 10 + i % 7));
            }
            record
        })
        .collect();
    serde_json::to_vec(&json!({"object": "list", "data": data}))
        .expect("BUG: a JSON value serialises")
}

/// Models that share a search code: a `q` made from one code matches
/// about this many models (fewer once filtered).
pub const CODE_GROUP: usize = 4;
/// Letters of a search code.
pub const CODE_LEN: usize = 16;

/// The search code of group `group`: [`CODE_LEN`] pseudo-random lowercase
/// letters (MINSTD, `x ← 48271·x mod 2³¹−1`, after three warm-up steps).
/// `bench/catalog-query.lua` computes the same letters in Lua (every
/// intermediate stays below 2⁵³, so doubles are exact).
pub fn code(group: usize) -> String {
    const M: u64 = 2_147_483_647;
    let mut x = (group as u64) % (M - 1) + 1;
    for _ in 0..3 {
        x = x * 48_271 % M;
    }
    (0..CODE_LEN)
        .map(|_| {
            x = x * 48_271 % M;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

/// The words a catalog query takes from a code: every window of 4 and of 5
/// letters. Any two of them match that code's models (and, by the odds of
/// 4- and 5-letter coincidences, next to nothing else).
pub fn code_words(code: &str) -> Vec<&str> {
    let mut words = Vec::new();
    for len in [4, 5] {
        for start in 0..=code.len() - len {
            words.push(&code[start..start + len]);
        }
    }
    words
}

/// The `q` of catalog query number `k` over `groups` code groups: group
/// `k mod groups`, then the next pair of its words on each lap, so no two
/// requests of a run ask the same `q` (until `groups ×` [`code_pairs`]
/// requests). Space-separated; `%20` in a URL.
pub fn catalog_q(k: usize, groups: usize) -> String {
    let groups = groups.max(1);
    let code = code(k % groups);
    let words = code_words(&code);
    let pairs = code_pairs();
    let (a, b) = pairs[(k / groups) % pairs.len()];
    format!("{} {}", words[a], words[b])
}

/// The pairs `(a, b)`, `a < b`, of [`code_words`] indexes, in the order
/// the Lua script walks them.
pub fn code_pairs() -> Vec<(usize, usize)> {
    let n = (CODE_LEN - 3) + (CODE_LEN - 4);
    (0..n)
        .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
        .collect()
}

/// Model `i` of gateway `gateway` in the catalog scenario, where every
/// gateway lists models of its own (100 gateways × 1,000 = 100,000
/// distinct models): global index `gateway × per_gateway + i`, and the
/// name carries its group's search [`code`] as a word of its own.
pub fn catalog_model(gateway: usize, i: usize, per_gateway: usize) -> Value {
    let index = gateway * per_gateway + i;
    let mut record = model(gateway, index);
    let name = format!(
        "{} {}",
        record["name"].as_str().unwrap_or_default(),
        title(&code(index / CODE_GROUP))
    );
    record["name"] = Value::String(name);
    record
}

/// The id of the model a revision adds to a gateway's list (catalog
/// scenario): what a query for the change looks for.
pub fn revised_id(gateway: usize, revision: usize) -> String {
    format!("bench/revised-g{gateway:02}-r{revision}")
}

/// Gateway `gateway`'s body in the catalog scenario, after `revision`
/// changes (each adds one model, [`revised_id`]).
pub fn catalog_body(gateway: usize, models: usize, revision: usize) -> Vec<u8> {
    let mut data: Vec<Value> = (0..models)
        .map(|i| catalog_model(gateway, i, models))
        .collect();
    for r in 1..=revision {
        let mut record = catalog_model(gateway, 0, models);
        let id = revised_id(gateway, r);
        record["name"] = Value::String(format!("Revised: {id}"));
        record["canonical_slug"] = Value::String(id.clone());
        record["id"] = Value::String(id);
        data.push(record);
    }
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
    #[test]
    fn codes_are_lowercase_letters_and_distinct() {
        let a = code(0);
        assert_eq!(a.len(), CODE_LEN);
        assert!(a.bytes().all(|b| b.is_ascii_lowercase()));
        let codes: std::collections::HashSet<String> = (0..30_000).map(code).collect();
        assert_eq!(codes.len(), 30_000);
    }

    #[test]
    fn catalog_queries_differ_and_match_their_group() {
        let groups = 250;
        let qs: std::collections::HashSet<String> = (0..groups * code_pairs().len())
            .map(|k| catalog_q(k, groups))
            .collect();
        assert_eq!(qs.len(), groups * code_pairs().len());
        // Query 7 names group 7: both words are in the names of its models.
        let name = catalog_model(0, 7 * CODE_GROUP, 1000)["name"]
            .as_str()
            .unwrap()
            .to_lowercase();
        for word in catalog_q(7, groups).split(' ') {
            assert!(name.contains(word), "{word} in {name}");
        }
    }

    #[test]
    fn a_revision_adds_one_model() {
        let before: Value = serde_json::from_slice(&catalog_body(3, 5, 0)).unwrap();
        let after: Value = serde_json::from_slice(&catalog_body(3, 5, 1)).unwrap();
        assert_eq!(before["data"].as_array().unwrap().len(), 5);
        assert_eq!(after["data"][5]["id"], revised_id(3, 1));
        assert_eq!(after["data"][4], before["data"][4]);
    }
}
