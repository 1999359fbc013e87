//! The inventory item aggregate: `handle` decides which events a command produces,
//! `apply` folds an event into state. Both are pure.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use uuid::Uuid;

use chrono::{DateTime, Utc};

use crate::access::{self, Acl, Level};
use crate::tags::{self, Tag, TagFields, TagSource};
use crate::{Access, DomainError, Event, Family, Fields, Guard, Kind, Protocol, Relation, TagKey};

/// A reference to another item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemRef {
    pub kind: Kind,
    pub id: Uuid,
}

/// A link to create. The target's kind must be its real kind: the command handler looks
/// it up before handing the command to the aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub relation: Relation,
    pub target: ItemRef,
    pub protocol: Option<Protocol>,
}

/// Where a crawler saw an item: the provider's own id, scoped by the connection, task and
/// region that saw it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    pub connection: Uuid,
    pub task: String,
    pub region: String,
    pub provider_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Create(Fields),
    /// Maestro creates an item on its own (a connection's discovery schedules), with the
    /// grants it decides, since no person is there to become its admin.
    Provision {
        fields: Fields,
        grants: Acl,
    },
    /// A partial update: only the given fields; `null` clears one.
    Update(Fields),
    Delete,
    Restore,
    Link(Link),
    Unlink {
        relation: Relation,
        target: ItemRef,
    },
    Tag {
        key: TagKey,
        value: String,
    },
    Untag {
        key: TagKey,
    },
    /// Brings the item back to an earlier state of its own, as new events: history is
    /// never rewritten.
    Revert {
        to: Box<Item>,
    },
    /// A crawler saw the item with these fields and tags: discovers it, restores it when
    /// it was orphaned, updates only the observed fields that changed, and brings the
    /// provider's tags up to date (a person's tags are left as they are).
    Observe {
        fields: Fields,
        tags: BTreeMap<TagKey, String>,
        provenance: Provenance,
        /// The grants a newly discovered item gets: its connection's ACL template.
        grants: Acl,
    },
    /// The crawl that discovered the item completed without seeing it.
    Orphan,
    /// Gives a user or team a level of access, replacing the one they had.
    Grant {
        principal: Uuid,
        level: Level,
    },
    /// Takes away what a user or team was granted.
    Revoke {
        principal: Uuid,
    },
    /// Opens a read-only public link to the item until `expires_at`.
    Share {
        link: Uuid,
        expires_at: DateTime<Utc>,
    },
    /// Closes a public link before it expires.
    Unshare {
        link: Uuid,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lifecycle {
    /// No event yet: the stream is empty.
    #[default]
    New,
    Active,
    /// Soft-deleted (or orphaned): kept with its history, restorable.
    Deleted,
}

/// The state of one item, rebuilt by applying its events in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: Kind,
    pub id: Uuid,
    /// The number of events applied; the stream version of the last one.
    pub version: i64,
    pub lifecycle: Lifecycle,
    pub fields: BTreeMap<String, Value>,
    pub tags: BTreeMap<TagKey, Tag>,
    pub links: BTreeMap<(Relation, ItemRef), Option<Protocol>>,
    /// Set when a crawler discovered the item.
    pub provenance: Option<Provenance>,
    /// Who may read, change and administer the item.
    pub acl: Acl,
    /// Open public links: link id → expiry.
    pub shares: BTreeMap<Uuid, DateTime<Utc>>,
}

impl Item {
    pub fn new(kind: Kind, id: Uuid) -> Item {
        Item {
            kind,
            id,
            version: 0,
            lifecycle: Lifecycle::New,
            fields: BTreeMap::new(),
            tags: BTreeMap::new(),
            links: BTreeMap::new(),
            provenance: None,
            acl: Acl::new(),
            shares: BTreeMap::new(),
        }
    }

