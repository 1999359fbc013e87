//! `loadbalance-list` (ELBv2 and classic), `dbs-list`, `storage-object-list`,
//! `brokers-list` and `dynamodb-list`: managed services as applications of their family
//! (Loadbalance, Database, ObjectStorage, Broker).

use std::collections::HashMap;

use aws_sdk_elasticloadbalancing::types::LoadBalancerDescription;
use aws_sdk_elasticloadbalancingv2::types::LoadBalancer;
use aws_sdk_rds::types::DbInstance;
use aws_sdk_s3::types::Bucket;
use domain::Kind;
use serde_json::json;

use super::observe::{host_port, object, pairs, placement, placement_of, Item};
use super::session::Session;
use crate::{CrawlError, Observation};

const DESCRIBE_LOAD_BALANCERS: &str = "elbv2 DescribeLoadBalancers";
const DESCRIBE_CLASSIC_LOAD_BALANCERS: &str = "elb DescribeLoadBalancers";
const DESCRIBE_DB_INSTANCES: &str = "rds DescribeDBInstances";
const LIST_BUCKETS: &str = "s3 ListBuckets";
const LIST_QUEUES: &str = "sqs ListQueues";
const LIST_TABLES: &str = "dynamodb ListTables";
const DESCRIBE_TAGS: &str = "elbv2 DescribeTags";
const DESCRIBE_CLASSIC_TAGS: &str = "elb DescribeTags";

/// Application, network and gateway load balancers (ELBv2) and classic ones (ELB).
pub(super) async fn load_balancers(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    let region = session.region();
    let (current, classic) = futures::try_join!(
        async {
            map_pages!(
                session,
                DESCRIBE_LOAD_BALANCERS,
                session
                    .elbv2()
                    .describe_load_balancers()
                    .page_size(session.page_size(1, 400))
                    .into_paginator(),
                |page| page.load_balancers(),
                |item| load_balancer(item, region)
            )
        },
        async {
            map_pages!(
                session,
                DESCRIBE_CLASSIC_LOAD_BALANCERS,
                session
                    .elb()
                    .describe_load_balancers()
                    .page_size(session.page_size(1, 400))
                    .into_paginator(),
                |page| page.load_balancer_descriptions(),
                |item| classic_load_balancer(item, region)
            )
        },
    )?;
    let (current, classic) = futures::try_join!(
        with_balancer_tags(session, current, Classic(false)),
        with_balancer_tags(session, classic, Classic(true)),
    )?;
    Ok([current, classic].concat())
}

/// Whether load balancers are classic ones, which DescribeTags names by their name rather
/// than their ARN.
#[derive(Clone, Copy)]
struct Classic(bool);

/// ELB lists load balancers without their tags: DescribeTags, for twenty at a time, adds
/// them.
async fn with_balancer_tags(
    session: &Session,
    mut balancers: Vec<Observation>,
    classic: Classic,
) -> Result<Vec<Observation>, CrawlError> {
    const PER_CALL: usize = 20;
    // A classic balancer's provider id is `<region>/<name>`.
    let names: Vec<String> = balancers
        .iter()
        .map(|balancer| match classic {
            Classic(true) => balancer
                .provider_id
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            Classic(false) => balancer.provider_id.clone(),
        })
        .collect();
    let mut tags: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for chunk in names.chunks(PER_CALL) {
        let described: Vec<(String, Vec<(String, String)>)> = match classic {
            Classic(true) => session
                .elb()
                .describe_tags()
                .set_load_balancer_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|error| session.fail(DESCRIBE_CLASSIC_TAGS, error))?
                .tag_descriptions()
                .iter()
                .filter_map(|description| {
                    Some((
                        description.load_balancer_name()?.to_string(),
                        pairs(description.tags()),
                    ))
                })
                .collect(),
            Classic(false) => session
                .elbv2()
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|error| session.fail(DESCRIBE_TAGS, error))?
                .tag_descriptions()
                .iter()
                .filter_map(|description| {
                    Some((description.resource_arn()?.to_string(), pairs(description.tags())))
                })
                .collect(),
        };
        tags.extend(described);
    }
    for (balancer, name) in balancers.iter_mut().zip(&names) {
        balancer.tags.extend(tags.remove(name).unwrap_or_default());
    }
    Ok(balancers)
}

