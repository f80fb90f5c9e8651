//! What changed between the list a gateway's entry held and the list that
//! replaces it, offer by offer (by id: a list's duplicates count once, the
//! first as listed).

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde_json::{Value, json};

use super::record::{Change, ChangeKind, FromTo};
use crate::cache::Entry;
use crate::catalog::price::Price;
use crate::gateways::Model;
use crate::gateways::model::Pricing;

/// The changes from `before` to `after` (`None`: the gateway's first list,
/// one `listed` record), observed `at`. Added first, then changed, then
/// removed, each by id.
///
/// [`diff_digested`], the models' digests computed here.
pub fn diff(gateway: &str, before: Option<&[Model]>, after: &[Model], at: u64) -> Vec<Change> {
    let before = before.map(|models| (models, Entry::digests_of(models)));
    let before = before.as_ref().map(|(m, d)| Digested::new(m, d));
    let after_digests = Entry::digests_of(after);
    diff_digested(gateway, before, Digested::new(after, &after_digests), at)
}

/// A list and its models' digests ([`Entry::digests_of`]).
#[derive(Clone, Copy)]
pub struct Digested<'a> {
    models: &'a [Model],
    digests: &'a [u64],
}

impl<'a> Digested<'a> {
    pub fn new(models: &'a [Model], digests: &'a [u64]) -> Self {
        assert_eq!(models.len(), digests.len(), "BUG: a digest per model");
        Self { models, digests }
    }
}

/// A revalidation usually brings the same offers back in the same order:
/// then they are compared pair by pair, their fields only where their
/// digests differ, and only the ids of changed offers are hashed (to keep
/// the first of duplicates, as by id). Otherwise both lists are mapped by
/// id. (Ordered maps of every id, and every field of every offer compared,
/// made recording a change cost 10–20 % more CPU per warm.)
pub fn diff_digested(
    gateway: &str,
    before: Option<Digested<'_>>,
    after: Digested<'_>,
    at: u64,
) -> Vec<Change> {
    let record = |kind, model: Option<&str>| Change::new(at, gateway, model, kind);
    let Some(before) = before else {
        let mut listed = record(ChangeKind::Listed, None);
        listed.count = Some(by_id(after.models).len());
        return vec![listed];
    };
    let mut found = if same_ids_in_order(before.models, after.models) {
        Found::in_place(before, after)
    } else {
        Found::by_id(before.models, after.models)
    };
    found.added.sort_unstable();
    found.changed.sort_unstable_by(|a, b| a.0.cmp(b.0));
    found.removed.sort_unstable();
    let mut changes = Vec::new();
    for id in found.added {
        changes.push(record(ChangeKind::Added, Some(id)));
    }
    for (id, fields) in found.changed {
        let mut changed = record(ChangeKind::Changed, Some(id));
        changed.fields = Some(fields);
        changes.push(changed);
    }
    for id in found.removed {
        changes.push(record(ChangeKind::Removed, Some(id)));
    }
    changes
}

type Fields = BTreeMap<String, FromTo>;

/// The ids of the differences, not yet in order.
#[derive(Default)]
struct Found<'a> {
    added: Vec<&'a str>,
    changed: Vec<(&'a str, Fields)>,
    removed: Vec<&'a str>,
}

impl<'a> Found<'a> {
    /// Both lists hold the same ids in the same order.
    fn in_place(before: Digested<'a>, after: Digested<'a>) -> Self {
        let changed: Vec<(usize, Fields)> = (before.digests.iter().zip(after.digests))
            .enumerate()
            .filter(|(_, (old, new))| old != new)
            .map(|(i, _)| (i, changed_fields(&before.models[i], &after.models[i])))
            .filter(|(_, fields)| !fields.is_empty())
            .collect();
        let after = after.models;
        if changed.is_empty() {
            return Self::default();
        }
        // A duplicate id counts once, as listed first.
        let mut first: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, model) in after.iter().enumerate() {
            first.entry(model.id.as_str()).or_insert(i);
        }
        let changed = changed
            .into_iter()
            .filter(|(i, _)| first[after[*i].id.as_str()] == *i)
            .map(|(i, fields)| (after[i].id.as_str(), fields))
            .collect();
        Self {
            changed,
            ..Self::default()
        }
    }

    fn by_id(before: &'a [Model], after: &'a [Model]) -> Self {
        let (before_ids, after_ids) = (by_id(before), by_id(after));
        let mut found = Self::default();
        for (&id, new) in &after_ids {
            match before_ids.get(id) {
                None => found.added.push(id),
                Some(old) => {
                    let fields = changed_fields(old, new);
                    if !fields.is_empty() {
                        found.changed.push((id, fields));
                    }
                }
            }
        }
        found.removed = before_ids
            .keys()
            .filter(|id| !after_ids.contains_key(*id))
            .copied()
            .collect();
        found
    }
}

