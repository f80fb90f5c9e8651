//! The change records as an Atom 1.0 feed (RFC 4287), through the
//! `atom_syndication` crate: one entry per record, newest first.

use atom_syndication::{Entry, Feed, FixedDateTime, Link, Person, Text};

use super::record::{Change, ChangeKind};

const FEED_ID: &str = "urn:models-cache:changes";

/// The feed of `changes` (oldest first, as read), served at `self_url`.
pub fn feed(changes: &[Change], self_url: &str) -> String {
    let updated = changes.iter().map(|c| c.at).max().unwrap_or(0);
    let feed = Feed {
        title: Text::plain("models-cache: model catalog changes"),
        id: FEED_ID.into(),
        updated: date(updated),
        authors: vec![Person {
            name: "models-cache".into(),
            ..Person::default()
        }],
        links: vec![Link {
            href: self_url.into(),
            rel: "self".into(),
            mime_type: Some("application/atom+xml".into()),
            ..Link::default()
        }],
        entries: changes.iter().rev().map(entry).collect(),
        ..Feed::default()
    };
    feed.to_string()
}

fn entry(change: &Change) -> Entry {
    Entry {
        title: Text::plain(title(change)),
        id: format!("{FEED_ID}:{}", change.seq),
        updated: date(change.at),
        summary: Some(Text::plain(summary(change))),
        ..Entry::default()
    }
}

/// `openrouter: added openai/gpt-5`, `groq: listed 22 models`…
pub fn title(change: &Change) -> String {
    let model = change.model.as_deref().unwrap_or("");
    match change.kind {
        ChangeKind::Listed => format!(
            "{}: listed {} models",
            change.gateway,
            change.count.unwrap_or(0)
        ),
        ChangeKind::Added => format!("{}: added {model}", change.gateway),
        ChangeKind::Removed => format!("{}: removed {model}", change.gateway),
        ChangeKind::Changed => {
            let fields: Vec<&str> = change
                .fields
                .iter()
                .flat_map(|f| f.keys())
                .map(String::as_str)
                .collect();
            format!("{}: {model} changed {}", change.gateway, fields.join(", "))
        }
    }
}

/// Each changed field as `name: from → to`, and the canonical id.
fn summary(change: &Change) -> String {
    let mut lines = Vec::new();
    if let Some(canonical) = &change.canonical {
        lines.push(format!("model {canonical}"));
    }
    for (name, values) in change.fields.iter().flatten() {
        lines.push(format!("{name}: {} → {}", values.from, values.to));
    }
    if lines.is_empty() {
        lines.push(title(change));
    }
    lines.join("\n")
}

fn date(ms: u64) -> FixedDateTime {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .fixed_offset()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::FromTo;

    #[test]
    fn a_feed_is_atom_with_an_entry_per_record_newest_first() {
        let mut repriced = Change::new(1_700_000_000_000, "or", Some("a/b"), ChangeKind::Changed);
        repriced.seq = "1700000000000-1".into();
        repriced.fields = Some(
            [(
                "pricing.prompt".to_owned(),
                FromTo {
                    from: "0.1".into(),
                    to: "0.2".into(),
                },
            )]
            .into(),
        );
        let mut added = Change::new(1_700_000_000_500, "or", Some("c&d<e>"), ChangeKind::Added);
        added.seq = "1700000000500-0".into();
        let xml = feed(&[repriced, added], "http://h/api/changes.atom");
        assert!(
            xml.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\""),
            "{xml}"
        );
        let first = xml.find("or: added c&amp;d&lt;e&gt;").expect("escaped");
        let second = xml.find("or: a/b changed pricing.prompt").unwrap();
        assert!(first < second, "newest first");
        assert!(
            xml.contains("<updated>2023-11-14T22:13:20.500+00:00</updated>"),
            "{xml}"
        );
        assert!(xml.contains("urn:models-cache:changes:1700000000000-1"));
    }
}
