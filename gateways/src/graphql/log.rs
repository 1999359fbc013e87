//! History, time travel and the raw log: what changed, what an item looked like, and
//! every event for clients that replay.

use std::sync::Arc;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputObject, InputValue, Object, TypeRef};
use commands::{Cursor, EventFilter, StreamPoint};
use serde_json::json;

use super::access;
use super::connection::{self, Page};
use super::kinds;
use super::queries::{
    first_argument, first_value, handler, id_argument, page_arguments, page_of, page_window,
};
use super::values::{from_json, value_object, Node};
use crate::errors::{bad_input, command_error, internal};
use crate::read::{self, Change, ItemRow, Sight};
use projections::Inventory;

/// Events in a page of the log when `first` is omitted.
const EVENTS_PAGE_SIZE: i64 = 100;

fn change_type() -> Object {
    value_object(
        "Change",
        &[
            ("version", TypeRef::named_nn(TypeRef::INT)),
            ("eventId", TypeRef::named_nn(TypeRef::ID)),
            ("eventType", TypeRef::named_nn(TypeRef::STRING)),
            ("at", TypeRef::named_nn("DateTime")),
            ("actor", TypeRef::named_nn(TypeRef::STRING)),
            ("actorKind", TypeRef::named_nn(TypeRef::STRING)),
            ("source", TypeRef::named_nn(TypeRef::STRING)),
            ("patch", TypeRef::named_nn("JSON")),
            ("diff", TypeRef::named_nn(TypeRef::STRING)),
        ],
    )
}

fn event_type() -> Object {
    value_object(
        "Event",
        &[
            ("id", TypeRef::named_nn(TypeRef::ID)),
            ("position", TypeRef::named_nn(TypeRef::INT)),
            ("streamType", TypeRef::named_nn(TypeRef::STRING)),
            ("streamId", TypeRef::named_nn(TypeRef::ID)),
            ("version", TypeRef::named_nn(TypeRef::INT)),
            ("type", TypeRef::named_nn(TypeRef::STRING)),
            ("schemaVersion", TypeRef::named_nn(TypeRef::INT)),
            ("data", TypeRef::named_nn("JSON")),
            ("metadata", TypeRef::named_nn("JSON")),
            ("recordedAt", TypeRef::named_nn("DateTime")),
        ],
    )
}

fn change_node(change: Change) -> Node {
    Node::Value(from_json(&json!({
        "version": change.version, "eventId": change.event_id, "eventType": change.event_type,
        "at": change.at.to_rfc3339(), "actor": change.actor, "actorKind": change.actor_kind,
        "source": change.source, "patch": change.patch, "diff": change.diff,
    })))
}

fn event_node(event: &commands::RecordedEvent) -> Node {
    Node::Value(from_json(&json!({
        "id": event.event_id, "position": event.position, "streamType": event.stream_type,
        "streamId": event.stream_id, "version": event.version, "type": event.event_type,
        "schemaVersion": event.schema_version, "data": event.data, "metadata": event.metadata,
        "recordedAt": event.recorded_at.to_rfc3339(),
    })))
}

fn event_cursor(cursor: Cursor) -> String {
    format!("{}.{}", cursor.transaction_id, cursor.position)
}

fn parse_event_cursor(raw: &str) -> Option<Cursor> {
    let (transaction_id, position) = raw.split_once('.')?;
    Some(Cursor {
        transaction_id: transaction_id.parse().ok()?,
        position: position.parse().ok()?,
    })
}

fn history_field() -> Field {
    let field = Field::new("history", TypeRef::named_nn("ChangeConnection"), |ctx| {
        FieldFuture::new(async move {
            let id = id_argument(&ctx, "id")?;
            let (first, offset) = page_window(&ctx)?;
            let handler = handler(&ctx)?;
            if !access::may_read(handler, &access::sight(&ctx)?, id).await? {
                return Ok(Some(FieldValue::owned_any(page_of(
                    vec![],
                    first,
                    offset,
                    change_node,
                    None,
                ))));
            }
            let pool = handler.store().pool().clone();
            let changes = read::history(&pool, id, first + 1, offset).await?;
            let total: connection::Counter = Arc::new(move || {
                let pool = pool.clone();
                Box::pin(async move { read::history_count(&pool, id).await })
            });
            Ok(Some(FieldValue::owned_any(page_of(
                changes,
                first,
                offset,
                change_node,
                Some(total),
            ))))
        })
    })
    .description("The changes of an item, newest first, each with a JSON Patch and a unified diff.")
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)));
    page_arguments(field)
}

