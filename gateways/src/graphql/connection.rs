//! Relay connections (`edges`, `nodes`, `pageInfo`, `totalCount`), one implementation for
//! every paged list: items of each kind, history, raw events.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, TypeRef};
use async_graphql::Value;

use super::values::{value_object, Node};

/// Counts the whole list, only when a client asks for `totalCount`.
pub type Counter =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = async_graphql::Result<i64>> + Send>> + Send + Sync>;

/// One page of a list, ready to be served.
pub struct Page {
    pub edges: Vec<(String, Node)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub total: Option<Counter>,
}

/// A cursor that is an offset into an ordered list. Opaque to clients.
pub fn offset_cursor(offset: i64) -> String {
    format!("o{offset}")
}

pub fn parse_offset_cursor(cursor: &str) -> Option<i64> {
    cursor
        .strip_prefix('o')?
        .parse()
        .ok()
        .filter(|offset: &i64| *offset >= 0)
}

struct Edge {
    cursor: String,
    node: Node,
}

pub fn page_info_type() -> Object {
    value_object(
        "PageInfo",
        &[
            ("hasNextPage", TypeRef::named_nn(TypeRef::BOOLEAN)),
            ("hasPreviousPage", TypeRef::named_nn(TypeRef::BOOLEAN)),
            ("startCursor", TypeRef::named(TypeRef::STRING)),
            ("endCursor", TypeRef::named(TypeRef::STRING)),
        ],
    )
}

/// The connection and edge types for nodes of type `node`.
pub fn types(node: &str, counted: bool) -> [Object; 2] {
    let connection = format!("{node}Connection");
    let edge = format!("{node}Edge");
    let edge_type = Object::new(&edge)
        .field(Field::new("cursor", TypeRef::named_nn(TypeRef::STRING), |ctx| {
            FieldFuture::new(async move {
                let edge = ctx.parent_value.try_downcast_ref::<Edge>()?;
                Ok(Some(FieldValue::value(edge.cursor.clone())))
            })
        }))
        .field(Field::new("node", TypeRef::named_nn(node), |ctx| {
            FieldFuture::new(async move {
                let edge = ctx.parent_value.try_downcast_ref::<Edge>()?;
                Ok(Some(edge.node.field_value()))
            })
        }));
    let mut connection_type = Object::new(&connection)
        .field(Field::new("edges", TypeRef::named_nn_list_nn(&edge), |ctx| {
            FieldFuture::new(async move {
                let page = ctx.parent_value.try_downcast_ref::<Page>()?;
                Ok(Some(FieldValue::list(page.edges.iter().map(|(cursor, node)| {
                    FieldValue::owned_any(Edge {
                        cursor: cursor.clone(),
                        node: node.clone(),
                    })
                }))))
            })
        }))
        .field(Field::new("nodes", TypeRef::named_nn_list_nn(node), |ctx| {
            FieldFuture::new(async move {
                let page = ctx.parent_value.try_downcast_ref::<Page>()?;
                Ok(Some(FieldValue::list(
                    page.edges.iter().map(|(_, node)| node.field_value()),
                )))
            })
        }))
        .field(Field::new("pageInfo", TypeRef::named_nn("PageInfo"), |ctx| {
            FieldFuture::new(async move {
                let page = ctx.parent_value.try_downcast_ref::<Page>()?;
                let info = Value::from_json(serde_json::json!({
                    "hasNextPage": page.has_next_page,
                    "hasPreviousPage": page.has_previous_page,
                    "startCursor": page.edges.first().map(|(cursor, _)| cursor),
                    "endCursor": page.edges.last().map(|(cursor, _)| cursor),
                }))?;
                Ok(Some(FieldValue::value(info)))
            })
        }));
    if counted {
        connection_type =
            connection_type.field(Field::new("totalCount", TypeRef::named_nn(TypeRef::INT), |ctx| {
                FieldFuture::new(async move {
                    let page = ctx.parent_value.try_downcast_ref::<Page>()?;
                    let count = page.total.as_ref().ok_or("this list has no total count")?;
                    Ok(Some(FieldValue::value(count().await?)))
                })
            }));
    }
    [connection_type, edge_type]
}
