//! OpenStack: Keystone v3 password sign-in, then Nova (servers, flavors, images), Cinder
//! (volumes, snapshots), Neutron (security groups; networks, subnets, ports and routers)
//! and Octavia (load balancers) at the endpoints the token's catalog gives for the
//! crawl's region.
//!
//! Settings (options; the non-secret ones may also be credentials): `auth_url` (Keystone,
//! with or without `/v3`), `username`, `project` (name) or `project_id`, `domain` (name,
//! default `Default`) or `domain_id`, `interface` (default `public`), `timeout_seconds`.
//! Credentials: `password`. The crawl's region is a catalog region; `default` takes the
//! first endpoint of the interface.
//!
//! Not crawled: floating IPs (their addresses already show on the servers).

mod keystone;
mod map;

use domain::Kind;
use futures::future::BoxFuture;
use futures::FutureExt;
use reqwest::Url;
use serde_json::Value;

use self::keystone::Cloud;
use crate::rest::{self, every, List, Rest};
use crate::{CrawlError, CrawlRequest, Observation, Provider, Task};

pub struct OpenStack;

const TASKS: &[Task] = &[
    Task {
        name: "server-list",
        kinds: &[Kind::Server],
        every: every::SERVERS,
        permissions: &["compute: list servers with details (reader role on the project)"],
    },
    Task {
        name: "volumes-list",
        kinds: &[Kind::Volume],
        every: every::VOLUMES,
        permissions: &["block storage: list volumes with details"],
    },
    Task {
        name: "snapshot-list",
        kinds: &[Kind::Snapshot],
        every: every::SNAPSHOTS,
        permissions: &["block storage: list snapshots with details"],
    },
    Task {
        name: "images-list",
        kinds: &[Kind::Image],
        every: every::IMAGES,
        permissions: &["compute: list images (Nova's image API, backed by Glance)"],
    },
    Task {
        name: "flavor-list",
        kinds: &[Kind::Flavor],
        every: every::FLAVORS,
        permissions: &["compute: list flavors with details"],
    },
    Task {
        name: "security-list",
        kinds: &[Kind::Network],
        every: every::SECURITY,
        permissions: &["network: list security groups"],
    },
    Task {
        name: "network-list",
        kinds: &[Kind::Network],
        every: every::NETWORK,
        permissions: &["network: list networks, subnets, ports and routers"],
    },
    Task {
        name: "loadbalance-list",
        kinds: &[Kind::Application],
        every: every::LOADBALANCE,
        permissions: &["load-balancer: list load balancers (load-balancer_observer role)"],
    },
];

/// Catalog service types, preferred first.
const COMPUTE: &[&str] = &["compute"];
const BLOCK_STORAGE: &[&str] = &["block-storage", "volumev3", "volumev2", "volume"];
const NETWORK: &[&str] = &["network"];
const LOAD_BALANCER: &[&str] = &["load-balancer"];

/// The compute microversion asked for: 2.47 (Pike, 2017) embeds each server's flavor
/// (vCPUs, RAM, name), so servers need no second call for their size.
const COMPUTE_MICROVERSION: &str = "compute 2.47";

/// A list of the crawl's region: its endpoint's region and the items it holds.
struct Found {
    region: String,
    items: Vec<Value>,
}

/// OpenStack's next page: `{items}_links` (Nova, Cinder, Neutron) or `links` holding
/// `{"rel": "next", "href": …}`.
fn next_page<'p>(page: &'p Value, items: &str) -> Option<&'p str> {
    let links = page.get(format!("{items}_links")).or_else(|| page.get("links"))?;
    links
        .as_array()?
        .iter()
        .find(|link| link.get("rel").and_then(Value::as_str) == Some("next"))?
        .get("href")?
        .as_str()
}

/// All pages of `path` under the endpoint of `types`.
async fn list(
    cloud: &Cloud,
    rest: &Rest,
    types: &[&str],
    path: &[&str],
    items: &str,
    what: &str,
) -> Result<Found, CrawlError> {
    let endpoint = cloud.endpoint(types)?;
    let list = List {
        what,
        url: rest::join(&endpoint.url, path),
        items,
        next: next_page,
    };
    Ok(Found {
        region: endpoint.region,
        items: rest.list(&list).await?,
    })
}

