//! A schedule read as what it means: what to run and when the next firing is due. Pure:
//! the scheduler role supplies the clock.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde_json::Value;
use uuid::Uuid;

pub use crate::values::{Missed, ScheduleAction};
use crate::DomainError;

/// The longest interval, jitter or countdown: a year.
const MAX_SECONDS: u64 = 366 * 24 * 3600;
/// How many failed runs in a row disable a schedule, unless it says otherwise.
pub const DEFAULT_MAX_FAILURES: u64 = 5;

/// Parses a length of time into whole seconds, 1 s to a year: a number of seconds or a
/// number with a unit (`s`, `m`, `h`, `d`, `w`).
pub fn parse_interval(raw: &Value) -> Result<u64, String> {
    let seconds = match raw {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => {
            let text = text.trim();
            let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
            let (digits, unit) = text.split_at(split);
            let unit_seconds = match unit.trim() {
                "" | "s" => Some(1),
                "m" => Some(60),
                "h" => Some(3600),
                "d" => Some(86_400),
                "w" => Some(7 * 86_400),
                _ => None,
            };
            digits
                .parse::<u64>()
                .ok()
                .zip(unit_seconds)
                .and_then(|(count, unit)| count.checked_mul(unit))
        }
        _ => None,
    };
    match seconds {
        Some(seconds @ 1..=MAX_SECONDS) => Ok(seconds),
        Some(_) => Err(format!("{raw} is not between 1 second and a year")),
        None => Err(format!(
            "{raw} is not a length of time; give seconds, or a number with s, m, h, d or w (`90s`, `5m`, `6h`, `14d`, `2w`)"
        )),
    }
}

/// Parses a cron expression: five fields (minute hour day-of-month month day-of-week), or
/// six with seconds first.
pub fn parse_cron(raw: &str) -> Result<Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(raw)
        .map_err(|error| {
            format!("`{raw}` is not a cron expression ({error}); e.g. `*/15 * * * *` for every quarter hour")
        })
}

pub fn parse_time_zone(raw: &str) -> Result<Tz, String> {
    Tz::from_str(raw)
        .map_err(|_| format!("`{raw}` is not a time zone; use an IANA name such as `Europe/Paris` or `UTC`"))
}

/// When a schedule fires on its own.
#[derive(Debug, Clone)]
pub enum When {
    Every(Duration),
    Cron {
        cron: Box<Cron>,
        zone: Tz,
    },
    /// Only after another schedule's successful run.
    Chained,
}

/// What a schedule runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Crawl {
        connection: Uuid,
        task: Option<String>,
        region: Option<String>,
    },
    /// A call of a webhook endpoint, signed like every delivery; the run succeeds once
    /// the call is queued, and the endpoint's own retries take it from there.
    Webhook { endpoint: Uuid },
}

/// A schedule, checked whole: the fields agree with each other.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub action: Action,
    pub when: When,
    /// A fixed offset within `[0, jitter)`, drawn from the schedule's id, added to every
    /// firing: schedules with the same window spread out instead of all firing at once.
    pub offset: Duration,
    pub enabled: bool,
    pub missed: Missed,
    /// A chain: the schedule it runs after, and how long after that one's success.
    pub after: Option<(Uuid, Duration)>,
    pub max_failures: u64,
}

