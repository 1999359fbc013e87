//! Reading a Terraform state file (format version 4, written by Terraform 0.12 and later,
//! or version 3 of Terraform 0.7 to 0.11):
//! its resources and their instances, with the attributes the provider recorded.
//! Anything that is not such a state fails as a whole, naming the file and the problem.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::CrawlError;

/// The state format Terraform 0.12 and later write.
pub const VERSION: u64 = 4;

/// The state format of Terraform 0.7 to 0.11, read as well (see [`super::legacy`]).
const LEGACY_VERSION: u64 = 3;

/// The resources of a state, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub resources: Vec<Resource>,
}

/// A resource block: `module.network.aws_vpc.main`, with one instance per `count` or
/// `for_each` key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Resource {
    /// `managed` for resources Terraform creates, `data` for data sources it only reads.
    pub mode: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub name: String,
    #[serde(default)]
    pub module: Option<String>,
    pub instances: Vec<Instance>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Instance {
    /// Missing in states of providers that predate Terraform 0.12 (`attributes_flat`).
    #[serde(default)]
    pub attributes: Option<Map<String, Value>>,
}

impl Resource {
    /// The resource's address, as `terraform state list` shows it.
    pub fn address(&self) -> String {
        let data = if self.mode == "data" { "data." } else { "" };
        let module = self
            .module
            .as_deref()
            .map(|m| format!("{m}."))
            .unwrap_or_default();
        format!("{module}{data}{}.{}", self.resource_type, self.name)
    }

    pub fn is_managed(&self) -> bool {
        self.mode == "managed"
    }
}

/// Parses the text of the state file `file` (named in errors).
pub fn parse(file: &str, text: &str) -> Result<State, CrawlError> {
    let malformed = |problem: String| CrawlError::File(format!("Terraform state {file}: {problem}"));
    let document: Value =
        serde_json::from_str(text).map_err(|error| malformed(format!("not a JSON document ({error})")))?;
    let object = document
        .as_object()
        .ok_or_else(|| malformed("not a JSON object".into()))?;
    // Some tools write the version as a string ("4").
    let version = match object.get("version") {
        Some(Value::String(text)) => text.trim().parse::<u64>().ok(),
        other => other.and_then(Value::as_u64),
    };
    match version {
        Some(VERSION) => {}
        Some(LEGACY_VERSION) => {
            let resources = super::legacy::resources(object).map_err(malformed)?;
            return Ok(State { resources });
        }
        Some(older @ 1..LEGACY_VERSION) => {
            return Err(malformed(format!(
                "state version {older} (from before Terraform 0.7) is not read; Maestro reads versions \
                 {LEGACY_VERSION} and {VERSION}: `terraform refresh` with a later Terraform upgrades it"
            )))
        }
        Some(other) => {
            return Err(malformed(format!(
                "state version {other} is newer than Maestro reads (version {VERSION})"
            )))
        }
        None => {
            return Err(malformed(
                "no `version`: this is not a Terraform state file".into(),
            ))
        }
    }
    let resources = match object.get("resources") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(resources)) => resources
            .iter()
            .enumerate()
            .map(|(index, resource)| {
                Resource::deserialize(resource)
                    .map_err(|error| malformed(format!("resources[{index}]: {error}")))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(malformed("`resources` is not a list".into())),
    };
    Ok(State { resources })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_keep_their_address_and_attributes() {
        let state = parse(
            "s.tfstate",
            r#"{"version": 4, "resources": [{"mode": "data", "module": "module.net", "type": "aws_vpc",
               "name": "main", "instances": [{"attributes": {"id": "vpc-1"}}]}]}"#,
        )
        .unwrap();
        let resource = &state.resources[0];
        assert_eq!(resource.address(), "module.net.data.aws_vpc.main");
        assert!(!resource.is_managed());
        assert_eq!(resource.instances[0].attributes.as_ref().unwrap()["id"], "vpc-1");
    }

    #[test]
    fn an_empty_state_has_no_resources() {
        assert!(parse("s", r#"{"version": 4}"#).unwrap().resources.is_empty());
        assert!(parse("s", r#"{"version": "4"}"#).unwrap().resources.is_empty());
    }

    #[test]
    fn what_is_not_a_version_4_state_is_refused_with_the_file_and_the_reason() {
        let error = |text: &str| parse("/srv/prod.tfstate", text).unwrap_err().to_string();
        assert_eq!(
            error(r#"{"version": 2, "modules": []}"#),
            "Terraform state /srv/prod.tfstate: state version 2 (from before Terraform 0.7) is not read; Maestro \
             reads versions 3 and 4: `terraform refresh` with a later Terraform upgrades it; fix the file and \
             crawl again"
        );
        assert!(error(r#"{"version": 5}"#).contains("newer than Maestro reads"));
        assert!(error(r#"{"version": 4, "resources": [{"#)
            .contains("/srv/prod.tfstate: not a JSON document (EOF"));
        assert!(error("[]").contains("not a JSON object"));
        assert!(error(r#"{"resources": []}"#).contains("no `version`"));
        assert!(error(r#"{"version": 4, "resources": {}}"#).contains("`resources` is not a list"));
        let missing_type =
            error(r#"{"version": 4, "resources": [{"mode": "managed", "name": "x", "instances": []}]}"#);
        assert!(
            missing_type.contains("resources[0]: missing field `type`"),
            "{missing_type}"
        );
    }
}
