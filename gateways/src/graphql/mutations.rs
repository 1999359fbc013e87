//! Mutations: one per command. Each returns the item's new state and version, and takes
//! an optional `idempotencyKey` so that a retried request changes nothing twice.

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, ResolverContext, TypeRef};
use commands::{CommandError, CommandRequest, StreamPoint};
use domain::{Command, Fields, ItemRef, Kind, Link, Protocol, Relation, TagKey};
use uuid::Uuid;

use super::access;
use super::kinds;
use super::queries::{handler, id_argument};
use crate::errors::{bad_input, command_error};
use crate::names::type_name;
use crate::read::ItemRow;

fn optional_string(ctx: &ResolverContext<'_>, name: &str) -> async_graphql::Result<Option<String>> {
    match ctx.args.get(name) {
        Some(value) if !value.is_null() => Ok(Some(value.string()?.to_string())),
        _ => Ok(None),
    }
}

/// The longest idempotency key taken: each is stored and indexed with its command.
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;

/// The request's idempotency key, if any: 1 to 200 characters (a UUID is a good one).
fn idempotency_key(ctx: &ResolverContext<'_>) -> async_graphql::Result<Option<String>> {
    let key = optional_string(ctx, "idempotencyKey")?;
    match key {
        Some(key) if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS => Err(bad_input(
            "idempotencyKey",
            format!("must have 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters; a UUID per distinct request is a good key"),
        )),
        key => Ok(key),
    }
}

/// Runs a command on the person's behalf and answers with the item as it then is.
/// Whether they may is the aggregate's decision (`Item::authorize`).
pub(super) async fn run(
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
        idempotency_key: idempotency_key(ctx)?,
        metadata: access::metadata(ctx)?,
        access: access::access(ctx)?,
    };
    let outcome = handler(ctx)?.execute(&request).await.map_err(command_error)?;
    Ok(ItemRow::from_loaded(&outcome.loaded))
}

async fn parse_input(ctx: &ResolverContext<'_>, kind: Kind) -> async_graphql::Result<Fields> {
    let input = ctx.args.try_get("input")?;
    let input = kinds::input_to_json(&input.object()?);
    let fields = Fields::parse(kind, &input).map_err(|e| command_error(CommandError::Rejected(e)))?;
    super::schedules::check_references(ctx, kind, &fields).await?;
    Ok(fields)
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
            let fields = parse_input(&ctx, kind).await?;
            Ok(Some(kinds::node(
                run(&ctx, kind, id, Command::Create(fields)).await?,
            )))
        })
    })
    .argument(input())
    .argument(
        InputValue::new("id", TypeRef::named(TypeRef::ID))
            .description("A chosen id; a new one when omitted."),
    );
    let update = Field::new(format!("update{name}"), output(), move |ctx| {
        FieldFuture::new(async move {
            let fields = parse_input(&ctx, kind).await?;
            Ok(Some(kinds::node(
                run(&ctx, kind, id_argument(&ctx, "id")?, Command::Update(fields)).await?,
            )))
        })
    })
    .argument(id())
    .argument(input());
    let delete = Field::new(format!("delete{name}"), output(), move |ctx| {
        FieldFuture::new(async move {
            Ok(Some(kinds::node(
                run(&ctx, kind, id_argument(&ctx, "id")?, Command::Delete).await?,
            )))
        })
    })
    .argument(id());
    let restore = Field::new(format!("restore{name}"), output(), move |ctx| {
        FieldFuture::new(async move {
            Ok(Some(kinds::node(
                run(&ctx, kind, id_argument(&ctx, "id")?, Command::Restore).await?,
            )))
        })
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

/// Commands on any item, whatever its kind: links, tags, reverts and grants. Items are
/// named by id alone; one the person cannot read is answered as if it did not exist.
pub fn item_fields() -> Vec<Field> {
    let node = || TypeRef::named_nn("Node");
    let id = |name: &str| InputValue::new(name, TypeRef::named_nn(TypeRef::ID));
    let relation = || InputValue::new("relation", TypeRef::named_nn("RelationKind"));
    let link = Field::new("link", node(), |ctx| {
        FieldFuture::new(async move {
            let source = access::resolve(&ctx, "sourceId").await?;
            let target = access::resolve(&ctx, "targetId").await?;
            let protocol = optional_string(&ctx, "protocol")?
                .map(|raw| Protocol::parse(&raw).map_err(|problem| bad_input("protocol", problem)))
                .transpose()?;
            let command = Command::Link(Link {
                relation: relation_argument(&ctx)?,
                target,
                protocol,
            });
            on_node(&ctx, source, command).await
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
            let source = access::resolve(&ctx, "sourceId").await?;
            let target = access::resolve(&ctx, "targetId").await?;
            let relation = relation_argument(&ctx)?;
            on_node(&ctx, source, Command::Unlink { relation, target }).await
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
            let item = access::resolve(&ctx, "id").await?;
            let value = ctx.args.try_get("value")?.string()?.to_string();
            on_node(
                &ctx,
                item,
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
            let item = access::resolve(&ctx, "id").await?;
            on_node(&ctx, item, Command::Untag { key: key(&ctx)? }).await
        })
    })
    .argument(id("id"))
    .argument(InputValue::new("key", TypeRef::named_nn(TypeRef::STRING)));
    let revert = Field::new("revert", node(), |ctx| {
        FieldFuture::new(async move {
            let item = access::resolve(&ctx, "id").await?;
            let version = ctx.args.try_get("toVersion")?.i64()?;
            if version < 1 {
                return Err(bad_input(
                    "toVersion",
                    format!("must be a version of the item (1 or more), got {version}"),
                ));
            }
            let old = handler(&ctx)?
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
            let to = Box::new(old.item);
            on_node(&ctx, item, Command::Revert { to }).await
        })
    })
    .description(
        "Brings an item back to how it was at `toVersion`, as new events: history is never rewritten.",
    )
    .argument(id("id"))
    .argument(InputValue::new("toVersion", TypeRef::named_nn(TypeRef::INT)));
    let grant = Field::new("grant", node(), |ctx| {
        FieldFuture::new(async move {
            let item = access::resolve(&ctx, "id").await?;
            let principal = id_argument(&ctx, "principal")?;
            let level = access::level_argument(&ctx, "level")?;
            on_node(&ctx, item, Command::Grant { principal, level }).await
        })
    })
    .description(
        "Gives a user or a team read, write or admin on an item (replacing what they had). Needs admin.",
    )
    .argument(id("id"))
    .argument(id("principal").description("A user id or a team id."))
    .argument(InputValue::new("level", TypeRef::named_nn("AccessLevel")));
    let revoke = Field::new("revoke", node(), |ctx| {
        FieldFuture::new(async move {
            let item = access::resolve(&ctx, "id").await?;
            let principal = id_argument(&ctx, "principal")?;
            on_node(&ctx, item, Command::Revoke { principal }).await
        })
    })
    .description("Takes away what a user or a team was granted on an item. Needs admin.")
    .argument(id("id"))
    .argument(id("principal"));
    [link, unlink, tag, untag, revert, grant, revoke]
        .into_iter()
        .map(|field| common_arguments(field, true))
        .collect()
}

/// A command on an item named by id; the answer names the item's concrete type.
pub(super) async fn on_node(
    ctx: &ResolverContext<'_>,
    item: ItemRef,
    command: Command,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    Ok(Some(kinds::any_node(
        run(ctx, item.kind, item.id, command).await?,
    )))
}
