//! Webhook endpoints in GraphQL: made, changed, rotated and deleted by the person or team
//! that owns them, with their deliveries and attempts, and redelivery by hand. The secret
//! is shown once, when made or rotated; header values are never shown.

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, TypeRef};
use domain::Level;
use serde_json::json;
use uuid::Uuid;
use webhooks::{Delivery, Endpoint, EndpointUpdate, NewEndpoint, WebhookError, WebhookSecret, Webhooks};

use super::access::viewer;
use super::queries::id_argument;
use super::values::{from_json, value_object};
use crate::errors::{bad_input, coded, internal, not_found};

fn webhooks<'a>(ctx: &ResolverContext<'a>) -> async_graphql::Result<&'a Webhooks> {
    ctx.data::<Option<Webhooks>>()?.as_ref().ok_or_else(|| {
        internal("webhooks need MAESTRO_CREDENTIALS_KEY, which encrypts their secrets; set it (`openssl rand -base64 32`)")
    })
}

fn webhook_error(error: WebhookError) -> async_graphql::Error {
    match error {
        WebhookError::Database(_) | WebhookError::Client(_) | WebhookError::Undecryptable(_) => {
            internal(error)
        }
        WebhookError::EndpointNotFound(_) | WebhookError::DeliveryNotFound(_) => not_found(error.to_string()),
        other => coded(other.to_string(), "BAD_USER_INPUT"),
    }
}

fn endpoint_value(endpoint: &Endpoint) -> serde_json::Value {
    json!({
        "id": endpoint.id, "owner": endpoint.owner, "description": endpoint.description, "url": endpoint.url,
        "headerNames": endpoint.header_names, "enabled": endpoint.enabled,
        "disabledReason": endpoint.disabled_reason, "consecutiveFailures": endpoint.consecutive_failures,
        "createdAt": endpoint.created_at.to_rfc3339(),
    })
}

fn delivery_value(delivery: &Delivery) -> serde_json::Value {
    let attempts: Vec<serde_json::Value> = delivery
        .attempts
        .iter()
        .map(|attempt| {
            json!({"number": attempt.number, "at": attempt.at.to_rfc3339(), "statusCode": attempt.status_code,
                   "latencyMs": attempt.latency_ms, "error": attempt.error})
        })
        .collect();
    json!({
        "id": delivery.id, "webhookId": delivery.webhook_id, "messageId": delivery.message_id,
        "eventType": delivery.event_type, "state": format!("{:?}", delivery.state).to_uppercase(),
        "attempts": attempts, "nextAttemptAt": delivery.next_attempt_at.map(|at| at.to_rfc3339()),
        "createdAt": delivery.created_at.to_rfc3339(), "deliveredAt": delivery.delivered_at.map(|at| at.to_rfc3339()),
    })
}

fn made(endpoint: &Endpoint, secret: &WebhookSecret) -> FieldValue<'static> {
    FieldValue::value(from_json(
        &json!({"secret": secret.expose(), "webhook": endpoint_value(endpoint)}),
    ))
}

/// The endpoint `id`, when the person (or a team they hold `level` in) owns it; else the
/// answer for an endpoint that does not exist.
async fn owned(ctx: &ResolverContext<'_>, id: Uuid, level: Level) -> async_graphql::Result<Endpoint> {
    let missing = || not_found(format!("webhook {id} does not exist"));
    let endpoint = webhooks(ctx)?.get(id).await.map_err(|_| missing())?;
    match viewer(ctx)?.principals(level).contains(&endpoint.owner) {
        true => Ok(endpoint),
        false => Err(missing()),
    }
}

/// The endpoint that argument or field `field` names as `raw`, for something that will
/// call it (a rule, a schedule, a notification channel): only one its caller (or a team
/// they may write for) owns. Anything else answers as an id that does not exist.
pub async fn usable(ctx: &ResolverContext<'_>, field: &str, raw: &str) -> async_graphql::Result<Uuid> {
    let missing = || bad_input(field, format!("no webhook you may use has the id {raw}"));
    let id: Uuid = raw.parse().map_err(|_| missing())?;
    match owned(ctx, id, Level::Write).await {
        Ok(endpoint) => Ok(endpoint.id),
        Err(_) => Err(missing()),
    }
}

/// `headers` as name/value pairs from a JSON object of strings.
fn headers(ctx: &ResolverContext<'_>) -> async_graphql::Result<Option<Vec<(String, String)>>> {
    let Some(raw) = ctx.args.get("headers").filter(|value| !value.is_null()) else {
        return Ok(None);
    };
    let object = match raw.as_value().clone().into_json()? {
        serde_json::Value::Object(object) => object,
        _ => {
            return Err(bad_input(
                "headers",
                "must be an object of header names to values",
            ))
        }
    };
    object
        .into_iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(value) => Ok((name, value)),
            _ => Err(bad_input(
                "headers",
                format!("the value of `{name}` must be a string"),
            )),
        })
        .collect::<async_graphql::Result<_>>()
        .map(Some)
}

