//! What the REST providers (OpenStack, DigitalOcean, Azure) share: an HTTP client for
//! JSON with a token and timeouts, one mapping of failures to [`CrawlError`], one loop
//! that follows a list through all its pages, the connection settings they read, and the
//! few mapping helpers all three need (host names, sizes, addresses).
//!
//! Secrets stay out of everything this module writes: tokens travel only in request
//! headers marked sensitive, [`Token`] never prints its value, and error messages name
//! what was asked for and what the provider said, never a header, a request body or a
//! query string (the URL reqwest puts in its errors is cut out).

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use reqwest::{Client, RequestBuilder, Response, StatusCode, Url};
use serde_json::{Map, Value};

use crate::source::too_large;
use crate::{CrawlError, CrawlRequest, Reach};

/// How long one request may take when the connection's `timeout_seconds` does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most pages one list may have: a guard against a provider that links its pages in
/// a circle the repeat check below does not catch (a new URL every time).
const MAX_PAGES: usize = 10_000;

/// How much of a provider's error message is kept.
const MESSAGE_LIMIT: usize = 300;

/// A token sent with each request in the header the provider expects. Its value is never
/// printed, and the header is marked sensitive so that HTTP logging hides it too.
#[derive(Clone)]
pub struct Token {
    header: HeaderName,
    value: HeaderValue,
}

impl Token {
    /// `Authorization: Bearer …` (DigitalOcean, Azure).
    pub fn bearer(token: &str) -> Result<Token, CrawlError> {
        Token::new(AUTHORIZATION, &format!("Bearer {token}"))
    }

    /// A token in a header of its own (OpenStack's `X-Auth-Token`).
    pub fn header(name: &'static str, token: &str) -> Result<Token, CrawlError> {
        Token::new(HeaderName::from_static(name), token)
    }

    fn new(header: HeaderName, value: &str) -> Result<Token, CrawlError> {
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            CrawlError::Credentials("the token has characters an HTTP header cannot carry".into())
        })?;
        value.set_sensitive(true);
        Ok(Token { header, value })
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}, value hidden)", self.header)
    }
}

/// The HTTP client of one crawl: a timeout on every request, no redirects (a redirect
/// could carry a token elsewhere), only hosts the crawl's [`Reach`] allows, answers of at
/// most its bytes, and the headers every request of the crawl sends.
#[derive(Clone)]
pub struct Rest {
    client: Client,
    headers: HeaderMap,
    reach: Reach,
}

impl Rest {
    /// A client with the connection's timeout (`timeout_seconds`, else 30 s).
    pub fn new(request: &CrawlRequest<'_>) -> Result<Rest, CrawlError> {
        let timeout = timeout(request)?;
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("maestro-crawler/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(request.reach.resolver()))
            .build()
            .map_err(|error| CrawlError::Unreachable(format!("cannot set up HTTP: {}", chain(&error))))?;
        Ok(Rest {
            client,
            headers: HeaderMap::new(),
            reach: request.reach.clone(),
        })
    }

    /// The same client, sending `token` with every request.
    pub fn with_token(&self, token: &Token) -> Rest {
        let mut rest = self.clone();
        rest.headers.insert(token.header.clone(), token.value.clone());
        rest
    }

    /// The same client, sending one more header with every request.
    pub fn with_header(&self, name: &'static str, value: &'static str) -> Rest {
        let mut rest = self.clone();
        rest.headers
            .insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        rest
    }

    /// GETs one JSON document; `what` names it in errors ("nova servers (page 2)").
    pub async fn get(&self, url: Url, what: &str) -> Result<Value, CrawlError> {
        let response = self.send(self.client.get(url), what).await?;
        self.json(response, what).await.map(|(_, body)| body)
    }

    /// POSTs a JSON body; answers the response headers and JSON body.
    pub async fn post_json(
        &self,
        url: Url,
        body: &Value,
        what: &str,
    ) -> Result<(HeaderMap, Value), CrawlError> {
        let response = self.send(self.client.post(url).json(body), what).await?;
        self.json(response, what).await
    }

    /// POSTs a form (`application/x-www-form-urlencoded`); answers the JSON body.
    pub async fn post_form(&self, url: Url, form: &[(&str, &str)], what: &str) -> Result<Value, CrawlError> {
        let response = self.send(self.client.post(url).form(form), what).await?;
        self.json(response, what).await.map(|(_, body)| body)
    }

    /// Every item of a list, following its next links through all its pages. Any page
    /// that fails fails the whole list: a partial list would orphan what it missed.
    pub async fn list(&self, list: &List<'_>) -> Result<Vec<Value>, CrawlError> {
        let mut items = vec![];
        let mut visited = HashSet::new();
        let mut url = list.url.clone();
        for page in 1..=MAX_PAGES {
            let what = format!("{} (page {page})", list.what);
            if !visited.insert(url.clone()) {
                return Err(CrawlError::Malformed(format!(
                    "{what}: the next link points back at an earlier page"
                )));
            }
            let body = self.get(url.clone(), &what).await?;
            let page_items = body.get(list.items).and_then(Value::as_array).ok_or_else(|| {
                CrawlError::Malformed(format!("{what}: the answer has no `{}` list", list.items))
            })?;
            items.extend(page_items.iter().cloned());
            match (list.next)(&body, list.items).filter(|next| !next.is_empty()) {
                None => return Ok(items),
                Some(next) => url = follow(&list.url, &url, next, &what)?,
            }
        }
        Err(CrawlError::Malformed(format!(
            "{}: more than {MAX_PAGES} pages",
            list.what
        )))
    }

    /// Sends a request to a host the reach allows (an address in the URL is checked here:
    /// the client connects to those without asking the resolver).
    async fn send(&self, builder: RequestBuilder, what: &str) -> Result<Response, CrawlError> {
        let request = builder
            .headers(self.headers.clone())
            .build()
            .map_err(|error| transport(what, &error))?;
        self.reach
            .check_url(request.url())
            .map_err(|refused| CrawlError::Unreachable(format!("{what}: {refused}")))?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|error| transport(what, &error))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        // The body of a refusal only serves the message; a failure to read it is not the news.
        let body = self.body(response, what).await.unwrap_or_default();
        Err(refusal(status, what, &body))
    }

