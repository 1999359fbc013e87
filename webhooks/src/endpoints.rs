//! Endpoints: where deliveries go, with what extra headers, signed with which secret.
//! The secret and the header values are write-only: they are stored encrypted and no
//! read returns them (an endpoint shows its header names only).

use std::fmt;

use chrono::{DateTime, Utc};
use url::Url;
use uuid::Uuid;

use crate::address::check_url_host;
use crate::headers::ExtraHeaders;
use crate::seal::Purpose;
use crate::{WebhookError, WebhookSecret, Webhooks};

const MAX_URL: usize = 2000;
const MAX_DESCRIPTION: usize = 1000;

/// An endpoint as stored, without its secret or header values.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    /// The user or team it belongs to; access decisions are the caller's.
    pub owner: Uuid,
    pub description: String,
    pub url: String,
    /// The extra headers' names (lower case); their values cannot be read back.
    pub header_names: Vec<String>,
    pub enabled: bool,
    /// Why the worker disabled it; `None` when enabled or disabled by hand.
    pub disabled_reason: Option<String>,
    /// Failed attempts in a row since the last success.
    pub consecutive_failures: i32,
    pub created_at: DateTime<Utc>,
}

/// What [`Webhooks::create`] takes. `Debug` hides the header values.
#[derive(Clone, Default)]
pub struct NewEndpoint {
    pub owner: Uuid,
    pub description: String,
    /// An http:// or https:// URL without a user name or password.
    pub url: String,
    /// Extra headers sent with every delivery (e.g. a receiver's auth token).
    pub headers: Vec<(String, String)>,
}

/// What [`Webhooks::update`] changes: each field that is `Some`. `Debug` hides the
/// header values.
#[derive(Clone, Default)]
pub struct EndpointUpdate {
    pub url: Option<String>,
    pub description: Option<String>,
    /// The new extra headers, replacing all of the old ones (`Some(vec![])` removes them).
    pub headers: Option<Vec<(String, String)>>,
    /// Enabling clears the failure count and the reason; deliveries that waited resume.
    pub enabled: Option<bool>,
}

impl fmt::Debug for NewEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEndpoint")
            .field("owner", &self.owner)
            .field("description", &self.description)
            .field("url", &self.url)
            .field("headers", &HiddenValues(&self.headers))
            .finish()
    }
}

impl fmt::Debug for EndpointUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointUpdate")
            .field("url", &self.url)
            .field("description", &self.description)
            .field("headers", &self.headers.as_deref().map(HiddenValues))
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Header pairs shown as their names with `***` for values.
struct HiddenValues<'a>(&'a [(String, String)]);

impl fmt::Debug for HiddenValues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name, "***")))
            .finish()
    }
}

const COLUMNS: &str =
    "id, owner, description, url, header_names, enabled, disabled_reason, consecutive_failures, created_at";

