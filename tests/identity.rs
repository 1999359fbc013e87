//! People and teams through the gateway, against real Postgres: sign-up, log-in, sessions
//! and their end, profiles, teams and roles, acting as a team, the log-in rate limit,
//! password resets mailed over real SMTP (aiosmtpd, installed by tests/tools/smtp.sh),
//! CORS, production mode's refusal of weak secrets, and random input that must always
//! get a clear error.

mod support;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{json, Value};
use support::smtp::SmtpServer;
use support::{free_port, test_identity_settings, Gateway, TestDb, TEST_SESSION_SECRET};

const PASSWORD: &str = "correct horse battery";

const SIGN_UP: &str = "mutation($email: String!, $password: String!, $name: String) {
    signUp(email: $email, password: $password, name: $name) { token expiresAt me { id email name } } }";
const LOG_IN: &str = "mutation($email: String!, $password: String!) {
    logIn(email: $email, password: $password) { token me { id email } } }";
const ME: &str = "{ me { id email name teams { id name myRole } actingAs { id name } } }";

fn code(error: &Value) -> &str {
    error["extensions"]["code"].as_str().unwrap_or_default()
}

/// Signs up `email` with the test password; returns (token, user id).
async fn sign_up(gateway: &Gateway, email: &str) -> (String, String) {
    let data = gateway
        .data_as("", SIGN_UP, json!({"email": email, "password": PASSWORD}))
        .await;
    (
        data["signUp"]["token"].as_str().unwrap().to_string(),
        data["signUp"]["me"]["id"].as_str().unwrap().to_string(),
    )
}

async fn error_as(gateway: &Gateway, token: &str, query: &str, variables: Value) -> Value {
    let token = (!token.is_empty()).then_some(token);
    let response = gateway.post_as(token, query, variables).await;
    assert!(response["errors"].is_array(), "expected an error: {response}");
    response["errors"][0].clone()
}