/// The path of `resource` under an endpoint of an API whose URLs start with its version
/// (`versions`, the one to add first): catalogs list such endpoints with or without it.
fn versioned_path<'a>(endpoint: &Url, versions: &[&'a str], resource: &[&'a str]) -> Vec<&'a str> {
    let path = endpoint.path().trim_end_matches('/');
    let has_version = versions
        .iter()
        .any(|version| path.ends_with(&format!("/{version}")));
    let version = (!has_version).then_some(versions[0]);
    version.into_iter().chain(resource.iter().copied()).collect()
}

async fn neutron(cloud: &Cloud, resource: &str, items: &str, what: &str) -> Result<Found, CrawlError> {
    let endpoint = cloud.endpoint(NETWORK)?;
    let path = versioned_path(&endpoint.url, &["v2.0"], &[resource]);
    list(cloud, &cloud.rest, NETWORK, &path, items, what).await
}

/// Octavia's load balancers (`/v2/lbaas/loadbalancers`; `v2.0` is the same API).
async fn load_balancers(cloud: &Cloud) -> Result<Found, CrawlError> {
    let endpoint = cloud.endpoint(LOAD_BALANCER)?;
    let path = versioned_path(&endpoint.url, &["v2", "v2.0"], &["lbaas", "loadbalancers"]);
    list(
        cloud,
        &cloud.rest,
        LOAD_BALANCER,
        &path,
        "loadbalancers",
        "octavia load balancers",
    )
    .await
}

/// Maps every item of a list.
fn map_all(
    found: Found,
    map: fn(&Value, &str) -> Result<Observation, CrawlError>,
) -> Result<Vec<Observation>, CrawlError> {
    found.items.iter().map(|item| map(item, &found.region)).collect()
}

async fn crawl(request: CrawlRequest<'_>) -> Result<Vec<Observation>, CrawlError> {
    let cloud = keystone::authenticate(&Rest::new(&request)?, &request).await?;
    let rest = &cloud.rest;
    match request.task {
        "server-list" => {
            let compute = rest.with_header("openstack-api-version", COMPUTE_MICROVERSION);
            let found = list(
                &cloud,
                &compute,
                COMPUTE,
                &["servers", "detail"],
                "servers",
                "nova servers",
            )
            .await?;
            map_all(found, map::server)
        }
        "flavor-list" => {
            let found = list(
                &cloud,
                rest,
                COMPUTE,
                &["flavors", "detail"],
                "flavors",
                "nova flavors",
            )
            .await?;
            map_all(found, map::flavor)
        }
        "images-list" => {
            let found = list(
                &cloud,
                rest,
                COMPUTE,
                &["images", "detail"],
                "images",
                "nova images",
            )
            .await?;
            map_all(found, map::image)
        }
        "volumes-list" => {
            let found = list(
                &cloud,
                rest,
                BLOCK_STORAGE,
                &["volumes", "detail"],
                "volumes",
                "cinder volumes",
            )
            .await?;
            map_all(found, map::volume)
        }
        "snapshot-list" => {
            let found = list(
                &cloud,
                rest,
                BLOCK_STORAGE,
                &["snapshots", "detail"],
                "snapshots",
                "cinder snapshots",
            )
            .await?;
            map_all(found, map::snapshot)
        }
        "security-list" => {
            let found = neutron(
                &cloud,
                "security-groups",
                "security_groups",
                "neutron security groups",
            )
            .await?;
            map_all(found, map::security_group)
        }
        "network-list" => {
            let (networks, subnets, ports, routers) = futures::try_join!(
                neutron(&cloud, "networks", "networks", "neutron networks"),
                neutron(&cloud, "subnets", "subnets", "neutron subnets"),
                neutron(&cloud, "ports", "ports", "neutron ports"),
                neutron(&cloud, "routers", "routers", "neutron routers"),
            )?;
            let mut observations = map_all(networks, map::network)?;
            observations.extend(map_all(subnets, map::subnet)?);
            observations.extend(map_all(ports, map::port)?);
            observations.extend(map_all(routers, map::router)?);
            Ok(observations)
        }
        "loadbalance-list" => map_all(load_balancers(&cloud).await?, map::load_balancer),
        other => Err(rest::unknown_task("openstack", TASKS, other)),
    }
}

impl Provider for OpenStack {
    fn name(&self) -> &'static str {
        "openstack"
    }

    fn tasks(&self) -> &'static [Task] {
        TASKS
    }

    fn crawl<'a>(&'a self, request: CrawlRequest<'a>) -> BoxFuture<'a, Result<Vec<Observation>, CrawlError>> {
        async move {
            // Unknown tasks fail before signing in.
            self.task(request.task)?;
            crawl(request).await
        }
        .boxed()
    }
}
