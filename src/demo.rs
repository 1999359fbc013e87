//! A small demo inventory: two datacenters, a web shop's servers and applications, its
//! system and client. Every command carries an idempotency key, so loading it twice adds
//! nothing the second time. A demo user (`demo@maestro.local`) administers all of it
//! through the team "Demo".

use commands::{CommandHandler, CommandRequest, EventStore};
use domain::{ActorKind, Command, Fields, ItemRef, Kind, Level, Link, Metadata, Protocol, Relation, TagKey};
use identity::Identity;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// Fixed ids, so that the demo is the same everywhere.
fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0de0_0000_0000_7000_8000_0000_0000_0000 | n)
}

fn item(kind: Kind, n: u128) -> ItemRef {
    ItemRef { kind, id: id(n) }
}

fn created(kind: Kind, n: u128, fields: Value) -> (ItemRef, Command) {
    let fields =
        Fields::parse(kind, fields.as_object().expect("demo fields are objects")).expect("demo fields parse");
    (item(kind, n), Command::Create(fields))
}

fn linked(
    source: ItemRef,
    relation: Relation,
    target: ItemRef,
    protocol: Option<Protocol>,
) -> (ItemRef, Command) {
    (
        source,
        Command::Link(Link {
            relation,
            target,
            protocol,
        }),
    )
}

fn demo() -> Vec<(ItemRef, Command)> {
    let aws = item(Kind::Datacenter, 1);
    let onprem = item(Kind::Datacenter, 2);
    let (web1, web2, db1) = (
        item(Kind::Server, 10),
        item(Kind::Server, 11),
        item(Kind::Server, 12),
    );
    let (storefront, checkout, orders_db, balancer) = (
        item(Kind::Application, 20),
        item(Kind::Application, 21),
        item(Kind::Application, 22),
        item(Kind::Application, 23),
    );
    let (shop, acme, data) = (
        item(Kind::System, 30),
        item(Kind::Client, 40),
        item(Kind::Volume, 50),
    );
    let server = |n, hostname: &str, ip: &str, datacenter: &str| {
        created(
            Kind::Server,
            n,
            json!({"hostname": hostname, "ipv4_private": ip, "environment": "Production", "status": "Running",
                   "os": {"base": "Linux", "dist": "Debian", "version": "12"}, "cpu": 4, "memory": 8192,
                   "role": "Application", "datacenters": {"name": datacenter, "provider": "aws", "region": "sa-east-1"}}),
        )
    };
    vec![
        created(
            Kind::Datacenter,
            1,
            json!({"name": "aws-sa-east", "provider": "aws", "regions": ["sa-east-1"], "zones": ["sa-east-1a", "sa-east-1b"]}),
        ),
        created(
            Kind::Datacenter,
            2,
            json!({"name": "onprem-sao-paulo", "provider": "bare metal", "regions": ["sp-1"]}),
        ),
        server(10, "web-01.shop.internal", "10.0.1.10", "aws-sa-east"),
        server(11, "web-02.shop.internal", "10.0.1.11", "aws-sa-east"),
        created(
            Kind::Server,
            12,
            json!({"hostname": "db-01.shop.internal", "ipv4_private": "192.168.10.5", "environment": "Production",
                                         "cpu": 16, "memory": 65536, "role": "Database", "storage": [{"device": "/dev/sdb", "size": 500, "mount": "/var/lib/postgresql", "fstype": "ext4"}]}),
        ),
        created(
            Kind::Application,
            20,
            json!({"name": "storefront", "language": "TypeScript", "environment": "Production", "endpoint": "https://shop.example.com"}),
        ),
        created(
            Kind::Application,
            21,
            json!({"name": "checkout-api", "language": "Rust", "environment": "Production"}),
        ),
        created(
            Kind::Application,
            22,
            json!({"name": "orders-db", "family": "Database", "environment": "Production", "specs": {"engine": "PostgreSQL", "version": "15"}}),
        ),
        created(
            Kind::Application,
            23,
            json!({"name": "edge-lb", "family": "Loadbalance", "environment": "Production", "healthcheck": "/healthz"}),
        ),
        created(
            Kind::System,
            30,
            json!({"name": "E-commerce", "description": "The web shop and its checkout"}),
        ),
        created(
            Kind::Client,
            40,
            json!({"name": "ACME Retail", "contacts": [{"channel": "email", "value": "ops@acme.example"}]}),
        ),
        created(
            Kind::Volume,
            50,
            json!({"name": "db-01-data", "size": 500, "volume_type": "gp3", "encrypted": true}),
        ),
        linked(web1, Relation::LocatedIn, aws, None),
        linked(web2, Relation::LocatedIn, aws, None),
        linked(db1, Relation::LocatedIn, onprem, None),
        linked(web1, Relation::Hosts, storefront, None),
        linked(web2, Relation::Hosts, storefront, None),
        linked(web2, Relation::Hosts, checkout, None),
        linked(db1, Relation::Hosts, orders_db, None),
        linked(storefront, Relation::DependsOn, checkout, Some(Protocol::Grpc)),
        linked(checkout, Relation::DependsOn, orders_db, Some(Protocol::Sql)),
        linked(balancer, Relation::Targets, web1, None),
        linked(balancer, Relation::Targets, web2, None),
        linked(storefront, Relation::PartOf, shop, None),
        linked(checkout, Relation::PartOf, shop, None),
        linked(shop, Relation::Entry, storefront, None),
        linked(shop, Relation::Serves, acme, None),
        linked(data, Relation::AttachedTo, db1, None),
        (
            web1,
            Command::Tag {
                key: TagKey::parse("team").expect("valid key"),
                value: "storefront".into(),
            },
        ),
    ]
}

