//! Teams: people grouped under a name, each with a role (read, write or admin) that caps
//! what the team's grants give them. The creator is the first admin; only admins manage
//! members; a team always keeps at least one admin. Every membership change is logged.
//!
//! People join by invitation to their e-mail address, which they accept once signed in:
//! an admin learns nothing about whether an address has an account, and nobody is made a
//! member without saying yes.

use chrono::{DateTime, Utc};
use domain::Level;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::error::Doing;
use crate::{Email, Identity, IdentityError, TeamName, User};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An invitation to a team, waiting for the holder of its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub team_id: Uuid,
    pub team_name: String,
    pub email: String,
    pub role: Level,
    pub invited_at: DateTime<Utc>,
}

/// An invitation: team id and name, e-mail, role, invited.
type InvitationRow = (Uuid, String, String, String, DateTime<Utc>);

impl From<InvitationRow> for Invitation {
    fn from((team_id, team_name, email, held, invited_at): InvitationRow) -> Invitation {
        Invitation {
            team_id,
            team_name,
            email,
            role: role(&held),
            invited_at,
        }
    }
}

fn no_invitation(team: Uuid) -> IdentityError {
    IdentityError::NotFound(format!("you have no invitation to team {team}"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub role: Level,
    pub added_at: DateTime<Utc>,
}

type TeamRow = (Uuid, String, DateTime<Utc>, DateTime<Utc>);
/// A team with someone's role in it.
type TeamRoleRow = (Uuid, String, DateTime<Utc>, DateTime<Utc>, String);
/// A member: user id, e-mail, name, signed up, role, added.
type MemberRow = (Uuid, String, String, DateTime<Utc>, String, DateTime<Utc>);

fn team((id, name, created_at, updated_at): TeamRow) -> Team {
    Team {
        id,
        name,
        created_at,
        updated_at,
    }
}

fn member_of((id, email, name, created_at, held, added_at): MemberRow) -> Member {
    Member {
        user: User {
            id,
            email,
            name,
            created_at,
        },
        role: role(&held),
        added_at,
    }
}

fn role(text: &str) -> Level {
    // The table's CHECK allows only the three names.
    Level::parse(text).unwrap_or(Level::Read)
}

/// Locks the team for a membership change and returns the actor's role in it. A team the
/// actor is not a member of is reported as missing, so that ids cannot be probed.
async fn lock(tx: &mut PgConnection, team: Uuid, actor: Uuid) -> Result<Level, IdentityError> {
    let found: Option<(Uuid, Option<String>)> = sqlx::query_as(
        "SELECT t.id, m.role FROM teams t LEFT JOIN team_members m ON m.team_id = t.id AND m.user_id = $2
          WHERE t.id = $1 FOR UPDATE OF t",
    )
    .bind(team)
    .bind(actor)
    .fetch_optional(&mut *tx)
    .await
    .doing("locking a team")?;
    match found {
        Some((_, Some(held))) => Ok(role(&held)),
        _ => Err(IdentityError::no_team(team)),
    }
}

fn admins_only(team: Uuid, held: Level, what: &str) -> Result<(), IdentityError> {
    if held < Level::Admin {
        return Err(IdentityError::Forbidden(format!(
            "only admins of team {team} may {what}; your role in it is {}",
            held.as_str()
        )));
    }
    Ok(())
}

/// Refuses a change that would leave the team without an admin.
async fn keep_an_admin(tx: &mut PgConnection, team: Uuid, losing: Uuid) -> Result<(), IdentityError> {
    let other_admins: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM team_members WHERE team_id = $1 AND role = 'admin' AND user_id <> $2",
    )
    .bind(team)
    .bind(losing)
    .fetch_one(&mut *tx)
    .await
    .doing("counting a team's admins")?;
    if other_admins == 0 {
        return Err(IdentityError::Conflict(format!(
            "user {losing} is the last admin of team {team}; make another member admin first"
        )));
    }
    Ok(())
}

impl Identity {
    async fn begin(&self) -> Result<Transaction<'static, Postgres>, IdentityError> {
        self.pool.begin().await.doing("starting a transaction")
    }

    /// Creates a team with `actor` as its admin.
    pub async fn create_team(&self, actor: Uuid, name: &str) -> Result<Team, IdentityError> {
        let name = TeamName::parse(name)?;
        let id = Uuid::now_v7();
        let mut tx = self.begin().await?;
        let created = sqlx::query_as::<_, TeamRow>(
            "INSERT INTO teams (id, name, created_by) VALUES ($1, $2, $3) RETURNING id, name, created_at, updated_at",
        )
        .bind(id)
        .bind(name.as_str())
        .bind(actor)
        .fetch_one(&mut *tx)
        .await
        .doing("creating a team")?;
        sqlx::query("INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, 'admin')")
            .bind(id)
            .bind(actor)
            .execute(&mut *tx)
            .await
            .doing("adding a team's first admin")?;
        tx.commit().await.doing("creating a team")?;
        tracing::info!(team = %id, member = %actor, role = "admin", by = %actor, "team created");
        Ok(team(created))
    }

    pub async fn rename_team(&self, actor: Uuid, team_id: Uuid, name: &str) -> Result<Team, IdentityError> {
        let name = TeamName::parse(name)?;
        let mut tx = self.begin().await?;
        admins_only(team_id, lock(&mut tx, team_id, actor).await?, "rename it")?;
        let renamed = sqlx::query_as::<_, TeamRow>(
            "UPDATE teams SET name = $2, updated_at = now() WHERE id = $1 RETURNING id, name, created_at, updated_at",
        )
        .bind(team_id)
        .bind(name.as_str())
        .fetch_one(&mut *tx)
        .await
        .doing("renaming a team")?;
        tx.commit().await.doing("renaming a team")?;
        tracing::info!(team = %team_id, by = %actor, "team renamed");
        Ok(team(renamed))
    }

    /// Invites the holder of an e-mail address to the team with `role` (admins only), or
    /// changes the role of a pending invitation. The answer is the same whether the
    /// address has an account or not; the person becomes a member when they accept.
    pub async fn invite_team_member(
        &self,
        actor: Uuid,
        team_id: Uuid,
        email: &str,
        role: Level,
    ) -> Result<Invitation, IdentityError> {
        let email = Email::parse(email)?;
        let mut tx = self.begin().await?;
        admins_only(team_id, lock(&mut tx, team_id, actor).await?, "invite members")?;
        let member: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM team_members m JOIN users u ON u.id = m.user_id
                             WHERE m.team_id = $1 AND u.email = $2)",
        )
        .bind(team_id)
        .bind(email.as_str())
        .fetch_one(&mut *tx)
        .await
        .doing("reading a membership")?;
        if member {
            // Admins see their members' addresses already: this tells them nothing new.
            return Err(IdentityError::Conflict(format!(
                "{email} is already a member of team {team_id}; change their role with setTeamMemberRole"
            )));
        }
        let invitation: InvitationRow = sqlx::query_as(
            "WITH invited AS (
                 INSERT INTO team_invitations (team_id, email, role, invited_by) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (team_id, email) DO UPDATE SET role = EXCLUDED.role, invited_by = EXCLUDED.invited_by
                 RETURNING team_id, email, role, invited_at
             )
             SELECT invited.team_id, t.name, invited.email, invited.role, invited.invited_at
               FROM invited JOIN teams t ON t.id = invited.team_id",
        )
        .bind(team_id)
        .bind(email.as_str())
        .bind(role.as_str())
        .bind(actor)
        .fetch_one(&mut *tx)
        .await
        .doing("inviting a team member")?;
        tx.commit().await.doing("inviting a team member")?;
        tracing::info!(team = %team_id, role = role.as_str(), by = %actor, "team member invited");
        Ok(invitation.into())
    }

    /// Changes a member's role (admins only). The last admin cannot lose the role.
    pub async fn set_team_member_role(
        &self,
        actor: Uuid,
        team_id: Uuid,
        member: Uuid,
        role: Level,
    ) -> Result<Member, IdentityError> {
        let mut tx = self.begin().await?;
        admins_only(
            team_id,
            lock(&mut tx, team_id, actor).await?,
            "change members' roles",
        )?;
        let previous: Option<String> =
            sqlx::query_scalar("SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2")
                .bind(team_id)
                .bind(member)
                .fetch_optional(&mut *tx)
                .await
                .doing("reading a membership")?;
        let Some(previous) = previous else {
            return Err(IdentityError::NotFound(format!(
                "user {member} is not a member of team {team_id}; invite them with inviteTeamMember"
            )));
        };
        if previous == "admin" && role < Level::Admin {
            keep_an_admin(&mut tx, team_id, member).await?;
        }
        let row: MemberRow = sqlx::query_as(
            "WITH changed AS (
                 UPDATE team_members SET role = $3 WHERE team_id = $1 AND user_id = $2
                 RETURNING user_id, role, added_at
             )
             SELECT u.id, u.email, u.name, u.created_at, changed.role, changed.added_at
               FROM changed JOIN users u ON u.id = changed.user_id",
        )
        .bind(team_id)
        .bind(member)
        .bind(role.as_str())
        .fetch_one(&mut *tx)
        .await
        .doing("changing a member's role")?;
        tx.commit().await.doing("changing a member's role")?;
        tracing::info!(team = %team_id, member = %member, from = previous, role = role.as_str(), by = %actor, "team member's role changed");
        Ok(member_of(row))
    }

    /// Withdraws an invitation (admins only).
    pub async fn cancel_team_invitation(
        &self,
        actor: Uuid,
        team_id: Uuid,
        email: &str,
    ) -> Result<(), IdentityError> {
        let email = Email::parse(email)?;
        let mut tx = self.begin().await?;
        admins_only(
            team_id,
            lock(&mut tx, team_id, actor).await?,
            "withdraw invitations",
        )?;
        let withdrawn = sqlx::query("DELETE FROM team_invitations WHERE team_id = $1 AND email = $2")
            .bind(team_id)
            .bind(email.as_str())
            .execute(&mut *tx)
            .await
            .doing("withdrawing an invitation")?;
        if withdrawn.rows_affected() == 0 {
            return Err(IdentityError::NotFound(format!(
                "team {team_id} has no invitation for {email}"
            )));
        }
        tx.commit().await.doing("withdrawing an invitation")
    }

    /// The team's pending invitations, newest first.
    pub async fn team_invitations(&self, team_id: Uuid) -> Result<Vec<Invitation>, IdentityError> {
        let rows: Vec<InvitationRow> = sqlx::query_as(
            "SELECT i.team_id, t.name, i.email, i.role, i.invited_at
               FROM team_invitations i JOIN teams t ON t.id = i.team_id
              WHERE i.team_id = $1 ORDER BY i.invited_at DESC, i.email",
        )
        .bind(team_id)
        .fetch_all(&self.pool)
        .await
        .doing("listing a team's invitations")?;
        Ok(rows.into_iter().map(Invitation::from).collect())
    }

    /// The invitations waiting for `user`'s e-mail address, newest first.
    pub async fn invitations_for(&self, user: Uuid) -> Result<Vec<Invitation>, IdentityError> {
        let rows: Vec<InvitationRow> = sqlx::query_as(
            "SELECT i.team_id, t.name, i.email, i.role, i.invited_at
               FROM team_invitations i JOIN teams t ON t.id = i.team_id JOIN users u ON u.email = i.email
              WHERE u.id = $1 ORDER BY i.invited_at DESC",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .doing("listing invitations")?;
        Ok(rows.into_iter().map(Invitation::from).collect())
    }

    /// Accepts the invitation of `user`'s address to the team: they become a member with
    /// the invited role. Answers the team with that role.
    pub async fn accept_team_invitation(
        &self,
        user: Uuid,
        team_id: Uuid,
    ) -> Result<(Team, Level), IdentityError> {
        let mut tx = self.begin().await?;
        let role: Option<String> = sqlx::query_scalar(
            "DELETE FROM team_invitations i USING users u
              WHERE i.team_id = $1 AND u.id = $2 AND i.email = u.email RETURNING i.role",
        )
        .bind(team_id)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await
        .doing("accepting an invitation")?;
        let Some(role) = role else {
            return Err(no_invitation(team_id));
        };
        sqlx::query(
            "INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, $3)
             ON CONFLICT (team_id, user_id) DO NOTHING",
        )
        .bind(team_id)
        .bind(user)
        .bind(&role)
        .execute(&mut *tx)
        .await
        .doing("adding a team member")?;
        tx.commit().await.doing("accepting an invitation")?;
        tracing::info!(team = %team_id, member = %user, role, "team invitation accepted");
        self.team(user, team_id).await
    }

    /// Declines the invitation of `user`'s address to the team.
    pub async fn decline_team_invitation(&self, user: Uuid, team_id: Uuid) -> Result<(), IdentityError> {
        let declined = sqlx::query(
            "DELETE FROM team_invitations i USING users u WHERE i.team_id = $1 AND u.id = $2 AND i.email = u.email",
        )
        .bind(team_id)
        .bind(user)
        .execute(&self.pool)
        .await
        .doing("declining an invitation")?;
        match declined.rows_affected() {
            0 => Err(no_invitation(team_id)),
            _ => Ok(()),
        }
    }

    /// Removes a member. Admins may remove anyone; anyone may leave. The last admin
    /// cannot go.
    pub async fn remove_team_member(
        &self,
        actor: Uuid,
        team_id: Uuid,
        member: Uuid,
    ) -> Result<(), IdentityError> {
        let mut tx = self.begin().await?;
        let held = lock(&mut tx, team_id, actor).await?;
        if member != actor {
            admins_only(team_id, held, "remove other members")?;
        }
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2")
                .bind(team_id)
                .bind(member)
                .fetch_optional(&mut *tx)
                .await
                .doing("reading a membership")?;
        let Some(role) = role else {
            return Err(IdentityError::NotFound(format!(
                "user {member} is not a member of team {team_id}"
            )));
        };
        if role == "admin" {
            keep_an_admin(&mut tx, team_id, member).await?;
        }
        sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(member)
            .execute(&mut *tx)
            .await
            .doing("removing a team member")?;
        tx.commit().await.doing("removing a team member")?;
        tracing::info!(team = %team_id, member = %member, role, by = %actor, "team member removed");
        Ok(())
    }

    /// The teams each of `users` belongs to, as (user, team) pairs, on the caller's
    /// connection: a projector judging what people may read inside its transaction.
    pub async fn memberships_in(
        conn: &mut PgConnection,
        users: &[Uuid],
    ) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
        sqlx::query_as("SELECT user_id, team_id FROM team_members WHERE user_id = ANY($1)")
            .bind(users)
            .fetch_all(conn)
            .await
    }

    /// The teams `user` belongs to, with their role in each, by name.
    pub async fn teams_of(&self, user: Uuid) -> Result<Vec<(Team, Level)>, IdentityError> {
        let rows: Vec<TeamRoleRow> = sqlx::query_as(
            "SELECT t.id, t.name, t.created_at, t.updated_at, m.role
               FROM team_members m JOIN teams t ON t.id = m.team_id
              WHERE m.user_id = $1 ORDER BY lower(t.name), t.id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .doing("listing teams")?;
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at, updated_at, held)| {
                (team((id, name, created_at, updated_at)), role(&held))
            })
            .collect())
    }

    /// A team `user` belongs to, with their role; any other is reported as missing.
    pub async fn team(&self, user: Uuid, team_id: Uuid) -> Result<(Team, Level), IdentityError> {
        let row: Option<TeamRoleRow> = sqlx::query_as(
            "SELECT t.id, t.name, t.created_at, t.updated_at, m.role
               FROM teams t JOIN team_members m ON m.team_id = t.id AND m.user_id = $2
              WHERE t.id = $1",
        )
        .bind(team_id)
        .bind(user)
        .fetch_optional(&self.pool)
        .await
        .doing("reading a team")?;
        row.map(|(id, name, created_at, updated_at, held)| {
            (team((id, name, created_at, updated_at)), role(&held))
        })
        .ok_or_else(|| IdentityError::no_team(team_id))
    }

    /// A team's members, admins first, then by e-mail address.
    pub async fn team_members(&self, team_id: Uuid) -> Result<Vec<Member>, IdentityError> {
        let rows: Vec<MemberRow> = sqlx::query_as(
            "SELECT u.id, u.email, u.name, u.created_at, m.role, m.added_at
               FROM team_members m JOIN users u ON u.id = m.user_id
              WHERE m.team_id = $1
              ORDER BY CASE m.role WHEN 'admin' THEN 0 WHEN 'write' THEN 1 ELSE 2 END, u.email",
        )
        .bind(team_id)
        .fetch_all(&self.pool)
        .await
        .doing("listing a team's members")?;
        Ok(rows.into_iter().map(member_of).collect())
    }
}
