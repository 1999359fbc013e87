//! What every AWS mapping shares: building an observation's fields, the placement
//! object, and AWS lifecycle words in the domain's status vocabulary.

use domain::Kind;
use serde_json::{json, Map, Value};

use crate::{CrawlError, Observation};

/// One item being mapped. Each field the mapping owns is always set: a value AWS no
/// longer gives (a public IP after a stop) is sent as null, which clears the stale value.
pub(super) struct Item {
    kind: Kind,
    provider_id: String,
    fields: Map<String, Value>,
    tags: Vec<(String, String)>,
}

impl Item {
    /// An item with AWS's own id for it; an item without one is a malformed answer,
    /// since it could be neither matched again nor orphaned.
    pub(super) fn new(kind: Kind, provider_id: Option<&str>, what: &str) -> Result<Item, CrawlError> {
        let provider_id = provider_id
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| CrawlError::Malformed(format!("{what} listed an item without an id")))?;
        Ok(Item {
            kind,
            provider_id: provider_id.to_string(),
            fields: Map::new(),
            tags: vec![],
        })
    }

    /// An item AWS names uniquely only within a region (a DynamoDB table, an SES
    /// identity, a REST API, a classic load balancer): known by `<region>/<name>`.
    pub(super) fn regional(
        kind: Kind,
        region: &str,
        name: Option<&str>,
        what: &str,
    ) -> Result<Item, CrawlError> {
        let id = name
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| format!("{region}/{name}"));
        Item::new(kind, id.as_deref(), what)
    }

    pub(super) fn id(&self) -> &str {
        &self.provider_id
    }

    /// A value, or null when there is none.
    pub(super) fn set(mut self, name: &str, value: impl Into<Value>) -> Item {
        self.fields.insert(name.to_string(), value.into());
        self
    }

    /// A text value; AWS's empty strings (a stopped instance's DNS name) become null.
    pub(super) fn text(self, name: &str, value: Option<&str>) -> Item {
        let value = value.map(str::trim).filter(|v| !v.is_empty());
        self.set(name, value)
    }

    /// A list; an empty one becomes null.
    pub(super) fn list(self, name: &str, values: Vec<Value>) -> Item {
        let value = (!values.is_empty()).then_some(Value::Array(values));
        self.set(name, value)
    }

    /// The status for an AWS lifecycle word; null for a word the domain has no status for.
    pub(super) fn status(self, state: Option<&str>) -> Item {
        self.set("status", state.and_then(status))
    }

    /// The resource's tags.
    pub(super) fn tags<T: SdkTag>(mut self, tags: &[T]) -> Item {
        self.tags.extend(pairs(tags));
        self
    }

    pub(super) fn build(self) -> Observation {
        Observation::new(self.kind, self.provider_id, self.fields).tagged(self.tags)
    }
}

/// A tag as one AWS service's SDK types it: each service has its own `Tag` type, with the
/// key and the value both optional.
pub(super) trait SdkTag {
    fn tag_key(&self) -> Option<&str>;
    fn tag_value(&self) -> Option<&str>;
}

