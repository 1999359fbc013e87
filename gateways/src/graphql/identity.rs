//! People and teams in GraphQL: sign-up, log-in, profile and passwords, password resets,
//! teams and their members. The resolvers hand everything to the `identity` crate; this
//! file only maps arguments in and answers out. A password, hash or reset token never
//! appears in an answer; the only secret an answer holds is the session token that
//! `signUp`, `logIn`, `changePassword` and `resetPassword` exist to give.

use std::any::Any;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, TypeRef};
use async_graphql::{Name, Value};
use domain::{Level, Viewer};
use identity::{Identity, Invitation, Member, Session, Team, User};
use uuid::Uuid;

use super::access::{level_argument, viewer};
use crate::errors::{bad_input, identity_error};
use crate::ClientAddress;

/// The person's own account, as `me` and sessions show it.
struct Me {
    user: User,
    acting_as: Option<Uuid>,
}

/// A team as one of its members sees it, with that member's role.
struct TeamView {
    team: Team,
    role: Level,
}

/// The enum of `domain::Level` (READ, WRITE, ADMIN), registered with the shared types.
const LEVEL: &str = "AccessLevel";

fn level_value(level: Level) -> Value {
    Value::Enum(Name::new(level.as_str().to_ascii_uppercase()))
}

fn identity<'a>(ctx: &ResolverContext<'a>) -> async_graphql::Result<&'a Identity> {
    ctx.data::<Identity>()
}

/// The signed-in person, or UNAUTHENTICATED.
fn text<'a>(ctx: &'a ResolverContext<'_>, name: &str) -> async_graphql::Result<&'a str> {
    ctx.args.try_get(name)?.string()
}

fn optional_text<'a>(ctx: &'a ResolverContext<'_>, name: &str) -> async_graphql::Result<Option<&'a str>> {
    match ctx.args.get(name) {
        Some(value) if !value.is_null() => Ok(Some(value.string()?)),
        _ => Ok(None),
    }
}

fn uuid_argument(ctx: &ResolverContext<'_>, name: &str, what: &str) -> async_graphql::Result<Uuid> {
    let raw = text(ctx, name)?;
    Uuid::parse_str(raw.trim()).map_err(|_| bad_input(name, format!("`{raw}` is not {what} (a UUID)")))
}

fn time(at: chrono::DateTime<chrono::Utc>) -> Value {
    Value::String(at.to_rfc3339())
}

/// A field read from a parent of type `T`.
fn from_parent<T: Any + Send + Sync>(name: &str, type_ref: TypeRef, read: fn(&T) -> Value) -> Field {
    Field::new(name, type_ref, move |ctx| {
        FieldFuture::new(async move {
            let parent = ctx.parent_value.try_downcast_ref::<T>()?;
            Ok(Some(FieldValue::value(read(parent))))
        })
    })
}

fn team_value(team: Team, role: Level) -> FieldValue<'static> {
    FieldValue::owned_any(TeamView { team, role })
}

