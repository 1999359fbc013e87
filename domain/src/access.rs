//! Who may do what to an item. Each item grants levels to principals (users or teams, both
//! named by a UUID); a person acts with their own grants and with those of their teams,
//! each team's capped by the role the person has in it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Command, DomainError, Event, Guard, Item, Lifecycle};

/// A level of access. Each includes the ones below it: admin may write, write may read.
/// The numbers are those of the original Maestro (1, 3, 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Read,
    Write,
    Admin,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Read, Level::Write, Level::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
            Level::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Level, DomainError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "read" | "1" => Ok(Level::Read),
            "write" | "3" => Ok(Level::Write),
            "admin" | "7" => Ok(Level::Admin),
            other => Err(DomainError::invalid(
                "level",
                format!("`{other}` is not a level; use read, write or admin"),
            )),
        }
    }
}

/// The grants of one item: principal (user or team id) → level.
pub type Acl = BTreeMap<Uuid, Level>;

/// A person's membership of a team, with the role that caps what the team's grants give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub team: Uuid,
    pub role: Level,
}

/// A signed-in person as the access rules see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user: Uuid,
    pub memberships: Vec<Membership>,
    /// The team the person acts as, if any: new items are then owned by that team. Only a
    /// member with at least write in it may act as a team.
    pub acting_as: Option<Uuid>,
    /// The API token the person acts through, when a program acts for them instead of a
    /// session: what only a person at the keyboard may do (make tokens, change the
    /// password) is refused to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<Uuid>,
    /// A read-only API token: it reads what the person may read and changes nothing.
    #[serde(default)]
    pub read_only: bool,
}

impl Viewer {
    pub fn user(user: Uuid) -> Viewer {
        Viewer {
            user,
            memberships: vec![],
            acting_as: None,
            api_token: None,
            read_only: false,
        }
    }

    /// The principals whose grants of at least `level` give this person `level`: the
    /// person, and each team in which their role reaches `level`. Read models store, per
    /// level, the principals holding it, so "may read" is one array overlap in SQL.
    pub fn principals(&self, level: Level) -> Vec<Uuid> {
        std::iter::once(self.user)
            .chain(
                self.memberships
                    .iter()
                    .filter(|membership| membership.role >= level)
                    .map(|membership| membership.team),
            )
            .collect()
    }

    /// Who owns what this person creates.
    pub fn owner(&self) -> Uuid {
        self.acting_as.unwrap_or(self.user)
    }

    /// The highest level the grants give this person.
    pub fn level_in(&self, acl: &Acl) -> Option<Level> {
        Level::ALL
            .into_iter()
            .rev()
            .find(|level| self.principals(*level).iter().any(|p| acl.get(p) >= Some(level)))
    }
}

/// On whose behalf a command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Maestro itself: crawlers, the scheduler, the command line on the server.
    Unrestricted,
    /// A signed-in person, bound by the items' grants.
    Viewer(Viewer),
}

/// The principals holding at least `level` in `acl`: what read models store per level.
pub fn holders(acl: &Acl, level: Level) -> Vec<Uuid> {
    acl.iter()
        .filter(|(_, held)| **held >= level)
        .map(|(principal, _)| *principal)
        .collect()
}

/// The level a command needs on the item it changes; `None` when no grant can allow it.
fn needed(command: &Command) -> Option<Level> {
    match command {
        // Anyone signed in may create; the creator becomes admin.
        Command::Create(_) => Some(Level::Read),
        Command::Update(_)
        | Command::Link(_)
        | Command::Unlink { .. }
        | Command::Tag { .. }
        | Command::Untag { .. }
        | Command::Revert { .. } => Some(Level::Write),
        Command::Delete
        | Command::Restore
        | Command::Grant { .. }
        | Command::Revoke { .. }
        | Command::Share { .. }
        | Command::Unshare { .. } => Some(Level::Admin),
        // Only crawlers observe, only Maestro provisions.
        Command::Observe { .. } | Command::Orphan | Command::Provision { .. } => None,
    }
}

impl Item {
    /// Refuses a command the person may not give. An item the person cannot read is
    /// reported as not found, so that refusals do not reveal which ids exist.
    pub fn authorize(&self, command: &Command, access: &Access) -> Result<(), DomainError> {
        if *access == Access::Unrestricted {
            return Ok(());
        }
        if let Access::Viewer(Viewer { read_only: true, .. }) = access {
            return Err(DomainError::ReadOnly);
        }
        let Some(needed) = needed(command) else {
            return Err(DomainError::Forbidden {
                kind: self.kind,
                id: self.id,
                needed: "a crawler's rights".to_string(),
            });
        };
        if matches!(command, Command::Create(_)) {
            return self.authorize_create(access);
        }
        self.require(access, needed)
    }

