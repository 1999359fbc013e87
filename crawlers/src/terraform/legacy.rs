//! Terraform state version 3 (Terraform 0.7 to 0.11): resources keyed by address in
//! a list of modules, each instance's attributes flattened to strings
//! (`tags.%` = "2", `tags.Name` = "web", `root_block_device.#` = "1",
//! `root_block_device.0.volume_size` = "8"). They are read into the shape version 4
//! gives, so that one set of mappings serves both; values stay strings, which
//! [`super::map::Attributes`] reads as numbers and flags where a mapping asks for them.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::state::{Instance, Resource};

/// The resources of a version 3 state document, or what is wrong with it.
pub fn resources(document: &Map<String, Value>) -> Result<Vec<Resource>, String> {
    let modules = match document.get("modules") {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(modules)) => modules,
        Some(_) => return Err("`modules` is not a list".into()),
    };
    // Instances of one resource (`aws_instance.web.0`, `aws_instance.web.1`) are gathered
    // under it, as version 4 does.
    let mut gathered: BTreeMap<(Option<String>, String, String, String), Vec<Instance>> = BTreeMap::new();
    for (index, module) in modules.iter().enumerate() {
        let path = module_path(module).ok_or_else(|| format!("modules[{index}] has no `path` list"))?;
        let Some(entries) = module.get("resources").and_then(Value::as_object) else {
            continue;
        };
        for (address, resource) in entries {
            let resource_type = resource
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{address} has no `type`"))?;
            let (mode, name) = mode_and_name(address, resource_type);
            let primary = resource.get("primary");
            let mut attributes = primary
                .and_then(|primary| primary.get("attributes"))
                .and_then(Value::as_object)
                .map(unflatten)
                .unwrap_or_default();
            if let Some(id) = primary
                .and_then(|primary| primary.get("id"))
                .filter(|id| id.is_string())
            {
                attributes.entry("id").or_insert_with(|| id.clone());
            }
            let instance = Instance {
                attributes: Some(attributes),
            };
            gathered
                .entry((path.clone(), mode, resource_type.to_string(), name))
                .or_default()
                .push(instance);
        }
    }
    Ok(gathered
        .into_iter()
        .map(|((module, mode, resource_type, name), instances)| Resource {
            mode,
            resource_type,
            name,
            module,
            instances,
        })
        .collect())
}

/// `["root", "network", "db"]` → `module.network.module.db`; the root module has none.
fn module_path(module: &Value) -> Option<Option<String>> {
    let path: Vec<&str> = module
        .get("path")?
        .as_array()?
        .iter()
        .map(Value::as_str)
        .collect::<Option<_>>()?;
    let nested: Vec<String> = path.iter().skip(1).map(|name| format!("module.{name}")).collect();
    Some((!nested.is_empty()).then(|| nested.join(".")))
}

/// `data.aws_ami.ubuntu` → (`data`, `ubuntu`); `aws_instance.web.1` → (`managed`, `web`).
fn mode_and_name(address: &str, resource_type: &str) -> (String, String) {
    let (mode, rest) = match address.strip_prefix("data.") {
        Some(rest) => ("data", rest),
        None => ("managed", address),
    };
    let rest = rest
        .strip_prefix(resource_type)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(rest);
    let name = match rest.rsplit_once('.') {
        Some((name, index)) if index.parse::<u64>().is_ok() => name,
        _ => rest,
    };
    (mode.to_string(), name.to_string())
}

/// Flattened attributes back into objects, lists and maps: `x.%` marks a map (its keys
/// may hold dots, as `kubernetes.io/role` does), `x.#` a list or set (indices, or hashes
/// for sets, order kept by index).
fn unflatten(flat: &Map<String, Value>) -> Map<String, Value> {
    let pairs: Vec<(&str, &Value)> = flat.iter().map(|(key, value)| (key.as_str(), value)).collect();
    build(&pairs, 0)
}

/// How deep flattened attributes are rebuilt: far deeper than any provider schema nests
/// blocks, and a bound on the recursion a crafted key of a million dots could ask for.
/// Below it, the rest of a key is kept whole.
const MAX_DEPTH: usize = 32;

