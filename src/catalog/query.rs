//! The query parameters of SPEC "Finding models", read strictly: an unknown
//! parameter or a bad value is an error naming it (a misspelt filter must
//! never silently return everything), and what is read is normalised, so
//! that queries asking for the same models share one cached answer.

use std::fmt::Write;

use super::price::Price;

/// The parameters every list endpoint takes.
pub const KNOWN: [&str; 16] = [
    "gateway",
    "q",
    "author",
    "input_modalities",
    "output_modalities",
    "supported_parameters",
    "context",
    "min_price",
    "max_price",
    "min_output_price",
    "max_output_price",
    "free",
    "sort",
    "limit",
    "offset",
    "facets",
];

/// A parameter that cannot be used, and what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {problem}")]
pub struct QueryError {
    pub param: String,
    pub problem: String,
}

fn bad(param: &str, problem: impl Into<String>) -> QueryError {
    QueryError {
        param: param.to_owned(),
        problem: problem.into(),
    }
}

/// An order of the results (`sort=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sort {
    /// By name (case-insensitive), then id.
    Name,
    /// `created`, newest first; unknown dates last.
    Newest,
    /// Prompt price, cheapest first; unknown prices last.
    PriceLowToHigh,
    /// Prompt price, dearest first; unknown prices last.
    PriceHighToLow,
    /// `context_length`, largest first; unknown last.
    ContextHighToLow,
    /// Most gateways first (the unified catalog only), then by name.
    Offers,
}

impl Sort {
    const NAMES: [(&'static str, Sort); 6] = [
        ("name", Sort::Name),
        ("newest", Sort::Newest),
        ("pricing-low-to-high", Sort::PriceLowToHigh),
        ("pricing-high-to-low", Sort::PriceHighToLow),
        ("context-high-to-low", Sort::ContextHighToLow),
        ("offers", Sort::Offers),
    ];

    fn parse(value: &str) -> Result<Self, QueryError> {
        Self::NAMES
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, sort)| *sort)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
                bad(
                    "sort",
                    format!("unknown order {value:?}; one of: {}", names.join(", ")),
                )
            })
    }
}

/// Bounds on a price, both inclusive, in exact units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PriceRange {
    pub min: Option<Price>,
    pub max: Option<Price>,
}

impl PriceRange {
    pub fn is_set(&self) -> bool {
        self.min.is_some() || self.max.is_some()
    }

    /// Whether `price` is within the bounds; an unknown price is within none.
    pub fn admits(&self, price: Option<Price>) -> bool {
        let Some(price) = price else {
            return !self.is_set();
        };
        self.min.is_none_or(|min| price >= min) && self.max.is_none_or(|max| price <= max)
    }
}

/// A parsed, normalised query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// `gateway=`: ids as given (the handler resolves them), `None` for all.
    pub gateways: Option<Vec<String>>,
    /// `q=`: lowercase words, each of which must occur.
    pub words: Vec<String>,
    /// Lowercase authors, any of which matches.
    pub authors: Vec<String>,
    /// Each must be supported.
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    pub parameters: Vec<String>,
    /// Minimum `context_length`.
    pub context: Option<u64>,
    pub prompt: PriceRange,
    pub completion: PriceRange,
    /// Prompt and completion both 0.
    pub free: bool,
    pub sort: Option<Sort>,
    pub limit: Option<usize>,
    pub offset: usize,
    pub facets: bool,
}

impl Query {
    /// Reads `pairs` (the decoded query string) strictly.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        let mut query = Query::default();
        for (i, (name, value)) in pairs.iter().enumerate() {
            if !KNOWN.contains(&name.as_str()) {
                return Err(bad(
                    name,
                    format!("unknown parameter; known: {}", KNOWN.join(", ")),
                ));
            }
            if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(bad(name, "given more than once; list values with commas"));
            }
            query.set(name, value.trim())?;
        }
        if let (Some(min), Some(max)) = (query.prompt.min, query.prompt.max)
            && min > max
        {
            return Err(bad("min_price", "is above max_price"));
        }
        if let (Some(min), Some(max)) = (query.completion.min, query.completion.max)
            && min > max
        {
            return Err(bad("min_output_price", "is above max_output_price"));
        }
        Ok(query)
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), QueryError> {
        match name {
            "gateway" => self.gateways = Some(list(value, false)).filter(|l| !l.is_empty()),
            "q" => {
                self.words = value
                    .to_lowercase()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            }
            "author" => self.authors = list(value, true),
            "input_modalities" => self.input_modalities = list(value, true),
            "output_modalities" => self.output_modalities = list(value, true),
            "supported_parameters" => self.parameters = list(value, true),
            "context" => self.context = Some(number(name, value)?),
            "min_price" => self.prompt.min = Some(price(name, value)?),
            "max_price" => self.prompt.max = Some(price(name, value)?),
            "min_output_price" => self.completion.min = Some(price(name, value)?),
            "max_output_price" => self.completion.max = Some(price(name, value)?),
            "free" => self.free = boolean(name, value)?,
            "sort" => {
                self.sort = Some(value)
                    .filter(|v| !v.is_empty())
                    .map(Sort::parse)
                    .transpose()?
            }
            "limit" => self.limit = Some(number(name, value)?),
            "offset" => self.offset = number(name, value)?,
            "facets" => self.facets = boolean(name, value)?,
            _ => unreachable!("BUG: every known parameter is handled"),
        }
        Ok(())
    }

    /// Whether any filter narrows the models (paging and sorting aside).
    pub fn filters(&self) -> bool {
        !self.words.is_empty()
            || !self.authors.is_empty()
            || !self.input_modalities.is_empty()
            || !self.output_modalities.is_empty()
            || !self.parameters.is_empty()
            || self.context.is_some()
            || self.prompt.is_set()
            || self.completion.is_set()
            || self.free
    }

    /// Clamps paging to `available` models (an offset past the end is the
    /// end; a limit reaching past it is no limit), so equivalent queries
    /// share one key.
    pub fn clamp_paging(&mut self, available: usize) {
        self.offset = self.offset.min(available);
        self.limit = self.limit.filter(|&l| l < available - self.offset);
    }

    /// A key that tells apart queries with different answers. The gateways
    /// are part of it: the unified catalog reads every gateway whatever
    /// `gateway=` keeps of the offers.
    pub fn key(&self) -> String {
        let mut key = String::new();
        let gateways = self.gateways.as_deref().map(sorted);
        let _ = write!(
            key,
            "g={gateways:?}|q={:?}|a={:?}|in={:?}|out={:?}|p={:?}|c={:?}|pp={:?}|cp={:?}|f={}|s={:?}|o={}|l={:?}|facets={}",
            self.words,
            sorted(&self.authors),
            sorted(&self.input_modalities),
            sorted(&self.output_modalities),
            sorted(&self.parameters),
            self.context,
            self.prompt,
            self.completion,
            self.free,
            self.sort,
            self.offset,
            self.limit,
            self.facets,
        );
        key
    }
}