impl Schedule {
    /// Reads a schedule's fields (as stored: canonical values); the error names the field
    /// that is missing or does not fit with the others.
    pub fn from_fields(id: Uuid, fields: &BTreeMap<String, Value>) -> Result<Schedule, DomainError> {
        let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_string);
        let seconds = |name: &str| fields.get(name).and_then(Value::as_u64);
        let id_of = |name: &str| -> Result<Option<Uuid>, DomainError> {
            text(name)
                .map(|raw| {
                    raw.parse()
                        .map_err(|_| DomainError::invalid(name, format!("`{raw}` is not an id")))
                })
                .transpose()
        };
        let action = match text("action").map(|raw| ScheduleAction::parse(&raw)) {
            None | Some(Ok(ScheduleAction::Crawl)) => Action::Crawl {
                connection: id_of("connection")?.ok_or_else(|| {
                    DomainError::invalid("connection", "a crawl schedule needs the connection to crawl")
                })?,
                task: text("task"),
                region: text("region"),
            },
            Some(Ok(ScheduleAction::Webhook)) => {
                if let Some(crawled) = ["connection", "task", "region"]
                    .into_iter()
                    .find(|f| fields.contains_key(*f))
                {
                    return Err(DomainError::invalid(
                        crawled,
                        "a webhook schedule crawls nothing; remove it, or make the action `crawl`",
                    ));
                }
                Action::Webhook {
                    endpoint: id_of("webhook")?.ok_or_else(|| {
                        DomainError::invalid(
                            "webhook",
                            "a webhook schedule needs the webhook endpoint to call",
                        )
                    })?,
                }
            }
            Some(Err(problem)) => return Err(DomainError::invalid("action", problem)),
        };
        if matches!(action, Action::Crawl { .. }) && fields.contains_key("webhook") {
            return Err(DomainError::invalid(
                "webhook",
                "only a schedule whose action is `webhook` calls one",
            ));
        }
        let after = match id_of("after")? {
            Some(after) if after == id => {
                return Err(DomainError::invalid(
                    "after",
                    "a schedule cannot run after itself",
                ))
            }
            Some(after) => Some((after, Duration::seconds(seconds("countdown").unwrap_or(0) as i64))),
            None if fields.contains_key("countdown") => {
                return Err(DomainError::invalid(
                    "countdown",
                    "only a schedule that runs `after` another one waits a countdown",
                ))
            }
            None => None,
        };
        let when = match (seconds("interval"), text("cron")) {
            (Some(_), Some(_)) => {
                return Err(DomainError::invalid(
                    "cron",
                    "give either an interval or a cron expression, not both",
                ))
            }
            (Some(interval), None) => When::Every(Duration::seconds(interval as i64)),
            (None, Some(expression)) => When::Cron {
                cron: Box::new(
                    parse_cron(&expression).map_err(|problem| DomainError::invalid("cron", problem))?,
                ),
                zone: match text("timezone") {
                    Some(zone) => {
                        parse_time_zone(&zone).map_err(|problem| DomainError::invalid("timezone", problem))?
                    }
                    None => Tz::UTC,
                },
            },
            (None, None) if after.is_some() => When::Chained,
            (None, None) => {
                return Err(DomainError::invalid(
                    "interval",
                    "a schedule needs an interval, a cron expression, or another schedule to run `after`",
                ))
            }
        };
        if fields.contains_key("timezone") && !matches!(when, When::Cron { .. }) {
            return Err(DomainError::invalid(
                "timezone",
                "only a cron expression has a time zone",
            ));
        }
        let jitter = seconds("jitter").unwrap_or(0);
        let missed = match text("missed") {
            Some(raw) => Missed::parse(&raw).map_err(|problem| DomainError::invalid("missed", problem))?,
            None => Missed::RunOnce,
        };
        let max_failures = match seconds("max_failures") {
            Some(0) => return Err(DomainError::invalid("max_failures", "must be at least 1")),
            Some(count) => count,
            None => DEFAULT_MAX_FAILURES,
        };
        Ok(Schedule {
            action,
            when,
            offset: Duration::seconds(offset_seconds(id, jitter) as i64),
            enabled: fields.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            missed,
            after,
            max_failures,
        })
    }

    /// The first firing later than `now`, counted on from `previous` (the last firing
    /// due, when there was one): firings missed in between are skipped, never each run.
    /// A new interval schedule fires at once (plus its offset); a chained one only when
    /// its predecessor succeeds (`None`).
    pub fn next_due(&self, previous: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.when {
            When::Chained => None,
            When::Every(interval) => Some(match previous {
                None => now + self.offset,
                Some(previous) => {
                    let behind = (now - previous).num_milliseconds().max(0);
                    let steps = behind / interval.num_milliseconds() + 1;
                    previous + *interval * steps as i32
                }
            }),
            When::Cron { cron, zone } => {
                // Cron fires on whole seconds; a fraction would be carried into the firing.
                let from =
                    (previous.map_or(now, |previous| previous.max(now)) - self.offset).trunc_subsecs(0);
                cron.find_next_occurrence(&from.with_timezone(zone), false)
                    .ok()
                    .map(|next| next.with_timezone(&Utc) + self.offset)
            }
        }
    }
}