    /// A person may create under an id of their choosing, but not under a crawler's
    /// (version 5, derived from a connection and a provider id: taking one would capture
    /// what the crawl later finds), nor reveal that an id they cannot read is taken.
    fn authorize_create(&self, access: &Access) -> Result<(), DomainError> {
        let Access::Viewer(viewer) = access else {
            return Ok(());
        };
        if self.id.get_version_num() == 5 {
            return Err(DomainError::unusable_id());
        }
        match self.lifecycle {
            Lifecycle::New => Ok(()),
            _ if viewer.level_in(&self.acl).is_none() => Err(DomainError::unusable_id()),
            _ => Ok(()),
        }
    }

    /// Refuses what the decided `events` do beyond what their command allowed: a revert
    /// that deletes or restores needs admin as delete and restore do, a field guarded for
    /// admins needs admin to change (its creator is admin already), and Maestro's own
    /// fields are never set by a person.
    pub(crate) fn authorize_effects(&self, events: &[Event], access: &Access) -> Result<(), DomainError> {
        if *access == Access::Unrestricted {
            return Ok(());
        }
        for event in events {
            let (fields, creating) = match event {
                Event::Deleted | Event::Restored => {
                    self.require(access, Level::Admin)?;
                    continue;
                }
                Event::Created { fields, .. } => (fields, true),
                Event::Updated { changes } => (changes, false),
                _ => continue,
            };
            for name in fields.keys() {
                match self.kind.field(name).map(|spec| spec.guard) {
                    Some(Guard::Maestro) => {
                        return Err(DomainError::invalid(
                            name,
                            "is kept by Maestro itself and cannot be set",
                        ))
                    }
                    Some(Guard::Admins) if !creating => self.require(access, Level::Admin)?,
                    Some(Guard::Admins | Guard::Writers) | None => {}
                }
            }
        }
        Ok(())
    }

    /// Refuses a person below `needed` on this item: not found when they cannot even read
    /// it, forbidden otherwise. For actions that are not commands (testing a connection).
    pub fn require(&self, access: &Access, needed: Level) -> Result<(), DomainError> {
        let Access::Viewer(viewer) = access else {
            return Ok(());
        };
        match viewer.level_in(&self.acl) {
            None => Err(DomainError::NotFound {
                kind: self.kind,
                id: self.id,
            }),
            Some(level) if level < needed => Err(DomainError::Forbidden {
                kind: self.kind,
                id: self.id,
                needed: needed.as_str().to_string(),
            }),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(role: Level) -> (Uuid, Membership) {
        let team = Uuid::now_v7();
        (team, Membership { team, role })
    }

    #[test]
    fn a_team_role_caps_what_the_teams_grants_give() {
        let (team, membership) = team(Level::Read);
        let viewer = Viewer {
            memberships: vec![membership],
            ..Viewer::user(Uuid::now_v7())
        };
        let acl = Acl::from([(team, Level::Admin)]);
        assert_eq!(viewer.level_in(&acl), Some(Level::Read));
        assert_eq!(viewer.principals(Level::Write), vec![viewer.user]);
    }

    #[test]
    fn own_grants_and_team_grants_add_up_to_the_highest() {
        let (team, membership) = team(Level::Admin);
        let viewer = Viewer {
            memberships: vec![membership],
            ..Viewer::user(Uuid::now_v7())
        };
        let acl = Acl::from([(viewer.user, Level::Read), (team, Level::Write)]);
        assert_eq!(viewer.level_in(&acl), Some(Level::Write));
        assert_eq!(viewer.level_in(&Acl::new()), None);
    }

    #[test]
    fn holders_include_higher_levels() {
        let (reader, writer, admin) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let acl = Acl::from([
            (reader, Level::Read),
            (writer, Level::Write),
            (admin, Level::Admin),
        ]);
        assert_eq!(holders(&acl, Level::Read).len(), 3);
        assert_eq!(holders(&acl, Level::Write).len(), 2);
        assert_eq!(holders(&acl, Level::Admin), vec![admin]);
    }

    #[test]
    fn levels_parse_from_names_and_the_original_numbers() {
        assert_eq!(Level::parse("WRITE"), Ok(Level::Write));
        assert_eq!(Level::parse("7"), Ok(Level::Admin));
        assert!(Level::parse("owner").is_err());
    }
}
