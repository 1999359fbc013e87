//! Crawl jobs travel through the JetStream work-queue stream `MAESTRO_CRAWLS`. Every
//! crawler process pulls from the same durable consumer, so several share the work and
//! each job runs once; a job whose crawler died is delivered again after `ACK_WAIT`
//! (the crawler running a job tells NATS it is still at it well before that).
//! What becomes of a job goes out as [`JobUpdate`]s.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream, AckKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::streams::Made;
use crate::updates::{JobUpdate, JobUpdates, UpdatesError};
use crate::{Crawler, Job};

pub const CRAWLS_STREAM: &str = "MAESTRO_CRAWLS";
const SUBJECT: &str = "maestro.crawls";
const CONSUMER: &str = "crawlers";
/// How long a job may go without a word from its crawler before another crawler runs
/// it: a crawler says "still working" every third of it while a job runs, so only a
/// crawler that died (or lost NATS) lets this pass.
const ACK_WAIT: Duration = Duration::from_secs(60);
const MAX_DELIVER: i64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("NATS JetStream did not take the crawl job ({0}); check NATS_URL and start NATS with `ops/up`")]
    Nats(String),
    #[error(transparent)]
    Updates(#[from] UpdatesError),
}

fn nats(error: impl std::fmt::Display) -> JobError {
    JobError::Nats(error.to_string())
}

#[derive(Clone)]
pub struct JobQueue {
    jetstream: jetstream::Context,
    updates: JobUpdates,
    ack_wait: Duration,
    made: Made,
}

impl JobQueue {
    pub fn new(client: async_nats::Client) -> JobQueue {
        JobQueue {
            updates: JobUpdates::new(client.clone()),
            jetstream: jetstream::new(client),
            ack_wait: ACK_WAIT,
            made: Made::default(),
        }
    }

    /// The same queue with another wait before a silent crawler's job runs elsewhere
    /// (tests use seconds). Every worker of a NATS should use the same: the last one to
    /// start sets it.
    pub fn with_ack_wait(self, ack_wait: Duration) -> JobQueue {
        JobQueue { ack_wait, ..self }
    }

    /// What became of the jobs.
    pub fn updates(&self) -> &JobUpdates {
        &self.updates
    }

    async fn stream(&self) -> Result<jetstream::stream::Stream, JobError> {
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: CRAWLS_STREAM.to_string(),
                subjects: vec![SUBJECT.to_string()],
                retention: stream::RetentionPolicy::WorkQueue,
                ..Default::default()
            })
            .await
            .map_err(nats)
    }

    /// Queues a job. Submitting the same job id twice queues it once. The job's first
    /// update, `QUEUED`, goes out before it can start, so its updates come in order.
    pub async fn submit(&self, job: &Job) -> Result<(), JobError> {
        // Both go out before either is awaited: NATS stores what one connection sends in
        // order, so the update is stored before the job can be taken.
        let queued = self.updates.send(&JobUpdate::queued(job)).await?;
        self.made
            .ensure(|| async { self.stream().await.map(drop) })
            .await?;
        let payload = serde_json::to_vec(job).expect("jobs serialize");
        let publish = jetstream::context::Publish::build()
            .payload(payload.into())
            .message_id(job.id.to_string());
        let sent = self.jetstream.send_publish(SUBJECT, publish).await;
        queued.stored().await?;
        let stored = match sent {
            Ok(ack) => ack.await.map(drop).map_err(nats),
            Err(error) => Err(nats(error)),
        };
        if stored.is_err() {
            self.made.forget();
        }
        stored
    }

    /// Runs jobs as they come, for as long as the process lives; when NATS goes away,
    /// waits for it to come back.
    pub async fn work(&self, crawler: &Crawler) -> Result<(), JobError> {
        loop {
            if let Err(error) = self.work_until_interrupted(crawler).await {
                tracing::warn!(%error, "crawl jobs interrupted; resuming");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn work_until_interrupted(&self, crawler: &Crawler) -> Result<(), JobError> {
        // Create or update: a consumer made by an older Maestro gets this ack wait too.
        let consumer = self
            .stream()
            .await?
            .create_consumer(pull::Config {
                durable_name: Some(CONSUMER.to_string()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: self.ack_wait,
                max_deliver: MAX_DELIVER,
                ..Default::default()
            })
            .await
            .map_err(nats)?;
        let mut messages = consumer.messages().await.map_err(nats)?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(nats)?;
            match serde_json::from_slice::<Job>(&message.payload) {
                Ok(job) => {
                    let still_working = async {
                        let mut every = tokio::time::interval(self.ack_wait / 3);
                        every.tick().await;
                        loop {
                            every.tick().await;
                            if let Err(error) = message.ack_with(AckKind::Progress).await {
                                tracing::warn!(job = %job.id, %error, "could not tell NATS the crawl job is still running");
                            }
                        }
                    };
                    tokio::select! {
                        () = self.run(crawler, &job) => {}
                        () = still_working => {}
                    }
                }
                Err(error) => tracing::warn!(%error, "dropping a crawl job that is not a job"),
            }
            message.ack().await.map_err(nats)?;
        }
        Ok(())
    }

    /// Runs a job and publishes its updates. They go out beside the crawl, in order, so
    /// that a slow NATS never holds the crawl up; one that fails is logged and skipped,
    /// since the crawl matters more than its telling.
    async fn run(&self, crawler: &Crawler, job: &Job) {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let crawl = crawler.run(job, move |progress| {
            if progress.step.is_some() {
                tracing::info!(job = %job.id, %progress, "crawled");
            }
            let _ = sender.send(JobUpdate::running(job, progress));
        });
        let publish = async {
            let mut last = None;
            while let Some(update) = receiver.recv().await {
                self.publish(&update).await;
                last = Some(update);
            }
            last
        };
        let (outcome, last) = tokio::join!(crawl, publish);
        match &outcome {
            Ok(summary) => tracing::info!(job = %job.id, %summary, "crawl job done"),
            Err(error) => tracing::warn!(job = %job.id, %error, "crawl job failed"),
        }
        self.publish(&JobUpdate::ended(job, last.as_ref(), &outcome))
            .await;
    }

    async fn publish(&self, update: &JobUpdate) {
        if let Err(error) = self.updates.publish(update).await {
            tracing::warn!(job = %update.job, %error, "a crawl job update was lost");
        }
    }
}
