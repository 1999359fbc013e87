//! The Azure crawler against the Resource Manager examples of Azure's REST specs
//! (their recorded `responses."200".body`), replayed behind a local sign-in endpoint.

mod allowance;
mod replay;

use std::time::{Duration, Instant};

use crawlers::{CrawlError, Observation};
use domain::Kind;
use replay::{assert_secret_free, assert_valid, azure_example, find, ids, Answer, Paging, Replay};
use serde_json::{json, Value};

const SECRET: &str = "azure-client-secret~value";
const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOi.replayed";
const SECRETS: &[&str] = &[SECRET, TOKEN];
const SIGN_IN: &str = "/tenant-1/oauth2/v2.0/token";

const PROVIDERS: &str = "/subscriptions/subid/providers";
const VMS_IN_EASTUS: &str =
    "/subscriptions/subid/providers/Microsoft.Compute/locations/eastus/virtualMachines";
const SIZES_IN_EASTUS: &str = "/subscriptions/subid/providers/Microsoft.Compute/locations/eastus/vmSizes";
const SIZES: &str = "compute-VirtualMachineSizes_List_MaximumSet_Gen.2024-07-01.json";

/// A subscription whose sign-in issues [`TOKEN`], with empty interface and IP lists and
/// the recorded VM sizes in eastus (which do not have the examples' `Standard_A0`).
async fn subscription() -> Replay {
    let replay = Replay::start().await;
    replay.expect_token("authorization", &format!("Bearer {TOKEN}"));
    let token = json!({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN});
    replay.on("POST", SIGN_IN, Answer::json(token).open());
    for resource in ["networkInterfaces", "publicIPAddresses"] {
        let empty = Answer::list(json!({"value": []}), "value", Paging::Azure);
        replay.on("GET", &format!("{PROVIDERS}/Microsoft.Network/{resource}"), empty);
    }
    replay.on("GET", SIZES_IN_EASTUS, list(SIZES));
    replay
}

async fn crawl(replay: &Replay, task: &str, region: &str) -> Result<Vec<Observation>, CrawlError> {
    let options = json!({
        "tenant_id": "tenant-1",
        "client_id": "client-1",
        "subscription_id": "subid",
        "login_endpoint": replay.url("/"),
        "endpoint": replay.url("/"),
        "timeout_seconds": 1,
    });
    let observations = replay::crawl("azure", task, region, options, &[("client_secret", SECRET)]).await?;
    assert_valid(&observations, SECRETS);
    Ok(observations)
}

fn list(example: &str) -> Answer {
    Answer::list(azure_example(example), "value", Paging::Azure)
}

fn serve(replay: &Replay, path: &str, example: &str) {
    replay.on("GET", &format!("{PROVIDERS}/{path}"), list(example));
}

const VM_ID: &str =
    "/subscriptions/{subscriptionid}/resourcegroups/{resourcegroupname}/providers/microsoft.compute/virtualmachines/{virtualmachinename}";

#[tokio::test]
async fn virtual_machines_of_a_location_are_servers() {
    let replay = subscription().await;
    replay.on(
        "GET",
        VMS_IN_EASTUS,
        list("compute-VirtualMachine_ListBySubscription_ByLocation.2024-07-01.json"),
    );
    let vms = crawl(&replay, "server-list", "eastus").await.unwrap();
    assert_eq!(
        ids(&vms),
        [VM_ID, VM_ID],
        "as Azure's example lists them; reconciliation takes one"
    );
    assert_eq!(vms[0].kind, Kind::Server);
    assert_eq!(
        Value::Object(vms[0].fields.clone()),
        json!({
            "hostname": "test",
            "name": "{virtualMachineName}",
            "status": "Active",
            "os": {"base": "Windows", "dist": "WindowsServer", "version": "2012-R2-Datacenter"},
            "image": "MicrosoftWindowsServer:WindowsServer:2012-R2-Datacenter:4.127.20170406",
            "storage": [{"device": "os", "name": "test", "size": 127, "root": true}],
            "auth": [{"type": "Password", "username": "Foo12"}],
            "datacenters": {"provider": "azure", "region": "eastus", "instance_type": "Standard_A0", "instance_id": "{vmId}"},
        })
    );
    assert_eq!(vms[0].tags, replay::tags(&[("RG", "rg"), ("testTag", "1")]));

    // The service principal signed in with client credentials for the management scope.
    let sign_in = &replay.received_on(SIGN_IN)[0];
    let form = String::from_utf8(sign_in.body.to_vec()).unwrap();
    assert!(form.contains("grant_type=client_credentials"), "{form}");
    assert!(form.contains("client_id=client-1"), "{form}");
    assert!(
        form.contains("scope=https%3A%2F%2Fmanagement.azure.com%2F.default"),
        "{form}"
    );
    let list = &replay.received_on(VMS_IN_EASTUS)[0];
    assert_eq!(list.query, "api-version=2024-07-01");
    assert_eq!(list.headers["authorization"], format!("Bearer {TOKEN}"));
}

