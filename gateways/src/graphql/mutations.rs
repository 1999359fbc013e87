//! Mutations: one per command. Each returns the item's new state and version, and takes
//! an optional `idempotencyKey` so that a retried request changes nothing twice.

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, ResolverContext, TypeRef};
use commands::{CommandError, CommandRequest, StreamPoint};
use domain::{ActorKind, Command, Fields, Kind, Link, Metadata, Protocol, Relation, TagKey};
use uuid::Uuid;

use super::kinds;
use super::queries::{handler, id_argument};
use crate::errors::{bad_input, command_error};
use crate::names::type_name;
use crate::read::ItemRow;

fn metadata() -> Metadata {
    // Who is acting comes with access control; until then every request is anonymous.
    Metadata {
        correlation_id: Some(Uuid::now_v7()),
        ..Metadata::new("anonymous", ActorKind::User)
    }
}

fn optional_string(ctx: &ResolverContext<'_>, name: &str) -> async_graphql::Result<Option<String>> {
    match ctx.args.get(name) {
        Some(value) if !value.is_null() => Ok(Some(value.string()?.to_string())),
        _ => Ok(None),
    }
}

/// Runs a command and answers with the item, as its concrete type or (for mutations
/// declared to return `Node`) as a node that names its type.
async fn execute(
    ctx: &ResolverContext<'_>,
    kind: Kind,
    id: Uuid,
    command: Command,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    let row = run(ctx, kind, id, command).await?;
    Ok(Some(kinds::node(row)))
}

async fn execute_on_node(
    ctx: &ResolverContext<'_>,
    kind: Kind,
    id: Uuid,
    command: Command,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    let row = run(ctx, kind, id, command).await?;
    Ok(Some(kinds::any_node(row)))
}

async fn run(
    ctx: &ResolverContext<'_>,
    kind: Kind,
    id: Uuid,
    command: Command,
) -> async_graphql::Result<ItemRow> {
    let expected_version = match ctx.args.get("expectedVersion") {
        Some(value) if !value.is_null() => Some(value.i64()?),
        _ => None,
    };
    let request = CommandRequest {
        kind,
        id,
        command,
        expected_version,
        idempotency_key: optional_string(ctx, "idempotencyKey")?,
        metadata: metadata(),
    };
    let outcome = handler(ctx)?.execute(&request).await.map_err(command_error)?;
    Ok(ItemRow::from_loaded(&outcome.loaded))
}

fn parse_input(ctx: &ResolverContext<'_>, kind: Kind) -> async_graphql::Result<Fields> {
    let input = ctx.args.try_get("input")?;
    let input = kinds::input_to_json(&input.object()?);
    Fields::parse(kind, &input).map_err(|e| command_error(CommandError::Rejected(e)))
}

fn common_arguments(field: Field, versioned: bool) -> Field {
    let field = field.argument(
        InputValue::new("idempotencyKey", TypeRef::named(TypeRef::STRING))
            .description("Sending the same key again returns the first result and changes nothing."),
    );
    if versioned {
        field.argument(
            InputValue::new("expectedVersion", TypeRef::named(TypeRef::INT))
                .description("Fails with CONFLICT when the item is no longer at this version."),
        )
    } else {
        field
    }
}

pub fn kind_fields(kind: Kind) -> Vec<Field> {
    let name = type_name(kind);
    let output = || TypeRef::named_nn(type_name(kind));
    let input = || InputValue::new("input", TypeRef::named_nn(format!("{name}Input")));
    let id = || InputValue::new("id", TypeRef::named_nn(TypeRef::ID));
    let create = Field::new(format!("create{name}"), output(), move |ctx| {
        FieldFuture::new(async move {
            let id = match optional_string(&ctx, "id")? {
                Some(_) => id_argument(&ctx, "id")?,
                None => Uuid::now_v7(),
            };
            let fields = parse_input(&ctx, kind)?;
            execute(&ctx, kind, id, Command::Create(fields)).await
        })
    })
    .argument(input())
    .argument(
        InputValue::new("id", TypeRef::named(TypeRef::ID))
            .description("A chosen id; a new one when omitted."),
    );
    let update = Field::new(format!("update{name}"), output(), move |ctx| {
        FieldFuture::new(async move {
            let fields = parse_input(&ctx, kind)?;
            execute(&ctx, kind, id_argument(&ctx, "id")?, Command::Update(fields)).await
        })
    })
    .argument(id())
    .argument(input());
    let delete = Field::new(format!("delete{name}"), output(), move |ctx| {
        FieldFuture::new(async move { execute(&ctx, kind, id_argument(&ctx, "id")?, Command::Delete).await })
    })
    .argument(id());
    let restore = Field::new(format!("restore{name}"), output(), move |ctx| {
        FieldFuture::new(async move { execute(&ctx, kind, id_argument(&ctx, "id")?, Command::Restore).await })
    })
    .argument(id());
    vec![
        common_arguments(create, false),
        common_arguments(update, true),
        common_arguments(delete, true),
        common_arguments(restore, true),
    ]
}

