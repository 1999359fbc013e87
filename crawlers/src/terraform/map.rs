//! How each resource type Maestro knows becomes the fields of an item, from the
//! `attributes` its Terraform provider recorded. Absent, null and empty attributes leave
//! the field out, so a crawl never clears what a state does not say.

use domain::{Hostname, Kind, Status};
use serde_json::{json, Map, Value};

/// A resource type Maestro maps, the task that sees it, and how.
pub struct Mapping {
    pub resource_type: &'static str,
    pub task: &'static str,
    pub kind: Kind,
    pub map: fn(&Attributes) -> Map<String, Value>,
}

const fn mapping(
    resource_type: &'static str,
    task: &'static str,
    kind: Kind,
    map: fn(&Attributes) -> Map<String, Value>,
) -> Mapping {
    Mapping {
        resource_type,
        task,
        kind,
        map,
    }
}

/// Every mapped type. `aws_alb` is the AWS provider's other name for `aws_lb`, and
/// `aws_default_vpc` is a region's default VPC adopted by Terraform: both are the same
/// things as their neighbours, under another type name.
pub const MAPPINGS: &[Mapping] = &[
    mapping("aws_instance", "server-list", Kind::Server, aws_instance),
    mapping(
        "google_compute_instance",
        "server-list",
        Kind::Server,
        google_compute_instance,
    ),
    mapping("aws_ebs_volume", "volumes", Kind::Volume, aws_ebs_volume),
    mapping("aws_ebs_snapshot", "snapshots", Kind::Snapshot, aws_ebs_snapshot),
    mapping("aws_lb", "loadbalance", Kind::Application, aws_lb),
    mapping("aws_alb", "loadbalance", Kind::Application, aws_lb),
    mapping("azurerm_lb", "loadbalance", Kind::Application, azurerm_lb),
    mapping(
        "aws_cloudfront_distribution",
        "cdns",
        Kind::Application,
        aws_cloudfront_distribution,
    ),
    mapping("aws_vpc", "network", Kind::Network, aws_vpc),
    mapping("aws_default_vpc", "network", Kind::Network, aws_vpc),
    mapping(
        "aws_dynamodb_table",
        "dynamodb",
        Kind::Application,
        aws_dynamodb_table,
    ),
    mapping("aws_subnet", "network", Kind::Network, aws_subnet),
    mapping("aws_eip", "network", Kind::Network, aws_eip),
    mapping("aws_nat_gateway", "network", Kind::Network, aws_nat_gateway),
    mapping(
        "aws_security_group",
        "security",
        Kind::Network,
        aws_security_group,
    ),
    mapping("aws_db_instance", "dbs", Kind::Application, aws_db_instance),
    mapping(
        "aws_s3_bucket",
        "storage-object",
        Kind::Application,
        aws_s3_bucket,
    ),
    mapping(
        "azurerm_linux_virtual_machine",
        "server-list",
        Kind::Server,
        azurerm_linux_vm,
    ),
    mapping(
        "azurerm_windows_virtual_machine",
        "server-list",
        Kind::Server,
        azurerm_windows_vm,
    ),
    mapping(
        "azurerm_virtual_machine",
        "server-list",
        Kind::Server,
        azurerm_legacy_vm,
    ),
    mapping(
        "azurerm_managed_disk",
        "volumes",
        Kind::Volume,
        azurerm_managed_disk,
    ),
    mapping(
        "azurerm_virtual_network",
        "network",
        Kind::Network,
        azurerm_virtual_network,
    ),
    mapping("azurerm_subnet", "network", Kind::Network, azurerm_subnet),
    mapping(
        "azurerm_network_interface",
        "network",
        Kind::Network,
        azurerm_network_interface,
    ),
    mapping("azurerm_public_ip", "network", Kind::Network, azurerm_public_ip),
    mapping(
        "google_compute_network",
        "network",
        Kind::Network,
        google_compute_network,
    ),
    mapping(
        "google_compute_subnetwork",
        "network",
        Kind::Network,
        google_compute_subnetwork,
    ),
    mapping(
        "google_compute_disk",
        "volumes",
        Kind::Volume,
        google_compute_disk,
    ),
    mapping(
        "digitalocean_droplet",
        "server-list",
        Kind::Server,
        digitalocean_droplet,
    ),
    mapping(
        "digitalocean_volume",
        "volumes",
        Kind::Volume,
        digitalocean_volume,
    ),
    mapping("aws_eks_cluster", "kubernetes", Kind::Application, eks_cluster),
    mapping(
        "azurerm_kubernetes_cluster",
        "kubernetes",
        Kind::Application,
        aks_cluster,
    ),
    mapping(
        "google_container_cluster",
        "kubernetes",
        Kind::Application,
        gke_cluster,
    ),
    mapping(
        "digitalocean_kubernetes_cluster",
        "kubernetes",
        Kind::Application,
        doks_cluster,
    ),
];

