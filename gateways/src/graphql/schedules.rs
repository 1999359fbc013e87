//! What a schedule shows beside its fields: the scheduler's bookkeeping (next run, run
//! count, last run, failures in a row, why it was disabled) and its recent runs; and what
//! schedules and rules may name (connections, schedules, webhooks).

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};
use domain::Kind;
use scheduler::{Clocks, Run};
use serde_json::json;

use super::queries::handler;
use super::values::{from_json, value_object};
use crate::errors::internal;
use crate::read::ItemRow;

fn run_value(run: &Run) -> serde_json::Value {
    json!({
        "jobId": run.job, "dueAt": run.due_at.to_rfc3339(),
        "startedAt": run.started_at.map(|at| at.to_rfc3339()),
        "endedAt": run.ended_at.map(|at| at.to_rfc3339()),
        "outcome": run.outcome, "message": run.message,
    })
}

pub fn types() -> Vec<Object> {
    let time = || TypeRef::named("DateTime");
    vec![
        value_object(
            "ScheduleRun",
            &[
                ("jobId", TypeRef::named_nn(TypeRef::ID)),
                ("dueAt", TypeRef::named_nn("DateTime")),
                ("startedAt", time()),
                ("endedAt", time()),
                ("outcome", TypeRef::named(TypeRef::STRING)),
                ("message", TypeRef::named(TypeRef::STRING)),
            ],
        )
        .description("One firing of a schedule: its crawl job and how it ended (`outcome` SUCCEEDED or FAILED)."),
        value_object(
            "ScheduleClock",
            &[
                ("nextRun", time()),
                ("runCount", TypeRef::named_nn(TypeRef::INT)),
                ("consecutiveFailures", TypeRef::named_nn(TypeRef::INT)),
                ("lastRun", TypeRef::named("ScheduleRun")),
                ("disabledReason", TypeRef::named(TypeRef::STRING)),
            ],
        )
        .description(
            "The scheduler's bookkeeping of a schedule. `nextRun` is null while it is disabled, deleted, or waits for \
             the schedule it runs after.",
        ),
    ]
}

fn clocks(ctx: &async_graphql::dynamic::ResolverContext<'_>) -> async_graphql::Result<Clocks> {
    Ok(Clocks::new(handler(ctx)?.store().pool().clone()))
}

fn schedule_id(ctx: &async_graphql::dynamic::ResolverContext<'_>) -> async_graphql::Result<uuid::Uuid> {
    Ok(ctx.parent_value.try_downcast_ref::<std::sync::Arc<ItemRow>>()?.id)
}

/// Refuses a schedule or rule that names what its author may not use: a schedule runs as
/// Maestro, so only someone who may change a connection may schedule its crawls, a chain
/// follows only a schedule its author can read, and a webhook is called only when its
/// author owns it. Each answers as for an id that does not exist.
pub async fn check_references(
    ctx: &async_graphql::dynamic::ResolverContext<'_>,
    kind: Kind,
    fields: &domain::Fields,
) -> async_graphql::Result<()> {
    let viewer = super::access::viewer(ctx)?;
    if let (Kind::Rule | Kind::Schedule, Some(raw)) =
        (kind, fields.get("webhook").and_then(serde_json::Value::as_str))
    {
        super::webhooks::usable(ctx, "webhook", raw).await?;
    }
    if kind != Kind::Schedule {
        return Ok(());
    }
    for (field, target, needed) in [
        ("connection", Kind::Connection, domain::Level::Write),
        ("after", Kind::Schedule, domain::Level::Read),
    ] {
        let Some(raw) = fields.get(field).and_then(serde_json::Value::as_str) else {
            continue;
        };
        let missing = || crate::errors::bad_input(field, format!("no {target} you may use has the id {raw}"));
        let id: uuid::Uuid = raw.parse().map_err(|_| missing())?;
        let allowed = match handler(ctx)?.load(target, id, None).await {
            Ok(loaded) => loaded.item.is_active() && viewer.level_in(&loaded.item.acl) >= Some(needed),
            Err(_) => false,
        };
        if !allowed {
            return Err(missing());
        }
    }
    Ok(())
}

/// The fields a kind's object has beyond its own: a schedule's clock and runs.
pub fn fields(kind: Kind) -> Vec<Field> {
    if kind != Kind::Schedule {
        return vec![];
    }
    vec![
        Field::new("clock", TypeRef::named("ScheduleClock"), |ctx| {
            FieldFuture::new(async move {
                let Some(clock) = clocks(&ctx)?.get(schedule_id(&ctx)?).await.map_err(internal)? else {
                    return Ok(None);
                };
                let value = json!({
                    "nextRun": clock.next_due.map(|at| at.to_rfc3339()),
                    "runCount": clock.run_count,
                    "consecutiveFailures": clock.consecutive_failures,
                    "lastRun": clock.last_run.as_ref().map(run_value),
                    "disabledReason": clock.disabled_reason,
                });
                Ok(Some(FieldValue::value(from_json(&value))))
            })
        })
        .description(
            "When it runs next and how its runs went; null until a scheduler has seen the schedule.",
        ),
        Field::new("runs", TypeRef::named_nn_list_nn("ScheduleRun"), |ctx| {
            FieldFuture::new(async move {
                let first = ctx
                    .args
                    .get("first")
                    .map(|value| value.i64())
                    .transpose()?
                    .unwrap_or(20);
                let runs = clocks(&ctx)?
                    .runs(schedule_id(&ctx)?, first)
                    .await
                    .map_err(internal)?;
                let values = runs
                    .iter()
                    .map(|run| FieldValue::value(from_json(&run_value(run))));
                Ok(Some(FieldValue::list(values)))
            })
        })
        .description("Its latest runs, newest first.")
        .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)).default_value(20)),
    ]
}
