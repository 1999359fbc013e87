//! Real tools for the provider and file-source tests: the installer (`tools/ansible.sh`),
//! a private `sshd` on a free local port, a private moto server ([`moto`]), and crawling
//! a provider by name.

#![allow(dead_code)] // each test binary uses its part

pub mod moto;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crawlers::{CrawlError, CrawlRequest, Credentials, Observation};
use serde_json::{Map, Value};
use tempfile::TempDir;
use uuid::Uuid;

/// Runs `tests/tools/ansible.sh` once per test binary: ansible-core and OpenSSH.
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/ansible.sh");
        let status = Command::new("bash").arg(&script).status().expect("bash runs");
        assert!(status.success(), "{} failed", script.display());
    });
}

/// Crawls `task` of the provider named `provider` with these options and credentials.
pub async fn crawl(
    provider: &str,
    task: &str,
    options: Value,
    credentials: &Credentials,
) -> Result<Vec<Observation>, CrawlError> {
    let provider = crawlers::provider(provider).expect("the provider is registered");
    let options: Map<String, Value> = options.as_object().expect("options are an object").clone();
    provider
        .crawl(CrawlRequest {
            connection: Uuid::from_u128(7),
            options: &options,
            credentials,
            task,
            region: "default",
            reach: crate::allowance::reach(),
        })
        .await
}

/// Credentials holding only an SSH private key.
pub fn ssh_credentials(key: &str) -> Credentials {
    Credentials::new(BTreeMap::from([("ssh_private_key".to_string(), key.to_string())]))
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A new ed25519 key pair without passphrase at `path` (and `path.pub`).
pub fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "maestro-test", "-f"])
        .arg(path));
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free local port")
        .port()
}

/// The user the tests run as, who logs in to the private sshd.
pub fn current_user() -> String {
    let output = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8(output.stdout)
        .expect("a user name")
        .trim()
        .to_string()
}

/// A private `sshd` on 127.0.0.1 that accepts one freshly generated client key; killed
/// when dropped.
pub struct Sshd {
    child: Child,
    dir: TempDir,
    pub port: u16,
    pub user: String,
    /// The private key sshd accepts.
    pub key: String,
}

impl Sshd {
    pub fn start() -> Sshd {
        install();
        let dir = tempfile::Builder::new()
            .prefix("maestro-sshd-")
            .tempdir()
            .expect("a temporary folder");
        let path = |name: &str| -> PathBuf { dir.path().join(name) };
        keygen(&path("host_key"));
        keygen(&path("client_key"));
        std::fs::copy(path("client_key.pub"), path("authorized_keys")).expect("authorized keys");
        // sshd running as root wants its privilege separation folder.
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let port = free_port();
        let config = format!(
            "ListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nUsePAM no\nStrictModes no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n",
            path("host_key").display(),
            path("authorized_keys").display(),
            path("sshd.pid").display(),
        );
        std::fs::write(path("sshd_config"), config).expect("sshd config");
        let log = std::fs::File::create(path("sshd.log")).expect("sshd log");
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(path("sshd_config"))
            .arg("-p")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sshd starts");
        let key = std::fs::read_to_string(path("client_key")).expect("the client key");
        let sshd = Sshd {
            child,
            dir,
            port,
            user: current_user(),
            key,
        };
        sshd.wait_until_listening();
        sshd
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What sshd logged, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// A private key sshd does not accept.
    pub fn stranger_key(&self) -> String {
        let path = self.dir.path().join("stranger_key");
        if !path.exists() {
            keygen(&path);
        }
        std::fs::read_to_string(path).expect("the stranger's key")
    }

    /// Connection options reading `path` through this sshd.
    pub fn options(&self, path: &Path) -> Value {
        serde_json::json!({
            "source": "ssh",
            "host": "127.0.0.1",
            "port": self.port,
            "user": self.user,
            "path": path.to_str().expect("a UTF-8 path"),
        })
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
