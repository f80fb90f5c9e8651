//! The alias table: documented facts that an offer's own id is a given
//! model, and pairs of ids that must never share a model.
//!
//! The shipped `aliases.toml` (compiled in, so the binary needs no file to
//! find) holds facts with their sources; the operator's `ALIASES_FILE` adds
//! to it and wins where both speak of the same id. An alias may be limited
//! to one gateway (`gateway = "<id>"`), which pins that gateway's offer.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

/// The table shipped with the service.
pub const SHIPPED: &str = include_str!("../../aliases.toml");

#[derive(Debug, Default)]
pub struct Aliases {
    /// By lowercase offer id: `(gateway or any, canonical)`.
    by_id: HashMap<String, Vec<(Option<String>, String)>>,
    /// Ids (lowercase) kept apart, by id: the others of its sets.
    apart: HashMap<String, HashSet<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    alias: Vec<Alias>,
    #[serde(default)]
    apart: Vec<Apart>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Alias {
    id: String,
    canonical: String,
    gateway: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Apart {
    ids: Vec<String>,
}

impl Aliases {
    /// The shipped table, with the operator's file (if any) over it. The
    /// error is one line naming what is wrong.
    pub fn load(operator_file: Option<&Path>) -> Result<Self, String> {
        let mut aliases = Self::default();
        aliases
            .add(SHIPPED)
            .map_err(|e| format!("the shipped aliases.toml: {e}"))?;
        if let Some(path) = operator_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            aliases
                .add(&text)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(aliases)
    }

    /// Adds a file's facts; an alias for an id (and gateway) already known
    /// replaces it.
    pub fn add(&mut self, text: &str) -> Result<(), String> {
        let file: File = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
        for alias in file.alias {
            let id = normalize(&alias.id);
            let canonical = alias.canonical.trim().to_lowercase();
            if id.is_empty() || !is_canonical(&canonical) {
                return Err(format!(
                    "alias {:?} → {:?}: canonical must be author/slug, as OpenRouter spells it",
                    alias.id, alias.canonical
                ));
            }
            let entries = self.by_id.entry(id).or_default();
            entries.retain(|(gateway, _)| *gateway != alias.gateway);
            entries.push((alias.gateway, canonical));
        }
        for set in file.apart {
            let ids: Vec<String> = set.ids.iter().map(|i| normalize(i)).collect();
            if ids.len() < 2 {
                return Err(format!("apart {:?}: list at least two ids", set.ids));
            }
            for id in &ids {
                let others = ids.iter().filter(|o| *o != id).cloned();
                self.apart.entry(id.clone()).or_default().extend(others);
            }
        }
        Ok(())
    }

    /// The canonical id an alias gives the offer `id` of `gateway`: one for
    /// that gateway first, else one for any.
    pub fn canonical(&self, gateway: &str, id: &str) -> Option<&str> {
        let entries = self.by_id.get(&normalize(id))?;
        let for_gateway = entries.iter().find(|(g, _)| g.as_deref() == Some(gateway));
        let for_any = entries.iter().find(|(g, _)| g.is_none());
        for_gateway.or(for_any).map(|(_, c)| c.as_str())
    }

    /// Whether the table keeps offers `a` and `b` apart.
    pub fn apart(&self, a: &str, b: &str) -> bool {
        self.apart
            .get(&normalize(a))
            .is_some_and(|others| others.contains(&normalize(b)))
    }

    pub fn len(&self) -> usize {
        self.by_id.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// An id as compared: lowercase, without a path prefix some gateways add.
pub fn normalize(id: &str) -> String {
    let id = id.trim();
    let id = id.strip_prefix("models/").unwrap_or(id);
    let id = match id
        .strip_prefix("accounts/")
        .and_then(|r| r.split_once("/models/"))
    {
        Some((_, model)) => model,
        None => id,
    };
    id.to_lowercase()
}

fn is_canonical(id: &str) -> bool {
    let Some((author, slug)) = id.split_once('/') else {
        return false;
    };
    !author.is_empty() && !slug.is_empty() && !id.contains(char::is_whitespace)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_loads() {
        let aliases = Aliases::load(None).unwrap();
        assert!(!aliases.is_empty());
    }

    #[test]
    fn an_operators_alias_wins_and_may_pin_one_gateway() {
        let mut aliases = Aliases::default();
        aliases
            .add(
                "[[alias]]\nid = \"Fast-70B\"\ncanonical = \"meta-llama/llama-3.3-70b-instruct\"\n",
            )
            .unwrap();
        aliases
            .add("[[alias]]\nid = \"fast-70b\"\ncanonical = \"meta-llama/llama-3.1-70b-instruct\"\ngateway = \"old\"\n")
            .unwrap();
        assert_eq!(
            aliases.canonical("any", "models/FAST-70B"),
            Some("meta-llama/llama-3.3-70b-instruct")
        );
        assert_eq!(
            aliases.canonical("old", "fast-70b"),
            Some("meta-llama/llama-3.1-70b-instruct")
        );
        aliases
            .add("[[alias]]\nid = \"fast-70b\"\ncanonical = \"acme/fast\"\n")
            .unwrap();
        assert_eq!(
            aliases.canonical("any", "fast-70b"),
            Some("acme/fast"),
            "the later file wins"
        );
    }

    #[test]
    fn apart_sets_are_symmetric() {
        let mut aliases = Aliases::default();
        aliases
            .add("[[apart]]\nids = [\"a-1\", \"A-2\", \"a-3\"]\n")
            .unwrap();
        assert!(aliases.apart("a-2", "a-1") && aliases.apart("a-1", "a-3"));
        assert!(!aliases.apart("a-1", "a-1") && !aliases.apart("a-1", "b"));
    }

    #[test]
    fn a_bad_file_is_one_line_naming_the_problem() {
        let mut aliases = Aliases::default();
        for (text, says) in [
            (
                "[[alias]]\nid = \"x\"\ncanonical = \"no-slash\"\n",
                "author/slug",
            ),
            ("[[alias]]\nid = \"x\"\n", "canonical"),
            (
                "[[alias]]\nid = \"x\"\ncanonical = \"a/b\"\ncolour = 1\n",
                "colour",
            ),
            ("[[apart]]\nids = [\"x\"]\n", "two ids"),
            ("not toml", "expected"),
        ] {
            let err = aliases.add(text).unwrap_err();
            assert!(err.contains(says) && !err.contains('\n'), "{text:?}: {err}");
        }
        let missing = Aliases::load(Some(Path::new("/nonexistent/aliases.toml"))).unwrap_err();
        assert!(
            missing.starts_with("cannot read /nonexistent/aliases.toml"),
            "{missing}"
        );
    }
}
