//! How accounts come to be. With `open` sign-ups (the default on a development machine)
//! `signUp` makes the account at once, and its answer tells whether an address already
//! has one. With `verified` sign-ups (production's default) `signUp` is refused and
//! `requestSignUp` answers the same, at once, for every address: in the background it
//! mails either a link that makes the account (good once, for a day) or, to an address
//! that has an account, a note saying so. Only the link's SHA-256 is stored.

use std::net::IpAddr;
use std::time::Duration;

use uuid::Uuid;

use crate::error::Doing;
use crate::limits::{self, LoginLimit, RESET_MAILS};
use crate::resets::{digest, new_token, well_formed};
use crate::users::{email_taken, is_unique_violation};
use crate::{passwords, Email, Identity, IdentityError, Password, PersonName, Session};

/// How long a sign-up link works.
const SIGN_UP_TTL: Duration = Duration::from_secs(24 * 3600);

/// Who may make an account, and how (`MAESTRO_SIGN_UP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUps {
    /// `signUp` makes the account at once.
    Open,
    /// Accounts are made by opening a link mailed by `requestSignUp`.
    Verified,
}

impl SignUps {
    pub fn parse(raw: &str) -> Result<SignUps, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(SignUps::Open),
            "verified" => Ok(SignUps::Verified),
            _ => Err(format!(
                "MAESTRO_SIGN_UP=`{raw}` is not a way to sign up; use `verified` (a link by e-mail makes the account) or `open` (signUp makes it at once)"
            )),
        }
    }
}

impl Identity {
    /// Starts a verified sign-up. Answers the same for every well-formed address, before
    /// looking it up: the account, or the note that one exists, arrives by mail. Counts
    /// against the client's sign-up limit, like `signUp`, and mails an address no more
    /// often than reset mails (3 an hour), whoever asks.
    pub async fn request_sign_up(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<(), IdentityError> {
        let email = Email::parse(email)?;
        let password = Password::parse(password)?;
        let name = PersonName::parse(name.unwrap_or_default())?;
        if self.mailer.is_none() {
            return Err(IdentityError::Internal(
                "sign-ups are verified by e-mail here, but no SMTP server is configured; an operator must set SMTP_HOST"
                    .to_string(),
            ));
        }
        self.count_sign_up(client).await?;
        // Past the address's limit nothing is mailed, and the answer stays the same.
        match limits::count_attempt(&self.pool, &[limits::sign_up_mail_key(&email)], RESET_MAILS).await {
            Ok(_) => {}
            Err(IdentityError::TooManyRequests { .. }) => {
                tracing::warn!("sign-up mails for an address are over the limit; none sent");
                return Ok(());
            }
            Err(error) => return Err(error),
        }
        let hash = passwords::hash(password).await?;
        let identity = self.clone();
        tokio::spawn(async move {
            if let Err(error) = identity.send_sign_up(&email, name.as_str(), &hash).await {
                tracing::warn!(%error, "a sign-up mail was not sent");
            }
        });
        Ok(())
    }

    pub(crate) async fn count_sign_up(&self, client: Option<IpAddr>) -> Result<(), IdentityError> {
        let Some(client) = client else {
            return Ok(());
        };
        let limit = LoginLimit {
            failures: self.settings.sign_ups_per_hour,
            window: limits::SIGN_UP_WINDOW,
        };
        limits::count_attempt(&self.pool, &[limits::sign_up_key(client)], limit).await?;
        Ok(())
    }

    /// The sign-up link of a token, which rides in the fragment (never sent to a server).
    pub fn sign_up_link(&self, token: &str) -> String {
        format!(
            "{}/confirm-sign-up#token={token}",
            self.settings.public_url.trim_end_matches('/')
        )
    }

    async fn send_sign_up(&self, email: &Email, name: &str, hash: &str) -> Result<(), IdentityError> {
        let Some(mailer) = &self.mailer else {
            return Ok(());
        };
        if self.user_by_email(email).await?.is_some() {
            let body = format!(
                "Hello,\n\n\
                 someone (hopefully you) asked to sign up to Maestro with {email}, which already has an account.\n\
                 Log in with it, or reset its password if you forgot it. Nothing was changed.\n"
            );
            return mailer
                .send(email, "Your Maestro account", body, None)
                .await
                .map_err(IdentityError::Internal);
        }
        let token = new_token();
        sqlx::query(
            "WITH expired AS (DELETE FROM pending_sign_ups WHERE expires_at < now())
             INSERT INTO pending_sign_ups (token_hash, email, name, password_hash, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        )
        .bind(digest(&token))
        .bind(email.as_str())
        .bind(name)
        .bind(hash)
        .bind(SIGN_UP_TTL.as_secs_f64())
        .execute(&self.pool)
        .await
        .doing("storing a sign-up")?;
        let body = format!(
            "Hello{name},\n\n\
             someone (hopefully you) asked to sign up to Maestro with {email}.\n\
             Open this link within a day to make the account; it works once:\n\n\
             {link}\n\n\
             If you did not ask, ignore this mail: no account is made.\n",
            name = if name.is_empty() {
                String::new()
            } else {
                format!(" {name}")
            },
            link = self.sign_up_link(&token),
        );
        mailer
            .send(email, "Confirm your Maestro sign-up", body, None)
            .await
            .map_err(IdentityError::Internal)
    }

    /// Makes the account of a sign-up link, once, within its day; answers its session.
    pub async fn confirm_sign_up(&self, token: &str) -> Result<Session, IdentityError> {
        let token = token.trim();
        let bad_link = |problem: &str| IdentityError::invalid("token", problem);
        if !well_formed(token) {
            return Err(bad_link(
                "is not a sign-up token; copy the whole link from the mail",
            ));
        }
        let mut tx = self.pool.begin().await.doing("starting a transaction")?;
        let pending: Option<(String, String, String)> = sqlx::query_as(
            "DELETE FROM pending_sign_ups WHERE token_hash = $1 AND expires_at > now()
             RETURNING email, name, password_hash",
        )
        .bind(digest(token))
        .fetch_optional(&mut *tx)
        .await
        .doing("using a sign-up link")?;
        let Some((email, name, hash)) = pending else {
            return Err(bad_link(
                "this sign-up link was already used or has expired; sign up again",
            ));
        };
        let id = Uuid::now_v7();
        let inserted = sqlx::query_scalar::<_, i32>(
            "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) RETURNING token_version",
        )
        .bind(id)
        .bind(&email)
        .bind(&name)
        .bind(&hash)
        .fetch_one(&mut *tx)
        .await;
        let version = match inserted {
            Ok(version) => version,
            // The link's holder owns the mailbox: telling them is no leak.
            Err(error) if is_unique_violation(&error) => return Err(email_taken(&Email::parse(&email)?)),
            Err(error) => return Err(error).doing("creating an account"),
        };
        sqlx::query("DELETE FROM pending_sign_ups WHERE email = $1")
            .bind(&email)
            .execute(&mut *tx)
            .await
            .doing("clearing other sign-up links")?;
        tx.commit().await.doing("creating an account")?;
        tracing::info!(user = %id, "account created from a sign-up link");
        self.session(id, version).await
    }
}
