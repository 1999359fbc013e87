//! The Terraform provider on recorded state files (`tests/data/terraform`, see its
//! SOURCES.md): each resource family through its task, with the values Maestro takes;
//! broken states fail whole with the file and the reason; and the same states read over
//! SSH from a real local sshd, or from S3 on a private moto server, give the same answer.

mod allowance;
mod tools;

use std::path::{Path, PathBuf};

use crawlers::{CrawlError, Credentials, Observation};
use domain::{Fields, Kind, TagFields};
use serde_json::{json, Value};
use tools::moto::{self, Moto};
use tools::{crawl, ssh_credentials, Sshd};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/terraform")
        .join(name)
}

fn path_options(path: &Path) -> Value {
    json!({"source": "path", "path": path.to_str().unwrap()})
}

/// Crawls a task over a fixture read from its path; every value must be one Maestro takes.
async fn crawl_fixture(name: &str, task: &str) -> Vec<Observation> {
    let observations = crawl(
        "terraform",
        task,
        path_options(&fixture(name)),
        &Credentials::default(),
    )
    .await
    .unwrap_or_else(|error| panic!("{name} {task}: {error}"));
    for observation in &observations {
        Fields::parse(observation.kind, &observation.fields)
            .unwrap_or_else(|error| panic!("{name} {}: {error}", observation.provider_id));
    }
    observations
}

/// The one observation of a task over a fixture, as (kind, provider id, fields), with
/// the fields its tags fill by default (its `Name` and `Environment` tags).
async fn only(name: &str, task: &str) -> (Kind, String, Value) {
    let mut observations = crawl_fixture(name, task).await;
    assert_eq!(observations.len(), 1, "{name} {task}: {observations:?}");
    let observation = observations.remove(0);
    let (fields, _) = observation.with_tag_fields(&TagFields::default());
    (observation.kind, observation.provider_id, Value::Object(fields))
}

/// Every fixture and the task that sees its resources.
const FIXTURES: [(&str, &str); 9] = [
    ("aws_ec2_instance.tfstate", "server-list"),
    ("google_compute_instance.tfstate", "server-list"),
    ("aws_ec2_ebs_volume.tfstate", "volumes"),
    ("aws_ec2_ebs_snapshot.tfstate", "snapshots"),
    ("aws_lb.tfstate", "loadbalance"),
    ("azurerm_lb.tfstate", "loadbalance"),
    ("aws_cloudfront_distribution.tfstate", "cdns"),
    ("aws_vpc.tfstate", "network"),
    ("aws_dynamodb_table.tfstate", "dynamodb"),
];

#[tokio::test]
async fn ec2_and_gce_instances_are_servers() {
    let (kind, id, fields) = only("aws_ec2_instance.tfstate", "server-list").await;
    assert_eq!((kind, id.as_str()), (Kind::Server, "i-0d3650a23f4e45dc0"));
    assert_eq!(
        fields,
        json!({
            "hostname": "ip-172-31-22-12",
            "ipv4_private": "172.31.22.12",
            "ipv4_public": "35.180.126.180",
            "dns_private": "ip-172-31-22-12.eu-west-3.compute.internal",
            "dns_public": "ec2-35-180-126-180.eu-west-3.compute.amazonaws.com",
            "cpu": 2,
            "image": "ami-0697b068b80d79421",
            "status": "Running",
            "storage": [{"device": "/dev/xvda", "size": 8, "root": true, "volume_id": "vol-081c7272a57a09db1",
                         "volume_type": "gp2", "encrypted": false}],
            "datacenters": {"provider": "aws", "region": "eu-west-3", "zone": "eu-west-3b",
                            "instance_type": "t3.nano", "instance_id": "i-0d3650a23f4e45dc0"},
        })
    );

    let (kind, id, fields) = only("google_compute_instance.tfstate", "server-list").await;
    assert_eq!(
        (kind, id.as_str()),
        (
            Kind::Server,
            "projects/cloudskiff-dev-elie/zones/us-central1-a/instances/test"
        )
    );
    assert_eq!(
        fields,
        json!({
            "hostname": "test",
            "name": "test",
            "ipv4_private": "10.128.0.2",
            "image": "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-9-stretch-v20210916",
            "status": "Running",
            "storage": [{"device": "persistent-disk-0", "size": 10, "root": true, "volume_type": "pd-standard"}],
            "datacenters": {"provider": "gcp", "region": "us-central1", "zone": "us-central1-a",
                            "instance_type": "e2-medium", "instance_id": "4993131743765937902"},
        })
    );
}

