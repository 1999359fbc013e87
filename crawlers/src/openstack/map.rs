//! OpenStack items as observations: Nova servers, flavors and images, Cinder volumes and
//! snapshots, Neutron security groups, networks, subnets, ports and routers, Octavia
//! load balancers.

use std::net::IpAddr;

use domain::Kind;
use serde_json::{json, Value};

use crate::rest::{self, Addresses};
use crate::{CrawlError, Observation};

/// An observation of `kind` from `fields`, keyed by the item's `id`, with the item's tags:
/// its `metadata` (Nova, Cinder, Glance's own properties aside) and its `tags` list
/// (Nova 2.26+, Neutron, Octavia).
fn observe(kind: Kind, item: &Value, what: &str, fields: Value) -> Result<Observation, CrawlError> {
    Ok(tagged(
        Observation::new(kind, rest::id(item, "id", what)?, rest::fields(fields)),
        item,
    ))
}

fn tagged(observation: Observation, item: &Value) -> Observation {
    observation
        .tagged_from(item.get("metadata"))
        .tagged_from(item.get("tags"))
}

/// The item's name, or its id when it has none (everything but a server needs a name).
fn name(item: &Value) -> Option<String> {
    rest::text(item.get("name")).or_else(|| rest::text(item.get("id")))
}

fn text(item: &Value, key: &str) -> Option<String> {
    rest::text(item.get(key))
}

/// Where an item is: the provider, the catalog region and an availability zone.
fn placement(region: &str, zone: Option<String>) -> Value {
    json!({"provider": "openstack", "region": region, "zone": zone})
}

/// A Nova server (`servers/detail`, microversion 2.47 or later embeds its flavor).
pub fn server(server: &Value, region: &str) -> Result<Observation, CrawlError> {
    let id = rest::id(server, "id", "nova servers")?;
    let flavor = server.get("flavor").cloned().unwrap_or_default();
    // Nova's display names are free text; the host name is Nova's own (2.3+, admin) when
    // shown, else the display name made a valid RFC 1123 name, else the server id.
    let hostname = text(server, "OS-EXT-SRV-ATTR:hostname")
        .or_else(|| text(server, "name"))
        .and_then(|name| rest::hostname(&name))
        .unwrap_or_else(|| id.clone());
    let mut fields = rest::fields(json!({
        "hostname": hostname,
        "name": text(server, "name"),
        "description": text(server, "description"),
        "status": text(server, "status").and_then(|s| server_status(&s)),
        "cpu": flavor.get("vcpus"),
        "memory": flavor.get("ram"),
        "image": server.pointer("/image/id"),
        "storage": attached_volumes(server),
        "datacenters": {
            "provider": "openstack",
            "region": region,
            "zone": text(server, "OS-EXT-AZ:availability_zone"),
            "instance_type": text(&flavor, "original_name").or_else(|| text(&flavor, "id")),
            "instance_id": id,
        },
    }));
    addresses(server).write(&mut fields);
    Ok(tagged(Observation::new(Kind::Server, id, fields), server))
}

/// A server's addresses: floating ones are public, fixed ones private unless globally
/// routable (a provider network); `accessIPv4`/`accessIPv6` are the addresses the owner
/// set for reaching it.
fn addresses(server: &Value) -> Addresses {
    let mut addresses = Addresses::default();
    let networks = server.get("addresses").and_then(Value::as_object);
    for address in networks
        .into_iter()
        .flat_map(|n| n.values())
        .filter_map(Value::as_array)
        .flatten()
    {
        let Some(ip) = address.get("addr").and_then(Value::as_str) else {
            continue;
        };
        let floating = address.get("OS-EXT-IPS:type").and_then(Value::as_str) == Some("floating");
        addresses.add(ip, floating || !is_private(ip));
    }
    if let Some(ip) = server.get("accessIPv4").and_then(Value::as_str) {
        addresses.add(ip, true);
    }
    if let Some(ip) = server.get("accessIPv6").and_then(Value::as_str) {
        addresses.add(ip, true);
    }
    addresses
}

