//! `cdns-list`, `autoscaling-list`, `cache-list`, `smtp-list`, `serverless-list`,
//! `serverless-support-list` and `gateway-list`: more managed services as applications
//! of their family (CDN, AutoScaling, Cache, SMTP, Serverless, ServerlessLayer,
//! ApiGateway).

use aws_sdk_apigateway::types::RestApi;
use aws_sdk_autoscaling::types::AutoScalingGroup;
use aws_sdk_cloudfront::types::DistributionSummary;
use aws_sdk_elasticache::types::CacheCluster;
use aws_sdk_lambda::types::{FunctionConfiguration, LayersListItem};
use domain::Kind;
use serde_json::{json, Value};

use super::observe::{host_port, object, placement, Item};
use super::session::Session;
use crate::{CrawlError, Observation};

const LIST_DISTRIBUTIONS: &str = "cloudfront ListDistributions";
const DESCRIBE_AUTO_SCALING_GROUPS: &str = "autoscaling DescribeAutoScalingGroups";
const DESCRIBE_CACHE_CLUSTERS: &str = "elasticache DescribeCacheClusters";
const LIST_IDENTITIES: &str = "ses ListIdentities";
const LIST_FUNCTIONS: &str = "lambda ListFunctions";
const LIST_LAYERS: &str = "lambda ListLayers";
const GET_REST_APIS: &str = "apigateway GetRestApis";

/// CloudFront distributions. CloudFront is global: every region's crawl lists the same
/// distributions, so they are placed at AWS without a region — a crawl of another region
/// then finds nothing to change — and keep the provenance of the first region that saw
/// them.
pub(super) async fn distributions(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        LIST_DISTRIBUTIONS,
        session
            .cloudfront()
            .list_distributions()
            .into_paginator()
            .page_size(session.page_size(1, 1000)),
        |page| page
            .distribution_list()
            .map(|list| list.items())
            .unwrap_or_default(),
        distribution
    )
}

pub(super) async fn auto_scaling_groups(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        DESCRIBE_AUTO_SCALING_GROUPS,
        session
            .autoscaling()
            .describe_auto_scaling_groups()
            .into_paginator()
            .page_size(session.page_size(1, 100)),
        |page| page.auto_scaling_groups(),
        |group| auto_scaling_group(group, session.region())
    )
}

/// Cache clusters with their nodes' endpoints (`ShowCacheNodeInfo`): a Redis cluster has
/// no configuration endpoint, only its nodes'.
pub(super) async fn cache_clusters(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        DESCRIBE_CACHE_CLUSTERS,
        session
            .elasticache()
            .describe_cache_clusters()
            .show_cache_node_info(true)
            .into_paginator()
            .page_size(session.page_size(20, 100)),
        |page| page.cache_clusters(),
        |cluster| cache_cluster(cluster, session.region())
    )
}

/// The SES identities (addresses and domains) that may send mail in the region.
pub(super) async fn mail_identities(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        LIST_IDENTITIES,
        session
            .ses()
            .list_identities()
            .into_paginator()
            .page_size(session.page_size(1, 1000)),
        |page| page.identities(),
        |identity| mail_identity(identity, session.region())
    )
}

pub(super) async fn functions(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        LIST_FUNCTIONS,
        session
            .lambda()
            .list_functions()
            .into_paginator()
            .page_size(session.page_size(1, 50)),
        |page| page.functions(),
        |function| serverless_function(function, session.region())
    )
}

pub(super) async fn layers(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        LIST_LAYERS,
        session
            .lambda()
            .list_layers()
            .into_paginator()
            .page_size(session.page_size(1, 50)),
        |page| page.layers(),
        |layer| serverless_layer(layer, session.region())
    )
}

pub(super) async fn rest_apis(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        GET_REST_APIS,
        session
            .apigateway()
            .get_rest_apis()
            .into_paginator()
            .page_size(session.page_size(1, 500)),
        |page| page.items(),
        |api| rest_api(api, session.region())
    )
}

