//! Password hashes: argon2id with the crate's default parameters, in PHC string form
//! (the parameters and salt travel with the hash, so they can be raised later). Hashing
//! is slow on purpose, so it runs on the blocking pool, a few at a time: a flood of
//! log-ins cannot starve the runtime or exhaust memory (each hash takes ~19 MiB).

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

use crate::{IdentityError, Password};

/// How many hashes may be computed at once.
const CONCURRENT_HASHES: usize = 4;

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| Semaphore::new(CONCURRENT_HASHES))
}

async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IdentityError> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|_| IdentityError::Internal("the password hashing pool is closed".into()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| IdentityError::Internal("a password hashing thread failed".into()))
}

fn hash_now(password: &str) -> Result<String, IdentityError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| IdentityError::Internal(format!("hashing a password failed: {error}")))
}

/// The PHC string of a new password.
pub(crate) async fn hash(password: Password) -> Result<String, IdentityError> {
    on_blocking_pool(move || hash_now(password.expose())).await?
}

/// A hash of a password nobody knows: checking a log-in for an unknown address against it
/// takes as long as for a known one, so timing does not tell which addresses exist.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let mut random = [0u8; 32];
        argon2::password_hash::rand_core::RngCore::fill_bytes(&mut OsRng, &mut random);
        let text: String = random.iter().map(|b| format!("{b:02x}")).collect();
        hash_now(&text).unwrap_or_default()
    })
}

/// Whether `password` matches `stored` (a PHC string); with no stored hash, the check
/// runs against a decoy and fails.
pub(crate) async fn verify(password: Password, stored: Option<String>) -> Result<bool, IdentityError> {
    on_blocking_pool(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| decoy().to_string());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            // Never log the hash itself.
            tracing::error!("a stored password hash is not a PHC string; that account cannot log in");
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let password = Password::parse("correct horse battery").unwrap();
        let stored = hash(password.clone()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("correct horse"));
        assert!(verify(password.clone(), Some(stored.clone())).await.unwrap());
        let wrong = Password::parse("correct horse battery!").unwrap();
        assert!(!verify(wrong, Some(stored.clone())).await.unwrap());
        // The same password hashes differently each time (a fresh salt).
        assert_ne!(hash(password.clone()).await.unwrap(), stored);
        // No stored hash, or a broken one, never matches.
        assert!(!verify(password.clone(), None).await.unwrap());
        assert!(!verify(password, Some("not a hash".into())).await.unwrap());
    }
}