/// Whether an IPv4 address is not reachable from the internet: RFC 1918, shared
/// (100.64.0.0/10), link-local or loopback.
fn is_private(ip: &str) -> bool {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || v4.is_link_local() || v4.is_loopback() || (a == 100 && (b & 0xc0) == 64)
        }
        _ => false,
    }
}

/// The volumes attached to a server, by id.
fn attached_volumes(server: &Value) -> Option<Value> {
    let attached = server.get("os-extended-volumes:volumes_attached")?.as_array()?;
    Some(
        attached
            .iter()
            .filter_map(|volume| volume.get("id"))
            .map(|id| json!({"volume_id": id}))
            .collect(),
    )
}

/// Nova's server states in Maestro's words.
fn server_status(status: &str) -> Option<&'static str> {
    Some(match status.to_ascii_uppercase().as_str() {
        "ACTIVE" => "Running",
        "BUILD" | "REBUILD" | "REBOOT" | "HARD_REBOOT" | "RESIZE" | "VERIFY_RESIZE" | "REVERT_RESIZE"
        | "MIGRATING" | "PASSWORD" | "RESCUE" => "Pending",
        "SHUTOFF" | "STOPPED" | "SUSPENDED" | "PAUSED" | "SHELVED" | "SHELVED_OFFLOADED" => "Stopped",
        "ERROR" => "Error",
        "DELETED" | "SOFT_DELETED" => "Terminated",
        _ => return None,
    })
}

/// A Nova flavor: vCPUs, memory (MB) and root disk (GB).
pub fn flavor(flavor: &Value, region: &str) -> Result<Observation, CrawlError> {
    observe(
        Kind::Flavor,
        flavor,
        "nova flavors",
        json!({
            "name": name(flavor),
            "description": text(flavor, "description"),
            "vcpus": flavor.get("vcpus"),
            "memory": flavor.get("ram"),
            "disk": flavor.get("disk"),
            "datacenters": placement(region, None),
        }),
    )
}

/// An image through Nova's image API; its size in bytes becomes whole GB.
pub fn image(image: &Value, region: &str) -> Result<Observation, CrawlError> {
    let bytes = image
        .get("OS-EXT-IMG-SIZE:size")
        .and_then(|size| size.as_u64().or_else(|| size.as_str()?.parse().ok()));
    let metadata = image.get("metadata").cloned().unwrap_or_default();
    observe(
        Kind::Image,
        image,
        "nova images",
        json!({
            "name": name(image),
            "size": bytes.map(rest::gigabytes_from_bytes),
            "state": text(image, "status"),
            "status": text(image, "status").and_then(|s| image_status(&s)),
            "architecture": text(&metadata, "architecture"),
            "platform": text(&metadata, "os_type").or_else(|| text(&metadata, "os_distro")),
            "datacenters": placement(region, None),
        }),
    )
}

fn image_status(status: &str) -> Option<&'static str> {
    Some(match status.to_ascii_uppercase().as_str() {
        "ACTIVE" => "Available",
        "SAVING" | "QUEUED" | "UPLOADING" | "IMPORTING" => "Pending",
        "ERROR" | "KILLED" => "Error",
        "DELETED" | "PENDING_DELETE" => "Terminated",
        _ => return None,
    })
}

/// A Cinder volume; size in GB.
pub fn volume(volume: &Value, region: &str) -> Result<Observation, CrawlError> {
    observe(
        Kind::Volume,
        volume,
        "cinder volumes",
        json!({
            "name": name(volume),
            "description": text(volume, "description"),
            "size": volume.get("size"),
            "state": text(volume, "status"),
            "status": text(volume, "status").and_then(|s| block_status(&s)),
            "volume_type": text(volume, "volume_type"),
            "encrypted": volume.get("encrypted").filter(|e| e.is_boolean()),
            "datacenters": placement(region, text(volume, "availability_zone")),
        }),
    )
}

