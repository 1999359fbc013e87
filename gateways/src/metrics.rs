//! Prometheus metrics: request counts and latencies measured here, event counts and
//! reader lags read from Postgres at scrape time (so every gateway reports the same).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sqlx::PgPool;

use crate::App;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
pub struct Metrics {
    requests: [AtomicU64; 3],
    graphql_errors: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_micros: AtomicU64,
}

/// Requests by class of status: success, client error, server error.
const CLASSES: [&str; 3] = ["2xx", "4xx", "5xx"];

impl Metrics {
    fn record(&self, status: u16, seconds: f64) {
        let class = match status {
            500.. => 2,
            400.. => 1,
            _ => 0,
        };
        self.requests[class].fetch_add(1, Ordering::Relaxed);
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn graphql_error(&self) {
        self.graphql_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# TYPE maestro_http_requests_total counter");
        for (class, count) in CLASSES.iter().zip(&self.requests) {
            let _ = writeln!(
                out,
                "maestro_http_requests_total{{status=\"{class}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# TYPE maestro_graphql_errors_total counter");
        let _ = writeln!(
            out,
            "maestro_graphql_errors_total {}",
            self.graphql_errors.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# TYPE maestro_http_request_duration_seconds histogram");
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "maestro_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "maestro_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(out, "maestro_http_request_duration_seconds_count {count}");
        let seconds = self.latency_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "maestro_http_request_duration_seconds_sum {seconds}");
    }
}

/// Times every request.
pub async fn track(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    app.metrics
        .record(response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// How many events the log holds, and how far each reader of it is behind.
pub async fn log_positions(pool: &PgPool) -> Result<(i64, Vec<(String, i64)>), sqlx::Error> {
    let last: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
        .fetch_one(pool)
        .await?;
    let readers: Vec<(String, i64)> = sqlx::query_as("SELECT name, position FROM checkpoints ORDER BY name")
        .fetch_all(pool)
        .await?;
    Ok((
        last,
        readers
            .into_iter()
            .map(|(name, position)| (name, (last - position).max(0)))
            .collect(),
    ))
}

pub async fn render(app: &App) -> String {
    let mut out = String::new();
    app.metrics.render(&mut out);
    if let Ok((last, lags)) = log_positions(app.handler.store().pool()).await {
        let _ = writeln!(out, "# TYPE maestro_events_appended_total counter");
        let _ = writeln!(out, "maestro_events_appended_total {last}");
        let _ = writeln!(out, "# TYPE maestro_reader_lag_events gauge");
        for (reader, lag) in lags {
            let _ = writeln!(out, "maestro_reader_lag_events{{reader=\"{reader}\"}} {lag}");
        }
    }
    out
}
