//! What only connections have: credentials (written, never read back), a test that
//! crawls without changing anything, and crawls started on demand.

use std::collections::BTreeMap;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, TypeRef};
use commands::{CommandError, CommandRequest, Vault, VaultError};
use crawlers::{CrawlRequest, Credentials, Job, Reach};
use domain::{Access, Command, Fields, Item, Kind, Level};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::queries::{handler, id_argument};
use super::values::{from_json, value_object};
use super::{access, jobs, kinds};
use crate::errors::{bad_input, command_error, internal};
use crate::read::ItemRow;

pub(super) fn optional(ctx: &ResolverContext<'_>, name: &str) -> async_graphql::Result<Option<String>> {
    match ctx.args.get(name) {
        Some(value) if !value.is_null() => Ok(Some(value.string()?.to_string())),
        _ => Ok(None),
    }
}

/// The connection an argument names, when the person has `needed` on it.
pub(super) async fn connection(
    ctx: &ResolverContext<'_>,
    argument: &str,
    needed: Level,
) -> async_graphql::Result<(Uuid, Item)> {
    let id = id_argument(ctx, argument)?;
    let loaded = handler(ctx)?
        .load(Kind::Connection, id, None)
        .await
        .map_err(command_error)?;
    if loaded.item.version == 0 {
        return Err(command_error(CommandError::Rejected(
            domain::DomainError::NotFound {
                kind: Kind::Connection,
                id,
            },
        )));
    }
    loaded
        .item
        .require(&access::access(ctx)?, needed)
        .map_err(|e| command_error(e.into()))?;
    Ok((id, loaded.item))
}

pub(super) fn vault_error(error: VaultError) -> async_graphql::Error {
    match error {
        VaultError::NoKey | VaultError::BadKey(_) => internal(error),
        other => bad_input("credentials", other.to_string()),
    }
}

fn set_credentials() -> Field {
    Field::new("setConnectionCredentials", TypeRef::named_nn("Connection"), |ctx| {
        FieldFuture::new(async move {
            let (id, item) = connection(&ctx, "id", Level::Admin).await?;
            let given = ctx.args.try_get("credentials")?.deserialize::<BTreeMap<String, Value>>()?;
            let credentials: BTreeMap<String, String> = given
                .into_iter()
                .map(|(name, value)| match value {
                    Value::String(text) => Ok((name, text)),
                    _ => Err(bad_input("credentials", format!("`{name}` must be a string"))),
                })
                .collect::<Result<_, _>>()?;
            let reference = ctx.data::<Vault>()?.store(&item, &credentials).await.map_err(vault_error)?;
            let fields = Fields::parse(Kind::Connection, &Map::from_iter([("credentials_ref".to_string(), Value::String(reference.to_string()))]))
                .map_err(|error| command_error(error.into()))?;
            // `credentials_ref` is Maestro's own field: the vault sets it, on behalf of the
            // admin checked above (the events still name them).
            let request = CommandRequest {
                kind: Kind::Connection,
                id,
                command: Command::Update(fields),
                expected_version: None,
                idempotency_key: None,
                metadata: access::metadata(&ctx)?,
                access: Access::Unrestricted,
            };
            let outcome = handler(&ctx)?.execute(&request).await.map_err(command_error)?;
            Ok(Some(kinds::node(ItemRow::from_loaded(&outcome.loaded))))
        })
    })
    .description("Stores a connection's credentials encrypted. They are never readable back; the connection shows only a reference.")
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("credentials", TypeRef::named_nn("JSON")).description("An object of strings, e.g. {accessKeyId, secretAccessKey}."))
}

fn test_connection() -> Field {
    Field::new("testConnection", TypeRef::named_nn("ConnectionTest"), |ctx| {
        FieldFuture::new(async move {
            let (id, item) = connection(&ctx, "id", Level::Write).await?;
            let provider_name = item.fields.get("provider").and_then(Value::as_str).unwrap_or_default();
            let provider = crawlers::provider(provider_name)
                .ok_or_else(|| bad_input("id", format!("Maestro cannot crawl `{provider_name}` yet")))?;
            let task = match optional(&ctx, "task")? {
                Some(task) => provider.task(&task).map_err(|e| bad_input("task", e.to_string()))?,
                None => &provider.tasks()[0],
            };
            let region = match optional(&ctx, "region")? {
                Some(region) => region,
                None => item.fields.get("regions").and_then(|regions| regions.get(0)).and_then(Value::as_str).unwrap_or("default").to_string(),
            };
            let credentials = match ctx.data::<Vault>()?.load(&item).await {
                Ok(values) => Credentials::new(values),
                Err(VaultError::Missing(_)) => Credentials::default(),
                Err(error) => return Err(vault_error(error)),
            };
            let options = item.fields.get("options").and_then(Value::as_object).cloned().unwrap_or_default();
            let reach = ctx.data::<Reach>()?;
            let request = CrawlRequest { connection: id, options: &options, credentials: &credentials, task: task.name, region: &region, reach };
            let result = match provider.crawl(request).await {
                Ok(observations) => json!({"ok": true, "task": task.name, "region": region, "observed": observations.len(),
                                           "message": format!("{} answered: {} items seen", task.name, observations.len())}),
                Err(error) => json!({"ok": false, "task": task.name, "region": region, "observed": 0, "message": error.to_string()}),
            };
            Ok(Some(FieldValue::value(from_json(&result))))
        })
    })
    .description("Runs one task in one region against the provider and says what it saw, changing nothing.")
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("task", TypeRef::named(TypeRef::STRING)))
    .argument(InputValue::new("region", TypeRef::named(TypeRef::STRING)))
}

fn start_crawl() -> Field {
    Field::new("startCrawl", TypeRef::named_nn("CrawlJob"), |ctx| {
        FieldFuture::new(async move {
            let (connection, _) = connection(&ctx, "connectionId", Level::Write).await?;
            let job = Job { id: Uuid::now_v7(), connection, task: optional(&ctx, "task")?, region: optional(&ctx, "region")? };
            jobs::queue(&ctx)?.submit(&job).await.map_err(internal)?;
            Ok(Some(FieldValue::value(from_json(&json!({"id": job.id, "connectionId": connection, "task": job.task, "region": job.region})))))
        })
    })
    .description("Queues a crawl for a crawler process. Follow its progress and end with the subscription `crawlJob(id:)`, or ask its last state with the query `crawlJob(id:)`; each task's last state also shows on the connection.")
    .argument(InputValue::new("connectionId", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("task", TypeRef::named(TypeRef::STRING)))
    .argument(InputValue::new("region", TypeRef::named(TypeRef::STRING)))
}

pub fn types() -> Vec<Object> {
    vec![
        value_object(
            "ConnectionTest",
            &[
                ("ok", TypeRef::named_nn(TypeRef::BOOLEAN)),
                ("task", TypeRef::named_nn(TypeRef::STRING)),
                ("region", TypeRef::named_nn(TypeRef::STRING)),
                ("observed", TypeRef::named_nn(TypeRef::INT)),
                ("message", TypeRef::named_nn(TypeRef::STRING)),
            ],
        ),
        value_object(
            "CrawlJob",
            &[
                ("id", TypeRef::named_nn(TypeRef::ID)),
                ("connectionId", TypeRef::named_nn(TypeRef::ID)),
                ("task", TypeRef::named(TypeRef::STRING)),
                ("region", TypeRef::named(TypeRef::STRING)),
            ],
        ),
    ]
}

pub fn mutations() -> Vec<Field> {
    vec![set_credentials(), test_connection(), start_crawl()]
}
