//! Filters, sorts, facets and paging over real segments.

use std::sync::Arc;

use super::*;
use crate::gateways::Model;
use crate::gateways::model::{Architecture, Pricing};

struct M {
    id: &'static str,
    name: &'static str,
    prompt: Option<&'static str>,
    completion: Option<&'static str>,
    context: Option<u64>,
    created: Option<i64>,
    input: &'static [&'static str],
    params: &'static [&'static str],
}

const BASE: M = M {
    id: "",
    name: "",
    prompt: None,
    completion: None,
    context: None,
    created: None,
    input: &["text"],
    params: &[],
};

fn model(m: &M) -> Model {
    Model {
        id: m.id.into(),
        name: Some(m.name.into()),
        context_length: m.context,
        created: m.created,
        architecture: Some(Architecture {
            input_modalities: Some(m.input.iter().map(|s| s.to_string()).collect()),
            output_modalities: Some(vec!["text".into()]),
        }),
        pricing: Some(Pricing {
            prompt: m.prompt.map(Into::into),
            completion: m.completion.map(Into::into),
            ..Pricing::default()
        }),
        supported_parameters: Some(m.params.iter().map(|s| s.to_string()).collect()),
        ..Model::default()
    }
}

fn segment(models: &[M]) -> Arc<Segment> {
    Arc::new(Segment::build(Arc::new(models.iter().map(model).collect())))
}

/// Two gateways: `or` (OpenRouter-like ids) and `gq` (Groq-like).
fn catalog() -> Vec<(&'static str, Arc<Segment>)> {
    let or = segment(&[
        M {
            id: "openai/gpt-4o",
            name: "OpenAI: GPT-4o",
            prompt: Some("0.0000025"),
            completion: Some("0.00001"),
            context: Some(128_000),
            created: Some(300),
            input: &["text", "image"],
            params: &["tools", "temperature"],
        },
        M {
            id: "openai/gpt-4o-mini",
            name: "OpenAI: GPT-4o mini",
            prompt: Some("0.00000015"),
            completion: Some("0.0000006"),
            context: Some(128_000),
            created: Some(400),
            input: &["text", "image"],
            params: &["tools"],
        },
        M {
            id: "anthropic/claude-sonnet-4",
            name: "Anthropic: Claude Sonnet 4",
            prompt: Some("0.000003"),
            completion: Some("0.000015"),
            context: Some(200_000),
            created: Some(500),
            params: &["tools", "reasoning"],
            ..BASE
        },
        M {
            id: "meta-llama/llama-3.3-70b-instruct:free",
            name: "Meta: Llama 3.3 70B Instruct (free)",
            prompt: Some("0"),
            completion: Some("0"),
            context: Some(65_536),
            created: Some(200),
            ..BASE
        },
        M {
            id: "openrouter/auto",
            name: "Auto Router",
            prompt: None,
            completion: None,
            context: Some(2_000_000),
            ..BASE
        },
    ]);
    let gq = segment(&[
        M {
            id: "llama-3.3-70b-versatile",
            name: "Llama 3.3 70B Versatile",
            prompt: Some("0.00000059"),
            completion: Some("0.00000079"),
            context: Some(131_072),
            created: Some(100),
            params: &["tools"],
            ..BASE
        },
        M {
            id: "meta-llama/llama-4-scout-17b-16e-instruct",
            name: "Llama 4 Scout",
            prompt: Some("0.00000011"),
            completion: Some("0.00000034"),
            context: None,
            created: Some(600),
            input: &["text", "image"],
            ..BASE
        },
    ]);
    vec![("or", or), ("gq", gq)]
}

fn ids(query: &str) -> Vec<String> {
    let catalog = catalog();
    let found = run(&catalog, query);
    found.page.iter().map(|m| m.id.clone()).collect()
}

