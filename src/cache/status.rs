//! The outcome of a read, named once for the `X-Cache` header, logs and
//! metric labels.

/// How one gateway's part of a read was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadOutcome {
    /// A fresh entry, served as is.
    Hit,
    /// A stale entry, served while one revalidation runs in the background.
    Stale,
    /// Nothing servable was cached: the reader fetched (or the fetch failed).
    Miss,
}

impl ReadOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Stale => "stale",
            Self::Miss => "miss",
        }
    }

    /// `X-Cache` for a response made of several gateways: the worst of them.
    pub fn header_value(outcomes: impl IntoIterator<Item = ReadOutcome>) -> &'static str {
        match outcomes.into_iter().max() {
            None | Some(Self::Hit) => "HIT",
            Some(Self::Stale) => "STALE",
            Some(Self::Miss) => "MISS",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReadOutcome::*;
    use super::*;

    #[test]
    fn the_header_reports_the_worst_outcome() {
        assert_eq!(ReadOutcome::header_value([Hit, Hit]), "HIT");
        assert_eq!(ReadOutcome::header_value([Hit, Stale]), "STALE");
        assert_eq!(ReadOutcome::header_value([Stale, Miss, Hit]), "MISS");
        assert_eq!(ReadOutcome::header_value([]), "HIT");
    }
}
