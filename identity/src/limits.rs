//! Rate limits on guessing: log-in attempts are counted per e-mail address and per client
//! address over a sliding window, each before its password is checked, and taken back
//! when it succeeds, so that only failures (and attempts still being judged) count; past
//! the limit, attempts are refused before any password is checked, until the oldest
//! counted one leaves the window. Kept in Postgres, so every gateway behind a load
//! balancer counts the same attempts.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
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

/// How many password resets may be asked for one address in an hour (whether it has an
/// account or not); more requests are answered as usual but send nothing (the answer
/// must not differ, see `resets`).
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

/// How long the sign-up limit (`Settings::sign_ups_per_hour`) counts sign-ups.
pub(crate) const SIGN_UP_WINDOW: Duration = Duration::from_secs(3600);

/// A client's key for sign-ups: every sign-up counts, successful or not, since each one
/// costs a password hash.
pub(crate) fn sign_up_key(client: IpAddr) -> String {
    format!("signup:{}", client_key(client))
}

pub(crate) fn reset_key(email: &Email) -> String {
    format!("reset:{email}")
}

/// An address's key for sign-up mails: counted like reset mails, so that many clients
/// together cannot flood one mailbox.
pub(crate) fn sign_up_mail_key(email: &Email) -> String {
    format!("signup-mail:{email}")
}

/// The advisory-lock class of rate-limit keys: with `pg_advisory_xact_lock(class, key)`,
/// a space of its own, apart from the single-`bigint` locks of leases and projections.
const LOCK_CLASS: i32 = 0x6c_69_6d;

/// An attempt counted against its keys before it was judged; [`forgive`] takes it back
/// when it succeeded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted(DateTime<Utc>);

/// Counts an attempt against each of `keys`, unless one of them is over the limit: then
/// nothing is counted and the answer is `TooManyRequests` with the seconds to wait.
///
/// Check and count are one step (a transaction holding a per-key advisory lock), and the
/// attempt counts *before* the password is checked: otherwise parallel attempts all pass
/// the check before any of them is counted, and the limit limits nothing.
pub(crate) async fn count_attempt(
    pool: &PgPool,
    keys: &[String],
    limit: LoginLimit,
) -> Result<Counted, IdentityError> {
    let mut keys = keys.to_vec();
    // One order for every transaction, so that two locking the same keys cannot deadlock.
    keys.sort();
    keys.dedup();
    let mut tx = pool.begin().await.doing("starting a transaction")?;
    for key in &keys {
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(LOCK_CLASS)
            .bind(key)
            .execute(&mut *tx)
            .await
            .doing("locking a rate limit")?;
    }
    // The `failures`-th most recent attempt of a key within the window: while there is
    // one, the key is over the limit until it leaves the window.
    let wait: Option<f64> = sqlx::query_scalar(
        "SELECT max(extract(epoch FROM failed_at + make_interval(secs => $2) - now()))::float8
           FROM (SELECT key, failed_at,
                        row_number() OVER (PARTITION BY key ORDER BY failed_at DESC) AS nth
                   FROM login_failures
                  WHERE key = ANY($1) AND failed_at > now() - make_interval(secs => $2)) recent
          WHERE nth = $3",
    )
    .bind(&keys)
    .bind(limit.window.as_secs_f64())
    .bind(i64::from(limit.failures))
    .fetch_one(&mut *tx)
    .await
    .doing("reading the rate limits")?;
    if let Some(seconds) = wait.filter(|seconds| *seconds > 0.0) {
        return Err(IdentityError::TooManyRequests {
            retry_after: seconds.ceil() as u64,
        });
    }
    let at: DateTime<Utc> = sqlx::query_scalar(
        "WITH forgotten AS (
             DELETE FROM login_failures WHERE key = ANY($1) AND failed_at <= now() - make_interval(secs => $2))
         INSERT INTO login_failures (key) SELECT unnest($1::text[]) RETURNING failed_at",
    )
    .bind(&keys)
    .bind(limit.window.as_secs_f64())
    .fetch_all(&mut *tx)
    .await
    .doing("counting an attempt")?
    .into_iter()
    .next()
    .unwrap_or_else(Utc::now);
    tx.commit().await.doing("counting an attempt")?;
    Ok(Counted(at))
}

/// Takes back an attempt that succeeded: one row per key from its transaction (rows of
/// one key and time are alike, so any one of them will do).
pub(crate) async fn forgive(pool: &PgPool, keys: &[String], attempt: Counted) -> Result<(), IdentityError> {
    sqlx::query(
        "DELETE FROM login_failures WHERE ctid IN (
             SELECT DISTINCT ON (key) ctid FROM login_failures WHERE key = ANY($1) AND failed_at = $2)",
    )
    .bind(keys)
    .bind(attempt.0)
    .execute(pool)
    .await
    .doing("forgiving a successful attempt")?;
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
