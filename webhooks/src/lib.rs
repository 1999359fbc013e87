//! Webhooks that downstream systems can trust, per the Standard Webhooks specification:
//! every delivery carries `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! (HMAC-SHA256 with the endpoint's secret), so receivers verify it with an
//! off-the-shelf library; retries follow a schedule of more than a day under the same
//! webhook-id; an endpoint that keeps failing is disabled and its owners told.
//!
//! The queue lives in Postgres (`schema/migrations/0012_webhooks.sql`): a caller enqueues
//! in its own transaction ([`Webhooks::enqueue_in`], which needs no key) and any number of [`Worker`]s
//! deliver. Secrets and extra headers are encrypted at rest with a key only the
//! processes hold, and which addresses webhooks may reach is the caller's
//! [`AddressPolicy`], checked at every connection.
//!
//! Wiring: build one [`Webhooks`] from the pool, the 32-byte key and the policy (e.g.
//! [`allowing`] the networks of [`PRIVATE_ENDPOINTS_SETTING`] parsed with
//! [`parse_networks`]); use it for endpoints and enqueueing; run [`Worker::run`] on a
//! task in each process that should deliver. The migrations are `commands::migrate`'s.

mod address;
mod deliveries;
mod endpoints;
mod error;
mod headers;
mod schedule;
mod seal;
mod secret;
mod send;
mod worker;

use sqlx::PgPool;

pub use address::{allowing, default_policy, is_internal, parse_networks, AddressPolicy};
pub use deliveries::{Attempt, Delivery, DeliveryState, Enqueued, MAX_PAGE};
pub use endpoints::{Endpoint, EndpointUpdate, NewEndpoint};
pub use error::{WebhookError, PRIVATE_ENDPOINTS_SETTING};
pub use schedule::DeliverySettings;
pub use secret::WebhookSecret;
pub use worker::{DisabledEndpoint, OnDisabled, Worker};

use crate::seal::Sealer;

/// Endpoints and their delivery queue. Cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    pool: PgPool,
    sealer: Sealer,
    policy: AddressPolicy,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Webhooks { key: *** }")
    }
}

impl Webhooks {
    /// `key` encrypts the endpoints' secrets and headers at rest: 32 random bytes that the
    /// database never sees (losing or changing it makes every secret undecryptable).
    /// `policy` says which addresses deliveries may connect to.
    pub fn new(pool: PgPool, key: &[u8; 32], policy: AddressPolicy) -> Webhooks {
        Webhooks {
            pool,
            sealer: Sealer::new(key),
            policy,
        }
    }
}
