//! Values the schema passes between resolvers, and the scalars it adds.

use std::sync::Arc;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, Scalar, TypeRef};
use async_graphql::Value;

use crate::read::ItemRow;

/// A node in a list or a field: an inventory item, or a plain JSON-shaped value (a
/// change, an event, a tag) whose fields are read by name.
#[derive(Clone)]
pub enum Node {
    Item(Arc<ItemRow>),
    Value(Value),
}

impl Node {
    pub fn item(row: ItemRow) -> Node {
        Node::Item(Arc::new(row))
    }

    pub fn field_value(&self) -> FieldValue<'static> {
        match self {
            Node::Item(row) => FieldValue::owned_any(row.clone()),
            Node::Value(value) => FieldValue::value(value.clone()),
        }
    }
}

/// An object type whose fields are read from a JSON-shaped parent value.
pub fn value_object(name: &str, fields: &[(&str, TypeRef)]) -> Object {
    fields
        .iter()
        .fold(Object::new(name), |object, (field, type_ref)| {
            let key = field.to_string();
            object.field(Field::new(*field, type_ref.clone(), move |ctx| {
                let key = key.clone();
                FieldFuture::new(async move {
                    match ctx.parent_value.try_to_value()? {
                        // A null is no value: a scalar such as DateTime takes no Null.
                        Value::Object(map) => Ok(map
                            .get(key.as_str())
                            .filter(|value| **value != Value::Null)
                            .cloned()
                            .map(FieldValue::value)),
                        _ => Err("expected an object".into()),
                    }
                })
            }))
        })
}

pub fn json_scalar() -> Scalar {
    Scalar::new("JSON").description("Any JSON value: objects and lists the inventory keeps as they are.")
}

pub fn duration_scalar() -> Scalar {
    Scalar::new("Duration")
        .description("A length of time: read as whole seconds; given as seconds (300) or as text with a unit (`90s`, `5m`, `6h`, `14d`, `2w`).")
        .validator(|value| matches!(value, Value::Number(_) | Value::String(_)))
}

pub fn datetime_scalar() -> Scalar {
    Scalar::new("DateTime")
        .description("An instant in RFC 3339, e.g. 2026-11-21T10:00:00Z.")
        .validator(
            |value| matches!(value, Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        )
}

/// `serde_json` to GraphQL, for values read from documents.
pub fn from_json(value: &serde_json::Value) -> Value {
    Value::from_json(value.clone()).unwrap_or(Value::Null)
}
