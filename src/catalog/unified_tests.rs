//! Each identity rule, its hard negatives, and the merged record.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::gateways::Source as Location;

fn gateway(id: &str, kind: Kind, author: Option<&str>) -> Arc<Gateway> {
    Arc::new(Gateway {
        id: id.into(),
        kind,
        source: Location::File(PathBuf::from("unused.json")),
        api_key: None,
        timeout: Duration::from_secs(1),
        max_body_bytes: 1,
        author: author.map(Into::into),
    })
}

fn record(id: &str) -> Model {
    Model {
        id: id.into(),
        ..Model::default()
    }
}

fn priced(id: &str, prompt: &str, completion: &str) -> Model {
    Model {
        pricing: Some(Pricing {
            prompt: Some(prompt.into()),
            completion: Some(completion.into()),
            ..Pricing::default()
        }),
        ..record(id)
    }
}

fn source(gateway: Arc<Gateway>, models: Vec<Model>) -> Source {
    Source {
        gateway,
        models: Arc::new(models),
    }
}

/// OpenRouter (with Hugging Face ids), and a few gateways as they spell ids.
fn build(aliases: &Aliases) -> Unified {
    let or = gateway("openrouter", Kind::OpenRouter, None);
    let mut llama = priced(
        "meta-llama/llama-3.3-70b-instruct",
        "0.00000013",
        "0.00000039",
    );
    llama.hugging_face_id = Some("meta-llama/Llama-3.3-70B-Instruct".into());
    let mut llama_free = priced("meta-llama/llama-3.3-70b-instruct:free", "0", "0");
    llama_free.hugging_face_id = llama.hugging_face_id.clone();
    let mut small = priced(
        "meta-llama/llama-3.1-8b-instruct",
        "0.00000002",
        "0.00000003",
    );
    small.hugging_face_id = Some("meta-llama/Meta-Llama-3.1-8B-Instruct".into());
    let sources = vec![
        source(
            or,
            vec![
                llama,
                llama_free,
                small,
                priced("openai/gpt-4o", "0.0000025", "0.00001"),
                priced("openai/gpt-4o-mini", "0.00000015", "0.0000006"),
                priced("anthropic/claude-sonnet-4", "0.000003", "0.000015"),
                priced("google/gemini-2.0-flash-001", "0.0000001", "0.0000004"),
            ],
        ),
        source(
            gateway("deepinfra", Kind::OpenAi, None),
            vec![
                priced(
                    "meta-llama/Llama-3.3-70B-Instruct",
                    "0.00000023",
                    "0.0000004",
                ),
                record("meta-llama/Llama-3.3-70B-Instruct-Turbo"),
                record("meta-llama/Meta-Llama-3.1-8B"),
            ],
        ),
        source(
            gateway("together", Kind::Together, None),
            vec![record("meta-llama/Llama-3.3-70B-Instruct-Turbo-FP8")],
        ),
        source(
            gateway("openai", Kind::OpenAi, Some("openai")),
            vec![
                Model {
                    owned_by: Some("system".into()),
                    ..priced("gpt-4o", "0.0000025", "0.00001")
                },
                record("gpt-4o-2024-08-06"),
                record("gpt-4o-mini"),
            ],
        ),
        source(
            gateway("anthropic", Kind::Anthropic, Some("anthropic")),
            vec![record("claude-sonnet-4-20250514")],
        ),
        source(
            gateway("gemini", Kind::Gemini, Some("google")),
            vec![
                record("models/gemini-2.0-flash-001"),
                record("models/gemini-2.0-flash"),
            ],
        ),
        source(
            gateway("groq", Kind::OpenAi, None),
            vec![Model {
                owned_by: Some("Meta".into()),
                ..record("llama-3.3-70b-versatile")
            }],
        ),
    ];
    Unified::build(sources, aliases)
}

fn shipped() -> Aliases {
    let mut aliases = Aliases::default();
    aliases
        .add("[[alias]]\nid = \"claude-sonnet-4-20250514\"\ncanonical = \"anthropic/claude-sonnet-4\"\n")
        .unwrap();
    aliases
}

/// `(gateway, offer id, match)` of the model `id`.
fn offers(unified: &Unified, id: &str) -> Vec<(String, String, Match)> {
    let at = unified
        .find(id, &Aliases::default())
        .unwrap_or_else(|| panic!("no model {id}"));
    unified.offers[at as usize]
        .iter()
        .map(|o| {
            (
                unified.gateway_id(o).to_owned(),
                unified.record(o).id.clone(),
                o.matched,
            )
        })
        .collect()
}

fn model_of(unified: &Unified, offer_id: &str) -> String {
    let at = unified.find(offer_id, &Aliases::default()).unwrap();
    unified.segment.models[at as usize].id.clone()
}

#[test]
fn openrouter_ids_are_canonical_and_their_suffix_a_variant() {
    let unified = build(&shipped());
    let offers = offers(&unified, "meta-llama/llama-3.3-70b-instruct");
    assert!(offers.contains(&(
        "openrouter".into(),
        "meta-llama/llama-3.3-70b-instruct".into(),
        Match::Canonical
    )));
    assert!(offers.contains(&(
        "openrouter".into(),
        "meta-llama/llama-3.3-70b-instruct:free".into(),
        Match::Canonical
    )));
    let at = unified
        .find("meta-llama/llama-3.3-70b-instruct", &Aliases::default())
        .unwrap();
    let variants: Vec<_> = unified.offers[at as usize]
        .iter()
        .map(|o| o.variant.as_deref())
        .collect();
    assert!(variants.contains(&Some("free")) && variants.contains(&None));
}

