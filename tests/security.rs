//! The attack catalogue, part one: what a person with a fresh account tried against the
//! inventory's commands through GraphQL alone, each test named after the attack it keeps
//! closed. Real Postgres, the real gateway; people sign up like anyone else. (The other
//! parts: `security_sources.rs` for what providers may reach, `security_sessions.rs` for
//! sessions and rate limits, `security_limits.rs` for resource limits.)

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};
use support::{project_all, Gateway, TestDb};
use uuid::Uuid;

const CREATE_CONNECTION: &str =
    "mutation($input: ConnectionInput!) { createConnection(input: $input) { id } }";
const UPDATE_CONNECTION: &str =
    "mutation($id: ID!, $input: ConnectionInput!) { updateConnection(id: $id, input: $input) { id } }";
const CREATE_SERVER: &str = "mutation($input: ServerInput!, $id: ID, $key: String) {
    createServer(input: $input, id: $id, idempotencyKey: $key) { id hostname } }";

/// `person` gets `level` on item `id` from its admin `admin`.
async fn grant(gateway: &Gateway, admin: &str, id: &str, person: &str, level: &str) {
    gateway
        .data_as(
            admin,
            &format!(
                "mutation($id: ID!, $p: ID!) {{ grant(id: $id, principal: $p, level: {level}) {{ id }} }}"
            ),
            json!({"id": id, "p": person}),
        )
        .await;
}

/// The user id of the session `token`.
async fn user_id(gateway: &Gateway, token: &str) -> String {
    let me = gateway.data_as(token, "{ me { id } }", json!({})).await;
    me["me"]["id"].as_str().unwrap().to_string()
}

fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

