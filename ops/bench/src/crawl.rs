//! `crawl`: the AWS crawler's tasks `server-list` and `volumes-list` against a private
//! moto holding `--instances` EC2 instances (reservations of 100) and `--volumes`
//! volumes (the instances' root volumes, topped up), all seeded before anything is timed.
//!
//! 1. First crawl: from the start of the crawl until the inventory projection, running
//!    beside it as in production, has made every item queryable.
//! 2. The same again with nothing changed: no event may be appended.
//! 3. 100 instances stopped in moto, then a crawl: exactly their 100 servers get events.
//!
//! Beside each, measured just before it in the same run: the AWS SDK alone listing the
//! same data (DescribeInstances and DescribeVolumes, every page, the same page size).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use commands::{CommandHandler, CommandRequest, Cursor, EventStore, Vault, Wakeup};
use crawlers::{Counts, Crawler, Job, Reach};
use domain::{ActorKind, Command, Fields, Kind, Metadata};
use projections::Inventory;
use serde_json::json;
use uuid::Uuid;

use crate::db::BenchDb;
use crate::measure::timed;
use crate::moto::{self, PrivateMoto, REGION};
use crate::report::{note, Comparison, Quantity, Target};
use crate::Options;

const TASKS: [&str; 2] = ["server-list", "volumes-list"];
const PER_RESERVATION: i32 = 100;
const CHANGED: usize = 100;
/// Not a secret: it encrypts the moto credentials of a database dropped afterwards.
const BENCH_KEY: &str = "bWFlc3Ryby1iZW5jaC1jcmVkZW50aWFscy1rZXktMzI=";
/// Commands of a crawl in flight, plus the projector, the crawl's reads and the checks.
const CONNECTIONS: u32 = 16;
/// How often the projector looks for new events when no notification wakes it.
const POLL: Duration = Duration::from_millis(100);

pub async fn run(options: &Options) -> anyhow::Result<Vec<Comparison>> {
    let moto = PrivateMoto::start(options.moto_server.as_deref()).await?;
    let ec2 = moto.ec2();
    let reservations = options.instances.div_ceil(PER_RESERVATION as usize);
    let (instances, took) = timed(moto::seed(&ec2, reservations, PER_RESERVATION, options.volumes)).await;
    let instances = instances?;
    let listed = listing(&ec2, options.page_size).await?;
    note(format!(
        "moto seeded in {:.0}s: {} instances, {} volumes, page size {}",
        took.as_secs_f64(),
        listed.instances,
        listed.volumes,
        options.page_size
    ));

    let db = BenchDb::fresh(options, "crawl", CONNECTIONS).await?;
    let store = EventStore::new(db.pool.clone());
    // The crawler reads what it found before from the read model: its tables come first.
    projections::ensure(&store, &Inventory).await?;
    let projector = {
        let (store, url, wakeup) = (store.clone(), db.url.clone(), Wakeup::new(&db.pool, POLL).await);
        tokio::spawn(async move {
            let _ = projections::run(store, url, Inventory, wakeup).await;
        })
    };
    let handler = CommandHandler::new(store.clone());
    let vault = Vault::with_key(db.pool.clone(), BENCH_KEY)?;
    let connection = aws_connection(&handler, &vault, &moto, options.page_size).await?;
    let bench = Bench {
        db: &db,
        store: &store,
        // moto runs on this machine: the bench allows loopback, as an operator would with
        // MAESTRO_PRIVATE_ENDPOINTS.
        crawler: Crawler::new(
            handler,
            vault,
            Reach::new(
                vec![],
                vec!["127.0.0.0/8".parse().map_err(anyhow::Error::msg)?],
                crawlers::DEFAULT_MAX_BYTES,
            ),
        ),
        connection,
        ec2: &ec2,
        page_size: options.page_size,
        projector,
    };

    let first = bench.phase().await?;
    ensure!(
        first.counts.discovered == listed.instances + listed.volumes,
        "the first crawl discovered {}, not the {} instances and volumes moto holds",
        first.counts.discovered,
        listed.instances + listed.volumes
    );
    note(format!(
        "first crawl: {}; the projector finished {:.1}s after the crawler",
        first.counts,
        first.projector_behind.as_secs_f64()
    ));

    let second = bench.phase().await?;
    ensure!(
        second.items_changed.is_empty(),
        "a crawl with nothing changed gave {} items events",
        second.items_changed.len()
    );
    note(format!(
        "unchanged crawl: {}; {} events appended to items",
        second.counts, second.item_events
    ));

    let stopped = &instances[..CHANGED.min(instances.len())];
    ec2.stop_instances()
        .set_instance_ids(Some(stopped.to_vec()))
        .send()
        .await
        .context("moto refused StopInstances")?;
    let third = bench.phase().await?;
    let expected: BTreeSet<Uuid> = stopped
        .iter()
        .map(|instance| crawlers::reconcile::item_id(connection, Kind::Server, instance))
        .collect();
    ensure!(
        third.items_changed == expected,
        "{} items got events, {} of them among the {} stopped instances",
        third.items_changed.len(),
        third.items_changed.intersection(&expected).count(),
        expected.len()
    );
    note(format!(
        "after stopping {} instances: {}; {} events, on exactly those {} servers",
        stopped.len(),
        third.counts,
        third.item_events,
        expected.len()
    ));

    bench.projector.abort();
    db.finish().await?;
    let beside_listing = |name, phase: &Phase, target| Comparison {
        name,
        maestro: Quantity::Time(phase.crawl),
        reference: Quantity::Time(phase.listing),
        target,
    };
    Ok(vec![
        beside_listing("crawl-first", &first, Target::AtMost(1.5)),
        beside_listing("crawl-unchanged", &second, Target::AtMost(1.2)),
        beside_listing("crawl-100-changed", &third, Target::None),
    ])
}

