//! Azure resources as observations: virtual machines (with the addresses of their network
//! interfaces and public IPs, and the cores and memory of their size), managed disks,
//! snapshots, images, virtual networks with their subnets, and route tables.
//!
//! Provider ids are resource ids in lower case: Azure treats them case-insensitively and
//! returns the same resource's id in different cases from different APIs
//! (`resourceGroups`/`resourcegroups`), which must not make it a new item.

use std::collections::HashMap;

use domain::Kind;
use serde_json::{json, Value};

use crate::rest::{self, Addresses};
use crate::{CrawlError, Observation};

/// A resource id in its canonical form: lower case, with its leading `/`.
pub fn resource_id(raw: &str) -> String {
    let id = raw.trim().to_ascii_lowercase();
    if id.starts_with('/') {
        id
    } else {
        format!("/{id}")
    }
}

/// A location in its canonical form: `West US` and `westus` are one place.
pub fn location(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

fn text(item: &Value, pointer: &str) -> Option<String> {
    rest::text(item.pointer(pointer))
}

/// The last segment of a resource id: a resource's name when the answer omits `name`.
fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn observe(kind: Kind, item: &Value, what: &str, fields: Value) -> Result<Observation, CrawlError> {
    let id = rest::id(item, "id", what)?;
    let mut fields = rest::fields(fields);
    fields
        .entry("name")
        .or_insert_with(|| Value::String(last_segment(&id).to_string()));
    Ok(Observation::new(kind, resource_id(&id), fields).tagged_from(item.get("tags")))
}

/// Where a resource is: its location (canonical) and first availability zone.
fn placement(resource: &Value) -> Value {
    json!({
        "provider": "azure",
        "region": text(resource, "/location").map(|l| location(&l)),
        "zone": text(resource, "/zones/0"),
    })
}

/// Resources whose state is only their provisioning state, in Maestro's words.
fn provisioning_status(state: &str, ready: &'static str) -> Option<&'static str> {
    Some(match state.to_ascii_lowercase().as_str() {
        "succeeded" | "created" => ready,
        "creating" | "updating" | "migrating" | "accepted" => "Pending",
        "failed" | "canceled" => "Error",
        "deleting" | "deleted" => "Terminated",
        _ => return None,
    })
}

/// The network interfaces and public IP addresses of a subscription, by resource id, to
/// give each virtual machine its addresses.
#[derive(Default)]
pub struct Network {
    interfaces: HashMap<String, Value>,
    public_ips: HashMap<String, Value>,
}

impl Network {
    pub fn new(interfaces: Vec<Value>, public_ips: Vec<Value>) -> Network {
        let by_id = |items: Vec<Value>| -> HashMap<String, Value> {
            items
                .into_iter()
                .filter_map(|item| Some((resource_id(item.get("id")?.as_str()?), item)))
                .collect()
        };
        Network {
            interfaces: by_id(interfaces),
            public_ips: by_id(public_ips),
        }
    }

    /// The interfaces a virtual machine names, its primary one first.
    fn interfaces_of(&self, vm: &Value) -> Vec<&Value> {
        let mut refs: Vec<&Value> = vm
            .pointer("/properties/networkProfile/networkInterfaces")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        refs.sort_by_key(|r| r.pointer("/properties/primary").and_then(Value::as_bool) != Some(true));
        refs.iter()
            .filter_map(|r| r.get("id").and_then(Value::as_str))
            .filter_map(|id| self.interfaces.get(&resource_id(id)))
            .collect()
    }

    /// Private addresses of the machine's interfaces, and the public IPs bound to them;
    /// the public IP's DNS name, and the interface's internal DNS suffix.
    fn addresses(&self, vm: &Value) -> (Addresses, Option<String>, Option<String>) {
        let mut addresses = Addresses::default();
        let (mut dns_public, mut dns_suffix) = (None, None);
        for interface in self.interfaces_of(vm) {
            dns_suffix =
                dns_suffix.or_else(|| text(interface, "/properties/dnsSettings/internalDomainNameSuffix"));
            let configurations = interface
                .pointer("/properties/ipConfigurations")
                .and_then(Value::as_array);
            for configuration in configurations.into_iter().flatten() {
                if let Some(ip) = configuration
                    .pointer("/properties/privateIPAddress")
                    .and_then(Value::as_str)
                {
                    addresses.add(ip, false);
                }
                let public = configuration
                    .pointer("/properties/publicIPAddress/id")
                    .and_then(Value::as_str)
                    .and_then(|id| self.public_ips.get(&resource_id(id)));
                if let Some(public) = public {
                    if let Some(ip) = public.pointer("/properties/ipAddress").and_then(Value::as_str) {
                        addresses.add(ip, true);
                    }
                    dns_public = dns_public.or_else(|| text(public, "/properties/dnsSettings/fqdn"));
                }
            }
        }
        (addresses, dns_public, dns_suffix)
    }
}

/// The virtual machine sizes of the crawled locations: cores and memory (MB) by size
/// name. Size names are compared without case (`Standard_A1_V2`, `Standard_A1_v2`).
#[derive(Default)]
pub struct Sizes(HashMap<String, (Value, Value)>);

impl Sizes {
    pub fn new(sizes: impl IntoIterator<Item = Value>) -> Sizes {
        let sizes = sizes.into_iter().filter_map(|size| {
            let name = size.get("name")?.as_str()?.to_ascii_lowercase();
            let cores = size.get("numberOfCores").cloned().unwrap_or_default();
            let memory = size.get("memoryInMB").cloned().unwrap_or_default();
            Some((name, (cores, memory)))
        });
        Sizes(sizes.collect())
    }

    /// Cores and memory of a size; nulls for a size the lists do not have.
    fn of(&self, size: Option<&str>) -> (Value, Value) {
        size.and_then(|size| self.0.get(&size.to_ascii_lowercase()))
            .cloned()
            .unwrap_or_default()
    }
}

/// A virtual machine: size (with its cores and memory), OS, disks and, through its
/// interfaces, its addresses.
pub fn virtual_machine(vm: &Value, network: &Network, sizes: &Sizes) -> Result<Observation, CrawlError> {
    let id = rest::id(vm, "id", "virtual machines")?;
    let properties = vm.get("properties").cloned().unwrap_or_default();
    // The host name is the OS's computer name, else the resource name (taken from the id
    // when the answer has none), made a valid RFC 1123 name: VM names may hold characters
    // a host name cannot ("{virtualMachineName}" in Azure's own examples).
    let hostname = text(&properties, "/osProfile/computerName")
        .or_else(|| text(vm, "/name"))
        .and_then(|name| rest::hostname(&name))
        .or_else(|| rest::hostname(last_segment(&id)))
        .unwrap_or_else(|| "vm".to_string());
    let (addresses, dns_public, dns_suffix) = network.addresses(vm);
    let size = text(&properties, "/hardwareProfile/vmSize");
    let (cpu, memory) = sizes.of(size.as_deref());
    let image = properties
        .pointer("/storageProfile/imageReference")
        .cloned()
        .unwrap_or_default();
    let mut fields = rest::fields(json!({
        "hostname": hostname,
        "name": text(vm, "/name").unwrap_or_else(|| last_segment(&id).to_string()),
        "status": vm_status(&properties),
        "cpu": cpu,
        "memory": memory,
        "os": {
            "base": text(&properties, "/storageProfile/osDisk/osType"),
            "dist": text(&image, "/offer"),
            "version": text(&image, "/sku"),
        },
        "image": image_name(&image),
        "storage": storage(&properties),
        "auth": auth(&properties),
        "dns_public": dns_public,
        "dns_private": dns_suffix.map(|suffix| format!("{hostname}.{suffix}")),
        "datacenters": {
            "provider": "azure",
            "region": text(vm, "/location").map(|l| location(&l)),
            "zone": text(vm, "/zones/0"),
            "instance_type": size,
            "instance_id": text(&properties, "/vmId"),
        },
    }));
    addresses.write(&mut fields);
    Ok(Observation::new(Kind::Server, resource_id(&id), fields).tagged_from(vm.get("tags")))
}

/// The power state when the answer has the instance view, else the provisioning state
/// (provisioned is `Active`: running or not is not known then).
fn vm_status(properties: &Value) -> Option<&'static str> {
    let statuses = properties
        .pointer("/instanceView/statuses")
        .and_then(Value::as_array);
    let power = statuses
        .into_iter()
        .flatten()
        .filter_map(|status| status.get("code").and_then(Value::as_str))
        .find_map(|code| code.strip_prefix("PowerState/"));
    if let Some(power) = power {
        return Some(match power {
            "running" => "Running",
            "stopped" | "deallocated" => "Stopped",
            "starting" | "stopping" | "deallocating" => "Pending",
            _ => return None,
        });
    }
    provisioning_status(&text(properties, "/provisioningState")?, "Active")
}

/// A marketplace image as `publisher:offer:sku:version`, or a custom image's id.
fn image_name(image: &Value) -> Option<String> {
    let parts: Option<Vec<String>> = ["/publisher", "/offer", "/sku", "/version"]
        .iter()
        .map(|key| text(image, key))
        .collect();
    parts
        .map(|parts| parts.join(":"))
        .or_else(|| text(image, "/id").map(|id| resource_id(&id)))
}

/// The OS disk, then the data disks: name, size (GB), managed disk id; none when the
/// answer has no storage profile.
fn storage(properties: &Value) -> Option<Value> {
    properties.get("storageProfile")?;
    let disk = |disk: &Value, device: String, root: bool| {
        json!({
            "device": device,
            "name": disk.get("name"),
            "size": disk.get("diskSizeGB"),
            "root": root,
            "volume_id": text(disk, "/managedDisk/id").map(|id| resource_id(&id)),
        })
    };
    let os = properties
        .pointer("/storageProfile/osDisk")
        .map(|os| disk(os, "os".into(), true));
    let data = properties
        .pointer("/storageProfile/dataDisks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| disk(d, format!("lun{}", text(d, "/lun").unwrap_or_default()), false));
    Some(os.into_iter().chain(data).collect())
}

/// How people sign in: the admin user, by password (Windows, or Linux that allows it) or by key.
fn auth(properties: &Value) -> Option<Value> {
    let username = text(properties, "/osProfile/adminUsername")?;
    let keys_only = properties
        .pointer("/osProfile/linuxConfiguration/disablePasswordAuthentication")
        .and_then(Value::as_bool)
        == Some(true);
    let kind = if keys_only { "PKI" } else { "Password" };
    Some(json!([{"type": kind, "username": username}]))
}

/// Whether a disk or snapshot is encrypted: Azure Disk Encryption, or encryption at rest
/// (which managed disks always have, with platform or customer keys).
fn encrypted(properties: &Value) -> Option<bool> {
    let disk_encryption = properties
        .pointer("/encryptionSettingsCollection/enabled")
        .and_then(Value::as_bool);
    let at_rest = properties.pointer("/encryption/type").map(|_| true);
    match (disk_encryption, at_rest) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), None) => Some(false),
        _ => None,
    }
}

