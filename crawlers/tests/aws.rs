//! The AWS provider against moto (`moto_server`, installed by `tests/tools/aws.sh`), a
//! local fake of the AWS APIs: each test seeds its own moto process through the AWS SDK
//! and checks what the crawl maps, region by region and page by page. Failures (a page
//! that fails, a garbled answer, nothing listening, a silent endpoint, refused
//! credentials) are checked against moto or against tiny fake servers. The last test
//! goes end to end through `Crawler::run` into a Postgres database of its own.

mod allowance;
mod tools;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crawlers::{CrawlError, CrawlRequest, Credentials, Observation};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tools::free_port;
use tools::moto::{credentials, Moto, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use uuid::Uuid;

const EU: &str = "eu-west-1";
const US: &str = "us-east-1";

/// Crawls one task in one region through the registered `aws` provider.
async fn crawl(options: Value, task: &str, region: &str) -> Result<Vec<Observation>, CrawlError> {
    let provider = crawlers::provider("aws").expect("aws is registered");
    let options: Map<String, Value> = options.as_object().expect("options are an object").clone();
    let credentials = credentials();
    provider
        .crawl(CrawlRequest {
            connection: Uuid::nil(),
            options: &options,
            credentials: &credentials,
            task,
            region,
            reach: allowance::reach(),
        })
        .await
}

/// Crawls moto with `page_size`; every observation must be one the domain takes.
async fn crawl_moto(moto: &Moto, task: &str, region: &str, page_size: u32) -> BTreeMap<String, Observation> {
    let observations = crawl(
        json!({"endpoint": moto.endpoint, "page_size": page_size}),
        task,
        region,
    )
    .await
    .unwrap_or_else(|e| panic!("{task} in {region}: {e}"));
    observations
        .into_iter()
        .map(|observation| {
            domain::Fields::parse(observation.kind, &observation.fields)
                .unwrap_or_else(|e| panic!("{task} {}: {e}", observation.provider_id));
            (observation.provider_id.clone(), observation)
        })
        .collect()
}

fn field<'a>(observation: &'a Observation, name: &str) -> &'a Value {
    observation.fields.get(name).unwrap_or(&Value::Null)
}

/// Launches one instance (one reservation: DescribeInstances pages by reservation).
async fn launch(
    ec2: &aws_sdk_ec2::Client,
    instance_type: aws_sdk_ec2::types::InstanceType,
) -> aws_sdk_ec2::types::Instance {
    let output = ec2
        .run_instances()
        .image_id("ami-12345678")
        .instance_type(instance_type)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .expect("moto runs the instance");
    output.instances()[0].clone()
}

#[tokio::test]
async fn servers_are_crawled_region_by_region_across_pages() {
    use aws_sdk_ec2::types::InstanceType;
    let moto = Moto::start().await;
    let (eu, us) = (moto.ec2(EU), moto.ec2(US));
    let mut launched = vec![];
    for _ in 0..6 {
        launched.push(launch(&eu, InstanceType::T3Micro).await);
    }
    launched.push(launch(&eu, InstanceType::M5Large).await);
    let in_us = launch(&us, InstanceType::T3Small).await;
    let stopped = launched[0].instance_id().unwrap().to_string();
    eu.stop_instances().instance_ids(&stopped).send().await.unwrap();

    // Moto honours the page size: the first page alone does not hold everything.
    let first_page = eu.describe_instances().max_results(5).send().await.unwrap();
    assert_eq!(first_page.reservations().len(), 5);
    assert!(first_page.next_token().is_some(), "moto pages DescribeInstances");

    let servers = crawl_moto(&moto, "server-list", EU, 5).await;
    assert_eq!(servers.len(), 7, "every page of eu-west-1: {:?}", servers.keys());
    for instance in &launched {
        let id = instance.instance_id().unwrap();
        let server = &servers[id];
        assert_eq!(server.kind, domain::Kind::Server);
        let private_dns = instance.private_dns_name().unwrap();
        assert_eq!(field(server, "hostname"), private_dns.split('.').next().unwrap());
        assert_eq!(field(server, "dns_private"), private_dns);
        assert_eq!(
            field(server, "ipv4_private"),
            instance.private_ip_address().unwrap()
        );
        assert_eq!(field(server, "image"), "ami-12345678");
        assert_eq!(field(server, "os"), &json!({"base": "Linux"}));
        let zone = instance.placement().unwrap().availability_zone().unwrap();
        assert!(zone.starts_with(EU), "{zone}");
        assert_eq!(
            field(server, "datacenters"),
            &json!({"provider": "aws", "region": EU, "zone": zone, "instance_type": instance.instance_type().unwrap().as_str(), "instance_id": id})
        );
        let root_volume = instance.block_device_mappings()[0]
            .ebs()
            .unwrap()
            .volume_id()
            .unwrap();
        assert_eq!(field(server, "storage")[0]["volume_id"], root_volume);
        assert_eq!(field(server, "storage")[0]["root"], true);
    }
    let running = &servers[launched[1].instance_id().unwrap()];
    assert_eq!(field(running, "status"), "Running");
    assert_eq!(
        field(running, "ipv4_public"),
        launched[1].public_ip_address().unwrap()
    );
    assert_eq!(field(&servers[&stopped], "status"), "Stopped");
    assert_eq!(
        field(&servers[launched[6].instance_id().unwrap()], "datacenters")["instance_type"],
        "m5.large"
    );

    let servers = crawl_moto(&moto, "server-list", US, 5).await;
    let ids: Vec<&String> = servers.keys().collect();
    assert_eq!(ids, [in_us.instance_id().unwrap()], "us-east-1 sees only its own");
    let server = servers.values().next().unwrap();
    assert_eq!(field(server, "datacenters")["region"], US);
    assert_eq!(field(server, "datacenters")["instance_type"], "t3.small");
}

#[tokio::test]
async fn volumes_keep_size_type_encryption_iops_and_zone() {
    use aws_sdk_ec2::types::VolumeType;
    let moto = Moto::start().await;
    let eu = moto.ec2(EU);
    let mut created = vec![];
    for size in [10, 20, 30, 40, 50, 60] {
        let volume = eu
            .create_volume()
            .size(size)
            .availability_zone("eu-west-1b")
            .volume_type(VolumeType::Gp2)
            .send()
            .await
            .unwrap();
        created.push(volume.volume_id().unwrap().to_string());
    }
    let fast = eu
        .create_volume()
        .size(500)
        .availability_zone("eu-west-1c")
        .volume_type(VolumeType::Io1)
        .iops(4000)
        .encrypted(true)
        .send()
        .await
        .unwrap();
    let in_us = moto
        .ec2(US)
        .create_volume()
        .size(8)
        .availability_zone("us-east-1a")
        .send()
        .await
        .unwrap();

    let volumes = crawl_moto(&moto, "volumes-list", EU, 5).await;
    assert_eq!(volumes.len(), 7, "{:?}", volumes.keys());
    for (id, size) in created.iter().zip([10, 20, 30, 40, 50, 60]) {
        let volume = &volumes[id];
        assert_eq!(volume.kind, domain::Kind::Volume);
        assert_eq!(field(volume, "name"), id.as_str());
        assert_eq!(field(volume, "size"), size);
        assert_eq!(field(volume, "volume_type"), "gp2");
        assert_eq!(field(volume, "encrypted"), false);
        assert_eq!(field(volume, "state"), "available");
        assert_eq!(field(volume, "status"), "Available");
        assert_eq!(
            field(volume, "datacenters"),
            &json!({"provider": "aws", "region": EU, "zone": "eu-west-1b"})
        );
    }
    let volume = &volumes[fast.volume_id().unwrap()];
    assert_eq!(
        (
            field(volume, "size"),
            field(volume, "volume_type"),
            field(volume, "iops"),
            field(volume, "encrypted")
        ),
        (&json!(500), &json!("io1"), &json!(4000), &json!(true))
    );
    assert_eq!(field(volume, "datacenters")["zone"], "eu-west-1c");

    let volumes = crawl_moto(&moto, "volumes-list", US, 5).await;
    assert_eq!(volumes.keys().collect::<Vec<_>>(), [in_us.volume_id().unwrap()]);
    assert_eq!(field(&volumes[in_us.volume_id().unwrap()], "size"), 8);
}