/// A Cinder snapshot; size in GB.
pub fn snapshot(snapshot: &Value, region: &str) -> Result<Observation, CrawlError> {
    observe(
        Kind::Snapshot,
        snapshot,
        "cinder snapshots",
        json!({
            "name": name(snapshot),
            "description": text(snapshot, "description"),
            "size": snapshot.get("size"),
            "state": text(snapshot, "status"),
            "status": text(snapshot, "status").and_then(|s| block_status(&s)),
            "volume_id": text(snapshot, "volume_id"),
            "datacenters": placement(region, None),
        }),
    )
}

/// Cinder's volume and snapshot states in Maestro's words.
fn block_status(status: &str) -> Option<&'static str> {
    let status = status.to_ascii_lowercase();
    Some(match status.as_str() {
        "available" => "Available",
        "in-use" => "In-use",
        "maintenance" => "Maintenance",
        "deleting" | "deleted" => "Terminated",
        "creating" | "attaching" | "detaching" | "extending" | "downloading" | "uploading" | "retyping"
        | "backing-up" | "restoring-backup" | "reserved" | "awaiting-transfer" | "unmanaging" => "Pending",
        error if error.starts_with("error") => "Error",
        _ => return None,
    })
}

/// A Neutron security group as a network item whose rules are the group's rules.
pub fn security_group(group: &Value, region: &str) -> Result<Observation, CrawlError> {
    let rules: Vec<Value> = group
        .get("security_group_rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|rule| {
            json!({
                "id": rule.get("id"),
                "direction": rule.get("direction"),
                "ethertype": rule.get("ethertype"),
                "protocol": rule.get("protocol"),
                "port_range_min": rule.get("port_range_min"),
                "port_range_max": rule.get("port_range_max"),
                "remote_ip_prefix": rule.get("remote_ip_prefix"),
                "remote_group_id": rule.get("remote_group_id"),
                "description": rule.get("description"),
            })
        })
        .collect();
    observe(
        Kind::Network,
        group,
        "neutron security groups",
        json!({
            "name": name(group),
            "description": text(group, "description"),
            "network_type": "security-group",
            "rules": rules,
            "datacenters": placement(region, None),
        }),
    )
}

/// A Neutron network; its type is the provider network type when the user may see it.
pub fn network(network: &Value, region: &str) -> Result<Observation, CrawlError> {
    observe(
        Kind::Network,
        network,
        "neutron networks",
        json!({
            "name": name(network),
            "description": text(network, "description"),
            "network_type": text(network, "provider:network_type").unwrap_or_else(|| "network".into()),
            "state": text(network, "status"),
            "status": text(network, "status").and_then(|s| network_status(&s)),
            "datacenters": placement(region, None),
        }),
    )
}

/// A Neutron port: its first fixed address as a host CIDR, described by what it belongs
/// to (a router's interface, a server's NIC) when it has no description of its own.
pub fn port(port: &Value, region: &str) -> Result<Observation, CrawlError> {
    let address = port
        .pointer("/fixed_ips/0/ip_address")
        .and_then(Value::as_str)
        .and_then(rest::host_cidr);
    let owner = match (text(port, "device_owner"), text(port, "device_id")) {
        (Some(owner), Some(device)) => Some(format!("{owner} {device}")),
        (owner, device) => owner.or(device),
    };
    observe(
        Kind::Network,
        port,
        "neutron ports",
        json!({
            "name": name(port),
            "description": text(port, "description").or(owner),
            "network_type": "port",
            "cidr": address,
            "state": text(port, "status"),
            "status": text(port, "status").and_then(|s| network_status(&s)),
            "datacenters": placement(region, None),
        }),
    )
}

