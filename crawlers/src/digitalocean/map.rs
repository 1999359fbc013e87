//! DigitalOcean items as observations: droplets, volumes, snapshots, images, load
//! balancers, CDN endpoints, firewalls (as security groups), VPCs and Kubernetes clusters.

use domain::Kind;
use serde_json::{json, Value};

use crate::rest::{self, Addresses};
use crate::{CrawlError, Observation};

/// An observation keyed by the item's `id`, with its `tags` (`env:prod` is the tag `env`
/// with the value `prod`).
fn observe(kind: Kind, item: &Value, what: &str, fields: Value) -> Result<Observation, CrawlError> {
    Ok(
        Observation::new(kind, rest::id(item, "id", what)?, rest::fields(fields))
            .tagged_from(item.get("tags")),
    )
}

fn text(item: &Value, pointer: &str) -> Option<String> {
    rest::text(item.pointer(pointer))
}

/// The item's name, or its id when it has none.
fn name(item: &Value) -> Option<String> {
    text(item, "/name").or_else(|| text(item, "/id"))
}

/// Where an item is: its own region when it has one, else the crawl's.
fn placement(region: Option<String>) -> Value {
    json!({"provider": "digitalocean", "region": region})
}

/// A droplet: size, addresses, image and region.
pub fn droplet(droplet: &Value) -> Result<Observation, CrawlError> {
    let id = rest::id(droplet, "id", "droplets")?;
    // Droplet names are free text; the host name is the name made a valid RFC 1123 name,
    // else the droplet id.
    let hostname = text(droplet, "/name")
        .and_then(|name| rest::hostname(&name))
        .unwrap_or_else(|| id.clone());
    let distribution = text(droplet, "/image/distribution");
    let mut fields = rest::fields(json!({
        "hostname": hostname,
        "name": text(droplet, "/name"),
        "status": text(droplet, "/status").and_then(|s| droplet_status(&s)),
        "cpu": droplet.get("vcpus"),
        "memory": droplet.get("memory"),
        "image": text(droplet, "/image/slug").or_else(|| text(droplet, "/image/name")),
        "os": {
            "base": distribution.as_deref().map(os_base),
            "dist": distribution,
            "version": text(droplet, "/image/name"),
        },
        "storage": storage(droplet),
        "datacenters": {
            "provider": "digitalocean",
            "region": text(droplet, "/region/slug"),
            "instance_type": text(droplet, "/size_slug"),
            "instance_id": id,
        },
    }));
    addresses(droplet).write(&mut fields);
    Ok(Observation::new(Kind::Server, id, fields).tagged_from(droplet.get("tags")))
}

/// `networks.v4` and `networks.v6`, each address `public` or `private`.
fn addresses(droplet: &Value) -> Addresses {
    let mut addresses = Addresses::default();
    for version in ["/networks/v4", "/networks/v6"] {
        for network in droplet
            .pointer(version)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(ip) = network.get("ip_address").and_then(Value::as_str) {
                addresses.add(ip, network.get("type").and_then(Value::as_str) == Some("public"));
            }
        }
    }
    addresses
}

/// The root disk, then the attached volumes by id.
fn storage(droplet: &Value) -> Value {
    let root = json!({"device": "root", "size": droplet.get("disk"), "root": true});
    let volumes = droplet
        .get("volume_ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|id| json!({"volume_id": id}));
    std::iter::once(root).chain(volumes).collect()
}

/// DigitalOcean's images are Linux distributions, but for FreeBSD.
fn os_base(distribution: &str) -> &'static str {
    if distribution.to_ascii_lowercase().contains("bsd") {
        "BSD"
    } else {
        "Linux"
    }
}

fn droplet_status(status: &str) -> Option<&'static str> {
    Some(match status {
        "active" => "Running",
        "new" => "Pending",
        "off" => "Stopped",
        "archive" => "Terminated",
        _ => return None,
    })
}

/// A block storage volume: in use when attached to a droplet.
pub fn volume(volume: &Value) -> Result<Observation, CrawlError> {
    let attached = volume
        .get("droplet_ids")
        .and_then(Value::as_array)
        .is_some_and(|ids| !ids.is_empty());
    observe(
        Kind::Volume,
        volume,
        "volumes",
        json!({
            "name": name(volume),
            "description": text(volume, "/description"),
            "size": volume.get("size_gigabytes"),
            "state": if attached { "attached" } else { "detached" },
            "status": if attached { "In-use" } else { "Available" },
            "datacenters": placement(text(volume, "/region/slug")),
        }),
    )
}

