//! Crawls of uploaded files, run in a crawler process, never in the gateway: a state or
//! facts file is whatever the person who uploads it wrote, and reading it is provider
//! work (see [`asks`](crate::asks)). Files can be larger than a NATS message, so the
//! gateway puts them in a JetStream object store (`MAESTRO_UPLOADS`, where nothing stays
//! longer than an hour), asks a crawler to crawl them by name and waits for the summary;
//! the crawler reads them back, no more than its reach allows, crawls them like any crawl,
//! and deletes them.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, object_store};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::asks::{self, ListenError, Refusal};
use crate::{Counts, CrawlError, Crawler, Job, RunError, SourceFile};

const SUBJECT: &str = "maestro.crawlers.uploads";
const BUCKET: &str = "MAESTRO_UPLOADS";
/// An upload nobody crawled (its gateway or crawler died) goes away after this.
const KEPT_FOR: Duration = Duration::from_secs(3600);
/// The longest the gateway waits: a large state takes a while, but a person waits.
const ANSWER_WITHIN: Duration = Duration::from_secs(300);

/// A file as uploaded: its name (a Terraform state's, or an Ansible host's) and bytes.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// What the crawl of an upload changed, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSummary {
    pub total: Counts,
    pub errors: Vec<String>,
    /// What the files hold that Maestro does not map, by type.
    #[serde(default)]
    pub skipped: std::collections::BTreeMap<String, usize>,
}

/// A crawl of stored files, as the gateway asks for it.
#[derive(Debug, Serialize, Deserialize)]
struct UploadCrawl {
    job: Job,
    /// Each file's name and its object in the store.
    files: Vec<(String, String)>,
}

/// Both ends of crawls of uploads over one NATS client.
#[derive(Clone)]
pub struct UploadCrawls {
    client: async_nats::Client,
}

impl UploadCrawls {
    pub fn new(client: async_nats::Client) -> UploadCrawls {
        UploadCrawls { client }
    }

    async fn store(&self) -> Result<object_store::ObjectStore, Refusal> {
        let context = jetstream::new(self.client.clone());
        let config = object_store::Config {
            bucket: BUCKET.to_string(),
            description: Some("Uploaded files waiting for a crawler; none stays longer than an hour".into()),
            max_age: KEPT_FOR,
            ..Default::default()
        };
        match context.get_object_store(BUCKET).await {
            Ok(store) => Ok(store),
            Err(_) => context.create_object_store(config).await.map_err(|error| {
                Refusal::Unavailable(format!(
                    "NATS did not keep the uploaded files ({error}); check NATS_URL and start NATS with JetStream (`ops/up`)"
                ))
            }),
        }
    }

    /// Stores `files`, asks a crawler to crawl them as `job` and waits for the summary;
    /// the files are deleted whatever came of it.
    pub async fn ask(&self, job: &Job, files: Vec<UploadedFile>) -> Result<UploadSummary, Refusal> {
        let store = self.store().await?;
        let mut stored = vec![];
        for (n, file) in files.into_iter().enumerate() {
            let object = format!("{}/{n}", job.id);
            let put = store.put(object.as_str(), &mut file.bytes.as_slice()).await;
            if let Err(error) = put {
                forget(&store, &stored).await;
                return Err(Refusal::Unavailable(format!(
                    "NATS did not keep the uploaded file `{}` ({error}); check that JetStream has room",
                    file.name
                )));
            }
            stored.push((file.name, object));
        }
        let crawl = UploadCrawl {
            job: job.clone(),
            files: stored,
        };
        let answer = asks::ask(
            &self.client,
            SUBJECT,
            &crawl,
            ANSWER_WITHIN,
            "crawl the uploaded files",
        )
        .await;
        forget(&store, &crawl.files).await;
        answer
    }

    /// Crawls uploads with `crawler`, each on a task of its own; fails when NATS stops
    /// delivering them, so that whoever runs it can start it again.
    pub async fn answer(&self, crawler: Arc<Crawler>) -> Result<(), ListenError> {
        let uploads = self.clone();
        asks::answer_each(&self.client, SUBJECT, move |crawl: UploadCrawl| {
            let (uploads, crawler) = (uploads.clone(), crawler.clone());
            async move { uploads.crawl(&crawler, crawl).await }
        })
        .await
    }

    async fn crawl(&self, crawler: &Crawler, crawl: UploadCrawl) -> Result<UploadSummary, Refusal> {
        let store = self.store().await?;
        let mut files = vec![];
        for (name, object) in &crawl.files {
            let origin = format!("{name} (uploaded)");
            let bytes = read_capped(&store, object, crawler.reach().max_bytes(), &origin).await;
            let file = bytes.and_then(|bytes| SourceFile::from_bytes(origin, name.clone(), bytes));
            match file {
                Ok(file) => files.push(file),
                Err(error) => {
                    forget(&store, &crawl.files).await;
                    let message = match error {
                        CrawlError::Malformed(message) | CrawlError::File(message) => message,
                        other => other.to_string(),
                    };
                    return Err(files_refused(message));
                }
            }
        }
        let crawled = crawler.run_files(&crawl.job, &files, |_| {}).await;
        forget(&store, &crawl.files).await;
        match crawled {
            Ok(summary) => Ok(UploadSummary {
                total: summary.counts(),
                errors: summary.errors,
                skipped: summary.skipped,
            }),
            Err(error) => Err(refusal(error)),
        }
    }
}

/// The object's bytes, refused past `max` bytes: an upload is read no further than any
/// source file.
async fn read_capped(
    store: &object_store::ObjectStore,
    object: &str,
    max: u64,
    origin: &str,
) -> Result<Vec<u8>, CrawlError> {
    let unavailable = |error: &dyn std::fmt::Display| {
        CrawlError::Malformed(format!(
            "{origin} could not be read back from NATS ({error}); upload it again"
        ))
    };
    let stored = store.get(object).await.map_err(|error| unavailable(&error))?;
    let mut bytes = vec![];
    stored
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(|error| unavailable(&error))?;
    if bytes.len() as u64 > max {
        return Err(CrawlError::File(format!(
            "{origin} is larger than the {max} bytes Maestro reads of a file (MAESTRO_SOURCE_MAX_BYTES)"
        )));
    }
    Ok(bytes)
}

async fn forget(store: &object_store::ObjectStore, files: &[(String, String)]) {
    for (_, object) in files {
        if let Err(error) = store.delete(object.as_str()).await {
            tracing::debug!(%error, object, "an uploaded file was already gone");
        }
    }
}

fn files_refused(message: String) -> Refusal {
    Refusal::BadInput {
        field: "files".into(),
        message,
    }
}

/// What a run that did not start means for the person who uploaded.
fn refusal(error: RunError) -> Refusal {
    let bad_input = |field: &str| Refusal::BadInput {
        field: field.to_string(),
        message: error.to_string(),
    };
    match &error {
        RunError::NoConnection(_) | RunError::NoProvider(..) => bad_input("id"),
        RunError::Files(_) => bad_input("files"),
        // The only crawl error before anything runs: a task the provider does not have.
        RunError::Crawl(_) => bad_input("task"),
        RunError::Vault(_) => bad_input("credentials"),
        RunError::Command(_) | RunError::Database(_) => Refusal::Unavailable(error.to_string()),
    }
}
