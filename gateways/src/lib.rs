//! The HTTP side of Maestro: GraphQL queries, mutations and subscriptions over the read
//! models and the command handler, the GraphiQL playground, and health checks.

mod errors;
mod feed;
mod graphql;
mod health;
mod limits;
mod metrics;
mod names;
mod playground;
mod read;

use std::sync::Arc;

use async_graphql::dynamic::Schema;
use async_graphql::{Data, ErrorExtensions};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequest, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use commands::CommandHandler;

pub use feed::EventFeed;
pub use graphql::build_schema;

/// What every request handler shares.
#[derive(Clone)]
pub struct App {
    handler: CommandHandler,
    schema: Schema,
    nats: Option<async_nats::Client>,
    metrics: Arc<metrics::Metrics>,
}

/// The token a subscription client sent in `connection_init`, for access control.
#[derive(Debug, Clone)]
pub struct ConnectionToken(pub Option<String>);

impl App {
    /// A gateway over `handler`; with `nats`, subscriptions follow the relay's events.
    pub fn new(handler: CommandHandler, nats: Option<async_nats::Client>) -> App {
        let feed = nats
            .clone()
            .map(EventFeed::follow)
            .unwrap_or_else(EventFeed::silent);
        let schema = build_schema(handler.clone(), feed).expect("the generated GraphQL schema is valid");
        App {
            handler,
            schema,
            nats,
            metrics: Arc::default(),
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

fn error_response(message: String, code: &'static str) -> GraphQLResponse {
    let error = async_graphql::Error::new(message)
        .extend_with(|_, e| e.set("code", code))
        .into_server_error(async_graphql::Pos::default());
    async_graphql::Response::from_errors(vec![error]).into()
}

/// Runs one GraphQL request with its own data loaders, within the size and time limits.
async fn graphql(State(app): State<Arc<App>>, request: axum::extract::Request) -> GraphQLResponse {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, limits::MAX_BODY_BYTES).await else {
        let message = format!(
            "the request body is larger than {} bytes; send a smaller query",
            limits::MAX_BODY_BYTES
        );
        return error_response(message, "BAD_REQUEST");
    };
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(body));
    let request =
        match GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(request, &())
            .await
        {
            Ok(request) => request.into_inner(),
            Err(rejection) => {
                return error_response(
                    format!("the request is not GraphQL over HTTP: {}", rejection.0),
                    "BAD_REQUEST",
                );
            }
        };
    let (links, items) = graphql::loaders(app.handler.store().pool());
    match tokio::time::timeout(
        limits::QUERY_TIMEOUT,
        app.schema.execute(request.data(links).data(items)),
    )
    .await
    {
        Ok(response) => {
            if response.is_err() {
                app.metrics.graphql_error();
            }
            response.into()
        }
        Err(_) => error_response(
            format!(
                "the query ran longer than {} s and was stopped; ask for less",
                limits::QUERY_TIMEOUT.as_secs()
            ),
            "TIMEOUT",
        ),
    }
}

/// `GET /graphql`: a WebSocket upgrade for subscriptions (graphql-transport-ws and the
/// legacy graphql-ws), otherwise the GraphiQL playground for a browser.
async fn graphql_get(
    State(app): State<Arc<App>>,
    protocol: Result<GraphQLProtocol, axum::http::StatusCode>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let (Ok(protocol), Ok(upgrade)) = (protocol, upgrade) else {
        return playground::page().into_response();
    };
    let schema = app.schema.clone();
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(|payload| async move {
                    let token = ["authToken", "Authorization", "authorization", "token"]
                        .iter()
                        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()).map(str::to_string));
                    let mut data = Data::default();
                    data.insert(ConnectionToken(token));
                    Ok(data)
                })
                .keepalive_timeout(std::time::Duration::from_secs(30))
                .serve()
        })
        .into_response()
}

pub fn router(app: App) -> Router {
    let state = Arc::new(app);
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql))
        .route("/playground/{package}/{*path}", get(playground::asset))
        .merge(health::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

pub async fn serve(listener: tokio::net::TcpListener, app: App) -> std::io::Result<()> {
    axum::serve(listener, router(app)).await
}
