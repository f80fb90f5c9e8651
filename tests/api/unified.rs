//! The unified catalog over real data: the 26 providers' list endpoints
//! captured on 2025-07-25 (`tests/fixtures/captures/`, see `SOURCES.tsv`
//! there) plus the Gemini fixture (no Gemini capture exists), each served by
//! its own mock on loopback at the provider's path with its auth, all at once.
//! One warm, then `/api/catalog` is read as JSON only:
//!
//! - cross-gateway groups verified by hand land in one record, each offer with
//!   the `match` that explains it (SPEC "Unified catalog", identity rules);
//! - hard negatives never share a record: `gpt-4o` vs `gpt-4o-mini`, a dated
//!   snapshot vs its alias with no alias fact between them, instruct vs base,
//!   `-Turbo`/`-FP8`/`-fast` serving variants, 8B vs 70B, and the shipped
//!   `[[apart]]` facts;
//! - `/api/catalog/<id>` resolves an offer's own id or an alias to its model's
//!   record; an unknown id is a 404.
//!
//! Which adapter reads each capture: the `{"data":[…]}` lists are the
//! OpenAI-compatible shape (`openai`; the OpenRouter one `openrouter`; xAI's
//! capture is its OpenAI-compatible `/v1/models`, not `/v1/language-models`);
//! Together's and GitHub Models' bare arrays are read by `together` (the only
//! adapter reading a bare array; GitHub's records give `id`, which is what its
//! chat API takes); Anthropic's and Cohere's paged lists by their own adapters.
//! No capture is skipped.

use std::collections::HashMap;

use crate::common;

use common::provider_mock::{Provider, ProviderMock};
use common::*;
use serde_json::Value;

const KEY: &str = "sk-unified-7d2e91";

/// Gateway id, fixture (under `tests/fixtures/`, without `.json`), adapter,
/// and `author` for gateways that are one author's own API.
const GATEWAYS: &[(&str, &str, Provider, Option<&str>)] = &[
    (
        "openrouter",
        "captures/openrouter__lc-2025-07-25",
        Provider::OpenRouter,
        None,
    ),
    (
        "ai21",
        "captures/ai21__lc-2025-07-25",
        Provider::OpenAi,
        Some("ai21"),
    ),
    (
        "anthropic",
        "captures/anthropic__lc-2025-07-25",
        Provider::Anthropic,
        Some("anthropic"),
    ),
    (
        "cerebras",
        "captures/cerebras__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "chutes",
        "captures/chutes__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "cohere",
        "captures/cohere__lc-2025-07-25",
        Provider::Cohere,
        Some("cohere"),
    ),
    (
        "deepinfra",
        "captures/deepinfra__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "digitalocean",
        "captures/digitalocean__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "fireworks",
        "captures/fireworks__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "github-models",
        "captures/github-models__lc-2025-07-25",
        Provider::Together,
        None,
    ),
    (
        "groq",
        "captures/groq__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "hyperbolic",
        "captures/hyperbolic__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "meta-llama-api",
        "captures/meta-llama-api__lc-2025-07-25",
        Provider::OpenAi,
        Some("meta-llama"),
    ),
    (
        "mistral",
        "captures/mistral__lc-2025-07-25",
        Provider::OpenAi,
        Some("mistralai"),
    ),
    (
        "nebius",
        "captures/nebius__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "novita",
        "captures/novita__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "nscale",
        "captures/nscale__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "nvidia-nim",
        "captures/nvidia-nim__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "ollama",
        "captures/ollama-openai-compat__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "openai",
        "captures/openai__lc-2025-07-25",
        Provider::OpenAi,
        Some("openai"),
    ),
    (
        "requesty",
        "captures/requesty__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "sambanova",
        "captures/sambanova__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "together",
        "captures/together__lc-2025-07-25",
        Provider::Together,
        None,
    ),
    (
        "venice",
        "captures/venice__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "vercel",
        "captures/vercel__lc-2025-07-25",
        Provider::OpenAi,
        None,
    ),
    (
        "xai",
        "captures/xai__lc-2025-07-25",
        Provider::OpenAi,
        Some("x-ai"),
    ),
    ("gemini", "gemini", Provider::Gemini, Some("google")),
];

