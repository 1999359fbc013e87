//! What becomes of a crawl job: queued, each step of it starting and ending, then its
//! end. Updates go to the JetStream stream `MAESTRO_JOBS`, on `maestro.jobs.<job id>`,
//! kept for a day, so that whoever asks about a job after it started (or ended) still
//! gets all of its story in order, whichever crawler process ran it.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::progress::{Counts, Progress};
use crate::streams::Made;
use crate::{Job, RunError, Summary};

pub const JOBS_STREAM: &str = "MAESTRO_JOBS";
const SUBJECTS: &str = "maestro.jobs.*";
/// Long enough to look back at last night's crawls; short enough that the stream stays small.
const KEPT_FOR: Duration = Duration::from_secs(24 * 3600);
/// More updates than the largest job makes (two per step), so a job's first ones stay.
const KEPT_PER_JOB: i64 = 10_000;
const KEPT_BYTES: i64 = 256 * 1024 * 1024;
/// The end of a job tells this many of its errors, so that its message stays small.
const ERRORS_TOLD: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// One message about a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobUpdate {
    pub job: Uuid,
    pub connection: Uuid,
    pub state: JobState,
    pub at: DateTime<Utc>,
    /// The task and region of the step this update is about, while running.
    pub task: Option<String>,
    pub region: Option<String>,
    /// Steps ended so far, out of `steps` (0 until the job has started).
    pub done: usize,
    pub steps: usize,
    /// What the step changed, when this update tells its end.
    pub step: Option<Counts>,
    /// What the job changed so far.
    pub total: Counts,
    /// At the end: what went wrong (failed regions, items not taken), the first ones.
    pub errors: Vec<String>,
    /// Why the job failed, when it did.
    pub error: Option<String>,
}

impl JobUpdate {
    fn new(job: &Job, state: JobState) -> JobUpdate {
        JobUpdate {
            job: job.id,
            connection: job.connection,
            state,
            at: Utc::now(),
            task: None,
            region: None,
            done: 0,
            steps: 0,
            step: None,
            total: Counts::default(),
            errors: vec![],
            error: None,
        }
    }

    pub fn queued(job: &Job) -> JobUpdate {
        JobUpdate::new(job, JobState::Queued)
    }

    pub fn running(job: &Job, progress: &Progress) -> JobUpdate {
        JobUpdate {
            task: Some(progress.task.to_string()),
            region: Some(progress.region.to_string()),
            done: progress.done,
            steps: progress.steps,
            step: progress.step,
            total: progress.total,
            ..JobUpdate::new(job, JobState::Running)
        }
    }

    /// The job's end, after `last`, the last update it ran through (none when it failed
    /// before its first step).
    pub fn ended(job: &Job, last: Option<&JobUpdate>, outcome: &Result<Summary, RunError>) -> JobUpdate {
        let (done, steps) = last.map_or((0, 0), |last| (last.done, last.steps));
        let ended = |state| JobUpdate {
            done,
            steps,
            ..JobUpdate::new(job, state)
        };
        match outcome {
            Ok(summary) => {
                let error = summary.failure();
                JobUpdate {
                    total: summary.counts(),
                    errors: summary.errors.iter().take(ERRORS_TOLD).cloned().collect(),
                    error: error.clone(),
                    ..ended(match error {
                        Some(_) => JobState::Failed,
                        None => JobState::Succeeded,
                    })
                }
            }
            Err(error) => JobUpdate {
                total: last.map(|last| last.total).unwrap_or_default(),
                error: Some(error.to_string()),
                ..ended(JobState::Failed)
            },
        }
    }

