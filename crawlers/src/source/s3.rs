//! Reading an object, or every object under a prefix, from S3 or an S3-compatible store
//! (MinIO, moto) through the AWS SDK, with the AWS provider's session: the same
//! credentials, `endpoint`, `timeout_seconds` and `page_size` options, retries, and
//! errors that carry no secret.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use super::{required, settings, too_large, Shape, SourceFile};
use crate::aws::session::{is_region, Session};
use crate::{CrawlError, CrawlRequest, Reach};

/// The region asked when neither the `s3_region` option nor the crawl names one: AWS
/// answers a request for a bucket of another region with a redirect, which the error then
/// turns into "set `s3_region`".
const DEFAULT_REGION: &str = "us-east-1";

/// Objects of a prefix fetched at once: a tree of a few hundred hosts' facts reads in
/// seconds without opening hundreds of connections.
const CONCURRENT_GETS: usize = 8;

/// What to read in a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Objects {
    /// One object.
    Key(String),
    /// Every object directly under a prefix that ends with `/`, like the files of a folder.
    Prefix(String),
}

/// Objects of a bucket, and the region to ask for them when the connection names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    pub bucket: String,
    pub objects: Objects,
    /// The `s3_region` option.
    pub region: Option<String>,
}

impl fmt::Display for S3Target {
    /// `s3://bucket/key`, as the AWS CLI writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Objects::Key(path) | Objects::Prefix(path)) = &self.objects;
        write!(f, "s3://{}/{path}", self.bucket)
    }
}

impl S3Target {
    /// `bucket` and `key` (one object; a key ending with `/` reads the objects under
    /// it), or `bucket` and `prefix`; `s3_region` optionally.
    pub fn from_options(options: &Map<String, Value>) -> Result<S3Target, CrawlError> {
        let bucket = required(options, "bucket", "give the S3 bucket to read from")?.to_string();
        let present = |name: &str| options.get(name).is_some_and(|value| !value.is_null());
        let objects = match (present("key"), present("prefix")) {
            (true, true) => {
                return Err(settings(
                    "prefix",
                    "give either `key` (one object) or `prefix` (every object under it), not both",
                ))
            }
            (false, true) => {
                let prefix = required(options, "prefix", "give the prefix whose objects to read")?;
                Objects::Prefix(format!("{}/", prefix.trim_end_matches('/')))
            }
            _ => {
                let key = required(
                    options,
                    "key",
                    "give the key of the object to read (or `prefix` to read every object under it)",
                )?;
                match key.ends_with('/') {
                    true => Objects::Prefix(key.to_string()),
                    false => Objects::Key(key.to_string()),
                }
            }
        };
        let region = match options.get("s3_region").and_then(Value::as_str).map(str::trim) {
            None | Some("") => None,
            Some(region) if is_region(region) => Some(region.to_string()),
            Some(region) => {
                return Err(settings(
                    "s3_region",
                    format!("`{region}` is not a region; give the bucket's region, e.g. eu-west-1"),
                ))
            }
        };
        Ok(S3Target {
            bucket,
            objects,
            region,
        })
    }

    /// The `s3_region` option, else the crawl's region, else [`DEFAULT_REGION`] (the
    /// runner says `default` for a connection that lists no region).
    fn region<'a>(&'a self, crawl_region: &'a str) -> &'a str {
        match &self.region {
            Some(region) => region,
            None if is_region(crawl_region) => crawl_region,
            None => DEFAULT_REGION,
        }
    }

    /// Reads the object, or the objects under the prefix (not those of deeper prefixes,
    /// nor hidden ones) sorted by name, with the connection's AWS credentials.
    pub(super) async fn read(
        &self,
        shape: Shape,
        request: &CrawlRequest<'_>,
    ) -> Result<Vec<SourceFile>, CrawlError> {
        let region = self.region(request.region);
        let session = Session::open(&CrawlRequest {
            region,
            ..request.clone()
        })?;
        let client = session.s3();
        let prefix = match &self.objects {
            Objects::Key(key) => {
                return Ok(vec![
                    self.get(&session, &client, key, shape, request.reach).await?,
                ])
            }
            Objects::Prefix(_) if shape == Shape::File => {
                return Err(settings(
                    "key",
                    format!("{self} is a prefix; give the key of the file itself"),
                ))
            }
            Objects::Prefix(prefix) => prefix,
        };
        let keys = self.list(&session, &client, prefix).await?;
        if keys.is_empty() {
            return Err(settings("prefix", format!("{self} holds no objects")));
        }
        // The reads are made first and polled a few at a time: a closure mapping the
        // stream would be too general for the `Send` check of the provider's future.
        let gets: Vec<_> = keys
            .iter()
            .map(|key| self.get(&session, &client, key, shape, request.reach))
            .collect();
        futures::stream::iter(gets)
            .buffered(CONCURRENT_GETS)
            .try_collect()
            .await
    }