/// An offer expected in a group: gateway, offer id, expected `match`.
type Member = (&'static str, &'static str, Option<&'static str>);

/// Cross-gateway groups verified by hand from the captures: the canonical id,
/// then each offer (gateway, offer id, expected `match`; `None` where two rules
/// both apply, e.g. an id that is both OpenRouter's id lowercased and its
/// `hugging_face_id`, so only membership is asserted).
const GROUPS: &[(&str, &[Member])] = &[
    (
        "meta-llama/llama-3.3-70b-instruct",
        &[
            (
                "openrouter",
                "meta-llama/llama-3.3-70b-instruct",
                Some("canonical"),
            ),
            (
                "openrouter",
                "meta-llama/llama-3.3-70b-instruct:free",
                Some("canonical"),
            ),
            ("groq", "llama-3.3-70b-versatile", Some("alias")),
            ("cerebras", "llama-3.3-70b", Some("alias")),
            ("sambanova", "Meta-Llama-3.3-70B-Instruct", Some("alias")),
            (
                "fireworks",
                "accounts/fireworks/models/llama-v3p3-70b-instruct",
                Some("alias"),
            ),
            ("deepinfra", "meta-llama/Llama-3.3-70B-Instruct", None),
            ("hyperbolic", "meta-llama/Llama-3.3-70B-Instruct", None),
            ("nebius", "meta-llama/Llama-3.3-70B-Instruct", None),
            ("nscale", "meta-llama/Llama-3.3-70B-Instruct", None),
            ("novita", "meta-llama/llama-3.3-70b-instruct", None),
            ("meta-llama-api", "Llama-3.3-70B-Instruct", None),
        ],
    ),
    (
        "meta-llama/llama-3.1-8b-instruct",
        &[
            (
                "openrouter",
                "meta-llama/llama-3.1-8b-instruct",
                Some("canonical"),
            ),
            ("groq", "llama-3.1-8b-instant", Some("alias")),
            ("cerebras", "llama3.1-8b", Some("alias")),
            ("sambanova", "Meta-Llama-3.1-8B-Instruct", Some("alias")),
            (
                "fireworks",
                "accounts/fireworks/models/llama-v3p1-8b-instruct",
                Some("alias"),
            ),
            (
                "deepinfra",
                "meta-llama/Meta-Llama-3.1-8B-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "hyperbolic",
                "meta-llama/Meta-Llama-3.1-8B-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "nebius",
                "meta-llama/Meta-Llama-3.1-8B-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "nscale",
                "meta-llama/Llama-3.1-8B-Instruct",
                Some("normalized"),
            ),
            (
                "novita",
                "meta-llama/llama-3.1-8b-instruct",
                Some("normalized"),
            ),
        ],
    ),
    (
        "meta-llama/llama-3.1-70b-instruct",
        &[
            (
                "openrouter",
                "meta-llama/llama-3.1-70b-instruct",
                Some("canonical"),
            ),
            (
                "deepinfra",
                "meta-llama/Meta-Llama-3.1-70B-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "hyperbolic",
                "meta-llama/Meta-Llama-3.1-70B-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "nebius",
                "meta-llama/Meta-Llama-3.1-70B-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "fireworks",
                "accounts/fireworks/models/llama-v3p1-70b-instruct",
                Some("alias"),
            ),
        ],
    ),
    (
        "meta-llama/llama-3.1-405b-instruct",
        &[
            (
                "openrouter",
                "meta-llama/llama-3.1-405b-instruct",
                Some("canonical"),
            ),
            (
                "openrouter",
                "meta-llama/llama-3.1-405b-instruct:free",
                Some("canonical"),
            ),
            (
                "deepinfra",
                "meta-llama/Meta-Llama-3.1-405B-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "hyperbolic",
                "meta-llama/Meta-Llama-3.1-405B-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "nebius",
                "meta-llama/Meta-Llama-3.1-405B-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "fireworks",
                "accounts/fireworks/models/llama-v3p1-405b-instruct",
                Some("alias"),
            ),
        ],
    ),
    (
        "anthropic/claude-sonnet-4",
        &[
            ("openrouter", "anthropic/claude-sonnet-4", Some("canonical")),
            ("anthropic", "claude-sonnet-4-20250514", Some("alias")),
            ("vercel", "anthropic/claude-4-sonnet", Some("alias")),
            ("deepinfra", "anthropic/claude-4-sonnet", Some("alias")),
        ],
    ),
    (
        "anthropic/claude-opus-4",
        &[
            ("openrouter", "anthropic/claude-opus-4", Some("canonical")),
            ("anthropic", "claude-opus-4-20250514", Some("alias")),
            ("vercel", "anthropic/claude-4-opus", Some("alias")),
            ("deepinfra", "anthropic/claude-4-opus", Some("alias")),
        ],
    ),
    (
        "anthropic/claude-3.7-sonnet",
        &[
            (
                "openrouter",
                "anthropic/claude-3.7-sonnet",
                Some("canonical"),
            ),
            (
                "openrouter",
                "anthropic/claude-3.7-sonnet:thinking",
                Some("canonical"),
            ),
            (
                "openrouter",
                "anthropic/claude-3.7-sonnet:beta",
                Some("canonical"),
            ),
            ("anthropic", "claude-3-7-sonnet-20250219", Some("alias")),
            ("vercel", "anthropic/claude-3.7-sonnet", Some("normalized")),
            (
                "deepinfra",
                "anthropic/claude-3-7-sonnet-latest",
                Some("alias"),
            ),
        ],
    ),
    (
        "anthropic/claude-3.5-haiku-20241022",
        &[
            (
                "openrouter",
                "anthropic/claude-3.5-haiku-20241022",
                Some("canonical"),
            ),
            ("anthropic", "claude-3-5-haiku-20241022", Some("alias")),
        ],
    ),
    (
        "anthropic/claude-3.5-haiku",
        &[
            (
                "openrouter",
                "anthropic/claude-3.5-haiku",
                Some("canonical"),
            ),
            ("vercel", "anthropic/claude-3.5-haiku", Some("normalized")),
        ],
    ),
    (
        "openai/gpt-4.1",
        &[
            ("openrouter", "openai/gpt-4.1", Some("canonical")),
            ("openai", "gpt-4.1", Some("normalized")),
            ("openai", "gpt-4.1-2025-04-14", Some("alias")),
            ("vercel", "openai/gpt-4.1", Some("normalized")),
            ("github-models", "openai/gpt-4.1", Some("normalized")),
        ],
    ),
    (
        "openai/gpt-4o",
        &[
            ("openrouter", "openai/gpt-4o", Some("canonical")),
            ("openrouter", "openai/gpt-4o:extended", Some("canonical")),
            ("openai", "gpt-4o", Some("normalized")),
            ("vercel", "openai/gpt-4o", Some("normalized")),
        ],
    ),
    (
        "openai/gpt-4o-mini",
        &[
            ("openrouter", "openai/gpt-4o-mini", Some("canonical")),
            ("openai", "gpt-4o-mini", Some("normalized")),
            ("vercel", "openai/gpt-4o-mini", Some("normalized")),
            ("github-models", "openai/gpt-4o-mini", Some("normalized")),
        ],
    ),
    (
        "openai/gpt-4o-2024-08-06",
        &[
            ("openrouter", "openai/gpt-4o-2024-08-06", Some("canonical")),
            ("openai", "gpt-4o-2024-08-06", Some("normalized")),
        ],
    ),
    (
        "x-ai/grok-4",
        &[
            ("openrouter", "x-ai/grok-4", Some("canonical")),
            ("xai", "grok-4-0709", Some("alias")),
        ],
    ),
    (
        "x-ai/grok-3",
        &[
            ("openrouter", "x-ai/grok-3", Some("canonical")),
            ("xai", "grok-3", Some("normalized")),
        ],
    ),
    (
        "x-ai/grok-3-mini",
        &[
            ("openrouter", "x-ai/grok-3-mini", Some("canonical")),
            ("xai", "grok-3-mini", Some("normalized")),
        ],
    ),
    (
        "mistralai/codestral-2501",
        &[
            ("openrouter", "mistralai/codestral-2501", Some("canonical")),
            ("mistral", "codestral-2501", Some("normalized")),
            ("mistral", "codestral-latest", Some("alias")),
            ("mistral", "codestral-2412", Some("alias")),
        ],
    ),
    (
        "mistralai/mistral-small-3.2-24b-instruct",
        &[
            (
                "openrouter",
                "mistralai/mistral-small-3.2-24b-instruct",
                Some("canonical"),
            ),
            (
                "openrouter",
                "mistralai/mistral-small-3.2-24b-instruct:free",
                Some("canonical"),
            ),
            ("mistral", "mistral-small-2506", Some("alias")),
            ("mistral", "mistral-small-latest", Some("alias")),
            (
                "deepinfra",
                "mistralai/Mistral-Small-3.2-24B-Instruct-2506",
                Some("hugging_face_id"),
            ),
        ],
    ),
    (
        "mistralai/mixtral-8x22b-instruct",
        &[
            (
                "openrouter",
                "mistralai/mixtral-8x22b-instruct",
                Some("canonical"),
            ),
            ("mistral", "open-mixtral-8x22b", Some("alias")),
            (
                "deepinfra",
                "mistralai/Mixtral-8x22B-Instruct-v0.1",
                Some("hugging_face_id"),
            ),
            (
                "nvidia-nim",
                "mistralai/mixtral-8x22b-instruct-v0.1",
                Some("hugging_face_id"),
            ),
            (
                "nscale",
                "mistralai/mixtral-8x22b-instruct-v0.1",
                Some("hugging_face_id"),
            ),
        ],
    ),
    (
        "moonshotai/kimi-k2",
        &[
            ("openrouter", "moonshotai/kimi-k2", Some("canonical")),
            ("openrouter", "moonshotai/kimi-k2:free", Some("canonical")),
            (
                "groq",
                "moonshotai/kimi-k2-instruct",
                Some("hugging_face_id"),
            ),
            (
                "chutes",
                "moonshotai/Kimi-K2-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "deepinfra",
                "moonshotai/Kimi-K2-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "together",
                "moonshotai/Kimi-K2-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "novita",
                "moonshotai/kimi-k2-instruct",
                Some("hugging_face_id"),
            ),
            (
                "nvidia-nim",
                "moonshotai/kimi-k2-instruct",
                Some("hugging_face_id"),
            ),
            (
                "fireworks",
                "accounts/fireworks/models/kimi-k2-instruct",
                Some("alias"),
            ),
        ],
    ),
    (
        "deepseek/deepseek-r1",
        &[
            ("openrouter", "deepseek/deepseek-r1", Some("canonical")),
            ("openrouter", "deepseek/deepseek-r1:free", Some("canonical")),
            (
                "deepinfra",
                "deepseek-ai/DeepSeek-R1",
                Some("hugging_face_id"),
            ),
            ("chutes", "deepseek-ai/DeepSeek-R1", Some("hugging_face_id")),
            (
                "hyperbolic",
                "deepseek-ai/DeepSeek-R1",
                Some("hugging_face_id"),
            ),
            ("nebius", "deepseek-ai/DeepSeek-R1", Some("hugging_face_id")),
            (
                "together",
                "deepseek-ai/DeepSeek-R1",
                Some("hugging_face_id"),
            ),
            (
                "nvidia-nim",
                "deepseek-ai/deepseek-r1",
                Some("hugging_face_id"),
            ),
            ("github-models", "deepseek/deepseek-r1", Some("normalized")),
            ("vercel", "deepseek/deepseek-r1", Some("normalized")),
        ],
    ),
    (
        "deepseek/deepseek-r1-distill-llama-70b",
        &[
            (
                "openrouter",
                "deepseek/deepseek-r1-distill-llama-70b",
                Some("canonical"),
            ),
            (
                "openrouter",
                "deepseek/deepseek-r1-distill-llama-70b:free",
                Some("canonical"),
            ),
            ("groq", "deepseek-r1-distill-llama-70b", Some("alias")),
            (
                "digitalocean",
                "deepseek-r1-distill-llama-70b",
                Some("alias"),
            ),
            ("sambanova", "DeepSeek-R1-Distill-Llama-70B", Some("alias")),
            (
                "deepinfra",
                "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
                Some("hugging_face_id"),
            ),
            (
                "chutes",
                "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
                Some("hugging_face_id"),
            ),
            (
                "nebius",
                "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
                Some("hugging_face_id"),
            ),
            (
                "nscale",
                "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
                Some("hugging_face_id"),
            ),
            (
                "together",
                "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
                Some("hugging_face_id"),
            ),
            (
                "vercel",
                "deepseek/deepseek-r1-distill-llama-70b",
                Some("normalized"),
            ),
            (
                "novita",
                "deepseek/deepseek-r1-distill-llama-70b",
                Some("normalized"),
            ),
        ],
    ),
    (
        "qwen/qwen-2.5-72b-instruct",
        &[
            (
                "openrouter",
                "qwen/qwen-2.5-72b-instruct",
                Some("canonical"),
            ),
            (
                "openrouter",
                "qwen/qwen-2.5-72b-instruct:free",
                Some("canonical"),
            ),
            (
                "deepinfra",
                "Qwen/Qwen2.5-72B-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "chutes",
                "Qwen/Qwen2.5-72B-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "hyperbolic",
                "Qwen/Qwen2.5-72B-Instruct",
                Some("hugging_face_id"),
            ),
            (
                "nebius",
                "Qwen/Qwen2.5-72B-Instruct",
                Some("hugging_face_id"),
            ),
            ("novita", "qwen/qwen-2.5-72b-instruct", Some("normalized")),
        ],
    ),
    (
        "qwen/qwen3-32b",
        &[
            ("openrouter", "qwen/qwen3-32b", Some("canonical")),
            ("cerebras", "qwen-3-32b", Some("alias")),
            ("sambanova", "Qwen3-32B", Some("alias")),
            ("deepinfra", "Qwen/Qwen3-32B", None),
            ("chutes", "Qwen/Qwen3-32B", None),
            ("nebius", "Qwen/Qwen3-32B", None),
            ("nscale", "Qwen/Qwen3-32B", None),
            ("groq", "qwen/qwen3-32b", None),
        ],
    ),
    (
        "google/gemma-3-27b-it",
        &[
            ("openrouter", "google/gemma-3-27b-it", Some("canonical")),
            (
                "openrouter",
                "google/gemma-3-27b-it:free",
                Some("canonical"),
            ),
            ("deepinfra", "google/gemma-3-27b-it", Some("normalized")),
            ("nebius", "google/gemma-3-27b-it", Some("normalized")),
            ("together", "google/gemma-3-27b-it", Some("normalized")),
            ("nvidia-nim", "google/gemma-3-27b-it", Some("normalized")),
            ("novita", "google/gemma-3-27b-it", Some("normalized")),
        ],
    ),
    (
        "google/gemini-2.0-flash-001",
        &[
            (
                "openrouter",
                "google/gemini-2.0-flash-001",
                Some("canonical"),
            ),
            ("gemini", "gemini-2.0-flash", Some("alias")),
            (
                "deepinfra",
                "google/gemini-2.0-flash-001",
                Some("normalized"),
            ),
            ("vercel", "google/gemini-2.0-flash", Some("alias")),
        ],
    ),
    (
        "google/gemini-2.5-pro",
        &[
            ("openrouter", "google/gemini-2.5-pro", Some("canonical")),
            ("gemini", "gemini-2.5-pro", Some("normalized")),
            ("deepinfra", "google/gemini-2.5-pro", Some("normalized")),
            ("vercel", "google/gemini-2.5-pro", Some("normalized")),
            ("requesty", "google/gemini-2.5-pro", Some("normalized")),
        ],
    ),
    (
        "nvidia/llama-3.1-nemotron-70b-instruct",
        &[
            (
                "openrouter",
                "nvidia/llama-3.1-nemotron-70b-instruct",
                Some("canonical"),
            ),
            (
                "together",
                "nvidia/Llama-3.1-Nemotron-70B-Instruct-HF",
                Some("hugging_face_id"),
            ),
            (
                "deepinfra",
                "nvidia/Llama-3.1-Nemotron-70B-Instruct",
                Some("normalized"),
            ),
            (
                "nvidia-nim",
                "nvidia/llama-3.1-nemotron-70b-instruct",
                Some("normalized"),
            ),
        ],
    ),
    (
        "cohere/command-a",
        &[
            ("openrouter", "cohere/command-a", Some("canonical")),
            ("cohere", "command-a-03-2025", Some("alias")),
        ],
    ),
    (
        "cohere/command-r-08-2024",
        &[
            ("openrouter", "cohere/command-r-08-2024", Some("canonical")),
            ("cohere", "command-r-08-2024", Some("normalized")),
        ],
    ),
    (
        "ai21/jamba-1.6-large",
        &[
            ("openrouter", "ai21/jamba-1.6-large", Some("canonical")),
            ("ai21", "jamba-large-1.6-2025-03", Some("alias")),
        ],
    ),
];

/// One gateway's offer: gateway, offer id.
type Offer = (&'static str, &'static str);

/// Offers that must never share a record, each pair found in the captures.
const APART: &[(Offer, Offer)] = &[
    // gpt-4o vs gpt-4o-mini
    (("openai", "gpt-4o"), ("openai", "gpt-4o-mini")),
    (
        ("vercel", "openai/gpt-4o"),
        ("vercel", "openai/gpt-4o-mini"),
    ),
    (
        ("github-models", "openai/gpt-4o"),
        ("github-models", "openai/gpt-4o-mini"),
    ),
    (
        ("digitalocean", "openai-gpt-4o"),
        ("digitalocean", "openai-gpt-4o-mini"),
    ),
    // dated snapshot vs its alias, no alias fact linking them
    (("openai", "gpt-4o"), ("openai", "gpt-4o-2024-08-06")),
    (("openai", "gpt-4o"), ("openai", "gpt-4o-2024-05-13")),
    (("openai", "gpt-4o"), ("openai", "gpt-4o-2024-11-20")),
    (
        ("openai", "gpt-4o-mini"),
        ("openai", "gpt-4o-mini-2024-07-18"),
    ),
    (("openai", "o1-mini"), ("openai", "o1-mini-2024-09-12")),
    (
        ("openai", "gpt-4o-realtime-preview"),
        ("openai", "gpt-4o-realtime-preview-2024-12-17"),
    ),
    (
        ("openai", "gpt-4o-audio-preview"),
        ("openai", "gpt-4o-audio-preview-2024-12-17"),
    ),
    (
        ("openai", "o4-mini-deep-research"),
        ("openai", "o4-mini-deep-research-2025-06-26"),
    ),
    (
        ("openrouter", "anthropic/claude-3.5-haiku"),
        ("openrouter", "anthropic/claude-3.5-haiku-20241022"),
    ),
    (
        ("openrouter", "anthropic/claude-3.5-sonnet"),
        ("openrouter", "anthropic/claude-3.5-sonnet-20240620"),
    ),
    (
        ("anthropic", "claude-3-5-sonnet-20241022"),
        ("anthropic", "claude-3-5-sonnet-20240620"),
    ),
    (
        ("mistral", "magistral-medium-2506"),
        ("mistral", "magistral-medium-latest"),
    ),
    (
        ("mistral", "magistral-medium-2506"),
        ("mistral", "magistral-medium-2507"),
    ),
    (
        ("openrouter", "x-ai/grok-3"),
        ("openrouter", "x-ai/grok-3-beta"),
    ),
    (
        ("openrouter", "deepseek/deepseek-r1"),
        ("openrouter", "deepseek/deepseek-r1-0528"),
    ),
    (
        ("deepinfra", "deepseek-ai/DeepSeek-R1"),
        ("deepinfra", "deepseek-ai/DeepSeek-R1-0528"),
    ),
    // instruct vs base
    (
        ("hyperbolic", "meta-llama/Meta-Llama-3.1-405B-Instruct"),
        ("hyperbolic", "meta-llama/Meta-Llama-3.1-405B"),
    ),
    (
        ("openrouter", "meta-llama/llama-3.1-405b-instruct"),
        ("openrouter", "meta-llama/llama-3.1-405b"),
    ),
    (
        ("nvidia-nim", "mistralai/mixtral-8x22b-instruct-v0.1"),
        ("nvidia-nim", "mistralai/mixtral-8x22b-v0.1"),
    ),
    (
        ("chutes", "deepseek-ai/DeepSeek-V3"),
        ("chutes", "deepseek-ai/DeepSeek-V3-Base"),
    ),
    (
        ("deepinfra", "meta-llama/Llama-2-70b-chat-hf"),
        ("together", "meta-llama/Llama-2-70b-hf"),
    ),
    // serving variants
    (
        ("deepinfra", "meta-llama/Llama-3.3-70B-Instruct"),
        ("deepinfra", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ),
    (
        ("deepinfra", "meta-llama/Llama-3.3-70B-Instruct"),
        ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ),
    (
        ("deepinfra", "meta-llama/Llama-3.3-70B-Instruct"),
        ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo-Free"),
    ),
    (
        ("nebius", "meta-llama/Llama-3.3-70B-Instruct"),
        ("nebius", "meta-llama/Llama-3.3-70B-Instruct-fast"),
    ),
    (
        ("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
        ("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"),
    ),
    (
        ("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
        ("together", "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"),
    ),
    (
        ("hyperbolic", "meta-llama/Meta-Llama-3.1-405B-Instruct"),
        ("hyperbolic", "meta-llama/Meta-Llama-3.1-405B-FP8"),
    ),
    (
        ("groq", "meta-llama/llama-4-maverick-17b-128e-instruct"),
        (
            "deepinfra",
            "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        ),
    ),
    (
        ("groq", "meta-llama/llama-4-maverick-17b-128e-instruct"),
        (
            "together",
            "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        ),
    ),
    (
        ("groq", "meta-llama/llama-4-maverick-17b-128e-instruct"),
        ("meta-llama-api", "Llama-4-Maverick-17B-128E-Instruct-FP8"),
    ),
    (
        ("groq", "meta-llama/llama-4-maverick-17b-128e-instruct"),
        (
            "deepinfra",
            "meta-llama/Llama-4-Maverick-17B-128E-Instruct-Turbo",
        ),
    ),
    (
        ("deepinfra", "Qwen/Qwen3-32B"),
        ("together", "Qwen/Qwen3-32B-FP8"),
    ),
    (
        ("deepinfra", "Qwen/Qwen3-32B"),
        ("novita", "qwen/qwen3-32b-fp8"),
    ),
    (
        ("deepinfra", "Qwen/Qwen3-32B"),
        ("nebius", "Qwen/Qwen3-32B-fast"),
    ),
    (
        ("deepinfra", "Qwen/Qwen2.5-72B-Instruct"),
        ("together", "Qwen/Qwen2.5-72B-Instruct-Turbo"),
    ),
    (
        ("deepinfra", "deepseek-ai/DeepSeek-R1"),
        ("deepinfra", "deepseek-ai/DeepSeek-R1-Turbo"),
    ),
    (
        ("deepinfra", "deepseek-ai/DeepSeek-R1"),
        ("nebius", "deepseek-ai/DeepSeek-R1-fast"),
    ),
    (
        ("deepinfra", "deepseek-ai/DeepSeek-V3-0324"),
        ("deepinfra", "deepseek-ai/DeepSeek-V3-0324-Turbo"),
    ),
    (
        ("deepinfra", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"),
        ("together", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B-free"),
    ),
    (
        ("deepinfra", "google/gemma-3-27b-it"),
        ("nebius", "google/gemma-3-27b-it-fast"),
    ),
    (("xai", "grok-3"), ("xai", "grok-3-fast")),
    (("xai", "grok-3-mini"), ("xai", "grok-3-mini-fast")),
    (("requesty", "openai/o3:flex"), ("openrouter", "openai/o3")),
    (
        ("fireworks", "accounts/fireworks/models/deepseek-r1"),
        ("fireworks", "accounts/fireworks/models/deepseek-r1-basic"),
    ),
    // sizes
    (
        ("groq", "llama-3.1-8b-instant"),
        ("groq", "llama-3.3-70b-versatile"),
    ),
    (("cerebras", "llama3.1-8b"), ("cerebras", "llama-3.3-70b")),
    (
        ("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
        ("deepinfra", "meta-llama/Meta-Llama-3.1-70B-Instruct"),
    ),
    (("groq", "llama3-8b-8192"), ("groq", "llama3-70b-8192")),
    (
        ("deepinfra", "Qwen/Qwen3-32B"),
        ("deepinfra", "Qwen/Qwen3-14B"),
    ),
    (
        ("deepinfra", "google/gemma-3-27b-it"),
        ("deepinfra", "google/gemma-3-12b-it"),
    ),
    (
        ("meta-llama-api", "Llama-3.3-70B-Instruct"),
        ("meta-llama-api", "Llama-3.3-8B-Instruct"),
    ),
    // other families / versions
    (("xai", "grok-3"), ("xai", "grok-3-mini")),
    (
        ("anthropic", "claude-sonnet-4-20250514"),
        ("anthropic", "claude-opus-4-20250514"),
    ),
    (
        ("ai21", "jamba-large-1.6-2025-03"),
        ("ai21", "jamba-large-1.7-2025-07"),
    ),
    (
        ("ai21", "jamba-large-1.6-2025-03"),
        ("ai21", "jamba-mini-1.6-2025-03"),
    ),
    // shipped [[apart]] facts
    (
        ("mistral", "mistral-small"),
        ("openrouter", "mistralai/mistral-small"),
    ),
    (
        ("mistral", "mistral-tiny"),
        ("openrouter", "mistralai/mistral-tiny"),
    ),
    (
        ("ollama", "deepseek-r1:14b"),
        ("openrouter", "deepseek/deepseek-r1"),
    ),
    (
        ("ollama", "deepseek-r1:latest"),
        ("openrouter", "deepseek/deepseek-r1"),
    ),
];
/// Every gateway's mock, the app reading them all (embedded store), warmed.
async fn warmed_app() -> (TestApp, Vec<ProviderMock>) {
    let mut builder = TestApp::builder();
    let mut mocks = Vec::new();
    for (i, (id, fixture, provider, author)) in GATEWAYS.iter().enumerate() {
        let mock = ProviderMock::start(*provider, fixture, Some(KEY)).await;
        let var = format!("UNIFIED_KEY_{i}");
        let mut toml = mock.gateway_toml(id, Some(&var));
        if let Some(author) = author {
            toml.push_str(&format!("author = \"{author}\"\n"));
        }
        builder = builder.gateway_toml(&toml).env(&var, KEY);
        mocks.push(mock);
    }
    let app = builder.spawn().await;
    let (status, report) = app.warm(None).await;
    assert_eq!(status, 200, "{report}");
    for (id, ..) in GATEWAYS {
        let outcome = &report["gateways"][*id];
        assert_eq!(outcome["ok"], true, "{id}: {outcome}");
        assert!(
            outcome["count"].as_u64().unwrap_or(0) > 0,
            "{id}: {outcome}"
        );
    }
    (app, mocks)
}

/// The whole unified catalog, indexed by offer.
struct Catalog {
    records: Vec<Value>,
    /// (gateway, offer id) → index of the record holding that offer.
    by_offer: HashMap<(String, String), usize>,
}

impl Catalog {
    async fn read(app: &TestApp) -> Self {
        let (status, _, body) = app.get_json("/api/catalog?limit=100000").await;
        assert_eq!(status, 200, "{body}");
        let records = body["data"].as_array().expect("a data array").clone();
        assert_eq!(body["total"], records.len(), "total counts every record");
        assert!(body["gateways"].is_object(), "{}", body["gateways"]);
        let mut by_offer = HashMap::new();
        let mut ids = HashMap::new();
        for (i, record) in records.iter().enumerate() {
            let id = record["id"].as_str().expect("a record id");
            assert_eq!(id, id.to_lowercase(), "canonical ids are lowercase");
            if let Some(first) = ids.insert(id.to_owned(), i) {
                panic!("{id} is the id of records {first} and {i}");
            }
            let offers = record["offers"].as_array().expect("offers");
            assert!(!offers.is_empty(), "{id} has no offer");
            for offer in offers {
                let key = (
                    offer["gateway"]
                        .as_str()
                        .expect("an offer gateway")
                        .to_owned(),
                    offer["id"].as_str().expect("an offer id").to_owned(),
                );
                if let Some(other) = by_offer.insert(key.clone(), i) {
                    panic!("offer {key:?} is in both {} and {id}", records[other]["id"]);
                }
            }
        }
        Self { records, by_offer }
    }

    /// The record holding `gateway`'s offer `id`.
    fn record_of(&self, gateway: &str, id: &str) -> &Value {
        let key = (gateway.to_owned(), id.to_owned());
        let i = self
            .by_offer
            .get(&key)
            .unwrap_or_else(|| panic!("no record holds {gateway}'s offer {id}"));
        &self.records[*i]
    }

    fn offer(&self, gateway: &str, id: &str) -> &Value {
        self.record_of(gateway, id)["offers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["gateway"] == gateway && o["id"] == id)
            .unwrap()
    }
}

#[tokio::test]
async fn hand_checked_groups_land_in_one_record_with_their_match() {
    let (app, _mocks) = warmed_app().await;
    let catalog = Catalog::read(&app).await;

    let mut gateways = std::collections::BTreeSet::new();
    for (canonical, offers) in GROUPS {
        for (gateway, id, expected) in *offers {
            let record = catalog.record_of(gateway, id);
            assert_eq!(
                record["id"], *canonical,
                "{gateway}'s {id} belongs to {canonical}"
            );
            let offer = catalog.offer(gateway, id);
            if let Some(expected) = expected {
                assert_eq!(
                    offer["match"], *expected,
                    "why {gateway}'s {id} is in {canonical}: {offer}"
                );
            }
            // OpenRouter's `:suffix` is the offer's variant; other ids have none.
            let variant = match (gateway, id.rsplit_once(':')) {
                (&"openrouter", Some((_, suffix))) => Value::from(suffix),
                _ => Value::Null,
            };
            assert_eq!(offer["variant"], variant, "{gateway}'s {id}: {offer}");
            gateways.insert(*gateway);
        }
        let record = catalog.record_of(offers[0].0, offers[0].1);
        assert_eq!(record["author"], canonical.split('/').next().unwrap());
        cheapest_is_one_of_its_offers(record);
    }
    assert!(GROUPS.len() >= 8 && gateways.len() >= 5);
}

/// `cheapest` names one of the record's own offers (or is null when none has
/// a price), and offers run cheapest first.
fn cheapest_is_one_of_its_offers(record: &Value) {
    let offers = record["offers"].as_array().unwrap();
    let cheapest = &record["cheapest"];
    if cheapest.is_null() {
        return;
    }
    let first = &offers[0];
    assert!(
        offers
            .iter()
            .any(|o| o["gateway"] == cheapest["gateway"] && o["id"] == cheapest["id"]),
        "{} cheapest {cheapest} is not one of its offers",
        record["id"]
    );
    assert_eq!(
        first["pricing"]["prompt"], cheapest["prompt"],
        "{}: offers run cheapest first ({first} vs {cheapest})",
        record["id"]
    );
}

#[tokio::test]
async fn hard_negatives_never_share_a_record() {
    let (app, _mocks) = warmed_app().await;
    let catalog = Catalog::read(&app).await;

    for ((gw_a, id_a), (gw_b, id_b)) in APART {
        let a = &catalog.record_of(gw_a, id_a)["id"];
        let b = &catalog.record_of(gw_b, id_b)["id"];
        assert_ne!(a, b, "{gw_a}'s {id_a} and {gw_b}'s {id_b} were merged");
    }
}

#[tokio::test]
async fn every_model_of_every_gateway_is_one_offer() {
    let (app, _mocks) = warmed_app().await;
    let catalog = Catalog::read(&app).await;
    let (status, _, models) = app.get_json("/api/models?limit=100000").await;
    assert_eq!(status, 200, "{models}");

    let models = models["data"].as_array().expect("a data array");
    for model in models {
        let (gateway, id) = (
            model["gateway"].as_str().unwrap(),
            model["id"].as_str().unwrap(),
        );
        catalog.record_of(gateway, id);
    }
    assert_eq!(catalog.by_offer.len(), models.len());
}

#[tokio::test]
async fn an_offer_id_or_alias_resolves_to_its_model_and_an_unknown_id_is_404() {
    let (app, _mocks) = warmed_app().await;

    // The record of `GET /api/catalog/<id>`, under `data` like the other
    // one-model answers (`/api/models/<gateway>/<id>`).
    let get = |path: String| {
        let app = &app;
        async move {
            let (status, _, body) = app.get_json(&path).await;
            let record = if status == 200 {
                body["data"].clone()
            } else {
                body
            };
            (status, record)
        }
    };
    let (status, canonical) = get("/api/catalog/meta-llama/llama-3.3-70b-instruct".into()).await;
    assert_eq!(status, 200, "{canonical}");
    assert_eq!(canonical["id"], "meta-llama/llama-3.3-70b-instruct");
    let catalog = Catalog::read(&app).await;
    assert_eq!(
        &canonical,
        catalog.record_of("groq", "llama-3.3-70b-versatile"),
        "the same record as in the list"
    );
    for other in [
        "llama-3.3-70b-versatile",
        "llama-3.3-70b",
        "Meta-Llama-3.3-70B-Instruct",
        "meta-llama/Llama-3.3-70B-Instruct",
        "accounts/fireworks/models/llama-v3p3-70b-instruct",
        "meta-llama/llama-3.3-70b-instruct:free",
    ] {
        let (status, body) = get(format!("/api/catalog/{other}")).await;
        assert_eq!(status, 200, "{other}: {body}");
        assert_eq!(body, canonical, "{other} resolves to the same record");
    }

    let resolves = [
        ("claude-sonnet-4-20250514", "anthropic/claude-sonnet-4"),
        // An alias no gateway lists today still names its model.
        ("claude-3-7-sonnet-latest", "anthropic/claude-3.7-sonnet"),
        ("grok-4-0709", "x-ai/grok-4"),
        ("codestral-latest", "mistralai/codestral-2501"),
        ("gpt-4o", "openai/gpt-4o"),
        ("gpt-4o-mini", "openai/gpt-4o-mini"),
    ];
    for (id, model) in resolves {
        let (status, body) = get(format!("/api/catalog/{id}")).await;
        assert_eq!(status, 200, "{id}: {body}");
        assert_eq!(body["id"], model, "{id}");
    }

    for unknown in [
        "no-such-model-anywhere",
        "nobody/no-such-model",
        "gpt-4o-maxi",
    ] {
        let (status, body) = get(format!("/api/catalog/{unknown}")).await;
        assert_eq!(status, 404, "{unknown}: {body}");
        assert_eq!(body["success"], false, "{body}");
    }
}
