//! The HTTP side of Maestro: GraphQL queries and mutations over the read models and the
//! command handler, the GraphiQL playground, and health checks.

mod errors;
mod graphql;
mod health;
mod names;
mod read;

use std::sync::Arc;

use async_graphql::dynamic::Schema;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use commands::CommandHandler;

pub use graphql::build_schema;

/// Runs one GraphQL request with its own data loaders.
async fn graphql(State(app): State<Arc<App>>, request: GraphQLRequest) -> GraphQLResponse {
    let (links, items) = graphql::loaders(app.handler.store().pool());
    app.schema.execute(request.into_inner().data(links).data(items)).await.into()
}

/// What every request handler shares.
#[derive(Clone)]
pub struct App {
    handler: CommandHandler,
    schema: Schema,
}

impl App {
    pub fn new(handler: CommandHandler) -> App {
        let schema = build_schema(handler.clone()).expect("the generated GraphQL schema is valid");
        App { handler, schema }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

async fn playground() -> impl IntoResponse {
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql")
            .finish(),
    )
}

pub fn router(app: App) -> Router {
    let state = Arc::new(app.clone());
    Router::new()
        .route(
            "/graphql",
            get(playground).post(graphql),
        )
        .merge(health::routes())
        .with_state(state)
}

pub async fn serve(listener: tokio::net::TcpListener, app: App) -> std::io::Result<()> {
    axum::serve(listener, router(app)).await
}
