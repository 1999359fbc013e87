//! GraphQL over HTTP (POST): the request within the size limit, the execution within the
//! time limit, and the answer in the media type the client asked for, with the status
//! codes the GraphQL-over-HTTP specification gives.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_graphql::ErrorExtensions;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::Viewer;
use identity::{Identity, IdentityError};

use crate::read::Sight;
use crate::{graphql, limits, App, ClientAddress, TEAM_HEADER};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
/// Request bodies understood: JSON, and multipart for file uploads.
const ACCEPTED_BODIES: [&str; 3] = ["application/json", "application/graphql", "multipart/form-data"];

/// Whether the client accepts `application/graphql-response+json`; otherwise it gets
/// plain `application/json`, which every client understands.
fn wants_graphql_media_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains(GRAPHQL_RESPONSE_JSON))
}

fn answer(graphql_media_type: bool, response: async_graphql::Response, request_failed: bool) -> Response {
    // With the GraphQL media type, a request that could not run at all (invalid query,
    // bad variables) is a 4xx; with plain JSON, every well-formed request gets 200.
    let status = if graphql_media_type && request_failed {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let content_type = if graphql_media_type {
        GRAPHQL_RESPONSE_JSON
    } else {
        "application/json"
    };
    let mut body = serde_json::to_value(&response).expect("GraphQL responses serialize");
    if request_failed {
        // A request that never ran has no `data` at all, not even null.
        body.as_object_mut().map(|fields| fields.remove("data"));
    }
    let body = serde_json::to_vec(&body).expect("JSON values serialize");
    (
        status,
        [(header::CONTENT_TYPE, format!("{content_type}; charset=utf-8"))],
        body,
    )
        .into_response()
}

fn request_error(graphql_media_type: bool, message: String, code: &'static str) -> Response {
    let error = async_graphql::Error::new(message)
        .extend_with(|_, e| e.set("code", code))
        .into_server_error(async_graphql::Pos::default());
    let mut response = answer(
        graphql_media_type,
        async_graphql::Response::from_errors(vec![error]),
        true,
    );
    // A request that is not even well-formed is a 400 whatever the media type.
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

/// A request refused before it ran, for `message` (what was wrong with it).
pub(crate) fn bad_request(headers: &HeaderMap, message: String) -> Response {
    request_error(wants_graphql_media_type(headers), message, "BAD_REQUEST")
}

/// The token of an `Authorization: Bearer <token>` value (the scheme in any case); the
/// value itself when it has no scheme.
pub(crate) fn strip_bearer(value: &str) -> &str {
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => value,
    }
}

/// The person a request's token stands for, acting as `team` when given; `None` without
/// a token (anonymous).
pub(crate) async fn viewer(
    identity: &Identity,
    token: Option<&str>,
    team: Option<&str>,
) -> Result<Option<Viewer>, IdentityError> {
    match token {
        Some(token) => identity.authenticate(token, team).await.map(Some),
        None if team.is_some_and(|team| !team.trim().is_empty()) => Err(IdentityError::Unauthenticated(
            format!("log in to act as a team: send `Authorization: Bearer <token>` with `{TEAM_HEADER}`"),
        )),
        None => Ok(None),
    }
}

/// The person an HTTP request's `Authorization` and `X-Maestro-Team` headers stand for
/// (`None`: anonymous), read before anything else of the request. A bad token or team is
/// refused at once: 401 (log in again), 403 or 400.
async fn authenticate(
    app: &App,
    headers: &HeaderMap,
    graphql_media_type: bool,
) -> Result<Option<Viewer>, Response> {
    let token = match headers.get(header::AUTHORIZATION).map(|value| value.to_str()) {
        None => None,
        Some(Ok(value)) if value.trim().is_empty() => None,
        Some(Ok(value)) => Some(strip_bearer(value)),
        Some(Err(_)) => {
            return Err(refusal(
                graphql_media_type,
                IdentityError::Unauthenticated(
                    "the Authorization header is not text; send `Authorization: Bearer <token>`".into(),
                ),
            ))
        }
    };
    let team = headers.get(TEAM_HEADER).and_then(|value| value.to_str().ok());
    viewer(&app.identity, token, team)
        .await
        .map_err(|error| refusal(graphql_media_type, error))
}

/// The answer to a request whose credentials do not hold.
fn refusal(graphql_media_type: bool, error: IdentityError) -> Response {
    let status = match &error {
        IdentityError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        IdentityError::Forbidden(_) => StatusCode::FORBIDDEN,
        IdentityError::Invalid { .. } | IdentityError::NotFound(_) => StatusCode::BAD_REQUEST,
        IdentityError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        IdentityError::Conflict(_) => StatusCode::CONFLICT,
        IdentityError::Database { .. } | IdentityError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let error = crate::errors::identity_error(error).into_server_error(async_graphql::Pos::default());
    let mut response = answer(
        graphql_media_type,
        async_graphql::Response::from_errors(vec![error]),
        true,
    );
    *response.status_mut() = status;
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The request with the person asking (if anyone) and the client's address in its data.
fn on_behalf(
    request: async_graphql::Request,
    viewer: Option<Viewer>,
    client: Option<IpAddr>,
) -> async_graphql::Request {
    let request = match client {
        Some(address) => request.data(ClientAddress(address)),
        None => request,
    };
    match viewer {
        Some(viewer) => request.data(viewer),
        None => request,
    }
}

/// Reads the GraphQL request from `body` as it arrives: JSON into memory, uploaded files
/// (multipart) into temporary files. More than `limit` bytes, or a body that takes longer
/// than [`limits::BODY_TIMEOUT`], stops the reading.
async fn read_request(
    content_type: &str,
    body: axum::body::Body,
    limit: usize,
    advice: &str,
) -> Result<async_graphql::Request, String> {
    use futures::TryStreamExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    let exceeded = Arc::new(AtomicBool::new(false));
    let noted = exceeded.clone();
    let mut received = 0usize;
    let chunks = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .and_then(move |chunk| {
            received = received.saturating_add(chunk.len());
            let over = received > limit;
            noted.store(over, Ordering::Relaxed);
            futures::future::ready(match over {
                true => Err(std::io::Error::other("the request body is too large")),
                false => Ok(chunk),
            })
        });
    let options = async_graphql::http::MultipartOptions::default();
    let reading = async_graphql::http::receive_body(Some(content_type), chunks.into_async_read(), options);
    match tokio::time::timeout(limits::BODY_TIMEOUT, reading).await {
        Ok(Ok(request)) => Ok(request),
        Ok(Err(_)) if exceeded.load(Ordering::Relaxed) => {
            Err(format!("the request body is larger than {limit} bytes; {advice}"))
        }
        Ok(Err(error)) => Err(format!("the request is not GraphQL over HTTP: {error}")),
        Err(_) => Err(format!(
            "the request body did not arrive within {} s; send it faster or make it smaller",
            limits::BODY_TIMEOUT.as_secs()
        )),
    }
}

/// Runs one GraphQL request with its own data loaders, within the size and time limits.
/// The headers are checked first: a bad token, or an upload without a session, is
/// refused before the body is read.
pub async fn graphql(State(app): State<Arc<App>>, request: Request) -> Response {
    let client = match app.client_address(
        request.headers(),
        request.extensions().get::<ConnectInfo<SocketAddr>>(),
    ) {
        Ok(client) => client,
        Err(message) => return bad_request(request.headers(), message),
    };
    let graphql_media_type = wants_graphql_media_type(request.headers());
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !ACCEPTED_BODIES
        .iter()
        .any(|accepted| content_type.starts_with(accepted))
    {
        let message = format!("send the request as Content-Type: application/json (got `{content_type}`)");
        return request_error(graphql_media_type, message, "BAD_REQUEST");
    }
    let viewer = match authenticate(&app, request.headers(), graphql_media_type).await {
        Ok(viewer) => viewer,
        Err(refused) => return refused,
    };
    // Only uploads (multipart) may be large, and only a signed-in person may send one: a
    // plain query is held to the small limit.
    let upload = content_type.starts_with("multipart/form-data");
    if upload && viewer.is_none() {
        return refusal(
            graphql_media_type,
            IdentityError::Unauthenticated(
                "sign in to upload files: send `Authorization: Bearer <token>` with a token from `logIn`"
                    .into(),
            ),
        );
    }
    let (limit, advice) = match upload {
        true => (limits::MAX_UPLOAD_BYTES, "upload fewer or smaller files"),
        false => (limits::MAX_BODY_BYTES, "send a smaller query"),
    };
    match read_request(&content_type, request.into_body(), limit, advice).await {
        Ok(request) => execute(&app, on_behalf(request, viewer, client), graphql_media_type).await,
        Err(message) => request_error(graphql_media_type, message, "BAD_REQUEST"),
    }
}

/// `GET /graphql?query=…`: queries only. A mutation must not ride on a GET, which
/// caches, prefetchers and crawlers may send on their own.
pub async fn graphql_get(
    app: &App,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    query_string: &str,
) -> Response {
    let graphql_media_type = wants_graphql_media_type(headers);
    let request = match async_graphql::http::parse_query_string(query_string) {
        Ok(request) => request,
        Err(error) => {
            return request_error(
                graphql_media_type,
                format!("the query string is not a GraphQL request: {error}"),
                "BAD_REQUEST",
            )
        }
    };
    if is_mutation(&request) {
        let mut response = request_error(
            graphql_media_type,
            "mutations are sent with POST, not GET".into(),
            "METHOD_NOT_ALLOWED",
        );
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    match authenticate(app, headers, graphql_media_type).await {
        Ok(viewer) => execute(app, on_behalf(request, viewer, client), graphql_media_type).await,
        Err(refused) => refused,
    }
}

fn is_mutation(request: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let chosen = match (&document.operations, &request.operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name.as_str()),
        (DocumentOperations::Multiple(operations), None) => operations.values().next(),
    };
    chosen.is_some_and(|operation| operation.node.ty == OperationType::Mutation)
}

/// `request` with data loaders of its own (relation fields need them) for what `sight`
/// allows: caches never outlive a request, nor pass from one person to another.
pub(crate) fn with_loaders(
    pool: &sqlx::PgPool,
    request: async_graphql::Request,
    sight: Sight,
) -> async_graphql::Request {
    let (links, items) = graphql::loaders(pool, sight);
    request.data(links).data(items)
}

async fn execute(app: &App, request: async_graphql::Request, graphql_media_type: bool) -> Response {
    let sight = request
        .data
        .get(&std::any::TypeId::of::<domain::Viewer>())
        .and_then(|viewer| viewer.downcast_ref::<domain::Viewer>())
        .map_or(Sight::Nobody, Sight::of);
    let request = with_loaders(app.handler.store().pool(), request, sight);
    // The time limit is the schema's own (`graphql::cost`), the same over WebSocket.
    let response = app.schema.execute(request).await;
    if response.is_err() {
        app.metrics.graphql_error();
    }
    // Errors without a path come from parsing, validation or variables (or the time
    // limit): the request never ran. Errors of fields that ran have a path.
    let request_failed = response.data == async_graphql::Value::Null
        && response.is_err()
        && response.errors.iter().all(|error| error.path.is_empty());
    answer(graphql_media_type, response, request_failed)
}
