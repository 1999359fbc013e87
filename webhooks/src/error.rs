//! One error type for the crate. Each message says what was wrong and what to do about
//! it, and none carries a secret or a header value: errors end up in logs and in
//! GraphQL answers.

use std::net::IpAddr;

use uuid::Uuid;

/// The operator's setting that lists the private networks webhooks may reach.
pub const PRIVATE_ENDPOINTS_SETTING: &str = "MAESTRO_WEBHOOK_PRIVATE_ENDPOINTS";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the endpoint URL is not a valid URL ({0}); give an absolute http:// or https:// URL")]
    InvalidUrl(String),
    #[error("the endpoint URL must start with http:// or https://, not {0}://")]
    UnsupportedScheme(String),
    #[error("the endpoint URL carries a user name or password; remove them from the URL and send credentials in a header instead (headers are stored encrypted)")]
    CredentialsInUrl,
    #[error("the endpoint URL has no host; give one, e.g. https://hooks.example.com/maestro")]
    NoHost,
    #[error("{0} is on a loopback, private or otherwise internal network; an operator must allow that network in {PRIVATE_ENDPOINTS_SETTING} for webhooks to reach it")]
    AddressRefused(IpAddr),
    #[error("`{0}` is not a valid HTTP header name; use letters, digits and `-`")]
    InvalidHeaderName(String),
    #[error("the value of header `{0}` is not a valid HTTP header value; use visible ASCII characters without line breaks")]
    InvalidHeaderValue(String),
    #[error("header `{0}` is set by the webhook sender itself and cannot be given (webhook-*, host, content-length, content-type, transfer-encoding, connection)")]
    ReservedHeader(String),
    #[error("header `{0}` is given twice; give each header once")]
    DuplicateHeader(String),
    #[error("{0} extra headers are too many; give at most {max}", max = crate::headers::MAX_HEADERS)]
    TooManyHeaders(usize),
    #[error("the description is {0} characters long; keep it to at most 1000")]
    DescriptionTooLong(usize),
    #[error("the message id must hold 1 to 200 characters")]
    InvalidMessageId,
    #[error("the event type must hold 1 to 200 characters")]
    InvalidEventType,
    #[error("a webhook secret is `whsec_` followed by 24 to 64 bytes in base64")]
    InvalidSecret,
    #[error("{0} is not a network: give addresses or CIDR networks separated by commas in {PRIVATE_ENDPOINTS_SETTING}, e.g. `10.0.0.0/8,127.0.0.1`")]
    InvalidNetwork(String),
    #[error("webhook endpoint {0} does not exist")]
    EndpointNotFound(Uuid),
    #[error("webhook delivery {0} does not exist")]
    DeliveryNotFound(Uuid),
    #[error("the secret or headers of webhook endpoint {0} cannot be decrypted with the key the webhooks were given; was the key changed? Rotate the endpoint's secret and set its headers again to store them under the new key")]
    Undecryptable(Uuid),
    #[error("the HTTP client for webhook deliveries could not be built ({0})")]
    Client(String),
    #[error("Postgres failed while handling webhooks ({0}); is it running? Start it with `ops/up`")]
    Database(#[from] sqlx::Error),
}
