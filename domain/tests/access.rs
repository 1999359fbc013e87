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
