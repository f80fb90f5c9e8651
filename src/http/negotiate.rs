//! Content negotiation: whether a client takes a gzip answer.
//!
//! `Accept-Encoding` (RFC 9110 §12.5.3) lists codings with an optional weight
//! `;q=<0…1>`; `q=0` means "not acceptable". The most specific entry wins: an
//! explicit `gzip;q=0` refuses gzip even when `*` would allow it.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT_ENCODING;

/// Whether the client takes gzip: its `Accept-Encoding` lines give `gzip`
/// (or, when `gzip` is not named, `*`) a weight above zero.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let lines = headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok());
    gzip_weight(lines).is_some_and(|q| q > 0.0)
}

/// The weight given to gzip, `None` when neither `gzip` nor `*` is listed.
/// A coding listed twice keeps its lowest weight: a refusal is never
/// overridden.
fn gzip_weight<'a>(lines: impl Iterator<Item = &'a str>) -> Option<f32> {
    let mut gzip: Option<f32> = None;
    let mut any: Option<f32> = None;
    for entry in lines.flat_map(|line| line.split(',')) {
        let mut parts = entry.split(';');
        let name = parts.next().unwrap_or("").trim();
        let slot = if name.eq_ignore_ascii_case("gzip") {
            &mut gzip
        } else if name == "*" {
            &mut any
        } else {
            continue;
        };
        let q = weight(parts);
        *slot = Some(slot.map_or(q, |seen| seen.min(q)));
    }
    gzip.or(any)
}

/// The `q` parameter (its name in any case, spaces around it tolerated);
/// 1 when absent. An unreadable weight is no refusal: it counts as 1.
fn weight<'a>(params: impl Iterator<Item = &'a str>) -> f32 {
    params
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
        .and_then(|(_, value)| value.trim().parse::<f32>().ok())
        .unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accepts(lines: &[&str]) -> bool {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_str(line).unwrap());
        }
        accepts_gzip(&headers)
    }

    #[test]
    fn gzip_or_a_wildcard_with_a_weight_is_accepted() {
        for line in [
            "gzip",
            "GZIP",
            "br;q=1.0, gzip, deflate",
            "gzip;q=0.001",
            "*",
            "identity, *;q=0.5",
            " gzip ; q = 1 ",
        ] {
            assert!(accepts(&[line]), "{line:?}");
        }
    }

    #[test]
    fn a_zero_weight_refuses_in_any_spelling() {
        for line in [
            "gzip;q=0",
            "gzip;Q=0",
            "gzip;q=0.000",
            "gzip ; q = 0",
            "gzip;q=0, *",
            "*, gzip;q=0",
            "*;q=0",
            "gzip, gzip;q=0",
            "br, deflate",
            "identity",
            "",
        ] {
            assert!(!accepts(&[line]), "{line:?}");
        }
        assert!(!accepts(&[]), "no Accept-Encoding: no gzip");
    }

    #[test]
    fn every_header_line_counts() {
        assert!(accepts(&["br", "gzip"]));
        assert!(!accepts(&["*", "gzip;q=0"]));
    }

    #[test]
    fn an_unreadable_weight_is_no_refusal() {
        assert!(accepts(&["gzip;q=high"]));
        assert!(accepts(&["gzip;level=0"]));
    }
}
