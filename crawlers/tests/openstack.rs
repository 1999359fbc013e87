//! The OpenStack crawler against recorded Nova, Cinder and Neutron answers, replayed
//! behind a Keystone whose catalog points at the replay server.

mod allowance;
mod replay;

use std::time::{Duration, Instant};

use crawlers::CrawlError;
use domain::Kind;
use replay::{assert_secret_free, assert_valid, find, fixture, ids, Answer, Paging, Replay};
use serde_json::{json, Value};

const PASSWORD: &str = "correct-horse-battery-staple";
const TOKEN: &str = "gAAAAABreplayedtoken";
const SECRETS: &[&str] = &[PASSWORD, TOKEN];

/// Nova's endpoint path in RegionOne, with the project id as real catalogs give it.
const COMPUTE: &str = "/compute/v2.1/6f70656e737461636b20342065766572";
const VOLUME: &str = "/volume/v3/89afd400-b646-4bbc-b12b-c0a4d63e5bd3";

/// A cloud whose Keystone issues `issued` and whose services expect [`TOKEN`]. Its
/// catalog has RegionOne's public endpoints, an internal one (which must not be used) and
/// RegionTwo's compute; all on the replay server.
async fn cloud_issuing(issued: &str) -> Replay {
    let replay = Replay::start().await;
    replay.expect_token("x-auth-token", TOKEN);
    let endpoint = |interface: &str, region: &str, path: &str| json!({"interface": interface, "region": region, "region_id": region, "url": replay.url(path)});
    let catalog = json!({"token": {"methods": ["password"], "catalog": [
        {"type": "identity", "endpoints": [endpoint("public", "RegionOne", "/identity")]},
        {"type": "compute", "endpoints": [
            endpoint("internal", "RegionOne", "/internal/compute"),
            endpoint("public", "RegionTwo", "/two/compute/v2.1"),
            endpoint("public", "RegionOne", COMPUTE),
        ]},
        {"type": "volumev3", "endpoints": [endpoint("public", "RegionOne", VOLUME)]},
        {"type": "network", "endpoints": [endpoint("public", "RegionOne", "/network/")]},
        {"type": "load-balancer", "endpoints": [endpoint("public", "RegionOne", "/load-balancer")]},
    ]}});
    let keystone = Answer::json(catalog)
        .status(201)
        .header("X-Subject-Token", issued)
        .open();
    replay.on("POST", "/identity/v3/auth/tokens", keystone);
    replay
}

async fn cloud() -> Replay {
    cloud_issuing(TOKEN).await
}

fn options(replay: &Replay) -> Value {
    json!({
        "auth_url": replay.url("/identity/v3"),
        "username": "demo",
        "project": "demo-project",
        "domain": "Default",
        "timeout_seconds": 1,
    })
}

async fn crawl(replay: &Replay, task: &str, region: &str) -> Result<Vec<crawlers::Observation>, CrawlError> {
    replay::crawl(
        "openstack",
        task,
        region,
        options(replay),
        &[("password", PASSWORD)],
    )
    .await
}

fn list(file: &str, items: &str) -> Answer {
    Answer::list(fixture(&format!("openstack/{file}")), items, Paging::OpenStack)
}

