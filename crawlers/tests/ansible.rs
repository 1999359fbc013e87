//! The Ansible provider on facts a real `ansible-core` gathers from this machine
//! (`ansible all -i localhost, -c local -m setup --tree DIR`, installed by
//! `tools/ansible.sh`): the server and volumes it maps hold what the machine itself
//! reports; broken facts fail whole with the file, host and reason; and the same facts
//! read over SSH from a real local sshd, or from S3 on a private moto server, give the
//! same answer.

mod allowance;
mod tools;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crawlers::{CrawlError, Credentials, Observation};
use domain::{Fields, Kind};
use serde_json::{json, Value};
use tempfile::TempDir;
use tools::moto::{self, Moto};
use tools::{crawl, ssh_credentials, Sshd};

/// The inventory name the facts are gathered under.
const HOST: &str = "localhost";

fn output(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Facts of this machine, gathered by a real Ansible run into a fresh tree directory.
fn gather() -> TempDir {
    tools::install();
    let python = output("python3", &["-c", "import sys; print(sys.executable)"]);
    let scripts = output(
        "python3",
        &["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"],
    );
    let tree = tempfile::Builder::new()
        .prefix("maestro-facts-")
        .tempdir()
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let result = Command::new(Path::new(&scripts).join("ansible"))
        .args([
            "all",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-m",
            "ansible.builtin.setup",
        ])
        .arg("-e")
        .arg(format!("ansible_python_interpreter={python}"))
        .arg("--tree")
        .arg(tree.path())
        .env("ANSIBLE_LOCAL_TEMP", scratch.path())
        .env("ANSIBLE_REMOTE_TMP", scratch.path())
        .env("ANSIBLE_DEPRECATION_WARNINGS", "false")
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("ansible runs");
    assert!(
        result.status.success(),
        "ansible failed: {}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    tree
}

fn path_options(path: &Path) -> Value {
    json!({"source": "path", "path": path.to_str().unwrap()})
}

/// Crawls a task; every value must be one Maestro takes.
async fn crawl_checked(task: &str, options: Value, credentials: &Credentials) -> Vec<Observation> {
    let observations = crawl("ansible", task, options, credentials)
        .await
        .unwrap_or_else(|error| panic!("{task}: {error}"));
    for observation in &observations {
        Fields::parse(observation.kind, &observation.fields)
            .unwrap_or_else(|error| panic!("{}: {error}", observation.provider_id));
    }
    observations
}

/// The facts file Ansible wrote, as JSON.
fn facts_file(tree: &TempDir) -> Value {
    serde_json::from_str(&std::fs::read_to_string(tree.path().join(HOST)).unwrap()).unwrap()
}

/// The machine's host name as the `hostname` command prints it, made a valid host name.
fn machine_hostname() -> String {
    output("hostname", &[])
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

/// A field of /proc/meminfo, /etc/os-release and the like: `KEY: value` or `KEY=value`.
fn field_of(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?;
        let value = rest.strip_prefix(':').or_else(|| rest.strip_prefix('='))?;
        Some(value.trim().trim_matches('"').to_string())
    })
}

/// The root file system's device and type, from the kernel's mount table.
fn root_mount() -> (String, String) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let root = mounts
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .rfind(|fields| fields[1] == "/")
        .expect("a root mount (the last one mounted on / wins)");
    (root[0].to_string(), root[2].to_string())
}

fn gigabytes(bytes: u64) -> u64 {
    (bytes + (1 << 29)) >> 30
}

/// The kernel's disks with their sizes, as /sys/block lists them, without loop, RAM,
/// device-mapper, RAID, optical, floppy and network block devices, nor empty ones.
fn machine_disks() -> BTreeMap<String, u64> {
    std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().to_string_lossy().into_owned();
            let skipped = ["loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd"];
            if skipped.iter().any(|prefix| name.starts_with(prefix)) {
                return None;
            }
            let sectors: u64 = std::fs::read_to_string(format!("/sys/block/{name}/size"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            (sectors > 0).then(|| (name, gigabytes(sectors * 512)))
        })
        .collect()
}

