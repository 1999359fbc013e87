//! Which fields each kind has, of which type, and how raw input becomes [`Fields`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::{Map, Value};

use crate::schedule;
use crate::values::{Cidr, Environment, Family, Hostname, Provider, Source, Status};
use crate::{DomainError, Kind};

/// How a field's raw JSON value is parsed and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A non-empty string, trimmed.
    Text,
    Hostname,
    Ipv4,
    /// A list of IPv4 or IPv6 addresses.
    IpList,
    Cidr,
    Environment,
    Status,
    Family,
    Provider,
    /// A discovery source (a connection's provider).
    Source,
    /// A whole number ≥ 0; numeric strings such as "500" are accepted (old imports use them).
    Count,
    Flag,
    TextList,
    /// A JSON object, checked to hold no secret.
    Object,
    /// A list of JSON objects, checked to hold no secret.
    ObjectList,
    /// Grants to give: `{"<user or team id>": "read" | "write" | "admin"}`.
    Grants,
    /// Another item's id.
    Id,
    /// A length of time, stored in whole seconds: a number of seconds, or text such as
    /// `90s`, `5m`, `6h`, `14d`, `2w`.
    Interval,
    /// A cron expression (five fields, or six with seconds first).
    Cron,
    /// An IANA time zone such as `Europe/Paris`.
    TimeZone,
    /// What a schedule runs.
    ScheduleAction,
    /// What a schedule does with firings missed while no scheduler ran.
    Missed,
}

/// Who may set a field, beyond the write access every change needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Anyone who may write the item.
    Writers,
    /// Only the item's admins: the field decides where secrets go or who gets access.
    Admins,
    /// Only Maestro itself (crawlers, the credentials vault): people never set it, and a
    /// revert leaves it as it is.
    Maestro,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub field_type: FieldType,
    pub guard: Guard,
}

const fn field(name: &'static str, field_type: FieldType) -> FieldSpec {
    guarded(name, field_type, Guard::Writers)
}

const fn guarded(name: &'static str, field_type: FieldType, guard: Guard) -> FieldSpec {
    FieldSpec {
        name,
        field_type,
        guard,
    }
}

use FieldType::*;

/// Fields every kind has.
const COMMON: &[FieldSpec] = &[
    field("name", Text),
    field("description", Text),
    field("status", Status),
    field("environment", Environment),
    field("owner", Text),
    // Placement: {datacenter, provider, region, zone, instance_type, instance_id}.
    field("datacenters", Object),
];

const DATACENTER: &[FieldSpec] = &[
    field("provider", Provider),
    field("regions", TextList),
    field("zones", TextList),
];

const SERVER: &[FieldSpec] = &[
    field("hostname", Hostname),
    field("ipv4_private", Ipv4),
    field("ipv4_public", Ipv4),
    field("ipv6_all", IpList),
    field("dns_private", Hostname),
    field("dns_public", Hostname),
    field("os", Object),
    field("cpu", Count),
    field("memory", Count),
    field("role", Text),
    field("storage", ObjectList),
    field("auth", ObjectList),
    field("services", ObjectList),
    field("image", Text),
    field("checksum", Text),
];

const APPLICATION: &[FieldSpec] = &[
    field("family", Family),
    field("language", Text),
    field("cluster", Text),
    field("role", Object),
    field("deploy", ObjectList),
    field("endpoint", Text),
    field("healthcheck", Text),
    // Family-specific details: a database's engine and version, a cache's node type, …
    field("specs", Object),
];

const SYSTEM: &[FieldSpec] = &[field("links", ObjectList)];

const CLIENT: &[FieldSpec] = &[field("contacts", ObjectList)];

const VOLUME: &[FieldSpec] = &[
    field("size", Count),
    field("state", Text),
    field("volume_type", Text),
    field("encrypted", Flag),
    field("iops", Count),
];

const SNAPSHOT: &[FieldSpec] = &[
    field("size", Count),
    field("state", Text),
    field("encrypted", Flag),
    field("volume_id", Text),
];

const IMAGE: &[FieldSpec] = &[
    field("size", Count),
    field("state", Text),
    field("architecture", Text),
    field("platform", Text),
];

const FLAVOR: &[FieldSpec] = &[
    field("vcpus", Count),
    field("memory", Count),
    field("disk", Count),
];