/// Strings as a JSON list, or null when there are none (so that `object` leaves it out).
fn texts<'a>(values: impl IntoIterator<Item = &'a str>) -> Value {
    let values: Vec<&str> = values.into_iter().collect();
    if values.is_empty() {
        Value::Null
    } else {
        json!(values)
    }
}

/// An enum value the answer had: the SDK fills a required one the answer lacked with
/// `Unknown("no value was set")`, which is no value.
fn known<T: AsRef<str>>(value: &T) -> Option<&str> {
    let text = value.as_ref();
    (text != "no value was set").then_some(text)
}

/// A distribution, known by its ARN, named by its first alternate domain name (the one
/// people know it by) or else its CloudFront domain name, and reached at the latter.
fn distribution(distribution: &DistributionSummary) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Application, Some(distribution.arn()), LIST_DISTRIBUTIONS)?;
    let aliases: Vec<&str> = distribution
        .aliases()
        .map(|aliases| aliases.items().iter().map(String::as_str).collect())
        .unwrap_or_default();
    let origins = distribution
        .origins()
        .map(|origins| texts(origins.items().iter().map(|origin| origin.domain_name())))
        .unwrap_or(Value::Null);
    let domain_name = Some(distribution.domain_name()).filter(|name| !name.trim().is_empty());
    let name = aliases
        .first()
        .copied()
        .or(domain_name)
        .unwrap_or(distribution.id());
    let specs = object([
        ("id", json!(distribution.id())),
        ("aliases", texts(aliases.iter().copied())),
        ("origins", origins),
        ("enabled", json!(distribution.enabled())),
        ("price_class", json!(known(distribution.price_class()))),
        ("http_version", json!(known(distribution.http_version()))),
    ]);
    Ok(item
        .text("name", Some(name))
        .set("family", "CDN")
        .text("endpoint", domain_name)
        .text("description", Some(distribution.comment()))
        .status(Some(distribution.status()))
        .set("specs", specs)
        .set("datacenters", object([("provider", json!("aws"))]))
        .build())
}

/// An Auto Scaling group, known by its ARN, with its sizes and what it launches.
fn auto_scaling_group(group: &AutoScalingGroup, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(
        Kind::Application,
        group.auto_scaling_group_arn(),
        DESCRIBE_AUTO_SCALING_GROUPS,
    )?;
    let name = group.auto_scaling_group_name().unwrap_or(item.id()).to_string();
    let template = group
        .launch_template()
        .and_then(|template| template.launch_template_name().or(template.launch_template_id()));
    let specs = object([
        ("min_size", json!(group.min_size())),
        ("max_size", json!(group.max_size())),
        ("desired_capacity", json!(group.desired_capacity())),
        ("instances", json!(group.instances().len())),
        ("launch_template", json!(template)),
        ("launch_configuration", json!(group.launch_configuration_name())),
        ("health_check_type", json!(group.health_check_type())),
        (
            "zones",
            texts(group.availability_zones().iter().map(String::as_str)),
        ),
        (
            "load_balancers",
            texts(group.load_balancer_names().iter().map(String::as_str)),
        ),
        (
            "target_groups",
            texts(group.target_group_arns().iter().map(String::as_str)),
        ),
    ]);
    Ok(item
        .tags(group.tags())
        .text("name", Some(&name))
        .set("family", "AutoScaling")
        .status(group.status())
        .set("specs", specs)
        .set("datacenters", placement(region, None, None))
        .build())
}