fn as_of_field() -> Field {
    Field::new("asOf", TypeRef::named("Node"), |ctx| {
        FieldFuture::new(async move {
            let id = id_argument(&ctx, "id")?;
            let point = match (
                ctx.args.get("at").filter(|v| !v.is_null()),
                ctx.args.get("version").filter(|v| !v.is_null()),
            ) {
                (Some(at), None) => {
                    let raw = at.string()?;
                    let at = chrono::DateTime::parse_from_rfc3339(raw)
                        .map_err(|_| bad_input("at", format!("`{raw}` is not an RFC 3339 instant")))?;
                    StreamPoint::At(at.into())
                }
                (None, Some(version)) => StreamPoint::Version(version.i64()?),
                _ => return Err(bad_input("at", "give exactly one of `at` and `version`")),
            };
            let handler = handler(&ctx)?;
            // Whoever may read the item now may see its past; nobody else any of it.
            if !access::may_read(handler, &access::sight(&ctx)?, id).await? {
                return Ok(None);
            }
            let Some(kind) = handler.store().stream_kind(id).await.map_err(internal)? else {
                return Ok(None);
            };
            let loaded = handler.load(kind, id, Some(point)).await.map_err(command_error)?;
            Ok((loaded.item.version > 0).then(|| kinds::any_node(ItemRow::from_loaded(&loaded))))
        })
    })
    .description(
        "The item as it was at an instant or a version, replayed from its events; null before it existed.",
    )
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("at", TypeRef::named("DateTime")))
    .argument(InputValue::new("version", TypeRef::named(TypeRef::INT)))
}

fn events_field() -> Field {
    Field::new("events", TypeRef::named_nn("EventConnection"), |ctx| {
        FieldFuture::new(async move {
            let first = first_value(&ctx, EVENTS_PAGE_SIZE)?;
            let after = match ctx.args.get("after").filter(|v| !v.is_null()) {
                Some(raw) => {
                    let raw = raw.string()?;
                    parse_event_cursor(raw)
                        .ok_or_else(|| bad_input("after", format!("`{raw}` is not an event cursor")))?
                }
                None => Cursor::default(),
            };
            let Sight::Principals(readers) = access::sight(&ctx)? else {
                return Err(access::unauthenticated());
            };
            let mut filter = EventFilter {
                readers: Some(readers),
                ..EventFilter::default()
            };
            if let Some(given) = ctx.args.get("filter").filter(|v| !v.is_null()) {
                let given = given.object()?;
                let text = |name: &str| -> async_graphql::Result<Option<String>> {
                    given
                        .get(name)
                        .filter(|v| !v.is_null())
                        .map(|v| v.string().map(str::to_string))
                        .transpose()
                };
                filter.stream_type = text("streamType")?;
                filter.event_type = text("eventType")?;
                filter.stream_id = text("streamId")?
                    .map(|raw| {
                        uuid::Uuid::parse_str(&raw)
                            .map_err(|_| bad_input("streamId", format!("`{raw}` is not a UUID")))
                    })
                    .transpose()?;
            }
            // Only as far as the inventory projector got: the grants of every event's item
            // are known there, so a page never skips an event that becomes visible later.
            let store = handler(&ctx)?.store();
            let until = store.checkpoint(Inventory::NAME).await.map_err(internal)?;
            let events = store
                .read(after, Some(until), &filter, first + 1)
                .await
                .map_err(internal)?;
            let has_next_page = events.len() as i64 > first;
            let page = Page {
                edges: events
                    .iter()
                    .take(first as usize)
                    .map(|e| (event_cursor(e.cursor()), event_node(e)))
                    .collect(),
                has_next_page,
                has_previous_page: after != Cursor::default(),
                total: None,
            };
            Ok(Some(FieldValue::owned_any(page)))
        })
    })
    .description(
        "The event log in commit order, for clients that replay it: the events of the items you may read, as far as the read models reach. Page with `after` = the last cursor.",
    )
    .argument(InputValue::new("after", TypeRef::named(TypeRef::STRING)))
    .argument(first_argument(EVENTS_PAGE_SIZE))
    .argument(InputValue::new("filter", TypeRef::named("EventFilter")))
}

pub fn schema_parts() -> (Vec<Object>, Vec<InputObject>, Vec<Field>) {
    let [change_connection, change_edge] = connection::types("Change", true);
    let [event_connection, event_edge] = connection::types("Event", false);
    let filter = InputObject::new("EventFilter")
        .field(InputValue::new("streamType", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("eventType", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("streamId", TypeRef::named(TypeRef::ID)));
    (
        vec![
            change_type(),
            event_type(),
            change_connection,
            change_edge,
            event_connection,
            event_edge,
        ],
        vec![filter],
        vec![history_field(), as_of_field(), events_field()],
    )
}
