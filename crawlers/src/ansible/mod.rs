//! Ansible facts discovery: the servers and disks that `ansible HOSTS -m setup --tree DIR`
//! describes, one JSON file per host, read from the connection's source (a local file or
//! directory, over SSH, or S3 objects, see [`crate::source`]) or given directly (uploaded
//! files, each named after its host).
//!
//! Tasks: `server-list` (one server per host: hostname ← `ansible_nodename` made a valid
//! host name, ipv4_private ← `ansible_default_ipv4.address`, ipv6_all ←
//! `ansible_all_ipv6_addresses`, cpu ← `ansible_processor_vcpus`, memory (MB) ←
//! `ansible_memtotal_mb`, os ← {base: `ansible_system`, dist: `ansible_distribution`,
//! version: `ansible_distribution_version`}, storage ← `ansible_mounts` and
//! `ansible_devices`) and `volumes` (one per disk of `ansible_devices`, size in GB).
//!
//! A server's provider id is the host's **inventory name** (the name of its file), a
//! volume's `<inventory name>:<disk>`. The inventory name is unique in an inventory by
//! construction, always there, and what operators call the host. `ansible_machine_id`
//! is not used: hosts cloned from one image or containers of one image often share it (two
//! hosts would become one item, the second silently dropped), a reinstall changes it, and
//! hosts without systemd or that are not Linux have none. Renaming a host in the inventory
//! makes it a new item (the old one is orphaned), which is what the inventory then says.

mod facts;
mod map;

use std::time::Duration;

use domain::Kind;
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::source::{Shape, SourceFile};
use crate::{CrawlError, CrawlRequest, Crawled, Observation, Provider, Task};
use facts::Host;

pub struct Ansible;

const READ: &[&str] = &[
    "read access to the facts files written by `ansible HOSTS -m setup --tree DIR` (for S3: s3:ListBucket and s3:GetObject)",
];

const TASKS: &[Task] = &[
    Task {
        name: "server-list",
        kinds: &[Kind::Server],
        every: Duration::from_secs(5 * 60),
        permissions: READ,
    },
    Task {
        name: "volumes",
        kinds: &[Kind::Volume],
        every: Duration::from_secs(6 * 3600),
        permissions: READ,
    },
];

/// The observations of `task` in the hosts' facts.
fn observations(hosts: &[Host], task: &str) -> Result<Vec<Observation>, CrawlError> {
    let mut observations = vec![];
    for host in hosts {
        match task {
            "server-list" => observations.push(map::server(host)?),
            "volumes" => observations.extend(map::volumes(host)?),
            other => {
                return Err(CrawlError::UnknownTask {
                    provider: "ansible",
                    task: other.to_string(),
                    known: "server-list, volumes".into(),
                })
            }
        }
    }
    Ok(observations)
}

impl Provider for Ansible {
    fn name(&self) -> &'static str {
        "ansible"
    }

    fn tasks(&self) -> &'static [Task] {
        TASKS
    }

    fn crawl<'a>(&'a self, request: CrawlRequest<'a>) -> BoxFuture<'a, Result<Vec<Observation>, CrawlError>> {
        crate::source::crawl_from_source(self, request)
    }

    fn file_shape(&self) -> Option<Shape> {
        Some(Shape::FileOrDirectory)
    }

    fn crawl_files<'a>(
        &'a self,
        request: CrawlRequest<'a>,
        files: &'a [SourceFile],
    ) -> BoxFuture<'a, Result<Crawled, CrawlError>> {
        async move {
            let task = self.task(request.task)?;
            let hosts = files.iter().map(Host::parse).collect::<Result<Vec<_>, _>>()?;
            Ok(Crawled {
                observations: observations(&hosts, task.name)?,
                skipped: Default::default(),
            })
        }
        .boxed()
    }
}
