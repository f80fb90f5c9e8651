//! Prices in USD per token, as decimal strings, converted exactly.
//!
//! Providers quote prices per token (OpenRouter, Vercel), per million tokens
//! (Together, DeepInfra, Hugging Face router) or in cents per 100 million
//! tokens (xAI). Every one of these conversions is a division by a power of
//! ten, so it is done on the decimal digits themselves: the point moves, no
//! float ever rounds a digit. `$0.15` per 1M becomes `"0.00000015"`, not
//! `"1.4999999999999999e-7"`.
//!
//! Output is normalised: no exponent, no trailing zeros, no leading `+`.
//! A JSON number arrives here as serde_json prints it (the shortest text that
//! reads back to the same `f64`), which is the provider's own text for any
//! price written with 15 significant digits or fewer.

use serde_json::Value;

/// Per token: the unit of the normalised record.
pub const PER_TOKEN: i32 = 0;
/// Per million tokens (Together, DeepInfra, Hugging Face router).
pub const PER_MILLION: i32 = -6;
/// Cents per 100 million tokens (xAI `/language-models`): 1e-2 / 1e8.
pub const CENTS_PER_100M: i32 = -10;

/// Exponents beyond this are refused, so `1e999999` cannot become a
/// million-digit string.
const MAX_EXPONENT: i64 = 60;

/// `value` (a JSON number or numeric string) × 10^`pow10`, as a normalised
/// decimal string; `None` when it is not a number.
pub fn convert(value: &Value, pow10: i32) -> Option<String> {
    match value {
        Value::Number(n) => scale(&n.to_string(), pow10),
        Value::String(s) => scale(s.trim(), pow10),
        _ => None,
    }
}

/// The decimal `text` × 10^`pow10`, exactly.
pub fn scale(text: &str, pow10: i32) -> Option<String> {
    let Decimal {
        negative,
        digits,
        exponent,
    } = Decimal::parse(text)?;
    render(negative, digits, exponent.checked_add(i64::from(pow10))?)
}

/// A parsed decimal: `digits` × 10^`exponent`, with a sign.
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl Decimal {
    fn parse(text: &str) -> Option<Self> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => (&unsigned[..at], parse_exponent(&unsigned[at + 1..])?),
            None => (unsigned, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let frac_len = i64::try_from(frac.len()).ok()?;
        Some(Self {
            negative,
            digits: format!("{int}{frac}"),
            exponent: exponent - frac_len,
        })
    }
}

fn parse_exponent(text: &str) -> Option<i64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned.is_empty() || unsigned.len() > 6 || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = unsigned.parse().ok()?;
    Some(if text.starts_with('-') { -value } else { value })
}

/// Writes `digits` × 10^`exponent` without exponent or superfluous zeros.
fn render(negative: bool, digits: String, mut exponent: i64) -> Option<String> {
    let significant = digits.trim_start_matches('0');
    let mut significant = significant.to_owned();
    while significant.ends_with('0') {
        significant.pop();
        exponent += 1;
    }
    if significant.is_empty() {
        return Some("0".into());
    }
    if exponent.abs() > MAX_EXPONENT {
        return None;
    }
    let sign = if negative { "-" } else { "" };
    let len = significant.len() as i64;
    let text = if exponent >= 0 {
        format!("{significant}{}", "0".repeat(exponent as usize))
    } else if len + exponent > 0 {
        let (int, frac) = significant.split_at((len + exponent) as usize);
        format!("{int}.{frac}")
    } else {
        format!("0.{}{significant}", "0".repeat((-exponent - len) as usize))
    };
    Some(format!("{sign}{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn per_million_prices_become_per_token_digit_for_digit() {
        let cases = [
            ("0.15", "0.00000015"),
            ("0.6", "0.0000006"),
            ("3", "0.000003"),
            ("15", "0.000015"),
            ("0.88", "0.00000088"),
            ("2.19", "0.00000219"),
            ("0.055", "0.000000055"),
            ("1250", "0.00125"),
            ("0", "0"),
            ("0.000", "0"),
            ("1000000", "1"),
            ("12.50", "0.0000125"),
        ];
        for (per_million, per_token) in cases {
            assert_eq!(
                scale(per_million, PER_MILLION).as_deref(),
                Some(per_token),
                "{per_million}"
            );
        }
    }

    #[test]
    fn xai_cents_per_100m_become_per_token() {
        assert_eq!(scale("2000", CENTS_PER_100M).as_deref(), Some("0.0000002"));
        // grok-3: $3 and $15 per 1M tokens.
        assert_eq!(scale("30000", CENTS_PER_100M).as_deref(), Some("0.000003"));
        assert_eq!(scale("150000", CENTS_PER_100M).as_deref(), Some("0.000015"));
        assert_eq!(scale("7500", CENTS_PER_100M).as_deref(), Some("0.00000075"));
    }

    #[test]
    fn per_token_strings_are_normalised_not_rounded() {
        let cases = [
            ("0.0000025", "0.0000025"),
            ("0.000002500", "0.0000025"),
            ("2.5e-6", "0.0000025"),
            ("2.5E-06", "0.0000025"),
            ("1e3", "1000"),
            ("-1", "-1"),
            ("+0.5", "0.5"),
            ("00.10", "0.1"),
            (".5", "0.5"),
            ("5.", "5"),
            ("-0", "0"),
            ("0.1234567890123456789012345", "0.1234567890123456789012345"),
        ];
        for (given, expected) in cases {
            assert_eq!(
                scale(given, PER_TOKEN).as_deref(),
                Some(expected),
                "{given}"
            );
        }
    }

    #[test]
    fn json_numbers_keep_their_digits() {
        assert_eq!(
            convert(&json!(0.15), PER_MILLION).as_deref(),
            Some("0.00000015")
        );
        assert_eq!(
            convert(&json!(0.1), PER_MILLION).as_deref(),
            Some("0.0000001")
        );
        assert_eq!(
            convert(&json!(1e-7), PER_TOKEN).as_deref(),
            Some("0.0000001")
        );
        assert_eq!(
            convert(&json!(2000), CENTS_PER_100M).as_deref(),
            Some("0.0000002")
        );
        assert_eq!(
            convert(&json!("0.15"), PER_MILLION).as_deref(),
            Some("0.00000015")
        );
    }

    #[test]
    fn non_numbers_and_absurd_exponents_are_none() {
        for bad in [
            "",
            "-",
            ".",
            "abc",
            "1.2.3",
            "1e",
            "1e+",
            "0x10",
            "1_000",
            "NaN",
            "1e9999999",
        ] {
            assert_eq!(scale(bad, PER_TOKEN), None, "{bad:?}");
        }
        assert_eq!(scale("1e99", PER_TOKEN), None);
        assert_eq!(convert(&json!(null), PER_TOKEN), None);
        assert_eq!(convert(&json!({"a": 1}), PER_TOKEN), None);
    }
}