fn optional_text(ctx: &ResolverContext<'_>, name: &str) -> async_graphql::Result<Option<String>> {
    ctx.args
        .get(name)
        .filter(|value| !value.is_null())
        .map(|value| value.string().map(str::to_string))
        .transpose()
}

pub fn types() -> Vec<Object> {
    let time = || TypeRef::named("DateTime");
    vec![
        value_object(
            "Webhook",
            &[
                ("id", TypeRef::named_nn(TypeRef::ID)),
                ("owner", TypeRef::named_nn(TypeRef::ID)),
                ("description", TypeRef::named_nn(TypeRef::STRING)),
                ("url", TypeRef::named_nn(TypeRef::STRING)),
                ("headerNames", TypeRef::named_nn_list_nn(TypeRef::STRING)),
                ("enabled", TypeRef::named_nn(TypeRef::BOOLEAN)),
                ("disabledReason", TypeRef::named(TypeRef::STRING)),
                ("consecutiveFailures", TypeRef::named_nn(TypeRef::INT)),
                ("createdAt", TypeRef::named_nn("DateTime")),
            ],
        )
        .description(
            "An endpoint Maestro posts to, signed per the Standard Webhooks specification (webhook-id, \
             webhook-timestamp, webhook-signature). Its secret and header values are never shown again.",
        ),
        value_object(
            "NewWebhookSecret",
            &[
                ("secret", TypeRef::named_nn(TypeRef::STRING)),
                ("webhook", TypeRef::named_nn("Webhook")),
            ],
        )
        .description("The endpoint and its signing secret (`whsec_…`), shown this once: keep it in the receiver's secret store."),
        value_object(
            "WebhookAttempt",
            &[
                ("number", TypeRef::named_nn(TypeRef::INT)),
                ("at", TypeRef::named_nn("DateTime")),
                ("statusCode", TypeRef::named(TypeRef::INT)),
                ("latencyMs", TypeRef::named_nn(TypeRef::INT)),
                ("error", TypeRef::named(TypeRef::STRING)),
            ],
        ),
        value_object(
            "WebhookDelivery",
            &[
                ("id", TypeRef::named_nn(TypeRef::ID)),
                ("webhookId", TypeRef::named_nn(TypeRef::STRING)),
                ("messageId", TypeRef::named_nn(TypeRef::STRING)),
                ("eventType", TypeRef::named_nn(TypeRef::STRING)),
                ("state", TypeRef::named_nn(TypeRef::STRING)),
                ("attempts", TypeRef::named_nn_list_nn("WebhookAttempt")),
                ("nextAttemptAt", time()),
                ("createdAt", TypeRef::named_nn("DateTime")),
                ("deliveredAt", time()),
            ],
        )
        .description(
            "One message to an endpoint: PENDING, DELIVERED, FAILED (its retries, over more than a day, ran out) or \
             CANCELLED; `webhookId` is the same on every attempt.",
        ),
    ]
}

pub fn queries() -> Vec<Field> {
    vec![
        Field::new("webhooks", TypeRef::named_nn_list_nn("Webhook"), |ctx| {
            FieldFuture::new(async move {
                let owners = viewer(&ctx)?.principals(Level::Read);
                let endpoints = webhooks(&ctx)?.list(&owners).await.map_err(webhook_error)?;
                let values = endpoints.iter().map(|endpoint| FieldValue::value(from_json(&endpoint_value(endpoint))));
                Ok(Some(FieldValue::list(values)))
            })
        })
        .description("The webhook endpoints you or your teams own."),
        Field::new("webhookDeliveries", TypeRef::named_nn_list_nn("WebhookDelivery"), |ctx| {
            FieldFuture::new(async move {
                let endpoint = owned(&ctx, id_argument(&ctx, "webhookId")?, Level::Read).await?;
                let first = ctx.args.get("first").map(|value| value.i64()).transpose()?.unwrap_or(20);
                let first = u32::try_from(first)
                    .ok()
                    .filter(|first| (1..=webhooks::MAX_PAGE).contains(first))
                    .ok_or_else(|| bad_input("first", format!("must be between 1 and {}", webhooks::MAX_PAGE)))?;
                let before = match ctx.args.get("before").filter(|value| !value.is_null()) {
                    Some(_) => Some(id_argument(&ctx, "before")?),
                    None => None,
                };
                let deliveries = webhooks(&ctx)?
                    .deliveries(endpoint.id, first, before)
                    .await
                    .map_err(webhook_error)?;
                let values = deliveries.iter().map(|delivery| FieldValue::value(from_json(&delivery_value(delivery))));
                Ok(Some(FieldValue::list(values)))
            })
        })
        .description("An endpoint's deliveries, newest first, with every attempt; page back with `before` = the last id.")
        .argument(InputValue::new("webhookId", TypeRef::named_nn(TypeRef::ID)))
        .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)).default_value(20))
        .argument(InputValue::new("before", TypeRef::named(TypeRef::ID))),
    ]
}