/// A cache cluster, known by its ARN, reached at its configuration endpoint (Memcached)
/// or its first node's (Redis, Valkey).
fn cache_cluster(cluster: &CacheCluster, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Application, cluster.arn(), DESCRIBE_CACHE_CLUSTERS)?;
    let id = cluster.cache_cluster_id().unwrap_or(item.id()).to_string();
    let endpoint = cluster
        .configuration_endpoint()
        .or_else(|| cluster.cache_nodes().iter().find_map(|node| node.endpoint()))
        .and_then(|endpoint| host_port(endpoint.address(), endpoint.port()));
    let node_type = cluster.cache_node_type();
    let specs = object([
        ("engine", json!(cluster.engine())),
        ("version", json!(cluster.engine_version())),
        ("node_type", json!(node_type)),
        ("nodes", json!(cluster.num_cache_nodes())),
        ("transit_encryption", json!(cluster.transit_encryption_enabled())),
        ("at_rest_encryption", json!(cluster.at_rest_encryption_enabled())),
    ]);
    Ok(item
        .text("name", Some(&id))
        .set("family", "Cache")
        .text("endpoint", endpoint.as_deref())
        .text("cluster", cluster.replication_group_id())
        .status(cluster.cache_cluster_status())
        .set("specs", specs)
        .set(
            "datacenters",
            placement(
                region,
                cluster.preferred_availability_zone(),
                node_type.map(|node_type| (node_type, id.as_str())),
            ),
        )
        .build())
}

/// An SES identity, known by `<region>/<identity>`: an identity is verified region by
/// region, so the same address in two regions is two senders.
fn mail_identity(identity: &str, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::regional(Kind::Application, region, Some(identity), LIST_IDENTITIES)?;
    let kind = if identity.contains('@') { "email" } else { "domain" };
    Ok(item
        .text("name", Some(identity))
        .set("family", "SMTP")
        .set(
            "specs",
            object([("engine", json!("ses")), ("identity", json!(kind))]),
        )
        .set("datacenters", placement(region, None, None))
        .build())
}

/// A Lambda function, known by its ARN; its runtime is its language.
fn serverless_function(function: &FunctionConfiguration, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Application, function.function_arn(), LIST_FUNCTIONS)?;
    let name = function.function_name().unwrap_or(item.id()).to_string();
    let runtime = function.runtime().map(|runtime| runtime.as_str());
    let specs = object([
        ("runtime", json!(runtime)),
        ("handler", json!(function.handler())),
        ("memory_mb", json!(function.memory_size())),
        ("timeout_seconds", json!(function.timeout())),
        ("code_size", json!(function.code_size())),
        (
            "package_type",
            json!(function.package_type().map(|package| package.as_str())),
        ),
        (
            "architectures",
            texts(function.architectures().iter().map(|a| a.as_str())),
        ),
        (
            "layers",
            texts(function.layers().iter().filter_map(|layer| layer.arn())),
        ),
    ]);
    Ok(item
        .text("name", Some(&name))
        .set("family", "Serverless")
        .text("language", runtime)
        .text("description", function.description())
        .status(function.state().map(|state| state.as_str()))
        .set("specs", specs)
        .set("datacenters", placement(region, None, None))
        .build())
}

/// A Lambda layer, known by its ARN (without version), with its latest version.
fn serverless_layer(layer: &LayersListItem, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Application, layer.layer_arn(), LIST_LAYERS)?;
    let name = layer.layer_name().unwrap_or(item.id()).to_string();
    let latest = layer.latest_matching_version();
    let specs = object([
        ("version", json!(latest.map(|version| version.version()))),
        (
            "runtimes",
            latest
                .map(|version| texts(version.compatible_runtimes().iter().map(|r| r.as_str())))
                .unwrap_or(Value::Null),
        ),
        (
            "architectures",
            latest
                .map(|version| texts(version.compatible_architectures().iter().map(|a| a.as_str())))
                .unwrap_or(Value::Null),
        ),
    ]);
    Ok(item
        .text("name", Some(&name))
        .set("family", "ServerlessLayer")
        .text("description", latest.and_then(|version| version.description()))
        .set("specs", specs)
        .set("datacenters", placement(region, None, None))
        .build())
}

