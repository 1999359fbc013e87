//! Webhook secrets and the Standard Webhooks signature.
//!
//! A secret is shown to its owner once, as `whsec_<base64>`, when an endpoint is created
//! or its secret rotated; afterwards it exists only encrypted in the database and, for the
//! time of a request, in a worker's memory. Receivers verify a delivery by computing
//! `HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")`, where the key is the
//! base64-decoded part of the secret, and comparing it with `webhook-signature`.

use std::fmt;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::WebhookError;

const PREFIX: &str = "whsec_";
/// Bytes in a generated secret: the middle of the 24–64 the specification allows.
const GENERATED_BYTES: usize = 32;
const MIN_BYTES: usize = 24;
const MAX_BYTES: usize = 64;

/// A signing secret. Its `Debug` prints `***`, and it has no `Display`, so it cannot end
/// up in a log line by accident; [`expose`](Self::expose) is the one way to read it.
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// A new secret from the operating system's randomness.
    pub fn generate() -> WebhookSecret {
        let mut bytes = vec![0; GENERATED_BYTES];
        OsRng.fill_bytes(&mut bytes);
        WebhookSecret(bytes)
    }

    /// A secret in the specification's form, `whsec_` and 24 to 64 bytes in base64.
    pub fn parse(text: &str) -> Result<WebhookSecret, WebhookError> {
        let encoded = text.strip_prefix(PREFIX).ok_or(WebhookError::InvalidSecret)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookError::InvalidSecret)?;
        WebhookSecret::from_bytes(bytes)
    }

    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Result<WebhookSecret, WebhookError> {
        if (MIN_BYTES..=MAX_BYTES).contains(&bytes.len()) {
            Ok(WebhookSecret(bytes))
        } else {
            Err(WebhookError::InvalidSecret)
        }
    }

    /// The secret as its owner pastes it into their receiver: `whsec_<base64>`. Show it
    /// once; it cannot be read back later.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The `webhook-signature` header value for `body` sent as message `id` at
    /// `timestamp` (unix seconds): `v1,<base64 of the HMAC-SHA256>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes keys of any length; the error case cannot happen.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            unreachable!("HMAC-SHA256 accepts keys of any length")
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published test vector of the Standard Webhooks reference libraries.
    #[test]
    fn signs_the_specification_test_vector() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn generated_secrets_round_trip_and_differ() {
        let (a, b) = (WebhookSecret::generate(), WebhookSecret::generate());
        assert!(a.expose().starts_with("whsec_"));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(WebhookSecret::parse(&a.expose()).unwrap().bytes(), a.bytes());
    }

    #[test]
    fn debug_hides_the_secret() {
        let secret = WebhookSecret::generate();
        let shown = format!("{secret:?}");
        assert_eq!(shown, "WebhookSecret(***)");
        assert!(!shown.contains(&secret.expose()[6..]));
    }

    #[test]
    fn malformed_secrets_are_refused() {
        for text in [
            "",
            "whsec_",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_!!!",
            "whsec_c2hvcnQ=",
        ] {
            assert!(
                matches!(WebhookSecret::parse(text), Err(WebhookError::InvalidSecret)),
                "{text}"
            );
        }
    }
}