/// A comma-separated list, trimmed, empty items dropped, deduplicated.
fn list(value: &str, lowercase: bool) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let item = if lowercase {
            item.to_lowercase()
        } else {
            item.to_owned()
        };
        if !items.contains(&item) {
            items.push(item);
        }
    }
    items
}

fn sorted(items: &[String]) -> Vec<&str> {
    let mut items: Vec<&str> = items.iter().map(String::as_str).collect();
    items.sort_unstable();
    items
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, QueryError> {
    value
        .parse()
        .map_err(|_| bad(name, format!("{value:?} is not a non-negative integer")))
}

fn boolean(name: &str, value: &str) -> Result<bool, QueryError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad(name, format!("{value:?}: use true or false"))),
    }
}

fn price(name: &str, value: &str) -> Result<Price, QueryError> {
    Price::per_million(value)
        .map_err(|why| bad(name, format!("{value:?}: USD per 1M tokens, {why}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// As the handlers read a query string.
    pub(crate) fn parse(query: &str) -> Result<Query, QueryError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        Query::parse(&pairs)
    }

    #[test]
    fn every_parameter_of_the_spec_is_read() {
        let q = parse(
            "gateway=a,b&q=Claude+Sonnet&author=Anthropic,openai&input_modalities=text,image\
             &output_modalities=text&supported_parameters=tools&context=100000&min_price=0.5\
             &max_price=3&min_output_price=1&max_output_price=15&free=false\
             &sort=pricing-low-to-high&limit=50&offset=100&facets=true",
        )
        .unwrap();
        assert_eq!(q.gateways, Some(vec!["a".into(), "b".into()]));
        assert_eq!(q.words, ["claude", "sonnet"]);
        assert_eq!(q.authors, ["anthropic", "openai"]);
        assert_eq!(q.input_modalities, ["text", "image"]);
        assert_eq!(q.parameters, ["tools"]);
        assert_eq!(q.context, Some(100_000));
        assert_eq!(q.prompt.min, Price::per_token("0.0000005"));
        assert_eq!(q.completion.max, Price::per_token("0.000015"));
        assert_eq!(q.sort, Some(Sort::PriceLowToHigh));
        assert_eq!(
            (q.limit, q.offset, q.facets, q.free),
            (Some(50), 100, true, false)
        );
    }

    #[test]
    fn unknown_parameters_and_bad_values_name_the_parameter() {
        for (query, param) in [
            ("qq=gpt", "qq"),
            ("_=123", "_"),
            ("limit=-1", "limit"),
            ("limit=ten", "limit"),
            ("offset=1.5", "offset"),
            ("context=lots", "context"),
            ("min_price=-1", "min_price"),
            ("max_output_price=1e-6", "max_output_price"),
            ("free=yes", "free"),
            ("facets=2", "facets"),
            ("sort=cheapest", "sort"),
            ("q=a&q=b", "q"),
            ("min_price=3&max_price=1", "min_price"),
        ] {
            let err = parse(query).unwrap_err();
            assert_eq!(err.param, param, "{query}: {err}");
        }
        let err = parse("sort=cheapest").unwrap_err().to_string();
        assert!(err.contains("pricing-low-to-high"), "{err}");
    }

    #[test]
    fn equivalent_queries_share_a_key() {
        let key = |q: &str| parse(q).unwrap().key();
        assert_eq!(key("author=openai,meta"), key("author=Meta,OpenAI"));
        assert_eq!(key("q=GPT+4o"), key("q=gpt%20%204o"));
        assert_ne!(key("sort=name"), key("sort=newest"));
        let mut a = parse("limit=500&offset=3").unwrap();
        let mut b = parse("limit=1000").unwrap();
        a.clamp_paging(100);
        b.clamp_paging(100);
        assert_eq!((a.limit, a.offset), (None, 3));
        assert_eq!(b.limit, None);
        let mut far = parse("offset=1000").unwrap();
        far.clamp_paging(100);
        assert_eq!(far.offset, 100);
    }

    #[test]
    fn an_unknown_price_is_within_no_bound() {
        let range = PriceRange {
            min: None,
            max: Price::per_million("1").ok(),
        };
        assert!(!range.admits(None));
        assert!(PriceRange::default().admits(None));
        assert!(range.admits(Price::per_token("0.000001")));
        assert!(!range.admits(Price::per_token("0.0000010001")));
    }
}