/// A Neutron subnet, with its CIDR.
pub fn subnet(subnet: &Value, region: &str) -> Result<Observation, CrawlError> {
    observe(
        Kind::Network,
        subnet,
        "neutron subnets",
        json!({
            "name": name(subnet),
            "description": text(subnet, "description"),
            "network_type": "subnet",
            "cidr": text(subnet, "cidr"),
            "datacenters": placement(region, None),
        }),
    )
}

/// A Neutron router; its rules are its static routes.
pub fn router(router: &Value, region: &str) -> Result<Observation, CrawlError> {
    let routes: Vec<Value> = router
        .get("routes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|route| json!({"destination": route.get("destination"), "nexthop": route.get("nexthop")}))
        .collect();
    observe(
        Kind::Network,
        router,
        "neutron routers",
        json!({
            "name": name(router),
            "description": text(router, "description"),
            "network_type": "router",
            "state": text(router, "status"),
            "status": text(router, "status").and_then(|s| network_status(&s)),
            "rules": routes,
            "datacenters": placement(region, None),
        }),
    )
}

/// An Octavia load balancer: an application of the Loadbalance family reached at its
/// virtual IP. Its status is the provisioning status (what Octavia is doing with it);
/// whether its members answer is `operating_status`, kept in the specs.
pub fn load_balancer(balancer: &Value, region: &str) -> Result<Observation, CrawlError> {
    let count = |key: &str| balancer.get(key).and_then(Value::as_array).map(Vec::len);
    let specs = json!({
        "provider": text(balancer, "provider"),
        "operating_status": text(balancer, "operating_status"),
        "flavor_id": text(balancer, "flavor_id"),
        "vip_network_id": text(balancer, "vip_network_id"),
        "vip_subnet_id": text(balancer, "vip_subnet_id"),
        "vip_port_id": text(balancer, "vip_port_id"),
        "listeners": count("listeners"),
        "pools": count("pools"),
    });
    observe(
        Kind::Application,
        balancer,
        "octavia load balancers",
        json!({
            "name": name(balancer),
            "description": text(balancer, "description"),
            "family": "Loadbalance",
            "endpoint": text(balancer, "vip_address"),
            "status": text(balancer, "provisioning_status").and_then(|s| network_status(&s)),
            "specs": specs,
            "datacenters": placement(region, text(balancer, "availability_zone")),
        }),
    )
}

/// Neutron's and Octavia's statuses.
fn network_status(status: &str) -> Option<&'static str> {
    Some(match status.to_ascii_uppercase().as_str() {
        "ACTIVE" => "Active",
        "DOWN" => "Stopped",
        "BUILD" | "PENDING_CREATE" | "PENDING_UPDATE" => "Pending",
        "PENDING_DELETE" | "DELETED" => "Terminated",
        "ERROR" => "Error",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_addresses_on_provider_networks_are_public() {
        let server = json!({"addresses": {"shared": [
            {"addr": "10.1.0.5", "OS-EXT-IPS:type": "fixed", "version": 4},
            {"addr": "203.0.113.7", "OS-EXT-IPS:type": "fixed", "version": 4},
            {"addr": "2001:db8::5", "OS-EXT-IPS:type": "fixed", "version": 6}
        ]}});
        let mut fields = serde_json::Map::new();
        addresses(&server).write(&mut fields);
        assert_eq!(
            Value::Object(fields),
            json!({"ipv4_private": "10.1.0.5", "ipv4_public": "203.0.113.7", "ipv6_all": ["2001:db8::5"]})
        );
        assert!(is_private("100.64.1.1") && is_private("169.254.0.1") && !is_private("100.128.0.1"));
    }

    #[test]
    fn states_map_to_maestro_statuses() {
        assert_eq!(server_status("SHUTOFF"), Some("Stopped"));
        assert_eq!(server_status("UNKNOWN"), None);
        assert_eq!(block_status("error_deleting"), Some("Error"));
        assert_eq!(block_status("in-use"), Some("In-use"));
    }
}