#[tokio::test]
async fn servers_come_from_nova_with_their_flavor_addresses_and_volumes() {
    let replay = cloud().await;
    replay.on(
        "GET",
        &format!("{COMPUTE}/servers/detail"),
        list("nova-servers-details-resp.v2.100.json", "servers"),
    );
    let servers = crawl(&replay, "server-list", "RegionOne").await.unwrap();
    assert_valid(&servers, SECRETS);
    assert_eq!(ids(&servers), ["f5dc173b-6804-445a-a6d8-c705dad5b5eb"]);
    let server = &servers[0];
    assert_eq!(server.kind, Kind::Server);
    assert_eq!(
        Value::Object(server.fields.clone()),
        json!({
            "hostname": "new-server-test",
            "name": "new-server-test",
            "status": "Running",
            "cpu": 1,
            "memory": 512,
            "ipv4_private": "192.168.1.30",
            "ipv4_public": "1.2.3.4",
            "ipv6_all": ["80fe::"],
            "image": "70a599e0-31e7-49b7-b260-868f441e862b",
            "storage": [{"volume_id": "volume_id1"}, {"volume_id": "volume_id2"}],
            "datacenters": {
                "provider": "openstack",
                "region": "RegionOne",
                "zone": "us-west",
                "instance_type": "m1.tiny",
                "instance_id": "f5dc173b-6804-445a-a6d8-c705dad5b5eb",
            },
        })
    );
    assert_eq!(
        server.tags,
        replay::tags(&[("My Server Name", "Apache1")]),
        "its metadata"
    );

    // Keystone got a scoped password sign-in; Nova got the token and the microversion.
    let sign_in: Value =
        serde_json::from_slice(&replay.received_on("/identity/v3/auth/tokens")[0].body).unwrap();
    assert_eq!(sign_in["auth"]["identity"]["password"]["user"]["name"], "demo");
    assert_eq!(
        sign_in["auth"]["identity"]["password"]["user"]["domain"]["name"],
        "Default"
    );
    assert_eq!(sign_in["auth"]["scope"]["project"]["name"], "demo-project");
    let nova = &replay.received_on(&format!("{COMPUTE}/servers/detail"))[0];
    assert_eq!(nova.headers["x-auth-token"], TOKEN);
    assert_eq!(nova.headers["openstack-api-version"], "compute 2.47");
    assert!(replay.received_on("/internal/compute/servers/detail").is_empty());
}

#[tokio::test]
async fn older_servers_name_their_flavor_by_id_and_the_region_picks_the_endpoint() {
    let replay = cloud().await;
    replay.on(
        "GET",
        "/two/compute/v2.1/servers/detail",
        list("nova-servers-details-resp.json", "servers"),
    );
    let servers = crawl(&replay, "server-list", "RegionTwo").await.unwrap();
    assert_valid(&servers, SECRETS);
    let server = find(&servers, "f5dc173b-6804-445a-a6d8-c705dad5b5eb");
    assert_eq!(server.fields["ipv4_private"], "192.168.0.3");
    assert_eq!(server.fields["datacenters"]["instance_type"], "1");
    assert_eq!(server.fields["datacenters"]["region"], "RegionTwo");
    assert!(!server.fields.contains_key("cpu"), "no embedded flavor, no size");
}

#[tokio::test]
async fn flavors_are_read_through_every_page() {
    let replay = cloud().await;
    let flavors = fixture("openstack/nova-flavors-detail-resp.v2.75.json");
    replay.on(
        "GET",
        &format!("{COMPUTE}/flavors/detail"),
        Answer::pages(flavors, "flavors", 3, Paging::OpenStack),
    );
    let flavors = crawl(&replay, "flavor-list", "RegionOne").await.unwrap();
    assert_valid(&flavors, SECRETS);
    assert_eq!(ids(&flavors), ["1", "2", "3", "4", "5", "6", "7"]);
    assert_eq!(
        replay.received_on(&format!("{COMPUTE}/flavors/detail")).len(),
        3,
        "three pages"
    );
    let small = find(&flavors, "2");
    assert_eq!(small.kind, Kind::Flavor);
    assert_eq!(
        (
            &small.fields["name"],
            &small.fields["vcpus"],
            &small.fields["memory"],
            &small.fields["disk"]
        ),
        (&json!("m1.small"), &json!(1), &json!(2048), &json!(20))
    );
    assert_eq!(find(&flavors, "7").fields["description"], "test description");
}

