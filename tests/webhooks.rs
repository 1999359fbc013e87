//! Webhook endpoints through GraphQL, against Postgres: the secret shown once and header
//! values never, internal addresses refused unless the operator allowed them (the test
//! gateway allows this machine's loopback, as `MAESTRO_WEBHOOK_PRIVATE_ENDPOINTS` would),
//! someone else's endpoint answered as unknown, and deliveries listed and redelivered
//! under the same webhook-id. Signing, retries and delivery to a receiver that verifies
//! with the `standardwebhooks` library are the `webhooks` crate's own tests.

mod support;

use serde_json::{json, Value};
use support::{test_webhooks, Gateway, TestDb};
use uuid::Uuid;

const CREATE: &str = "mutation($url: String!, $headers: JSON) { createWebhook(url: $url, description: \"cmdb\", headers: $headers) { secret webhook { id url headerNames enabled } } }";

#[tokio::test]
async fn webhooks_are_their_owners_and_never_show_their_secrets() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let made = gateway
        .data(
            CREATE,
            json!({"url": "http://127.0.0.1:9/hooks", "headers": {"Authorization": "Bearer sekrit-token"}}),
        )
        .await["createWebhook"]
        .clone();
    let secret = made["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{made}");
    assert_eq!(made["webhook"]["headerNames"], json!(["authorization"]));
    let id = made["webhook"]["id"].as_str().unwrap().to_string();

    let listed = gateway
        .post(
            "{ webhooks { id url headerNames enabled disabledReason } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["data"]["webhooks"][0]["id"], json!(id), "{listed}");
    let shown = listed.to_string();
    assert!(
        !shown.contains("sekrit-token") && !shown.contains(secret),
        "{shown}"
    );
    let stored: Vec<String> = sqlx::query_scalar("SELECT row_to_json(e)::text FROM webhook_endpoints e")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(stored
        .iter()
        .all(|row| !row.contains("sekrit-token") && !row.contains(secret)));

    let refused = gateway
        .error(CREATE, json!({"url": "http://10.1.2.3/hooks"}))
        .await;
    assert_eq!(refused["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("MAESTRO_WEBHOOK_PRIVATE_ENDPOINTS"),
        "{refused}"
    );
    let refused = gateway
        .error(CREATE, json!({"url": "ftp://hooks.example.com/x"}))
        .await;
    assert_eq!(refused["extensions"]["code"], "BAD_USER_INPUT", "{refused}");

    // A delivery, as a rule or a notification would queue it.
    let webhooks = test_webhooks(&db.pool);
    let endpoint: Uuid = id.parse().unwrap();
    let queued = webhooks
        .enqueue(endpoint, "evt-1", "server.orphaned", &json!({"type": "orphaned"}))
        .await
        .unwrap();
    let deliveries = |token: Option<String>| {
        let gateway = &gateway;
        let id = id.clone();
        async move {
            let query = "query($id: ID!) { webhookDeliveries(webhookId: $id) { id webhookId messageId eventType state attempts { number } } }";
            match token {
                Some(token) => gateway.post_as(Some(&token), query, json!({"id": id})).await,
                None => gateway.post(query, json!({"id": id})).await,
            }
        }
    };
    let listed = deliveries(None).await;
    let delivery = &listed["data"]["webhookDeliveries"][0];
    assert_eq!(delivery["state"], "PENDING", "{listed}");
    assert_eq!(delivery["messageId"], "evt-1");
    assert!(
        delivery["webhookId"].as_str().unwrap().starts_with("msg_"),
        "{listed}"
    );
    let webhook_id = delivery["webhookId"].clone();

    // Someone else: the endpoint and its deliveries do not exist for them.
    let stranger = gateway.sign_up("stranger").await;
    let theirs = gateway
        .post_as(Some(&stranger), "{ webhooks { id } }", json!({}))
        .await;
    assert_eq!(theirs["data"]["webhooks"], json!([]));
    let answer = deliveries(Some(stranger.clone())).await;
    assert_eq!(answer["errors"][0]["extensions"]["code"], "NOT_FOUND", "{answer}");
    let redeliver = "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) }";
    let variables = json!({"d": queued.delivery});
    let answer = gateway
        .post_as(Some(&stranger), redeliver, variables.clone())
        .await;
    assert_eq!(answer["errors"][0]["extensions"]["code"], "NOT_FOUND", "{answer}");
    let update = "mutation($id: ID!) { updateWebhook(id: $id, enabled: false) { enabled } }";
    let answer = gateway.post_as(Some(&stranger), update, json!({"id": id})).await;
    assert_eq!(answer["errors"][0]["extensions"]["code"], "NOT_FOUND", "{answer}");

    // The owner redelivers: the same webhook-id; disables; rotates; deletes.
    assert_eq!(gateway.data(redeliver, variables).await["redeliverWebhook"], true);
    assert_eq!(
        deliveries(None).await["data"]["webhookDeliveries"][0]["webhookId"],
        webhook_id
    );
    assert_eq!(
        gateway.data(update, json!({"id": id})).await["updateWebhook"]["enabled"],
        false
    );
    let rotated = gateway
        .data(
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }",
            json!({"id": id}),
        )
        .await;
    let new_secret = rotated["rotateWebhookSecret"]["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let deleted: Value = gateway
        .data("mutation($id: ID!) { deleteWebhook(id: $id) }", json!({"id": id}))
        .await;
    assert_eq!(deleted["deleteWebhook"], true);
    assert_eq!(
        gateway.data("{ webhooks { id } }", json!({})).await["webhooks"],
        json!([])
    );
}

/// The webhook channel of notifications, and webhook schedules, through GraphQL: each
/// names only its author's endpoint; a notification a person chose to hear through their
/// webhook is queued for it as `notification.<topic>`, once however often it is told.
#[tokio::test]
async fn notifications_and_schedules_call_only_their_authors_webhooks() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let id = gateway
        .data(CREATE, json!({"url": "http://127.0.0.1:9/hooks"}))
        .await["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let choose = "mutation($webhook: ID) { setNotificationChannels(topic: CRAWL_FAILED, inApp: true, email: false, webhook: $webhook) { topic webhook } }";
    let stranger = gateway.sign_up("stranger").await;
    let refused = gateway
        .post_as(Some(&stranger), choose, json!({"webhook": id}))
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    assert_eq!(
        refused["errors"][0]["extensions"]["field"], "webhook",
        "{refused}"
    );
    let schedule = "mutation($input: ScheduleInput!) { createSchedule(input: $input) { id action webhook } }";
    let input = json!({"input": {"name": "export", "action": "webhook", "webhook": id, "interval": 3600}});
    let refused = gateway.post_as(Some(&stranger), schedule, input.clone()).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["field"], "webhook",
        "{refused}"
    );
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no webhook you may use"),
        "{refused}"
    );

    let chosen = gateway.data(choose, json!({"webhook": id})).await;
    let failed = chosen["setNotificationChannels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|channel| channel["topic"] == "CRAWL_FAILED")
        .unwrap()
        .clone();
    assert_eq!(failed["webhook"], json!(id));
    let made = gateway.data(schedule, input).await;
    assert_eq!(made["createSchedule"]["webhook"], json!(id), "{made}");

    let identity = identity::Identity::new(db.pool.clone(), support::test_identity_settings()).unwrap();
    let notice = identity::Notice {
        topic: identity::Topic::CrawlFailed,
        title: "Crawl of `prod` failed".into(),
        body: "the provider answered 500".into(),
        item: None,
        key: "webhook-channel/1".into(),
    };
    assert_eq!(identity.notify(&[gateway.user], &notice).await.unwrap(), 1);
    assert_eq!(
        identity.notify(&[gateway.user], &notice).await.unwrap(),
        0,
        "told once"
    );
    let webhooks = test_webhooks(&db.pool);
    let deliveries = webhooks.deliveries(id.parse().unwrap(), 10, None).await.unwrap();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].event_type, "notification.crawl_failed");
    assert_eq!(deliveries[0].body["title"], "Crawl of `prod` failed");
    assert_eq!(deliveries[0].body["topic"], "crawl_failed");

    // Without the webhook again, the next notice goes nowhere but the product.
    gateway.data(choose, json!({"webhook": null})).await;
    let next = identity::Notice {
        key: "webhook-channel/2".into(),
        ..notice
    };
    assert_eq!(identity.notify(&[gateway.user], &next).await.unwrap(), 1);
    assert_eq!(
        webhooks
            .deliveries(id.parse().unwrap(), 10, None)
            .await
            .unwrap()
            .len(),
        1
    );
}
