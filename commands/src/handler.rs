//! Command handling: load the stream, let the aggregate decide, append with the version
//! it was decided on.

use chrono::{DateTime, Utc};
use domain::{Access, Command, DomainError, Event, Item, ItemRef, Kind, Metadata};
use uuid::Uuid;

use crate::store::{AppendOutcome, EventStore, IdempotencyKey, NewEvents, RecordedEvent, StreamPoint};
use crate::{CommandError, StoreError};

/// One command for one item, with what the caller knows about it.
#[derive(Debug, Clone)]
pub struct CommandRequest {
    pub kind: Kind,
    pub id: Uuid,
    pub command: Command,
    /// The version the caller saw. `None` means "whatever it is now": the handler then
    /// retries on a concurrent change instead of reporting a conflict.
    pub expected_version: Option<i64>,
    pub idempotency_key: Option<String>,
    pub metadata: Metadata,
    /// On whose behalf: the item's grants bind a person, not Maestro itself.
    pub access: Access,
}

/// When and by whom an item was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub at: DateTime<Utc>,
    pub by: String,
}

/// An item as its stream tells it: its state, and its first and last change.
#[derive(Debug, Clone)]
pub struct LoadedItem {
    pub item: Item,
    pub created: Option<Stamp>,
    pub updated: Option<Stamp>,
}

impl LoadedItem {
    fn from_events(kind: Kind, id: Uuid, events: &[RecordedEvent]) -> Result<LoadedItem, CommandError> {
        let mut item = Item::new(kind, id);
        for recorded in events {
            item.apply(&recorded.event()?);
        }
        let stamp = |event: &RecordedEvent| Stamp {
            at: event.recorded_at,
            by: event.metadata().actor,
        };
        Ok(LoadedItem {
            item,
            created: events.first().map(stamp),
            updated: events.last().map(stamp),
        })
    }
}

/// The item after the command, and how many events it appended (0 when nothing changed
/// or the idempotency key had been used).
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    pub loaded: LoadedItem,
    pub appended: usize,
}

impl CommandOutcome {
    pub fn item(&self) -> &Item {
        &self.loaded.item
    }
}

/// Concurrent writers to one stream without an expected version retry this often: each
/// round lets at least one of them through.
const RETRIES_ON_CONFLICT: usize = 10;

#[derive(Debug, Clone)]
pub struct CommandHandler {
    store: EventStore,
}