fn build(pairs: &[(&str, &Value)], depth: usize) -> Map<String, Value> {
    let mut by_name: BTreeMap<&str, Vec<(&str, &Value)>> = BTreeMap::new();
    let mut scalars = Map::new();
    for (key, value) in pairs {
        let split = if depth < MAX_DEPTH {
            key.split_once('.')
        } else {
            None
        };
        match split {
            Some((name, rest)) => by_name.entry(name).or_default().push((rest, value)),
            None => {
                scalars.insert(key.to_string(), (*value).clone());
            }
        }
    }
    for (name, nested) in by_name {
        let value = if nested.iter().any(|(rest, _)| *rest == "%") {
            Value::Object(
                nested
                    .iter()
                    .filter(|(rest, _)| *rest != "%")
                    .map(|(rest, value)| (rest.to_string(), (*value).clone()))
                    .collect(),
            )
        } else if nested.iter().any(|(rest, _)| *rest == "#") {
            Value::Array(elements(&nested, depth + 1))
        } else {
            Value::Object(build(&nested, depth + 1))
        };
        scalars.insert(name.to_string(), value);
    }
    scalars
}

/// The elements of a flattened list, by index (or set hash): a scalar when the element
/// is `x.N` itself, an object of its attributes otherwise.
fn elements(nested: &[(&str, &Value)], depth: usize) -> Vec<Value> {
    let mut by_index: BTreeMap<(u64, &str), Vec<(&str, &Value)>> = BTreeMap::new();
    for (rest, value) in nested.iter().filter(|(rest, _)| *rest != "#") {
        let (index, inner) = rest.split_once('.').unwrap_or((rest, ""));
        let order = index.parse::<u64>().unwrap_or(u64::MAX);
        by_index.entry((order, index)).or_default().push((inner, value));
    }
    by_index
        .into_values()
        .map(|parts| match parts.as_slice() {
            [("", value)] => (*value).clone(),
            parts => Value::Object(build(parts, depth + 1)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn flattened_attributes_become_objects_lists_and_maps() {
        let flat = json!({
            "id": "i-1", "tags.%": "2", "tags.Name": "web", "tags.kubernetes.io/role": "node",
            "root_block_device.#": "1", "root_block_device.0.volume_size": "8", "root_block_device.0.volume_type": "gp2",
            "vpc_security_group_ids.#": "2", "vpc_security_group_ids.3784387245": "sg-2", "vpc_security_group_ids.12": "sg-1",
            "credit_specification.#": "0",
        });
        assert_eq!(
            Value::Object(unflatten(flat.as_object().unwrap())),
            json!({
                "id": "i-1",
                "tags": {"Name": "web", "kubernetes.io/role": "node"},
                "root_block_device": [{"volume_size": "8", "volume_type": "gp2"}],
                "vpc_security_group_ids": ["sg-1", "sg-2"],
                "credit_specification": [],
            })
        );
    }

    /// A crafted state cannot make the rebuild recurse without bound: a key of a million
    /// segments (lists and objects alike) ends as an object 32 levels deep, its rest whole.
    #[test]
    fn a_key_of_a_million_segments_is_rebuilt_to_a_bounded_depth() {
        for (segment, marker) in [("a", None), ("0", Some("a.#"))] {
            let key = format!("a.{}", vec![segment; 1_000_000].join("."));
            let mut flat = Map::new();
            flat.insert(key, json!("x"));
            if let Some(list) = marker {
                flat.insert(list.into(), json!("1"));
            }
            let rebuilt = Value::Object(unflatten(&flat));
            let mut depth = 0;
            let mut node = &rebuilt;
            while let Some(next) = node.get("a").or_else(|| node.get(0)).or_else(|| node.get("0")) {
                node = next;
                depth += 1;
            }
            assert!(depth <= MAX_DEPTH + 2, "{segment}: {depth} levels");
            assert!(
                node.as_object()
                    .is_some_and(|rest| rest.keys().any(|key| key.len() > 1_000_000)),
                "{segment}: the rest of the key is kept whole"
            );
        }
    }

    #[test]
    fn addresses_give_mode_name_and_module() {
        assert_eq!(
            mode_and_name("data.aws_ami.ubuntu", "aws_ami"),
            ("data".into(), "ubuntu".into())
        );
        assert_eq!(
            mode_and_name("aws_instance.web.1", "aws_instance"),
            ("managed".into(), "web".into())
        );
        assert_eq!(module_path(&json!({"path": ["root"]})), Some(None));
        assert_eq!(
            module_path(&json!({"path": ["root", "net", "db"]})),
            Some(Some("module.net.module.db".into()))
        );
    }
}
