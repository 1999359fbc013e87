//! `maestro adopt`: gives a user or team a level on every item that grants nobody
//! anything. Items written before access control existed, and what a connection without
//! grants discovered, are visible to no one through GraphQL; this hands them over, as
//! `granted` events like any other grant, so history shows who got them and when.

use commands::{CommandHandler, CommandRequest, EventStore};
use domain::{Access, ActorKind, Command, Kind, Level, Metadata};
use sqlx::PgPool;
use uuid::Uuid;

/// Grants `level` to `principal` on every ungranted item; returns how many it adopted.
pub async fn run(pool: &PgPool, principal: Uuid, level: Level) -> anyhow::Result<usize> {
    let handler = CommandHandler::new(EventStore::new(pool.clone()));
    let streams: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT stream_id, stream_type FROM events WHERE stream_version = 1 ORDER BY position",
    )
    .fetch_all(pool)
    .await?;
    let mut adopted = 0;
    for (id, stream_type) in streams {
        let Some(kind) = Kind::from_stream_type(&stream_type) else {
            continue;
        };
        let loaded = handler.load(kind, id, None).await?;
        if !loaded.item.acl.is_empty() {
            continue;
        }
        let request = CommandRequest {
            kind,
            id,
            command: Command::Grant { principal, level },
            expected_version: Some(loaded.item.version),
            idempotency_key: None,
            metadata: Metadata::new("maestro adopt", ActorKind::System),
            access: Access::Unrestricted,
        };
        // Someone granted it meanwhile: it is no longer ungranted, leave it.
        match handler.execute(&request).await {
            Ok(outcome) => adopted += usize::from(outcome.appended > 0),
            Err(commands::CommandError::Conflict { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(adopted)
}