/// A number in `[0, jitter)` that depends only on the schedule's id.
fn offset_seconds(id: Uuid, jitter: u64) -> u64 {
    match jitter {
        0 => 0,
        jitter => (id.as_u128() % u128::from(jitter)) as u64,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schedule(fields: Value) -> Result<Schedule, DomainError> {
        let fields: BTreeMap<String, Value> = serde_json::from_value(fields).unwrap();
        Schedule::from_fields(Uuid::from_u128(7), &fields)
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    const CONNECTION: &str = "018f0000-0000-7000-8000-000000000001";

    #[test]
    fn intervals_read_units_and_refuse_nonsense() {
        assert_eq!(parse_interval(&json!(90)), Ok(90));
        assert_eq!(parse_interval(&json!("5m")), Ok(300));
        assert_eq!(parse_interval(&json!("14d")), Ok(14 * 86_400));
        assert_eq!(parse_interval(&json!("2w")), Ok(14 * 86_400));
        for bad in [
            json!(0),
            json!("5 parsecs"),
            json!("-1"),
            json!(true),
            json!("99999w"),
        ] {
            assert!(parse_interval(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cron_and_time_zone_errors_say_what_to_write() {
        let error = parse_cron("every tuesday").unwrap_err();
        assert!(error.contains("*/15 * * * *"), "{error}");
        assert!(parse_cron("*/5 * * * *").is_ok());
        assert!(parse_cron("30 */5 * * * *").is_ok());
        assert!(parse_time_zone("Mars/Olympus").unwrap_err().contains("IANA"));
    }

    #[test]
    fn an_interval_skips_missed_firings_instead_of_running_each() {
        let every = schedule(json!({"connection": CONNECTION, "interval": 60})).unwrap();
        let now = at("2026-12-03T10:00:00Z");
        assert_eq!(every.next_due(None, now), Some(now));
        // Ten intervals missed: the next firing is the first one after now, on the grid.
        let previous = at("2026-12-03T09:49:30Z");
        assert_eq!(
            every.next_due(Some(previous), now),
            Some(at("2026-12-03T10:00:30Z"))
        );
        // On time: the next one is one interval on.
        assert_eq!(every.next_due(Some(now), now), Some(at("2026-12-03T10:01:00Z")));
    }

    #[test]
    fn cron_runs_in_its_time_zone() {
        let nightly =
            schedule(json!({"connection": CONNECTION, "cron": "0 2 * * *", "timezone": "Europe/Paris"}))
                .unwrap();
        // 02:00 in Paris in winter is 01:00 UTC.
        assert_eq!(
            nightly.next_due(None, at("2026-12-03T10:00:00Z")),
            Some(at("2026-12-04T01:00:00Z"))
        );
        assert_eq!(
            nightly.next_due(Some(at("2026-12-04T01:00:00Z")), at("2026-12-04T01:00:00.010Z")),
            Some(at("2026-12-05T01:00:00Z"))
        );
    }

    #[test]
    fn jitter_is_a_fixed_offset_below_it() {
        let fields = json!({"connection": CONNECTION, "interval": 3600, "jitter": 600});
        let fields: BTreeMap<String, Value> = serde_json::from_value(fields).unwrap();
        for n in 0..50u128 {
            let spread = Schedule::from_fields(Uuid::from_u128(n * 7919), &fields).unwrap();
            assert!(spread.offset >= Duration::zero() && spread.offset < Duration::minutes(10));
            let now = at("2026-12-03T10:00:00Z");
            assert_eq!(spread.next_due(None, now), Some(now + spread.offset));
        }
    }

    #[test]
    fn fields_that_do_not_fit_together_are_named() {
        let field_of = |fields: Value| match schedule(fields).unwrap_err() {
            DomainError::InvalidField { field, .. } => field,
            other => panic!("{other}"),
        };
        assert_eq!(field_of(json!({"interval": 60})), "connection");
        assert_eq!(field_of(json!({"connection": CONNECTION})), "interval");
        assert_eq!(
            field_of(json!({"connection": CONNECTION, "interval": 60, "cron": "* * * * *"})),
            "cron"
        );
        assert_eq!(
            field_of(json!({"connection": CONNECTION, "interval": 60, "timezone": "UTC"})),
            "timezone"
        );
        assert_eq!(
            field_of(json!({"connection": CONNECTION, "interval": 60, "countdown": 5})),
            "countdown"
        );
        assert_eq!(
            field_of(json!({"connection": CONNECTION, "interval": 60, "max_failures": 0})),
            "max_failures"
        );
        assert_eq!(
            field_of(json!({"connection": CONNECTION, "after": Uuid::from_u128(7).to_string()})),
            "after"
        );
        assert_eq!(field_of(json!({"action": "webhook", "interval": 60})), "webhook");
        assert_eq!(
            field_of(
                json!({"action": "webhook", "webhook": CONNECTION, "connection": CONNECTION, "interval": 60})
            ),
            "connection"
        );
        assert_eq!(
            field_of(json!({"connection": CONNECTION, "webhook": CONNECTION, "interval": 60})),
            "webhook"
        );
        let call = schedule(json!({"action": "webhook", "webhook": CONNECTION, "interval": 60})).unwrap();
        assert_eq!(
            call.action,
            Action::Webhook {
                endpoint: CONNECTION.parse().unwrap()
            }
        );
        let chained =
            schedule(json!({"connection": CONNECTION, "after": CONNECTION, "countdown": 30})).unwrap();
        assert!(matches!(chained.when, When::Chained));
        assert_eq!(chained.next_due(None, Utc::now()), None);
        assert_eq!(chained.after.unwrap().1, Duration::seconds(30));
    }
}
