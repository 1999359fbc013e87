//! Attacks on sessions over WebSocket, against the real gateway and Postgres, with a
//! WebSocket client that shows close codes. A socket signs in once, with its
//! `connection_init`; it used to stay signed in for as long as it stayed open, whatever
//! happened to the session. Now the session is checked before every operation and every
//! few seconds, and a socket whose session ended is closed: 4401 (log in again) when the
//! token expired, the password was changed or the account deleted; 4403 when the team
//! it acts as no longer has the person (or any of their memberships changed).

mod support;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::{test_identity_settings, Gateway, TestDb, TEST_SESSION_SECRET};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const TRANSPORT_WS: &str = "graphql-transport-ws";
const LEGACY_WS: &str = "graphql-ws";
/// How long a close (or any answer) may take to come: generous, the tests assert what
/// comes, not when.
const WITHIN: Duration = Duration::from_secs(60);
const CHANGES: &str = "subscription { changes(kind: \"server\") { id } }";
const CHANGE_PASSWORD: &str = "mutation($new: String!) {
    changePassword(currentPassword: \"correct horse battery\", newPassword: $new) { token } }";

/// A gateway whose sockets check their session every `every`.
async fn gateway_checking_every(db: &TestDb, every: Duration) -> Gateway {
    Gateway::start_configured(db, None, test_identity_settings(), |app| {
        app.with_session_check(every)
    })
    .await
}

/// What a socket got from the server.
#[derive(Debug)]
enum Event {
    Message(Value),
    Closed { code: u16, reason: String },
}

/// A GraphQL WebSocket client speaking either protocol.
struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: &'static str,
}

impl Socket {
    /// Connects and signs in with `token` (and `team`) in `connection_init`; returns once
    /// the server acknowledged.
    async fn open(gateway: &Gateway, protocol: &'static str, token: &str, team: Option<&str>) -> Socket {
        let url = format!("{}/graphql", gateway.url.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut socket = Socket { ws, protocol };
        let mut payload = json!({"Authorization": format!("Bearer {token}")});
        if let Some(team) = team {
            payload["X-Maestro-Team"] = json!(team);
        }
        socket
            .send(json!({"type": "connection_init", "payload": payload}))
            .await;
        match socket.event().await {
            Event::Message(message) if message["type"] == "connection_ack" => socket,
            other => panic!("{protocol}: the connection was not acknowledged: {other:?}"),
        }
    }

    async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    /// Starts operation `id`.
    async fn start(&mut self, id: &str, query: &str) {
        let kind = if self.protocol == TRANSPORT_WS {
            "subscribe"
        } else {
            "start"
        };
        self.send(json!({"type": kind, "id": id, "payload": {"query": query}}))
            .await;
    }

    /// Runs a query as operation `id`; its one result, which must come, with no error.
    async fn query(&mut self, id: &str, query: &str) -> Value {
        self.start(id, query).await;
        let result = match self.event().await {
            Event::Message(message) if message["payload"]["errors"].is_null() => message["payload"].clone(),
            other => panic!("{}: no result for {query}: {other:?}", self.protocol),
        };
        match self.event().await {
            Event::Message(message) if message["type"] == "complete" => result,
            other => panic!("{}: {query} did not complete: {other:?}", self.protocol),
        }
    }

    /// The next message or the close, skipping keep-alives.
    async fn event(&mut self) -> Event {
        loop {
            let message = tokio::time::timeout(WITHIN, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{}: nothing came within {WITHIN:?}", self.protocol));
            match message {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    if !matches!(message["type"].as_str(), Some("ka" | "ping" | "pong")) {
                        return Event::Message(message);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|frame| (u16::from(frame.code), frame.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return Event::Closed { code, reason };
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => panic!("{}: the socket failed: {error}", self.protocol),
                None => panic!("{}: the socket ended without a close frame", self.protocol),
            }
        }
    }

    /// The close the server must send; before it, only errors may come, never data.
    async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.event().await {
                Event::Closed { code, reason } => return (code, reason),
                Event::Message(message) => assert!(
                    message["payload"]["data"].is_null(),
                    "{}: data after the session ended: {message}",
                    self.protocol
                ),
            }
        }
    }
}

/// Attack: keep a subscription open past a password change. The `changes` subscription
/// of a session that `changePassword` voided went on delivering. Now the socket closes
/// with 4401 at the next check, on both protocols.
#[tokio::test]
async fn a_password_change_closes_open_subscriptions() {
    let db = TestDb::new().await;
    let gateway = gateway_checking_every(&db, Duration::from_millis(200)).await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let token = gateway.sign_up(&format!("ann-{protocol}")).await;
        let mut socket = Socket::open(&gateway, protocol, &token, None).await;
        socket.start("1", CHANGES).await;
        gateway
            .data_as(&token, CHANGE_PASSWORD, json!({"new": "a new passphrase"}))
            .await;
        let (code, reason) = socket.closed().await;
        assert_eq!(code, 4401, "{protocol}: {reason}");
        assert!(reason.contains("password was changed"), "{protocol}: {reason}");
    }
}

/// Attack: run operations on a socket whose session ended. Each operation now checks
/// the session first (here with the periodic check an hour away): the query is refused
/// and the socket closed, where it used to answer.
#[tokio::test]
async fn an_operation_after_the_session_ended_is_refused_and_closes_the_socket() {
    let db = TestDb::new().await;
    let gateway = gateway_checking_every(&db, Duration::from_secs(3600)).await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let token = gateway.sign_up(&format!("bo-{protocol}")).await;
        let mut socket = Socket::open(&gateway, protocol, &token, None).await;
        let me = socket.query("1", ME).await;
        assert_eq!(me["data"]["me"]["email"], format!("bo-{protocol}@example.com"));
        gateway
            .data_as(&token, CHANGE_PASSWORD, json!({"new": "a new passphrase"}))
            .await;
        socket.start("2", ME).await;
        let (code, reason) = socket.closed().await;
        assert_eq!(code, 4401, "{protocol}: {reason}");
        assert!(reason.contains("log in again"), "{protocol}: {reason}");
    }
}

