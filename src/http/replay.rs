//! The front door: a catalog read whose answer was assembled moments ago is
//! answered before routing, from the answer kept for it.
//!
//! Most of a models page's traffic asks again what was just answered. For
//! those reads the router's work — matching the path, the CORS layer,
//! extracting the path, query and a copy of the headers, the body limit —
//! cost as much as the rest of the request (callgrind: 40.5 k instructions
//! per reused page of 100, 18 k for a server replaying the same bytes). So
//! the server asks here first: a `GET` of `/api/models`,
//! `/api/models/{gateway}` or `/api/models/{gateway}/{model}` looks up the
//! key its handler would keep its answer under, and a hit is replayed with
//! what the router's CORS layer would have added. Anything else — a miss,
//! another method, a path that needs percent-decoding — goes to the router,
//! whose handlers build and keep the answers replayed here.
//!
//! Not used when Sentry is on: every request is then a transaction, and only
//! the router's layers make them.

use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

use super::catalog::{cors_headers, list_answer_key, model_answer_key};
use super::negotiate::accepts_gzip;
use crate::app::AppState;
use crate::cache::now_ms;
use crate::server::FrontDoor;

/// Replays kept catalog answers (see the module docs).
pub struct Replay {
    state: AppState,
}

impl Replay {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl FrontDoor for Replay {
    fn answer(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
        if method != Method::GET {
            return None;
        }
        let target = Target::of(uri.path())?;
        let now = now_ms();
        let generation = self.state.engine.generation();
        let gzip = accepts_gzip(headers);
        let key = match target {
            Target::List(gateway) => list_answer_key(gateway, uri.query(), generation, now, gzip),
            Target::Model(gateway, model) => {
                model_answer_key(gateway, model, generation, now, gzip)
            }
        };
        let answer = self.state.views.replay(&key, now)?;
        answer.count_reads(self.state.engine.stats());
        Some(answer.replay(headers, cors_headers))
    }
}

/// What a catalog path reads, as its handler sees it.
#[derive(Debug, PartialEq)]
enum Target<'a> {
    /// Every gateway (`""`) or one.
    List(&'a str),
    Model(&'a str, &'a str),
}

impl<'a> Target<'a> {
    /// `None` for any other path, and for one the router would decode
    /// (`%`): its handler keeps the answer under the decoded names.
    fn of(path: &'a str) -> Option<Self> {
        let rest = path.strip_prefix("/api/models")?;
        if rest.is_empty() {
            return Some(Self::List(""));
        }
        let rest = rest.strip_prefix('/')?;
        if rest.contains('%') {
            return None;
        }
        match rest.split_once('/') {
            None if !rest.is_empty() => Some(Self::List(rest)),
            Some((gateway, model)) if !gateway.is_empty() && !model.is_empty() => {
                Some(Self::Model(gateway, model))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn catalog_paths_name_what_their_handlers_read() {
        assert_eq!(Target::of("/api/models"), Some(Target::List("")));
        assert_eq!(Target::of("/api/models/or"), Some(Target::List("or")));
        assert_eq!(
            Target::of("/api/models/or/openai/gpt-4o:free"),
            Some(Target::Model("or", "openai/gpt-4o:free"))
        );
    }

    #[test]
    fn other_paths_and_those_the_router_decodes_go_to_the_router() {
        for path in [
            "/api/modelsx",
            "/api/models/",
            "/api/models//m",
            "/api/models/or/",
            "/api/models/o%72",
            "/api/models/or/a%20b",
            "/api/gateways",
            "/",
        ] {
            assert_eq!(Target::of(path), None, "{path}");
        }
    }
}
