//! The GraphQL types of every inventory kind, generated from the domain's field list:
//! the object, its input, its filter and its ordering. A field added to a kind in the
//! domain shows up here with no further code.

use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Interface, InterfaceField, Object,
    ObjectAccessor, TypeRef,
};
use domain::{FieldSpec, FieldType, Guard, Kind};

use super::values::{from_json, Node};
use crate::errors::bad_input;
use crate::names::{camel, screaming, snake, type_name};
use crate::read::{Bind, Condition, ItemRow, Op};

/// The GraphQL type of a field, in output and input alike.
fn type_ref(field_type: FieldType) -> TypeRef {
    use FieldType::*;
    match field_type {
        Count => TypeRef::named(TypeRef::INT),
        Flag => TypeRef::named(TypeRef::BOOLEAN),
        IpList | TextList => TypeRef::named_nn_list(TypeRef::STRING),
        Object | ObjectList | Grants => TypeRef::named("JSON"),
        // Read back as seconds; given as seconds or as text such as `5m`.
        Interval => TypeRef::named("Duration"),
        Text | Hostname | Ipv4 | Cidr | Environment | Status | Family | Provider | Source | Id | Cron
        | TimeZone | ScheduleAction | Missed => TypeRef::named(TypeRef::STRING),
    }
}

/// The filter input type of a scalar field; `None` for lists and objects.
fn filter_type(field_type: FieldType) -> Option<&'static str> {
    use FieldType::*;
    match field_type {
        Count | Interval => Some("IntFilter"),
        Flag => Some(TypeRef::BOOLEAN),
        Text | Hostname | Ipv4 | Cidr | Environment | Status | Family | Provider | Source | Id | Cron
        | TimeZone | ScheduleAction | Missed => Some("StringFilter"),
        IpList | TextList | Object | ObjectList | Grants => None,
    }
}

/// The SQL expression a field is filtered on: typed columns, with addresses as text.
fn column(spec: &FieldSpec) -> String {
    match spec.field_type {
        FieldType::Ipv4 => format!("host({})", spec.name),
        FieldType::Cidr => format!("{}::text", spec.name),
        _ => spec.name.to_string(),
    }
}

fn scalar_fields(kind: Kind) -> impl Iterator<Item = &'static FieldSpec> {
    kind.fields()
        .filter(|spec| filter_type(spec.field_type).is_some())
}

fn row<'a>(ctx: &'a async_graphql::dynamic::ResolverContext<'a>) -> async_graphql::Result<&'a Arc<ItemRow>> {
    ctx.parent_value.try_downcast_ref::<Arc<ItemRow>>()
}

/// A field of an item: its name, its type, and its resolver.
type ItemField = (String, TypeRef, Field);

fn row_field(
    name: &str,
    type_ref: TypeRef,
    read: impl Fn(&ItemRow) -> Option<async_graphql::Value> + Send + Sync + Clone + 'static,
) -> ItemField {
    let field = Field::new(name, type_ref.clone(), move |ctx| {
        let read = read.clone();
        FieldFuture::new(async move { Ok(read(row(&ctx)?).map(FieldValue::value)) })
    });
    (name.to_string(), type_ref, field)
}

/// The fields every kind has, also declared on the `Node` interface.
fn common_fields() -> Vec<ItemField> {
    let time = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map(|at| async_graphql::Value::String(at.to_rfc3339()))
    };
    vec![
        row_field("id", TypeRef::named_nn(TypeRef::ID), |row| {
            Some(row.id.to_string().into())
        }),
        row_field("kind", TypeRef::named_nn(TypeRef::STRING), |row| {
            Some(row.kind.stream_type().into())
        }),
        row_field("version", TypeRef::named_nn(TypeRef::INT), |row| {
            Some(row.version.into())
        }),
        row_field("active", TypeRef::named_nn(TypeRef::BOOLEAN), |row| {
            Some(row.active.into())
        }),
        row_field("createdAt", TypeRef::named("DateTime"), move |row| {
            time(row.created_at)
        }),
        row_field("updatedAt", TypeRef::named("DateTime"), move |row| {
            time(row.updated_at)
        }),
        row_field("createdBy", TypeRef::named(TypeRef::STRING), |row| {
            row.created_by.clone().map(Into::into)
        }),
        row_field("updatedBy", TypeRef::named(TypeRef::STRING), |row| {
            row.updated_by.clone().map(Into::into)
        }),
        row_field("tags", TypeRef::named_nn_list_nn("Tag"), |row| {
            Some(from_json(&row.doc["tags"]))
        }),
        row_field("grants", TypeRef::named_nn_list_nn("Grant"), |row| {
            let grants: Vec<serde_json::Value> = row.doc["acl"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(principal, level)| {
                    let level = level.as_str().unwrap_or_default().to_uppercase();
                    serde_json::json!({"principal": principal, "level": level})
                })
                .collect();
            Some(from_json(&serde_json::Value::Array(grants)))
        }),
        row_field("relations", TypeRef::named_nn_list_nn("Relation"), |row| {
            let relations: Vec<serde_json::Value> = row.doc["relations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|link| {
                    let relation = link["relation"].as_str().unwrap_or_default().to_uppercase();
                    serde_json::json!({"relation": relation, "targetKind": link["target_kind"],
                                       "targetId": link["target_id"], "protocol": link.get("protocol")})
                })
                .collect();
            Some(from_json(&serde_json::Value::Array(relations)))
        }),
    ]
}