/// The demo user's address.
pub const DEMO_EMAIL: &str = "demo@maestro.local";
const DEMO_TEAM: &str = "Demo";

/// What `load` did.
pub struct Loaded {
    /// Events appended (0 when the demo was loaded before).
    pub events: usize,
    /// The demo user's password, as set now.
    pub password: String,
}

fn request(target: ItemRef, command: Command, idempotency_key: Option<String>) -> CommandRequest {
    CommandRequest {
        kind: target.kind,
        id: target.id,
        command,
        expected_version: None,
        idempotency_key,
        metadata: Metadata::new("demo", ActorKind::System),
        access: domain::Access::Unrestricted,
    }
}

/// Loads the demo inventory, and makes the demo user (with `password`, or a random one)
/// an admin of all of it through the team "Demo".
pub async fn load(pool: &PgPool, identity: &Identity, password: Option<&str>) -> anyhow::Result<Loaded> {
    let handler = CommandHandler::new(EventStore::new(pool.clone()));
    let mut events = 0;
    let mut created = vec![];
    for (step, (target, command)) in demo().into_iter().enumerate() {
        if matches!(command, Command::Create(_)) {
            created.push(target);
        }
        let outcome = handler
            .execute(&request(target, command, Some(format!("demo:{step}"))))
            .await?;
        events += outcome.appended;
    }
    let password = password
        .map(str::to_string)
        .unwrap_or_else(|| Uuid::new_v4().simple().to_string());
    let (user, _) = identity
        .ensure_user(DEMO_EMAIL, &password, "Demo user")
        .await
        .map_err(|error| anyhow::anyhow!("creating the demo user: {error}"))?;
    let teams = identity.teams_of(user.id).await?;
    let team = match teams.into_iter().find(|(team, _)| team.name == DEMO_TEAM) {
        Some((team, _)) => team.id,
        None => identity.create_team(user.id, DEMO_TEAM).await?.id,
    };
    // Granting a level already held appends nothing, so this is safe to run again.
    for target in created {
        let grant = Command::Grant {
            principal: team,
            level: Level::Admin,
        };
        events += handler.execute(&request(target, grant, None)).await?.appended;
    }
    Ok(Loaded { events, password })
}
