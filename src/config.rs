//! All configuration, from the environment, each with a default that works on a local
//! machine set up by `ops/up`. In production (`MAESTRO_ENV=production`) there are no
//! defaults for secrets: a missing, short or well-known one stops Maestro at start with a
//! message that names the variable and says how to make a good one.

use std::collections::BTreeSet;
use std::env;
use std::fmt;
use std::time::Duration;

use gateways::CorsOrigins;
use identity::SmtpSettings;

pub const SECRET_JWT: &str = "MAESTRO_SECRETJWT";
pub const SECRET_LINK: &str = "MAESTRO_SECRETLINK";
pub const CREDENTIALS_KEY: &str = commands::CREDENTIALS_KEY_VARIABLE;

/// The fewest bytes a signing secret may have in production.
const MIN_SECRET_BYTES: usize = 32;

/// Values that ship in examples, documentation and tests: never secrets in production.
const KNOWN_DEFAULTS: &[&str] = &[
    "secret",
    "changeme",
    "change-me",
    "change_me",
    "changeit",
    "password",
    "maestro",
    "defaultSecretKey",
    "XXX",
    "XXXX",
    "your-secret-key",
    "supersecret",
    // The tests' credentials key (tests/support) and its plain text.
    "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "0123456789abcdef0123456789abcdef",
    // 32 zero bytes in base64.
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
];

/// Development (the default) or production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Development,
    Production,
}

/// A secret from the environment: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub nats_url: String,
    pub port: u16,
    pub mode: Mode,
    /// Signs session tokens. In development, `None` means a random key per process.
    pub session_secret: Option<Secret>,
    /// Signs public share links; separate from the session key.
    pub link_secret: Option<Secret>,
    /// Encrypts connection credentials (32 bytes in base64). Without it (development
    /// only), storing credentials fails with a message saying how to set it.
    pub credentials_key: Option<Secret>,
    /// How long a session token lasts (`MAESTRO_JWT_TTL`: seconds, or e.g. `30m`, `12h`, `7d`).
    pub session_ttl: Duration,
    /// Where people reach Maestro, for links in mails (`MAESTRO_PUBLIC_URL`).
    pub public_url: String,
    /// `SMTP_*`; `None` without `SMTP_HOST`.
    pub smtp: Option<SmtpSettings>,
    /// `MAESTRO_CORS_ORIGINS`: empty (same origin only), `*`, or origins separated by commas.
    pub cors_origins: CorsOrigins,
    /// `MAESTRO_CLIENT_IP_HEADER`: behind a proxy, the header holding the client's address.
    pub client_ip_header: Option<String>,
    /// `MAESTRO_TRUSTED_PROXIES`: how many proxies in front of Maestro each append an
    /// address to that header (1 unless set).
    pub trusted_proxies: usize,
    /// `MAESTRO_WS_SESSION_CHECK`: how often an open WebSocket's session is checked again
    /// (besides before each of its operations); a session that ended closes the socket.
    pub ws_session_check: Duration,
    /// `MAESTRO_SIGN_UPS_PER_HOUR`: sign-ups allowed per client in an hour.
    pub sign_ups_per_hour: u32,
    /// `MAESTRO_SIGN_UP`: `verified` (production's default: a mailed link makes the
    /// account, and asking tells nothing about which addresses have one) or `open`
    /// (development's default: `signUp` makes it at once).
    pub sign_ups: identity::SignUps,
    /// `MAESTRO_DEMO_PASSWORD`: the demo user's password (`maestro demo`); random when unset.
    pub demo_password: Option<Secret>,
    /// `MAESTRO_MAX_CONCURRENT_REQUESTS` (64) and `MAESTRO_SUBSCRIPTION_BUFFER` (4096).
    pub gateway_limits: gateways::Limits,
    /// The gateway's own database pool: `MAESTRO_GATEWAY_DB_CONNECTIONS` (16) and
    /// `MAESTRO_GATEWAY_STATEMENT_TIMEOUT` (30s).
    pub gateway_pool: gateways::PoolSettings,
    /// What crawls and connection tests may reach, whoever wrote the connection:
    /// `MAESTRO_SOURCE_DIRS` (folders local paths may name; none when unset),
    /// `MAESTRO_PRIVATE_ENDPOINTS` (internal networks endpoints may be in; none when
    /// unset) and `MAESTRO_SOURCE_MAX_BYTES` (the most one read takes).
    pub reach: crawlers::Reach,
    /// `MAESTRO_WEBHOOK_PRIVATE_ENDPOINTS`: internal networks webhooks may post to (none
    /// when unset: loopback, private and link-local addresses are refused).
    pub webhook_networks: Vec<ipnet::IpNet>,
}

