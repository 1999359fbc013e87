//! Encryption at rest of what an endpoint keeps secret: its signing secret and its extra
//! headers. AES-256-GCM with a fresh nonce per value; the associated data binds each
//! ciphertext to its endpoint and its purpose, so a ciphertext copied to another
//! endpoint's row, or from the secret column to the headers column, does not decrypt.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use uuid::Uuid;

use crate::WebhookError;

const NONCE_BYTES: usize = 12;

/// What a sealed value is, part of its associated data.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    Secret,
    Headers,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Secret => b"webhook secret",
            Purpose::Headers => b"webhook headers",
        }
    }
}

#[derive(Clone)]
pub(crate) struct Sealer(Aes256Gcm);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    pub(crate) fn new(key: &[u8; 32]) -> Sealer {
        Sealer(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)))
    }

    /// The nonce followed by the ciphertext of `plaintext`, bound to `endpoint` and `purpose`.
    pub(crate) fn seal(&self, endpoint: Uuid, purpose: Purpose, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated_data(endpoint, purpose);
        // AES-GCM fails only for messages of more than 64 GiB; ours are a few hundred bytes.
        let Ok(ciphertext) = self.0.encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        ) else {
            unreachable!("AES-GCM encrypts any message under 64 GiB")
        };
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// What [`seal`](Self::seal) sealed for `endpoint` and `purpose`; anything else (another
    /// key, another endpoint, a damaged value) is [`WebhookError::Undecryptable`].
    pub(crate) fn open(
        &self,
        endpoint: Uuid,
        purpose: Purpose,
        sealed: &[u8],
    ) -> Result<Vec<u8>, WebhookError> {
        if sealed.len() < NONCE_BYTES {
            return Err(WebhookError::Undecryptable(endpoint));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let aad = associated_data(endpoint, purpose);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| WebhookError::Undecryptable(endpoint))
    }
}

fn associated_data(endpoint: Uuid, purpose: Purpose) -> Vec<u8> {
    let mut aad = endpoint.as_bytes().to_vec();
    aad.extend_from_slice(purpose.label());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_for_its_endpoint_purpose_and_key() {
        let sealer = Sealer::new(&[7; 32]);
        let endpoint = Uuid::now_v7();
        let sealed = sealer.seal(endpoint, Purpose::Secret, b"hello");
        assert_eq!(sealer.open(endpoint, Purpose::Secret, &sealed).unwrap(), b"hello");
        assert!(sealer.open(Uuid::now_v7(), Purpose::Secret, &sealed).is_err());
        assert!(sealer.open(endpoint, Purpose::Headers, &sealed).is_err());
        assert!(Sealer::new(&[8; 32])
            .open(endpoint, Purpose::Secret, &sealed)
            .is_err());
        assert!(sealer.open(endpoint, Purpose::Secret, &sealed[..5]).is_err());
        assert!(!sealed.windows(5).any(|w| w == b"hello"));
    }
}
