//! Azure: a service principal signs in with OAuth2 client credentials, then the Resource
//! Manager lists the subscription's virtual machines, managed disks, snapshots, images,
//! virtual networks and route tables.
//!
//! Network interfaces and public IP addresses are read by `server-list` to give each
//! virtual machine its private and public addresses and DNS names, rather than becoming
//! items of their own: on their own they are plumbing, on the server they answer "what is
//! this machine's address", which is what the inventory is asked.
//!
//! Settings (options; the non-secret ones may also be credentials): `tenant_id`,
//! `client_id`, `subscription_id`, `login_endpoint` (default
//! https://login.microsoftonline.com), `endpoint` (default https://management.azure.com),
//! `timeout_seconds`. Credentials: `client_secret`. Lists are subscription-wide: a crawl
//! keeps the resources of its region (a location such as `eastus`; `default` keeps all).

mod map;

pub(crate) use map::location;

use std::collections::BTreeSet;

use domain::Kind;
use futures::future::BoxFuture;
use futures::FutureExt;
use reqwest::Url;
use serde_json::Value;

use crate::rest::{self, every, List, Rest, Token};
use crate::{CrawlError, CrawlRequest, Observation, Provider, Task};

pub struct Azure;

const LOGIN: &str = "https://login.microsoftonline.com";
const MANAGEMENT: &str = "https://management.azure.com";
const SCOPE: &str = "https://management.azure.com/.default";

/// API versions of the Resource Manager lists, as recorded in the test fixtures.
const COMPUTE_API: &str = "2024-07-01";
const DISKS_API: &str = "2024-03-02";
const NETWORK_API: &str = "2024-07-01";

const TASKS: &[Task] = &[
    Task {
        name: "server-list",
        kinds: &[Kind::Server],
        every: every::SERVERS,
        permissions: &[
            "Microsoft.Compute/virtualMachines/read",
            "Microsoft.Compute/locations/vmSizes/read",
            "Microsoft.Network/networkInterfaces/read",
            "Microsoft.Network/publicIPAddresses/read",
        ],
    },
    Task {
        name: "volumes-list",
        kinds: &[Kind::Volume],
        every: every::VOLUMES,
        permissions: &["Microsoft.Compute/disks/read"],
    },
    Task {
        name: "snapshot-list",
        kinds: &[Kind::Snapshot],
        every: every::SNAPSHOTS,
        permissions: &["Microsoft.Compute/snapshots/read"],
    },
    Task {
        name: "images-list",
        kinds: &[Kind::Image],
        every: every::IMAGES,
        permissions: &["Microsoft.Compute/images/read"],
    },
    Task {
        name: "network-list",
        kinds: &[Kind::Network],
        every: every::NETWORK,
        permissions: &[
            "Microsoft.Network/virtualNetworks/read",
            "Microsoft.Network/routeTables/read",
        ],
    },
];

/// Azure's next page: `nextLink`, an absolute URL (with its `api-version`).
fn next_page<'p>(page: &'p Value, _items: &str) -> Option<&'p str> {
    page.get("nextLink")?.as_str()
}

/// Signs in as the service principal (`POST {login}/{tenant}/oauth2/v2.0/token`, client
/// credentials) and answers the access token. A refused sign-in is `Unauthorized` whatever
/// its status (Azure answers 400 or 401 for a wrong secret or an unknown client).
async fn sign_in(rest: &Rest, request: &CrawlRequest<'_>) -> Result<Token, CrawlError> {
    let tenant = rest::required_setting(
        request,
        "tenant_id",
        "the directory (tenant) id of the service principal",
    )?;
    let client_id = rest::required_setting(
        request,
        "client_id",
        "the application (client) id of the service principal",
    )?;
    let secret = request.credentials.require("client_secret")?;
    let login = rest::url_setting(request, "login_endpoint", LOGIN)?;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", SCOPE),
    ];
    let answer = rest
        .post_form(
            rest::join(&login, &[tenant, "oauth2", "v2.0", "token"]),
            &form,
            "azure sign-in",
        )
        .await
        .map_err(|error| match error {
            CrawlError::Provider {
                status: 400 | 401,
                what,
                message,
            } => CrawlError::Unauthorized(format!("{what}: {message}")),
            other => other,
        })?;
    let token = answer
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| CrawlError::Malformed("azure sign-in: the answer has no access_token".into()))?;
    Token::bearer(token)
}

/// A signed-in subscription and the crawl's region.
struct Subscription<'a> {
    rest: Rest,
    base: Url,
    id: &'a str,
    region: Option<String>,
}

