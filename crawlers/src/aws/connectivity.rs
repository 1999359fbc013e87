//! The rest of `network-list`: what connects a VPC to other networks and shapes its
//! traffic — peerings, VPN gateways, VPC endpoints, route tables (their routes as rules),
//! network interfaces, NAT gateways and network ACLs (their entries as rules). Each is a
//! network told apart by `network_type`, named by its AWS id.

use aws_sdk_ec2::types::{
    NatGateway, NetworkAcl, NetworkInterface, Route, RouteTable, VpcEndpoint, VpcPeeringConnection,
    VpnGateway,
};
use domain::Kind;
use serde_json::{json, Value};

use super::observe::{placement, Item};
use super::session::Session;
use crate::{CrawlError, Observation};

const DESCRIBE_PEERINGS: &str = "ec2 DescribeVpcPeeringConnections";
const DESCRIBE_VPN_GATEWAYS: &str = "ec2 DescribeVpnGateways";
const DESCRIBE_ENDPOINTS: &str = "ec2 DescribeVpcEndpoints";
const DESCRIBE_ROUTE_TABLES: &str = "ec2 DescribeRouteTables";
const DESCRIBE_INTERFACES: &str = "ec2 DescribeNetworkInterfaces";
const DESCRIBE_NAT_GATEWAYS: &str = "ec2 DescribeNatGateways";
const DESCRIBE_ACLS: &str = "ec2 DescribeNetworkAcls";

/// All seven lists, fetched side by side; one failed list fails them all.
pub(super) async fn connectivity(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    let ec2 = session.ec2();
    let region = session.region();
    let lists = futures::try_join!(
        async {
            map_pages!(
                session,
                DESCRIBE_PEERINGS,
                ec2.describe_vpc_peering_connections()
                    .into_paginator()
                    .page_size(session.page_size(5, 1000)),
                |page| page.vpc_peering_connections(),
                |item| peering(item, region)
            )
        },
        async {
            // DescribeVpnGateways has no pages: it answers with every gateway at once.
            let output = ec2
                .describe_vpn_gateways()
                .send()
                .await
                .map_err(|error| session.fail(DESCRIBE_VPN_GATEWAYS, error))?;
            output
                .vpn_gateways()
                .iter()
                .map(|item| vpn_gateway(item, region))
                .collect::<Result<Vec<_>, _>>()
        },
        async {
            map_pages!(
                session,
                DESCRIBE_ENDPOINTS,
                ec2.describe_vpc_endpoints()
                    .into_paginator()
                    .page_size(session.page_size(5, 1000)),
                |page| page.vpc_endpoints(),
                |item| endpoint(item, region)
            )
        },
        async {
            map_pages!(
                session,
                DESCRIBE_ROUTE_TABLES,
                ec2.describe_route_tables()
                    .into_paginator()
                    .page_size(session.page_size(5, 100)),
                |page| page.route_tables(),
                |item| route_table(item, region)
            )
        },
        async {
            map_pages!(
                session,
                DESCRIBE_INTERFACES,
                ec2.describe_network_interfaces()
                    .into_paginator()
                    .page_size(session.page_size(5, 1000)),
                |page| page.network_interfaces(),
                |item| interface(item, region)
            )
        },
        async {
            map_pages!(
                session,
                DESCRIBE_NAT_GATEWAYS,
                ec2.describe_nat_gateways()
                    .into_paginator()
                    .page_size(session.page_size(5, 1000)),
                |page| page.nat_gateways(),
                |item| nat_gateway(item, region)
            )
        },
        async {
            map_pages!(
                session,
                DESCRIBE_ACLS,
                ec2.describe_network_acls()
                    .into_paginator()
                    .page_size(session.page_size(5, 100)),
                |page| page.network_acls(),
                |item| network_acl(item, region)
            )
        },
    )?;
    let (peerings, vpn_gateways, endpoints, route_tables, interfaces, nat_gateways, acls) = lists;
    Ok([
        peerings,
        vpn_gateways,
        endpoints,
        route_tables,
        interfaces,
        nat_gateways,
        acls,
    ]
    .concat())
}

