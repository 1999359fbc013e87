//! API tokens in GraphQL: a person makes, lists and revokes the tokens their programs use
//! (see the `identity` crate), and a read-only token's requests hold no mutation at all,
//! whichever transport carries them: refused before anything runs.

use std::sync::Arc;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{ErrorExtensions, ServerResult, Variables};
use chrono::{DateTime, Utc};
use domain::Viewer;
use identity::{ApiToken, ApiTokenRequest, Identity};
use serde_json::json;

use super::access::viewer;
use super::queries::id_argument;
use super::values::{from_json, value_object};
use crate::errors::{bad_input, identity_error};

fn token_value(token: &ApiToken) -> serde_json::Value {
    json!({
        "id": token.id,
        "name": token.name,
        "readOnly": token.read_only,
        "teamId": token.team,
        "createdAt": token.created_at.to_rfc3339(),
        "expiresAt": token.expires_at.map(|at| at.to_rfc3339()),
        "lastUsedAt": token.last_used_at.map(|at| at.to_rfc3339()),
    })
}

pub fn types() -> Vec<Object> {
    vec![
        value_object(
            "ApiToken",
            &[
                ("id", TypeRef::named_nn(TypeRef::ID)),
                ("name", TypeRef::named_nn(TypeRef::STRING)),
                ("readOnly", TypeRef::named_nn(TypeRef::BOOLEAN)),
                ("teamId", TypeRef::named(TypeRef::ID)),
                ("createdAt", TypeRef::named_nn("DateTime")),
                ("expiresAt", TypeRef::named("DateTime")),
                ("lastUsedAt", TypeRef::named("DateTime")),
            ],
        )
        .description("A token a program signs in with instead of a person's session. The token itself is shown only when made."),
        value_object(
            "NewApiToken",
            &[
                ("token", TypeRef::named_nn(TypeRef::STRING)),
                ("apiToken", TypeRef::named_nn("ApiToken")),
            ],
        )
        .description("A token just made: send `token` as `Authorization: Bearer <token>`. It is shown this once; keep it in a secret store."),
    ]
}

pub fn query() -> Field {
    Field::new("apiTokens", TypeRef::named_nn_list_nn("ApiToken"), |ctx| {
        FieldFuture::new(async move {
            let viewer = viewer(&ctx)?;
            let tokens = ctx
                .data::<Identity>()?
                .api_tokens(viewer.user)
                .await
                .map_err(identity_error)?;
            let values = tokens
                .iter()
                .map(|token| FieldValue::value(from_json(&token_value(token))));
            Ok(Some(FieldValue::list(values)))
        })
    })
    .description("Your API tokens that were not revoked, newest first, with when each was last used.")
}

pub fn mutations() -> Vec<Field> {
    vec![
        Field::new("createApiToken", TypeRef::named_nn("NewApiToken"), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let expires_at = match ctx.args.get("expiresAt").filter(|value| !value.is_null()) {
                    None => None,
                    Some(raw) => {
                        let raw = raw.string()?;
                        let at = DateTime::parse_from_rfc3339(raw)
                            .map_err(|_| bad_input("expiresAt", format!("`{raw}` is not an RFC 3339 instant")))?;
                        Some(at.with_timezone(&Utc))
                    }
                };
                let team = match ctx.args.get("teamId").filter(|value| !value.is_null()) {
                    None => None,
                    Some(_) => Some(id_argument(&ctx, "teamId")?),
                };
                let request = ApiTokenRequest {
                    name: ctx.args.try_get("name")?.string()?.to_string(),
                    read_only: ctx.args.try_get("readOnly")?.boolean()?,
                    team,
                    expires_at,
                };
                let made = ctx.data::<Identity>()?.create_api_token(viewer, request).await.map_err(identity_error)?;
                let value = json!({"token": made.token, "apiToken": token_value(&made.api_token)});
                Ok(Some(FieldValue::value(from_json(&value))))
            })
        })
        .description(
            "Makes an API token for a program. Read-only tokens run queries and subscriptions and nothing else; \
             read-write tokens may do what you may, except make tokens or change your password or profile. With \
             `teamId`, the token acts as that team (you need the write or admin role in it). Needs a signed-in \
             session, not a token.",
        )
        .argument(InputValue::new("name", TypeRef::named_nn(TypeRef::STRING)).description("What uses it, e.g. `nightly CMDB export`."))
        .argument(InputValue::new("readOnly", TypeRef::named_nn(TypeRef::BOOLEAN)))
        .argument(InputValue::new("teamId", TypeRef::named(TypeRef::ID)))
        .argument(InputValue::new("expiresAt", TypeRef::named("DateTime")).description("When it stops working; never when omitted.")),
        Field::new("revokeApiToken", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let id = id_argument(&ctx, "id")?;
                ctx.data::<Identity>()?.revoke_api_token(viewer.user, id).await.map_err(identity_error)?;
                Ok(Some(FieldValue::value(true)))
            })
        })
        .description("Revokes one of your API tokens: it stops working at once.")
        .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID))),
    ]
}

/// Refuses any request of a read-only token that holds a mutation, over HTTP and
/// WebSocket alike, before it is validated or run.
pub struct ReadOnlyTokens;

impl ExtensionFactory for ReadOnlyTokens {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ReadOnlyTokens)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ReadOnlyTokens {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let read_only = ctx.data_opt::<Viewer>().is_some_and(|viewer| viewer.read_only);
        let mutates = document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty == OperationType::Mutation);
        if read_only && mutates {
            let error = async_graphql::Error::new(
                "this API token is read-only: it runs queries and subscriptions, never mutations; use a read-write token",
            )
            .extend_with(|_, e| e.set("code", "FORBIDDEN"));
            return Err(error.into_server_error(Default::default()));
        }
        Ok(document)
    }
}
