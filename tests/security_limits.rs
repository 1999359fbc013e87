//! The gateway against requests meant to exhaust it, each test one attack: memory (an
//! anonymous upload buffered before authentication), request slots, the database (huge
//! pages nested in each other, the same list under many aliases, long statements), and
//! the limits that must not refuse the standard introspection query. Subscriptions (a
//! lagging subscriber, delivery to someone just revoked) are in `tests/subscriptions.rs`.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{gateway_pool, project_all, Gateway, TestDb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the gateway may take to answer what it should answer at once; only a gateway
/// that waits for a body that never comes takes that long.
const ANSWERED_WITHIN: Duration = Duration::from_secs(20);

/// Sends a request's head (and no body, whatever its `Content-Length` says) on a new
/// connection, which is returned still open.
async fn send_head(gateway: &Gateway, headers: &[(&str, &str)]) -> TcpStream {
    let address = gateway.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut head = format!("POST /graphql HTTP/1.1\r\nHost: {address}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// The status line of the answer on `stream`, which must come without the body being sent.
async fn status_line(stream: &mut TcpStream) -> String {
    let mut received = vec![0u8; 4096];
    let read = tokio::time::timeout(ANSWERED_WITHIN, stream.read(&mut received))
        .await
        .expect("the gateway answered without waiting for the body")
        .unwrap();
    let text = String::from_utf8_lossy(&received[..read]).to_string();
    text.lines().next().unwrap_or_default().to_string()
}

/// Attack: an anonymous client declares a 60 MB upload (or sends a forged token) and
/// trickles it, so that the gateway holds the body in memory before it ever checks who
/// is asking. The headers are checked first: the answer is 401 before a byte of body.
#[tokio::test]
async fn an_anonymous_upload_or_a_bad_token_is_refused_before_the_body_is_read() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let anonymous_upload = [
        ("Content-Type", "multipart/form-data; boundary=xyz"),
        ("Content-Length", "60000000"),
    ];
    let mut stream = send_head(&gateway, &anonymous_upload).await;
    assert!(status_line(&mut stream).await.contains(" 401 "));

    let forged = [
        ("Content-Type", "application/json"),
        ("Content-Length", "1000000"),
        ("Authorization", "Bearer forged.token.value"),
    ];
    let mut stream = send_head(&gateway, &forged).await;
    assert!(status_line(&mut stream).await.contains(" 401 "));

    // The refusal says what to do.
    let refused = reqwest::Client::new()
        .post(format!("{}/graphql", gateway.url))
        .multipart(reqwest::multipart::Form::new().text("operations", "{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("sign in to upload files"),
        "{body}"
    );
}

/// Attack: many slow requests at once, each holding memory and a database connection.
/// Beyond the limit, a request is answered 503 at once (with `Retry-After`), and the
/// gateway serves again as soon as the slow ones are gone.
#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_answered_503() {
    let db = TestDb::new().await;
    let limits = gateways::Limits {
        max_concurrent_requests: 2,
        ..gateways::Limits::default()
    };
    let gateway = Gateway::start_limited(&db, None, limits).await;
    let slow = [("Content-Type", "application/json"), ("Content-Length", "100")];
    let hanging = vec![send_head(&gateway, &slow).await, send_head(&gateway, &slow).await];
    let query = json!({"query": "{ __typename }"});
    let client = reqwest::Client::new();
    let post = || {
        client
            .post(format!("{}/graphql", gateway.url))
            .json(&query)
            .send()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let response = post().await.unwrap();
        if response.status() == 503 {
            break response;
        }
        assert!(std::time::Instant::now() < deadline, "no request was refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "OVERLOADED", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("limit of 2 requests"));

    drop(hanging);
    support::eventually(Duration::from_secs(20), "the gateway serves again", || async {
        post().await.unwrap().status() == 200
    })
    .await;
}

/// Attack: pages of 500 nested in pages of 500 (async-graphql counted each field once,
/// so this was as cheap as a page of one). Now every field counts once per item of the
/// pages it is in, and a relation list takes a page size too.
#[tokio::test]
async fn page_sizes_count_toward_the_complexity_limit() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    project_all(&db.store()).await;
    let nested = "{ servers(first: 500) { nodes { applications(first: 500) { dependencies { name } } } } }";
    let error = gateway.error(nested, json!({})).await;
    assert_eq!(error["extensions"]["code"], "QUERY_TOO_COMPLEX", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("too complex") && message.contains("limit of 50000"),
        "{error}"
    );

    // Variables count as literals do, and an omitted `first` as its default.
    let by_variable =
        "query($n: Int) { servers(first: $n) { nodes { applications { dependencies { name } } } } }";
    let error = gateway.error(by_variable, json!({"n": 500})).await;
    assert_eq!(error["extensions"]["code"], "QUERY_TOO_COMPLEX", "{error}");

    // An ordinary page with its relations passes.
    gateway
        .data(
            "{ servers(first: 50) { totalCount nodes { hostname applications { name } } } }",
            json!({}),
        )
        .await;
}

/// Attack: the same costly list fifty times over under aliases. Aliases are capped.
#[tokio::test]
async fn aliases_are_capped() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    project_all(&db.store()).await;
    let aliased: String = (0..50)
        .map(|n| format!("a{n}: servers {{ totalCount }} "))
        .collect();
    let error = gateway.error(&format!("{{ {aliased} }}"), json!({})).await;
    assert_eq!(error["extensions"]["code"], "QUERY_TOO_COMPLEX", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("too many aliases: 50, more than the limit of 15"),
        "{error}"
    );
    let few: String = (0..3)
        .map(|n| format!("a{n}: servers {{ totalCount }} "))
        .collect();
    gateway.data(&format!("{{ {few} }}"), json!({})).await;
}

/// Attack: an item with thousands of links, listed whole under every item of a page. A
/// relation field now lists a page (`first`, 100 by default, at most 500).
#[tokio::test]
async fn relation_lists_are_pages() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let server = create_server(&gateway, "web-1").await;
    let create_app = "mutation($input: ApplicationInput!) { createApplication(input: $input) { id } }";
    let link = "mutation($s: ID!, $t: ID!) { link(sourceId: $s, relation: HOSTS, targetId: $t) { version } }";
    for name in ["a", "b", "c"] {
        let app = gateway.data(create_app, json!({"input": {"name": name}})).await["createApplication"]["id"]
            .clone();
        gateway.data(link, json!({"s": server, "t": app})).await;
    }
    project_all(&db.store()).await;
    let listed = |first: &str| format!("{{ server(id: \"{server}\") {{ applications{first} {{ name }} }} }}");
    let all = gateway.data(&listed(""), json!({})).await;
    assert_eq!(
        all["server"]["applications"].as_array().unwrap().len(),
        3,
        "{all}"
    );
    let two = gateway.data(&listed("(first: 2)"), json!({})).await;
    assert_eq!(
        two["server"]["applications"],
        json!([{"name": "a"}, {"name": "b"}])
    );
    let error = gateway.error(&listed("(first: 501)"), json!({})).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("must be between 0 and 500"),
        "{error}"
    );
}

