//! What one connection is doing, as its timeouts see it, and so when they
//! close it ([`Activity::deadline`]).
//!
//! A connection is either waiting on its handler, or waiting on its client:
//!
//! - a handler working on a request: no deadline (a slow upstream is bounded
//!   by its own timeouts, not by these);
//! - no request yet: the headers are due `HTTP_HEADER_TIMEOUT` after the
//!   accept;
//! - the first bytes of a next request read: its headers are due
//!   `HTTP_HEADER_TIMEOUT` after them (a client dripping a byte at a time
//!   gains nothing);
//! - otherwise the client owes the next step — a new request, reading the
//!   answer being written, or sending the request body its handler waits
//!   on — and gets `HTTP_IDLE_TIMEOUT` from the last step either side took
//!   (an answer given or ended, a byte read or written). So a long download
//!   is never cut while the client keeps reading, and a client that stops
//!   reading, or stops sending a body, does not hold its connection for ever.
//!
//! The probes that feed it (socket, service, bodies) are in `probes`. All of
//! it is touched from the connection's own task only; atomics because hyper
//! wants the service and the bodies to be `Send`, `Relaxed` because no other
//! memory is published through them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::ConnectionLimits;

/// A time not reached yet (in milliseconds since the connection was accepted).
const NEVER: u64 = u64::MAX;

/// When the connection's timeouts close it, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Deadline {
    /// A handler is working: no timeout applies.
    None,
    /// The client has until then to finish a request's headers.
    Headers(Instant),
    /// The client has until then to take its next step.
    Idle(Instant),
}

impl Deadline {
    /// The setting behind it, for the logs.
    pub(super) fn variable(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Headers(_) => "HTTP_HEADER_TIMEOUT",
            Self::Idle(_) => "HTTP_IDLE_TIMEOUT",
        }
    }
}

pub(super) struct Activity {
    accepted: Instant,
    /// Requests started whose answer has not ended (0 or 1 with HTTP/1).
    in_flight: AtomicU32,
    /// Requests whose handler has not answered yet.
    handling: AtomicU32,
    /// A handler waits for more of its request's body.
    body_awaited: AtomicBool,
    /// When a handler last answered or an answer last ended; [`NEVER`]
    /// before the first.
    answered: AtomicU64,
    /// When the first bytes of the next request were read, [`NEVER`] if none.
    head_started: AtomicU64,
    /// When bytes were last read or written.
    last_io: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            accepted: Instant::now(),
            in_flight: AtomicU32::new(0),
            handling: AtomicU32::new(0),
            body_awaited: AtomicBool::new(false),
            answered: AtomicU64::new(NEVER),
            head_started: AtomicU64::new(NEVER),
            last_io: AtomicU64::new(0),
        }
    }

    pub(super) fn deadline(&self, limits: &ConnectionLimits) -> Deadline {
        if self.in_flight.load(Relaxed) == 0 {
            if self.answered.load(Relaxed) == NEVER {
                return Deadline::Headers(self.accepted + limits.header_timeout);
            }
            let head_started = self.head_started.load(Relaxed);
            if head_started != NEVER {
                return Deadline::Headers(self.at(head_started) + limits.header_timeout);
            }
        } else if self.handling.load(Relaxed) > 0 && !self.body_awaited.load(Relaxed) {
            return Deadline::None;
        }
        let last_step = match self.answered.load(Relaxed) {
            NEVER => 0,
            answered => answered,
        };
        let last_step = last_step.max(self.last_io.load(Relaxed));
        Deadline::Idle(self.at(last_step) + limits.idle_timeout)
    }

    /// No request in flight, and a request head begun, or none received
    /// yet: hyper's graceful shutdown would wait for the rest of such a head.
    pub(super) fn reading_a_head(&self) -> bool {
        self.in_flight.load(Relaxed) == 0
            && (self.head_started.load(Relaxed) != NEVER || self.answered.load(Relaxed) == NEVER)
    }

    /// A request's head was parsed: its handler starts.
    pub(super) fn start_request(self: &Arc<Self>) -> (InFlight, Handling) {
        self.in_flight.fetch_add(1, Relaxed);
        self.handling.fetch_add(1, Relaxed);
        (InFlight(Arc::clone(self)), Handling(Arc::clone(self)))
    }

    pub(super) fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Relaxed);
        if self.in_flight.load(Relaxed) == 0 && self.head_started.load(Relaxed) == NEVER {
            self.head_started.store(now, Relaxed);
        }
    }

    pub(super) fn wrote(&self) {
        self.last_io.store(self.now(), Relaxed);
    }

    /// Whether the handler now waits for more of the request's body.
    pub(super) fn body_awaited(&self, awaited: bool) {
        self.body_awaited.store(awaited, Relaxed);
    }

    /// Rounded up, so that no timeout runs out before its time.
    fn now(&self) -> u64 {
        let millis = u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(NEVER - 2);
        millis + 1
    }

    fn at(&self, millis: u64) -> Instant {
        self.accepted + Duration::from_millis(millis)
    }
}