/// A droplet or volume snapshot; its size becomes whole GB. A snapshot lives in several
/// regions: its placement is the crawl's region when one is asked for.
pub fn snapshot(snapshot: &Value, region: Option<&str>) -> Result<Observation, CrawlError> {
    let resource_type = text(snapshot, "/resource_type");
    let source = text(snapshot, "/resource_id");
    let volume_id = source
        .clone()
        .filter(|_| resource_type.as_deref() == Some("volume"));
    observe(
        Kind::Snapshot,
        snapshot,
        "snapshots",
        json!({
            "name": name(snapshot),
            "description": resource_type.zip(source).map(|(kind, id)| format!("snapshot of {kind} {id}")),
            "size": snapshot.get("size_gigabytes").and_then(rest::whole_gigabytes),
            "volume_id": volume_id,
            "datacenters": placement(region.map(str::to_string)),
        }),
    )
}

/// One of the account's own images; its size becomes whole GB.
pub fn image(image: &Value, region: Option<&str>) -> Result<Observation, CrawlError> {
    observe(
        Kind::Image,
        image,
        "images",
        json!({
            "name": name(image),
            "description": text(image, "/description"),
            "size": image.get("size_gigabytes").and_then(rest::whole_gigabytes),
            "state": text(image, "/status"),
            "status": text(image, "/status").filter(|s| s == "available").map(|_| "Available"),
            "platform": text(image, "/distribution"),
            "datacenters": placement(region.map(str::to_string)),
        }),
    )
}

/// A load balancer: an application of the Loadbalance family.
pub fn load_balancer(balancer: &Value) -> Result<Observation, CrawlError> {
    observe(
        Kind::Application,
        balancer,
        "load balancers",
        json!({
            "name": name(balancer),
            "family": "Loadbalance",
            "endpoint": text(balancer, "/ip"),
            "healthcheck": healthcheck(balancer),
            "status": text(balancer, "/status").and_then(|s| lifecycle_status(&s)),
            "specs": {
                "size": balancer.get("size"),
                "algorithm": balancer.get("algorithm"),
                "forwarding_rules": balancer.get("forwarding_rules"),
                "droplet_ids": balancer.get("droplet_ids"),
                "tag": balancer.get("tag"),
                "vpc_uuid": balancer.get("vpc_uuid"),
            },
            "datacenters": placement(text(balancer, "/region/slug")),
        }),
    )
}

/// `http:80/` from a load balancer's health check.
fn healthcheck(balancer: &Value) -> Option<String> {
    let check = balancer.get("health_check")?;
    let protocol = text(check, "/protocol")?;
    let port = text(check, "/port")?;
    Some(format!(
        "{protocol}:{port}{}",
        text(check, "/path").unwrap_or_default()
    ))
}

/// States of load balancers and Kubernetes clusters.
fn lifecycle_status(status: &str) -> Option<&'static str> {
    Some(match status {
        "active" => "Active",
        "running" => "Running",
        "new" | "provisioning" | "degraded" | "upgrading" => "Pending",
        "errored" | "error" | "invalid" => "Error",
        "deleting" | "deleted" => "Terminated",
        _ => return None,
    })
}

/// A CDN endpoint: an application of the CDN family, named by its custom domain when it
/// has one.
pub fn cdn_endpoint(endpoint: &Value) -> Result<Observation, CrawlError> {
    observe(
        Kind::Application,
        endpoint,
        "CDN endpoints",
        json!({
            "name": text(endpoint, "/custom_domain").or_else(|| text(endpoint, "/endpoint")).or_else(|| name(endpoint)),
            "family": "CDN",
            "endpoint": text(endpoint, "/endpoint"),
            "specs": {
                "origin": endpoint.get("origin"),
                "custom_domain": endpoint.get("custom_domain"),
                "ttl": endpoint.get("ttl"),
                "certificate_id": endpoint.get("certificate_id"),
            },
            "datacenters": placement(None),
        }),
    )
}

