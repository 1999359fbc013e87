//! Amazon Web Services through the official AWS SDK for Rust.
//!
//! The connection gives the credentials (`access_key_id`, `secret_access_key`, optional
//! `session_token`) and options: `endpoint` (another endpoint than AWS's, e.g. moto's
//! `http://127.0.0.1:5000`), `page_size` (items per list call, kept inside each API's
//! range; small values make tests cross pages) and `timeout_seconds` (per attempt of a
//! call, 30 by default). The region is the crawl's. Every list call follows every page;
//! a failed page fails the task in that region, so nothing is orphaned on a partial view.
//!
//! Tags are not mapped: the domain has no field for them yet.

/// Maps every item of every page of a list call: `$paginator` is the call's paginator
/// (its page size set), `$items` takes a page to its items and `$map` maps one item.
/// Evaluates to the observations, or to the crawl error naming the call (`$what`) when a
/// page failed. A macro because each service's paginator and pages are types of their
/// own, with no trait in common.
macro_rules! map_pages {
    ($session:expr, $what:expr, $paginator:expr, |$page:ident| $items:expr, $map:expr $(,)?) => {
        match $paginator.send().try_collect().await {
            Ok(pages) => pages
                .iter()
                .flat_map(|$page| $items)
                .map($map)
                .collect::<Result<Vec<$crate::Observation>, $crate::CrawlError>>(),
            Err(error) => Err($session.fail($what, error)),
        }
    };
}

mod compute;
mod connectivity;
mod network;
mod observe;
mod resources;
mod services;
pub(crate) mod session;
mod storage;

pub(crate) use resources::buckets;

use std::time::Duration;

use domain::Kind;
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::{CrawlError, CrawlRequest, Observation, Provider, Task};
use session::Session;

pub struct Aws;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

