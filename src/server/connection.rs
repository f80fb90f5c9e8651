//! One connection's task: hyper's HTTP/1 state machine, raced against the
//! connection's [`Deadline`] and the server's shutdown.

use std::pin::pin;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::Routes;
use super::activity::{Activity, Deadline};
use super::probes::{Tracked, Watched};
use crate::config::ConnectionLimits;

/// Serves `stream` until the client closes it, a timeout does, or the server
/// stops (`stopped` turns true, or its sender goes away).
pub(super) async fn serve(
    stream: TcpStream,
    routes: Routes,
    limits: ConnectionLimits,
    mut stopped: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: Arc::clone(&activity),
    });
    let service = Tracked {
        routes,
        activity: Arc::clone(&activity),
    };
    let mut connection = pin!(
        http1::Builder::new()
            .serve_connection(io, service)
            .with_upgrades()
    );
    // Every timeout runs from a step the connection took, so a step can
    // bring the deadline forward (an answer given: the idle timeout, shorter
    // than the header one; a next head begun: the header timeout, shorter
    // than the idle one). Looking again at least this often, no deadline is
    // ever missed: a step taken after a look sets one at least this far off.
    let look_every = limits.header_timeout.min(limits.idle_timeout);
    let mut stopping = false;
    loop {
        let now = Instant::now();
        let next_look = now + look_every;
        let wake_at = match activity.deadline(&limits) {
            Deadline::None => next_look,
            Deadline::Headers(at) | Deadline::Idle(at) if at > now => at.min(next_look),
            expired => {
                // Dropping the connection closes the socket. No handler is
                // working: only what the client stalled on is cut short.
                tracing::trace!(timeout = expired.variable(), "connection closed");
                return;
            }
        };
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(e) = ended {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(wake_at) => {}
            _ = stopped.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                // Closes an idle connection at once, and one with a request
                // in flight once its answer is out.
                connection.as_mut().graceful_shutdown();
                if activity.reading_a_head() {
                    return;
                }
            }
        }
    }
}
