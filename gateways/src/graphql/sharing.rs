//! Public share links: a signed, expiring, read-only token for one item, for showing it
//! to someone without an account (an embedded graph or report, later). Opening and
//! closing a link are events of the item (`shared`, `unshared`), so they show in its
//! history; the token itself is never stored. A token works while its signature (under
//! `MAESTRO_SECRETLINK`, a key of its own), its expiry and the item's open link all hold.

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};
use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::{Command, ItemRef, Kind};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access;
use super::kinds;
use super::mutations::on_node;
use super::queries::{handler, id_argument};
use super::values::{from_json, value_object};
use crate::errors::{bad_input, coded, command_error};
use crate::read::{self, Sight};

/// Told apart from session tokens even if both keys were the same.
const AUDIENCE: &str = "maestro-share";
/// The longest a link may stay open.
const MAX_LIFETIME: Duration = Duration::days(366);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The item.
    sub: Uuid,
    /// Its kind, as a stream type.
    knd: String,
    /// The link, as the item's `shared` event names it.
    lnk: Uuid,
    exp: i64,
    aud: String,
}

fn link_secret<'a>(ctx: &async_graphql::dynamic::ResolverContext<'a>) -> async_graphql::Result<&'a [u8]> {
    Ok(ctx.data::<identity::Identity>()?.link_secret())
}

fn sign(secret: &[u8], item: ItemRef, link: Uuid, expires_at: DateTime<Utc>) -> String {
    let claims = Claims {
        sub: item.id,
        knd: item.kind.stream_type().to_string(),
        lnk: link,
        exp: expires_at.timestamp(),
        aud: AUDIENCE.to_string(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256 signing of plain claims cannot fail")
}

fn invalid_link() -> async_graphql::Error {
    coded(
        "this share link is not valid: it expired, was closed, or was not issued by this Maestro; ask for a new one",
        "UNAUTHENTICATED",
    )
}

fn open_link(secret: &[u8], token: &str) -> async_graphql::Result<(ItemRef, Uuid, i64)> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
        .map_err(|_| invalid_link())?
        .claims;
    let kind = Kind::from_stream_type(&claims.knd).ok_or_else(invalid_link)?;
    Ok((ItemRef { kind, id: claims.sub }, claims.lnk, claims.exp))
}

fn share_item() -> Field {
    Field::new("shareItem", TypeRef::named_nn("ShareLink"), |ctx| {
        FieldFuture::new(async move {
            let raw = ctx.args.try_get("expiresAt")?.string()?.to_string();
            let expires_at: DateTime<Utc> = DateTime::parse_from_rfc3339(&raw)
                .map_err(|_| bad_input("expiresAt", format!("`{raw}` is not an RFC 3339 instant")))?
                .into();
            // Whole seconds: the token carries its expiry in seconds, and must match.
            let expires_at = Utc
                .timestamp_opt(expires_at.timestamp(), 0)
                .single()
                .ok_or_else(|| bad_input("expiresAt", "is out of range"))?;
            let now = Utc::now();
            if expires_at <= now || expires_at > now + MAX_LIFETIME {
                return Err(bad_input(
                    "expiresAt",
                    format!("must be in the future and at most {} days ahead", MAX_LIFETIME.num_days()),
                ));
            }
            let item = access::resolve(&ctx, "id").await?;
            let link = Uuid::now_v7();
            on_node(&ctx, item, Command::Share { link, expires_at }).await?;
            let token = sign(link_secret(&ctx)?, item, link, expires_at);
            let answer = serde_json::json!({"id": link, "itemId": item.id, "token": token, "expiresAt": expires_at.to_rfc3339()});
            Ok(Some(FieldValue::value(from_json(&answer))))
        })
    })
    .description("Opens a read-only public link to an item until `expiresAt` (at most a year). Needs admin. The token is shown once: keep it.")
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("expiresAt", TypeRef::named_nn("DateTime")))
}

fn unshare_item() -> Field {
    Field::new("unshareItem", TypeRef::named_nn("Node"), |ctx| {
        FieldFuture::new(async move {
            let item = access::resolve(&ctx, "id").await?;
            let link = id_argument(&ctx, "linkId")?;
            on_node(&ctx, item, Command::Unshare { link }).await
        })
    })
    .description("Closes a public link before it expires. Needs admin.")
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("linkId", TypeRef::named_nn(TypeRef::ID)))
}

fn shared() -> Field {
    Field::new("shared", TypeRef::named("Node"), |ctx| {
        FieldFuture::new(async move {
            let token = ctx.args.try_get("token")?.string()?;
            let (item, link, expires) = open_link(link_secret(&ctx)?, token)?;
            let handler = handler(&ctx)?;
            let loaded = handler
                .load(item.kind, item.id, None)
                .await
                .map_err(command_error)?;
            let open = loaded.item.shares.get(&link).map(DateTime::timestamp) == Some(expires);
            if !open || !loaded.item.is_active() {
                return Err(invalid_link());
            }
            let row = read::get(handler.store().pool(), &Sight::Item(item.id), item.kind, item.id).await?;
            Ok(row.map(|row| kinds::any_node(row.anonymous())))
        })
    })
    .description("The item a public share link shows; no sign-in needed.")
    .argument(InputValue::new("token", TypeRef::named_nn(TypeRef::STRING)))
}

pub fn types() -> Vec<Object> {
    vec![value_object(
        "ShareLink",
        &[
            ("id", TypeRef::named_nn(TypeRef::ID)),
            ("itemId", TypeRef::named_nn(TypeRef::ID)),
            ("token", TypeRef::named_nn(TypeRef::STRING)),
            ("expiresAt", TypeRef::named_nn("DateTime")),
        ],
    )]
}

pub fn queries() -> Vec<Field> {
    vec![shared()]
}

pub fn mutations() -> Vec<Field> {
    vec![share_item(), unshare_item()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_under_its_own_key() {
        let item = ItemRef {
            kind: Kind::Server,
            id: Uuid::now_v7(),
        };
        let link = Uuid::now_v7();
        let expires = Utc::now() + Duration::hours(1);
        let token = sign(b"link key", item, link, expires);
        let (opened, opened_link, exp) = open_link(b"link key", &token).unwrap();
        assert_eq!((opened, opened_link, exp), (item, link, expires.timestamp()));
        assert!(open_link(b"other key", &token).is_err());
        let expired = sign(b"link key", item, link, Utc::now() - Duration::seconds(5));
        assert!(open_link(b"link key", &expired).is_err());
    }
}
