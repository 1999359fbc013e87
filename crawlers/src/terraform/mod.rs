//! Terraform state discovery: the resources a state file (format version 4, or 3) records, by
//! type, from their `attributes`. The state is read from the connection's source (a local
//! path, over SSH or from S3, see [`crate::source`]) or given directly (an upload); one
//! connection is one state.
//!
//! Each task sees a family of resource types, listed with how each is read in
//! [`map::MAPPINGS`]: servers of AWS, Azure, GCP and DigitalOcean, their volumes and
//! snapshots, networks (VPCs, subnets, interfaces, public addresses, NAT gateways),
//! security groups, load balancers, CDNs, databases, buckets and Kubernetes clusters.
//! An item's provider id is the resource's `attributes.id`, which reconciliation scopes
//! by the connection.
//!
//! Types Maestro does not map and data sources (`mode: data`, which Terraform reads but
//! does not manage) are skipped and counted, never errors. A state that cannot be read
//! fails the crawl as a whole: half a state would orphan the other half.

mod legacy;
mod map;
mod state;

use std::collections::BTreeMap;
use std::time::Duration;

use domain::Kind;
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::source::{Shape, SourceFile};
use crate::{CrawlError, CrawlRequest, Crawled, Observation, Provider, Task};
use map::Attributes;
use state::State;

pub struct Terraform;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

const READ: &[&str] = &[
    "read access to the state file (locally, over SSH as the connection's user, or s3:GetObject on its S3 object)",
];

const fn task(name: &'static str, kinds: &'static [Kind], every_seconds: u64) -> Task {
    Task {
        name,
        kinds,
        every: Duration::from_secs(every_seconds),
        permissions: READ,
    }
}

/// The tasks, with the default schedule windows of their families.
const TASKS: &[Task] = &[
    task("server-list", &[Kind::Server], 5 * MINUTE),
    task("volumes", &[Kind::Volume], 6 * HOUR),
    task("snapshots", &[Kind::Snapshot], 14 * DAY),
    task("loadbalance", &[Kind::Application], 6 * HOUR),
    task("cdns", &[Kind::Application], 5 * DAY),
    task("network", &[Kind::Network], 7 * DAY),
    task("dynamodb", &[Kind::Application], 3 * DAY),
    task("security", &[Kind::Network], DAY),
    task("dbs", &[Kind::Application], 3 * DAY),
    task("storage-object", &[Kind::Application], 7 * DAY),
    task("kubernetes", &[Kind::Application], DAY),
];

/// What one task found in a state.
#[derive(Debug, Default, PartialEq)]
pub struct Mapped {
    pub observations: Vec<Observation>,
    /// Managed resources of types Maestro does not map, by type.
    pub unknown: BTreeMap<String, usize>,
    /// Data sources: read by Terraform, managed elsewhere.
    pub data_sources: usize,
}

/// The observations of `task` in a parsed state read from `file`.
pub fn observations(state: &State, task: &str, file: &str) -> Result<Mapped, CrawlError> {
    let mut mapped = Mapped::default();
    for resource in &state.resources {
        if !resource.is_managed() {
            mapped.data_sources += resource.instances.len();
            continue;
        }
        let Some(mapping) = map::find(&resource.resource_type) else {
            *mapped.unknown.entry(resource.resource_type.clone()).or_default() += resource.instances.len();
            continue;
        };
        if mapping.task != task {
            continue;
        }
        for (index, instance) in resource.instances.iter().enumerate() {
            let missing = |what: &str| {
                CrawlError::File(format!(
                    "Terraform state {file}: {} instance {index} has no {what}",
                    resource.address()
                ))
            };
            let attributes = Attributes(
                instance
                    .attributes
                    .as_ref()
                    .ok_or_else(|| missing("`attributes`"))?,
            );
            let provider_id = attributes.text("id").ok_or_else(|| missing("`attributes.id`"))?;
            mapped.observations.push(
                Observation::new(mapping.kind, provider_id, (mapping.map)(&attributes))
                    .tagged(attributes.tags()),
            );
        }
    }
    Ok(mapped)
}

/// How the skipped data sources are counted: Terraform reads them, and manages them
/// elsewhere.
const DATA_SOURCES: &str = "data sources";

/// The connection option that accepts a state without resources.
const ACCEPT_EMPTY: &str = "accept_empty_state";