impl Config {
    /// Webhook endpoints and deliveries, their secrets encrypted with the credentials key;
    /// `None` without one.
    pub fn webhooks(&self, pool: &sqlx::PgPool) -> Option<webhooks::Webhooks> {
        let key = commands::Vault::key_bytes(self.credentials_key.as_ref()?.expose()).ok()?;
        Some(webhooks::Webhooks::new(
            pool.clone(),
            &key,
            webhooks::allowing(self.webhook_networks.clone()),
        ))
    }

    pub fn from_env() -> Result<Config, String> {
        Config::from_lookup(|name| env::var(name).ok())
    }

    /// The configuration from `lookup` (a variable's value by name), for tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        // An empty variable counts as unset.
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let port = match var("MAESTRO_PORT") {
            Some(raw) => raw
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|port| *port > 0)
                .ok_or_else(|| format!("MAESTRO_PORT=`{raw}` is not a port number (1-65535)"))?,
            None => 8888,
        };
        let mode = match var("MAESTRO_ENV")
            .map(|raw| raw.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("development") | Some("dev") => Mode::Development,
            Some("production") | Some("prod") => Mode::Production,
            Some(other) => {
                return Err(format!(
                    "MAESTRO_ENV=`{other}` is neither `development` nor `production`"
                ))
            }
        };
        let session_secret = var(SECRET_JWT).map(Secret);
        let link_secret = var(SECRET_LINK).map(Secret);
        let credentials_key = var(CREDENTIALS_KEY).map(Secret);
        if let Some(key) = &credentials_key {
            commands::Vault::check_key(key.expose())
                .map_err(|error| format!("{error}; make one with `openssl rand -base64 32`"))?;
        }
        if mode == Mode::Production {
            check_signing_secret(SECRET_JWT, session_secret.as_ref())?;
            check_signing_secret(SECRET_LINK, link_secret.as_ref())?;
            if session_secret == link_secret {
                return Err(format!(
                    "{SECRET_JWT} and {SECRET_LINK} are the same; give each its own (`openssl rand -base64 48`), so that a share link can never pass for a session"
                ));
            }
            match &credentials_key {
                None => {
                    return Err(format!(
                        "{CREDENTIALS_KEY} is not set, which production mode (MAESTRO_ENV=production) requires; make one with `openssl rand -base64 32`"
                    ))
                }
                Some(key) if is_known_default(key.expose()) => {
                    return Err(format!(
                        "{CREDENTIALS_KEY} is a well-known value (from examples or tests); make a new one with `openssl rand -base64 32`"
                    ))
                }
                Some(_) => {}
            }
        }
        let session_ttl = match var("MAESTRO_JWT_TTL") {
            Some(raw) => parse_duration(&raw)
                .filter(|ttl| (Duration::from_secs(60)..=Duration::from_secs(30 * 86400)).contains(ttl))
                .ok_or_else(|| {
                    format!("MAESTRO_JWT_TTL=`{raw}` is not a duration between 1 minute and 30 days (e.g. 3600, 30m, 12h, 7d)")
                })?,
            None => identity::DEFAULT_SESSION_TTL,
        };
        let public_url = match var("MAESTRO_PUBLIC_URL") {
            Some(raw) => {
                let parsed = url::Url::parse(raw.trim())
                    .ok()
                    .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
                    .ok_or_else(|| {
                        format!("MAESTRO_PUBLIC_URL=`{raw}` is not an http(s) URL such as https://maestro.example.com")
                    })?;
                parsed.as_str().trim_end_matches('/').to_string()
            }
            None => format!("http://127.0.0.1:{port}"),
        };
        let ws_session_check = match var("MAESTRO_WS_SESSION_CHECK") {
            Some(raw) => parse_duration(&raw)
                .filter(|every| (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(every))
                .ok_or_else(|| {
                    format!("MAESTRO_WS_SESSION_CHECK=`{raw}` is not a duration between 1 second and 1 hour (e.g. 5, 30s, 1m)")
                })?,
            None => gateways::DEFAULT_SESSION_CHECK,
        };
        let sign_ups_per_hour = match var("MAESTRO_SIGN_UPS_PER_HOUR") {
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|count| (1..=100_000).contains(count))
                .ok_or_else(|| {
                    format!(
                        "MAESTRO_SIGN_UPS_PER_HOUR=`{raw}` is not a number of sign-ups between 1 and 100000"
                    )
                })?,
            None => identity::DEFAULT_SIGN_UPS_PER_HOUR,
        };
        let sign_ups = match var("MAESTRO_SIGN_UP") {
            Some(raw) => identity::SignUps::parse(&raw)?,
            None if mode == Mode::Production => identity::SignUps::Verified,
            None => identity::SignUps::Open,
        };
        let trusted_proxies = match var("MAESTRO_TRUSTED_PROXIES") {
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|count| (1..=10).contains(count))
                .ok_or_else(|| {
                    format!("MAESTRO_TRUSTED_PROXIES=`{raw}` is not a number of proxies between 1 and 10")
                })?,
            None => 1,
        };
        Ok(Config {
            database_url: var("DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/maestro".to_string()),
            nats_url: var("NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".to_string()),
            port,
            mode,
            session_secret,
            link_secret,
            credentials_key,
            session_ttl,
            public_url,
            smtp: smtp(&var)?,
            cors_origins: cors_origins(var("MAESTRO_CORS_ORIGINS").as_deref())?,
            client_ip_header: var("MAESTRO_CLIENT_IP_HEADER").map(|name| name.trim().to_string()),
            ws_session_check,
            sign_ups_per_hour,
            sign_ups,
            trusted_proxies,
            demo_password: var("MAESTRO_DEMO_PASSWORD").map(Secret),
            gateway_limits: gateway_limits(&var)?,
            gateway_pool: gateway_pool(&var)?,
            webhook_networks: match var(webhooks::PRIVATE_ENDPOINTS_SETTING) {
                Some(raw) => webhooks::parse_networks(&raw).map_err(|error| error.to_string())?,
                None => vec![],
            },
            reach: reach(&var)?,
        })
    }

    /// What the identity crate needs. In development, a missing signing secret becomes a
    /// random one for this process (with a warning when `warn`): sessions and share links
    /// then end when it stops, and other processes cannot check them.
    pub fn identity_settings(&self, warn: bool) -> identity::Settings {
        let secret = |configured: &Option<Secret>, name: &str| match configured {
            Some(secret) => secret.expose().as_bytes().to_vec(),
            None => {
                if warn {
                    tracing::warn!(
                        "{name} is not set: using a random key for this process, so sessions end when it stops and other gateways cannot check them; set it (`openssl rand -base64 48`) to keep them"
                    );
                }
                random_secret()
            }
        };
        identity::Settings {
            session_secret: secret(&self.session_secret, SECRET_JWT),
            link_secret: secret(&self.link_secret, SECRET_LINK),
            session_ttl: self.session_ttl,
            public_url: self.public_url.clone(),
            smtp: self.smtp.clone(),
            login_limit: identity::LoginLimit::default(),
            sign_ups_per_hour: self.sign_ups_per_hour,
            sign_ups: self.sign_ups,
            reset_ttl: identity::RESET_TTL,
        }
    }
}