pub(super) async fn databases(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        DESCRIBE_DB_INSTANCES,
        session
            .rds()
            .describe_db_instances()
            .into_paginator()
            .page_size(session.page_size(20, 100)),
        |page| page.db_instances(),
        |item| database(item, session.region())
    )
}

/// The buckets located in the crawled region. ListBuckets would name the account's
/// buckets of every region in each region's crawl, which would move them from region to
/// region at each crawl; the `BucketRegion` filter keeps each in its own region.
///
/// The page size option is not applied here: an S3-compatible endpoint that honours
/// `MaxBuckets` but returns no continuation token (moto 5.2 does this) would cut the
/// list short without telling, and the missing buckets would be orphaned. Without it,
/// AWS returns every bucket, and the paginator still follows a token if one comes.
///
/// `provider` is the one the buckets are placed at: `aws`, or another S3-compatible
/// store's (DigitalOcean Spaces, whose session is opened on its own endpoint).
pub(crate) async fn buckets(session: &Session, provider: &str) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        LIST_BUCKETS,
        session
            .s3()
            .list_buckets()
            .bucket_region(session.region())
            .into_paginator(),
        |page| page.buckets(),
        |item| bucket(item, session.region(), provider)
    )
}

/// The SQS queues of the region. `MaxResults` is always sent: without it, SQS returns
/// at most 1,000 queues and no `NextToken`, and the rest would be orphaned.
pub(super) async fn queues(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        LIST_QUEUES,
        session
            .sqs()
            .list_queues()
            .max_results(session.page_size(1, 1000))
            .into_paginator(),
        |page| page.queue_urls(),
        |url| queue(url, session.region())
    )
}

/// The DynamoDB tables of the region, paged by `ExclusiveStartTableName`.
pub(super) async fn tables(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        LIST_TABLES,
        session
            .dynamodb()
            .list_tables()
            .limit(session.page_size(1, 100))
            .into_paginator(),
        |page| page.table_names(),
        |name| table(name, session.region())
    )
}