/// A network named by its id, of `network_type`, in `state` (also its status).
fn network(
    id: Option<&str>,
    what: &str,
    network_type: &str,
    state: Option<&str>,
) -> Result<Item, CrawlError> {
    let item = Item::new(Kind::Network, id, what)?;
    let name = item.id().to_string();
    Ok(item
        .text("name", Some(&name))
        .set("network_type", network_type)
        .text("state", state)
        .status(state))
}

/// A VPC peering, described as `requester ↔ accepter` with their CIDR blocks (and the
/// accepter's account and region when they are another's).
fn peering(peering: &VpcPeeringConnection, region: &str) -> Result<Observation, CrawlError> {
    let side = |info: Option<&aws_sdk_ec2::types::VpcPeeringConnectionVpcInfo>| {
        let Some(info) = info else {
            return "?".to_string();
        };
        let mut text = info.vpc_id().unwrap_or("?").to_string();
        if let Some(cidr) = info.cidr_block() {
            text.push_str(&format!(" ({cidr})"));
        }
        if let (Some(owner), Some(other_region)) = (info.owner_id(), info.region()) {
            if other_region != region {
                text.push_str(&format!(" in {owner}/{other_region}"));
            }
        }
        text
    };
    let state = peering
        .status()
        .and_then(|status| status.code())
        .map(|code| code.as_str());
    let description = format!(
        "{} ↔ {}",
        side(peering.requester_vpc_info()),
        side(peering.accepter_vpc_info())
    );
    Ok(network(
        peering.vpc_peering_connection_id(),
        DESCRIBE_PEERINGS,
        "peering",
        state,
    )?
    .tags(peering.tags())
    .text("description", Some(&description))
    .set("datacenters", placement(region, None, None))
    .build())
}

/// A virtual private gateway, described by the VPCs it is attached to.
fn vpn_gateway(gateway: &VpnGateway, region: &str) -> Result<Observation, CrawlError> {
    let attached: Vec<&str> = gateway
        .vpc_attachments()
        .iter()
        .filter(|attachment| {
            attachment
                .state()
                .is_some_and(|state| state.as_str() == "attached")
        })
        .filter_map(|attachment| attachment.vpc_id())
        .collect();
    let description = (!attached.is_empty()).then(|| format!("attached to {}", attached.join(", ")));
    Ok(network(
        gateway.vpn_gateway_id(),
        DESCRIBE_VPN_GATEWAYS,
        "vpn-gateway",
        gateway.state().map(|state| state.as_str()),
    )?
    .tags(gateway.tags())
    .text("description", description.as_deref())
    .set(
        "datacenters",
        placement(region, gateway.availability_zone(), None),
    )
    .build())
}

/// A VPC endpoint, described by the service it reaches and its type.
fn endpoint(endpoint: &VpcEndpoint, region: &str) -> Result<Observation, CrawlError> {
    let kind = endpoint
        .vpc_endpoint_type()
        .map(|kind| kind.as_str().to_ascii_lowercase());
    let description = endpoint.service_name().map(|service| match &kind {
        Some(kind) => format!("{service} ({kind}) in {}", endpoint.vpc_id().unwrap_or("?")),
        None => format!("{service} in {}", endpoint.vpc_id().unwrap_or("?")),
    });
    Ok(network(
        endpoint.vpc_endpoint_id(),
        DESCRIBE_ENDPOINTS,
        "vpc-endpoint",
        endpoint.state().map(|state| state.as_str()),
    )?
    .tags(endpoint.tags())
    .text("description", description.as_deref())
    .set("datacenters", placement(region, None, None))
    .build())
}

/// A route table; its routes are its rules (`{destination, target, state}`).
fn route_table(table: &RouteTable, region: &str) -> Result<Observation, CrawlError> {
    let main = table
        .associations()
        .iter()
        .any(|association| association.main() == Some(true));
    let subnets: Vec<&str> = table
        .associations()
        .iter()
        .filter_map(|association| association.subnet_id())
        .collect();
    let mut description = format!(
        "{}{}",
        table.vpc_id().unwrap_or("?"),
        if main { ", main" } else { "" }
    );
    if !subnets.is_empty() {
        description.push_str(&format!(", subnets {}", subnets.join(" ")));
    }
    let routes = table.routes().iter().map(route).collect();
    Ok(
        network(table.route_table_id(), DESCRIBE_ROUTE_TABLES, "route-table", None)?
            .tags(table.tags())
            .text("description", Some(&description))
            .list("rules", routes)
            .set("datacenters", placement(region, None, None))
            .build(),
    )
}