#[tokio::test]
async fn snapshots_and_images_of_the_account() {
    use aws_sdk_ec2::types::InstanceType;
    let moto = Moto::start().await;
    let eu = moto.ec2(EU);
    let volume = eu
        .create_volume()
        .size(25)
        .availability_zone("eu-west-1a")
        .send()
        .await
        .unwrap();
    let snapshot = eu
        .create_snapshot()
        .volume_id(volume.volume_id().unwrap())
        .description("nightly")
        .send()
        .await
        .unwrap();
    let instance = launch(&eu, InstanceType::T3Micro).await;
    let image = eu
        .create_image()
        .instance_id(instance.instance_id().unwrap())
        .name("web-2024-05")
        .send()
        .await
        .unwrap();

    let snapshots = crawl_moto(&moto, "snapshot-list", EU, 5).await;
    let ours = &snapshots[snapshot.snapshot_id().unwrap()];
    assert_eq!(ours.kind, domain::Kind::Snapshot);
    assert_eq!(field(ours, "volume_id"), volume.volume_id().unwrap());
    assert_eq!(field(ours, "size"), 25);
    assert_eq!(field(ours, "description"), "nightly");
    assert_eq!(
        field(ours, "datacenters"),
        &json!({"provider": "aws", "region": EU})
    );

    let images = crawl_moto(&moto, "images-list", EU, 5).await;
    let ids: Vec<&String> = images.keys().collect();
    assert_eq!(ids, [image.image_id().unwrap()], "only the account's own images");
    let ours = &images[image.image_id().unwrap()];
    assert_eq!(field(ours, "name"), "web-2024-05");
    assert_eq!(field(ours, "state"), "available");
    assert_eq!(field(ours, "architecture"), "x86_64");
    assert!(crawl_moto(&moto, "images-list", US, 5).await.is_empty());
}

