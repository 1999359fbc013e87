//! Session tokens: JWTs signed with HS256 under `MAESTRO_SECRETJWT`. A token names the
//! user and the user's token version; changing or resetting a password bumps the version,
//! which voids every token issued before.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::IdentityError;

const ISSUER: &str = "maestro";

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: Uuid,
    /// The user's token version when the token was issued.
    pub ver: i32,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// Issues and checks session tokens.
#[derive(Clone)]
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sessions(HS256, ttl {:?})", self.ttl)
    }
}

impl Sessions {
    pub fn new(secret: &[u8], ttl: Duration) -> Sessions {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Sessions {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `user` at token version `version`, issued at `now`; and when it expires.
    pub fn issue(&self, user: Uuid, version: i32, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
        let expires = now + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::hours(12));
        let claims = Claims {
            sub: user,
            ver: version,
            iat: now.timestamp(),
            exp: expires.timestamp(),
            iss: ISSUER.to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail");
        let expires = Utc.timestamp_opt(claims.exp, 0).single().unwrap_or(expires);
        (token, expires)
    }

    /// The claims of a good token; a bad or expired one is `Unauthenticated` with a
    /// message saying to log in again.
    pub fn check(&self, token: &str) -> Result<Claims, IdentityError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| {
                IdentityError::Unauthenticated(match error.kind() {
                    ErrorKind::ExpiredSignature => "your session has expired; log in again".to_string(),
                    ErrorKind::InvalidSignature => {
                        "the session token was not issued by this Maestro (or its key changed); log in again"
                            .to_string()
                    }
                    _ => "the session token is not valid; log in again".to_string(),
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(secret: &str) -> Sessions {
        Sessions::new(secret.as_bytes(), Duration::from_secs(3600))
    }

    fn message(result: Result<Claims, IdentityError>) -> String {
        match result {
            Err(IdentityError::Unauthenticated(message)) => message,
            other => panic!("expected Unauthenticated, got {other:?}"),
        }
    }

    #[test]
    fn a_token_carries_the_user_and_version_until_it_expires() {
        let sessions = sessions("a key long enough for HS256 tokens, 32+");
        let user = Uuid::now_v7();
        let (token, expires) = sessions.issue(user, 3, Utc::now());
        let claims = sessions.check(&token).unwrap();
        assert_eq!((claims.sub, claims.ver), (user, 3));
        assert_eq!(claims.exp, expires.timestamp());

        let (old, _) = sessions.issue(user, 3, Utc::now() - chrono::Duration::hours(2));
        assert!(message(sessions.check(&old)).contains("expired"));
    }

    #[test]
    fn tokens_of_another_key_or_garbage_are_refused() {
        let (token, _) =
            sessions("one key, long enough for HS256 tokens").issue(Uuid::now_v7(), 1, Utc::now());
        assert!(
            message(sessions("another key, long enough for HS256 tokens").check(&token))
                .contains("log in again")
        );
        for garbage in ["", "abc", "a.b.c", "Bearer x", &token[..token.len() - 3]] {
            assert!(message(sessions("k").check(garbage)).contains("log in again"));
        }
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = engine.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let claims = engine.encode(format!(
            r#"{{"sub":"{}","ver":1,"iat":0,"exp":{},"iss":"maestro"}}"#,
            Uuid::now_v7(),
            Utc::now().timestamp() + 3600
        ));
        let sessions = sessions("a key long enough for HS256 tokens, 32+");
        assert!(sessions.check(&format!("{header}.{claims}.")).is_err());
    }
}