/// Reproduced: a WRITE grantee changed a connection's `options` to a host they own and ran
/// `testConnection`, which sent the stored credentials there; or set `acl_template` to
/// become admin of everything the connection discovers; or overwrote `tasks` or
/// `credentials_ref`. Now those need admin (or are Maestro's alone), and credentials an
/// admin stored are handed out only while the connection points where they were stored.
#[tokio::test]
async fn a_writer_cannot_redirect_a_connections_credentials_or_take_its_discoveries() {
    let db = TestDb::new().await;
    let gateway = Gateway::start_reaching(&db, support::test_reach()).await;
    let owner = gateway.token.clone();
    let created = gateway
        .data(
            CREATE_CONNECTION,
            json!({"input": {"name": "cloud", "provider": "openstack", "regions": ["r1"],
                             "options": {"auth_url": "https://keystone.example.com/v3"}}}),
        )
        .await;
    let id = created["createConnection"]["id"].as_str().unwrap().to_string();
    gateway
        .data(
            "mutation($id: ID!) { setConnectionCredentials(id: $id, credentials: {password: \"s3cret\"}) { id } }",
            json!({"id": id}),
        )
        .await;
    let writer = gateway.sign_up("writer").await;
    grant(&gateway, &owner, &id, &user_id(&gateway, &writer).await, "WRITE").await;

    let writer_id = user_id(&gateway, &writer).await;
    for input in [
        json!({"options": {"auth_url": "https://attacker.example.net/v3"}}),
        json!({"provider": "digitalocean"}),
        json!({"aclTemplate": {writer_id.clone(): "admin"}}),
    ] {
        let response = gateway
            .post_as(
                Some(&writer),
                UPDATE_CONNECTION,
                json!({"id": id, "input": input}),
            )
            .await;
        assert_eq!(
            code(&response),
            "FORBIDDEN",
            "a writer changed {input}: {response}"
        );
    }
    for input in [json!({"tasks": {}}), json!({"credentialsRef": "x"})] {
        let response = gateway
            .post_as(Some(&owner), UPDATE_CONNECTION, json!({"id": id, "input": input}))
            .await;
        assert!(
            response["data"].is_null() && response["errors"].is_array(),
            "{input} was taken: {response}"
        );
    }
    let renamed = gateway
        .post_as(
            Some(&writer),
            UPDATE_CONNECTION,
            json!({"id": id, "input": {"regions": ["r2"]}}),
        )
        .await;
    assert!(
        renamed.get("errors").is_none(),
        "writers still edit the rest: {renamed}"
    );

    // Even its admin moving it elsewhere unbinds the credentials: whoever set them must
    // set them again for the new place.
    gateway
        .data(
            UPDATE_CONNECTION,
            json!({"id": id, "input": {"options": {"auth_url": "https://elsewhere.example.com/v3"}}}),
        )
        .await;
    let test = gateway
        .post(
            "mutation($id: ID!) { testConnection(id: $id) { ok message } }",
            json!({"id": id}),
        )
        .await;
    let message = test["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("set them again"), "{test}");
}

/// Reproduced: a WRITE grantee's `revert(toVersion:)` to a version in which the item was
/// deleted deleted it, though deleting needs admin.
#[tokio::test]
async fn a_writers_revert_cannot_delete_an_item() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let created = gateway
        .data(CREATE_SERVER, json!({"input": {"hostname": "db-1"}}))
        .await;
    let id = created["createServer"]["id"].as_str().unwrap().to_string();
    let writer = gateway.sign_up("writer").await;
    grant(
        &gateway,
        &gateway.token,
        &id,
        &user_id(&gateway, &writer).await,
        "WRITE",
    )
    .await;
    gateway
        .data(
            "mutation($id: ID!) { deleteServer(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    gateway
        .data(
            "mutation($id: ID!) { restoreServer(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;

    let revert = gateway
        .post_as(
            Some(&writer),
            "mutation($id: ID!) { revert(id: $id, toVersion: 3) { version } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(code(&revert), "FORBIDDEN", "{revert}");
    project_all(&db.store()).await;
    let still = gateway
        .data_as(
            &writer,
            "query($id: ID!) { server(id: $id) { hostname } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(still["server"]["hostname"], "db-1");
}

/// Found by reading: `createX(id:)` took any UUID, so a person could take the id a crawler
/// derives (version 5) for what it will find and capture it; and creating under an id
/// they cannot read told them it exists.
#[tokio::test]
async fn chosen_ids_neither_capture_a_crawl_nor_reveal_taken_ones() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let mallory = gateway.sign_up("mallory").await;
    let theirs = gateway
        .data(CREATE_SERVER, json!({"input": {"hostname": "hidden-1"}}))
        .await["createServer"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let crawler_id = Uuid::new_v5(&Uuid::now_v7(), b"server:i-0abc").to_string();

    let attempt = |id: String| {
        let mallory = mallory.clone();
        let gateway = &gateway;
        async move {
            gateway
                .post_as(
                    Some(&mallory),
                    CREATE_SERVER,
                    json!({"input": {"hostname": "trap"}, "id": id}),
                )
                .await
        }
    };
    let on_crawler_id = attempt(crawler_id).await;
    let on_taken_id = attempt(theirs.clone()).await;
    assert_eq!(code(&on_crawler_id), "BAD_USER_INPUT", "{on_crawler_id}");
    assert_eq!(on_crawler_id["errors"][0]["extensions"]["field"], "id");
    assert_eq!(
        on_taken_id["errors"][0]["message"], on_crawler_id["errors"][0]["message"],
        "a taken id must answer like any refused id"
    );

    let fresh = attempt(Uuid::now_v7().to_string()).await;
    assert!(
        fresh.get("errors").is_none(),
        "a fresh id of one's own choice works: {fresh}"
    );
    let again = gateway
        .post(CREATE_SERVER, json!({"input": {"hostname": "x"}, "id": theirs}))
        .await;
    assert_eq!(
        code(&again),
        "CONFLICT",
        "its readers still learn it is taken: {again}"
    );
}

/// Found by reading: idempotency keys were global, so another person's reused key turned a
/// create into a silent no-op answering with someone else's item; and one's own key sent
/// with another request replayed the first.
#[tokio::test]
async fn idempotency_keys_belong_to_their_sender_and_their_request() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let other = gateway.sign_up("other").await;
    let create = |token: String, hostname: &'static str| {
        let gateway = &gateway;
        async move {
            gateway
                .post_as(
                    Some(&token),
                    CREATE_SERVER,
                    json!({"input": {"hostname": hostname}, "key": "deploy-42"}),
                )
                .await
        }
    };
    let first = create(gateway.token.clone(), "web-1").await;
    let first_id = first["data"]["createServer"]["id"].clone();
    assert!(first_id.is_string(), "{first}");

    let someone_else = create(other, "web-2").await;
    assert_eq!(
        someone_else["data"]["createServer"]["hostname"], "web-2",
        "{someone_else}"
    );
    assert_ne!(someone_else["data"]["createServer"]["id"], first_id);

    let retried = create(gateway.token.clone(), "web-1").await;
    assert_eq!(
        retried["data"]["createServer"]["id"], first_id,
        "a retry is still a no-op: {retried}"
    );
    let reused = create(gateway.token.clone(), "web-3").await;
    assert_eq!(code(&reused), "CONFLICT", "{reused}");
}

/// Tried as an attacker: an idempotency key is stored and indexed with every command, and
/// any length was taken (20,000 characters here), so each request could store up to the
/// body limit. Keys are short now, and a longer one is refused by name.
#[tokio::test]
async fn an_oversized_idempotency_key_is_refused_by_name() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let key: String = (0..20_000)
        .map(|i| char::from(b'!' + ((i * 7919 + i / 13) % 90) as u8))
        .collect();
    let response = gateway
        .post(
            CREATE_SERVER,
            json!({"input": {"hostname": "big-key"}, "key": key}),
        )
        .await;
    assert_eq!(code(&response), "BAD_USER_INPUT", "{response}");
    assert_eq!(response["errors"][0]["extensions"]["field"], "idempotencyKey");
}

/// Reproduced: `testConnection` on a connection created without `regions` panicked
/// (`item.fields["regions"]`): the client got an empty reply.
#[tokio::test]
async fn testing_a_connection_without_regions_answers() {
    let db = TestDb::new().await;
    let gateway = Gateway::start_reaching(&db, support::test_reach()).await;
    let created = gateway
        .data(
            CREATE_CONNECTION,
            json!({"input": {"name": "files", "provider": "json", "options": {"path": "/nowhere.json"}}}),
        )
        .await;
    let id = created["createConnection"]["id"].as_str().unwrap();
    let tested = gateway
        .data(
            "mutation($id: ID!) { testConnection(id: $id) { ok region } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        tested["testConnection"],
        json!({"ok": false, "region": "default"})
    );
}

/// Found by reading: a public share link showed the item's grants and who changed it, the
/// ids of people and teams, to anyone holding the link.
#[tokio::test]
async fn a_share_link_names_no_person_or_team() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let created = gateway
        .data(
            "mutation { createApplication(input: {name: \"billing\"}) { id } }",
            json!({}),
        )
        .await;
    let id = created["createApplication"]["id"].as_str().unwrap().to_string();
    let colleague = gateway.sign_up("colleague").await;
    let colleague = user_id(&gateway, &colleague).await;
    grant(&gateway, &gateway.token, &id, &colleague, "READ").await;
    project_all(&db.store()).await;
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let shared = gateway
        .data(
            "mutation($id: ID!, $at: DateTime!) { shareItem(id: $id, expiresAt: $at) { token } }",
            json!({"id": id, "at": expires}),
        )
        .await;
    let seen = gateway
        .post_as(
            None,
            "query($t: String!) { shared(token: $t) { id grants { principal } createdBy updatedBy ... on Application { name } } }",
            json!({"t": shared["shareItem"]["token"]}),
        )
        .await;
    assert_eq!(seen["data"]["shared"]["name"], "billing", "{seen}");
    assert_eq!(seen["data"]["shared"]["grants"], json!([]), "{seen}");
    let text = seen.to_string();
    for principal in [gateway.user.to_string(), colleague] {
        assert!(!text.contains(&principal), "the link shows {principal}: {text}");
    }
}