/// A managed disk as a volume; size in GB.
pub fn disk(disk: &Value) -> Result<Observation, CrawlError> {
    let properties = disk.get("properties").cloned().unwrap_or_default();
    let disk_state = text(&properties, "/diskState");
    let provisioning = text(&properties, "/provisioningState");
    let status = match disk_state.as_deref() {
        Some("Attached" | "Reserved" | "ActiveSAS" | "ActiveSASFrozen") => Some("In-use"),
        Some("Unattached") => Some("Available"),
        Some("ReadyToUpload" | "ActiveUpload") => Some("Pending"),
        _ => provisioning
            .as_deref()
            .and_then(|s| provisioning_status(s, "Available")),
    };
    observe(
        Kind::Volume,
        disk,
        "disks",
        json!({
            "name": text(disk, "/name"),
            "size": properties.get("diskSizeGB"),
            "state": disk_state.or(provisioning),
            "status": status,
            "volume_type": text(disk, "/sku/name"),
            "encrypted": encrypted(&properties),
            "iops": properties.get("diskIOPSReadWrite"),
            "datacenters": placement(disk),
        }),
    )
}

/// A snapshot; its volume is the managed disk it was taken from (a copy of another
/// snapshot or an import from a blob has none).
pub fn snapshot(snapshot: &Value) -> Result<Observation, CrawlError> {
    let properties = snapshot.get("properties").cloned().unwrap_or_default();
    let provisioning = text(&properties, "/provisioningState");
    let source_disk = text(&properties, "/creationData/sourceResourceId")
        .map(|id| resource_id(&id))
        .filter(|id| id.contains("/providers/microsoft.compute/disks/"));
    observe(
        Kind::Snapshot,
        snapshot,
        "snapshots",
        json!({
            "name": text(snapshot, "/name"),
            "size": properties.get("diskSizeGB"),
            "state": provisioning,
            "status": provisioning.as_deref().and_then(|s| provisioning_status(s, "Available")),
            "encrypted": encrypted(&properties),
            "volume_id": source_disk,
            "datacenters": placement(snapshot),
        }),
    )
}

