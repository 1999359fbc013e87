//! Forgotten passwords: a reset link sent by e-mail, good once, for an hour. The link
//! carries 256 random bits; only their SHA-256 is stored, so the table alone opens no
//! account (and, the token being random rather than signed, no key is needed). Asking for
//! a reset answers the same, at once, whether the address has an account or not: the mail
//! goes out in the background.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::Doing;
use crate::limits::{self, email_key, reset_key, RESET_MAILS};
use crate::users::replace_password;
use crate::{passwords, Email, Identity, IdentityError, Password, Session};

const TOKEN_BYTES: usize = 32;

pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    argon2::password_hash::rand_core::RngCore::fill_bytes(
        &mut argon2::password_hash::rand_core::OsRng,
        &mut bytes,
    );
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `token` could be one of ours (checked before any lookup).
pub(crate) fn well_formed(token: &str) -> bool {
    token.len() == URL_SAFE_NO_PAD.encode([0u8; TOKEN_BYTES]).len()
        && URL_SAFE_NO_PAD
            .decode(token)
            .is_ok_and(|bytes| bytes.len() == TOKEN_BYTES)
}

pub(crate) fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn bad_link(problem: &str) -> IdentityError {
    IdentityError::invalid("token", problem)
}

impl Identity {
    /// The reset link of a token: the token rides in the fragment, which browsers never
    /// send to a server, so no proxy or access log sees it.
    pub fn reset_link(&self, token: &str) -> String {
        format!(
            "{}/reset-password#token={token}",
            self.settings.public_url.trim_end_matches('/')
        )
    }

    /// Sends a reset link to `email` if it has an account. Answers the same either way.
    ///
    /// The request counts against the address's limit here, before the answer and the
    /// same for every address (so neither the answer nor its time tells whether one has
    /// an account), in one step with the check: parallel requests cannot all pass the
    /// check before any is counted. Requests over the limit send nothing.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), IdentityError> {
        let email = Email::parse(email)?;
        match limits::count_attempt(&self.pool, &[reset_key(&email)], RESET_MAILS).await {
            Ok(_) => {}
            Err(IdentityError::TooManyRequests { .. }) => {
                tracing::warn!("password reset requests for an address are over the limit; no mail sent");
                return Ok(());
            }
            Err(error) => return Err(error),
        }
        let identity = self.clone();
        tokio::spawn(async move {
            if let Err(error) = identity.send_reset(&email).await {
                tracing::warn!(%error, "a password reset mail was not sent");
            }
        });
        Ok(())
    }

    async fn send_reset(&self, email: &Email) -> Result<(), IdentityError> {
        let Some(user) = self.user_by_email(email).await? else {
            tracing::info!("a password reset was asked for an address without an account");
            return Ok(());
        };
        let Some(mailer) = &self.mailer else {
            tracing::warn!(user = %user.id, "a password reset was asked, but no SMTP server is configured (SMTP_HOST); none sent");
            return Ok(());
        };
        let token = new_token();
        sqlx::query(
            "WITH expired AS (DELETE FROM password_resets WHERE user_id = $2 AND expires_at < now())
             INSERT INTO password_resets (token_hash, user_id, expires_at)
             VALUES ($1, $2, now() + make_interval(secs => $3))",
        )
        .bind(digest(&token))
        .bind(user.id)
        .bind(self.settings.reset_ttl.as_secs_f64())
        .execute(&self.pool)
        .await
        .doing("storing a password reset")?;
        let minutes = self.settings.reset_ttl.as_secs().div_ceil(60);
        let body = format!(
            "Hello{name},\n\n\
             someone (hopefully you) asked to reset the password of your Maestro account {email}.\n\
             Open this link within {minutes} minutes to choose a new one; it works once:\n\n\
             {link}\n\n\
             If you did not ask, ignore this mail: your password stays as it is.\n",
            name = if user.name.is_empty() {
                String::new()
            } else {
                format!(" {}", user.name)
            },
            link = self.reset_link(&token),
        );
        mailer
            .send(email, "Reset your Maestro password", body, None)
            .await
            .map_err(IdentityError::Internal)?;
        tracing::info!(user = %user.id, "password reset mail sent");
        Ok(())
    }

    /// Sets a new password with a reset token. The token works once, within its hour;
    /// every earlier session and reset link of the account ends. Answers a new session.
    pub async fn reset_password(&self, token: &str, new_password: &str) -> Result<Session, IdentityError> {
        // Check the new password first, so that a rejected one does not use up the link.
        let new_password = Password::parse_field("newPassword", new_password)?;
        let token = token.trim();
        if !well_formed(token) {
            return Err(bad_link(
                "is not a password reset token; copy the whole link from the mail",
            ));
        }
        let hash = passwords::hash(new_password).await?;
        let mut tx = self.pool.begin().await.doing("starting a transaction")?;
        let claimed: Option<Uuid> = sqlx::query_scalar(
            "UPDATE password_resets SET used_at = now()
              WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
              RETURNING user_id",
        )
        .bind(digest(token))
        .fetch_optional(&mut *tx)
        .await
        .doing("using a password reset")?;
        let Some(user) = claimed else {
            let state: Option<(bool, bool)> = sqlx::query_as(
                "SELECT used_at IS NOT NULL, expires_at <= now() FROM password_resets WHERE token_hash = $1",
            )
            .bind(digest(token))
            .fetch_optional(&mut *tx)
            .await
            .doing("reading a password reset")?;
            return Err(bad_link(match state {
                Some((true, _)) => "this reset link was already used; ask for a new one if you need it",
                Some((false, true)) => "this reset link has expired; ask for a new one",
                _ => "this reset link is not valid (or a newer password voided it); ask for a new one",
            }));
        };
        let version = replace_password(&mut *tx, user, &hash).await?;
        tx.commit().await.doing("resetting a password")?;
        let account = self.user(user).await?;
        if let Ok(email) = Email::parse(&account.email) {
            limits::clear(&self.pool, &email_key(&email)).await?;
        }
        tracing::info!(user = %user, "password reset; earlier sessions voided");
        self.session(user, version).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_url_safe_and_stored_as_digests() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(digest(&a).len(), 32);
        assert_ne!(digest(&a), a.as_bytes());
    }
}
