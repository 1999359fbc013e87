//! API tokens: long-lived credentials for programs (scripts, downstream systems), so that
//! they stop borrowing a person's 12-hour session. A token is named, read-only or
//! read-write, optionally acts as one of its person's teams, may expire, and is revocable;
//! it is shown once, when made, and only its SHA-256 is kept (it carries 256 random bits,
//! so a plain digest is enough). Its last use is recorded, at most once a minute.
//!
//! A token acts for its person with their grants as they are at each request; it never
//! does what only the person at the keyboard may (making tokens, changing the password or
//! the profile): a leaked token can be revoked and leaves nothing behind.

use std::fmt;

use chrono::{DateTime, Utc};
use domain::{Level, Viewer};
use uuid::Uuid;

use crate::error::Doing;
use crate::resets::{digest, new_token};
use crate::users::viewer;
use crate::{Identity, IdentityError};

/// What every API token starts with: tells it from a session token (a JWT) at a glance,
/// and lets secret scanners find leaked ones.
const PREFIX: &str = "maestro_pat_";
/// The most live tokens one person may hold.
pub const MAX_TOKENS_PER_PERSON: i64 = 100;
const MAX_NAME_CHARS: usize = 100;

pub(crate) fn is_api_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// An API token as its person sees it in lists: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub read_only: bool,
    /// The team it acts as, if any.
    pub team: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A token just made: the only time its secret is shown.
#[derive(Clone)]
pub struct NewApiToken {
    pub token: String,
    pub api_token: ApiToken,
}

impl fmt::Debug for NewApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiToken")
            .field("token", &"***")
            .field("api_token", &self.api_token)
            .finish()
    }
}

/// What a new token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRequest {
    pub name: String,
    pub read_only: bool,
    pub team: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn not_valid() -> IdentityError {
    IdentityError::Unauthenticated(
        "this API token is not valid: it was revoked, it expired, or it was never issued; make a new one"
            .into(),
    )
}

type TokenRow = (
    Uuid,
    String,
    bool,
    Option<Uuid>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

fn from_row((id, name, read_only, team, created_at, expires_at, last_used_at): TokenRow) -> ApiToken {
    ApiToken {
        id,
        name,
        read_only,
        team,
        created_at,
        expires_at,
        last_used_at,
    }
}

impl Identity {
    /// Makes an API token for `viewer`, who must be signed in with a session (a token
    /// makes no tokens). A token that acts as a team needs the write or admin role in it.
    pub async fn create_api_token(
        &self,
        viewer: &Viewer,
        request: ApiTokenRequest,
    ) -> Result<NewApiToken, IdentityError> {
        require_session(viewer, "make API tokens")?;
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(IdentityError::invalid(
                "name",
                format!("give the token a name of 1 to {MAX_NAME_CHARS} characters, saying what uses it"),
            ));
        }
        if request.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(IdentityError::invalid("expiresAt", "must be in the future"));
        }
        if let Some(team) = request.team {
            match viewer
                .memberships
                .iter()
                .find(|membership| membership.team == team)
            {
                Some(membership) if membership.role >= Level::Write => {}
                Some(_) => {
                    return Err(IdentityError::Forbidden(format!(
                        "a token acts as team {team} only for a member with the write or admin role in it"
                    )))
                }
                None => return Err(IdentityError::no_team(team)),
            }
        }
        let mut tx = self.pool.begin().await.doing("making an API token")?;
        // One person's requests are serialized here, so that the cap holds under races.
        sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
            .bind(viewer.user)
            .execute(&mut *tx)
            .await
            .doing("making an API token")?;
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM api_tokens
              WHERE user_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
        )
        .bind(viewer.user)
        .fetch_one(&mut *tx)
        .await
        .doing("counting API tokens")?;
        if live >= MAX_TOKENS_PER_PERSON {
            return Err(IdentityError::Conflict(format!(
                "you hold {live} API tokens, the most one person may; revoke some you no longer use"
            )));
        }
        let token = format!("{PREFIX}{}", new_token());
        let row: TokenRow = sqlx::query_as(
            "INSERT INTO api_tokens (id, user_id, name, read_only, team_id, token_hash, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING id, name, read_only, team_id, created_at, expires_at, last_used_at",
        )
        .bind(Uuid::now_v7())
        .bind(viewer.user)
        .bind(name)
        .bind(request.read_only)
        .bind(request.team)
        .bind(digest(&token))
        .bind(request.expires_at)
        .fetch_one(&mut *tx)
        .await
        .doing("making an API token")?;
        tx.commit().await.doing("making an API token")?;
        let api_token = from_row(row);
        tracing::info!(user = %viewer.user, token = %api_token.id, read_only = api_token.read_only, "API token made");
        Ok(NewApiToken { token, api_token })
    }

    /// The person's tokens that were not revoked, newest first (expired ones too, so
    /// that they see why a program stopped).
    pub async fn api_tokens(&self, user: Uuid) -> Result<Vec<ApiToken>, IdentityError> {
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT id, name, read_only, team_id, created_at, expires_at, last_used_at
               FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .doing("listing API tokens")?;
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// Revokes one of the person's tokens: it stops working at once.
    pub async fn revoke_api_token(&self, user: Uuid, id: Uuid) -> Result<(), IdentityError> {
        let revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(user)
        .execute(&self.pool)
        .await
        .doing("revoking an API token")?
        .rows_affected();
        if revoked == 0 {
            return Err(IdentityError::NotFound(format!(
                "you hold no API token {id} (it may be revoked already)"
            )));
        }
        tracing::info!(%user, token = %id, "API token revoked");
        Ok(())
    }

    /// The viewer an API token stands for: its person with their memberships now, acting
    /// as the token's team (a request may name that team, and no other).
    pub(crate) async fn authenticate_api_token(
        &self,
        token: &str,
        acting_as: Option<&str>,
    ) -> Result<Viewer, IdentityError> {
        type Row = (Uuid, Uuid, bool, Option<Uuid>, bool, Option<Uuid>, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT t.id, t.user_id, t.read_only, t.team_id,
                    t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute',
                    m.team_id, m.role
               FROM api_tokens t LEFT JOIN team_members m ON m.user_id = t.user_id
              WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())",
        )
        .bind(digest(token))
        .fetch_all(&self.pool)
        .await
        .doing("checking an API token")?;
        let Some(&(id, user, read_only, team, stale, _, _)) = rows.first() else {
            return Err(not_valid());
        };
        let team = team.map(|team| team.to_string());
        let acting_as = match (
            team.as_deref(),
            acting_as.map(str::trim).filter(|raw| !raw.is_empty()),
        ) {
            (Some(own), Some(asked)) if !own.eq_ignore_ascii_case(asked) => {
                return Err(IdentityError::Forbidden(format!(
                    "this API token acts as team {own} only; drop the team header or use another token"
                )))
            }
            (Some(own), _) => Some(own),
            (None, asked) => asked,
        };
        let memberships = rows.iter().map(|(.., team, role)| (*team, role.clone()));
        let viewer = viewer(user, memberships, acting_as)?;
        if stale {
            sqlx::query("UPDATE api_tokens SET last_used_at = now() WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await
                .doing("recording an API token's use")?;
        }
        Ok(Viewer {
            api_token: Some(id),
            read_only,
            ..viewer
        })
    }
}

/// Refuses `doing` to a program acting through an API token.
pub fn require_session(viewer: &Viewer, doing: &str) -> Result<(), IdentityError> {
    match viewer.api_token {
        Some(_) => Err(IdentityError::Forbidden(format!(
            "an API token cannot {doing}; sign in as the person to do it"
        ))),
        None => Ok(()),
    }
}