/// The mapping of a resource type, if Maestro knows it.
pub fn find(resource_type: &str) -> Option<&'static Mapping> {
    MAPPINGS.iter().find(|m| m.resource_type == resource_type)
}

/// A resource instance's attributes, read leniently: null, empty strings and empty lists
/// count as absent.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a>(pub &'a Map<String, Value>);

impl<'a> Attributes<'a> {
    pub fn text(&self, key: &str) -> Option<&'a str> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// A number; version 3 states write numbers as strings ("8").
    fn number(&self, key: &str) -> Option<u64> {
        match self.0.get(key)? {
            Value::String(text) => text.trim().parse().ok(),
            value => value.as_u64(),
        }
    }

    /// A flag; version 3 states write flags as strings ("true").
    fn flag(&self, key: &str) -> Option<bool> {
        match self.0.get(key)? {
            Value::String(text) => text.trim().parse().ok(),
            value => value.as_bool(),
        }
    }

    /// The objects of a nested block (Terraform records every block as a list).
    fn blocks(&self, key: &str) -> impl Iterator<Item = Attributes<'a>> {
        let items: &'a [Value] = self
            .0
            .get(key)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        items.iter().filter_map(Value::as_object).map(Attributes)
    }

    /// The first object of a nested block: `boot_disk[0]`.
    fn block(&self, key: &str) -> Option<Attributes<'a>> {
        self.blocks(key).next()
    }

    /// The non-empty strings of a list attribute, or nothing when there are none.
    fn texts(&self, key: &str) -> Option<Vec<&'a str>> {
        let items: Vec<&str> = self
            .0
            .get(key)
            .and_then(Value::as_array)?
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .collect();
        (!items.is_empty()).then_some(items)
    }

    /// The resource's tags: AWS `tags_all` (its own `tags` with the provider's default
    /// tags), else `tags` (Azure, DigitalOcean, older AWS providers), and Google `labels`.
    pub fn tags(&self) -> Vec<(String, String)> {
        let aws = ["tags_all", "tags"]
            .iter()
            .find_map(|key| self.0.get(*key)?.as_object());
        aws.into_iter()
            .chain(self.0.get("labels").and_then(Value::as_object))
            .flatten()
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_string())))
            .collect()
    }

    /// The region of an AWS resource: from its ARN, else from its availability zone.
    fn aws_region(&self) -> Option<String> {
        let from_arn = self
            .text("arn")
            .and_then(|arn| arn.split(':').nth(3))
            .filter(|region| !region.is_empty());
        from_arn
            .map(str::to_string)
            .or_else(|| self.text("availability_zone").map(aws_zone_region))
    }
}

/// `eu-west-3b` → `eu-west-3`.
fn aws_zone_region(zone: &str) -> String {
    zone.trim_end_matches(|c: char| c.is_ascii_lowercase())
        .to_string()
}

/// `us-central1-a` → `us-central1`.
fn google_zone_region(zone: &str) -> String {
    zone.rsplit_once('-')
        .map_or(zone, |(region, _)| region)
        .to_string()
}

/// Fields under construction: an absent value adds nothing.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Fields {
    fn put(mut self, key: &str, value: Option<impl Into<Value>>) -> Self {
        if let Some(value) = value {
            self.0.insert(key.to_string(), value.into());
        }
        self
    }

    fn done(self) -> Map<String, Value> {
        self.0
    }
}

/// An object of the values that are present, or nothing when none is.
fn object(entries: &[(&str, Option<Value>)]) -> Option<Value> {
    let map: Map<String, Value> = entries
        .iter()
        .filter_map(|(key, value)| Some((key.to_string(), value.clone()?)))
        .collect();
    (!map.is_empty()).then_some(Value::Object(map))
}

