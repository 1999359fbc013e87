//! The GraphQL gateway as a client uses it, over HTTP, against real Postgres.

mod support;

use serde_json::{json, Value};
use support::{project_all, Gateway, TestDb};

const CREATE: &str = "mutation($input: ServerInput!, $key: String) {
    createServer(input: $input, idempotencyKey: $key) { id version hostname environment cpu } }";

async fn create_server(gateway: &Gateway, input: Value) -> Value {
    gateway.data(CREATE, json!({"input": input})).await["createServer"].clone()
}

#[tokio::test]
async fn mutations_return_the_new_state_and_errors_carry_codes() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let server = create_server(
        &gateway,
        json!({"hostname": "Web-1.Example.com", "environment": "prod", "cpu": 2}),
    )
    .await;
    assert_eq!(
        (
            server["version"].clone(),
            server["hostname"].clone(),
            server["environment"].clone()
        ),
        (json!(1), json!("web-1.example.com"), json!("Production"))
    );
    let id = server["id"].as_str().unwrap().to_string();

    let update = "mutation($id: ID!, $v: Int, $input: ServerInput!) { updateServer(id: $id, expectedVersion: $v, input: $input) { version cpu role } }";
    let updated = gateway
        .data(
            update,
            json!({"id": id, "v": 1, "input": {"cpu": 4, "role": "web"}}),
        )
        .await;
    assert_eq!(
        updated["updateServer"],
        json!({"version": 2, "cpu": 4, "role": "web"})
    );

    let stale = gateway
        .error(update, json!({"id": id, "v": 1, "input": {"cpu": 8}}))
        .await;
    assert_eq!(stale["extensions"]["code"], "CONFLICT");
    assert_eq!(stale["extensions"]["actualVersion"], 2);

    let bad = gateway
        .error(update, json!({"id": id, "input": {"ipv4Private": "10.0.0.999"}}))
        .await;
    assert_eq!(
        (
            bad["extensions"]["code"].clone(),
            bad["extensions"]["field"].clone()
        ),
        (json!("BAD_USER_INPUT"), json!("ipv4Private"))
    );
    assert!(bad["message"]
        .as_str()
        .unwrap()
        .contains("is not an IPv4 address"));

    let missing = gateway
        .error(
            update,
            json!({"id": "0190a0f0-0000-7000-8000-000000000000", "input": {"cpu": 1}}),
        )
        .await;
    assert_eq!(missing["extensions"]["code"], "NOT_FOUND");

    let not_an_id = gateway
        .error(update, json!({"id": "web-1", "input": {"cpu": 1}}))
        .await;
    assert_eq!(
        (
            not_an_id["extensions"]["code"].clone(),
            not_an_id["extensions"]["field"].clone()
        ),
        (json!("BAD_USER_INPUT"), json!("id"))
    );

    let no_hostname = gateway.error(CREATE, json!({"input": {"cpu": 1}})).await;
    assert_eq!(no_hostname["extensions"]["field"], "hostname");
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retried_create_create_once() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let variables = json!({"input": {"hostname": "web-1"}, "key": "create-web-1"});
    let first = gateway.data(CREATE, variables.clone()).await;
    let again = gateway.data(CREATE, variables).await;
    assert_eq!(first, again, "the retry answers with the first result");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(events, 1);
}

async fn fleet(gateway: &Gateway, db: &TestDb) -> Vec<String> {
    let mut ids = vec![];
    for n in 0..12 {
        let environment = ["Production", "Stage", "Development"][n % 3];
        let server = create_server(gateway, json!({"hostname": format!("host-{n:02}.example.com"), "environment": environment, "cpu": n, "datacenters": {"provider": if n < 6 { "aws" } else { "azure" }, "region": "eu-1"}})).await;
        ids.push(server["id"].as_str().unwrap().to_string());
    }
    let tag = "mutation($id: ID!) { tag(id: $id, key: \"team\", value: \"core\") { version } }";
    gateway.data(tag, json!({"id": ids[0]})).await;
    gateway.data(tag, json!({"id": ids[1]})).await;
    gateway
        .data(
            "mutation($id: ID!) { deleteServer(id: $id) { active } }",
            json!({"id": ids[11]}),
        )
        .await;
    project_all(&db.store()).await;
    ids
}