pub fn mutations() -> Vec<Field> {
    let id = || InputValue::new("id", TypeRef::named_nn(TypeRef::ID));
    vec![
        Field::new("createWebhook", TypeRef::named_nn("NewWebhookSecret"), |ctx| {
            FieldFuture::new(async move {
                let owner = viewer(&ctx)?.owner();
                let new = NewEndpoint {
                    owner,
                    description: optional_text(&ctx, "description")?.unwrap_or_default(),
                    url: ctx.args.try_get("url")?.string()?.to_string(),
                    headers: headers(&ctx)?.unwrap_or_default(),
                };
                let (endpoint, secret) = webhooks(&ctx)?.create(new).await.map_err(webhook_error)?;
                Ok(Some(made(&endpoint, &secret)))
            })
        })
        .description(
            "Makes a webhook endpoint, owned by you (or the team you act as). Loopback and private addresses are \
             refused unless the operator allowed them (MAESTRO_WEBHOOK_PRIVATE_ENDPOINTS).",
        )
        .argument(InputValue::new("url", TypeRef::named_nn(TypeRef::STRING)))
        .argument(InputValue::new("description", TypeRef::named(TypeRef::STRING)))
        .argument(
            InputValue::new("headers", TypeRef::named("JSON"))
                .description("Extra headers for every delivery, e.g. {\"Authorization\": \"Bearer …\"}; stored encrypted, never shown."),
        ),
        Field::new("updateWebhook", TypeRef::named_nn("Webhook"), |ctx| {
            FieldFuture::new(async move {
                let endpoint = owned(&ctx, id_argument(&ctx, "id")?, Level::Write).await?;
                let update = EndpointUpdate {
                    url: optional_text(&ctx, "url")?,
                    description: optional_text(&ctx, "description")?,
                    headers: headers(&ctx)?,
                    enabled: ctx.args.get("enabled").filter(|v| !v.is_null()).map(|v| v.boolean()).transpose()?,
                };
                let endpoint = webhooks(&ctx)?.update(endpoint.id, update).await.map_err(webhook_error)?;
                Ok(Some(FieldValue::value(from_json(&endpoint_value(&endpoint)))))
            })
        })
        .description("Changes what is given; `headers` replaces all of them. Enabling resumes the deliveries that waited.")
        .argument(id())
        .argument(InputValue::new("url", TypeRef::named(TypeRef::STRING)))
        .argument(InputValue::new("description", TypeRef::named(TypeRef::STRING)))
        .argument(InputValue::new("headers", TypeRef::named("JSON")))
        .argument(InputValue::new("enabled", TypeRef::named(TypeRef::BOOLEAN))),
        Field::new("rotateWebhookSecret", TypeRef::named_nn("NewWebhookSecret"), |ctx| {
            FieldFuture::new(async move {
                let endpoint = owned(&ctx, id_argument(&ctx, "id")?, Level::Admin).await?;
                let secret = webhooks(&ctx)?.rotate_secret(endpoint.id).await.map_err(webhook_error)?;
                Ok(Some(made(&endpoint, &secret)))
            })
        })
        .description("Gives the endpoint a new secret, shown this once; the old one stops signing at once.")
        .argument(id()),
        Field::new("deleteWebhook", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
            FieldFuture::new(async move {
                let endpoint = owned(&ctx, id_argument(&ctx, "id")?, Level::Admin).await?;
                webhooks(&ctx)?.delete(endpoint.id).await.map_err(webhook_error)?;
                Ok(Some(FieldValue::value(true)))
            })
        })
        .argument(id()),
        Field::new("redeliverWebhook", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
            FieldFuture::new(async move {
                let delivery = id_argument(&ctx, "deliveryId")?;
                let service = webhooks(&ctx)?;
                let missing = || not_found(format!("webhook delivery {delivery} does not exist"));
                let endpoint = service.delivery_endpoint(delivery).await.map_err(|_| missing())?;
                owned(&ctx, endpoint, Level::Write).await.map_err(|_| missing())?;
                service.redeliver(delivery).await.map_err(webhook_error)?;
                Ok(Some(FieldValue::value(true)))
            })
        })
        .description("Sends a delivery again now, under the same webhook-id.")
        .argument(InputValue::new("deliveryId", TypeRef::named_nn(TypeRef::ID))),
    ]
}
