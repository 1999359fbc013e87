use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{DomainError, Family, Kind};

/// A typed link from one item (the source, on whose stream the link is recorded) to
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// server → application it runs.
    Hosts,
    /// application → application it calls, with a protocol.
    DependsOn,
    /// application → system it belongs to.
    PartOf,
    /// system → application where its dependency graph starts.
    Entry,
    /// system → client it serves.
    Serves,
    /// load balancer (an application of family Loadbalance) → server or application.
    Targets,
    /// volume → server it is attached to.
    AttachedTo,
    /// any item → datacenter it runs in.
    LocatedIn,
}

impl Relation {
    pub const ALL: [Relation; 8] = [
        Relation::Hosts,
        Relation::DependsOn,
        Relation::PartOf,
        Relation::Entry,
        Relation::Serves,
        Relation::Targets,
        Relation::AttachedTo,
        Relation::LocatedIn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Hosts => "hosts",
            Relation::DependsOn => "depends_on",
            Relation::PartOf => "part_of",
            Relation::Entry => "entry",
            Relation::Serves => "serves",
            Relation::Targets => "targets",
            Relation::AttachedTo => "attached_to",
            Relation::LocatedIn => "located_in",
        }
    }

    pub fn parse(raw: &str) -> Result<Relation, String> {
        Relation::ALL
            .into_iter()
            .find(|relation| relation.as_str() == raw)
            .ok_or_else(|| {
                let known: Vec<_> = Relation::ALL.iter().map(|r| r.as_str()).collect();
                format!("`{raw}` is not a relation; use one of: {}", known.join(", "))
            })
    }

    /// Whether this relation carries a protocol (only dependencies do).
    pub fn has_protocol(self) -> bool {
        self == Relation::DependsOn
    }

    /// The kinds an item linked by this relation may be of.
    pub fn sources(self) -> &'static [Kind] {
        use Kind::*;
        match self {
            Relation::Hosts => &[Server],
            Relation::DependsOn | Relation::PartOf | Relation::Targets => &[Application],
            Relation::Entry | Relation::Serves => &[System],
            Relation::AttachedTo => &[Volume],
            Relation::LocatedIn => &[
                Server,
                Application,
                System,
                Client,
                Volume,
                Snapshot,
                Image,
                Flavor,
                Network,
                Connection,
            ],
        }
    }

    /// The kinds an item may be linked to by this relation.
    pub fn targets(self) -> &'static [Kind] {
        use Kind::*;
        match self {
            Relation::Hosts | Relation::DependsOn | Relation::Entry => &[Application],
            Relation::PartOf => &[System],
            Relation::Serves => &[Client],
            Relation::Targets => &[Server, Application],
            Relation::AttachedTo => &[Server],
            Relation::LocatedIn => &[Datacenter],
        }
    }

    /// Checks that a `source` item (of family `source_family` when it is an application)
    /// may be linked to a `target` kind by this relation.
    pub fn check(self, source: Kind, source_family: Option<Family>, target: Kind) -> Result<(), DomainError> {
        let allowed = self.sources().contains(&source) && self.targets().contains(&target);
        let wrong_family = self == Relation::Targets && allowed && source_family != Some(Family::Loadbalance);
        if allowed && !wrong_family {
            return Ok(());
        }
        Err(DomainError::InvalidRelation {
            source_kind: source,
            relation: self,
            target_kind: target,
            hint: if wrong_family {
                " unless it is of family Loadbalance".to_string()
            } else {
                String::new()
            },
        })
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
