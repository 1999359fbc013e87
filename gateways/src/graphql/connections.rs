//! What only connections have: credentials (written, never read back), a test that
//! crawls without changing anything, and crawls started on demand.

use std::collections::BTreeMap;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, TypeRef};
use commands::{CommandError, CommandRequest, Vault, VaultError};
use crawlers::{ConnectionTest, ConnectionTests, Job};
use domain::{Access, Command, Fields, Item, Kind, Level};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::queries::{handler, id_argument};
use super::values::{from_json, value_object};
use super::{access, jobs, kinds};
use crate::errors::{bad_input, coded, command_error, internal, refused};
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
            let (connection, _) = connection(&ctx, "id", Level::Write).await?;
            let Some(tests) = ctx.data::<Option<ConnectionTests>>()? else {
                return Err(coded(
                    "this gateway runs without NATS, so no crawler can test connections; set NATS_URL and start NATS with `ops/up`",
                    "UNAVAILABLE",
                ));
            };
            let test = ConnectionTest { connection, task: optional(&ctx, "task")?, region: optional(&ctx, "region")? };
            let outcome = tests.ask(&test).await.map_err(refused)?;
            let value = json!({"ok": outcome.ok, "task": outcome.task, "region": outcome.region,
                               "observed": outcome.observed, "message": outcome.message});
            Ok(Some(FieldValue::value(from_json(&value))))
        })
    })
    .description("Has a crawler process run one task in one region against the provider and say what it saw, changing nothing.")
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