/// A load balancer, known by its ARN, reached at its DNS name.
fn load_balancer(balancer: &LoadBalancer, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(
        Kind::Application,
        balancer.load_balancer_arn(),
        DESCRIBE_LOAD_BALANCERS,
    )?;
    let name = balancer.load_balancer_name().unwrap_or(item.id()).to_string();
    let zones: Vec<&str> = balancer
        .availability_zones()
        .iter()
        .filter_map(|zone| zone.zone_name())
        .collect();
    let specs = object([
        ("type", json!(balancer.r#type().map(|t| t.as_str()))),
        ("scheme", json!(balancer.scheme().map(|s| s.as_str()))),
        (
            "ip_address_type",
            json!(balancer.ip_address_type().map(|t| t.as_str())),
        ),
        ("vpc_id", json!(balancer.vpc_id())),
        ("zones", json!(zones)),
    ]);
    Ok(item
        .text("name", Some(&name))
        .set("family", "Loadbalance")
        .text("endpoint", balancer.dns_name())
        .status(balancer.state().and_then(|s| s.code()).map(|code| code.as_str()))
        .set("specs", specs)
        .set("datacenters", placement(region, None, None))
        .build())
}

/// A classic load balancer, known by `<region>/<name>` (the answer has no ARN; a name is
/// unique in a region of the account), reached at its DNS name, with its health check
/// target and its listeners (`HTTP:80 -> HTTP:8080`).
fn classic_load_balancer(
    balancer: &LoadBalancerDescription,
    region: &str,
) -> Result<Observation, CrawlError> {
    let name = balancer.load_balancer_name();
    let item = Item::regional(Kind::Application, region, name, DESCRIBE_CLASSIC_LOAD_BALANCERS)?;
    let listeners: Vec<String> = balancer
        .listener_descriptions()
        .iter()
        .filter_map(|description| description.listener())
        .map(|listener| {
            format!(
                "{}:{} -> {}:{}",
                listener.protocol(),
                listener.load_balancer_port(),
                listener.instance_protocol().unwrap_or(listener.protocol()),
                listener.instance_port()
            )
        })
        .collect();
    let specs = object([
        ("type", json!("classic")),
        ("scheme", json!(balancer.scheme())),
        ("vpc_id", json!(balancer.vpc_id())),
        ("zones", json!(balancer.availability_zones())),
        ("listeners", json!(listeners)),
        ("instances", json!(balancer.instances().len())),
    ]);
    Ok(item
        .text("name", name)
        .set("family", "Loadbalance")
        .text("endpoint", balancer.dns_name())
        .text("healthcheck", balancer.health_check().map(|check| check.target()))
        .set("specs", specs)
        .set("datacenters", placement(region, None, None))
        .build())
}

/// A database instance, known by its ARN, with `{engine, version, …}` as specs and
/// `address:port` as endpoint. (Its resource id `db-…` would be unique on AWS too, but
/// moto 5.2 gives every instance the same one.)
fn database(database: &DbInstance, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(
        Kind::Application,
        database.db_instance_arn(),
        DESCRIBE_DB_INSTANCES,
    )?;
    let identifier = database.db_instance_identifier().unwrap_or(item.id()).to_string();
    let endpoint = database
        .endpoint()
        .and_then(|endpoint| host_port(endpoint.address(), endpoint.port()));
    let class = database.db_instance_class();
    let specs = object([
        ("engine", json!(database.engine())),
        ("version", json!(database.engine_version())),
        ("instance_class", json!(class)),
        ("storage_gb", json!(database.allocated_storage())),
        ("storage_type", json!(database.storage_type())),
        ("storage_encrypted", json!(database.storage_encrypted())),
        ("multi_az", json!(database.multi_az())),
    ]);
    Ok(item
        .tags(database.tag_list())
        .text("name", Some(&identifier))
        .set("family", "Database")
        .text("endpoint", endpoint.as_deref())
        .text("cluster", database.db_cluster_identifier())
        .status(database.db_instance_status())
        .set("specs", specs)
        .set(
            "datacenters",
            placement(
                region,
                database.availability_zone(),
                class.map(|class| (class, identifier.as_str())),
            ),
        )
        .build())
}

/// A bucket, known by its name (unique across AWS, and across Spaces).
fn bucket(bucket: &Bucket, region: &str, provider: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Application, bucket.name(), LIST_BUCKETS)?;
    let name = item.id().to_string();
    Ok(item
        .text("name", Some(&name))
        .set("family", "ObjectStorage")
        .set(
            "datacenters",
            placement_of(provider, bucket.bucket_region().unwrap_or(region), None, None),
        )
        .build())
}

/// A queue, known by its URL (unique: it holds the region and the account), named by
/// the URL's last segment and reached at the URL.
fn queue(url: &str, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Application, Some(url), LIST_QUEUES)?;
    let name = item
        .id()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .map(str::to_string);
    let fifo = name.as_deref().is_some_and(|name| name.ends_with(".fifo"));
    let specs = object([
        ("engine", json!("sqs")),
        ("type", json!(if fifo { "fifo" } else { "standard" })),
    ]);
    let url = item.id().to_string();
    Ok(item
        .text("name", name.as_deref())
        .set("family", "Broker")
        .text("endpoint", Some(&url))
        .set("specs", specs)
        .set("datacenters", placement(region, None, None))
        .build())
}