/// Found by reading: two crawl jobs of one connection ending at once each wrote the task
/// states as they had read them, so the one that wrote last erased the other's.
#[tokio::test]
async fn concurrent_crawl_jobs_keep_each_others_task_states() {
    let db = TestDb::new().await;
    let connection = Uuid::now_v7();
    db.handler()
        .execute(&support::request(
            domain::Kind::Connection,
            connection,
            domain::Command::Create(support::fields(
                domain::Kind::Connection,
                json!({"name": "state", "provider": "terraform"}),
            )),
        ))
        .await
        .unwrap();
    project_all(&db.store()).await;
    let vault = commands::Vault::with_key(db.pool.clone(), support::TEST_CREDENTIALS_KEY).unwrap();
    let crawler = crawlers::Crawler::new(db.handler(), vault, support::test_reach());
    let state = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crawlers/tests/data/terraform/aws_vpc.tfstate"
    ))
    .unwrap();
    let files = [
        crawlers::SourceFile::from_bytes("state (test)".into(), "terraform.tfstate".into(), state).unwrap(),
    ];
    let tasks = ["server-list", "volumes", "snapshots", "network"];
    for round in 0..5 {
        let jobs: Vec<crawlers::Job> = tasks
            .iter()
            .map(|task| crawlers::Job {
                id: Uuid::now_v7(),
                connection,
                task: Some(task.to_string()),
                region: None,
            })
            .collect();
        let runs = jobs.iter().map(|job| crawler.run_files(job, &files, |_| {}));
        for summary in futures::future::join_all(runs).await {
            summary.unwrap();
        }
        let loaded = db
            .handler()
            .load(domain::Kind::Connection, connection, None)
            .await
            .unwrap();
        let states = &loaded.item.fields["tasks"];
        for (task, job) in tasks.iter().zip(&jobs) {
            assert_eq!(
                states[task]["job"],
                json!(job.id),
                "round {round}: the state of {task} was overwritten: {states}"
            );
        }
    }
}