/// A raw POST with any headers, for status codes and response headers.
async fn post_raw(gateway: &Gateway, headers: &[(&str, &str)], query: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/graphql", gateway.url))
        .json(&json!({"query": query}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn people_sign_up_log_in_and_edit_their_profile() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;

    let data = gateway
        .data_as(
            "",
            SIGN_UP,
            json!({"email": "  Ana@Example.COM ", "password": PASSWORD, "name": "Ana"}),
        )
        .await;
    let session = &data["signUp"];
    assert_eq!(session["me"]["email"], "ana@example.com");
    assert_eq!(session["me"]["name"], "Ana");
    let token = session["token"].as_str().unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(session["expiresAt"].as_str().unwrap()).unwrap();
    let ttl = expires.signed_duration_since(chrono::Utc::now());
    assert!(
        ttl > chrono::Duration::hours(11) && ttl <= chrono::Duration::hours(12),
        "{ttl}"
    );

    // The same address in another case is the same account.
    let taken = error_as(
        &gateway,
        "",
        SIGN_UP,
        json!({"email": "ANA@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(code(&taken), "CONFLICT", "{taken}");

    let short = error_as(
        &gateway,
        "",
        SIGN_UP,
        json!({"email": "bo@example.com", "password": "short"}),
    )
    .await;
    assert_eq!(
        (code(&short), short["extensions"]["field"].as_str()),
        ("BAD_USER_INPUT", Some("password"))
    );
    assert!(
        short["message"].as_str().unwrap().contains("at least 10"),
        "{short}"
    );

    let me = gateway.data_as(token, ME, json!({})).await;
    assert_eq!(me["me"]["email"], "ana@example.com");
    assert_eq!(me["me"]["teams"], json!([]));
    assert_eq!(
        gateway.data_as("", ME, json!({})).await["me"],
        Value::Null,
        "anonymous: no one"
    );

    let logged_in = gateway
        .data_as(
            "",
            LOG_IN,
            json!({"email": "ana@EXAMPLE.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(logged_in["logIn"]["me"]["email"], "ana@example.com");

    // A wrong password and an unknown address get the same answer.
    let wrong = error_as(
        &gateway,
        "",
        LOG_IN,
        json!({"email": "ana@example.com", "password": "not the password"}),
    )
    .await;
    let unknown = error_as(
        &gateway,
        "",
        LOG_IN,
        json!({"email": "nobody@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(code(&wrong), "UNAUTHENTICATED");
    assert_eq!(wrong["message"], unknown["message"]);
    assert_eq!(wrong["message"], "wrong e-mail address or password");

    let update = "mutation($name: String, $email: String, $current: String) {
        updateProfile(name: $name, email: $email, currentPassword: $current) { email name } }";
    let renamed = gateway.data_as(token, update, json!({"name": "Ana Maria"})).await;
    assert_eq!(
        renamed["updateProfile"],
        json!({"email": "ana@example.com", "name": "Ana Maria"})
    );
    // A new address needs the current password.
    let unchecked = error_as(&gateway, token, update, json!({"email": "ana.maria@example.com"})).await;
    assert_eq!(unchecked["extensions"]["field"], "currentPassword", "{unchecked}");
    let moved = gateway
        .data_as(
            token,
            update,
            json!({"email": "Ana.Maria@example.com", "current": PASSWORD}),
        )
        .await;
    assert_eq!(moved["updateProfile"]["email"], "ana.maria@example.com");
    let not_an_address = error_as(&gateway, token, update, json!({"email": "ana"})).await;
    assert_eq!(not_an_address["extensions"]["field"], "email");
    let anonymous = error_as(&gateway, "", update, json!({"name": "x"})).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");

    // Identity is not inventory: nothing of it reaches the event log, and no password is
    // stored, only its argon2 hash.
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(events, 0);
    let hashes: Vec<String> = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(hashes
        .iter()
        .all(|hash| hash.starts_with("$argon2id$") && !hash.contains(PASSWORD)));
}

#[tokio::test]
async fn expired_foreign_and_garbled_tokens_get_401_saying_to_log_in_again() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let user = gateway.user;

    let expired = identity::Sessions::new(TEST_SESSION_SECRET, Duration::from_secs(3600))
        .issue(user, 1, chrono::Utc::now() - chrono::Duration::hours(2))
        .0;
    let foreign = identity::Sessions::new(
        b"another key that is also 32 bytes long!",
        Duration::from_secs(3600),
    )
    .issue(user, 1, chrono::Utc::now())
    .0;
    for (token, expected) in [
        (expired.as_str(), "expired"),
        (foreign.as_str(), "log in again"),
        ("not-a-jwt", "log in again"),
    ] {
        let response = post_raw(
            &gateway,
            &[("Authorization", &format!("Bearer {token}"))],
            "{ __typename }",
        )
        .await;
        assert_eq!(response.status(), 401, "{token}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        let error = &body["errors"][0];
        assert_eq!(code(error), "UNAUTHENTICATED", "{body}");
        assert!(error["message"].as_str().unwrap().contains(expected), "{body}");
        assert!(body.get("data").is_none(), "{body}");
    }

    // The good token works, on GET too; and without a token the request is anonymous.
    let response = reqwest::Client::new()
        .get(format!(
            "{}/graphql?query=%7B%20me%20%7B%20email%20%7D%20%7D",
            gateway.url
        ))
        .bearer_auth(&gateway.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["me"]["email"], "tester@example.com");
    let response = post_raw(&gateway, &[], "{ me { email } }").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["data"]["me"], Value::Null);
}

#[tokio::test]
async fn a_password_change_ends_every_earlier_session() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let (first, _) = sign_up(&gateway, "cy@example.com").await;
    let second = gateway
        .data_as(
            "",
            LOG_IN,
            json!({"email": "cy@example.com", "password": PASSWORD}),
        )
        .await["logIn"]["token"]
        .as_str()
        .unwrap()
        .to_string();

    let change = "mutation($current: String!, $new: String!) {
        changePassword(currentPassword: $current, newPassword: $new) { token } }";
    let wrong = error_as(
        &gateway,
        &first,
        change,
        json!({"current": "not my password", "new": "a brand new passphrase"}),
    )
    .await;
    assert_eq!(wrong["extensions"]["field"], "currentPassword", "{wrong}");
    let too_short = error_as(
        &gateway,
        &first,
        change,
        json!({"current": PASSWORD, "new": "short"}),
    )
    .await;
    assert_eq!(too_short["extensions"]["field"], "newPassword", "{too_short}");

    let changed = gateway
        .data_as(
            &first,
            change,
            json!({"current": PASSWORD, "new": "a brand new passphrase"}),
        )
        .await;
    let third = changed["changePassword"]["token"].as_str().unwrap();
    for old in [&first, &second] {
        let response = post_raw(&gateway, &[("Authorization", &format!("Bearer {old}"))], ME).await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("password was changed"),
            "{body}"
        );
    }
    assert_eq!(
        gateway.data_as(third, ME, json!({})).await["me"]["email"],
        "cy@example.com"
    );
    let old_password = error_as(
        &gateway,
        "",
        LOG_IN,
        json!({"email": "cy@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(code(&old_password), "UNAUTHENTICATED");
    gateway
        .data_as(
            "",
            LOG_IN,
            json!({"email": "cy@example.com", "password": "a brand new passphrase"}),
        )
        .await;
}

#[tokio::test]
async fn teams_have_admins_members_and_roles() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let (admin, admin_id) = sign_up(&gateway, "ada@example.com").await;
    let (reader, reader_id) = sign_up(&gateway, "rui@example.com").await;
    let (outsider, _) = sign_up(&gateway, "oz@example.com").await;

    let team = gateway
        .data_as(
            &admin,
            "mutation { createTeam(name: \"  Platform  \") { id name myRole members { user { email } role } } }",
            json!({}),
        )
        .await["createTeam"]
        .clone();
    assert_eq!(team["name"], "Platform");
    assert_eq!(team["myRole"], "ADMIN");
    assert_eq!(
        team["members"],
        json!([{"user": {"email": "ada@example.com"}, "role": "ADMIN"}])
    );
    let team_id = team["id"].as_str().unwrap().to_string();

    // An invitation answers the same for an address with an account and one without, and
    // makes nobody a member until they accept.
    let add = "mutation($team: ID!, $email: String!, $role: AccessLevel!) {
        inviteTeamMember(teamId: $team, email: $email, role: $role) { teamId teamName email role } }";
    let invited = gateway
        .data_as(
            &admin,
            add,
            json!({"team": team_id, "email": "RUI@example.com", "role": "READ"}),
        )
        .await;
    let ghost = gateway
        .data_as(
            &admin,
            add,
            json!({"team": team_id, "email": "ghost@example.com", "role": "READ"}),
        )
        .await;
    let without_email = |answer: &Value| {
        let mut answer = answer["inviteTeamMember"].clone();
        answer["email"] = Value::Null;
        answer
    };
    assert_eq!(invited["inviteTeamMember"]["email"], "rui@example.com");
    assert_eq!(
        without_email(&invited),
        without_email(&ghost),
        "{invited} {ghost}"
    );
    let pending = gateway
        .data_as(
            &admin,
            "query($id: ID!) { team(id: $id) { members { user { email } } invitations { email role } } }",
            json!({"id": team_id}),
        )
        .await;
    assert_eq!(
        pending["team"]["members"].as_array().unwrap().len(),
        1,
        "{pending}"
    );
    assert_eq!(
        pending["team"]["invitations"].as_array().unwrap().len(),
        2,
        "{pending}"
    );
    assert_eq!(
        gateway.data_as(&reader, ME, json!({})).await["me"]["teams"],
        json!([]),
        "invited is not yet a member"
    );
    let waiting = gateway
        .data_as(
            &reader,
            "{ me { teamInvitations { teamId teamName role } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        waiting["me"]["teamInvitations"],
        json!([{"teamId": team_id, "teamName": "Platform", "role": "READ"}])
    );
    let accept = "mutation($team: ID!) { acceptTeamInvitation(teamId: $team) { id myRole } }";
    let refused = error_as(&gateway, &outsider, accept, json!({"team": team_id})).await;
    assert_eq!(
        code(&refused),
        "NOT_FOUND",
        "only the address's holder accepts: {refused}"
    );
    let joined = gateway.data_as(&reader, accept, json!({"team": team_id})).await;
    assert_eq!(
        joined["acceptTeamInvitation"],
        json!({"id": team_id, "myRole": "READ"})
    );
    let again = error_as(&gateway, &reader, accept, json!({"team": team_id})).await;
    assert_eq!(code(&again), "NOT_FOUND", "an invitation is used once");
    gateway
        .data_as(
            &admin,
            "mutation($team: ID!) { cancelTeamInvitation(teamId: $team, email: \"ghost@example.com\") }",
            json!({"team": team_id}),
        )
        .await;
    let member_again = error_as(
        &gateway,
        &admin,
        add,
        json!({"team": team_id, "email": "rui@example.com", "role": "WRITE"}),
    )
    .await;
    assert_eq!(code(&member_again), "CONFLICT", "{member_again}");
    let set_role = "mutation($team: ID!, $user: ID!, $role: AccessLevel!) {
        setTeamMemberRole(teamId: $team, userId: $user, role: $role) { role } }";

    // The reader sees the team with their role, and may not manage it.
    let me = gateway.data_as(&reader, ME, json!({})).await;
    assert_eq!(
        me["me"]["teams"],
        json!([{"id": team_id, "name": "Platform", "myRole": "READ"}])
    );
    let refused = error_as(
        &gateway,
        &reader,
        add,
        json!({"team": team_id, "email": "oz@example.com", "role": "ADMIN"}),
    )
    .await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    let rename = "mutation($id: ID!, $name: String!) { renameTeam(id: $id, name: $name) { name } }";
    let refused = error_as(&gateway, &reader, rename, json!({"id": team_id, "name": "Mine"})).await;
    assert_eq!(code(&refused), "FORBIDDEN");
    // An outsider cannot even tell that the team exists.
    let hidden = error_as(
        &gateway,
        &outsider,
        rename,
        json!({"id": team_id, "name": "Mine"}),
    )
    .await;
    assert_eq!(code(&hidden), "NOT_FOUND");
    let team_query = "query($id: ID!) { team(id: $id) { name members { user { email } role } } }";
    assert_eq!(
        gateway
            .data_as(&outsider, team_query, json!({"id": team_id}))
            .await["team"],
        Value::Null
    );
    assert_eq!(
        gateway.data_as(&outsider, "{ teams { id } }", json!({})).await["teams"],
        json!([])
    );

    let renamed = gateway
        .data_as(&admin, rename, json!({"id": team_id, "name": "Platform team"}))
        .await;
    assert_eq!(renamed["renameTeam"]["name"], "Platform team");
    let seen = gateway.data_as(&reader, team_query, json!({"id": team_id})).await;
    assert_eq!(
        seen["team"],
        json!({"name": "Platform team", "members": [
            {"user": {"email": "ada@example.com"}, "role": "ADMIN"},
            {"user": {"email": "rui@example.com"}, "role": "READ"}]})
    );

    // The last admin can neither leave nor step down.
    let remove = "mutation($team: ID!, $user: ID!) { removeTeamMember(teamId: $team, userId: $user) }";
    let last = error_as(
        &gateway,
        &admin,
        remove,
        json!({"team": team_id, "user": admin_id}),
    )
    .await;
    assert_eq!(code(&last), "CONFLICT", "{last}");
    assert!(last["message"].as_str().unwrap().contains("last admin"));
    let demoted = error_as(
        &gateway,
        &admin,
        set_role,
        json!({"team": team_id, "user": admin_id, "role": "WRITE"}),
    )
    .await;
    assert_eq!(code(&demoted), "CONFLICT");

    // Roles change; a removed member loses the team at once, with the same token.
    gateway
        .data_as(
            &admin,
            set_role,
            json!({"team": team_id, "user": reader_id, "role": "WRITE"}),
        )
        .await;
    assert_eq!(
        gateway.data_as(&reader, ME, json!({})).await["me"]["teams"][0]["myRole"],
        "WRITE"
    );
    let removed = gateway
        .data_as(&admin, remove, json!({"team": team_id, "user": reader_id}))
        .await;
    assert_eq!(removed["removeTeamMember"], true);
    assert_eq!(
        gateway.data_as(&reader, ME, json!({})).await["me"]["teams"],
        json!([])
    );

    // With another admin, the first may leave.
    gateway
        .data_as(
            &admin,
            add,
            json!({"team": team_id, "email": "oz@example.com", "role": "ADMIN"}),
        )
        .await;
    gateway.data_as(&outsider, accept, json!({"team": team_id})).await;
    gateway
        .data_as(&admin, remove, json!({"team": team_id, "user": admin_id}))
        .await;
    assert_eq!(
        gateway
            .data_as(&outsider, "{ teams { name myRole } }", json!({}))
            .await["teams"],
        json!([{"name": "Platform team", "myRole": "ADMIN"}])
    );
}

#[tokio::test]
async fn only_members_with_write_may_act_as_a_team() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let (admin, _) = sign_up(&gateway, "ada@example.com").await;
    let (writer, _) = sign_up(&gateway, "wes@example.com").await;
    let (reader, _) = sign_up(&gateway, "rui@example.com").await;
    let (outsider, _) = sign_up(&gateway, "oz@example.com").await;
    let team = gateway
        .data_as(&admin, "mutation { createTeam(name: \"Ops\") { id } }", json!({}))
        .await["createTeam"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let add = "mutation($team: ID!, $email: String!, $role: AccessLevel!) {
        inviteTeamMember(teamId: $team, email: $email, role: $role) { role } }";
    let accept = "mutation($team: ID!) { acceptTeamInvitation(teamId: $team) { id } }";
    for (email, role, member) in [
        ("wes@example.com", "WRITE", &writer),
        ("rui@example.com", "READ", &reader),
    ] {
        gateway
            .data_as(&admin, add, json!({"team": team, "email": email, "role": role}))
            .await;
        gateway.data_as(member, accept, json!({"team": team})).await;
    }

    let as_team = |token: &str| {
        [
            ("Authorization".to_string(), format!("Bearer {token}")),
            ("X-Maestro-Team".to_string(), team.clone()),
        ]
    };
    for token in [&admin, &writer] {
        let headers = as_team(token);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let response = post_raw(&gateway, &headers, "{ me { actingAs { id name } } }").await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["data"]["me"]["actingAs"],
            json!({"id": team, "name": "Ops"}),
            "{body}"
        );
    }
    for (token, expected) in [(&reader, "yours is read"), (&outsider, "not one of its members")] {
        let headers = as_team(token);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let response = post_raw(&gateway, &headers, "{ me { email } }").await;
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body["errors"][0]), "FORBIDDEN", "{body}");
        assert!(
            body["errors"][0]["message"].as_str().unwrap().contains(expected),
            "{body}"
        );
    }
    let bearer = format!("Bearer {writer}");
    let response = post_raw(
        &gateway,
        &[("Authorization", &bearer), ("X-Maestro-Team", "ops")],
        "{ me { email } }",
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "X-Maestro-Team",
        "{body}"
    );
    let response = post_raw(&gateway, &[("X-Maestro-Team", &team)], "{ me { email } }").await;
    assert_eq!(response.status(), 401, "acting as a team needs a session");
}

#[tokio::test]
async fn failed_log_ins_are_limited_per_address_and_per_client() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    sign_up(&gateway, "eve@example.com").await;
    let wrong = json!({"email": "eve@example.com", "password": "guess guess guess"});
    for attempt in 1..=5 {
        let error = error_as(&gateway, "", LOG_IN, wrong.clone()).await;
        assert_eq!(code(&error), "UNAUTHENTICATED", "attempt {attempt}: {error}");
    }
    // Now even the right password waits.
    let limited = error_as(
        &gateway,
        "",
        LOG_IN,
        json!({"email": "eve@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(code(&limited), "TOO_MANY_REQUESTS", "{limited}");
    let wait = limited["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((800..=900).contains(&wait), "{limited}");
    assert!(limited["message"]
        .as_str()
        .unwrap()
        .contains(&format!("{wait} s")));

    // Per address, whatever the client; per client, whatever the address.
    let identity = identity::Identity::new(db.pool.clone(), test_identity_settings()).unwrap();
    let client = |n: u8| Some(IpAddr::from([10, 0, 0, n]));
    sign_up(&gateway, "fay@example.com").await;
    for n in 1..=5 {
        let result = identity
            .log_in("fay@example.com", "guess guess guess", client(n))
            .await;
        assert!(
            matches!(result, Err(identity::IdentityError::Unauthenticated(_))),
            "{result:?}"
        );
    }
    let result = identity.log_in("fay@example.com", PASSWORD, client(6)).await;
    assert!(
        matches!(result, Err(identity::IdentityError::TooManyRequests { .. })),
        "{result:?}"
    );
    for n in 1..=5 {
        let _ = identity
            .log_in(&format!("someone{n}@example.com"), "guess guess guess", client(7))
            .await;
    }
    let result = identity.log_in("tester@example.com", PASSWORD, client(7)).await;
    assert!(
        matches!(result, Err(identity::IdentityError::TooManyRequests { .. })),
        "{result:?}"
    );
    assert!(identity
        .log_in("tester@example.com", PASSWORD, client(8))
        .await
        .is_ok());
}

/// Attack: racing the log-in limit. Wrong passwords sent all at once for one address
/// each passed the limit's check before any failure was counted: 20 were judged, none
/// refused, with a limit of 5. Check and count are now one step, before the password is
/// checked: 5 are judged, the rest refused.
#[tokio::test]
async fn parallel_wrong_log_ins_cannot_outrun_the_limit() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    sign_up(&gateway, "ivy@example.com").await;
    let wrong = json!({"email": "ivy@example.com", "password": "guess guess guess"});
    let answers =
        futures::future::join_all((0..20).map(|_| error_as(&gateway, "", LOG_IN, wrong.clone()))).await;
    let judged = answers.iter().filter(|e| code(e) == "UNAUTHENTICATED").count();
    let refused = answers.iter().filter(|e| code(e) == "TOO_MANY_REQUESTS").count();
    assert_eq!((judged, refused), (5, 15), "{answers:#?}");

    // Attempts count before they are judged, but successful ones are taken back: they
    // never use the limit up, neither the address's nor the client's.
    let identity = identity::Identity::new(db.pool.clone(), test_identity_settings()).unwrap();
    let client = Some(IpAddr::from([10, 0, 0, 9]));
    for attempt in 1..=7 {
        let result = identity.log_in("tester@example.com", PASSWORD, client).await;
        assert!(result.is_ok(), "log-in {attempt}: {result:?}");
    }
}

/// Attack: racing the reset-mail limit (3 an hour per address) the same way, to flood a
/// person's mailbox. Requests are now counted in one step with the check, before the
/// answer: 20 parallel requests send 3 mails.
#[tokio::test]
async fn parallel_reset_requests_cannot_outrun_the_mail_limit() {
    let db = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    let gateway = Gateway::start_with(&db, None, smtp.settings("https://maestro.example.com")).await;
    sign_up(&gateway, "jo@example.com").await;
    let request = json!({"email": "jo@example.com"});
    let answers =
        futures::future::join_all((0..20).map(|_| gateway.post_as(None, RESET_REQUEST, request.clone())))
            .await;
    for answer in &answers {
        assert_eq!(answer, &json!({"data": {"requestPasswordReset": true}}));
    }
    // Every mail's link is stored before the mail goes out: once three mails are in,
    // a fourth would have its link stored too.
    smtp.wait_for(3).await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM password_resets")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!((stored, smtp.mails().len()), (3, 3));
}

/// Attack: dodge the per-client log-in limit behind a proxy with a forged
/// `X-Forwarded-For`. The gateway took the right-most entry that parsed as an address,
/// skipping those that did not: the one the proxy added with its port
/// (`198.51.100.7:52311`) was skipped, and the client's own, a new one each try, counted.
/// Now the entry the trusted proxy added is taken by its place, and a header without an
/// address there is refused with a 400 saying so.
#[tokio::test]
async fn a_forged_forwarded_address_neither_dodges_the_client_limit_nor_passes_garbage() {
    let db = TestDb::new().await;
    let gateway = Gateway::start_configured(&db, None, test_identity_settings(), |app| {
        app.with_client_ip_header(Some("X-Forwarded-For"), 1).unwrap()
    })
    .await;
    let gateway = &gateway;
    let attempt = |n: u32| async move {
        let forwarded = format!("203.0.113.{n}, 198.51.100.7:52311");
        let query = format!(
            "mutation {{ logIn(email: \"nobody{n}@example.com\", password: \"guess guess guess\") {{ token }} }}"
        );
        let response = post_raw(gateway, &[("X-Forwarded-For", &forwarded)], &query).await;
        let body: Value = response.json().await.unwrap();
        body["errors"][0].clone()
    };
    for n in 1..=5 {
        let error = attempt(n).await;
        assert_eq!(code(&error), "UNAUTHENTICATED", "attempt {n}: {error}");
    }
    let error = attempt(6).await;
    assert_eq!(code(&error), "TOO_MANY_REQUESTS", "{error}");

    for garbage in ["203.0.113.9, not-an-address", "203.0.113.9,", "  "] {
        let refused = post_raw(gateway, &[("X-Forwarded-For", garbage)], ME).await;
        assert_eq!(refused.status(), 400, "{garbage:?}");
        let body: Value = refused.json().await.unwrap();
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("x-forwarded-for"),
            "{garbage:?}: {body}"
        );
    }
    // Without the header (a request that did not come through the proxy), the TCP
    // peer counts.
    gateway.data(ME, json!({})).await;
}

/// Attack: sign-ups at speed from one client, each costing the server a password hash
/// and each telling whether an address has an account (`CONFLICT`). Sign-ups per client
/// are now limited (10 an hour by default): past it, refused before any hash, whatever
/// the address; other clients are not affected.
#[tokio::test]
async fn sign_ups_from_one_client_are_limited() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    for n in 1..=9 {
        sign_up(&gateway, &format!("kit{n}@example.com")).await;
    }
    // A probe of a taken address counts as well.
    let taken = error_as(
        &gateway,
        "",
        SIGN_UP,
        json!({"email": "kit1@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(code(&taken), "CONFLICT", "{taken}");
    for email in ["kit10@example.com", "kit1@example.com"] {
        let limited = error_as(
            &gateway,
            "",
            SIGN_UP,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
        assert_eq!(code(&limited), "TOO_MANY_REQUESTS", "{limited}");
        assert!(
            limited["extensions"]["retryAfter"].as_u64().unwrap() > 0,
            "{limited}"
        );
    }
    let identity = identity::Identity::new(db.pool.clone(), test_identity_settings()).unwrap();
    let other = Some(IpAddr::from([10, 0, 0, 1]));
    let session = identity.sign_up("kit10@example.com", PASSWORD, None, other).await;
    assert!(session.is_ok(), "{session:?}");
}

const RESET_REQUEST: &str = "mutation($email: String!) { requestPasswordReset(email: $email) }";

fn reset_token(mail: &str, public_url: &str) -> String {
    link_token(mail, &format!("{public_url}/reset-password#token="))
}

/// The token of the link that starts with `prefix` in a mail.
fn link_token(mail: &str, prefix: &str) -> String {
    let start = mail
        .find(prefix)
        .unwrap_or_else(|| panic!("no link {prefix}… in the mail:\n{mail}"))
        + prefix.len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Found by reading (issue 10, item 12): `signUp` told whether an address had an
/// account. With verified sign-ups (production's default) the answer is the same for
/// every address, and the account exists only once the mailed link is opened.
#[tokio::test]
async fn verified_sign_ups_tell_nobody_which_addresses_have_accounts() {
    let db = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    let public_url = "https://maestro.example.com";
    identity::Identity::new(db.pool.clone(), smtp.settings(public_url))
        .unwrap()
        .sign_up("gil@example.com", PASSWORD, None, None)
        .await
        .unwrap();
    let verified = identity::Settings {
        sign_ups: identity::SignUps::Verified,
        ..smtp.settings(public_url)
    };
    let gateway = Gateway::start_with(&db, None, verified).await;

    let refused = error_as(
        &gateway,
        "",
        SIGN_UP,
        json!({"email": "new@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("requestSignUp"),
        "{refused}"
    );
    let request =
        "mutation($email: String!, $password: String!) { requestSignUp(email: $email, password: $password) }";
    let known = gateway
        .post_as(
            None,
            request,
            json!({"email": "gil@example.com", "password": PASSWORD}),
        )
        .await;
    let unknown = gateway
        .post_as(
            None,
            request,
            json!({"email": "NEW@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(known, json!({"data": {"requestSignUp": true}}));
    assert_eq!(
        known, unknown,
        "the answer does not tell which addresses have accounts"
    );

    let mails = smtp.wait_for(2).await;
    let to = |address: &str| {
        mails
            .iter()
            .find(|mail| mail.contains(&format!("X-RcptTo: {address}")))
            .unwrap_or_else(|| panic!("no mail to {address}: {mails:?}"))
            .clone()
    };
    let to_known = to("gil@example.com");
    assert!(to_known.contains("already has an account"), "{to_known}");
    assert!(
        !to_known.contains("confirm-sign-up"),
        "no second account: {to_known}"
    );
    let token = link_token(
        &to("new@example.com"),
        &format!("{public_url}/confirm-sign-up#token="),
    );
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = 'new@example.com'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(accounts, 0, "no account before the link is opened");

    let page = gateway.get("/confirm-sign-up").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert!(page.text().await.unwrap().contains("/confirm-sign-up.js"));
    let confirm = "mutation($token: String!) { confirmSignUp(token: $token) { token me { email } } }";
    let made = gateway.data_as("", confirm, json!({"token": token})).await;
    assert_eq!(made["confirmSignUp"]["me"]["email"], "new@example.com");
    let again = error_as(&gateway, "", confirm, json!({"token": token})).await;
    assert_eq!(
        again["extensions"]["field"], "token",
        "a link works once: {again}"
    );
    gateway
        .data_as(
            "",
            LOG_IN,
            json!({"email": "new@example.com", "password": PASSWORD}),
        )
        .await;

    // Tried as an attacker: asking again and again for one address cannot flood its
    // mailbox; the answers stay the same.
    for _ in 0..6 {
        let answer = gateway
            .post_as(
                None,
                request,
                json!({"email": "victim@example.com", "password": PASSWORD}),
            )
            .await;
        assert_eq!(answer, json!({"data": {"requestSignUp": true}}));
    }
    smtp.wait_for(5).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let to_victim = smtp
        .mails()
        .iter()
        .filter(|mail| mail.contains("X-RcptTo: victim@example.com"))
        .count();
    assert_eq!(to_victim, 3, "at most 3 sign-up mails an hour to one address");
}

#[tokio::test]
async fn a_reset_link_arrives_by_smtp_and_works_once_within_its_hour() {
    let db = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    let public_url = "https://maestro.example.com";
    let gateway = Gateway::start_with(&db, None, smtp.settings(public_url)).await;
    let (old_token, _) = sign_up(&gateway, "gil@example.com").await;

    let known = gateway
        .post_as(None, RESET_REQUEST, json!({"email": "Gil@example.com"}))
        .await;
    let unknown = gateway
        .post_as(None, RESET_REQUEST, json!({"email": "nobody@example.com"}))
        .await;
    assert_eq!(known, json!({"data": {"requestPasswordReset": true}}));
    assert_eq!(
        known, unknown,
        "the answer does not tell which addresses have accounts"
    );

    let mails = smtp.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.mails().len(), 1, "no mail for an address without an account");
    let mail = &mails[0];
    assert!(mail.contains("X-RcptTo: gil@example.com"), "{mail}");
    assert!(mail.contains("Subject: Reset your Maestro password"), "{mail}");
    let token = reset_token(mail, public_url);
    assert_eq!(token.len(), 43, "{mail}");
    // Only a digest of the token is stored.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM password_resets")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!String::from_utf8_lossy(&stored[0]).contains(&token));

    // The link's page is there, with the form.
    let page = gateway.get("/reset-password").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert!(page.text().await.unwrap().contains("/reset-password.js"));

    let reset = "mutation($token: String!, $password: String!) {
        resetPassword(token: $token, newPassword: $password) { token me { email } } }";
    // A rejected new password does not use the link up.
    let short = error_as(&gateway, "", reset, json!({"token": token, "password": "short"})).await;
    assert_eq!(short["extensions"]["field"], "newPassword", "{short}");
    let done = gateway
        .data_as(
            "",
            reset,
            json!({"token": token, "password": "a fresh passphrase"}),
        )
        .await;
    assert_eq!(done["resetPassword"]["me"]["email"], "gil@example.com");
    let new_token = done["resetPassword"]["token"].as_str().unwrap();
    assert_eq!(
        gateway.data_as(new_token, ME, json!({})).await["me"]["email"],
        "gil@example.com"
    );
    let old = post_raw(&gateway, &[("Authorization", &format!("Bearer {old_token}"))], ME).await;
    assert_eq!(old.status(), 401, "the reset ended the earlier session");

    let again = error_as(
        &gateway,
        "",
        reset,
        json!({"token": token, "password": "yet another passphrase"}),
    )
    .await;
    assert_eq!(again["extensions"]["field"], "token");
    assert!(
        again["message"].as_str().unwrap().contains("already used"),
        "{again}"
    );
    gateway
        .data_as(
            "",
            LOG_IN,
            json!({"email": "gil@example.com", "password": "a fresh passphrase"}),
        )
        .await;

    // A link past its hour is refused.
    gateway
        .post_as(None, RESET_REQUEST, json!({"email": "gil@example.com"}))
        .await;
    let mails = smtp.wait_for(2).await;
    let second = mails
        .iter()
        .map(|mail| reset_token(mail, public_url))
        .find(|t| *t != token)
        .unwrap();
    sqlx::query("UPDATE password_resets SET expires_at = now() - interval '1 minute' WHERE used_at IS NULL")
        .execute(&db.pool)
        .await
        .unwrap();
    let expired = error_as(
        &gateway,
        "",
        reset,
        json!({"token": second, "password": "yet another passphrase"}),
    )
    .await;
    assert!(
        expired["message"].as_str().unwrap().contains("expired"),
        "{expired}"
    );
    let garbage = error_as(
        &gateway,
        "",
        reset,
        json!({"token": "abc", "password": "yet another passphrase"}),
    )
    .await;
    assert_eq!(garbage["extensions"]["field"], "token");
}

#[tokio::test]
async fn cors_lets_only_the_configured_origins_in() {
    let db = TestDb::new().await;
    let start = |cors: gateways::CorsOrigins| {
        let pool = db.pool.clone();
        let handler = db.handler();
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/graphql", listener.local_addr().unwrap());
            let identity = identity::Identity::new(pool.clone(), test_identity_settings()).unwrap();
            let app = gateways::App::new(
                handler,
                commands::Vault::new(pool, None).unwrap(),
                None,
                identity,
                gateways::Limits::default(),
                None,
            )
            .with_cors(cors);
            tokio::spawn(async move { gateways::serve(listener, app).await.unwrap() });
            url
        }
    };
    let preflight = |url: String, origin: &'static str| async move {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, url)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type,x-maestro-team",
            )
            .send()
            .await
            .unwrap()
    };
    let listed = start(gateways::CorsOrigins::List(vec!["https://ui.example.com".into()])).await;
    let allowed = preflight(listed.clone(), "https://ui.example.com").await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://ui.example.com"
    );
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("x-maestro-team"),
        "{headers}"
    );
    let other = preflight(listed, "https://evil.example.com").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let same_origin = start(gateways::CorsOrigins::SameOrigin).await;
    let refused = preflight(same_origin, "https://ui.example.com").await;
    assert!(refused.headers().get("access-control-allow-origin").is_none());
}

fn maestro(vars: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_maestro"));
    command.args(["serve", "--roles", "gateway"]);
    for name in [
        "MAESTRO_SECRETJWT",
        "MAESTRO_SECRETLINK",
        "MAESTRO_CREDENTIALS_KEY",
        "MAESTRO_ENV",
        "SMTP_HOST",
    ] {
        command.env_remove(name);
    }
    command
        .envs(vars.iter().copied())
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere")
        .env("MAESTRO_PORT", free_port().to_string())
        .env("MAESTRO_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("the maestro binary runs")
}

#[test]
fn production_mode_refuses_to_start_with_missing_or_default_secrets() {
    let jwt = "Zk3pQ9rT1vX5bN7mL2hJ8dF4sA6gW0eRtYuIoPaSdFgHjKl";
    let link = "Qw8eR5tY2uI9oP3aS6dF1gH4jK7lZ0xC5vB8nM2qW4eRtY";
    let key = "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=";
    for (vars, variable) in [
        (
            vec![("MAESTRO_SECRETLINK", link), ("MAESTRO_CREDENTIALS_KEY", key)],
            "MAESTRO_SECRETJWT",
        ),
        (
            vec![
                ("MAESTRO_SECRETJWT", "secret"),
                ("MAESTRO_SECRETLINK", link),
                ("MAESTRO_CREDENTIALS_KEY", key),
            ],
            "MAESTRO_SECRETJWT",
        ),
        (
            vec![
                ("MAESTRO_SECRETJWT", jwt),
                ("MAESTRO_SECRETLINK", "short"),
                ("MAESTRO_CREDENTIALS_KEY", key),
            ],
            "MAESTRO_SECRETLINK",
        ),
        (
            vec![
                ("MAESTRO_SECRETJWT", jwt),
                ("MAESTRO_SECRETLINK", link),
                (
                    "MAESTRO_CREDENTIALS_KEY",
                    "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                ),
            ],
            "MAESTRO_CREDENTIALS_KEY",
        ),
    ] {
        let mut vars = vars;
        vars.push(("MAESTRO_ENV", "production"));
        let output = maestro(&vars);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{vars:?} started");
        assert!(
            stderr.contains(variable) && stderr.contains("openssl rand"),
            "{vars:?}: {stderr}"
        );
    }
    // Good secrets pass: it goes on to Postgres (absent here) and says so.
    let output = maestro(&[
        ("MAESTRO_ENV", "production"),
        ("MAESTRO_SECRETJWT", jwt),
        ("MAESTRO_SECRETLINK", link),
        ("MAESTRO_CREDENTIALS_KEY", key),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("cannot reach Postgres"), "{stderr}");
}

/// Random text into `logIn`, `signUp` and `requestPasswordReset`: the answer is always a
/// GraphQL error with a known code and a message (or a session), never a 500 or a panic.
#[test]
fn random_input_to_identity_mutations_gets_clear_errors() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (db, gateway) = runtime.block_on(async {
        let db = TestDb::new().await;
        let gateway = Gateway::start(&db, None).await;
        (db, gateway)
    });
    let text = prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9._%+-]{1,12}@[a-z0-9-]{1,10}\\.[a-z]{2,4}",
        "\\PC{0,40}",
    ];
    let mut runner = TestRunner::new(ProptestConfig::with_cases(48));
    runner
        .run(&(text.clone(), text), |(email, password)| {
            runtime.block_on(async {
                for mutation in [
                    "mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }",
                    "mutation($e: String!, $p: String!) { signUp(email: $e, password: $p) { token } }",
                    "mutation($e: String!) { requestPasswordReset(email: $e) }",
                ] {
                    let response = reqwest::Client::new()
                        .post(format!("{}/graphql", gateway.url))
                        .json(&json!({"query": mutation, "variables": {"e": email, "p": password}}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200, "{email:?} {password:?}");
                    let body: Value = response.json().await.unwrap();
                    if let Some(error) = body["errors"].as_array().and_then(|errors| errors.first()) {
                        assert!(
                            [
                                "BAD_USER_INPUT",
                                "UNAUTHENTICATED",
                                "TOO_MANY_REQUESTS",
                                "CONFLICT"
                            ]
                            .contains(&code(error)),
                            "{email:?} {password:?}: {body}"
                        );
                        assert!(!error["message"].as_str().unwrap_or_default().is_empty());
                        if password.chars().count() > 8 {
                            assert!(
                                !error["message"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .contains(password.as_str()),
                                "a password never shows in an error: {body}"
                            );
                        }
                    } else {
                        assert!(body["data"].is_object(), "{body}");
                    }
                }
            });
            Ok(())
        })
        .unwrap();
    drop(gateway);
    drop(db);
    runtime.shutdown_timeout(Duration::from_secs(5));
}

/// `tests/clients/subscribe.py` (Python's `gql`) with a bad session token: the gateway
/// refuses the WebSocket connection in `connection_init`, saying to log in again.
#[tokio::test]
async fn a_websocket_with_a_bad_token_is_refused_in_connection_init() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let expired = identity::Sessions::new(TEST_SESSION_SECRET, Duration::from_secs(3600))
        .issue(gateway.user, 1, chrono::Utc::now() - chrono::Duration::hours(2))
        .0;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/subscribe.py");
    let url = format!("{}/graphql", gateway.url.replacen("http://", "ws://", 1));
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let child = tokio::process::Command::new("python3")
            .arg(&script)
            .args([
                url.as_str(),
                protocol,
                "subscription { changes(kind: \"server\") { id } }",
                "1",
                &expired,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs (install the test clients with ops/clients)");
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("subscribe.py ends when refused")
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{protocol}: a bad token was let in");
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("READY"),
            "{protocol}: acknowledged"
        );
        assert!(stderr.contains("log in again"), "{protocol}: {stderr}");

        // A good token is acknowledged: the client gets to subscribe.
        let mut child = tokio::process::Command::new("python3")
            .arg(&script)
            .args([
                url.as_str(),
                protocol,
                "subscription { changes(kind: \"server\") { id } }",
                "1",
                &gateway.token,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines =
            tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("subscribe.py says READY within 60 s")
            .unwrap();
        assert_eq!(first.as_deref(), Some("READY"), "{protocol}");
        child.kill().await.unwrap();
    }
}