/// A table, known by `<region>/<name>`: ListTables gives only its name, which is unique
/// in a region of the account, not across regions.
fn table(name: &str, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::regional(Kind::Application, region, Some(name), LIST_TABLES)?;
    Ok(item
        .text("name", Some(name))
        .set("family", "Database")
        .set("specs", object([("engine", json!("dynamodb"))]))
        .set("datacenters", placement(region, None, None))
        .build())
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticloadbalancingv2::types::{
        AvailabilityZone, LoadBalancerSchemeEnum, LoadBalancerState, LoadBalancerStateEnum,
        LoadBalancerTypeEnum,
    };
    use aws_sdk_rds::types::Endpoint;
    use domain::Fields;
    use serde_json::Value;

    use super::*;

    fn parsed(observation: &Observation) -> impl Fn(&str) -> Value {
        let fields = Fields::parse(observation.kind, &observation.fields)
            .unwrap_or_else(|e| panic!("{}: {e}", observation.provider_id));
        move |name| fields.get(name).cloned().unwrap_or(Value::Null)
    }

    #[test]
    fn a_load_balancer_is_reached_at_its_dns_name() {
        let arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
        let balancer = LoadBalancer::builder()
            .load_balancer_arn(arn)
            .load_balancer_name("web")
            .dns_name("web-1234.eu-west-1.elb.amazonaws.com")
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .state(
                LoadBalancerState::builder()
                    .code(LoadBalancerStateEnum::Active)
                    .build(),
            )
            .availability_zones(AvailabilityZone::builder().zone_name("eu-west-1a").build())
            .build();
        let observation = load_balancer(&balancer, "eu-west-1").unwrap();
        let get = parsed(&observation);
        assert_eq!(observation.provider_id, arn);
        assert_eq!(get("name"), "web");
        assert_eq!(get("family"), "Loadbalance");
        assert_eq!(get("endpoint"), "web-1234.eu-west-1.elb.amazonaws.com");
        assert_eq!(get("status"), "Active");
        assert_eq!(
            get("specs"),
            json!({"type": "application", "scheme": "internet-facing", "zones": ["eu-west-1a"]})
        );
    }

    #[test]
    fn a_database_has_engine_version_and_endpoint() {
        let instance = DbInstance::builder()
            .db_instance_arn("arn:aws:rds:us-east-1:123456789012:db:orders")
            .db_instance_identifier("orders")
            .db_instance_class("db.t3.micro")
            .engine("postgres")
            .engine_version("16.3")
            .db_instance_status("available")
            .allocated_storage(20)
            .availability_zone("us-east-1a")
            .endpoint(
                Endpoint::builder()
                    .address("orders.abc.us-east-1.rds.amazonaws.com")
                    .port(5432)
                    .build(),
            )
            .build();
        let observation = database(&instance, "us-east-1").unwrap();
        let get = parsed(&observation);
        assert_eq!(
            observation.provider_id,
            "arn:aws:rds:us-east-1:123456789012:db:orders"
        );
        assert_eq!(get("name"), "orders");
        assert_eq!(get("family"), "Database");
        assert_eq!(get("endpoint"), "orders.abc.us-east-1.rds.amazonaws.com:5432");
        assert_eq!(get("status"), "Available");
        assert_eq!(
            get("specs"),
            json!({"engine": "postgres", "version": "16.3", "instance_class": "db.t3.micro", "storage_gb": 20})
        );
        assert_eq!(
            get("datacenters"),
            json!({"provider": "aws", "region": "us-east-1", "zone": "us-east-1a", "instance_type": "db.t3.micro", "instance_id": "orders"})
        );
    }

    #[test]
    fn a_queue_is_a_broker_reached_at_its_url() {
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo";
        let observation = queue(url, "eu-west-1").unwrap();
        let get = parsed(&observation);
        assert_eq!(observation.provider_id, url);
        assert_eq!(get("name"), "orders.fifo");
        assert_eq!(get("family"), "Broker");
        assert_eq!(get("endpoint"), url);
        assert_eq!(get("specs"), json!({"engine": "sqs", "type": "fifo"}));
        assert_eq!(
            get("datacenters"),
            json!({"provider": "aws", "region": "eu-west-1"})
        );
        assert!(queue(" ", "eu-west-1").is_err());
    }

    #[test]
    fn a_table_is_a_dynamodb_database_known_in_its_region() {
        let observation = table("orders", "us-east-1").unwrap();
        let get = parsed(&observation);
        assert_eq!(observation.provider_id, "us-east-1/orders");
        assert_eq!(get("name"), "orders");
        assert_eq!(get("family"), "Database");
        assert_eq!(get("specs"), json!({"engine": "dynamodb"}));
        assert_eq!(
            get("datacenters"),
            json!({"provider": "aws", "region": "us-east-1"})
        );
        assert!(table("", "us-east-1").is_err());
    }

    #[test]
    fn a_bucket_is_object_storage_in_its_region() {
        let observation = bucket(
            &Bucket::builder().name("logs-archive").build(),
            "eu-west-1",
            "aws",
        )
        .unwrap();
        let get = parsed(&observation);
        assert_eq!(observation.provider_id, "logs-archive");
        assert_eq!(get("family"), "ObjectStorage");
        assert_eq!(
            get("datacenters"),
            json!({"provider": "aws", "region": "eu-west-1"})
        );
    }
}