/// A GraphQL type as introspection tells it.
#[derive(Debug, Clone)]
enum Type {
    Named(String),
    List(Box<Type>),
    NonNull(Box<Type>),
}

impl Type {
    fn parse(value: &Value) -> Type {
        match value["kind"].as_str() {
            Some("NON_NULL") => Type::NonNull(Box::new(Type::parse(&value["ofType"]))),
            Some("LIST") => Type::List(Box::new(Type::parse(&value["ofType"]))),
            _ => Type::Named(value["name"].as_str().unwrap().to_string()),
        }
    }

    fn render(&self) -> String {
        match self {
            Type::Named(name) => name.clone(),
            Type::List(inner) => format!("[{}]", inner.render()),
            Type::NonNull(inner) => format!("{}!", inner.render()),
        }
    }

    fn named(&self) -> &str {
        match self {
            Type::Named(name) => name,
            Type::List(inner) | Type::NonNull(inner) => inner.named(),
        }
    }
}

const TYPE_REF: &str = "kind name ofType { kind name ofType { kind name ofType { kind name } } }";

/// Named arguments or input fields.
type Arguments = Vec<(String, Type)>;

/// The schema's mutations (name, arguments, whether the result takes a selection), input
/// objects (name → fields) and enums (name → values), from introspection.
struct Mutations {
    fields: Vec<(String, Arguments, bool)>,
    inputs: std::collections::HashMap<String, Arguments>,
    enums: std::collections::HashMap<String, Vec<String>>,
}

async fn introspect(gateway: &Gateway) -> Mutations {
    let query = format!(
        "{{ __schema {{ mutationType {{ fields {{ name args {{ name type {{ {TYPE_REF} }} }} type {{ {TYPE_REF} }} }} }}
            types {{ kind name inputFields {{ name type {{ {TYPE_REF} }} }} enumValues {{ name }} }} }} }}"
    );
    let schema = gateway.data(&query, json!({})).await["__schema"].clone();
    let arguments = |list: &Value| -> Arguments {
        list.as_array()
            .unwrap()
            .iter()
            .map(|arg| {
                (
                    arg["name"].as_str().unwrap().to_string(),
                    Type::parse(&arg["type"]),
                )
            })
            .collect()
    };
    let mut inputs = std::collections::HashMap::new();
    let mut enums = std::collections::HashMap::new();
    let mut kinds = std::collections::HashMap::new();
    for ty in schema["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap().to_string();
        kinds.insert(name.clone(), ty["kind"].as_str().unwrap().to_string());
        match ty["kind"].as_str() {
            Some("INPUT_OBJECT") => {
                inputs.insert(name, arguments(&ty["inputFields"]));
            }
            Some("ENUM") => {
                let values = ty["enumValues"].as_array().unwrap();
                enums.insert(
                    name,
                    values
                        .iter()
                        .map(|v| v["name"].as_str().unwrap().to_string())
                        .collect(),
                );
            }
            _ => {}
        }
    }
    let fields = schema["mutationType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| {
            let result = Type::parse(&field["type"]);
            let selectable = matches!(kinds[result.named()].as_str(), "OBJECT" | "INTERFACE" | "UNION");
            (
                field["name"].as_str().unwrap().to_string(),
                arguments(&field["args"]),
                selectable,
            )
        })
        .collect();
    Mutations {
        fields,
        inputs,
        enums,
    }
}