impl CommandHandler {
    pub fn new(store: EventStore) -> Self {
        CommandHandler { store }
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    pub async fn execute(&self, request: &CommandRequest) -> Result<CommandOutcome, CommandError> {
        let idempotency = request.idempotency_key.as_ref().map(|key| IdempotencyKey {
            actor: request.metadata.actor.clone(),
            key: key.clone(),
            request: request_digest(request),
        });
        if let Some(key) = &idempotency {
            if let Some(outcome) = self.store.idempotent_result(key).await? {
                return self.replayed(request, key, outcome).await;
            }
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            // A create is decided on an empty stream without reading it: a new id's stream
            // is empty, and when it is not, the append conflicts and the next attempt reads it.
            let assume_new = attempts == 1
                && matches!(request.command, Command::Create(_))
                && request.expected_version.is_none_or(|expected| expected == 0);
            match self.try_execute(request, idempotency.as_ref(), assume_new).await {
                Err(CommandError::Conflict { .. })
                    if request.expected_version.is_none() && attempts < RETRIES_ON_CONFLICT =>
                {
                    continue
                }
                outcome => return outcome,
            }
        }
    }

    async fn try_execute(
        &self,
        request: &CommandRequest,
        idempotency: Option<&IdempotencyKey>,
        assume_new: bool,
    ) -> Result<CommandOutcome, CommandError> {
        let loaded = if assume_new {
            LoadedItem {
                item: Item::new(request.kind, request.id),
                created: None,
                updated: None,
            }
        } else {
            match self.load(request.kind, request.id, None).await {
                // The id is another kind's: taken, which only its readers may learn.
                Err(CommandError::Rejected(DomainError::NotFound { kind, id }))
                    if matches!(request.command, Command::Create(_)) =>
                {
                    return Err(match request.access {
                        Access::Unrestricted => DomainError::AlreadyExists { kind, id },
                        Access::Viewer(_) => DomainError::unusable_id(),
                    }
                    .into())
                }
                loaded => loaded?,
            }
        };
        let version = loaded.item.version;
        if let Some(expected) = request.expected_version {
            if expected != version {
                return Err(CommandError::Conflict {
                    stream_id: request.id,
                    expected,
                    actual: version,
                });
            }
        }
        let events = loaded.item.handle_as(&request.command, &request.access)?;
        if events.is_empty() {
            return Ok(CommandOutcome { loaded, appended: 0 });
        }
        let appended = self
            .store
            .append(NewEvents {
                kind: request.kind,
                stream_id: request.id,
                expected_version: version,
                events: &events,
                metadata: &request.metadata,
                idempotency,
            })
            .await;
        match (appended, idempotency) {
            (Ok(AppendOutcome::Appended { recorded_at, .. }), _) => {
                Ok(applied(loaded, &events, recorded_at, request))
            }
            (Ok(outcome), Some(key)) => self.replayed(request, key, outcome).await,
            (Ok(_), None) => Err(StoreError::Database(sqlx::Error::Protocol(
                "an append without an idempotency key was reported as a replay".into(),
            ))
            .into()),
            (Err(StoreError::Conflict { stream_id, expected }), _) => {
                let actual = self.load(request.kind, request.id, None).await?.item.version;
                Err(CommandError::Conflict {
                    stream_id,
                    expected,
                    actual,
                })
            }
            (Err(error), _) => Err(error.into()),
        }
    }

    /// Runs commands on distinct items at once: one read of all their streams and one
    /// commit for all their events, instead of a round trip and a commit each — what a
    /// crawl of thousands of items needs. Each command succeeds or fails on its own. When
    /// a concurrent writer changed one of the items first, the batch falls back to running
    /// each command alone (with its usual retries). Commands with an expected version or
    /// an idempotency key, or naming an item twice, run alone too.
    pub async fn execute_batch(
        &self,
        requests: &[CommandRequest],
    ) -> Vec<Result<CommandOutcome, CommandError>> {
        let ids: std::collections::HashSet<Uuid> = requests.iter().map(|request| request.id).collect();
        let batchable = ids.len() == requests.len()
            && requests
                .iter()
                .all(|request| request.expected_version.is_none() && request.idempotency_key.is_none());
        if batchable {
            if let Some(outcomes) = self.try_execute_batch(requests).await {
                return outcomes;
            }
        }
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            outcomes.push(self.execute(request).await);
        }
        outcomes
    }

    /// `None` when the batch met a concurrent change or a failure and must run command by
    /// command.
    async fn try_execute_batch(
        &self,
        requests: &[CommandRequest],
    ) -> Option<Vec<Result<CommandOutcome, CommandError>>> {
        let ids: Vec<Uuid> = requests.iter().map(|request| request.id).collect();
        // Any failure of the batch (a concurrent change, Postgres failing) is left to the
        // command-by-command path, which reports it per command.
        let mut streams = self.store.load_streams(&ids).await.ok()?;
        let mut decided = vec![];
        for request in requests {
            let events = streams.remove(&request.id).unwrap_or_default();
            let decision = loaded_as(request.kind, request.id, &events).and_then(|loaded| {
                let events = loaded.item.handle_as(&request.command, &request.access)?;
                Ok((loaded, events))
            });
            decided.push(decision);
        }
        let new_events: Vec<NewEvents<'_>> = requests
            .iter()
            .zip(&decided)
            .filter_map(|(request, decision)| match decision {
                Ok((loaded, events)) if !events.is_empty() => Some(NewEvents {
                    kind: request.kind,
                    stream_id: request.id,
                    expected_version: loaded.item.version,
                    events,
                    metadata: &request.metadata,
                    idempotency: None,
                }),
                _ => None,
            })
            .collect();
        let recorded_at = if new_events.is_empty() {
            None
        } else {
            Some(self.store.append_batch(&new_events).await.ok()?)
        };
        Some(
            requests
                .iter()
                .zip(decided)
                .map(|(request, decision)| {
                    let (loaded, events) = decision?;
                    Ok(match recorded_at {
                        Some(at) if !events.is_empty() => applied(loaded, &events, at, request),
                        _ => CommandOutcome { loaded, appended: 0 },
                    })
                })
                .collect(),
        )
    }