#[tokio::test]
async fn a_failed_page_fails_the_whole_list() {
    let replay = cloud().await;
    let flavors = fixture("openstack/nova-flavors-detail-resp.v2.75.json");
    replay.on(
        "GET",
        &format!("{COMPUTE}/flavors/detail"),
        Answer::pages(flavors, "flavors", 3, Paging::OpenStack).fail_page(2, 500),
    );
    let error = crawl(&replay, "flavor-list", "RegionOne").await.unwrap_err();
    let CrawlError::Provider { status, what, .. } = &error else {
        panic!("not a provider error: {error}")
    };
    assert_eq!((*status, what.as_str()), (500, "nova flavors (page 2)"));
    assert_secret_free(&error, SECRETS);
}

#[tokio::test]
async fn a_hanging_page_is_unreachable_within_the_timeout() {
    let replay = cloud().await;
    let flavors = fixture("openstack/nova-flavors-detail-resp.v2.75.json");
    replay.on(
        "GET",
        &format!("{COMPUTE}/flavors/detail"),
        Answer::pages(flavors, "flavors", 3, Paging::OpenStack).hang_page(2),
    );
    let started = Instant::now();
    let error = crawl(&replay, "flavor-list", "RegionOne").await.unwrap_err();
    assert!(
        matches!(&error, CrawlError::Unreachable(m) if m.contains("nova flavors (page 2)")),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "the 1 s timeout held");
}