/// Tags as (key, value); a tag without a key is no tag.
pub(super) fn pairs<T: SdkTag>(tags: &[T]) -> Vec<(String, String)> {
    tags.iter()
        .filter_map(|tag| {
            Some((
                tag.tag_key()?.to_string(),
                tag.tag_value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

macro_rules! sdk_tags {
    ($($tag:ty),+) => {$(
        impl SdkTag for $tag {
            fn tag_key(&self) -> Option<&str> {
                <$tag>::key(self).into()
            }
            fn tag_value(&self) -> Option<&str> {
                <$tag>::value(self).into()
            }
        }
    )+};
}

sdk_tags!(
    aws_sdk_ec2::types::Tag,
    aws_sdk_rds::types::Tag,
    aws_sdk_autoscaling::types::TagDescription,
    aws_sdk_elasticloadbalancingv2::types::Tag,
    aws_sdk_elasticloadbalancing::types::Tag
);

/// Where an item runs: `{provider: aws, region, zone?, instance_type?, instance_id?}`.
pub(super) fn placement(region: &str, zone: Option<&str>, instance: Option<(&str, &str)>) -> Value {
    placement_of("aws", region, zone, instance)
}

/// [`placement`] at another provider that speaks an AWS API (DigitalOcean Spaces).
pub(super) fn placement_of(
    provider: &str,
    region: &str,
    zone: Option<&str>,
    instance: Option<(&str, &str)>,
) -> Value {
    let (instance_type, instance_id) = instance.unzip();
    object([
        ("provider", json!(provider)),
        ("region", json!(region)),
        ("zone", json!(zone)),
        ("instance_type", json!(instance_type)),
        ("instance_id", json!(instance_id)),
    ])
}

/// An address with its port (`host:5432`), the address alone when there is no port.
pub(super) fn host_port(address: Option<&str>, port: Option<i32>) -> Option<String> {
    let address = address.map(str::trim).filter(|a| !a.is_empty())?;
    Some(match port {
        Some(port) => format!("{address}:{port}"),
        None => address.to_string(),
    })
}

/// An object of the given members that have a value: nulls and empty strings are left out.
pub(super) fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    let members = members
        .into_iter()
        .filter(|(_, value)| !value.is_null() && value.as_str() != Some(""))
        .map(|(name, value)| (name.to_string(), value));
    Value::Object(members.collect())
}

/// An AWS lifecycle word (EC2 states, volume and snapshot states, RDS, load balancer,
/// ElastiCache and CloudFront statuses, Lambda states) as a domain status, when there
/// is one that means the same.
pub(super) fn status(state: &str) -> Option<&'static str> {
    let status = match state.to_ascii_lowercase().as_str() {
        "running" => "Running",
        "active" | "deployed" => "Active",
        "available" | "completed" => "Available",
        "in-use" => "In-use",
        "stopped" | "stopping" => "Stopped",
        "pending"
        | "creating"
        | "provisioning"
        | "starting"
        | "rebooting"
        | "modifying"
        | "backing-up"
        | "renaming"
        | "upgrading"
        | "configuring-enhanced-monitoring"
        | "resetting-master-credentials"
        | "rebooting cache cluster nodes"
        | "inprogress" => "Pending",
        "maintenance" | "active_impaired" | "storage-optimization" | "snapshotting" => "Maintenance",
        "shutting-down" | "terminated" | "deleting" | "deleted" => "Terminated",
        "error"
        | "failed"
        | "invalid"
        | "storage-full"
        | "inaccessible-encryption-credentials"
        | "incompatible-network"
        | "incompatible-parameters"
        | "incompatible-restore"
        | "restore-failed" => "Error",
        _ => return None,
    };
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mapped_status_is_one_the_domain_takes() {
        for state in [
            "running",
            "active",
            "available",
            "completed",
            "in-use",
            "stopped",
            "pending",
            "creating",
            "maintenance",
            "terminated",
            "deleting",
            "failed",
            "storage-full",
        ] {
            let status = status(state).unwrap_or_else(|| panic!("{state} has no status"));
            domain::Status::parse(status).unwrap_or_else(|e| panic!("{state}: {e}"));
        }
        assert_eq!(status("Running"), Some("Running"));
        assert_eq!(status("in-use"), Some("In-use"));
        assert_eq!(status("Deployed"), Some("Active"));
        assert_eq!(status("InProgress"), Some("Pending"));
        assert_eq!(status("something-new"), None);
    }

    #[test]
    fn missing_values_are_null_so_that_they_clear() {
        let observation = Item::new(Kind::Server, Some("i-1"), "test")
            .unwrap()
            .text("hostname", Some("web"))
            .text("dns_public", Some(""))
            .list("ipv6_all", vec![])
            .status(Some("running"))
            .build();
        assert_eq!(observation.provider_id, "i-1");
        assert_eq!(observation.fields["hostname"], "web");
        assert_eq!(observation.fields["dns_public"], Value::Null);
        assert_eq!(observation.fields["ipv6_all"], Value::Null);
        assert_eq!(observation.fields["status"], "Running");
        domain::Fields::parse(observation.kind, &observation.fields).unwrap();
    }

    #[test]
    fn an_item_without_an_id_is_a_malformed_answer() {
        let error = Item::new(Kind::Volume, Some(" "), "ec2 DescribeVolumes")
            .err()
            .unwrap();
        assert_eq!(
            error,
            CrawlError::Malformed("ec2 DescribeVolumes listed an item without an id".into())
        );
    }

    #[test]
    fn objects_and_placement_leave_out_what_is_unknown() {
        assert_eq!(
            object([
                ("engine", json!("mysql")),
                ("version", Value::Null),
                ("class", json!(""))
            ]),
            json!({"engine": "mysql"})
        );
        assert_eq!(
            placement("eu-west-1", Some("eu-west-1a"), Some(("t3.micro", "i-1"))),
            json!({"provider": "aws", "region": "eu-west-1", "zone": "eu-west-1a", "instance_type": "t3.micro", "instance_id": "i-1"})
        );
        assert_eq!(
            placement("eu-west-1", Some(""), None),
            json!({"provider": "aws", "region": "eu-west-1"})
        );
    }
}
