//! Start-up settings, read once from the environment (and `.env` via `main`).
//!
//! Every variable of the SPEC's configuration table is parsed here and nowhere
//! else, so a bad value stops start-up with one line naming the variable
//! ([`ConfigError`]) instead of surfacing later as a confusing runtime error.
//! Runtime-tunable settings (the operator's `PUT /api/cache/config`) are not
//! this module's business.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// The longest fresh or stale lifetime accepted, from the environment or the
/// runtime config: a year, far below where `fetched_at + ttl` could overflow.
pub const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// The longest `HTTP_HEADER_TIMEOUT` or `HTTP_IDLE_TIMEOUT` accepted: a day is
/// already far past any client's patience, and it keeps `now + timeout` finite.
pub const MAX_CONNECTION_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The most `HTTP_MAX_CONNECTIONS` accepted (a million sockets already needs a
/// raised file limit and gigabytes of kernel buffers).
pub const MAX_CONNECTIONS: usize = 1_000_000;

/// A setting that could not be used; `Display` is the one line printed at start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    /// The variable (or file) at fault, as the operator wrote it.
    pub var: String,
    /// What is wrong with it and, where possible, what a good value looks like.
    pub problem: String,
}

impl ConfigError {
    pub fn new(var: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            var: var.into(),
            problem: problem.into(),
        }
    }
}

/// Where entries live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// In-process store: a single instance, nothing survives a restart.
    Embedded,
    /// One Redis server (`REDIS_URL`).
    Redis { url: String },
    /// A Redis Cluster (`REDIS_CLUSTER_URLS`), given by its seed nodes.
    Cluster { urls: Vec<String> },
}

/// How long an entry is served fresh, then stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl {
    pub fresh: Duration,
    pub stale: Duration,
}

/// What one client connection may cost the server (SPEC "Connections").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a client has to send a request's headers (`HTTP_HEADER_TIMEOUT`).
    pub header_timeout: Duration,
    /// How long a client may take no step: send no next request, read none
    /// of its answer, send none of its body (`HTTP_IDLE_TIMEOUT`).
    pub idle_timeout: Duration,
    /// Connections served at once; past it, new ones wait in the listen
    /// backlog (`HTTP_MAX_CONNECTIONS`).
    pub max_connections: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// An `EnvFilter` directive (`RUST_LOG`).
    pub filter: String,
    /// `LOG_FORMAT=json`: one JSON object per line.
    pub json: bool,
}

/// Change records and their webhooks (SPEC "Changes").
#[derive(Debug, Clone)]
pub struct ChangesConfig {
    /// Records kept (`CHANGES_MAX`); 0 turns recording (and `first_seen`) off.
    pub max: usize,
    /// Where each fetch's changes are POSTed (`WEBHOOK_URLS`).
    pub webhook_urls: Vec<reqwest::Url>,
    /// Signs the POSTs (`WEBHOOK_SECRET`); required with URLs.
    pub webhook_secret: Option<Secret>,
    /// How long a delivery is retried before it is dropped (`WEBHOOK_RETRY_FOR`).
    pub webhook_retry_for: Duration,
}

