//! Running a crawl: a connection's tasks over its regions, each provider answer
//! reconciled into commands that carry the crawler, connection and task as their source.
//! Each task's last state, message, time and counts are recorded on the connection.

use std::collections::BTreeMap;
use std::fmt;

use chrono::Utc;
use commands::{CommandError, CommandHandler, CommandRequest, Vault, VaultError};
use domain::{Access, Acl, ActorKind, Command, Fields, Item, Kind, Metadata, TagFields};
use futures::StreamExt;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::asks::Refusal;
use crate::connection_tests::{ConnectionTest, TestOutcome};
use crate::progress::{Counts, Progress};
use crate::reconcile::{self, Change, Known, Scope};
use crate::source::SourceFile;
use crate::{CrawlError, CrawlRequest, Crawled, Credentials, Provider, Reach, Task};

/// A crawl's commands go to the event log in batches, one commit each (per-item commits
/// would cap a crawl at Postgres' commit rate), a few batches at a time: enough to keep
/// Postgres busy, few enough to leave room for people's own changes.
const COMMANDS_PER_BATCH: usize = 250;
const CONCURRENT_BATCHES: usize = 2;

/// What a crawl changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub discovered: usize,
    pub updated: usize,
    pub orphaned: usize,
    pub unchanged: usize,
    /// Regions where the provider failed: nothing was reconciled there.
    pub failed: usize,
    /// What went wrong: failed regions, and items whose values Maestro cannot take.
    pub errors: Vec<String>,
    /// What the files held that Maestro does not map, by type.
    pub skipped: BTreeMap<String, usize>,
}

impl Summary {
    pub fn counts(&self) -> Counts {
        Counts {
            discovered: self.discovered,
            updated: self.updated,
            orphaned: self.orphaned,
            unchanged: self.unchanged,
            errors: self.errors.len(),
            failed: self.failed,
        }
    }

