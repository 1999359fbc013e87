//! Keystone v3 password authentication and the service catalog of the token it gives.

use reqwest::Url;
use serde_json::{json, Value};

use crate::rest::{self, Rest, Token};
use crate::{CrawlError, CrawlRequest};

/// A signed-in OpenStack project: a client that sends the token, and where its services are.
pub struct Cloud {
    pub rest: Rest,
    catalog: Vec<Value>,
    /// The catalog region to use; `None` takes the first endpoint of the interface.
    region: Option<String>,
    interface: String,
}

/// A service endpoint from the catalog.
pub struct Endpoint {
    pub url: Url,
    pub region: String,
}

/// Signs in with the connection's user and password (`POST {auth_url}/v3/auth/tokens`),
/// scoped to its project, and keeps the token (`X-Subject-Token`) and the catalog.
pub async fn authenticate(rest: &Rest, request: &CrawlRequest<'_>) -> Result<Cloud, CrawlError> {
    let auth_url = rest::required_setting(
        request,
        "auth_url",
        "the Keystone URL, e.g. https://keystone.example.com:5000/v3",
    )?;
    let auth_url = rest::parse_url("auth_url", auth_url)?;
    let (headers, answer) = rest
        .post_json(
            tokens_url(&auth_url),
            &password_auth(request)?,
            "keystone sign-in",
        )
        .await?;
    let token = headers
        .get("x-subject-token")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| CrawlError::Malformed("keystone sign-in: the answer has no X-Subject-Token".into()))?;
    let catalog = answer
        .pointer("/token/catalog")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| {
            CrawlError::Malformed(
                "keystone sign-in: the token has no service catalog; give the user a role on the project"
                    .into(),
            )
        })?;
    Ok(Cloud {
        rest: rest.with_token(&Token::header("x-auth-token", token)?),
        catalog,
        region: rest::wanted_region(request).map(str::to_string),
        interface: rest::setting(request, "interface")
            .unwrap_or("public")
            .to_string(),
    })
}

/// `{auth_url}/v3/auth/tokens`, whether or not the setting ends in `/v3`.
fn tokens_url(auth_url: &Url) -> Url {
    let versioned = auth_url.path().trim_end_matches('/').ends_with("/v3");
    if versioned {
        rest::join(auth_url, &["auth", "tokens"])
    } else {
        rest::join(auth_url, &["v3", "auth", "tokens"])
    }
}

/// The password authentication request: user `username` (options or credentials) with
/// the `password` credential, in the domain `domain_id` or `domain` (default `Default`),
/// scoped to the project `project_id` or `project` (a name, in the same domain).
fn password_auth(request: &CrawlRequest<'_>) -> Result<Value, CrawlError> {
    let username = rest::required_setting(request, "username", "the OpenStack user name")?;
    let password = request.credentials.require("password")?;
    let domain = match rest::setting(request, "domain_id") {
        Some(id) => json!({"id": id}),
        None => json!({"name": rest::setting(request, "domain").unwrap_or("Default")}),
    };
    let project = match (
        rest::setting(request, "project_id"),
        rest::setting(request, "project"),
    ) {
        (Some(id), _) => json!({"id": id}),
        (None, Some(name)) => json!({"name": name, "domain": domain}),
        (None, None) => {
            return Err(CrawlError::Settings(
                "project".into(),
                "give the project's name (`project`) or id (`project_id`)".into(),
            ))
        }
    };
    Ok(json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": username, "domain": domain, "password": password}}},
        "scope": {"project": project},
    }}))
}

impl Cloud {
    /// The endpoint of the first of `types` (catalog service types, preferred first) that
    /// has one for the interface and region.
    pub fn endpoint(&self, types: &[&str]) -> Result<Endpoint, CrawlError> {
        for service_type in types {
            let endpoints = self
                .catalog
                .iter()
                .filter(|service| service.get("type").and_then(Value::as_str) == Some(service_type))
                .filter_map(|service| service.get("endpoints").and_then(Value::as_array))
                .flatten();
            for endpoint in endpoints {
                if let Some(found) = self.matching(endpoint)? {
                    return Ok(found);
                }
            }
        }
        Err(CrawlError::Settings(
            "regions".into(),
            format!(
                "the catalog has no {} {} endpoint in region `{}`; it has regions: {}",
                self.interface,
                types[0],
                self.region.as_deref().unwrap_or("any"),
                self.regions().join(", ")
            ),
        ))
    }

    fn matching(&self, endpoint: &Value) -> Result<Option<Endpoint>, CrawlError> {
        let field = |name: &str| endpoint.get(name).and_then(Value::as_str);
        if field("interface") != Some(self.interface.as_str()) {
            return Ok(None);
        }
        let region = field("region_id").or_else(|| field("region")).unwrap_or_default();
        let wanted = self.region.as_deref();
        if wanted.is_some_and(|wanted| wanted != region && Some(wanted) != field("region")) {
            return Ok(None);
        }
        let url = field("url")
            .ok_or_else(|| CrawlError::Malformed("keystone catalog: an endpoint has no url".into()))?;
        let url = Url::parse(url).map_err(|error| {
            CrawlError::Malformed(format!(
                "keystone catalog: endpoint `{url}` is not a URL ({error})"
            ))
        })?;
        Ok(Some(Endpoint {
            url,
            region: region.to_string(),
        }))
    }

    /// The regions the catalog names, for the error that says which exist.
    fn regions(&self) -> Vec<String> {
        let mut regions: Vec<String> = self
            .catalog
            .iter()
            .filter_map(|service| service.get("endpoints").and_then(Value::as_array))
            .flatten()
            .filter_map(|endpoint| endpoint.get("region_id").or_else(|| endpoint.get("region")))
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        regions.sort();
        regions.dedup();
        regions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tokens_url_takes_the_auth_url_with_or_without_its_version() {
        let url = |raw: &str| tokens_url(&Url::parse(raw).unwrap()).to_string();
        assert_eq!(
            url("https://keystone:5000/v3"),
            "https://keystone:5000/v3/auth/tokens"
        );
        assert_eq!(
            url("https://keystone:5000/v3/"),
            "https://keystone:5000/v3/auth/tokens"
        );
        assert_eq!(
            url("https://cloud/identity"),
            "https://cloud/identity/v3/auth/tokens"
        );
    }
}