/// A connection's settings. Its credentials are not a field: they live encrypted in
/// their own table, and `credentials_ref` only says which version is current.
///
/// The provider and its options decide where the stored credentials are sent, and the ACL
/// template who gets what the connection discovers: changing them needs admin, as reading
/// the credentials would. Task states and the credentials reference are Maestro's own.
const CONNECTION: &[FieldSpec] = &[
    guarded("provider", Source, Guard::Admins),
    field("regions", TextList),
    // Provider settings that are not secret: endpoint, project, tenant, subscription, …
    guarded("options", Object, Guard::Admins),
    // Per task: last state, message, time, counts, needed permissions, schedule window.
    guarded("tasks", Object, Guard::Maestro),
    guarded("credentials_ref", Text, Guard::Maestro),
    // The access list given to what the connection discovers.
    guarded("acl_template", Grants, Guard::Admins),
];

/// A schedule: what to run, and when. Its run count, last and next run are the
/// scheduler's bookkeeping, not fields: they change at every run and are not history.
const SCHEDULE: &[FieldSpec] = &[
    field("action", ScheduleAction),
    // A crawl's connection, and optionally one task and one region of it.
    field("connection", Id),
    field("task", Text),
    field("region", Text),
    // A webhook call's endpoint.
    field("webhook", Id),
    field("interval", Interval),
    field("cron", Cron),
    field("timezone", TimeZone),
    field("jitter", Interval),
    field("enabled", Flag),
    field("missed", Missed),
    // A chain: run this long (`countdown`) after that schedule's run succeeds.
    field("after", Id),
    field("countdown", Interval),
    field("max_failures", Count),
];

/// An event rule. It sees only items its people may read.
const RULE: &[FieldSpec] = &[
    field("stream_types", TextList),
    field("event_types", TextList),
    field("conditions", Object),
    field("changed_fields", TextList),
    field("actor_kinds", TextList),
    field("notify", Flag),
    field("webhook", Id),
    field("enabled", Flag),
];

const NETWORK: &[FieldSpec] = &[
    field("network_type", Text),
    field("cidr", Cidr),
    field("state", Text),
    field("rules", ObjectList),
];

/// How the names of keys that must never be stored end, once lower-cased and rid of
/// `-`, `_` and spaces (`client_secret`, `secret-access-key`, `AccessToken`): the
/// inventory describes access, it never holds it. Ends, not whole names: providers and
/// people prefix them (`client_`, `refresh_`, `ssh_`), and `access_key_id` is no secret.
const SECRET_ENDINGS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "privatekey",
    "secretkey",
    "accesskey",
    "apikey",
];

impl Kind {
    /// The fields of this kind, the common ones first.
    pub fn fields(self) -> impl Iterator<Item = &'static FieldSpec> {
        let own = match self {
            Kind::Datacenter => DATACENTER,
            Kind::Server => SERVER,
            Kind::Application => APPLICATION,
            Kind::System => SYSTEM,
            Kind::Client => CLIENT,
            Kind::Volume => VOLUME,
            Kind::Snapshot => SNAPSHOT,
            Kind::Image => IMAGE,
            Kind::Flavor => FLAVOR,
            Kind::Network => NETWORK,
            Kind::Connection => CONNECTION,
            Kind::Schedule => SCHEDULE,
            Kind::Rule => RULE,
        };
        COMMON.iter().chain(own)
    }

    pub fn field(self, name: &str) -> Option<&'static FieldSpec> {
        self.fields().find(|spec| spec.name == name)
    }

    /// The field that must be given on create. A server is known by its host name and
    /// takes it as its name when none is given; everything else needs a name.
    pub fn required_field(self) -> &'static str {
        match self {
            Kind::Server => "hostname",
            _ => "name",
        }
    }
}

/// Parsed field values of one kind, in their canonical JSON form. `Value::Null` means
/// "clear this field" (only meaningful in an update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    kind: Kind,
    values: BTreeMap<String, Value>,
}

