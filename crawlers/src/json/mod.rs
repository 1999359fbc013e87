//! JSON import in the original Maestro format: `{"servers": [...], "applications":
//! [...], "volumes": [...], "snapshots": [...], "images": [...], "flavors": [...]}`,
//! read from the file at the connection's `path` option (under `MAESTRO_SOURCE_DIRS`, like
//! every local source: see [`crate::Reach`]).

use domain::Kind;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{Map, Value};

use crate::source::{Shape, Source};
use crate::{CrawlError, CrawlRequest, Observation, Provider, Task};

pub struct JsonImport;

const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

const TASKS: &[Task] = &[Task {
    name: "import",
    kinds: &[
        Kind::Server,
        Kind::Application,
        Kind::Volume,
        Kind::Snapshot,
        Kind::Image,
        Kind::Flavor,
    ],
    every: DAY,
    permissions: &["read access to the file"],
}];

/// The document's lists and the kind each holds.
const LISTS: [(&str, Kind); 6] = [
    ("servers", Kind::Server),
    ("applications", Kind::Application),
    ("volumes", Kind::Volume),
    ("snapshots", Kind::Snapshot),
    ("images", Kind::Image),
    ("flavors", Kind::Flavor),
];

/// Keys of the original format that Maestro keeps elsewhere or not at all.
const IGNORED: [&str; 4] = ["_id", "id", "tags", "datacenters_id"];

/// Reads a document in the original format into observations. An item's provider id is
/// its `_id` or `id` when it has one, else its host name or name.
pub fn observations(document: &Value) -> Result<Vec<Observation>, CrawlError> {
    let object = document.as_object().ok_or_else(|| {
        CrawlError::File("the import must be a JSON object with lists such as `servers`".into())
    })?;
    let mut observations = vec![];
    for (list, kind) in LISTS {
        let Some(items) = object.get(list) else { continue };
        let items = items
            .as_array()
            .ok_or_else(|| CrawlError::File(format!("`{list}` must be a list")))?;
        for (index, item) in items.iter().enumerate() {
            let item = item
                .as_object()
                .ok_or_else(|| CrawlError::File(format!("`{list}[{index}]` must be an object")))?;
            let provider_id = ["_id", "id", "hostname", "name"]
                .iter()
                .find_map(|key| item.get(*key).and_then(Value::as_str))
                .ok_or_else(|| {
                    CrawlError::File(format!(
                        "`{list}[{index}]` has no `_id`, `id`, `hostname` or `name`"
                    ))
                })?
                .to_string();
            let fields: Map<String, Value> = item
                .iter()
                .filter(|(key, _)| !IGNORED.contains(&key.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            observations.push(Observation::new(kind, provider_id, fields).tagged_from(item.get("tags")));
        }
    }
    Ok(observations)
}

impl Provider for JsonImport {
    fn name(&self) -> &'static str {
        "json"
    }

    fn tasks(&self) -> &'static [Task] {
        TASKS
    }

    fn crawl<'a>(&'a self, request: CrawlRequest<'a>) -> BoxFuture<'a, Result<Vec<Observation>, CrawlError>> {
        async move {
            self.task(request.task)?;
            let path = request.option("path").ok_or_else(|| {
                CrawlError::Settings("path".into(), "give the path of the JSON file to import".into())
            })?;
            let files = Source::Path(path.into()).read(Shape::File, &request).await?;
            let file = &files[0];
            let document: Value = serde_json::from_str(&file.text)
                .map_err(|e| CrawlError::File(format!("{} is not JSON: {e}", file.origin)))?;
            observations(&document)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the original documentation (seed docs, section 4.2.8).
    const EXAMPLE: &str = include_str!("../../tests/data/json/maestro-import-example.json");

    #[test]
    fn the_original_example_imports_and_every_value_parses() {
        let document: Value = serde_json::from_str(EXAMPLE).unwrap();
        let observations = observations(&document).unwrap();
        let kinds: Vec<Kind> = observations.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Server,
                Kind::Application,
                Kind::Volume,
                Kind::Snapshot,
                Kind::Image,
                Kind::Flavor
            ]
        );
        for observation in &observations {
            domain::Fields::parse(observation.kind, &observation.fields)
                .unwrap_or_else(|e| panic!("{} {}: {e}", observation.kind, observation.provider_id));
        }
        assert_eq!(observations[0].provider_id, "myhostname");
        assert_eq!(observations[0].fields["ipv4_private"], "127.0.0.2");
    }

    #[test]
    fn a_malformed_import_says_where() {
        let error = observations(&serde_json::json!({"servers": [{"cpu": 2}]})).unwrap_err();
        assert!(error.to_string().contains("`servers[0]` has no"), "{error}");
        assert!(observations(&serde_json::json!([])).is_err());
    }
}