fn run<'a>(catalog: &'a [(&'a str, Arc<Segment>)], query: &str) -> Found<'a> {
    search(catalog, &query::tests::parse(query).unwrap())
}

#[test]
fn no_query_keeps_gateway_then_upstream_order() {
    assert_eq!(ids("").len(), 7);
    assert_eq!(
        ids("")[4..],
        [
            "openrouter/auto",
            "llama-3.3-70b-versatile",
            "meta-llama/llama-4-scout-17b-16e-instruct"
        ]
    );
}

#[test]
fn every_word_of_q_must_occur_in_the_id_or_name() {
    assert_eq!(ids("q=gpt+mini"), ["openai/gpt-4o-mini"]);
    assert_eq!(
        ids("q=LLAMA+70b"),
        [
            "meta-llama/llama-3.3-70b-instruct:free",
            "llama-3.3-70b-versatile"
        ]
    );
    assert_eq!(ids("q=sonnet+gpt"), Vec::<String>::new());
    assert_eq!(
        ids("q=4o"),
        ["openai/gpt-4o", "openai/gpt-4o-mini"],
        "words under three letters too"
    );
    assert_eq!(
        ids("q=versatile"),
        ["llama-3.3-70b-versatile"],
        "a name word"
    );
}

#[test]
fn author_modalities_and_parameters_filter() {
    assert_eq!(
        ids("author=anthropic,Meta-Llama"),
        [
            "anthropic/claude-sonnet-4",
            "meta-llama/llama-3.3-70b-instruct:free",
            "meta-llama/llama-4-scout-17b-16e-instruct"
        ]
    );
    assert_eq!(
        ids("input_modalities=image,text"),
        [
            "openai/gpt-4o",
            "openai/gpt-4o-mini",
            "meta-llama/llama-4-scout-17b-16e-instruct"
        ]
    );
    assert_eq!(
        ids("supported_parameters=tools,temperature"),
        ["openai/gpt-4o"]
    );
    assert_eq!(
        ids("supported_parameters=tools,nonexistent"),
        Vec::<String>::new()
    );
    assert_eq!(ids("output_modalities=image"), Vec::<String>::new());
}

#[test]
fn context_and_prices_are_bounds_and_unknowns_match_no_bound() {
    assert_eq!(
        ids("context=200000"),
        ["anthropic/claude-sonnet-4", "openrouter/auto"]
    );
    // USD per 1M tokens: 0.15 ≤ prompt ≤ 2.5, both inclusive and exact.
    assert_eq!(
        ids("min_price=0.15&max_price=2.5"),
        [
            "openai/gpt-4o",
            "openai/gpt-4o-mini",
            "llama-3.3-70b-versatile"
        ]
    );
    assert_eq!(
        ids("max_output_price=0.6"),
        [
            "openai/gpt-4o-mini",
            "meta-llama/llama-3.3-70b-instruct:free",
            "meta-llama/llama-4-scout-17b-16e-instruct"
        ]
    );
    assert_eq!(
        ids("min_output_price=0.60000000001"),
        [
            "openai/gpt-4o",
            "anthropic/claude-sonnet-4",
            "llama-3.3-70b-versatile"
        ]
    );
    assert_eq!(ids("free=true"), ["meta-llama/llama-3.3-70b-instruct:free"]);
    assert_eq!(ids("free=false").len(), 7, "free=false does not filter");
}

#[test]
fn sorts_merge_gateways_and_put_unknowns_last() {
    assert_eq!(
        ids("sort=pricing-low-to-high")[..3],
        [
            "meta-llama/llama-3.3-70b-instruct:free",
            "meta-llama/llama-4-scout-17b-16e-instruct",
            "openai/gpt-4o-mini"
        ]
    );
    assert_eq!(
        ids("sort=pricing-low-to-high").last().unwrap(),
        "openrouter/auto"
    );
    assert_eq!(
        ids("sort=pricing-high-to-low")[..2],
        ["anthropic/claude-sonnet-4", "openai/gpt-4o"]
    );
    assert_eq!(
        ids("sort=pricing-high-to-low").last().unwrap(),
        "openrouter/auto"
    );
    assert_eq!(
        ids("sort=newest")[..3],
        [
            "meta-llama/llama-4-scout-17b-16e-instruct",
            "anthropic/claude-sonnet-4",
            "openai/gpt-4o-mini"
        ]
    );
    assert_eq!(ids("sort=newest").last().unwrap(), "openrouter/auto");
    assert_eq!(
        ids("sort=context-high-to-low")[..2],
        ["openrouter/auto", "anthropic/claude-sonnet-4"]
    );
    assert_eq!(
        ids("sort=context-high-to-low").last().unwrap(),
        "meta-llama/llama-4-scout-17b-16e-instruct"
    );
    assert_eq!(
        ids("sort=name")[..2],
        ["anthropic/claude-sonnet-4", "openrouter/auto"]
    );
}

#[test]
fn paging_applies_after_filtering_and_sorting() {
    assert_eq!(
        ids("sort=pricing-low-to-high&offset=2&limit=2"),
        ["openai/gpt-4o-mini", "llama-3.3-70b-versatile"]
    );
    assert_eq!(
        ids("offset=4&limit=2"),
        ["openrouter/auto", "llama-3.3-70b-versatile"]
    );
    let catalog = catalog();
    let found = run(&catalog, "q=llama&limit=1");
    assert_eq!((found.page.len(), found.total), (1, 3));
    assert_eq!(ids("offset=100"), Vec::<String>::new());
}

#[test]
fn facets_count_every_match_before_paging() {
    let catalog = catalog();
    let found = run(&catalog, "q=llama&limit=1&facets=true");
    let facets = found.facets.unwrap();
    assert_eq!(
        facets.gateway,
        [("gq".to_owned(), 2), ("or".to_owned(), 1)].into()
    );
    assert_eq!(facets.author, [("meta-llama".to_owned(), 2)].into());
    assert_eq!(
        facets.input_modalities,
        [("image".to_owned(), 1), ("text".to_owned(), 3)].into()
    );
    assert_eq!(
        facets.supported_parameters,
        [("tools".to_owned(), 1)].into()
    );
    assert!(run(&catalog, "q=llama").facets.is_none());
}

#[test]
fn a_dense_and_a_sparse_match_page_the_same_in_a_large_segment() {
    // 2,000 models with shuffled prices: a filter matching most of them
    // walks the precomputed order, one matching few sorts by rank.
    let models: Vec<Model> = (0..2000u32)
        .map(|i| {
            let price = (i * 7919) % 2000;
            model(&M {
                id: Box::leak(format!("m{i}").into_boxed_str()),
                name: Box::leak(
                    format!("model {}", if i % 100 == 0 { "rare" } else { "common" })
                        .into_boxed_str(),
                ),
                prompt: Some(Box::leak(format!("0.{price:06}").into_boxed_str())),
                ..BASE
            })
        })
        .collect();
    let catalog = vec![("g", Arc::new(Segment::build(Arc::new(models))))];
    for query in [
        "q=common&sort=pricing-low-to-high",
        "q=rare&sort=pricing-low-to-high",
    ] {
        let found = run(&catalog, query);
        let prices: Vec<_> = found
            .page
            .iter()
            .map(|m| m.pricing.as_ref().unwrap().prompt.clone().unwrap())
            .collect();
        let mut expected = prices.clone();
        expected.sort_by(|a, b| price::Price::per_token(a).cmp(&price::Price::per_token(b)));
        assert_eq!(prices, expected, "{query}");
        let paged = run(&catalog, &format!("{query}&offset=5&limit=3"));
        let page: Vec<_> = paged.page.iter().map(|m| m.id.clone()).collect();
        let all: Vec<_> = found.page.iter().map(|m| m.id.clone()).collect();
        assert_eq!(page, all[5..8], "{query}");
    }
}

#[test]
fn one_merged_segment_answers_as_the_entries_own_segments_do() {
    let separate = catalog();
    let parts = separate
        .iter()
        .map(|(gateway, segment)| {
            let models: Vec<Model> = segment.models.iter().cloned().collect();
            ((*gateway).to_owned(), Arc::new(models))
        })
        .collect();
    let merged = vec![("*", Arc::new(Segment::build_merged(parts)))];
    for query in [
        "",
        "q=llama",
        "q=gpt+mini",
        "sort=pricing-low-to-high",
        "sort=newest&offset=2&limit=3",
        "sort=name&input_modalities=image",
        "context=100000&sort=context-high-to-low",
        "max_price=1&facets=true",
        "author=meta-llama&facets=true",
    ] {
        let (a, b) = (run(&separate, query), run(&merged, query));
        let ids = |found: &Found| found.page.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b), "{query}");
        assert_eq!(a.total, b.total, "{query}");
        assert_eq!(a.facets, b.facets, "{query}");
    }
}