    /// A response's body, when it is no longer than the reach allows.
    async fn body(&self, mut response: Response, what: &str) -> Result<Vec<u8>, CrawlError> {
        let max = self.reach.max_bytes();
        let mut body = vec![];
        while let Some(chunk) = response.chunk().await.map_err(|error| transport(what, &error))? {
            if (body.len() + chunk.len()) as u64 > max {
                return Err(too_large(what, &self.reach));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Reads a response's JSON body.
    async fn json(&self, response: Response, what: &str) -> Result<(HeaderMap, Value), CrawlError> {
        let headers = response.headers().clone();
        let bytes = self.body(response, what).await?;
        let body = serde_json::from_slice(&bytes)
            .map_err(|error| CrawlError::Malformed(format!("{what}: the answer is not JSON ({error})")))?;
        Ok((headers, body))
    }
}

/// A list a provider pages through.
pub struct List<'a> {
    /// Names the list in errors, e.g. "nova servers".
    pub what: &'a str,
    /// The first page.
    pub url: Url,
    /// The key of the items in each page (`servers`, `droplets`, `value`).
    pub items: &'a str,
    /// Where a page names the next one, given the page and `items`: an absolute URL or one
    /// relative to the page's. `None` (or an empty link) ends the list.
    pub next: for<'p> fn(&'p Value, &str) -> Option<&'p str>,
}

/// The URL of the next page. It must stay on the first page's host (scheme, host and
/// port): following a link elsewhere would hand the token to whoever the answer named.
fn follow(first: &Url, current: &Url, next: &str, what: &str) -> Result<Url, CrawlError> {
    let url = current
        .join(next)
        .map_err(|error| CrawlError::Malformed(format!("{what}: the next link is not a URL ({error})")))?;
    if url.origin() != first.origin() {
        return Err(CrawlError::Malformed(format!(
            "{what}: the next link leads to another host ({}); it is not followed with the credentials",
            url.host_str().unwrap_or("none")
        )));
    }
    Ok(url)
}

/// A request that got no answer: timeout, connection refused, connection cut.
fn transport(what: &str, error: &reqwest::Error) -> CrawlError {
    if error.is_timeout() {
        CrawlError::Unreachable(format!("{what}: no answer within the timeout"))
    } else {
        CrawlError::Unreachable(format!("{what}: {}", chain(error)))
    }
}

/// An error with its causes, without the URL reqwest would print (a next link may carry
/// query parameters nobody needs in a status message).
fn chain(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if let Some(url) = error.url() {
        message = message.replace(url.as_str(), "<url>");
    }
    message
}

/// An answer other than 2xx: 401 and 403 mean the credentials or their permissions.
fn refusal(status: StatusCode, what: &str, body: &[u8]) -> CrawlError {
    let message =
        provider_message(body).unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            CrawlError::Unauthorized(format!("{what}: HTTP {}: {message}", status.as_u16()))
        }
        _ => CrawlError::Provider {
            status: status.as_u16(),
            what: what.to_string(),
            message,
        },
    }
}

