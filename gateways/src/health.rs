//! Health checks: `/` (the original Maestro's path), `/healthz` (alive), `/readyz`
//! (Postgres and NATS reachable, how far the projections and the relay lag) and
//! `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::{metrics, App};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(health))
        .route("/healthz", get(alive))
        .route("/readyz", get(ready))
        .route("/metrics", get(prometheus))
}

async fn health() -> Json<Value> {
    Json(json!({"name": "maestro", "version": env!("CARGO_PKG_VERSION"), "status": "ok"}))
}

async fn alive() -> StatusCode {
    StatusCode::OK
}

async fn ready(State(app): State<Arc<App>>) -> (StatusCode, Json<Value>) {
    let (postgres, lag) = match metrics::log_positions(app.handler.store().pool()).await {
        Ok((_, lags)) => (
            "ok".to_string(),
            lags.into_iter()
                .map(|(name, lag)| (name, json!(lag)))
                .collect::<Map<_, _>>(),
        ),
        Err(error) => (format!("unreachable ({error}); start it with ops/up"), Map::new()),
    };
    let nats = match &app.nats {
        Some(client) if client.connection_state() == async_nats::connection::State::Connected => {
            "ok".to_string()
        }
        Some(_) => "unreachable; events wait in Postgres until it is back (start it with ops/up)".to_string(),
        None => "not used by this process".to_string(),
    };
    let ready = postgres == "ok" && !nats.starts_with("unreachable");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"postgres": postgres, "nats": nats, "lag": lag})),
    )
}

async fn prometheus(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&app).await,
    )
}
