//! The stale-while-revalidate cache: entries and their freshness, the read
//! outcome, single-flight, and the engine that ties them to the store and the
//! gateways.
//!
//! Read [`engine`] top to bottom to follow a read; the other modules are the
//! named pieces it uses.

mod breaker;
pub mod engine;
mod entry;
mod failures;
pub mod flight;
mod status;

pub use engine::{Baseline, Engine, GatewayView, Mode};
pub use entry::{Entry, Freshness, millis, now_ms};
pub use status::ReadOutcome;
