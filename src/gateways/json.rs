//! Lenient reading of upstream JSON, shared by the adapters.
//!
//! Adapters read records as `serde_json::Value` rather than typed structs so
//! that one odd field (a number where a string was documented, a new nested
//! object) costs that field only: it becomes `null`, the record and the fetch
//! survive. Only the record's `id` is required; a record without one is
//! skipped.

use serde_json::{Map, Value};

use super::{FetchError, Model};

/// Parses a body as JSON, or says why not (HTML error pages land here).
pub fn parse_body(body: &[u8]) -> Result<Value, FetchError> {
    serde_json::from_slice(body).map_err(|e| {
        let looks_like_html = body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'<');
        if looks_like_html {
            FetchError::Parse("expected JSON, got an HTML page".into())
        } else {
            FetchError::Parse(e.to_string())
        }
    })
}

/// The array at `body[key]`, or the error that explains its absence: an
/// upstream error object answered with a 200, or an unexpected shape.
pub fn list<'a>(body: &'a Value, key: &str) -> Result<&'a Vec<Value>, FetchError> {
    match body.get(key) {
        Some(Value::Array(items)) => Ok(items),
        _ => Err(unexpected_shape(body, &format!("a \"{key}\" list"))),
    }
}

/// The list at `body[key]`, each record read by `record`; records it cannot
/// read (no id) are skipped.
pub fn records(
    body: &Value,
    key: &str,
    record: impl Fn(&Value) -> Option<Model>,
) -> Result<Vec<Model>, FetchError> {
    Ok(list(body, key)?.iter().filter_map(record).collect())
}

/// The error for a body that is not the documented list.
pub fn unexpected_shape(body: &Value, expected: &str) -> FetchError {
    if let Some(error) = body.get("error").filter(|e| !e.is_null()) {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| error.to_string());
        return FetchError::Parse(format!(
            "the upstream answered with an error: {}",
            clip(&message)
        ));
    }
    FetchError::Parse(format!("expected {expected} in the response"))
}

/// A record's non-empty string field.
pub fn string(record: &Value, key: &str) -> Option<String> {
    record
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A record's non-negative integer field; an integral float (`2048.0`, as
/// Cohere documents its lengths) counts, a fraction or a string does not.
pub fn count(record: &Value, key: &str) -> Option<u64> {
    let value = record.get(key)?;
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9.0e15)
            .map(|f| f as u64)
    })
}

/// A record's signed integer field (timestamps).
pub fn integer(record: &Value, key: &str) -> Option<i64> {
    record.get(key)?.as_i64()
}

/// A record's list of strings; non-string items are dropped.
pub fn strings(record: &Value, key: &str) -> Option<Vec<String>> {
    let items = record.get(key)?.as_array()?;
    Some(
        items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    )
}

/// A record's nested object.
pub fn object<'a>(record: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    record.get(key)?.as_object()
}

/// An RFC 3339 timestamp (`2025-02-19T00:00:00Z`) as unix seconds.
pub fn rfc3339_seconds(record: &Value, key: &str) -> Option<i64> {
    let text = record.get(key)?.as_str()?;
    let time = humantime::parse_rfc3339_weak(text).ok()?;
    let secs = time.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// At most 200 characters of an upstream message, for error texts.
fn clip(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn html_and_truncated_bodies_are_parse_errors_that_say_so() {
        let html = parse_body(b"  <!DOCTYPE html><html>502</html>").unwrap_err();
        assert_eq!(
            html.to_string(),
            "unparseable response: expected JSON, got an HTML page"
        );
        assert_eq!(
            parse_body(br#"{"data":[{"id":"a"}"#).unwrap_err().kind(),
            "parse"
        );
    }

    #[test]
    fn a_missing_list_reports_the_upstream_error_object() {
        let body = json!({"error": {"message": "Invalid API key", "code": 401}});
        let err = list(&body, "data").unwrap_err();
        assert!(err.to_string().contains("Invalid API key"), "{err}");
        let err = list(&json!({"data": "nope"}), "data").unwrap_err();
        assert!(
            err.to_string().contains("expected a \"data\" list"),
            "{err}"
        );
        let err = list(&json!({"error": "quota"}), "models").unwrap_err();
        assert!(err.to_string().contains("\"quota\""), "{err}");
    }

    #[test]
    fn fields_of_the_wrong_type_are_none() {
        let r = json!({"n": "8192", "f": 2048.0, "x": 1.5, "neg": -1, "s": 7, "l": ["a", 1, "b"]});
        assert_eq!(count(&r, "n"), None);
        assert_eq!(count(&r, "f"), Some(2048));
        assert_eq!(count(&r, "x"), None);
        assert_eq!(count(&r, "neg"), None);
        assert_eq!(string(&r, "s"), None);
        assert_eq!(strings(&r, "l"), Some(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn rfc3339_dates_become_unix_seconds() {
        let r = json!({"t": "2025-02-19T00:00:00Z", "bad": "yesterday"});
        assert_eq!(rfc3339_seconds(&r, "t"), Some(1_739_923_200));
        assert_eq!(rfc3339_seconds(&r, "bad"), None);
    }
}
