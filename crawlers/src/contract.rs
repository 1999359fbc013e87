//! The contract every provider implements.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use domain::{Kind, ProviderTags, TagFields};
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::source::{Shape, SourceFile};
use crate::Reach;

/// A discovery task of a provider, e.g. AWS `server-list`.
#[derive(Debug, Clone, Copy)]
pub struct Task {
    pub name: &'static str,
    /// The kinds of item this task observes; what it does not see of them is orphaned.
    pub kinds: &'static [Kind],
    /// How often it runs by default.
    pub every: Duration,
    /// What the provider account must be allowed to do, shown beside the task's status.
    pub permissions: &'static [&'static str],
}

/// One item as the provider shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub kind: Kind,
    /// The provider's own unique id of the item (an instance id, a resource id, …).
    pub provider_id: String,
    /// Field values in the domain's names, not yet parsed: a malformed value is reported
    /// for this item without failing the crawl.
    pub fields: Map<String, Value>,
    /// The provider's tags (labels, metadata) as it shows them, not yet parsed.
    pub tags: BTreeMap<String, String>,
}

impl Observation {
    /// An item without tags; [`Observation::tagged`] adds them.
    pub fn new(kind: Kind, provider_id: impl Into<String>, fields: Map<String, Value>) -> Observation {
        Observation {
            kind,
            provider_id: provider_id.into(),
            fields,
            tags: BTreeMap::new(),
        }
    }

    /// The fields this observation gives its item, with those its tags fill, and its
    /// tags parsed (with the ones Maestro cannot keep named).
    pub fn with_tag_fields(&self, tag_fields: &TagFields) -> (Map<String, Value>, ProviderTags) {
        let tags = ProviderTags::parse(&self.tags);
        let mut fields = self.fields.clone();
        tag_fields.fill(self.kind, &self.provider_id, &mut fields, &tags.tags);
        (fields, tags)
    }

    /// With the given tags.
    pub fn tagged<K: Into<String>, V: Into<String>>(
        mut self,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Observation {
        self.tags
            .extend(tags.into_iter().map(|(key, value)| (key.into(), value.into())));
        self
    }

    /// With the tags of a JSON answer, in whichever shape the provider writes them: an
    /// object (Azure `tags`, OpenStack `metadata`, Terraform `tags` and `labels`), a list
    /// of `{key, value}` objects, or a list of names (DigitalOcean and OpenStack `tags`),
    /// where `env:prod` or `env=prod` is the tag `env` with the value `prod` and a bare
    /// name is a tag with no value. A value that is not text keeps its JSON text.
    pub fn tagged_from(self, raw: Option<&Value>) -> Observation {
        let text = |value: &Value| match value {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let pairs: Vec<(String, String)> = match raw {
            Some(Value::Object(tags)) => tags
                .iter()
                .map(|(key, value)| (key.clone(), text(value)))
                .collect(),
            Some(Value::Array(tags)) => tags
                .iter()
                .filter_map(|tag| match tag {
                    Value::String(name) => Some(match name.split_once([':', '=']) {
                        Some((key, value)) => (key.to_string(), value.to_string()),
                        None => (name.clone(), String::new()),
                    }),
                    Value::Object(pair) => {
                        let field = |names: [&str; 2]| names.iter().find_map(|name| pair.get(*name));
                        Some((
                            text(field(["key", "Key"])?),
                            field(["value", "Value"]).map(text).unwrap_or_default(),
                        ))
                    }
                    _ => None,
                })
                .collect(),
            _ => vec![],
        };
        self.tagged(pairs)
    }
}

/// What a file provider saw for one task in its files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Crawled {
    pub observations: Vec<Observation>,
    /// What the files hold that Maestro does not map, by type (`aws_volume_attachment`
    /// → 3), so that "not supported" is told apart from "nothing there".
    pub skipped: BTreeMap<String, usize>,
}

impl From<Vec<Observation>> for Crawled {
    fn from(observations: Vec<Observation>) -> Crawled {
        Crawled {
            observations,
            skipped: BTreeMap::new(),
        }
    }
}

/// Secrets of a connection, decrypted only for the duration of a crawl. Never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials(BTreeMap<String, String>);

impl Credentials {
    pub fn new(values: BTreeMap<String, String>) -> Credentials {
        Credentials(values)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A credential the provider cannot work without.
    pub fn require(&self, name: &str) -> Result<&str, CrawlError> {
        self.get(name)
            .ok_or_else(|| CrawlError::Credentials(format!("the connection has no `{name}` credential")))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&String> = self.0.keys().collect();
        write!(f, "Credentials({names:?}, values hidden)")
    }
}

/// What a crawl is asked to do.
#[derive(Debug, Clone)]
pub struct CrawlRequest<'a> {
    pub connection: Uuid,
    /// The connection's settings that are not secret: endpoint, project, file path, …
    pub options: &'a Map<String, Value>,
    pub credentials: &'a Credentials,
    pub task: &'a str,
    pub region: &'a str,
    /// What the crawl may reach: local folders, internal networks, bytes per read.
    pub reach: &'a Reach,
}

impl CrawlRequest<'_> {
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name).and_then(Value::as_str)
    }
}

