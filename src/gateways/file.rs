//! Loading and validating `gateways.toml`.
//!
//! Validation happens here, once, so that the rest of the service can rely on
//! a [`Gateway`] being usable: a known kind, a parseable base URL or an
//! existing static file, a unique id that is safe inside store keys and URLs.
//! A gateway whose API key variable is named but missing or empty is skipped
//! with a reason (and a warning), not an error: a user with keys for only some
//! providers keeps one example file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use super::{Gateway, Kind, Source};
use crate::config::{ConfigError, parse_duration};
use crate::secret::Secret;

/// Upstream bodies larger than this are refused unless a gateway raises it.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The gateways to serve, and those left out (with why).
#[derive(Debug, Clone, Default)]
pub struct Gateways {
    pub active: Vec<Arc<Gateway>>,
    pub skipped: Vec<Skipped>,
}

/// The reason given for a gateway with `enabled = false`.
pub const DISABLED: &str = "disabled in the gateways file";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub id: String,
    pub kind: String,
    pub reason: String,
}

impl Gateways {
    pub fn get(&self, id: &str) -> Option<&Arc<Gateway>> {
        self.active.iter().find(|g| g.id == id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.active.iter().map(|g| g.id.as_str())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    gateway: Vec<Entry>,
}

/// One `[[gateway]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    kind: String,
    base_url: Option<String>,
    path: Option<PathBuf>,
    api_key_env: Option<String>,
    timeout: Option<String>,
    enabled: Option<bool>,
    max_body_bytes: Option<usize>,
    author: Option<String>,
}

/// Reads `path`; `env` looks up API key variables.
pub fn load(
    path: &Path,
    default_timeout: Duration,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Gateways, ConfigError> {
    let file_name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(&file_name, format!("cannot read the gateways file: {e}")))?;
    parse(
        &text,
        path.parent().unwrap_or(Path::new(".")),
        default_timeout,
        env,
    )
    .map_err(|problem| ConfigError::new(file_name, problem))
}

/// Parses the file's text; relative static paths resolve against `dir`.
pub fn parse(
    text: &str,
    dir: &Path,
    default_timeout: Duration,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Gateways, String> {
    let file: File = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
    let mut seen = HashSet::new();
    let mut gateways = Gateways::default();
    for entry in file.gateway {
        let label = format!("gateway {:?}", entry.id);
        if !seen.insert(entry.id.clone()) {
            return Err(format!("{label}: duplicate id"));
        }
        let gateway = build(entry, dir, default_timeout).map_err(|p| format!("{label}: {p}"))?;
        match skip_reason(&gateway, &env) {
            Some(reason) => gateways.skipped.push(Skipped {
                id: gateway.gateway.id,
                kind: gateway.gateway.kind.as_str().into(),
                reason,
            }),
            None => {
                let mut g = gateway.gateway;
                g.api_key = gateway.key_env.as_deref().and_then(&env).map(Secret::new);
                gateways.active.push(Arc::new(g));
            }
        }
    }
    Ok(gateways)
}

/// A validated entry before its key is resolved.
struct Built {
    gateway: Gateway,
    key_env: Option<String>,
    enabled: bool,
}

fn build(entry: Entry, dir: &Path, default_timeout: Duration) -> Result<Built, String> {
    check_id(&entry.id)?;
    let kind = Kind::parse(&entry.kind)?;
    let source = match kind {
        Kind::Static => Source::File(static_path(entry.path, dir)?),
        _ => Source::Http(base_url(entry.base_url)?),
    };
    let timeout = match entry.timeout {
        Some(raw) => parse_duration(&raw).map_err(|p| format!("timeout: {p}"))?,
        None => default_timeout,
    };
    if timeout.is_zero() {
        return Err("timeout: must be more than 0".into());
    }
    if let Some(var) = &entry.api_key_env
        && var.trim().is_empty()
    {
        return Err("api_key_env: must name an environment variable".into());
    }
    Ok(Built {
        gateway: Gateway {
            id: entry.id,
            kind,
            source,
            api_key: None,
            timeout,
            max_body_bytes: entry.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            author: author(entry.author)?,
        },
        key_env: entry.api_key_env,
        enabled: entry.enabled.unwrap_or(true),
    })
}

/// An author as the unified catalog spells it: lowercase, no `/`.
fn author(raw: Option<String>) -> Result<Option<String>, String> {
    let Some(raw) = raw else { return Ok(None) };
    let author = raw.trim().to_lowercase();
    if author.is_empty() || author.contains('/') || author.contains(char::is_whitespace) {
        return Err(format!(
            "author {raw:?}: one word such as \"openai\" or \"meta-llama\""
        ));
    }
    Ok(Some(author))
}

fn skip_reason(built: &Built, env: &impl Fn(&str) -> Option<String>) -> Option<String> {
    if !built.enabled {
        return Some(DISABLED.into());
    }
    let var = built.key_env.as_deref()?;
    match env(var) {
        Some(v) if !v.trim().is_empty() => None,
        Some(_) => Some(format!("its API key variable {var} is empty")),
        None => Some(format!("its API key variable {var} is not set")),
    }
}

fn check_id(id: &str) -> Result<(), String> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err("id must be 1 to 64 characters of [a-z0-9_-]".into())
    }
}

fn base_url(raw: Option<String>) -> Result<Url, String> {
    let raw = raw.ok_or("base_url is required for this kind")?;
    // The raw text is not quoted back: it may hold credentials.
    let url = Url::parse(&raw).map_err(|e| format!("base_url is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "base_url {:?}: must be http:// or https://",
            super::redact(&url)
        ));
    }
    Ok(url)
}