/// A request from its head parsed to its answer's body dropped (by hyper,
/// once the last byte is queued, or when the client goes away).
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Relaxed) == 1 {
            activity.answered.store(activity.now(), Relaxed);
            activity.head_started.store(NEVER, Relaxed);
        }
    }
}

/// A request from its head parsed to its handler's answer (or its drop).
pub(super) struct Handling(Arc<Activity>);

impl Drop for Handling {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.handling.fetch_sub(1, Relaxed);
        activity.body_awaited(false);
        activity.answered.store(activity.now(), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_connections: 1,
    };

    fn activity() -> Arc<Activity> {
        Arc::new(Activity::new())
    }

    #[test]
    fn a_new_connection_has_the_header_timeout_from_its_accept() {
        let activity = activity();
        let due = activity.accepted + LIMITS.header_timeout;
        assert_eq!(activity.deadline(&LIMITS), Deadline::Headers(due));
        activity.read();
        assert_eq!(activity.deadline(&LIMITS), Deadline::Headers(due));
        assert!(activity.reading_a_head());
    }

    #[test]
    fn a_working_handler_has_no_deadline() {
        let activity = activity();
        let (_in_flight, handling) = activity.start_request();
        activity.read();
        assert_eq!(activity.deadline(&LIMITS), Deadline::None);
        assert!(!activity.reading_a_head());
        drop(handling);
        assert!(matches!(activity.deadline(&LIMITS), Deadline::Idle(_)));
    }

    #[test]
    fn a_body_the_handler_waits_for_has_the_idle_timeout_from_its_last_byte() {
        let activity = activity();
        let (_in_flight, _handling) = activity.start_request();
        activity.body_awaited(true);
        activity.last_io.store(7_000, Relaxed);
        assert_eq!(
            activity.deadline(&LIMITS),
            Deadline::Idle(activity.at(7_000) + LIMITS.idle_timeout)
        );
        activity.body_awaited(false);
        assert_eq!(activity.deadline(&LIMITS), Deadline::None);
    }

    #[test]
    fn an_answer_being_written_has_the_idle_timeout_from_its_last_write() {
        let activity = activity();
        let (in_flight, handling) = activity.start_request();
        drop(handling);
        activity.answered.store(1_000, Relaxed);
        activity.last_io.store(50_000, Relaxed);
        let due = Deadline::Idle(activity.at(50_000) + LIMITS.idle_timeout);
        assert_eq!(activity.deadline(&LIMITS), due);
        // Its body ended, its last bytes still going out.
        drop(in_flight);
        activity.answered.store(2_000, Relaxed);
        assert_eq!(activity.deadline(&LIMITS), due);
        assert!(!activity.reading_a_head());
    }

    #[test]
    fn the_next_request_s_first_bytes_start_its_header_timeout() {
        let activity = activity();
        let (in_flight, handling) = activity.start_request();
        activity.read();
        drop((handling, in_flight));
        assert!(matches!(activity.deadline(&LIMITS), Deadline::Idle(_)));
        activity.head_started.store(5_000, Relaxed);
        activity.read();
        assert_eq!(
            activity.deadline(&LIMITS),
            Deadline::Headers(activity.at(5_000) + LIMITS.header_timeout),
            "later bytes do not move it"
        );
        assert!(activity.reading_a_head());
    }
}
