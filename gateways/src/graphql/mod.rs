//! The GraphQL schema, built at start-up from the domain: one set of types, queries and
//! mutations per inventory kind, plus history, time travel and the raw event log.

mod access;
mod api_tokens;
mod connection;
mod connections;
mod cost;
mod identity;
mod jobs;
mod kinds;
mod log;
mod mutations;
mod notifications;
mod queries;
mod relations;
mod schedules;
mod sharing;
mod subscriptions;
mod uploads;
mod values;
mod webhooks;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, Schema, SchemaError, TypeRef,
};
use commands::CommandHandler;

use crate::feed::EventFeed;
use crate::limits;
use domain::{Kind, Relation};

pub use relations::loaders;
use values::value_object;

/// A tag as item documents hold it: `{key, value}`, with `"source": "provider"` when a
/// crawler set it.
fn tag_type() -> Object {
    let source = Field::new("source", TypeRef::named_nn("TagSource"), |ctx| {
        FieldFuture::new(async move {
            let provider = match ctx.parent_value.try_to_value()? {
                async_graphql::Value::Object(tag) => {
                    tag.get("source") == Some(&async_graphql::Value::String("provider".into()))
                }
                _ => return Err("expected a tag".into()),
            };
            let source = if provider { "PROVIDER" } else { "PERSON" };
            Ok(Some(FieldValue::value(async_graphql::Value::Enum(
                async_graphql::Name::new(source),
            ))))
        })
    });
    value_object(
        "Tag",
        &[
            ("key", TypeRef::named_nn(TypeRef::STRING)),
            ("value", TypeRef::named_nn(TypeRef::STRING)),
        ],
    )
    .field(source)
}

fn shared_types() -> (Vec<Object>, Vec<InputObject>, Vec<Enum>) {
    let objects = vec![
        connection::page_info_type(),
        tag_type(),
        value_object(
            "Grant",
            &[
                ("principal", TypeRef::named_nn(TypeRef::ID)),
                ("level", TypeRef::named_nn("AccessLevel")),
            ],
        ),
        value_object(
            "Relation",
            &[
                ("relation", TypeRef::named_nn("RelationKind")),
                ("targetKind", TypeRef::named_nn(TypeRef::STRING)),
                ("targetId", TypeRef::named_nn(TypeRef::ID)),
                ("protocol", TypeRef::named(TypeRef::STRING)),
            ],
        ),
    ];
    let text = || TypeRef::named(TypeRef::STRING);
    let inputs = vec![
        InputObject::new("StringFilter")
            .field(InputValue::new("eq", text()))
            .field(InputValue::new("ne", text()).description("Not equal; items without a value match."))
            .field(InputValue::new("contains", text()).description("Case-insensitive substring."))
            .field(InputValue::new("notContains", text()).description("Items without a value match."))
            .field(InputValue::new("in", TypeRef::named_nn_list(TypeRef::STRING))),
        ["eq", "gt", "gte", "lt", "lte"]
            .into_iter()
            .fold(InputObject::new("IntFilter"), |f, op| {
                f.field(InputValue::new(op, TypeRef::named(TypeRef::INT)))
            }),
        InputObject::new("DateTimeFilter")
            .field(InputValue::new("after", TypeRef::named("DateTime")))
            .field(InputValue::new("before", TypeRef::named("DateTime"))),
        InputObject::new("TagFilter")
            .field(InputValue::new("key", TypeRef::named_nn(TypeRef::STRING)))
            .field(InputValue::new("value", text())),
        InputObject::new("PlacementFilter")
            .field(InputValue::new("name", text()))
            .field(InputValue::new("provider", text()))
            .field(InputValue::new("region", text()))
            .field(InputValue::new("zone", text())),
    ];
    let enums = vec![
        Enum::new("SortDirection").item("ASC").item("DESC"),
        Enum::new("TagSource")
            .description("Who set a tag: a person's tags survive crawls; a provider's follow the provider.")
            .item("PERSON")
            .item("PROVIDER"),
        domain::Level::ALL
            .iter()
            .fold(Enum::new("AccessLevel"), |e, level| {
                e.item(level.as_str().to_uppercase())
            }),
        Relation::ALL
            .iter()
            .fold(Enum::new("RelationKind"), |e, relation| {
                e.item(relation.as_str().to_uppercase())
            }),
    ];
    (objects, inputs, enums)
}

