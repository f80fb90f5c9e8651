//! The unified catalog: every gateway's offers grouped into one record per
//! model, by SPEC's identity rules, precision first (a wrong merge shows a
//! user the wrong price; a missed one only lists a model twice).
//!
//! An offer's model is, in order:
//! 1. an alias (`aliases.toml`, `ALIASES_FILE`): a documented fact wins;
//! 2. `canonical`: an `openrouter`-kind id `author/slug[:variant]` as given,
//!    lowercased, the suffix becoming the offer's variant;
//! 3. `hugging_face_id`: the id is the Hugging Face repository an
//!    OpenRouter record names (case-insensitively);
//! 4. `normalized`: lowercased, path prefixes (`models/`,
//!    `accounts/<x>/models/`) removed, the author from the id's prefix, a
//!    real `owned_by`, or the gateway's `author` setting, spelt as
//!    OpenRouter spells it. Nothing else is stripped: a dated snapshot, a
//!    `-Turbo` or `-FP8` serving, a base or an instruct model each stay
//!    models of their own.
//!
//! Built once per set of entry versions, off the async threads; the models
//! are then indexed like an entry ([`Segment::build_grouped`]).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::aliases::{Aliases, normalize};
use super::identity::author_of;
use super::index::Segment;
use super::price::Price;
use crate::gateways::model::{Architecture, Model, Pricing, TopProvider};
use crate::gateways::{Gateway, Kind};

/// Why an offer is grouped under its model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    Canonical,
    HuggingFaceId,
    Alias,
    Normalized,
}

/// One gateway's offer of a model: which entry, which record.
#[derive(Debug, Clone)]
pub struct Offer {
    /// Index into [`Unified::gateways`].
    pub gateway: usize,
    /// Position in that entry's models.
    pub position: u32,
    pub variant: Option<Box<str>>,
    pub matched: Match,
}

/// The gateways grouped: each one's id, its models, and whether it is
/// fresh or stale at the read.
pub struct Source {
    pub gateway: Arc<Gateway>,
    pub models: Arc<Vec<Model>>,
}

pub struct Unified {
    pub gateways: Vec<Source>,
    /// Offers of each model (in the segment's positions), cheapest first.
    pub offers: Vec<Vec<Offer>>,
    /// The models, with fields merged across their offers, indexed.
    pub segment: Arc<Segment>,
    /// Canonical ids, offers' own ids and aliases (lowercase) → model.
    lookup: HashMap<String, u32>,
}

/// Author spellings as OpenRouter writes them.
const AUTHORS: [(&str, &str); 10] = [
    ("meta", "meta-llama"),
    ("facebook", "meta-llama"),
    ("mistral", "mistralai"),
    ("mistral-ai", "mistralai"),
    ("xai", "x-ai"),
    ("deepseek-ai", "deepseek"),
    ("alibaba", "qwen"),
    ("google-deepmind", "google"),
    ("moonshot", "moonshotai"),
    ("cohereforai", "cohere"),
];

fn spelt(author: &str) -> String {
    let author = author.trim().to_lowercase();
    AUTHORS
        .iter()
        .find(|(other, _)| *other == author)
        .map_or(author, |(_, openrouter)| (*openrouter).to_owned())
}

impl Unified {
    /// Groups `sources` (in gateway order) by the identity rules.
    pub fn build(sources: Vec<Source>, aliases: &Aliases) -> Self {
        let hugging_face = hugging_face_ids(&sources);
        let mut groups: Vec<(String, Vec<Offer>)> = Vec::new();
        let mut by_canonical: HashMap<String, usize> = HashMap::new();
        for (g, source) in sources.iter().enumerate() {
            for (i, model) in source.models.iter().enumerate() {
                let (mut canonical, mut matched, variant) =
                    identify(&source.gateway, model, aliases, &hugging_face);
                let kept_apart = |group: &[Offer]| {
                    group.iter().any(|o| {
                        aliases.apart(
                            &sources[o.gateway].models[o.position as usize].id,
                            &model.id,
                        )
                    })
                };
                if by_canonical
                    .get(&canonical)
                    .is_some_and(|&at| kept_apart(&groups[at].1))
                {
                    canonical = format!("{canonical}@{}", source.gateway.id);
                    matched = Match::Normalized;
                }
                let at = *by_canonical.entry(canonical.clone()).or_insert_with(|| {
                    groups.push((canonical.clone(), Vec::new()));
                    groups.len() - 1
                });
                groups[at].1.push(Offer {
                    gateway: g,
                    position: i as u32,
                    variant,
                    matched,
                });
            }
        }
        Self::index(sources, groups)
    }

