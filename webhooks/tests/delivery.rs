//! Deliveries end to end, against real Postgres and a receiver that verifies every
//! request with the third-party `standardwebhooks` library (PyPI).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use support::{endpoint, eventually, fast_settings, free_port, Behaviour, Receiver, RunningWorker, TestDb};
use webhooks::{default_policy, DeliverySettings, DeliveryState, EndpointUpdate, WebhookError, Webhooks};

const SOON: Duration = Duration::from_secs(10);

#[tokio::test]
async fn every_delivery_is_signed_so_that_the_standardwebhooks_library_verifies_it() {
    let db = TestDb::new().await;
    let webhooks = db.webhooks();
    let port = free_port();
    let (endpoint, secret) = endpoint(
        &webhooks,
        port,
        &[("Authorization", "Bearer t0ken"), ("X-Team", "ops")],
    )
    .await;
    let receiver = Receiver::start(port, &secret, Behaviour::default());
    let _worker = RunningWorker::start(&webhooks, fast_settings());

    let bodies = [
        json!({"type": "server.changed", "id": 1}),
        json!({"text": "naïve ✓ \"quoted\" \\ back", "n": [1.5, null, true]}),
        json!({"nested": {"deep": {"list": []}}, "empty": ""}),
    ];
    for (n, body) in bodies.iter().enumerate() {
        webhooks
            .enqueue(endpoint.id, &format!("event-{n}"), "server.changed", body)
            .await
            .unwrap();
    }
    let received = receiver.wait_for(3, SOON).await;
    for request in &received {
        assert!(request.verified, "{:?}", request.headers);
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(request.headers["authorization"], "Bearer t0ken");
        assert_eq!(request.headers["x-team"], "ops");
        assert!(request.id.starts_with("msg_"));
    }
    for body in &bodies {
        assert!(
            received.iter().any(|request| request.body == *body),
            "{body} arrived"
        );
    }

    let deliveries = eventually(SOON, "three deliveries delivered", || async {
        let deliveries = webhooks.deliveries(endpoint.id, 10, None).await.unwrap();
        deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Delivered)
            .then_some(deliveries)
    })
    .await;
    assert_eq!(deliveries.len(), 3);
    for delivery in &deliveries {
        assert_eq!(delivery.attempts.len(), 1);
        assert_eq!(delivery.attempts[0].status_code, Some(204));
        assert_eq!(delivery.attempts[0].error, None);
        assert!(delivery.delivered_at.is_some());
        assert_eq!(delivery.next_attempt_at, None);
        assert!(received.iter().any(|request| request.id == delivery.webhook_id));
    }
}