/// Everything the service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind_addr: SocketAddr,
    pub store: StoreConfig,
    /// Prefix of every key written to the store (`models:`).
    pub key_prefix: String,
    pub gateways_file: PathBuf,
    /// The operator's aliases over the shipped ones (`ALIASES_FILE`).
    pub aliases_file: Option<PathBuf>,
    pub changes: ChangesConfig,
    pub ttl: Ttl,
    /// Fetch timeout of a gateway that sets none of its own.
    pub gateway_timeout: Duration,
    /// How long readers leave a gateway alone after a failed fetch.
    pub revalidate_backoff: Duration,
    /// Bearer secret of the warm and admin endpoints; `None` disables them.
    pub warming_secret: Option<Secret>,
    /// Bearer secret of the cron endpoint; `None` disables it.
    pub cron_secret: Option<Secret>,
    /// Checked to be a valid DSN.
    pub sentry_dsn: Option<String>,
    /// Share of requests traced as Sentry transactions (0 to 1).
    pub sentry_traces_sample_rate: f32,
    pub connections: ConnectionLimits,
    pub log: LogConfig,
    /// Warm missing or stale gateways when the server starts. Not an
    /// environment variable: tests turn it off to count upstream requests.
    pub warm_on_startup: bool,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `get`, which returns a variable's value if set.
    /// Empty values count as unset, so `CRON_SECRET=` in a `.env` disables cron.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let duration = |name: &str, default: &str| {
            let raw = var(name).unwrap_or_else(|| default.to_owned());
            parse_duration(&raw).map_err(|problem| ConfigError::new(name, problem))
        };
        let ttl = Ttl {
            fresh: duration("CACHE_FRESH_TTL", "4h")?,
            stale: duration("CACHE_STALE_TTL", "12h")?,
        };
        if ttl.fresh.is_zero() {
            return Err(ConfigError::new("CACHE_FRESH_TTL", "must be more than 0"));
        }
        for (name, value) in [
            ("CACHE_FRESH_TTL", ttl.fresh),
            ("CACHE_STALE_TTL", ttl.stale),
        ] {
            if value > MAX_TTL {
                return Err(ConfigError::new(name, "must be at most 365 days"));
            }
        }
        let gateway_timeout = duration("GATEWAY_TIMEOUT", "1500ms")?;
        if gateway_timeout.is_zero() {
            return Err(ConfigError::new("GATEWAY_TIMEOUT", "must be more than 0"));
        }
        let connection_timeout = |name: &str, default: &str| {
            let value = duration(name, default)?;
            if value.is_zero() || value > MAX_CONNECTION_TIMEOUT {
                return Err(ConfigError::new(
                    name,
                    "must be more than 0 and at most 24h",
                ));
            }
            Ok(value)
        };
        let connections = ConnectionLimits {
            header_timeout: connection_timeout("HTTP_HEADER_TIMEOUT", "10s")?,
            idle_timeout: connection_timeout("HTTP_IDLE_TIMEOUT", "60s")?,
            max_connections: parse_max_connections(var("HTTP_MAX_CONNECTIONS"))?,
        };
        Ok(Self {
            bind_addr: parse_bind_addr(var("BIND_ADDR"))?,
            store: parse_store(var("REDIS_URL"), var("REDIS_CLUSTER_URLS"))?,
            key_prefix: parse_key_prefix(var("REDIS_KEY_PREFIX"))?,
            aliases_file: var("ALIASES_FILE").map(PathBuf::from),
            changes: parse_changes(&var, duration("WEBHOOK_RETRY_FOR", "24h")?)?,
            gateways_file: var("GATEWAYS_FILE")
                .unwrap_or_else(|| "gateways.toml".into())
                .into(),
            ttl,
            gateway_timeout,
            revalidate_backoff: duration("REVALIDATE_BACKOFF", "30s")?,
            warming_secret: var("CACHE_WARMING_SECRET").map(Secret::new),
            cron_secret: var("CRON_SECRET").map(Secret::new),
            sentry_dsn: parse_sentry_dsn(var("SENTRY_DSN"))?,
            sentry_traces_sample_rate: parse_sample_rate(var("SENTRY_TRACES_SAMPLE_RATE"))?,
            connections,
            log: parse_log(var("RUST_LOG"), var("LOG_FORMAT"))?,
            warm_on_startup: true,
        })
    }
}

/// Parses `90` (seconds), `90s`, `1500ms`, `4h`, `1h 30m`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(raw)
        .map_err(|e| format!("invalid duration {raw:?} ({e}); use e.g. 90, 90s, 1500ms or 4h"))
}

fn parse_bind_addr(raw: Option<String>) -> Result<SocketAddr, ConfigError> {
    let raw = raw.unwrap_or_else(|| "0.0.0.0:3000".into());
    raw.parse().map_err(|_| {
        ConfigError::new(
            "BIND_ADDR",
            format!("invalid address {raw:?}; use host:port, e.g. 0.0.0.0:3000"),
        )
    })
}

fn parse_store(url: Option<String>, cluster: Option<String>) -> Result<StoreConfig, ConfigError> {
    if let Some(list) = cluster {
        let urls: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        for url in &urls {
            check_redis_url("REDIS_CLUSTER_URLS", url)?;
        }
        return Ok(StoreConfig::Cluster { urls });
    }
    match url {
        Some(url) => {
            check_redis_url("REDIS_URL", &url)?;
            Ok(StoreConfig::Redis { url })
        }
        None => Ok(StoreConfig::Embedded),
    }
}

