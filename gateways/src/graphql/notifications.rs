//! Notifications in GraphQL: a person's own, read and unread, live as they come, and the
//! channels they want per topic. Nobody reads another person's notifications.

use std::time::Duration;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputValue, Object, SubscriptionField, SubscriptionFieldFuture,
    TypeRef,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use identity::{Channels, Identity, Notification, Topic};
use serde_json::json;

use super::access::viewer;
use super::values::{from_json, value_object};
use crate::errors::{bad_input, identity_error};

/// How often a live subscription looks for new notifications.
const LIVE_POLL: Duration = Duration::from_secs(1);

fn topic_name(topic: Topic) -> String {
    topic.as_str().to_uppercase()
}

fn notification_value(notification: &Notification) -> serde_json::Value {
    json!({
        "id": notification.id,
        "topic": topic_name(notification.topic),
        "title": notification.title,
        "body": notification.body,
        "itemKind": notification.item.as_ref().map(|(kind, _)| kind),
        "itemId": notification.item.as_ref().map(|(_, id)| id),
        "createdAt": notification.created_at.to_rfc3339(),
        "readAt": notification.read_at.map(|at| at.to_rfc3339()),
    })
}

fn channels_value(topic: Topic, channels: Channels) -> serde_json::Value {
    json!({"topic": topic_name(topic), "inApp": channels.in_app, "email": channels.email, "webhook": channels.webhook})
}

pub fn types() -> (Vec<Object>, Enum) {
    let topics = Topic::ALL
        .into_iter()
        .fold(Enum::new("NotificationTopic"), |topics, topic| {
            topics.item(topic_name(topic))
        })
        .description("What a notification is about; each person picks its channels per topic.");
    let objects = vec![
        value_object(
            "Notification",
            &[
                ("id", TypeRef::named_nn(TypeRef::ID)),
                ("topic", TypeRef::named_nn("NotificationTopic")),
                ("title", TypeRef::named_nn(TypeRef::STRING)),
                ("body", TypeRef::named_nn(TypeRef::STRING)),
                ("itemKind", TypeRef::named(TypeRef::STRING)),
                ("itemId", TypeRef::named(TypeRef::ID)),
                ("createdAt", TypeRef::named_nn("DateTime")),
                ("readAt", TypeRef::named("DateTime")),
            ],
        )
        .description("Something Maestro told you: a crawl that failed, a schedule it disabled, …"),
        value_object(
            "NotificationChannels",
            &[
                ("topic", TypeRef::named_nn("NotificationTopic")),
                ("inApp", TypeRef::named_nn(TypeRef::BOOLEAN)),
                ("email", TypeRef::named_nn(TypeRef::BOOLEAN)),
                ("webhook", TypeRef::named(TypeRef::ID)),
            ],
        )
        .description("Where you hear about a topic: in the product (the `notifications` query and subscription), by e-mail, and through one of your webhooks (posted as `notification.<topic>`)."),
    ];
    (objects, topics)
}

fn list(notifications: &[Notification]) -> FieldValue<'static> {
    FieldValue::list(
        notifications
            .iter()
            .map(|notification| FieldValue::value(from_json(&notification_value(notification)))),
    )
}

async fn channels_list(identity: &Identity, user: uuid::Uuid) -> async_graphql::Result<FieldValue<'static>> {
    let channels = identity
        .notification_channels(user)
        .await
        .map_err(identity_error)?;
    Ok(FieldValue::list(channels.into_iter().map(|(topic, channels)| {
        FieldValue::value(from_json(&channels_value(topic, channels)))
    })))
}

pub fn queries() -> Vec<Field> {
    vec![
        Field::new(
            "notifications",
            TypeRef::named_nn_list_nn("Notification"),
            |ctx| {
                FieldFuture::new(async move {
                    let viewer = viewer(&ctx)?;
                    let unread_only = ctx
                        .args
                        .get("unreadOnly")
                        .map(|v| v.boolean())
                        .transpose()?
                        .unwrap_or(false);
                    let first = ctx.args.get("first").map(|v| v.i64()).transpose()?.unwrap_or(20);
                    if !(1..=500).contains(&first) {
                        return Err(bad_input("first", "must be between 1 and 500"));
                    }
                    let before = match ctx.args.get("before").filter(|v| !v.is_null()) {
                        None => None,
                        Some(raw) => Some(
                            DateTime::parse_from_rfc3339(raw.string()?)
                                .map_err(|_| bad_input("before", "is not an RFC 3339 instant"))?
                                .with_timezone(&Utc),
                        ),
                    };
                    let identity = ctx.data::<Identity>()?;
                    let found = identity
                        .notifications(viewer.user, unread_only, first, before)
                        .await
                        .map_err(identity_error)?;
                    Ok(Some(list(&found)))
                })
            },
        )
        .description(
            "Your notifications, newest first. Page back with `before` = the last one's `createdAt`.",
        )
        .argument(InputValue::new("unreadOnly", TypeRef::named(TypeRef::BOOLEAN)).default_value(false))
        .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)).default_value(20))
        .argument(InputValue::new("before", TypeRef::named("DateTime"))),
        Field::new("unreadNotifications", TypeRef::named_nn(TypeRef::INT), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let count = ctx
                    .data::<Identity>()?
                    .unread_notifications(viewer.user)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(FieldValue::value(count)))
            })
        })
        .description("How many of your notifications are unread."),
        Field::new(
            "notificationChannels",
            TypeRef::named_nn_list_nn("NotificationChannels"),
            |ctx| {
                FieldFuture::new(async move {
                    let viewer = viewer(&ctx)?;
                    Ok(Some(channels_list(ctx.data::<Identity>()?, viewer.user).await?))
                })
            },
        )
        .description("Where you hear about each topic: your choice, or the default where you made none."),
    ]
}

