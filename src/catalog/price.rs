//! Prices as exact integers, so filters and sorts compare them without a
//! float ever rounding a digit.
//!
//! A normalised record's price is a decimal string in USD per token
//! (`"0.000003"`); here it becomes a whole number of 10⁻²⁴ USD per token,
//! which holds every price a provider quotes (down to 10⁻²⁴, up to 10¹⁴ USD a
//! token) in a `u128`. Query bounds come in USD per **million** tokens, as
//! OpenRouter takes them, and land on the same scale.

use std::fmt;

/// Digits kept after the point, per token.
const SCALE: u32 = 24;

/// A price in 10⁻²⁴ USD per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(u128);

/// Why a price could not be read: what the bound must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPrice(&'static str);

impl fmt::Display for BadPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Price {
    pub const ZERO: Price = Price(0);

    /// A record's per-token price; `None` when it is not a plain
    /// non-negative decimal (the adapters write nothing else).
    pub fn per_token(text: &str) -> Option<Self> {
        parse(text, SCALE).ok().map(Price)
    }

    /// The sum, unless it would overflow (no real price comes near).
    pub fn checked_add(self, other: Price) -> Option<Price> {
        self.0.checked_add(other.0).map(Price)
    }

    /// A query bound in USD per million tokens (`"0.5"`, `"3"`).
    pub fn per_million(text: &str) -> Result<Self, BadPrice> {
        parse(text, SCALE - 6).map(Price)
    }
}

/// `text` × 10^`decimals` as an integer, exactly; refuses what would round.
fn parse(text: &str, decimals: u32) -> Result<u128, BadPrice> {
    const SHAPE: BadPrice = BadPrice("a non-negative decimal number such as 0.5 or 3");
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !digits(int) || !digits(frac) {
        return Err(SHAPE);
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > decimals as usize {
        return Err(BadPrice("too many decimals to compare exactly"));
    }
    let too_large = BadPrice("too large");
    let int = int.trim_start_matches('0');
    let mut value: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(b - b'0')))
            .ok_or(too_large.clone())?;
    }
    let shift = 10u128
        .checked_pow(decimals - frac.len() as u32)
        .ok_or(too_large.clone())?;
    value.checked_mul(shift).ok_or(too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_token_and_per_million_land_on_one_scale() {
        assert_eq!(
            Price::per_token("0.000003"),
            Price::per_million("3").ok(),
            "$3 per 1M tokens"
        );
        assert_eq!(
            Price::per_token("0.00000015"),
            Price::per_million("0.15").ok()
        );
        assert_eq!(Price::per_token("0"), Some(Price::ZERO));
        assert_eq!(Price::per_million("0.000"), Ok(Price::ZERO));
    }

    #[test]
    fn prices_compare_exactly_where_floats_would_not() {
        // 0.1 + 0.2 != 0.3 in floats; here the digits decide.
        let a = Price::per_token("0.0000003").unwrap();
        let b = Price::per_million("0.3").unwrap();
        assert_eq!(a, b);
        let just_above = Price::per_token("0.000000300000000000000001").unwrap();
        assert!(just_above > b);
        assert!(Price::per_token("0.00000015").unwrap() < Price::per_token("0.0000002").unwrap());
        assert!(Price::per_token("12").unwrap() > Price::per_token("9.99").unwrap());
    }

    #[test]
    fn what_cannot_be_compared_exactly_is_refused() {
        for bad in ["", ".", "-1", "1e-6", "abc", "0x10", "1.2.3", " 1"] {
            assert!(Price::per_million(bad).is_err(), "{bad:?}");
            assert!(Price::per_token(bad).is_none(), "{bad:?}");
        }
        assert!(Price::per_million("0.0000000000000000001").is_err());
        assert!(Price::per_million("99999999999999999999999999").is_err());
        assert_eq!(Price::per_million(".5"), Price::per_million("0.5"));
    }
}