/// Random values of a GraphQL type, from a seed: well-typed (so that they pass validation
/// and reach the resolvers) but with hostile content, and ids from `ids` (real items) now
/// and then.
struct Fuzzer<'a> {
    state: u64,
    schema: &'a Mutations,
    ids: &'a [String],
}

const STRINGS: &[&str] = &[
    "",
    " ",
    "x",
    "/etc/passwd",
    "../../../../root/.bashrc",
    "/dev/zero",
    "http://127.0.0.1:22/",
    "\u{0}",
    "ünïcødé",
    "-1",
    "1e309",
    "null",
    "{}",
    "[]",
    "admin",
    "read",
    "server",
    "default",
];

impl Fuzzer<'_> {
    fn next(&mut self) -> u64 {
        // xorshift64*: enough randomness for inputs, and reproducible from the seed.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn string(&mut self) -> Value {
        match self.below(4) {
            0 => Value::String("y".repeat(self.below(20_000))),
            _ => Value::String(STRINGS[self.below(STRINGS.len())].to_string()),
        }
    }

    fn json(&mut self, depth: usize) -> Value {
        match self.below(if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.below(3) == 0),
            2 => json!(self.next() as i64),
            3 | 4 => self.string(),
            5 => Value::Array((0..self.below(4)).map(|_| self.json(depth - 1)).collect()),
            _ => {
                const KEYS: &[&str] = &[
                    "path", "source", "endpoint", "host", "port", "regions", "x", "auth_url", "read",
                ];
                let mut object = Map::new();
                for _ in 0..self.below(4) {
                    object.insert(KEYS[self.below(KEYS.len())].to_string(), self.json(depth - 1));
                }
                Value::Object(object)
            }
        }
    }

    fn value(&mut self, ty: &Type) -> Value {
        if !matches!(ty, Type::NonNull(_)) && self.below(4) == 0 {
            return Value::Null;
        }
        self.present(ty)
    }

    fn present(&mut self, ty: &Type) -> Value {
        match ty {
            Type::NonNull(inner) => self.present(inner),
            Type::List(inner) => Value::Array((0..self.below(4)).map(|_| self.value(inner)).collect()),
            Type::Named(name) => match name.as_str() {
                "ID" => match self.below(4) {
                    0 => Value::String(Uuid::now_v7().to_string()),
                    1 => self.string(),
                    _ => Value::String(self.ids[self.below(self.ids.len())].clone()),
                },
                "String" | "DateTime" => self.string(),
                "Int" => json!([0, -1, 1, 2, 100, i32::MAX, i32::MIN][self.below(7)]),
                "Duration" => match self.below(2) {
                    0 => json!([0, -1, 1, 300, i64::MAX][self.below(5)]),
                    _ => self.string(),
                },
                "Float" => json!(self.next() as f64 / 7.0),
                "Boolean" => json!(self.below(2) == 0),
                "JSON" => self.json(3),
                other => {
                    if let Some(values) = self.schema.enums.get(other) {
                        return Value::String(values[self.below(values.len())].clone());
                    }
                    let fields = &self.schema.inputs[other];
                    let mut object = Map::new();
                    for (name, field) in fields {
                        if matches!(field, Type::NonNull(_)) || self.below(2) == 0 {
                            object.insert(name.clone(), self.value(field));
                        }
                    }
                    Value::Object(object)
                }
            },
        }
    }
}

