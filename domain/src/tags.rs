//! Tags: who set them, what a provider's tags may hold, and which tags name an item's
//! fields (a `Name` tag is the server's name to the team that set it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Environment, Hostname, Kind, TagKey};

/// Who set a tag. A person's tag survives crawls; a provider's tag follows the provider
/// and disappears when the provider no longer has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagSource {
    /// Set by hand (or by a program through the API). Events from before provider tags
    /// carry no source and are a person's.
    #[default]
    Person,
    /// Read from the provider that discovered the item.
    Provider,
}

impl TagSource {
    pub fn is_person(&self) -> bool {
        *self == TagSource::Person
    }
}

/// A tag's value and who set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub value: String,
    pub source: TagSource,
}

const MAX_VALUE_CHARS: usize = 256;

/// Why a tag value cannot be kept, if it cannot.
pub(crate) fn check_value(value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(format!("tag values have at most {MAX_VALUE_CHARS} characters"));
    }
    Ok(())
}

/// The most provider tags an item keeps: far above what clouds allow (AWS and Azure 50,
/// GCP 64 labels), low enough that a crafted state file cannot make one item's events
/// huge.
pub const MAX_PROVIDER_TAGS: usize = 200;

/// The tags a provider shows for one item, parsed. A tag Maestro cannot keep (a key longer
/// than 128 characters, a value longer than 256, one past [`MAX_PROVIDER_TAGS`]) is left
/// out and named in `refused`; the item's other tags and fields are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderTags {
    pub tags: BTreeMap<TagKey, String>,
    pub refused: Vec<String>,
}

impl ProviderTags {
    pub fn parse<'a>(raw: impl IntoIterator<Item = (&'a String, &'a String)>) -> ProviderTags {
        let mut parsed = ProviderTags::default();
        for (key, value) in raw {
            if parsed.tags.len() == MAX_PROVIDER_TAGS {
                parsed.refused.push(format!(
                    "tag `{key}` and the ones after it: an item keeps at most {MAX_PROVIDER_TAGS} provider tags"
                ));
                break;
            }
            match TagKey::parse(key).and_then(|key| check_value(value).map(|()| key)) {
                Ok(key) => {
                    parsed.tags.insert(key, value.clone());
                }
                Err(problem) => parsed.refused.push(format!("tag `{key}`: {problem}")),
            }
        }
        parsed
    }
}

/// Which provider tags fill which fields, per connection (its `tag_fields` option), e.g.
/// `{"name": ["Name", "hostname"], "environment": ["stage"], "owner": []}`. A field the
/// option leaves out keeps its default tags; an empty list turns the field off. Tag keys
/// match without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFields {
    by_field: BTreeMap<&'static str, Vec<String>>,
}

/// The fields a tag may fill, and the tags that fill them unless a connection says
/// otherwise.
const DEFAULTS: [(&str, &[&str]); 3] = [
    ("name", &["Name"]),
    ("environment", &["environment", "env"]),
    ("owner", &["owner"]),
];

impl Default for TagFields {
    fn default() -> TagFields {
        TagFields {
            by_field: DEFAULTS
                .iter()
                .map(|(field, keys)| (*field, keys.iter().map(|key| key.to_string()).collect()))
                .collect(),
        }
    }
}

impl TagFields {
    /// The `tag_fields` option of a connection's options; the defaults when there is none.
    pub fn from_options(options: &Map<String, Value>) -> Result<TagFields, String> {
        let mut fields = TagFields::default();
        let Some(option) = options.get("tag_fields") else {
            return Ok(fields);
        };
        let option = option.as_object().ok_or_else(|| {
            "`tag_fields` must be an object of field names and tag keys, e.g. {\"name\": [\"Name\"]}"
                .to_string()
        })?;
        for (field, keys) in option {
            let (field, _) = DEFAULTS.iter().find(|(name, _)| name == field).ok_or_else(|| {
                let known: Vec<&str> = DEFAULTS.iter().map(|(name, _)| *name).collect();
                format!("`tag_fields` names `{field}`; tags can fill {}", known.join(", "))
            })?;
            let keys = keys
                .as_array()
                .and_then(|keys| keys.iter().map(|key| key.as_str().map(str::to_string)).collect())
                .ok_or_else(|| format!("`tag_fields.{field}` must be a list of tag keys"))?;
            fields.by_field.insert(field, keys);
        }
        Ok(fields)
    }