impl Fields {
    /// Parses raw input for `kind`: unknown fields and malformed values are errors that
    /// name the field.
    pub fn parse(kind: Kind, input: &Map<String, Value>) -> Result<Fields, DomainError> {
        let mut values = BTreeMap::new();
        for (name, raw) in input {
            let spec = kind.field(name).ok_or_else(|| DomainError::UnknownField {
                kind,
                field: name.clone(),
                known: kind.fields().map(|s| s.name).collect::<Vec<_>>().join(", "),
            })?;
            let value = if raw.is_null() {
                Value::Null
            } else {
                parse_value(spec, raw)?
            };
            values.insert(name.clone(), value);
        }
        Ok(Fields { kind, values })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn values(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }
}

fn parse_value(spec: &FieldSpec, raw: &Value) -> Result<Value, DomainError> {
    let field = spec.name;
    let text = || match raw {
        Value::String(s) if !s.trim().is_empty() => Ok(s.trim()),
        Value::String(_) => Err(DomainError::invalid(field, "must not be empty")),
        other => Err(DomainError::invalid(
            field,
            format!("expected a string, got {other}"),
        )),
    };
    let canonical = |parsed: Result<String, String>| {
        parsed
            .map(Value::String)
            .map_err(|problem| DomainError::invalid(field, problem))
    };
    match spec.field_type {
        Text => Ok(Value::String(text()?.to_string())),
        Hostname => canonical(Hostname::parse(text()?).map(|h| h.as_str().to_string())),
        Ipv4 => text()?
            .parse::<Ipv4Addr>()
            .map(|ip| Value::String(ip.to_string()))
            .map_err(|_| DomainError::invalid(field, format!("{raw} is not an IPv4 address"))),
        IpList => list(field, raw, |item| {
            item.as_str()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .map(|ip| Value::String(ip.to_string()))
                .ok_or_else(|| format!("{item} is not an IP address"))
        }),
        Cidr => canonical(Cidr::parse(text()?).map(|v| v.to_string())),
        Environment => canonical(Environment::parse(text()?).map(|v| v.to_string())),
        Status => canonical(Status::parse(text()?).map(|v| v.to_string())),
        Family => canonical(Family::parse(text()?).map(|v| v.to_string())),
        Provider => canonical(Provider::parse(text()?).map(|v| v.to_string())),
        Source => canonical(Source::parse(text()?).map(|v| v.to_string())),
        Count => count(raw)
            .map(Value::from)
            .ok_or_else(|| DomainError::invalid(field, format!("{raw} is not a whole number ≥ 0"))),
        Flag => raw
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| DomainError::invalid(field, format!("{raw} is not true or false"))),
        TextList => list(field, raw, |item| match item.as_str().map(str::trim) {
            Some(s) if !s.is_empty() => Ok(Value::String(s.to_string())),
            _ => Err(format!("{item} is not a non-empty string")),
        }),
        Object => match raw {
            Value::Object(_) => secret_free(field, raw).map(|()| raw.clone()),
            other => Err(DomainError::invalid(
                field,
                format!("expected an object, got {other}"),
            )),
        },
        ObjectList => list(field, raw, |item| match item {
            Value::Object(_) => Ok(item.clone()),
            other => Err(format!("expected an object, got {other}")),
        })
        .and_then(|value| secret_free(field, &value).map(|()| value)),
        Grants => grants(field, raw).map(|acl| serde_json::to_value(acl).expect("grants serialize")),
        Id => text()?
            .parse::<uuid::Uuid>()
            .map(|id| Value::String(id.to_string()))
            .map_err(|_| DomainError::invalid(field, format!("{raw} is not an id"))),
        Interval => schedule::parse_interval(raw)
            .map(Value::from)
            .map_err(|problem| DomainError::invalid(field, problem)),
        Cron => {
            let expression = text()?;
            canonical(schedule::parse_cron(expression).map(|_| expression.to_string()))
        }
        TimeZone => canonical(schedule::parse_time_zone(text()?).map(|zone| zone.name().to_string())),
        ScheduleAction => canonical(schedule::ScheduleAction::parse(text()?).map(|v| v.to_string())),
        Missed => canonical(schedule::Missed::parse(text()?).map(|v| v.to_string())),
    }
}

