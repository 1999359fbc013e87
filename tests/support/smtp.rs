//! A real SMTP server for tests: aiosmtpd (installed by tests/tools/smtp.sh), filing every
//! mail it takes into a maildir the test reads.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{free_port, test_identity_settings};

/// aiosmtpd on a free port, filing every mail into a maildir; killed when dropped.
pub struct SmtpServer {
    port: u16,
    maildir: PathBuf,
    child: Child,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        SmtpServer::start_on(free_port()).await
    }

    /// A server on `port`: one a test's settings named while nothing listened there.
    pub async fn start_on(port: u16) -> SmtpServer {
        let maildir = std::env::temp_dir().join(format!("maestro-mail-{}", Uuid::new_v4().simple()));
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs (install aiosmtpd with tests/tools/smtp.sh)");
        let mut server = SmtpServer { port, maildir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                let mut stderr = String::new();
                use std::io::Read;
                let _ = server.child.stderr.take().unwrap().read_to_string(&mut stderr);
                panic!("aiosmtpd exited ({status}); install it with tests/tools/smtp.sh:\n{stderr}");
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// The test identity settings, mailing through this server, with links to `public_url`.
    pub fn settings(&self, public_url: &str) -> identity::Settings {
        identity::Settings {
            public_url: public_url.to_string(),
            smtp: Some(identity::SmtpSettings {
                host: "127.0.0.1".into(),
                port: self.port,
                sender: "maestro@example.com".into(),
                username: None,
                password: None,
                tls: false,
            }),
            ..test_identity_settings()
        }
    }

    pub fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return vec![];
        };
        entries
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .collect()
    }

    /// Waits until `count` mails arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{count} mail(s) never arrived: {mails:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}