fn check_redis_url(var: &str, url: &str) -> Result<(), ConfigError> {
    // Parsed by the driver itself so that what passes here also connects;
    // the URL may hold a password, so it is never echoed back.
    match redis::parse_redis_url(url) {
        Some(u) if matches!(u.scheme(), "redis" | "rediss" | "valkey" | "valkeys") => Ok(()),
        _ => Err(ConfigError::new(
            var,
            "not a redis:// or rediss:// URL (e.g. redis://127.0.0.1:6379/0)",
        )),
    }
}

fn parse_sentry_dsn(raw: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(dsn) = raw else { return Ok(None) };
    // The DSN holds the project's public key: not echoed back.
    match dsn.parse::<sentry::types::Dsn>() {
        Ok(_) => Ok(Some(dsn)),
        Err(e) => Err(ConfigError::new(
            "SENTRY_DSN",
            format!("not a Sentry DSN ({e}); expected https://<key>@<host>/<project>"),
        )),
    }
}

fn parse_sample_rate(raw: Option<String>) -> Result<f32, ConfigError> {
    let Some(raw) = raw else { return Ok(0.1) };
    match raw.trim().parse::<f32>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(ConfigError::new(
            "SENTRY_TRACES_SAMPLE_RATE",
            format!("invalid rate {raw:?}; use a number from 0 to 1, e.g. 0.1"),
        )),
    }
}

fn parse_max_connections(raw: Option<String>) -> Result<usize, ConfigError> {
    let Some(raw) = raw else { return Ok(10_000) };
    match raw.trim().parse::<usize>() {
        Ok(count) if (1..=MAX_CONNECTIONS).contains(&count) => Ok(count),
        _ => Err(ConfigError::new(
            "HTTP_MAX_CONNECTIONS",
            format!("invalid count {raw:?}; use a whole number from 1 to {MAX_CONNECTIONS}"),
        )),
    }
}

fn parse_key_prefix(raw: Option<String>) -> Result<String, ConfigError> {
    let prefix = raw.unwrap_or_else(|| "models:".into());
    if prefix.chars().any(char::is_whitespace) {
        return Err(ConfigError::new(
            "REDIS_KEY_PREFIX",
            "must not contain whitespace",
        ));
    }
    Ok(prefix)
}

fn parse_changes(
    var: &impl Fn(&str) -> Option<String>,
    webhook_retry_for: Duration,
) -> Result<ChangesConfig, ConfigError> {
    let max = match var("CHANGES_MAX") {
        None => 100_000,
        Some(raw) => raw.trim().parse::<usize>().map_err(|_| {
            ConfigError::new(
                "CHANGES_MAX",
                format!(
                    "invalid count {raw:?}; use a whole number, e.g. 100000 (0 records nothing)"
                ),
            )
        })?,
    };
    let allow_http = match var("WEBHOOK_ALLOW_HTTP").as_deref().map(str::trim) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            return Err(ConfigError::new(
                "WEBHOOK_ALLOW_HTTP",
                format!("invalid value {other:?}; use true or false"),
            ));
        }
    };
    let webhook_urls = var("WEBHOOK_URLS")
        .map(|list| parse_webhook_urls(&list, allow_http))
        .transpose()?
        .unwrap_or_default();
    if !webhook_urls.is_empty() && max == 0 {
        return Err(ConfigError::new(
            "WEBHOOK_URLS",
            "set, but CHANGES_MAX=0 records no changes to send",
        ));
    }
    let webhook_secret = var("WEBHOOK_SECRET").map(Secret::new);
    if !webhook_urls.is_empty() && webhook_secret.is_none() {
        return Err(ConfigError::new(
            "WEBHOOK_SECRET",
            "must be set when WEBHOOK_URLS is: it signs every delivery",
        ));
    }
    Ok(ChangesConfig {
        max,
        webhook_urls,
        webhook_secret,
        webhook_retry_for,
    })
}

/// Comma-separated `https://` URLs (or `http://` to a loopback host, or
/// anywhere when `allow_http`). A URL is not echoed back: it may hold a token.
fn parse_webhook_urls(list: &str, allow_http: bool) -> Result<Vec<reqwest::Url>, ConfigError> {
    let mut urls = Vec::new();
    for (n, raw) in list
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .enumerate()
    {
        let problem =
            |what: &str| ConfigError::new("WEBHOOK_URLS", format!("URL #{}: {what}", n + 1));
        let url = reqwest::Url::parse(raw).map_err(|e| problem(&format!("not a URL ({e})")))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(host)) => host == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback || allow_http => {}
            "http" => {
                return Err(problem(
                    "plain http:// to a host other than loopback; use https:// or set WEBHOOK_ALLOW_HTTP=true",
                ));
            }
            other => return Err(problem(&format!("scheme {other:?}; use https://"))),
        }
        urls.push(url);
    }
    Ok(urls)
}