/// The human message in a provider's error body, wherever that provider puts it:
/// `{"message"}` (DigitalOcean), `{"error": {"message"}}` (Azure), `{"error_description"}`
/// (Azure sign-in), `{"itemNotFound": {"message"}}` (OpenStack); else the raw text.
fn provider_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(json) => json_message(&json).unwrap_or_else(|| text.to_string()),
        Err(_) => text.to_string(),
    };
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    (!message.is_empty()).then(|| message.chars().take(MESSAGE_LIMIT).collect())
}

fn json_message(json: &Value) -> Option<String> {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_string);
    text(json.get("message"))
        .or_else(|| text(json.pointer("/error/message")))
        .or_else(|| text(json.get("error_description")))
        .or_else(|| {
            json.as_object()?
                .values()
                .find_map(|inner| text(inner.get("message")))
        })
        .or_else(|| text(json.get("error")))
}

/// The default schedule windows of the discovery tasks (DOMAIN.md), one place for all.
pub mod every {
    use std::time::Duration;

    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;

    pub const SERVERS: Duration = Duration::from_secs(5 * MINUTE);
    pub const LOADBALANCE: Duration = Duration::from_secs(6 * HOUR);
    pub const VOLUMES: Duration = Duration::from_secs(6 * HOUR);
    pub const SECURITY: Duration = Duration::from_secs(6 * HOUR);
    pub const CONTAINER_ORCHESTRATION: Duration = Duration::from_secs(DAY);
    pub const STORAGE_OBJECT: Duration = Duration::from_secs(DAY);
    pub const CDNS: Duration = Duration::from_secs(5 * DAY);
    pub const NETWORK: Duration = Duration::from_secs(7 * DAY);
    pub const SNAPSHOTS: Duration = Duration::from_secs(14 * DAY);
    pub const IMAGES: Duration = Duration::from_secs(14 * DAY);
    pub const FLAVORS: Duration = Duration::from_secs(14 * DAY);
}

// Connection settings.

/// A setting that is not secret (an endpoint, a project, a tenant), from the connection's
/// options, else from its credentials, where people often put them.
pub fn setting<'a>(request: &CrawlRequest<'a>, name: &str) -> Option<&'a str> {
    request
        .options
        .get(name)
        .and_then(Value::as_str)
        .or_else(|| request.credentials.get(name))
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// A setting the provider cannot work without; `hint` says what to put there.
pub fn required_setting<'a>(
    request: &CrawlRequest<'a>,
    name: &str,
    hint: &str,
) -> Result<&'a str, CrawlError> {
    setting(request, name).ok_or_else(|| CrawlError::Settings(name.to_string(), hint.to_string()))
}

/// A URL setting, or its default.
pub fn url_setting(request: &CrawlRequest<'_>, name: &str, default: &str) -> Result<Url, CrawlError> {
    parse_url(name, setting(request, name).unwrap_or(default))
}

/// An http(s) URL given in setting `name`.
pub fn parse_url(name: &str, raw: &str) -> Result<Url, CrawlError> {
    let url = Url::parse(raw)
        .map_err(|error| CrawlError::Settings(name.to_string(), format!("`{raw}` is not a URL ({error})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: the URL holds what looks like a credential.
        return Err(CrawlError::Settings(
            name.to_string(),
            "the URL holds a user or password; put those in the connection's credentials".into(),
        ));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CrawlError::Settings(
            name.to_string(),
            format!("`{raw}` is not an http(s) URL"),
        ));
    }
    Ok(url)
}

/// The timeout of each request: the `timeout_seconds` option (a number, 0 < t ≤ 600), else 30 s.
pub fn timeout(request: &CrawlRequest<'_>) -> Result<Duration, CrawlError> {
    let Some(raw) = request.options.get("timeout_seconds") else {
        return Ok(DEFAULT_TIMEOUT);
    };
    let seconds = raw
        .as_f64()
        .or_else(|| raw.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|s| *s > 0.0 && *s <= 600.0)
        .ok_or_else(|| {
            CrawlError::Settings(
                "timeout_seconds".into(),
                format!("{raw} is not a number of seconds between 0 and 600"),
            )
        })?;
    Ok(Duration::from_secs_f64(seconds))
}

/// The region a crawl keeps, or `None` for every region: the runner crawls the region
/// `default` when a connection names none, and for the providers whose lists are global
/// (DigitalOcean, Azure) that means everything the account has.
pub fn wanted_region<'a>(request: &CrawlRequest<'a>) -> Option<&'a str> {
    let region = request.region.trim();
    (!matches!(region, "" | "default" | "all" | "*")).then_some(region)
}

