//! Every connection gets one schedule per task of its provider, on the task's default
//! window, created by the scheduler under an id made of the connection and the task: a
//! connection saved again, or seen by several schedulers at once, never gets a second
//! one, and one a person deleted stays deleted. People change or disable them like any
//! schedule. They go with their connection: the scheduler deletes them once it is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use commands::{CommandError, CommandRequest};
use domain::{Access, ActorKind, Command, DomainError, Fields, Item, Kind, Metadata};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::error::SchedulerError;
use crate::outcomes::ACTOR;
use crate::Scheduler;

const DISCOVERY: Uuid = Uuid::from_u128(0x6d61_6573_7472_6f2d_6469_7363_6f76_6572);

/// The id of the discovery schedule of `task` on `connection`.
pub fn discovery_schedule_id(connection: Uuid, task: &str) -> Uuid {
    Uuid::new_v5(&DISCOVERY, format!("{connection}/{task}").as_bytes())
}

/// The connections (by version) whose schedules this process has already provided for.
#[derive(Clone, Default)]
pub(crate) struct Provided(Arc<Mutex<HashMap<Uuid, i64>>>);

impl Scheduler {
    pub(crate) async fn provision_discovery_schedules(&self) -> Result<(), SchedulerError> {
        for connection in projections::changes::all_active(&self.pool, Kind::Connection).await? {
            let seen = self
                .provided
                .0
                .lock()
                .ok()
                .and_then(|seen| seen.get(&connection.id).copied());
            if seen == Some(connection.version) {
                continue;
            }
            self.provide_for(&connection).await?;
            if let Ok(mut seen) = self.provided.0.lock() {
                seen.insert(connection.id, connection.version);
            }
        }
        Ok(())
    }

    /// Deletes the discovery schedules of connections that are gone (a person's own
    /// schedules of such a connection fail and disable themselves, telling their people).
    pub(crate) async fn retire_discovery_schedules(&self) -> Result<(), SchedulerError> {
        for schedule in projections::changes::schedules_of_gone_connections(&self.pool).await? {
            let fields = &schedule.fields;
            let text = |name: &str| fields.get(name).and_then(Value::as_str);
            let (Some(connection), Some(task)) = (text("connection"), text("task")) else {
                continue;
            };
            let Ok(connection) = connection.parse::<Uuid>() else {
                continue;
            };
            if schedule.id != discovery_schedule_id(connection, task) {
                continue;
            }
            let request = CommandRequest {
                kind: Kind::Schedule,
                id: schedule.id,
                command: Command::Delete,
                expected_version: Some(schedule.version),
                idempotency_key: None,
                metadata: Metadata {
                    causation_id: Some(connection),
                    ..Metadata::new(ACTOR, ActorKind::Scheduler)
                },
                access: Access::Unrestricted,
            };
            match self.handler.execute(&request).await {
                // Another scheduler, or a person, was first.
                Ok(_) | Err(CommandError::Conflict { .. }) | Err(CommandError::Rejected(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    async fn provide_for(&self, connection: &Item) -> Result<(), SchedulerError> {
        let Some(provider) = connection
            .fields
            .get("provider")
            .and_then(Value::as_str)
            .and_then(crawlers::provider)
        else {
            return Ok(());
        };
        let connection_name = connection
            .fields
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("connection");
        for task in provider.tasks() {
            let every = task.every.as_secs().max(1);
            let input = json!({
                "name": format!("{connection_name}: {}", task.name),
                "action": "crawl",
                "connection": connection.id.to_string(),
                "task": task.name,
                "interval": every,
                // Spread over a fifth of the window, so that many connections' crawls of
                // one task do not all start in the same second.
                "jitter": (every / 5).max(1),
            });
            let fields = Fields::parse(Kind::Schedule, input.as_object().expect("an object"))
                .map_err(|error| SchedulerError::Unreadable(connection.id, error))?;
            let request = CommandRequest {
                kind: Kind::Schedule,
                id: discovery_schedule_id(connection.id, task.name),
                command: Command::Provision {
                    fields,
                    grants: connection.acl.clone(),
                },
                expected_version: Some(0),
                idempotency_key: None,
                metadata: Metadata {
                    causation_id: Some(connection.id),
                    ..Metadata::new(ACTOR, ActorKind::Scheduler)
                },
                access: Access::Unrestricted,
            };
            match self.handler.execute(&request).await {
                Ok(_)
                | Err(CommandError::Rejected(DomainError::AlreadyExists { .. }))
                | Err(CommandError::Conflict { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }
}