#[tokio::test]
async fn a_refused_sign_in_is_unauthorized_and_never_echoes_the_password() {
    let replay = cloud().await;
    let refusal = json!({"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}});
    replay.on(
        "POST",
        "/identity/v3/auth/tokens",
        Answer::json(refusal).status(401).open(),
    );
    let error = crawl(&replay, "server-list", "RegionOne").await.unwrap_err();
    assert!(
        matches!(&error, CrawlError::Unauthorized(m) if m.contains("keystone sign-in")),
        "{error}"
    );
    assert!(error.to_string().contains("requires authentication"), "{error}");
    assert_secret_free(&error, SECRETS);
}

#[tokio::test]
async fn a_token_the_services_refuse_is_unauthorized() {
    let replay = cloud_issuing("a-token-nova-does-not-take").await;
    replay.on(
        "GET",
        &format!("{COMPUTE}/servers/detail"),
        list("nova-servers-details-resp.v2.100.json", "servers"),
    );
    let error = crawl(&replay, "server-list", "RegionOne").await.unwrap_err();
    assert!(
        matches!(&error, CrawlError::Unauthorized(m) if m.contains("nova servers (page 1): HTTP 401")),
        "{error}"
    );
    assert_secret_free(&error, &["a-token-nova-does-not-take", PASSWORD]);
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let replay = cloud().await;
    // As recorded: its next link points at openstack.example.com.
    let recorded = fixture("openstack/nova-servers-details-resp.v2.100.json");
    replay.on(
        "GET",
        &format!("{COMPUTE}/servers/detail"),
        Answer::json(recorded),
    );
    let error = crawl(&replay, "server-list", "RegionOne").await.unwrap_err();
    assert!(
        matches!(&error, CrawlError::Malformed(m) if m.contains("another host (openstack.example.com)")),
        "{error}"
    );
}

#[tokio::test]
async fn a_region_the_catalog_lacks_is_a_settings_error() {
    let replay = cloud().await;
    let error = crawl(&replay, "server-list", "RegionThree").await.unwrap_err();
    let CrawlError::Settings(setting, message) = &error else {
        panic!("{error}")
    };
    assert_eq!(setting, "regions");
    assert!(message.contains("RegionOne, RegionTwo"), "{message}");
}

#[tokio::test]
async fn volumes_and_snapshots_come_from_cinder() {
    let replay = cloud().await;
    replay.on(
        "GET",
        &format!("{VOLUME}/volumes/detail"),
        list("cinder-volumes-list-detailed-response.v3.69.json", "volumes"),
    );
    replay.on(
        "GET",
        &format!("{VOLUME}/snapshots/detail"),
        list("cinder-snapshots-list-detailed-response.v3.65.json", "snapshots"),
    );
    let volumes = crawl(&replay, "volumes-list", "RegionOne").await.unwrap();
    assert_valid(&volumes, SECRETS);
    let volume = find(&volumes, "cb49b381-9012-40cb-b8ee-80c19a4801b5");
    assert_eq!(
        Value::Object(volume.fields.clone()),
        json!({
            "name": "cb49b381-9012-40cb-b8ee-80c19a4801b5",
            "size": 10,
            "state": "creating",
            "status": "Pending",
            "volume_type": "__DEFAULT__",
            "encrypted": false,
            "datacenters": {"provider": "openstack", "region": "RegionOne", "zone": "nova"},
        })
    );
    let snapshots = crawl(&replay, "snapshot-list", "RegionOne").await.unwrap();
    assert_valid(&snapshots, SECRETS);
    let snapshot = find(&snapshots, "d0083dc5-8795-4c1a-bc9c-74f70006c205");
    assert_eq!(snapshot.kind, Kind::Snapshot);
    assert_eq!(snapshot.fields["name"], "snap-001");
    assert_eq!(snapshot.fields["description"], "Daily backup");
    assert_eq!(snapshot.fields["size"], 10);
    assert_eq!(
        snapshot.fields["volume_id"],
        "7acd675e-4e06-4653-af9f-2ecd546342d6"
    );
    assert_eq!(snapshot.fields["status"], "Pending");
}

#[tokio::test]
async fn images_come_through_nova_with_their_size_in_gigabytes() {
    let replay = cloud().await;
    replay.on(
        "GET",
        &format!("{COMPUTE}/images/detail"),
        list("nova-images-details-get-resp.json", "images"),
    );
    let images = crawl(&replay, "images-list", "RegionOne").await.unwrap();
    assert_valid(&images, SECRETS);
    assert_eq!(images.len(), 7);
    let image = find(&images, "70a599e0-31e7-49b7-b260-868f441e862b");
    assert_eq!(image.fields["name"], "fakeimage7");
    assert_eq!(image.fields["size"], 1, "74185822 bytes, rounded up");
    assert_eq!(image.fields["architecture"], "x86_64");
    assert_eq!(image.fields["state"], "ACTIVE");
    assert_eq!(image.fields["status"], "Available");
    assert!(!find(&images, "a2459075-d96c-40d5-893e-577ff92e721c")
        .fields
        .contains_key("architecture"));
}

#[tokio::test]
async fn security_groups_become_networks_with_their_rules() {
    let replay = cloud().await;
    replay.on(
        "GET",
        "/network/v2.0/security-groups",
        list("neutron-security-groups-list-response.json", "security_groups"),
    );
    let groups = crawl(&replay, "security-list", "RegionOne").await.unwrap();
    assert_valid(&groups, SECRETS);
    let group = find(&groups, "85cc3048-abc3-43cc-89b3-377341426ac5");
    assert_eq!(group.kind, Kind::Network);
    assert_eq!(group.fields["name"], "default");
    assert_eq!(group.fields["network_type"], "security-group");
    let rules = group.fields["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4);
    assert_eq!(
        rules[0],
        json!({"id": "3c0e45ff-adaf-4124-b083-bf390e5482ff", "direction": "egress", "ethertype": "IPv6"})
    );
    assert_eq!(
        rules[2]["remote_group_id"],
        "85cc3048-abc3-43cc-89b3-377341426ac5"
    );
}

#[tokio::test]
async fn networks_subnets_ports_and_routers_are_networks() {
    let replay = cloud().await;
    replay.on(
        "GET",
        "/network/v2.0/networks",
        list("neutron-networks-list-response.json", "networks"),
    );
    replay.on(
        "GET",
        "/network/v2.0/subnets",
        list("neutron-subnets-list-response.json", "subnets"),
    );
    replay.on(
        "GET",
        "/network/v2.0/routers",
        list("neutron-routers-list-response.json", "routers"),
    );
    replay.on(
        "GET",
        "/network/v2.0/ports",
        list("neutron-ports-list-response.json", "ports"),
    );
    let networks = crawl(&replay, "network-list", "RegionOne").await.unwrap();
    assert_valid(&networks, SECRETS);
    assert_eq!(networks.len(), 8);
    let gateway = find(&networks, "d80b1a3b-4fc1-49f3-952e-1e2ab7081d8b");
    assert_eq!(
        Value::Object(gateway.fields.clone()),
        json!({
            "name": "d80b1a3b-4fc1-49f3-952e-1e2ab7081d8b",
            "description": "network:router_gateway 9ae135f4-b6e0-4dad-9e91-3c223e385824",
            "network_type": "port",
            "cidr": "172.24.4.2/32",
            "state": "ACTIVE",
            "status": "Active",
            "datacenters": {"provider": "openstack", "region": "RegionOne"},
        })
    );
    assert_eq!(
        find(&networks, "f71a6703-d6de-4be1-a91a-a570ede1d159").fields["cidr"],
        "10.0.0.1/32"
    );
    let net1 = find(&networks, "d32019d3-bc6e-4319-9c1d-6722fc136a22");
    assert_eq!(
        (&net1.fields["name"], &net1.fields["status"]),
        (&json!("net1"), &json!("Active"))
    );
    let subnet = find(&networks, "08eae331-0402-425a-923c-34f7cfe39c1b");
    assert_eq!(subnet.fields["name"], "private-subnet");
    assert_eq!(subnet.fields["cidr"], "10.0.0.0/24");
    assert_eq!(
        find(&networks, "54d6f61d-db07-451c-9ab3-b9609b6b6f0b").fields["cidr"],
        "192.0.0.0/8"
    );
    let router = find(&networks, "915a14a6-867b-4af7-83d1-70efceb146f9");
    assert_eq!(router.fields["network_type"], "router");
    assert_eq!(
        router.fields["rules"],
        json!([{"destination": "179.24.1.0/24", "nexthop": "172.24.3.99"}])
    );
}

#[tokio::test]
async fn load_balancers_come_from_octavia_at_their_virtual_ip() {
    let replay = cloud().await;
    replay.on(
        "GET",
        "/load-balancer/v2/lbaas/loadbalancers",
        list("octavia-loadbalancers-list-response.json", "loadbalancers"),
    );
    let balancers = crawl(&replay, "loadbalance-list", "RegionOne").await.unwrap();
    assert_valid(&balancers, SECRETS);
    assert_eq!(ids(&balancers), ["607226db-27ef-4d41-ae89-f2a800e9c2db"]);
    let balancer = &balancers[0];
    assert_eq!(balancer.kind, Kind::Application);
    assert_eq!(
        Value::Object(balancer.fields.clone()),
        json!({
            "name": "best_load_balancer",
            "description": "My favorite load balancer",
            "family": "Loadbalance",
            "endpoint": "203.0.113.50",
            "status": "Active",
            "specs": {
                "provider": "octavia",
                "operating_status": "ONLINE",
                "vip_network_id": "d0d217df-3958-4fbf-a3c2-8dad2908c709",
                "vip_subnet_id": "d4af86e1-0051-488c-b7a0-527f97490c9a",
                "vip_port_id": "b4ca07d1-a31e-43e2-891a-7d14f419f342",
                "listeners": 1,
                "pools": 1,
            },
            "datacenters": {"provider": "openstack", "region": "RegionOne"},
        })
    );
}

#[tokio::test]
async fn an_unknown_task_fails_before_signing_in() {
    let replay = cloud().await;
    let error = crawl(&replay, "dbs-list", "RegionOne").await.unwrap_err();
    assert!(matches!(error, CrawlError::UnknownTask { .. }), "{error}");
    assert!(replay.received().is_empty());
}
