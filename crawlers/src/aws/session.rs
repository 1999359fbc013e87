//! One crawl's access to AWS: the SDK configuration built from the connection alone
//! (its credentials, its options and the request's region — never the environment or
//! `~/.aws`), the page size, and the translation of SDK errors into [`CrawlError`]s that
//! name the call that failed and carry no secret.

use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
use aws_types::SdkConfig;
use serde_json::Value;

use crate::{CrawlError, CrawlRequest};

/// How long one attempt of a call may take, unless the `timeout_seconds` option says
/// otherwise. A provider that stops answering fails the crawl instead of hanging it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long opening a TCP connection may take: an endpoint that drops packets fails fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Attempts per call, the first included: transient failures (throttling, 5xx, resets)
/// are retried with backoff by the SDK before the crawl gives up.
const MAX_ATTEMPTS: u32 = 3;

/// Error codes by which AWS says the credentials or their permissions were refused.
const REFUSED: &[&str] = &[
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "AccessDenied",
    "AccessDeniedException",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "MissingAuthenticationToken",
    "InvalidToken",
];

/// What a crawl of one task in one region talks to AWS with.
pub(crate) struct Session {
    config: SdkConfig,
    region: String,
    /// The `page_size` option: how many items each list call asks for.
    page_size: Option<i32>,
    /// Whether the `endpoint` option points somewhere else than AWS (moto, LocalStack).
    custom_endpoint: bool,
    /// Credential values, blanked out of every error message.
    secrets: Vec<String>,
}

/// The names of the credentials a session signs with.
pub(crate) struct Keys {
    pub access_key_id: &'static str,
    pub secret_access_key: &'static str,
    /// A temporary session's token, optional; `None` when the service has none.
    pub session_token: Option<&'static str>,
}

/// AWS's own credentials.
const AWS_KEYS: Keys = Keys {
    access_key_id: "access_key_id",
    secret_access_key: "secret_access_key",
    session_token: Some("session_token"),
};

/// A method per service that gives the service's client on the session's configuration.
macro_rules! clients {
    ($($method:ident: $sdk:ident),* $(,)?) => {
        impl Session {
            $(
                pub(super) fn $method(&self) -> $sdk::Client {
                    $sdk::Client::new(&self.config)
                }
            )*
        }
    };
}

clients! {
    ec2: aws_sdk_ec2,
    elb: aws_sdk_elasticloadbalancing,
    elbv2: aws_sdk_elasticloadbalancingv2,
    rds: aws_sdk_rds,
    sqs: aws_sdk_sqs,
    dynamodb: aws_sdk_dynamodb,
    cloudfront: aws_sdk_cloudfront,
    autoscaling: aws_sdk_autoscaling,
    elasticache: aws_sdk_elasticache,
    ses: aws_sdk_ses,
    lambda: aws_sdk_lambda,
    apigateway: aws_sdk_apigateway,
}

impl Session {
    /// Reads the connection's credentials and options. Errors say which one is wrong.
    pub(crate) fn open(request: &CrawlRequest<'_>) -> Result<Session, CrawlError> {
        let endpoint = request
            .option("endpoint")
            .map(str::trim)
            .filter(|e| !e.is_empty());
        Session::open_with(request, &AWS_KEYS, endpoint)
    }

    /// A session of an S3-compatible service (DigitalOcean Spaces): signed with the
    /// credentials `keys` names, at `endpoint` (`None`: AWS's), with the same timeout
    /// and page size options as AWS.
    pub(crate) fn open_with(
        request: &CrawlRequest<'_>,
        keys: &Keys,
        endpoint: Option<&str>,
    ) -> Result<Session, CrawlError> {
        let region = region(request.region)?;
        let access_key_id = request.credentials.require(keys.access_key_id)?;
        let secret_access_key = request.credentials.require(keys.secret_access_key)?;
        let session_token = keys
            .session_token
            .and_then(|name| request.credentials.get(name))
            .filter(|t| !t.is_empty());
        let credentials = aws_credential_types::Credentials::new(
            access_key_id,
            secret_access_key,
            session_token.map(str::to_string),
            None,
            "maestro-connection",
        );
        let timeout = match number_option(request, "timeout_seconds")? {
            Some(seconds) => Duration::from_secs(seconds),
            None => DEFAULT_TIMEOUT,
        };
        let page_size =
            number_option(request, "page_size")?.map(|size| i32::try_from(size).unwrap_or(i32::MAX));
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                    .build_with_resolver(request.reach.resolver()),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .read_timeout(timeout)
                    .operation_attempt_timeout(timeout)
                    .operation_timeout(timeout * MAX_ATTEMPTS + Duration::from_secs(10))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(endpoint) = endpoint {
            // The resolver checks names; an address in the URL is connected to directly.
            let url = reqwest::Url::parse(endpoint).map_err(|error| {
                CrawlError::Settings("endpoint".into(), format!("`{endpoint}` is not a URL ({error})"))
            })?;
            request.reach.check_url(&url)?;
            builder = builder.endpoint_url(endpoint);
        }
        let secrets = [Some(access_key_id), Some(secret_access_key), session_token]
            .into_iter()
            .flatten()
            .filter(|secret| secret.len() >= 4)
            .map(str::to_string)
            .collect();
        Ok(Session {
            config: builder.build(),
            region,
            page_size,
            custom_endpoint: endpoint.is_some(),
            secrets,
        })
    }

    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// S3 addresses buckets by path on a custom endpoint: such endpoints seldom resolve
    /// `<bucket>.<host>` names.
    pub(crate) fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.config)
            .force_path_style(self.custom_endpoint)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// The page size for a list call whose API accepts `min..=max` items per page: the
    /// `page_size` option brought into that range, else the largest page (fewest calls).
    pub(crate) fn page_size(&self, min: i32, max: i32) -> i32 {
        self.page_size.unwrap_or(max).clamp(min, max)
    }

    /// The crawl error for a failed call; `what` names the call (`ec2 DescribeInstances`).
    pub(crate) fn fail<E>(&self, what: &str, error: SdkError<E, Response>) -> CrawlError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        crawl_error(what, error, |text| self.redact(text))
    }

    /// The text with every credential value blanked out.
    fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |text, secret| {
            text.replace(secret.as_str(), "***")
        })
    }
}

