//! A JSON file of models: a bare array, or `{"data":[…]}` as OpenRouter gives
//! it. For curated lists and for running without network access.

use std::path::Path;

use serde::Deserialize;

use super::{FetchError, Model};

#[derive(Deserialize)]
#[serde(untagged)]
enum StaticFile {
    List(Vec<Model>),
    Wrapped { data: Vec<Model> },
}

pub async fn read(path: &Path, max_bytes: usize) -> Result<Vec<Model>, FetchError> {
    let file_error = |e: std::io::Error| FetchError::File(format!("{}: {e}", path.display()));
    let len = tokio::fs::metadata(path).await.map_err(file_error)?.len();
    if len > max_bytes as u64 {
        return Err(FetchError::TooLarge(max_bytes));
    }
    let body = tokio::fs::read(path).await.map_err(file_error)?;
    super::unchanged::note(&body)?;
    parse(&body)
}

pub fn parse(body: &[u8]) -> Result<Vec<Model>, FetchError> {
    match serde_json::from_slice(body) {
        Ok(StaticFile::List(models) | StaticFile::Wrapped { data: models }) => Ok(models),
        Err(_) => Err(FetchError::Parse(
            "expected a JSON array of models, or {\"data\":[…]}, each with an \"id\"".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_bare_array_or_a_data_object() {
        let bare = parse(br#"[{"id":"a","name":"A","context_length":8192}]"#).unwrap();
        assert_eq!(bare[0].context_length, Some(8192));
        let wrapped = parse(br#"{"data":[{"id":"b","pricing":{"prompt":"0.000001"}}]}"#).unwrap();
        assert_eq!(
            wrapped[0].pricing.as_ref().unwrap().prompt.as_deref(),
            Some("0.000001")
        );
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert_eq!(parse(b"{nope").unwrap_err().kind(), "parse");
    }
}