#[tokio::test]
async fn the_server_and_volumes_hold_what_this_machine_reports() {
    let tree = gather();
    let facts = facts_file(&tree);
    let ansible_facts = &facts["ansible_facts"];
    let servers = crawl_checked("server-list", path_options(tree.path()), &Credentials::default()).await;
    assert_eq!(servers.len(), 1);
    let server = &servers[0];
    assert_eq!((server.kind, server.provider_id.as_str()), (Kind::Server, HOST));
    let fields = &server.fields;

    assert_eq!(fields["hostname"], machine_hostname());

    let processors = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap()
        .lines()
        .filter(|line| line.starts_with("processor"))
        .count();
    assert_eq!(fields["cpu"], json!(processors));
    assert_eq!(fields["cpu"], ansible_facts["ansible_processor_vcpus"]);

    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: u64 = field_of(&meminfo, "MemTotal")
        .unwrap()
        .trim_end_matches(" kB")
        .parse()
        .unwrap();
    assert_eq!(fields["memory"], json!(total_kb / 1024));

    let os_release = std::fs::read_to_string("/etc/os-release").unwrap();
    let os = &fields["os"];
    assert_eq!(os["base"], output("uname", &["-s"]));
    assert_eq!(
        os["dist"].as_str().unwrap().to_ascii_lowercase(),
        field_of(&os_release, "ID").unwrap()
    );
    let version_id = field_of(&os_release, "VERSION_ID").unwrap();
    assert!(
        os["version"].as_str().unwrap().starts_with(&version_id),
        "{os} vs {version_id}"
    );

    match fields.get("ipv4_private") {
        Some(address) => {
            let addresses = output("hostname", &["-I"]);
            assert!(
                addresses.split_whitespace().any(|a| a == address),
                "{address} not in {addresses}"
            );
        }
        None => assert!(ansible_facts
            .get("ansible_default_ipv4")
            .and_then(|ip| ip.get("address"))
            .is_none()),
    }

    let storage = fields["storage"].as_array().unwrap();
    let root = storage
        .iter()
        .find(|disk| disk["mount"] == "/")
        .expect("the root mount is in storage");
    let (device, fstype) = root_mount();
    assert_eq!(
        (root["device"].as_str(), root["fstype"].as_str()),
        (Some(device.as_str()), Some(fstype.as_str()))
    );
    assert_eq!(root["root"], true);
    let df_bytes: u64 = output("df", &["-B1", "--output=size", "/"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(root["size"], json!(gigabytes(df_bytes)));

    let volumes = crawl_checked("volumes", path_options(tree.path()), &Credentials::default()).await;
    let seen: BTreeMap<String, u64> = volumes
        .iter()
        .map(|volume| {
            assert_eq!(volume.kind, Kind::Volume);
            let disk = volume
                .provider_id
                .strip_prefix("localhost:")
                .expect("ids are inventory name:disk");
            assert_eq!(
                volume.fields["name"],
                format!("{}:/dev/{disk}", fields["hostname"].as_str().unwrap())
            );
            (disk.to_string(), volume.fields["size"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(seen, machine_disks(), "one volume per disk, size in GB");
    assert!(!seen.is_empty());
}

#[tokio::test]
async fn broken_facts_fail_the_whole_crawl_naming_file_host_and_reason() {
    let tree = gather();
    let good = std::fs::read_to_string(tree.path().join(HOST)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("web-1"), &good).unwrap();

    let mut without_facts = facts_file(&tree);
    without_facts.as_object_mut().unwrap().remove("ansible_facts");
    std::fs::write(dir.path().join("web-2"), without_facts.to_string()).unwrap();
    let error = crawl(
        "ansible",
        "server-list",
        path_options(dir.path()),
        &Credentials::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error,
        CrawlError::File(format!(
            "facts file {}/web-2: host web-2: ansible_facts missing",
            dir.path().display()
        )),
        "one broken host fails the crawl: no partial answer"
    );

    std::fs::write(dir.path().join("web-2"), &good[..good.len() / 2]).unwrap();
    let error = crawl(
        "ansible",
        "volumes",
        path_options(dir.path()),
        &Credentials::default(),
    )
    .await
    .unwrap_err();
    let CrawlError::File(message) = &error else {
        panic!("{error:?}")
    };
    assert!(
        message.contains("host web-2: not a JSON document (EOF while parsing"),
        "{message}"
    );

    let error = crawl(
        "ansible",
        "server-list",
        path_options(&dir.path().join("nope")),
        &Credentials::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, CrawlError::Settings(name, m) if name == "path" && m.contains("nope` is not a file Maestro may read")),
        "{error}"
    );
}

#[tokio::test]
async fn one_facts_file_is_one_host_named_by_the_file() {
    let tree = gather();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db-1");
    std::fs::copy(tree.path().join(HOST), &file).unwrap();
    let servers = crawl_checked("server-list", path_options(&file), &Credentials::default()).await;
    let from_tree = crawl_checked("server-list", path_options(tree.path()), &Credentials::default()).await;
    assert_eq!(servers[0].provider_id, "db-1");
    assert_eq!(servers[0].fields, from_tree[0].fields);
}

#[tokio::test]
async fn facts_read_over_ssh_are_the_same_and_a_wrong_key_is_refused() {
    let tree = gather();
    let sshd = Sshd::start();
    let credentials = ssh_credentials(&sshd.key);
    for task in ["server-list", "volumes"] {
        let local = crawl_checked(task, path_options(tree.path()), &Credentials::default()).await;
        let over_ssh = crawl("ansible", task, sshd.options(tree.path()), &credentials)
            .await
            .unwrap_or_else(|error| panic!("{task} over SSH: {error}\nsshd: {}", sshd.log()));
        assert!(!local.is_empty());
        assert_eq!(over_ssh, local, "{task}: a directory over SSH");
    }
    let one_file = crawl(
        "ansible",
        "server-list",
        sshd.options(&tree.path().join(HOST)),
        &credentials,
    )
    .await
    .unwrap();
    assert_eq!(
        one_file[0].provider_id, HOST,
        "a single file keeps its remote name"
    );

    let stranger = sshd.stranger_key();
    let error = crawl(
        "ansible",
        "server-list",
        sshd.options(tree.path()),
        &ssh_credentials(&stranger),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, CrawlError::Unauthorized(_)), "{error:?}");
    assert!(!error.to_string().contains(stranger.lines().nth(1).unwrap()));
}

#[tokio::test]
async fn facts_read_from_s3_are_the_same_and_an_empty_prefix_is_named() {
    let tree = gather();
    let facts = std::fs::read_to_string(tree.path().join(HOST)).unwrap();
    let local = tempfile::tempdir().unwrap();
    for host in [HOST, "web-1", "web-2"] {
        std::fs::write(local.path().join(host), &facts).unwrap();
    }
    let mut without_facts = facts_file(&tree);
    without_facts.as_object_mut().unwrap().remove("ansible_facts");
    let without_facts = without_facts.to_string();
    let moto = Moto::start().await;
    moto.bucket(
        "inventory",
        &[
            ("facts/", ""),
            ("facts/localhost", &facts),
            ("facts/web-1", &facts),
            ("facts/web-2", &facts),
            ("facts/.ansible-tmp", "not facts"),
            ("facts/2024/web-9", "an older tree, not read"),
            ("broken/web-3", &without_facts),
        ],
    )
    .await;
    let credentials = moto::credentials();

    for task in ["server-list", "volumes"] {
        let expected = crawl_checked(task, path_options(local.path()), &Credentials::default()).await;
        assert!(!expected.is_empty());
        // One object a page: the three hosts come from three pages.
        for target in [
            json!({"bucket": "inventory", "prefix": "facts", "page_size": 1}),
            json!({"bucket": "inventory", "key": "facts/"}),
        ] {
            let from_s3 = crawl_checked(task, moto.s3_options(target.clone()), &credentials).await;
            assert_eq!(from_s3, expected, "{task} {target}");
        }
    }
    let one = json!({"bucket": "inventory", "key": "facts/web-2"});
    let servers = crawl_checked("server-list", moto.s3_options(one), &credentials).await;
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].provider_id, "web-2", "a host is named by its object");

    let from_s3 = |target: Value| crawl("ansible", "server-list", moto.s3_options(target), &credentials);
    let error = from_s3(json!({"bucket": "inventory", "prefix": "nothing/here"}))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        CrawlError::Settings(
            "prefix".into(),
            "s3://inventory/nothing/here/ holds no objects".into()
        )
    );
    let error = from_s3(json!({"bucket": "inventory", "key": "facts"}))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        CrawlError::Settings(
            "key".into(),
            "s3://inventory/facts does not exist; to read every object under a prefix, end the key with `/`"
                .into()
        )
    );
    let error = from_s3(json!({"bucket": "nowhere", "prefix": "facts"}))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        CrawlError::Settings(
            "bucket".into(),
            "bucket `nowhere` does not exist (reading s3://nowhere/facts/)".into()
        )
    );
    let error = from_s3(json!({"bucket": "inventory", "prefix": "broken"}))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        CrawlError::File("facts file s3://inventory/broken/web-3: host web-3: ansible_facts missing".into())
    );
}