const fn every(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

const SERVERS: &str = "server-list";
const VOLUMES: &str = "volumes-list";
const SNAPSHOTS: &str = "snapshot-list";
const IMAGES: &str = "images-list";
const SECURITY_GROUPS: &str = "security-list";
const NETWORKS: &str = "network-list";
const LOAD_BALANCERS: &str = "loadbalance-list";
const BUCKETS: &str = "storage-object-list";
const DATABASES: &str = "dbs-list";
const BROKERS: &str = "brokers-list";
const TABLES: &str = "dynamodb-list";
const CDNS: &str = "cdns-list";
const AUTO_SCALING: &str = "autoscaling-list";
const CACHES: &str = "cache-list";
const MAIL: &str = "smtp-list";
const FUNCTIONS: &str = "serverless-list";
const LAYERS: &str = "serverless-support-list";
const API_GATEWAYS: &str = "gateway-list";

/// The tasks, with the default windows of the domain reference and the IAM actions each
/// needs (all are in AWS's read-only `SecurityAudit` policy).
const TASKS: &[Task] = &[
    Task {
        name: SERVERS,
        kinds: &[Kind::Server],
        every: every(5 * MINUTE),
        permissions: &["ec2:DescribeInstances"],
    },
    Task {
        name: VOLUMES,
        kinds: &[Kind::Volume],
        every: every(6 * HOUR),
        permissions: &["ec2:DescribeVolumes"],
    },
    Task {
        name: SNAPSHOTS,
        kinds: &[Kind::Snapshot],
        every: every(14 * DAY),
        permissions: &["ec2:DescribeSnapshots"],
    },
    Task {
        name: IMAGES,
        kinds: &[Kind::Image],
        every: every(14 * DAY),
        permissions: &["ec2:DescribeImages"],
    },
    Task {
        name: SECURITY_GROUPS,
        kinds: &[Kind::Network],
        every: every(6 * HOUR),
        permissions: &["ec2:DescribeSecurityGroups"],
    },
    Task {
        name: NETWORKS,
        kinds: &[Kind::Network],
        every: every(7 * DAY),
        permissions: &[
            "ec2:DescribeVpcs",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcPeeringConnections",
            "ec2:DescribeVpnGateways",
            "ec2:DescribeVpcEndpoints",
            "ec2:DescribeRouteTables",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeNatGateways",
            "ec2:DescribeNetworkAcls",
        ],
    },
    Task {
        name: LOAD_BALANCERS,
        kinds: &[Kind::Application],
        every: every(6 * HOUR),
        // One action for both APIs: ELBv2 and classic ELB share the IAM prefix.
        permissions: &[
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeTags",
        ],
    },
    Task {
        name: BUCKETS,
        kinds: &[Kind::Application],
        every: every(DAY),
        permissions: &["s3:ListAllMyBuckets"],
    },
    Task {
        name: DATABASES,
        kinds: &[Kind::Application],
        every: every(DAY),
        permissions: &["rds:DescribeDBInstances"],
    },
    Task {
        name: BROKERS,
        kinds: &[Kind::Application],
        every: every(5 * DAY),
        permissions: &["sqs:ListQueues"],
    },
    Task {
        name: TABLES,
        kinds: &[Kind::Application],
        every: every(3 * DAY),
        permissions: &["dynamodb:ListTables"],
    },
    Task {
        name: CDNS,
        kinds: &[Kind::Application],
        every: every(5 * DAY),
        permissions: &["cloudfront:ListDistributions"],
    },
    Task {
        name: AUTO_SCALING,
        kinds: &[Kind::Application],
        every: every(DAY),
        permissions: &["autoscaling:DescribeAutoScalingGroups"],
    },
    Task {
        name: CACHES,
        kinds: &[Kind::Application],
        every: every(DAY),
        permissions: &["elasticache:DescribeCacheClusters"],
    },
    Task {
        name: MAIL,
        kinds: &[Kind::Application],
        every: every(DAY),
        permissions: &["ses:ListIdentities"],
    },
    Task {
        name: FUNCTIONS,
        kinds: &[Kind::Application],
        every: every(12 * HOUR),
        permissions: &["lambda:ListFunctions"],
    },
    Task {
        name: LAYERS,
        kinds: &[Kind::Application],
        every: every(12 * HOUR),
        permissions: &["lambda:ListLayers"],
    },
    Task {
        name: API_GATEWAYS,
        kinds: &[Kind::Application],
        every: every(3 * DAY),
        permissions: &["apigateway:GET"],
    },
];

impl Provider for Aws {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn tasks(&self) -> &'static [Task] {
        TASKS
    }

    fn crawl<'a>(&'a self, request: CrawlRequest<'a>) -> BoxFuture<'a, Result<Vec<Observation>, CrawlError>> {
        async move {
            let task = self.task(request.task)?;
            let session = Session::open(&request)?;
            match task.name {
                SERVERS => compute::servers(&session).await,
                VOLUMES => storage::volumes(&session).await,
                SNAPSHOTS => storage::snapshots(&session).await,
                IMAGES => storage::images(&session).await,
                SECURITY_GROUPS => network::security_groups(&session).await,
                NETWORKS => network::networks(&session).await,
                LOAD_BALANCERS => resources::load_balancers(&session).await,
                BUCKETS => resources::buckets(&session, "aws").await,
                DATABASES => resources::databases(&session).await,
                BROKERS => resources::queues(&session).await,
                TABLES => resources::tables(&session).await,
                CDNS => services::distributions(&session).await,
                AUTO_SCALING => services::auto_scaling_groups(&session).await,
                CACHES => services::cache_clusters(&session).await,
                MAIL => services::mail_identities(&session).await,
                FUNCTIONS => services::functions(&session).await,
                LAYERS => services::layers(&session).await,
                API_GATEWAYS => services::rest_apis(&session).await,
                other => Err(CrawlError::Malformed(format!(
                    "task `{other}` is listed but has no crawl; this is a bug in the aws provider"
                ))),
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::Map;
    use uuid::Uuid;

    use super::*;
    use crate::Credentials;

    #[tokio::test]
    async fn every_task_is_crawled_and_unknown_ones_are_refused() {
        // A crawl that reaches the network fails fast here: nothing listens on port 9.
        let options: Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"endpoint": "http://127.0.0.1:9", "timeout_seconds": 2}"#).unwrap();
        let credentials = Credentials::new(BTreeMap::from([
            ("access_key_id".to_string(), "AKIDTEST".to_string()),
            ("secret_access_key".to_string(), "secret-for-tests".to_string()),
        ]));
        // Port 9 of this machine is internal: the test allows it explicitly.
        let reach = crate::Reach::new(
            vec![],
            vec!["127.0.0.1".parse().unwrap()],
            crate::DEFAULT_MAX_BYTES,
        );
        for task in Aws.tasks() {
            let request = CrawlRequest {
                connection: Uuid::nil(),
                options: &options,
                credentials: &credentials,
                task: task.name,
                region: "us-east-1",
                reach: &reach,
            };
            let error = Aws.crawl(request).await.unwrap_err();
            assert!(
                matches!(error, CrawlError::Unreachable(_)),
                "{}: {error}",
                task.name
            );
            assert!(!error.to_string().contains("secret-for-tests"), "{error}");
        }
        let request = CrawlRequest {
            connection: Uuid::nil(),
            options: &options,
            credentials: &credentials,
            task: "mainframe-list",
            region: "us-east-1",
            reach: &reach,
        };
        let error = Aws.crawl(request).await.unwrap_err();
        assert!(error.to_string().contains("server-list, volumes-list"), "{error}");
    }

    #[test]
    fn tasks_have_the_domain_windows_and_their_permissions() {
        let window = |name: &str| Aws.task(name).unwrap().every;
        assert_eq!(window(SERVERS), Duration::from_secs(300));
        assert_eq!(window(VOLUMES), Duration::from_secs(6 * 3600));
        assert_eq!(window(NETWORKS), Duration::from_secs(7 * 24 * 3600));
        assert_eq!(window(IMAGES), Duration::from_secs(14 * 24 * 3600));
        assert_eq!(window(BROKERS), Duration::from_secs(5 * 24 * 3600));
        assert_eq!(window(TABLES), Duration::from_secs(3 * 24 * 3600));
        assert_eq!(window(FUNCTIONS), Duration::from_secs(12 * 3600));
        assert_eq!(window(LAYERS), Duration::from_secs(12 * 3600));
        assert_eq!(window(AUTO_SCALING), Duration::from_secs(24 * 3600));
        assert_eq!(window(API_GATEWAYS), Duration::from_secs(3 * 24 * 3600));
        assert_eq!(window(CDNS), Duration::from_secs(5 * 24 * 3600));
        assert_eq!(Aws.task(BROKERS).unwrap().permissions, ["sqs:ListQueues"]);
        assert_eq!(Aws.task(TABLES).unwrap().permissions, ["dynamodb:ListTables"]);
        assert!(Aws.tasks().iter().all(|task| !task.permissions.is_empty()));
    }
}