async fn hostnames(gateway: &Gateway, arguments: &str) -> Vec<String> {
    let data = gateway
        .data(
            &format!("{{ servers({arguments}) {{ nodes {{ hostname }} }} }}"),
            json!({}),
        )
        .await;
    data["servers"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["hostname"].as_str().unwrap()[5..7].to_string())
        .collect()
}

#[tokio::test]
async fn lists_filter_sort_and_page() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    fleet(&gateway, &db).await;

    assert_eq!(
        hostnames(&gateway, "filter: {environment: {eq: \"Production\"}}").await,
        ["00", "03", "06", "09"]
    );
    assert_eq!(
        hostnames(&gateway, "filter: {cpu: {gte: 3, lt: 6}}").await,
        ["03", "04", "05"]
    );
    assert_eq!(
        hostnames(&gateway, "filter: {hostname: {contains: \"HOST-1\"}}").await,
        ["10"]
    );
    assert_eq!(
        hostnames(
            &gateway,
            "filter: {environment: {in: [\"Stage\", \"Development\"]}, cpu: {lt: 4}}"
        )
        .await,
        ["01", "02"]
    );
    assert_eq!(
        hostnames(&gateway, "filter: {tag: {key: \"team\", value: \"core\"}}").await,
        ["00", "01"]
    );
    assert_eq!(
        hostnames(&gateway, "filter: {active: false}").await,
        ["11"],
        "the deleted one is found as orphaned"
    );
    assert_eq!(
        hostnames(&gateway, "filter: {datacenter: {provider: \"azure\"}}").await,
        ["06", "07", "08", "09", "10"]
    );
    assert_eq!(
        hostnames(&gateway, "filter: {role: {notContains: \"db\"}, cpu: {lt: 2}}").await,
        ["00", "01"],
        "notContains matches items without a value"
    );
    assert_eq!(
        hostnames(&gateway, "orderBy: {field: CPU, direction: DESC}, first: 3").await,
        ["10", "09", "08"]
    );

    let page = "query($after: String) { servers(first: 4, after: $after) { totalCount edges { cursor node { hostname } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let first = gateway.data(page, json!({})).await["servers"].clone();
    assert_eq!(first["totalCount"], 11);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let mut seen = vec![];
    let mut after = Value::Null;
    loop {
        let page = gateway.data(page, json!({"after": after})).await["servers"].clone();
        seen.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["hostname"].clone()),
        );
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len(), 11, "paging visits every active server once");

    let too_big = gateway
        .error("{ servers(first: 501) { totalCount } }", json!({}))
        .await;
    assert_eq!(
        (
            too_big["extensions"]["code"].clone(),
            too_big["extensions"]["field"].clone()
        ),
        (json!("BAD_USER_INPUT"), json!("first"))
    );
    let bad_cursor = gateway
        .error("{ servers(after: \"nope\") { totalCount } }", json!({}))
        .await;
    assert_eq!(bad_cursor["extensions"]["field"], "after");
}

