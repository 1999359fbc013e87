//! The file providers' parsers on random input (issue 10: "a fuzz target for each
//! provider's parser"): a Terraform state or Ansible facts file is whatever the person who
//! uploads it wrote, so every task of both providers must answer any bytes, any JSON and
//! any near-miss of their format with observations or an error that names the file,
//! never a panic. Property-based (proptest): a failing input is shrunk and printed.

use crawlers::{CrawlRequest, Credentials, Reach, SourceFile};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Where the random file says it comes from; every error must name it.
const ORIGIN: &str = "fuzzed-file (uploaded)";

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "[a-z0-9_./: -]{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,14}", inner, 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A state of the current format with resources of types Maestro maps (and some it
/// does not), whose attributes are random.
fn terraform_state() -> impl Strategy<Value = Value> {
    let resource_type = prop_oneof![
        Just("aws_instance".to_string()),
        Just("aws_vpc".to_string()),
        Just("aws_ebs_volume".to_string()),
        Just("aws_security_group".to_string()),
        Just("aws_lb".to_string()),
        Just("openstack_compute_instance_v2".to_string()),
        Just("digitalocean_droplet".to_string()),
        "[a-z_]{1,20}",
    ];
    let resource = (resource_type, "[a-z_]{1,8}", any_json(), prop_oneof![Just("managed"), Just("data")]).prop_map(
        |(kind, name, attributes, mode)| json!({"mode": mode, "type": kind, "name": name, "instances": [{"attributes": attributes}]}),
    );
    (prop::collection::vec(resource, 0..6), prop_oneof![Just(json!(4)), Just(json!(3)), any_json()])
        .prop_map(|(resources, version)| json!({"version": version, "terraform_version": "1.5.0", "resources": resources}))
}

fn ansible_facts() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop_oneof![
            Just("ansible_nodename".to_string()),
            Just("ansible_memtotal_mb".to_string()),
            Just("ansible_processor_vcpus".to_string()),
            Just("ansible_default_ipv4".to_string()),
            Just("ansible_mounts".to_string()),
            Just("ansible_distribution".to_string()),
            "ansible_[a-z_]{1,12}",
        ],
        any_json(),
        0..8,
    )
    .prop_map(|facts| json!({"ansible_facts": facts.into_iter().collect::<Map<_, _>>(), "changed": false}))
}

/// Crawls `bytes` as the file `name` with every task of `provider`: each must answer,
/// and each error must name the file.
fn crawl_every_task(provider: &str, name: &str, bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let provider = crawlers::provider(provider).expect("a registered provider");
    let file = match SourceFile::from_bytes(ORIGIN.to_string(), name.to_string(), bytes) {
        Ok(file) => file,
        Err(error) => {
            prop_assert!(error.to_string().contains(ORIGIN), "{error}");
            return Ok(());
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (options, credentials, reach) = (Map::new(), Credentials::default(), Reach::default());
    for task in provider.tasks() {
        let request = CrawlRequest {
            connection: Uuid::nil(),
            options: &options,
            credentials: &credentials,
            task: task.name,
            region: "default",
            reach: &reach,
        };
        if let Err(error) = runtime.block_on(provider.crawl_files(request, std::slice::from_ref(&file))) {
            prop_assert!(error.to_string().contains(ORIGIN), "{}: {error}", task.name);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn terraform_answers_any_state(state in terraform_state()) {
        crawl_every_task("terraform", "terraform.tfstate", state.to_string().into_bytes())?;
    }

    #[test]
    fn terraform_answers_any_json_or_bytes(value in any_json(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        crawl_every_task("terraform", "terraform.tfstate", value.to_string().into_bytes())?;
        crawl_every_task("terraform", "terraform.tfstate", bytes)?;
    }

    #[test]
    fn ansible_answers_any_facts(facts in ansible_facts(), host in "[a-z0-9-]{1,20}") {
        crawl_every_task("ansible", &host, facts.to_string().into_bytes())?;
    }

    #[test]
    fn ansible_answers_any_json_or_bytes(value in any_json(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        crawl_every_task("ansible", "web-1", value.to_string().into_bytes())?;
        crawl_every_task("ansible", "web-1", bytes)?;
    }
}
