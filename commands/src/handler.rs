//! Command handling: load the stream, let the aggregate decide, append with the version
//! it was decided on.

use chrono::{DateTime, Utc};
use domain::{Access, Command, DomainError, Item, ItemRef, Kind, Metadata};
use uuid::Uuid;

use crate::store::{AppendOutcome, EventStore, NewEvents, RecordedEvent, StreamPoint};
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
        if let Some(key) = &request.idempotency_key {
            if let Some(AppendOutcome::AlreadyApplied { stream_id, version }) =
                self.store.idempotent_result(key).await?
            {
                return self.replayed(request, stream_id, version).await;
            }
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_execute(request).await {
                Err(CommandError::Conflict { .. })
                    if request.expected_version.is_none() && attempts < RETRIES_ON_CONFLICT =>
                {
                    continue
                }
                outcome => return outcome,
            }
        }
    }

    async fn try_execute(&self, request: &CommandRequest) -> Result<CommandOutcome, CommandError> {
        let mut loaded = self.load(request.kind, request.id, None).await?;
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
                idempotency_key: request.idempotency_key.as_deref(),
            })
            .await;
        match appended {
            Ok(AppendOutcome::Appended { recorded_at, .. }) => {
                events.iter().for_each(|event| loaded.item.apply(event));
                let stamp = Stamp {
                    at: recorded_at,
                    by: request.metadata.actor.clone(),
                };
                loaded.created.get_or_insert_with(|| stamp.clone());
                loaded.updated = Some(stamp);
                Ok(CommandOutcome {
                    loaded,
                    appended: events.len(),
                })
            }
            Ok(AppendOutcome::AlreadyApplied { stream_id, version }) => {
                self.replayed(request, stream_id, version).await
            }
            Err(StoreError::Conflict { stream_id, expected }) => {
                let actual = self.load(request.kind, request.id, None).await?.item.version;
                Err(CommandError::Conflict {
                    stream_id,
                    expected,
                    actual,
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The state a previous run of an idempotent command left the item in, shown only
    /// to someone who may give that command: a key is no way into another's item.
    async fn replayed(
        &self,
        request: &CommandRequest,
        stream_id: Uuid,
        version: i64,
    ) -> Result<CommandOutcome, CommandError> {
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
        if events
            .first()
            .is_some_and(|first| first.stream_type != kind.stream_type())
        {
            return Err(DomainError::NotFound { kind, id }.into());
        }
        LoadedItem::from_events(kind, id, &events)
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