    pub fn is_end(&self) -> bool {
        matches!(self.state, JobState::Succeeded | JobState::Failed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpdatesError {
    #[error("NATS JetStream failed on the updates of crawl jobs ({0}); check NATS_URL and start NATS with `ops/up`")]
    Nats(String),
    #[error("there is no crawl job {0}, or it ended more than a day ago; start one with `startCrawl`")]
    NoJob(Uuid),
    #[error("update {0} of a crawl job is not one Maestro wrote ({1})")]
    Garbled(u64, String),
}

fn nats(error: impl std::fmt::Display) -> UpdatesError {
    UpdatesError::Nats(error.to_string())
}

fn subject(job: Uuid) -> String {
    format!("maestro.jobs.{job}")
}

/// The updates of every job: the crawlers write them, the gateway reads them.
#[derive(Clone)]
pub struct JobUpdates {
    jetstream: jetstream::Context,
    made: Made,
}

impl JobUpdates {
    pub fn new(client: async_nats::Client) -> JobUpdates {
        JobUpdates {
            jetstream: jetstream::new(client),
            made: Made::default(),
        }
    }

    async fn stream(&self) -> Result<stream::Stream, UpdatesError> {
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: JOBS_STREAM.to_string(),
                subjects: vec![SUBJECTS.to_string()],
                max_age: KEPT_FOR,
                max_messages_per_subject: KEPT_PER_JOB,
                max_bytes: KEPT_BYTES,
                discard: stream::DiscardPolicy::Old,
                ..Default::default()
            })
            .await
            .map_err(nats)
    }

    /// Publishes an update, once JetStream has stored it.
    pub async fn publish(&self, update: &JobUpdate) -> Result<(), UpdatesError> {
        self.send(update).await?.stored().await
    }

    /// Sends an update; what it returns says when JetStream stored it. Updates sent in
    /// turn are stored in that order, which lets a job's first update and the job go out
    /// together.
    pub(crate) async fn send(&self, update: &JobUpdate) -> Result<Sent, UpdatesError> {
        self.made
            .ensure(|| async { self.stream().await.map(drop) })
            .await?;
        let payload = serde_json::to_vec(update).expect("updates serialize");
        match self.jetstream.publish(subject(update.job), payload.into()).await {
            Ok(ack) => Ok(Sent {
                ack,
                made: self.made.clone(),
            }),
            Err(error) => {
                self.made.forget();
                Err(nats(error))
            }
        }
    }

    /// The job's last update, if it is known.
    pub async fn last(&self, job: Uuid) -> Result<Option<JobUpdate>, UpdatesError> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        match self
            .stream()
            .await?
            .get_last_raw_message_by_subject(&subject(job))
            .await
        {
            Ok(message) => parse(message.sequence, &message.payload).map(Some),
            Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(error) => Err(nats(error)),
        }
    }

    /// The job's updates from its first, live as they come, ending with its end.
    pub async fn follow(
        &self,
        job: Uuid,
    ) -> Result<impl Stream<Item = Result<JobUpdate, UpdatesError>> + Send + 'static, UpdatesError> {
        if self.last(job).await?.is_none() {
            return Err(UpdatesError::NoJob(job));
        }
        let messages = self
            .stream()
            .await?
            .create_consumer(pull::OrderedConfig {
                filter_subject: subject(job),
                deliver_policy: jetstream::consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(nats)?
            .messages()
            .await
            .map_err(nats)?;
        // Ends right after the job's end, without waiting for a message that never comes.
        let updates = futures::stream::unfold(Some(messages), |messages| async move {
            let mut messages = messages?;
            let update = messages.next().await?.map_err(nats).and_then(|message| {
                let sequence = message
                    .info()
                    .map(|info| info.stream_sequence)
                    .unwrap_or_default();
                parse(sequence, &message.payload)
            });
            let ended = update.as_ref().map_or(true, JobUpdate::is_end);
            Some((update, (!ended).then_some(messages)))
        });
        Ok(updates)
    }
}

impl JobUpdates {
    /// Hands every job's updates, from when the durable consumer `durable` was first made,
    /// to `handle`, for as long as NATS serves them. Processes pulling under one name share
    /// the updates; an update is acknowledged once `handle` took it, and delivered again
    /// (to any of them) when `handle` failed or its process died first.
    pub async fn handle_each<Handle, Handled>(
        &self,
        durable: &str,
        mut handle: Handle,
    ) -> Result<(), UpdatesError>
    where
        Handle: FnMut(JobUpdate) -> Handled,
        Handled: std::future::Future<Output = Result<(), String>>,
    {
        let consumer = self
            .stream()
            .await?
            .create_consumer(pull::Config {
                durable_name: Some(durable.to_string()),
                deliver_policy: jetstream::consumer::DeliverPolicy::New,
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(60),
                ..Default::default()
            })
            .await
            .map_err(nats)?;
        let mut messages = consumer.messages().await.map_err(nats)?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(nats)?;
            let sequence = message
                .info()
                .map(|info| info.stream_sequence)
                .unwrap_or_default();
            let handled = match parse(sequence, &message.payload) {
                Ok(update) => handle(update).await,
                // Not Maestro's: nothing to do with it, ever.
                Err(error) => {
                    tracing::warn!(%error, "skipping a job update");
                    Ok(())
                }
            };
            let ack = match handled {
                Ok(()) => message.ack().await,
                Err(error) => {
                    tracing::warn!(%error, "a job update was not handled; it comes again");
                    message
                        .ack_with(jetstream::AckKind::Nak(Some(Duration::from_secs(1))))
                        .await
                }
            };
            ack.map_err(nats)?;
        }
        Ok(())
    }
}

/// An update on its way to JetStream.
pub(crate) struct Sent {
    ack: jetstream::context::PublishAckFuture,
    made: Made,
}

impl Sent {
    pub(crate) async fn stored(self) -> Result<(), UpdatesError> {
        self.ack.await.map(drop).map_err(|error| {
            self.made.forget();
            nats(error)
        })
    }
}

fn parse(sequence: u64, payload: &[u8]) -> Result<JobUpdate, UpdatesError> {
    serde_json::from_slice(payload).map_err(|error| UpdatesError::Garbled(sequence, error.to_string()))
}
