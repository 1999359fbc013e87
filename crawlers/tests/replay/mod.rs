//! A local HTTP server that replays recorded provider answers to the REST crawlers
//! (OpenStack, DigitalOcean, Azure), shared by their test files.
//!
//! It answers by method and path (the query is recorded, not matched), checks the token
//! header of every request but the sign-in ones, and can
//! - split a recorded list across pages, writing the next links the provider's way (and
//!   dropping the recording's own, which points at the recorder's host),
//! - answer an error status on the Nth page,
//! - hang on the Nth page past any reasonable client timeout,
//! - record every request, for assertions on what the crawler sent.
#![allow(dead_code)] // each test file uses a part of it

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use crawlers::{CrawlError, CrawlRequest, Credentials, Observation};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// How long a hanging page waits before it answers: far past the crawlers' test timeout.
const HANG: Duration = Duration::from_secs(30);

/// How a provider's list page names the next page.
#[derive(Debug, Clone, Copy)]
pub enum Paging {
    /// `{items}_links: [{"rel": "next", "href": …}]`
    OpenStack,
    /// `links.pages.next`
    DigitalOcean,
    /// `nextLink`
    Azure,
}

/// What the server answers on one route.
#[derive(Debug, Clone)]
pub struct Answer {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
    open: bool,
    pages: Option<(String, usize, Paging)>,
    fail: Option<(usize, u16)>,
    hang: Option<usize>,
}

impl Answer {
    /// `body` with status 200, as recorded (its own next links included).
    pub fn json(body: Value) -> Answer {
        Answer {
            status: 200,
            body,
            headers: vec![],
            open: false,
            pages: None,
            fail: None,
            hang: None,
        }
    }

    /// The list `items` of `body` in pages of `per_page`, linked the provider's way.
    pub fn pages(body: Value, items: &str, per_page: usize, paging: Paging) -> Answer {
        Answer {
            pages: Some((items.to_string(), per_page, paging)),
            ..Answer::json(body)
        }
    }

    /// The list `items` of `body` in one page, without the recording's next link.
    pub fn list(body: Value, items: &str, paging: Paging) -> Answer {
        Answer::pages(body, items, usize::MAX, paging)
    }

