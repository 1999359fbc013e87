//! Given/when/then tests of the access rules: which commands a person may give, what a
//! creator and a crawler's discoveries are granted, and that grants are events.

use domain::{
    Access, Acl, Command, DomainError, Event, Fields, Item, Kind, Level, Membership, Provenance, Viewer,
};
use serde_json::json;
use uuid::Uuid;

fn server(events: &[Event]) -> Item {
    Item::replay(Kind::Server, Uuid::from_u128(1), events)
}

fn create() -> Command {
    Command::Create(Fields::parse(Kind::Server, json!({"hostname": "web-1"}).as_object().unwrap()).unwrap())
}

fn update() -> Command {
    Command::Update(Fields::parse(Kind::Server, json!({"cpu": 4}).as_object().unwrap()).unwrap())
}

fn person() -> Viewer {
    Viewer::user(Uuid::now_v7())
}

/// A server created by `owner`, as the log would hold it.
fn owned_by(owner: &Viewer) -> Item {
    let events = server(&[])
        .handle_as(&create(), &Access::Viewer(owner.clone()))
        .unwrap();
    server(&events)
}

fn apply(item: &mut Item, command: &Command, access: &Access) {
    for event in item.handle_as(command, access).unwrap() {
        item.apply(&event);
    }
}

#[test]
fn the_creator_becomes_admin_by_the_created_event() {
    let owner = person();
    let events = server(&[])
        .handle_as(&create(), &Access::Viewer(owner.clone()))
        .unwrap();
    let [Event::Created { grants, .. }] = &events[..] else {
        panic!("one created event, got {events:?}")
    };
    assert_eq!(grants, &Acl::from([(owner.user, Level::Admin)]));
}

#[test]
fn acting_as_a_team_makes_the_team_the_owner() {
    let team = Uuid::now_v7();
    let member = Viewer {
        memberships: vec![Membership {
            team,
            role: Level::Write,
        }],
        acting_as: Some(team),
        ..person()
    };
    let item = owned_by(&member);
    assert_eq!(item.acl, Acl::from([(team, Level::Admin)]));
}

#[test]
fn a_stranger_is_told_the_item_does_not_exist() {
    let item = owned_by(&person());
    let stranger = Access::Viewer(person());
    assert_eq!(
        item.handle_as(&update(), &stranger),
        Err(DomainError::NotFound {
            kind: Kind::Server,
            id: item.id
        })
    );
}

#[test]
fn each_command_needs_its_level() {
    let owner = person();
    let mut item = owned_by(&owner);
    let colleague = person();
    let as_colleague = Access::Viewer(colleague.clone());
    let grant = |level| Command::Grant {
        principal: colleague.user,
        level,
    };
    let admin = Access::Viewer(owner.clone());

    apply(&mut item, &grant(Level::Read), &admin);
    assert!(matches!(
        item.handle_as(&update(), &as_colleague),
        Err(DomainError::Forbidden { .. })
    ));

    apply(&mut item, &grant(Level::Write), &admin);
    assert_eq!(item.handle_as(&update(), &as_colleague).unwrap().len(), 1);
    assert!(matches!(
        item.handle_as(&Command::Delete, &as_colleague),
        Err(DomainError::Forbidden { .. })
    ));

    apply(&mut item, &grant(Level::Admin), &admin);
    assert_eq!(
        item.handle_as(&Command::Delete, &as_colleague),
        Ok(vec![Event::Deleted])
    );
}

#[test]
fn a_team_grant_reaches_members_up_to_their_role() {
    let owner = person();
    let mut item = owned_by(&owner);
    let team = Uuid::now_v7();
    apply(
        &mut item,
        &Command::Grant {
            principal: team,
            level: Level::Admin,
        },
        &Access::Viewer(owner),
    );
    let reader = Access::Viewer(Viewer {
        memberships: vec![Membership {
            team,
            role: Level::Read,
        }],
        ..person()
    });
    let writer = Access::Viewer(Viewer {
        memberships: vec![Membership {
            team,
            role: Level::Write,
        }],
        ..person()
    });
    assert!(matches!(
        item.handle_as(&update(), &reader),
        Err(DomainError::Forbidden { .. })
    ));
    assert_eq!(item.handle_as(&update(), &writer).unwrap().len(), 1);
}

#[test]
fn the_last_admin_cannot_be_revoked_or_lowered() {
    let owner = person();
    let item = owned_by(&owner);
    let admin = Access::Viewer(owner.clone());
    assert!(item
        .handle_as(
            &Command::Revoke {
                principal: owner.user
            },
            &admin
        )
        .is_err());
    assert!(item
        .handle_as(
            &Command::Grant {
                principal: owner.user,
                level: Level::Read
            },
            &admin
        )
        .is_err());
}

