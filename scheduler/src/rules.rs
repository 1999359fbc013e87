//! Event rules, judged by a projection over the log: checkpointed like every projection,
//! so each event is judged once per rule across restarts, and what a match does (a
//! notification, a webhook delivery) is written in the same transaction as the
//! checkpoint. A rule judges only events after it was made or changed (the log is folded
//! in order), and only of items its people may read, themselves or through their teams
//! (as the teams are when the event is judged).
//!
//! The projection keeps each item's state as the rules see it (`rule_items`), rules
//! included, so that conditions read the item after the change and rebuilds start from
//! nothing. A rebuild tells nothing twice: notifications and deliveries are keyed by
//! rule and event.

use std::collections::{HashMap, HashSet};

use commands::RecordedEvent;
use domain::rule::{Judged, Rule};
use domain::{Event, Item, Kind, Level};
use identity::{Identity, Notice, Topic};
use projections::{Projection, ProjectionError, Table, Tables};
use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;
use webhooks::{WebhookError, Webhooks};

const ITEMS: &str = "rule_items";

/// The rules projection. Rules that call webhooks queue their deliveries here, which
/// needs no key; a worker that holds one sends them.
pub struct Rules;

impl Rules {
    pub const NAME: &'static str = "rules";
}

/// A rule as the projection holds it while folding: its reading and its people.
struct Active {
    id: Uuid,
    name: String,
    rule: Rule,
    /// Its writers and admins: whom it tells, and whose sight bounds what it matches.
    people: Vec<Uuid>,
    /// Its people and the teams they belong to: an item granted to any of them is one
    /// they may read.
    sight: HashSet<Uuid>,
}

/// The rule items' writers and admins (people or teams).
fn rule_people(items: &HashMap<Uuid, Item>) -> HashSet<Uuid> {
    items
        .values()
        .filter(|item| item.kind == Kind::Rule && item.is_active())
        .flat_map(|item| domain::holders(&item.acl, Level::Write))
        .collect()
}

/// The teams of the rules' people not yet in `teams`, added to it.
async fn load_teams(
    connection: &mut PgConnection,
    items: &HashMap<Uuid, Item>,
    teams: &mut HashMap<Uuid, Vec<Uuid>>,
) -> Result<(), ProjectionError> {
    let missing: Vec<Uuid> = rule_people(items)
        .into_iter()
        .filter(|person| !teams.contains_key(person))
        .collect();
    for person in &missing {
        teams.insert(*person, vec![]);
    }
    for (user, team) in Identity::memberships_in(connection, &missing).await? {
        teams.entry(user).or_default().push(team);
    }
    Ok(())
}

fn active_rules(items: &HashMap<Uuid, Item>, teams: &HashMap<Uuid, Vec<Uuid>>) -> Vec<Active> {
    items
        .values()
        .filter(|item| item.kind == Kind::Rule && item.is_active())
        .filter_map(|item| {
            let people = domain::holders(&item.acl, Level::Write);
            Some(Active {
                id: item.id,
                name: item
                    .fields
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                rule: Rule::from_fields(&item.fields).ok()?,
                sight: people
                    .iter()
                    .flat_map(|person| std::iter::once(person).chain(teams.get(person).into_iter().flatten()))
                    .copied()
                    .collect(),
                people,
            })
        })
        .collect()
}

/// The fields an event set or cleared.
fn changed_fields(event: &Event) -> Vec<&str> {
    match event {
        Event::Updated { changes } => changes.keys().map(String::as_str).collect(),
        Event::Created { fields, .. } | Event::Discovered { fields, .. } => {
            fields.keys().map(String::as_str).collect()
        }
        _ => vec![],
    }
}

fn database(error: WebhookError) -> Result<(), ProjectionError> {
    match error {
        WebhookError::Database(error) => Err(ProjectionError::Database(error)),
        // The endpoint was deleted, or is another's: the rule cannot call it.
        other => {
            tracing::warn!(error = %other, "an event rule's webhook was not called");
            Ok(())
        }
    }
}

