//! Crawling uploaded files through GraphQL, end to end: real multipart requests (the
//! GraphQL multipart request spec) carrying a recorded Terraform state, against real
//! Postgres. The upload replaces the connection's source; a later upload without a
//! resource orphans exactly that one; a broken file fails with its name and orphans
//! nothing; files that do not fit are refused before anything runs.

mod support;

use domain::Kind;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Map, Value};
use support::{catch_up, Gateway, TestDb};

const CRAWL_UPLOAD: &str = "mutation($id: ID!, $files: [Upload!]!) {
    crawlUpload(id: $id, files: $files) {
        jobId connectionId total { discovered updated orphaned unchanged errors failed } errors
        skipped { type count } } }";

/// The recorded state of two VPCs: `aws_default_vpc.default` and `aws_vpc.vpc`, the
/// latter given `Name` and `environment` tags (the recording has none), and two volume
/// attachments, a type Maestro does not map.
fn vpc_state() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crawlers/tests/data/terraform/aws_vpc.tfstate"
    );
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vpc = state["resources"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|resource| resource["type"] == "aws_vpc")
        .unwrap();
    vpc["instances"][0]["attributes"]["tags"] = json!({"Name": "core", "environment": "staging"});
    state["resources"].as_array_mut().unwrap().push(json!({
        "mode": "managed", "type": "aws_volume_attachment", "name": "data",
        "instances": [{"attributes": {"id": "vai-1"}}, {"attributes": {"id": "vai-2"}}]}));
    state
}

/// The multipart request of `crawlUpload` for connection `id` with these files (name,
/// content): `operations`, then `map` of each file part to its variable, then the files.
fn upload_form(id: &str, files: Vec<(&str, Vec<u8>)>) -> Form {
    let operations =
        json!({"query": CRAWL_UPLOAD, "variables": {"id": id, "files": vec![Value::Null; files.len()]}});
    let map: Map<String, Value> = (0..files.len())
        .map(|i| (i.to_string(), json!([format!("variables.files.{i}")])))
        .collect();
    let form = Form::new()
        .text("operations", operations.to_string())
        .text("map", Value::Object(map).to_string());
    files
        .into_iter()
        .enumerate()
        .fold(form, |form, (i, (name, content))| {
            form.part(i.to_string(), Part::bytes(content).file_name(name.to_string()))
        })
}

