//! The accept loop: HTTP/1 connections under the SPEC's "Connections" limits.
//!
//! Our own loop rather than `axum::serve`, because `axum::serve` has no way
//! to bound what a client may cost: no header timeout (hyper's needs a timer
//! that `axum::serve` does not set), no idle timeout, no connection cap. So a
//! few thousand clients that connect and never finish their headers used to
//! hold a socket each for ever. Here:
//!
//! - `HTTP_MAX_CONNECTIONS` is a semaphore whose permit is taken *before*
//!   `accept`: at the limit the loop stops accepting, and new connections wait
//!   in the kernel's listen backlog instead of costing a file descriptor.
//! - `HTTP_HEADER_TIMEOUT` and `HTTP_IDLE_TIMEOUT` are each connection's own
//!   timer (`connection`, the rules in `activity`), not hyper's
//!   `header_read_timeout`: hyper starts that one whenever it waits for a
//!   request head, so it would also close idle keep-alive connections after
//!   the header timeout (checked: a keep-alive connection went at 1 s with
//!   `header_read_timeout(1s)`), and `HTTP_IDLE_TIMEOUT` could never be
//!   longer. The idle timeout also closes a client that stops reading its
//!   answer or stops sending a body, never one that keeps downloading.
//! - Shutdown stops accepting, closes idle connections and half-sent heads
//!   at once, lets requests in flight finish (their answers too, for as long
//!   as the client keeps reading), and returns once every connection has
//!   ended.
//!
//! A [`FrontDoor`] may answer a request before the router sees it (the
//! catalog's reused answers, `crate::http::replay`).
//!
//! What `axum::serve` did is kept: HTTP/1.1 only (axum's `http2` feature is
//! off), upgrades allowed, an accept error never ends the loop. New:
//! `TCP_NODELAY` on every connection (axum 0.8 leaves it off), so the end of
//! an answer never waits for the client's acknowledgement of its start.

mod activity;
mod connection;
mod probes;

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::config::ConnectionLimits;

/// How long the loop pauses after an accept error that is not one client's
/// (`EMFILE`, `ENFILE`, `ENOBUFS`…): the descriptors freed by closing
/// connections meanwhile are what lets the next accept succeed. One second,
/// as hyper's and axum's loops did.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// How often, at most, the connection limit being reached is logged.
const LIMIT_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Answers some requests before routing, from memory: none of the router's
/// layers run for them, so its answers must be the router's own.
pub trait FrontDoor: Send + Sync + 'static {
    /// The answer to a request without a body, or `None` to route it.
    fn answer(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response>;
}

/// What a connection's requests are answered by: the front door if it has
/// the answer, else the router.
#[derive(Clone)]
pub struct Routes {
    pub router: Router,
    pub front: Option<Arc<dyn FrontDoor>>,
}

/// Serves `routes` on `listener` until `shutdown` resolves, then lets every
/// connection finish what it is doing and returns.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    let mut last_warning = None;
    loop {
        // `biased`: once the shutdown signal is in, nothing more is accepted.
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = take_slot(&slots, limits.max_connections, &mut last_warning) => slot,
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                // Only a hint to the kernel: the connection works without it.
                let _ = stream.set_nodelay(true);
                let (routes, stopped) = (routes.clone(), stopped.clone());
                tokio::spawn(async move {
                    connection::serve(stream, routes, limits, stopped).await;
                    drop(slot);
                });
            }
            // That one client gave up before it was accepted.
            Err(e) if is_client_error(&e) => {}
            Err(e) => {
                tracing::error!(error = %e, "accept failed; retrying in 1 s");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
            }
        }
    }
    drop(listener);
    stop.send_replace(true);
    let all = u32::try_from(limits.max_connections)
        .expect("BUG: HTTP_MAX_CONNECTIONS is at most a million");
    // Every connection holds its slot until it has ended.
    let _all = slots
        .acquire_many(all)
        .await
        .expect("BUG: the connection slots are never closed");
    Ok(())
}

/// A connection's slot; waits (without accepting) while every slot is taken.
async fn take_slot(
    slots: &Arc<Semaphore>,
    max: usize,
    last_warning: &mut Option<Instant>,
) -> OwnedSemaphorePermit {
    if let Ok(slot) = Arc::clone(slots).try_acquire_owned() {
        return slot;
    }
    if last_warning.is_none_or(|at| at.elapsed() >= LIMIT_WARNING_EVERY) {
        tracing::warn!(
            max_connections = max,
            "HTTP_MAX_CONNECTIONS reached: new connections wait in the listen backlog"
        );
        *last_warning = Some(Instant::now());
    }
    Arc::clone(slots)
        .acquire_owned()
        .await
        .expect("BUG: the connection slots are never closed")
}

/// Errors of the one connection being accepted, not of the listener.
fn is_client_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
