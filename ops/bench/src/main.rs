//! `maestro-bench`: measures Maestro beside a reference measured in the same run on the
//! same machine, and prints both numbers and their ratio. Machines are small and noisy,
//! so the ratio is what to watch, not the absolute numbers.
//!
//! Every benchmark works in a database of its own (`maestro_bench_<name>`), created
//! fresh and dropped afterwards, so it never touches other data.

mod append_batch;
mod append_single;
mod crawl;
mod db;
mod measure;
mod moto;
mod nats;
mod payload;
mod pgbench;
mod rebuild;
mod relay_latency;
mod report;
mod schedules;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::report::Comparison;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
enum Bench {
    /// Single-event commands/s through `CommandHandler::execute` beside raw INSERTs (pgbench).
    AppendSingle,
    /// Events/s appended 100 at a time with `EventStore::append` beside a 100-row INSERT (pgbench).
    AppendBatch,
    /// Rebuild time of the inventory and audit projections beside Postgres' COPY floor.
    Rebuild,
    /// Commit → JetStream latency through the relay beside a plain publish → ack round trip.
    RelayLatency,
    /// AWS crawls of moto (first, unchanged, 100 changed) beside the AWS SDK listing the same.
    Crawl,
    /// `--schedules` schedules due at once, three schedulers: due → queued p50/p99 and
    /// duplicates, beside one client publishing as many jobs.
    Schedules,
    /// Webhook deliveries/s at 32 in flight beside a plain HTTP client posting the same bodies.
    Webhooks,
    /// All of the above, then a summary table.
    All,
}

impl Bench {
    const EACH: [Bench; 7] = [
        Bench::AppendSingle,
        Bench::AppendBatch,
        Bench::Rebuild,
        Bench::RelayLatency,
        Bench::Crawl,
        Bench::Schedules,
        Bench::Webhooks,
    ];

    fn name(self) -> &'static str {
        match self {
            Bench::AppendSingle => "append-single",
            Bench::AppendBatch => "append-batch",
            Bench::Rebuild => "rebuild",
            Bench::RelayLatency => "relay-latency",
            Bench::Crawl => "crawl",
            Bench::Schedules => "schedules",
            Bench::Webhooks => "webhooks",
            Bench::All => "all",
        }
    }

    async fn run(self, options: &Options) -> anyhow::Result<Vec<Comparison>> {
        match self {
            Bench::AppendSingle => append_single::run(options).await,
            Bench::AppendBatch => append_batch::run(options).await,
            Bench::Rebuild => rebuild::run(options).await,
            Bench::RelayLatency => relay_latency::run(options).await,
            Bench::Crawl => crawl::run(options).await,
            Bench::Schedules => schedules::run(options).await,
            Bench::Webhooks => webhooks::run(options).await,
            Bench::All => unreachable!("`all` runs the others"),
        }
    }
}

/// Knobs shared by all benchmarks; each uses the ones its help names.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Seconds each side of a comparison runs (append-single, append-batch, relay-latency).
    #[arg(long, global = true, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,
    /// Turns Maestro and its reference take in append-single and append-batch, each
    /// `--seconds / --rounds` long.
    #[arg(long, global = true, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: u64,
    /// Concurrent writers (append-single, append-batch; also how rebuild generates its log).
    #[arg(long, global = true, default_value_t = 8, value_parser = at_least_one)]
    pub writers: usize,
    /// Events per command in append-batch.
    #[arg(long, global = true, default_value_t = 100, value_parser = at_least_one)]
    pub batch: usize,
    /// Events to generate for rebuild (10 per server).
    #[arg(long, global = true, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub events: u64,
    /// Commands (and plain publishes) per second in relay-latency.
    #[arg(long, global = true, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,
    /// Any database on the Postgres server to use; the benchmarks create their own beside it.
    #[arg(
        long,
        global = true,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres_url: String,
    /// The nats-server binary that relay-latency starts privately (default: from PATH, else
    /// /usr/sbin/nats-server).
    #[arg(long, global = true, env = "BENCH_NATS_SERVER")]
    pub nats_server: Option<PathBuf>,
    /// EC2 instances moto holds in crawl, in reservations of 100.
    #[arg(long, global = true, default_value_t = 10_000, value_parser = at_least_one)]
    pub instances: usize,
    /// Volumes moto holds in crawl: the instances' root volumes, topped up to this many.
    #[arg(long, global = true, default_value_t = 10_000)]
    pub volumes: usize,
    /// Items per AWS list call in crawl, for the crawler and the SDK alike.
    #[arg(long, global = true, default_value_t = 500, value_parser = clap::value_parser!(i32).range(5..=500))]
    pub page_size: i32,
    /// The moto_server that crawl starts privately (default: from PATH; installed by
    /// crawlers/tests/tools/aws.sh).
    #[arg(long, global = true, env = "BENCH_MOTO_SERVER")]
    pub moto_server: Option<PathBuf>,
    /// Schedules all due at once in schedules.
    #[arg(long, global = true, default_value_t = 10_000, value_parser = at_least_one)]
    pub schedules: usize,
    /// Keep the benchmark databases afterwards, for inspection.
    #[arg(long, global = true)]
    pub keep: bool,
}

fn at_least_one(raw: &str) -> Result<usize, String> {
    match raw.parse() {
        Ok(0) | Err(_) => Err(format!("`{raw}` is not a whole number of at least 1")),
        Ok(n) => Ok(n),
    }
}

impl Options {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let benches = match cli.bench {
        Bench::All => Bench::EACH.to_vec(),
        one => vec![one],
    };
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for bench in benches {
        println!("== {}", bench.name());
        match bench.run(&cli.options).await {
            Ok(comparisons) => {
                comparisons.iter().for_each(|c| println!("{}", c.line()));
                results.extend(comparisons);
            }
            Err(error) => {
                eprintln!("{}: failed: {error:#}", bench.name());
                failed.push(bench.name());
            }
        }
    }
    if cli.bench == Bench::All {
        report::print_summary(&results, &failed);
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
