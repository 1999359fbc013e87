//! The live feed behind GraphQL subscriptions: one NATS subscription per gateway to
//! `maestro.events.>`, fanned out to every subscriber. NATS delivers at least once, so
//! the feed drops events it has already passed on.
//!
//! Who may read an event's item is decided by the inventory read model, which the
//! projector writes on its own schedule, apart from the relay: an event can reach the
//! gateway before the read model holds the grants it was written under (or a revocation
//! that came before it). So the feed holds each event back until the inventory projector
//! has applied it, as the `events` query reads the log only as far as the projector got.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use commands::EventStore;
use futures::StreamExt;
use projections::Inventory;
use serde_json::Value;
use tokio::sync::broadcast;

/// How many recent event ids the feed remembers to drop re-deliveries.
const REMEMBERED: usize = 16_384;
/// How often the feed asks how far the projector got, while it holds events back.
const PROJECTOR_POLL: Duration = Duration::from_millis(100);
/// The most events held back for the projector; past it the feed stops reading NATS
/// until the projector catches up.
const HELD_BACK: usize = 65_536;

#[derive(Clone)]
pub struct EventFeed {
    sender: broadcast::Sender<Arc<Value>>,
}

impl EventFeed {
    /// A feed with no source: subscriptions stay silent (for a gateway without NATS).
    pub fn silent() -> EventFeed {
        EventFeed {
            sender: broadcast::channel(1).0,
        }
    }

    /// Follows the relay's subjects on `client` for as long as the process lives, passing
    /// each event on once the inventory projector of `store` has applied it. Each
    /// subscriber may fall `buffer` events behind.
    pub fn follow(client: async_nats::Client, store: EventStore, buffer: usize) -> EventFeed {
        let (sender, _) = broadcast::channel(buffer.max(1));
        let feed = EventFeed {
            sender: sender.clone(),
        };
        tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut held = VecDeque::new();
            let mut poll = tokio::time::interval(PROJECTOR_POLL);
            loop {
                match client.subscribe("maestro.events.>").await {
                    Ok(mut messages) => loop {
                        tokio::select! {
                            message = messages.next(), if held.len() < HELD_BACK => {
                                let Some(message) = message else { break };
                                let Ok(envelope) = serde_json::from_slice::<Value>(&message.payload) else {
                                    continue;
                                };
                                // Without a position the projector's progress cannot vouch for it.
                                let positioned = envelope["position"].is_i64();
                                if positioned && envelope["id"].as_str().is_some_and(|id| seen.first_time(id)) {
                                    held.push_back(Arc::new(envelope));
                                }
                            }
                            _ = poll.tick(), if !held.is_empty() => {
                                release(&store, &mut held, &sender).await;
                            }
                        }
                    },
                    Err(error) => tracing::warn!(%error, "subscribing to NATS failed; retrying"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        feed
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Value>> {
        self.sender.subscribe()
    }
}

/// Passes on, in order, the held events the inventory projector has applied.
async fn release(
    store: &EventStore,
    held: &mut VecDeque<Arc<Value>>,
    sender: &broadcast::Sender<Arc<Value>>,
) {
    let positions: Vec<i64> = held
        .iter()
        .filter_map(|envelope| envelope["position"].as_i64())
        .collect();
    let applied: Result<Vec<i64>, _> = sqlx::query_scalar(
        "SELECT e.position FROM events e JOIN checkpoints c ON c.name = $1
         WHERE e.position = ANY($2) AND (e.transaction_id, e.position) <= (c.transaction_id, c.position)",
    )
    .bind(Inventory::NAME)
    .bind(&positions)
    .fetch_all(store.pool())
    .await;
    let applied: HashSet<i64> = match applied {
        Ok(applied) => applied.into_iter().collect(),
        Err(error) => {
            tracing::warn!(%error, "could not tell how far the inventory projector got; holding events back");
            return;
        }
    };
    // The relay publishes in commit order, which is the projector's: release the front.
    while let Some(envelope) = held.front() {
        if !envelope["position"]
            .as_i64()
            .is_some_and(|p| applied.contains(&p))
        {
            break;
        }
        let _ = sender.send(held.pop_front().expect("a front"));
    }
}

#[derive(Default)]
struct Seen {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Seen {
    fn first_time(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() == REMEMBERED {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        self.order.push_back(id.to_string());
        self.ids.insert(id.to_string());
        true
    }
}