#[tokio::test]
async fn history_time_travel_and_revert() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let server = create_server(&gateway, json!({"hostname": "web-1", "cpu": 2})).await;
    let id = server["id"].as_str().unwrap();
    let update =
        "mutation($id: ID!, $cpu: Int) { updateServer(id: $id, input: {cpu: $cpu}) { version updatedAt } }";
    let second = gateway.data(update, json!({"id": id, "cpu": 4})).await;
    let yesterday_ish = second["updateServer"]["updatedAt"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    gateway.data(update, json!({"id": id, "cpu": 16})).await;
    project_all(&db.store()).await;

    let history = gateway.data("query($id: ID!) { history(id: $id) { totalCount nodes { version eventType actor actorKind source patch diff } } }", json!({"id": id})).await;
    let changes = &history["history"]["nodes"];
    assert_eq!(history["history"]["totalCount"], 3);
    assert_eq!(changes[0]["version"], 3, "newest first");
    assert_eq!(
        changes[0]["patch"],
        json!([{"op": "replace", "path": "/cpu", "value": 16}])
    );
    assert!(changes[0]["diff"]
        .as_str()
        .unwrap()
        .contains("-  \"cpu\": 4,\n+  \"cpu\": 16,"));
    assert_eq!(
        (changes[0]["actor"].clone(), changes[0]["actorKind"].clone()),
        (json!(gateway.user.to_string()), json!("user"))
    );

    let as_of = "query($id: ID!, $at: DateTime, $v: Int) { asOf(id: $id, at: $at, version: $v) { version ... on Server { cpu } } }";
    assert_eq!(
        gateway.data(as_of, json!({"id": id, "v": 1})).await["asOf"],
        json!({"version": 1, "cpu": 2})
    );
    assert_eq!(
        gateway.data(as_of, json!({"id": id, "at": yesterday_ish})).await["asOf"],
        json!({"version": 2, "cpu": 4})
    );
    assert_eq!(
        gateway
            .data(as_of, json!({"id": id, "at": "2000-01-01T00:00:00Z"}))
            .await["asOf"],
        Value::Null
    );
    let both = gateway
        .error(as_of, json!({"id": id, "v": 1, "at": yesterday_ish}))
        .await;
    assert_eq!(both["extensions"]["code"], "BAD_USER_INPUT");

    let reverted = gateway
        .data(
            "mutation($id: ID!) { revert(id: $id, toVersion: 1) { version ... on Server { cpu } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        reverted["revert"],
        json!({"version": 4, "cpu": 2}),
        "an old state comes back as a new version"
    );
    let bad = gateway
        .error(
            "mutation($id: ID!) { revert(id: $id, toVersion: 9) { version } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(bad["extensions"]["field"], "toVersion");
}

#[tokio::test]
async fn the_raw_log_pages_in_commit_order_with_filters() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    for n in 0..5 {
        create_server(&gateway, json!({"hostname": format!("web-{n}")})).await;
    }
    gateway
        .data(
            "mutation { createClient(input: {name: \"acme\"}) { id } }",
            json!({}),
        )
        .await;
    let query = "query($after: String, $filter: EventFilter) { events(first: 2, after: $after, filter: $filter) { edges { cursor node { type streamType version data } } pageInfo { hasNextPage } } }";
    // Events are served as far as the inventory projector got (it knows their grants).
    project_all(&db.store()).await;
    // The log is readable up to the oldest transaction still running anywhere in the
    // cluster (other tests' included), so the reader pages on until it has all six.
    let mut after = Value::Null;
    let mut types = vec![];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while types.len() < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {types:?} became readable"
        );
        let page = gateway.data(query, json!({"after": after})).await["events"].clone();
        for edge in page["edges"].as_array().unwrap() {
            types.push(edge["node"]["streamType"].as_str().unwrap().to_string());
            after = edge["cursor"].clone();
        }
    }
    assert_eq!(
        types,
        ["server", "server", "server", "server", "server", "client"]
    );
    let clients = gateway
        .data(query, json!({"filter": {"streamType": "client"}}))
        .await;
    assert_eq!(clients["events"]["edges"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn relations_are_fields_from_both_ends() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let server = create_server(&gateway, json!({"hostname": "web-1"})).await["id"].clone();
    let create_app = "mutation($input: ApplicationInput!) { createApplication(input: $input) { id } }";
    let api =
        gateway.data(create_app, json!({"input": {"name": "api"}})).await["createApplication"]["id"].clone();
    let db_app = gateway
        .data(create_app, json!({"input": {"name": "db", "family": "Database"}}))
        .await["createApplication"]["id"]
        .clone();
    let link = "mutation($s: ID!, $t: ID!, $r: RelationKind!, $p: String) { link(sourceId: $s, relation: $r, targetId: $t, protocol: $p) { version } }";
    gateway
        .data(link, json!({"s": server, "t": api, "r": "HOSTS"}))
        .await;
    gateway
        .data(
            link,
            json!({"s": api, "t": db_app, "r": "DEPENDS_ON", "p": "grpc"}),
        )
        .await;
    let wrong = gateway
        .error(link, json!({"s": api, "t": server, "r": "HOSTS"}))
        .await;
    assert_eq!(wrong["extensions"]["code"], "BAD_USER_INPUT");
    assert!(wrong["message"]
        .as_str()
        .unwrap()
        .contains("cannot be linked as `hosts`"));
    project_all(&db.store()).await;
    let data = gateway
        .data(
            "query($id: ID!) { application(id: $id) { name servers { hostname } dependencies { name family } dependents { name } relations { relation protocol } } }",
            json!({"id": api}),
        )
        .await;
    assert_eq!(data["application"]["servers"], json!([{"hostname": "web-1"}]));
    assert_eq!(
        data["application"]["dependencies"],
        json!([{"name": "db", "family": "Database"}])
    );
    assert_eq!(
        data["application"]["relations"],
        json!([{"relation": "DEPENDS_ON", "protocol": "grpc"}])
    );
    let dependents = gateway
        .data(
            "query($id: ID!) { application(id: $id) { dependents { name } } }",
            json!({"id": db_app}),
        )
        .await;
    assert_eq!(dependents["application"]["dependents"], json!([{"name": "api"}]));
}

#[tokio::test]
async fn limits_answer_with_clear_errors() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let nested = (0..12).fold("name".to_string(), |inner, n| {
        let field = if n % 2 == 1 { "applications" } else { "servers" };
        format!("{field} {{ {inner} }}")
    });
    let deep = format!("{{ servers {{ nodes {{ {nested} }} }} }}");
    let error = gateway.error(&deep, json!({})).await;
    assert!(
        error["message"].as_str().unwrap().contains("nested too deep"),
        "{error}"
    );

    let huge = "x".repeat(2 * 1024 * 1024);
    let error = gateway
        .error(&format!("{{ servers {{ totalCount }} }} # {huge}"), json!({}))
        .await;
    assert_eq!(error["extensions"]["code"], "BAD_REQUEST");
    assert!(
        error["message"].as_str().unwrap().contains("larger than"),
        "{error}"
    );

    let wide: String = (0..1100)
        .map(|n| format!("a{n}: servers {{ totalCount }} "))
        .collect();
    let error = gateway.error(&format!("{{ {wide} }}"), json!({})).await;
    assert!(
        error["message"].as_str().unwrap().contains("too complex"),
        "{error}"
    );
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let health: Value = gateway.get("/").await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(gateway.get("/healthz").await.status(), 200);
    create_server(&gateway, json!({"hostname": "web-1"})).await;
    project_all(&db.store()).await;
    let ready = gateway.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["postgres"], "ok");
    assert_eq!(ready["lag"]["inventory"], 0);
    gateway.error("{ nope }", json!({})).await;
    let metrics = gateway.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("maestro_events_appended_total 1"), "{metrics}");
    assert!(
        metrics.contains("maestro_reader_lag_events{reader=\"inventory\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("maestro_graphql_errors_total 1"), "{metrics}");
    assert!(
        metrics.contains("maestro_http_request_duration_seconds_count"),
        "{metrics}"
    );
    let playground = gateway.get("/graphql").await.text().await.unwrap();
    assert!(
        playground.contains("graphiql"),
        "GET /graphql serves the playground"
    );
}

#[tokio::test]
async fn queries_ride_on_get_but_mutations_do_not() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    project_all(&db.store()).await;
    let query = gateway
        .get("/graphql?query=%7B%20servers%20%7B%20totalCount%20%7D%20%7D")
        .await;
    assert_eq!(query.status(), 200);
    let body: Value = query.json().await.unwrap();
    assert_eq!(body["data"]["servers"]["totalCount"], 0);
    let mutation = gateway.get("/graphql?query=mutation%20%7B%20createClient(input%3A%20%7Bname%3A%20%22x%22%7D)%20%7B%20id%20%7D%20%7D").await;
    assert_eq!(mutation.status(), 405);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(events, 0, "the mutation did not run");
}
