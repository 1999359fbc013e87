//! The DigitalOcean crawler against recorded API v2 answers, replayed locally.

mod allowance;
mod replay;
mod tools;

use std::time::{Duration, Instant};

use crawlers::{CrawlError, Observation};
use domain::Kind;
use replay::{assert_secret_free, assert_valid, find, fixture, ids, Answer, Paging, Replay};
use serde_json::{json, Value};
use tools::moto::{Moto, ACCESS_KEY_ID, SECRET_ACCESS_KEY};

const TOKEN: &str = "dop_v1_replayedtoken0123456789";

async fn account() -> Replay {
    let replay = Replay::start().await;
    replay.expect_token("authorization", &format!("Bearer {TOKEN}"));
    replay
}

async fn crawl_with(
    replay: &Replay,
    task: &str,
    region: &str,
    token: &str,
) -> Result<Vec<Observation>, CrawlError> {
    let options = json!({"endpoint": replay.url("/"), "timeout_seconds": 1});
    replay::crawl("digitalocean", task, region, options, &[("token", token)]).await
}

async fn crawl(replay: &Replay, task: &str, region: &str) -> Result<Vec<Observation>, CrawlError> {
    let observations = crawl_with(replay, task, region, TOKEN).await?;
    assert_valid(&observations, &[TOKEN]);
    Ok(observations)
}

fn list(file: &str, items: &str) -> Answer {
    Answer::list(
        fixture(&format!("digitalocean/{file}")),
        items,
        Paging::DigitalOcean,
    )
}

#[tokio::test]
async fn droplet_tags_are_names_or_key_value_pairs_and_fill_environment_and_owner() {
    let replay = account().await;
    replay.on(
        "GET",
        "/v2/droplets",
        list("droplets-all.tagged.json", "droplets"),
    );
    let droplets = crawl(&replay, "server-list", "nyc3").await.unwrap();
    let droplet = &droplets[0];
    assert_eq!(
        droplet.tags,
        replay::tags(&[("env", "prod"), ("web", ""), ("owner", "team-web")])
    );
    let (fields, _) = droplet.with_tag_fields(&domain::TagFields::default());
    assert_eq!(
        (&fields["environment"], &fields["owner"], &fields["name"]),
        (&json!("Production"), &json!("team-web"), &json!("example.com")),
        "no `Name` tag: the droplet keeps its own name"
    );
}

#[tokio::test]
async fn droplets_are_servers_with_size_image_and_addresses() {
    let replay = account().await;
    replay.on("GET", "/v2/droplets", list("droplets-all.json", "droplets"));
    let droplets = crawl(&replay, "server-list", "nyc3").await.unwrap();
    assert_eq!(ids(&droplets), ["3164444"]);
    assert_eq!(droplets[0].kind, Kind::Server);
    assert_eq!(
        Value::Object(droplets[0].fields.clone()),
        json!({
            "hostname": "example.com",
            "name": "example.com",
            "status": "Running",
            "cpu": 1,
            "memory": 512,
            "image": "ubuntu-14-04-x64",
            "os": {"base": "Linux", "dist": "Ubuntu", "version": "14.04 x64"},
            "storage": [{"device": "root", "size": 20, "root": true}],
            "ipv4_public": "104.236.32.182",
            "ipv6_all": ["2604:a880:800:10::2dd:4001"],
            "datacenters": {"provider": "digitalocean", "region": "nyc3", "instance_type": "512mb", "instance_id": "3164444"},
        })
    );
    let request = &replay.received_on("/v2/droplets")[0];
    assert_eq!(request.query, "per_page=200");
    assert_eq!(request.headers["authorization"], format!("Bearer {TOKEN}"));

    assert!(
        crawl(&replay, "server-list", "ams3").await.unwrap().is_empty(),
        "another region"
    );
    assert_eq!(
        crawl(&replay, "server-list", "default").await.unwrap().len(),
        1,
        "every region"
    );
}

