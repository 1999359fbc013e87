//! Event rules end to end, against Postgres: "tell me when a Production server is
//! orphaned", made through GraphQL with a webhook of its author, fires exactly once per
//! such event (a notification and a webhook delivery whose body is the event's
//! envelope), never for other events, never for items its author cannot read, not again
//! when the projector replays a batch or the projection is rebuilt; and a rule may not
//! name someone else's webhook.

mod support;

use commands::CommandRequest;
use domain::{Access, ActorKind, Command, Kind, Metadata, Viewer};
use scheduler::Rules;
use serde_json::{json, Value};
use support::{catch_up, fields, request, Gateway, TestDb};
use uuid::Uuid;

async fn server(db: &TestDb, owner: Uuid, environment: &str) -> Uuid {
    let id = Uuid::now_v7();
    db.handler()
        .execute(&CommandRequest {
            access: Access::Viewer(Viewer::user(owner)),
            metadata: Metadata::new(owner.to_string(), ActorKind::User),
            ..request(
                Kind::Server,
                id,
                Command::Create(fields(
                    Kind::Server,
                    json!({"hostname": format!("web-{id}"), "environment": environment}),
                )),
            )
        })
        .await
        .unwrap();
    id
}

async fn orphan(db: &TestDb, id: Uuid) {
    db.handler()
        .execute(&CommandRequest {
            metadata: Metadata::new("crawler", ActorKind::Crawler),
            ..request(Kind::Server, id, Command::Orphan)
        })
        .await
        .unwrap();
}

async fn told(db: &TestDb, person: Uuid) -> Vec<(String, Option<Uuid>)> {
    sqlx::query_as("SELECT topic, item_id FROM notifications WHERE user_id = $1 ORDER BY created_at")
        .bind(person)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

async fn delivered(db: &TestDb) -> Vec<(String, String, Value)> {
    sqlx::query_as("SELECT message_id, event_type, body FROM webhook_deliveries ORDER BY created_at")
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .into_iter()
        .map(
            |(message, event_type, body): (String, String, sqlx::types::Json<Value>)| {
                (message, event_type, body.0)
            },
        )
        .collect()
}

#[tokio::test]
async fn a_production_server_orphaned_is_told_once() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let me = gateway.user;
    let hook = gateway
        .data(
            "mutation { createWebhook(url: \"http://127.0.0.1:9/hooks\") { webhook { id } } }",
            json!({}),
        )
        .await["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let create = "mutation($input: RuleInput!) { createRule(input: $input) { id } }";
    let rule = json!({"name": "prod orphans", "streamTypes": ["server"], "eventTypes": ["orphaned"],
                      "conditions": {"environment": "Production"}, "webhook": hook});
    gateway.data(create, json!({"input": rule})).await;

    // Someone else may not point a rule at my webhook, nor make nonsense rules.
    let stranger = gateway.sign_up("stranger").await;
    let answer = gateway
        .post_as(Some(&stranger), create, json!({"input": rule}))
        .await;
    assert_eq!(answer["errors"][0]["extensions"]["field"], "webhook", "{answer}");
    let nonsense = json!({"name": "x", "eventTypes": ["exploded"]});
    let answer = gateway.post(create, json!({"input": nonsense})).await;
    assert_eq!(
        answer["errors"][0]["extensions"]["field"], "eventTypes",
        "{answer}"
    );

    let production = server(&db, me, "Production").await;
    let staging = server(&db, me, "Stage").await;
    let someone_elses = server(&db, Uuid::now_v7(), "Production").await;
    let rules = Rules;
    catch_up(&db.store(), &rules).await;
    for id in [production, staging, someone_elses] {
        orphan(&db, id).await;
    }
    catch_up(&db.store(), &rules).await;

    let notified = told(&db, me).await;
    assert_eq!(
        notified,
        vec![("rule_matched".to_string(), Some(production))],
        "{notified:?}"
    );
    let deliveries = delivered(&db).await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    let (message, event_type, body) = &deliveries[0];
    assert_eq!(event_type, "server.orphaned");
    assert_eq!(body["stream_id"], json!(production));
    assert_eq!(body["type"], "orphaned");
    assert_eq!(
        *message,
        body["id"].as_str().unwrap(),
        "the message id is the event id"
    );

    // Restored and orphaned again: a new event, told once more; replays tell nothing.
    db.handler()
        .execute(&request(Kind::Server, production, Command::Restore))
        .await
        .unwrap();
    orphan(&db, production).await;
    catch_up(&db.store(), &rules).await;
    projections::rebuild(&db.store(), &rules).await.unwrap();
    catch_up(&db.store(), &rules).await;
    assert_eq!(told(&db, me).await.len(), 2);
    assert_eq!(delivered(&db).await.len(), 2);

    // An item granted to a team of mine is one I may read: the rule sees it too.
    let identity = identity::Identity::new(db.pool.clone(), support::test_identity_settings()).unwrap();
    let team = identity.create_team(me, "ops").await.unwrap().id;
    let teams = server(&db, team, "Production").await;
    catch_up(&db.store(), &rules).await;
    orphan(&db, teams).await;
    catch_up(&db.store(), &rules).await;
    let notified = told(&db, me).await;
    assert_eq!(notified.len(), 3, "{notified:?}");
    assert_eq!(notified[2].1, Some(teams));
}
