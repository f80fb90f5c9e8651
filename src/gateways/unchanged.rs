//! A list that comes back byte for byte is not parsed again.
//!
//! Most fetches are revalidations that bring back the list already held:
//! catalogs change a few times a day, entries go stale every few minutes.
//! Parsing such a list again, then digesting it and compressing it for the
//! store, cost about 11 ms of CPU per 500 models (6 ms parsing, 4.5 ms
//! compressing; measured on the benchmark's lists) only to arrive at the
//! revision already held: CPU taken from the reads of a busy instance, a
//! gateway at a time, every few minutes.
//!
//! So a fetch notes a digest (XXH3-128) of each body it reads, in order, and
//! the [`super::Fetcher`] keeps them with the revision of the list they
//! made. A later fetch by a caller that still holds that revision compares
//! each body as it arrives; when the last of them came back like every one
//! before it, the fetch stops there, unparsed, and says so
//! ([`super::Fetched::Same`]): the caller extends what it holds. Pages before
//! the last are parsed as usual, for the cursor that leads to the next.
//!
//! Equal bodies make equal lists because an adapter reads nothing but the
//! bodies (no headers), and a gateway's settings are fixed for the process's
//! life.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use super::FetchError;

/// The digests of the bodies one fetch read, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bodies(Arc<[u128]>);

struct Reading {
    /// The bodies of the fetch that made what the caller holds.
    previous: Option<Bodies>,
    read: Vec<u128>,
}

tokio::task_local! {
    static READING: RefCell<Reading>;
}

/// Runs `fetch`, noting the bodies it reads ([`note`]); `previous`: the
/// bodies of the fetch whose list the caller holds. The fetch's output
/// (`Err(FetchError::Unchanged)` when it stopped at a body seen before),
/// and the bodies it read.
pub async fn noting<T, F>(previous: Option<Bodies>, fetch: F) -> (Result<T, FetchError>, Bodies)
where
    F: Future<Output = Result<T, FetchError>>,
{
    let reading = Reading {
        previous,
        read: Vec::new(),
    };
    READING
        .scope(RefCell::new(reading), async {
            let output = fetch.await;
            let read = READING.with(|r| std::mem::take(&mut r.borrow_mut().read));
            (output, Bodies(read.into()))
        })
        .await
}

/// Notes a body about to be parsed: `Err(FetchError::Unchanged)` when it is
/// the last body of the previous fetch and every body before it came back
/// too, so that the whole answer is the one already held. Outside
/// [`noting`], always `Ok`.
pub fn note(body: &[u8]) -> Result<(), FetchError> {
    let digest = xxhash_rust::xxh3::xxh3_128(body);
    READING
        .try_with(|reading| {
            let mut reading = reading.borrow_mut();
            reading.read.push(digest);
            match &reading.previous {
                Some(Bodies(previous)) if previous[..] == reading.read[..] => {
                    Err(FetchError::Unchanged)
                }
                _ => Ok(()),
            }
        })
        .unwrap_or(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fetch reading `bodies` in order, each parsed unless [`note`] says
    /// the answer is unchanged; how many it parsed.
    async fn fetch_of(bodies: &[&str]) -> Result<usize, FetchError> {
        let mut parsed = 0;
        for body in bodies {
            note(body.as_bytes())?;
            parsed += 1;
        }
        Ok(parsed)
    }

    async fn read(bodies: &[&str]) -> Bodies {
        let (parsed, read) = noting(None, fetch_of(bodies)).await;
        assert_eq!(parsed, Ok(bodies.len()), "a first fetch parses everything");
        read
    }

    #[tokio::test]
    async fn a_single_body_that_comes_back_is_not_parsed() {
        let before = read(&["[a,b]"]).await;
        let (parsed, _) = noting(Some(before), fetch_of(&["[a,b]"])).await;
        assert_eq!(parsed, Err(FetchError::Unchanged));
    }

    #[tokio::test]
    async fn a_body_that_changed_by_one_byte_is_parsed() {
        let before = read(&["[a,b]"]).await;
        let (parsed, read) = noting(Some(before.clone()), fetch_of(&["[a,c]"])).await;
        assert_eq!(parsed, Ok(1));
        assert_ne!(read, before, "the new body is what the next fetch compares");
    }

    #[tokio::test]
    async fn pages_are_parsed_up_to_the_last_one_that_came_back() {
        let before = read(&["page 1", "page 2", "page 3"]).await;
        let (parsed, _) = noting(
            Some(before.clone()),
            fetch_of(&["page 1", "page 2", "page 3"]),
        )
        .await;
        assert_eq!(parsed, Err(FetchError::Unchanged));
        let pages = ["page 1", "page 2 changed", "page 3"];
        let (parsed, _) = noting(Some(before.clone()), fetch_of(&pages)).await;
        assert_eq!(parsed, Ok(3), "an earlier page changed");
        let (parsed, _) = noting(Some(before), fetch_of(&["page 1", "page 2"])).await;
        assert_eq!(parsed, Ok(2), "the last page is not the previous last page");
    }

    #[tokio::test]
    async fn without_a_previous_fetch_every_body_is_parsed() {
        let (parsed, read) = noting(None, fetch_of(&["x", "x"])).await;
        assert_eq!(parsed, Ok(2));
        assert_eq!(read.0.len(), 2);
        assert_eq!(note(b"outside any fetch"), Ok(()));
    }
}