pub fn node_interface() -> Interface {
    common_fields().iter().fold(
        Interface::new("Node").description("Any inventory item."),
        |interface, (name, type_ref, _)| interface.field(InterfaceField::new(name, type_ref.clone())),
    )
}

pub fn object(kind: Kind) -> Object {
    let own = kind.fields().map(|spec| {
        let key = spec.name;
        row_field(&camel(key), type_ref(spec.field_type), move |row| {
            row.doc.get(key).map(from_json)
        })
    });
    let object = common_fields().into_iter().chain(own).fold(
        Object::new(type_name(kind)).implement("Node"),
        |object, (_, _, field)| object.field(field),
    );
    super::relations::fields(kind)
        .into_iter()
        .chain(super::schedules::fields(kind))
        .fold(object, Object::field)
}

/// The fields a person may send: all but those Maestro keeps itself.
pub fn input(kind: Kind) -> InputObject {
    kind.fields().filter(|spec| spec.guard != Guard::Maestro).fold(
        InputObject::new(format!("{}Input", type_name(kind)))
            .description("Fields to set. On update, only the fields given change; null clears one."),
        |input, spec| {
            let value = InputValue::new(camel(spec.name), type_ref(spec.field_type));
            input.field(if spec.guard == Guard::Admins {
                value.description("Changing it needs admin access to the item.")
            } else {
                value
            })
        },
    )
}

/// Input fields as the domain spells them, ready for `Fields::parse`.
pub fn input_to_json(input: &ObjectAccessor<'_>) -> serde_json::Map<String, serde_json::Value> {
    input
        .iter()
        .map(|(name, value)| {
            (
                snake(name.as_str()),
                value.as_value().clone().into_json().unwrap_or_default(),
            )
        })
        .collect()
}

pub fn filter(kind: Kind) -> InputObject {
    let base = InputObject::new(format!("{}Filter", type_name(kind)))
        .field(
            InputValue::new("active", TypeRef::named(TypeRef::BOOLEAN)).description(
                "true (the default): only active items; false: only orphaned or deleted ones; null: both.",
            ),
        )
        .field(InputValue::new("tag", TypeRef::named("TagFilter")))
        .field(InputValue::new("datacenter", TypeRef::named("PlacementFilter")))
        .field(InputValue::new("createdAt", TypeRef::named("DateTimeFilter")))
        .field(InputValue::new("updatedAt", TypeRef::named("DateTimeFilter")));
    scalar_fields(kind).fold(base, |input, spec| {
        let filter = filter_type(spec.field_type).expect("scalar fields have a filter type");
        input.field(InputValue::new(camel(spec.name), TypeRef::named(filter)))
    })
}

pub fn order_field(kind: Kind) -> Enum {
    scalar_fields(kind).fold(
        Enum::new(format!("{}OrderField", type_name(kind)))
            .item("CREATED_AT")
            .item("UPDATED_AT"),
        |order, spec| order.item(screaming(spec.name)),
    )
}

pub fn order_by(kind: Kind) -> InputObject {
    InputObject::new(format!("{}OrderBy", type_name(kind)))
        .field(InputValue::new(
            "field",
            TypeRef::named_nn(format!("{}OrderField", type_name(kind))),
        ))
        .field(
            InputValue::new("direction", TypeRef::named_nn("SortDirection"))
                .default_value(async_graphql::Value::Enum(async_graphql::Name::new("ASC"))),
        )
}

/// The column to sort by for an `<Kind>OrderField` value.
pub fn order_column(kind: Kind, item: &str) -> Option<String> {
    match item {
        "CREATED_AT" => Some("created_at".into()),
        "UPDATED_AT" => Some("updated_at".into()),
        _ => scalar_fields(kind)
            .find(|spec| screaming(spec.name) == item)
            .map(|spec| spec.name.to_string()),
    }
}