impl Subscription<'_> {
    /// Every resource of `/subscriptions/{id}/providers/{path}` (all pages).
    async fn list(&self, path: &[&str], api_version: &str, what: &str) -> Result<Vec<Value>, CrawlError> {
        let mut url = rest::join(
            &self.base,
            &[&["subscriptions", self.id, "providers"][..], path].concat(),
        );
        url.query_pairs_mut().append_pair("api-version", api_version);
        let list = List {
            what,
            url,
            items: "value",
            next: next_page,
        };
        self.rest.list(&list).await
    }

    /// The resources of `list` in the crawl's region.
    async fn regional(&self, path: &[&str], api_version: &str, what: &str) -> Result<Vec<Value>, CrawlError> {
        let all = self.list(path, api_version, what).await?;
        Ok(all.into_iter().filter(|item| self.in_region(item)).collect())
    }

    fn in_region(&self, item: &Value) -> bool {
        match (&self.region, item.get("location").and_then(Value::as_str)) {
            (Some(wanted), Some(location)) => map::location(location) == *wanted,
            _ => true,
        }
    }

    /// Virtual machines: of the region's location (`locations/{l}/virtualMachines`), or
    /// of the whole subscription; with the interfaces and public IPs that give their
    /// addresses, and the sizes of their locations that give their cores and memory.
    async fn virtual_machines(&self) -> Result<Vec<Observation>, CrawlError> {
        let path = match &self.region {
            Some(location) => vec![
                "Microsoft.Compute",
                "locations",
                location.as_str(),
                "virtualMachines",
            ],
            None => vec!["Microsoft.Compute", "virtualMachines"],
        };
        let (vms, interfaces, public_ips) = futures::try_join!(
            self.regional(&path, COMPUTE_API, "virtual machines"),
            self.list(
                &["Microsoft.Network", "networkInterfaces"],
                NETWORK_API,
                "network interfaces"
            ),
            self.list(
                &["Microsoft.Network", "publicIPAddresses"],
                NETWORK_API,
                "public IP addresses"
            ),
        )?;
        let network = map::Network::new(interfaces, public_ips);
        let sizes = self.sizes(&vms).await?;
        vms.iter()
            .map(|vm| map::virtual_machine(vm, &network, &sizes))
            .collect()
    }

    /// The VM sizes of every location the machines are in (one call per location). A
    /// failed call fails the crawl: without sizes, every machine's cores and memory
    /// would be cleared.
    async fn sizes(&self, vms: &[Value]) -> Result<map::Sizes, CrawlError> {
        let locations: BTreeSet<String> = vms
            .iter()
            .filter_map(|vm| vm.get("location")?.as_str())
            .map(map::location)
            .collect();
        let lists = futures::future::try_join_all(locations.iter().map(|location| {
            let path = ["Microsoft.Compute", "locations", location, "vmSizes"];
            async move { self.list(&path, COMPUTE_API, "virtual machine sizes").await }
        }))
        .await?;
        Ok(map::Sizes::new(lists.into_iter().flatten()))
    }

    async fn networks(&self) -> Result<Vec<Observation>, CrawlError> {
        let (networks, tables) = futures::try_join!(
            self.regional(
                &["Microsoft.Network", "virtualNetworks"],
                NETWORK_API,
                "virtual networks"
            ),
            self.regional(&["Microsoft.Network", "routeTables"], NETWORK_API, "route tables"),
        )?;
        let mut observations = vec![];
        for network in &networks {
            observations.extend(map::virtual_network(network)?);
        }
        for table in &tables {
            observations.push(map::route_table(table)?);
        }
        Ok(observations)
    }
}

fn map_all(
    items: Vec<Value>,
    map: fn(&Value) -> Result<Observation, CrawlError>,
) -> Result<Vec<Observation>, CrawlError> {
    items.iter().map(map).collect()
}

async fn crawl(request: CrawlRequest<'_>) -> Result<Vec<Observation>, CrawlError> {
    let subscription_id =
        rest::required_setting(&request, "subscription_id", "the id of the subscription to crawl")?;
    let base = rest::url_setting(&request, "endpoint", MANAGEMENT)?;
    let rest = Rest::new(&request)?;
    let token = sign_in(&rest, &request).await?;
    let subscription = Subscription {
        rest: rest.with_token(&token),
        base,
        id: subscription_id,
        region: rest::wanted_region(&request).map(map::location),
    };
    let compute = |resource| ["Microsoft.Compute", resource];
    match request.task {
        "server-list" => subscription.virtual_machines().await,
        "volumes-list" => map_all(
            subscription
                .regional(&compute("disks"), DISKS_API, "disks")
                .await?,
            map::disk,
        ),
        "snapshot-list" => map_all(
            subscription
                .regional(&compute("snapshots"), DISKS_API, "snapshots")
                .await?,
            map::snapshot,
        ),
        "images-list" => map_all(
            subscription
                .regional(&compute("images"), COMPUTE_API, "images")
                .await?,
            map::image,
        ),
        "network-list" => subscription.networks().await,
        other => Err(rest::unknown_task("azure", TASKS, other)),
    }
}

impl Provider for Azure {
    fn name(&self) -> &'static str {
        "azure"
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
