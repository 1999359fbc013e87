//! A page of servers with their applications and datacenters costs the same number of
//! SQL statements whatever the page size: relations are loaded in batches.
//!
//! Statements are counted from sqlx's own per-statement log events, so this file holds
//! one test: nothing else may run statements in this process meanwhile.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use domain::{Command, ItemRef, Kind, Link, Relation};
use serde_json::json;
use support::{create_server, fields, project_all, request, Gateway, TestDb};
use tracing_subscriber::layer::SubscriberExt;
use uuid::Uuid;

struct CountStatements(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn relation_fields_cost_a_fixed_number_of_statements() {
    let statements = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::Targets::new().with_target("sqlx::query", tracing::Level::TRACE))
        .with(CountStatements(statements.clone()));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let db = TestDb::new().await;
    let handler = db.handler();
    let gateway = Gateway::start(&db, None).await;
    // Everything below is granted to the gateway's tester, who reads it.
    let grant_to_tester = |kind: Kind, id: Uuid| {
        request(
            kind,
            id,
            Command::Grant {
                principal: gateway.user,
                level: domain::Level::Read,
            },
        )
    };
    let datacenter = Uuid::now_v7();
    let dc_fields = fields(Kind::Datacenter, json!({"name": "dc", "provider": "aws"}));
    handler
        .execute(&request(Kind::Datacenter, datacenter, Command::Create(dc_fields)))
        .await
        .unwrap();
    handler
        .execute(&grant_to_tester(Kind::Datacenter, datacenter))
        .await
        .unwrap();
    for n in 0..100 {
        let (server, _) = create_server(&handler, &format!("host-{n:03}")).await;
        let app = Uuid::now_v7();
        let app_fields = fields(Kind::Application, json!({"name": format!("app-{n}")}));
        handler
            .execute(&request(Kind::Application, app, Command::Create(app_fields)))
            .await
            .unwrap();
        for (kind, id) in [(Kind::Server, server), (Kind::Application, app)] {
            handler.execute(&grant_to_tester(kind, id)).await.unwrap();
        }
        for (relation, target) in [
            (
                Relation::Hosts,
                ItemRef {
                    kind: Kind::Application,
                    id: app,
                },
            ),
            (
                Relation::LocatedIn,
                ItemRef {
                    kind: Kind::Datacenter,
                    id: datacenter,
                },
            ),
        ] {
            let link = Command::Link(Link {
                relation,
                target,
                protocol: None,
            });
            handler
                .execute(&request(Kind::Server, server, link))
                .await
                .unwrap();
        }
    }
    project_all(&db.store()).await;
    let query = "query($first: Int) { servers(first: $first) { totalCount nodes { hostname applications { name } locatedIn { name } } } }";

    let mut counts = vec![];
    for first in [10, 100] {
        let before = statements.load(Ordering::SeqCst);
        let data = gateway.data(query, json!({"first": first})).await;
        counts.push(statements.load(Ordering::SeqCst) - before);
        let nodes = data["servers"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), first);
        assert!(nodes
            .iter()
            .all(|n| n["applications"].as_array().unwrap().len() == 1 && n["locatedIn"][0]["name"] == "dc"));
    }
    assert!(counts[0] > 0, "statements are being counted");
    assert_eq!(
        counts[0], counts[1],
        "statements for 10 and for 100 servers: {counts:?}"
    );
    assert!(
        counts[1] <= 7,
        "the session check, list, count, two relation look-ups and two item look-ups: {counts:?}"
    );
}
