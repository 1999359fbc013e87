//! `maestro`: the one binary that runs every role of the inventory.

mod adopt;
mod config;
mod crawl;
mod demo;
mod infrastructure;
mod roles;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::roles::Role;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "maestro",
    version,
    about = "Multi-cloud inventory: event-sourced, with a GraphQL gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the roles (all of them by default) until stopped.
    Serve {
        /// Comma-separated roles to run: gateway, projector, relay.
        #[arg(long, value_delimiter = ',', default_values_t = Role::ALL)]
        roles: Vec<Role>,
    },
    /// Creates the database if missing and applies the event-log migrations.
    Migrate,
    /// Rebuilds projections from the event log into fresh tables and swaps them in.
    Rebuild {
        /// The projection to rebuild (inventory, audit, rules).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        projection: Option<String>,
        /// Rebuild every projection.
        #[arg(long)]
        all: bool,
    },
    /// Loads a small demo inventory (safe to run again: it adds nothing the second time).
    Demo,
    /// Gives a user or team a level (admin by default) on every item that grants nobody
    /// anything: items from before access control, or found by a connection without grants.
    Adopt {
        /// The user or team id.
        #[arg(long)]
        to: uuid::Uuid,
        /// read, write or admin.
        #[arg(long, default_value = "admin", value_parser = |raw: &str| domain::Level::parse(raw).map_err(|e| e.to_string()))]
        level: domain::Level,
    },
    /// Crawls a connection now: all its tasks and regions, or only those given.
    Crawl {
        #[arg(long)]
        connection: uuid::Uuid,
        #[arg(long)]
        task: Option<String>,
        #[arg(long)]
        region: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MAESTRO_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("maestro: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env().map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Migrate => {
            infrastructure::migrate(&config).await?;
            println!(
                "database ready: {}",
                infrastructure::redacted(&config.database_url)
            );
        }
        Command::Serve { roles } => roles::serve(&config, &roles).await?,
        Command::Rebuild { projection, all } => {
            let pool = infrastructure::connect_postgres(&config).await?;
            let names: Vec<String> = match projection {
                Some(name) if !all => vec![name],
                _ => roles::PROJECTIONS.iter().map(|name| name.to_string()).collect(),
            };
            for name in names {
                let report = roles::rebuild(&pool, &name).await?;
                println!(
                    "rebuilt {name}: {} events in {:.2?}",
                    report.events, report.elapsed
                );
            }
        }
        Command::Crawl {
            connection,
            task,
            region,
        } => {
            let pool = infrastructure::connect_postgres(&config).await?;
            let summary = crawl::run(
                &pool,
                crawlers::Job {
                    id: uuid::Uuid::now_v7(),
                    connection,
                    task,
                    region,
                },
                config.reach.clone(),
            )
            .await?;
            println!("{summary}");
            if let Some(failure) = summary.failure() {
                anyhow::bail!(failure);
            }
        }
        Command::Adopt { to, level } => {
            let pool = infrastructure::connect_postgres(&config).await?;
            let adopted = adopt::run(&pool, to, level).await?;
            println!(
                "{to} now holds {} on {adopted} item(s) that granted nobody anything",
                level.as_str()
            );
        }
        Command::Demo => {
            let pool = infrastructure::connect_postgres(&config).await?;
            let identity = identity::Identity::new(pool.clone(), config.identity_settings(false))?;
            let password = config.demo_password.as_ref().map(|password| password.expose());
            let loaded = demo::load(&pool, &identity, password).await?;
            println!("demo inventory loaded ({} new events)", loaded.events);
            println!("demo user: {} / password: {}", demo::DEMO_EMAIL, loaded.password);
        }
    }
    Ok(())
}
