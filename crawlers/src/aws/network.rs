//! `security-list` and `network-list`: security groups with their rules, VPCs and
//! subnets with their CIDR blocks (and, from [`super::connectivity`], what connects
//! them), all as networks told apart by `network_type`.

use aws_sdk_ec2::types::{IpPermission, SecurityGroup, Subnet, Vpc};
use domain::Kind;
use serde_json::{json, Value};

use super::observe::{placement, Item};
use super::session::Session;
use crate::{CrawlError, Observation};

const DESCRIBE_SECURITY_GROUPS: &str = "ec2 DescribeSecurityGroups";
const DESCRIBE_VPCS: &str = "ec2 DescribeVpcs";
const DESCRIBE_SUBNETS: &str = "ec2 DescribeSubnets";

pub(super) async fn security_groups(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        DESCRIBE_SECURITY_GROUPS,
        session
            .ec2()
            .describe_security_groups()
            .into_paginator()
            .page_size(session.page_size(5, 1000)),
        |page| page.security_groups(),
        |group| security_group(group, session.region())
    )
}

/// VPCs, subnets, and what connects them: every list complete, or an error.
pub(super) async fn networks(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    let (mut networks, connectivity) = futures::try_join!(
        vpcs_and_subnets(session),
        super::connectivity::connectivity(session)
    )?;
    networks.extend(connectivity);
    Ok(networks)
}

async fn vpcs_and_subnets(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    let ec2 = session.ec2();
    let region = session.region();
    let (mut vpcs, subnets) = futures::try_join!(
        async {
            map_pages!(
                session,
                DESCRIBE_VPCS,
                ec2.describe_vpcs()
                    .into_paginator()
                    .page_size(session.page_size(5, 1000)),
                |page| page.vpcs(),
                |item| vpc(item, region)
            )
        },
        async {
            map_pages!(
                session,
                DESCRIBE_SUBNETS,
                ec2.describe_subnets()
                    .into_paginator()
                    .page_size(session.page_size(5, 1000)),
                |page| page.subnets(),
                |item| subnet(item, region)
            )
        },
    )?;
    vpcs.extend(subnets);
    Ok(vpcs)
}

/// A security group, named by its group name, with one rule per peer of each permission.
fn security_group(group: &SecurityGroup, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Network, group.group_id(), DESCRIBE_SECURITY_GROUPS)?;
    let name = group
        .group_name()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or(item.id())
        .to_string();
    let rules: Vec<Value> = rules("ingress", group.ip_permissions())
        .chain(rules("egress", group.ip_permissions_egress()))
        .collect();
    Ok(item
        .tags(group.tags())
        .text("name", Some(&name))
        .text("description", group.description())
        .set("network_type", "security-group")
        .list("rules", rules)
        .set("datacenters", placement(region, None, None))
        .build())
}

/// A permission's rules: `{direction, protocol, from_port, to_port, peer_type, peer,
/// description}`, one per CIDR, IPv6 CIDR, security group or prefix list it allows.
/// Protocol `-1` (any) reads `all`; ports are absent when the protocol has none.
fn rules<'a>(direction: &'a str, permissions: &'a [IpPermission]) -> impl Iterator<Item = Value> + 'a {
    permissions.iter().flat_map(move |permission| {
        let protocol = match permission.ip_protocol() {
            Some("-1") | None => "all",
            Some(protocol) => protocol,
        };
        let peers = permission
            .ip_ranges()
            .iter()
            .map(|range| ("cidr", range.cidr_ip(), range.description()))
            .chain(
                permission
                    .ipv6_ranges()
                    .iter()
                    .map(|range| ("cidr", range.cidr_ipv6(), range.description())),
            )
            .chain(
                permission
                    .user_id_group_pairs()
                    .iter()
                    .map(|pair| ("security-group", pair.group_id(), pair.description())),
            )
            .chain(
                permission
                    .prefix_list_ids()
                    .iter()
                    .map(|list| ("prefix-list", list.prefix_list_id(), list.description())),
            );
        peers
            .map(move |(peer_type, peer, description)| {
                json!({
                    "direction": direction,
                    "protocol": protocol,
                    "from_port": permission.from_port(),
                    "to_port": permission.to_port(),
                    "peer_type": peer_type,
                    "peer": peer,
                    "description": description,
                })
            })
            .collect::<Vec<_>>()
    })
}