/// What moto lists.
struct Listed {
    instances: usize,
    volumes: usize,
}

/// The reference: the AWS SDK alone listing what the two tasks crawl.
async fn listing(ec2: &aws_sdk_ec2::Client, page_size: i32) -> anyhow::Result<Listed> {
    let reservations: Vec<_> = ec2
        .describe_instances()
        .into_paginator()
        .page_size(page_size)
        .send()
        .try_collect()
        .await?;
    let volumes: Vec<_> = ec2
        .describe_volumes()
        .into_paginator()
        .page_size(page_size)
        .send()
        .try_collect()
        .await?;
    Ok(Listed {
        instances: reservations
            .iter()
            .flat_map(|page| page.reservations())
            .map(|reservation| reservation.instances().len())
            .sum(),
        volumes: volumes.iter().map(|page| page.volumes().len()).sum(),
    })
}

/// An AWS connection to moto, with its credentials in the vault.
async fn aws_connection(
    handler: &CommandHandler,
    vault: &Vault,
    moto: &PrivateMoto,
    page_size: i32,
) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    let settings = json!({
        "name": "moto", "provider": "aws", "regions": [REGION],
        // moto takes seconds to list thousands of instances: more than the default timeout.
        "options": {"endpoint": moto.endpoint, "page_size": page_size, "timeout_seconds": 600},
    });
    let fields = Fields::parse(Kind::Connection, settings.as_object().expect("an object"))?;
    let created = handler
        .execute(&CommandRequest {
            kind: Kind::Connection,
            id,
            command: Command::Create(fields),
            expected_version: None,
            idempotency_key: None,
            metadata: Metadata::new("bench", ActorKind::User),
            access: domain::Access::Unrestricted,
        })
        .await?;
    let credentials = [
        ("access_key_id", moto::ACCESS_KEY_ID),
        ("secret_access_key", moto::SECRET_ACCESS_KEY),
    ]
    .map(|(name, value)| (name.to_string(), value.to_string()));
    vault
        .store(created.item(), &credentials.into_iter().collect())
        .await?;
    Ok(id)
}

struct Bench<'a> {
    db: &'a BenchDb,
    store: &'a EventStore,
    crawler: Crawler,
    connection: Uuid,
    ec2: &'a aws_sdk_ec2::Client,
    page_size: i32,
    /// The inventory projection following the log, as the projector role does.
    projector: tokio::task::JoinHandle<()>,
}

/// One crawl beside its reference.
struct Phase {
    listing: Duration,
    crawl: Duration,
    counts: Counts,
    /// How long after the crawl's end the projector had applied it all.
    projector_behind: Duration,
    /// Events appended to items (not to the connection, whose task statuses change).
    item_events: i64,
    items_changed: BTreeSet<Uuid>,
}

impl Bench<'_> {
    async fn phase(&self) -> anyhow::Result<Phase> {
        let (listed, listing) = timed(listing(self.ec2, self.page_size)).await;
        listed?;
        let before = log_end(self.db).await?;
        let (crawled, crawl) = timed(self.crawl_until_queryable()).await;
        let (counts, projector_behind) = crawled?;
        let changed: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT stream_id, count(*) FROM events WHERE position > $1 AND stream_type <> 'connection'
              GROUP BY stream_id",
        )
        .bind(before.position)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(Phase {
            listing,
            crawl,
            counts,
            projector_behind,
            item_events: changed.iter().map(|(_, events)| events).sum(),
            items_changed: changed.into_iter().map(|(id, _)| id).collect(),
        })
    }

    /// Both tasks, one job each, then the wait until the projector has applied it all
    /// (returned beside the counts).
    async fn crawl_until_queryable(&self) -> anyhow::Result<(Counts, Duration)> {
        let mut counts = Counts::default();
        for task in TASKS {
            let job = Job {
                id: Uuid::now_v7(),
                connection: self.connection,
                task: Some(task.to_string()),
                region: None,
            };
            let summary = self.crawler.run(&job, |_| {}).await?;
            if let Some(failure) = summary.failure() {
                anyhow::bail!("{task}: {failure}");
            }
            counts += summary.counts();
        }
        let end = log_end(self.db).await?;
        let crawled = Instant::now();
        while self.store.checkpoint(Inventory::NAME).await? < end {
            ensure!(
                !self.projector.is_finished(),
                "the inventory projection stopped; see its log"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok((counts, crawled.elapsed()))
    }
}

/// The cursor of the last event committed so far.
async fn log_end(db: &BenchDb) -> anyhow::Result<Cursor> {
    let end: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position FROM events
          ORDER BY transaction_id DESC, position DESC LIMIT 1",
    )
    .fetch_optional(&db.pool)
    .await?;
    Ok(end
        .map(|(transaction_id, position)| Cursor {
            transaction_id,
            position,
        })
        .unwrap_or_default())
}