fn relation_argument(ctx: &ResolverContext<'_>) -> async_graphql::Result<Relation> {
    let value = ctx.args.try_get("relation")?;
    Relation::parse(&value.enum_name()?.to_lowercase()).map_err(|problem| bad_input("relation", problem))
}

/// Commands on any item, whatever its kind: links and tags.
pub fn item_fields() -> Vec<Field> {
    let node = || TypeRef::named_nn("Node");
    let id = |name: &str| InputValue::new(name, TypeRef::named_nn(TypeRef::ID));
    let relation = || InputValue::new("relation", TypeRef::named_nn("RelationKind"));
    let link = Field::new("link", node(), |ctx| {
        FieldFuture::new(async move {
            let handler = handler(&ctx)?;
            let source = handler
                .resolve(id_argument(&ctx, "sourceId")?)
                .await
                .map_err(command_error)?;
            let target = handler
                .resolve(id_argument(&ctx, "targetId")?)
                .await
                .map_err(command_error)?;
            let protocol = optional_string(&ctx, "protocol")?
                .map(|raw| Protocol::parse(&raw).map_err(|problem| bad_input("protocol", problem)))
                .transpose()?;
            let command = Command::Link(Link {
                relation: relation_argument(&ctx)?,
                target,
                protocol,
            });
            execute_on_node(&ctx, source.kind, source.id, command).await
        })
    })
    .argument(id("sourceId"))
    .argument(relation())
    .argument(id("targetId"))
    .argument(
        InputValue::new("protocol", TypeRef::named(TypeRef::STRING))
            .description("For DEPENDS_ON: rest, grpc, tcp, …"),
    );
    let unlink = Field::new("unlink", node(), |ctx| {
        FieldFuture::new(async move {
            let handler = handler(&ctx)?;
            let source = handler
                .resolve(id_argument(&ctx, "sourceId")?)
                .await
                .map_err(command_error)?;
            let target = handler
                .resolve(id_argument(&ctx, "targetId")?)
                .await
                .map_err(command_error)?;
            execute_on_node(
                &ctx,
                source.kind,
                source.id,
                Command::Unlink {
                    relation: relation_argument(&ctx)?,
                    target,
                },
            )
            .await
        })
    })
    .argument(id("sourceId"))
    .argument(relation())
    .argument(id("targetId"));
    let key = |ctx: &ResolverContext<'_>| -> async_graphql::Result<TagKey> {
        TagKey::parse(ctx.args.try_get("key")?.string()?).map_err(|problem| bad_input("key", problem))
    };
    let tag = Field::new("tag", node(), move |ctx| {
        FieldFuture::new(async move {
            let item = handler(&ctx)?
                .resolve(id_argument(&ctx, "id")?)
                .await
                .map_err(command_error)?;
            let value = ctx.args.try_get("value")?.string()?.to_string();
            execute_on_node(
                &ctx,
                item.kind,
                item.id,
                Command::Tag {
                    key: key(&ctx)?,
                    value,
                },
            )
            .await
        })
    })
    .argument(id("id"))
    .argument(InputValue::new("key", TypeRef::named_nn(TypeRef::STRING)))
    .argument(InputValue::new("value", TypeRef::named_nn(TypeRef::STRING)));
    let untag = Field::new("untag", node(), move |ctx| {
        FieldFuture::new(async move {
            let item = handler(&ctx)?
                .resolve(id_argument(&ctx, "id")?)
                .await
                .map_err(command_error)?;
            execute_on_node(&ctx, item.kind, item.id, Command::Untag { key: key(&ctx)? }).await
        })
    })
    .argument(id("id"))
    .argument(InputValue::new("key", TypeRef::named_nn(TypeRef::STRING)));
    let revert = Field::new("revert", node(), |ctx| {
        FieldFuture::new(async move {
            let handler = handler(&ctx)?;
            let item = handler
                .resolve(id_argument(&ctx, "id")?)
                .await
                .map_err(command_error)?;
            let version = ctx.args.try_get("toVersion")?.i64()?;
            if version < 1 {
                return Err(bad_input(
                    "toVersion",
                    format!("must be a version of the item (1 or more), got {version}"),
                ));
            }
            let old = handler
                .load(item.kind, item.id, Some(StreamPoint::Version(version)))
                .await
                .map_err(command_error)?;
            if old.item.version < version {
                let problem = format!(
                    "the item has {} versions; there is no version {version}",
                    old.item.version
                );
                return Err(bad_input("toVersion", problem));
            }
            execute_on_node(
                &ctx,
                item.kind,
                item.id,
                Command::Revert {
                    to: Box::new(old.item),
                },
            )
            .await
        })
    })
    .description(
        "Brings an item back to how it was at `toVersion`, as new events: history is never rewritten.",
    )
    .argument(id("id"))
    .argument(InputValue::new("toVersion", TypeRef::named_nn(TypeRef::INT)));
    [link, unlink, tag, untag, revert]
        .into_iter()
        .map(|field| common_arguments(field, true))
        .collect()
}
