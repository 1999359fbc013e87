//! GraphQL over WebSocket (graphql-transport-ws and the legacy graphql-ws), with the
//! session watched for as long as the socket is open.
//!
//! A socket signs in once, with its `connection_init`, but may stay open for hours while
//! the session ends: the token expires, a password change or reset voids it, the account
//! is deleted, or the person leaves the team the socket acts as. Checked only at the
//! start, such a socket would go on running queries, mutations and subscriptions. So the
//! session is checked again before every operation and every `session_check` interval
//! (for subscriptions, which run without further messages), and the socket is closed
//! when it no longer holds: with 4401 (log in again) or 4403 (no longer allowed), and a
//! reason. A socket whose person's team memberships changed is closed with 4403 as well:
//! its operations would go on seeing with the memberships of its start.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_graphql::dynamic::Schema;
use async_graphql::http::{WebSocketProtocols, WsMessage};
use async_graphql::{Data, Executor};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::{header, HeaderMap};
use domain::Viewer;
use futures::stream::{self, BoxStream};
use futures::{SinkExt, StreamExt};
use identity::{Identity, IdentityError};
use tokio::sync::watch;

use crate::read::Sight;
use crate::{errors, http, App, ClientAddress, TEAM_HEADER};

/// How often an open socket's session is checked unless configured otherwise
/// (`MAESTRO_WS_SESSION_CHECK`).
pub const DEFAULT_SESSION_CHECK: Duration = Duration::from_secs(5);

/// How long a client may stay silent (not even a ping) before it is dropped.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// WebSocket close codes: the session ended (log in again), or it no longer allows what
/// the socket does (the HTTP statuses 401 and 403, as graphql-transport-ws uses them).
const CLOSE_UNAUTHENTICATED: u16 = 4401;
const CLOSE_FORBIDDEN: u16 = 4403;
/// The server could not check the session (RFC 6455: internal error).
const CLOSE_INTERNAL: u16 = 1011;
/// A close frame's reason is at most 123 bytes (125 less the code).
const MAX_REASON_BYTES: usize = 123;

/// The GraphQL WebSocket protocol the client asked for, if any it asked for is known.
pub(crate) fn protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|name| name.trim().parse().ok())
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

/// Why a socket is being closed: the close frame, and the error its last operation gets.
#[derive(Clone)]
struct Ended {
    code: u16,
    reason: String,
    error: async_graphql::Error,
}

impl Ended {
    fn new(error: IdentityError) -> Ended {
        let code = match &error {
            IdentityError::Unauthenticated(_) => CLOSE_UNAUTHENTICATED,
            IdentityError::Forbidden(_) => CLOSE_FORBIDDEN,
            _ => CLOSE_INTERNAL,
        };
        let reason = match code {
            CLOSE_INTERNAL => "the session could not be checked; connect again".to_string(),
            _ => error.to_string(),
        };
        Ended {
            code,
            reason: truncated(reason, MAX_REASON_BYTES),
            error: errors::identity_error(error),
        }
    }

    fn frame(&self) -> Message {
        Message::Close(Some(CloseFrame {
            code: self.code,
            reason: self.reason.as_str().into(),
        }))
    }

    fn response(&self) -> async_graphql::Response {
        async_graphql::Response::from_errors(vec![self
            .error
            .clone()
            .into_server_error(async_graphql::Pos::default())])
    }
}

fn truncated(mut text: String, max_bytes: usize) -> String {
    if text.len() > max_bytes {
        let end = (0..=max_bytes)
            .rev()
            .find(|at| text.is_char_boundary(*at))
            .unwrap_or(0);
        text.truncate(end);
    }
    text
}

/// What a socket signed in with.
struct SignedIn {
    token: String,
    team: Option<String>,
    viewer: Viewer,
}

/// The session of one socket: set by `connection_init` (never, for an anonymous one),
/// checked until it ends.
struct Session {
    identity: Identity,
    signed_in: OnceLock<SignedIn>,
    ended: watch::Sender<Option<Ended>>,
}