/// Parses grants; the first bad principal or level is named in the error.
pub fn grants(field: &str, raw: &Value) -> Result<crate::Acl, DomainError> {
    let object = raw.as_object().ok_or_else(|| {
        DomainError::invalid(
            field,
            format!("expected an object of user or team id → read, write or admin; got {raw}"),
        )
    })?;
    object
        .iter()
        .map(|(principal, level)| {
            let principal = uuid::Uuid::parse_str(principal).map_err(|_| {
                DomainError::invalid(field, format!("`{principal}` is not a user or team id"))
            })?;
            let level = level
                .as_str()
                .ok_or_else(|| DomainError::invalid(field, format!("{level} is not read, write or admin")))
                .and_then(crate::Level::parse)?;
            Ok((principal, level))
        })
        .collect()
}

fn list(
    field: &str,
    raw: &Value,
    parse_item: impl Fn(&Value) -> Result<Value, String>,
) -> Result<Value, DomainError> {
    let items = raw
        .as_array()
        .ok_or_else(|| DomainError::invalid(field, format!("expected a list, got {raw}")))?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            parse_item(item).map_err(|problem| DomainError::invalid(&format!("{field}[{index}]"), problem))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn count(raw: &Value) -> Option<u64> {
    match raw {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn secret_free(field: &str, value: &Value) -> Result<(), DomainError> {
    match value {
        Value::Object(map) => map.iter().try_for_each(|(key, inner)| {
            let folded: String = key
                .chars()
                .filter(|c| !matches!(c, '-' | '_' | ' '))
                .flat_map(char::to_lowercase)
                .collect();
            if SECRET_ENDINGS.iter().any(|ending| folded.ends_with(ending)) {
                Err(DomainError::invalid(
                    field,
                    format!("`{key}` looks like a secret; Maestro never stores secrets, describe access without it"),
                ))
            } else {
                secret_free(field, inner)
            }
        }),
        Value::Array(items) => items.iter().try_for_each(|item| secret_free(field, item)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(kind: Kind, input: Value) -> Result<Fields, DomainError> {
        Fields::parse(kind, input.as_object().unwrap())
    }

    #[test]
    fn values_are_canonicalised() {
        let fields = parse(
            Kind::Server,
            json!({"hostname": "Web-1.Example.com", "environment": "prod", "cpu": "4", "ipv6_all": ["2001:DB8::1"]}),
        )
        .unwrap();
        assert_eq!(fields.get("hostname"), Some(&json!("web-1.example.com")));
        assert_eq!(fields.get("environment"), Some(&json!("Production")));
        assert_eq!(fields.get("cpu"), Some(&json!(4)));
        assert_eq!(fields.get("ipv6_all"), Some(&json!(["2001:db8::1"])));
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let error = parse(Kind::Server, json!({"ipv4_private": "10.0.0.300"})).unwrap_err();
        assert_eq!(
            error.to_string(),
            "field `ipv4_private`: \"10.0.0.300\" is not an IPv4 address"
        );
        let error = parse(Kind::Server, json!({"ipv6_all": ["::1", "nope"]})).unwrap_err();
        assert!(error.to_string().starts_with("field `ipv6_all[1]`"), "{error}");
        let error = parse(Kind::Volume, json!({"hostname": "a"})).unwrap_err();
        assert!(matches!(error, DomainError::UnknownField { .. }), "{error}");
        assert!(error.to_string().contains("known fields: name,"));
    }

    #[test]
    fn secrets_are_refused_anywhere_in_nested_values() {
        let error = parse(
            Kind::Server,
            json!({"auth": [{"type": "PKI", "username": "deploy", "Private-Key": "-----BEGIN"}]}),
        )
        .unwrap_err();
        assert!(error.to_string().contains("looks like a secret"), "{error}");
    }

    #[test]
    fn secret_names_are_refused_in_connection_options_however_written() {
        for key in [
            "client_secret",
            "secret_access_key",
            "access_token",
            "refresh_token",
            "ssh_private_key",
            "Secret-Key",
            "apiKey",
            "db_password",
        ] {
            let error = parse(Kind::Connection, json!({"options": {key: "x"}})).unwrap_err();
            assert!(
                error.to_string().contains("looks like a secret"),
                "{key}: {error}"
            );
        }
        for key in [
            "access_key_id",
            "token_url",
            "endpoint",
            "key",
            "secret_name_hint",
        ] {
            parse(Kind::Connection, json!({"options": {key: "x"}}))
                .unwrap_or_else(|error| panic!("{key}: {error}"));
        }
    }
}