    pub fn status(mut self, status: u16) -> Answer {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Answered without a token (sign-in endpoints).
    pub fn open(mut self) -> Answer {
        self.open = true;
        self
    }

    /// Page `page` (from 1) answers `status`.
    pub fn fail_page(mut self, page: usize, status: u16) -> Answer {
        self.fail = Some((page, status));
        self
    }

    /// Page `page` (from 1) answers only after [`HANG`].
    pub fn hang_page(mut self, page: usize) -> Answer {
        self.hang = Some(page);
        self
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct Routes {
    answers: HashMap<(Method, String), Answer>,
    token: Option<(HeaderName, String)>,
    received: Vec<Received>,
}

type Shared = Arc<Mutex<Routes>>;

/// The running server; it stops when dropped.
pub struct Replay {
    base: String,
    routes: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Replay {
    pub async fn start() -> Replay {
        let routes = Shared::default();
        let app = Router::new().fallback(answer).with_state(routes.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Replay { base, routes, server }
    }

    /// The server's address with `path`: `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every route but the open ones answers 401 unless header `name` is `value`.
    pub fn expect_token(&self, name: &str, value: &str) {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        self.routes.lock().unwrap().token = Some((name, value.to_string()));
    }

    pub fn on(&self, method: &str, path: &str, answer: Answer) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        self.routes
            .lock()
            .unwrap()
            .answers
            .insert((method, path.to_string()), answer);
    }

    /// The requests received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.routes.lock().unwrap().received.clone()
    }

    /// The requests received on `path`.
    pub fn received_on(&self, path: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.path == path).collect()
    }
}

async fn answer(
    State(routes): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let (answer, token) = {
        let mut routes = routes.lock().unwrap();
        routes.received.push(Received {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers: headers.clone(),
            body,
        });
        (
            routes.answers.get(&(method.clone(), path.clone())).cloned(),
            routes.token.clone(),
        )
    };
    let Some(answer) = answer else {
        return reply(
            404,
            json!({"message": format!("replay: nothing recorded for {method} {path}")}),
            &[],
        );
    };
    if let (false, Some((name, value))) = (answer.open, token) {
        if headers.get(&name).and_then(|v| v.to_str().ok()) != Some(value.as_str()) {
            return reply(
                401,
                json!({"message": "replay: the token is missing or wrong"}),
                &[],
            );
        }
    }
    let page = page_number(&query);
    if answer.hang == Some(page) {
        tokio::time::sleep(HANG).await;
    }
    if let Some((failing, status)) = answer.fail {
        if failing == page {
            return reply(
                status,
                json!({"message": format!("replay: page {page} fails")}),
                &[],
            );
        }
    }
    let body = match &answer.pages {
        Some((items, per_page, paging)) => {
            let next = format!("{}{}", base_of(&headers), path);
            one_page(&answer.body, items, *per_page, *paging, page, &next, &query)
        }
        None => answer.body.clone(),
    };
    reply(answer.status, body, &answer.headers)
}

fn reply(status: u16, body: Value, headers: &[(String, String)]) -> Response {
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    response
}

/// `replay_page` from the query; 1 when absent.
fn page_number(query: &str) -> usize {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("replay_page="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// `http://host:port` as the client addressed the server.
fn base_of(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// Page `page` of the list `items`, with a next link to `url` (the request's query, with
/// the next page number) when more items follow, and without the recording's own.
fn one_page(
    body: &Value,
    items: &str,
    per_page: usize,
    paging: Paging,
    page: usize,
    url: &str,
    query: &str,
) -> Value {
    let mut body = body.clone();
    let all = body[items].as_array().cloned().unwrap_or_default();
    let start = (page - 1).saturating_mul(per_page).min(all.len());
    let end = start.saturating_add(per_page).min(all.len());
    body[items] = Value::from(all[start..end].to_vec());
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("replay_page="))
        .collect();
    let next = (end < all.len()).then(|| {
        let mut query = kept.join("&");
        if !query.is_empty() {
            query.push('&');
        }
        format!("{url}?{query}replay_page={}", page + 1)
    });
    let object = body.as_object_mut().unwrap();
    match paging {
        Paging::OpenStack => {
            let key = format!("{items}_links");
            object.remove(&key);
            if let Some(next) = next {
                object.insert(key, json!([{"rel": "next", "href": next}]));
            }
        }
        Paging::DigitalOcean => {
            let links = next
                .map(|next| json!({"pages": {"next": next}}))
                .unwrap_or(json!({}));
            object.insert("links".into(), links);
        }
        Paging::Azure => {
            object.remove("nextLink");
            if let Some(next) = next {
                object.insert("nextLink".into(), Value::String(next));
            }
        }
    }
    body
}

/// A recorded answer from `tests/data/{path}`, as copied from shared/fixtures.
pub fn fixture(path: &str) -> Value {
    let file = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The response body of an Azure REST spec example (`responses."200".body`).
pub fn azure_example(name: &str) -> Value {
    fixture(&format!("azure/{name}"))["responses"]["200"]["body"].clone()
}

/// Runs one crawl of a registered provider.
pub async fn crawl(
    provider: &str,
    task: &str,
    region: &str,
    options: Value,
    credentials: &[(&str, &str)],
) -> Result<Vec<Observation>, CrawlError> {
    let provider = crawlers::provider(provider).unwrap_or_else(|| panic!("{provider} is not registered"));
    let options: Map<String, Value> = options.as_object().cloned().unwrap_or_default();
    let credentials = Credentials::new(
        credentials
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let request = CrawlRequest {
        connection: Uuid::from_u128(7),
        options: &options,
        credentials: &credentials,
        task,
        region,
        reach: crate::allowance::reach(),
    };
    provider.crawl(request).await
}

/// The observation with provider id `id`.
pub fn find<'a>(observations: &'a [Observation], id: &str) -> &'a Observation {
    observations
        .iter()
        .find(|o| o.provider_id == id)
        .unwrap_or_else(|| panic!("no observation {id} among {:?}", ids(observations)))
}

/// Tags as observations hold them, from (key, value) pairs.
pub fn tags(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

pub fn ids(observations: &[Observation]) -> Vec<&str> {
    observations.iter().map(|o| o.provider_id.as_str()).collect()
}

/// Every observation parses as its kind's fields (what the reconciliation would refuse
/// otherwise), and none holds any of `secrets`.
pub fn assert_valid(observations: &[Observation], secrets: &[&str]) {
    for observation in observations {
        domain::Fields::parse(observation.kind, &observation.fields)
            .unwrap_or_else(|e| panic!("{} {}: {e}", observation.kind, observation.provider_id));
        let text = serde_json::to_string(&observation.fields).unwrap();
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{} holds a secret",
                observation.provider_id
            );
        }
    }
}

/// The error holds none of `secrets`.
pub fn assert_secret_free(error: &CrawlError, secrets: &[&str]) {
    let text = format!("{error} {error:?}");
    for secret in secrets {
        assert!(!text.contains(secret), "the error holds a secret: {text}");
    }
}