/// `base` with `segments` appended to its path, each percent-encoded (a project, tenant
/// or location from the settings cannot change the path's shape).
pub fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// The error for a task a provider lists but does not crawl: never an empty answer,
/// which would orphan everything the task found before.
pub fn unknown_task(provider: &'static str, tasks: &[crate::Task], task: &str) -> CrawlError {
    CrawlError::UnknownTask {
        provider,
        task: task.to_string(),
        known: tasks.iter().map(|t| t.name).collect::<Vec<_>>().join(", "),
    }
}

// Mapping helpers.

/// A valid RFC 1123 host name from a provider's server name, which often is not one
/// ("Web Server #1", "{virtualMachineName}"): lower-cased, every character other than a
/// letter, digit, dot or dash replaced with '-', labels trimmed of dashes, empty labels
/// dropped and each cut to 63 characters. `None` when nothing usable is left.
pub fn hostname(raw: &str) -> Option<String> {
    let lower = raw.trim().to_ascii_lowercase();
    let replaced: String = lower
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let labels: Vec<String> = replaced
        .split('.')
        .map(|label| label.trim_matches('-').chars().take(63).collect::<String>())
        .map(|label| label.trim_end_matches('-').to_string())
        .filter(|label| !label.is_empty())
        .collect();
    let mut name = labels.join(".");
    name.truncate(253);
    let name = name.trim_end_matches(['.', '-']).to_string();
    domain::Hostname::parse(&name)
        .ok()
        .map(|h| h.as_str().to_string())
}

/// Whole gigabytes from a number of bytes, rounded up so that something is never 0 GB.
pub fn gigabytes_from_bytes(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 30)
}

/// Whole gigabytes from a provider's fractional count (`1.42`), rounded up.
pub fn whole_gigabytes(value: &Value) -> Option<u64> {
    let gigabytes = value.as_f64()?;
    (gigabytes >= 0.0).then(|| gigabytes.ceil() as u64)
}

/// The addresses of a server, gathered from wherever its provider lists them: the first
/// private and first public IPv4 address, and every IPv6 address.
#[derive(Debug, Default)]
pub struct Addresses {
    private: Option<String>,
    public: Option<String>,
    ipv6: Vec<String>,
}

impl Addresses {
    /// Adds an address; what does not parse as an IP address is ignored.
    pub fn add(&mut self, address: &str, public: bool) {
        let Ok(ip) = address.trim().parse::<IpAddr>() else {
            return;
        };
        let text = ip.to_string();
        match ip {
            IpAddr::V6(_) if !self.ipv6.contains(&text) => self.ipv6.push(text),
            IpAddr::V6(_) => {}
            IpAddr::V4(_) if public => {
                self.public.get_or_insert(text);
            }
            IpAddr::V4(_) => {
                self.private.get_or_insert(text);
            }
        }
    }

    /// Sets `ipv4_private`, `ipv4_public` and `ipv6_all` on a server's fields.
    pub fn write(self, fields: &mut Map<String, Value>) {
        if let Some(private) = self.private {
            fields.insert("ipv4_private".into(), Value::String(private));
        }
        if let Some(public) = self.public {
            fields.insert("ipv4_public".into(), Value::String(public));
        }
        if !self.ipv6.is_empty() {
            fields.insert("ipv6_all".into(), Value::from(self.ipv6));
        }
    }
}

/// Fields from a JSON object, without what carries no value: `null`s, empty strings
/// (which a text field refuses) and objects left empty are dropped at every depth.
pub fn fields(value: Value) -> Map<String, Value> {
    match compact(value) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, compact(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(compact).collect()),
        other => other,
    }
}

/// A single address as a CIDR block (`10.0.0.5/32`, `2001:db8::5/128`): how a network
/// interface's address is kept in a network's `cidr`. None for what is not an address.
pub fn host_cidr(address: &str) -> Option<String> {
    match address.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(ip) => Some(format!("{ip}/32")),
        IpAddr::V6(ip) => Some(format!("{ip}/128")),
    }
}