#[tokio::test]
async fn ebs_volumes_and_snapshots_keep_size_type_and_encryption() {
    let (kind, id, fields) = only("aws_ec2_ebs_volume.tfstate", "volumes").await;
    assert_eq!((kind, id.as_str()), (Kind::Volume, "vol-01ddc91d3d9d1318b"));
    assert_eq!(
        fields,
        json!({
            "name": "HelloWorld", "size": 8, "volume_type": "gp2", "encrypted": false, "iops": 100,
            "datacenters": {"provider": "aws", "region": "eu-west-3", "zone": "eu-west-3a"},
        })
    );
    let (kind, id, fields) = only("aws_ec2_ebs_snapshot.tfstate", "snapshots").await;
    assert_eq!((kind, id.as_str()), (Kind::Snapshot, "snap-071ccff0167f3e841"));
    assert_eq!(
        fields,
        json!({
            "name": "HelloWorld_snap", "size": 10, "encrypted": false, "volume_id": "vol-01ddc91d3d9d1318b",
            "datacenters": {"provider": "aws", "region": "eu-west-3"},
        })
    );
}

#[tokio::test]
async fn load_balancers_cdns_and_tables_are_applications_of_their_family() {
    let (kind, id, fields) = only("aws_lb.tfstate", "loadbalance").await;
    assert_eq!(kind, Kind::Application);
    assert_eq!(
        id,
        "arn:aws:elasticloadbalancing:us-east-1:533948124879:loadbalancer/app/test-lb-tf/35be57d467ff22b9"
    );
    assert_eq!(
        fields,
        json!({
            "name": "test-lb-tf", "family": "Loadbalance", "environment": "Development",
            "endpoint": "test-lb-tf-278241463.us-east-1.elb.amazonaws.com",
            "specs": {"load_balancer_type": "application", "scheme": "internet-facing", "ip_address_type": "ipv4",
                      "vpc_id": "vpc-0ae1f138a09749ef1",
                      "subnets": ["subnet-003713513d37c0905", "subnet-063162f23053ebfdd"]},
            "datacenters": {"provider": "aws", "region": "us-east-1"},
        })
    );

    let (_, id, fields) = only("azurerm_lb.tfstate", "loadbalance").await;
    assert!(id.ends_with("/loadBalancers/TestLoadBalancer"), "{id}");
    assert_eq!(
        fields,
        json!({
            "name": "TestLoadBalancer", "family": "Loadbalance",
            "specs": {"sku": "Basic", "resource_group": "LoadBalancerRG"},
            "datacenters": {"provider": "azure", "region": "westus"},
        })
    );

    let (_, id, fields) = only("aws_cloudfront_distribution.tfstate", "cdns").await;
    assert_eq!(id, "E1M9CNS0XSHI19");
    assert_eq!(fields["family"], "CDN");
    assert_eq!(fields["name"], "d1g0dw0i1wvlgd.cloudfront.net");
    assert_eq!(fields["endpoint"], "d1g0dw0i1wvlgd.cloudfront.net");
    assert_eq!(
        fields["specs"]["origins"],
        json!(["foo-cloudfront.s3.eu-west-3.amazonaws.com"])
    );
    assert_eq!(fields["specs"]["enabled"], false);

    let tables = crawl_fixture("aws_dynamodb_table.tfstate", "dynamodb").await;
    let seen: Vec<(&str, &Value, &Value, Option<&str>)> = tables
        .iter()
        .map(|t| {
            (
                t.provider_id.as_str(),
                &t.fields["family"],
                &t.fields["specs"]["billing_mode"],
                t.tags.get("Environment").map(String::as_str),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "GameScores",
                &json!("Database"),
                &json!("PROVISIONED"),
                Some("production")
            ),
            ("example", &json!("Database"), &json!("PAY_PER_REQUEST"), None),
        ]
    );
}