#[tokio::test]
async fn without_a_region_every_virtual_machine_is_listed_and_named_from_its_id() {
    let replay = subscription().await;
    serve(
        &replay,
        "Microsoft.Compute/virtualMachines",
        "compute-VirtualMachine_ListAll_MinimumSet_Gen.2024-07-01.json",
    );
    let vms = crawl(&replay, "server-list", "default").await.unwrap();
    assert_eq!(vms.len(), 2);
    assert_eq!(
        Value::Object(vms[0].fields.clone()),
        json!({
            "hostname": "virtualmachinename",
            "name": "{virtualMachineName}",
            "datacenters": {"provider": "azure", "region": "eastus"},
        })
    );
}

#[tokio::test]
async fn a_virtual_machine_takes_the_addresses_of_its_interfaces_and_public_ips() {
    let replay = subscription().await;
    // The examples of the three lists do not name each other; join one VM to the
    // interface example's `test-nic` (in another case: ids are case-insensitive), and
    // give the public IP example's `ip01` the id `test-nic` names.
    let mut vms = azure_example("compute-VirtualMachine_ListBySubscription_ByLocation.2024-07-01.json");
    vms["value"][0]["properties"]["networkProfile"]["networkInterfaces"][0]["id"] = json!(
        "/subscriptions/subid/RESOURCEGROUPS/rg1/providers/Microsoft.Network/networkInterfaces/TEST-NIC"
    );
    let mut ips = azure_example("network-PublicIpAddressListAll.2024-07-01.json");
    ips["value"][1]["id"] = json!(
        "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/publicIPAddresses/test-ip"
    );
    replay.on("GET", VMS_IN_EASTUS, Answer::list(vms, "value", Paging::Azure));
    serve(
        &replay,
        "Microsoft.Network/networkInterfaces",
        "network-NetworkInterfaceListAll.2024-07-01.json",
    );
    replay.on(
        "GET",
        &format!("{PROVIDERS}/Microsoft.Network/publicIPAddresses"),
        Answer::list(ips, "value", Paging::Azure),
    );
    let vms = crawl(&replay, "server-list", "East US").await.unwrap();
    let joined = &vms[0].fields;
    assert_eq!(joined["ipv4_private"], "172.20.2.4");
    assert_eq!(joined["ipv4_public"], "40.85.154.247");
    assert_eq!(joined["dns_public"], "testlbl.westus.cloudapp.azure.com");
    assert_eq!(joined["dns_private"], "test.test.bx.internal.cloudapp.net");
    assert!(
        !vms[1].fields.contains_key("ipv4_private"),
        "the other VM names an interface not listed"
    );
}

#[tokio::test]
async fn a_virtual_machine_has_the_cores_and_memory_of_its_size() {
    let replay = subscription().await;
    // The recorded sizes do not have the examples' Standard_A0: give one VM a recorded
    // size, in another case than the sizes list (Azure compares them without case).
    let mut vms = azure_example("compute-VirtualMachine_ListBySubscription_ByLocation.2024-07-01.json");
    vms["value"][0]["properties"]["hardwareProfile"]["vmSize"] = json!("Standard_A2_v2");
    replay.on("GET", VMS_IN_EASTUS, Answer::list(vms, "value", Paging::Azure));
    let vms = crawl(&replay, "server-list", "eastus").await.unwrap();
    assert_eq!(
        (&vms[0].fields["cpu"], &vms[0].fields["memory"]),
        (&json!(2), &json!(4096))
    );
    assert_eq!(vms[0].fields["datacenters"]["instance_type"], "Standard_A2_v2");
    assert!(
        !vms[1].fields.contains_key("cpu") && !vms[1].fields.contains_key("memory"),
        "Standard_A0 is not in the sizes list: {:?}",
        vms[1].fields
    );
    let sizes = replay.received_on(SIZES_IN_EASTUS);
    assert_eq!(sizes.len(), 1, "one sizes call for the one location");
    assert_eq!(sizes[0].query, "api-version=2024-07-01");

    // Without the sizes, the machines would lose their cores and memory: the crawl fails.
    replay.on("GET", SIZES_IN_EASTUS, list(SIZES).fail_page(1, 500));
    let error = crawl(&replay, "server-list", "eastus").await.unwrap_err();
    assert!(
        matches!(&error, CrawlError::Provider { status: 500, what, .. } if what.contains("virtual machine sizes")),
        "{error}"
    );
}

