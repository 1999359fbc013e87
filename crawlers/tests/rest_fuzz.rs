//! The REST providers' parsers on hostile answers (issue 10: "a fuzz target for each
//! provider's parser"): what OpenStack, Azure and DigitalOcean answer is data Maestro
//! does not control, so every task must turn any answer into observations or an error,
//! never a panic. A local server answers every list call with the recorded answers of
//! `tests/data`, mutated at random (values replaced by other JSON, keys dropped, lists
//! emptied), all list keys at once, so each task finds its own list among them; the
//! sign-in calls answer as the provider would, so that the lists are reached.
//! Property-based (proptest): a failing case prints the seed that makes it.

mod allowance;
mod replay;

use std::sync::{Arc, Mutex};

use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use proptest::prelude::*;
use replay::fixture;
use serde_json::{json, Map, Value};

const TOKEN: &str = "fuzz-token-0123456789";
const SECRET: &str = "fuzz-secret-0123456789";

/// What the server answers a GET: the answer for the path's last segment, or else the
/// merged one.
#[derive(Default)]
struct Answers {
    by_last_segment: Vec<(&'static str, Value)>,
    otherwise: Value,
}

impl Answers {
    fn for_path(&self, path: &str) -> &Value {
        let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        self.by_last_segment
            .iter()
            .find(|(segment, _)| *segment == last)
            .map_or(&self.otherwise, |(_, answer)| answer)
    }
}

/// Answers every GET from its [`Answers`], and the sign-ins with a token.
struct Fuzzed {
    base: String,
    body: Arc<Mutex<Answers>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Fuzzed {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Fuzzed {
    async fn start() -> Fuzzed {
        let body = Arc::new(Mutex::new(Answers::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (answering, catalog_base) = (body.clone(), base.clone());
        let app = Router::new().fallback(move |method: Method, uri: Uri| {
            let (answers, base) = (answering.clone(), catalog_base.clone());
            async move { answer(&method, answers.lock().unwrap().for_path(uri.path()), &base) }
        });
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fuzzed { base, body, server }
    }
}

fn answer(method: &Method, body: &Value, base: &str) -> Response {
    if method != Method::POST {
        return (StatusCode::OK, axum::Json(body.clone())).into_response();
    }
    // Keystone's and Azure AD's sign-ins, in one answer: each reads its own part.
    let endpoint = |path: &str| json!({"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{base}{path}")});
    let catalog = json!({
        "token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN,
        "token": {"methods": ["password"], "catalog": [
            {"type": "identity", "endpoints": [endpoint("/identity")]},
            {"type": "compute", "endpoints": [endpoint("/compute/v2.1")]},
            {"type": "volumev3", "endpoints": [endpoint("/volume/v3")]},
            {"type": "network", "endpoints": [endpoint("/network/")]},
            {"type": "load-balancer", "endpoints": [endpoint("/load-balancer")]},
        ]},
    });
    let mut response = (StatusCode::CREATED, axum::Json(catalog)).into_response();
    response
        .headers_mut()
        .insert("x-subject-token", HeaderValue::from_static(TOKEN));
    response
}

/// The recorded answers of a provider: each file's name and body.
fn recordings(provider: &str) -> Vec<(String, Value)> {
    let folder = format!("{}/tests/data/{provider}", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| {
            let recorded = fixture(&format!("{provider}/{name}"));
            let body = match recorded.pointer("/responses/200/body") {
                Some(body) => body.clone(), // Azure's examples wrap the answer
                None => recorded,
            };
            (name.clone(), body)
        })
        .collect()
}

/// A small deterministic generator, so that a case is its seed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % sides.max(1)
    }

    fn any_json(&mut self, depth: u32) -> Value {
        match self.roll(if depth == 0 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(self.roll(2) == 0),
            2 => json!(self.roll(u64::MAX) as i64),
            3 => json!(-1.5e300),
            4 => {
                let odd = ["é", "\u{0}", "-1", "1e999", "../../etc", "a b\n c", "%s%n"];
                json!(odd[self.roll(odd.len() as u64) as usize].repeat(1 + self.roll(100) as usize))
            }
            5 => json!(""),
            6 => Value::Array((0..self.roll(3)).map(|_| self.any_json(depth - 1)).collect()),
            _ => Value::Object(
                (0..self.roll(3))
                    .map(|n| (format!("k{n}"), self.any_json(depth - 1)))
                    .collect(),
            ),
        }
    }

    /// `value` with about one node in `odds` replaced, dropped or emptied.
    fn mutate(&mut self, value: &Value, odds: u64) -> Value {
        if self.roll(odds) == 0 {
            return self.any_json(2);
        }
        match value {
            Value::Object(members) => {
                let mut kept = Map::new();
                for (key, member) in members {
                    if self.roll(odds) != 0 {
                        kept.insert(key.clone(), self.mutate(member, odds));
                    }
                }
                Value::Object(kept)
            }
            Value::Array(items) if self.roll(odds) == 0 => Value::Array(vec![]),
            Value::Array(items) => Value::Array(items.iter().map(|item| self.mutate(item, odds)).collect()),
            other => other.clone(),
        }
    }
}

/// Azure lists all answer `value`, so each is served on its own path: the path's last
/// segment, and the recording whose name holds it.
const AZURE_ROUTES: &[(&str, &str)] = &[
    ("virtualMachines", "VirtualMachine_ListBySubscription_ByLocation"),
    ("vmSizes", "VirtualMachineSizes_List"),
    ("disks", "Disk_ListBySubscription"),
    ("images", "Image_ListBySubscription"),
    ("snapshots", "Snapshot_ListBySubscription"),
    ("networkInterfaces", "NetworkInterfaceListAll"),
    ("publicIPAddresses", "PublicIpAddressListAll"),
    ("routeTables", "RouteTableListAll"),
    ("virtualNetworks", "VirtualNetworkListAll"),
];

/// The answers for `provider`: its recordings, mutated when a seed is given, without the
/// paging links (a mutated link must not page forever). Azure's by path; the others'
/// merged into one object, where each list has a key of its own.
fn answers_of(provider: &str, seed: Option<u64>) -> Answers {
    let mut dice = seed.map(|seed| Dice(seed | 1));
    let odds = dice.as_mut().map_or(0, |dice| 2 + dice.roll(12));
    let mut answers = Answers::default();
    let mut merged = Map::new();
    for (name, recording) in recordings(provider) {
        let answered = match dice.as_mut() {
            Some(dice) => dice.mutate(&recording, odds),
            None => recording,
        };
        let Value::Object(members) = answered else {
            continue;
        };
        let members: Map<String, Value> = members
            .into_iter()
            .filter(|(key, _)| key != "links" && key != "nextLink" && !key.ends_with("_links"))
            .collect();
        match AZURE_ROUTES.iter().find(|(_, file)| name.contains(file)) {
            Some((segment, _)) if provider == "azure" => {
                answers.by_last_segment.push((segment, Value::Object(members)))
            }
            _ => merged.extend(members),
        }
    }
    answers.otherwise = Value::Object(merged);
    answers
}

/// Runs every task of `provider` against the answer of `seed` (the recordings as they are
/// without one): each answers, in time, and neither observations nor errors carry the
/// secret. Returns how many observations the tasks made.
fn crawl_every_task(
    provider: &str,
    region: &str,
    options: impl Fn(&str) -> Value,
    credential: &str,
    seed: Option<u64>,
) -> Result<usize, TestCaseError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let registered = crawlers::provider(provider).expect("a registered provider");
    runtime.block_on(async {
        let server = Fuzzed::start().await;
        *server.body.lock().unwrap() = answers_of(provider, seed);
        let mut observed = 0;
        for task in registered.tasks() {
            let (provider, task_name, options) =
                (provider.to_string(), task.name.to_string(), options(&server.base));
            let (credential, region) = (credential.to_string(), region.to_string());
            let crawl = async move {
                replay::crawl(&provider, &task_name, &region, options, &[(&credential, SECRET)]).await
            };
            // Spawned: a panic in the crawler is a failed task here, not a torn runtime.
            let joined = tokio::time::timeout(std::time::Duration::from_secs(30), tokio::spawn(crawl)).await;
            let answered =
                joined.map_err(|_| TestCaseError::fail(format!("{} did not answer", task.name)))?;
            let answered =
                answered.map_err(|panic| TestCaseError::fail(format!("{} panicked: {panic}", task.name)))?;
            let text = match answered {
                Ok(observations) => {
                    observed += observations.len();
                    serde_json::to_string(&observations.iter().map(|o| &o.fields).collect::<Vec<_>>())
                        .unwrap()
                }
                Err(error) => {
                    prop_assert!(!error.to_string().is_empty());
                    format!("{error} {error:?}")
                }
            };
            prop_assert!(
                !text.contains(SECRET) && !text.contains(TOKEN),
                "{}: {text}",
                task.name
            );
        }
        Ok(observed)
    })
}

fn digitalocean(base: &str) -> Value {
    json!({"endpoint": format!("{base}/"), "timeout_seconds": 2})
}

fn azure(base: &str) -> Value {
    json!({
        "tenant_id": "tenant-1", "client_id": "client-1", "subscription_id": "subid",
        "login_endpoint": format!("{base}/"), "endpoint": format!("{base}/"), "timeout_seconds": 2,
    })
}

fn openstack(base: &str) -> Value {
    json!({
        "auth_url": format!("{base}/identity/v3"), "username": "demo", "project": "demo-project",
        "domain": "Default", "timeout_seconds": 2,
    })
}

/// Without mutations, the recordings make observations in every provider: the fuzzing
/// below reaches the parsers, not only the sign-in.
#[test]
fn unmutated_answers_reach_every_providers_parsers() {
    assert!(crawl_every_task("digitalocean", "nyc3", digitalocean, "token", None).unwrap() > 0);
    assert!(crawl_every_task("azure", "eastus", azure, "client_secret", None).unwrap() > 0);
    assert!(crawl_every_task("openstack", "RegionOne", openstack, "password", None).unwrap() > 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn digitalocean_answers_any_answer(seed in any::<u64>()) {
        crawl_every_task("digitalocean", "nyc3", digitalocean, "token", Some(seed))?;
    }

    #[test]
    fn azure_answers_any_answer(seed in any::<u64>()) {
        crawl_every_task("azure", "eastus", azure, "client_secret", Some(seed))?;
    }

    #[test]
    fn openstack_answers_any_answer(seed in any::<u64>()) {
        crawl_every_task("openstack", "RegionOne", openstack, "password", Some(seed))?;
    }
}