#[tokio::test]
async fn volumes_are_read_through_every_page_and_kept_in_their_region() {
    let replay = account().await;
    let volumes = fixture("digitalocean/volumes-all.json");
    replay.on(
        "GET",
        "/v2/volumes",
        Answer::pages(volumes, "volumes", 1, Paging::DigitalOcean),
    );
    let all = crawl(&replay, "volumes-list", "default").await.unwrap();
    assert_eq!(
        ids(&all),
        [
            "506f78a4-e098-11e5-ad9f-000f53306ae1",
            "2d2967ff-491d-11e6-860c-000f53315870"
        ]
    );
    let pages = replay.received_on("/v2/volumes");
    assert_eq!(pages.len(), 2);
    assert_eq!(
        pages[1].query, "per_page=200&replay_page=2",
        "the next link was followed as given"
    );

    let nyc1 = crawl(&replay, "volumes-list", "nyc1").await.unwrap();
    assert_eq!(ids(&nyc1), ["506f78a4-e098-11e5-ad9f-000f53306ae1"]);
    assert_eq!(
        Value::Object(nyc1[0].fields.clone()),
        json!({
            "name": "example",
            "description": "Block store for examples",
            "size": 100,
            "state": "detached",
            "status": "Available",
            "datacenters": {"provider": "digitalocean", "region": "nyc1"},
        })
    );
    let attached = find(&all, "2d2967ff-491d-11e6-860c-000f53315870");
    assert_eq!(
        (&attached.fields["size"], &attached.fields["status"]),
        (&json!(500), &json!("In-use"))
    );
}

#[tokio::test]
async fn a_failed_page_fails_the_whole_list() {
    let replay = account().await;
    let volumes = fixture("digitalocean/volumes-all.json");
    replay.on(
        "GET",
        "/v2/volumes",
        Answer::pages(volumes, "volumes", 1, Paging::DigitalOcean).fail_page(2, 500),
    );
    let error = crawl(&replay, "volumes-list", "nyc1").await.unwrap_err();
    let CrawlError::Provider {
        status,
        what,
        message,
    } = &error
    else {
        panic!("not a provider error: {error}")
    };
    assert_eq!((*status, what.as_str()), (500, "volumes (page 2)"));
    assert_eq!(message, "replay: page 2 fails");
}

#[tokio::test]
async fn a_hanging_page_is_unreachable_within_the_timeout() {
    let replay = account().await;
    let volumes = fixture("digitalocean/volumes-all.json");
    replay.on(
        "GET",
        "/v2/volumes",
        Answer::pages(volumes, "volumes", 1, Paging::DigitalOcean).hang_page(2),
    );
    let started = Instant::now();
    let error = crawl(&replay, "volumes-list", "nyc1").await.unwrap_err();
    assert!(
        matches!(&error, CrawlError::Unreachable(m) if m.contains("volumes (page 2)")),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "the 1 s timeout held");
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized_and_never_echoed() {
    let replay = account().await;
    replay.on("GET", "/v2/droplets", list("droplets-all.json", "droplets"));
    let error = crawl_with(&replay, "server-list", "nyc3", "dop_v1_revoked")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CrawlError::Unauthorized(m) if m.contains("droplets (page 1): HTTP 401")),
        "{error}"
    );
    assert_secret_free(&error, &["dop_v1_revoked", TOKEN]);
}

#[tokio::test]
async fn a_connection_without_a_token_says_so() {
    let replay = account().await;
    let options = json!({"endpoint": replay.url("/")});
    let error = replay::crawl("digitalocean", "server-list", "nyc3", options, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CrawlError::Credentials(m) if m.contains("`token`")),
        "{error}"
    );
}

#[tokio::test]
async fn snapshots_and_own_images_are_kept_in_each_of_their_regions() {
    let replay = account().await;
    replay.on("GET", "/v2/snapshots", list("snapshots-all.json", "snapshots"));
    replay.on("GET", "/v2/images", list("images-all.json", "images"));
    let snapshots = crawl(&replay, "snapshot-list", "fra1").await.unwrap();
    let snapshot = find(&snapshots, "6372321");
    assert_eq!(snapshot.kind, Kind::Snapshot);
    assert_eq!(
        Value::Object(snapshot.fields.clone()),
        json!({
            "name": "test",
            "description": "snapshot of droplet 2713828",
            "size": 2,
            "datacenters": {"provider": "digitalocean", "region": "fra1"},
        })
    );
    assert!(crawl(&replay, "snapshot-list", "blr1").await.unwrap().is_empty());

    let images = crawl(&replay, "images-list", "nyc3").await.unwrap();
    assert_eq!(ids(&images), ["449676856"], "only the image that is in nyc3");
    assert_eq!(images[0].fields["name"], "My Snapshot");
    assert_eq!(images[0].fields["size"], 3, "2.34 GB, rounded up");
    assert_eq!(images[0].fields["platform"], "Ubuntu");
    assert_eq!(
        replay.received_on("/v2/images")[0].query,
        "private=true&per_page=200"
    );
}

