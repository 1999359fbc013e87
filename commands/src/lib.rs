//! The write side of Maestro: the Postgres event store, command handling over it, and
//! the relay that publishes the log to NATS JetStream.
//!
//! Also the pieces every reader of the log shares (relay and projectors alike): the
//! gap-safe cursor, leases that let one process at a time hold a role, and wake-ups.

mod error;
mod handler;
mod lease;
mod relay;
mod store;
mod vault;
mod wakeup;

pub use error::{CommandError, StoreError};
pub use handler::{CommandHandler, CommandOutcome, CommandRequest, LoadedItem, Stamp};
pub use lease::Lease;
pub use relay::{event_subject, Relay, RelayError, EVENTS_STREAM};
pub use store::{
    AppendOutcome, Cursor, EventFilter, EventStore, IdempotencyKey, NewEvents, RecordedEvent, StreamPoint,
};
pub use vault::{Vault, VaultError, KEY_VARIABLE as CREDENTIALS_KEY_VARIABLE};
pub use wakeup::Wakeup;

/// Applies the event-log migrations in `schema/migrations`.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("../schema/migrations")
        .run(pool)
        .await
        .map_err(|e| StoreError::Migration(e.to_string()))
}
