//! Endpoints and the queue against real Postgres: validation, secrets at rest,
//! idempotent enqueueing, listing.

mod support;

use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use support::TestDb;
use uuid::Uuid;
use webhooks::{default_policy, EndpointUpdate, NewEndpoint, WebhookError, Webhooks};

fn new(url: &str) -> NewEndpoint {
    NewEndpoint {
        owner: Uuid::now_v7(),
        url: url.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn secrets_and_header_values_never_reach_the_database_in_plaintext() {
    let db = TestDb::new().await;
    let webhooks = db.webhooks();
    let token = "Bearer sup3r-s3cret-t0ken";
    let endpoint = NewEndpoint {
        headers: vec![("Authorization".into(), token.into())],
        ..new("https://hooks.example.com/maestro")
    };
    assert!(!format!("{endpoint:?}").contains("s3cret"), "{endpoint:?}");
    let (created, first) = webhooks.create(endpoint).await.unwrap();
    let second = webhooks.rotate_secret(created.id).await.unwrap();
    webhooks
        .enqueue(created.id, "m-1", "server.changed", &json!({"x": 1}))
        .await
        .unwrap();
    assert_eq!(created.header_names, ["authorization"]);
    assert!(!format!("{created:?}").contains("s3cret"));
    assert!(!format!("{first:?} {second:?}").contains(&first.expose()[6..]));

    let mut forbidden = vec!["s3cret".to_string()];
    for secret in [&first, &second] {
        let encoded = &secret.expose()["whsec_".len()..];
        forbidden.push(encoded.to_string());
        let bytes = base64_decode(encoded);
        // as bytea shows in text, and any 8-byte run of it
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        forbidden.extend(
            hex.as_bytes()
                .chunks(16)
                .map(|c| String::from_utf8(c.to_vec()).unwrap()),
        );
    }
    for table in ["webhook_endpoints", "webhook_deliveries", "webhook_attempts"] {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
            .fetch_all(&db.pool)
            .await
            .unwrap();
        for row in rows {
            for needle in &forbidden {
                assert!(
                    !row.contains(needle.as_str()),
                    "{table} holds a secret in plaintext: {row}"
                );
            }
        }
    }
    // Raw bytes too, in case a column held them unencoded.
    let raw: Vec<Vec<u8>> = sqlx::query_scalar("SELECT secret FROM webhook_endpoints")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let second_bytes = base64_decode(&second.expose()[6..]);
    assert!(!raw[0]
        .windows(second_bytes.len())
        .any(|w| w == second_bytes.as_slice()));
}

/// What a refused input should give.
type Expected = fn(&WebhookError) -> bool;

fn refused<T: std::fmt::Debug>(result: Result<T, WebhookError>) -> WebhookError {
    result.expect_err("refused")
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

#[tokio::test]
async fn enqueueing_a_message_twice_makes_one_delivery() {
    let db = TestDb::new().await;
    let webhooks = db.webhooks();
    let (endpoint, _) = webhooks.create(new("https://hooks.example.com/")).await.unwrap();
    let body = json!({"event": 1});
    let first = webhooks
        .enqueue(endpoint.id, "event-1", "server.changed", &body)
        .await
        .unwrap();
    let again = webhooks
        .enqueue(endpoint.id, "event-1", "server.changed", &json!({"other": true}))
        .await
        .unwrap();
    assert!(first.new && !again.new);
    assert_eq!(first.delivery, again.delivery);
    let deliveries = webhooks.deliveries(endpoint.id, 10, None).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].body, body);

    // Inside the caller's transaction: there only if it commits.
    let mut tx = db.pool.begin().await.unwrap();
    Webhooks::enqueue_in(&mut tx, endpoint.id, "event-2", "server.changed", &body)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(webhooks.deliveries(endpoint.id, 10, None).await.unwrap().len(), 1);
    let mut tx = db.pool.begin().await.unwrap();
    Webhooks::enqueue_in(&mut tx, endpoint.id, "event-2", "server.changed", &body)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(webhooks.deliveries(endpoint.id, 10, None).await.unwrap().len(), 2);

    let missing = Uuid::now_v7();
    assert!(matches!(
        webhooks.enqueue(missing, "event-1", "x", &body).await,
        Err(WebhookError::EndpointNotFound(id)) if id == missing
    ));
    assert!(matches!(
        webhooks.enqueue(endpoint.id, "", "x", &body).await,
        Err(WebhookError::InvalidMessageId)
    ));
    assert!(matches!(
        webhooks.enqueue(endpoint.id, "m", &"x".repeat(201), &body).await,
        Err(WebhookError::InvalidEventType)
    ));
}

#[tokio::test]
async fn deliveries_are_listed_newest_first_a_page_at_a_time() {
    let db = TestDb::new().await;
    let webhooks = db.webhooks();
    let (endpoint, _) = webhooks.create(new("https://hooks.example.com/")).await.unwrap();
    let (other, _) = webhooks
        .create(new("https://hooks.example.com/other"))
        .await
        .unwrap();
    for n in 0..5 {
        webhooks
            .enqueue(endpoint.id, &format!("m-{n}"), "t", &json!({"n": n}))
            .await
            .unwrap();
    }
    webhooks.enqueue(other.id, "m-0", "t", &json!({})).await.unwrap();
    let first = webhooks.deliveries(endpoint.id, 2, None).await.unwrap();
    let second = webhooks
        .deliveries(endpoint.id, 2, Some(first[1].id))
        .await
        .unwrap();
    let third = webhooks
        .deliveries(endpoint.id, 2, Some(second[1].id))
        .await
        .unwrap();
    let ids: Vec<&str> = first
        .iter()
        .chain(&second)
        .chain(&third)
        .map(|d| d.message_id.as_str())
        .collect();
    assert_eq!(ids, ["m-4", "m-3", "m-2", "m-1", "m-0"]);
    assert!(first
        .iter()
        .all(|d| d.next_attempt_at.is_some() && d.attempts.is_empty()));

    webhooks.cancel(third[0].id).await.unwrap();
    let cancelled = webhooks
        .deliveries(endpoint.id, 1, Some(second[1].id))
        .await
        .unwrap();
    assert_eq!(cancelled[0].state, webhooks::DeliveryState::Cancelled);
    assert_eq!(cancelled[0].next_attempt_at, None);
}

#[tokio::test]
async fn endpoint_input_is_checked_and_errors_say_what_to_do() {
    let db = TestDb::new().await;
    let webhooks = db.webhooks();
    let cases: Vec<(&str, Expected)> = vec![
        ("not a url", |e| matches!(e, WebhookError::InvalidUrl(_))),
        ("ftp://files.example.com/", |e| {
            matches!(e, WebhookError::UnsupportedScheme(_))
        }),
        ("file:///etc/passwd", |e| {
            matches!(e, WebhookError::UnsupportedScheme(_))
        }),
        ("https://user:pa55word@hooks.example.com/", |e| {
            matches!(e, WebhookError::CredentialsInUrl)
        }),
        ("https://user@hooks.example.com/", |e| {
            matches!(e, WebhookError::CredentialsInUrl)
        }),
        ("http://10.1.2.3/", |e| {
            matches!(e, WebhookError::AddressRefused(_))
        }),
    ];
    for (url, expected) in cases {
        let error = refused(webhooks.create(new(url)).await);
        assert!(expected(&error), "{url}: {error:?}");
        assert!(!error.to_string().contains("pa55word"), "{error}");
    }
    let long = format!("https://hooks.example.com/{}", "a".repeat(3000));
    assert!(matches!(
        refused(webhooks.create(new(&long)).await),
        WebhookError::InvalidUrl(_)
    ));

    let with_headers = |headers: &[(&str, &str)]| NewEndpoint {
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        ..new("https://hooks.example.com/")
    };
    for (headers, expected) in [
        (vec![("webhook-id", "x")], "set by the webhook sender"),
        (vec![("Host", "evil.example.com")], "set by the webhook sender"),
        (vec![("Content-Length", "0")], "set by the webhook sender"),
        (vec![("x-a", "1"), ("X-A", "2")], "given twice"),
        (vec![("bad header", "1")], "not a valid HTTP header name"),
        (
            vec![("x-token", "s3cret\nInjected: yes")],
            "not a valid HTTP header value",
        ),
    ] {
        let error = refused(webhooks.create(with_headers(&headers)).await);
        assert!(error.to_string().contains(expected), "{headers:?}: {error}");
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    let (endpoint, _) = webhooks.create(with_headers(&[("X-Token", "t")])).await.unwrap();
    let changed = webhooks
        .update(
            endpoint.id,
            EndpointUpdate {
                description: Some("orders".into()),
                headers: Some(vec![]),
                url: Some("https://hooks.example.com/v2".into()),
                enabled: Some(false),
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.description, "orders");
    assert!(changed.header_names.is_empty() && !changed.enabled && changed.disabled_reason.is_none());
    assert_eq!(changed.url, "https://hooks.example.com/v2");
    assert_eq!(webhooks.get(endpoint.id).await.unwrap(), changed);
    assert_eq!(
        webhooks.list(&[endpoint.owner, Uuid::now_v7()]).await.unwrap(),
        [changed]
    );
    assert!(webhooks.list(&[]).await.unwrap().is_empty());
    let error = refused(
        webhooks
            .update(
                endpoint.id,
                EndpointUpdate {
                    url: Some("gopher://x/".into()),
                    ..Default::default()
                },
            )
            .await,
    );
    assert!(matches!(error, WebhookError::UnsupportedScheme(_)));

    webhooks.delete(endpoint.id).await.unwrap();
    for error in [
        refused(webhooks.get(endpoint.id).await),
        refused(webhooks.delete(endpoint.id).await),
        refused(webhooks.rotate_secret(endpoint.id).await),
        refused(webhooks.update(endpoint.id, EndpointUpdate::default()).await),
    ] {
        assert!(
            matches!(error, WebhookError::EndpointNotFound(id) if id == endpoint.id),
            "{error}"
        );
    }
}

#[tokio::test]
async fn postgres_down_is_an_error_that_names_ops_up() {
    let pool = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_lazy("postgres://postgres@127.0.0.1:1/nowhere")
        .unwrap();
    let webhooks = Webhooks::new(pool, &support::KEY, default_policy());
    let error = webhooks
        .create(new("https://hooks.example.com/"))
        .await
        .unwrap_err();
    assert!(matches!(error, WebhookError::Database(_)));
    assert!(error.to_string().contains("ops/up"), "{error}");
}