/// A state without a single managed resource would orphan everything the connection
/// found: more often a wrong path, a fresh workspace or a failed `terraform state pull`
/// than infrastructure that is really gone. It is refused unless the connection says it
/// accepts one.
fn refuse_empty(state: &State, file: &str, request: &CrawlRequest<'_>) -> Result<(), CrawlError> {
    let accepted = request
        .options
        .get(ACCEPT_EMPTY)
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    if accepted || state.resources.iter().any(|resource| resource.is_managed()) {
        return Ok(());
    }
    Err(CrawlError::File(format!(
        "Terraform state {file} holds no managed resource, and crawling it would orphan everything this \
         connection found; check that it is the right state, or, when the infrastructure is really gone, set \
         the connection option `{ACCEPT_EMPTY}: true`"
    )))
}

impl Provider for Terraform {
    fn name(&self) -> &'static str {
        "terraform"
    }

    fn tasks(&self) -> &'static [Task] {
        TASKS
    }

    fn crawl<'a>(&'a self, request: CrawlRequest<'a>) -> BoxFuture<'a, Result<Vec<Observation>, CrawlError>> {
        crate::source::crawl_from_source(self, request)
    }

    fn file_shape(&self) -> Option<Shape> {
        Some(Shape::File)
    }

    fn crawl_files<'a>(
        &'a self,
        request: CrawlRequest<'a>,
        files: &'a [SourceFile],
    ) -> BoxFuture<'a, Result<Crawled, CrawlError>> {
        async move {
            let task = self.task(request.task)?;
            let file = files
                .first()
                .ok_or_else(|| CrawlError::Settings("path".into(), "no state file was read".into()))?;
            let state = state::parse(&file.origin, &file.text)?;
            refuse_empty(&state, &file.origin, &request)?;
            let mapped = observations(&state, task.name, &file.origin)?;
            let mut skipped = mapped.unknown;
            if mapped.data_sources > 0 {
                skipped.insert(DATA_SOURCES.into(), mapped.data_sources);
            }
            Ok(Crawled {
                observations: mapped.observations,
                skipped,
            })
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use domain::Fields;
    use serde_json::json;

    use super::*;

    fn crawl_text(text: &str, task: &str) -> Mapped {
        observations(&state::parse("test.tfstate", text).unwrap(), task, "test.tfstate").unwrap()
    }

    #[test]
    fn unknown_types_and_data_sources_are_counted_not_errors() {
        let text = json!({"version": 4, "resources": [
            {"mode": "managed", "type": "aws_volume_attachment", "name": "a", "instances": [{"attributes": {"id": "a"}}, {"attributes": {"id": "b"}}]},
            {"mode": "data", "type": "aws_instance", "name": "d", "instances": [{"attributes": {"id": "i-9"}}]},
            {"mode": "managed", "type": "aws_instance", "name": "web", "instances": [{"attributes": {"id": "i-1", "private_ip": "10.0.0.1"}}]},
        ]})
        .to_string();
        let mapped = crawl_text(&text, "server-list");
        assert_eq!(
            mapped.unknown,
            BTreeMap::from([("aws_volume_attachment".to_string(), 2)])
        );
        assert_eq!(mapped.data_sources, 1);
        assert_eq!(mapped.observations.len(), 1);
        assert_eq!(mapped.observations[0].provider_id, "i-1");
        assert!(crawl_text(&text, "volumes").observations.is_empty());
    }

    #[test]
    fn every_instance_of_a_counted_resource_is_an_item() {
        let text = json!({"version": 4, "resources": [{"mode": "managed", "module": "module.db", "type": "aws_ebs_volume", "name": "data",
            "instances": [{"index_key": 0, "attributes": {"id": "vol-0", "size": 10}}, {"index_key": 1, "attributes": {"id": "vol-1", "size": 20}}]}]})
        .to_string();
        let mapped = crawl_text(&text, "volumes");
        let seen: Vec<(&str, &serde_json::Value)> = mapped
            .observations
            .iter()
            .map(|o| (o.provider_id.as_str(), &o.fields["size"]))
            .collect();
        assert_eq!(seen, [("vol-0", &json!(10)), ("vol-1", &json!(20))]);
        for observation in &mapped.observations {
            Fields::parse(observation.kind, &observation.fields).unwrap();
        }
    }

    #[test]
    fn a_mapped_instance_without_an_id_fails_the_whole_crawl() {
        let text = json!({"version": 4, "resources": [{"mode": "managed", "module": "module.net", "type": "aws_vpc", "name": "main",
            "instances": [{"attributes": {"id": "vpc-1", "cidr_block": "10.0.0.0/16"}}, {"attributes": {"cidr_block": "10.1.0.0/16"}}]}]})
        .to_string();
        let state = state::parse("net.tfstate", &text).unwrap();
        let error = observations(&state, "network", "net.tfstate").unwrap_err();
        assert_eq!(
            error,
            CrawlError::File(
                "Terraform state net.tfstate: module.net.aws_vpc.main instance 1 has no `attributes.id`"
                    .into()
            )
        );
    }
}
