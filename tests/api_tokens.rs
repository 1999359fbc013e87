//! API tokens for programs, end to end through the gateway: made by a signed-in person,
//! shown once and stored hashed, read-only or read-write, acting as a team when asked,
//! recording their last use, and dead the moment they are revoked. Real Postgres.

mod support;

use serde_json::{json, Value};
use support::{Gateway, TestDb};

const CREATE_TOKEN: &str = "mutation($name: String!, $readOnly: Boolean!, $team: ID) {
    createApiToken(name: $name, readOnly: $readOnly, teamId: $team) { token apiToken { id name readOnly teamId } } }";

fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

async fn make_token(gateway: &Gateway, read_only: bool, team: Option<&str>) -> (String, String) {
    let made = gateway
        .data(
            CREATE_TOKEN,
            json!({"name": "nightly export", "readOnly": read_only, "team": team}),
        )
        .await;
    let token = made["createApiToken"]["token"].as_str().unwrap().to_string();
    let id = made["createApiToken"]["apiToken"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (token, id)
}

#[tokio::test]
async fn a_read_only_token_reads_and_changes_nothing() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let (token, _) = make_token(&gateway, true, None).await;
    assert!(
        token.starts_with("maestro_pat_"),
        "recognisable by secret scanners"
    );

    let me = gateway.post_as(Some(&token), "{ me { id } }", json!({})).await;
    assert_eq!(me["data"]["me"]["id"], json!(gateway.user), "{me}");
    for mutation in [
        "mutation { createServer(input: {hostname: \"x\"}) { id } }",
        "mutation { createTeam(name: \"t\") { id } }",
        "mutation { createApiToken(name: \"more\", readOnly: false) { token } }",
    ] {
        let refused = gateway.post_as(Some(&token), mutation, json!({})).await;
        assert_eq!(code(&refused), "FORBIDDEN", "{mutation}: {refused}");
    }

    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        !String::from_utf8_lossy(&stored[0]).contains(&token[12..]),
        "only a digest is kept"
    );
}

#[tokio::test]
async fn a_read_write_token_acts_for_its_person_but_cannot_take_over_the_account() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let (token, id) = make_token(&gateway, false, None).await;

    let created = gateway
        .post_as(
            Some(&token),
            "mutation { createServer(input: {hostname: \"api-1\"}) { id createdBy } }",
            json!({}),
        )
        .await;
    assert_eq!(
        created["data"]["createServer"]["createdBy"],
        json!(gateway.user.to_string()),
        "{created}"
    );
    for (mutation, what) in [
        ("mutation { createApiToken(name: \"more\", readOnly: false) { token } }", "mint tokens"),
        ("mutation { changePassword(currentPassword: \"correct horse battery\", newPassword: \"another long one\") { token } }", "change the password"),
        ("mutation { updateProfile(name: \"Mallory\") { name } }", "change the profile"),
    ] {
        let refused = gateway.post_as(Some(&token), mutation, json!({})).await;
        assert_eq!(code(&refused), "FORBIDDEN", "a token could {what}: {refused}");
    }

    let listed = gateway
        .data("{ apiTokens { id name readOnly lastUsedAt } }", json!({}))
        .await;
    let listed = &listed["apiTokens"][0];
    assert_eq!(listed["id"], json!(id));
    assert!(listed["lastUsedAt"].is_string(), "its use is recorded: {listed}");
    assert!(
        !listed.to_string().contains(&token),
        "a list never shows the token"
    );

    gateway
        .data(
            "mutation($id: ID!) { revokeApiToken(id: $id) }",
            json!({"id": id}),
        )
        .await;
    let after = gateway.post_as(Some(&token), "{ me { id } }", json!({})).await;
    assert_eq!(code(&after), "UNAUTHENTICATED", "{after}");
    let listed = gateway.data("{ apiTokens { id } }", json!({})).await;
    assert_eq!(listed["apiTokens"], json!([]));
}

#[tokio::test]
async fn a_team_token_acts_as_its_team_and_no_other() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let team = gateway
        .data("mutation { createTeam(name: \"Platform\") { id } }", json!({}))
        .await;
    let team = team["createTeam"]["id"].as_str().unwrap().to_string();
    let other = gateway
        .data("mutation { createTeam(name: \"Other\") { id } }", json!({}))
        .await;
    let other = other["createTeam"]["id"].as_str().unwrap().to_string();
    let (token, _) = make_token(&gateway, false, Some(&team)).await;

    let created = gateway
        .post_as(
            Some(&token),
            "mutation { createServer(input: {hostname: \"team-1\"}) { grants { principal level } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        created["data"]["createServer"]["grants"],
        json!([{"principal": team, "level": "ADMIN"}]),
        "{created}"
    );
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", gateway.url))
        .bearer_auth(&token)
        .header("X-Maestro-Team", &other)
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let stranger = gateway.sign_up("stranger").await;
    let refused = gateway
        .post_as(
            Some(&stranger),
            CREATE_TOKEN,
            json!({"name": "x", "readOnly": false, "team": team}),
        )
        .await;
    assert_eq!(
        code(&refused),
        "NOT_FOUND",
        "only members make tokens for a team: {refused}"
    );
}

/// Tried as an attacker: revoking someone else's token by its id must answer exactly as
/// an id that does not exist, and leave their token working; a name of any size is
/// refused by name.
#[tokio::test]
async fn another_persons_token_cannot_be_revoked_or_probed() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let (token, id) = make_token(&gateway, true, None).await;
    let mallory = gateway.sign_up("mallory").await;
    let revoke = "mutation($id: ID!) { revokeApiToken(id: $id) }";
    let theirs = gateway.post_as(Some(&mallory), revoke, json!({"id": id})).await;
    let nobody = uuid::Uuid::now_v7().to_string();
    let nobodys = gateway
        .post_as(Some(&mallory), revoke, json!({"id": nobody}))
        .await;
    assert_eq!(code(&theirs), "NOT_FOUND", "{theirs}");
    let message = |response: &Value, id: &str| {
        response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .replace(id, "<id>")
    };
    assert_eq!(message(&theirs, &id), message(&nobodys, &nobody));
    let still = gateway.post_as(Some(&token), "{ me { id } }", json!({})).await;
    assert!(still["data"]["me"]["id"].is_string(), "{still}");

    let long = gateway
        .post(
            CREATE_TOKEN,
            json!({"name": "x".repeat(10_000), "readOnly": true}),
        )
        .await;
    assert_eq!(code(&long), "BAD_USER_INPUT", "{long}");
}