/// Where an item runs: `{provider, region, zone, instance_type, instance_id}`.
fn placement(
    provider: &str,
    region: Option<String>,
    zone: Option<&str>,
    instance_type: Option<&str>,
    instance_id: Option<&str>,
) -> Option<Value> {
    object(&[
        ("provider", Some(json!(provider))),
        ("region", region.map(Value::from)),
        ("zone", zone.map(Value::from)),
        ("instance_type", instance_type.map(Value::from)),
        ("instance_id", instance_id.map(Value::from)),
    ])
}

/// The status of a machine state (`running`, `RUNNING`, `stopped`, …), when Maestro has it.
fn status(raw: Option<&str>) -> Option<String> {
    raw.and_then(|raw| Status::parse(raw).ok())
        .map(|status| status.to_string())
}

/// A disk of a server's `storage`.
fn disk(
    device: Option<&str>,
    size: Option<u64>,
    root: bool,
    extra: &[(&str, Option<Value>)],
) -> Option<Value> {
    let mut entries = vec![
        ("device", device.map(Value::from)),
        ("size", size.map(Value::from)),
        ("root", Some(Value::Bool(root))),
    ];
    entries.extend(extra.iter().cloned());
    object(&entries)
}

/// An AWS block device (`root_block_device`, `ebs_block_device`) as a disk; sizes in GB.
fn aws_disk(device: Attributes, root: bool) -> Option<Value> {
    disk(
        device.text("device_name"),
        device.number("volume_size"),
        root,
        &[
            ("volume_id", device.text("volume_id").map(Value::from)),
            ("volume_type", device.text("volume_type").map(Value::from)),
            ("encrypted", device.flag("encrypted").map(Value::from)),
        ],
    )
}

fn list(values: Vec<Value>) -> Option<Value> {
    (!values.is_empty()).then_some(Value::Array(values))
}

/// The host name of an EC2 instance: the first label of its private DNS name
/// (`ip-172-31-22-12`), else its instance id, which is a valid host name too.
fn aws_hostname<'a>(a: &Attributes<'a>) -> Option<&'a str> {
    a.text("private_dns")
        .and_then(|dns| dns.split('.').next())
        .filter(|label| Hostname::parse(label).is_ok())
        .or_else(|| a.text("id"))
}

fn aws_instance(a: &Attributes) -> Map<String, Value> {
    let cpu = a.number("cpu_core_count").zip(a.number("cpu_threads_per_core"));
    let disks = a
        .blocks("root_block_device")
        .filter_map(|d| aws_disk(d, true))
        .chain(a.blocks("ebs_block_device").filter_map(|d| aws_disk(d, false)))
        .collect();
    Fields::default()
        .put("hostname", aws_hostname(a))
        .put("ipv4_private", a.text("private_ip"))
        .put("ipv4_public", a.text("public_ip"))
        .put("ipv6_all", a.texts("ipv6_addresses"))
        .put("dns_private", a.text("private_dns"))
        .put("dns_public", a.text("public_dns"))
        .put("cpu", cpu.map(|(cores, threads)| cores * threads))
        .put("image", a.text("ami"))
        .put("status", status(a.text("instance_state")))
        .put("storage", list(disks))
        .put(
            "datacenters",
            placement(
                "aws",
                a.aws_region(),
                a.text("availability_zone"),
                a.text("instance_type"),
                a.text("id"),
            ),
        )
        .done()
}

fn google_compute_instance(a: &Attributes) -> Map<String, Value> {
    let nic = a.block("network_interface");
    let boot = a.block("boot_disk");
    let boot_params = boot.and_then(|b| b.block("initialize_params"));
    let boot_disk = boot.and_then(|b| {
        disk(
            b.text("device_name"),
            boot_params.and_then(|p| p.number("size")),
            true,
            &[(
                "volume_type",
                boot_params.and_then(|p| p.text("type")).map(Value::from),
            )],
        )
    });
    let zone = a.text("zone");
    Fields::default()
        .put("hostname", a.text("hostname").or_else(|| a.text("name")))
        .put("name", a.text("name"))
        .put("ipv4_private", nic.and_then(|n| n.text("network_ip")))
        .put(
            "ipv4_public",
            nic.and_then(|n| n.block("access_config"))
                .and_then(|c| c.text("nat_ip")),
        )
        .put("image", boot_params.and_then(|p| p.text("image")))
        .put("status", status(a.text("current_status")))
        .put("storage", boot_disk.map(|disk| vec![disk]))
        .put(
            "datacenters",
            placement(
                "gcp",
                zone.map(google_zone_region),
                zone,
                a.text("machine_type"),
                a.text("instance_id"),
            ),
        )
        .done()
}

