//! Accounts: sign-up, log-in, sessions, profile and password changes, and the step from a
//! session token to a [`Viewer`].

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use domain::{Level, Membership, Viewer};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::api_tokens;
use crate::error::Doing;
use crate::limits::{self, client_key, email_key};
use crate::sign_ups::SignUps;
use crate::{passwords, Email, Identity, IdentityError, Password, PersonName, Session, User};

type UserRow = (Uuid, String, String, DateTime<Utc>);

fn user((id, email, name, created_at): UserRow) -> User {
    User {
        id,
        email,
        name,
        created_at,
    }
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "23505")
}

pub(crate) fn email_taken(email: &Email) -> IdentityError {
    IdentityError::Conflict(format!(
        "an account with the e-mail address {email} already exists; log in, or reset its password"
    ))
}

/// The account's hash and token version, by e-mail address.
async fn credentials_of(pool: &PgPool, email: &Email) -> Result<Option<(Uuid, String, i32)>, IdentityError> {
    sqlx::query_as("SELECT id, password_hash, token_version FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(pool)
        .await
        .doing("looking up an account")
}

/// Sets a new password hash and voids every session and reset link issued before; returns
/// the new token version.
pub(crate) async fn replace_password(
    executor: impl PgExecutor<'_>,
    user: Uuid,
    hash: &str,
) -> Result<i32, IdentityError> {
    sqlx::query_scalar(
        "WITH voided AS (DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL)
         UPDATE users SET password_hash = $2, token_version = token_version + 1, updated_at = now()
          WHERE id = $1 RETURNING token_version",
    )
    .bind(user)
    .bind(hash)
    .fetch_optional(executor)
    .await
    .doing("changing a password")?
    .ok_or_else(|| IdentityError::Unauthenticated("your account no longer exists; sign up again".into()))
}

impl Identity {
    /// A new session for `user` at token version `version`.
    pub(crate) async fn session(&self, user_id: Uuid, version: i32) -> Result<Session, IdentityError> {
        let user = self.user(user_id).await?;
        let (token, expires_at) = self.sessions.issue(user_id, version, Utc::now());
        Ok(Session {
            token,
            expires_at,
            user,
        })
    }

    /// Creates an account and signs it in. The address must not have one yet. Sign-ups
    /// from `client` are limited (each costs a password hash, and each tells whether an
    /// address has an account): past the limit, refused before the hash.
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<Session, IdentityError> {
        let email = Email::parse(email)?;
        let password = Password::parse(password)?;
        let name = PersonName::parse(name.unwrap_or_default())?;
        if self.settings.sign_ups == SignUps::Verified {
            return Err(IdentityError::Forbidden(
                "sign-ups here are verified by e-mail: use `requestSignUp`, then open the link in the mail"
                    .to_string(),
            ));
        }
        self.count_sign_up(client).await?;
        let hash = passwords::hash(password).await?;
        let id = Uuid::now_v7();
        let inserted = sqlx::query_scalar::<_, i32>(
            "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) RETURNING token_version",
        )
        .bind(id)
        .bind(email.as_str())
        .bind(name.as_str())
        .bind(&hash)
        .fetch_one(&self.pool)
        .await;
        let version = match inserted {
            Ok(version) => version,
            Err(error) if is_unique_violation(&error) => return Err(email_taken(&email)),
            Err(error) => return Err(error).doing("creating an account"),
        };
        tracing::info!(user = %id, "account created");
        self.session(id, version).await
    }

    /// Checks an e-mail address and password. Attempts count against the address and
    /// against the client before the check, and only failures stay counted; past the
    /// limit, attempts are refused before any check.
    pub async fn log_in(
        &self,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Session, IdentityError> {
        let email = Email::parse(email)?;
        let password = Password::attempt(password)?;
        let limit = self.settings.login_limit;
        let keys: Vec<String> = std::iter::once(email_key(&email))
            .chain(client.map(client_key))
            .collect();
        let attempt = limits::count_attempt(&self.pool, &keys, limit).await?;
        let account = credentials_of(&self.pool, &email).await?;
        let matches = passwords::verify(password, account.as_ref().map(|(_, hash, _)| hash.clone())).await?;
        match account {
            Some((id, _, version)) if matches => {
                limits::forgive(&self.pool, &keys, attempt).await?;
                limits::clear(&self.pool, &email_key(&email)).await?;
                self.session(id, version).await
            }
            _ => Err(IdentityError::Unauthenticated(
                "wrong e-mail address or password".into(),
            )),
        }
    }

    /// The person a session token or API token stands for, with their team memberships
    /// as they are now (read on every call, so that a removed member loses access at
    /// once), acting as the team `acting_as` (a team id) when given.
    pub async fn authenticate(&self, token: &str, acting_as: Option<&str>) -> Result<Viewer, IdentityError> {
        if api_tokens::is_api_token(token) {
            return self.authenticate_api_token(token, acting_as).await;
        }
        let claims = self.sessions.check(token)?;
        let rows: Vec<(i32, Option<Uuid>, Option<String>)> = sqlx::query_as(
            "SELECT u.token_version, m.team_id, m.role
               FROM users u LEFT JOIN team_members m ON m.user_id = u.id
              WHERE u.id = $1",
        )
        .bind(claims.sub)
        .fetch_all(&self.pool)
        .await
        .doing("checking a session")?;
        let Some((version, _, _)) = rows.first() else {
            return Err(IdentityError::Unauthenticated(
                "the account of this session no longer exists; log in again".into(),
            ));
        };
        if *version != claims.ver {
            return Err(IdentityError::Unauthenticated(
                "the password was changed since this session began; log in again".into(),
            ));
        }
        let memberships = rows.iter().map(|(_, team, role)| (*team, role.clone()));
        viewer(claims.sub, memberships, acting_as)
    }

    pub async fn user(&self, id: Uuid) -> Result<User, IdentityError> {
        sqlx::query_as::<_, UserRow>("SELECT id, email, name, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .doing("reading an account")?
            .map(user)
            .ok_or_else(|| IdentityError::NotFound(format!("user {id} does not exist")))
    }

    pub(crate) async fn user_by_email(&self, email: &Email) -> Result<Option<User>, IdentityError> {
        Ok(
            sqlx::query_as::<_, UserRow>("SELECT id, email, name, created_at FROM users WHERE email = $1")
                .bind(email.as_str())
                .fetch_optional(&self.pool)
                .await
                .doing("looking up an account")?
                .map(user),
        )
    }

    /// Checks `user`'s current password, counting a wrong one like a failed log-in.
    async fn check_current_password(
        &self,
        user: Uuid,
        field: &'static str,
        given: Option<&str>,
    ) -> Result<(), IdentityError> {
        let Some(given) = given else {
            return Err(IdentityError::invalid(
                field,
                "give your current password to make this change",
            ));
        };
        let given = Password::attempt_field(field, given)?;
        let account = self.user(user).await?;
        let email = Email::parse(&account.email)?;
        let keys = [email_key(&email)];
        let limit = self.settings.login_limit;
        let attempt = limits::count_attempt(&self.pool, &keys, limit).await?;
        let stored = credentials_of(&self.pool, &email).await?.map(|(_, hash, _)| hash);
        if !passwords::verify(given, stored).await? {
            return Err(IdentityError::invalid(field, "is not your current password"));
        }
        limits::forgive(&self.pool, &keys, attempt).await
    }

    /// Changes the name and/or the e-mail address. A new address needs the current
    /// password, so that a borrowed session cannot take the account over.
    pub async fn update_profile(
        &self,
        user_id: Uuid,
        name: Option<&str>,
        email: Option<&str>,
        current_password: Option<&str>,
    ) -> Result<User, IdentityError> {
        let name = name.map(PersonName::parse).transpose()?;
        let email = email.map(Email::parse).transpose()?;
        let current = self.user(user_id).await?;
        let email = email.filter(|email| email.as_str() != current.email);
        if email.is_some() {
            self.check_current_password(user_id, "currentPassword", current_password)
                .await?;
        }
        let updated = sqlx::query_as::<_, UserRow>(
            "UPDATE users SET name = coalesce($2, name), email = coalesce($3, email), updated_at = now()
              WHERE id = $1 RETURNING id, email, name, created_at",
        )
        .bind(user_id)
        .bind(name.as_ref().map(PersonName::as_str))
        .bind(email.as_ref().map(Email::as_str))
        .fetch_one(&self.pool)
        .await;
        match updated {
            Ok(row) => Ok(user(row)),
            Err(error) if is_unique_violation(&error) => {
                Err(email_taken(email.as_ref().expect("only the address is unique")))
            }
            Err(error) => Err(error).doing("updating a profile"),
        }
    }

    /// Changes the password after checking the current one. Every earlier session ends;
    /// the answer is a new one.
    pub async fn change_password(
        &self,
        user_id: Uuid,
        current: &str,
        new: &str,
    ) -> Result<Session, IdentityError> {
        let new = Password::parse_field("newPassword", new)?;
        self.check_current_password(user_id, "currentPassword", Some(current))
            .await?;
        let hash = passwords::hash(new).await?;
        let version = replace_password(&self.pool, user_id, &hash).await?;
        tracing::info!(user = %user_id, "password changed; earlier sessions voided");
        self.session(user_id, version).await
    }

    /// An account with this address and password, created or brought back to that
    /// password (for the demo). Returns the user and whether it was created.
    pub async fn ensure_user(
        &self,
        email: &str,
        password: &str,
        name: &str,
    ) -> Result<(User, bool), IdentityError> {
        let parsed = Email::parse(email)?;
        let new_password = Password::parse(password)?;
        match credentials_of(&self.pool, &parsed).await? {
            None => {
                let session = self.sign_up(email, password, Some(name), None).await?;
                Ok((session.user, true))
            }
            Some((id, stored, _)) => {
                if !passwords::verify(new_password.clone(), Some(stored)).await? {
                    let hash = passwords::hash(new_password).await?;
                    replace_password(&self.pool, id, &hash).await?;
                }
                Ok((self.user(id).await?, false))
            }
        }
    }
}

/// The viewer of `user`, whose team memberships are `(team, role)` pairs as read from
/// `team_members` (a person in no team has one pair of nulls), acting as `acting_as`:
/// one of their teams in which they may write.
pub(crate) fn viewer(
    user: Uuid,
    memberships: impl Iterator<Item = (Option<Uuid>, Option<String>)>,
    acting_as: Option<&str>,
) -> Result<Viewer, IdentityError> {
    let memberships: Vec<Membership> = memberships
        .filter_map(|(team, role)| {
            Some(Membership {
                team: team?,
                role: Level::parse(role.as_deref()?).ok()?,
            })
        })
        .collect();
    let acting_as = match acting_as.map(str::trim).filter(|raw| !raw.is_empty()) {
        None => None,
        Some(raw) => {
            let team = Uuid::parse_str(raw).map_err(|_| {
                IdentityError::invalid("X-Maestro-Team", format!("`{raw}` is not a team id (a UUID)"))
            })?;
            match memberships.iter().find(|membership| membership.team == team) {
                Some(membership) if membership.role >= Level::Write => Some(team),
                Some(membership) => {
                    return Err(IdentityError::Forbidden(format!(
                        "you cannot act as team {team}: that needs the write or admin role in it, and yours is {}",
                        membership.role.as_str()
                    )))
                }
                None => {
                    return Err(IdentityError::Forbidden(format!(
                        "you cannot act as team {team}: you are not one of its members"
                    )))
                }
            }
        }
    };
    Ok(Viewer {
        memberships,
        acting_as,
        ..Viewer::user(user)
    })
}
