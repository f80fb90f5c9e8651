//! Who made a model, read off what a gateway says about it. (The unified
//! catalog's canonical ids build on this.)

use crate::gateways::Model;

/// Path prefixes some gateways put before the model's own id.
fn strip_path(id: &str) -> &str {
    if let Some(rest) = id.strip_prefix("models/") {
        return rest;
    }
    if let Some(rest) = id.strip_prefix("accounts/")
        && let Some((_, model)) = rest.split_once("/models/")
    {
        return model;
    }
    id
}

/// `owned_by` values that name a platform or an account kind, not an author.
const NOT_AUTHORS: [&str; 6] = [
    "system",
    "user",
    "organization-owner",
    "openai-internal",
    "openai-dev",
    "library",
];

/// The model's author, lowercase: the `author/` part of its id, else its
/// `owned_by` when that names an author; `None` when neither says.
pub fn author_of(model: &Model) -> Option<String> {
    if let Some((author, _)) = strip_path(&model.id).split_once('/')
        && !author.is_empty()
    {
        return Some(author.to_lowercase());
    }
    let owner = model.owned_by.as_deref()?.trim().to_lowercase();
    (!owner.is_empty() && !NOT_AUTHORS.contains(&owner.as_str())).then_some(owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(id: &str, owned_by: Option<&str>) -> Option<String> {
        author_of(&Model {
            id: id.into(),
            owned_by: owned_by.map(Into::into),
            ..Model::default()
        })
    }

    #[test]
    fn the_author_is_the_ids_prefix_else_a_real_owner() {
        assert_eq!(
            author("anthropic/claude-sonnet-4", None).as_deref(),
            Some("anthropic")
        );
        assert_eq!(
            author("meta-llama/Llama-3.3-70B-Instruct", None).as_deref(),
            Some("meta-llama")
        );
        assert_eq!(
            author("models/gemini-2.0-flash", Some("google")).as_deref(),
            Some("google")
        );
        assert_eq!(
            author("accounts/fireworks/models/deepseek-v3", Some("fireworks")).as_deref(),
            Some("fireworks")
        );
        assert_eq!(author("gpt-4o", Some("system")), None);
        assert_eq!(
            author("llama-3.3-70b-versatile", Some("Meta")).as_deref(),
            Some("meta")
        );
        assert_eq!(author("x", None), None);
    }
}
