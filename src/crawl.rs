//! `maestro crawl`: one crawl now, with a line of progress per task and region.

use commands::{CommandHandler, EventStore, Vault};
use crawlers::{Crawler, Job, Summary};
use sqlx::PgPool;

pub async fn run(pool: &PgPool, job: Job) -> anyhow::Result<Summary> {
    let crawler = Crawler::new(
        CommandHandler::new(EventStore::new(pool.clone())),
        Vault::from_env(pool.clone())?,
    );
    let summary = crawler
        .run(&job, |task, region, summary| {
            eprintln!("crawled {task} in {region}: {summary}")
        })
        .await?;
    Ok(summary)
}