    fn index(sources: Vec<Source>, groups: Vec<(String, Vec<Offer>)>) -> Self {
        let record = |o: &Offer| &sources[o.gateway].models[o.position as usize];
        let mut lookup = HashMap::new();
        let mut models = Vec::with_capacity(groups.len());
        let mut all_offers = Vec::with_capacity(groups.len());
        for (i, (canonical, mut offers)) in groups.into_iter().enumerate() {
            offers.sort_by(|a, b| {
                known_first(total_price(record(a)), total_price(record(b)))
                    .then(a.gateway.cmp(&b.gateway))
            });
            lookup.insert(canonical.clone(), i as u32);
            for offer in &offers {
                lookup
                    .entry(normalize(&record(offer).id))
                    .or_insert(i as u32);
            }
            models.push(merged(canonical, &offers, record));
            all_offers.push(offers);
        }
        let pairs: Vec<Vec<(&str, &str)>> = all_offers
            .iter()
            .map(|offers| {
                offers
                    .iter()
                    .map(|o| {
                        (
                            sources[o.gateway].gateway.id.as_str(),
                            record(o).id.as_str(),
                        )
                    })
                    .collect()
            })
            .collect();
        let segment = Arc::new(Segment::build_grouped(Arc::new(models), pairs));
        Self {
            gateways: sources,
            offers: all_offers,
            segment,
            lookup,
        }
    }

    /// The model a canonical id, an offer's own id or an alias names.
    pub fn find(&self, id: &str, aliases: &Aliases) -> Option<u32> {
        let key = normalize(id);
        self.lookup.get(&key).copied().or_else(|| {
            let canonical = aliases.canonical("", id)?;
            self.lookup.get(canonical).copied()
        })
    }

    /// An offer's record as its gateway gave it.
    pub fn record(&self, offer: &Offer) -> &Model {
        &self.gateways[offer.gateway].models[offer.position as usize]
    }

    pub fn gateway_id(&self, offer: &Offer) -> &str {
        &self.gateways[offer.gateway].gateway.id
    }
}

/// OpenRouter's `hugging_face_id`s (lowercase) → its canonical ids.
fn hugging_face_ids(sources: &[Source]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for source in sources
        .iter()
        .filter(|s| s.gateway.kind == Kind::OpenRouter)
    {
        for model in source.models.iter() {
            if let Some(hf) = &model.hugging_face_id {
                let (base, _) = split_variant(&model.id);
                map.entry(hf.trim().to_lowercase())
                    .or_insert_with(|| base.to_lowercase());
            }
        }
    }
    map
}

fn split_variant(id: &str) -> (&str, Option<&str>) {
    match id.rsplit_once(':') {
        Some((base, variant)) if !variant.is_empty() && !variant.contains('/') => {
            (base, Some(variant))
        }
        _ => (id, None),
    }
}

/// `model`'s canonical id by the rules of one gateway alone (alias,
/// OpenRouter's id, normalisation): what a change record names before the
/// catalog links ids across gateways.
pub fn canonical_of(gateway: &Gateway, model: &Model, aliases: &Aliases) -> String {
    identify(gateway, model, aliases, &HashMap::new()).0
}

/// `model`'s canonical id, why, and its variant, by the rules (module doc).
fn identify(
    gateway: &Gateway,
    model: &Model,
    aliases: &Aliases,
    hugging_face: &HashMap<String, String>,
) -> (String, Match, Option<Box<str>>) {
    let openrouter = gateway.kind == Kind::OpenRouter;
    let (base, variant) = if openrouter {
        split_variant(&model.id)
    } else {
        (model.id.as_str(), None)
    };
    let variant = variant.map(|v| v.to_lowercase().into_boxed_str());
    if let Some(canonical) = aliases
        .canonical(&gateway.id, &model.id)
        .or_else(|| aliases.canonical(&gateway.id, base))
    {
        return (canonical.to_owned(), Match::Alias, variant);
    }
    if openrouter && base.contains('/') {
        return (base.to_lowercase(), Match::Canonical, variant);
    }
    let normalized = normalize(base);
    if let Some(canonical) = hugging_face.get(&normalized) {
        return (canonical.clone(), Match::HuggingFaceId, variant);
    }
    (
        normalized_id(gateway, model, &normalized),
        Match::Normalized,
        variant,
    )
}