#[tokio::test]
async fn load_balancers_and_cdn_endpoints_are_applications() {
    let replay = account().await;
    replay.on(
        "GET",
        "/v2/load_balancers",
        list("loadbalancer-all.json", "load_balancers"),
    );
    replay.on(
        "GET",
        "/v2/cdn/endpoints",
        list("cdn_endpoints-all.json", "endpoints"),
    );
    let balancers = crawl(&replay, "loadbalance-list", "nyc3").await.unwrap();
    let balancer = find(&balancers, "4de7ac8b-495b-4884-9a69-1050c6793cd6");
    assert_eq!(balancer.kind, Kind::Application);
    assert_eq!(balancer.fields["name"], "example-lb-01");
    assert_eq!(balancer.fields["family"], "Loadbalance");
    assert_eq!(balancer.fields["endpoint"], "104.131.186.241");
    assert_eq!(balancer.fields["healthcheck"], "http:80/");
    assert_eq!(balancer.fields["status"], "Pending");
    assert_eq!(balancer.fields["specs"]["droplet_ids"], json!([3164444, 3164445]));
    assert_eq!(balancer.fields["specs"]["forwarding_rules"][1]["entry_port"], 444);
    assert_eq!(
        balancer.fields["datacenters"],
        json!({"provider": "digitalocean", "region": "nyc3"})
    );

    let endpoints = crawl(&replay, "cdns-list", "nyc3").await.unwrap();
    let endpoint = find(&endpoints, "19f06b6a-3ace-4315-b086-499a0e521b76");
    assert_eq!(endpoint.fields["name"], "static.example.com");
    assert_eq!(endpoint.fields["family"], "CDN");
    assert_eq!(
        endpoint.fields["endpoint"],
        "static-images.nyc3.cdn.digitaloceanspaces.com"
    );
    assert_eq!(
        endpoint.fields["specs"]["origin"],
        "static-images.nyc3.digitaloceanspaces.com"
    );
    assert_eq!(endpoint.fields["specs"]["ttl"], 3600);
}

#[tokio::test]
async fn firewalls_are_security_groups_with_one_rule_per_peer() {
    let replay = account().await;
    replay.on("GET", "/v2/firewalls", list("firewalls-all.json", "firewalls"));
    let firewalls = crawl(&replay, "security-list", "nyc1").await.unwrap();
    assert_eq!(
        ids(&firewalls),
        ["12345"],
        "a firewall is of no region: in every crawl"
    );
    assert_eq!(firewalls[0].kind, Kind::Network);
    assert_eq!(
        Value::Object(firewalls[0].fields.clone()),
        json!({
            "name": "firewall",
            "network_type": "security-group",
            "state": "succeeded",
            "status": "Active",
            "rules": [
                {"direction": "ingress", "protocol": "tcp", "from_port": 80, "to_port": 80, "peer_type": "load-balancer", "peer": "12345"},
                {"direction": "ingress", "protocol": "tcp", "from_port": 22, "to_port": 22, "peer_type": "cidr", "peer": "18.0.0.0/8"},
                {"direction": "ingress", "protocol": "tcp", "from_port": 22, "to_port": 22, "peer_type": "tag", "peer": "gateway"},
                {"direction": "egress", "protocol": "tcp", "from_port": 80, "to_port": 80, "peer_type": "cidr", "peer": "0.0.0.0/0"},
                {"direction": "egress", "protocol": "tcp", "from_port": 80, "to_port": 80, "peer_type": "cidr", "peer": "::/0"},
            ],
            "datacenters": {"provider": "digitalocean"},
        })
    );
    assert_eq!(replay.received_on("/v2/firewalls")[0].query, "per_page=200");
    assert!(
        replay.received_on("/v2/vpcs").is_empty(),
        "firewalls are security-list's alone"
    );
}

