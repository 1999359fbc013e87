//! The event store against a real Postgres: optimistic concurrency, idempotency keys,
//! and a reader that never skips an event that commits late.

mod support;

use std::collections::{BTreeMap, HashSet};

use commands::{CommandError, Cursor};
use domain::{Command, Kind};
use serde_json::json;
use support::{create_server, fields, request, TestDb};
use uuid::Uuid;

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_and_appends_nothing() {
    let db = TestDb::new().await;
    let handler = db.handler();
    let (id, created) = create_server(&handler, "web-1").await;
    assert_eq!(created.item().version, 1);
    let mut update = request(
        Kind::Server,
        id,
        Command::Update(fields(Kind::Server, json!({"cpu": 8}))),
    );
    update.expected_version = Some(1);
    assert_eq!(handler.execute(&update).await.unwrap().item().version, 2);
    let error = handler.execute(&update).await.unwrap_err();
    assert!(
        matches!(
            error,
            CommandError::Conflict {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "stale version must be a conflict, got {error:?}"
    );
    assert_eq!(db.store().load_stream(id, None).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_create_on_a_taken_id_is_refused_and_appends_nothing() {
    let db = TestDb::new().await;
    let handler = db.handler();
    let (id, _) = create_server(&handler, "web-1").await;
    // Creates skip reading the stream first; a taken id must still be told apart.
    let again = request(
        Kind::Server,
        id,
        Command::Create(fields(Kind::Server, json!({"hostname": "web-2"}))),
    );
    let error = handler.execute(&again).await.unwrap_err();
    assert!(
        matches!(
            error,
            CommandError::Rejected(domain::DomainError::AlreadyExists { .. })
        ),
        "{error:?}"
    );
    let other_kind = request(
        Kind::Volume,
        id,
        Command::Create(fields(Kind::Volume, json!({"name": "data"}))),
    );
    let error = handler.execute(&other_kind).await.unwrap_err();
    assert!(
        matches!(
            error,
            CommandError::Rejected(domain::DomainError::NotFound { .. })
        ),
        "an id of another kind: {error:?}"
    );
    let mut expecting_new = again.clone();
    expecting_new.expected_version = Some(0);
    let error = handler.execute(&expecting_new).await.unwrap_err();
    assert!(
        matches!(
            error,
            CommandError::Conflict {
                expected: 0,
                actual: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(db.store().load_stream(id, None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_update_that_changes_nothing_appends_nothing() {
    let db = TestDb::new().await;
    let handler = db.handler();
    let (id, _) = create_server(&handler, "web-1").await;
    let same = request(
        Kind::Server,
        id,
        Command::Update(fields(Kind::Server, json!({"cpu": 2, "environment": "prod"}))),
    );
    assert_eq!(handler.execute(&same).await.unwrap().appended, 0);
    assert_eq!(db.store().load_stream(id, None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_same_idempotency_key_appends_once_even_when_sent_concurrently() {
    let db = TestDb::new().await;
    let handler = db.handler();
    let (id, _) = create_server(&handler, "web-1").await;
    let mut update = request(
        Kind::Server,
        id,
        Command::Update(fields(Kind::Server, json!({"cpu": 16}))),
    );
    update.idempotency_key = Some("retry-me".into());
    let runs = futures::future::join_all((0..8).map(|_| {
        let (handler, update) = (handler.clone(), update.clone());
        tokio::spawn(async move { handler.execute(&update).await.unwrap() })
    }))
    .await;
    let appended: usize = runs.iter().map(|run| run.as_ref().unwrap().appended).sum();
    assert_eq!(appended, 1, "exactly one of the eight runs appends");
    for run in runs {
        assert_eq!(
            run.unwrap().item().version,
            2,
            "every run answers with the first result"
        );
    }
    // Later, after other changes, the key still answers with the state it produced.
    let other = request(
        Kind::Server,
        id,
        Command::Update(fields(Kind::Server, json!({"cpu": 32}))),
    );
    handler.execute(&other).await.unwrap();
    let replay = handler.execute(&update).await.unwrap();
    assert_eq!((replay.appended, replay.item().version), (0, 2));
    assert_eq!(replay.item().fields["cpu"], json!(16));
}

#[tokio::test]
async fn concurrent_writers_without_an_expected_version_all_land() {
    let db = TestDb::new().await;
    let handler = db.handler();
    let (id, _) = create_server(&handler, "web-1").await;
    let writers = (0..6).map(|n| {
        let handler = handler.clone();
        tokio::spawn(async move {
            let tag = Command::Tag {
                key: domain::TagKey::parse(&format!("k{n}")).unwrap(),
                value: "v".into(),
            };
            handler.execute(&request(Kind::Server, id, tag)).await.unwrap();
        })
    });
    futures::future::join_all(writers)
        .await
        .into_iter()
        .for_each(|r| r.unwrap());
    let events = db.store().load_stream(id, None).await.unwrap();
    let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=7).collect::<Vec<_>>());
}

async fn insert_raw(connection: &mut sqlx::PgConnection, stream_id: Uuid) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, metadata)
         VALUES ($1, 'server', $2, 1, 'deleted', 1, '{}', '{}') RETURNING position",
    )
    .bind(Uuid::now_v7())
    .bind(stream_id)
    .fetch_one(connection)
    .await
    .unwrap()
}

/// The classic bug: the writer holding the lower position commits last. A reader that
/// trusts positions would move past it and never see it.
#[tokio::test]
async fn a_reader_never_skips_an_event_that_commits_late() {
    let db = TestDb::new().await;
    let store = db.store();
    let (early, late) = (Uuid::now_v7(), Uuid::now_v7());
    let mut slow = db.pool.begin().await.unwrap();
    let low_position = insert_raw(&mut slow, early).await;
    let mut fast = db.pool.begin().await.unwrap();
    let high_position = insert_raw(&mut fast, late).await;
    fast.commit().await.unwrap();
    assert!(low_position < high_position);

    let seen = store.read_after(Cursor::default(), 100).await.unwrap();
    assert!(
        seen.is_empty(),
        "nothing may be read past a transaction still running"
    );

    slow.commit().await.unwrap();
    support::all_readable(&store).await;
    let seen = store.read_after(Cursor::default(), 100).await.unwrap();
    let positions: Vec<i64> = seen.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![low_position, high_position]);
}

/// Many writers commit in random order while a reader tails the log with its cursor:
/// the reader ends with every event exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tailing_reader_sees_every_event_exactly_once() {
    let db = TestDb::new().await;
    let store = db.store();
    // The end of the log, known once the writers are done. Tests in other databases can
    // hold the readable end back for a while (transaction ids are cluster-wide), so the
    // reader stops at the end, not at its first empty read.
    let (end_sender, end) = tokio::sync::watch::channel(None::<Cursor>);
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let (mut cursor, mut seen) = (Cursor::default(), vec![]);
            loop {
                let batch = store.read_after(cursor, 50).await.unwrap();
                if let Some(last) = batch.last() {
                    cursor = last.cursor();
                }
                seen.extend(batch.into_iter().map(|e| e.event_id));
                if end.borrow().is_some_and(|end| cursor >= end) {
                    return seen;
                }
            }
        })
    };
    let writers = (0..8).map(|writer| {
        let pool = db.pool.clone();
        tokio::spawn(async move {
            for n in 0..40u64 {
                let mut tx = pool.begin().await.unwrap();
                insert_raw(&mut tx, Uuid::now_v7()).await;
                // Hold some transactions open so that commits overtake each other.
                tokio::time::sleep(std::time::Duration::from_millis((writer * 7 + n * 13) % 11)).await;
                tx.commit().await.unwrap();
            }
        })
    });
    futures::future::join_all(writers)
        .await
        .into_iter()
        .for_each(|r| r.unwrap());
    let (transaction_id, position): (i64, i64) = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    end_sender
        .send(Some(Cursor {
            transaction_id,
            position,
        }))
        .unwrap();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(60), reader)
        .await
        .expect("the reader reached the end")
        .unwrap();
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no event read twice");
    assert_eq!(seen.len(), 320, "every event read");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// Whatever expected versions clients send, each stream's versions stay 1..=n
        /// with no gap, and a command is refused exactly when its version is stale.
        #[test]
        fn stream_versions_stay_contiguous(plan in proptest::collection::vec((0usize..3, proptest::option::of(0i64..6), 0u64..50), 1..25)) {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                let db = TestDb::new().await;
                let handler = db.handler();
                let mut ids = vec![];
                for n in 0..3 {
                    ids.push(create_server(&handler, &format!("web-{n}")).await.0);
                }
                let mut versions: BTreeMap<Uuid, i64> = ids.iter().map(|id| (*id, 1)).collect();
                for (stream, expected, cpu) in plan {
                    let id = ids[stream];
                    let mut update = request(Kind::Server, id, Command::Update(fields(Kind::Server, json!({"cpu": cpu}))));
                    update.expected_version = expected;
                    let current = versions[&id];
                    match handler.execute(&update).await {
                        Ok(outcome) => {
                            assert!(expected.is_none() || expected == Some(current), "a stale version was accepted");
                            versions.insert(id, outcome.item().version);
                        }
                        Err(CommandError::Conflict { actual, .. }) => {
                            assert_ne!(expected, Some(current), "a current version was refused");
                            assert_eq!(actual, current);
                        }
                        Err(other) => panic!("unexpected error {other}"),
                    }
                }
                for (id, version) in versions {
                    let stored: Vec<i64> = db.store().load_stream(id, None).await.unwrap().iter().map(|e| e.version).collect();
                    assert_eq!(stored, (1..=version).collect::<Vec<_>>());
                }
            });
        }
    }
}

