//! Crawl jobs as GraphQL shows them: `crawlJob(id)` as a query is the job's last update,
//! as a subscription every update from the first one on, ending with the job.

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, SubscriptionField,
    SubscriptionFieldFuture, TypeRef,
};
use crawlers::{JobQueue, JobUpdate, UpdatesError};
use futures::StreamExt;
use serde_json::json;

use super::access;
use super::queries::{handler, id_argument};
use super::values::{from_json, value_object};
use crate::errors::{internal, not_found};

const UPDATE: &str = "CrawlJobUpdate";

/// The job queue, which only a gateway with NATS has.
pub fn queue<'a>(ctx: &ResolverContext<'a>) -> async_graphql::Result<&'a JobQueue> {
    ctx.data::<Option<JobQueue>>()?
        .as_ref()
        .ok_or_else(|| internal("crawl jobs go through NATS, which this gateway does not use; set NATS_URL"))
}

fn updates_error(error: UpdatesError) -> async_graphql::Error {
    match error {
        UpdatesError::NoJob(_) => not_found(error.to_string()),
        other => internal(other),
    }
}

/// The last update of job `id`, when the person may read its connection: a job of a
/// connection they cannot see is answered as unknown.
async fn last_readable(
    ctx: &ResolverContext<'_>,
    id: uuid::Uuid,
) -> async_graphql::Result<Option<JobUpdate>> {
    let Some(last) = queue(ctx)?.updates().last(id).await.map_err(updates_error)? else {
        return Ok(None);
    };
    let readable = access::may_read(handler(ctx)?, &access::sight(ctx)?, last.connection).await?;
    Ok(readable.then_some(last))
}

fn update_value(update: &JobUpdate) -> FieldValue<'static> {
    FieldValue::value(from_json(&json!({
        "jobId": update.job, "connectionId": update.connection, "state": update.state, "at": update.at,
        "task": update.task, "region": update.region, "done": update.done, "steps": update.steps,
        "step": update.step, "total": update.total, "errors": update.errors, "error": update.error,
    })))
}

pub fn types() -> (Vec<Object>, Enum) {
    let count = || TypeRef::named_nn(TypeRef::INT);
    let counts = value_object(
        "CrawlCounts",
        &[
            ("discovered", count()),
            ("updated", count()),
            ("orphaned", count()),
            ("unchanged", count()),
            ("errors", count()),
            ("failed", count()),
        ],
    )
    .description("What a crawl changed. `failed` counts the task regions where the provider failed.");
    let update = value_object(
        UPDATE,
        &[
            ("jobId", TypeRef::named_nn(TypeRef::ID)),
            ("connectionId", TypeRef::named_nn(TypeRef::ID)),
            ("state", TypeRef::named_nn("CrawlJobState")),
            ("at", TypeRef::named_nn("DateTime")),
            ("task", TypeRef::named(TypeRef::STRING)),
            ("region", TypeRef::named(TypeRef::STRING)),
            ("done", count()),
            ("steps", count()),
            ("step", TypeRef::named("CrawlCounts")),
            ("total", TypeRef::named_nn("CrawlCounts")),
            ("errors", TypeRef::named_nn_list_nn(TypeRef::STRING)),
            ("error", TypeRef::named(TypeRef::STRING)),
        ],
    )
    .description(
        "One update of a crawl job. While it runs, one as each step (a task in a region) starts, with `step` null, \
         and one as it ends, with what it changed; `done` of `steps` steps have ended, `total` is what the job \
         changed so far. The last update is SUCCEEDED or FAILED, with the first errors and, when FAILED, why.",
    );
    let state = Enum::new("CrawlJobState")
        .item("QUEUED")
        .item("RUNNING")
        .item("SUCCEEDED")
        .item("FAILED");
    (vec![counts, update], state)
}

pub fn query() -> Field {
    Field::new("crawlJob", TypeRef::named(UPDATE), |ctx| {
        FieldFuture::new(async move {
            let id = id_argument(&ctx, "id")?;
            let last = last_readable(&ctx, id).await?;
            Ok(last.as_ref().map(update_value))
        })
    })
    .description(
        "The last update of a crawl job, or null when there is none (unknown, or ended over a day ago).",
    )
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
}

pub fn subscription() -> SubscriptionField {
    SubscriptionField::new("crawlJob", TypeRef::named_nn(UPDATE), |ctx| {
        SubscriptionFieldFuture::new(async move {
            let id = id_argument(&ctx, "id")?;
            if last_readable(&ctx, id).await?.is_none() {
                return Err(updates_error(UpdatesError::NoJob(id)));
            }
            let updates = queue(&ctx)?.updates().follow(id).await.map_err(updates_error)?;
            Ok(updates.map(|update| update.map(|update| update_value(&update)).map_err(internal)))
        })
    })
    .description(
        "Every update of a crawl job (see `startCrawl`) from its first, however late one subscribes, then \
         live; completes after the job's end.",
    )
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
}
