//! Discovery. Each provider lives in its own folder and does one thing: turn what the
//! provider shows for a task and a region into [`Observation`]s. Reconciliation, shared
//! by all, turns observations into commands, so a crawler's finding is a change like
//! any other and shows in history with its source.
//!
//! Adding a provider touches its own folder and one line in [`registry`].

mod asks;
mod connection_tests;
mod contract;
mod jobs;
mod progress;
mod reach;
pub mod reconcile;
mod registry;
mod rest;
mod run;
mod source;
mod streams;
mod updates;
mod uploads;

mod ansible;
mod aws;
mod azure;
mod digitalocean;
mod json;
mod openstack;
mod terraform;

pub use asks::{ListenError, Refusal};
pub use connection_tests::{ConnectionTest, ConnectionTests, TestOutcome};
pub use contract::{CrawlError, CrawlRequest, Crawled, Credentials, Observation, Provider, Task};
pub use jobs::{JobError, JobQueue, CRAWLS_STREAM};
pub use progress::{Counts, Progress};
pub use reach::{Network, Reach, DEFAULT_MAX_BYTES};
pub use registry::{provider, providers};
pub use run::{Crawler, Job, RunError, Summary};
pub use source::{Shape, SourceFile};
pub use updates::{JobState, JobUpdate, JobUpdates, UpdatesError, JOBS_STREAM};
pub use uploads::{UploadCrawls, UploadSummary, UploadedFile};