#[test]
fn revoking_takes_access_away() {
    let owner = person();
    let mut item = owned_by(&owner);
    let admin = Access::Viewer(owner.clone());
    let colleague = person();
    apply(
        &mut item,
        &Command::Grant {
            principal: colleague.user,
            level: Level::Write,
        },
        &admin,
    );
    apply(
        &mut item,
        &Command::Revoke {
            principal: colleague.user,
        },
        &admin,
    );
    assert!(matches!(
        item.handle_as(&update(), &Access::Viewer(colleague)),
        Err(DomainError::NotFound { .. })
    ));
    assert_eq!(
        item.handle_as(
            &Command::Revoke {
                principal: Uuid::now_v7()
            },
            &admin
        ),
        Ok(vec![]),
        "revoking what was never granted changes nothing"
    );
}

#[test]
fn people_cannot_pose_as_a_crawler() {
    let owner = person();
    let item = owned_by(&owner);
    assert!(matches!(
        item.handle_as(&Command::Orphan, &Access::Viewer(owner)),
        Err(DomainError::Forbidden { .. })
    ));
}

#[test]
fn a_discovery_takes_the_connections_template() {
    let team = Uuid::now_v7();
    let observe = Command::Observe {
        fields: Fields::parse(Kind::Server, json!({"hostname": "ip-1"}).as_object().unwrap()).unwrap(),
        tags: Default::default(),
        provenance: Provenance {
            connection: Uuid::from_u128(9),
            task: "server-list".into(),
            region: "r".into(),
            provider_id: "i-1".into(),
        },
        grants: Acl::from([(team, Level::Write)]),
    };
    let events = server(&[]).handle_as(&observe, &Access::Unrestricted).unwrap();
    let item = server(&events);
    assert_eq!(item.acl, Acl::from([(team, Level::Write)]));
    assert!(
        item.handle_as(&observe, &Access::Unrestricted)
            .unwrap()
            .is_empty(),
        "seen again: the template is not granted twice"
    );
}

#[test]
fn links_open_and_close_and_survive_the_document() {
    let owner = person();
    let mut item = owned_by(&owner);
    let admin = Access::Viewer(owner);
    let link = Uuid::now_v7();
    let expires_at = "2030-01-01T00:00:00Z".parse().unwrap();
    apply(&mut item, &Command::Share { link, expires_at }, &admin);
    assert_eq!(item.shares.get(&link), Some(&expires_at));
    assert_eq!(
        Item::from_document(item.version, &item.document()),
        Some(item.clone())
    );
    apply(&mut item, &Command::Unshare { link }, &admin);
    assert!(item.shares.is_empty());
}

#[test]
fn an_acl_template_is_parsed_with_clear_errors() {
    let parse = |template: serde_json::Value| {
        Fields::parse(
            Kind::Connection,
            json!({ "acl_template": template }).as_object().unwrap(),
        )
    };
    let team = Uuid::now_v7();
    let parsed = parse(json!({ team.to_string(): "WRITE" })).unwrap();
    assert_eq!(
        parsed.get("acl_template"),
        Some(&json!({ team.to_string(): "write" }))
    );
    let error = parse(json!({"ops": "read"})).unwrap_err().to_string();
    assert!(error.contains("`ops` is not a user or team id"), "{error}");
    let error = parse(json!({ team.to_string(): "owner" }))
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a level"), "{error}");
}