fn aws_ebs_volume(a: &Attributes) -> Map<String, Value> {
    Fields::default()
        .put("name", a.text("id"))
        .put("size", a.number("size"))
        .put("volume_type", a.text("type"))
        .put("encrypted", a.flag("encrypted"))
        .put("iops", a.number("iops"))
        .put(
            "datacenters",
            placement("aws", a.aws_region(), a.text("availability_zone"), None, None),
        )
        .done()
}

fn aws_ebs_snapshot(a: &Attributes) -> Map<String, Value> {
    Fields::default()
        .put("name", a.text("id"))
        .put("description", a.text("description"))
        .put("size", a.number("volume_size"))
        .put("encrypted", a.flag("encrypted"))
        .put("volume_id", a.text("volume_id"))
        .put("datacenters", placement("aws", a.aws_region(), None, None, None))
        .done()
}

fn aws_lb(a: &Attributes) -> Map<String, Value> {
    let scheme = a
        .flag("internal")
        .map(|internal| if internal { "internal" } else { "internet-facing" });
    let specs = object(&[
        (
            "load_balancer_type",
            a.text("load_balancer_type").map(Value::from),
        ),
        ("scheme", scheme.map(Value::from)),
        ("ip_address_type", a.text("ip_address_type").map(Value::from)),
        ("vpc_id", a.text("vpc_id").map(Value::from)),
        ("subnets", a.texts("subnets").map(Value::from)),
    ]);
    Fields::default()
        .put("name", a.text("name").or_else(|| a.text("id")))
        .put("family", Some("Loadbalance"))
        .put("endpoint", a.text("dns_name"))
        .put("specs", specs)
        .put("datacenters", placement("aws", a.aws_region(), None, None, None))
        .done()
}

fn azurerm_lb(a: &Attributes) -> Map<String, Value> {
    let specs = object(&[
        ("sku", a.text("sku").map(Value::from)),
        ("resource_group", a.text("resource_group_name").map(Value::from)),
        (
            "private_ip_address",
            a.text("private_ip_address").map(Value::from),
        ),
    ]);
    Fields::default()
        .put("name", a.text("name").or_else(|| a.text("id")))
        .put("family", Some("Loadbalance"))
        .put("specs", specs)
        .put(
            "datacenters",
            placement("azure", a.text("location").map(str::to_string), None, None, None),
        )
        .done()
}

fn aws_cloudfront_distribution(a: &Attributes) -> Map<String, Value> {
    let origins: Vec<Value> = a
        .blocks("origin")
        .filter_map(|origin| origin.text("domain_name"))
        .map(Value::from)
        .collect();
    let specs = object(&[
        ("enabled", a.flag("enabled").map(Value::from)),
        ("price_class", a.text("price_class").map(Value::from)),
        ("http_version", a.text("http_version").map(Value::from)),
        ("aliases", a.texts("aliases").map(Value::from)),
        ("origins", list(origins)),
    ]);
    let name = a
        .text("comment")
        .or_else(|| a.text("domain_name"))
        .or_else(|| a.text("id"));
    Fields::default()
        .put("name", name)
        .put("family", Some("CDN"))
        .put("endpoint", a.text("domain_name"))
        .put("specs", specs)
        // CloudFront is global: no region.
        .put("datacenters", placement("aws", None, None, None, None))
        .done()
}

fn aws_vpc(a: &Attributes) -> Map<String, Value> {
    Fields::default()
        .put("name", a.text("id"))
        .put("network_type", Some("vpc"))
        .put("cidr", a.text("cidr_block"))
        .put("datacenters", placement("aws", a.aws_region(), None, None, None))
        .done()
}

fn aws_dynamodb_table(a: &Attributes) -> Map<String, Value> {
    let specs = object(&[
        ("engine", Some(json!("dynamodb"))),
        ("billing_mode", a.text("billing_mode").map(Value::from)),
        ("hash_key", a.text("hash_key").map(Value::from)),
        ("range_key", a.text("range_key").map(Value::from)),
        ("read_capacity", a.number("read_capacity").map(Value::from)),
        ("write_capacity", a.number("write_capacity").map(Value::from)),
        ("stream_enabled", a.flag("stream_enabled").map(Value::from)),
    ]);
    Fields::default()
        .put("name", a.text("name").or_else(|| a.text("id")))
        .put("family", Some("Database"))
        .put("specs", specs)
        .put("datacenters", placement("aws", a.aws_region(), None, None, None))
        .done()
}

