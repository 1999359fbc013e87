//! Subscriptions: `events(filter:)`, the raw events as the relay publishes them, and
//! `changes(kind:)`, each change of an item of a kind with the item as it then was.

use std::sync::Arc;

use async_graphql::dynamic::{
    FieldValue, InputValue, Object, Subscription, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use commands::{CommandHandler, StreamPoint};
use domain::Kind;
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use super::access;
use super::kinds;
use super::queries::handler;
use super::values::from_json;
use crate::errors::bad_input;
use crate::feed::EventFeed;
use crate::read::{ItemRow, Sight};

/// The feed's events that pass `keep`; a subscriber too slow to keep up skips ahead.
fn events(
    ctx_feed: &EventFeed,
    keep: impl Fn(&Value) -> bool + Send + 'static,
) -> impl Stream<Item = Arc<Value>> + Send {
    BroadcastStream::new(ctx_feed.subscribe()).filter_map(move |received| {
        let kept = match received {
            Ok(envelope) if keep(&envelope) => Some(envelope),
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                tracing::warn!(missed, "a subscriber fell behind and missed events");
                None
            }
        };
        futures::future::ready(kept)
    })
}

/// Only the envelopes of items `sight` may read, decided as each arrives.
fn readable(
    envelopes: impl Stream<Item = Arc<Value>> + Send,
    handler: CommandHandler,
    sight: Sight,
) -> impl Stream<Item = Arc<Value>> + Send {
    envelopes.filter_map(move |envelope| {
        let (handler, sight) = (handler.clone(), sight.clone());
        async move {
            let id = envelope["stream_id"]
                .as_str()
                .and_then(|id| uuid::Uuid::parse_str(id).ok())?;
            match access::may_read(&handler, &sight, id).await {
                Ok(true) => Some(envelope),
                Ok(false) => None,
                Err(error) => {
                    tracing::warn!(?error, "could not check access to an event; leaving it out");
                    None
                }
            }
        }
    })
}

fn as_event(envelope: &Value) -> FieldValue<'static> {
    FieldValue::value(from_json(&json!({
        "id": envelope["id"], "position": envelope["position"], "streamType": envelope["stream_type"],
        "streamId": envelope["stream_id"], "version": envelope["version"], "type": envelope["type"],
        "schemaVersion": envelope["schema_version"], "data": envelope["data"], "metadata": envelope["metadata"],
        "recordedAt": envelope["recorded_at"],
    })))
}

fn events_field() -> SubscriptionField {
    SubscriptionField::new("events", TypeRef::named_nn("Event"), |ctx| {
        SubscriptionFieldFuture::new(async move {
            let mut wanted: Vec<(&'static str, String)> = vec![];
            if let Some(filter) = ctx.args.get("filter").filter(|v| !v.is_null()) {
                let filter = filter.object()?;
                for (argument, key) in [
                    ("streamType", "stream_type"),
                    ("eventType", "type"),
                    ("streamId", "stream_id"),
                ] {
                    if let Some(value) = filter.get(argument).filter(|v| !v.is_null()) {
                        wanted.push((key, value.string()?.to_string()));
                    }
                }
            }
            let feed = ctx.data::<EventFeed>()?;
            let stream = events(feed, move |envelope| {
                wanted.iter().all(|(key, value)| envelope[*key] == **value)
            });
            let stream = readable(stream, handler(&ctx)?.clone(), access::sight(&ctx)?);
            Ok(stream.map(|envelope| Ok(as_event(&envelope))))
        })
    })
    .description(
        "Every event as the relay publishes it, optionally only of a stream type, an event type or an item.",
    )
    .argument(InputValue::new("filter", TypeRef::named("EventFilter")))
}

/// One change of an item, with the item as it was right after it.
struct ItemChange {
    envelope: Arc<Value>,
    item: Option<ItemRow>,
}

fn change_type() -> Object {
    let base = Object::new("ItemChange");
    let read = |name: &'static str, key: &'static str, type_ref: TypeRef| {
        async_graphql::dynamic::Field::new(name, type_ref, move |ctx| {
            async_graphql::dynamic::FieldFuture::new(async move {
                let change = ctx.parent_value.try_downcast_ref::<ItemChange>()?;
                Ok(Some(FieldValue::value(from_json(&change.envelope[key]))))
            })
        })
    };
    base.field(read("id", "stream_id", TypeRef::named_nn(TypeRef::ID)))
        .field(read("kind", "stream_type", TypeRef::named_nn(TypeRef::STRING)))
        .field(read("version", "version", TypeRef::named_nn(TypeRef::INT)))
        .field(read("eventType", "type", TypeRef::named_nn(TypeRef::STRING)))
        .field(read("at", "recorded_at", TypeRef::named_nn("DateTime")))
        .field(async_graphql::dynamic::Field::new(
            "item",
            TypeRef::named("Node"),
            |ctx| {
                async_graphql::dynamic::FieldFuture::new(async move {
                    let change = ctx.parent_value.try_downcast_ref::<ItemChange>()?;
                    Ok(change.item.clone().map(kinds::any_node))
                })
            },
        ))
}

fn changes_field() -> SubscriptionField {
    SubscriptionField::new("changes", TypeRef::named_nn("ItemChange"), |ctx| {
        SubscriptionFieldFuture::new(async move {
            let raw = ctx.args.try_get("kind")?.string()?.to_string();
            let kind = Kind::from_stream_type(&raw).ok_or_else(|| {
                let known: Vec<_> = Kind::ALL.iter().map(|k| k.stream_type()).collect();
                bad_input(
                    "kind",
                    format!("`{raw}` is not a kind; use one of: {}", known.join(", ")),
                )
            })?;
            let handler = handler(&ctx)?.clone();
            let feed = ctx.data::<EventFeed>()?;
            let stream = events(feed, move |envelope| {
                envelope["stream_type"] == kind.stream_type()
            });
            let stream = readable(stream, handler.clone(), access::sight(&ctx)?).then(move |envelope| {
                let handler = handler.clone();
                async move {
                    let id = envelope["stream_id"]
                        .as_str()
                        .and_then(|id| uuid::Uuid::parse_str(id).ok());
                    let version = envelope["version"].as_i64();
                    let item = match (id, version) {
                        (Some(id), Some(version)) => handler
                            .load(kind, id, Some(StreamPoint::Version(version)))
                            .await
                            .ok()
                            .map(|loaded| ItemRow::from_loaded(&loaded)),
                        _ => None,
                    };
                    Ok(FieldValue::owned_any(ItemChange { envelope, item }))
                }
            });
            Ok(stream)
        })
    })
    .description(
        "Each change of an item of `kind` (server, application, …), with the item as it was right after.",
    )
    .argument(InputValue::new("kind", TypeRef::named_nn(TypeRef::STRING)))
}

pub fn subscription() -> (Subscription, Object) {
    (
        Subscription::new("Subscription")
            .field(events_field())
            .field(changes_field()),
        change_type(),
    )
}
