//! Rate limits on guessing: failed log-ins are counted per e-mail address and per client
//! address over a sliding window; past the limit, attempts are refused (before any
//! password is checked) until the oldest counted failure leaves the window. Kept in
//! Postgres, so every gateway behind a load balancer counts the same failures.

use std::net::IpAddr;
use std::time::Duration;

use sqlx::PgPool;

use crate::error::Doing;
use crate::{Email, IdentityError};

/// At most `failures` failed log-ins per e-mail address, and per client, in `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    pub failures: u32,
    pub window: Duration,
}

impl Default for LoginLimit {
    fn default() -> LoginLimit {
        LoginLimit {
            failures: 5,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// How many password reset mails one address may get in an hour; more requests are
/// answered as usual but send nothing (the answer must not differ, see `resets`).
pub(crate) const RESET_MAILS: LoginLimit = LoginLimit {
    failures: 3,
    window: Duration::from_secs(3600),
};

pub(crate) fn email_key(email: &Email) -> String {
    format!("email:{email}")
}

/// A client's key: its IPv4 address, or its IPv6 /64 (one host usually holds a whole
/// /64, so counting single IPv6 addresses would be no limit at all).
pub(crate) fn client_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

pub(crate) fn reset_key(email: &Email) -> String {
    format!("reset:{email}")
}

/// Seconds until one of `keys` may try again, if any is over the limit.
pub(crate) async fn wait_for(
    pool: &PgPool,
    keys: &[String],
    limit: LoginLimit,
) -> Result<Option<u64>, IdentityError> {
    // The `failures`-th most recent failure of a key within the window: while there is
    // one, the key is over the limit until it leaves the window.
    let wait: Option<f64> = sqlx::query_scalar(
        "SELECT max(extract(epoch FROM failed_at + make_interval(secs => $2) - now()))::float8
           FROM (SELECT key, failed_at,
                        row_number() OVER (PARTITION BY key ORDER BY failed_at DESC) AS nth
                   FROM login_failures
                  WHERE key = ANY($1) AND failed_at > now() - make_interval(secs => $2)) recent
          WHERE nth = $3",
    )
    .bind(keys)
    .bind(limit.window.as_secs_f64())
    .bind(i64::from(limit.failures))
    .fetch_one(pool)
    .await
    .doing("reading the log-in rate limits")?;
    Ok(wait
        .filter(|seconds| *seconds > 0.0)
        .map(|seconds| seconds.ceil() as u64))
}

/// Counts a failure against each of `keys`, and forgets theirs that left the window.
pub(crate) async fn record(pool: &PgPool, keys: &[String], limit: LoginLimit) -> Result<(), IdentityError> {
    sqlx::query(
        "WITH forgotten AS (
             DELETE FROM login_failures WHERE key = ANY($1) AND failed_at <= now() - make_interval(secs => $2))
         INSERT INTO login_failures (key) SELECT unnest($1::text[])",
    )
    .bind(keys)
    .bind(limit.window.as_secs_f64())
    .execute(pool)
    .await
    .doing("counting a failed log-in")?;
    Ok(())
}

/// Forgets the failures of `key` (after a successful log-in or reset by its owner).
pub(crate) async fn clear(pool: &PgPool, key: &str) -> Result<(), IdentityError> {
    sqlx::query("DELETE FROM login_failures WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await
        .doing("clearing failed log-ins")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        assert_eq!(client_key("::ffff:10.0.0.1".parse().unwrap()), "ip:10.0.0.1");
        assert_eq!(client_key("10.0.0.1".parse().unwrap()), "ip:10.0.0.1");
    }
}