    /// The value of the first of `field`'s tags that the item has and that is not blank.
    fn value<'t>(&self, field: &str, tags: &'t BTreeMap<TagKey, String>) -> Option<&'t str> {
        self.by_field.get(field)?.iter().find_map(|wanted| {
            tags.iter()
                .find(|(key, value)| key.as_str().eq_ignore_ascii_case(wanted) && !value.trim().is_empty())
                .map(|(_, value)| value.trim())
        })
    }

    /// Fills an observed item's fields from its tags: its name, its environment when the
    /// tag names one Maestro knows (any other value stays a tag only), its owner. A
    /// server whose provider gave no host name, or only its own id for one, is also
    /// named after its name tag when that is a valid host name.
    pub fn fill(
        &self,
        kind: Kind,
        provider_id: &str,
        fields: &mut Map<String, Value>,
        tags: &BTreeMap<TagKey, String>,
    ) {
        if let Some(name) = self.value("name", tags) {
            fields.insert("name".into(), Value::from(name));
            let hostname_is_poor = fields
                .get("hostname")
                .is_none_or(|hostname| hostname.is_null() || hostname.as_str() == Some(provider_id));
            if kind == Kind::Server && hostname_is_poor {
                if let Ok(hostname) = Hostname::parse(name) {
                    fields.insert("hostname".into(), Value::from(hostname.as_str()));
                }
            }
        }
        if let Some(environment) = self
            .value("environment", tags)
            .and_then(|raw| Environment::parse(raw).ok())
        {
            fields.insert("environment".into(), Value::from(environment.to_string()));
        }
        if let Some(owner) = self.value("owner", tags) {
            fields.insert("owner".into(), Value::from(owner));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<TagKey, String> {
        pairs
            .iter()
            .map(|(key, value)| (TagKey::parse(key).unwrap(), value.to_string()))
            .collect()
    }

    fn filled(fields: &TagFields, kind: Kind, given: Value, pairs: &[(&str, &str)]) -> Value {
        let mut given = given.as_object().unwrap().clone();
        fields.fill(kind, "i-1", &mut given, &tags(pairs));
        Value::Object(given)
    }

    #[test]
    fn default_tags_name_servers_and_set_known_environments_and_owners() {
        let defaults = TagFields::default();
        assert_eq!(
            filled(
                &defaults,
                Kind::Server,
                json!({"hostname": "i-1"}),
                &[("NAME", "Web-01"), ("Env", "prod"), ("Owner", "team-a")]
            ),
            json!({"hostname": "web-01", "name": "Web-01", "environment": "Production", "owner": "team-a"})
        );
        assert_eq!(
            filled(
                &defaults,
                Kind::Server,
                json!({"hostname": "ip-10-0-0-1"}),
                &[("Name", "web 01"), ("environment", "moon")]
            ),
            json!({"hostname": "ip-10-0-0-1", "name": "web 01"}),
            "a real host name stays; an unknown environment stays a tag only"
        );
        assert_eq!(
            filled(&defaults, Kind::Volume, json!({}), &[("Name", "data")]),
            json!({"name": "data"})
        );
    }

    #[test]
    fn a_connection_chooses_its_tags_and_bad_options_are_named() {
        let options = json!({"tag_fields": {"name": ["hostname"], "environment": ["stage"], "owner": []}});
        let fields = TagFields::from_options(options.as_object().unwrap()).unwrap();
        assert_eq!(
            filled(
                &fields,
                Kind::Volume,
                json!({}),
                &[("Name", "x"), ("hostname", "y"), ("stage", "dev"), ("owner", "z")]
            ),
            json!({"name": "y", "environment": "Development"})
        );
        let error =
            TagFields::from_options(json!({"tag_fields": {"cpu": ["x"]}}).as_object().unwrap()).unwrap_err();
        assert!(
            error.contains("tags can fill name, environment, owner"),
            "{error}"
        );
        let error = TagFields::from_options(json!({"tag_fields": {"name": "Name"}}).as_object().unwrap())
            .unwrap_err();
        assert!(error.contains("must be a list"), "{error}");
    }

    #[test]
    fn tags_maestro_cannot_keep_are_named_and_the_rest_kept() {
        let raw: BTreeMap<String, String> = [
            ("team".to_string(), "ops".to_string()),
            ("k".repeat(129), "v".to_string()),
            ("long".to_string(), "v".repeat(257)),
        ]
        .into();
        let parsed = ProviderTags::parse(&raw);
        assert_eq!(parsed.tags, tags(&[("team", "ops")]));
        assert_eq!(parsed.refused.len(), 2);
        assert!(parsed.refused[1].contains("at most 256"), "{:?}", parsed.refused);

        let many: BTreeMap<String, String> =
            (0..1000).map(|n| (format!("k{n:04}"), "v".to_string())).collect();
        let parsed = ProviderTags::parse(&many);
        assert_eq!(parsed.tags.len(), MAX_PROVIDER_TAGS);
        assert_eq!(parsed.refused.len(), 1, "one line for all the extra tags");
        assert!(
            parsed.refused[0].contains("at most 200 provider tags"),
            "{:?}",
            parsed.refused
        );
    }
}