fn parse_log(filter: Option<String>, format: Option<String>) -> Result<LogConfig, ConfigError> {
    let filter = filter.unwrap_or_else(|| "info".into());
    if tracing_subscriber::EnvFilter::try_new(&filter).is_err() {
        return Err(ConfigError::new(
            "RUST_LOG",
            format!("invalid filter {filter:?}; use e.g. info or models_cache=debug"),
        ));
    }
    let json = match format.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("pretty") | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            return Err(ConfigError::new(
                "LOG_FORMAT",
                format!("unknown format {other:?}; use pretty or json"),
            ));
        }
    };
    Ok(LogConfig { filter, json })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = config(&[]).unwrap();
        assert_eq!(c.bind_addr, "0.0.0.0:3000".parse().unwrap());
        assert_eq!(c.store, StoreConfig::Embedded);
        assert_eq!(c.key_prefix, "models:");
        assert_eq!(c.ttl.fresh, Duration::from_secs(4 * 3600));
        assert_eq!(c.ttl.stale, Duration::from_secs(12 * 3600));
        assert_eq!(c.gateway_timeout, Duration::from_millis(1500));
        assert_eq!(c.revalidate_backoff, Duration::from_secs(30));
        assert_eq!(
            c.connections,
            ConnectionLimits {
                header_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                max_connections: 10_000,
            }
        );
        assert!(c.warming_secret.is_none() && c.cron_secret.is_none());
        assert!(!c.log.json);
    }

    #[test]
    fn durations_accept_bare_seconds_and_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(14400)));
    }

    #[test]
    fn change_settings_are_read_and_bad_ones_name_their_variable() {
        let c = config(&[]).unwrap().changes;
        assert_eq!((c.max, c.webhook_urls.len()), (100_000, 0));
        assert_eq!(c.webhook_retry_for, Duration::from_secs(24 * 3600));
        let hooks = [
            (
                "WEBHOOK_URLS",
                "https://a.example/h, http://127.0.0.1:9/h,http://localhost/x",
            ),
            ("WEBHOOK_SECRET", "s"),
            ("WEBHOOK_RETRY_FOR", "90s"),
        ];
        let c = config(&hooks).unwrap().changes;
        assert_eq!(c.webhook_urls.len(), 3, "https anywhere, http to loopback");
        assert_eq!(c.webhook_retry_for, Duration::from_secs(90));
        for (env, var) in [
            (vec![("CHANGES_MAX", "many")], "CHANGES_MAX"),
            (
                vec![
                    ("WEBHOOK_URLS", "http://a.example/h"),
                    ("WEBHOOK_SECRET", "s"),
                ],
                "WEBHOOK_URLS",
            ),
            (
                vec![("WEBHOOK_URLS", "https://a.example/h")],
                "WEBHOOK_SECRET",
            ),
            (
                vec![("WEBHOOK_URLS", "not a url"), ("WEBHOOK_SECRET", "s")],
                "WEBHOOK_URLS",
            ),
            (vec![("WEBHOOK_ALLOW_HTTP", "yes")], "WEBHOOK_ALLOW_HTTP"),
            (vec![("WEBHOOK_RETRY_FOR", "later")], "WEBHOOK_RETRY_FOR"),
            (
                vec![
                    ("WEBHOOK_URLS", "https://a.example/h"),
                    ("WEBHOOK_SECRET", "s"),
                    ("CHANGES_MAX", "0"),
                ],
                "WEBHOOK_URLS",
            ),
        ] {
            assert_eq!(config(&env).unwrap_err().var, var, "{env:?}");
        }
        let allowed = [
            ("WEBHOOK_URLS", "http://a.example/h"),
            ("WEBHOOK_SECRET", "s"),
            ("WEBHOOK_ALLOW_HTTP", "true"),
        ];
        assert!(config(&allowed).is_ok());
        assert_eq!(config(&[("CHANGES_MAX", "0")]).unwrap().changes.max, 0);
    }

    #[test]
    fn a_ttl_over_a_year_names_its_variable() {
        let err = config(&[("CACHE_FRESH_TTL", "400d")]).unwrap_err();
        assert_eq!(err.var, "CACHE_FRESH_TTL");
        assert!(config(&[("CACHE_STALE_TTL", "365d")]).is_ok());
    }

    #[test]
    fn a_bad_duration_names_its_variable() {
        let err = config(&[("CACHE_STALE_TTL", "soon")]).unwrap_err();
        assert_eq!(err.var, "CACHE_STALE_TTL");
        assert!(
            err.to_string()
                .starts_with("CACHE_STALE_TTL: invalid duration \"soon\"")
        );
    }

    #[test]
    fn a_bad_sentry_setting_names_its_variable_and_never_echoes_the_dsn() {
        let err = config(&[("SENTRY_DSN", "not-a-dsn-s3cret")]).unwrap_err();
        assert_eq!(err.var, "SENTRY_DSN");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = config(&[("SENTRY_TRACES_SAMPLE_RATE", "2")]).unwrap_err();
        assert_eq!(err.var, "SENTRY_TRACES_SAMPLE_RATE");
        let ok = config(&[("SENTRY_DSN", "https://key@o1.ingest.sentry.io/42")]).unwrap();
        assert_eq!(ok.sentry_traces_sample_rate, 0.1);
        assert!(ok.sentry_dsn.is_some());
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = config(&[("CRON_SECRET", ""), ("REDIS_URL", " ")]).unwrap();
        assert!(c.cron_secret.is_none());
        assert_eq!(c.store, StoreConfig::Embedded);
    }

    #[test]
    fn cluster_urls_take_precedence_over_redis_url() {
        let c = config(&[
            ("REDIS_URL", "redis://a:6379"),
            ("REDIS_CLUSTER_URLS", "redis://b:7000, redis://c:7001"),
        ])
        .unwrap();
        assert_eq!(
            c.store,
            StoreConfig::Cluster {
                urls: vec!["redis://b:7000".into(), "redis://c:7001".into()]
            }
        );
    }

    #[test]
    fn a_bad_redis_url_is_refused_without_echoing_it() {
        let err = config(&[("REDIS_URL", "http://user:hunter2@host")]).unwrap_err();
        assert_eq!(err.var, "REDIS_URL");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn unknown_log_format_and_bad_bind_address_are_refused() {
        assert_eq!(
            config(&[("LOG_FORMAT", "xml")]).unwrap_err().var,
            "LOG_FORMAT"
        );
        assert_eq!(
            config(&[("BIND_ADDR", "localhost")]).unwrap_err().var,
            "BIND_ADDR"
        );
        assert_eq!(
            config(&[("GATEWAY_TIMEOUT", "0ms")]).unwrap_err().var,
            "GATEWAY_TIMEOUT"
        );
    }

    #[test]
    fn connection_limits_accept_the_duration_syntax_and_a_count() {
        let c = config(&[
            ("HTTP_HEADER_TIMEOUT", "1500ms"),
            ("HTTP_IDLE_TIMEOUT", "90"),
            ("HTTP_MAX_CONNECTIONS", " 50 "),
        ])
        .unwrap();
        assert_eq!(c.connections.header_timeout, Duration::from_millis(1500));
        assert_eq!(c.connections.idle_timeout, Duration::from_secs(90));
        assert_eq!(c.connections.max_connections, 50);
    }

    #[test]
    fn zero_or_unbounded_connection_limits_name_their_variable() {
        for (name, value, problem) in [
            ("HTTP_HEADER_TIMEOUT", "0s", "must be more than 0"),
            ("HTTP_IDLE_TIMEOUT", "0", "must be more than 0"),
            ("HTTP_IDLE_TIMEOUT", "2d", "at most 24h"),
            ("HTTP_HEADER_TIMEOUT", "soon", "invalid duration \"soon\""),
            ("HTTP_MAX_CONNECTIONS", "0", "invalid count \"0\""),
            ("HTTP_MAX_CONNECTIONS", "-5", "invalid count \"-5\""),
            ("HTTP_MAX_CONNECTIONS", "10k", "from 1 to 1000000"),
            ("HTTP_MAX_CONNECTIONS", "1000001", "from 1 to 1000000"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.var, name, "{value}");
            assert!(err.to_string().contains(problem), "{err}");
        }
        assert!(
            config(&[
                ("HTTP_IDLE_TIMEOUT", "24h"),
                ("HTTP_MAX_CONNECTIONS", "1000000")
            ])
            .is_ok()
        );
    }
}