#[test]
fn hugging_face_ids_link_other_gateways_case_insensitively() {
    let unified = build(&shipped());
    let offers = offers(&unified, "meta-llama/llama-3.3-70b-instruct");
    assert!(offers.contains(&(
        "deepinfra".into(),
        "meta-llama/Llama-3.3-70B-Instruct".into(),
        Match::HuggingFaceId
    )));
}

#[test]
fn an_alias_is_a_documented_fact_and_wins() {
    let unified = build(&shipped());
    assert_eq!(
        model_of(&unified, "claude-sonnet-4-20250514"),
        "anthropic/claude-sonnet-4"
    );
    let offers = offers(&unified, "anthropic/claude-sonnet-4");
    assert!(offers.contains(&(
        "anthropic".into(),
        "claude-sonnet-4-20250514".into(),
        Match::Alias
    )));
    // Without the fact, the dated id stays a model of its own.
    let bare = build(&Aliases::default());
    assert_eq!(
        model_of(&bare, "claude-sonnet-4-20250514"),
        "anthropic/claude-sonnet-4-20250514"
    );
}

#[test]
fn normalisation_uses_prefixes_owners_and_the_gateways_author() {
    let unified = build(&shipped());
    let gpt = offers(&unified, "openai/gpt-4o");
    assert!(
        gpt.contains(&("openai".into(), "gpt-4o".into(), Match::Normalized)),
        "{gpt:?}"
    );
    let flash = offers(&unified, "google/gemini-2.0-flash-001");
    assert!(flash.contains(&(
        "gemini".into(),
        "models/gemini-2.0-flash-001".into(),
        Match::Normalized
    )));
    assert_eq!(
        model_of(&unified, "llama-3.3-70b-versatile"),
        "meta-llama/llama-3.3-70b-versatile",
        "Meta is spelt meta-llama"
    );
}

#[test]
fn hard_negatives_never_merge() {
    let unified = build(&shipped());
    let apart = [
        ("gpt-4o", "gpt-4o-mini"),
        ("gpt-4o", "gpt-4o-2024-08-06"),
        ("models/gemini-2.0-flash-001", "models/gemini-2.0-flash"),
        (
            "meta-llama/Llama-3.3-70B-Instruct",
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        ),
        (
            "meta-llama/Llama-3.3-70B-Instruct",
            "meta-llama/Llama-3.3-70B-Instruct-Turbo-FP8",
        ),
        (
            "meta-llama/llama-3.1-8b-instruct",
            "meta-llama/Meta-Llama-3.1-8B",
        ),
        (
            "meta-llama/llama-3.1-8b-instruct",
            "meta-llama/llama-3.3-70b-instruct",
        ),
        (
            "llama-3.3-70b-versatile",
            "meta-llama/llama-3.3-70b-instruct",
        ),
    ];
    for (a, b) in apart {
        assert_ne!(model_of(&unified, a), model_of(&unified, b), "{a} vs {b}");
    }
}

#[test]
fn an_apart_set_splits_what_the_rules_would_merge() {
    let mut aliases = shipped();
    aliases
        .add("[[apart]]\nids = [\"openai/gpt-4o\", \"gpt-4o\"]\n")
        .unwrap();
    let unified = build(&aliases);
    assert_ne!(
        model_of(&unified, "openai/gpt-4o"),
        model_of(&unified, "gpt-4o")
    );
}

#[test]
fn the_merged_record_takes_the_cheapest_price_and_unions() {
    let unified = build(&shipped());
    let at = unified
        .find("meta-llama/llama-3.3-70b-instruct", &Aliases::default())
        .unwrap() as usize;
    let ids: Vec<_> = unified.offers[at]
        .iter()
        .map(|o| unified.record(o).id.clone())
        .collect();
    assert_eq!(
        ids[0], "meta-llama/llama-3.3-70b-instruct:free",
        "cheapest first: {ids:?}"
    );
    assert_eq!(ids[1], "meta-llama/llama-3.3-70b-instruct");
    assert_eq!(ids[2], "meta-llama/Llama-3.3-70B-Instruct");
    let model = &unified.segment.models[at];
    assert_eq!(model.pricing.as_ref().unwrap().prompt.as_deref(), Some("0"));
    assert_eq!(model.owned_by.as_deref(), Some("meta-llama"));
    assert_eq!(
        unified.segment.offer_count(at as u32),
        2,
        "two gateways, one with two variants"
    );
}

#[test]
fn offer_ids_and_canonical_ids_resolve_to_the_same_model() {
    let unified = build(&shipped());
    let by_canonical = unified.find("meta-llama/llama-3.3-70b-instruct", &Aliases::default());
    for id in [
        "meta-llama/Llama-3.3-70B-Instruct",
        "META-LLAMA/LLAMA-3.3-70B-INSTRUCT:free",
    ] {
        assert_eq!(unified.find(id, &Aliases::default()), by_canonical, "{id}");
    }
    assert_eq!(unified.find("no/such-model", &Aliases::default()), None);
}