/// A VPC, named by its id, with its primary CIDR block.
fn vpc(vpc: &Vpc, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Network, vpc.vpc_id(), DESCRIBE_VPCS)?;
    let name = item.id().to_string();
    let state = vpc.state().map(|state| state.as_str());
    Ok(item
        .tags(vpc.tags())
        .text("name", Some(&name))
        .set("network_type", "vpc")
        .text("cidr", vpc.cidr_block())
        .text("state", state)
        .status(state)
        .set("datacenters", placement(region, None, None))
        .build())
}

/// A subnet, named by its id, with its CIDR block and zone.
fn subnet(subnet: &Subnet, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Network, subnet.subnet_id(), DESCRIBE_SUBNETS)?;
    let name = item.id().to_string();
    let state = subnet.state().map(|state| state.as_str());
    Ok(item
        .tags(subnet.tags())
        .text("name", Some(&name))
        .set("network_type", "subnet")
        .text("cidr", subnet.cidr_block())
        .text("state", state)
        .status(state)
        .set("datacenters", placement(region, subnet.availability_zone(), None))
        .build())
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{IpRange, SubnetState, UserIdGroupPair, VpcState};
    use domain::Fields;

    use super::*;

    #[test]
    fn a_security_group_has_one_rule_per_peer() {
        let group = SecurityGroup::builder()
            .group_id("sg-1")
            .group_name("web")
            .description("web servers")
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(443)
                    .to_port(443)
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-2").build())
                    .build(),
            )
            .ip_permissions_egress(
                IpPermission::builder()
                    .ip_protocol("-1")
                    .ip_ranges(
                        IpRange::builder()
                            .cidr_ip("10.0.0.0/8")
                            .description("inside")
                            .build(),
                    )
                    .build(),
            )
            .build();
        let observation = security_group(&group, "eu-west-1").unwrap();
        let fields = Fields::parse(Kind::Network, &observation.fields).unwrap();
        assert_eq!(observation.provider_id, "sg-1");
        assert_eq!(fields.get("name"), Some(&json!("web")));
        assert_eq!(fields.get("network_type"), Some(&json!("security-group")));
        assert_eq!(
            fields.get("rules"),
            Some(&json!([
                {"direction": "ingress", "protocol": "tcp", "from_port": 443, "to_port": 443, "peer_type": "cidr", "peer": "0.0.0.0/0", "description": null},
                {"direction": "ingress", "protocol": "tcp", "from_port": 443, "to_port": 443, "peer_type": "security-group", "peer": "sg-2", "description": null},
                {"direction": "egress", "protocol": "all", "from_port": null, "to_port": null, "peer_type": "cidr", "peer": "10.0.0.0/8", "description": "inside"},
            ]))
        );
    }

    #[test]
    fn vpcs_and_subnets_keep_their_cidr_and_state() {
        let observation = vpc(
            &Vpc::builder()
                .vpc_id("vpc-1")
                .cidr_block("10.1.0.0/16")
                .state(VpcState::Available)
                .build(),
            "us-east-1",
        )
        .unwrap();
        let fields = Fields::parse(Kind::Network, &observation.fields).unwrap();
        assert_eq!(fields.get("cidr"), Some(&json!("10.1.0.0/16")));
        assert_eq!(fields.get("network_type"), Some(&json!("vpc")));
        assert_eq!(fields.get("status"), Some(&json!("Available")));
        let observation = subnet(
            &Subnet::builder()
                .subnet_id("subnet-1")
                .cidr_block("10.1.2.0/24")
                .state(SubnetState::Pending)
                .availability_zone("us-east-1a")
                .build(),
            "us-east-1",
        )
        .unwrap();
        let fields = Fields::parse(Kind::Network, &observation.fields).unwrap();
        assert_eq!(observation.provider_id, "subnet-1");
        assert_eq!(fields.get("cidr"), Some(&json!("10.1.2.0/24")));
        assert_eq!(fields.get("state"), Some(&json!("pending")));
        assert_eq!(
            fields.get("datacenters"),
            Some(&json!({"provider": "aws", "region": "us-east-1", "zone": "us-east-1a"}))
        );
    }
}