    /// The keys of the objects directly under `prefix`, every page of them, by name.
    async fn list(
        &self,
        session: &Session,
        client: &aws_sdk_s3::Client,
        prefix: &str,
    ) -> Result<Vec<String>, CrawlError> {
        let pages: Vec<_> = client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .delimiter("/")
            .into_paginator()
            .page_size(session.page_size(1, 1000))
            .send()
            .try_collect()
            .await
            .map_err(|error| self.error(session, &format!("s3 ListObjectsV2 {self}"), None, error))?;
        let mut keys: Vec<String> = pages
            .iter()
            .flat_map(|page| page.contents())
            .filter_map(|object| object.key())
            .filter(|key| {
                key.strip_prefix(prefix)
                    .is_some_and(|name| !name.is_empty() && !name.starts_with('.') && !name.contains('/'))
            })
            .map(str::to_string)
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// One object as a file named after the last part of its key, when it is no larger
    /// than the reach allows.
    async fn get(
        &self,
        session: &Session,
        client: &aws_sdk_s3::Client,
        key: &str,
        shape: Shape,
        reach: &Reach,
    ) -> Result<SourceFile, CrawlError> {
        let origin = format!("s3://{}/{key}", self.bucket);
        let output = client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| {
                let missing = Some((origin.as_str(), shape));
                self.error(session, &format!("s3 GetObject {origin}"), missing, error)
            })?;
        let max = reach.max_bytes();
        if output.content_length().is_some_and(|length| length as u64 > max) {
            return Err(too_large(&origin, reach));
        }
        let mut body = output.body;
        let mut bytes = vec![];
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|error| {
                CrawlError::Unreachable(format!("reading {origin} failed midway: {error}"))
            })?;
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(too_large(&origin, reach));
            }
            bytes.extend_from_slice(&chunk);
        }
        let name = key.rsplit('/').next().unwrap_or(key).to_string();
        SourceFile::from_bytes(origin, name, bytes)
    }

    /// The crawl error for a failed call; `what` names it. A missing bucket or key, or a
    /// bucket of another region, is a setting of the connection to fix; `object` is the
    /// object asked for, if any, and what the provider expects there.
    fn error<E>(
        &self,
        session: &Session,
        what: &str,
        object: Option<(&str, Shape)>,
        error: SdkError<E, Response>,
    ) -> CrawlError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = error.as_service_error().and_then(ProvideErrorMetadata::code);
        match (code, object) {
            (Some("NoSuchBucket"), _) => settings(
                "bucket",
                format!("bucket `{}` does not exist (reading {self})", self.bucket),
            ),
            (Some("NoSuchKey"), Some((origin, Shape::File))) => {
                settings("key", format!("{origin} does not exist"))
            }
            (Some("NoSuchKey"), Some((origin, Shape::FileOrDirectory))) => settings(
                "key",
                format!("{origin} does not exist; to read every object under a prefix, end the key with `/`"),
            ),
            (Some("PermanentRedirect" | "AuthorizationHeaderMalformed"), _) => settings(
                "s3_region",
                format!(
                    "bucket `{}` is not in {}; set the `s3_region` option to the bucket's region",
                    self.bucket,
                    session.region()
                ),
            ),
            _ => session.fail(what, error),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn target(options: Value) -> Result<S3Target, CrawlError> {
        S3Target::from_options(options.as_object().unwrap())
    }

    #[test]
    fn a_key_is_one_object_and_a_prefix_or_a_key_ending_with_a_slash_are_many() {
        let one = target(json!({"bucket": "b", "key": "env/prod/terraform.tfstate"})).unwrap();
        assert_eq!(one.objects, Objects::Key("env/prod/terraform.tfstate".into()));
        assert_eq!(one.to_string(), "s3://b/env/prod/terraform.tfstate");
        let tree = target(json!({"bucket": "b", "key": "facts/"})).unwrap();
        assert_eq!(tree.objects, Objects::Prefix("facts/".into()));
        let tree = target(json!({"bucket": "b", "prefix": "facts", "s3_region": "eu-west-3"})).unwrap();
        assert_eq!(
            (tree.objects.clone(), tree.region.as_deref()),
            (Objects::Prefix("facts/".into()), Some("eu-west-3"))
        );
    }

    #[test]
    fn the_region_is_the_option_then_the_crawls_then_us_east_1() {
        let given = target(json!({"bucket": "b", "key": "k", "s3_region": "eu-west-3"})).unwrap();
        assert_eq!(given.region("us-west-2"), "eu-west-3");
        let unset = target(json!({"bucket": "b", "key": "k"})).unwrap();
        assert_eq!(unset.region("us-west-2"), "us-west-2");
        assert_eq!(unset.region("default"), "us-east-1");
    }

    #[test]
    fn wrong_options_name_the_setting() {
        let setting = |options: Value| match target(options) {
            Err(CrawlError::Settings(name, _)) => name,
            other => panic!("{other:?}"),
        };
        assert_eq!(setting(json!({"key": "k"})), "bucket");
        assert_eq!(setting(json!({"bucket": "b"})), "key");
        assert_eq!(setting(json!({"bucket": "b", "key": " "})), "key");
        assert_eq!(
            setting(json!({"bucket": "b", "key": "k", "prefix": "p"})),
            "prefix"
        );
        assert_eq!(
            setting(json!({"bucket": "b", "key": "k", "s3_region": "Paris"})),
            "s3_region"
        );
    }
}
