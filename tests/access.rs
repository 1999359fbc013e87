//! Per-record access through every GraphQL path, table-driven: for every kind, every
//! operation is tried by people holding no grant, read, write or admin, and by people
//! who hold them through a team, and each is allowed or refused as the level says. Real
//! Postgres; people sign up and log in through the gateway like anyone else.

mod support;

use domain::Kind;
use serde_json::{json, Value};
use support::{project_all, Gateway, TestDb};

/// A signed-in person.
#[derive(Clone)]
struct Person {
    id: String,
    token: String,
}

async fn post(gateway: &Gateway, token: Option<&str>, query: &str, variables: Value) -> Value {
    gateway.post_as(token, query, variables).await
}

async fn sign_up(gateway: &Gateway, name: &str) -> Person {
    let response = post(
        gateway,
        None,
        "mutation($email: String!) { signUp(email: $email, password: \"correct horse battery\", name: \"x\") { token me { id } } }",
        json!({"email": format!("{name}@example.com")}),
    )
    .await;
    let session = &response["data"]["signUp"];
    assert!(session.is_object(), "sign-up failed: {response}");
    Person {
        id: session["me"]["id"].as_str().unwrap().to_string(),
        token: session["token"].as_str().unwrap().to_string(),
    }
}

/// Runs a mutation `field` that answers `{ id }` as `person`; returns the id.
async fn created_id(gateway: &Gateway, person: &Person, mutation: &str, field: &str) -> String {
    let response = post(gateway, Some(&person.token), mutation, json!({})).await;
    response["data"][field]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{field} failed: {response}"))
        .to_string()
}

fn type_name(kind: Kind) -> String {
    let name = kind.stream_type();
    name[..1].to_uppercase() + &name[1..]
}

/// What an operation needs, and how to try it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Needs {
    Read,
    Write,
    Admin,
}

#[derive(Debug, Clone, Copy)]
enum Operation {
    Get,
    Node,
    List,
    Count,
    History,
    AsOf,
    Events,
    Update,
    Tag,
    Grant,
    Delete,
}

impl Operation {
    const ALL: [Operation; 11] = [
        Operation::Get,
        Operation::Node,
        Operation::List,
        Operation::Count,
        Operation::History,
        Operation::AsOf,
        Operation::Events,
        Operation::Update,
        Operation::Tag,
        Operation::Grant,
        Operation::Delete,
    ];

    fn needs(self) -> Needs {
        match self {
            Operation::Update | Operation::Tag => Needs::Write,
            Operation::Grant | Operation::Delete => Needs::Admin,
            _ => Needs::Read,
        }
    }

    /// Tries the operation on item `id` of `kind`; true when it was allowed. A refusal
    /// must look like absence (reads) or be NOT_FOUND / FORBIDDEN (changes), nothing else.
    async fn allowed(self, gateway: &Gateway, person: &Person, kind: Kind, id: &str) -> bool {
        let ty = type_name(kind);
        let single = kind.stream_type();
        let list = kind.table();
        let token = Some(person.token.as_str());
        let vars = json!({"id": id});
        let read = |response: Value, path: &[&str]| -> Value {
            assert!(
                response.get("errors").is_none(),
                "{self:?} on {single} failed: {response}"
            );
            path.iter()
                .fold(response["data"].clone(), |value, key| value[*key].clone())
        };
        let change = |response: Value| -> bool {
            match response["errors"][0]["extensions"]["code"].as_str() {
                None => true,
                Some("NOT_FOUND" | "FORBIDDEN") => false,
                Some(_)
                    if response["errors"][0]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("no item has the id") =>
                {
                    false
                }
                Some(other) => panic!("{self:?} on {single}: unexpected {other}: {response}"),
            }
        };
        match self {
            Operation::Get => {
                let q = format!("query($id: ID!) {{ {single}(id: $id) {{ id }} }}");
                !read(post(gateway, token, &q, vars).await, &[single]).is_null()
            }
            Operation::Node => {
                let q = "query($id: ID!) { node(id: $id) { id } }";
                !read(post(gateway, token, q, vars).await, &["node"]).is_null()
            }
            Operation::List => {
                let q = format!(
                    "{{ {list}(first: 500, filter: {{active: null}}) {{ edges {{ node {{ id }} }} }} }}"
                );
                let edges = read(post(gateway, token, &q, json!({})).await, &[list, "edges"]);
                edges
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|edge| edge["node"]["id"] == id)
            }
            Operation::Count => {
                let q = format!("{{ {list}(filter: {{active: null}}) {{ totalCount }} }}");
                read(post(gateway, token, &q, json!({})).await, &[list, "totalCount"]) != json!(0)
            }
            Operation::History => {
                let q = "query($id: ID!) { history(id: $id) { edges { node { version } } } }";
                let edges = read(post(gateway, token, q, vars).await, &["history", "edges"]);
                !edges.as_array().unwrap().is_empty()
            }
            Operation::AsOf => {
                let q = "query($id: ID!) { asOf(id: $id, version: 1) { id } }";
                !read(post(gateway, token, q, vars).await, &["asOf"]).is_null()
            }
            Operation::Events => {
                let q = "query($id: ID!) { events(first: 500, filter: {streamId: $id}) { edges { node { id } } } }";
                let edges = read(post(gateway, token, q, vars).await, &["events", "edges"]);
                !edges.as_array().unwrap().is_empty()
            }
            Operation::Update => {
                let q = format!(
                    "mutation($id: ID!) {{ update{ty}(id: $id, input: {{owner: \"changed\"}}) {{ id }} }}"
                );
                change(post(gateway, token, &q, vars).await)
            }
            Operation::Tag => {
                let q = "mutation($id: ID!) { tag(id: $id, key: \"checked\", value: \"yes\") { id } }";
                change(post(gateway, token, q, vars).await)
            }
            Operation::Grant => {
                let q = "mutation($id: ID!, $p: ID!) { grant(id: $id, principal: $p, level: READ) { id } }";
                let vars = json!({"id": id, "p": uuid::Uuid::now_v7()});
                change(post(gateway, token, q, vars).await)
            }
            Operation::Delete => {
                let q = format!("mutation($id: ID!) {{ delete{ty}(id: $id) {{ id }} }}");
                let deleted = change(post(gateway, token, &q, vars.clone()).await);
                if deleted {
                    // Leave the item as it was for the next person.
                    let q = format!("mutation($id: ID!) {{ restore{ty}(id: $id) {{ id }} }}");
                    assert!(change(post(gateway, token, &q, vars).await));
                }
                deleted
            }
        }
    }
}