fn same_ids_in_order(before: &[Model], after: &[Model]) -> bool {
    before.len() == after.len() && before.iter().zip(after).all(|(a, b)| a.id == b.id)
}

/// The models by id, the first of duplicates kept.
fn by_id(models: &[Model]) -> FxHashMap<&str, &Model> {
    let mut map = FxHashMap::default();
    for model in models {
        map.entry(model.id.as_str()).or_insert(model);
    }
    map
}

/// Every watched field whose value differs, by its dotted name. Values are
/// compared as they are; only a difference is turned into JSON.
fn changed_fields(old: &Model, new: &Model) -> Fields {
    let mut fields = BTreeMap::new();
    for ((name, from), (_, to)) in prices(old.pricing.as_ref())
        .into_iter()
        .zip(prices(new.pricing.as_ref()))
    {
        if !same_price(from, to) {
            fields.insert(format!("pricing.{name}"), from_to(&from, &to));
        }
    }
    let mut field = |name: &str, from: Value, to: Value| {
        fields.insert(name.to_owned(), FromTo { from, to });
    };
    if old.name != new.name {
        field("name", json!(old.name), json!(new.name));
    }
    if old.context_length != new.context_length {
        field(
            "context_length",
            json!(old.context_length),
            json!(new.context_length),
        );
    }
    let max_out = |m: &Model| {
        m.top_provider
            .as_ref()
            .and_then(|t| t.max_completion_tokens)
    };
    if max_out(old) != max_out(new) {
        field(
            "top_provider.max_completion_tokens",
            json!(max_out(old)),
            json!(max_out(new)),
        );
    }
    if inputs(old) != inputs(new) {
        field(
            "architecture.input_modalities",
            json!(inputs(old)),
            json!(inputs(new)),
        );
    }
    if outputs(old) != outputs(new) {
        field(
            "architecture.output_modalities",
            json!(outputs(old)),
            json!(outputs(new)),
        );
    }
    if old.supported_parameters != new.supported_parameters {
        field(
            "supported_parameters",
            json!(old.supported_parameters),
            json!(new.supported_parameters),
        );
    }
    fields
}

fn inputs(m: &Model) -> Option<&Vec<String>> {
    m.architecture.as_ref()?.input_modalities.as_ref()
}

fn outputs(m: &Model) -> Option<&Vec<String>> {
    m.architecture.as_ref()?.output_modalities.as_ref()
}

/// Each price of a record, by name (`None` when unknown or no pricing).
fn prices(pricing: Option<&Pricing>) -> [(&'static str, Option<&str>); 6] {
    let get = |pick: fn(&Pricing) -> &Option<String>| pricing.and_then(|p| pick(p).as_deref());
    [
        ("prompt", get(|p| &p.prompt)),
        ("completion", get(|p| &p.completion)),
        ("request", get(|p| &p.request)),
        ("image", get(|p| &p.image)),
        ("input_cache_read", get(|p| &p.input_cache_read)),
        ("input_cache_write", get(|p| &p.input_cache_write)),
    ]
}

/// Equal as amounts (`"0.000003"` is `"0.0000030"`), or as text when either
/// is not a plain decimal.
fn same_price(a: Option<&str>, b: Option<&str>) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Some(a), Some(b)) => matches!(
            (Price::per_token(a), Price::per_token(b)),
            (Some(x), Some(y)) if x == y
        ),
        _ => false,
    }
}

