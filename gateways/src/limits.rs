//! What one request, and all of them together, may ask of the gateway. Each limit, when
//! hit, is answered with an error that says which limit and what to do instead. The fixed
//! ones are here; what an operator sizes to the deployment is [`Limits`].

use std::time::Duration;

/// Deepest selection nesting a query may have.
pub const MAX_DEPTH: usize = 12;
/// The most a query may cost: every field counts once for each item of the pages it is
/// in, so a field under `servers(first: 100) { … applications(first: 20) }` counts 2000
/// times. Introspection fields take no page size and count once.
pub const MAX_COMPLEXITY: u64 = 50_000;
/// The most aliases (`a: servers`, `b: servers`, …) one request may use: an alias asks
/// for the same work again under another name.
pub const MAX_ALIASES: u64 = 15;
/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest multipart request body (GraphQL file uploads: Terraform states, Ansible
/// facts), files and query together. Uploaded files are streamed to temporary files, and
/// only a signed-in person may send one.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;
/// How long a client may take to send its request body: a slow sender cannot hold a
/// request slot for longer.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one query or mutation may run, over HTTP and WebSocket alike.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The limits an operator sizes to the deployment (`MAESTRO_MAX_CONCURRENT_REQUESTS`,
/// `MAESTRO_SUBSCRIPTION_BUFFER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// GraphQL requests over HTTP served at once; more are answered 503 at once, so that
    /// a flood cannot queue up memory and database work. WebSocket connections count only
    /// while they are being opened.
    pub max_concurrent_requests: usize,
    /// Events buffered per subscription. A subscriber that falls further behind is sent
    /// an error and closed, rather than silently missing events.
    pub subscription_buffer: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_concurrent_requests: 64,
            subscription_buffer: 4_096,
        }
    }
}
