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
use crate::errors::{bad_input, coded};
use crate::feed::EventFeed;
use crate::read::{ItemRow, Sight};

/// An event, or the error that ends a subscription.
type Received = async_graphql::Result<Arc<Value>>;

/// The feed's events that pass `keep`. A subscriber too slow to keep up is told so and
/// its subscription ends: skipping ahead would leave it believing it saw everything.
fn events(
    ctx_feed: &EventFeed,
    keep: impl Fn(&Value) -> bool + Send + 'static,
) -> impl Stream<Item = Received> + Send {
    BroadcastStream::new(ctx_feed.subscribe())
        .map(|received| {
            received.map_err(|BroadcastStreamRecvError::Lagged(missed)| {
                tracing::warn!(missed, "a subscriber fell behind; closing its subscription");
                coded(
                    format!(
                        "this subscription fell {missed} events behind and was closed; subscribe again, and catch up on \
                         what you missed with the `events` query"
                    ),
                    "SUBSCRIPTION_LAGGED",
                )
            })
        })
        .scan(false, |ended, received| {
            let next = (!*ended).then_some(received);
            *ended |= next.as_ref().is_some_and(Result::is_err);
            futures::future::ready(next)
        })
        .filter(move |received| futures::future::ready(!matches!(received, Ok(envelope) if !keep(envelope))))
}

/// Only the envelopes of items `sight` may read, decided as each arrives (the feed passes
/// an event on once the read model holds the grants it was written under).
fn readable(
    envelopes: impl Stream<Item = Received> + Send,
    handler: CommandHandler,
    sight: Sight,
) -> impl Stream<Item = Received> + Send {
    envelopes.filter_map(move |received| {
        let (handler, sight) = (handler.clone(), sight.clone());
        async move {
            let envelope = match received {
                Ok(envelope) => envelope,
                Err(error) => return Some(Err(error)),
            };
            let id = envelope["stream_id"]
                .as_str()
                .and_then(|id| uuid::Uuid::parse_str(id).ok())?;
            match access::may_read(&handler, &sight, id).await {
                Ok(true) => Some(Ok(envelope)),
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
            Ok(stream.map(|received| received.map(|envelope| as_event(&envelope))))
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
            let stream = readable(stream, handler.clone(), access::sight(&ctx)?).then(move |received| {
                let handler = handler.clone();
                async move {
                    let envelope = received?;
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
