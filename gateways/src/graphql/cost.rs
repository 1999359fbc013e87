//! What a request may ask for, weighed before it runs, and how long it may run.
//!
//! async-graphql counts each field once, whatever the page it is in, so one request with
//! `first: 500` lists nested in each other, or the same list under fifty aliases, passes
//! its complexity limit and then asks the database for millions of rows. Here a field
//! counts once for each item of every page it is in: a field taking `first` multiplies
//! what is selected under it by `first` (or by the argument's default when omitted).
//! Introspection fields take no `first`, so the standard introspection query costs what
//! it always did. Aliases are capped too: each asks for the same work again.
//!
//! The execution time limit lives here as well, so that it holds over WebSocket exactly
//! as over HTTP.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::registry::{MetaTypeName, Registry};
use async_graphql::{
    ErrorExtensions, Name, Positioned, Response, ServerError, ServerResult, ValidationResult, Value,
    Variables,
};

use crate::limits::{MAX_ALIASES, MAX_COMPLEXITY, QUERY_TIMEOUT};

/// The page-size argument a list field takes.
const PAGE_SIZE: &str = "first";

/// Installs the weighing and the time limit on a schema.
pub struct Guard;

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Weighing::default())
    }
}

/// One request's weighing: the weight is taken when the query is parsed (with its
/// variables) and judged after validation, so that an invalid query hears what is wrong
/// with it first.
#[derive(Default)]
struct Weighing(Mutex<Option<Weight>>);

#[async_graphql::async_trait::async_trait]
impl Extension for Weighing {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let weight = weigh(&ctx.schema_env.registry, &document, variables);
        *self.0.lock().expect("not poisoned") = Some(weight);
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let validated = next.run(ctx).await?;
        let weight = self.0.lock().expect("not poisoned").unwrap_or_default();
        if weight.cost > MAX_COMPLEXITY {
            return Err(vec![refusal(format!(
                "the query is too complex: it would cost {}, more than the limit of {MAX_COMPLEXITY}. Each field counts \
                 once for every item of the pages it is in (`first`, or its default when omitted); ask for smaller \
                 pages, fewer nested lists or fewer fields",
                weight.cost
            ))]);
        }
        if weight.aliases > MAX_ALIASES {
            return Err(vec![refusal(format!(
                "the query uses too many aliases: {}, more than the limit of {MAX_ALIASES}; send several requests instead",
                weight.aliases
            ))]);
        }
        Ok(validated)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        match tokio::time::timeout(QUERY_TIMEOUT, next.run(ctx, operation_name)).await {
            Ok(response) => response,
            Err(_) => {
                let message = format!(
                    "the query ran longer than {} s and was stopped; ask for less",
                    QUERY_TIMEOUT.as_secs()
                );
                let error = async_graphql::Error::new(message).extend_with(|_, e| e.set("code", "TIMEOUT"));
                Response::from_errors(vec![error.into_server_error(Default::default())])
            }
        }
    }
}

fn refusal(message: String) -> ServerError {
    async_graphql::Error::new(message)
        .extend_with(|_, e| e.set("code", "QUERY_TOO_COMPLEX"))
        .into_server_error(Default::default())
}

/// What a request asks for: its cost and its aliases, of the costliest operation in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Weight {
    cost: u64,
    aliases: u64,
}

impl Weight {
    fn plus(self, other: Weight) -> Weight {
        Weight {
            cost: self.cost.saturating_add(other.cost),
            aliases: self.aliases.saturating_add(other.aliases),
        }
    }
}

fn weigh(registry: &Registry, document: &ExecutableDocument, variables: &Variables) -> Weight {
    let operations: Vec<&Positioned<OperationDefinition>> = match &document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations.values().collect(),
    };
    operations
        .into_iter()
        .map(|operation| {
            let root = match operation.node.ty {
                async_graphql::parser::types::OperationType::Query => Some(registry.query_type.as_str()),
                async_graphql::parser::types::OperationType::Mutation => registry.mutation_type.as_deref(),
                async_graphql::parser::types::OperationType::Subscription => {
                    registry.subscription_type.as_deref()
                }
            };
            let mut scale = Scale {
                registry,
                document,
                variables: operation_variables(&operation.node, variables),
                fragments: HashMap::new(),
                entered: HashSet::new(),
            };
            scale.selections(&operation.node.selection_set.node, root)
        })
        .fold(Weight::default(), |heaviest, weight| Weight {
            cost: heaviest.cost.max(weight.cost),
            aliases: heaviest.aliases.max(weight.aliases),
        })
}

/// The variables given, and the operation's defaults for those left out.
fn operation_variables(operation: &OperationDefinition, given: &Variables) -> HashMap<Name, Value> {
    operation
        .variable_definitions
        .iter()
        .filter_map(|definition| {
            let name = definition.node.name.node.clone();
            let value = given
                .get(&name)
                .cloned()
                .or_else(|| definition.node.default_value.as_ref().map(|v| v.node.clone()))?;
            Some((name, value))
        })
        .collect()
}

/// Weighs selections against the schema, each fragment once (a fragment spread many times
/// costs its weight each time, without walking it again).
struct Scale<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
    variables: HashMap<Name, Value>,
    fragments: HashMap<Name, Weight>,
    /// Fragments being weighed: a cycle (which validation refuses later) counts nothing.
    entered: HashSet<Name>,
}

impl Scale<'_> {
    fn selections(&mut self, set: &SelectionSet, parent: Option<&str>) -> Weight {
        set.items.iter().fold(Weight::default(), |total, item| {
            let weight = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let meta = parent
                        .and_then(|parent| self.registry.types.get(parent))
                        .and_then(|parent| parent.field_by_name(&field.name.node));
                    let inner = meta.map(|meta| MetaTypeName::concrete_typename(&meta.ty).to_string());
                    let pages = meta
                        .and_then(|meta| meta.args.get(PAGE_SIZE))
                        .map(|argument| {
                            let given = field
                                .arguments
                                .iter()
                                .find(|(name, _)| name.node == PAGE_SIZE)
                                .and_then(|(_, value)| {
                                    value
                                        .node
                                        .clone()
                                        .into_const_with(|name| self.variables.get(&name).cloned().ok_or(()))
                                        .ok()
                                });
                            let default = argument
                                .default_value
                                .as_deref()
                                .and_then(|raw| raw.parse::<i64>().ok());
                            match given {
                                Some(Value::Number(number)) => number.as_i64(),
                                _ => default,
                            }
                            .unwrap_or(1)
                            .max(0) as u64
                        })
                        .unwrap_or(1);
                    let below = self.selections(&field.selection_set.node, inner.as_deref());
                    Weight {
                        cost: pages.saturating_mul(below.cost).saturating_add(1),
                        aliases: below.aliases + u64::from(field.alias.is_some()),
                    }
                }
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map(|on| on.node.on.node.as_str());
                    self.selections(&inline.node.selection_set.node, on.or(parent))
                }
            };
            total.plus(weight)
        })
    }

    fn fragment(&mut self, name: &Name) -> Weight {
        if let Some(weight) = self.fragments.get(name) {
            return *weight;
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return Weight::default();
        };
        if !self.entered.insert(name.clone()) {
            return Weight::default();
        }
        let on = fragment.node.type_condition.node.on.node.clone();
        let weight = self.selections(&fragment.node.selection_set.node, Some(on.as_str()));
        self.entered.remove(name);
        self.fragments.insert(name.clone(), weight);
        weight
    }
}
