//! DigitalOcean: the v2 API with a personal access token: droplets, load balancers,
//! volumes, snapshots, the account's images, CDN endpoints, firewalls, VPCs and
//! Kubernetes clusters; and Spaces buckets through Spaces' S3-compatible API.
//!
//! Settings: option `endpoint` (default https://api.digitalocean.com), `timeout_seconds`;
//! credential `token` (read scope is enough). DigitalOcean's lists are account-wide: a
//! crawl keeps the items of its region (a region slug such as `nyc3`; `default` keeps
//! all). Items in several regions (snapshots, images) are kept in each of theirs; items
//! of no region (firewalls, CDN endpoints) in every crawl.
//!
//! Spaces (`storage-object-list`) has its own keys, not the token: credentials
//! `spaces_access_key_id` and `spaces_secret_access_key` (a Spaces access key that may
//! list the buckets), signed like S3 by the AWS SDK, with the same `timeout_seconds`.
//! Its endpoint is `https://<region>.digitaloceanspaces.com`, or the `spaces_endpoint`
//! option (another S3-compatible endpoint, e.g. in tests); the crawl needs a region, as
//! Spaces lists each region's buckets at that region's endpoint.
//!
//! Firewalls are `security-list`'s (as security groups, like AWS's and OpenStack's), VPCs
//! `network-list`'s.
//!
//! Not crawled: sizes, floating IPs, domains.

mod map;

use domain::Kind;
use futures::future::BoxFuture;
use futures::FutureExt;
use reqwest::Url;
use serde_json::Value;

use crate::aws::{
    self,
    session::{Keys, Session},
};
use crate::rest::{self, every, List, Rest, Token};
use crate::{CrawlError, CrawlRequest, Observation, Provider, Task};

pub struct DigitalOcean;

const API: &str = "https://api.digitalocean.com";

/// The most items DigitalOcean gives in one page.
const PER_PAGE: &str = "200";

const TASKS: &[Task] = &[
    Task {
        name: "server-list",
        kinds: &[Kind::Server],
        every: every::SERVERS,
        permissions: &["droplet:read"],
    },
    Task {
        name: "loadbalance-list",
        kinds: &[Kind::Application],
        every: every::LOADBALANCE,
        permissions: &["load_balancer:read"],
    },
    Task {
        name: "volumes-list",
        kinds: &[Kind::Volume],
        every: every::VOLUMES,
        permissions: &["block_storage:read"],
    },
    Task {
        name: "snapshot-list",
        kinds: &[Kind::Snapshot],
        every: every::SNAPSHOTS,
        permissions: &["snapshot:read"],
    },
    Task {
        name: "images-list",
        kinds: &[Kind::Image],
        every: every::IMAGES,
        permissions: &["image:read"],
    },
    Task {
        name: "cdns-list",
        kinds: &[Kind::Application],
        every: every::CDNS,
        permissions: &["cdn:read"],
    },
    Task {
        name: "security-list",
        kinds: &[Kind::Network],
        every: every::SECURITY,
        permissions: &["firewall:read"],
    },
    Task {
        name: "network-list",
        kinds: &[Kind::Network],
        every: every::NETWORK,
        permissions: &["vpc:read"],
    },
    Task {
        name: "container-orchestration-list",
        kinds: &[Kind::Application],
        every: every::CONTAINER_ORCHESTRATION,
        permissions: &["kubernetes:read"],
    },
    Task {
        name: "storage-object-list",
        kinds: &[Kind::Application],
        every: every::STORAGE_OBJECT,
        permissions: &["spaces: list buckets (s3 ListBuckets)"],
    },
];

/// The credentials of Spaces' S3-compatible API.
const SPACES_KEYS: Keys = Keys {
    access_key_id: "spaces_access_key_id",
    secret_access_key: "spaces_secret_access_key",
    session_token: None,
};

/// DigitalOcean's next page: `links.pages.next`, an absolute URL.
fn next_page<'p>(page: &'p Value, _items: &str) -> Option<&'p str> {
    page.pointer("/links/pages/next")?.as_str()
}

/// A crawl's client, API base and region.
struct Account<'a> {
    rest: Rest,
    base: Url,
    region: Option<&'a str>,
}

