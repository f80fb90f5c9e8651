//! The extras of each OpenAI-compatible provider, read from its fixture.

use super::super::openai::parse;
use super::super::{Model, model::Pricing};

fn fixture(name: &str) -> Vec<Model> {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    parse(&std::fs::read(&path).unwrap()).unwrap()
}

fn by_id<'a>(models: &'a [Model], id: &str) -> &'a Model {
    models.iter().find(|m| m.id == id).unwrap()
}

fn limits(m: &Model) -> (Option<u64>, Option<u64>, Option<u64>) {
    let top = m.top_provider.clone().unwrap_or_default();
    (
        m.context_length,
        top.context_length,
        top.max_completion_tokens,
    )
}

fn price(p: &Option<Pricing>) -> (Option<&str>, Option<&str>) {
    let p = p.as_ref().expect("a pricing");
    (p.prompt.as_deref(), p.completion.as_deref())
}

#[test]
fn groq_gives_context_window_and_max_completion_tokens() {
    let models = fixture("groq");
    assert_eq!(models.len(), 4);
    let m = by_id(&models, "llama-3.3-70b-versatile");
    assert_eq!(limits(m), (Some(131072), Some(131072), Some(32768)));
    assert_eq!(m.owned_by.as_deref(), Some("Meta"));
    assert_eq!(m.created, Some(1733447754));
    assert_eq!(m.pricing, None);
}

#[test]
fn vercel_gives_limits_and_per_token_prices() {
    let models = fixture("vercel");
    let m = by_id(&models, "anthropic/claude-sonnet-4");
    assert_eq!(m.name.as_deref(), Some("Claude Sonnet 4"));
    assert!(
        m.description
            .as_deref()
            .unwrap()
            .starts_with("Claude Sonnet 4")
    );
    assert_eq!(limits(m), (Some(200000), Some(200000), Some(64000)));
    let p = m.pricing.as_ref().unwrap();
    assert_eq!(price(&m.pricing), (Some("0.000003"), Some("0.000015")));
    assert_eq!(p.input_cache_read.as_deref(), Some("0.0000003"));
    assert_eq!(p.input_cache_write.as_deref(), Some("0.00000375"));
    let mini = by_id(&models, "openai/gpt-4o-mini");
    assert_eq!(
        price(&mini.pricing),
        (Some("0.00000015"), Some("0.0000006"))
    );
    assert_eq!(mini.pricing.as_ref().unwrap().input_cache_write, None);
}

#[test]
fn mistral_gives_name_description_context_and_capabilities() {
    let models = fixture("mistral");
    let m = by_id(&models, "pixtral-large-latest");
    assert_eq!(m.name.as_deref(), Some("pixtral-large-2411"));
    assert_eq!(
        m.description.as_deref(),
        Some("Official pixtral-large-2411 Mistral AI model")
    );
    assert_eq!(limits(m), (Some(131072), Some(131072), None));
    let arch = m.architecture.as_ref().unwrap();
    assert_eq!(
        arch.input_modalities.as_deref(),
        Some(&["text".to_owned(), "image".to_owned()][..])
    );
    assert_eq!(arch.output_modalities, None);
    assert!(
        m.supported_parameters
            .as_ref()
            .unwrap()
            .contains(&"tools".to_owned())
    );
    let embed = by_id(&models, "mistral-embed");
    assert_eq!(embed.supported_parameters, None);
    assert_eq!(embed.context_length, Some(8192));
}

#[test]
fn vllm_gives_max_model_len() {
    let models = fixture("vllm");
    assert_eq!(models.len(), 3);
    assert_eq!(
        limits(by_id(&models, "sql-lora")),
        (Some(32768), Some(32768), None)
    );
    assert_eq!(
        by_id(&models, "Qwen/Qwen2.5-7B-Instruct").context_length,
        Some(131072)
    );
}

#[test]
fn fireworks_gives_context_length_and_capabilities() {
    let models = fixture("fireworks");
    let vl = by_id(&models, "accounts/fireworks/models/qwen2p5-vl-32b-instruct");
    assert_eq!(vl.context_length, Some(128000));
    let inputs = vl
        .architecture
        .as_ref()
        .unwrap()
        .input_modalities
        .clone()
        .unwrap();
    assert_eq!(inputs, ["text", "image"]);
    assert_eq!(vl.supported_parameters, None);
    let big = by_id(
        &models,
        "accounts/fireworks/models/llama-v3p1-405b-instruct",
    );
    assert_eq!(big.supported_parameters.as_ref().unwrap()[0], "tools");
}

#[test]
fn deepinfra_metadata_gives_limits_description_and_per_million_prices() {
    let models = fixture("deepinfra");
    let m = by_id(&models, "deepseek-ai/DeepSeek-V3");
    assert_eq!(limits(m), (Some(163840), Some(163840), Some(163840)));
    assert!(m.description.as_deref().unwrap().starts_with("DeepSeek-V3"));
    assert_eq!(price(&m.pricing), (Some("0.00000038"), Some("0.00000089")));
    assert_eq!(
        m.pricing.as_ref().unwrap().input_cache_read.as_deref(),
        Some("0.00000019")
    );
    let turbo = by_id(&models, "meta-llama/Llama-3.3-70B-Instruct-Turbo");
    assert_eq!(
        price(&turbo.pricing),
        (Some("0.00000013"), Some("0.00000039"))
    );
    let embed = by_id(&models, "BAAI/bge-m3");
    assert_eq!((embed.pricing.clone(), embed.context_length), (None, None));
}

#[test]
fn hugging_face_router_uses_the_first_live_provider() {
    let models = fixture("huggingface");
    let m = by_id(&models, "meta-llama/Llama-3.3-70B-Instruct");
    // novita is staging; groq is the first live provider.
    assert_eq!(price(&m.pricing), (Some("0.00000059"), Some("0.00000079")));
    assert_eq!(m.context_length, Some(131072));
    assert_eq!(m.supported_parameters.as_ref().unwrap()[0], "tools");
    let vl = by_id(&models, "Qwen/Qwen2.5-VL-7B-Instruct");
    let arch = vl.architecture.as_ref().unwrap();
    assert_eq!(arch.input_modalities.clone().unwrap(), ["text", "image"]);
    assert_eq!(arch.output_modalities.clone().unwrap(), ["text"]);
    assert_eq!(price(&vl.pricing), (Some("0.0000002"), Some("0.0000002")));
    let r1 = by_id(&models, "deepseek-ai/DeepSeek-R1");
    assert_eq!((r1.pricing.clone(), r1.context_length), (None, None));
}
