//! Running a query over the segments of the gateways read: filters as
//! bitmap intersections per segment, facet counts as intersection sizes, and
//! a page taken from the precomputed orders (merged across segments), so a
//! query costs about what it selects and returns, not the catalog's size.

use std::collections::BTreeMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::index::{Postings, Segment, compare};
use super::price::Price;
use super::query::{Query, Sort};
use crate::gateways::Model;

/// A query's answer: the page, how many matched, and the facet counts.
pub struct Found<'a> {
    pub page: Vec<&'a Model>,
    /// Where each model of the page is: (segment, position).
    pub positions: Vec<(usize, u32)>,
    pub total: usize,
    pub facets: Option<Facets>,
}

/// Counts over every match (before paging), by value.
#[derive(Debug, Default, serde::Serialize, PartialEq, Eq)]
pub struct Facets {
    pub gateway: BTreeMap<String, u64>,
    pub author: BTreeMap<String, u64>,
    pub input_modalities: BTreeMap<String, u64>,
    pub output_modalities: BTreeMap<String, u64>,
    pub supported_parameters: BTreeMap<String, u64>,
}

/// Runs `query` over `segments` (in gateway order; each with its gateway id).
pub fn search<'a>(segments: &'a [(&'a str, Arc<Segment>)], query: &Query) -> Found<'a> {
    let matches: Vec<RoaringBitmap> = segments.iter().map(|(_, s)| matching(s, query)).collect();
    let total = matches.iter().map(|m| m.len() as usize).sum();
    let facets = query.facets.then(|| facets(segments, &matches));
    let limit = query.limit.unwrap_or(usize::MAX);
    let picked = match query.sort {
        None => in_gateway_order(&matches, query.offset, limit),
        Some(sort) => sorted(segments, &matches, sort, query.offset, limit),
    };
    let page = picked
        .iter()
        .map(|&(s, i)| &segments[s].1.models[i as usize])
        .collect();
    Found {
        page,
        positions: picked,
        total,
        facets,
    }
}

/// The positions of `segment` that pass every filter of `query`: the most
/// selective bitmaps (the words' trigrams) first, so the others intersect
/// few positions; the whole segment only when nothing narrows it.
fn matching(segment: &Segment, query: &Query) -> RoaringBitmap {
    let mut found = Narrowed::All;
    for word in &query.words {
        found.intersect(&trigram_candidates(segment, word));
        if found.is_empty() {
            return RoaringBitmap::new();
        }
    }
    // In a unified catalog, `gateway=` keeps the models those gateways
    // offer (an entry's segment was selected by gateway already).
    if let Some(gateways) = &query.gateways
        && !segment.gateways.is_empty()
    {
        found.intersect(&any_of(&segment.gateways, gateways));
    }
    if !query.authors.is_empty() {
        found.intersect(&any_of(&segment.authors, &query.authors));
    }
    for (wanted, postings) in [
        (&query.input_modalities, &segment.input_modalities),
        (&query.output_modalities, &segment.output_modalities),
        (&query.parameters, &segment.parameters),
    ] {
        for value in wanted {
            match postings.get(value.as_str()) {
                Some(bitmap) => found.intersect(bitmap),
                None => return RoaringBitmap::new(),
            }
        }
    }
    let mut found = match found {
        Narrowed::All => segment.all(),
        Narrowed::To(bitmap) => bitmap,
    };
    for word in &query.words {
        found.retain(|i| segment.texts[i as usize].contains(word.as_str()));
    }
    if query.context.is_some() || query.prompt.is_set() || query.completion.is_set() || query.free {
        found.retain(|i| admits(segment, i as usize, query));
    }
    found
}

/// The positions holding any of `values`.
fn any_of(postings: &Postings, values: &[String]) -> RoaringBitmap {
    values
        .iter()
        .filter_map(|v| postings.get(v.as_str()))
        .fold(RoaringBitmap::new(), |acc, b| acc | b)
}

/// Positions so far: every one, or these.
enum Narrowed {
    All,
    To(RoaringBitmap),
}

impl Narrowed {
    fn intersect(&mut self, bitmap: &RoaringBitmap) {
        match self {
            Narrowed::All => *self = Narrowed::To(bitmap.clone()),
            Narrowed::To(found) => *found &= bitmap,
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Narrowed::To(found) if found.is_empty())
    }
}

/// The positions whose search text holds every trigram of `word` (a
/// superset of those containing it, checked afterwards); every position
/// for a word under three bytes.
fn trigram_candidates(segment: &Segment, word: &str) -> RoaringBitmap {
    let mut candidates = Narrowed::All;
    for window in word.as_bytes().windows(3) {
        match segment.trigrams.get(&[window[0], window[1], window[2]]) {
            Some(bitmap) => candidates.intersect(bitmap),
            None => return RoaringBitmap::new(),
        }
        if candidates.is_empty() {
            return RoaringBitmap::new();
        }
    }
    match candidates {
        Narrowed::All => segment.all(),
        Narrowed::To(bitmap) => bitmap,
    }
}

fn admits(segment: &Segment, i: usize, query: &Query) -> bool {
    let free = |p: Option<Price>| p == Some(Price::ZERO);
    query
        .context
        .is_none_or(|min| segment.context[i].is_some_and(|c| c >= min))
        && query.prompt.admits(segment.prompt[i])
        && query.completion.admits(segment.completion[i])
        && (!query.free || free(segment.prompt[i]) && free(segment.completion[i]))
}

fn facets(segments: &[(&str, Arc<Segment>)], matches: &[RoaringBitmap]) -> Facets {
    let mut facets = Facets::default();
    for ((gateway, segment), found) in segments.iter().zip(matches) {
        if segment.gateways.is_empty() {
            if !found.is_empty() {
                *facets.gateway.entry((*gateway).to_owned()).or_default() += found.len();
            }
        } else {
            count(&mut facets.gateway, &segment.gateways, found);
        }
        count(&mut facets.author, &segment.authors, found);
        count(
            &mut facets.input_modalities,
            &segment.input_modalities,
            found,
        );
        count(
            &mut facets.output_modalities,
            &segment.output_modalities,
            found,
        );
        count(&mut facets.supported_parameters, &segment.parameters, found);
    }
    facets
}

fn count(into: &mut BTreeMap<String, u64>, postings: &Postings, found: &RoaringBitmap) {
    for (value, bitmap) in postings {
        let n = bitmap.intersection_len(found);
        if n > 0 {
            *into.entry(value.to_string()).or_default() += n;
        }
    }
}

/// Gateway order, then upstream order.
fn in_gateway_order(matches: &[RoaringBitmap], offset: usize, limit: usize) -> Vec<(usize, u32)> {
    let mut skip = offset as u64;
    let mut page = Vec::new();
    for (s, found) in matches.iter().enumerate() {
        if skip >= found.len() {
            skip -= found.len();
            continue;
        }
        let rest = limit - page.len();
        page.extend(found.iter().skip(skip as usize).take(rest).map(|i| (s, i)));
        skip = 0;
        if page.len() == limit {
            break;
        }
    }
    page
}

/// The page of the matches in `sort`'s order: each segment's matches in its
/// precomputed order, merged (ties: gateway order, then upstream order).
fn sorted(
    segments: &[(&str, Arc<Segment>)],
    matches: &[RoaringBitmap],
    sort: Sort,
    offset: usize,
    limit: usize,
) -> Vec<(usize, u32)> {
    let wanted = offset.saturating_add(limit);
    let mut runs: Vec<Run> = segments
        .iter()
        .zip(matches)
        .map(|((_, segment), found)| Run::new(segment, found, sort, wanted))
        .collect();
    let mut page = Vec::new();
    let mut taken = 0;
    while taken < wanted {
        let best = (0..runs.len())
            .filter_map(|s| runs[s].peek().map(|i| (s, i)))
            .min_by(|&(sa, a), &(sb, b)| {
                let order = compare(&segments[sa].1, a, &segments[sb].1, b, sort);
                order.then(sa.cmp(&sb)).then(a.cmp(&b))
            });
        let Some((s, i)) = best else { break };
        runs[s].advance();
        if taken >= offset {
            page.push((s, i));
        }
        taken += 1;
    }
    page
}

/// One segment's matches in a sort order, taken lazily.
struct Run {
    positions: Vec<u32>,
    next: usize,
}

impl Run {
    /// At most `wanted` of `found` in `sort`'s order: a sparse match is
    /// sorted by rank (its size × log); a dense one walks the precomputed
    /// order (stopping once it has enough).
    fn new(segment: &Segment, found: &RoaringBitmap, sort: Sort, wanted: usize) -> Self {
        let dense = found.len() * 8 >= u64::from(segment.len());
        let positions = if dense {
            segment
                .permutation(sort)
                .iter()
                .copied()
                .filter(|&i| found.contains(i))
                .take(wanted)
                .collect()
        } else {
            let mut positions: Vec<u32> = found.iter().collect();
            positions.sort_unstable_by_key(|&i| segment.rank(sort, i));
            positions.truncate(wanted);
            positions
        };
        Self { positions, next: 0 }
    }

    fn peek(&self) -> Option<u32> {
        self.positions.get(self.next).copied()
    }

    fn advance(&mut self) {
        self.next += 1;
    }
}