fn is_known_default(value: &str) -> bool {
    let value = value.trim();
    KNOWN_DEFAULTS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(value))
}

/// A production signing secret: set, at least 32 bytes, not a placeholder.
fn check_signing_secret(name: &str, secret: Option<&Secret>) -> Result<(), String> {
    let how = "make one with `openssl rand -base64 48`";
    let Some(secret) = secret else {
        return Err(format!(
            "{name} is not set, which production mode (MAESTRO_ENV=production) requires; {how}"
        ));
    };
    let value = secret.expose().trim();
    if is_known_default(value) {
        return Err(format!("{name} is a well-known default value; {how}"));
    }
    if value.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "{name} is {} bytes long; production needs at least {MIN_SECRET_BYTES}: {how}",
            value.len()
        ));
    }
    if value.bytes().collect::<BTreeSet<u8>>().len() < 8 {
        return Err(format!("{name} is too repetitive to be a secret; {how}"));
    }
    Ok(())
}

/// 48 random bytes (from the system's randomness, through v4 UUIDs), as text.
fn random_secret() -> Vec<u8> {
    (0..3)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect::<String>()
        .into_bytes()
}

/// `3600`, `3600s`, `30m`, `12h`, `7d`.
fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim().to_ascii_lowercase();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(split) => raw.split_at(split),
        None => (raw.as_str(), "s"),
    };
    let number: u64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    number.checked_mul(seconds).map(Duration::from_secs)
}