pub fn types() -> Vec<Object> {
    vec![
        Object::new("User")
            .description("A person, as the other members of their teams see them.")
            .field(from_parent::<User>("id", TypeRef::named_nn(TypeRef::ID), |u| Value::String(u.id.to_string())))
            .field(from_parent::<User>("email", TypeRef::named_nn(TypeRef::STRING), |u| Value::String(u.email.clone())))
            .field(from_parent::<User>("name", TypeRef::named_nn(TypeRef::STRING), |u| Value::String(u.name.clone()))),
        Object::new("Me")
            .description("The signed-in person: their account, their teams and the team they act as.")
            .field(from_parent::<Me>("id", TypeRef::named_nn(TypeRef::ID), |me| Value::String(me.user.id.to_string())))
            .field(from_parent::<Me>("email", TypeRef::named_nn(TypeRef::STRING), |me| Value::String(me.user.email.clone())))
            .field(from_parent::<Me>("name", TypeRef::named_nn(TypeRef::STRING), |me| Value::String(me.user.name.clone())))
            .field(from_parent::<Me>("createdAt", TypeRef::named_nn("DateTime"), |me| time(me.user.created_at)))
            .field(
                Field::new("teams", TypeRef::named_nn_list_nn("Team"), |ctx| {
                    FieldFuture::new(async move {
                        let me = ctx.parent_value.try_downcast_ref::<Me>()?;
                        let teams = identity(&ctx)?.teams_of(me.user.id).await.map_err(identity_error)?;
                        Ok(Some(FieldValue::list(
                            teams.into_iter().map(|(team, role)| team_value(team, role)),
                        )))
                    })
                })
                .description("The teams the person belongs to, each with their role in it (`myRole`)."),
            )
            .field(
                Field::new("actingAs", TypeRef::named("Team"), |ctx| {
                    FieldFuture::new(async move {
                        let me = ctx.parent_value.try_downcast_ref::<Me>()?;
                        let Some(team) = me.acting_as else {
                            return Ok(None);
                        };
                        let (team, role) = identity(&ctx)?.team(me.user.id, team).await.map_err(identity_error)?;
                        Ok(Some(team_value(team, role)))
                    })
                })
                .description("The team this request acts as (header `X-Maestro-Team`), if any."),
            )
            .field(
                Field::new("teamInvitations", TypeRef::named_nn_list_nn("TeamInvitation"), |ctx| {
                    FieldFuture::new(async move {
                        let me = ctx.parent_value.try_downcast_ref::<Me>()?;
                        let invitations = identity(&ctx)?.invitations_for(me.user.id).await.map_err(identity_error)?;
                        Ok(Some(FieldValue::list(invitations.into_iter().map(FieldValue::owned_any))))
                    })
                })
                .description("Invitations to teams waiting for your e-mail address: accept or decline them."),
            ),
        Object::new("Team")
            .description("People grouped under a name. A member's role caps what the team's grants give them.")
            .field(from_parent::<TeamView>("id", TypeRef::named_nn(TypeRef::ID), |t| Value::String(t.team.id.to_string())))
            .field(from_parent::<TeamView>("name", TypeRef::named_nn(TypeRef::STRING), |t| Value::String(t.team.name.clone())))
            .field(from_parent::<TeamView>("createdAt", TypeRef::named_nn("DateTime"), |t| time(t.team.created_at)))
            .field(from_parent::<TeamView>("updatedAt", TypeRef::named_nn("DateTime"), |t| time(t.team.updated_at)))
            .field(
                from_parent::<TeamView>("myRole", TypeRef::named_nn(LEVEL), |t| level_value(t.role))
                    .description("The signed-in person's role in the team."),
            )
            .field(
                Field::new("members", TypeRef::named_nn_list_nn("TeamMember"), |ctx| {
                    FieldFuture::new(async move {
                        let team = ctx.parent_value.try_downcast_ref::<TeamView>()?;
                        let members = identity(&ctx)?.team_members(team.team.id).await.map_err(identity_error)?;
                        Ok(Some(FieldValue::list(members.into_iter().map(FieldValue::owned_any))))
                    })
                })
                .description("Admins first, then writers, then readers; by e-mail address within each."),
            )
            .field(
                Field::new("invitations", TypeRef::named_nn_list_nn("TeamInvitation"), |ctx| {
                    FieldFuture::new(async move {
                        let team = ctx.parent_value.try_downcast_ref::<TeamView>()?;
                        let invitations = identity(&ctx)?.team_invitations(team.team.id).await.map_err(identity_error)?;
                        Ok(Some(FieldValue::list(invitations.into_iter().map(FieldValue::owned_any))))
                    })
                })
                .description("Invitations not yet accepted, newest first."),
            ),
        Object::new("TeamInvitation")
            .description("An invitation to a team, for whoever holds the address; they join when they accept it.")
            .field(from_parent::<Invitation>("teamId", TypeRef::named_nn(TypeRef::ID), |i| Value::String(i.team_id.to_string())))
            .field(from_parent::<Invitation>("teamName", TypeRef::named_nn(TypeRef::STRING), |i| Value::String(i.team_name.clone())))
            .field(from_parent::<Invitation>("email", TypeRef::named_nn(TypeRef::STRING), |i| Value::String(i.email.clone())))
            .field(from_parent::<Invitation>("role", TypeRef::named_nn(LEVEL), |i| level_value(i.role)))
            .field(from_parent::<Invitation>("invitedAt", TypeRef::named_nn("DateTime"), |i| time(i.invited_at))),
        Object::new("TeamMember")
            .field(Field::new("user", TypeRef::named_nn("User"), |ctx| {
                FieldFuture::new(async move {
                    let member = ctx.parent_value.try_downcast_ref::<Member>()?;
                    Ok(Some(FieldValue::owned_any(member.user.clone())))
                })
            }))
            .field(from_parent::<Member>("role", TypeRef::named_nn(LEVEL), |m| level_value(m.role)))
            .field(from_parent::<Member>("addedAt", TypeRef::named_nn("DateTime"), |m| time(m.added_at))),
        Object::new("Session")
            .description("A signed-in session. Send the token as `Authorization: Bearer <token>` (over WebSocket: `{\"Authorization\": \"Bearer <token>\"}` in `connection_init`).")
            .field(from_parent::<Session>("token", TypeRef::named_nn(TypeRef::STRING), |s| Value::String(s.token.clone())))
            .field(from_parent::<Session>("expiresAt", TypeRef::named_nn("DateTime"), |s| time(s.expires_at)))
            .field(Field::new("me", TypeRef::named_nn("Me"), |ctx| {
                FieldFuture::new(async move {
                    let session = ctx.parent_value.try_downcast_ref::<Session>()?;
                    Ok(Some(FieldValue::owned_any(Me {
                        user: session.user.clone(),
                        acting_as: None,
                    })))
                })
            })),
    ]
}

