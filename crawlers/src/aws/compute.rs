//! `server-list`: EC2 instances as servers.

use aws_sdk_ec2::types::{Instance, PlatformValues};
use domain::Kind;
use serde_json::{json, Value};

use super::observe::{placement, Item};
use super::session::Session;
use crate::{CrawlError, Observation};

const DESCRIBE_INSTANCES: &str = "ec2 DescribeInstances";

/// Every instance of the region, every page of them.
pub(super) async fn servers(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        DESCRIBE_INSTANCES,
        session
            .ec2()
            .describe_instances()
            .into_paginator()
            .page_size(session.page_size(5, 1000)),
        |page| page.reservations().iter().flat_map(|r| r.instances()),
        |instance| server(instance, session.region())
    )
}

/// One instance as a server. Its provider id is the instance id; its host name is the
/// first label of its private DNS name, or the instance id when it has none.
fn server(instance: &Instance, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Server, instance.instance_id(), DESCRIBE_INSTANCES)?;
    let instance_id = item.id().to_string();
    let hostname = instance
        .private_dns_name()
        .and_then(|dns| dns.split('.').next())
        .filter(|label| !label.trim().is_empty())
        .unwrap_or(&instance_id)
        .to_string();
    let instance_type = instance.instance_type().map(|t| t.as_str()).unwrap_or_default();
    let zone = instance.placement().and_then(|p| p.availability_zone());
    let cpu = instance
        .cpu_options()
        .and_then(|cpu| Some(cpu.core_count()? * cpu.threads_per_core().unwrap_or(1)));
    Ok(item
        .tags(instance.tags())
        .text("hostname", Some(&hostname))
        .text("ipv4_private", instance.private_ip_address())
        .text("ipv4_public", instance.public_ip_address())
        .list("ipv6_all", ipv6_addresses(instance))
        .text("dns_private", instance.private_dns_name())
        .text("dns_public", instance.public_dns_name())
        .status(instance.state().and_then(|s| s.name()).map(|name| name.as_str()))
        .text("image", instance.image_id())
        .set("os", json!({"base": os_base(instance)}))
        .set("cpu", cpu)
        .list("storage", storage(instance))
        .set(
            "datacenters",
            placement(region, zone, Some((instance_type, &instance_id))),
        )
        .build())
}

/// Windows when EC2 says so; EC2 leaves `Platform` empty for every other system.
fn os_base(instance: &Instance) -> &'static str {
    match instance.platform() {
        Some(PlatformValues::Windows) => "Windows",
        _ => "Linux",
    }
}

/// The IPv6 addresses of all the instance's network interfaces, each once.
fn ipv6_addresses(instance: &Instance) -> Vec<Value> {
    let mut addresses: Vec<&str> = instance
        .network_interfaces()
        .iter()
        .flat_map(|interface| interface.ipv6_addresses())
        .filter_map(|address| address.ipv6_address())
        .chain(instance.ipv6_address())
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    addresses.into_iter().map(Value::from).collect()
}

/// The attached EBS volumes: `{device, volume_id, root}`.
fn storage(instance: &Instance) -> Vec<Value> {
    instance
        .block_device_mappings()
        .iter()
        .map(|mapping| {
            json!({
                "device": mapping.device_name(),
                "volume_id": mapping.ebs().and_then(|ebs| ebs.volume_id()),
                "root": mapping.device_name().is_some() && mapping.device_name() == instance.root_device_name(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{
        CpuOptions, EbsInstanceBlockDevice, InstanceBlockDeviceMapping, InstanceIpv6Address,
        InstanceNetworkInterface, InstanceState, InstanceStateName, InstanceType, Placement,
    };
    use domain::Fields;

    use super::*;

    fn running_instance() -> Instance {
        Instance::builder()
            .instance_id("i-0abc")
            .private_dns_name("ip-10-0-1-7.eu-west-1.compute.internal")
            .private_ip_address("10.0.1.7")
            .public_ip_address("54.1.2.3")
            .public_dns_name("ec2-54-1-2-3.eu-west-1.compute.amazonaws.com")
            .state(InstanceState::builder().name(InstanceStateName::Running).build())
            .image_id("ami-42")
            .instance_type(InstanceType::T3Micro)
            .placement(Placement::builder().availability_zone("eu-west-1b").build())
            .cpu_options(CpuOptions::builder().core_count(2).threads_per_core(2).build())
            .root_device_name("/dev/xvda")
            .block_device_mappings(
                InstanceBlockDeviceMapping::builder()
                    .device_name("/dev/xvda")
                    .ebs(EbsInstanceBlockDevice::builder().volume_id("vol-1").build())
                    .build(),
            )
            .network_interfaces(
                InstanceNetworkInterface::builder()
                    .ipv6_addresses(InstanceIpv6Address::builder().ipv6_address("2001:DB8::7").build())
                    .build(),
            )
            .build()
    }

    #[test]
    fn an_instance_maps_to_a_server_the_domain_takes() {
        let observation = server(&running_instance(), "eu-west-1").unwrap();
        assert_eq!(observation.kind, Kind::Server);
        assert_eq!(observation.provider_id, "i-0abc");
        let fields = Fields::parse(Kind::Server, &observation.fields).unwrap();
        let get = |name: &str| fields.get(name).cloned().unwrap_or(Value::Null);
        assert_eq!(get("hostname"), "ip-10-0-1-7");
        assert_eq!(get("dns_private"), "ip-10-0-1-7.eu-west-1.compute.internal");
        assert_eq!(get("ipv4_private"), "10.0.1.7");
        assert_eq!(get("ipv4_public"), "54.1.2.3");
        assert_eq!(get("ipv6_all"), json!(["2001:db8::7"]));
        assert_eq!(get("status"), "Running");
        assert_eq!(get("image"), "ami-42");
        assert_eq!(get("os"), json!({"base": "Linux"}));
        assert_eq!(get("cpu"), 4);
        assert_eq!(
            get("storage"),
            json!([{"device": "/dev/xvda", "volume_id": "vol-1", "root": true}])
        );
        assert_eq!(
            get("datacenters"),
            json!({"provider": "aws", "region": "eu-west-1", "zone": "eu-west-1b", "instance_type": "t3.micro", "instance_id": "i-0abc"})
        );
    }

    #[test]
    fn a_stopped_instance_without_dns_is_named_by_its_id_and_clears_its_public_ip() {
        let instance = Instance::builder()
            .instance_id("i-0def")
            .private_dns_name("")
            .platform(PlatformValues::Windows)
            .state(InstanceState::builder().name(InstanceStateName::Stopped).build())
            .build();
        let observation = server(&instance, "us-east-1").unwrap();
        let fields = Fields::parse(Kind::Server, &observation.fields).unwrap();
        assert_eq!(fields.get("hostname"), Some(&json!("i-0def")));
        assert_eq!(fields.get("status"), Some(&json!("Stopped")));
        assert_eq!(fields.get("os"), Some(&json!({"base": "Windows"})));
        assert_eq!(fields.get("ipv4_public"), Some(&Value::Null));
        assert_eq!(fields.get("dns_private"), Some(&Value::Null));
    }

    #[test]
    fn an_instance_without_an_id_is_malformed() {
        let error = server(&Instance::builder().build(), "us-east-1").unwrap_err();
        assert!(matches!(error, CrawlError::Malformed(_)), "{error}");
    }
}