#[tokio::test]
async fn firewalls_are_read_through_every_page() {
    let replay = account().await;
    // The recorded firewall, and a second one (ICMP, a port range, every port) on page 2.
    let mut firewalls = fixture("digitalocean/firewalls-all.json");
    firewalls["firewalls"].as_array_mut().unwrap().push(json!({
        "id": "fb6045f1-cf1d-4ca3-bfac-18832663025b", "name": "internal", "status": "waiting",
        "inbound_rules": [
            {"protocol": "icmp", "sources": {"droplet_ids": [8043964]}},
            {"protocol": "tcp", "ports": "8000-9000", "sources": {"kubernetes_ids": ["bd5f5959"]}},
        ],
        "outbound_rules": [{"protocol": "udp", "ports": "all", "destinations": {"addresses": ["10.0.0.0/8"]}}],
    }));
    replay.on(
        "GET",
        "/v2/firewalls",
        Answer::pages(firewalls, "firewalls", 1, Paging::DigitalOcean),
    );
    let all = crawl(&replay, "security-list", "default").await.unwrap();
    assert_eq!(ids(&all), ["12345", "fb6045f1-cf1d-4ca3-bfac-18832663025b"]);
    assert_eq!(replay.received_on("/v2/firewalls").len(), 2);
    let internal = find(&all, "fb6045f1-cf1d-4ca3-bfac-18832663025b");
    assert_eq!(internal.fields["status"], "Pending");
    assert_eq!(
        internal.fields["rules"],
        json!([
            {"direction": "ingress", "protocol": "icmp", "peer_type": "droplet", "peer": "8043964"},
            {"direction": "ingress", "protocol": "tcp", "from_port": 8000, "to_port": 9000, "peer_type": "kubernetes-cluster", "peer": "bd5f5959"},
            {"direction": "egress", "protocol": "udp", "peer_type": "cidr", "peer": "10.0.0.0/8"},
        ])
    );
}

#[tokio::test]
async fn vpcs_are_networks() {
    let replay = account().await;
    replay.on("GET", "/v2/vpcs", list("vpcs-list.json", "vpcs"));
    let networks = crawl(&replay, "network-list", "nyc1").await.unwrap();
    assert_eq!(
        ids(&networks),
        [
            "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
            "e0fe0f4d-596a-465e-a902-571ce57b79fa"
        ],
        "nyc1's VPCs"
    );
    let vpc = find(&networks, "5a4981aa-9653-4bd1-bef5-d6bff52042e4");
    assert_eq!(vpc.kind, Kind::Network);
    assert_eq!(
        (
            &vpc.fields["name"],
            &vpc.fields["cidr"],
            &vpc.fields["network_type"]
        ),
        (&json!("my-new-vpc"), &json!("10.10.10.0/24"), &json!("vpc"))
    );
    assert!(replay.received_on("/v2/firewalls").is_empty());
}

#[tokio::test]
async fn kubernetes_clusters_are_container_orchestration() {
    let replay = account().await;
    // Hand-written after the API reference's example: no recorded answer is in the fixtures.
    let clusters = json!({"kubernetes_clusters": [{
        "id": "bd5f5959-5e1e-4205-a714-a914373942af", "name": "prod-cluster-01", "region": "nyc1",
        "version": "1.29.1-do.0", "cluster_subnet": "10.244.0.0/16", "service_subnet": "10.245.0.0/16",
        "endpoint": "https://bd5f5959-5e1e-4205-a714-a914373942af.k8s.ondigitalocean.com",
        "node_pools": [{"id": "cdda885e", "name": "frontend-pool", "size": "s-1vcpu-2gb", "count": 3}],
        "status": {"state": "running", "message": "Cluster is running"}
    }], "links": {}, "meta": {"total": 1}});
    replay.on(
        "GET",
        "/v2/kubernetes/clusters",
        Answer::list(clusters, "kubernetes_clusters", Paging::DigitalOcean),
    );
    let clusters = crawl(&replay, "container-orchestration-list", "nyc1")
        .await
        .unwrap();
    let cluster = find(&clusters, "bd5f5959-5e1e-4205-a714-a914373942af");
    assert_eq!(cluster.fields["family"], "ContainerOrchestration");
    assert_eq!(cluster.fields["status"], "Running");
    assert_eq!(
        cluster.fields["specs"]["node_pools"],
        json!([{"name": "frontend-pool", "size": "s-1vcpu-2gb", "count": 3}])
    );
}