/// Attack: keep a socket past the token's expiry. It now closes with 4401 once the
/// token expired.
#[tokio::test]
async fn an_expired_token_closes_the_socket() {
    let db = TestDb::new().await;
    let gateway = gateway_checking_every(&db, Duration::from_millis(200)).await;
    // A token of an hour issued 3598 s ago: good for 2 s more (and the 5 s leeway).
    let ttl = Duration::from_secs(3600);
    let issued = chrono::Utc::now() - chrono::Duration::seconds(3598);
    let (token, _) = identity::Sessions::new(TEST_SESSION_SECRET, ttl).issue(gateway.user, 1, issued);
    let mut socket = Socket::open(&gateway, TRANSPORT_WS, &token, None).await;
    socket.start("1", CHANGES).await;
    let (code, reason) = socket.closed().await;
    assert_eq!(
        (code, reason.as_str()),
        (4401, "your session has expired; log in again")
    );
}

/// Attack: keep a socket of a deleted account. It now closes with 4401.
#[tokio::test]
async fn a_deleted_account_closes_its_sockets() {
    let db = TestDb::new().await;
    let gateway = gateway_checking_every(&db, Duration::from_millis(200)).await;
    let token = gateway.sign_up("cy").await;
    let mut socket = Socket::open(&gateway, TRANSPORT_WS, &token, None).await;
    socket.start("1", CHANGES).await;
    // Maestro has no account deletion yet: an operator deletes the row.
    sqlx::query("DELETE FROM users WHERE email = 'cy@example.com'")
        .execute(&db.pool)
        .await
        .unwrap();
    let (code, reason) = socket.closed().await;
    assert_eq!(code, 4401, "{reason}");
    assert!(reason.contains("no longer exists"), "{reason}");
}