#[tokio::test]
async fn vpcs_are_networks_with_their_cidr() {
    let networks = crawl_fixture("aws_vpc.tfstate", "network").await;
    let seen: Vec<(Kind, &str, &Value, &Value)> = networks
        .iter()
        .map(|n| {
            (
                n.kind,
                n.provider_id.as_str(),
                &n.fields["cidr"],
                &n.fields["network_type"],
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                Kind::Network,
                "vpc-41d1d13b",
                &json!("172.31.0.0/16"),
                &json!("vpc")
            ),
            (
                Kind::Network,
                "vpc-0a5666c0cfc366714",
                &json!("10.0.0.0/16"),
                &json!("vpc")
            ),
        ]
    );
    assert_eq!(
        networks[0].fields["datacenters"],
        json!({"provider": "aws", "region": "us-east-1"})
    );
}

#[tokio::test]
async fn a_task_sees_only_its_family() {
    for (name, own_task) in FIXTURES {
        let provider = crawlers::provider("terraform").unwrap();
        for task in provider.tasks().iter().filter(|task| task.name != own_task) {
            assert!(
                crawl_fixture(name, task.name).await.is_empty(),
                "{name} seen by {}",
                task.name
            );
        }
    }
}

#[tokio::test]
async fn broken_states_fail_whole_naming_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("aws_vpc.tfstate")).unwrap();

    let truncated = dir.path().join("truncated.tfstate");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let error = crawl(
        "terraform",
        "network",
        path_options(&truncated),
        &Credentials::default(),
    )
    .await
    .unwrap_err();
    let CrawlError::File(message) = &error else {
        panic!("{error:?}")
    };
    assert!(
        message.starts_with(&format!(
            "Terraform state {}: not a JSON document (EOF while parsing",
            truncated.display()
        )),
        "{message}"
    );

    let old = dir.path().join("v2.tfstate");
    std::fs::write(&old, text.replacen("\"version\": 4", "\"version\": 2", 1)).unwrap();
    let error = crawl(
        "terraform",
        "network",
        path_options(&old),
        &Credentials::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error,
        CrawlError::File(format!(
            "Terraform state {}: state version 2 (from before Terraform 0.7) is not read; Maestro reads versions 3 \
             and 4: `terraform refresh` with a later Terraform upgrades it",
            old.display()
        ))
    );

    let missing = dir.path().join("nope.tfstate");
    let error = crawl(
        "terraform",
        "network",
        path_options(&missing),
        &Credentials::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, CrawlError::Settings(name, m) if name == "path" && m.starts_with(&format!("`{}` is not a file Maestro may read", missing.display()))),
        "{error}"
    );

    let error = crawl(
        "terraform",
        "network",
        path_options(dir.path()),
        &Credentials::default(),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("is a directory"), "{error}");

    let error = crawl(
        "terraform",
        "buckets",
        path_options(&fixture("aws_vpc.tfstate")),
        &Credentials::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, CrawlError::UnknownTask { .. }), "{error}");
}

