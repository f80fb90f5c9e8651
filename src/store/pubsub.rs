//! The Redis side of drop notices: a dedicated pub/sub connection per
//! instance, reconnected in the background, forwarding notices to the engine.
//!
//! Pub/sub is what makes an invalidation reach every instance at once: reads
//! are served from each instance's memory, and the periodic sync alone would
//! let another instance serve a dropped entry for up to a sync interval.

use std::time::Duration;

use deadpool_redis::redis;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::Notice;

/// Wait before reconnecting a lost subscription.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// Notices buffered for the engine; more would mean it stopped reading.
const FEED_CAPACITY: usize = 256;

/// Subscribes to `channel` on `url` until the receiver is dropped.
pub fn feed(url: String, channel: String) -> mpsc::Receiver<Notice> {
    let (tx, rx) = mpsc::channel(FEED_CAPACITY);
    tokio::spawn(async move {
        while !tx.is_closed() {
            if let Err(e) = forward(&url, &channel, &tx).await {
                tracing::debug!(error = %e, "drop-notice subscription lost; reconnecting");
            }
            tokio::time::sleep(RECONNECT_DELAY).await;
        }
    });
    rx
}

async fn forward(url: &str, channel: &str, tx: &mpsc::Sender<Notice>) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let Ok(text) = message.get_payload::<String>() else {
            continue;
        };
        if let Some(notice) = Notice::decode(&text)
            && tx.send(notice).await.is_err()
        {
            break;
        }
    }
    Ok(())
}
