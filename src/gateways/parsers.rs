//! The property test: no parser panics, whatever the upstream sends.
//!
//! Every adapter's parser gets arbitrary bytes, arbitrary JSON values, and
//! JSON shaped like its own list with arbitrary records inside. Any outcome
//! is fine except a panic (or a hang). Case counts are bounded so the whole
//! test takes a few seconds in CI.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{
    FetchError, anthropic, cohere, gemini, ollama, openai, openrouter, static_list, together, xai,
};

type Parser = fn(&[u8]) -> Result<usize, FetchError>;

/// Each parser, reduced to "how many models" so they share one signature.
const PARSERS: [(&str, Parser); 9] = [
    ("openai", |b| openai::parse(b).map(|m| m.len())),
    ("openrouter", |b| openrouter::parse(b).map(|m| m.len())),
    ("anthropic", |b| {
        anthropic::parse_page(b).map(|p| p.models.len())
    }),
    ("gemini", |b| gemini::parse_page(b).map(|p| p.models.len())),
    ("together", |b| together::parse(b).map(|m| m.len())),
    ("ollama", |b| ollama::parse(b).map(|m| m.len())),
    ("cohere", |b| cohere::parse_page(b).map(|p| p.models.len())),
    ("xai", |b| xai::parse(b).map(|m| m.len())),
    ("static", |b| static_list::parse(b).map(|m| m.len())),
];

fn feed_all(body: &[u8]) {
    for (_name, parse) in PARSERS {
        let _ = parse(body);
    }
}

/// Any JSON value, a few levels deep, with the keys the parsers look for
/// among the object keys so that nested fields get exercised.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("id".to_owned()),
        Just("name".to_owned()),
        Just("pricing".to_owned()),
        Just("input".to_owned()),
        Just("prompt".to_owned()),
        Just("context_length".to_owned()),
        Just("metadata".to_owned()),
        Just("providers".to_owned()),
        Just("architecture".to_owned()),
        Just("capabilities".to_owned()),
        Just("created_at".to_owned()),
        Just("error".to_owned()),
        "[a-z_]{1,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::from),
        "[0-9.eE+-]{1,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A body shaped like one of the documented lists, with arbitrary records.
fn list_shaped() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(any_json(), 0..6),
        any_json(),
        0..5usize,
    )
        .prop_map(|(records, extra, shape)| {
            let list = Value::Array(records);
            match shape {
                0 => json!({"data": list, "has_more": extra, "last_id": extra}),
                1 => json!({"models": list, "nextPageToken": extra, "next_page_token": extra}),
                2 => list,
                3 => json!({"data": list, "has_more": true, "last_id": extra}),
                _ => json!({"models": list, "error": extra}),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_parser_panics_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        feed_all(&body);
    }

    #[test]
    fn no_parser_panics_on_arbitrary_json(value in any_json()) {
        feed_all(value.to_string().as_bytes());
    }

    #[test]
    fn no_parser_panics_on_list_shaped_json(value in list_shaped()) {
        feed_all(value.to_string().as_bytes());
    }

    #[test]
    fn price_conversion_never_panics(text in ".{0,40}", pow in -20i32..20) {
        let _ = super::price::scale(&text, pow);
    }
}

#[test]
fn every_fixture_parses_with_its_parser() {
    let fixtures = [
        ("openai", "openai"),
        ("openai", "groq"),
        ("openai", "mistral"),
        ("openai", "vllm"),
        ("openai", "fireworks"),
        ("openai", "deepinfra"),
        ("openai", "vercel"),
        ("openai", "huggingface"),
        ("openrouter", "openrouter"),
        ("anthropic", "anthropic"),
        ("gemini", "gemini"),
        ("together", "together"),
        ("ollama", "ollama"),
        ("cohere", "cohere"),
        ("xai", "xai"),
    ];
    for (kind, file) in fixtures {
        let path = format!("{}/tests/fixtures/{file}.json", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read(&path).unwrap();
        let (_, parse) = PARSERS.iter().find(|(k, _)| *k == kind).unwrap();
        let count = parse(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(count >= 3, "{file}: only {count} models");
    }
}