/// The Spaces credentials moto is seeded with, under DigitalOcean's names.
const SPACES_KEYS: [(&str, &str); 2] = [
    ("spaces_access_key_id", ACCESS_KEY_ID),
    ("spaces_secret_access_key", SECRET_ACCESS_KEY),
];

/// A bucket created in `region` on moto, standing in for Spaces' S3-compatible API.
async fn space(moto: &Moto, region: &str, bucket: &str) {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&moto.sdk(region))
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto creates {bucket}: {e:?}"));
}

#[tokio::test]
async fn spaces_buckets_are_object_storage_of_their_region() {
    let moto = Moto::start().await;
    space(&moto, "nyc3", "maestro-assets").await;
    space(&moto, "nyc3", "maestro-backups").await;
    space(&moto, "ams3", "maestro-eu-assets").await;
    // The API's `endpoint` is not Spaces': only `spaces_endpoint` leads there.
    let options =
        json!({"endpoint": "http://127.0.0.1:9", "spaces_endpoint": moto.endpoint, "timeout_seconds": 5});
    let crawl_spaces = |region: &'static str| {
        replay::crawl(
            "digitalocean",
            "storage-object-list",
            region,
            options.clone(),
            &SPACES_KEYS,
        )
    };
    let nyc3 = crawl_spaces("nyc3").await.unwrap();
    assert_valid(&nyc3, &[SECRET_ACCESS_KEY]);
    assert_eq!(ids(&nyc3), ["maestro-assets", "maestro-backups"]);
    assert_eq!(nyc3[0].kind, Kind::Application);
    assert_eq!(
        Value::Object(nyc3[0].fields.clone()),
        json!({
            "name": "maestro-assets",
            "family": "ObjectStorage",
            "datacenters": {"provider": "digitalocean", "region": "nyc3"},
        })
    );
    let ams3 = crawl_spaces("ams3").await.unwrap();
    assert_eq!(ids(&ams3), ["maestro-eu-assets"]);

    let error = crawl_spaces("default").await.unwrap_err();
    assert!(
        matches!(&error, CrawlError::Settings(name, m) if name == "regions" && m.contains("nyc3")),
        "{error}"
    );
}

#[tokio::test]
async fn spaces_need_their_own_keys_not_the_token() {
    let options = json!({"spaces_endpoint": "http://127.0.0.1:9"});
    let error = replay::crawl(
        "digitalocean",
        "storage-object-list",
        "nyc3",
        options.clone(),
        &[("token", TOKEN)],
    )
    .await
    .unwrap_err();
    assert_eq!(
        error,
        CrawlError::Credentials("the connection has no `spaces_access_key_id` credential".into())
    );
    let error = replay::crawl(
        "digitalocean",
        "storage-object-list",
        "nyc3",
        options,
        &[("spaces_access_key_id", ACCESS_KEY_ID)],
    )
    .await
    .unwrap_err();
    assert_eq!(
        error,
        CrawlError::Credentials("the connection has no `spaces_secret_access_key` credential".into())
    );
}

#[tokio::test]
async fn refused_spaces_keys_are_unauthorized_and_never_echoed() {
    // Moto checks every request's keys against its IAM users: these are none of them.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]).await;
    let options = json!({"spaces_endpoint": moto.endpoint, "timeout_seconds": 5});
    let error = replay::crawl(
        "digitalocean",
        "storage-object-list",
        "nyc3",
        options,
        &[
            ("spaces_access_key_id", "DO00WRONGKEY0000"),
            ("spaces_secret_access_key", "wrong/spaces/secret"),
        ],
    )
    .await
    .unwrap_err();
    assert!(matches!(&error, CrawlError::Unauthorized(_)), "{error}");
    assert_secret_free(&error, &["wrong/spaces/secret"]);
}

#[test]
fn tasks_have_the_domain_windows_and_their_permissions() {
    let provider = crawlers::provider("digitalocean").unwrap();
    let window = |name: &str| {
        provider
            .tasks()
            .iter()
            .find(|task| task.name == name)
            .unwrap_or_else(|| panic!("{name} is a task"))
            .every
    };
    assert_eq!(window("security-list"), Duration::from_secs(6 * 3600));
    assert_eq!(window("storage-object-list"), Duration::from_secs(24 * 3600));
    assert_eq!(window("network-list"), Duration::from_secs(7 * 24 * 3600));
    assert!(provider.tasks().iter().all(|task| !task.permissions.is_empty()));
}
