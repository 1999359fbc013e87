//! A fresh database per benchmark, migrated like Maestro's own.

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use url::Url;

use crate::Options;

/// The database `maestro_bench_<name>`, dropped and created anew, with Maestro's
/// migrations applied. [`finish`](Self::finish) drops it again unless `--keep`.
pub struct BenchDb {
    pub name: String,
    /// For tools that connect on their own: pgbench, the relay's lease.
    pub url: String,
    pub pool: PgPool,
    server_url: String,
    keep: bool,
}

impl BenchDb {
    /// `connections` is the pool's size: the benchmark's concurrency plus what it needs beside.
    pub async fn fresh(options: &Options, name: &str, connections: u32) -> anyhow::Result<BenchDb> {
        let name = format!("maestro_bench_{}", name.replace('-', "_"));
        let server_url = options.postgres_url.clone();
        let url = with_database(&server_url, &name)?;
        let mut admin = PgConnection::connect(&server_url)
            .await
            .with_context(|| format!("cannot reach Postgres at {server_url}; start it with ops/up"))?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await?;
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await?;
        admin.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await?;
        commands::migrate(&pool).await?;
        Ok(BenchDb {
            name,
            url,
            pool,
            server_url,
            keep: options.keep,
        })
    }

    /// Flushes dirty pages before a timed phase, so that neither side pays for the
    /// other's writes in a checkpoint.
    pub async fn checkpoint(&self) -> anyhow::Result<()> {
        self.pool.execute("CHECKPOINT").await?;
        Ok(())
    }

    pub async fn execute(&self, sql: &str) -> anyhow::Result<()> {
        self.pool.execute(sql).await?;
        Ok(())
    }

    pub async fn count(&self, table: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await?)
    }

    /// The mean stored size of a jsonb column, as text and as Postgres keeps it.
    pub async fn json_size(&self, table: &str, column: &str) -> anyhow::Result<String> {
        let (text, stored): (f64, f64) = sqlx::query_as(&format!(
            "SELECT coalesce(avg(octet_length({column}::text)), 0)::float8,
                    coalesce(avg(pg_column_size({column})), 0)::float8 FROM {table}"
        ))
        .fetch_one(&self.pool)
        .await?;
        Ok(format!(
            "{table}.{column} {text:.0} B as text, {stored:.0} B stored"
        ))
    }

    /// Closes the pool and drops the database, unless `--keep` asked to keep it.
    pub async fn finish(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if self.keep {
            crate::report::note(format!("kept database {}", self.name));
            return Ok(());
        }
        let mut admin = PgConnection::connect(&self.server_url).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await?;
        admin.close().await?;
        Ok(())
    }
}

fn with_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = Url::parse(server_url).with_context(|| format!("`{server_url}` is not a Postgres URL"))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}
