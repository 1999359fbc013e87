//! Reading the facts Ansible gathered: one JSON file per host, as `ansible HOSTS -m setup
//! --tree DIR` writes them (`DIR/<inventory name>` holding `{"ansible_facts": {...}}`).
//! A file that is not such a result fails the crawl as a whole, naming the file, the host
//! and what is wrong: a host missing from the answer would be orphaned.

use serde_json::{Map, Value};

use crate::source::SourceFile;
use crate::CrawlError;

/// One host's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// The host's name in the inventory: the name of its file.
    pub inventory_name: String,
    /// Where its facts were read, for messages.
    pub origin: String,
    pub facts: Map<String, Value>,
}

impl Host {
    /// Parses one file of the tree.
    pub fn parse(file: &SourceFile) -> Result<Host, CrawlError> {
        let host = &file.name;
        let malformed =
            |problem: String| CrawlError::File(format!("facts file {}: host {host}: {problem}", file.origin));
        let result: Value = serde_json::from_str(&file.text)
            .map_err(|error| malformed(format!("not a JSON document ({error})")))?;
        let result = result
            .as_object()
            .ok_or_else(|| malformed("not a JSON object".into()))?;
        if let Some(failure) = failure(result) {
            return Err(malformed(format!(
                "Ansible could not gather its facts: {failure}"
            )));
        }
        let facts = result
            .get("ansible_facts")
            .and_then(Value::as_object)
            .ok_or_else(|| malformed("ansible_facts missing".into()))?;
        if !facts.contains_key("ansible_nodename") {
            let said = result
                .get("msg")
                .and_then(Value::as_str)
                .map(|msg| format!(" (Ansible said: {msg})"));
            return Err(malformed(format!(
                "ansible_facts has no ansible_nodename: gather them with the setup module, unfiltered{}",
                said.unwrap_or_default()
            )));
        }
        Ok(Host {
            inventory_name: host.clone(),
            origin: file.origin.clone(),
            facts: facts.clone(),
        })
    }

    /// An error about this host's facts.
    pub fn malformed(&self, problem: impl std::fmt::Display) -> CrawlError {
        CrawlError::File(format!(
            "facts file {}: host {}: {problem}",
            self.origin, self.inventory_name
        ))
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        self.facts
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    pub fn number(&self, key: &str) -> Option<u64> {
        self.facts.get(key).and_then(number)
    }

    pub fn object(&self, key: &str) -> Option<&Map<String, Value>> {
        self.facts.get(key).and_then(Value::as_object)
    }

    pub fn list(&self, key: &str) -> &[Value] {
        self.facts
            .get(key)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

/// A whole number ≥ 0, given as a number or, as older Ansible versions write some, a
/// numeric string (`"sectors": "536870912"`).
pub fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Why Ansible says the host failed, if it does.
fn failure(result: &Map<String, Value>) -> Option<String> {
    let flagged = |key: &str| result.get(key).and_then(Value::as_bool).unwrap_or(false);
    if !(flagged("failed") || flagged("unreachable")) {
        return None;
    }
    Some(
        result
            .get("msg")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> SourceFile {
        SourceFile {
            origin: format!("/tree/{name}"),
            name: name.into(),
            text: text.into(),
        }
    }

    #[test]
    fn a_result_with_facts_is_a_host_named_by_its_file() {
        let host = Host::parse(&file("web-1", r#"{"ansible_facts": {"ansible_nodename": "web1", "ansible_memtotal_mb": 2048}, "changed": false}"#)).unwrap();
        assert_eq!(host.inventory_name, "web-1");
        assert_eq!(host.text("ansible_nodename"), Some("web1"));
        assert_eq!(host.number("ansible_memtotal_mb"), Some(2048));
    }

    #[test]
    fn broken_results_name_the_file_the_host_and_the_problem() {
        let error = |text: &str| Host::parse(&file("web-1", text)).unwrap_err().to_string();
        assert_eq!(
            error(r#"{"changed": false}"#),
            "facts file /tree/web-1: host web-1: ansible_facts missing; fix the file and crawl again"
        );
        assert!(error(r#"{"ansible_facts": {"#).contains("host web-1: not a JSON document (EOF"));
        assert!(
            error(r#"{"unreachable": true, "msg": "Failed to connect to the host via ssh"}"#)
                .contains("could not gather its facts: Failed to connect")
        );
        let failed = error(
            r#"{"ansible_facts": {"discovered_interpreter_python": "/usr/bin/python3"}, "msg": "Module result deserialization failed"}"#,
        );
        assert!(
            failed.contains("no ansible_nodename") && failed.contains("deserialization failed"),
            "{failed}"
        );
    }
}