#[tokio::test]
async fn failed_attempts_are_retried_under_the_same_webhook_id_until_delivered() {
    let db = TestDb::new().await;
    let webhooks = db.webhooks();
    let port = free_port();
    let (endpoint, secret) = endpoint(&webhooks, port, &[]).await;
    let receiver = Receiver::start(
        port,
        &secret,
        Behaviour {
            fail: 2,
            ..Behaviour::default()
        },
    );
    let _worker = RunningWorker::start(&webhooks, fast_settings());

    let enqueued = webhooks
        .enqueue(endpoint.id, "m-1", "crawl.failed", &json!({"job": 7}))
        .await
        .unwrap();
    let received = receiver.wait_for(3, SOON).await;
    assert_eq!(
        received.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 204]
    );
    assert!(received.iter().all(|r| r.verified));
    assert!(
        received.iter().all(|r| r.id == received[0].id),
        "one webhook-id: {received:?}"
    );

    let delivery = eventually(SOON, "the delivery delivered", || async {
        let deliveries = webhooks.deliveries(endpoint.id, 10, None).await.unwrap();
        deliveries
            .into_iter()
            .find(|d| d.state == DeliveryState::Delivered)
    })
    .await;
    assert_eq!(delivery.id, enqueued.delivery);
    assert_eq!(delivery.webhook_id, received[0].id);
    let statuses: Vec<_> = delivery.attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(204)]);
    assert_eq!(
        delivery.attempts.iter().map(|a| a.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(delivery.attempts[0].error.as_deref().unwrap().contains("500"));
    assert!(delivery
        .attempts
        .iter()
        .all(|a| a.latency_ms >= 0 && a.latency_ms < 2000));
    assert!(delivery.attempts.windows(2).all(|pair| pair[0].at < pair[1].at));
    // A success resets the endpoint's failures in a row.
    assert_eq!(webhooks.get(endpoint.id).await.unwrap().consecutive_failures, 0);
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_its_delivery_once_it_comes_up() {
    let db = TestDb::new().await;
    let webhooks = db.webhooks();
    let port = free_port();
    let (endpoint, secret) = endpoint(&webhooks, port, &[]).await;
    let _worker = RunningWorker::start(&webhooks, fast_settings());
    webhooks
        .enqueue(endpoint.id, "m-1", "crawl.failed", &json!({"job": 7}))
        .await
        .unwrap();

    let attempts = eventually(SOON, "two refused attempts", || async {
        let deliveries = webhooks.deliveries(endpoint.id, 1, None).await.unwrap();
        let attempts = deliveries[0].attempts.clone();
        (attempts.len() >= 2).then_some(attempts)
    })
    .await;
    for attempt in &attempts {
        assert_eq!(attempt.status_code, None);
        let error = attempt.error.as_deref().unwrap();
        assert!(error.contains("could not connect"), "{error}");
    }

    let receiver = Receiver::start(port, &secret, Behaviour::default());
    let received = receiver.wait_for(1, SOON).await;
    assert!(received[0].verified);
    let delivery = eventually(SOON, "the delivery delivered", || async {
        let deliveries = webhooks.deliveries(endpoint.id, 1, None).await.unwrap();
        deliveries
            .into_iter()
            .find(|d| d.state == DeliveryState::Delivered)
    })
    .await;
    assert_eq!(delivery.webhook_id, received[0].id);
    assert_eq!(delivery.attempts.last().unwrap().status_code, Some(204));
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_fails_the_attempt() {
    let db = TestDb::new().await;
    let webhooks = db.webhooks();
    let port = free_port();
    let (endpoint, secret) = endpoint(&webhooks, port, &[]).await;
    let slow = Behaviour {
        slow: 1,
        sleep: Duration::from_secs(3),
        ..Behaviour::default()
    };
    let receiver = Receiver::start(port, &secret, slow);
    let settings = DeliverySettings {
        request_timeout: Duration::from_millis(700),
        ..fast_settings()
    };
    let _worker = RunningWorker::start(&webhooks, settings);
    webhooks
        .enqueue(endpoint.id, "m-1", "crawl.failed", &json!({"job": 7}))
        .await
        .unwrap();

    let delivery = eventually(SOON, "the delivery delivered", || async {
        let deliveries = webhooks.deliveries(endpoint.id, 1, None).await.unwrap();
        deliveries
            .into_iter()
            .find(|d| d.state == DeliveryState::Delivered)
    })
    .await;
    let first = &delivery.attempts[0];
    assert_eq!(first.status_code, None);
    assert!(
        first.error.as_deref().unwrap().contains("request timeout"),
        "{first:?}"
    );
    assert!((600..2000).contains(&first.latency_ms), "{first:?}");
    assert_eq!(delivery.attempts.last().unwrap().status_code, Some(204));
    let received = receiver.wait_for(2, SOON).await;
    assert!(received.iter().all(|r| r.id == delivery.webhook_id && r.verified));
}

#[tokio::test]
async fn redelivery_by_hand_keeps_the_webhook_id_and_signs_with_a_rotated_secret() {
    let db = TestDb::new().await;
    let webhooks = db.webhooks();
    let port = free_port();
    let (endpoint, secret) = endpoint(&webhooks, port, &[]).await;
    let _worker = RunningWorker::start(&webhooks, fast_settings());
    let enqueued = {
        let receiver = Receiver::start(port, &secret, Behaviour::default());
        let enqueued = webhooks
            .enqueue(endpoint.id, "m-1", "crawl.failed", &json!({"job": 7}))
            .await
            .unwrap();
        receiver.wait_for(1, SOON).await;
        enqueued
    };
    eventually(SOON, "the delivery delivered", || async {
        let deliveries = webhooks.deliveries(endpoint.id, 1, None).await.unwrap();
        (deliveries[0].state == DeliveryState::Delivered).then_some(())
    })
    .await;

    let rotated = webhooks.rotate_secret(endpoint.id).await.unwrap();
    assert_ne!(rotated.expose(), secret.expose());
    let receiver = Receiver::start(port, &rotated, Behaviour::default());
    webhooks.redeliver(enqueued.delivery).await.unwrap();
    let received = receiver.wait_for(1, SOON).await;
    assert!(received[0].verified, "signed with the new secret");
    let delivery = eventually(SOON, "the delivery delivered again", || async {
        let deliveries = webhooks.deliveries(endpoint.id, 1, None).await.unwrap();
        let delivery = deliveries.into_iter().next()?;
        (delivery.state == DeliveryState::Delivered && delivery.attempts.len() == 2).then_some(delivery)
    })
    .await;
    assert_eq!(received[0].id, delivery.webhook_id);
    assert_eq!(
        delivery.attempts.iter().map(|a| a.number).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(matches!(
        webhooks.redeliver(uuid::Uuid::now_v7()).await,
        Err(WebhookError::DeliveryNotFound(_))
    ));
}

#[tokio::test]
async fn an_endpoint_that_keeps_failing_is_disabled_once_and_its_deliveries_wait_for_it() {
    let db = TestDb::new().await;
    let webhooks = db.webhooks();
    let port = free_port();
    let (endpoint, secret) = endpoint(&webhooks, port, &[]).await;
    let receiver = Receiver::start(
        port,
        &secret,
        Behaviour {
            fail: 4,
            ..Behaviour::default()
        },
    );
    let settings = DeliverySettings {
        disable_after_failures: 4,
        disable_after_failing_for: Duration::ZERO,
        max_in_flight: 1,
        ..fast_settings()
    };
    let worker = RunningWorker::start(&webhooks, settings);
    for n in 0..3 {
        webhooks
            .enqueue(endpoint.id, &format!("m-{n}"), "crawl.failed", &json!({"n": n}))
            .await
            .unwrap();
    }

    let disabled = eventually(SOON, "the endpoint disabled", || async {
        worker.disabled.lock().unwrap().first().cloned()
    })
    .await;
    assert_eq!(disabled.id, endpoint.id);
    assert_eq!(disabled.owner, endpoint.owner);
    assert!(disabled.reason.contains("500"), "{}", disabled.reason);
    let stored = webhooks.get(endpoint.id).await.unwrap();
    assert!(!stored.enabled);
    assert_eq!(stored.disabled_reason.as_deref(), Some(disabled.reason.as_str()));
    assert_eq!(stored.consecutive_failures, 4);

    // Nothing more is sent while it is disabled, and nothing is lost.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.received().len(), 4);
    let waiting = webhooks.deliveries(endpoint.id, 10, None).await.unwrap();
    assert!(
        waiting.iter().all(|d| d.state == DeliveryState::Pending),
        "{waiting:?}"
    );

    let enabled = webhooks
        .update(
            endpoint.id,
            EndpointUpdate {
                enabled: Some(true),
                ..Default::default()
            },
        )
        .await;
    let enabled = enabled.unwrap();
    assert!(enabled.enabled && enabled.disabled_reason.is_none() && enabled.consecutive_failures == 0);
    receiver.wait_for(7, SOON).await;
    eventually(SOON, "all three delivered", || async {
        let deliveries = webhooks.deliveries(endpoint.id, 10, None).await.unwrap();
        deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Delivered)
            .then_some(())
    })
    .await;
    assert_eq!(
        worker.disabled.lock().unwrap().len(),
        1,
        "the owners are told once"
    );
    assert!(receiver.received().iter().all(|r| r.verified));
}

#[tokio::test]
async fn a_schedule_that_runs_out_leaves_the_delivery_failed() {
    let db = TestDb::new().await;
    let webhooks = db.webhooks();
    let port = free_port();
    let (endpoint, _secret) = endpoint(&webhooks, port, &[]).await;
    let settings = DeliverySettings {
        retry_delays: vec![Duration::from_millis(50); 2],
        ..fast_settings()
    };
    let _worker = RunningWorker::start(&webhooks, settings);
    webhooks
        .enqueue(endpoint.id, "m-1", "crawl.failed", &json!({}))
        .await
        .unwrap();
    let delivery = eventually(SOON, "the delivery failed", || async {
        let deliveries = webhooks.deliveries(endpoint.id, 1, None).await.unwrap();
        deliveries.into_iter().find(|d| d.state == DeliveryState::Failed)
    })
    .await;
    assert_eq!(delivery.attempts.len(), 3, "the first attempt and two retries");
    assert_eq!(delivery.next_attempt_at, None);
}

#[tokio::test]
async fn private_addresses_are_refused_unless_the_operator_allows_them() {
    let db = TestDb::new().await;
    let strict = Webhooks::new(db.pool.clone(), &support::KEY, default_policy());
    let port = free_port();
    let new = |url: String| webhooks::NewEndpoint {
        url,
        ..Default::default()
    };

    // An IP literal is refused when saved.
    for url in [
        format!("http://127.0.0.1:{port}/"),
        "http://[::1]/".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://[::ffff:10.0.0.1]/".into(),
    ] {
        let error = strict.create(new(url.clone())).await.unwrap_err();
        assert!(matches!(error, WebhookError::AddressRefused(_)), "{url}: {error}");
        assert!(
            error.to_string().contains("MAESTRO_WEBHOOK_PRIVATE_ENDPOINTS"),
            "{error}"
        );
    }
    // A name is judged where it is resolved, at each connection.
    let (endpoint, secret) = strict
        .create(new(format!("http://localhost:{port}/hooks")))
        .await
        .unwrap();
    let receiver = Receiver::start(port, &secret, Behaviour::default());
    let error = strict
        .update(
            endpoint.id,
            EndpointUpdate {
                url: Some(format!("http://127.0.0.1:{port}/")),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(error, WebhookError::AddressRefused(_)), "{error}");
    {
        let _worker = RunningWorker::start(&strict, fast_settings());
        strict
            .enqueue(endpoint.id, "m-1", "crawl.failed", &json!({}))
            .await
            .unwrap();
        let attempts = eventually(SOON, "refused attempts", || async {
            let deliveries = strict.deliveries(endpoint.id, 1, None).await.unwrap();
            let attempts = deliveries[0].attempts.clone();
            (attempts.len() >= 2).then_some(attempts)
        })
        .await;
        for attempt in attempts {
            let error = attempt.error.unwrap();
            assert!(error.contains("MAESTRO_WEBHOOK_PRIVATE_ENDPOINTS"), "{error}");
            assert_eq!(attempt.status_code, None);
        }
        assert!(
            receiver.received().is_empty(),
            "nothing reached the refused address"
        );
    }
    // The strict worker stopped, perhaps mid-attempt: let its claim lapse now rather than
    // after the lease's half minute.
    sqlx::query("UPDATE webhook_deliveries SET lease = NULL, locked_until = NULL")
        .execute(&db.pool)
        .await
        .unwrap();

    // The tests' operator allows 127.0.0.1: the same delivery goes through.
    let allowed = db.webhooks();
    let _worker = RunningWorker::start(&allowed, fast_settings());
    let received = receiver.wait_for(1, SOON).await;
    assert!(received[0].verified);
    allowed
        .update(
            endpoint.id,
            EndpointUpdate {
                url: Some(format!("http://127.0.0.1:{port}/")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn two_workers_side_by_side_never_send_one_delivery_twice() {
    const DELIVERIES: usize = 200;
    let db = TestDb::new().await;
    let webhooks = db.webhooks();
    let port = free_port();
    let (endpoint, secret) = endpoint(&webhooks, port, &[]).await;
    let receiver = Receiver::start(port, &secret, Behaviour::default());
    // Two workers as two processes would run them: each with its own pool.
    let other = Webhooks::new(
        db.another_pool().await,
        &support::KEY,
        webhooks::allowing(vec!["127.0.0.1/32".parse().unwrap()]),
    );
    let _first = RunningWorker::start(&webhooks, fast_settings());
    let _second = RunningWorker::start(&other, fast_settings());
    for n in 0..DELIVERIES {
        let via = if n % 2 == 0 { &webhooks } else { &other };
        via.enqueue(endpoint.id, &format!("m-{n}"), "server.changed", &json!({"n": n}))
            .await
            .unwrap();
    }
    receiver.wait_for(DELIVERIES, Duration::from_secs(30)).await;
    eventually(SOON, "every delivery delivered", || async {
        let delivered: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        (delivered == DELIVERIES as i64).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = receiver.received();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for request in &received {
        assert!(request.verified);
        *per_id.entry(request.id.as_str()).or_default() += 1;
    }
    assert_eq!(per_id.len(), DELIVERIES);
    assert!(per_id.values().all(|&n| n == 1), "a delivery was sent twice");
    let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_attempts")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(attempts, DELIVERIES as i64);
}
