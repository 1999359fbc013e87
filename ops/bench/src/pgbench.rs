//! The reference for write throughput: pgbench running a custom script, which is as
//! close to "Postgres alone" as a client gets.

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Context};
use domain::Event;
use sqlx::PgPool;
use tokio::process::Command;

use crate::db::BenchDb;
use crate::report::{note, Comparison, Quantity, Target};
use crate::Options;

/// The frame of the append benchmarks. In one fresh database, `--rounds` times in turn:
/// `maestro` appends for its share of `--seconds` with `--writers` (it gets a pool of that
/// size and the time, and returns events/s), then pgbench appends `events` (one new
/// stream per transaction) into `raw_events` at the same concurrency for as long.
/// Alternating lets a machine's drifting load hit both sides alike.
pub async fn beside_raw_appends<F, Fut>(
    options: &Options,
    name: &'static str,
    events: &[Event],
    maestro: F,
) -> anyhow::Result<Comparison>
where
    F: Fn(PgPool, Duration) -> Fut,
    Fut: Future<Output = anyhow::Result<f64>>,
{
    let db = BenchDb::fresh(options, name, options.writers as u32).await?;
    create_raw_events(&db).await?;
    let rows: Vec<(&str, String)> = events
        .iter()
        .map(|e| (e.event_type(), e.data().to_string()))
        .collect();
    let script = append_script(&rows);
    let segment = Duration::from_secs((options.seconds / options.rounds).max(1));
    let (mut maestro_rates, mut reference_rates) = (vec![], vec![]);
    for _ in 0..options.rounds {
        db.checkpoint().await?;
        maestro_rates.push(maestro(db.pool.clone(), segment).await?);
        db.checkpoint().await?;
        reference_rates.push(tps(&db, name, &script, options.writers, segment).await? * events.len() as f64);
    }
    note(format!(
        "{} events/transaction, {} writers, {} rounds of {}s each; pgbench -n -c {} -j {} -T {} -f <script>",
        events.len(),
        options.writers,
        maestro_rates.len(),
        segment.as_secs(),
        options.writers,
        options.writers.min(2),
        segment.as_secs()
    ));
    note(format!("maestro events/s by round: {}", rounded(&maestro_rates)));
    note(format!(
        "reference events/s by round: {}",
        rounded(&reference_rates)
    ));
    for table in ["events", "raw_events"] {
        note(format!(
            "{} rows, {}",
            db.count(table).await?,
            db.json_size(table, "data").await?
        ));
    }
    db.finish().await?;
    Ok(Comparison {
        name,
        maestro: Quantity::Rate(mean(&maestro_rates)),
        reference: Quantity::Rate(mean(&reference_rates)),
        target: Target::AtLeast(0.5),
    })
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn rounded(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The reference's table: the event log's keys and nothing else (no metadata, no
/// transaction id and its index, no NOTIFY trigger).
const RAW_EVENTS: &str = "CREATE TABLE raw_events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid UNIQUE,
    stream_id uuid,
    version bigint,
    type text,
    data jsonb,
    UNIQUE (stream_id, version)
)";

async fn create_raw_events(db: &BenchDb) -> anyhow::Result<()> {
    db.execute(RAW_EVENTS).await
}

/// A pgbench script appending `events` (type, data as JSON text) as one new stream in one
/// INSERT, with ids from `gen_random_uuid()`.
fn append_script(events: &[(&str, String)]) -> String {
    if let [(event_type, data)] = events {
        return format!(
            "INSERT INTO raw_events (event_id, stream_id, version, type, data)\n\
             VALUES (gen_random_uuid(), gen_random_uuid(), 1, {}, {});\n",
            literal(event_type),
            literal(data)
        );
    }
    let rows: Vec<String> = events
        .iter()
        .zip(1..)
        .map(|((event_type, data), version)| {
            format!("({version}, {}, {})", literal(event_type), literal(data))
        })
        .collect();
    format!(
        "WITH stream AS (SELECT gen_random_uuid() AS id)\n\
         INSERT INTO raw_events (event_id, stream_id, version, type, data)\n\
         SELECT gen_random_uuid(), stream.id, v.version, v.type, v.data::jsonb\n\
         FROM stream, (VALUES {}) AS v(version, type, data);\n",
        rows.join(",\n")
    )
}

/// A SQL string literal: `'…'` with quotes doubled.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Runs `pgbench -n -c <clients> -j 2 -T <seconds> -f <script>` against `db` and returns
/// its transactions per second (without connection time).
async fn tps(
    db: &BenchDb,
    name: &str,
    script: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let path = std::env::temp_dir().join(format!("maestro-bench-{}-{name}.sql", std::process::id()));
    std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
    let output = Command::new("pgbench")
        .arg("-n")
        .args(["-c", &clients.to_string()])
        .args(["-j", &clients.min(2).to_string()])
        .args(["-T", &duration.as_secs().max(1).to_string()])
        .arg("-f")
        .arg(&path)
        .arg(&db.url)
        .output()
        .await
        .context("cannot run pgbench; ops/up puts it on PATH")?;
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed ({}):\n{}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_tps(&stdout).with_context(|| format!("no `tps = ` line in pgbench's output:\n{stdout}"))
}

/// `tps = 10800.123456 (without initial connection time)`
fn parse_tps(output: &str) -> Option<f64> {
    output
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tps_and_quotes_literals() {
        let output = "latency average = 0.7 ms\ntps = 10800.5 (without initial connection time)\n";
        assert_eq!(parse_tps(output), Some(10800.5));
        assert_eq!(literal(r#"{"a":"it's"}"#), r#"'{"a":"it''s"}'"#);
    }
}