/// A cloud firewall, as the other providers' security groups: a network item of type
/// `security-group` whose rules are `{direction, protocol, from_port, to_port, peer_type,
/// peer}`, one per address, droplet, load balancer, tag or Kubernetes cluster a rule
/// allows (inbound rules are `ingress`, outbound ones `egress`).
pub fn firewall(firewall: &Value) -> Result<Observation, CrawlError> {
    let mut rules = firewall_rules(firewall, "inbound_rules", "ingress", "sources");
    rules.extend(firewall_rules(
        firewall,
        "outbound_rules",
        "egress",
        "destinations",
    ));
    // A firewall's `tags` name the droplets it applies to, not tags of its own.
    let firewall = observe(
        Kind::Network,
        firewall,
        "firewalls",
        json!({
            "name": name(firewall),
            "network_type": "security-group",
            "state": text(firewall, "/status"),
            "status": text(firewall, "/status").and_then(|s| firewall_status(&s)),
            "rules": rules,
            "datacenters": placement(None),
        }),
    )?;
    Ok(Observation {
        tags: Default::default(),
        ..firewall
    })
}

/// The kinds of peer a firewall rule names, and what the rule calls each.
const FIREWALL_PEERS: &[(&str, &str)] = &[
    ("addresses", "cidr"),
    ("droplet_ids", "droplet"),
    ("load_balancer_uids", "load-balancer"),
    ("kubernetes_ids", "kubernetes-cluster"),
    ("tags", "tag"),
];

fn firewall_rules(firewall: &Value, key: &str, direction: &str, peers: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for rule in firewall.get(key).and_then(Value::as_array).into_iter().flatten() {
        let (from_port, to_port) = ports(rule.get("ports")).unzip();
        for (list, peer_type) in FIREWALL_PEERS {
            let pointer = format!("/{peers}/{list}");
            for peer in rule
                .pointer(&pointer)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                all.push(json!({
                    "direction": direction,
                    "protocol": rule.get("protocol"),
                    "from_port": from_port,
                    "to_port": to_port,
                    "peer_type": peer_type,
                    "peer": rest::text(Some(peer)),
                }));
            }
        }
    }
    all
}

/// DigitalOcean gives a rule's ports as `"80"`, `80`, `"8000-9000"`, or `"all"`/`"0"`
/// (every port, as for ICMP): the first and last port, or none.
fn ports(ports: Option<&Value>) -> Option<(u16, u16)> {
    let ports = rest::text(ports)?;
    let (from, to) = ports.split_once('-').unwrap_or((ports.as_str(), ports.as_str()));
    let (from, to) = (from.trim().parse().ok()?, to.trim().parse().ok()?);
    (from != 0).then_some((from, to))
}

fn firewall_status(status: &str) -> Option<&'static str> {
    Some(match status {
        "succeeded" => "Active",
        "waiting" => "Pending",
        "failed" => "Error",
        _ => return None,
    })
}

/// A VPC, with its IP range.
pub fn vpc(vpc: &Value) -> Result<Observation, CrawlError> {
    observe(
        Kind::Network,
        vpc,
        "VPCs",
        json!({
            "name": name(vpc),
            "description": text(vpc, "/description"),
            "network_type": "vpc",
            "cidr": text(vpc, "/ip_range"),
            "datacenters": placement(text(vpc, "/region")),
        }),
    )
}

/// A Kubernetes cluster: an application of the ContainerOrchestration family.
pub fn kubernetes_cluster(cluster: &Value) -> Result<Observation, CrawlError> {
    let pools: Vec<Value> = cluster
        .get("node_pools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|pool| json!({"name": pool.get("name"), "size": pool.get("size"), "count": pool.get("count")}))
        .collect();
    observe(
        Kind::Application,
        cluster,
        "kubernetes clusters",
        json!({
            "name": name(cluster),
            "family": "ContainerOrchestration",
            "endpoint": text(cluster, "/endpoint"),
            "status": text(cluster, "/status/state").and_then(|s| lifecycle_status(&s)),
            "specs": {
                "version": cluster.get("version"),
                "cluster_subnet": cluster.get("cluster_subnet"),
                "service_subnet": cluster.get("service_subnet"),
                "vpc_uuid": cluster.get("vpc_uuid"),
                "node_pools": pools,
            },
            "datacenters": placement(text(cluster, "/region")),
        }),
    )
}
