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
mod reset_page;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_graphql::dynamic::Schema;
use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use commands::CommandHandler;
use identity::Identity;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use feed::EventFeed;
pub use graphql::{build_schema, Services};

/// What every request handler shares.
#[derive(Clone)]
pub struct App {
    handler: CommandHandler,
    schema: Schema,
    nats: Option<async_nats::Client>,
    metrics: Arc<metrics::Metrics>,
    identity: Identity,
    cors: CorsOrigins,
    client_ip_header: Option<HeaderName>,
}

/// The header that names the team a request acts as (also a key of a WebSocket's
/// `connection_init` payload).
pub const TEAM_HEADER: &str = "X-Maestro-Team";

/// Which web pages on other origins may call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// None: only pages served by the gateway itself (the browser's default).
    #[default]
    SameOrigin,
    /// Any origin (`*`). Sessions are bearer tokens, never cookies, so this exposes no
    /// session by itself; still, prefer a list.
    Any,
    /// Exactly these origins, e.g. `https://maestro.example.com`.
    List(Vec<String>),
}

/// The address of the client a request came from, for rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddress(pub IpAddr);

impl App {
    /// A gateway over `handler`; with `nats`, subscriptions follow the relay's events.
    /// Connection tests and crawls of uploads reach only what `reach` allows.
    pub fn new(
        handler: CommandHandler,
        vault: commands::Vault,
        nats: Option<async_nats::Client>,
        identity: Identity,
        reach: crawlers::Reach,
    ) -> App {
        let services = Services {
            handler: handler.clone(),
            feed: nats
                .clone()
                .map(EventFeed::follow)
                .unwrap_or_else(EventFeed::silent),
            vault,
            jobs: nats.clone().map(crawlers::JobQueue::new),
            identity: identity.clone(),
            reach,
        };
        let schema = build_schema(services).expect("the generated GraphQL schema is valid");
        App {
            handler,
            schema,
            nats,
            metrics: Arc::default(),
            identity,
            cors: CorsOrigins::SameOrigin,
            client_ip_header: None,
        }
    }

    /// Lets pages of these origins call the API from a browser.
    pub fn with_cors(mut self, origins: CorsOrigins) -> App {
        self.cors = origins;
        self
    }

    /// Behind a load balancer or proxy: the header in which it passes the client's address
    /// (e.g. `X-Forwarded-For`; the last address in it is used, the one the proxy added).
    /// Without it, the address of the TCP peer counts. Set it only behind such a proxy,
    /// or clients could pick their own address and dodge the log-in rate limit.
    pub fn with_client_ip_header(mut self, header: Option<&str>) -> Result<App, String> {
        self.client_ip_header = header
            .map(|name| {
                HeaderName::from_bytes(name.trim().as_bytes())
                    .map_err(|_| format!("`{name}` is not an HTTP header name"))
            })
            .transpose()?;
        Ok(self)
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The client's address: from the configured proxy header, else the TCP peer.
    pub(crate) fn client_address(
        &self,
        headers: &HeaderMap,
        peer: Option<&ConnectInfo<SocketAddr>>,
    ) -> Option<IpAddr> {
        let forwarded = self.client_ip_header.as_ref().and_then(|name| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .filter_map(|address| address.trim().parse::<IpAddr>().ok())
                .next_back()
        });
        forwarded.or_else(|| peer.map(|peer| peer.0.ip()))
    }

    fn cors_layer(&self) -> Option<CorsLayer> {
        let origins = match &self.cors {
            CorsOrigins::SameOrigin => return None,
            CorsOrigins::Any => AllowOrigin::any(),
            CorsOrigins::List(origins) => AllowOrigin::list(
                origins
                    .iter()
                    .filter_map(|origin| HeaderValue::from_str(origin).ok()),
            ),
        };
        Some(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::ACCEPT,
                    HeaderName::from_static("x-maestro-team"),
                ])
                .max_age(std::time::Duration::from_secs(600)),
        )
    }
}

/// The session token and acting team a WebSocket client sent in `connection_init`
/// (`{"Authorization": "Bearer <jwt>"}` or `{"token": "<jwt>"}`, and `"X-Maestro-Team"`),
/// falling back to the headers of the upgrade request.
fn connection_credentials(
    payload: &serde_json::Value,
    headers: &HeaderMap,
) -> (Option<String>, Option<String>) {
    let field = |keys: &[&str]| {
        keys.iter().find_map(|key| {
            payload
                .as_object()?
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(key))
                .and_then(|(_, value)| value.as_str())
                .map(str::to_string)
        })
    };
    let token = field(&["Authorization", "token", "authToken"])
        .map(|value| http::strip_bearer(&value).to_string())
        .or_else(|| {
            let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
            Some(http::strip_bearer(value).to_string())
        })
        .filter(|token| !token.is_empty());
    let team = field(&[TEAM_HEADER]).or_else(|| {
        headers
            .get(TEAM_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    });
    (token, team)
}

/// `GET /graphql`: a WebSocket upgrade for subscriptions (graphql-transport-ws and the
/// legacy graphql-ws), a query in the query string, or else the GraphiQL playground.
async fn graphql_get(
    State(app): State<Arc<App>>,
    protocol: Result<GraphQLProtocol, axum::http::StatusCode>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    headers: axum::http::HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query_string): RawQuery,
) -> Response {
    let client = app.client_address(&headers, peer.as_ref().map(|peer| &peer.0));
    let (Ok(protocol), Ok(upgrade)) = (protocol, upgrade) else {
        return match query_string {
            Some(query_string) if query_string.split('&').any(|pair| pair.starts_with("query=")) => {
                http::graphql_get(&app, &headers, client, &query_string).await
            }
            _ => playground::page().into_response(),
        };
    };
    let schema = app.schema.clone();
    let identity = app.identity.clone();
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    // The session is checked once, when the connection starts.
                    let (token, team) = connection_credentials(&payload, &headers);
                    let mut data = Data::default();
                    if let Some(address) = client {
                        data.insert(ClientAddress(address));
                    }
                    if let Some(viewer) = http::viewer(&identity, token.as_deref(), team.as_deref())
                        .await
                        .map_err(|error| async_graphql::Error::new(error.to_string()))?
                    {
                        data.insert(viewer);
                    }
                    Ok(data)
                })
                .keepalive_timeout(std::time::Duration::from_secs(30))
                .serve()
        })
        .into_response()
}

pub fn router(app: App) -> Router {
    let cors = app.cors_layer();
    let state = Arc::new(app);
    let router = Router::new()
        .route("/graphql", get(graphql_get).post(http::graphql))
        .route("/playground/{package}/{*path}", get(playground::asset))
        .route("/reset-password", get(reset_page::page))
        .route("/reset-password.js", get(reset_page::script))
        .merge(health::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

pub async fn serve(listener: tokio::net::TcpListener, app: App) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