#[tokio::test]
async fn an_unknown_event_in_the_log_is_a_clear_error_not_a_panic() {
    let db = TestDb::new().await;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, metadata)
         VALUES ($1, 'server', $2, 1, 'teleported', 1, '{}', '{}')",
    )
    .bind(Uuid::now_v7())
    .bind(id)
    .execute(&db.pool)
    .await
    .unwrap();
    let error = db.handler().load(Kind::Server, id, None).await.unwrap_err();
    assert!(
        error.to_string().contains("cannot decode `teleported`"),
        "{error}"
    );
}

/// A batch decides each command on its own and commits all their events at once.
#[tokio::test]
async fn a_batch_commits_its_commands_together_and_fails_them_one_by_one() {
    let db = TestDb::new().await;
    let handler = db.handler();
    let (existing, _) = create_server(&handler, "web-0").await;
    let new: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let mut batch: Vec<_> = new
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let input = fields(Kind::Server, json!({"hostname": format!("web-{}", n + 1)}));
            request(Kind::Server, *id, Command::Create(input))
        })
        .collect();
    // Changes nothing, fails, and changes something: each answered on its own.
    batch.push(request(
        Kind::Server,
        existing,
        Command::Update(fields(Kind::Server, json!({"hostname": "web-0"}))),
    ));
    batch.push(request(Kind::Server, Uuid::now_v7(), Command::Delete));
    let outcomes = handler.execute_batch(&batch).await;
    let appended: Vec<Option<usize>> = outcomes
        .iter()
        .map(|outcome| outcome.as_ref().ok().map(|o| o.appended))
        .collect();
    assert_eq!(appended, vec![Some(1), Some(1), Some(1), Some(0), None]);
    assert!(matches!(outcomes[4], Err(CommandError::Rejected(_))));
    assert_eq!(outcomes[2].as_ref().unwrap().item().version, 1);

    let transactions: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT transaction_id::text FROM events WHERE stream_id = ANY($1)")
            .bind(&new)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(transactions.len(), 1, "one commit for the whole batch");

    // An item named twice cannot be decided from one read: the batch runs one by one.
    let tag = |value: &str| {
        request(
            Kind::Server,
            new[0],
            Command::Tag {
                key: domain::TagKey::parse("team").unwrap(),
                value: value.to_string(),
            },
        )
    };
    let outcomes = handler.execute_batch(&[tag("a"), tag("b")]).await;
    let versions: Vec<i64> = outcomes
        .iter()
        .map(|o| o.as_ref().unwrap().item().version)
        .collect();
    assert_eq!(versions, vec![2, 3]);
}