#[tokio::test]
async fn states_read_over_ssh_are_the_same_and_a_wrong_key_is_refused() {
    let sshd = Sshd::start();
    let credentials = ssh_credentials(&sshd.key);
    for (name, task) in FIXTURES {
        let over_ssh = crawl("terraform", task, sshd.options(&fixture(name)), &credentials)
            .await
            .unwrap_or_else(|error| panic!("{name} over SSH: {error}\nsshd: {}", sshd.log()));
        assert!(!over_ssh.is_empty());
        assert_eq!(over_ssh, crawl_fixture(name, task).await, "{name}");
    }

    let stranger = sshd.stranger_key();
    let error = crawl(
        "terraform",
        "network",
        sshd.options(&fixture("aws_vpc.tfstate")),
        &ssh_credentials(&stranger),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, CrawlError::Unauthorized(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "SSH login as {}@127.0.0.1 port {} was refused",
            sshd.user, sshd.port
        )),
        "{message}"
    );
    let key_body = stranger.lines().nth(1).unwrap();
    assert!(!message.contains(key_body), "the key never shows in an error");

    let missing = fixture("nope.tfstate");
    let error = crawl("terraform", "network", sshd.options(&missing), &credentials)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        CrawlError::Settings(
            "path".into(),
            format!("{}@127.0.0.1:{} does not exist", sshd.user, missing.display())
        )
    );

    let error = crawl(
        "terraform",
        "network",
        sshd.options(&fixture("aws_vpc.tfstate")),
        &Credentials::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, CrawlError::Credentials(_)), "{error:?}");
}

#[tokio::test]
async fn states_read_from_s3_are_the_same_and_missing_buckets_and_keys_are_named() {
    let moto = Moto::start().await;
    let states: Vec<(String, String)> = FIXTURES
        .iter()
        .map(|(name, _)| {
            let text = std::fs::read_to_string(fixture(name)).unwrap();
            (format!("env/{name}"), text)
        })
        .collect();
    let vpc = &states
        .iter()
        .find(|(key, _)| key.ends_with("aws_vpc.tfstate"))
        .unwrap()
        .1;
    let truncated = &vpc[..vpc.len() / 2];
    let mut objects: Vec<(&str, &str)> = states.iter().map(|(k, t)| (k.as_str(), t.as_str())).collect();
    objects.push(("broken/terraform.tfstate", truncated));
    moto.bucket("states", &objects).await;
    let credentials = moto::credentials();
    let from_s3 = |target: Value| crawl("terraform", "network", moto.s3_options(target), &credentials);

    for (name, task) in FIXTURES {
        let options = moto.s3_options(json!({"bucket": "states", "key": format!("env/{name}")}));
        let observations = crawl("terraform", task, options, &credentials)
            .await
            .unwrap_or_else(|error| panic!("{name} from S3: {error}"));
        assert!(!observations.is_empty());
        assert_eq!(observations, crawl_fixture(name, task).await, "{name}");
    }

    let error = from_s3(json!({"bucket": "broken", "key": "env/aws_vpc.tfstate"}))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        CrawlError::Settings(
            "bucket".into(),
            "bucket `broken` does not exist (reading s3://broken/env/aws_vpc.tfstate)".into()
        )
    );
    let error = from_s3(json!({"bucket": "states", "key": "env/gone.tfstate"}))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        CrawlError::Settings("key".into(), "s3://states/env/gone.tfstate does not exist".into())
    );
    let error = from_s3(json!({"bucket": "states", "key": "env/"}))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        CrawlError::Settings(
            "key".into(),
            "s3://states/env/ is a prefix; give the key of the file itself".into()
        )
    );
    let error = from_s3(json!({"bucket": "states", "key": "broken/terraform.tfstate"}))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains(
            "Terraform state s3://states/broken/terraform.tfstate: not a JSON document (EOF while parsing"
        ),
        "{error}"
    );
    let options = moto.s3_options(json!({"bucket": "states", "key": "env/aws_vpc.tfstate"}));
    let error = crawl("terraform", "network", options, &Credentials::default())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        CrawlError::Credentials("the connection has no `access_key_id` credential".into())
    );
}