/// Why a crawl saw nothing. Whatever the cause, nothing is orphaned by a failed crawl.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrawlError {
    #[error("{provider} has no task `{task}`; its tasks: {known}")]
    UnknownTask {
        provider: &'static str,
        task: String,
        known: String,
    },
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("the provider refused the credentials ({0}); check them and the permissions the task needs")]
    Unauthorized(String),
    #[error("the provider answered {status} to {what}: {message}")]
    Provider {
        status: u16,
        what: String,
        message: String,
    },
    #[error("could not reach the provider ({0}); check the endpoint and the network")]
    Unreachable(String),
    #[error("the provider's answer is not what was expected: {0}")]
    Malformed(String),
    /// A file the crawl reads (a Terraform state, Ansible facts, an import) that cannot
    /// be read as one: the file's fault, the same for every task, so a run reports it
    /// once and runs no other task on it.
    #[error("{0}; fix the file and crawl again")]
    File(String),
    #[error("setting `{0}` of the connection is missing or wrong: {1}")]
    Settings(String, String),
}

/// A source of discovery.
pub trait Provider: Send + Sync {
    /// As stored in a connection's `provider` field (`aws`, `openstack`, …).
    fn name(&self) -> &'static str;

    fn tasks(&self) -> &'static [Task];

    /// Everything the provider shows for one task in one region, every page of it; an
    /// error when any page failed.
    fn crawl<'a>(&'a self, request: CrawlRequest<'a>) -> BoxFuture<'a, Result<Vec<Observation>, CrawlError>>;

    /// For providers that read files (Terraform state, Ansible facts) from a source: what
    /// they read there. `None`, the default, for those that call an API.
    fn file_shape(&self) -> Option<Shape> {
        None
    }

    /// What the provider shows for one task in these files, given instead of reading the
    /// connection's source (e.g. uploaded), and already checked against
    /// [`Provider::file_shape`]. Only providers with a file shape implement it.
    fn crawl_files<'a>(
        &'a self,
        _request: CrawlRequest<'a>,
        _files: &'a [SourceFile],
    ) -> BoxFuture<'a, Result<Crawled, CrawlError>> {
        Box::pin(std::future::ready(Err(crate::source::not_files(self.name()))))
    }

    fn task(&self, name: &str) -> Result<&'static Task, CrawlError> {
        self.tasks()
            .iter()
            .find(|task| task.name == name)
            .ok_or_else(|| CrawlError::UnknownTask {
                provider: self.name(),
                task: name.to_string(),
                known: self.tasks().iter().map(|t| t.name).collect::<Vec<_>>().join(", "),
            })
    }
}