/// A string or a number as text (providers give ids as either).
pub fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An item's provider id, or an error naming the list it came from.
pub fn id(item: &Value, key: &str, what: &str) -> Result<String, CrawlError> {
    text(item.get(key)).ok_or_else(|| CrawlError::Malformed(format!("{what}: an item has no `{key}`")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn provider_names_become_valid_host_names() {
        assert_eq!(hostname("new-server-test").as_deref(), Some("new-server-test"));
        assert_eq!(hostname("Test").as_deref(), Some("test"));
        assert_eq!(
            hostname("{virtualMachineName}").as_deref(),
            Some("virtualmachinename")
        );
        assert_eq!(hostname("Web Server #1").as_deref(), Some("web-server--1"));
        assert_eq!(hostname("example.com.").as_deref(), Some("example.com"));
        assert_eq!(hostname("a..b_c").as_deref(), Some("a.b-c"));
        assert_eq!(hostname(&"x".repeat(70)).map(|h| h.len()), Some(63));
        assert_eq!(hostname("###"), None);
        assert_eq!(hostname(""), None);
    }

    #[test]
    fn sizes_round_up_to_whole_gigabytes() {
        assert_eq!(gigabytes_from_bytes(74_185_822), 1);
        assert_eq!(gigabytes_from_bytes(0), 0);
        assert_eq!(gigabytes_from_bytes(1 << 30), 1);
        assert_eq!(whole_gigabytes(&json!(1.42)), Some(2));
        assert_eq!(whole_gigabytes(&json!(100)), Some(100));
        assert_eq!(whole_gigabytes(&json!("x")), None);
    }

    #[test]
    fn addresses_keep_the_first_of_each_kind_and_every_ipv6() {
        let mut addresses = Addresses::default();
        addresses.add("10.0.0.2", false);
        addresses.add("10.0.0.3", false);
        addresses.add("2604:A880:0800:0010:0000:0000:02DD:4001", true);
        addresses.add("203.0.113.9", true);
        addresses.add("not an ip", true);
        let mut fields = Map::new();
        addresses.write(&mut fields);
        assert_eq!(
            Value::Object(fields),
            json!({"ipv4_private": "10.0.0.2", "ipv4_public": "203.0.113.9", "ipv6_all": ["2604:a880:800:10::2dd:4001"]})
        );
    }

    #[test]
    fn empty_values_are_dropped_at_every_depth() {
        let compacted = fields(
            json!({"a": null, "b": "", "c": {"d": null, "e": 1}, "f": [{"g": ""}], "h": [], "i": {"j": null}}),
        );
        assert_eq!(
            Value::Object(compacted),
            json!({"c": {"e": 1}, "f": [{}], "h": []})
        );
    }

    #[test]
    fn error_bodies_give_the_provider_message() {
        let message = |body: &str| provider_message(body.as_bytes());
        assert_eq!(
            message(r#"{"id":"unauthorized","message":"Unable to authenticate you"}"#).unwrap(),
            "Unable to authenticate you"
        );
        assert_eq!(
            message(r#"{"error":{"code":"AuthorizationFailed","message":"no access"}}"#).unwrap(),
            "no access"
        );
        assert_eq!(
            message(r#"{"itemNotFound":{"code":404,"message":"Flavor 9 could not be found."}}"#).unwrap(),
            "Flavor 9 could not be found."
        );
        assert_eq!(
            message("<html>\n Bad gateway </html>").unwrap(),
            "<html> Bad gateway </html>"
        );
        assert_eq!(message(&"x".repeat(1000)).unwrap().len(), MESSAGE_LIMIT);
        assert_eq!(message(""), None);
    }

    #[test]
    fn next_links_stay_on_the_first_host() {
        let first = Url::parse("https://api.example.com/v2/droplets?per_page=200").unwrap();
        let next = follow(&first, &first, "/v2/droplets?page=2", "droplets").unwrap();
        assert_eq!(next.as_str(), "https://api.example.com/v2/droplets?page=2");
        let error = follow(
            &first,
            &first,
            "http://elsewhere:99/v2/droplets?page=2",
            "droplets",
        )
        .unwrap_err();
        assert!(error.to_string().contains("another host (elsewhere)"), "{error}");
    }

    #[test]
    fn path_segments_are_encoded() {
        let base = Url::parse("https://login.example.com/").unwrap();
        assert_eq!(
            join(&base, &["a/b?c", "token"]).as_str(),
            "https://login.example.com/a%2Fb%3Fc/token"
        );
        let base = Url::parse("http://h:1/compute/v2.1/").unwrap();
        assert_eq!(
            join(&base, &["servers", "detail"]).as_str(),
            "http://h:1/compute/v2.1/servers/detail"
        );
    }

    #[test]
    fn a_token_never_prints() {
        let token = Token::bearer("s3cr3t-value").unwrap();
        assert!(!format!("{token:?}").contains("s3cr3t"));
    }
}