    /// [`handle`](Self::handle) on someone's behalf: refuses what they may not do, and
    /// makes the creator of a new item its admin.
    pub fn handle_as(&self, command: &Command, access: &Access) -> Result<Vec<Event>, DomainError> {
        self.authorize(command, access)?;
        let mut events = self.handle(command)?;
        self.authorize_effects(&events, access)?;
        if let (Some(Event::Created { grants, .. }), Access::Viewer(viewer)) = (events.first_mut(), access) {
            grants.insert(viewer.owner(), Level::Admin);
        }
        Ok(events)
    }

    /// Decides what `command` changes. An empty result means "nothing to change", which
    /// appends nothing.
    pub fn handle(&self, command: &Command) -> Result<Vec<Event>, DomainError> {
        match command {
            Command::Create(fields) => return self.create(fields, &Acl::new()),
            Command::Provision { fields, grants } => return self.create(fields, grants),
            Command::Observe {
                fields,
                tags,
                provenance,
                grants,
            } => return self.observe(fields, tags, provenance, grants),
            Command::Orphan => {
                return Ok(if self.is_active() {
                    vec![Event::Orphaned]
                } else {
                    vec![]
                })
            }
            _ => {}
        }
        match (self.lifecycle, command) {
            (Lifecycle::New, _) => Err(DomainError::NotFound {
                kind: self.kind,
                id: self.id,
            }),
            (_, Command::Revert { to }) => self.revert(to),
            (Lifecycle::Deleted, Command::Restore) => Ok(vec![Event::Restored]),
            (Lifecycle::Deleted, Command::Delete) | (Lifecycle::Active, Command::Restore) => Ok(vec![]),
            (Lifecycle::Deleted, _) => Err(DomainError::Deleted {
                kind: self.kind,
                id: self.id,
            }),
            (Lifecycle::Active, Command::Delete) => Ok(vec![Event::Deleted]),
            (Lifecycle::Active, Command::Update(fields)) => self.update(fields),
            (Lifecycle::Active, Command::Link(link)) => self.link(link),
            (Lifecycle::Active, Command::Unlink { relation, target }) => {
                Ok(if self.links.contains_key(&(*relation, *target)) {
                    vec![Event::Unlinked {
                        relation: *relation,
                        target_kind: target.kind,
                        target_id: target.id,
                    }]
                } else {
                    vec![]
                })
            }
            (Lifecycle::Active, Command::Tag { key, value }) => {
                tags::check_value(value).map_err(|problem| DomainError::invalid("value", problem))?;
                let person_has_it = self
                    .tags
                    .get(key)
                    .is_some_and(|tag| tag.value == *value && tag.source.is_person());
                // A person who tags a key the provider set takes it over: from then on it
                // is theirs and crawls leave it alone.
                Ok(if person_has_it {
                    vec![]
                } else {
                    vec![Event::Tagged {
                        key: key.clone(),
                        value: value.clone(),
                        source: TagSource::Person,
                    }]
                })
            }
            (Lifecycle::Active, Command::Untag { key }) => Ok(if self.tags.contains_key(key) {
                vec![Event::Untagged { key: key.clone() }]
            } else {
                vec![]
            }),
            (Lifecycle::Active, Command::Grant { principal, level }) => self.grant(*principal, *level),
            (Lifecycle::Active, Command::Revoke { principal }) => self.revoke(*principal),
            (Lifecycle::Active, Command::Share { link, expires_at }) => Ok(vec![Event::Shared {
                link: *link,
                expires_at: *expires_at,
            }]),
            (Lifecycle::Active, Command::Unshare { link }) => Ok(if self.shares.contains_key(link) {
                vec![Event::Unshared { link: *link }]
            } else {
                vec![]
            }),
            (
                Lifecycle::Active,
                Command::Create(_) | Command::Provision { .. } | Command::Observe { .. } | Command::Orphan,
            ) => {
                unreachable!("handled above")
            }
        }
    }