#[tokio::test]
async fn s3_refuses_unknown_credentials_and_the_error_never_shows_them() {
    // With no free actions, moto checks every request's access key against its IAM users,
    // which know none.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]).await;
    let options = moto.s3_options(json!({"bucket": "states", "key": "env/aws_vpc.tfstate"}));
    let error = crawl("terraform", "network", options, &moto::credentials())
        .await
        .unwrap_err();
    let CrawlError::Unauthorized(message) = &error else {
        panic!("{error:?}")
    };
    assert!(
        message.starts_with("s3 GetObject s3://states/env/aws_vpc.tfstate: InvalidAccessKeyId"),
        "{message}"
    );
    let text = format!("{error} {error:?}");
    assert!(!text.contains(moto::SECRET_ACCESS_KEY), "{text}");
    assert!(!text.contains(moto::ACCESS_KEY_ID), "{text}");
}

/// The (provider id, name, a field) of every observation of `task` over the multi-cloud
/// state, with the fields its tags fill.
async fn multi_cloud(task: &str, field: &str) -> Vec<(String, Value, Value)> {
    let mut seen: Vec<(String, Value, Value)> = crawl_fixture("multi_cloud.tfstate", task)
        .await
        .into_iter()
        .map(|observation| {
            let (fields, _) = observation.with_tag_fields(&TagFields::default());
            let name = fields.get("name").cloned().unwrap_or(Value::Null);
            let value = fields.get(field).cloned().unwrap_or(Value::Null);
            (observation.provider_id, name, value)
        })
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    seen
}

#[tokio::test]
async fn the_types_real_states_hold_most_are_items_of_every_cloud() {
    let rg = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups";
    let triple = |id: &str, name: &str, value: Value| (id.to_string(), json!(name), value);
    assert_eq!(
        multi_cloud("server-list", "datacenters").await,
        [
            triple(
                &format!("{rg}/rg-api/providers/Microsoft.Compute/virtualMachines/api-vm-01"),
                "api-vm-01",
                json!({"provider": "azure", "region": "westeurope", "instance_type": "Standard_B2s", "instance_id": "11111111-2222-3333-4444-555555555555"})
            ),
            triple(
                "412345678",
                "web-1",
                json!({"provider": "digitalocean", "region": "ams3", "instance_type": "s-1vcpu-2gb", "instance_id": "412345678"})
            ),
        ]
    );
    assert_eq!(
        multi_cloud("volumes", "size").await,
        [
            triple(
                &format!("{rg}/rg-api/providers/Microsoft.Compute/disks/api-data"),
                "api-data",
                json!(64)
            ),
            triple("506f78a4-e098-11e5-ad9f-000f53306ae1", "web-data", json!(100)),
            triple(
                "projects/acme-prod/zones/europe-west1-b/disks/data",
                "data",
                json!(50)
            ),
        ]
    );
    assert_eq!(
        multi_cloud("network", "cidr").await,
        [
            triple(
                &format!("{rg}/rg-api/providers/Microsoft.Network/networkInterfaces/api-nic"),
                "api-nic",
                json!("10.50.1.4/32")
            ),
            triple(
                &format!("{rg}/rg-api/providers/Microsoft.Network/publicIPAddresses/api-ip"),
                "api-ip",
                json!("20.61.1.2/32")
            ),
            triple(
                &format!("{rg}/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-main"),
                "vnet-main",
                json!("10.50.0.0/16")
            ),
            triple(
                &format!("{rg}/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-main/subnets/app"),
                "app",
                json!("10.50.1.0/24")
            ),
            triple(
                "eipalloc-0a9b8c7d6e5f40312",
                "eipalloc-0a9b8c7d6e5f40312",
                json!("52.16.10.20/32")
            ),
            triple("nat-0123abcd4567ef890", "main-nat", json!("52.16.10.20/32")),
            triple("projects/acme-prod/global/networks/main", "main", Value::Null),
            triple(
                "projects/acme-prod/regions/europe-west1/subnetworks/app",
                "app",
                json!("10.60.1.0/24")
            ),
            triple("subnet-0a1b2c3d4e5f60718", "app-a", json!("10.40.1.0/24")),
        ]
    );
    assert_eq!(
        multi_cloud("security", "rules").await,
        [triple(
            "sg-0f1e2d3c4b5a69788",
            "web-ingress",
            json!([
                {"direction": "ingress", "protocol": "tcp", "from_port": 443, "to_port": 443, "peer_type": "cidr", "peer": "0.0.0.0/0"},
                {"direction": "egress", "protocol": "all", "from_port": 0, "to_port": 0, "peer_type": "cidr", "peer": "0.0.0.0/0"},
            ])
        )]
    );
    assert_eq!(
        multi_cloud("dbs", "environment").await,
        [triple(
            "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "orders",
            json!("Production")
        )]
    );
    assert_eq!(
        multi_cloud("storage-object", "owner").await,
        [triple("acme-assets-prod", "acme-assets-prod", json!("web-team"))]
    );
    assert_eq!(
        multi_cloud("kubernetes", "specs").await,
        [
            triple("main", "main", json!({"version": "1.29"})),
            triple(
                "projects/acme-prod/locations/europe-west1/clusters/main",
                "main",
                json!({"version": "1.29.4-gke.1043002"})
            ),
        ]
    );
}