/// What the resolvers use besides the schema itself.
pub struct Services {
    pub handler: CommandHandler,
    pub feed: EventFeed,
    pub vault: commands::Vault,
    /// Where crawl jobs are queued; `None` when this gateway runs without NATS.
    pub jobs: Option<crawlers::JobQueue>,
    /// Who runs connection tests (a crawler process); `None` without NATS.
    pub connection_tests: Option<crawlers::ConnectionTests>,
    /// Who crawls uploaded files (a crawler process); `None` without NATS.
    pub upload_crawls: Option<crawlers::UploadCrawls>,
    /// Accounts, sessions and teams.
    pub identity: ::identity::Identity,
    /// Webhook endpoints and deliveries; `None` without a key to encrypt their secrets.
    pub webhooks: Option<::webhooks::Webhooks>,
}

pub fn build_schema(services: Services) -> Result<Schema, SchemaError> {
    let Services {
        handler,
        feed,
        vault,
        jobs,
        connection_tests,
        upload_crawls,
        identity,
        webhooks,
    } = services;
    let mut query = Object::new("Query");
    let mut mutation = Object::new("Mutation");
    let (subscription, item_change) = subscriptions::subscription();
    let mut schema = Schema::build("Query", Some("Mutation"), Some("Subscription"))
        .register(
            subscription
                .field(jobs::subscription())
                .field(notifications::subscription()),
        )
        .register(item_change)
        .register(values::json_scalar())
        .register(values::datetime_scalar())
        .register(values::duration_scalar())
        .register(kinds::node_interface());
    let (objects, inputs, enums) = shared_types();
    for object in objects {
        schema = schema.register(object);
    }
    for input in inputs {
        schema = schema.register(input);
    }
    for enumeration in enums {
        schema = schema.register(enumeration);
    }
    for kind in Kind::ALL {
        let type_name = crate::names::type_name(kind);
        schema = schema
            .register(kinds::object(kind))
            .register(kinds::input(kind))
            .register(kinds::filter(kind))
            .register(kinds::order_field(kind))
            .register(kinds::order_by(kind));
        for object in connection::types(&type_name, true) {
            schema = schema.register(object);
        }
        query = queries::kind_fields(kind).into_iter().fold(query, Object::field);
        mutation = mutations::kind_fields(kind)
            .into_iter()
            .fold(mutation, Object::field);
    }
    query = queries::node_fields().into_iter().fold(query, Object::field);
    mutation = mutations::item_fields().into_iter().fold(mutation, Object::field);
    let (log_types, log_inputs, log_queries) = log::schema_parts();
    for object in log_types {
        schema = schema.register(object);
    }
    for input in log_inputs {
        schema = schema.register(input);
    }
    query = log_queries.into_iter().fold(query, Object::field);
    for object in connections::types() {
        schema = schema.register(object);
    }
    mutation = connections::mutations().into_iter().fold(mutation, Object::field);
    for object in uploads::types() {
        schema = schema.register(object);
    }
    schema = schema.enable_uploading();
    mutation = mutation.field(uploads::mutation());
    let (job_types, job_state) = jobs::types();
    for object in job_types {
        schema = schema.register(object);
    }
    schema = schema.register(job_state);
    query = query.field(jobs::query());
    for object in identity::types() {
        schema = schema.register(object);
    }
    query = identity::queries().into_iter().fold(query, Object::field);
    mutation = identity::mutations().into_iter().fold(mutation, Object::field);
    for object in api_tokens::types() {
        schema = schema.register(object);
    }
    query = query.field(api_tokens::query());
    mutation = api_tokens::mutations().into_iter().fold(mutation, Object::field);
    for object in schedules::types() {
        schema = schema.register(object);
    }
    let (notification_types, notification_topic) = notifications::types();
    for object in notification_types {
        schema = schema.register(object);
    }
    schema = schema.register(notification_topic);
    query = notifications::queries().into_iter().fold(query, Object::field);
    mutation = notifications::mutations()
        .into_iter()
        .fold(mutation, Object::field);
    for object in self::webhooks::types() {
        schema = schema.register(object);
    }
    query = self::webhooks::queries().into_iter().fold(query, Object::field);
    mutation = self::webhooks::mutations()
        .into_iter()
        .fold(mutation, Object::field);
    for object in sharing::types() {
        schema = schema.register(object);
    }
    query = sharing::queries().into_iter().fold(query, Object::field);
    mutation = sharing::mutations().into_iter().fold(mutation, Object::field);
    schema
        .register(query)
        .register(mutation)
        .data(handler)
        .data(feed)
        .data(vault)
        .data(jobs)
        .data(connection_tests)
        .data(upload_crawls)
        .data(identity)
        .data(webhooks)
        .extension(api_tokens::ReadOnlyTokens)
        .limit_depth(limits::MAX_DEPTH)
        .extension(cost::Guard)
        .finish()
}
