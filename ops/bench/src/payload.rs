//! Realistic inventory data: servers as a cloud crawler reports them, and the events of
//! their life. A server's Created data is about 500 bytes of JSON.

use std::collections::BTreeMap;

use domain::{ActorKind, Command, Event, Fields, Item, ItemRef, Kind, Metadata, Relation, TagKey, TagSource};
use serde_json::{json, Value};
use uuid::Uuid;

/// The fields of the `n`th server, parsed as the gateway parses them.
pub fn server_fields(n: u64) -> Fields {
    let [a, b, c] = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
    let input = json!({
        "hostname": format!("app-{n:07}.shop.internal"),
        "environment": "Production",
        "status": "Running",
        "owner": "platform-team",
        "ipv4_private": format!("10.{a}.{b}.{c}"),
        "os": {"base": "Linux", "dist": "Debian", "version": "12"},
        "cpu": 4,
        "memory": 16384,
        "role": "Application",
        "datacenters": {"name": "aws-sa-east", "provider": "aws", "region": "sa-east-1", "zone": "sa-east-1a",
                        "instance_type": "m6i.xlarge", "instance_id": format!("i-{n:017x}")},
        "storage": [{"device": "/dev/nvme0n1", "size": 100, "mount": "/"}],
        "image": "ami-0a1b2c3d4e5f67890",
    });
    parse(Kind::Server, input)
}

fn parse(kind: Kind, input: Value) -> Fields {
    Fields::parse(kind, input.as_object().expect("inputs are objects")).expect("generated fields are valid")
}

/// The command creating the `n`th server.
pub fn create_server(n: u64) -> Command {
    Command::Create(server_fields(n))
}

/// The event the aggregate decides for `command` on a new item of `kind`: exactly what
/// the command handler would append.
fn decided(kind: Kind, command: Command) -> Event {
    let mut events = Item::new(kind, Uuid::nil())
        .handle(&command)
        .expect("generated commands are accepted");
    assert_eq!(events.len(), 1, "a create decides one event");
    events.remove(0)
}

pub fn server_created(n: u64) -> Event {
    decided(Kind::Server, create_server(n))
}

pub fn datacenter_created(n: u64) -> Event {
    let input = json!({"name": format!("aws-region-{n}"), "provider": "aws", "environment": "Production",
                       "regions": [format!("region-{n}")], "zones": [format!("region-{n}a"), format!("region-{n}b")]});
    decided(Kind::Datacenter, Command::Create(parse(Kind::Datacenter, input)))
}

/// An event rule of one owner about server updates in Production, each watching other
/// fields, so that every update is judged against every rule's conditions.
pub fn rule_created(n: u64) -> Event {
    const WATCHED: [&str; 4] = ["status", "cpu", "memory", "services"];
    let input = json!({"name": format!("rule-{n:03}"), "stream_types": ["server"], "event_types": ["updated"],
                       "conditions": {"environment": "Production"},
                       "changed_fields": [WATCHED[(n % 4) as usize]], "actor_kinds": ["crawler", "user"]});
    let owner = Uuid::from_u128(0x6f776e6572);
    let mut event = decided(Kind::Rule, Command::Create(parse(Kind::Rule, input)));
    if let Event::Created { grants, .. } = &mut event {
        grants.insert(owner, domain::Level::Admin);
    }
    event
}

pub fn application_created(n: u64) -> Event {
    let input = json!({"name": format!("service-{n:05}"), "language": "Rust", "environment": "Production",
                       "owner": "platform-team", "endpoint": format!("https://service-{n:05}.shop.internal")});
    decided(
        Kind::Application,
        Command::Create(parse(Kind::Application, input)),
    )
}

/// A crawler's observation of a rolling deploy on the `n`th server: the whole
/// `services` list (list fields change whole) and the image checksum.
pub fn services_changed(n: u64, step: u64) -> Event {
    let version = |service: u64| format!("{}.{}.{}", 1 + service, (step + service) % 40, (n + step) % 10);
    let services: Vec<Value> = [("nginx", 443), ("storefront", 8080), ("node-exporter", 9100)]
        .into_iter()
        .zip(0..)
        .map(|((name, port), service)| json!({"name": name, "port": port, "version": version(service)}))
        .collect();
    updated([
        ("services", Value::Array(services)),
        ("checksum", json!(format!("sha256:{:016x}{step:08x}", n))),
    ])
}

pub fn updated<const N: usize>(changes: [(&str, Value); N]) -> Event {
    Event::Updated {
        changes: changes
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect::<BTreeMap<_, _>>(),
    }
}

pub fn tagged(key: &str, value: impl Into<String>) -> Event {
    Event::Tagged {
        key: TagKey::parse(key).expect("valid tag key"),
        value: value.into(),
        source: TagSource::Person,
    }
}

pub fn linked(relation: Relation, target: ItemRef) -> Event {
    Event::Linked {
        relation,
        target_kind: target.kind,
        target_id: target.id,
        protocol: None,
    }
}

/// The first five of a server's ten events: discovered by a crawler and placed.
pub fn server_discovered(n: u64, datacenter: ItemRef) -> Vec<Event> {
    vec![
        server_created(n),
        tagged("team", format!("team-{}", n % 12)),
        linked(Relation::LocatedIn, datacenter),
        services_changed(n, 1),
        updated([("status", json!("Maintenance"))]),
    ]
}

/// The last five of a server's ten events, months later: resized, re-tagged, given an
/// application to host, redeployed.
pub fn server_matured(n: u64, application: ItemRef) -> Vec<Event> {
    vec![
        updated([
            ("status", json!("Running")),
            ("memory", json!(32768)),
            ("cpu", json!(8)),
        ]),
        tagged("cost-center", format!("cc-{:04}", n % 300)),
        linked(Relation::Hosts, application),
        services_changed(n, 2),
        tagged(
            "patch-window",
            ["sun-02:00", "wed-03:00", "sat-22:00"][(n % 3) as usize],
        ),
    ]
}

/// What a crawler syncing a cloud account stamps on its events.
pub fn crawler_metadata() -> Metadata {
    Metadata {
        connection: Some(Uuid::from_u128(0xc0ffee)),
        task: Some("sync-ec2".to_string()),
        correlation_id: Some(Uuid::now_v7()),
        ..Metadata::new("aws-crawler", ActorKind::Crawler)
    }
}

/// What the gateway stamps on a person's command.
pub fn user_metadata() -> Metadata {
    Metadata {
        correlation_id: Some(Uuid::now_v7()),
        request_id: Some("req-6f1d2c".to_string()),
        ..Metadata::new(Uuid::from_u128(0xa11ce).to_string(), ActorKind::User)
    }
}

/// An event's stored data as JSON text.
pub fn data_text(event: &Event) -> String {
    event.data().to_string()
}
