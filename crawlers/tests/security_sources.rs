//! The attacks on provider sources of issue 10 (item 1), each with the test that shows it
//! closed. Whoever signs up may write a connection's options; with them alone they must
//! not read the server's files, tell which exist, hang or kill a crawler, nor make the
//! server probe the networks behind it. Every test here failed before [`Reach`].
//!
//! - Local paths: read only under the allowed folders (none by default), regular files
//!   only, links followed before the check, at most `max_bytes`; every refusal has the
//!   same words whether the file is missing, elsewhere or unreadable.
//! - Endpoints (REST `endpoint`, `auth_url`, `login_endpoint`; AWS and S3 `endpoint`;
//!   SSH `host`): refused when they are or resolve to loopback, private or link-local
//!   addresses, unless the operator allows the network.
//!
//! The end-to-end check through GraphQL's `testConnection` is `tests/security_sources.rs`.

mod allowance;
mod replay;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crawlers::{CrawlError, CrawlRequest, Credentials, Observation, Reach};
use replay::{fixture, Answer, Paging, Replay};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Crawls `task` of `provider` with `options`, reaching only what `reach` allows.
async fn crawl(
    provider: &str,
    task: &str,
    options: Value,
    credentials: &[(&str, &str)],
    reach: &Reach,
) -> Result<Vec<Observation>, CrawlError> {
    let provider = crawlers::provider(provider).expect("a registered provider");
    let options: Map<String, Value> = options.as_object().cloned().expect("options are an object");
    let credentials = Credentials::new(
        credentials
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect::<BTreeMap<_, _>>(),
    );
    provider
        .crawl(CrawlRequest {
            connection: Uuid::from_u128(7),
            options: &options,
            credentials: &credentials,
            task,
            region: "default",
            reach,
        })
        .await
}

/// A JSON import of the file at `path`.
async fn import(path: &Path, reach: &Reach) -> Result<Vec<Observation>, CrawlError> {
    crawl("json", "import", json!({"path": path}), &[], reach).await
}

/// Local paths under `dir` only.
fn under(dir: &Path) -> Reach {
    Reach::new(vec![dir.into()], vec![], crawlers::DEFAULT_MAX_BYTES)
}

/// The error's words with the path it names taken out.
fn without(error: CrawlError, path: &Path) -> String {
    error.to_string().replace(path.to_str().unwrap(), "<path>")
}

const EXPORT: &str = r#"{"servers": [{"hostname": "web-1", "cpu": 2}]}"#;

// Local paths.

#[tokio::test]
async fn a_missing_path_a_path_elsewhere_and_an_unreadable_one_answer_the_same() {
    let allowed = tempfile::tempdir().unwrap();
    let reach = under(allowed.path());
    let elsewhere = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let missing_elsewhere = PathBuf::from("/nowhere/at/all.json");
    let missing_inside = allowed.path().join("nope.json");
    let relative = PathBuf::from("Cargo.toml");
    let errors: Vec<String> = futures::future::join_all(
        [&elsewhere, &missing_elsewhere, &missing_inside, &relative]
            .map(|path| async { without(import(path, &reach).await.unwrap_err(), path) }),
    )
    .await;
    assert!(
        errors[0].contains("is not a file Maestro may read") && errors[0].contains("MAESTRO_SOURCE_DIRS"),
        "{}",
        errors[0]
    );
    assert!(errors.iter().all(|error| *error == errors[0]), "{errors:#?}");

    // The allowed folder itself reads as before.
    let export = allowed.path().join("export.json");
    std::fs::write(&export, EXPORT).unwrap();
    assert_eq!(import(&export, &reach).await.unwrap().len(), 1);
}

#[tokio::test]
async fn no_local_path_is_read_unless_the_operator_allows_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    std::fs::write(&export, EXPORT).unwrap();
    let error = import(&export, &Reach::default()).await.unwrap_err();
    assert!(
        error.to_string().contains("MAESTRO_SOURCE_DIRS is not set"),
        "{error}"
    );
    let options = json!({"source": "path", "path": dir.path()});
    let error = crawl("ansible", "server-list", options, &[], &Reach::default())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("is not a file Maestro may read"),
        "{error}"
    );
}

#[tokio::test]
async fn a_link_in_an_allowed_folder_to_a_file_elsewhere_is_not_followed() {
    let allowed = tempfile::tempdir().unwrap();
    let secret = tempfile::tempdir().unwrap();
    let target = secret.path().join("facts.json");
    std::fs::write(&target, EXPORT).unwrap();
    let link = allowed.path().join("export.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let reach = under(allowed.path());
    let via_link = without(import(&link, &reach).await.unwrap_err(), &link);
    let missing = allowed.path().join("missing.json");
    assert_eq!(
        via_link,
        without(import(&missing, &reach).await.unwrap_err(), &missing)
    );
    // `..` is resolved too.
    let climbing = allowed.path().join("..").join(
        secret
            .path()
            .strip_prefix(allowed.path().parent().unwrap())
            .unwrap()
            .join("facts.json"),
    );
    assert!(import(&climbing, &reach).await.is_err());
    // In a folder of files (Ansible's tree), such a link is left out.
    let options = json!({"source": "path", "path": allowed.path()});
    let error = crawl("ansible", "server-list", options, &[], &reach)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("holds no files"), "{error}");
}

