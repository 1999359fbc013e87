//! Connection credentials, encrypted at rest with AES-256-GCM. The key comes from the
//! environment (`MAESTRO_CREDENTIALS_KEY`, 32 bytes in base64) and never touches the
//! database; the ciphertext is bound to its connection, so it cannot be moved to another.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use domain::Item;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

pub const KEY_VARIABLE: &str = "MAESTRO_CREDENTIALS_KEY";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("{KEY_VARIABLE} is not set; set it to 32 random bytes in base64 (e.g. `openssl rand -base64 32`) to store credentials")]
    NoKey,
    #[error("{KEY_VARIABLE} must be 32 bytes in base64: {0}")]
    BadKey(String),
    #[error("connection {0} has no credentials; set them with setConnectionCredentials")]
    Missing(Uuid),
    #[error("the credentials of connection {0} cannot be decrypted with this {KEY_VARIABLE}; was the key changed?")]
    Undecryptable(Uuid),
    #[error("the provider or options of connection {0} changed since its credentials were stored, and credentials go only where they were stored for; an admin must set them again with setConnectionCredentials")]
    Redirected(Uuid),
    #[error("Postgres failed while reading or writing credentials ({0}); start it with `ops/up`")]
    Database(#[from] sqlx::Error),
}

#[derive(Clone)]
pub struct Vault {
    pool: PgPool,
    cipher: Option<Aes256Gcm>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Vault(key {})",
            if self.cipher.is_some() { "set" } else { "missing" }
        )
    }
}

impl Vault {
    /// A vault with the key from the environment. Without a key, storing and reading
    /// credentials fail with a message that says how to set one.
    pub fn from_env(pool: PgPool) -> Result<Vault, VaultError> {
        let key = match std::env::var(KEY_VARIABLE) {
            Ok(encoded) => Some(Self::parse_key(&encoded)?),
            Err(_) => None,
        };
        Ok(Vault {
            pool,
            cipher: key.map(|key| Aes256Gcm::new(&key)),
        })
    }

    /// A vault with the key the configuration gives (`None`: no key, as in `from_env`).
    pub fn new(pool: PgPool, encoded_key: Option<&str>) -> Result<Vault, VaultError> {
        match encoded_key {
            Some(key) => Self::with_key(pool, key),
            None => Ok(Vault { pool, cipher: None }),
        }
    }

    /// Whether `encoded` is a usable key: 32 bytes in base64.
    pub fn check_key(encoded: &str) -> Result<(), VaultError> {
        Self::parse_key(encoded).map(|_| ())
    }

    pub fn with_key(pool: PgPool, encoded_key: &str) -> Result<Vault, VaultError> {
        let key = Self::parse_key(encoded_key)?;
        Ok(Vault {
            pool,
            cipher: Some(Aes256Gcm::new(&key)),
        })
    }

    /// The key's 32 bytes, for what else Maestro encrypts at rest with it (webhook secrets).
    pub fn key_bytes(encoded: &str) -> Result<[u8; 32], VaultError> {
        Ok(Self::parse_key(encoded)?.into())
    }

    fn parse_key(encoded: &str) -> Result<Key<Aes256Gcm>, VaultError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| VaultError::BadKey(e.to_string()))?;
        if bytes.len() != 32 {
            return Err(VaultError::BadKey(format!("it is {} bytes long", bytes.len())));
        }
        Ok(*Key::<Aes256Gcm>::from_slice(&bytes))
    }

    fn cipher(&self) -> Result<&Aes256Gcm, VaultError> {
        self.cipher.as_ref().ok_or(VaultError::NoKey)
    }

    /// Stores (replaces) the credentials of `connection` (its state now), bound to where
    /// its provider and options send them; returns the new reference that the
    /// connection's events may carry.
    pub async fn store(
        &self,
        connection: &Item,
        credentials: &BTreeMap<String, String>,
    ) -> Result<Uuid, VaultError> {
        let (destination, connection) = (destination(connection), connection.id);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let plaintext = serde_json::to_vec(credentials).expect("string maps serialize");
        let ciphertext = self
            .cipher()?
            .encrypt(
                &nonce,
                Payload {
                    msg: &plaintext,
                    aad: connection.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a small message cannot fail");
        let reference = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO connection_credentials (connection_id, reference, nonce, ciphertext, destination)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (connection_id) DO UPDATE SET reference = EXCLUDED.reference, nonce = EXCLUDED.nonce,
                 ciphertext = EXCLUDED.ciphertext, destination = EXCLUDED.destination, stored_at = now()",
        )
        .bind(connection)
        .bind(reference)
        .bind(nonce.as_slice())
        .bind(&ciphertext)
        .bind(&destination)
        .execute(&self.pool)
        .await?;
        Ok(reference)
    }

    /// The credentials of `connection` (its state now), decrypted, when it still points
    /// where they were stored for.
    pub async fn load(&self, connection: &Item) -> Result<BTreeMap<String, String>, VaultError> {
        let (destination, connection) = (destination(connection), connection.id);
        let row: Option<(Vec<u8>, Vec<u8>, Option<String>)> = sqlx::query_as(
            "SELECT nonce, ciphertext, destination FROM connection_credentials WHERE connection_id = $1",
        )
        .bind(connection)
        .fetch_optional(&self.pool)
        .await?;
        let (nonce, ciphertext, stored_for) = row.ok_or(VaultError::Missing(connection))?;
        if stored_for.as_deref() != Some(destination.as_str()) {
            return Err(VaultError::Redirected(connection));
        }
        let plaintext = self
            .cipher()?
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: connection.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Undecryptable(connection))?;
        serde_json::from_slice(&plaintext).map_err(|_| VaultError::Undecryptable(connection))
    }
}

/// Where a connection sends its credentials: a digest of its provider and options, the
/// settings that name endpoints, hosts and URLs. Any change to them unbinds the stored
/// credentials, so that whoever may edit a connection cannot redirect them. (serde_json
/// keeps object keys sorted, so the same options always give the same text.)
fn destination(connection: &Item) -> String {
    let setting = |name: &str| connection.fields.get(name).unwrap_or(&Value::Null).to_string();
    let digest = Sha256::digest(format!("{}\n{}", setting("provider"), setting("options")));
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}
