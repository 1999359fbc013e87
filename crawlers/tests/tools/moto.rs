//! moto (`moto_server`, installed by `tests/tools/aws.sh`), a local fake of the AWS APIs,
//! for the AWS provider and the S3 source: one private server per test, seeded through
//! the AWS SDK.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_types::region::Region;
use aws_types::SdkConfig;
use crawlers::Credentials;
use serde_json::Value;

pub const ACCESS_KEY_ID: &str = "AKIAMAESTROTEST0001";
pub const SECRET_ACCESS_KEY: &str = "maestro/test/secret/never/shown";

/// Runs `tests/tools/aws.sh` once per test binary.
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/aws.sh");
        let status = Command::new("bash").arg(&script).status().expect("bash runs");
        assert!(status.success(), "{} failed", script.display());
    });
}

/// The connection credentials moto is seeded with.
pub fn credentials() -> Credentials {
    Credentials::new(BTreeMap::from([
        ("access_key_id".to_string(), ACCESS_KEY_ID.to_string()),
        ("secret_access_key".to_string(), SECRET_ACCESS_KEY.to_string()),
    ]))
}

/// A moto server of the test's own, on a free port, killed when dropped. Moto's built-in
/// public AMIs (and their thousands of snapshots) are not loaded: moto ignores
/// `OwnerIds=self` in DescribeSnapshots, so they would all show up as the account's.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    pub async fn start() -> Moto {
        Moto::start_with(&[]).await
    }

    /// A server with these environment variables, e.g. `INITIAL_NO_AUTH_ACTION_COUNT=0`
    /// to have every request's access key checked against moto's IAM users.
    pub async fn start_with(env: &[(&str, &str)]) -> Moto {
        install();
        let port = super::free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts (installed by tests/tools/aws.sh)");
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        moto
    }

    /// SDK configuration to seed moto with, in `region`.
    pub fn sdk(&self, region: &str) -> SdkConfig {
        let credentials =
            aws_credential_types::Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "test");
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build()
    }

    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk(region))
    }

    /// A bucket in us-east-1 holding these objects (key, content).
    pub async fn bucket(&self, bucket: &str, objects: &[(&str, &str)]) {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk("us-east-1"))
            .force_path_style(true)
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(config);
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("moto creates the bucket");
        for (key, content) in objects {
            s3.put_object()
                .bucket(bucket)
                .key(*key)
                .body(content.as_bytes().to_vec().into())
                .send()
                .await
                .unwrap_or_else(|e| panic!("moto stores {key}: {e:?}"));
        }
    }

    /// Connection options of an S3 source on this moto: `target` gives the bucket and
    /// the key or prefix.
    pub fn s3_options(&self, target: Value) -> Value {
        let mut options = target;
        let fields = options.as_object_mut().expect("the target is an object");
        fields.insert("source".into(), "s3".into());
        fields.insert("endpoint".into(), self.endpoint.clone().into());
        options
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