/// The request's region, checked: the runner says `default` when a connection lists no
/// region, and AWS has no such region.
fn region(region: &str) -> Result<String, CrawlError> {
    let region = region.trim();
    if !is_region(region) {
        return Err(CrawlError::Settings(
            "regions".into(),
            format!("`{region}` is not an AWS region; list the regions to crawl, e.g. [\"us-east-1\", \"eu-west-1\"]"),
        ));
    }
    Ok(region.to_string())
}

/// Whether `text` looks like a region name (`eu-west-1`; also other S3-compatible
/// stores' names such as `fr-par`), and is not the runner's `default`.
pub(crate) fn is_region(text: &str) -> bool {
    !text.is_empty()
        && text != "default"
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A whole-number option ≥ 1, given as a JSON number or a numeric string.
fn number_option(request: &CrawlRequest<'_>, name: &str) -> Result<Option<u64>, CrawlError> {
    let Some(raw) = request.options.get(name).filter(|raw| !raw.is_null()) else {
        return Ok(None);
    };
    let number = match raw {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    };
    match number {
        Some(number) if number >= 1 => Ok(Some(number)),
        _ => Err(CrawlError::Settings(
            name.into(),
            format!("{raw} is not a whole number ≥ 1"),
        )),
    }
}

/// Sorts an SDK error into the crawl error that tells a person what to do about it.
fn crawl_error<E>(what: &str, error: SdkError<E, Response>, redact: impl Fn(&str) -> String) -> CrawlError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let detail = || redact(&format!("{what}: {}", DisplayErrorContext(&error)));
    match &error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let error = context.err();
            let code = error.code().unwrap_or("no error code");
            let message = redact(&format!("{code}: {}", error.message().unwrap_or("no message")));
            if context.raw().status().is_success() {
                // A success the SDK could not read: the answer, not the call, is wrong.
                CrawlError::Malformed(detail())
            } else if REFUSED.contains(&code) || status == 401 || status == 403 {
                CrawlError::Unauthorized(format!("{what}: {message}"))
            } else {
                CrawlError::Provider {
                    status,
                    what: what.to_string(),
                    message,
                }
            }
        }
        SdkError::TimeoutError(_) => CrawlError::Unreachable(format!("{what} timed out")),
        SdkError::ResponseError(_) => CrawlError::Malformed(detail()),
        SdkError::ConstructionFailure(_) => CrawlError::Settings("endpoint".into(), detail()),
        _ => CrawlError::Unreachable(detail()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Map};
    use uuid::Uuid;

    use super::*;
    use crate::Credentials;

    fn credentials() -> Credentials {
        Credentials::new(BTreeMap::from([
            ("access_key_id".to_string(), "AKIDEXAMPLE".to_string()),
            (
                "secret_access_key".to_string(),
                "wJalrXUtnFEMI/K7MDENG".to_string(),
            ),
        ]))
    }

    fn open(options: Value, credentials: &Credentials, region: &str) -> Result<Session, CrawlError> {
        let options: Map<String, Value> = options.as_object().unwrap().clone();
        Session::open(&CrawlRequest {
            connection: Uuid::nil(),
            options: &options,
            credentials,
            task: "server-list",
            region,
            reach: &crate::Reach::default(),
        })
    }

    #[test]
    fn the_page_size_option_is_kept_inside_each_api_range() {
        let session = open(json!({"page_size": 2}), &credentials(), "us-east-1").unwrap();
        assert_eq!(session.page_size(5, 1000), 5);
        assert_eq!(session.page_size(1, 400), 2);
        let session = open(json!({"page_size": "50"}), &credentials(), "us-east-1").unwrap();
        assert_eq!(session.page_size(20, 100), 50);
        let session = open(json!({}), &credentials(), "us-east-1").unwrap();
        assert_eq!(session.page_size(5, 1000), 1000);
    }

    #[test]
    fn wrong_settings_name_the_setting() {
        let error = open(json!({"page_size": 0}), &credentials(), "us-east-1")
            .err()
            .unwrap();
        assert_eq!(
            error,
            CrawlError::Settings("page_size".into(), "0 is not a whole number ≥ 1".into())
        );
        let error = open(json!({"timeout_seconds": "soon"}), &credentials(), "us-east-1")
            .err()
            .unwrap();
        assert!(
            matches!(error, CrawlError::Settings(ref name, _) if name == "timeout_seconds"),
            "{error}"
        );
        let error = open(json!({}), &credentials(), "default").err().unwrap();
        assert!(
            matches!(error, CrawlError::Settings(ref name, _) if name == "regions"),
            "{error}"
        );
        let error = open(json!({}), &Credentials::default(), "us-east-1")
            .err()
            .unwrap();
        assert_eq!(
            error,
            CrawlError::Credentials("the connection has no `access_key_id` credential".into())
        );
    }

    #[test]
    fn credential_values_are_blanked_out_of_messages() {
        let session = open(json!({}), &credentials(), "eu-west-1").unwrap();
        assert_eq!(
            session.redact("key AKIDEXAMPLE signed with wJalrXUtnFEMI/K7MDENG"),
            "key *** signed with ***"
        );
        assert_eq!(session.region(), "eu-west-1");
    }
}