/// A whole number within `range`, or `default` when unset.
fn number(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Result<u64, String> {
    let Some(raw) = var(name) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|value| range.contains(value))
        .ok_or_else(|| {
            format!(
                "{name}=`{raw}` is not a whole number between {} and {}",
                range.start(),
                range.end()
            )
        })
}

fn gateway_limits(var: &impl Fn(&str) -> Option<String>) -> Result<gateways::Limits, String> {
    let default = gateways::Limits::default();
    Ok(gateways::Limits {
        max_concurrent_requests: number(
            var,
            "MAESTRO_MAX_CONCURRENT_REQUESTS",
            1..=100_000,
            default.max_concurrent_requests as u64,
        )? as usize,
        subscription_buffer: number(
            var,
            "MAESTRO_SUBSCRIPTION_BUFFER",
            16..=1_000_000,
            default.subscription_buffer as u64,
        )? as usize,
    })
}

fn gateway_pool(var: &impl Fn(&str) -> Option<String>) -> Result<gateways::PoolSettings, String> {
    let default = gateways::PoolSettings::default();
    let statement_timeout = match var("MAESTRO_GATEWAY_STATEMENT_TIMEOUT") {
        Some(raw) => parse_duration(&raw)
            .filter(|timeout| (Duration::from_secs(1)..=Duration::from_secs(600)).contains(timeout))
            .ok_or_else(|| {
                format!(
                    "MAESTRO_GATEWAY_STATEMENT_TIMEOUT=`{raw}` is not a duration between 1 second and 10 minutes (e.g. 30, 30s, 2m)"
                )
            })?,
        None => default.statement_timeout,
    };
    Ok(gateways::PoolSettings {
        max_connections: number(
            var,
            "MAESTRO_GATEWAY_DB_CONNECTIONS",
            1..=1_000,
            default.max_connections.into(),
        )? as u32,
        statement_timeout,
    })
}

fn flag(name: &str, raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{name}=`{raw}` is neither true nor false")),
    }
}

/// The original Maestro's SMTP variables. TLS is on unless `SMTP_USETSL=false`.
fn smtp(var: &impl Fn(&str) -> Option<String>) -> Result<Option<SmtpSettings>, String> {
    let Some(host) = var("SMTP_HOST") else {
        return Ok(None);
    };
    let tls = match var("SMTP_USETSL") {
        Some(raw) => flag("SMTP_USETSL", &raw)?,
        None => true,
    };
    let port = match var("SMTP_PORT") {
        Some(raw) => raw
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| format!("SMTP_PORT=`{raw}` is not a port number (1-65535)"))?,
        None if tls => 465,
        None => 25,
    };
    let sender = var("SMTP_SENDER").ok_or_else(|| {
        "SMTP_SENDER is not set; with SMTP_HOST, give the address mails come from, e.g. SMTP_SENDER=maestro@example.com"
            .to_string()
    })?;
    Ok(Some(SmtpSettings {
        host: host.trim().to_string(),
        port,
        sender: sender.trim().to_string(),
        username: var("SMTP_USERNAME"),
        password: var("SMTP_PASSWORD"),
        tls,
    }))
}