/// A network of `network_type`, named by its `name` or its id.
fn network(
    a: &Attributes,
    network_type: &str,
    cidr: Option<String>,
    datacenters: Option<Value>,
) -> Map<String, Value> {
    Fields::default()
        .put("name", a.text("name").or_else(|| a.text("id")))
        .put("network_type", Some(network_type))
        .put("cidr", cidr)
        .put("description", a.text("description"))
        .put("datacenters", datacenters)
        .done()
}

/// A single address as a network of one host (`10.0.0.4/32`).
fn host_network(address: Option<&str>) -> Option<String> {
    address.and_then(crate::rest::host_cidr)
}

fn aws_network_placement(a: &Attributes) -> Option<Value> {
    placement("aws", a.aws_region(), a.text("availability_zone"), None, None)
}

fn aws_subnet(a: &Attributes) -> Map<String, Value> {
    network(
        a,
        "subnet",
        a.text("cidr_block").map(str::to_string),
        aws_network_placement(a),
    )
}

fn aws_eip(a: &Attributes) -> Map<String, Value> {
    network(
        a,
        "elastic-ip",
        host_network(a.text("public_ip")),
        aws_network_placement(a),
    )
}

fn aws_nat_gateway(a: &Attributes) -> Map<String, Value> {
    network(
        a,
        "nat-gateway",
        host_network(a.text("public_ip")),
        aws_network_placement(a),
    )
}

/// A security group; its `ingress` and `egress` blocks are its rules, one per CIDR block
/// (`{direction, protocol, from_port, to_port, peer_type, peer}`, as the AWS crawler
/// writes them).
fn aws_security_group(a: &Attributes) -> Map<String, Value> {
    let rules: Vec<Value> = ["ingress", "egress"]
        .into_iter()
        .flat_map(|direction| a.blocks(direction).map(move |rule| (direction, rule)))
        .flat_map(|(direction, rule)| {
            let protocol = match rule.text("protocol") {
                Some("-1") | None => "all",
                Some(protocol) => protocol,
            };
            let peers = rule.texts("cidr_blocks").unwrap_or_default();
            peers.into_iter().map(move |peer| {
                json!({"direction": direction, "protocol": protocol, "from_port": rule.number("from_port"),
                       "to_port": rule.number("to_port"), "peer_type": "cidr", "peer": peer})
            })
        })
        .collect();
    let mut fields = network(a, "security-group", None, aws_network_placement(a));
    if let Some(rules) = list(rules) {
        fields.insert("rules".into(), rules);
    }
    fields
}

fn aws_db_instance(a: &Attributes) -> Map<String, Value> {
    let specs = object(&[
        ("engine", a.text("engine").map(Value::from)),
        ("version", a.text("engine_version").map(Value::from)),
        ("instance_class", a.text("instance_class").map(Value::from)),
        ("storage_gb", a.number("allocated_storage").map(Value::from)),
        ("storage_type", a.text("storage_type").map(Value::from)),
        ("storage_encrypted", a.flag("storage_encrypted").map(Value::from)),
        ("multi_az", a.flag("multi_az").map(Value::from)),
    ]);
    Fields::default()
        .put("name", a.text("identifier").or_else(|| a.text("id")))
        .put("family", Some("Database"))
        .put("endpoint", a.text("endpoint"))
        .put("status", status(a.text("status")))
        .put("specs", specs)
        .put(
            "datacenters",
            placement(
                "aws",
                a.aws_region(),
                a.text("availability_zone"),
                a.text("instance_class"),
                None,
            ),
        )
        .done()
}

fn aws_s3_bucket(a: &Attributes) -> Map<String, Value> {
    Fields::default()
        .put("name", a.text("bucket").or_else(|| a.text("id")))
        .put("family", Some("ObjectStorage"))
        .put(
            "endpoint",
            a.text("bucket_regional_domain_name")
                .or_else(|| a.text("bucket_domain_name")),
        )
        .put(
            "datacenters",
            placement("aws", a.text("region").map(str::to_string), None, None, None),
        )
        .done()
}

