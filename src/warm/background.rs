//! The background refresh: when the runtime config enables it, a full warm
//! every `intervalMs`, run by exactly one instance per interval however many
//! share the store.
//!
//! Time is cut into slots of `intervalMs` (`now / interval`); at the start of
//! each slot every instance tries to claim it in the store (`SET NX`, expiring
//! after two intervals) and only the one that succeeds warms. No leader to
//! elect, nothing to hand over when an instance dies: the next slot is
//! claimed by whoever is alive.

use std::time::Duration;

use crate::app::AppState;
use crate::cache::now_ms;
use crate::stats::Counter;
use crate::store::StoreError;
use crate::warm::{Trigger, full_selection};

/// How often instances look for a new slot: the lateness of a refresh.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Runs forever; spawned by the server.
pub async fn run(state: AppState) {
    let mut last_slot: Option<(u64, u64)> = None;
    let mut every = tokio::time::interval(CHECK_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let config = state.runtime.get();
        if !(config.enabled && config.background_refresh.enabled) {
            continue;
        }
        let interval = config.background_refresh.interval_ms;
        let slot = (interval, now_ms() / interval);
        if last_slot == Some(slot) {
            continue;
        }
        match claim(&state, slot).await {
            Ok(true) => {
                last_slot = Some(slot);
                state.engine.stats().count(Counter::BackgroundRefreshCount);
                let selection = full_selection(&state.gateways, &config);
                state.warmer.warm(&selection, Trigger::Background).await;
            }
            // Another instance has this slot.
            Ok(false) => last_slot = Some(slot),
            // Without the store no one can tell who else warms: try again
            // next tick.
            Err(e) => tracing::debug!(error = %e, "background refresh: cannot claim the slot"),
        }
    }
}

/// Claims `slot` for this instance: `Ok(true)` for exactly one instance.
async fn claim(state: &AppState, (interval, slot): (u64, u64)) -> Result<bool, StoreError> {
    let name = format!("refresh:{interval}:{slot}");
    // Kept past the slot's end: an instance slow to ask (it read the clock
    // just before the slot ended) still finds the slot taken.
    let ttl = Duration::from_millis(2 * interval);
    state.engine.store().claim(&name, ttl).await
}
