//! The live feed behind GraphQL subscriptions: one NATS subscription per gateway to
//! `maestro.events.>`, fanned out to every subscriber. NATS delivers at least once, so
//! the feed drops events it has already passed on.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::broadcast;

/// How many recent event ids the feed remembers to drop re-deliveries.
const REMEMBERED: usize = 16_384;
/// Events buffered per subscriber before a slow one starts missing some.
const BUFFER: usize = 4_096;

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

    /// Follows the relay's subjects on `client` for as long as the process lives.
    pub fn follow(client: async_nats::Client) -> EventFeed {
        let (sender, _) = broadcast::channel(BUFFER);
        let feed = EventFeed {
            sender: sender.clone(),
        };
        tokio::spawn(async move {
            let mut seen = Seen::default();
            loop {
                match client.subscribe("maestro.events.>").await {
                    Ok(mut messages) => {
                        while let Some(message) = messages.next().await {
                            let Ok(envelope) = serde_json::from_slice::<Value>(&message.payload) else {
                                continue;
                            };
                            let Some(id) = envelope["id"].as_str() else {
                                continue;
                            };
                            if seen.first_time(id) {
                                let _ = sender.send(Arc::new(envelope));
                            }
                        }
                    }
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