fn route(route: &Route) -> Value {
    let destination = route
        .destination_cidr_block()
        .or(route.destination_ipv6_cidr_block())
        .or(route.destination_prefix_list_id());
    let target = route
        .gateway_id()
        .or(route.nat_gateway_id())
        .or(route.transit_gateway_id())
        .or(route.vpc_peering_connection_id())
        .or(route.network_interface_id())
        .or(route.instance_id())
        .or(route.egress_only_internet_gateway_id())
        .or(route.local_gateway_id())
        .or(route.carrier_gateway_id());
    json!({
        "destination": destination,
        "target": target,
        "state": route.state().map(|state| state.as_str()),
    })
}

/// A network interface: its primary private address as a /32, what it is attached to.
fn interface(interface: &NetworkInterface, region: &str) -> Result<Observation, CrawlError> {
    let address = interface.private_ip_address().and_then(crate::rest::host_cidr);
    let attached = interface
        .attachment()
        .and_then(|attachment| attachment.instance_id());
    let description = match (interface.description().filter(|d| !d.trim().is_empty()), attached) {
        (Some(description), Some(instance)) => Some(format!("{description} (on {instance})")),
        (Some(description), None) => Some(description.to_string()),
        (None, Some(instance)) => Some(format!("on {instance}")),
        (None, None) => None,
    };
    Ok(network(
        interface.network_interface_id(),
        DESCRIBE_INTERFACES,
        "interface",
        interface.status().map(|status| status.as_str()),
    )?
    .tags(interface.tag_set())
    .text("cidr", address.as_deref())
    .text("description", description.as_deref())
    .set(
        "datacenters",
        placement(region, interface.availability_zone(), None),
    )
    .build())
}

/// A NAT gateway, described by its addresses and subnet.
fn nat_gateway(gateway: &NatGateway, region: &str) -> Result<Observation, CrawlError> {
    let addresses: Vec<String> = gateway
        .nat_gateway_addresses()
        .iter()
        .flat_map(|address| {
            let public = address.public_ip().map(|ip| format!("public {ip}"));
            let private = address.private_ip().map(|ip| format!("private {ip}"));
            public.into_iter().chain(private)
        })
        .collect();
    let mut description = addresses.join(", ");
    if let Some(subnet) = gateway.subnet_id() {
        description.push_str(&format!(" in {subnet}"));
    }
    Ok(network(
        gateway.nat_gateway_id(),
        DESCRIBE_NAT_GATEWAYS,
        "nat-gateway",
        gateway.state().map(|state| state.as_str()),
    )?
    .tags(gateway.tags())
    .text("description", Some(description.trim()))
    .set("datacenters", placement(region, None, None))
    .build())
}

/// A network ACL; its entries are its rules (`{direction, number, action, protocol,
/// cidr, from_port, to_port}`), in the order AWS evaluates them.
fn network_acl(acl: &NetworkAcl, region: &str) -> Result<Observation, CrawlError> {
    let mut entries: Vec<_> = acl.entries().iter().collect();
    entries.sort_by_key(|entry| (entry.egress(), entry.rule_number()));
    let rules = entries
        .into_iter()
        .map(|entry| {
            let protocol = match entry.protocol() {
                Some("-1") | None => "all",
                Some(protocol) => protocol,
            };
            json!({
                "direction": if entry.egress() == Some(true) { "egress" } else { "ingress" },
                "number": entry.rule_number(),
                "action": entry.rule_action().map(|action| action.as_str()),
                "protocol": protocol,
                "cidr": entry.cidr_block().or(entry.ipv6_cidr_block()),
                "from_port": entry.port_range().and_then(|range| range.from()),
                "to_port": entry.port_range().and_then(|range| range.to()),
            })
        })
        .collect();
    let description = format!(
        "{}{}",
        acl.vpc_id().unwrap_or("?"),
        if acl.is_default() == Some(true) {
            ", default"
        } else {
            ""
        }
    );
    Ok(network(acl.network_acl_id(), DESCRIBE_ACLS, "network-acl", None)?
        .tags(acl.tags())
        .text("description", Some(&description))
        .list("rules", rules)
        .set("datacenters", placement(region, None, None))
        .build())
}
