//! Read queries over the read models: a list and a single-item query per kind, and
//! `node(id:)` for any item.

use std::sync::Arc;

use async_graphql::dynamic::{Field, FieldFuture, InputValue, ResolverContext, TypeRef};
use commands::CommandHandler;
use domain::Kind;
use uuid::Uuid;

use super::access;
use super::connection::{offset_cursor, parse_offset_cursor, Page};
use super::kinds;
use super::values::Node;
use crate::errors::{bad_input, internal};
use crate::names::{camel, type_name};
use crate::read::{self, ListQuery};

/// The most items one page may hold.
pub const MAX_PAGE_SIZE: i64 = 500;
const DEFAULT_PAGE_SIZE: i64 = 50;

/// A `first` argument: the page size, declared with its default so that the cost of a
/// query (see `cost`) counts the page an omitted `first` gets.
pub fn first_argument(default: i64) -> InputValue {
    InputValue::new("first", TypeRef::named(TypeRef::INT))
        .default_value(async_graphql::Value::from(default))
        .description(format!("At most {MAX_PAGE_SIZE}; {default} when omitted."))
}

/// A `first` argument's value, within 0 and the page-size limit.
pub fn first_value(ctx: &ResolverContext<'_>, default: i64) -> async_graphql::Result<i64> {
    let first = match ctx.args.get("first") {
        Some(value) if !value.is_null() => value.i64()?,
        _ => default,
    };
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(bad_input(
            "first",
            format!("must be between 0 and {MAX_PAGE_SIZE}, got {first}"),
        ));
    }
    Ok(first)
}

pub fn handler<'a>(ctx: &ResolverContext<'a>) -> async_graphql::Result<&'a CommandHandler> {
    ctx.data::<CommandHandler>()
}

pub fn id_argument(ctx: &ResolverContext<'_>, name: &str) -> async_graphql::Result<Uuid> {
    let raw = ctx.args.try_get(name)?.string()?;
    Uuid::parse_str(raw).map_err(|_| bad_input(name, format!("`{raw}` is not an item id (a UUID)")))
}

/// `first` and `after` as a limit and an offset, within the page-size limit.
pub fn page_window(ctx: &ResolverContext<'_>) -> async_graphql::Result<(i64, i64)> {
    let first = first_value(ctx, DEFAULT_PAGE_SIZE)?;
    let offset = match ctx.args.get("after") {
        Some(value) if !value.is_null() => {
            let cursor = value.string()?;
            parse_offset_cursor(cursor)
                .map(|offset| offset + 1)
                .ok_or_else(|| bad_input("after", format!("`{cursor}` is not a cursor from this list")))?
        }
        _ => 0,
    };
    Ok((first, offset))
}

pub fn page_arguments(field: Field) -> Field {
    field
        .argument(first_argument(DEFAULT_PAGE_SIZE))
        .argument(InputValue::new("after", TypeRef::named(TypeRef::STRING)))
}

/// Builds a page from `limit + 1` fetched rows: the extra one only says there is more.
pub fn page_of<T>(
    mut rows: Vec<T>,
    first: i64,
    offset: i64,
    node: impl Fn(T) -> Node,
    total: Option<super::connection::Counter>,
) -> Page {
    let has_next_page = rows.len() as i64 > first;
    rows.truncate(first as usize);
    Page {
        edges: rows
            .into_iter()
            .enumerate()
            .map(|(i, row)| (offset_cursor(offset + i as i64), node(row)))
            .collect(),
        has_next_page,
        has_previous_page: offset > 0,
        total,
    }
}

fn list_field(kind: Kind) -> Field {
    let name = camel(kind.table());
    let field = Field::new(
        name,
        TypeRef::named_nn(format!("{}Connection", type_name(kind))),
        move |ctx| {
            FieldFuture::new(async move {
                let handler = handler(&ctx)?;
                let (first, offset) = page_window(&ctx)?;
                let filter = ctx.args.get("filter").filter(|v| !v.is_null());
                let conditions = kinds::conditions(kind, filter.as_ref().map(|v| v.object()).transpose()?)?;
                let (order_by, descending) = match ctx.args.get("orderBy").filter(|v| !v.is_null()) {
                    Some(order) => {
                        let order = order.object()?;
                        let field = order.try_get("field")?;
                        let item = field.enum_name()?;
                        let column = kinds::order_column(kind, item)
                            .ok_or_else(|| bad_input("orderBy", format!("cannot sort by {item}")))?;
                        let descending = match order.get("direction") {
                            Some(direction) => direction.enum_name()? == "DESC",
                            None => false,
                        };
                        (column, descending)
                    }
                    None => ("name".to_string(), false),
                };
                let query = ListQuery {
                    kind,
                    sight: access::sight(&ctx)?,
                    conditions,
                    order_by,
                    descending,
                    limit: first + 1,
                    offset,
                };
                let pool = handler.store().pool().clone();
                let rows = read::list(&pool, &query).await?;
                let counted = Arc::new(query);
                let total: super::connection::Counter = Arc::new(move || {
                    let (pool, query) = (pool.clone(), counted.clone());
                    Box::pin(async move { read::count(&pool, &query).await })
                });
                Ok(Some(async_graphql::dynamic::FieldValue::owned_any(page_of(
                    rows,
                    first,
                    offset,
                    Node::item,
                    Some(total),
                ))))
            })
        },
    )
    .argument(InputValue::new(
        "filter",
        TypeRef::named(format!("{}Filter", type_name(kind))),
    ))
    .argument(
        InputValue::new("orderBy", TypeRef::named(format!("{}OrderBy", type_name(kind))))
            .description("Sorted by name when omitted."),
    );
    page_arguments(field)
}

fn item_field(kind: Kind) -> Field {
    Field::new(
        camel(kind.stream_type()),
        TypeRef::named(type_name(kind)),
        move |ctx| {
            FieldFuture::new(async move {
                let id = id_argument(&ctx, "id")?;
                let row = read::get(handler(&ctx)?.store().pool(), &access::sight(&ctx)?, kind, id).await?;
                Ok(row.map(kinds::node))
            })
        },
    )
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
}

pub fn kind_fields(kind: Kind) -> Vec<Field> {
    vec![list_field(kind), item_field(kind)]
}

pub fn node_fields() -> Vec<Field> {
    vec![Field::new("node", TypeRef::named("Node"), |ctx| {
        FieldFuture::new(async move {
            let id = id_argument(&ctx, "id")?;
            let sight = access::sight(&ctx)?;
            let handler = handler(&ctx)?;
            let Some(kind) = handler.store().stream_kind(id).await.map_err(internal)? else {
                return Ok(None);
            };
            let row = read::get(handler.store().pool(), &sight, kind, id).await?;
            Ok(row.map(kinds::any_node))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))]
}