    fn create(&self, fields: &Fields, grants: &Acl) -> Result<Vec<Event>, DomainError> {
        if self.lifecycle != Lifecycle::New {
            return Err(DomainError::AlreadyExists {
                kind: self.kind,
                id: self.id,
            });
        }
        let fields = self.initial_fields(fields)?;
        self.check_whole(&fields)?;
        Ok(vec![Event::Created {
            fields,
            grants: grants.clone(),
        }])
    }

    /// Checks rules that span fields, on what the item would hold after a change: a
    /// schedule's fields must agree with each other.
    fn check_whole(&self, fields: &BTreeMap<String, Value>) -> Result<(), DomainError> {
        match self.kind {
            Kind::Schedule => crate::schedule::Schedule::from_fields(self.id, fields).map(drop),
            Kind::Rule => crate::rule::Rule::from_fields(fields).map(drop),
            Kind::Connection => match fields.get("options").and_then(Value::as_object) {
                Some(options) => TagFields::from_options(options)
                    .map(drop)
                    .map_err(|problem| DomainError::invalid("options", problem)),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn observe(
        &self,
        fields: &Fields,
        tags: &BTreeMap<TagKey, String>,
        provenance: &Provenance,
        grants: &Acl,
    ) -> Result<Vec<Event>, DomainError> {
        let discovered_here = self
            .provenance
            .as_ref()
            .is_some_and(|found| found.connection == provenance.connection);
        if self.lifecycle != Lifecycle::New && !discovered_here {
            return Err(DomainError::NotDiscovered {
                kind: self.kind,
                id: self.id,
                connection: provenance.connection,
            });
        }
        let restored = match self.lifecycle {
            Lifecycle::New => {
                return Ok(vec![Event::Discovered {
                    provenance: provenance.clone(),
                    fields: self.initial_fields(fields)?,
                    grants: grants.clone(),
                    tags: tags.clone(),
                }])
            }
            Lifecycle::Deleted => Some(Event::Restored),
            Lifecycle::Active => None,
        };
        Ok(restored
            .into_iter()
            .chain(self.update(fields)?)
            .chain(self.provider_tag_changes(tags))
            .collect())
    }

    /// The events that make the provider's tags on this item the ones it shows now: a
    /// tag it no longer has goes, a new or changed one is set, and a key a person set is
    /// theirs and left alone.
    pub fn provider_tag_changes(&self, shown: &BTreeMap<TagKey, String>) -> Vec<Event> {
        let gone = self
            .tags
            .iter()
            .filter(|(key, tag)| tag.source == TagSource::Provider && !shown.contains_key(*key))
            .map(|(key, _)| Event::Untagged { key: key.clone() });
        let set = shown
            .iter()
            .filter(|(key, value)| match self.tags.get(*key) {
                Some(tag) => tag.source == TagSource::Provider && tag.value != **value,
                None => true,
            })
            .map(|(key, value)| Event::Tagged {
                key: key.clone(),
                value: value.clone(),
                source: TagSource::Provider,
            });
        gone.chain(set).collect()
    }

    /// The fields of a new item: the given ones without nulls, with the required one
    /// present, and a name (a server is named after its host name).
    fn initial_fields(&self, fields: &Fields) -> Result<BTreeMap<String, Value>, DomainError> {
        self.check_kind(fields)?;
        let mut values: BTreeMap<String, Value> = fields
            .values()
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let required = self.kind.required_field();
        let Some(title) = values.get(required).cloned() else {
            return Err(DomainError::MissingField {
                kind: self.kind,
                field: required,
            });
        };
        values.entry("name".to_string()).or_insert(title);
        Ok(values)
    }

    fn update(&self, fields: &Fields) -> Result<Vec<Event>, DomainError> {
        self.check_kind(fields)?;
        let mut changes = BTreeMap::new();
        for (name, value) in fields.values() {
            if value.is_null() && (name == self.kind.required_field() || name == "name") {
                return Err(DomainError::invalid(name, "is required and cannot be cleared"));
            }
            let current = self.fields.get(name).unwrap_or(&Value::Null);
            if current != value {
                changes.insert(name.clone(), value.clone());
            }
        }
        if changes.is_empty() {
            return Ok(vec![]);
        }
        let mut after = self.fields.clone();
        for (name, value) in &changes {
            match value {
                Value::Null => after.remove(name),
                value => after.insert(name.clone(), value.clone()),
            };
        }
        self.check_whole(&after)?;
        Ok(vec![Event::Updated { changes }])
    }

    fn grant(&self, principal: Uuid, level: Level) -> Result<Vec<Event>, DomainError> {
        if self.acl.get(&principal) == Some(&level) {
            return Ok(vec![]);
        }
        self.keep_an_admin(principal)?;
        Ok(vec![Event::Granted { principal, level }])
    }

    fn revoke(&self, principal: Uuid) -> Result<Vec<Event>, DomainError> {
        if !self.acl.contains_key(&principal) {
            return Ok(vec![]);
        }
        self.keep_an_admin(principal)?;
        Ok(vec![Event::Revoked { principal }])
    }

    /// An item whose last admin lost their grant could no longer be shared or deleted by
    /// anyone: that change is refused.
    fn keep_an_admin(&self, losing: Uuid) -> Result<(), DomainError> {
        let admins = access::holders(&self.acl, Level::Admin);
        if admins == [losing] {
            return Err(DomainError::invalid(
                "principal",
                "is the item's last admin; grant admin to someone else first",
            ));
        }
        Ok(())
    }

    fn link(&self, link: &Link) -> Result<Vec<Event>, DomainError> {
        if link.target.id == self.id {
            return Err(DomainError::SelfLink);
        }
        link.relation.check(self.kind, self.family(), link.target.kind)?;
        if link.protocol.is_some() && !link.relation.has_protocol() {
            return Err(DomainError::invalid(
                "protocol",
                format!("only depends_on links carry a protocol, not {}", link.relation),
            ));
        }
        let key = (link.relation, link.target);
        Ok(if self.links.get(&key) == Some(&link.protocol) {
            vec![]
        } else {
            vec![Event::Linked {
                relation: link.relation,
                target_kind: link.target.kind,
                target_id: link.target.id,
                protocol: link.protocol,
            }]
        })
    }

    /// The events that turn this item into `to`, an earlier state of the same item.
    fn revert(&self, to: &Item) -> Result<Vec<Event>, DomainError> {
        if to.id != self.id
            || to.kind != self.kind
            || to.lifecycle == Lifecycle::New
            || to.version > self.version
        {
            return Err(DomainError::invalid(
                "toVersion",
                format!(
                    "must be an earlier version of this item, between 1 and {}",
                    self.version
                ),
            ));
        }
        let mut events = vec![];
        if self.lifecycle == Lifecycle::Deleted && to.is_active() {
            events.push(Event::Restored);
        }
        // Maestro's own fields (a connection's task states, its credentials) describe the
        // present, not a version a person can go back to.
        let maestros = |name: &&String| {
            self.kind
                .field(name)
                .is_some_and(|spec| spec.guard == Guard::Maestro)
        };
        let names: std::collections::BTreeSet<&String> = self.fields.keys().chain(to.fields.keys()).collect();
        let changes: BTreeMap<String, Value> = names
            .into_iter()
            .filter(|name| !maestros(name))
            .filter(|name| self.fields.get(*name) != to.fields.get(*name))
            .map(|name| (name.clone(), to.fields.get(name).cloned().unwrap_or(Value::Null)))
            .collect();
        if !changes.is_empty() {
            events.push(Event::Updated { changes });
        }
        for key in self.tags.keys().filter(|key| !to.tags.contains_key(*key)) {
            events.push(Event::Untagged { key: key.clone() });
        }
        for (key, tag) in to
            .tags
            .iter()
            .filter(|(key, tag)| self.tags.get(*key) != Some(*tag))
        {
            events.push(Event::Tagged {
                key: key.clone(),
                value: tag.value.clone(),
                source: tag.source,
            });
        }
        for (relation, target) in self.links.keys().filter(|link| !to.links.contains_key(*link)) {
            events.push(Event::Unlinked {
                relation: *relation,
                target_kind: target.kind,
                target_id: target.id,
            });
        }
        for ((relation, target), protocol) in to
            .links
            .iter()
            .filter(|(link, protocol)| self.links.get(*link) != Some(*protocol))
        {
            events.push(Event::Linked {
                relation: *relation,
                target_kind: target.kind,
                target_id: target.id,
                protocol: *protocol,
            });
        }
        if self.is_active() && to.lifecycle == Lifecycle::Deleted {
            events.push(Event::Deleted);
        }
        Ok(events)
    }

    fn check_kind(&self, fields: &Fields) -> Result<(), DomainError> {
        if fields.kind() == self.kind {
            Ok(())
        } else {
            Err(DomainError::WrongKind {
                kind: self.kind,
                parsed_for: fields.kind(),
            })
        }
    }

    pub fn family(&self) -> Option<Family> {
        match self.kind {
            Kind::Application => Some(
                self.fields
                    .get("family")
                    .and_then(Value::as_str)
                    .and_then(|f| Family::parse(f).ok())
                    .unwrap_or(Family::Application),
            ),
            _ => None,
        }
    }

    /// Folds one event into the state. Events are facts: applying never fails.
    pub fn apply(&mut self, event: &Event) {
        self.version += 1;
        match event {
            Event::Created { fields, grants } => {
                self.lifecycle = Lifecycle::Active;
                self.fields = fields.clone();
                self.acl = grants.clone();
            }
            Event::Updated { changes } => {
                for (name, value) in changes {
                    if value.is_null() {
                        self.fields.remove(name);
                    } else {
                        self.fields.insert(name.clone(), value.clone());
                    }
                }
            }
            Event::Deleted => self.lifecycle = Lifecycle::Deleted,
            Event::Restored => self.lifecycle = Lifecycle::Active,
            Event::Linked {
                relation,
                target_kind,
                target_id,
                protocol,
            } => {
                self.links.insert(
                    (
                        *relation,
                        ItemRef {
                            kind: *target_kind,
                            id: *target_id,
                        },
                    ),
                    *protocol,
                );
            }
            Event::Unlinked {
                relation,
                target_kind,
                target_id,
            } => {
                self.links.remove(&(
                    *relation,
                    ItemRef {
                        kind: *target_kind,
                        id: *target_id,
                    },
                ));
            }
            Event::Tagged { key, value, source } => {
                self.tags.insert(
                    key.clone(),
                    Tag {
                        value: value.clone(),
                        source: *source,
                    },
                );
            }
            Event::Untagged { key } => {
                self.tags.remove(key);
            }
            Event::Discovered {
                provenance,
                fields,
                grants,
                tags,
            } => {
                self.acl = grants.clone();
                self.lifecycle = Lifecycle::Active;
                self.fields = fields.clone();
                self.provenance = Some(provenance.clone());
                self.tags = tags
                    .iter()
                    .map(|(key, value)| {
                        let tag = Tag {
                            value: value.clone(),
                            source: TagSource::Provider,
                        };
                        (key.clone(), tag)
                    })
                    .collect();
            }
            Event::Orphaned => self.lifecycle = Lifecycle::Deleted,
            Event::Granted { principal, level } => {
                self.acl.insert(*principal, *level);
            }
            Event::Revoked { principal } => {
                self.acl.remove(principal);
            }
            Event::Shared { link, expires_at } => {
                self.shares.insert(*link, *expires_at);
            }
            Event::Unshared { link } => {
                self.shares.remove(link);
            }
        }
    }

    /// Replays a stream from the start.
    pub fn replay<'a>(kind: Kind, id: Uuid, events: impl IntoIterator<Item = &'a Event>) -> Item {
        let mut item = Item::new(kind, id);
        for event in events {
            item.apply(event);
        }
        item
    }

    pub fn is_active(&self) -> bool {
        self.lifecycle == Lifecycle::Active
    }

    /// The inverse of [`document`](Self::document): an item back from its stored
    /// document, so that projectors can continue folding from a read-model row.
    pub fn from_document(version: i64, document: &Value) -> Option<Item> {
        let mut doc = document.as_object()?.clone();
        let id = doc.remove("id").and_then(|v| serde_json::from_value(v).ok())?;
        let kind = doc.remove("kind").and_then(|v| serde_json::from_value(v).ok())?;
        let active = doc.remove("active")?.as_bool()?;
        let tags = doc.remove("tags")?;
        let relations = doc.remove("relations")?;
        let provenance = match doc.remove("provenance") {
            Some(provenance) => Some(serde_json::from_value(provenance).ok()?),
            None => None,
        };
        let acl = match doc.remove("acl") {
            Some(acl) => serde_json::from_value(acl).ok()?,
            None => Acl::new(),
        };
        let shares = match doc.remove("shares") {
            Some(shares) => serde_json::from_value(shares).ok()?,
            None => BTreeMap::new(),
        };
        let tags = tags
            .as_array()?
            .iter()
            .map(|tag| {
                let source = match tag.get("source") {
                    Some(source) => serde_json::from_value(source.clone()).ok()?,
                    None => TagSource::Person,
                };
                let value = tag["value"].as_str()?.to_string();
                Some((
                    serde_json::from_value(tag["key"].clone()).ok()?,
                    Tag { value, source },
                ))
            })
            .collect::<Option<_>>()?;
        let links = relations
            .as_array()?
            .iter()
            .map(|link| {
                let relation = serde_json::from_value(link["relation"].clone()).ok()?;
                let kind = serde_json::from_value(link["target_kind"].clone()).ok()?;
                let id = serde_json::from_value(link["target_id"].clone()).ok()?;
                let protocol =
                    serde_json::from_value(link.get("protocol").cloned().unwrap_or(Value::Null)).ok()?;
                Some(((relation, ItemRef { kind, id }), protocol))
            })
            .collect::<Option<_>>()?;
        Some(Item {
            kind,
            id,
            version,
            lifecycle: if active {
                Lifecycle::Active
            } else {
                Lifecycle::Deleted
            },
            fields: doc.into_iter().collect(),
            tags,
            links,
            provenance,
            acl,
            shares,
        })
    }

    /// The item as one JSON document: what read models store, what history diffs, what
    /// time travel returns. Keys are sorted, so equal items give equal bytes.
    pub fn document(&self) -> Value {
        let mut doc: Map<String, Value> = self.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        doc.insert("id".into(), json!(self.id));
        doc.insert("kind".into(), json!(self.kind));
        doc.insert("active".into(), json!(self.is_active()));
        doc.insert(
            "tags".into(),
            self.tags
                .iter()
                .map(|(key, tag)| match tag.source {
                    // A person's tags keep the documents they always had.
                    TagSource::Person => json!({"key": key, "value": tag.value}),
                    TagSource::Provider => json!({"key": key, "value": tag.value, "source": tag.source}),
                })
                .collect(),
        );
        doc.insert(
            "relations".into(),
            self.links
                .iter()
                .map(|((relation, target), protocol)| {
                    let mut link =
                        json!({"relation": relation, "target_kind": target.kind, "target_id": target.id});
                    if let Some(protocol) = protocol {
                        link["protocol"] = json!(protocol);
                    }
                    link
                })
                .collect(),
        );
        if let Some(provenance) = &self.provenance {
            doc.insert("provenance".into(), json!(provenance));
        }
        // Grants and links are part of what history shows; empty ones are left out so
        // that items without them keep the documents they always had.
        if !self.acl.is_empty() {
            doc.insert("acl".into(), json!(self.acl));
        }
        if !self.shares.is_empty() {
            doc.insert("shares".into(), json!(self.shares));
        }
        Value::Object(doc)
    }
}