/// A REST API, known by `<region>/<id>`, reached at its default `execute-api` address
/// unless that address is turned off.
fn rest_api(api: &RestApi, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::regional(Kind::Application, region, api.id(), GET_REST_APIS)?;
    let api_id = api.id().unwrap_or_default().trim();
    let endpoint = (!api.disable_execute_api_endpoint())
        .then(|| format!("https://{api_id}.execute-api.{region}.amazonaws.com"));
    let types = api
        .endpoint_configuration()
        .map(|configuration| texts(configuration.types().iter().map(|t| t.as_str())))
        .unwrap_or(Value::Null);
    let specs = object([
        ("id", json!(api_id)),
        ("endpoint_types", types),
        ("version", json!(api.version())),
        (
            "api_key_source",
            json!(api.api_key_source().map(|source| source.as_str())),
        ),
    ]);
    Ok(item
        .text("name", Some(api.name().unwrap_or(api_id)))
        .set("family", "ApiGateway")
        .text("endpoint", endpoint.as_deref())
        .text("description", api.description())
        .set("specs", specs)
        .set("datacenters", placement(region, None, None))
        .build())
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudfront::types::{HttpVersion, PriceClass};

    use super::*;

    fn summary(aliases: &[&str]) -> DistributionSummary {
        let mut builder = DistributionSummary::builder()
            .id("E2QWRUHAPOMQZL")
            .arn("arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL")
            .status("InProgress")
            .domain_name("d111111abcdef8.cloudfront.net")
            .comment("")
            .enabled(false)
            .price_class(PriceClass::PriceClassAll)
            .http_version(HttpVersion::Http2)
            .web_acl_id("")
            .is_ipv6_enabled(true)
            .staging(false);
        if !aliases.is_empty() {
            let mut list = aws_sdk_cloudfront::types::Aliases::builder().quantity(aliases.len() as i32);
            for alias in aliases {
                list = list.items(*alias);
            }
            builder = builder.aliases(list.build().unwrap());
        }
        builder
            .set_last_modified_time(Some(aws_smithy_types::DateTime::from_secs(0)))
            .build()
            .unwrap()
    }

    #[test]
    fn a_distribution_without_aliases_is_named_by_its_domain_name() {
        let observation = distribution(&summary(&[])).unwrap();
        assert_eq!(observation.fields["name"], "d111111abcdef8.cloudfront.net");
        assert_eq!(observation.fields["status"], "Pending");
        assert_eq!(
            observation.fields["description"],
            Value::Null,
            "an empty comment clears"
        );
        let observation = distribution(&summary(&["cdn.example.com", "img.example.com"])).unwrap();
        assert_eq!(observation.fields["name"], "cdn.example.com");
        assert_eq!(
            observation.fields["specs"]["aliases"],
            json!(["cdn.example.com", "img.example.com"])
        );
        domain::Fields::parse(observation.kind, &observation.fields).unwrap();
    }

    #[test]
    fn an_api_without_its_execute_api_address_has_no_endpoint() {
        let api = RestApi::builder()
            .id("a1b2c3d4e5")
            .name("private")
            .disable_execute_api_endpoint(true)
            .build();
        let observation = rest_api(&api, "eu-west-1").unwrap();
        assert_eq!(observation.provider_id, "eu-west-1/a1b2c3d4e5");
        assert_eq!(observation.fields["endpoint"], Value::Null);
        assert!(rest_api(&RestApi::builder().name("no id").build(), "eu-west-1").is_err());
    }

    #[test]
    fn mail_identities_are_addresses_or_domains_of_their_region() {
        let address = mail_identity("ops@example.com", "us-east-1").unwrap();
        assert_eq!(address.provider_id, "us-east-1/ops@example.com");
        assert_eq!(address.fields["specs"]["identity"], "email");
        let domain = mail_identity("example.com", "us-east-1").unwrap();
        assert_eq!(domain.fields["specs"]["identity"], "domain");
        assert!(mail_identity(" ", "us-east-1").is_err());
    }
}