fn static_path(path: Option<PathBuf>, dir: &Path) -> Result<PathBuf, String> {
    let path = path.ok_or("path is required for kind \"static\"")?;
    let path = if path.is_relative() {
        dir.join(path)
    } else {
        path
    };
    if !path.is_file() {
        return Err(format!("path {}: no such file", path.display()));
    }
    Ok(path)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(text: &str, env: &[(&str, &str)]) -> Result<Gateways, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(
            text,
            Path::new("."),
            Duration::from_millis(1500),
            move |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
        )
    }

    #[test]
    fn a_valid_openai_gateway_gets_defaults() {
        let g = parse_with(
            "[[gateway]]\nid = \"groq\"\nkind = \"openai\"\nbase_url = \"https://api.groq.com/openai/v1\"\n",
            &[],
        )
        .unwrap();
        let groq = g.get("groq").unwrap();
        assert_eq!(groq.timeout, Duration::from_millis(1500));
        assert!(groq.api_key.is_none());
        assert_eq!(groq.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    }

    #[test]
    fn a_gateway_whose_key_is_missing_or_empty_is_skipped_with_a_reason() {
        let text = "[[gateway]]\nid = \"a\"\nkind = \"openai\"\nbase_url = \"http://x\"\napi_key_env = \"A_KEY\"\n\
                    [[gateway]]\nid = \"b\"\nkind = \"openai\"\nbase_url = \"http://x\"\napi_key_env = \"B_KEY\"\n\
                    [[gateway]]\nid = \"c\"\nkind = \"openai\"\nbase_url = \"http://x\"\napi_key_env = \"C_KEY\"\n";
        let g = parse_with(text, &[("B_KEY", ""), ("C_KEY", "k")]).unwrap();
        assert_eq!(g.ids().collect::<Vec<_>>(), ["c"]);
        assert_eq!(g.get("c").unwrap().api_key.as_ref().unwrap().expose(), "k");
        assert!(g.skipped[0].reason.contains("A_KEY is not set"));
        assert!(g.skipped[1].reason.contains("B_KEY is empty"));
    }

    #[test]
    fn every_network_kind_is_accepted_with_a_base_url() {
        for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Static) {
            let text = format!(
                "[[gateway]]\nid = \"g\"\nkind = \"{}\"\nbase_url = \"http://x/v1\"\n",
                kind.as_str()
            );
            let g = parse_with(&text, &[]).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(g.get("g").unwrap().kind, kind);
            let without_url = format!("[[gateway]]\nid = \"g\"\nkind = \"{}\"\n", kind.as_str());
            assert!(
                parse_with(&without_url, &[])
                    .unwrap_err()
                    .contains("base_url is required")
            );
        }
    }

    #[test]
    fn the_example_file_lists_every_kind_and_ships_keyed_providers_disabled() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateways.toml");
        let every_key_set = |_: &str| Some("k".to_owned());
        let g = load(&path, Duration::from_millis(1500), every_key_set).unwrap();
        // Even with every key set, only the keyless public lists are on.
        assert_eq!(g.ids().collect::<Vec<_>>(), ["curated", "openrouter"]);
        assert!(
            g.skipped
                .iter()
                .all(|s| s.reason == "disabled in the gateways file")
        );
        let kinds: HashSet<&str> = g
            .skipped
            .iter()
            .map(|s| s.kind.as_str())
            .chain(g.active.iter().map(|a| a.kind.as_str()))
            .collect();
        for kind in Kind::ALL {
            assert!(
                kinds.contains(kind.as_str()),
                "{} is missing",
                kind.as_str()
            );
        }
        assert!(g.skipped.len() >= 16, "{:?}", g.skipped);
    }

    #[test]
    fn disabled_gateways_are_skipped() {
        let g = parse_with(
            "[[gateway]]\nid = \"a\"\nkind = \"openai\"\nbase_url = \"http://x\"\nenabled = false\n",
            &[],
        )
        .unwrap();
        assert!(g.active.is_empty());
        assert_eq!(g.skipped[0].reason, "disabled in the gateways file");
    }

    #[test]
    fn bad_entries_are_refused_with_the_gateway_named() {
        let cases = [
            (
                "id = \"A!\"\nkind = \"openai\"\nbase_url = \"http://x\"",
                "id must be",
            ),
            (
                "id = \"a\"\nkind = \"nope\"\nbase_url = \"http://x\"",
                "unknown kind \"nope\"",
            ),
            ("id = \"a\"\nkind = \"openai\"", "base_url is required"),
            (
                "id = \"a\"\nkind = \"openai\"\nbase_url = \"ftp://x\"",
                "must be http",
            ),
            (
                "id = \"a\"\nkind = \"openai\"\nbase_url = \"http://x\"\ntimeout = \"fast\"",
                "timeout: invalid duration",
            ),
            (
                "id = \"a\"\nkind = \"static\"\npath = \"/nonexistent.json\"",
                "no such file",
            ),
        ];
        for (body, expected) in cases {
            let err = parse_with(&format!("[[gateway]]\n{body}\n"), &[]).unwrap_err();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn duplicate_ids_and_unknown_fields_are_refused() {
        let dup = "[[gateway]]\nid = \"a\"\nkind = \"openai\"\nbase_url = \"http://x\"\n".repeat(2);
        assert!(parse_with(&dup, &[]).unwrap_err().contains("duplicate id"));
        let typo = "[[gateway]]\nid = \"a\"\nkind = \"openai\"\nbase_url = \"http://x\"\ntimeuot = \"1s\"\n";
        assert!(parse_with(typo, &[]).unwrap_err().contains("timeuot"));
    }
}