    /// The state a previous run of an idempotent command left the item in, shown only
    /// to someone who may give that command: a key is no way into another's item.
    async fn replayed(
        &self,
        request: &CommandRequest,
        key: &IdempotencyKey,
        outcome: AppendOutcome,
    ) -> Result<CommandOutcome, CommandError> {
        let AppendOutcome::AlreadyApplied { stream_id, version } = outcome else {
            return Err(CommandError::KeyReused { key: key.key.clone() });
        };
        let loaded = self
            .load(request.kind, stream_id, Some(StreamPoint::Version(version)))
            .await?;
        loaded.item.authorize(&request.command, &request.access)?;
        Ok(CommandOutcome { loaded, appended: 0 })
    }

    /// The item as of a point in its stream (all of it when `until` is `None`): time
    /// travel is this replay. An id whose stream holds another kind is "not found" for
    /// this kind.
    pub async fn load(
        &self,
        kind: Kind,
        id: Uuid,
        until: Option<StreamPoint>,
    ) -> Result<LoadedItem, CommandError> {
        let events = self.store.load_stream(id, until).await?;
        loaded_as(kind, id, &events)
    }

    /// Finds the kind of the item `id`, for commands (links) that name another item.
    pub async fn resolve(&self, id: Uuid) -> Result<ItemRef, CommandError> {
        match self.store.stream_kind(id).await? {
            Some(kind) => Ok(ItemRef { kind, id }),
            None => Err(CommandError::Rejected(DomainError::InvalidField {
                field: "target".into(),
                problem: format!("no item has the id {id}"),
            })),
        }
    }
}

/// An item of `kind` from its stream; an id whose stream holds another kind is "not
/// found" for this kind.
fn loaded_as(kind: Kind, id: Uuid, events: &[RecordedEvent]) -> Result<LoadedItem, CommandError> {
    if events
        .first()
        .is_some_and(|first| first.stream_type != kind.stream_type())
    {
        return Err(DomainError::NotFound { kind, id }.into());
    }
    LoadedItem::from_events(kind, id, events)
}

/// The item once `events`, appended for `request` at `recorded_at`, are folded in.
fn applied(
    mut loaded: LoadedItem,
    events: &[Event],
    recorded_at: DateTime<Utc>,
    request: &CommandRequest,
) -> CommandOutcome {
    events.iter().for_each(|event| loaded.item.apply(event));
    let stamp = Stamp {
        at: recorded_at,
        by: request.metadata.actor.clone(),
    };
    loaded.created.get_or_insert_with(|| stamp.clone());
    loaded.updated = Some(stamp);
    CommandOutcome {
        loaded,
        appended: events.len(),
    }
}

/// What an idempotency key remembers of its request: the item and what was asked of it. A
/// create's id is left out, since a retry of a create that names no id gets a fresh one;
/// the digest is SHA-256 of a canonical text, stable across processes.
fn request_digest(request: &CommandRequest) -> String {
    use sha2::{Digest, Sha256};
    let id = match request.command {
        Command::Create(_) => None,
        _ => Some(request.id),
    };
    let asked = format!(
        "{}|{:?}|{:?}|{:?}",
        request.kind, id, request.expected_version, request.command
    );
    Sha256::digest(asked.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