pub fn queries() -> Vec<Field> {
    vec![
        Field::new("me", TypeRef::named("Me"), |ctx| {
            FieldFuture::new(async move {
                let Some(viewer) = ctx.data_opt::<Viewer>() else {
                    return Ok(None);
                };
                let user = identity(&ctx)?.user(viewer.user).await.map_err(identity_error)?;
                Ok(Some(FieldValue::owned_any(Me {
                    user,
                    acting_as: viewer.acting_as,
                })))
            })
        })
        .description("The signed-in person; null without a session."),
        Field::new("teams", TypeRef::named_nn_list_nn("Team"), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let teams = identity(&ctx)?
                    .teams_of(viewer.user)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(FieldValue::list(
                    teams.into_iter().map(|(team, role)| team_value(team, role)),
                )))
            })
        })
        .description("The teams the signed-in person belongs to, by name."),
        Field::new("team", TypeRef::named("Team"), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let id = uuid_argument(&ctx, "id", "a team id")?;
                match identity(&ctx)?.team(viewer.user, id).await {
                    Ok((team, role)) => Ok(Some(team_value(team, role))),
                    Err(identity::IdentityError::NotFound(_)) => Ok(None),
                    Err(error) => Err(identity_error(error)),
                }
            })
        })
        .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
        .description("A team the signed-in person belongs to; null for any other."),
    ]
}

fn session_value(session: Session) -> FieldValue<'static> {
    FieldValue::owned_any(session)
}

fn string_arg(name: &str) -> InputValue {
    InputValue::new(name, TypeRef::named_nn(TypeRef::STRING))
}

fn optional_string_arg(name: &str) -> InputValue {
    InputValue::new(name, TypeRef::named(TypeRef::STRING))
}