#[tokio::test]
async fn security_groups_vpcs_and_subnets_are_networks() {
    use aws_sdk_ec2::types::{IpPermission, IpRange};
    let moto = Moto::start().await;
    let eu = moto.ec2(EU);
    let vpc = eu.create_vpc().cidr_block("10.20.0.0/16").send().await.unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap();
    let subnet = eu
        .create_subnet()
        .vpc_id(vpc_id)
        .cidr_block("10.20.1.0/24")
        .availability_zone("eu-west-1b")
        .send()
        .await
        .unwrap();
    let group = eu
        .create_security_group()
        .group_name("ssh-from-office")
        .description("ssh from the office")
        .vpc_id(vpc_id)
        .send()
        .await
        .unwrap();
    let group_id = group.group_id().unwrap();
    eu.authorize_security_group_ingress()
        .group_id(group_id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip("192.0.2.0/24")
                        .description("office")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let groups = crawl_moto(&moto, "security-list", EU, 5).await;
    let ours = &groups[group_id];
    assert_eq!(ours.kind, domain::Kind::Network);
    assert_eq!(field(ours, "name"), "ssh-from-office");
    assert_eq!(field(ours, "description"), "ssh from the office");
    assert_eq!(field(ours, "network_type"), "security-group");
    let rules = field(ours, "rules").as_array().unwrap();
    assert!(
        rules.contains(&json!({"direction": "ingress", "protocol": "tcp", "from_port": 22, "to_port": 22, "peer_type": "cidr", "peer": "192.0.2.0/24", "description": "office"})),
        "{rules:?}"
    );
    assert!(
        rules.iter().any(|rule| rule["direction"] == "egress"),
        "{rules:?}"
    );
    assert!(
        groups.len() >= 2,
        "the default groups are listed too: {:?}",
        groups.keys()
    );

    let networks = crawl_moto(&moto, "network-list", EU, 5).await;
    let ours = &networks[vpc_id];
    assert_eq!(
        (field(ours, "network_type"), field(ours, "cidr")),
        (&json!("vpc"), &json!("10.20.0.0/16"))
    );
    let ours = &networks[subnet.subnet().unwrap().subnet_id().unwrap()];
    assert_eq!(field(ours, "network_type"), "subnet");
    assert_eq!(field(ours, "cidr"), "10.20.1.0/24");
    assert_eq!(field(ours, "datacenters")["zone"], "eu-west-1b");
    assert!(
        networks
            .values()
            .any(|n| field(n, "network_type") == "vpc" && n.provider_id != vpc_id),
        "the default VPC is listed too"
    );
    let us = crawl_moto(&moto, "network-list", US, 5).await;
    assert!(!us.contains_key(vpc_id), "us-east-1 does not see eu-west-1's VPC");
}

#[tokio::test]
async fn what_connects_networks_is_listed_with_the_networks() {
    use aws_sdk_ec2::types::{DomainType, GatewayType, RuleAction, VpcEndpointType};
    let moto = Moto::start().await;
    let ec2 = moto.ec2(EU);
    let vpc = |cidr: &'static str| {
        let ec2 = ec2.clone();
        async move {
            let vpc = ec2.create_vpc().cidr_block(cidr).send().await.unwrap();
            vpc.vpc().unwrap().vpc_id().unwrap().to_string()
        }
    };
    let (shop, office) = (vpc("10.30.0.0/16").await, vpc("10.31.0.0/16").await);
    let subnet = ec2
        .create_subnet()
        .vpc_id(&shop)
        .cidr_block("10.30.1.0/24")
        .availability_zone("eu-west-1a")
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    let gateway = ec2.create_internet_gateway().send().await.unwrap();
    let gateway = gateway
        .internet_gateway()
        .unwrap()
        .internet_gateway_id()
        .unwrap()
        .to_string();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&gateway)
        .vpc_id(&shop)
        .send()
        .await
        .unwrap();
    let table = ec2.create_route_table().vpc_id(&shop).send().await.unwrap();
    let table = table.route_table().unwrap().route_table_id().unwrap().to_string();
    ec2.create_route()
        .route_table_id(&table)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&gateway)
        .send()
        .await
        .unwrap();
    ec2.associate_route_table()
        .route_table_id(&table)
        .subnet_id(&subnet)
        .send()
        .await
        .unwrap();
    let address = ec2
        .allocate_address()
        .domain(DomainType::Vpc)
        .send()
        .await
        .unwrap();
    let nat = ec2
        .create_nat_gateway()
        .subnet_id(&subnet)
        .allocation_id(address.allocation_id().unwrap())
        .send()
        .await
        .unwrap();
    let nat = nat.nat_gateway().unwrap().nat_gateway_id().unwrap().to_string();
    let interface = ec2
        .create_network_interface()
        .subnet_id(&subnet)
        .private_ip_address("10.30.1.10")
        .description("metrics collector")
        .send()
        .await
        .unwrap();
    let interface = interface
        .network_interface()
        .unwrap()
        .network_interface_id()
        .unwrap()
        .to_string();
    let vpn = ec2
        .create_vpn_gateway()
        .r#type(GatewayType::Ipsec1)
        .send()
        .await
        .unwrap();
    let vpn = vpn.vpn_gateway().unwrap().vpn_gateway_id().unwrap().to_string();
    ec2.attach_vpn_gateway()
        .vpn_gateway_id(&vpn)
        .vpc_id(&shop)
        .send()
        .await
        .unwrap();
    let endpoint = ec2
        .create_vpc_endpoint()
        .vpc_id(&shop)
        .service_name("com.amazonaws.eu-west-1.s3")
        .vpc_endpoint_type(VpcEndpointType::Gateway)
        .route_table_ids(&table)
        .send()
        .await
        .unwrap();
    let endpoint = endpoint
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_string();
    let peering = ec2
        .create_vpc_peering_connection()
        .vpc_id(&shop)
        .peer_vpc_id(&office)
        .send()
        .await
        .unwrap();
    let peering = peering
        .vpc_peering_connection()
        .unwrap()
        .vpc_peering_connection_id()
        .unwrap()
        .to_string();
    let acl = ec2.create_network_acl().vpc_id(&shop).send().await.unwrap();
    let acl = acl.network_acl().unwrap().network_acl_id().unwrap().to_string();
    ec2.create_network_acl_entry()
        .network_acl_id(&acl)
        .rule_number(100)
        .protocol("6")
        .rule_action(RuleAction::Allow)
        .egress(false)
        .cidr_block("192.0.2.0/24")
        .port_range(aws_sdk_ec2::types::PortRange::builder().from(443).to(443).build())
        .send()
        .await
        .unwrap();

    let networks = crawl_moto(&moto, "network-list", EU, 5).await;
    let network_type = |id: &str| field(&networks[id], "network_type").clone();
    for (id, expected) in [
        (&table, "route-table"),
        (&nat, "nat-gateway"),
        (&interface, "interface"),
        (&vpn, "vpn-gateway"),
        (&endpoint, "vpc-endpoint"),
        (&peering, "peering"),
        (&acl, "network-acl"),
    ] {
        assert_eq!(network_type(id), expected, "{id}");
        assert_eq!(field(&networks[id.as_str()], "name"), id.as_str());
    }
    let routes = field(&networks[&table], "rules").as_array().unwrap().clone();
    assert!(
        routes.contains(&json!({"destination": "0.0.0.0/0", "target": gateway, "state": "active"})),
        "{routes:?}"
    );
    assert_eq!(
        field(&networks[&table], "description"),
        &json!(format!("{shop}, subnets {subnet}"))
    );
    assert_eq!(field(&networks[&interface], "cidr"), "10.30.1.10/32");
    assert_eq!(field(&networks[&interface], "description"), "metrics collector");
    assert_eq!(
        field(&networks[&vpn], "description"),
        &json!(format!("attached to {shop}"))
    );
    assert!(
        field(&networks[&endpoint], "description")
            .as_str()
            .unwrap()
            .starts_with("com.amazonaws.eu-west-1.s3 (gateway)"),
        "{:?}",
        field(&networks[&endpoint], "description")
    );
    let link = field(&networks[&peering], "description").as_str().unwrap();
    assert!(
        link.starts_with(&format!("{shop} (10.30.0.0/16) ↔ {office} (10.31.0.0/16)")),
        "{link}"
    );
    assert!(
        field(&networks[&nat], "description")
            .as_str()
            .unwrap()
            .ends_with(&format!("in {subnet}")),
        "{:?}",
        field(&networks[&nat], "description")
    );
    let entries = field(&networks[&acl], "rules").as_array().unwrap().clone();
    assert!(
        entries.contains(&json!({"direction": "ingress", "number": 100, "action": "allow", "protocol": "6", "cidr": "192.0.2.0/24", "from_port": 443, "to_port": 443})),
        "{entries:?}"
    );
    let us = crawl_moto(&moto, "network-list", US, 5).await;
    assert!(
        !us.contains_key(&table) && !us.contains_key(&acl),
        "eu-west-1's stay there"
    );
}

#[tokio::test]
async fn load_balancers_databases_and_buckets_are_applications() {
    let moto = Moto::start().await;
    let eu = moto.sdk(EU);
    let subnets: Vec<String> = aws_sdk_ec2::Client::new(&eu)
        .describe_subnets()
        .send()
        .await
        .unwrap()
        .subnets()
        .iter()
        .filter_map(|subnet| subnet.subnet_id().map(str::to_string))
        .collect();
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&eu);
    let mut balancers = vec![];
    for name in ["web", "api", "admin"] {
        let created = elbv2
            .create_load_balancer()
            .name(name)
            .set_subnets(Some(subnets[..2].to_vec()))
            .send()
            .await
            .unwrap();
        balancers.push(created.load_balancers()[0].clone());
    }
    let elb = aws_sdk_elasticloadbalancing::Client::new(&eu);
    for name in ["legacy-shop", "legacy-intranet", "legacy-mail"] {
        use aws_sdk_elasticloadbalancing::types::Listener;
        elb.create_load_balancer()
            .load_balancer_name(name)
            .availability_zones("eu-west-1a")
            .listeners(
                Listener::builder()
                    .protocol("HTTP")
                    .load_balancer_port(80)
                    .instance_protocol("HTTP")
                    .instance_port(8080)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto creates {name}: {e:?}"));
    }
    let rds = aws_sdk_rds::Client::new(&eu);
    for index in 0..21 {
        rds.create_db_instance()
            .db_instance_identifier(format!("orders-{index}"))
            .db_instance_class("db.t3.micro")
            .engine("postgres")
            .allocated_storage(20)
            .master_username("maestro")
            .master_user_password("not-a-real-password")
            .send()
            .await
            .unwrap();
    }
    let s3_eu = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&eu)
            .force_path_style(true)
            .build(),
    );
    s3_eu
        .create_bucket()
        .bucket("maestro-logs-eu")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let us = moto.sdk(US);
    let s3_us = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&us)
            .force_path_style(true)
            .build(),
    );
    s3_us
        .create_bucket()
        .bucket("maestro-logs-us")
        .send()
        .await
        .unwrap();

    // Two load balancers a page: three of each API need two pages each.
    let found = crawl_moto(&moto, "loadbalance-list", EU, 2).await;
    assert_eq!(found.len(), 6, "{:?}", found.keys());
    let legacy = &found[&format!("{EU}/legacy-intranet")];
    assert_eq!(field(legacy, "name"), "legacy-intranet");
    assert_eq!(field(legacy, "family"), "Loadbalance");
    assert!(
        field(legacy, "endpoint")
            .as_str()
            .unwrap()
            .starts_with("legacy-intranet"),
        "{:?}",
        field(legacy, "endpoint")
    );
    assert_eq!(field(legacy, "specs")["type"], "classic");
    assert_eq!(
        field(legacy, "specs")["listeners"],
        json!(["HTTP:80 -> HTTP:8080"])
    );
    assert_eq!(field(legacy, "specs")["zones"], json!(["eu-west-1a"]));
    assert!(crawl_moto(&moto, "loadbalance-list", US, 2).await.is_empty());
    for balancer in &balancers {
        let lb = &found[balancer.load_balancer_arn().unwrap()];
        assert_eq!(lb.kind, domain::Kind::Application);
        assert_eq!(field(lb, "family"), "Loadbalance");
        assert_eq!(field(lb, "name"), balancer.load_balancer_name().unwrap());
        assert_eq!(field(lb, "endpoint"), balancer.dns_name().unwrap());
        assert_eq!(field(lb, "specs")["type"], "application");
    }

    // RDS pages hold at least 20: 21 databases need two pages.
    let databases = crawl_moto(&moto, "dbs-list", EU, 20).await;
    assert_eq!(databases.len(), 21);
    let orders = databases
        .values()
        .find(|db| field(db, "name") == "orders-7")
        .expect("orders-7 is listed");
    assert_eq!(
        orders.provider_id,
        "arn:aws:rds:eu-west-1:123456789012:db:orders-7"
    );
    assert_eq!(field(orders, "family"), "Database");
    assert_eq!(field(orders, "specs")["engine"], "postgres");
    assert!(field(orders, "specs")["version"].is_string());
    assert!(
        field(orders, "endpoint").as_str().unwrap().ends_with(":5432"),
        "{}",
        field(orders, "endpoint")
    );
    assert_eq!(field(orders, "datacenters")["instance_type"], "db.t3.micro");
    assert!(crawl_moto(&moto, "dbs-list", US, 20).await.is_empty());

    let buckets = crawl_moto(&moto, "storage-object-list", EU, 5).await;
    assert_eq!(
        buckets.keys().collect::<Vec<_>>(),
        ["maestro-logs-eu"],
        "only eu-west-1's bucket"
    );
    let bucket = &buckets["maestro-logs-eu"];
    assert_eq!(field(bucket, "family"), "ObjectStorage");
    assert_eq!(
        field(bucket, "datacenters"),
        &json!({"provider": "aws", "region": EU})
    );
    let buckets = crawl_moto(&moto, "storage-object-list", US, 5).await;
    assert_eq!(buckets.keys().collect::<Vec<_>>(), ["maestro-logs-us"]);
}