fn string_conditions(
    expression: &str,
    field: &str,
    filter: &ObjectAccessor<'_>,
) -> async_graphql::Result<Vec<Condition>> {
    let mut conditions = vec![];
    for (name, value) in filter.iter() {
        if value.is_null() {
            continue;
        }
        let op = match name.as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "contains" => Op::Contains,
            "notContains" => Op::NotContains,
            "in" => Op::In,
            _ => return Err(bad_input(field, format!("unknown operator `{name}`"))),
        };
        let bind = if op == Op::In {
            Bind::Texts(
                value
                    .list()?
                    .iter()
                    .map(|v| v.string().map(str::to_string))
                    .collect::<Result<_, _>>()?,
            )
        } else {
            Bind::Text(value.string()?.to_string())
        };
        conditions.push(Condition {
            expression: expression.to_string(),
            op,
            value: bind,
        });
    }
    Ok(conditions)
}

fn range_conditions(
    expression: &str,
    filter: &ObjectAccessor<'_>,
    bind: impl Fn(&async_graphql::dynamic::ValueAccessor<'_>) -> async_graphql::Result<Bind>,
) -> async_graphql::Result<Vec<Condition>> {
    let mut conditions = vec![];
    for (name, value) in filter.iter() {
        if value.is_null() {
            continue;
        }
        let op = match name.as_str() {
            "eq" => Op::Eq,
            "gt" | "after" => Op::Gt,
            "gte" => Op::Gte,
            "lt" | "before" => Op::Lt,
            "lte" => Op::Lte,
            other => return Err(format!("unknown operator `{other}`").into()),
        };
        conditions.push(Condition {
            expression: expression.to_string(),
            op,
            value: bind(&value)?,
        });
    }
    Ok(conditions)
}

/// Turns a `<Kind>Filter` argument into SQL conditions.
pub fn conditions(kind: Kind, filter: Option<ObjectAccessor<'_>>) -> async_graphql::Result<Vec<Condition>> {
    let active = match filter.as_ref().and_then(|f| f.get("active")) {
        None => Some(true),
        Some(value) if value.is_null() => None,
        Some(value) => Some(value.boolean()?),
    };
    let mut conditions: Vec<Condition> = active
        .map(|active| Condition {
            expression: "active".into(),
            op: Op::Eq,
            value: Bind::Bool(active),
        })
        .into_iter()
        .collect();
    let Some(filter) = filter else {
        return Ok(conditions);
    };
    if let Some(tag) = filter.get("tag").filter(|v| !v.is_null()) {
        let tag = tag.object()?;
        let mut wanted = serde_json::json!({"key": tag.try_get("key")?.string()?});
        if let Some(value) = tag.get("value").filter(|v| !v.is_null()) {
            wanted["value"] = value.string()?.into();
        }
        conditions.push(Condition {
            expression: "(doc -> 'tags')".into(),
            op: Op::Has,
            value: Bind::Json(serde_json::json!([wanted])),
        });
    }
    if let Some(placement) = filter.get("datacenter").filter(|v| !v.is_null()) {
        for (name, value) in placement.object()?.iter().filter(|(_, v)| !v.is_null()) {
            let key = snake(name.as_str());
            conditions.push(Condition {
                expression: format!("(doc -> 'datacenters' ->> '{key}')"),
                op: Op::Eq,
                value: Bind::Text(value.string()?.to_string()),
            });
        }
    }
    for (field, column) in [("createdAt", "created_at"), ("updatedAt", "updated_at")] {
        if let Some(range) = filter.get(field).filter(|v| !v.is_null()) {
            conditions.extend(range_conditions(column, &range.object()?, |value| {
                let text = value.string()?;
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|at| Bind::Time(at.into()))
                    .map_err(|_| bad_input(field, format!("`{text}` is not an RFC 3339 instant")))
            })?);
        }
    }
    for spec in scalar_fields(kind) {
        let Some(value) = filter.get(&camel(spec.name)).filter(|v| !v.is_null()) else {
            continue;
        };
        let expression = column(spec);
        match spec.field_type {
            FieldType::Flag => conditions.push(Condition {
                expression,
                op: Op::Eq,
                value: Bind::Bool(value.boolean()?),
            }),
            FieldType::Count => conditions.extend(range_conditions(&expression, &value.object()?, |v| {
                Ok(Bind::Int(v.i64()?))
            })?),
            _ => conditions.extend(string_conditions(&expression, spec.name, &value.object()?)?),
        }
    }
    Ok(conditions)
}

/// An item where its concrete type is declared (`server(id:)`, `createServer`).
pub fn node(row: ItemRow) -> FieldValue<'static> {
    Node::item(row).field_value()
}

/// An item where the `Node` interface is declared: the value names its concrete type.
pub fn any_node(row: ItemRow) -> FieldValue<'static> {
    let type_name = type_name(row.kind);
    node(row).with_type(type_name)
}
