//! How one host's facts become a server and its disks' volumes.
//!
//! Sizes are in GB of 2³⁰ bytes, rounded, as Ansible prints them (`"256.00 GB"`) and as
//! clouds size their disks.

use std::net::IpAddr;

use domain::{Hostname, Kind};
use serde_json::{json, Map, Value};

use super::facts::{number, Host};
use crate::{CrawlError, Observation};

const GB: u64 = 1 << 30;

/// Block devices that are not disks: loop files, RAM and compressed-RAM disks,
/// device-mapper and RAID volumes (made of disks listed on their own), optical and floppy
/// drives, network block devices.
const NOT_DISKS: &[&str] = &["loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd"];

fn gigabytes(bytes: u64) -> u64 {
    (bytes + GB / 2) / GB
}

/// A valid host name (RFC 1123) made of `raw`: lower case, every other character than
/// letters, digits, dots and dashes becomes a dash, labels lose leading and trailing
/// dashes and are cut to 63 characters, empty labels are dropped. `None` when nothing is
/// left.
pub fn sanitize_hostname(raw: &str) -> Option<String> {
    let lowered: String = raw
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let labels: Vec<String> = lowered
        .split('.')
        .map(|label| {
            let cut: String = label.trim_matches('-').chars().take(63).collect();
            cut.trim_end_matches('-').to_string()
        })
        .filter(|label| !label.is_empty())
        .collect();
    let mut name = String::new();
    for label in labels {
        if name.len() + 1 + label.len() > 253 {
            break;
        }
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(&label);
    }
    Hostname::parse(&name)
        .ok()
        .map(|hostname| hostname.as_str().to_string())
}

/// The host name of a host: its sanitized `ansible_nodename`.
pub fn hostname(host: &Host) -> Result<String, CrawlError> {
    let nodename = host.text("ansible_nodename").unwrap_or_default();
    sanitize_hostname(nodename).ok_or_else(|| {
        host.malformed(format!(
            "ansible_nodename `{nodename}` cannot be made a host name"
        ))
    })
}

/// A disk device of `ansible_devices`.
#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    /// The kernel's name: `vda`, `sda`, `nvme0n1`.
    pub name: String,
    pub bytes: u64,
    /// Its partitions' names: `sda1`, …
    pub partitions: Vec<String>,
}

impl Disk {
    pub fn device(&self) -> String {
        format!("/dev/{}", self.name)
    }

    /// Whether `device` (from `ansible_mounts`) is this disk or one of its partitions.
    fn holds(&self, device: &str) -> bool {
        let name = device.strip_prefix("/dev/").unwrap_or(device);
        name == self.name || self.partitions.iter().any(|partition| partition == name)
    }
}

/// The host's disks with a size, by name.
pub fn disks(host: &Host) -> Vec<Disk> {
    let Some(devices) = host.object("ansible_devices") else {
        return vec![];
    };
    let mut disks: Vec<Disk> = devices
        .iter()
        .filter(|(name, _)| !NOT_DISKS.iter().any(|prefix| name.starts_with(prefix)))
        .filter_map(|(name, device)| {
            let sectors = device.get("sectors").and_then(number)?;
            let sector_size = device.get("sectorsize").and_then(number)?;
            let partitions = device
                .get("partitions")
                .and_then(Value::as_object)
                .map(|partitions| partitions.keys().cloned().collect())
                .unwrap_or_default();
            Some(Disk {
                name: name.clone(),
                bytes: sectors * sector_size,
                partitions,
            })
        })
        .filter(|disk| disk.bytes > 0)
        .collect();
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    disks
}

/// `storage`: every mounted file system (device, size, mount, fstype, whether it is the
/// root), then the disks none of whose file systems is mounted (device, size).
fn storage(host: &Host, disks: &[Disk]) -> Vec<Value> {
    let mounts: Vec<&Map<String, Value>> = host
        .list("ansible_mounts")
        .iter()
        .filter_map(Value::as_object)
        .filter(|mount| mount.get("mount").and_then(Value::as_str).is_some())
        .collect();
    let mounted_devices: Vec<&str> = mounts
        .iter()
        .filter_map(|mount| mount.get("device").and_then(Value::as_str))
        .collect();
    let file_systems = mounts.iter().map(|mount| {
        let size = mount.get("size_total").and_then(number).map(gigabytes);
        without_nulls(json!({
            "device": mount.get("device"),
            "size": size,
            "mount": mount.get("mount"),
            "fstype": mount.get("fstype"),
            "root": mount.get("mount").and_then(Value::as_str) == Some("/"),
        }))
    });
    let unmounted = disks
        .iter()
        .filter(|disk| !mounted_devices.iter().any(|device| disk.holds(device)))
        .map(|disk| json!({"device": disk.device(), "size": gigabytes(disk.bytes)}));
    file_systems.chain(unmounted).collect()
}