#[tokio::test]
async fn queues_are_brokers_and_tables_databases_region_by_region() {
    let moto = Moto::start().await;
    for (region, queues, tables) in [
        (EU, &["orders", "invoices", "emails", "audit.fifo"][..], 5),
        (US, &["us-events"][..], 2),
    ] {
        let sqs = aws_sdk_sqs::Client::new(&moto.sdk(region));
        for name in queues {
            let mut create = sqs.create_queue().queue_name(*name);
            if name.ends_with(".fifo") {
                create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
            }
            create.send().await.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
        let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk(region));
        for index in 0..tables {
            use aws_sdk_dynamodb::types::{
                AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            };
            dynamodb
                .create_table()
                .table_name(format!("table-{index}"))
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("id")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("id")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await
                .unwrap_or_else(|e| panic!("table-{index}: {e:?}"));
        }
    }

    // moto 5 ignores ListQueues' MaxResults and sends no NextToken: one page here, and
    // paging is checked against a fake SQS below.
    let brokers = crawl_moto(&moto, "brokers-list", EU, 2).await;
    let mut names: Vec<&str> = brokers
        .values()
        .map(|queue| field(queue, "name").as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["audit.fifo", "emails", "invoices", "orders"]);
    for (url, queue) in &brokers {
        assert_eq!(queue.kind, domain::Kind::Application);
        assert_eq!(field(queue, "family"), "Broker");
        assert_eq!(field(queue, "endpoint"), url.as_str());
        assert_eq!(
            field(queue, "datacenters"),
            &json!({"provider": "aws", "region": EU})
        );
    }
    let fifo = brokers
        .values()
        .find(|q| field(q, "name") == "audit.fifo")
        .unwrap();
    assert_eq!(field(fifo, "specs"), &json!({"engine": "sqs", "type": "fifo"}));
    let us = crawl_moto(&moto, "brokers-list", US, 2).await;
    assert_eq!(us.len(), 1, "{:?}", us.keys());
    let events = us.values().next().unwrap();
    assert_eq!(field(events, "name"), "us-events");
    assert_eq!(field(events, "datacenters")["region"], US);

    // Two tables a page: five need three pages, the same names in the other region are
    // other tables.
    let tables = crawl_moto(&moto, "dynamodb-list", EU, 2).await;
    let expected: Vec<String> = (0..5).map(|i| format!("{EU}/table-{i}")).collect();
    assert_eq!(tables.keys().cloned().collect::<Vec<_>>(), expected);
    let table = &tables[&format!("{EU}/table-3")];
    assert_eq!(table.kind, domain::Kind::Application);
    assert_eq!(field(table, "name"), "table-3");
    assert_eq!(field(table, "family"), "Database");
    assert_eq!(field(table, "specs"), &json!({"engine": "dynamodb"}));
    assert_eq!(
        field(table, "datacenters"),
        &json!({"provider": "aws", "region": EU})
    );
    let us = crawl_moto(&moto, "dynamodb-list", US, 1).await;
    assert_eq!(
        us.keys().collect::<Vec<_>>(),
        [&format!("{US}/table-0"), &format!("{US}/table-1")]
    );
    assert_eq!(field(&us[&format!("{US}/table-1")], "datacenters")["region"], US);
}

/// An empty zip archive: moto stores a function's or layer's code without running it.
const EMPTY_ZIP: &[u8] = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// An IAM role for Lambda functions: moto checks that a function's role exists. The
/// crawler has no IAM client, so the role is created with one signed-looking query
/// (moto routes by the credential scope and, with no auth enabled, checks no signature).
async fn lambda_role(moto: &Moto) -> String {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let response = reqwest::Client::new()
        .post(&moto.endpoint)
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .form(&[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", "maestro-test-lambda"),
            ("AssumeRolePolicyDocument", policy),
        ])
        .send()
        .await
        .expect("moto answers");
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "CreateRole: {status} {body}");
    let arn = body
        .split("<Arn>")
        .nth(1)
        .and_then(|rest| rest.split("</Arn>").next())
        .unwrap_or_else(|| panic!("no role ARN in {body}"));
    arn.to_string()
}