/// A custom image: its OS is its platform; size is the OS disk's when given.
pub fn image(image: &Value) -> Result<Observation, CrawlError> {
    let properties = image.get("properties").cloned().unwrap_or_default();
    let provisioning = text(&properties, "/provisioningState");
    observe(
        Kind::Image,
        image,
        "images",
        json!({
            "name": text(image, "/name"),
            "size": properties.pointer("/storageProfile/osDisk/diskSizeGB"),
            "state": provisioning,
            "status": provisioning.as_deref().and_then(|s| provisioning_status(s, "Available")),
            "platform": text(&properties, "/storageProfile/osDisk/osType"),
            "datacenters": placement(image),
        }),
    )
}

/// A virtual network, then each of its subnets (named `vnet/subnet`, since every network
/// has its `default`), all as network items.
pub fn virtual_network(network: &Value) -> Result<Vec<Observation>, CrawlError> {
    let prefixes: Vec<String> = network
        .pointer("/properties/addressSpace/addressPrefixes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|prefix| prefix.as_str().map(str::to_string))
        .collect();
    let provisioning = text(network, "/properties/provisioningState");
    let mut observations = vec![observe(
        Kind::Network,
        network,
        "virtual networks",
        json!({
            "name": text(network, "/name"),
            "network_type": "virtual-network",
            "cidr": prefixes.first(),
            // A network with several address ranges: the first is its CIDR, all are told.
            "description": (prefixes.len() > 1).then(|| format!("address space {}", prefixes.join(", "))),
            "state": provisioning,
            "status": provisioning.as_deref().and_then(|s| provisioning_status(s, "Active")),
            "datacenters": placement(network),
        }),
    )?];
    let network_name = text(network, "/name");
    let subnets = network.pointer("/properties/subnets").and_then(Value::as_array);
    for subnet in subnets.into_iter().flatten() {
        let provisioning = text(subnet, "/properties/provisioningState");
        let name = match (&network_name, text(subnet, "/name")) {
            (Some(network), Some(subnet)) => Some(format!("{network}/{subnet}")),
            (_, subnet) => subnet,
        };
        observations.push(observe(
            Kind::Network,
            subnet,
            "subnets",
            json!({
                "name": name,
                "network_type": "subnet",
                "cidr": text(subnet, "/properties/addressPrefix").or_else(|| text(subnet, "/properties/addressPrefixes/0")),
                "state": provisioning,
                "status": provisioning.as_deref().and_then(|s| provisioning_status(s, "Active")),
                "datacenters": placement(network),
            }),
        )?);
    }
    Ok(observations)
}

/// A route table: a network item whose rules are its routes.
pub fn route_table(table: &Value) -> Result<Observation, CrawlError> {
    let routes: Vec<Value> = table
        .pointer("/properties/routes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|route| {
            json!({
                "name": route.get("name"),
                "address_prefix": route.pointer("/properties/addressPrefix"),
                "next_hop_type": route.pointer("/properties/nextHopType"),
                "next_hop_ip": route.pointer("/properties/nextHopIpAddress"),
            })
        })
        .collect();
    let provisioning = text(table, "/properties/provisioningState");
    observe(
        Kind::Network,
        table,
        "route tables",
        json!({
            "name": text(table, "/name"),
            "network_type": "route-table",
            "state": provisioning,
            "status": provisioning.as_deref().and_then(|s| provisioning_status(s, "Active")),
            "rules": routes,
            "datacenters": placement(table),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_locations_are_canonical() {
        assert_eq!(
            resource_id("subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/disks/D"),
            "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/disks/d"
        );
        assert_eq!(location("West US"), "westus");
    }

    #[test]
    fn the_power_state_wins_over_the_provisioning_state() {
        let running = json!({"provisioningState": "Succeeded", "instanceView": {"statuses": [
            {"code": "ProvisioningState/succeeded"}, {"code": "PowerState/deallocated"}]}});
        assert_eq!(vm_status(&running), Some("Stopped"));
        assert_eq!(
            vm_status(&json!({"provisioningState": "Succeeded"})),
            Some("Active")
        );
        assert_eq!(vm_status(&json!({})), None);
    }

    #[test]
    fn linux_machines_without_passwords_sign_in_by_key() {
        let properties = json!({"osProfile": {"adminUsername": "ops", "linuxConfiguration": {"disablePasswordAuthentication": true}}});
        assert_eq!(
            auth(&properties),
            Some(json!([{"type": "PKI", "username": "ops"}]))
        );
    }
}