impl Webhooks {
    /// Creates an endpoint with a new secret, returned here once and never again.
    pub async fn create(&self, new: NewEndpoint) -> Result<(Endpoint, WebhookSecret), WebhookError> {
        let url = self.parse_url(&new.url)?;
        check_description(&new.description)?;
        let headers = ExtraHeaders::parse(&new.headers)?;
        let id = Uuid::now_v7();
        let secret = WebhookSecret::generate();
        let endpoint = sqlx::query_as::<_, Endpoint>(&format!(
            "INSERT INTO webhook_endpoints (id, owner, description, url, header_names, headers, secret)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(new.owner)
        .bind(&new.description)
        .bind(url.as_str())
        .bind(headers.names())
        .bind(self.seal_headers(id, &headers))
        .bind(self.sealer.seal(id, Purpose::Secret, secret.bytes()))
        .fetch_one(&self.pool)
        .await?;
        Ok((endpoint, secret))
    }

    /// Changes what `update` gives; the rest stays.
    pub async fn update(&self, id: Uuid, update: EndpointUpdate) -> Result<Endpoint, WebhookError> {
        let url = update.url.as_deref().map(|url| self.parse_url(url)).transpose()?;
        if let Some(description) = &update.description {
            check_description(description)?;
        }
        let headers = update.headers.as_deref().map(ExtraHeaders::parse).transpose()?;
        let endpoint = sqlx::query_as::<_, Endpoint>(&format!(
            "UPDATE webhook_endpoints SET
                 url = coalesce($2, url),
                 description = coalesce($3, description),
                 header_names = CASE WHEN $4 THEN $5 ELSE header_names END,
                 headers = CASE WHEN $4 THEN $6 ELSE headers END,
                 enabled = coalesce($7, enabled),
                 disabled_reason = CASE WHEN $7 IS NULL THEN disabled_reason END,
                 consecutive_failures = CASE WHEN $7 THEN 0 ELSE consecutive_failures END,
                 failing_since = CASE WHEN $7 THEN NULL ELSE failing_since END
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(url.as_ref().map(Url::as_str))
        .bind(&update.description)
        .bind(headers.is_some())
        .bind(headers.as_ref().map(ExtraHeaders::names).unwrap_or_default())
        .bind(
            headers
                .as_ref()
                .and_then(|headers| self.seal_headers(id, headers)),
        )
        .bind(update.enabled)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(WebhookError::EndpointNotFound(id))?;
        if update.enabled == Some(true) {
            // Deliveries that waited while it was disabled are due now.
            crate::deliveries::notify(&self.pool).await?;
        }
        Ok(endpoint)
    }

    /// Replaces the endpoint's secret with a new one, returned here once and never again.
    /// Deliveries from now on are signed with it, retries of earlier ones included.
    pub async fn rotate_secret(&self, id: Uuid) -> Result<WebhookSecret, WebhookError> {
        let secret = WebhookSecret::generate();
        let updated = sqlx::query("UPDATE webhook_endpoints SET secret = $2 WHERE id = $1")
            .bind(id)
            .bind(self.sealer.seal(id, Purpose::Secret, secret.bytes()))
            .execute(&self.pool)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(WebhookError::EndpointNotFound(id));
        }
        Ok(secret)
    }

    /// Deletes the endpoint with its deliveries and their attempts.
    pub async fn delete(&self, id: Uuid) -> Result<(), WebhookError> {
        let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(WebhookError::EndpointNotFound(id));
        }
        Ok(())
    }

    pub async fn get(&self, id: Uuid) -> Result<Endpoint, WebhookError> {
        sqlx::query_as::<_, Endpoint>(&format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(WebhookError::EndpointNotFound(id))
    }

    /// Who owns endpoint `id` (`None`: no such endpoint), on the caller's connection: a
    /// projector checks that a rule's people own its endpoint inside its transaction.
    pub async fn owner_in(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<Option<Uuid>, WebhookError> {
        Ok(
            sqlx::query_scalar("SELECT owner FROM webhook_endpoints WHERE id = $1")
                .bind(id)
                .fetch_optional(conn)
                .await?,
        )
    }

    /// The endpoints of these users and teams, oldest first.
    pub async fn list(&self, owners: &[Uuid]) -> Result<Vec<Endpoint>, WebhookError> {
        Ok(sqlx::query_as::<_, Endpoint>(&format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE owner = ANY($1) ORDER BY id"
        ))
        .bind(owners)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A user's URL, checked: http or https, a host, no credentials, and an IP literal
    /// only on an address the policy allows (host names are judged at each connection).
    fn parse_url(&self, text: &str) -> Result<Url, WebhookError> {
        if text.len() > MAX_URL {
            return Err(WebhookError::InvalidUrl(format!(
                "it is longer than {MAX_URL} characters"
            )));
        }
        let url = Url::parse(text.trim()).map_err(|e| WebhookError::InvalidUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookError::UnsupportedScheme(
                url.scheme().chars().take(20).collect(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(WebhookError::CredentialsInUrl);
        }
        check_url_host(&url, &self.policy)?;
        Ok(url)
    }

    fn seal_headers(&self, endpoint: Uuid, headers: &ExtraHeaders) -> Option<Vec<u8>> {
        (!headers.is_empty()).then(|| {
            self.sealer
                .seal(endpoint, Purpose::Headers, &headers.to_plaintext())
        })
    }
}

fn check_description(description: &str) -> Result<(), WebhookError> {
    let length = description.chars().count();
    if length > MAX_DESCRIPTION {
        return Err(WebhookError::DescriptionTooLong(length));
    }
    Ok(())
}