/// `author/slug` from a normalised id, the author spelt as OpenRouter does.
fn normalized_id(gateway: &Gateway, model: &Model, normalized: &str) -> String {
    if let Some((author, slug)) = normalized.split_once('/') {
        return format!("{}/{slug}", spelt(author));
    }
    let author = author_of(model).or_else(|| gateway.author.clone());
    match author {
        Some(author) => format!("{}/{normalized}", spelt(&author)),
        None => normalized.to_owned(),
    }
}

fn total_price(model: &Model) -> Option<Price> {
    let pricing = model.pricing.as_ref()?;
    let prompt = Price::per_token(pricing.prompt.as_deref()?)?;
    let completion = Price::per_token(pricing.completion.as_deref()?)?;
    prompt.checked_add(completion)
}

fn known_first<T: Ord>(a: Option<T>, b: Option<T>) -> std::cmp::Ordering {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Less,
        (None, Some(_)) => Greater,
        (None, None) => Equal,
    }
}

/// One record for the model: the OpenRouter-kind offer's words where there
/// is one (else the first offer's), the earliest date, the largest context,
/// the union of modalities and parameters, the cheapest offer's pricing,
/// the earliest `first_seen`.
fn merged<'a>(canonical: String, offers: &[Offer], record: impl Fn(&Offer) -> &'a Model) -> Model {
    let records: Vec<&Model> = offers.iter().map(&record).collect();
    let words = offers
        .iter()
        .find(|o| o.matched == Match::Canonical)
        .map_or(records[0], &record);
    let union = |pick: &dyn Fn(&Model) -> Option<&Vec<String>>| -> Option<Vec<String>> {
        let mut all: Vec<String> = Vec::new();
        for values in records.iter().filter_map(|m| pick(m)) {
            for value in values {
                if !all.contains(value) {
                    all.push(value.clone());
                }
            }
        }
        (!all.is_empty()).then_some(all)
    };
    let architecture = Architecture {
        input_modalities: union(&|m| m.architecture.as_ref()?.input_modalities.as_ref()),
        output_modalities: union(&|m| m.architecture.as_ref()?.output_modalities.as_ref()),
    };
    let author = canonical.split_once('/').map(|(a, _)| a.to_owned());
    Model {
        name: words
            .name
            .clone()
            .or_else(|| records.iter().find_map(|m| m.name.clone())),
        description: words
            .description
            .clone()
            .or_else(|| records.iter().find_map(|m| m.description.clone())),
        created: records.iter().filter_map(|m| m.created).min(),
        owned_by: author,
        context_length: records.iter().filter_map(|m| m.context_length).max(),
        architecture: Some(architecture)
            .filter(|a| a.input_modalities.is_some() || a.output_modalities.is_some()),
        pricing: Some(cheapest_pricing(&records)).filter(|p| *p != Pricing::default()),
        top_provider: Some(TopProvider {
            context_length: records.iter().filter_map(|m| m.context_length).max(),
            max_completion_tokens: records
                .iter()
                .filter_map(|m| m.top_provider.as_ref()?.max_completion_tokens)
                .max(),
        }),
        supported_parameters: union(&|m| m.supported_parameters.as_ref()),
        hugging_face_id: records.iter().find_map(|m| m.hugging_face_id.clone()),
        first_seen: records.iter().filter_map(|m| m.first_seen).min(),
        id: canonical,
        ..Model::default()
    }
}

/// The pricing of the first (cheapest) offer that has one.
fn cheapest_pricing(records: &[&Model]) -> Pricing {
    records
        .iter()
        .find_map(|m| {
            m.pricing
                .clone()
                .filter(|p| p.prompt.is_some() || p.completion.is_some())
        })
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "unified_tests.rs"]
mod tests;
