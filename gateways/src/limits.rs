//! What one request may ask of the gateway. Each limit, when hit, is answered with a
//! GraphQL error that says which limit and by how much.

use std::time::Duration;

/// Deepest selection nesting a query may have.
pub const MAX_DEPTH: usize = 12;
/// The most fields (weighted by async-graphql's default complexity of 1 per field) a
/// query may select.
pub const MAX_COMPLEXITY: usize = 2_000;
/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest multipart request body (GraphQL file uploads: Terraform states, Ansible
/// facts), files and query together. Such a body is held in memory while it is read.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;
/// How long one query or mutation may run.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
