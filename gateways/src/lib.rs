//! The HTTP side of Maestro: GraphQL queries, mutations and subscriptions over the read
//! models and the command handler, the GraphiQL playground, and health checks.

mod concurrency;
pub mod database;
mod errors;
mod feed;
mod graphql;
mod health;
mod http;
mod limits;
mod link_pages;
mod metrics;
mod names;
mod playground;
mod read;
mod socket;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_graphql::dynamic::Schema;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use commands::CommandHandler;
use identity::Identity;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use database::PoolSettings;
pub use feed::EventFeed;
pub use graphql::{build_schema, Services};
pub use limits::Limits;
pub use socket::DEFAULT_SESSION_CHECK;

/// What every request handler shares.
#[derive(Clone)]
pub struct App {
    handler: CommandHandler,
    schema: Schema,
    nats: Option<async_nats::Client>,
    metrics: Arc<metrics::Metrics>,
    identity: Identity,
    cors: CorsOrigins,
    client_ip_header: Option<ClientIpHeader>,
    /// How often an open WebSocket's session is checked again (see `socket`).
    session_check: std::time::Duration,
    limits: Limits,
    /// One permit per GraphQL request being served (see [`concurrency`]).
    requests: Arc<tokio::sync::Semaphore>,
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

/// Behind proxies: the header in which they pass the client's address, and how many of
/// them there are (each adds the address it got the request from).
#[derive(Debug, Clone)]
struct ClientIpHeader {
    name: HeaderName,
    trusted_proxies: usize,
}

/// The address of the client a request came from, for rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddress(pub IpAddr);

impl App {
    /// A gateway over `handler` (whose pool should be the gateway's own, see
    /// [`database`]); with `nats`, subscriptions follow the relay's events, and crawler
    /// processes run connection tests and crawls of uploads.
    pub fn new(
        handler: CommandHandler,
        vault: commands::Vault,
        nats: Option<async_nats::Client>,
        identity: Identity,
        limits: Limits,
        webhooks: Option<webhooks::Webhooks>,
    ) -> App {
        let services = Services {
            handler: handler.clone(),
            feed: nats
                .clone()
                .map(|nats| EventFeed::follow(nats, handler.store().clone(), limits.subscription_buffer))
                .unwrap_or_else(EventFeed::silent),
            vault,
            jobs: nats.clone().map(crawlers::JobQueue::new),
            connection_tests: nats.clone().map(crawlers::ConnectionTests::new),
            upload_crawls: nats.clone().map(crawlers::UploadCrawls::new),
            identity: identity.clone(),
            webhooks,
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
            session_check: DEFAULT_SESSION_CHECK,
            limits,
            requests: Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_requests)),
        }
    }

    /// How often an open WebSocket's session is checked again, besides before each of
    /// its operations (`MAESTRO_WS_SESSION_CHECK`): at most this long after a session
    /// ends, its open subscriptions stop. Each check is one small query per socket.
    pub fn with_session_check(mut self, every: std::time::Duration) -> App {
        // A timer of no period would spin (tokio refuses it): 1 ms at least.
        self.session_check = every.max(std::time::Duration::from_millis(1));
        self
    }

    /// Lets pages of these origins call the API from a browser.
    pub fn with_cors(mut self, origins: CorsOrigins) -> App {
        self.cors = origins;
        self
    }

    /// Behind `trusted_proxies` load balancers or proxies (at least 1), each appending
    /// the address it got the request from to `header` (e.g. `X-Forwarded-For`): the
    /// client's address is the `trusted_proxies`-th from the right; what lies left of it
    /// the client wrote itself, and is ignored. Without a header, the address of the TCP
    /// peer counts. Set it only behind such proxies, or clients could pick their own
    /// address and dodge the rate limits.
    pub fn with_client_ip_header(
        mut self,
        header: Option<&str>,
        trusted_proxies: usize,
    ) -> Result<App, String> {
        if trusted_proxies == 0 {
            return Err("a client address header needs at least one trusted proxy".into());
        }
        self.client_ip_header = header
            .map(|name| {
                HeaderName::from_bytes(name.trim().as_bytes())
                    .map(|name| ClientIpHeader {
                        name,
                        trusted_proxies,
                    })
                    .map_err(|_| format!("`{name}` is not an HTTP header name"))
            })
            .transpose()?;
        Ok(self)
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The client's address: from the configured proxy header when the request has it,
    /// else the TCP peer. A header whose trusted part is not a list of addresses is
    /// refused (a message says what is wrong), never skipped: skipping an entry a proxy
    /// added would make one the client wrote count instead.
    pub(crate) fn client_address(
        &self,
        headers: &HeaderMap,
        peer: Option<&ConnectInfo<SocketAddr>>,
    ) -> Result<Option<IpAddr>, String> {
        let peer = peer.map(|peer| peer.0.ip());
        let Some(ClientIpHeader {
            name,
            trusted_proxies,
        }) = &self.client_ip_header
        else {
            return Ok(peer);
        };
        let mut entries = vec![];
        for value in headers.get_all(name) {
            let value = value
                .to_str()
                .map_err(|_| format!("the {name} header is not text; it must list IP addresses"))?;
            entries.extend(value.split(',').map(str::trim));
        }
        if entries.is_empty() {
            return Ok(peer);
        }
        let Some(client) = entries.len().checked_sub(*trusted_proxies) else {
            return Err(format!(
                "the {name} header lists {} address(es), fewer than the {trusted_proxies} proxies configured in front of Maestro add; send requests through them",
                entries.len()
            ));
        };
        let mut trusted = entries[client..].iter().map(|entry| {
            entry
                .parse::<IpAddr>()
                .or_else(|_| entry.parse::<SocketAddr>().map(|address| address.ip()))
                .map_err(|_| format!("the {name} header holds `{entry}`, which is not an IP address"))
        });
        let address = trusted.next().transpose()?;
        trusted.try_for_each(|entry| entry.map(drop))?;
        Ok(address)
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

/// `GET /graphql`: a WebSocket upgrade for GraphQL (graphql-transport-ws and the legacy
/// graphql-ws), a query in the query string, or else the GraphiQL playground.
async fn graphql_get(
    State(app): State<Arc<App>>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    headers: axum::http::HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query_string): RawQuery,
) -> Response {
    let client = match app.client_address(&headers, peer.as_ref().map(|peer| &peer.0)) {
        Ok(client) => client,
        Err(message) => return http::bad_request(&headers, message),
    };
    let (Some(protocol), Ok(upgrade)) = (socket::protocol(&headers), upgrade) else {
        return match query_string {
            Some(query_string) if query_string.split('&').any(|pair| pair.starts_with("query=")) => {
                http::graphql_get(&app, &headers, client, &query_string).await
            }
            _ => playground::page().into_response(),
        };
    };
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |ws| socket::serve(ws, app, protocol, headers, client))
        .into_response()
}

pub fn router(app: App) -> Router {
    let cors = app.cors_layer();
    let state = Arc::new(app);
    let graphql = get(graphql_get)
        .post(http::graphql)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            concurrency::admit,
        ));
    let router = Router::new()
        .route("/graphql", graphql)
        .route("/playground/{package}/{*path}", get(playground::asset))
        .route("/reset-password", get(link_pages::reset_page))
        .route("/reset-password.js", get(link_pages::reset_script))
        .route("/confirm-sign-up", get(link_pages::confirm_sign_up_page))
        .route("/confirm-sign-up.js", get(link_pages::confirm_sign_up_script))
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