pub fn mutations() -> Vec<Field> {
    vec![
        Field::new("markNotificationsRead", TypeRef::named_nn(TypeRef::INT), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let ids = match ctx.args.get("ids").filter(|v| !v.is_null()) {
                    None => None,
                    Some(ids) => Some(
                        ids.list()?
                            .iter()
                            .map(|id| {
                                id.string()?
                                    .parse()
                                    .map_err(|_| bad_input("ids", "holds something that is not an id"))
                            })
                            .collect::<async_graphql::Result<Vec<uuid::Uuid>>>()?,
                    ),
                };
                let marked = ctx
                    .data::<Identity>()?
                    .mark_notifications_read(viewer.user, ids.as_deref())
                    .await
                    .map_err(identity_error)?;
                Ok(Some(FieldValue::value(marked as i64)))
            })
        })
        .description("Marks your notifications read: those named, or all when `ids` is omitted. Returns how many changed.")
        .argument(InputValue::new("ids", TypeRef::named_nn_list(TypeRef::ID))),
        Field::new("setNotificationChannels", TypeRef::named_nn_list_nn("NotificationChannels"), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let topic = ctx.args.try_get("topic")?.enum_name()?.to_lowercase();
                let topic = Topic::parse(&topic).map_err(identity_error)?;
                let webhook = match ctx.args.get("webhook").filter(|value| !value.is_null()) {
                    Some(raw) => Some(super::webhooks::usable(&ctx, "webhook", raw.string()?).await?),
                    None => None,
                };
                let channels = Channels {
                    in_app: ctx.args.try_get("inApp")?.boolean()?,
                    email: ctx.args.try_get("email")?.boolean()?,
                    webhook,
                };
                let identity = ctx.data::<Identity>()?;
                identity
                    .set_notification_channels(viewer.user, topic, channels)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(channels_list(identity, viewer.user).await?))
            })
        })
        .description("Chooses where you hear about a topic; `webhook` is one of your webhooks, or none when omitted. Returns all your channels.")
        .argument(InputValue::new("topic", TypeRef::named_nn("NotificationTopic")))
        .argument(InputValue::new("inApp", TypeRef::named_nn(TypeRef::BOOLEAN)))
        .argument(InputValue::new("email", TypeRef::named_nn(TypeRef::BOOLEAN)))
        .argument(InputValue::new("webhook", TypeRef::named(TypeRef::ID))),
    ]
}

pub fn subscription() -> SubscriptionField {
    SubscriptionField::new("notifications", TypeRef::named_nn("Notification"), |ctx| {
        SubscriptionFieldFuture::new(async move {
            let user = viewer(&ctx)?.user;
            let identity = ctx.data::<Identity>()?.clone();
            let since = Utc::now();
            let batches = futures::stream::unfold((identity, since), move |(identity, since)| async move {
                loop {
                    tokio::time::sleep(LIVE_POLL).await;
                    match identity.notifications_after(user, since).await {
                        Ok(found) if found.is_empty() => continue,
                        Ok(found) => {
                            let next = found.last().map_or(since, |last| last.created_at);
                            return Some((Ok(found), (identity, next)));
                        }
                        Err(error) => return Some((Err(identity_error(error)), (identity, since))),
                    }
                }
            });
            let each = batches.flat_map(|batch: async_graphql::Result<Vec<Notification>>| {
                let items: Vec<async_graphql::Result<FieldValue<'static>>> = match batch {
                    Ok(found) => found
                        .iter()
                        .map(|notification| {
                            Ok(FieldValue::value(from_json(&notification_value(notification))))
                        })
                        .collect(),
                    Err(error) => vec![Err(error)],
                };
                futures::stream::iter(items)
            });
            Ok(each)
        })
    })
    .description("Your notifications as they come.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_parse_back() {
        for topic in Topic::ALL {
            assert_eq!(Topic::parse(&topic_name(topic).to_lowercase()).unwrap(), topic);
        }
    }
}
