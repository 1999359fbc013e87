//! `schema/schema.graphql` is the checked-in SDL of the gateway. This fails when the code
//! and the file drift apart; `UPDATE_SCHEMA=1 cargo test -p gateways --test schema_file`
//! rewrites the file from the code.

use std::path::PathBuf;

use commands::{CommandHandler, EventStore};

#[tokio::test]
async fn the_checked_in_schema_matches_the_code() {
    let pool = sqlx::PgPool::connect_lazy("postgres://unused@127.0.0.1:1/unused").unwrap();
    let services = gateways::Services {
        handler: CommandHandler::new(EventStore::new(pool.clone())),
        feed: gateways::EventFeed::silent(),
        vault: commands::Vault::new(pool.clone(), None).unwrap(),
        jobs: None,
        connection_tests: None,
        upload_crawls: None,
        identity: identity::Identity::new(pool, identity::Settings::new("unused", "unused")).unwrap(),
        webhooks: None,
    };
    let schema = gateways::build_schema(services).unwrap();
    let sdl = schema.sdl();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema/schema.graphql");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == sdl,
        "schema/schema.graphql is out of date: run `UPDATE_SCHEMA=1 cargo test -p gateways --test schema_file` and commit it"
    );
}