/// An object without its null values: what Ansible did not say is left out.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// The server a host is, with its provider id: the inventory name.
pub fn server(host: &Host) -> Result<Observation, CrawlError> {
    let mut fields = Map::new();
    fields.insert("hostname".into(), hostname(host)?.into());
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            fields.insert(key.to_string(), value);
        }
    };
    let default_ipv4 = host.object("ansible_default_ipv4");
    put(
        "ipv4_private",
        default_ipv4
            .and_then(|ip| ip.get("address"))
            .filter(|a| a.is_string())
            .cloned(),
    );
    let ipv6: Vec<Value> = host
        .list("ansible_all_ipv6_addresses")
        .iter()
        .filter_map(Value::as_str)
        .filter(|address| address.parse::<IpAddr>().is_ok())
        .map(Value::from)
        .collect();
    put("ipv6_all", (!ipv6.is_empty()).then_some(Value::Array(ipv6)));
    put("cpu", host.number("ansible_processor_vcpus").map(Value::from));
    put("memory", host.number("ansible_memtotal_mb").map(Value::from));
    let os: Map<String, Value> = [
        ("base", "ansible_system"),
        ("dist", "ansible_distribution"),
        ("version", "ansible_distribution_version"),
    ]
    .into_iter()
    .filter_map(|(key, fact)| Some((key.to_string(), Value::from(host.text(fact)?))))
    .collect();
    put("os", (!os.is_empty()).then_some(Value::Object(os)));
    let storage = storage(host, &disks(host));
    put("storage", (!storage.is_empty()).then_some(Value::Array(storage)));
    Ok(Observation::new(
        Kind::Server,
        host.inventory_name.clone(),
        fields,
    ))
}

/// The volumes of a host's disks, with their provider ids: `<inventory name>:<disk>`.
pub fn volumes(host: &Host) -> Result<Vec<Observation>, CrawlError> {
    let hostname = hostname(host)?;
    Ok(disks(host)
        .into_iter()
        .map(|disk| {
            let mut fields = Map::new();
            fields.insert("name".into(), format!("{hostname}:{}", disk.device()).into());
            fields.insert("size".into(), gigabytes(disk.bytes).into());
            Observation::new(
                Kind::Volume,
                format!("{}:{}", host.inventory_name, disk.name),
                fields,
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(facts: Value) -> Host {
        Host {
            inventory_name: "db-1".into(),
            origin: "/tree/db-1".into(),
            facts: facts.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn node_names_become_valid_host_names() {
        assert_eq!(
            sanitize_hostname("Web_01.Example.COM."),
            Some("web-01.example.com".into())
        );
        assert_eq!(sanitize_hostname("-my host-"), Some("my-host".into()));
        assert_eq!(sanitize_hostname("a..b"), Some("a.b".into()));
        assert_eq!(sanitize_hostname(&"x".repeat(70)), Some("x".repeat(63)));
        assert_eq!(sanitize_hostname("__"), None);
        let long = vec!["y".repeat(63); 5].join(".");
        assert!(sanitize_hostname(&long).unwrap().len() <= 253);
    }

    #[test]
    fn disks_become_volumes_and_unmounted_storage_and_mounts_keep_their_file_system() {
        let facts = json!({
            "ansible_nodename": "DB_1",
            "ansible_devices": {
                "sda": {"sectors": "41943040", "sectorsize": 512, "partitions": {"sda1": {}}},
                "sdb": {"sectors": 209715200, "sectorsize": "512", "partitions": {}},
                "loop0": {"sectors": 1024, "sectorsize": 512},
                "sr0": {"sectors": 0, "sectorsize": 2048},
            },
            "ansible_mounts": [{"device": "/dev/sda1", "mount": "/", "fstype": "xfs", "size_total": 21_474_836_480u64}],
        });
        let host = host(facts);
        let volumes = volumes(&host).unwrap();
        let expected = [
            (
                "db-1:sda".to_string(),
                json!({"name": "db-1:/dev/sda", "size": 20}),
            ),
            (
                "db-1:sdb".to_string(),
                json!({"name": "db-1:/dev/sdb", "size": 100}),
            ),
        ];
        let volumes: Vec<(String, Value)> = volumes
            .into_iter()
            .map(|volume| (volume.provider_id, Value::Object(volume.fields)))
            .collect();
        assert_eq!(volumes, expected);
        let server = server(&host).unwrap().fields;
        assert_eq!(server["hostname"], "db-1");
        assert_eq!(
            server["storage"],
            json!([
                {"device": "/dev/sda1", "size": 20, "mount": "/", "fstype": "xfs", "root": true},
                {"device": "/dev/sdb", "size": 100},
            ])
        );
    }

    #[test]
    fn a_node_name_that_cannot_be_a_host_name_says_so() {
        let error = server(&host(json!({"ansible_nodename": "___"}))).unwrap_err();
        assert!(
            error.to_string().contains("host db-1: ansible_nodename `___`"),
            "{error}"
        );
    }
}
