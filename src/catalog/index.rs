//! One gateway entry's index: built once per entry version, off the async
//! threads, and read by every query over that entry.
//!
//! Filters are posting lists (Roaring bitmaps) per value — author, each
//! input and output modality, each supported parameter, each trigram of the
//! search text — so a query intersects bitmaps instead of reading models.
//! Numbers a query compares (prices as exact integers, context, creation
//! date) sit in plain arrays, and each order of `sort=` is precomputed as a
//! permutation, with each model's rank in it, so a page of a sorted result
//! costs about its own size. Nothing here parses JSON or lowercases text at
//! query time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::identity::author_of;
use super::price::Price;
use super::query::Sort;
use crate::gateways::Model;

/// Posting lists by value, in value order (facets list them so).
pub type Postings = BTreeMap<Box<str>, RoaringBitmap>;

/// A trigram of the lowercase search text.
pub type Trigram = [u8; 3];

pub struct Segment {
    pub models: Models,
    /// For a unified catalog: which models each gateway offers (empty for
    /// one entry's segment, whose gateway is the segment's own).
    pub gateways: Postings,
    /// For a unified catalog: how many distinct gateways offer each model.
    pub offers: Vec<u32>,
    /// Lowercase `id` and `name`, joined by a byte no word contains.
    pub texts: Vec<Box<str>>,
    pub trigrams: HashMap<Trigram, RoaringBitmap>,
    pub authors: Postings,
    pub input_modalities: Postings,
    pub output_modalities: Postings,
    pub parameters: Postings,
    pub prompt: Vec<Option<Price>>,
    pub completion: Vec<Option<Price>>,
    pub context: Vec<Option<u64>>,
    pub created: Vec<Option<i64>>,
    /// Lowercase name (or id when unnamed): the `sort=name` key.
    pub names: Vec<Box<str>>,
    orders: [Order; 6],
}

/// The models a segment indexes: one entry's list, or several lists back
/// to back, shared with their entries (never copied).
pub struct Models {
    parts: Vec<Arc<Vec<Model>>>,
    /// Position of each part's first model.
    starts: Vec<usize>,
    len: usize,
}

impl Models {
    pub fn one(models: Arc<Vec<Model>>) -> Self {
        Self::concat(vec![models])
    }