/// Seeds one region with a REST API, a function, a layer, two mail identities, a cache
/// cluster and `groups` Auto Scaling groups, all named after the region.
async fn seed_services(moto: &Moto, region: &str, role: &str, groups: usize) {
    let sdk = moto.sdk(region);
    aws_sdk_apigateway::Client::new(&sdk)
        .create_rest_api()
        .name(format!("orders-api-{region}"))
        .description("orders for the shop")
        .endpoint_configuration(
            aws_sdk_apigateway::types::EndpointConfiguration::builder()
                .types(aws_sdk_apigateway::types::EndpointType::Regional)
                .build(),
        )
        .send()
        .await
        .expect("moto creates the REST API");
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    lambda
        .create_function()
        .function_name(format!("resize-{region}"))
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(role)
        .handler("app.handler")
        .memory_size(256)
        .timeout(30)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(EMPTY_ZIP.into())
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto creates the function: {e:?}"));
    lambda
        .publish_layer_version()
        .layer_name(format!("pillow-{region}"))
        .description("imaging")
        .compatible_runtimes(aws_sdk_lambda::types::Runtime::Python312)
        .content(
            aws_sdk_lambda::types::LayerVersionContentInput::builder()
                .zip_file(EMPTY_ZIP.into())
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto publishes the layer: {e:?}"));
    let ses = aws_sdk_ses::Client::new(&sdk);
    ses.verify_email_identity()
        .email_address(format!("ops@{region}.example.com"))
        .send()
        .await
        .expect("moto verifies the address");
    ses.verify_domain_identity()
        .domain(format!("{region}.example.com"))
        .send()
        .await
        .expect("moto verifies the domain");
    aws_sdk_elasticache::Client::new(&sdk)
        .create_cache_cluster()
        .cache_cluster_id(format!("sessions-{region}"))
        .engine("redis")
        .engine_version("7.1")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto creates the cache cluster: {e:?}"));
    let autoscaling = aws_sdk_autoscaling::Client::new(&sdk);
    autoscaling
        .create_launch_configuration()
        .launch_configuration_name("web")
        .image_id("ami-12345678")
        .instance_type("t3.micro")
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto creates the launch configuration: {e:?}"));
    for index in 0..groups {
        autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(format!("web-{index}"))
            .launch_configuration_name("web")
            .min_size(0)
            .max_size(4)
            .desired_capacity(0)
            .availability_zones(format!("{region}a"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto creates group {index}: {e:?}"));
    }
}

#[tokio::test]
async fn managed_services_are_applications_of_their_family_region_by_region() {
    let moto = Moto::start().await;
    let role = lambda_role(&moto).await;
    seed_services(&moto, EU, &role, 5).await;
    seed_services(&moto, US, &role, 1).await;
    let by_name = |found: &BTreeMap<String, Observation>, name: &str| -> Observation {
        found
            .values()
            .find(|item| field(item, "name") == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", found.keys()))
            .clone()
    };

    // Two groups a page: five need three pages; the other region's group is not here.
    let groups = crawl_moto(&moto, "autoscaling-list", EU, 2).await;
    assert_eq!(groups.len(), 5, "{:?}", groups.keys());
    let group = by_name(&groups, "web-3");
    assert!(
        group.provider_id.starts_with("arn:aws:autoscaling:eu-west-1:"),
        "{}",
        group.provider_id
    );
    assert_eq!(field(&group, "family"), "AutoScaling");
    assert_eq!(
        field(&group, "specs"),
        &json!({"min_size": 0, "max_size": 4, "desired_capacity": 0, "instances": 0,
                "launch_configuration": "web", "health_check_type": "EC2", "zones": ["eu-west-1a"]})
    );
    assert_eq!(
        field(&group, "datacenters"),
        &json!({"provider": "aws", "region": EU})
    );
    assert_eq!(crawl_moto(&moto, "autoscaling-list", US, 2).await.len(), 1);

    let caches = crawl_moto(&moto, "cache-list", EU, 20).await;
    assert_eq!(caches.len(), 1, "{:?}", caches.keys());
    let cache = by_name(&caches, "sessions-eu-west-1");
    assert_eq!(field(&cache, "family"), "Cache");
    assert_eq!(field(&cache, "specs")["engine"], "redis");
    assert_eq!(field(&cache, "specs")["version"], "7.1");
    assert_eq!(field(&cache, "specs")["node_type"], "cache.t3.micro");
    assert_eq!(field(&cache, "specs")["nodes"], 1);
    assert_eq!(field(&cache, "datacenters")["instance_type"], "cache.t3.micro");
    assert_eq!(field(&cache, "datacenters")["region"], EU);

    let mail = crawl_moto(&moto, "smtp-list", EU, 1).await;
    assert_eq!(
        mail.keys().collect::<Vec<_>>(),
        [
            &format!("{EU}/eu-west-1.example.com"),
            &format!("{EU}/ops@eu-west-1.example.com")
        ]
    );
    let address = by_name(&mail, "ops@eu-west-1.example.com");
    assert_eq!(field(&address, "family"), "SMTP");
    assert_eq!(
        field(&address, "specs"),
        &json!({"engine": "ses", "identity": "email"})
    );
    let domain = by_name(&mail, "eu-west-1.example.com");
    assert_eq!(
        field(&domain, "specs"),
        &json!({"engine": "ses", "identity": "domain"})
    );
    assert_eq!(crawl_moto(&moto, "smtp-list", US, 1).await.len(), 2);

    let functions = crawl_moto(&moto, "serverless-list", EU, 1).await;
    assert_eq!(functions.len(), 1, "{:?}", functions.keys());
    let function = by_name(&functions, "resize-eu-west-1");
    assert!(
        function.provider_id.starts_with("arn:aws:lambda:eu-west-1:"),
        "{}",
        function.provider_id
    );
    assert_eq!(field(&function, "family"), "Serverless");
    assert_eq!(field(&function, "language"), "python3.12");
    assert_eq!(field(&function, "specs")["handler"], "app.handler");
    assert_eq!(field(&function, "specs")["memory_mb"], 256);
    assert_eq!(field(&function, "specs")["timeout_seconds"], 30);

    let layers = crawl_moto(&moto, "serverless-support-list", EU, 1).await;
    assert_eq!(layers.len(), 1, "{:?}", layers.keys());
    let layer = by_name(&layers, "pillow-eu-west-1");
    assert_eq!(field(&layer, "family"), "ServerlessLayer");
    assert_eq!(field(&layer, "description"), "imaging");
    assert_eq!(field(&layer, "specs")["version"], 1);
    assert_eq!(field(&layer, "specs")["runtimes"], json!(["python3.12"]));

    let apis = crawl_moto(&moto, "gateway-list", EU, 1).await;
    assert_eq!(apis.len(), 1, "{:?}", apis.keys());
    let api = by_name(&apis, "orders-api-eu-west-1");
    let api_id = field(&api, "specs")["id"].as_str().unwrap().to_string();
    assert_eq!(api.provider_id, format!("{EU}/{api_id}"));
    assert_eq!(field(&api, "family"), "ApiGateway");
    assert_eq!(field(&api, "description"), "orders for the shop");
    assert_eq!(
        field(&api, "endpoint"),
        &json!(format!("https://{api_id}.execute-api.{EU}.amazonaws.com"))
    );
    assert_eq!(field(&api, "specs")["endpoint_types"], json!(["REGIONAL"]));
    let us = crawl_moto(&moto, "gateway-list", US, 1).await;
    assert_eq!(field(us.values().next().unwrap(), "name"), "orders-api-us-east-1");
}

#[tokio::test]
async fn distributions_are_global_cdns() {
    use aws_sdk_cloudfront::types::{
        DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig, ViewerProtocolPolicy,
    };
    let moto = Moto::start().await;
    let cloudfront = aws_sdk_cloudfront::Client::new(&moto.sdk(US));
    let config = DistributionConfig::builder()
        .caller_reference("maestro-test")
        .comment("static assets")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(
                    Origin::builder()
                        .id("assets")
                        .domain_name("assets.s3.amazonaws.com")
                        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("assets")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let created = cloudfront
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto creates the distribution: {e:?}"));
    let distribution = created.distribution().unwrap();

    let eu = crawl_moto(&moto, "cdns-list", EU, 1).await;
    let us = crawl_moto(&moto, "cdns-list", US, 1).await;
    assert_eq!(eu.keys().collect::<Vec<_>>(), [distribution.arn()]);
    assert_eq!(
        eu.values().next().unwrap().fields,
        us.values().next().unwrap().fields,
        "the same in every region's crawl, so another region's crawl changes nothing"
    );
    // moto's summaries have no aliases, origins or comment (they are unit-tested on the
    // shape AWS sends): the distribution is named by its domain name.
    let cdn = &eu[distribution.arn()];
    assert_eq!(field(cdn, "name"), distribution.domain_name());
    assert_eq!(field(cdn, "family"), "CDN");
    assert_eq!(field(cdn, "endpoint"), distribution.domain_name());
    assert_eq!(
        field(cdn, "status"),
        "Active",
        "moto deploys on the first listing"
    );
    assert_eq!(field(cdn, "specs")["id"], distribution.id());
    assert_eq!(field(cdn, "datacenters"), &json!({"provider": "aws"}));
}

#[tokio::test]
async fn queues_are_followed_from_page_to_page() {
    // SQS speaks JSON; the fake answers by the request's NextToken.
    let (endpoint, requests) = fake_ec2(|body| {
        let page = if body.contains(r#""NextToken":"page-2""#) {
            r#"{"QueueUrls": ["https://sqs.eu-west-1.amazonaws.com/123456789012/c"]}"#
        } else {
            r#"{"QueueUrls": ["https://sqs.eu-west-1.amazonaws.com/123456789012/a", "https://sqs.eu-west-1.amazonaws.com/123456789012/b"], "NextToken": "page-2"}"#
        };
        (200, page.into())
    })
    .await;
    let found = crawl(json!({"endpoint": endpoint, "page_size": 2}), "brokers-list", EU)
        .await
        .unwrap();
    let names: Vec<&Value> = found.iter().map(|queue| field(queue, "name")).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[0].contains(r#""MaxResults":2"#), "{}", requests[0]);
}

/// A fake EC2 endpoint: `answer` gives the status and body for each request body; the
/// bodies it was sent are kept.
async fn fake_ec2(answer: fn(&str) -> (u16, String)) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(vec![]));
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                while let Some(body) = read_request(&mut socket).await {
                    seen.lock().unwrap().push(body.clone());
                    let (status, reply) = answer(&body);
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n",
                        reply.len()
                    );
                    if socket
                        .write_all(format!("{head}{reply}").as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (endpoint, requests)
}

/// One HTTP/1.1 request's body, or None when the client closed the connection.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let read = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < header_end + length {
        let read = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..read]);
    }
    Some(String::from_utf8_lossy(&buffer[header_end..header_end + length]).into_owned())
}

const FIRST_PAGE: &str = r#"<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>req-1</requestId>
  <reservationSet><item><reservationId>r-1</reservationId><ownerId>123456789012</ownerId>
    <instancesSet><item><instanceId>i-firstpage</instanceId>
      <privateDnsName>ip-10-0-0-1.ec2.internal</privateDnsName></item></instancesSet>
  </item></reservationSet>
  <nextToken>page-2</nextToken>
</DescribeInstancesResponse>"#;

#[tokio::test]
async fn a_page_that_fails_fails_the_whole_crawl() {
    let (endpoint, requests) = fake_ec2(|body| {
        if body.contains("NextToken=page-2") {
            (
                500,
                "<Response><Errors><Error><Code>InternalError</Code><Message>page two is gone</Message></Error></Errors><RequestID>req-2</RequestID></Response>".into(),
            )
        } else {
            (200, FIRST_PAGE.into())
        }
    })
    .await;
    let error = crawl(json!({"endpoint": endpoint, "page_size": 5}), "server-list", EU)
        .await
        .expect_err("a crawl with a failed page is no list at all");
    assert_eq!(
        error,
        CrawlError::Provider {
            status: 500,
            what: "ec2 DescribeInstances".into(),
            message: "InternalError: page two is gone".into(),
        }
    );
    let requests = requests.lock().unwrap();
    let second_pages = requests
        .iter()
        .filter(|body| body.contains("NextToken=page-2"))
        .count();
    assert!(second_pages >= 2, "the failed page was retried: {requests:?}");
    assert!(requests[0].contains("MaxResults=5"), "{}", requests[0]);
}

#[tokio::test]
async fn a_garbled_answer_is_malformed() {
    let (endpoint, _) = fake_ec2(|_| (200, "<html>this is not EC2</html".into())).await;
    let error = crawl(json!({"endpoint": endpoint}), "volumes-list", EU)
        .await
        .unwrap_err();
    assert!(
        matches!(error, CrawlError::Malformed(ref m) if m.contains("ec2 DescribeVolumes")),
        "{error}"
    );
}

#[tokio::test]
async fn nothing_listening_is_unreachable_at_once() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let error = crawl(json!({"endpoint": endpoint}), "server-list", EU)
        .await
        .unwrap_err();
    assert!(matches!(error, CrawlError::Unreachable(_)), "{error}");
    assert!(error.to_string().contains("ec2 DescribeInstances"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_silent_endpoint_times_out_instead_of_hanging() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // Accepts connections and never answers.
    let held = tokio::spawn(async move {
        let mut sockets = vec![];
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let started = Instant::now();
    let error = crawl(
        json!({"endpoint": endpoint, "timeout_seconds": 1}),
        "server-list",
        EU,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, CrawlError::Unreachable(_)), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    held.abort();
}

#[tokio::test]
async fn refused_credentials_are_unauthorized_and_never_shown() {
    // With no free actions, moto checks every request's access key against its IAM users.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]).await;
    for task in [
        "server-list",
        "volumes-list",
        "loadbalance-list",
        "dbs-list",
        "storage-object-list",
        "brokers-list",
        "dynamodb-list",
        "cdns-list",
        "autoscaling-list",
        "cache-list",
        "smtp-list",
        "serverless-list",
        "serverless-support-list",
        "gateway-list",
    ] {
        let error = crawl(json!({"endpoint": moto.endpoint}), task, EU)
            .await
            .unwrap_err();
        assert!(matches!(error, CrawlError::Unauthorized(_)), "{task}: {error}");
        let text = format!("{error} {error:?}");
        assert!(!text.contains(SECRET_ACCESS_KEY), "{text}");
        assert!(!text.contains(ACCESS_KEY_ID), "{text}");
    }
    let error = crawl(json!({"endpoint": moto.endpoint}), "server-list", EU)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("AuthFailure"), "{error}");
}

#[tokio::test]
async fn a_connection_without_regions_or_credentials_says_what_to_set() {
    let error = crawl(json!({}), "server-list", "default").await.unwrap_err();
    assert!(
        matches!(error, CrawlError::Settings(ref name, _) if name == "regions"),
        "{error}"
    );
    let provider = crawlers::provider("aws").unwrap();
    let options = Map::new();
    let error = provider
        .crawl(CrawlRequest {
            connection: Uuid::nil(),
            options: &options,
            credentials: &Credentials::default(),
            task: "server-list",
            region: EU,
            reach: allowance::reach(),
        })
        .await
        .unwrap_err();
    assert!(matches!(error, CrawlError::Credentials(_)), "{error}");
}

mod end_to_end {
    //! Through `Crawler::run`: credentials from the vault, every region of the
    //! connection, commands into a real Postgres event log.

    use commands::{CommandHandler, CommandRequest, EventStore, Vault};
    use crawlers::{Crawler, Job};
    use domain::{ActorKind, Command, Fields, Kind, Metadata};
    use sqlx::{Connection, PgConnection, PgPool};

    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes, tests only

    fn admin_url() -> String {
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    /// A migrated database of the test's own, dropped at the end.
    struct TestDb {
        pool: PgPool,
        name: String,
    }

    impl TestDb {
        async fn new() -> TestDb {
            let name = format!("maestro_aws_{}", Uuid::new_v4().simple());
            let mut admin = PgConnection::connect(&admin_url())
                .await
                .expect("Postgres must run for this test: start it with ops/up");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .unwrap();
            let (server, _) = admin_url()
                .rsplit_once('/')
                .map(|(s, d)| (s.to_string(), d.to_string()))
                .unwrap();
            let pool = PgPool::connect(&format!("{server}/{name}")).await.unwrap();
            commands::migrate(&pool).await.unwrap();
            TestDb { pool, name }
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            let name = self.name.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(&drop).execute(&mut admin).await;
                    }
                });
            })
            .join()
            .unwrap();
        }
    }

    /// A crawler over a database of the test's own and a connection to `moto` in both
    /// regions, its credentials in the vault.
    async fn crawler_of(moto: &Moto, db: &TestDb) -> (Crawler, Uuid) {
        let store = EventStore::new(db.pool.clone());
        // The crawler reads what a scope found before from the read models.
        projections::ensure(&store, &projections::Inventory)
            .await
            .unwrap();
        let handler = CommandHandler::new(store);
        let vault = Vault::with_key(db.pool.clone(), KEY).unwrap();
        let connection = Uuid::now_v7();
        let settings = json!({
            "name": "aws test account",
            "provider": "aws",
            "regions": [EU, US],
            "options": {"endpoint": moto.endpoint, "page_size": 5},
        });
        let fields = Fields::parse(Kind::Connection, settings.as_object().unwrap()).unwrap();
        let created = handler
            .execute(&CommandRequest {
                kind: Kind::Connection,
                id: connection,
                command: Command::Create(fields),
                expected_version: None,
                idempotency_key: None,
                metadata: Metadata::new("tester", ActorKind::User),
                access: domain::Access::Unrestricted,
            })
            .await
            .unwrap();
        let secrets = BTreeMap::from([
            ("access_key_id".to_string(), ACCESS_KEY_ID.to_string()),
            ("secret_access_key".to_string(), SECRET_ACCESS_KEY.to_string()),
        ]);
        vault.store(created.item(), &secrets).await.unwrap();
        (
            Crawler::new(handler, vault, crate::allowance::reach().clone()),
            connection,
        )
    }

    /// How many events the streams of `stream_type` have.
    async fn events_of(db: &TestDb, stream_type: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_type = $1")
            .bind(stream_type)
            .fetch_one(&db.pool)
            .await
            .unwrap()
    }

    /// The events appended to items after `position`, as (stream id, event type); the
    /// connection's own events (its tasks' last states) aside.
    async fn events_after(db: &TestDb, position: i64) -> Vec<(Uuid, String)> {
        sqlx::query_as(
            "SELECT stream_id, event_type FROM events
              WHERE position > $1 AND stream_type <> 'connection' ORDER BY position",
        )
        .bind(position)
        .fetch_all(&db.pool)
        .await
        .unwrap()
    }

    async fn last_position(db: &TestDb) -> i64 {
        sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    }

    fn ec2_tag(key: &str, value: &str) -> aws_sdk_ec2::types::Tag {
        aws_sdk_ec2::types::Tag::builder().key(key).value(value).build()
    }

    /// The active item of `kind` the provider knows as `provider_id`, once the read model
    /// has every event.
    async fn item_seen_as(db: &TestDb, kind: Kind, provider_id: &str) -> domain::Item {
        use projections::Projection;
        let store = EventStore::new(db.pool.clone());
        let last: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        // The projection reads only what no open transaction of the whole server could
        // still precede: under load (other tests' databases) it may need a few rounds.
        let mut cursor = store.checkpoint(projections::Inventory.name()).await.unwrap();
        while cursor.position < last {
            match projections::run_once(&store, &projections::Inventory, cursor)
                .await
                .unwrap()
            {
                Some(next) => cursor = next,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        projections::changes::all_active(&db.pool, kind)
            .await
            .unwrap()
            .into_iter()
            .find(|item| {
                item.provenance
                    .as_ref()
                    .is_some_and(|p| p.provider_id == provider_id)
            })
            .unwrap_or_else(|| panic!("no {kind} seen as {provider_id}"))
    }

    fn tag_values(item: &domain::Item) -> BTreeMap<String, (String, domain::TagSource)> {
        item.tags
            .iter()
            .map(|(key, tag)| (key.as_str().to_string(), (tag.value.clone(), tag.source)))
            .collect()
    }

    #[tokio::test]
    async fn tags_name_items_follow_the_provider_and_leave_a_persons_tags_alone() {
        use aws_sdk_ec2::types::InstanceType;
        use domain::TagSource::{Person, Provider};
        let moto = Moto::start().await;
        let eu = moto.ec2(EU);
        let vpc = eu.create_vpc().cidr_block("10.30.0.0/16").send().await.unwrap();
        let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
        let subnet = eu
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block("10.30.1.0/24")
            .send()
            .await
            .unwrap();
        let subnet_id = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
        let group = eu
            .create_security_group()
            .group_name("web")
            .description("web")
            .vpc_id(&vpc_id)
            .send()
            .await
            .unwrap();
        let group_id = group.group_id().unwrap().to_string();
        let instance_id = launch(&eu, InstanceType::T3Micro)
            .await
            .instance_id()
            .unwrap()
            .to_string();
        let volume = eu
            .create_volume()
            .availability_zone("eu-west-1a")
            .size(8)
            .send()
            .await
            .unwrap();
        let volume_id = volume.volume_id().unwrap().to_string();
        let named = [
            (Kind::Server, &instance_id, "web-01"),
            (Kind::Volume, &volume_id, "web-01-data"),
            (Kind::Network, &vpc_id, "main"),
            (Kind::Network, &subnet_id, "main-app"),
            (Kind::Network, &group_id, "web-ingress"),
        ];
        for (_, id, name) in &named {
            eu.create_tags()
                .resources(id.as_str())
                .tags(ec2_tag("Name", name))
                .tags(ec2_tag("environment", "prod"))
                .tags(ec2_tag("owner", "team-web"))
                .tags(ec2_tag("team", "web"))
                .tags(ec2_tag("cost-centre", "42"))
                .send()
                .await
                .unwrap();
        }
        let db = TestDb::new().await;
        let (crawler, connection) = crawler_of(&moto, &db).await;
        let crawl_all = || async {
            for task in ["server-list", "volumes-list", "network-list", "security-list"] {
                let job = Job {
                    id: Uuid::now_v7(),
                    connection,
                    task: Some(task.into()),
                    region: Some(EU.into()),
                };
                let summary = crawler.run(&job, |_| {}).await.unwrap();
                assert!(summary.errors.is_empty(), "{task}: {:?}", summary.errors);
            }
        };
        crawl_all().await;

        for (kind, id, name) in &named {
            let item = item_seen_as(&db, *kind, id).await;
            assert_eq!(item.fields["name"], json!(name), "{kind} {id}");
            assert_eq!(item.fields["environment"], json!("Production"), "{kind} {id}");
            assert_eq!(item.fields["owner"], json!("team-web"), "{kind} {id}");
            assert_eq!(
                tag_values(&item)["cost-centre"],
                ("42".to_string(), Provider),
                "{kind} {id}"
            );
            assert_eq!(item.tags.len(), 5, "{kind} {id}: {:?}", item.tags);
        }
        let server = item_seen_as(&db, Kind::Server, &instance_id).await;
        let hostname = server.fields["hostname"].as_str().unwrap();
        assert!(
            hostname.starts_with("ip-10-"),
            "a real host name is kept: {hostname}"
        );

        let before = last_position(&db).await;
        crawl_all().await;
        assert_eq!(
            events_after(&db, before).await,
            [],
            "an unchanged account appends nothing"
        );

        // A person takes `team` over and adds `pager`; the provider then changes `team`,
        // drops `cost-centre` from the server and changes it on the volume.
        for (key, value) in [("team", "platform"), ("pager", "on")] {
            let tag = Command::Tag {
                key: domain::TagKey::parse(key).unwrap(),
                value: value.into(),
            };
            CommandHandler::new(EventStore::new(db.pool.clone()))
                .execute(&CommandRequest {
                    kind: Kind::Server,
                    id: server.id,
                    command: tag,
                    expected_version: None,
                    idempotency_key: None,
                    metadata: Metadata::new("tester", ActorKind::User),
                    access: domain::Access::Unrestricted,
                })
                .await
                .unwrap();
        }
        eu.create_tags()
            .resources(&instance_id)
            .tags(ec2_tag("team", "ops"))
            .send()
            .await
            .unwrap();
        eu.delete_tags()
            .resources(&instance_id)
            .tags(aws_sdk_ec2::types::Tag::builder().key("cost-centre").build())
            .send()
            .await
            .unwrap();
        eu.create_tags()
            .resources(&volume_id)
            .tags(ec2_tag("cost-centre", "43"))
            .send()
            .await
            .unwrap();
        let before = last_position(&db).await;
        crawl_all().await;
        let volume = item_seen_as(&db, Kind::Volume, &volume_id).await;
        assert_eq!(
            events_after(&db, before).await,
            [
                (server.id, "untagged".to_string()),
                (volume.id, "tagged".to_string())
            ],
            "one event per changed tag, on its item only; the person's `team` is left alone"
        );
        let server = item_seen_as(&db, Kind::Server, &instance_id).await;
        let tags = tag_values(&server);
        assert_eq!(tags["team"], ("platform".to_string(), Person));
        assert_eq!(tags["pager"], ("on".to_string(), Person));
        assert!(!tags.contains_key("cost-centre"), "{tags:?}");
        assert_eq!(tag_values(&volume)["cost-centre"], ("43".to_string(), Provider));
    }

    #[tokio::test]
    async fn crawler_run_discovers_every_region_once_and_stores_no_secret() {
        use aws_sdk_ec2::types::InstanceType;
        let moto = Moto::start().await;
        for _ in 0..6 {
            launch(&moto.ec2(EU), InstanceType::T3Micro).await;
        }
        launch(&moto.ec2(US), InstanceType::T3Micro).await;
        let db = TestDb::new().await;
        let (crawler, connection) = crawler_of(&moto, &db).await;
        let job = |id| Job {
            id,
            connection,
            task: Some("server-list".into()),
            region: None,
        };
        let first = crawler.run(&job(Uuid::now_v7()), |_| {}).await.unwrap();
        assert_eq!(
            (first.discovered, first.failed),
            (7, 0),
            "{first} {:?}",
            first.errors
        );
        assert!(first.errors.is_empty(), "{:?}", first.errors);

        let regions: Vec<(String, i64)> = sqlx::query_as(
            "SELECT data -> 'provenance' ->> 'region', count(*) FROM events
              WHERE stream_type = 'server' GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        assert_eq!(regions, [(EU.to_string(), 6), (US.to_string(), 1)]);

        let before = events_of(&db, "server").await;
        let again = crawler.run(&job(Uuid::now_v7()), |_| {}).await.unwrap();
        assert_eq!(
            (again.discovered, again.updated, again.unchanged),
            (0, 0, 7),
            "{again}"
        );
        assert_eq!(
            events_of(&db, "server").await,
            before,
            "an unchanged crawl writes no event"
        );

        let leaks: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE data::text LIKE $1 OR metadata::text LIKE $1",
        )
        .bind(format!("%{SECRET_ACCESS_KEY}%"))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(leaks, 0, "the secret key is in the event log");
    }

    #[tokio::test]
    async fn a_global_distribution_is_discovered_once_and_left_alone_by_other_regions() {
        use aws_sdk_cloudfront::types::{
            DefaultCacheBehavior, DistributionConfig, Origin, Origins, ViewerProtocolPolicy,
        };
        let moto = Moto::start().await;
        let origin = Origin::builder()
            .id("site")
            .domain_name("site.example.com")
            .build()
            .unwrap();
        let config = DistributionConfig::builder()
            .caller_reference("global-test")
            .comment("")
            .enabled(true)
            .origins(Origins::builder().quantity(1).items(origin).build().unwrap())
            .default_cache_behavior(
                DefaultCacheBehavior::builder()
                    .target_origin_id("site")
                    .viewer_protocol_policy(ViewerProtocolPolicy::AllowAll)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        aws_sdk_cloudfront::Client::new(&moto.sdk(US))
            .create_distribution()
            .distribution_config(config)
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto creates the distribution: {e:?}"));
        let db = TestDb::new().await;
        let (crawler, connection) = crawler_of(&moto, &db).await;
        let job = |id| Job {
            id,
            connection,
            task: Some("cdns-list".into()),
            region: None,
        };

        // Both regions list it: the first discovers it, the second changes nothing.
        let first = crawler.run(&job(Uuid::now_v7()), |_| {}).await.unwrap();
        assert_eq!(
            (first.discovered, first.updated, first.unchanged, first.failed),
            (1, 0, 1, 0),
            "{first} {:?}",
            first.errors
        );
        let provenance: Vec<String> = sqlx::query_scalar(
            "SELECT data -> 'provenance' ->> 'region' FROM events WHERE stream_type = 'application'",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        assert_eq!(provenance, [EU], "owned by the first region that found it");
        let again = crawler.run(&job(Uuid::now_v7()), |_| {}).await.unwrap();
        assert_eq!(
            (again.discovered, again.updated, again.unchanged),
            (0, 0, 2),
            "{again}"
        );
        assert_eq!(
            events_of(&db, "application").await,
            1,
            "one discovery, nothing since"
        );
    }
}