impl Rules {
    async fn act(
        &self,
        connection: &mut PgConnection,
        active: &Active,
        event: &RecordedEvent,
        item: &Item,
    ) -> Result<(), ProjectionError> {
        if active.rule.notify {
            let item_name = item
                .fields
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let notice = Notice {
                topic: Topic::RuleMatched,
                title: format!(
                    "Rule `{}`: {} `{item_name}` {}",
                    active.name, event.stream_type, event.event_type
                ),
                body: format!(
                    "Event {} ({} of {} {}, version {}) by {}.",
                    event.event_id,
                    event.event_type,
                    event.stream_type,
                    event.stream_id,
                    event.version,
                    event.metadata().actor
                ),
                item: Some((event.stream_type.clone(), event.stream_id)),
                key: format!("rule/{}/{}", active.id, event.event_id),
            };
            Identity::notify_in(connection, &active.people, &notice).await?;
        }
        if let Some(endpoint) = active.rule.webhook {
            let owner = match Webhooks::owner_in(connection, endpoint).await {
                Ok(owner) => owner,
                Err(error) => database(error).map(|()| None)?,
            };
            // Only an endpoint of the rule's own people: a rule never posts to another's.
            if owner.is_some_and(|owner| active.people.contains(&owner)) {
                let event_type = format!("{}.{}", event.stream_type, event.event_type);
                let queued = Webhooks::enqueue_in(
                    connection,
                    endpoint,
                    &event.event_id.to_string(),
                    &event_type,
                    &event.envelope(),
                )
                .await;
                if let Err(error) = queued {
                    database(error)?;
                }
            }
        }
        Ok(())
    }
}

impl Projection for Rules {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> Vec<Table> {
        vec![Table {
            name: ITEMS.to_string(),
            columns: "id uuid PRIMARY KEY,\n  kind text NOT NULL,\n  version bigint NOT NULL,\n  doc jsonb NOT NULL"
                .to_string(),
            indexes: vec!["(kind)".to_string()],
        }]
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        events: &[RecordedEvent],
        tables: Tables,
    ) -> Result<(), ProjectionError> {
        let table = tables.name(ITEMS);
        let ids: Vec<Uuid> = events
            .iter()
            .map(|event| event.stream_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let rows = sqlx::query(&format!(
            "SELECT id, version, doc FROM {table} WHERE id = ANY($1) OR kind = 'rule'"
        ))
        .bind(&ids)
        .fetch_all(&mut *connection)
        .await?;
        let mut items: HashMap<Uuid, Item> = HashMap::new();
        for row in rows {
            let (id, version, doc): (Uuid, i64, Value) = (row.get(0), row.get(1), row.get(2));
            let item = Item::from_document(version, &doc).ok_or_else(|| commands::StoreError::Corrupt {
                position: 0,
                problem: format!("{table} row {id} has a malformed document"),
            })?;
            items.insert(id, item);
        }
        let mut teams = HashMap::new();
        load_teams(connection, &items, &mut teams).await?;
        let mut rules = active_rules(&items, &teams);
        let mut changed = HashSet::new();
        for recorded in events {
            let kind = recorded.kind()?;
            let item = items
                .entry(recorded.stream_id)
                .or_insert_with(|| Item::new(kind, recorded.stream_id));
            // Replaying a batch twice must not apply an event twice.
            if recorded.version <= item.version {
                continue;
            }
            let event = recorded.event()?;
            item.apply(&event);
            changed.insert(recorded.stream_id);
            if kind == Kind::Rule {
                load_teams(connection, &items, &mut teams).await?;
                rules = active_rules(&items, &teams);
                continue;
            }
            let item = &items[&recorded.stream_id];
            let judged = Judged {
                kind,
                event_type: &recorded.event_type,
                actor_kind: recorded.metadata().actor_kind,
                changed: changed_fields(&event),
                fields: &item.fields,
            };
            for active in &rules {
                let sees = item.acl.keys().any(|holder| active.sight.contains(holder));
                if sees && active.rule.matches(&judged) {
                    self.act(connection, active, recorded, item).await?;
                }
            }
        }
        let (mut ids, mut kinds, mut versions, mut docs) = (vec![], vec![], vec![], vec![]);
        for id in changed {
            let item = &items[&id];
            ids.push(id);
            kinds.push(item.kind.stream_type());
            versions.push(item.version);
            docs.push(item.document());
        }
        sqlx::query(&format!(
            "INSERT INTO {table} (id, kind, version, doc)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::jsonb[])
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, doc = EXCLUDED.doc"
        ))
        .bind(&ids)
        .bind(&kinds)
        .bind(&versions)
        .bind(&docs)
        .execute(&mut *connection)
        .await?;
        Ok(())
    }
}
