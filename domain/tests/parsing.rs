//! Random input for every parsing type of the domain: each either parses into a value
//! that parses again to itself (canonical forms are stable), or fails with a message
//! that says something — never a panic.

use domain::{
    grants, Cidr, Environment, Family, Fields, Hostname, Kind, Level, Protocol, Provider, Source, Status,
    TagKey,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Strings that often come close to valid values, and arbitrary ones.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9.:/_-]{0,40}",
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}/[0-9]{1,2}",
        "(read|write|admin|READ|owner|[0-9])",
    ]
}

/// JSON of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

macro_rules! canonical_or_error {
    ($parse:expr, $show:expr, $raw:expr) => {
        match $parse($raw) {
            Ok(value) => {
                let shown = $show(&value);
                let again = $parse(&shown)
                    .unwrap_or_else(|e| panic!("{shown:?} (from {:?}) does not parse again: {e}", $raw));
                prop_assert_eq!($show(&again), shown);
            }
            Err(problem) => prop_assert!(!problem.to_string().trim().is_empty()),
        }
    };
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn value_types_parse_canonically_or_say_why_not(raw in text()) {
        canonical_or_error!(Hostname::parse, |v: &Hostname| v.as_str().to_string(), raw.as_str());
        canonical_or_error!(Cidr::parse, |v: &Cidr| v.to_string(), raw.as_str());
        canonical_or_error!(TagKey::parse, |v: &TagKey| v.as_str().to_string(), raw.as_str());
        canonical_or_error!(Environment::parse, |v: &Environment| v.to_string(), raw.as_str());
        canonical_or_error!(Status::parse, |v: &Status| v.to_string(), raw.as_str());
        canonical_or_error!(Family::parse, |v: &Family| v.to_string(), raw.as_str());
        canonical_or_error!(Provider::parse, |v: &Provider| v.to_string(), raw.as_str());
        canonical_or_error!(Source::parse, |v: &Source| v.to_string(), raw.as_str());
        canonical_or_error!(Protocol::parse, |v: &Protocol| v.to_string(), raw.as_str());
        canonical_or_error!(Level::parse, |v: &Level| v.as_str().to_string(), raw.as_str());
    }

    #[test]
    fn any_input_object_parses_for_every_kind_or_names_the_field(input in prop::collection::btree_map(
        prop_oneof![Just("name".to_string()), Just("hostname".to_string()), Just("cpu".to_string()),
                    Just("ipv4_private".to_string()), Just("acl_template".to_string()), Just("tags".to_string()), text()],
        json_value(),
        0..6,
    )) {
        let input: Map<String, Value> = input.into_iter().collect();
        for kind in Kind::ALL {
            match Fields::parse(kind, &input) {
                // Parsed values are canonical: parsing them again changes nothing.
                Ok(fields) => {
                    let again = Fields::parse(kind, &fields.values().clone().into_iter().collect()).unwrap();
                    prop_assert_eq!(again.values(), fields.values());
                }
                Err(error) => prop_assert!(error.to_string().contains('`'), "{error} names no field"),
            }
        }
    }

    #[test]
    fn grants_parse_or_name_the_bad_entry(raw in json_value()) {
        if let Err(error) = grants("acl_template", &raw) {
            prop_assert!(error.to_string().starts_with("field `acl_template`"), "{error}");
        }
        let valid = json!({ uuid::Uuid::now_v7().to_string(): "admin" });
        prop_assert_eq!(grants("acl_template", &valid).unwrap().len(), 1);
    }
}