/// Issue 10, item 2: random, well-typed JSON thrown at every mutation's arguments (file
/// uploads aside) must be answered with data or GraphQL errors, never a dropped connection
/// or a panic, and the gateway must still answer afterwards.
#[test]
fn random_mutation_inputs_get_graphql_answers_never_a_dropped_connection() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::new());
    let gateway = runtime.block_on(Gateway::start_reaching(&db, support::test_reach()));
    let (schema, ids) = runtime.block_on(async {
        let mut ids = vec![];
        for input in [
            json!({"name": "files", "provider": "json", "options": {"path": "/nowhere.json"}}),
            json!({"name": "tf", "provider": "terraform", "regions": ["r"]}),
        ] {
            let created = gateway.data(CREATE_CONNECTION, json!({"input": input})).await;
            ids.push(created["createConnection"]["id"].as_str().unwrap().to_string());
        }
        let server = gateway
            .data(CREATE_SERVER, json!({"input": {"hostname": "fuzz-1"}}))
            .await;
        ids.push(server["createServer"]["id"].as_str().unwrap().to_string());
        ids.push(gateway.user.to_string());
        (introspect(&gateway).await, ids)
    });
    let client = reqwest::Client::new();
    let mut runner = TestRunner::new(Config {
        cases: 12,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&any::<u64>(), |seed| {
            let mut fuzzer = Fuzzer {
                state: seed | 1,
                schema: &schema,
                ids: &ids,
            };
            for (field, arguments, selectable) in &schema.fields {
                if arguments.iter().any(|(_, ty)| ty.named() == "Upload") {
                    continue;
                }
                let declared: Vec<String> = arguments
                    .iter()
                    .map(|(name, ty)| format!("${name}: {}", ty.render()))
                    .collect();
                let passed: Vec<String> = arguments
                    .iter()
                    .map(|(name, _)| format!("{name}: ${name}"))
                    .collect();
                let variables: Map<String, Value> = arguments
                    .iter()
                    .map(|(name, ty)| (name.clone(), fuzzer.value(ty)))
                    .collect();
                let (declared, passed) = (declared.join(", "), passed.join(", "));
                let selection = if *selectable { "{ __typename }" } else { "" };
                let query = if arguments.is_empty() {
                    format!("mutation {{ {field} {selection} }}")
                } else {
                    format!("mutation({declared}) {{ {field}({passed}) {selection} }}")
                };
                let body = json!({"query": query, "variables": variables});
                let response = runtime.block_on(async {
                    client
                        .post(format!("{}/graphql", gateway.url))
                        .bearer_auth(&gateway.token)
                        .json(&body)
                        .send()
                        .await
                });
                let response = response.map_err(|e| {
                    TestCaseError::fail(format!("{field} dropped the connection: {e} ({body})"))
                })?;
                let answer: Value = runtime
                    .block_on(response.json())
                    .map_err(|e| TestCaseError::fail(format!("{field} answered no JSON: {e} ({body})")))?;
                prop_assert!(
                    answer.get("data").is_some() || answer["errors"][0]["message"].is_string(),
                    "{field} answered neither data nor errors: {answer} ({body})"
                );
            }
            Ok(())
        })
        .unwrap();
    // The fuzzer may have ended the tester's session (log-out): ask what needs none.
    let alive = runtime.block_on(gateway.post_as(None, "{ __typename }", json!({})));
    assert_eq!(alive["data"]["__typename"], "Query", "{alive}");
}

/// Reproduced: `testConnection` ran the provider inside the gateway process, so reading
/// what a connection names (and waiting for it) weighed on everyone's requests. Now a
/// crawler runs it: without one, the gateway says so and reads nothing.
#[tokio::test]
async fn connection_tests_run_in_a_crawler_never_in_the_gateway() {
    let db = TestDb::new().await;
    let nats = support::NatsServer::started().await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let gateway = Gateway::start(&db, Some(client)).await;
    let path = std::env::temp_dir().join(format!("maestro-test-{}.json", Uuid::now_v7()));
    std::fs::write(&path, r#"{"servers": [{"hostname": "web-1"}]}"#).unwrap();
    let created = gateway
        .data(
            CREATE_CONNECTION,
            json!({"input": {"name": "files", "provider": "json", "options": {"path": path}}}),
        )
        .await;
    let id = created["createConnection"]["id"].as_str().unwrap();
    let test = "mutation($id: ID!) { testConnection(id: $id) { ok observed message } }";
    let without = gateway.post(test, json!({"id": id})).await;
    assert_eq!(code(&without), "UNAVAILABLE", "{without}");
    assert!(
        without["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--roles crawler"),
        "{without}"
    );
    std::fs::remove_file(path).unwrap();
}