/// An Azure place: its location written without spaces, in lower case.
fn azure_placement(a: &Attributes, instance_type: Option<&str>) -> Option<Value> {
    let location = a.text("location").map(crate::azure::location);
    let zone = a
        .text("zone")
        .or_else(|| a.texts("zones").and_then(|zones| zones.first().copied()));
    placement(
        "azure",
        location,
        zone,
        instance_type,
        a.text("virtual_machine_id").or_else(|| a.text("vm_id")),
    )
}

/// A server's host name from a free-text name (Azure and DigitalOcean names), made a
/// valid RFC 1123 name.
fn hostname_of(name: Option<&str>) -> Option<String> {
    name.and_then(crate::rest::hostname)
}

fn azurerm_linux_vm(a: &Attributes) -> Map<String, Value> {
    azure_vm(a, "Linux")
}

fn azurerm_windows_vm(a: &Attributes) -> Map<String, Value> {
    azure_vm(a, "Windows")
}

/// The older `azurerm_virtual_machine`: Windows when it has a Windows profile.
fn azurerm_legacy_vm(a: &Attributes) -> Map<String, Value> {
    let windows = a.block("os_profile_windows_config").is_some();
    azure_vm(a, if windows { "Windows" } else { "Linux" })
}

/// An Azure virtual machine, its size `size` (or the older `vm_size`).
fn azure_vm(a: &Attributes, os_base: &str) -> Map<String, Value> {
    let size = a.text("size").or_else(|| a.text("vm_size"));
    Fields::default()
        .put(
            "hostname",
            hostname_of(a.text("computer_name")).or_else(|| hostname_of(a.text("name"))),
        )
        .put("name", a.text("name"))
        .put("ipv4_private", a.text("private_ip_address"))
        .put("ipv4_public", a.text("public_ip_address"))
        .put("os", Some(json!({"base": os_base})))
        .put("datacenters", azure_placement(a, size))
        .done()
}

fn azurerm_managed_disk(a: &Attributes) -> Map<String, Value> {
    Fields::default()
        .put("name", a.text("name").or_else(|| a.text("id")))
        .put("size", a.number("disk_size_gb"))
        .put("volume_type", a.text("storage_account_type"))
        .put("iops", a.number("disk_iops_read_write"))
        .put("datacenters", azure_placement(a, None))
        .done()
}

fn azurerm_virtual_network(a: &Attributes) -> Map<String, Value> {
    let cidr = a
        .texts("address_space")
        .and_then(|spaces| spaces.first().map(|s| s.to_string()));
    network(a, "vnet", cidr, azure_placement(a, None))
}

fn azurerm_subnet(a: &Attributes) -> Map<String, Value> {
    let cidr = a
        .texts("address_prefixes")
        .and_then(|prefixes| prefixes.first().map(|p| p.to_string()))
        .or_else(|| a.text("address_prefix").map(str::to_string));
    network(a, "subnet", cidr, placement("azure", None, None, None, None))
}

fn azurerm_network_interface(a: &Attributes) -> Map<String, Value> {
    let address = a
        .text("private_ip_address")
        .or_else(|| a.block("ip_configuration")?.text("private_ip_address"));
    network(a, "interface", host_network(address), azure_placement(a, None))
}

fn azurerm_public_ip(a: &Attributes) -> Map<String, Value> {
    network(
        a,
        "public-ip",
        host_network(a.text("ip_address")),
        azure_placement(a, None),
    )
}

fn google_compute_network(a: &Attributes) -> Map<String, Value> {
    network(a, "vpc", None, placement("gcp", None, None, None, None))
}

fn google_compute_subnetwork(a: &Attributes) -> Map<String, Value> {
    let region = a.text("region").map(str::to_string);
    network(
        a,
        "subnet",
        a.text("ip_cidr_range").map(str::to_string),
        placement("gcp", region, None, None, None),
    )
}

fn google_compute_disk(a: &Attributes) -> Map<String, Value> {
    let zone = a.text("zone");
    Fields::default()
        .put("name", a.text("name").or_else(|| a.text("id")))
        .put("size", a.number("size"))
        .put("volume_type", a.text("type"))
        .put(
            "datacenters",
            placement("gcp", zone.map(google_zone_region), zone, None, None),
        )
        .done()
}

