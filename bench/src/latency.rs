//! Upstream latencies: `800` for every gateway, or `50..800` spread evenly
//! from the first gateway to the last.

use std::time::Duration;

/// One latency per gateway, from `spec` (`"2000"` or `"50..800"`, in ms).
pub fn spread(spec: &str, gateways: usize) -> Result<Vec<Duration>, String> {
    let ms = |raw: &str| {
        raw.trim()
            .parse::<u64>()
            .map_err(|_| format!("bad latency {spec:?}: use 800 or 50..800 (milliseconds)"))
    };
    let (low, high) = match spec.split_once("..") {
        Some((low, high)) => (ms(low)?, ms(high)?),
        None => (ms(spec)?, ms(spec)?),
    };
    let steps = gateways.saturating_sub(1).max(1) as u64;
    Ok((0..gateways as u64)
        .map(|i| Duration::from_millis(low + (high.saturating_sub(low)) * i / steps))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_evenly_from_first_to_last() {
        let l = spread("50..800", 4).unwrap();
        assert_eq!(l[0], Duration::from_millis(50));
        assert_eq!(l[3], Duration::from_millis(800));
        assert_eq!(spread("2000", 2).unwrap()[1], Duration::from_secs(2));
        assert!(spread("fast", 2).is_err());
    }
}
