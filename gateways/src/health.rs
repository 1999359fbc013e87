//! Health checks: `/` (the original Maestro's path), `/healthz` (alive) and `/readyz`
//! (Postgres reachable).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::App;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(health))
        .route("/healthz", get(alive))
        .route("/readyz", get(ready))
}

async fn health() -> Json<Value> {
    Json(json!({"name": "maestro", "version": env!("CARGO_PKG_VERSION"), "status": "ok"}))
}

async fn alive() -> StatusCode {
    StatusCode::OK
}

async fn ready(State(app): State<Arc<App>>) -> (StatusCode, Json<Value>) {
    match sqlx::query("SELECT 1").execute(app.handler.store().pool()).await {
        Ok(_) => (StatusCode::OK, Json(json!({"postgres": "ok"}))),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"postgres": format!("unreachable: {error}; start it with ops/up")})),
        ),
    }
}