/// The people of the table, each with the level they hold on every item (if any).
struct Cast {
    owner: Person,
    people: Vec<(&'static str, Person, Option<Needs>)>,
}

/// `admin` invites `email` to `team` with `role`, and `member` (its holder) accepts.
async fn join_team(gateway: &Gateway, admin: &Person, team: &str, email: &str, role: &str, member: &Person) {
    let invited = post(
        gateway,
        Some(&admin.token),
        &format!("mutation($team: ID!) {{ inviteTeamMember(teamId: $team, email: \"{email}\", role: {role}) {{ role }} }}"),
        json!({"team": team}),
    )
    .await;
    assert!(invited.get("errors").is_none(), "{invited}");
    let joined = post(
        gateway,
        Some(&member.token),
        "mutation($team: ID!) { acceptTeamInvitation(teamId: $team) { id } }",
        json!({"team": team}),
    )
    .await;
    assert!(joined.get("errors").is_none(), "{joined}");
}

async fn cast(gateway: &Gateway) -> (Cast, Vec<(String, String)>) {
    let owner = sign_up(gateway, "owner").await;
    let stranger = sign_up(gateway, "stranger").await;
    let reader = sign_up(gateway, "reader").await;
    let writer = sign_up(gateway, "writer").await;
    let admin = sign_up(gateway, "admin").await;
    let team_writer = sign_up(gateway, "team-writer").await;
    let team_reader = sign_up(gateway, "team-reader").await;
    // One team with write on every item: its members get what their role in it allows.
    let team = created_id(
        gateway,
        &owner,
        "mutation { createTeam(name: \"ops\") { id } }",
        "createTeam",
    )
    .await;
    for (email, role, member) in [
        ("team-writer@example.com", "ADMIN", &team_writer),
        ("team-reader@example.com", "READ", &team_reader),
    ] {
        join_team(gateway, &owner, &team, email, role, member).await;
    }
    let grants = vec![
        (reader.id.clone(), "READ".to_string()),
        (writer.id.clone(), "WRITE".to_string()),
        (admin.id.clone(), "ADMIN".to_string()),
        (team, "WRITE".to_string()),
    ];
    let people = vec![
        ("no grant", stranger, None),
        ("read", reader, Some(Needs::Read)),
        ("write", writer, Some(Needs::Write)),
        ("admin", admin, Some(Needs::Admin)),
        // The team holds write; an admin of the team gets write through it.
        ("team write, member admin", team_writer, Some(Needs::Write)),
        // The team holds write; a member with role read gets read only.
        ("team write, member read", team_reader, Some(Needs::Read)),
    ];
    (Cast { owner, people }, grants)
}

#[tokio::test]
async fn every_kind_and_operation_is_allowed_exactly_to_the_levels_that_may() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let (cast, grants) = cast(&gateway).await;
    let mut items = vec![];
    for kind in Kind::ALL {
        let ty = type_name(kind);
        let required = kind.required_field();
        let value = format!("{}-1", kind.stream_type());
        // A schedule crawls a connection its author may change: the one made before it.
        let more = match (kind, items.iter().find(|(made, _)| *made == Kind::Connection)) {
            (Kind::Schedule, Some((_, connection))) => {
                format!(", connection: \"{connection}\", interval: 60")
            }
            _ => String::new(),
        };
        let q = format!("mutation {{ create{ty}(input: {{{required}: \"{value}\"{more}}}) {{ id }} }}");
        let response = post(&gateway, Some(&cast.owner.token), &q, json!({})).await;
        let id = response["data"][format!("create{ty}")]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("creating a {kind:?} failed: {response}"))
            .to_string();
        for (principal, level) in &grants {
            let q = format!(
                "mutation($id: ID!, $p: ID!) {{ grant(id: $id, principal: $p, level: {level}) {{ id }} }}"
            );
            let response = post(
                &gateway,
                Some(&cast.owner.token),
                &q,
                json!({"id": id, "p": principal}),
            )
            .await;
            assert!(response.get("errors").is_none(), "{response}");
        }
        items.push((kind, id));
    }
    project_all(&db.store()).await;

    let mut mismatches = vec![];
    for (kind, id) in &items {
        for (who, person, holds) in &cast.people {
            for operation in Operation::ALL {
                let expected = holds.is_some_and(|level| level >= operation.needs());
                let allowed = operation.allowed(&gateway, person, *kind, id).await;
                if allowed != expected {
                    mismatches.push(format!(
                        "{kind:?} {operation:?} by {who}: allowed {allowed}, expected {expected}"
                    ));
                }
                if matches!(
                    operation,
                    Operation::Update | Operation::Tag | Operation::Grant | Operation::Delete
                ) {
                    // Later reads of history and events go through the read models.
                    project_all(&db.store()).await;
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "access mismatches:\n{}",
        mismatches.join("\n")
    );
}

#[tokio::test]
async fn nobody_signed_in_reads_nothing_and_changes_nothing() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let owner = sign_up(&gateway, "owner").await;
    let id = created_id(
        &gateway,
        &owner,
        "mutation { createServer(input: {hostname: \"web-1\"}) { id } }",
        "createServer",
    )
    .await;
    project_all(&db.store()).await;
    for query in [
        "query($id: ID!) { server(id: $id) { id } }",
        "query($id: ID!) { history(id: $id) { totalCount } }",
        "query { servers { totalCount } }",
        "mutation($id: ID!) { deleteServer(id: $id) { id } }",
    ] {
        let response = post(&gateway, None, query, json!({"id": id})).await;
        assert_eq!(
            response["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{query}: {response}"
        );
    }
    let response = post(
        &gateway,
        Some("not.a.token"),
        "{ servers { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(
        response["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{response}"
    );
}

#[tokio::test]
async fn two_people_who_share_nothing_see_nothing_of_each_other_until_a_team_shares() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let alice = sign_up(&gateway, "alice").await;
    let bob = sign_up(&gateway, "bob").await;
    let server =
        |host: &str| format!("mutation {{ createServer(input: {{hostname: \"{host}\"}}) {{ id }} }}");
    let alices = created_id(&gateway, &alice, &server("alice-1"), "createServer").await;
    let bobs = created_id(&gateway, &bob, &server("bob-1"), "createServer").await;
    // Bob links his server to Alice's by guessing its id: refused as if it did not exist.
    let link = post(
        &gateway,
        Some(&bob.token),
        "mutation($s: ID!, $t: ID!) { link(sourceId: $s, relation: LOCATED_IN, targetId: $t) { id } }",
        json!({"s": bobs, "t": alices}),
    )
    .await;
    assert!(
        link["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no item has the id"),
        "{link}"
    );
    project_all(&db.store()).await;
    let hosts = |token: String| {
        let gateway = &gateway;
        async move {
            let response = post(gateway, Some(&token), "{ servers { edges { node { hostname } } } events(first: 500) { edges { node { streamId } } } }", json!({})).await;
            let hosts: Vec<String> = response["data"]["servers"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|edge| edge["node"]["hostname"].as_str().unwrap().to_string())
                .collect();
            let streams: std::collections::BTreeSet<String> = response["data"]["events"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|edge| edge["node"]["streamId"].as_str().unwrap().to_string())
                .collect();
            (hosts, streams)
        }
    };
    assert_eq!(
        hosts(alice.token.clone()).await,
        (vec!["alice-1".to_string()], [alices.clone()].into())
    );
    assert_eq!(
        hosts(bob.token.clone()).await,
        (vec!["bob-1".to_string()], [bobs.clone()].into())
    );

    // Alice makes a team with Bob in it and grants it read: now Bob sees her server too.
    let team = created_id(
        &gateway,
        &alice,
        "mutation { createTeam(name: \"shared\") { id } }",
        "createTeam",
    )
    .await;
    join_team(&gateway, &alice, &team, "bob@example.com", "READ", &bob).await;
    let granted = post(
        &gateway,
        Some(&alice.token),
        "mutation($id: ID!, $t: ID!) { grant(id: $id, principal: $t, level: READ) { grants { principal level } } }",
        json!({"id": alices, "t": team}),
    )
    .await;
    assert!(granted.get("errors").is_none(), "{granted}");
    project_all(&db.store()).await;
    let (bob_sees, _) = hosts(bob.token.clone()).await;
    assert_eq!(bob_sees, vec!["alice-1".to_string(), "bob-1".to_string()]);
    // The grant is an event: it shows in the item's history, with who gave it.
    let history = post(
        &gateway,
        Some(&alice.token),
        "query($id: ID!) { history(id: $id) { edges { node { eventType actor } } } }",
        json!({"id": alices}),
    )
    .await;
    assert_eq!(
        history["data"]["history"]["edges"][0]["node"]["eventType"], "granted",
        "{history}"
    );
    assert_eq!(
        history["data"]["history"]["edges"][0]["node"]["actor"],
        alice.id.as_str()
    );
}

#[tokio::test]
async fn a_share_link_shows_one_item_until_it_is_closed() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let owner = sign_up(&gateway, "owner").await;
    let id = created_id(
        &gateway,
        &owner,
        "mutation { createApplication(input: {name: \"billing\"}) { id } }",
        "createApplication",
    )
    .await;
    project_all(&db.store()).await;
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let shared = post(
        &gateway,
        Some(&owner.token),
        "mutation($id: ID!, $at: DateTime!) { shareItem(id: $id, expiresAt: $at) { id token } }",
        json!({"id": id, "at": expires}),
    )
    .await;
    let link = shared["data"]["shareItem"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{shared}"))
        .to_string();
    let token = shared["data"]["shareItem"]["token"].as_str().unwrap().to_string();
    let open = "query($t: String!) { shared(token: $t) { id ... on Application { name } } }";
    let seen = post(&gateway, None, open, json!({"t": token})).await;
    assert_eq!(seen["data"]["shared"]["name"], "billing", "{seen}");

    // A stranger cannot close it; its admin can, and then the link stops working.
    let stranger = sign_up(&gateway, "stranger").await;
    let close = "mutation($id: ID!, $l: ID!) { unshareItem(id: $id, linkId: $l) { id } }";
    let refused = post(
        &gateway,
        Some(&stranger.token),
        close,
        json!({"id": id, "l": link}),
    )
    .await;
    assert!(refused.get("errors").is_some(), "{refused}");
    let closed = post(&gateway, Some(&owner.token), close, json!({"id": id, "l": link})).await;
    assert!(closed.get("errors").is_none(), "{closed}");
    let refused = post(&gateway, None, open, json!({"t": token})).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );
    let forged = post(&gateway, None, open, json!({"t": format!("{token}x")})).await;
    assert_eq!(
        forged["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{forged}"
    );
}

#[tokio::test]
async fn maestro_adopt_hands_ungranted_items_to_someone_and_leaves_the_rest() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    // Written without access (as before access control existed): nobody can read it.
    let (orphan, _) = support::create_server(&db.handler(), "old-1").await;
    let owner = sign_up(&gateway, "owner").await;
    let owned = created_id(
        &gateway,
        &owner,
        "mutation { createServer(input: {hostname: \"new-1\"}) { id } }",
        "createServer",
    )
    .await;
    let admin = sign_up(&gateway, "ops-admin").await;

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(["adopt", "--to", &admin.id, "--level", "write"])
        .env("DATABASE_URL", &db.url)
        .env("MAESTRO_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout,
        format!(
            "{} now holds write on 1 item(s) that granted nobody anything\n",
            admin.id
        )
    );
    project_all(&db.store()).await;

    let seen = post(
        &gateway,
        Some(&admin.token),
        "{ servers { edges { node { id } } } }",
        json!({}),
    )
    .await;
    let ids: Vec<&str> = seen["data"]["servers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![orphan.to_string().as_str()],
        "only the ungranted item, not {owned}"
    );
}
