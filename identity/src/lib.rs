//! People and teams. Accounts with argon2 password hashes, sessions as HS256 JWTs,
//! password resets by single-use links sent over SMTP, teams with members and roles, and
//! the step that turns a session token into the [`domain::Viewer`] the access rules use.
//!
//! Identity is not inventory: it lives in plain tables (`schema/migrations/0005_identity.sql`),
//! not in the event log, so that no password hash or token ever reaches the log, NATS or
//! the read models. Membership changes are logged with `tracing`.

mod api_tokens;
mod error;
mod limits;
mod mail;
mod notifications;
mod passwords;
mod resets;
mod sign_ups;
mod teams;
mod tokens;
mod users;
mod values;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

pub use api_tokens::{require_session, ApiToken, ApiTokenRequest, NewApiToken, MAX_TOKENS_PER_PERSON};
pub use error::IdentityError;
pub use limits::LoginLimit;
pub use mail::SmtpSettings;
pub use notifications::{Channels, Notice, Notification, Topic};
pub use sign_ups::SignUps;
pub use teams::{Invitation, Member, Team};
pub use tokens::{Claims, Sessions};
pub use values::{Email, Password, PersonName, TeamName, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};

/// How long a session token lasts unless configured otherwise (`MAESTRO_JWT_TTL`).
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How many sign-ups one client may make in an hour unless configured otherwise
/// (`MAESTRO_SIGN_UPS_PER_HOUR`).
pub const DEFAULT_SIGN_UPS_PER_HOUR: u32 = 10;
/// How long a password reset link works.
pub const RESET_TTL: Duration = Duration::from_secs(3600);

/// What identity needs from the configuration.
#[derive(Clone)]
pub struct Settings {
    /// Signs session tokens (`MAESTRO_SECRETJWT`).
    pub session_secret: Vec<u8>,
    /// Signs public share links (`MAESTRO_SECRETLINK`); kept here for the gateway's
    /// share-link code, never used for sessions.
    pub link_secret: Vec<u8>,
    pub session_ttl: Duration,
    /// Where people reach Maestro, for links in mails (`MAESTRO_PUBLIC_URL`).
    pub public_url: String,
    /// Without SMTP, reset mails cannot go out (a warning says so).
    pub smtp: Option<SmtpSettings>,
    pub login_limit: LoginLimit,
    /// At most this many sign-ups per client (IPv4 address or IPv6 /64) in an hour
    /// (`MAESTRO_SIGN_UPS_PER_HOUR`).
    pub sign_ups_per_hour: u32,
    /// Whether `signUp` makes accounts at once or a mailed link does
    /// (`MAESTRO_SIGN_UP`).
    pub sign_ups: SignUps,
    pub reset_ttl: Duration,
}

impl Settings {
    /// Settings for a local machine with the given keys and no SMTP.
    pub fn new(session_secret: impl Into<Vec<u8>>, link_secret: impl Into<Vec<u8>>) -> Settings {
        Settings {
            session_secret: session_secret.into(),
            link_secret: link_secret.into(),
            session_ttl: DEFAULT_SESSION_TTL,
            public_url: "http://127.0.0.1:8888".to_string(),
            smtp: None,
            login_limit: LoginLimit::default(),
            sign_ups_per_hour: DEFAULT_SIGN_UPS_PER_HOUR,
            sign_ups: SignUps::Open,
            reset_ttl: RESET_TTL,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("session_secret", &"***")
            .field("link_secret", &"***")
            .field("session_ttl", &self.session_ttl)
            .field("public_url", &self.public_url)
            .field("smtp", &self.smtp)
            .field("login_limit", &self.login_limit)
            .field("sign_ups_per_hour", &self.sign_ups_per_hour)
            .field("sign_ups", &self.sign_ups)
            .field("reset_ttl", &self.reset_ttl)
            .finish()
    }
}

/// Accounts, sessions and teams over one Postgres pool. Cheap to clone.
#[derive(Clone)]
pub struct Identity {
    pool: PgPool,
    sessions: Sessions,
    mailer: Option<mail::Mailer>,
    settings: Arc<Settings>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({:?})", self.settings)
    }
}

/// A person's account as others may see it. Never holds the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A signed-in session: the token to send as `Authorization: Bearer …`.
#[derive(Clone)]
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("token", &"***")
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .finish()
    }
}

impl Identity {
    /// Fails only on SMTP settings that cannot work (a sender that is no address).
    pub fn new(pool: PgPool, settings: Settings) -> Result<Identity, IdentityError> {
        let mailer = settings.smtp.as_ref().map(mail::Mailer::new).transpose()?;
        Ok(Identity {
            pool,
            sessions: Sessions::new(&settings.session_secret, settings.session_ttl),
            mailer,
            settings: Arc::new(settings),
        })
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The key of public share links (`MAESTRO_SECRETLINK`).
    pub fn link_secret(&self) -> &[u8] {
        &self.settings.link_secret
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}