fn digitalocean_droplet(a: &Attributes) -> Map<String, Value> {
    let region = a.text("region").map(str::to_string);
    Fields::default()
        .put(
            "hostname",
            hostname_of(a.text("name")).or_else(|| a.text("id").map(str::to_string)),
        )
        .put("name", a.text("name"))
        .put("ipv4_public", a.text("ipv4_address"))
        .put("ipv4_private", a.text("ipv4_address_private"))
        .put("cpu", a.number("vcpus"))
        .put("memory", a.number("memory"))
        .put("image", a.text("image"))
        .put("status", status(a.text("status")))
        .put(
            "datacenters",
            placement("digitalocean", region, None, a.text("size"), a.text("id")),
        )
        .done()
}

fn digitalocean_volume(a: &Attributes) -> Map<String, Value> {
    Fields::default()
        .put("name", a.text("name").or_else(|| a.text("id")))
        .put("size", a.number("size"))
        .put("volume_type", a.text("filesystem_type"))
        .put(
            "datacenters",
            placement(
                "digitalocean",
                a.text("region").map(str::to_string),
                None,
                None,
                None,
            ),
        )
        .done()
}

fn eks_cluster(a: &Attributes) -> Map<String, Value> {
    kubernetes_cluster(a, "aws", a.aws_region())
}

fn aks_cluster(a: &Attributes) -> Map<String, Value> {
    kubernetes_cluster(a, "azure", a.text("location").map(crate::azure::location))
}

fn gke_cluster(a: &Attributes) -> Map<String, Value> {
    let location = a.text("location");
    // A zonal cluster's location is a zone (`us-central1-a`), a regional one's a region.
    let region = location.map(|l| {
        if l.matches('-').count() > 1 {
            google_zone_region(l)
        } else {
            l.to_string()
        }
    });
    kubernetes_cluster(a, "gcp", region)
}

fn doks_cluster(a: &Attributes) -> Map<String, Value> {
    kubernetes_cluster(a, "digitalocean", a.text("region").map(str::to_string))
}

/// A managed Kubernetes cluster (EKS, AKS, GKE, DOKS): an application of the
/// ContainerOrchestration family, reached at its API endpoint.
fn kubernetes_cluster(a: &Attributes, provider: &str, region: Option<String>) -> Map<String, Value> {
    let version = ["version", "kubernetes_version", "master_version"]
        .iter()
        .find_map(|key| a.text(key));
    Fields::default()
        .put("name", a.text("name").or_else(|| a.text("id")))
        .put("family", Some("ContainerOrchestration"))
        .put("endpoint", a.text("endpoint").or_else(|| a.text("fqdn")))
        .put("specs", object(&[("version", version.map(Value::from))]))
        .put("datacenters", placement(provider, region, None, None, None))
        .done()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn regions_come_from_the_arn_else_the_zone() {
        let arn =
            attributes(json!({"arn": "arn:aws:ec2:eu-west-3:1:volume/v", "availability_zone": "us-east-1a"}));
        assert_eq!(Attributes(&arn).aws_region().as_deref(), Some("eu-west-3"));
        let zone = attributes(
            json!({"arn": "arn:aws:cloudfront::1:distribution/E", "availability_zone": "us-east-1a"}),
        );
        assert_eq!(Attributes(&zone).aws_region().as_deref(), Some("us-east-1"));
        assert_eq!(google_zone_region("us-central1-a"), "us-central1");
    }

    #[test]
    fn empty_values_leave_fields_out_and_tags_are_read_with_defaults_and_labels() {
        let raw = attributes(json!({"id": "vol-1", "size": 8, "type": "", "iops": null,
            "tags": {"Name": "data"}, "tags_all": {"Name": "data", "team": "ops"}, "labels": {"tier": "db"}}));
        let fields = aws_ebs_volume(&Attributes(&raw));
        assert!(!fields.contains_key("volume_type") && !fields.contains_key("iops"));
        assert_eq!(
            Attributes(&raw).tags(),
            [("Name", "data"), ("team", "ops"), ("tier", "db")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn an_instance_without_private_dns_is_named_by_its_id() {
        let raw = attributes(json!({"id": "i-0abc", "private_dns": ""}));
        assert_eq!(aws_instance(&Attributes(&raw))["hostname"], "i-0abc");
    }

    #[test]
    fn every_task_of_a_mapping_is_a_task_of_the_provider() {
        for mapping in MAPPINGS {
            assert!(
                super::super::TASKS
                    .iter()
                    .any(|task| task.name == mapping.task && task.kinds.contains(&mapping.kind)),
                "{}",
                mapping.resource_type
            );
        }
    }
}
