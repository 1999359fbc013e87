//! Given/when/then tests of schedules as items: their fields must agree with each other
//! after every change, and only Maestro provisions items with grants of its choosing.

use domain::{Access, Acl, Command, DomainError, Event, Fields, Item, Kind, Level, Viewer};
use serde_json::{json, Value};
use uuid::Uuid;

const CONNECTION: &str = "018f0000-0000-7000-8000-000000000001";

fn fields(input: Value) -> Fields {
    Fields::parse(Kind::Schedule, input.as_object().unwrap()).unwrap()
}

fn schedule(events: &[Event]) -> Item {
    Item::replay(Kind::Schedule, Uuid::from_u128(9), events)
}

fn field_of(error: DomainError) -> String {
    match error {
        DomainError::InvalidField { field, .. } => field,
        other => panic!("expected a field error, got {other}"),
    }
}

#[test]
fn a_change_that_leaves_the_schedule_inconsistent_is_refused_naming_the_field() {
    // Given an interval schedule
    let created = schedule(&[])
        .handle(&Command::Create(fields(
            json!({"name": "hourly", "connection": CONNECTION, "interval": "1h"}),
        )))
        .unwrap();
    let hourly = schedule(&created);
    // When a cron expression is added beside the interval: refused, naming `cron`
    let error = hourly
        .handle(&Command::Update(fields(json!({"cron": "0 * * * *"}))))
        .unwrap_err();
    assert_eq!(field_of(error), "cron");
    // When the interval is cleared in the same change: the schedule becomes a cron one
    let events = hourly
        .handle(&Command::Update(fields(
            json!({"cron": "0 * * * *", "interval": null}),
        )))
        .unwrap();
    assert_eq!(events.len(), 1);
    // When its connection is cleared: refused, a crawl needs one
    let error = hourly
        .handle(&Command::Update(fields(json!({"connection": null}))))
        .unwrap_err();
    assert_eq!(field_of(error), "connection");
}

#[test]
fn only_maestro_provisions_and_its_grants_are_the_given_ones() {
    let owner = Uuid::now_v7();
    let grants = Acl::from([(owner, Level::Admin)]);
    let provision = Command::Provision {
        fields: fields(json!({"name": "discovery", "connection": CONNECTION, "interval": 300})),
        grants: grants.clone(),
    };
    // A person may not: they create, and become the admin themselves.
    let refused = schedule(&[]).handle_as(&provision, &Access::Viewer(Viewer::user(owner)));
    assert!(
        matches!(refused, Err(DomainError::Forbidden { .. })),
        "{refused:?}"
    );
    // Maestro may, with the grants it chose and no one else's.
    let events = schedule(&[])
        .handle_as(&provision, &Access::Unrestricted)
        .unwrap();
    assert!(matches!(&events[..], [Event::Created { grants: given, .. }] if *given == grants));
    // Twice is refused as a create would be: the id is taken.
    let again = schedule(&events).handle_as(&provision, &Access::Unrestricted);
    assert!(
        matches!(again, Err(DomainError::AlreadyExists { .. })),
        "{again:?}"
    );
}