/// `MAESTRO_SOURCE_DIRS`: absolute folders separated by commas; `MAESTRO_PRIVATE_ENDPOINTS`:
/// networks (`10.20.0.0/16`) or addresses separated by commas; `MAESTRO_SOURCE_MAX_BYTES`.
fn reach(var: &impl Fn(&str) -> Option<String>) -> Result<crawlers::Reach, String> {
    let list = |name: &str| -> Vec<String> {
        var(name)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect()
    };
    let dirs = list("MAESTRO_SOURCE_DIRS")
        .into_iter()
        .map(|dir| {
            let path = std::path::PathBuf::from(&dir);
            match path.is_absolute() && path.is_dir() {
                true => Ok(path),
                false => Err(format!(
                    "MAESTRO_SOURCE_DIRS: `{dir}` is not the absolute path of a folder; list the folders connections may read files from, separated by commas"
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let private = list("MAESTRO_PRIVATE_ENDPOINTS")
        .iter()
        .map(|network| {
            network
                .parse()
                .map_err(|error| format!("MAESTRO_PRIVATE_ENDPOINTS: {error}"))
        })
        .collect::<Result<Vec<crawlers::Network>, _>>()?;
    let max_bytes = match var("MAESTRO_SOURCE_MAX_BYTES") {
        Some(raw) => raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|bytes| *bytes > 0)
            .ok_or_else(|| {
                format!("MAESTRO_SOURCE_MAX_BYTES=`{raw}` is not a number of bytes, e.g. 67108864 for 64 MiB")
            })?,
        None => crawlers::DEFAULT_MAX_BYTES,
    };
    Ok(crawlers::Reach::new(dirs, private, max_bytes))
}

fn cors_origins(raw: Option<&str>) -> Result<CorsOrigins, String> {
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return Ok(CorsOrigins::SameOrigin);
    };
    if raw == "*" {
        return Ok(CorsOrigins::Any);
    }
    raw.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let parsed = url::Url::parse(origin).ok();
            let serialized = parsed.as_ref().map(|url| url.origin().ascii_serialization());
            match serialized {
                Some(serialized) if serialized == origin.trim_end_matches('/') => Ok(serialized),
                _ => Err(format!(
                    "MAESTRO_CORS_ORIGINS: `{origin}` is not an origin such as https://maestro.example.com (scheme, host and port only)"
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(CorsOrigins::List)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const GOOD_JWT: &str = "b6Yc0Tq3x9Vd2kLm8Rz1Pw4Hs7Nf5Ja0Ue2Gi9Ko3Qr6Tv8Xy1Zb4Cd7Ef0Gh3";
    const GOOD_LINK: &str = "Lm8Rz1Pw4Hs7Nf5Ja0Ue2Gi9Ko3Qr6Tv8Xy1Zb4Cd7Ef0Gh3b6Yc0Tq3x9Vd2k";
    const GOOD_KEY: &str = "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=";

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn production(overrides: &[(&str, &str)]) -> Result<Config, String> {
        let mut vars = vec![
            ("MAESTRO_ENV", "production"),
            (SECRET_JWT, GOOD_JWT),
            (SECRET_LINK, GOOD_LINK),
            (CREDENTIALS_KEY, GOOD_KEY),
        ];
        for (name, value) in overrides {
            vars.retain(|(n, _)| n != name);
            vars.push((name, value));
        }
        config(&vars)
    }

    #[test]
    fn development_needs_nothing_and_makes_random_per_process_secrets() {
        let config = config(&[]).unwrap();
        assert_eq!(config.mode, Mode::Development);
        assert_eq!(
            (config.port, config.public_url.as_str()),
            (8888, "http://127.0.0.1:8888")
        );
        assert_eq!(config.cors_origins, CorsOrigins::SameOrigin);
        assert!(config.smtp.is_none());
        assert_eq!(
            config.reach,
            crawlers::Reach::default(),
            "no local path, no internal endpoint"
        );
        let (a, b) = (config.identity_settings(false), config.identity_settings(false));
        assert!(a.session_secret.len() >= MIN_SECRET_BYTES);
        assert_ne!(a.session_secret, b.session_secret);
        assert_ne!(a.session_secret, a.link_secret);
    }

    #[test]
    fn sign_ups_are_verified_in_production_unless_opened() {
        assert_eq!(config(&[]).unwrap().sign_ups, identity::SignUps::Open);
        assert_eq!(production(&[]).unwrap().sign_ups, identity::SignUps::Verified);
        assert_eq!(
            production(&[("MAESTRO_SIGN_UP", "open")]).unwrap().sign_ups,
            identity::SignUps::Open
        );
        assert!(config(&[("MAESTRO_SIGN_UP", "anyone")])
            .unwrap_err()
            .contains("MAESTRO_SIGN_UP"));
    }

    #[test]
    fn production_starts_with_good_secrets() {
        let config = production(&[]).unwrap();
        assert_eq!(config.mode, Mode::Production);
        assert_eq!(
            config.identity_settings(false).session_secret,
            GOOD_JWT.as_bytes()
        );
        assert!(!format!("{config:?}").contains(GOOD_JWT), "secrets never print");
    }

    #[test]
    fn production_refuses_missing_short_or_default_secrets_naming_the_variable() {
        for (name, value, expected) in [
            (SECRET_JWT, "", "is not set"),
            (SECRET_JWT, "secret", "well-known"),
            (SECRET_JWT, "defaultSecretKey", "well-known"),
            (SECRET_JWT, "tooShortButNotADefault123", "at least 32"),
            (SECRET_JWT, &"ab".repeat(30), "repetitive"),
            (SECRET_LINK, "", "is not set"),
            (SECRET_LINK, "changeme", "well-known"),
            (SECRET_LINK, GOOD_JWT, "are the same"),
            (CREDENTIALS_KEY, "", "is not set"),
            (
                CREDENTIALS_KEY,
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                "well-known",
            ),
            (CREDENTIALS_KEY, "c2hvcnQ=", "32 bytes"),
        ] {
            let error = production(&[(name, value)]).unwrap_err();
            assert!(error.contains(name), "{name}={value}: {error}");
            assert!(error.contains(expected), "{name}={value}: {error}");
            assert!(error.contains("openssl rand -base64"), "{name}={value}: {error}");
        }
    }

    #[test]
    fn gateway_limits_default_safely_and_refuse_nonsense_naming_the_variable() {
        let defaults = config(&[]).unwrap();
        assert_eq!(defaults.gateway_limits, gateways::Limits::default());
        assert_eq!(defaults.gateway_pool.statement_timeout, Duration::from_secs(30));
        let set = config(&[
            ("MAESTRO_MAX_CONCURRENT_REQUESTS", "8"),
            ("MAESTRO_SUBSCRIPTION_BUFFER", "100"),
            ("MAESTRO_GATEWAY_DB_CONNECTIONS", "4"),
            ("MAESTRO_GATEWAY_STATEMENT_TIMEOUT", "2m"),
        ])
        .unwrap();
        assert_eq!(set.gateway_limits.max_concurrent_requests, 8);
        assert_eq!(set.gateway_limits.subscription_buffer, 100);
        assert_eq!(set.gateway_pool.max_connections, 4);
        assert_eq!(set.gateway_pool.statement_timeout, Duration::from_secs(120));
        for (name, value) in [
            ("MAESTRO_MAX_CONCURRENT_REQUESTS", "0"),
            ("MAESTRO_MAX_CONCURRENT_REQUESTS", "lots"),
            ("MAESTRO_SUBSCRIPTION_BUFFER", "1"),
            ("MAESTRO_GATEWAY_DB_CONNECTIONS", "-1"),
            ("MAESTRO_GATEWAY_STATEMENT_TIMEOUT", "0"),
            ("MAESTRO_GATEWAY_STATEMENT_TIMEOUT", "1d"),
        ] {
            let error = config(&[(name, value)]).unwrap_err();
            assert!(error.contains(name), "{name}={value}: {error}");
        }
    }

    #[test]
    fn what_crawls_reach_is_configured_explicitly_with_clear_errors() {
        let dir = std::env::temp_dir();
        let dirs = dir.to_str().unwrap();
        let config = config(&[
            ("MAESTRO_SOURCE_DIRS", dirs),
            ("MAESTRO_PRIVATE_ENDPOINTS", "127.0.0.0/8, 10.0.0.5"),
            ("MAESTRO_SOURCE_MAX_BYTES", "1000"),
        ])
        .unwrap();
        let expected = crawlers::Reach::new(
            vec![dir.clone()],
            vec!["127.0.0.0/8".parse().unwrap(), "10.0.0.5".parse().unwrap()],
            1000,
        );
        assert_eq!(config.reach, expected);
        for (name, value) in [
            ("MAESTRO_SOURCE_DIRS", "relative/dir"),
            ("MAESTRO_SOURCE_DIRS", "/no/such/folder"),
            ("MAESTRO_PRIVATE_ENDPOINTS", "intranet"),
            ("MAESTRO_SOURCE_MAX_BYTES", "64MB"),
        ] {
            let error = super::Config::from_lookup(|n| (n == name).then(|| value.to_string())).unwrap_err();
            assert!(error.contains(name), "{name}={value}: {error}");
        }
    }

    #[test]
    fn durations_origins_and_smtp_parse_with_clear_errors() {
        assert_eq!(
            config(&[("MAESTRO_JWT_TTL", "30m")]).unwrap().session_ttl,
            Duration::from_secs(1800)
        );
        assert_eq!(
            config(&[("MAESTRO_JWT_TTL", "7200")]).unwrap().session_ttl,
            Duration::from_secs(7200)
        );
        assert!(config(&[("MAESTRO_JWT_TTL", "12 parsecs")])
            .unwrap_err()
            .contains("MAESTRO_JWT_TTL"));
        assert!(config(&[("MAESTRO_JWT_TTL", "1s")]).is_err());
        assert_eq!(config(&[]).unwrap().ws_session_check, Duration::from_secs(5));
        assert_eq!(config(&[]).unwrap().sign_ups_per_hour, 10);
        assert_eq!(config(&[]).unwrap().trusted_proxies, 1);
        assert_eq!(
            config(&[("MAESTRO_TRUSTED_PROXIES", "2")])
                .unwrap()
                .trusted_proxies,
            2
        );
        assert!(config(&[("MAESTRO_TRUSTED_PROXIES", "0")])
            .unwrap_err()
            .contains("MAESTRO_TRUSTED_PROXIES"));
        assert_eq!(
            config(&[("MAESTRO_SIGN_UPS_PER_HOUR", "200")])
                .unwrap()
                .sign_ups_per_hour,
            200
        );
        for bad in ["0", "many", "-3"] {
            assert!(config(&[("MAESTRO_SIGN_UPS_PER_HOUR", bad)])
                .unwrap_err()
                .contains("MAESTRO_SIGN_UPS_PER_HOUR"));
        }
        assert_eq!(
            config(&[("MAESTRO_WS_SESSION_CHECK", "30s")])
                .unwrap()
                .ws_session_check,
            Duration::from_secs(30)
        );
        for bad in ["0", "2h", "soon"] {
            assert!(config(&[("MAESTRO_WS_SESSION_CHECK", bad)])
                .unwrap_err()
                .contains("MAESTRO_WS_SESSION_CHECK"));
        }

        let origins = config(&[(
            "MAESTRO_CORS_ORIGINS",
            "https://a.example.com, http://b.example.com:8080",
        )]);
        assert_eq!(
            origins.unwrap().cors_origins,
            CorsOrigins::List(vec![
                "https://a.example.com".into(),
                "http://b.example.com:8080".into()
            ])
        );
        assert_eq!(
            config(&[("MAESTRO_CORS_ORIGINS", "*")]).unwrap().cors_origins,
            CorsOrigins::Any
        );
        assert!(config(&[("MAESTRO_CORS_ORIGINS", "https://a.example.com/path")]).is_err());

        let smtp = config(&[
            ("SMTP_HOST", "mail.example.com"),
            ("SMTP_SENDER", "m@example.com"),
        ])
        .unwrap()
        .smtp
        .unwrap();
        assert_eq!((smtp.port, smtp.tls), (465, true));
        let plain = config(&[
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_SENDER", "m@example.com"),
            ("SMTP_USETSL", "false"),
            ("SMTP_PASSWORD", "hunter22"),
        ])
        .unwrap();
        let smtp = plain.smtp.clone().unwrap();
        assert_eq!((smtp.port, smtp.tls), (25, false));
        assert!(!format!("{plain:?}").contains("hunter22"));
        assert!(config(&[("SMTP_HOST", "h")]).unwrap_err().contains("SMTP_SENDER"));
        assert!(config(&[
            ("SMTP_HOST", "h"),
            ("SMTP_SENDER", "m@e.com"),
            ("SMTP_USETSL", "maybe")
        ])
        .is_err());
        assert_eq!(
            config(&[("MAESTRO_PUBLIC_URL", "https://maestro.example.com/")])
                .unwrap()
                .public_url,
            "https://maestro.example.com"
        );
        assert!(config(&[("MAESTRO_PUBLIC_URL", "maestro")]).is_err());
    }
}
