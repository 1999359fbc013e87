//! Crawls of uploaded files: a Terraform state, or Ansible facts files (one per host,
//! each named after it), sent with the GraphQL multipart request
//! (<https://github.com/jaydenseric/graphql-multipart-request-spec>) and crawled for a
//! connection instead of its configured source. The gateway only checks who may crawl
//! the connection and hands the bytes to a crawler process (`crawlers::UploadCrawls`),
//! which reads and crawls them at once and otherwise like any crawl: it records each
//! task's status on the connection, and what the files no longer hold that an earlier
//! crawl of the connection found is orphaned. The request's size is capped by
//! [`crate::limits::MAX_UPLOAD_BYTES`].

use std::io::Read;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, TypeRef};
use crawlers::{Job, UploadCrawls, UploadedFile};
use domain::Level;
use serde_json::json;
use uuid::Uuid;

use super::connections::{connection, optional};
use super::values::{from_json, value_object};
use crate::errors::{bad_input, coded, internal, refused};

const SUMMARY: &str = "CrawlSummary";

/// The uploaded files' names (the last part of their file names) and bytes. Reading
/// them (from the temporary files the multipart parser wrote) blocks, so it runs aside.
async fn uploaded_files(ctx: &ResolverContext<'_>) -> async_graphql::Result<Vec<UploadedFile>> {
    let mut uploads = vec![];
    for upload in ctx.args.try_get("files")?.list()?.iter() {
        uploads.push(upload.upload()?.value(ctx).map_err(internal)?);
    }
    let read = tokio::task::spawn_blocking(move || {
        uploads
            .into_iter()
            .map(|upload| {
                let name = upload
                    .filename
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if name.is_empty() {
                    return Err(bad_input(
                        "files",
                        "an uploaded file has no name; send each with its file name",
                    ));
                }
                let mut bytes = vec![];
                upload.into_read().read_to_end(&mut bytes).map_err(internal)?;
                Ok(UploadedFile { name, bytes })
            })
            .collect()
    });
    read.await.map_err(internal)?
}

pub fn mutation() -> Field {
    Field::new("crawlUpload", TypeRef::named_nn(SUMMARY), |ctx| {
        FieldFuture::new(async move {
            let (connection, _) = connection(&ctx, "id", Level::Write).await?;
            let files = uploaded_files(&ctx).await?;
            let job = Job { id: Uuid::now_v7(), connection, task: optional(&ctx, "task")?, region: None };
            let Some(crawls) = ctx.data::<Option<UploadCrawls>>()? else {
                return Err(coded("crawling uploads needs NATS and a crawler process; start them with `ops/up` and `maestro serve --roles crawler`", "UNAVAILABLE"));
            };
            let summary = crawls.ask(&job, files).await.map_err(refused)?;
            let skipped: Vec<_> = summary
                .skipped
                .iter()
                .map(|(skipped_type, count)| json!({"type": skipped_type, "count": count}))
                .collect();
            let value = json!({"jobId": job.id, "connectionId": connection, "total": summary.total,
                               "errors": summary.errors, "skipped": skipped});
            Ok(Some(FieldValue::value(from_json(&value))))
        })
    })
    .description(
        "Crawls uploaded files for a Terraform or Ansible connection instead of its configured source: one \
         Terraform state, or Ansible facts files (`ansible HOSTS -m setup --tree DIR`) each named after its host. \
         Send them as a GraphQL multipart request. The crawl runs now, records each task's status on the \
         connection like any crawl, and orphans what the files no longer hold; a file that cannot be read \
         fails its tasks (see `errors`) and orphans nothing.",
    )
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)).description("The connection."))
    .argument(InputValue::new("task", TypeRef::named(TypeRef::STRING)).description("Only this task; every task when null."))
    .argument(InputValue::new("files", TypeRef::named_nn_list_nn(TypeRef::UPLOAD)))
}

pub fn types() -> Vec<Object> {
    let skipped = value_object(
        "SkippedType",
        &[
            ("type", TypeRef::named_nn(TypeRef::STRING)),
            ("count", TypeRef::named_nn(TypeRef::INT)),
        ],
    )
    .description(
        "A type the files hold that Maestro does not map (a Terraform resource type, or `data sources`), and \
         how many of it: told apart from \"nothing there\".",
    );
    vec![skipped, value_object(
        SUMMARY,
        &[
            ("jobId", TypeRef::named_nn(TypeRef::ID)),
            ("connectionId", TypeRef::named_nn(TypeRef::ID)),
            ("total", TypeRef::named_nn("CrawlCounts")),
            ("errors", TypeRef::named_nn_list_nn(TypeRef::STRING)),
            ("skipped", TypeRef::named_nn_list_nn("SkippedType")),
        ],
    )
    .description(
        "What a crawl of uploaded files changed. `jobId` is the correlation id of the changes it made; `errors` \
         says what failed (a file that cannot be read, items Maestro cannot take).",
    )]
}
