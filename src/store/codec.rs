//! How a models list is stored: JSON, gzip-compressed.
//!
//! A catalog is mostly repeated keys and similar descriptions, which gzip
//! shrinks several times over: Redis memory (and the bytes every instance
//! pulls when an entry changes) drops accordingly. gzip rather than a denser
//! codec so that an operator can still read an entry with `redis-cli` and
//! `gunzip`. Encoding and decoding run on the background threads
//! ([`crate::background`]): a large list takes milliseconds, which reads
//! should not wait behind.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::StoreError;
use crate::gateways::Model;

/// The `encoding` field of an entry written by this version.
pub const GZIP: &str = "gzip";

/// Serialises and compresses `models`.
pub async fn encode(models: std::sync::Arc<Vec<Model>>) -> Result<Vec<u8>, StoreError> {
    crate::background::run(move || {
        let json = serde_json::to_vec(&*models)
            .map_err(|e| StoreError(format!("cannot serialise models: {e}")))?;
        let mut gzip = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
        gzip.write_all(&json)
            .and_then(|()| gzip.finish())
            .map_err(|e| StoreError(format!("cannot compress models: {e}")))
    })
    .await
}

/// Reads a stored list: gzip-compressed JSON, or plain JSON (no `encoding`).
pub async fn decode(
    key: String,
    bytes: Vec<u8>,
    encoding: Option<String>,
) -> Result<Vec<Model>, StoreError> {
    crate::background::run(move || {
        let unreadable =
            |e: &dyn std::fmt::Display| StoreError(format!("{key} holds an unreadable list: {e}"));
        let json = match encoding.as_deref() {
            None => bytes,
            Some(GZIP) => {
                let mut json = Vec::with_capacity(bytes.len() * 4);
                GzDecoder::new(&bytes[..])
                    .read_to_end(&mut json)
                    .map_err(|e| unreadable(&e))?;
                json
            }
            Some(other) => return Err(unreadable(&format!("unknown encoding {other:?}"))),
        };
        serde_json::from_slice(&json).map_err(|e| unreadable(&e))
    })
    .await
}