#[tokio::test]
async fn disks_are_read_through_every_page_and_kept_in_their_location() {
    let replay = subscription().await;
    let disks = azure_example("compute-Disk_ListBySubscription.2024-03-02.json");
    let path = format!("{PROVIDERS}/Microsoft.Compute/disks");
    replay.on("GET", &path, Answer::pages(disks, "value", 1, Paging::Azure));
    let volumes = crawl(&replay, "volumes-list", "westus").await.unwrap();
    let disk = |n: u8| {
        format!("/subscriptions/{{subscriptionid}}/resourcegroups/myresourcegroup/providers/microsoft.compute/disks/mymanageddisk{n}")
    };
    assert_eq!(ids(&volumes), [disk(1), disk(2), disk(3)]);
    let pages = replay.received_on(&path);
    assert_eq!(pages.len(), 3);
    assert!(pages
        .iter()
        .all(|page| page.query.starts_with("api-version=2024-03-02")));
    let volume = find(&volumes, &disk(1));
    assert_eq!(volume.kind, Kind::Volume);
    assert_eq!(
        Value::Object(volume.fields.clone()),
        json!({
            "name": "myManagedDisk1",
            "size": 200,
            "state": "Succeeded",
            "status": "Available",
            "encrypted": true,
            "datacenters": {"provider": "azure", "region": "westus"},
        })
    );
    assert_eq!(
        volume.tags,
        replay::tags(&[("department", "Development"), ("project", "ManagedDisks")])
    );
    assert_eq!(find(&volumes, &disk(2)).fields["size"], 10);
    assert!(crawl(&replay, "volumes-list", "eastus").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_page_fails_the_whole_list() {
    let replay = subscription().await;
    let disks = azure_example("compute-Disk_ListBySubscription.2024-03-02.json");
    replay.on(
        "GET",
        &format!("{PROVIDERS}/Microsoft.Compute/disks"),
        Answer::pages(disks, "value", 1, Paging::Azure).fail_page(2, 500),
    );
    let error = crawl(&replay, "volumes-list", "westus").await.unwrap_err();
    let CrawlError::Provider { status, what, .. } = &error else {
        panic!("not a provider error: {error}")
    };
    assert_eq!((*status, what.as_str()), (500, "disks (page 2)"));
    assert_secret_free(&error, SECRETS);
}

#[tokio::test]
async fn a_hanging_page_is_unreachable_within_the_timeout() {
    let replay = subscription().await;
    let disks = azure_example("compute-Disk_ListBySubscription.2024-03-02.json");
    replay.on(
        "GET",
        &format!("{PROVIDERS}/Microsoft.Compute/disks"),
        Answer::pages(disks, "value", 1, Paging::Azure).hang_page(2),
    );
    let started = Instant::now();
    let error = crawl(&replay, "volumes-list", "westus").await.unwrap_err();
    assert!(
        matches!(&error, CrawlError::Unreachable(m) if m.contains("disks (page 2)")),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "the 1 s timeout held");
}

#[tokio::test]
async fn the_recorded_next_link_to_another_host_is_not_followed() {
    let replay = subscription().await;
    // As recorded: `nextLink` points at http://disksvchost:99.
    let disks = azure_example("compute-Disk_ListBySubscription.2024-03-02.json");
    replay.on(
        "GET",
        &format!("{PROVIDERS}/Microsoft.Compute/disks"),
        Answer::json(disks),
    );
    let error = crawl(&replay, "volumes-list", "westus").await.unwrap_err();
    assert!(
        matches!(&error, CrawlError::Malformed(m) if m.contains("another host (disksvchost)")),
        "{error}"
    );
}

#[tokio::test]
async fn a_refused_sign_in_is_unauthorized_and_never_echoes_the_secret() {
    for status in [400, 401] {
        let replay = subscription().await;
        let refusal = json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."});
        replay.on("POST", SIGN_IN, Answer::json(refusal).status(status).open());
        let error = crawl(&replay, "volumes-list", "westus").await.unwrap_err();
        assert!(
            matches!(&error, CrawlError::Unauthorized(m) if m.contains("AADSTS7000215")),
            "{error}"
        );
        assert_secret_free(&error, SECRETS);
    }
}

#[tokio::test]
async fn a_missing_role_is_unauthorized() {
    let replay = subscription().await;
    let refusal = json!({"error": {"code": "AuthorizationFailed", "message": "The client 'client-1' does not have authorization to perform action 'Microsoft.Compute/disks/read'."}});
    replay.on(
        "GET",
        &format!("{PROVIDERS}/Microsoft.Compute/disks"),
        Answer::json(refusal).status(403),
    );
    let error = crawl(&replay, "volumes-list", "westus").await.unwrap_err();
    assert!(
        matches!(&error, CrawlError::Unauthorized(m) if m.contains("HTTP 403") && m.contains("Microsoft.Compute/disks/read")),
        "{error}"
    );
}

#[tokio::test]
async fn snapshots_and_images_are_mapped() {
    let replay = subscription().await;
    serve(
        &replay,
        "Microsoft.Compute/snapshots",
        "compute-Snapshot_ListBySubscription.2024-03-02.json",
    );
    serve(
        &replay,
        "Microsoft.Compute/images",
        "compute-Image_ListBySubscription.2024-07-01.json",
    );
    let snapshots = crawl(&replay, "snapshot-list", "westus").await.unwrap();
    assert_eq!(snapshots.len(), 2);
    let snapshot = &snapshots[0];
    assert_eq!(snapshot.kind, Kind::Snapshot);
    assert_eq!(
        snapshot.provider_id,
        "/subscriptions/{subscriptionid}/resourcegroups/myresourcegroup/providers/microsoft.compute/snapshots/mysnapshot1"
    );
    assert_eq!(
        Value::Object(snapshot.fields.clone()),
        json!({
            "name": "mySnapshot1",
            "size": 200,
            "state": "Succeeded",
            "status": "Available",
            "encrypted": true,
            "datacenters": {"provider": "azure", "region": "westus"},
        }),
        "a copy of another snapshot: no volume"
    );

    // The image's location is spelled "West US".
    let images = crawl(&replay, "images-list", "westus").await.unwrap();
    assert_eq!(ids(&images).len(), 1);
    assert_eq!(
        Value::Object(images[0].fields.clone()),
        json!({
            "name": "myImage",
            "state": "created",
            "status": "Available",
            "platform": "Windows",
            "datacenters": {"provider": "azure", "region": "westus"},
        })
    );
}

#[tokio::test]
async fn virtual_networks_subnets_and_route_tables_are_networks() {
    let replay = subscription().await;
    serve(
        &replay,
        "Microsoft.Network/virtualNetworks",
        "network-VirtualNetworkListAll.2024-07-01.json",
    );
    serve(
        &replay,
        "Microsoft.Network/routeTables",
        "network-RouteTableListAll.2024-07-01.json",
    );
    let networks = crawl(&replay, "network-list", "westus").await.unwrap();
    let id = |path: &str| format!("/subscriptions/subid/resourcegroups/{path}");
    assert_eq!(
        ids(&networks),
        [
            id("rg1/providers/microsoft.network/virtualnetworks/vnet1"),
            id("rg1/providers/microsoft.network/virtualnetworks/vnet1/subnets/test-1"),
            id("rg2/providers/microsoft.network/virtualnetworks/vnet2"),
            id("rg1/providers/microsoft.network/routetables/testrt"),
            id("rg2/providers/microsoft.network/routetables/testrt3"),
        ]
    );
    let vnet = &networks[0];
    assert_eq!(vnet.kind, Kind::Network);
    assert_eq!(
        (&vnet.fields["cidr"], &vnet.fields["status"]),
        (&json!("10.0.0.0/8"), &json!("Active"))
    );
    let subnet = &networks[1];
    assert_eq!(
        (
            &subnet.fields["name"],
            &subnet.fields["network_type"],
            &subnet.fields["cidr"]
        ),
        (&json!("vnet1/test-1"), &json!("subnet"), &json!("10.0.0.0/24"))
    );
    assert_eq!(
        networks[3].fields["rules"],
        json!([{"name": "route1", "address_prefix": "10.0.3.0/24", "next_hop_type": "VirtualNetworkGateway"}])
    );
    assert_eq!(networks[4].fields["rules"], json!([]));
}