#[tokio::test]
async fn devices_and_named_pipes_are_refused_without_reading_them() {
    // Even with /dev allowed, /dev/zero (endless) is not a regular file.
    let dev = under(Path::new("/dev"));
    let error = import(Path::new("/dev/zero"), &dev).await.unwrap_err();
    assert!(
        error.to_string().contains("is not a file Maestro may read"),
        "{error}"
    );
    // A pipe nobody writes to would block the read, and the crawler with it, forever.
    let dir = tempfile::tempdir().unwrap();
    let pipe = dir.path().join("export.json");
    let made = std::process::Command::new("mkfifo").arg(&pipe).status().unwrap();
    assert!(made.success());
    let error = import(&pipe, &under(dir.path())).await.unwrap_err();
    assert!(
        error.to_string().contains("is not a file Maestro may read"),
        "{error}"
    );
}

#[tokio::test]
async fn a_file_larger_than_a_read_may_take_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    std::fs::write(&export, EXPORT).unwrap();
    let exact = Reach::new(vec![dir.path().into()], vec![], EXPORT.len() as u64);
    assert_eq!(import(&export, &exact).await.unwrap().len(), 1);
    let short = Reach::new(vec![dir.path().into()], vec![], EXPORT.len() as u64 - 1);
    let error = import(&export, &short).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains(&format!("is larger than {} bytes", EXPORT.len() - 1))
            && error.to_string().contains("MAESTRO_SOURCE_MAX_BYTES"),
        "{error}"
    );
}

// Endpoints.

/// Loopback allowed, as an operator would for stand-ins on the same machine.
fn loopback_allowed() -> Reach {
    Reach::new(
        vec![],
        vec!["127.0.0.0/8".parse().unwrap()],
        crawlers::DEFAULT_MAX_BYTES,
    )
}

fn refused(error: &CrawlError) -> bool {
    matches!(error, CrawlError::Unreachable(message) if message.contains("MAESTRO_PRIVATE_ENDPOINTS"))
}

#[tokio::test]
async fn a_rest_endpoint_on_loopback_is_refused_unless_allowed() {
    let replay = Replay::start().await;
    let droplets = fixture("digitalocean/droplets-all.json");
    replay.on(
        "GET",
        "/v2/droplets",
        Answer::list(droplets, "droplets", Paging::DigitalOcean),
    );
    let token = [("token", "dop_v1_token")];
    let by_address = json!({"endpoint": replay.url("/"), "timeout_seconds": 5});
    let by_name =
        json!({"endpoint": replay.url("/").replace("127.0.0.1", "localhost"), "timeout_seconds": 5});
    for options in [&by_address, &by_name] {
        let error = crawl(
            "digitalocean",
            "server-list",
            options.clone(),
            &token,
            &Reach::default(),
        )
        .await
        .unwrap_err();
        assert!(refused(&error), "{options}: {error}");
    }
    assert!(replay.received().is_empty(), "nothing reached the server");
    let allowed = crawl(
        "digitalocean",
        "server-list",
        by_address,
        &token,
        &loopback_allowed(),
    )
    .await
    .unwrap();
    assert_eq!(allowed.len(), 1);

    // The sign-in endpoints of OpenStack and Azure go through the same client.
    let openstack = json!({"auth_url": replay.url("/identity/v3"), "timeout_seconds": 5});
    let credentials = [("username", "u"), ("password", "p"), ("project", "x")];
    let error = crawl(
        "openstack",
        "server-list",
        openstack,
        &credentials,
        &Reach::default(),
    )
    .await
    .unwrap_err();
    assert!(refused(&error), "{error}");
    let azure = json!({"login_endpoint": "http://169.254.169.254/", "subscription_id": "s", "tenant_id": "t", "timeout_seconds": 5});
    let credentials = [("client_id", "c"), ("client_secret", "s")];
    let error = crawl("azure", "server-list", azure, &credentials, &Reach::default())
        .await
        .unwrap_err();
    assert!(refused(&error), "{error}");
}

#[tokio::test]
async fn aws_and_s3_endpoints_on_loopback_are_refused() {
    let credentials = [
        ("access_key_id", "AKIDTEST"),
        ("secret_access_key", "secret-for-tests"),
    ];
    let aws = |endpoint: &str| json!({"endpoint": endpoint, "timeout_seconds": 2});
    for endpoint in ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"] {
        let provider = crawlers::provider("aws").unwrap();
        let options = aws(endpoint).as_object().cloned().unwrap();
        let credentials = Credentials::new(
            credentials
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        );
        let error = provider
            .crawl(CrawlRequest {
                connection: Uuid::nil(),
                options: &options,
                credentials: &credentials,
                task: "server-list",
                region: "us-east-1",
                reach: &Reach::default(),
            })
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("MAESTRO_PRIVATE_ENDPOINTS"),
            "{endpoint}: {error}"
        );
    }
    let s3 = json!({"source": "s3", "bucket": "b", "key": "terraform.tfstate", "s3_region": "us-east-1", "endpoint": "http://localhost:9"});
    let error = crawl("terraform", "network", s3, &credentials, &Reach::default())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("MAESTRO_PRIVATE_ENDPOINTS"), "{error}");
}

#[tokio::test]
async fn an_ssh_host_on_loopback_is_refused_before_anything_connects() {
    for host in ["127.0.0.1", "localhost", "::1", "169.254.169.254"] {
        let options =
            json!({"source": "ssh", "host": host, "port": 22, "user": "root", "path": "/etc/shadow"});
        // Refused before any key is read: a placeholder does.
        let key = [("ssh_private_key", "placeholder, never read")];
        let error = crawl("terraform", "network", options, &key, &Reach::default())
            .await
            .unwrap_err();
        assert!(refused(&error), "{host}: {error}");
    }
}
