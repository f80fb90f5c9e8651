//! A change record, as stored and as `GET /api/changes` answers it, and the
//! stream ids (`seq`) that order them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// A gateway's first list: one record, with `count`.
    Listed,
    Added,
    Removed,
    Changed,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 4] = [Self::Listed, Self::Added, Self::Removed, Self::Changed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Listed => "listed",
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Changed => "changed",
        }
    }
}

impl FromStr for ChangeKind {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == text).ok_or(())
    }
}

/// A field's value before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FromTo {
    pub from: Value,
    pub to: Value,
}

/// One change of one gateway's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    /// The stream id: the record's place in the order of all changes (set
    /// when read back; pass it as `since`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub seq: String,
    /// When the list that showed it was fetched, ms since epoch.
    pub at: u64,
    pub gateway: String,
    /// The offer's id on that gateway (absent on `listed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The model's canonical id (see the unified catalog).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
    #[serde(rename = "type")]
    pub kind: ChangeKind,
    /// On `changed`: each changed field (`pricing.prompt`, `context_length`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, FromTo>>,
    /// On `listed`: how many models the first list had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

impl Change {
    pub fn new(at: u64, gateway: &str, model: Option<&str>, kind: ChangeKind) -> Self {
        Self {
            seq: String::new(),
            at,
            gateway: gateway.to_owned(),
            model: model.map(str::to_owned),
            canonical: None,
            kind,
            fields: None,
            count: None,
        }
    }
}

/// A stream id, `<ms>-<n>`: ordered by time, then by its place within that
/// millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq {
    pub ms: u64,
    pub n: u64,
}

impl FromStr for Seq {
    type Err = String;

    /// `<ms>-<n>`, or `<ms>` alone (its first id).
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a change seq (<ms>-<n>, as in a record's \"seq\")");
        let (ms, n) = text.split_once('-').unwrap_or((text, "0"));
        Ok(Self {
            ms: ms.parse().map_err(|_| bad())?,
            n: n.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.n)
    }
}

/// A record as the store keeps it: its seq, the fetch it came from (the
/// changes of one fetch are delivered together), its JSON (without seq).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub seq: Seq,
    pub fetch: String,
    pub json: String,
}

impl Stored {
    /// The record, `seq` filled in; `None` if the stored JSON is not one.
    pub fn change(&self) -> Option<Change> {
        let mut change: Change = serde_json::from_str(&self.json).ok()?;
        change.seq = self.seq.to_string();
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_order_by_time_then_place() {
        let a: Seq = "1700000000000-2".parse().unwrap();
        let b: Seq = "1700000000000-10".parse().unwrap();
        let c: Seq = "1700000000001".parse().unwrap();
        assert!(a < b && b < c);
        assert_eq!(c.to_string(), "1700000000001-0");
        for bad in ["", "x", "1-", "-1", "1-2-3", "1.5"] {
            assert!(bad.parse::<Seq>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_record_reads_back_with_its_seq() {
        let change = Change::new(5, "gw", Some("m"), ChangeKind::Added);
        let stored = Stored {
            seq: Seq { ms: 5, n: 1 },
            fetch: "f".into(),
            json: serde_json::to_string(&change).unwrap(),
        };
        assert!(!stored.json.contains("seq"));
        let back = stored.change().unwrap();
        assert_eq!(back.seq, "5-1");
        assert_eq!(serde_json::to_value(&back).unwrap()["type"], "added");
    }
}