impl Session {
    /// Whether the session still holds, with the memberships it began with; when not,
    /// the socket is told to close.
    async fn check(&self) -> Result<(), Ended> {
        let Some(signed_in) = self.signed_in.get() else {
            return Ok(());
        };
        let ended = match self
            .identity
            .authenticate(&signed_in.token, signed_in.team.as_deref())
            .await
        {
            Ok(viewer) if viewer == signed_in.viewer => return Ok(()),
            Ok(_) => Ended::new(IdentityError::Forbidden(
                "your team memberships changed since this connection began; connect again".into(),
            )),
            Err(error) => {
                if matches!(error, IdentityError::Database { .. } | IdentityError::Internal(_)) {
                    tracing::error!(%error, "a WebSocket session could not be checked; closing it");
                }
                Ended::new(error)
            }
        };
        self.ended.send_replace(Some(ended.clone()));
        Err(ended)
    }
}

/// The schema, run only while the socket's session holds, each operation with data
/// loaders of its own as over HTTP.
#[derive(Clone)]
struct Guarded {
    schema: Schema,
    session: Arc<Session>,
    pool: sqlx::PgPool,
}

impl Guarded {
    fn with_loaders(&self, request: async_graphql::Request) -> async_graphql::Request {
        let sight = self
            .session
            .signed_in
            .get()
            .map_or(Sight::Nobody, |signed_in| Sight::of(&signed_in.viewer));
        http::with_loaders(&self.pool, request, sight)
    }
}

impl Executor for Guarded {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        match self.session.check().await {
            Ok(()) => self.schema.execute(self.with_loaders(request)).await,
            Err(ended) => ended.response(),
        }
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        let guarded = self.clone();
        stream::once(async move {
            match guarded.session.check().await {
                Ok(()) => {
                    Executor::execute_stream(&guarded.schema, guarded.with_loaders(request), session_data)
                }
                Err(ended) => stream::once(async move { ended.response() }).boxed(),
            }
        })
        .flatten()
        .boxed()
    }
}

/// Serves GraphQL over an upgraded socket until the client leaves or its session ends.
pub(crate) async fn serve(
    socket: WebSocket,
    app: Arc<App>,
    protocol: WebSocketProtocols,
    headers: HeaderMap,
    client: Option<IpAddr>,
) {
    let (ended, mut ending) = watch::channel(None);
    let session = Arc::new(Session {
        identity: app.identity.clone(),
        signed_in: OnceLock::new(),
        ended,
    });
    let on_init = {
        let session = session.clone();
        move |payload: serde_json::Value| async move {
            let (token, team) = connection_credentials(&payload, &headers);
            let mut data = Data::default();
            if let Some(address) = client {
                data.insert(ClientAddress(address));
            }
            let viewer = http::viewer(&session.identity, token.as_deref(), team.as_deref())
                .await
                .map_err(|error| async_graphql::Error::new(error.to_string()))?;
            if let (Some(token), Some(viewer)) = (token, viewer) {
                data.insert(viewer.clone());
                // `connection_init` runs once per socket, so this is the first set.
                let _ = session.signed_in.set(SignedIn { token, team, viewer });
            }
            Ok(data)
        }
    };
    let (mut sink, input) = futures::StreamExt::split(socket);
    let input = input
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| {
            std::future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
                _ => None,
            })
        });
    let executor = Guarded {
        schema: app.schema.clone(),
        session: session.clone(),
        pool: app.handler.store().pool().clone(),
    };
    let mut messages = async_graphql::http::WebSocket::new(executor, input, protocol)
        .on_connection_init(on_init)
        .keepalive_timeout(KEEPALIVE);
    let mut checks =
        tokio::time::interval_at(tokio::time::Instant::now() + app.session_check, app.session_check);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let message = tokio::select! {
            message = messages.next() => match message {
                Some(WsMessage::Text(text)) => Message::Text(text.into()),
                Some(WsMessage::Close(code, reason)) => Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })),
                None => break,
            },
            // A failed check ends the session, which the next branch picks up.
            _ = checks.tick() => {
                let _ = session.check().await;
                continue;
            }
            ended = async { ending.wait_for(Option::is_some).await.ok().and_then(|ended| ended.clone()) } => match ended {
                Some(ended) => {
                    tracing::info!(code = ended.code, reason = %ended.reason, "a WebSocket session ended; closing the socket");
                    ended.frame()
                }
                _ => break,
            },
        };
        let closing = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || closing {
            break;
        }
    }
}