impl Account<'_> {
    /// Every item of `/v2/{path}` (all pages), of the crawl's region.
    async fn list(
        &self,
        path: &[&str],
        query: &[(&str, &str)],
        items: &str,
    ) -> Result<Vec<Value>, CrawlError> {
        let mut url = rest::join(&self.base, &[&["v2"][..], path].concat());
        url.query_pairs_mut()
            .extend_pairs(query)
            .append_pair("per_page", PER_PAGE);
        let what = path.join(" ").replace('_', " ");
        let list = List {
            what: &what,
            url,
            items,
            next: next_page,
        };
        let all = self.rest.list(&list).await?;
        Ok(all
            .into_iter()
            .filter(|item| in_region(item, self.region))
            .collect())
    }
}

/// Whether an item is in the crawl's region: its `region` (an object with a slug, or a
/// slug) is, or one of its `regions` is; an item of no region is in all.
fn in_region(item: &Value, wanted: Option<&str>) -> bool {
    let Some(wanted) = wanted else { return true };
    let region = item.pointer("/region/slug").or_else(|| item.get("region"));
    if let Some(region) = region.and_then(Value::as_str) {
        return region == wanted;
    }
    match item.get("regions").and_then(Value::as_array) {
        Some(regions) => regions.iter().any(|region| region.as_str() == Some(wanted)),
        None => true,
    }
}

fn map_all(
    items: Vec<Value>,
    map: impl Fn(&Value) -> Result<Observation, CrawlError>,
) -> Result<Vec<Observation>, CrawlError> {
    items.iter().map(map).collect()
}

/// The account's Spaces buckets in the crawl's region, mapped as AWS's S3 buckets are.
async fn spaces_buckets(request: &CrawlRequest<'_>) -> Result<Vec<Observation>, CrawlError> {
    let Some(region) = rest::wanted_region(request) else {
        return Err(CrawlError::Settings(
            "regions".into(),
            "Spaces buckets are listed per region; list the regions to crawl, e.g. [\"nyc3\", \"ams3\"]"
                .into(),
        ));
    };
    let default = format!("https://{region}.digitaloceanspaces.com");
    let endpoint = rest::url_setting(request, "spaces_endpoint", &default)?;
    let session = Session::open_with(
        request,
        &SPACES_KEYS,
        Some(endpoint.as_str().trim_end_matches('/')),
    )?;
    aws::buckets(&session, "digitalocean").await
}

async fn crawl(request: CrawlRequest<'_>) -> Result<Vec<Observation>, CrawlError> {
    if request.task == "storage-object-list" {
        return spaces_buckets(&request).await;
    }
    let token = Token::bearer(request.credentials.require("token")?)?;
    let account = Account {
        rest: Rest::new(&request)?.with_token(&token),
        base: rest::url_setting(&request, "endpoint", API)?,
        region: rest::wanted_region(&request),
    };
    let region = account.region;
    match request.task {
        "server-list" => map_all(account.list(&["droplets"], &[], "droplets").await?, map::droplet),
        "loadbalance-list" => map_all(
            account.list(&["load_balancers"], &[], "load_balancers").await?,
            map::load_balancer,
        ),
        "volumes-list" => map_all(account.list(&["volumes"], &[], "volumes").await?, map::volume),
        "snapshot-list" => map_all(account.list(&["snapshots"], &[], "snapshots").await?, |item| {
            map::snapshot(item, region)
        }),
        // The account's own images, not DigitalOcean's public ones.
        "images-list" => map_all(
            account
                .list(&["images"], &[("private", "true")], "images")
                .await?,
            |item| map::image(item, region),
        ),
        "cdns-list" => map_all(
            account.list(&["cdn", "endpoints"], &[], "endpoints").await?,
            map::cdn_endpoint,
        ),
        "security-list" => map_all(
            account.list(&["firewalls"], &[], "firewalls").await?,
            map::firewall,
        ),
        "network-list" => map_all(account.list(&["vpcs"], &[], "vpcs").await?, map::vpc),
        "container-orchestration-list" => map_all(
            account
                .list(&["kubernetes", "clusters"], &[], "kubernetes_clusters")
                .await?,
            map::kubernetes_cluster,
        ),
        other => Err(rest::unknown_task("digitalocean", TASKS, other)),
    }
}

impl Provider for DigitalOcean {
    fn name(&self) -> &'static str {
        "digitalocean"
    }

    fn tasks(&self) -> &'static [Task] {
        TASKS
    }

    fn crawl<'a>(&'a self, request: CrawlRequest<'a>) -> BoxFuture<'a, Result<Vec<Observation>, CrawlError>> {
        async move {
            self.task(request.task)?;
            crawl(request).await
        }
        .boxed()
    }
}