pub fn mutations() -> Vec<Field> {
    vec![
        Field::new("signUp", TypeRef::named_nn("Session"), |ctx| {
            FieldFuture::new(async move {
                let client = ctx.data_opt::<ClientAddress>().map(|address| address.0);
                let session = identity(&ctx)?
                    .sign_up(
                        text(&ctx, "email")?,
                        text(&ctx, "password")?,
                        optional_text(&ctx, "name")?,
                        client,
                    )
                    .await
                    .map_err(identity_error)?;
                Ok(Some(session_value(session)))
            })
        })
        .argument(string_arg("email"))
        .argument(string_arg("password").description(format!(
            "At least {} characters.",
            identity::MIN_PASSWORD_CHARS
        )))
        .argument(optional_string_arg("name"))
        .description("Creates an account and signs it in, where sign-ups are open (MAESTRO_SIGN_UP=open); where they are verified, answers FORBIDDEN: use `requestSignUp`. Sign-ups per client are limited (10 an hour unless configured otherwise); past the limit, answers TOO_MANY_REQUESTS with `retryAfter` (seconds)."),
        Field::new("requestSignUp", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
            FieldFuture::new(async move {
                let client = ctx.data_opt::<ClientAddress>().map(|address| address.0);
                identity(&ctx)?
                    .request_sign_up(
                        text(&ctx, "email")?,
                        text(&ctx, "password")?,
                        optional_text(&ctx, "name")?,
                        client,
                    )
                    .await
                    .map_err(identity_error)?;
                Ok(Some(FieldValue::value(true)))
            })
        })
        .argument(string_arg("email"))
        .argument(string_arg("password"))
        .argument(optional_string_arg("name"))
        .description("Mails a link that makes the account (good once, for a day), or, to an address that has an account, a note saying so. Always answers true: the answer does not tell which. Counts against the client's sign-up limit."),
        Field::new("confirmSignUp", TypeRef::named_nn("Session"), |ctx| {
            FieldFuture::new(async move {
                let session = identity(&ctx)?
                    .confirm_sign_up(text(&ctx, "token")?)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(session_value(session)))
            })
        })
        .argument(string_arg("token").description("The `token` of the link in the sign-up mail."))
        .description("Makes the account of a sign-up link and signs it in."),
        Field::new("logIn", TypeRef::named_nn("Session"), |ctx| {
            FieldFuture::new(async move {
                let client = ctx.data_opt::<ClientAddress>().map(|address| address.0);
                let session = identity(&ctx)?
                    .log_in(text(&ctx, "email")?, text(&ctx, "password")?, client)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(session_value(session)))
            })
        })
        .argument(string_arg("email"))
        .argument(string_arg("password"))
        .description("Signs in. After 5 failures in 15 minutes for one address or from one client, answers TOO_MANY_REQUESTS with `retryAfter` (seconds)."),
        Field::new("changePassword", TypeRef::named_nn("Session"), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                identity::require_session(viewer, "change the password").map_err(identity_error)?;
                let session = identity(&ctx)?
                    .change_password(viewer.user, text(&ctx, "currentPassword")?, text(&ctx, "newPassword")?)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(session_value(session)))
            })
        })
        .argument(string_arg("currentPassword"))
        .argument(string_arg("newPassword"))
        .description("Changes the password. Every earlier session ends; the answer is a new one."),
        Field::new("updateProfile", TypeRef::named_nn("Me"), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                identity::require_session(viewer, "change the profile").map_err(identity_error)?;
                let user = identity(&ctx)?
                    .update_profile(
                        viewer.user,
                        optional_text(&ctx, "name")?,
                        optional_text(&ctx, "email")?,
                        optional_text(&ctx, "currentPassword")?,
                    )
                    .await
                    .map_err(identity_error)?;
                Ok(Some(FieldValue::owned_any(Me {
                    user,
                    acting_as: viewer.acting_as,
                })))
            })
        })
        .argument(optional_string_arg("name"))
        .argument(optional_string_arg("email"))
        .argument(optional_string_arg("currentPassword").description("Needed to change the e-mail address."))
        .description("Changes the signed-in person's name and/or e-mail address."),
        Field::new("requestPasswordReset", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
            FieldFuture::new(async move {
                identity(&ctx)?
                    .request_password_reset(text(&ctx, "email")?)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(FieldValue::value(true)))
            })
        })
        .argument(string_arg("email"))
        .description("Mails a password reset link, good once for an hour, if the address has an account. Always answers true: the answer does not tell whether it has one."),
        Field::new("resetPassword", TypeRef::named_nn("Session"), |ctx| {
            FieldFuture::new(async move {
                let session = identity(&ctx)?
                    .reset_password(text(&ctx, "token")?, text(&ctx, "newPassword")?)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(session_value(session)))
            })
        })
        .argument(string_arg("token").description("The token of the reset link (after `#token=`)."))
        .argument(string_arg("newPassword"))
        .description("Sets a new password with a reset link's token, and signs in. Every earlier session ends."),
        Field::new("createTeam", TypeRef::named_nn("Team"), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let team = identity(&ctx)?
                    .create_team(viewer.user, text(&ctx, "name")?)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(team_value(team, Level::Admin)))
            })
        })
        .argument(string_arg("name"))
        .description("Creates a team with the signed-in person as its admin."),
        Field::new("renameTeam", TypeRef::named_nn("Team"), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let id = uuid_argument(&ctx, "id", "a team id")?;
                let team = identity(&ctx)?
                    .rename_team(viewer.user, id, text(&ctx, "name")?)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(team_value(team, Level::Admin)))
            })
        })
        .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
        .argument(string_arg("name"))
        .description("Renames a team (its admins only)."),
        Field::new("inviteTeamMember", TypeRef::named_nn("TeamInvitation"), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let team = uuid_argument(&ctx, "teamId", "a team id")?;
                let role = level_argument(&ctx, "role")?;
                let invitation = identity(&ctx)?
                    .invite_team_member(viewer.user, team, text(&ctx, "email")?, role)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(FieldValue::owned_any(invitation)))
            })
        })
        .argument(InputValue::new("teamId", TypeRef::named_nn(TypeRef::ID)))
        .argument(string_arg("email"))
        .argument(InputValue::new("role", TypeRef::named_nn(LEVEL)))
        .description("Invites whoever holds an e-mail address to a team with a role (the team's admins only); they join when they accept. Answers the same whether the address has an account or not; inviting again changes the role."),
        Field::new("setTeamMemberRole", TypeRef::named_nn("TeamMember"), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let team = uuid_argument(&ctx, "teamId", "a team id")?;
                let user = uuid_argument(&ctx, "userId", "a user id")?;
                let role = level_argument(&ctx, "role")?;
                let member = identity(&ctx)?
                    .set_team_member_role(viewer.user, team, user, role)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(FieldValue::owned_any(member)))
            })
        })
        .argument(InputValue::new("teamId", TypeRef::named_nn(TypeRef::ID)))
        .argument(InputValue::new("userId", TypeRef::named_nn(TypeRef::ID)))
        .argument(InputValue::new("role", TypeRef::named_nn(LEVEL)))
        .description("Changes a member's role (the team's admins only). The last admin cannot lose the role."),
        Field::new("cancelTeamInvitation", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let team = uuid_argument(&ctx, "teamId", "a team id")?;
                identity(&ctx)?
                    .cancel_team_invitation(viewer.user, team, text(&ctx, "email")?)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(FieldValue::value(true)))
            })
        })
        .argument(InputValue::new("teamId", TypeRef::named_nn(TypeRef::ID)))
        .argument(string_arg("email"))
        .description("Withdraws an invitation (the team's admins only)."),
        Field::new("acceptTeamInvitation", TypeRef::named_nn("Team"), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                identity::require_session(viewer, "join a team").map_err(identity_error)?;
                let team = uuid_argument(&ctx, "teamId", "a team id")?;
                let (team, role) = identity(&ctx)?
                    .accept_team_invitation(viewer.user, team)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(team_value(team, role)))
            })
        })
        .argument(InputValue::new("teamId", TypeRef::named_nn(TypeRef::ID)))
        .description("Joins a team you were invited to, with the invited role."),
        Field::new("declineTeamInvitation", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                identity::require_session(viewer, "decline an invitation").map_err(identity_error)?;
                let team = uuid_argument(&ctx, "teamId", "a team id")?;
                identity(&ctx)?
                    .decline_team_invitation(viewer.user, team)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(FieldValue::value(true)))
            })
        })
        .argument(InputValue::new("teamId", TypeRef::named_nn(TypeRef::ID)))
        .description("Declines an invitation to a team."),
        Field::new("removeTeamMember", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
            FieldFuture::new(async move {
                let viewer = viewer(&ctx)?;
                let team = uuid_argument(&ctx, "teamId", "a team id")?;
                let user = uuid_argument(&ctx, "userId", "a user id")?;
                identity(&ctx)?
                    .remove_team_member(viewer.user, team, user)
                    .await
                    .map_err(identity_error)?;
                Ok(Some(FieldValue::value(true)))
            })
        })
        .argument(InputValue::new("teamId", TypeRef::named_nn(TypeRef::ID)))
        .argument(InputValue::new("userId", TypeRef::named_nn(TypeRef::ID)))
        .description("Removes a member (the team's admins; anyone may remove themselves). The last admin cannot be removed."),
    ]
}