/// Attack: keep acting as a team after being removed from it. A socket acting as the
/// team now closes with 4403; so does one not acting as a team whose person's
/// memberships changed (its operations would see with the old ones).
#[tokio::test]
async fn a_removed_membership_closes_the_socket() {
    let db = TestDb::new().await;
    let gateway = gateway_checking_every(&db, Duration::from_millis(200)).await;
    let team = gateway
        .data("mutation { createTeam(name: \"Ops\") { id } }", json!({}))
        .await["createTeam"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = gateway.sign_up("dee").await;
    gateway
        .data(
            "mutation($team: ID!) { inviteTeamMember(teamId: $team, email: \"dee@example.com\", role: WRITE) { role } }",
            json!({"team": team}),
        )
        .await;
    let joined = gateway
        .post_as(
            Some(&token),
            "mutation($team: ID!) { acceptTeamInvitation(teamId: $team) { id } } ",
            json!({"team": team}),
        )
        .await;
    assert!(joined.get("errors").is_none(), "{joined}");
    let member = gateway.post_as(Some(&token), "{ me { id } }", json!({})).await["data"]["me"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut acting = Socket::open(&gateway, TRANSPORT_WS, &token, Some(&team)).await;
    acting.start("1", CHANGES).await;
    let mut plain = Socket::open(&gateway, LEGACY_WS, &token, None).await;
    plain.start("1", CHANGES).await;
    gateway
        .data(
            "mutation($team: ID!, $member: ID!) { removeTeamMember(teamId: $team, userId: $member) }",
            json!({"team": team, "member": member}),
        )
        .await;
    let (code, reason) = acting.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("not one of its members"), "{reason}");
    let (code, reason) = plain.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("memberships changed"), "{reason}");
}

/// A socket whose session holds stays open and keeps working across many checks.
#[tokio::test]
async fn a_good_session_keeps_its_socket() {
    let db = TestDb::new().await;
    let gateway = gateway_checking_every(&db, Duration::from_millis(50)).await;
    let mut socket = Socket::open(&gateway, TRANSPORT_WS, &gateway.token, None).await;
    for n in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let me = socket.query(&n.to_string(), ME).await;
        assert_eq!(me["data"]["me"]["email"], support::TESTER_EMAIL);
    }
}

const ME: &str = "{ me { email } }";

/// Found by reading: operations over a socket had no data loaders, so relation fields
/// failed there (`servers { applications }` over WebSocket answered an error).
#[tokio::test]
async fn relation_fields_work_over_a_socket() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let created = gateway
        .data(
            "mutation { createServer(input: {hostname: \"app-host\"}) { id } createApplication(input: {name: \"billing\"}) { id } }",
            json!({}),
        )
        .await;
    gateway
        .data(
            "mutation($s: ID!, $t: ID!) { link(sourceId: $s, relation: HOSTS, targetId: $t) { version } }",
            json!({"s": created["createServer"]["id"], "t": created["createApplication"]["id"]}),
        )
        .await;
    support::project_all(&db.store()).await;
    let mut socket = Socket::open(&gateway, TRANSPORT_WS, &gateway.token, None).await;
    let result = socket
        .query(
            "1",
            "{ servers(first: 5) { nodes { hostname applications { name } } } }",
        )
        .await;
    assert_eq!(
        result["data"]["servers"]["nodes"][0]["applications"],
        json!([{"name": "billing"}]),
        "{result}"
    );
}

/// A read-only API token signs in over a socket too; a mutation sent there is refused
/// like over HTTP.
#[tokio::test]
async fn a_read_only_token_cannot_mutate_over_a_socket() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let made = gateway
        .data(
            "mutation { createApiToken(name: \"reader\", readOnly: true) { token } }",
            json!({}),
        )
        .await;
    let token = made["createApiToken"]["token"].as_str().unwrap();
    let mut socket = Socket::open(&gateway, TRANSPORT_WS, token, None).await;
    assert_eq!(
        socket.query("1", ME).await["data"]["me"]["email"],
        support::TESTER_EMAIL
    );
    socket
        .start("2", "mutation { createServer(input: {hostname: \"x\"}) { id } }")
        .await;
    match socket.event().await {
        Event::Message(message) => assert_eq!(
            message["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{message}"
        ),
        other => panic!("no answer to the mutation: {other:?}"),
    }
}