    pub fn concat(parts: Vec<Arc<Vec<Model>>>) -> Self {
        // An empty part holds no position: left out, so each start is a model's.
        let parts: Vec<_> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        let mut starts = Vec::with_capacity(parts.len());
        let mut len = 0;
        for part in &parts {
            starts.push(len);
            len += part.len();
        }
        Self { parts, starts, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &Model> {
        self.parts.iter().flat_map(|part| part.iter())
    }
}

impl std::ops::Index<usize> for Models {
    type Output = Model;

    fn index(&self, position: usize) -> &Model {
        let part = self.starts.partition_point(|&start| start <= position) - 1;
        &self.parts[part][position - self.starts[part]]
    }
}

/// A sort order: positions in that order, and each position's rank in it.
struct Order {
    permutation: Vec<u32>,
    rank: Vec<u32>,
}

impl Segment {
    /// Indexes one entry's `models` (positions are `u32`: an entry holds
    /// far fewer).
    pub fn build(models: Arc<Vec<Model>>) -> Self {
        Self::build_grouped(models, Vec::new())
    }

    /// Indexes several entries' lists back to back, in gateway order (each
    /// list shared, not copied), with each gateway's models as a posting
    /// list: one segment for queries over every gateway.
    pub fn build_merged(parts: Vec<(String, Arc<Vec<Model>>)>) -> Self {
        let mut ranges = Vec::with_capacity(parts.len());
        let mut start = 0u32;
        for (gateway, models) in &parts {
            let end = start + models.len() as u32;
            ranges.push((gateway.clone(), start..end));
            start = end;
        }
        let models = Models::concat(parts.into_iter().map(|(_, m)| m).collect());
        let mut segment = Self::build_from(models, Vec::new());
        for (gateway, range) in ranges {
            segment
                .gateways
                .entry(gateway.into())
                .or_default()
                .insert_range(range);
        }
        segment
    }

    /// Indexes the unified catalog's `models`, each offered as the
    /// `(gateway, offer id)` pairs of `offers` (searched too).
    pub fn build_grouped(models: Arc<Vec<Model>>, offers: Vec<Vec<(&str, &str)>>) -> Self {
        Self::build_from(Models::one(models), offers)
    }

    fn build_from(models: Models, offers: Vec<Vec<(&str, &str)>>) -> Self {
        let mut texts: Vec<Box<str>> = models.iter().map(search_text).collect();
        let mut gateways = Postings::new();
        for (i, offered) in offers.iter().enumerate() {
            let mut text = String::from(std::mem::take(&mut texts[i]));
            for (gateway, id) in offered {
                add(&mut gateways, gateway, i as u32);
                text.push('\n');
                text.push_str(&id.to_lowercase());
            }
            texts[i] = text.into_boxed_str();
        }
        let offer_counts = offers
            .iter()
            .map(|offered| {
                let mut gateways: Vec<&str> = offered.iter().map(|(g, _)| *g).collect();
                gateways.sort_unstable();
                gateways.dedup();
                gateways.len() as u32
            })
            .collect();
        let mut segment = Segment {
            texts,
            gateways,
            offers: offer_counts,
            trigrams: HashMap::new(),
            authors: Postings::new(),
            input_modalities: Postings::new(),
            output_modalities: Postings::new(),
            parameters: Postings::new(),
            prompt: models.iter().map(|m| price(m, |p| &p.prompt)).collect(),
            completion: models.iter().map(|m| price(m, |p| &p.completion)).collect(),
            context: models.iter().map(|m| m.context_length).collect(),
            created: models.iter().map(|m| m.created).collect(),
            names: models.iter().map(name_key).collect(),
            orders: std::array::from_fn(|_| Order {
                permutation: Vec::new(),
                rank: Vec::new(),
            }),
            models,
        };
        segment.index_values();
        segment.index_trigrams();
        segment.orders = SORTS.map(|sort| segment.order(sort));
        segment
    }

    pub fn len(&self) -> u32 {
        self.models.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Every position (a run per 65,536: no per-model work).
    pub fn all(&self) -> RoaringBitmap {
        let mut all = RoaringBitmap::new();
        all.insert_range(0..self.len());
        all
    }

    /// Positions in `sort`'s order.
    pub fn permutation(&self, sort: Sort) -> &[u32] {
        &self.orders[sort_slot(sort)].permutation
    }

    /// How many gateways offer the model at `position` (1 in an entry's segment).
    pub fn offer_count(&self, position: u32) -> u32 {
        self.offers.get(position as usize).copied().unwrap_or(1)
    }

    /// Where `position` comes in `sort`'s order.
    pub fn rank(&self, sort: Sort, position: u32) -> u32 {
        self.orders[sort_slot(sort)].rank[position as usize]
    }

    fn index_values(&mut self) {
        for (i, model) in self.models.iter().enumerate() {
            let i = i as u32;
            if let Some(author) = author_of(model) {
                add(&mut self.authors, &author, i);
            }
            let architecture = model.architecture.as_ref();
            for value in lists(architecture.and_then(|a| a.input_modalities.as_deref())) {
                add(&mut self.input_modalities, value, i);
            }
            for value in lists(architecture.and_then(|a| a.output_modalities.as_deref())) {
                add(&mut self.output_modalities, value, i);
            }
            for value in lists(model.supported_parameters.as_deref()) {
                add(&mut self.parameters, value, i);
            }
        }
    }

    fn index_trigrams(&mut self) {
        let mut trigrams: HashMap<Trigram, Vec<u32>> = HashMap::new();
        for (i, text) in self.texts.iter().enumerate() {
            for window in text.as_bytes().windows(3) {
                let list = trigrams
                    .entry([window[0], window[1], window[2]])
                    .or_default();
                // Positions come in order: a repeat is the last one pushed.
                if list.last() != Some(&(i as u32)) {
                    list.push(i as u32);
                }
            }
        }
        self.trigrams = trigrams
            .into_iter()
            .map(|(t, list)| {
                let bitmap = RoaringBitmap::from_sorted_iter(list).expect("BUG: pushed in order");
                (t, bitmap)
            })
            .collect();
    }

    fn order(&self, sort: Sort) -> Order {
        let mut permutation: Vec<u32> = (0..self.len()).collect();
        permutation.sort_by(|&a, &b| compare(self, a, self, b, sort).then(a.cmp(&b)));
        let mut rank = vec![0; permutation.len()];
        for (r, &position) in permutation.iter().enumerate() {
            rank[position as usize] = r as u32;
        }
        Order { permutation, rank }
    }
}

const SORTS: [Sort; 6] = [
    Sort::Name,
    Sort::Newest,
    Sort::PriceLowToHigh,
    Sort::PriceHighToLow,
    Sort::ContextHighToLow,
    Sort::Offers,
];

fn sort_slot(sort: Sort) -> usize {
    SORTS
        .iter()
        .position(|s| *s == sort)
        .expect("BUG: every sort has an order")
}

/// How model `a` of segment `sa` compares with model `b` of `sb` in `sort`
/// (ties are the caller's to break). Unknown values come last either way.
pub fn compare(sa: &Segment, a: u32, sb: &Segment, b: u32, sort: Sort) -> std::cmp::Ordering {
    let (a, b) = (a as usize, b as usize);
    match sort {
        Sort::Name => sa.names[a]
            .cmp(&sb.names[b])
            .then_with(|| sa.models[a].id.cmp(&sb.models[b].id)),
        Sort::Newest => known_first(sa.created[a], sb.created[b], |x, y| y.cmp(x)),
        Sort::PriceLowToHigh => known_first(sa.prompt[a], sb.prompt[b], |x, y| x.cmp(y)),
        Sort::PriceHighToLow => known_first(sa.prompt[a], sb.prompt[b], |x, y| y.cmp(x)),
        Sort::ContextHighToLow => known_first(sa.context[a], sb.context[b], |x, y| y.cmp(x)),
        Sort::Offers => sb
            .offer_count(b as u32)
            .cmp(&sa.offer_count(a as u32))
            .then_with(|| sa.names[a].cmp(&sb.names[b])),
    }
}

fn known_first<T>(
    a: Option<T>,
    b: Option<T>,
    order: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> std::cmp::Ordering {
    use std::cmp::Ordering::{Greater, Less};
    match (a, b) {
        (Some(a), Some(b)) => order(&a, &b),
        (Some(_), None) => Less,
        (None, Some(_)) => Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

fn add(postings: &mut Postings, value: &str, position: u32) {
    let value = value.trim().to_lowercase();
    if value.is_empty() {
        return;
    }
    match postings.get_mut(value.as_str()) {
        Some(bitmap) => {
            bitmap.insert(position);
        }
        None => {
            postings.insert(value.into(), RoaringBitmap::from_iter([position]));
        }
    }
}

fn lists(values: Option<&[String]>) -> impl Iterator<Item = &str> {
    values.unwrap_or_default().iter().map(String::as_str)
}

/// What `q` words are looked for in. `\n` separates the fields, so no word
/// (whitespace-free) matches across them.
fn search_text(model: &Model) -> Box<str> {
    let mut text = model.id.to_lowercase();
    if let Some(name) = &model.name {
        text.push('\n');
        text.push_str(&name.to_lowercase());
    }
    text.into_boxed_str()
}

fn name_key(model: &Model) -> Box<str> {
    model
        .name
        .as_deref()
        .unwrap_or(&model.id)
        .to_lowercase()
        .into_boxed_str()
}

fn price(
    model: &Model,
    field: impl Fn(&crate::gateways::model::Pricing) -> &Option<String>,
) -> Option<Price> {
    model
        .pricing
        .as_ref()
        .and_then(|p| field(p).as_deref())
        .and_then(Price::per_token)
}
