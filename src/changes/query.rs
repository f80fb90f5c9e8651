//! The query parameters of `GET /api/changes`, read strictly: an unknown
//! parameter, one given twice or a bad value is an error naming it.

use super::record::{ChangeKind, Seq};

/// `limit` when none is given, and the most one may ask.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
const KNOWN: [&str; 5] = ["since", "gateway", "model", "type", "limit"];

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChangesQuery {
    pub since: Option<Seq>,
    pub gateways: Option<Vec<String>>,
    /// A canonical id or an offer's id.
    pub model: Option<String>,
    pub kinds: Option<Vec<ChangeKind>>,
    pub limit: usize,
}

impl ChangesQuery {
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let mut query = Self {
            limit: DEFAULT_LIMIT,
            ..Self::default()
        };
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            if !KNOWN.contains(&name.as_str()) {
                return Err(format!(
                    "{name}: unknown parameter; known: {}",
                    KNOWN.join(", ")
                ));
            }
            if seen.contains(&name.as_str()) {
                return Err(format!("{name}: given twice; give it once"));
            }
            seen.push(name);
            let value = value.trim();
            match name.as_str() {
                "since" => query.since = Some(value.parse().map_err(|e| format!("since: {e}"))?),
                "gateway" => query.gateways = Some(list(value)).filter(|l| !l.is_empty()),
                "model" => query.model = Some(value.to_owned()).filter(|m| !m.is_empty()),
                "type" => query.kinds = Some(kinds(value)?),
                "limit" => query.limit = limit(value)?,
                _ => unreachable!("every known parameter is matched"),
            }
        }
        Ok(query)
    }
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn kinds(value: &str) -> Result<Vec<ChangeKind>, String> {
    let names = list(value);
    if names.is_empty() {
        return Err("type: empty; use added, removed, changed or listed (comma-separated)".into());
    }
    names
        .iter()
        .map(|n| {
            n.parse().map_err(|()| {
                format!("type: unknown type {n:?}; use added, removed, changed or listed")
            })
        })
        .collect()
}

fn limit(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!(
            "limit: {value:?} is not a whole number from 1 to {MAX_LIMIT}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ChangesQuery, String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(text).unwrap();
        ChangesQuery::parse(&pairs)
    }

    #[test]
    fn every_parameter_is_read() {
        let q =
            parse("since=17-3&gateway=a,b&model=openai/gpt-4o&type=added,changed&limit=5").unwrap();
        assert_eq!(q.since, Some(Seq { ms: 17, n: 3 }));
        assert_eq!(q.gateways, Some(vec!["a".into(), "b".into()]));
        assert_eq!(q.model.as_deref(), Some("openai/gpt-4o"));
        assert_eq!(q.kinds, Some(vec![ChangeKind::Added, ChangeKind::Changed]));
        assert_eq!(q.limit, 5);
        assert_eq!(parse("").unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn a_bad_value_is_an_error_naming_its_parameter() {
        for (text, named) in [
            ("since=yesterday", "since:"),
            ("limit=0", "limit:"),
            ("limit=1001", "limit:"),
            ("limit=ten", "limit:"),
            ("type=repriced", "type:"),
            ("type=", "type:"),
            ("colour=red", "colour:"),
            ("limit=1&limit=2", "limit:"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.starts_with(named), "{text}: {error}");
        }
    }
}