/// A connection created by `owner`, with `writer` granted write on it.
fn connection_with_writer(owner: &Viewer, writer: &Viewer) -> Item {
    let fields = Fields::parse(
        Kind::Connection,
        json!({"name": "c", "provider": "openstack", "options": {"auth_url": "https://keystone.example.com"}})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    let id = Uuid::now_v7();
    let admin = Access::Viewer(owner.clone());
    let mut item = Item::new(Kind::Connection, id);
    apply(&mut item, &Command::Create(fields), &admin);
    let grant = Command::Grant {
        principal: writer.user,
        level: Level::Write,
    };
    apply(&mut item, &grant, &admin);
    item
}

fn connection_update(input: serde_json::Value) -> Command {
    Command::Update(Fields::parse(Kind::Connection, input.as_object().unwrap()).unwrap())
}

/// Attack: a writer points a connection at a host they own, so the next test or crawl
/// sends its credentials there, or widens the grants of everything it will discover.
#[test]
fn where_credentials_go_and_who_gets_discoveries_need_admin() {
    let (owner, writer) = (person(), person());
    let item = connection_with_writer(&owner, &writer);
    let as_writer = Access::Viewer(writer.clone());
    for input in [
        json!({"options": {"auth_url": "https://attacker.example.com"}}),
        json!({"provider": "digitalocean"}),
        json!({ "acl_template": { writer.user.to_string(): "admin" } }),
    ] {
        assert!(
            matches!(
                item.handle_as(&connection_update(input.clone()), &as_writer),
                Err(DomainError::Forbidden { .. })
            ),
            "a writer changed {input}"
        );
    }
    let renamed = item.handle_as(&connection_update(json!({"regions": ["b"]})), &as_writer);
    assert!(
        matches!(renamed.as_deref(), Ok([Event::Updated { .. }])),
        "{renamed:?}"
    );
    let moved = item.handle_as(
        &connection_update(json!({"options": {"auth_url": "https://other.example.com"}})),
        &Access::Viewer(owner),
    );
    assert!(
        matches!(moved.as_deref(), Ok([Event::Updated { .. }])),
        "{moved:?}"
    );
}

/// Attack: a person writes a connection's task states or credentials reference, which only
/// Maestro keeps, on create or on update, even as its admin.
#[test]
fn maestros_own_fields_are_never_set_by_a_person() {
    let owner = person();
    let item = connection_with_writer(&owner, &person());
    let as_owner = Access::Viewer(owner);
    for input in [json!({"tasks": {}}), json!({"credentials_ref": "x"})] {
        let error = item
            .handle_as(&connection_update(input.clone()), &as_owner)
            .unwrap_err();
        assert!(
            error.to_string().contains("kept by Maestro itself"),
            "{input}: {error}"
        );
        let mut create = input.as_object().unwrap().clone();
        create.insert("name".into(), json!("c2"));
        let fields = Fields::parse(Kind::Connection, &create).unwrap();
        let fresh = Item::new(Kind::Connection, Uuid::now_v7());
        assert!(
            fresh.handle_as(&Command::Create(fields), &as_owner).is_err(),
            "{input}"
        );
    }
    let by_maestro = item.handle_as(&connection_update(json!({"tasks": {}})), &Access::Unrestricted);
    assert!(by_maestro.is_ok(), "{by_maestro:?}");
}

/// Attack: a writer reverts an item to a version in which it was deleted (or restores a
/// deleted one), which delete and restore reserve to admins.
#[test]
fn a_revert_that_deletes_or_restores_needs_admin() {
    let owner = person();
    let writer = person();
    let mut item = owned_by(&owner);
    let admin = Access::Viewer(owner);
    apply(
        &mut item,
        &Command::Grant {
            principal: writer.user,
            level: Level::Write,
        },
        &admin,
    );
    apply(&mut item, &Command::Delete, &admin);
    let deleted = item.clone();
    apply(&mut item, &Command::Restore, &admin);
    let as_writer = Access::Viewer(writer);
    let revert = Command::Revert {
        to: Box::new(deleted),
    };
    assert!(matches!(
        item.handle_as(&revert, &as_writer),
        Err(DomainError::Forbidden { .. })
    ));
    let reverted = item.handle_as(&revert, &admin).unwrap();
    assert_eq!(
        reverted.last(),
        Some(&Event::Deleted),
        "an admin may: {reverted:?}"
    );

    let before_update = item.clone();
    apply(&mut item, &update(), &as_writer);
    let undo = Command::Revert {
        to: Box::new(before_update),
    };
    assert!(
        item.handle_as(&undo, &as_writer).is_ok(),
        "a writer still reverts changes"
    );
}

/// Attack: a person creates an item under the id a crawler will derive for something it
/// is about to find (version 5 of the connection and provider id), to capture it.
#[test]
fn crawler_ids_cannot_be_chosen_and_taken_ids_reveal_nothing() {
    let crawler_id = Uuid::new_v5(&Uuid::now_v7(), b"server:i-1");
    let as_someone = Access::Viewer(person());
    let refused = Item::new(Kind::Server, crawler_id)
        .handle_as(&create(), &as_someone)
        .unwrap_err();
    assert_eq!(refused, DomainError::unusable_id());
    assert!(
        Item::new(Kind::Server, crawler_id)
            .handle_as(&create(), &Access::Unrestricted)
            .is_ok(),
        "Maestro itself still uses them"
    );

    let owner = person();
    let taken = owned_by(&owner);
    assert_eq!(
        taken.handle_as(&create(), &as_someone),
        Err(DomainError::unusable_id())
    );
    assert!(matches!(
        taken.handle_as(&create(), &Access::Viewer(owner)),
        Err(DomainError::AlreadyExists { .. })
    ));
}

/// Attack: an item that a crawl did not discover (made by a person, or by another
/// connection) is changed by what the crawl observes under the same id.
#[test]
fn a_crawl_changes_only_what_it_discovered() {
    let provenance = |connection: u128| Provenance {
        connection: Uuid::from_u128(connection),
        task: "server-list".into(),
        region: "r".into(),
        provider_id: "i-1".into(),
    };
    let observe = |connection: u128| Command::Observe {
        fields: Fields::parse(
            Kind::Server,
            json!({"hostname": "ip-1", "cpu": 2}).as_object().unwrap(),
        )
        .unwrap(),
        tags: Default::default(),
        provenance: provenance(connection),
        grants: Acl::new(),
    };
    let by_hand = owned_by(&person());
    assert!(matches!(
        by_hand.handle(&observe(9)),
        Err(DomainError::NotDiscovered { .. })
    ));
    let found = server(&server(&[]).handle(&observe(9)).unwrap());
    assert!(matches!(
        found.handle(&observe(8)),
        Err(DomainError::NotDiscovered { .. })
    ));
    assert!(
        found.handle(&observe(9)).is_ok(),
        "its own connection still updates it"
    );
}