fn from_to(from: &Option<&str>, to: &Option<&str>) -> FromTo {
    FromTo {
        from: json!(from),
        to: json!(to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, prompt: &str) -> Model {
        Model {
            id: id.into(),
            name: Some(id.to_uppercase()),
            pricing: Some(Pricing {
                prompt: Some(prompt.into()),
                completion: Some("0.00001".into()),
                ..Pricing::default()
            }),
            context_length: Some(8192),
            ..Model::default()
        }
    }

    fn kinds(changes: &[Change]) -> Vec<(ChangeKind, Option<&str>)> {
        changes
            .iter()
            .map(|c| (c.kind, c.model.as_deref()))
            .collect()
    }

    #[test]
    fn a_first_list_is_one_listed_record_counting_distinct_ids() {
        let list = [model("a", "1"), model("b", "1"), model("a", "2")];
        let changes = diff("gw", None, &list, 7);
        assert_eq!(kinds(&changes), [(ChangeKind::Listed, None)]);
        assert_eq!((changes[0].count, changes[0].at), (Some(2), 7));
    }

    #[test]
    fn added_changed_and_removed_are_told_apart_by_id() {
        let before = [
            model("kept", "0.000001"),
            model("repriced", "0.000001"),
            model("gone", "1"),
        ];
        let mut renamed = model("kept", "0.0000010");
        renamed.context_length = Some(16384);
        let after = [model("new", "1"), renamed, model("repriced", "0.000002")];
        let changes = diff("gw", Some(&before), &after, 1);
        assert_eq!(
            kinds(&changes),
            [
                (ChangeKind::Added, Some("new")),
                (ChangeKind::Changed, Some("kept")),
                (ChangeKind::Changed, Some("repriced")),
                (ChangeKind::Removed, Some("gone")),
            ]
        );
        let kept = changes[1].fields.as_ref().unwrap();
        assert_eq!(
            kept.keys().collect::<Vec<_>>(),
            ["context_length"],
            "the same price written with a trailing zero is no change"
        );
        assert_eq!(
            (&kept["context_length"].from, &kept["context_length"].to),
            (&json!(8192), &json!(16384))
        );
        let price = &changes[2].fields.as_ref().unwrap()["pricing.prompt"];
        assert_eq!(
            (&price.from, &price.to),
            (&json!("0.000001"), &json!("0.000002"))
        );
    }

    #[test]
    fn the_same_list_is_no_change() {
        let list = [model("a", "1"), model("b", "2")];
        assert!(diff("gw", Some(&list), &list.clone(), 1).is_empty());
    }

    #[test]
    fn a_price_becoming_unknown_is_a_change_to_null() {
        let before = [model("a", "0.5")];
        let mut after = model("a", "0.5");
        after.pricing.as_mut().unwrap().prompt = None;
        let changes = diff("gw", Some(&before), &[after], 1);
        let price = &changes[0].fields.as_ref().unwrap()["pricing.prompt"];
        assert_eq!((&price.from, &price.to), (&json!("0.5"), &Value::Null));
    }

    #[test]
    fn the_same_offers_in_another_order_give_the_same_changes() {
        let before = [model("a", "1"), model("b", "1"), model("c", "1")];
        let after = [model("a", "2"), model("b", "1"), model("c", "3")];
        let in_place = diff("gw", Some(&before), &after, 1);
        assert_eq!(
            kinds(&in_place),
            [
                (ChangeKind::Changed, Some("a")),
                (ChangeKind::Changed, Some("c"))
            ]
        );
        let mut reordered = after.clone();
        reordered.reverse();
        assert_eq!(diff("gw", Some(&before), &reordered, 1), in_place);
    }

    #[test]
    fn a_duplicate_counts_as_listed_first_in_place_too() {
        let before = [model("a", "1"), model("a", "1")];
        // Only the second listing changed: by id, `a` is the first one.
        let after = [model("a", "1"), model("a", "2")];
        assert!(diff("gw", Some(&before), &after, 1).is_empty());
        let after = [model("a", "2"), model("a", "2")];
        assert_eq!(
            kinds(&diff("gw", Some(&before), &after, 1)),
            [(ChangeKind::Changed, Some("a"))]
        );
    }
}
