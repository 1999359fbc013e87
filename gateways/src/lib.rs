//! The HTTP side of Maestro: GraphQL queries, mutations and subscriptions over the read
//! models and the command handler, the GraphiQL playground, and health checks.

mod errors;
mod feed;
mod graphql;
mod health;
mod http;
mod limits;
mod metrics;
mod names;
mod playground;
mod read;

use std::sync::Arc;

use async_graphql::dynamic::Schema;
use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use commands::CommandHandler;

pub use feed::EventFeed;
pub use graphql::{build_schema, Services};

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
    pub fn new(handler: CommandHandler, vault: commands::Vault, nats: Option<async_nats::Client>) -> App {
        let services = Services {
            handler: handler.clone(),
            feed: nats
                .clone()
                .map(EventFeed::follow)
                .unwrap_or_else(EventFeed::silent),
            vault,
            jobs: nats.clone().map(crawlers::JobQueue::new),
        };
        let schema = build_schema(services).expect("the generated GraphQL schema is valid");
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

/// `GET /graphql`: a WebSocket upgrade for subscriptions (graphql-transport-ws and the
/// legacy graphql-ws), a query in the query string, or else the GraphiQL playground.
async fn graphql_get(
    State(app): State<Arc<App>>,
    protocol: Result<GraphQLProtocol, axum::http::StatusCode>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    headers: axum::http::HeaderMap,
    RawQuery(query_string): RawQuery,
) -> Response {
    let (Ok(protocol), Ok(upgrade)) = (protocol, upgrade) else {
        return match query_string {
            Some(query_string) if query_string.split('&').any(|pair| pair.starts_with("query=")) => {
                http::graphql_get(&app, &headers, &query_string).await
            }
            _ => playground::page().into_response(),
        };
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
        .route("/graphql", get(graphql_get).post(http::graphql))
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
