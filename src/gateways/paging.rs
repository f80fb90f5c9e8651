//! Following an upstream's cursor pagination to the end, boundedly.
//!
//! Three bounds apply: [`MAX_PAGES`] pages at most, a cursor seen before stops
//! the fetch with an error (an upstream that hands back the same token would
//! otherwise loop until the timeout), and the gateway's timeout, which
//! `Fetcher::fetch` puts around the whole loop so every page shares one
//! budget. Hitting a bound is an error, never a silently partial list: a
//! partial list stored as if complete would hide models until the next warm.

use std::collections::HashSet;
use std::future::Future;

use super::{FetchError, Model};

/// Pages followed at most per fetch. With the page sizes the adapters ask for
/// (1000 where the provider allows it) this is room for 100 000 models, well
/// above any catalog known today.
pub const MAX_PAGES: usize = 100;

/// One page's models and the cursor of the next page, if any.
#[derive(Debug)]
pub struct Page {
    pub models: Vec<Model>,
    pub next: Option<String>,
}

/// Calls `fetch_page` with `None`, then with each returned cursor, until a
/// page has no next cursor.
pub async fn follow<F, Fut>(mut fetch_page: F) -> Result<Vec<Model>, FetchError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page, FetchError>>,
{
    let mut models = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let page = fetch_page(cursor.take()).await?;
        models.extend(page.models);
        match page.next.filter(|c| !c.is_empty()) {
            None => return Ok(models),
            Some(next) if !seen.insert(next.clone()) => {
                return Err(FetchError::Parse(format!(
                    "the pagination cursor {} came back twice; stopped instead of looping",
                    clip(&next)
                )));
            }
            Some(next) => cursor = Some(next),
        }
    }
    Err(FetchError::Parse(format!(
        "more than {MAX_PAGES} pages; stopped (the list would be incomplete)"
    )))
}

fn clip(cursor: &str) -> String {
    let short: String = cursor.chars().take(40).collect();
    format!("{short:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ids: &[&str], next: Option<&str>) -> Page {
        Page {
            models: ids
                .iter()
                .map(|id| Model {
                    id: (*id).into(),
                    ..Model::default()
                })
                .collect(),
            next: next.map(Into::into),
        }
    }

    #[tokio::test]
    async fn pages_are_followed_to_the_end_in_order() {
        let models = follow(|cursor| async move {
            Ok(match cursor.as_deref() {
                None => page(&["a", "b"], Some("p2")),
                Some("p2") => page(&["c"], Some("p3")),
                Some(_) => page(&["d"], Some("")),
            })
        })
        .await
        .unwrap();
        let ids: Vec<_> = models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
    }

    #[tokio::test]
    async fn a_repeating_cursor_is_an_error_not_a_loop() {
        let mut calls = 0;
        let err = follow(|_| {
            calls += 1;
            async { Ok(page(&["a"], Some("same"))) }
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("came back twice"), "{err}");
        assert_eq!(calls, 2);
    }

    #[tokio::test]
    async fn more_than_the_page_cap_is_an_error() {
        let mut n = 0;
        let err = follow(|_| {
            n += 1;
            let next = format!("p{n}");
            async move { Ok(page(&["a"], Some(&next))) }
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("more than 100 pages"), "{err}");
        assert_eq!(n, MAX_PAGES);
    }

    #[tokio::test]
    async fn a_failing_page_fails_the_fetch() {
        let err = follow(|cursor| async move {
            match cursor {
                None => Ok(page(&["a"], Some("p2"))),
                Some(_) => Err(FetchError::Parse("truncated".into())),
            }
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "unparseable response: truncated");
    }
}