/// Uploads as the gateway's tester.
async fn upload(gateway: &Gateway, id: &str, files: Vec<(&str, Vec<u8>)>) -> Value {
    reqwest::Client::new()
        .post(format!("{}/graphql", gateway.url))
        .bearer_auth(&gateway.token)
        .multipart(upload_form(id, files))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The id of the network named `name`.
async fn network_named(gateway: &Gateway, name: &str) -> String {
    let found = gateway
        .data("{ networks(first: 10) { nodes { id name } } }", json!({}))
        .await;
    found["networks"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|network| network["name"] == name)
        .unwrap_or_else(|| panic!("no network named {name}: {found}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The networks the connection discovered, by provider id, and whether each is active.
async fn networks(db: &TestDb) -> Vec<(String, bool)> {
    catch_up(&db.store(), &projections::Inventory).await;
    sqlx::query_as("SELECT doc -> 'provenance' ->> 'provider_id', active FROM networks ORDER BY 1")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn uploaded_states_are_crawled_and_orphan_only_what_they_no_longer_hold() {
    let db = TestDb::new().await;
    let gateway = Gateway::start_reaching(&db, support::test_reach()).await;
    let created = gateway
        .data(
            "mutation($input: ConnectionInput!) { createConnection(input: $input) { id } }",
            json!({"input": {"name": "network state", "provider": "terraform",
                             "options": {"source": "path", "path": "/nowhere/terraform.tfstate"}}}),
        )
        .await;
    let id = created["createConnection"]["id"].as_str().unwrap().to_string();
    catch_up(&db.store(), &projections::Inventory).await;

    let state = vpc_state();
    let first = upload(
        &gateway,
        &id,
        vec![("terraform.tfstate", state.to_string().into())],
    )
    .await;
    let summary = &first["data"]["crawlUpload"];
    assert_eq!(
        summary["total"],
        json!({"discovered": 2, "updated": 0, "orphaned": 0, "unchanged": 0, "errors": 0, "failed": 0}),
        "{first}"
    );
    assert_eq!(
        (&summary["connectionId"], &summary["errors"]),
        (&json!(id), &json!([]))
    );
    assert_eq!(
        summary["skipped"],
        json!([{"type": "aws_volume_attachment", "count": 2}]),
        "what Maestro does not map is counted once, whatever the number of tasks"
    );
    let (default_vpc, other_vpc) = ("vpc-41d1d13b".to_string(), "vpc-0a5666c0cfc366714".to_string());
    assert_eq!(
        networks(&db).await,
        [(other_vpc.clone(), true), (default_vpc.clone(), true)]
    );

    // The tags of the state's VPC, as people see them: its `Name` and `environment` tags
    // name it and set its environment; a tag a person adds is theirs, the others the
    // provider's.
    let network_id = network_named(&gateway, "core").await;
    gateway
        .data(
            "mutation($id: ID!) { tag(id: $id, key: \"pager\", value: \"on\") { id } }",
            json!({"id": network_id}),
        )
        .await;
    catch_up(&db.store(), &projections::Inventory).await;
    let seen = gateway
        .data(
            "query($id: ID!) { network(id: $id) { name environment tags { key value source } } }",
            json!({"id": network_id}),
        )
        .await;
    assert_eq!(
        seen["network"],
        json!({"name": "core", "environment": "Stage", "tags": [
            {"key": "Name", "value": "core", "source": "PROVIDER"},
            {"key": "environment", "value": "staging", "source": "PROVIDER"},
            {"key": "pager", "value": "on", "source": "PERSON"},
        ]})
    );

    let mut without_one = state.clone();
    without_one["resources"]
        .as_array_mut()
        .unwrap()
        .retain(|resource| resource["type"] != "aws_vpc");
    let second = upload(
        &gateway,
        &id,
        vec![("terraform.tfstate", without_one.to_string().into())],
    )
    .await;
    let total = &second["data"]["crawlUpload"]["total"];
    assert_eq!(
        (&total["orphaned"], &total["unchanged"], &total["discovered"]),
        (&json!(1), &json!(1), &json!(0)),
        "{second}"
    );
    assert_eq!(
        networks(&db).await,
        [(other_vpc.clone(), false), (default_vpc.clone(), true)],
        "exactly the resource no longer in the state is orphaned"
    );

    let text = state.to_string();
    let broken = upload(
        &gateway,
        &id,
        vec![("broken.tfstate", text[..text.len() / 2].into())],
    )
    .await;
    let summary = &broken["data"]["crawlUpload"];
    assert_eq!(summary["total"]["orphaned"], 0, "{broken}");
    assert_eq!(
        (
            &summary["total"]["failed"],
            &summary["errors"].as_array().unwrap().len()
        ),
        (&json!(1), &1),
        "a broken file is reported once, and no other task runs on it: {broken}"
    );
    assert!(
        summary["errors"][0]
            .as_str()
            .unwrap()
            .contains("Terraform state broken.tfstate (uploaded): not a JSON document"),
        "{broken}"
    );
    assert_eq!(
        networks(&db).await,
        [(other_vpc, false), (default_vpc, true)],
        "a broken upload orphans nothing"
    );
    let connection = db
        .handler()
        .load(Kind::Connection, id.parse().unwrap(), None)
        .await
        .unwrap()
        .item;
    assert_eq!(connection.fields["tasks"]["network"]["state"], "danger");
}

#[tokio::test]
async fn uploads_that_do_not_fit_are_refused_before_anything_runs() {
    let db = TestDb::new().await;
    let gateway = Gateway::start_reaching(&db, support::test_reach()).await;
    let created = gateway
        .data(
            "mutation($input: ConnectionInput!) { createConnection(input: $input) { id } }",
            json!({"input": {"name": "state", "provider": "terraform"}}),
        )
        .await;
    let id = created["createConnection"]["id"].as_str().unwrap().to_string();
    let state = vpc_state().to_string();

    let error = |response: Value| response["errors"][0].clone();
    let two = upload(
        &gateway,
        &id,
        vec![
            ("a.tfstate", state.clone().into()),
            ("b.tfstate", state.clone().into()),
        ],
    )
    .await;
    assert_eq!(error(two.clone())["extensions"]["field"], "files", "{two}");
    assert!(
        error(two.clone())["message"]
            .as_str()
            .unwrap()
            .contains("2 files were given, and this connection reads one file"),
        "{two}"
    );
    let binary = upload(&gateway, &id, vec![("state.bin", vec![0xff, 0xfe, 0x00])]).await;
    assert_eq!(
        error(binary.clone())["message"],
        "state.bin (uploaded) is not text (UTF-8 or UTF-16 with a byte-order mark)",
        "{binary}"
    );

    let huge = vec![b' '; 64 * 1024 * 1024 + 1];
    let too_large = upload(&gateway, &id, vec![("huge.tfstate", huge)]).await;
    assert!(
        error(too_large.clone())["message"]
            .as_str()
            .unwrap()
            .contains("larger than 67108864 bytes; upload fewer or smaller files"),
        "{too_large}"
    );
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_type = 'network'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(events, 0, "nothing was crawled");
}

/// Found by reading (issue 10, item 1): uploads were parsed in the gateway process. Now a
/// crawler reads them: without one the gateway says so and crawls nothing; the crawler's
/// reach caps what it reads; and no uploaded file stays in NATS afterwards.
#[tokio::test]
async fn uploads_are_crawled_by_a_crawler_never_by_the_gateway() {
    async fn connection(gateway: &Gateway) -> String {
        gateway
            .data(
                "mutation($input: ConnectionInput!) { createConnection(input: $input) { id } }",
                json!({"input": {"name": "state", "provider": "terraform"}}),
            )
            .await["createConnection"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
    let state = vpc_state().to_string().into_bytes();

    let db = TestDb::new().await;
    let alone = Gateway::start(&db, None).await;
    let id = connection(&alone).await;
    let refused = upload(&alone, &id, vec![("terraform.tfstate", state.clone())]).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{refused}"
    );
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("crawler"),
        "{refused}"
    );

    let db = TestDb::new().await;
    let capped = Gateway::start_reaching(&db, crawlers::Reach::new(vec![], vec![], 100)).await;
    let id = connection(&capped).await;
    let too_large = upload(&capped, &id, vec![("terraform.tfstate", state)]).await;
    assert_eq!(
        too_large["errors"][0]["extensions"]["field"], "files",
        "{too_large}"
    );
    assert!(
        too_large["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("larger than the 100 bytes"),
        "the crawler's own cap: {too_large}"
    );
    let client = async_nats::connect(capped.nats_url().unwrap()).await.unwrap();
    let store = async_nats::jetstream::new(client)
        .get_object_store("MAESTRO_UPLOADS")
        .await
        .unwrap();
    let mut kept = store.list().await.unwrap();
    assert!(
        futures::StreamExt::next(&mut kept).await.is_none(),
        "no uploaded file stays in NATS"
    );
}