#[tokio::test]
async fn an_empty_state_is_refused_unless_the_connection_accepts_one() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("terraform.tfstate");
    let only_data = json!({"version": 4, "resources": [
        {"mode": "data", "type": "aws_vpc", "name": "default", "instances": [{"attributes": {"id": "vpc-1"}}]}]});
    std::fs::write(&empty, only_data.to_string()).unwrap();
    let error = crawl(
        "terraform",
        "network",
        path_options(&empty),
        &Credentials::default(),
    )
    .await
    .unwrap_err();
    let CrawlError::File(message) = &error else {
        panic!("{error:?}")
    };
    assert!(
        message.contains("holds no managed resource") && message.contains("`accept_empty_state: true`"),
        "{message}"
    );
    let mut accepting = path_options(&empty);
    accepting["accept_empty_state"] = json!(true);
    let seen = crawl("terraform", "network", accepting, &Credentials::default())
        .await
        .unwrap();
    assert!(seen.is_empty(), "{seen:?}");
}

#[tokio::test]
async fn version_3_states_of_terraform_0_11_are_read_like_version_4() {
    let servers = crawl_fixture("aws_v3.tfstate", "server-list").await;
    let seen: Vec<(&str, Value, Value, Value)> = servers
        .iter()
        .map(|server| {
            let (fields, _) = server.with_tag_fields(&TagFields::default());
            (
                server.provider_id.as_str(),
                fields["name"].clone(),
                fields["hostname"].clone(),
                json!([&fields["cpu"], &fields["environment"], &fields["storage"]]),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "i-0v3instance0000",
                json!("web-0"),
                json!("ip-10-80-1-10"),
                json!([2, "Production", [{"size": 8, "root": true, "volume_type": "gp2"}]])
            ),
            (
                "i-0v3instance0001",
                json!("web-1"),
                json!("ip-10-80-1-11"),
                json!([2, "Production", [{"size": 8, "root": true, "volume_type": "gp2"}]])
            ),
        ]
    );
    let (kind, id, fields) = only("aws_v3.tfstate", "volumes").await;
    assert_eq!((kind, id.as_str()), (Kind::Volume, "vol-0v3volume"));
    assert_eq!(
        fields,
        json!({"name": "web-data", "size": 100, "volume_type": "gp2", "encrypted": false, "iops": 300,
               "datacenters": {"provider": "aws", "region": "eu-west-1", "zone": "eu-west-1a"}})
    );
}
