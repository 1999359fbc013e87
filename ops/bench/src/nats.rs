//! A private nats-server with JetStream, so that relay-latency never publishes into the
//! shared server's `MAESTRO_EVENTS` stream.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

const FALLBACK_BINARY: &str = "/usr/sbin/nats-server";
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `nats-server -js` on a free port with a store in a temporary directory; killed and
/// its store removed by [`stop`](Self::stop), or when dropped.
pub struct PrivateNats {
    child: Child,
    store: PathBuf,
    pub url: String,
}

impl PrivateNats {
    pub async fn start(binary: Option<&Path>) -> anyhow::Result<PrivateNats> {
        let binary = binary.map(Path::to_path_buf).unwrap_or_else(default_binary);
        let port = free_port()?;
        let store = std::env::temp_dir().join(format!("maestro-bench-nats-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&store).with_context(|| format!("creating {}", store.display()))?;
        let child = Command::new(&binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(&store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}; ops/up installs nats-server", binary.display()))?;
        let mut nats = PrivateNats {
            child,
            store,
            url: format!("nats://127.0.0.1:{port}"),
        };
        nats.wait_until_up().await?;
        Ok(nats)
    }

    async fn wait_until_up(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Ok(client) = async_nats::connect(&self.url).await {
                drop(client);
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("nats-server exited at start ({status})");
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "nats-server did not answer on {} within {START_TIMEOUT:?}",
                    self.url
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A client of its own, so that publishers and subscribers do not share a connection.
    pub async fn connect(&self) -> anyhow::Result<async_nats::Client> {
        Ok(async_nats::connect(&self.url).await?)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// `nats-server` from PATH, else where Debian installs it.
fn default_binary() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("nats-server"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(FALLBACK_BINARY))
}

/// A port nobody listens on right now (the kernel picks it).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
