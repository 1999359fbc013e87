//! A private `moto_server` (a local fake of the AWS APIs, installed by
//! `crawlers/tests/tools/aws.sh`), seeded through the AWS SDK like a real account.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_types::region::Region;
use aws_types::SdkConfig;
use futures::{StreamExt, TryStreamExt};
use tokio::process::{Child, Command};

/// Where everything is seeded and crawled.
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY_ID: &str = "MAESTROBENCHKEY";
pub const SECRET_ACCESS_KEY: &str = "maestro/bench/secret";
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Seeding calls in flight at once: moto serves one at a time, this only hides latency.
const SEEDING_CALLS: usize = 4;

/// `moto_server` on a free port, killed when dropped.
pub struct PrivateMoto {
    child: Child,
    pub endpoint: String,
}

impl PrivateMoto {
    /// Moto's built-in public AMIs are not loaded: they would slow every call down and
    /// are no part of what is measured.
    pub async fn start(binary: Option<&Path>) -> anyhow::Result<PrivateMoto> {
        let binary = binary.map_or_else(|| PathBuf::from("moto_server"), Path::to_path_buf);
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {}; install it with crawlers/tests/tools/aws.sh (ops/bench.sh does)",
                    binary.display()
                )
            })?;
        let mut moto = PrivateMoto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if let Some(status) = moto.child.try_wait()? {
                bail!("moto_server exited at start ({status})");
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("moto_server did not listen on port {port} within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(moto)
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        let credentials =
            aws_credential_types::Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "bench");
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_ec2::Client::new(&config)
    }
}

/// The five tags every seeded instance and volume carries, as teams tag theirs.
fn tagged(resource: ResourceType) -> TagSpecification {
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
    TagSpecification::builder()
        .resource_type(resource)
        .tags(tag("Name", "bench"))
        .tags(tag("environment", "prod"))
        .tags(tag("owner", "team-bench"))
        .tags(tag("cost-centre", "42"))
        .tags(tag("service", "inventory"))
        .build()
}

/// The subnet and security group every seeded instance is attached to.
async fn network(ec2: &aws_sdk_ec2::Client) -> anyhow::Result<(String, String)> {
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.70.0.0/16")
        .send()
        .await
        .context("moto refused CreateVpc")?;
    let vpc = vpc
        .vpc()
        .and_then(|vpc| vpc.vpc_id())
        .context("moto gave the VPC no id")?;
    let subnet = ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block("10.70.0.0/17")
        .availability_zone(format!("{REGION}a"))
        .send()
        .await
        .context("moto refused CreateSubnet")?;
    let subnet = subnet
        .subnet()
        .and_then(|subnet| subnet.subnet_id())
        .context("moto gave the subnet no id")?;
    let group = ec2
        .create_security_group()
        .group_name("bench")
        .description("bench instances")
        .vpc_id(vpc)
        .send()
        .await
        .context("moto refused CreateSecurityGroup")?;
    let group = group.group_id().context("moto gave the group no id")?;
    Ok((subnet.to_string(), group.to_string()))
}

/// Runs `reservations` × `per_reservation` instances, tagged and attached
/// to one subnet and security group, then tops the volumes up to
/// `volumes` (each instance brings its root volume). Returns the instance ids.
pub async fn seed(
    ec2: &aws_sdk_ec2::Client,
    reservations: usize,
    per_reservation: i32,
    volumes: usize,
) -> anyhow::Result<Vec<String>> {
    let (subnet, group) = network(ec2).await?;
    let (subnet, group) = (&subnet, &group);
    let launched: Vec<Vec<String>> = futures::stream::iter(0..reservations)
        .map(|_| async move {
            let output = ec2
                .run_instances()
                .image_id("ami-12345678")
                .instance_type(InstanceType::T3Micro)
                .min_count(per_reservation)
                .max_count(per_reservation)
                .subnet_id(subnet)
                .security_group_ids(group)
                .tag_specifications(tagged(ResourceType::Instance))
                .send()
                .await
                .context("moto refused RunInstances")?;
            anyhow::Ok(
                output
                    .instances()
                    .iter()
                    .filter_map(|instance| instance.instance_id().map(str::to_string))
                    .collect(),
            )
        })
        .buffer_unordered(SEEDING_CALLS)
        .try_collect()
        .await?;
    let instances: Vec<String> = launched.into_iter().flatten().collect();
    let existing = count_volumes(ec2).await?;
    futures::stream::iter(existing..volumes)
        .map(|_| async {
            ec2.create_volume()
                .availability_zone(format!("{REGION}a"))
                .size(8)
                .tag_specifications(tagged(ResourceType::Volume))
                .send()
                .await
                .context("moto refused CreateVolume")
        })
        .buffer_unordered(SEEDING_CALLS)
        .try_collect::<Vec<_>>()
        .await?;
    let total = count_volumes(ec2).await?;
    ensure!(
        total >= volumes,
        "moto holds {total} volumes, not the {volumes} asked for"
    );
    Ok(instances)
}

async fn count_volumes(ec2: &aws_sdk_ec2::Client) -> anyhow::Result<usize> {
    let pages: Vec<_> = ec2
        .describe_volumes()
        .into_paginator()
        .page_size(500)
        .send()
        .try_collect()
        .await?;
    Ok(pages.iter().map(|page| page.volumes().len()).sum())
}