    /// Why the crawl as a whole failed: some steps saw nothing, so what they hold was
    /// neither updated nor orphaned. Items Maestro could not take do not fail it.
    pub fn failure(&self) -> Option<String> {
        (self.failed > 0).then(|| {
            format!(
                "{} task region(s) failed: {}",
                self.failed,
                self.errors.join("; ")
            )
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.counts().fmt(f)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("there is no connection {0}")]
    NoConnection(Uuid),
    #[error("connection {0} names no provider Maestro can crawl (`{1}`)")]
    NoProvider(Uuid, String),
    /// Files given to crawl (an upload) that the connection's provider cannot take.
    #[error("the files cannot be crawled for this connection: {0}")]
    Files(String),
    #[error(transparent)]
    Crawl(#[from] CrawlError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("Postgres failed while reading what the connection found before ({0}); start it with `ops/up`")]
    Database(#[from] sqlx::Error),
}

/// How a connection takes in what it discovers: who gets access to it, and which tags
/// fill which fields.
struct Adoption {
    grants: Acl,
    tag_fields: TagFields,
}

/// What to crawl: a connection, optionally only one task or region.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub id: Uuid,
    pub connection: Uuid,
    pub task: Option<String>,
    pub region: Option<String>,
}

pub struct Crawler {
    handler: CommandHandler,
    vault: Vault,
    reach: Reach,
}

impl Crawler {
    /// A crawler whose crawls reach only what `reach` allows.
    pub fn new(handler: CommandHandler, vault: Vault, reach: Reach) -> Crawler {
        Crawler {
            handler,
            vault,
            reach,
        }
    }

    /// What its crawls may reach and read.
    pub fn reach(&self) -> &Reach {
        &self.reach
    }

    /// Runs a job; `progress` hears about each task in each region as it starts and as
    /// it ends.
    pub async fn run(&self, job: &Job, progress: impl Fn(&Progress)) -> Result<Summary, RunError> {
        self.run_on(job, None, progress).await
    }

    /// Runs a job on these files (e.g. uploaded) instead of the connection's source, like
    /// any crawl otherwise. Nothing runs when the provider does not read files or the
    /// files do not fit what it reads (see [`Shape::check`](crate::Shape::check)).
    pub async fn run_files(
        &self,
        job: &Job,
        files: &[SourceFile],
        progress: impl Fn(&Progress),
    ) -> Result<Summary, RunError> {
        self.run_on(job, Some(files), progress).await
    }

    async fn run_on(
        &self,
        job: &Job,
        files: Option<&[SourceFile]>,
        progress: impl Fn(&Progress),
    ) -> Result<Summary, RunError> {
        let loaded = self.handler.load(Kind::Connection, job.connection, None).await?;
        if loaded.item.version == 0 || !loaded.item.is_active() {
            return Err(RunError::NoConnection(job.connection));
        }
        let fields = &loaded.item.fields;
        let provider_name = fields
            .get("provider")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let provider = crate::provider(&provider_name)
            .ok_or_else(|| RunError::NoProvider(job.connection, provider_name))?;
        if let Some(files) = files {
            let shape = provider.file_shape().ok_or_else(|| {
                RunError::Files(format!(
                    "{} connections crawl an API, not files; upload to a terraform or ansible connection",
                    provider.name()
                ))
            })?;
            shape.check(files).map_err(RunError::Files)?;
        }
        let tasks: Vec<&'static Task> = match &job.task {
            Some(task) => vec![provider.task(task)?],
            None => provider.tasks().iter().collect(),
        };
        let regions: Vec<String> = match &job.region {
            Some(region) => vec![region.clone()],
            None => regions(&loaded.item),
        };
        let credentials = match self.vault.load(&loaded.item).await {
            Ok(values) => Credentials::new(values),
            Err(VaultError::Missing(_)) => Credentials::default(),
            Err(error) => return Err(error.into()),
        };
        let options = fields
            .get("options")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let adoption = Adoption {
            grants: acl_template(&loaded.item),
            tag_fields: TagFields::from_options(&options)
                .map_err(|problem| CrawlError::Settings("tag_fields".into(), problem))?,
        };
        let mut total = Summary::default();
        let mut told = Progress {
            task: "",
            region: "",
            done: 0,
            steps: tasks.len() * regions.len(),
            step: None,
            total: Counts::default(),
        };
        // A file that cannot be read fails every task the same way: it is counted and
        // reported once, as the file's fault, no other task runs on it, and every task
        // shows the failure.
        let mut unreadable: Option<Summary> = None;
        for task in tasks {
            if let Some(failure) = &unreadable {
                self.record_status(job, task, failure).await?;
                continue;
            }
            let mut task_summary = Summary::default();
            for region in &regions {
                told = Progress {
                    task: task.name,
                    region,
                    step: None,
                    ..told
                };
                progress(&told);
                let request = CrawlRequest {
                    connection: job.connection,
                    options: &options,
                    credentials: &credentials,
                    task: task.name,
                    region,
                    reach: &self.reach,
                };
                let (summary, file_error) = self
                    .crawl(job, provider.as_ref(), task, request, &adoption, files)
                    .await?;
                told.done += 1;
                told.step = Some(summary.counts());
                told.total += summary.counts();
                progress(&told);
                merge(&mut task_summary, &summary);
                if file_error {
                    unreadable = Some(summary);
                    break;
                }
            }
            self.record_status(job, task, &task_summary).await?;
            merge(&mut total, &task_summary);
        }
        Ok(total)
    }

    async fn crawl(
        &self,
        job: &Job,
        provider: &dyn Provider,
        task: &Task,
        request: CrawlRequest<'_>,
        adoption: &Adoption,
        files: Option<&[SourceFile]>,
    ) -> Result<(Summary, bool), RunError> {
        let scope = Scope {
            connection: job.connection,
            task: task.name.to_string(),
            region: request.region.to_string(),
        };
        let mut summary = Summary::default();
        let crawled = match (files, provider.file_shape()) {
            (Some(files), _) => provider.crawl_files(request, files).await,
            (None, Some(_)) => crate::source::crawl_source_files(provider, request).await,
            (None, None) => provider.crawl(request).await.map(Crawled::from),
        };
        let observations = match crawled {
            Ok(crawled) => {
                summary.skipped = crawled.skipped;
                crawled.observations
            }
            Err(error @ CrawlError::File(_)) => {
                summary.failed += 1;
                summary.errors.push(error.to_string());
                return Ok((summary, true));
            }
            Err(error) => {
                summary.failed += 1;
                summary
                    .errors
                    .push(format!("{} in {}: {error}", task.name, scope.region));
                return Ok((summary, false));
            }
        };
        let known = self.known(&scope, task.kinds).await?;
        let plan = reconcile::plan(&scope, &known, &observations, &adoption.tag_fields, true);
        summary.unchanged = plan.unchanged;
        summary.errors.extend(
            plan.invalid
                .iter()
                .map(|(provider_id, error)| format!("{provider_id}: {error}")),
        );
        let metadata = Metadata {
            connection: Some(job.connection),
            task: Some(task.name.to_string()),
            correlation_id: Some(job.id),
            ..Metadata::new(format!("crawler:{}", provider.name()), ActorKind::Crawler)
        };
        let (orphans, requests): (Vec<bool>, Vec<CommandRequest>) = plan
            .changes
            .into_iter()
            .map(|change| {
                let (kind, id, command, orphan) = match change {
                    Change::Observe {
                        id,
                        kind,
                        fields,
                        tags,
                        provenance,
                    } => {
                        let grants = adoption.grants.clone();
                        let observe = Command::Observe {
                            fields,
                            tags,
                            provenance,
                            grants,
                        };
                        (kind, id, observe, false)
                    }
                    Change::Orphan { id, kind } => (kind, id, Command::Orphan, true),
                };
                let request = CommandRequest {
                    kind,
                    id,
                    command,
                    expected_version: None,
                    idempotency_key: None,
                    metadata: metadata.clone(),
                    access: Access::Unrestricted,
                };
                (orphan, request)
            })
            .unzip();
        let mut requests = requests.into_iter().peekable();
        let mut batches = vec![];
        while requests.peek().is_some() {
            batches.push(requests.by_ref().take(COMMANDS_PER_BATCH).collect::<Vec<_>>());
        }
        // Owned batches and handler: the crawl's future stays `Send` for any caller.
        let batches: Vec<Vec<_>> = futures::stream::iter(batches)
            .map(|batch| {
                let handler = self.handler.clone();
                async move { handler.execute_batch(&batch).await }
            })
            .buffered(CONCURRENT_BATCHES)
            .collect()
            .await;
        let outcomes = orphans.into_iter().zip(batches.into_iter().flatten());
        for (orphan, outcome) in outcomes {
            match outcome {
                Ok(outcome) if outcome.appended == 0 => summary.unchanged += 1,
                Ok(_) if orphan => summary.orphaned += 1,
                Ok(outcome) if outcome.item().version == outcome.appended as i64 => summary.discovered += 1,
                Ok(_) => summary.updated += 1,
                Err(error) => summary.errors.push(error.to_string()),
            }
        }
        Ok((summary, false))
    }

    /// The items this scope discovered before, from the read models.
    async fn known(&self, scope: &Scope, kinds: &[Kind]) -> Result<Vec<Known>, sqlx::Error> {
        let mut known = vec![];
        for kind in kinds {
            let rows: Vec<(Uuid, bool, Value)> = sqlx::query_as(&format!(
                "SELECT id, active, doc FROM {} WHERE doc -> 'provenance' ->> 'connection' = $1
                   AND doc -> 'provenance' ->> 'task' = $2 AND doc -> 'provenance' ->> 'region' = $3",
                kind.table()
            ))
            .bind(scope.connection.to_string())
            .bind(&scope.task)
            .bind(&scope.region)
            .fetch_all(self.handler.store().pool())
            .await?;
            known.extend(rows.into_iter().map(|(id, active, document)| Known {
                id,
                kind: *kind,
                active,
                document,
            }));
        }
        Ok(known)
    }

    /// Runs one task of a connection in one region against its provider and says what it
    /// saw, changing nothing. Who may test the connection was decided by whoever asked.
    pub async fn test(&self, test: &ConnectionTest) -> Result<TestOutcome, Refusal> {
        let unavailable = |error: &dyn fmt::Display| Refusal::Unavailable(error.to_string());
        let bad_input = |field: &str, error: &dyn fmt::Display| Refusal::BadInput {
            field: field.to_string(),
            message: error.to_string(),
        };
        let loaded = self
            .handler
            .load(Kind::Connection, test.connection, None)
            .await
            .map_err(|error| unavailable(&error))?;
        let connection = &loaded.item;
        let provider_name = connection
            .fields
            .get("provider")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let provider = crate::provider(provider_name)
            .ok_or_else(|| bad_input("id", &format!("Maestro cannot crawl `{provider_name}` yet")))?;
        let task = match &test.task {
            Some(task) => provider.task(task).map_err(|error| bad_input("task", &error))?,
            None => &provider.tasks()[0],
        };
        let region = match &test.region {
            Some(region) => region.clone(),
            None => regions(connection).swap_remove(0),
        };
        let credentials = match self.vault.load(connection).await {
            Ok(values) => Credentials::new(values),
            Err(VaultError::Missing(_)) => Credentials::default(),
            Err(error @ (VaultError::NoKey | VaultError::BadKey(_) | VaultError::Database(_))) => {
                return Err(unavailable(&error))
            }
            Err(error) => return Err(bad_input("credentials", &error)),
        };
        let options = connection
            .fields
            .get("options")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let request = CrawlRequest {
            connection: connection.id,
            options: &options,
            credentials: &credentials,
            task: task.name,
            region: &region,
            reach: &self.reach,
        };
        Ok(match provider.crawl(request).await {
            Ok(observations) => TestOutcome {
                ok: true,
                task: task.name.to_string(),
                region,
                observed: observations.len(),
                message: format!("{} answered: {} items seen", task.name, observations.len()),
            },
            Err(error) => TestOutcome {
                ok: false,
                task: task.name.to_string(),
                region,
                observed: 0,
                message: error.to_string(),
            },
        })
    }

    /// Records a task's last state on its connection: success, warning (some items were
    /// not taken) or danger (the provider failed). The task states are one field, so the
    /// change is made on the version it was read from, and read again when another job
    /// recorded its own task meanwhile: concurrent jobs never overwrite each other's.
    async fn record_status(&self, job: &Job, task: &Task, summary: &Summary) -> Result<(), RunError> {
        let state = match (summary.failed > 0, summary.errors.is_empty()) {
            (true, _) => "danger",
            (false, true) => "success",
            (false, false) => "warning",
        };
        let mut status = json!({
            "state": state,
            "message": if summary.errors.is_empty() { summary.to_string() } else { summary.errors.join("; ") },
            "at": Utc::now().to_rfc3339(),
            "job": job.id,
            "counts": {"discovered": summary.discovered, "updated": summary.updated, "orphaned": summary.orphaned, "unchanged": summary.unchanged, "errors": summary.errors.len()},
            "permissions": task.permissions,
            "every_seconds": task.every.as_secs(),
        });
        if !summary.skipped.is_empty() {
            status["skipped"] = json!(summary.skipped);
        }
        let metadata = Metadata {
            correlation_id: Some(job.id),
            ..Metadata::new("crawler", ActorKind::Crawler)
        };
        loop {
            let loaded = self.handler.load(Kind::Connection, job.connection, None).await?;
            let mut tasks = loaded
                .item
                .fields
                .get("tasks")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            tasks.insert(task.name.to_string(), status.clone());
            let fields = Fields::parse(
                Kind::Connection,
                &serde_json::Map::from_iter([("tasks".to_string(), Value::Object(tasks))]),
            )
            .map_err(CommandError::from)?;
            let request = CommandRequest {
                kind: Kind::Connection,
                id: job.connection,
                command: Command::Update(fields),
                expected_version: Some(loaded.item.version),
                idempotency_key: None,
                metadata: metadata.clone(),
                access: Access::Unrestricted,
            };
            match self.handler.execute(&request).await {
                Err(CommandError::Conflict { .. }) => continue,
                outcome => return outcome.map(|_| ()).map_err(RunError::from),
            }
        }
    }
}

/// The regions a connection crawls: its `regions`, or `default` when it names none.
fn regions(connection: &Item) -> Vec<String> {
    let named: Vec<String> = connection
        .fields
        .get("regions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if named.is_empty() {
        vec!["default".to_string()]
    } else {
        named
    }
}

fn merge(total: &mut Summary, part: &Summary) {
    total.discovered += part.discovered;
    total.updated += part.updated;
    total.orphaned += part.orphaned;
    total.unchanged += part.unchanged;
    total.failed += part.failed;
    total.errors.extend(part.errors.iter().cloned());
    // Every task reads the same files: what they skip is counted once, not per task.
    for (skipped, count) in &part.skipped {
        let known = total.skipped.entry(skipped.clone()).or_default();
        *known = (*known).max(*count);
    }
}

/// What the items a connection discovers are granted: its `acl_template` field
/// (`{"<user or team id>": "read" | "write" | "admin"}`) when set, else the connection's
/// own grants, so that whoever may see a connection sees what it found.
fn acl_template(connection: &Item) -> Acl {
    match connection.fields.get("acl_template") {
        // Parsed when the connection was given it: it cannot be malformed here.
        Some(template) => domain::grants("acl_template", template).unwrap_or_default(),
        None => connection.acl.clone(),
    }
}
