//! Who is asking, and what they may see. Every inventory resolver goes through here: a
//! request without a signed-in person reads nothing, and reads are narrowed in SQL to the
//! rows whose grants include the person or one of their teams.

use async_graphql::dynamic::ResolverContext;
use async_graphql::Error;
use commands::{CommandError, CommandHandler};
use domain::{Access, ActorKind, DomainError, ItemRef, Metadata, Viewer};
use uuid::Uuid;

use super::queries::handler;
use crate::errors::{coded, command_error, read_failed};
use crate::read::Sight;

pub fn unauthenticated() -> Error {
    coded(
        "sign in first: send `Authorization: Bearer <token>` with a token from `logIn`",
        "UNAUTHENTICATED",
    )
}

/// The signed-in person, or an UNAUTHENTICATED error.
pub fn viewer<'a>(ctx: &ResolverContext<'a>) -> async_graphql::Result<&'a Viewer> {
    ctx.data_opt::<Viewer>().ok_or_else(unauthenticated)
}

/// What the person's reads may fetch.
pub fn sight(ctx: &ResolverContext<'_>) -> async_graphql::Result<Sight> {
    Ok(Sight::of(viewer(ctx)?))
}

/// On whose behalf the person's commands run.
pub fn access(ctx: &ResolverContext<'_>) -> async_graphql::Result<Access> {
    Ok(Access::Viewer(viewer(ctx)?.clone()))
}

/// Who the events of the person's commands name: their user id, so that history shows
/// who did what.
pub fn metadata(ctx: &ResolverContext<'_>) -> async_graphql::Result<Metadata> {
    Ok(Metadata {
        correlation_id: Some(Uuid::now_v7()),
        ..Metadata::new(viewer(ctx)?.user.to_string(), ActorKind::User)
    })
}

/// Whether the person may read item `id` now. Its read-model grants decide; when the
/// projector has not seen the item yet (it was created a moment ago), its stream does.
pub async fn may_read(handler: &CommandHandler, sight: &Sight, id: Uuid) -> async_graphql::Result<bool> {
    if let Some(readable) = crate::read::readable(handler.store().pool(), sight, id).await? {
        return Ok(readable);
    }
    let Some(kind) = handler.store().stream_kind(id).await.map_err(read_failed_store)? else {
        return Ok(false);
    };
    let loaded = handler.load(kind, id, None).await.map_err(command_error)?;
    Ok(sight.allows(id, &loaded.item.acl))
}

fn read_failed_store(error: commands::StoreError) -> Error {
    match error {
        commands::StoreError::Database(error) => read_failed(error),
        other => crate::errors::internal(other),
    }
}

/// The item an argument names, when the person may read it; otherwise the same answer as
/// for an id that does not exist, so that ids of others' items reveal nothing.
pub async fn resolve(ctx: &ResolverContext<'_>, argument: &str) -> async_graphql::Result<ItemRef> {
    let id = super::queries::id_argument(ctx, argument)?;
    let handler = handler(ctx)?;
    let missing = || {
        command_error(CommandError::Rejected(DomainError::InvalidField {
            field: argument.to_string(),
            problem: format!("no item has the id {id}"),
        }))
    };
    if !may_read(handler, &sight(ctx)?, id).await? {
        return Err(missing());
    }
    handler.resolve(id).await.map_err(|_| missing())
}

/// An `AccessLevel` argument.
pub fn level_argument(ctx: &ResolverContext<'_>, name: &str) -> async_graphql::Result<domain::Level> {
    let level = ctx.args.try_get(name)?;
    domain::Level::parse(level.enum_name()?)
        .map_err(|error| crate::errors::bad_input(name, error.to_string()))
}