async fn create_server(gateway: &Gateway, hostname: &str) -> String {
    let created = gateway
        .data(
            "mutation($input: ServerInput!) { createServer(input: $input) { id } }",
            json!({"input": {"hostname": hostname}}),
        )
        .await;
    created["createServer"]["id"].as_str().unwrap().to_string()
}

/// Attack: a request whose SQL runs for minutes; stopping the request at 30 s left the
/// statement running. The gateway's pool is its own (apart from the projectors' and the
/// relay's) and Postgres cancels any of its statements past the statement timeout.
#[tokio::test]
async fn the_gateway_pool_is_its_own_and_postgres_cancels_its_long_statements() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    project_all(&db.store()).await;
    gateway.data("{ servers { totalCount } }", json!({})).await;
    let gateway_connections: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'maestro-gateway'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        gateway_connections > 0,
        "the gateway answered on connections of its own"
    );

    let pool = gateway_pool(&db).await;
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(timeout, "30s");
    let short = gateways::PoolSettings {
        max_connections: 1,
        statement_timeout: Duration::from_secs(1),
    };
    let pool = gateways::database::connect(&db.url, short).await.unwrap();
    let error = sqlx::query("SELECT pg_sleep(30)")
        .execute(&pool)
        .await
        .unwrap_err();
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.to_string());
    assert_eq!(
        code.as_deref(),
        Some("57014"),
        "canceled by the statement timeout: {error}"
    );
}

/// Not an attack, a promise: the cost and alias limits above never refuse the standard
/// introspection query (graphql-js `getIntrospectionQuery()`), with or without its
/// options: introspection fields take no page size. (Whether the depth limit lets it
/// through is another matter, left to the depth limit's own tests.)
#[tokio::test]
async fn the_cost_limits_never_refuse_the_standard_introspection_query() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    for query in [introspection_query(false), introspection_query(true)] {
        let response = gateway.post_as(None, &query, json!({})).await;
        let refused_for_cost = response["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|error| error["extensions"]["code"] == "QUERY_TOO_COMPLEX");
        assert!(!refused_for_cost, "{response}");
    }
}

/// graphql-js 16's `getIntrospectionQuery()`: by default, or with every option on.
fn introspection_query(options: bool) -> String {
    let on = |text: &'static str| if options { text } else { "" };
    let type_ref = (0..7).fold("kind name".to_string(), |inner, _| {
        format!("kind name ofType {{ {inner} }}")
    });
    format!(
        "query IntrospectionQuery {{
          __schema {{
            {schema_description}
            queryType {{ name }}
            mutationType {{ name }}
            subscriptionType {{ name }}
            types {{ ...FullType }}
            directives {{ name description {repeatable} locations args{deprecated} {{ ...InputValue }} }}
          }}
        }}
        fragment FullType on __Type {{
          kind name description {specified_by} {one_of}
          fields(includeDeprecated: true) {{
            name description args{deprecated} {{ ...InputValue }} type {{ ...TypeRef }} isDeprecated deprecationReason
          }}
          inputFields{deprecated} {{ ...InputValue }}
          interfaces {{ ...TypeRef }}
          enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }}
          possibleTypes {{ ...TypeRef }}
        }}
        fragment InputValue on __InputValue {{
          name description type {{ ...TypeRef }} defaultValue {input_deprecation}
        }}
        fragment TypeRef on __Type {{ {type_ref} }}",
        schema_description = on("description"),
        repeatable = on("isRepeatable"),
        deprecated = on("(includeDeprecated: true)"),
        specified_by = on("specifiedByURL"),
        one_of = on("isOneOf"),
        input_deprecation = on("isDeprecated deprecationReason"),
    )
}
