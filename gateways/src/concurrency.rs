//! At most [`Limits::max_concurrent_requests`](crate::limits::Limits) GraphQL requests
//! at once. One more is answered 503 at once rather than queued: a queue would hold the
//! flood's memory and hand the database its work later anyway.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::App;

/// Runs the request if a slot is free (held until the response is made: body read,
/// query run); otherwise 503 with `Retry-After`.
pub async fn admit(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Ok(_slot) = app.requests.clone().try_acquire_owned() else {
        let message = format!(
            "the gateway is serving its limit of {} requests at once; retry in a moment",
            app.limits.max_concurrent_requests
        );
        let body =
            serde_json::json!({"errors": [{"message": message, "extensions": {"code": "OVERLOADED"}}]});
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    next.run(request).await
}
