use std::fmt;

use serde::{Deserialize, Serialize};

/// The kinds of inventory item. Each kind is one stream type in the event log and one
/// read-model table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Datacenter,
    Server,
    Application,
    System,
    Client,
    Volume,
    Snapshot,
    Image,
    Flavor,
    Network,
    /// Where discovery crawls from: a provider account with its regions and tasks.
    Connection,
    /// When Maestro runs something on its own: a crawl of a connection's task, on an
    /// interval, a cron expression or after another schedule.
    Schedule,
    /// An event rule: which events to watch, and whom to tell or which webhook to call.
    Rule,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::Datacenter,
        Kind::Server,
        Kind::Application,
        Kind::System,
        Kind::Client,
        Kind::Volume,
        Kind::Snapshot,
        Kind::Image,
        Kind::Flavor,
        Kind::Network,
        Kind::Connection,
        Kind::Schedule,
        Kind::Rule,
    ];

    /// The stream type in the event log and in NATS subjects.
    pub fn stream_type(self) -> &'static str {
        match self {
            Kind::Datacenter => "datacenter",
            Kind::Server => "server",
            Kind::Application => "application",
            Kind::System => "system",
            Kind::Client => "client",
            Kind::Volume => "volume",
            Kind::Snapshot => "snapshot",
            Kind::Image => "image",
            Kind::Flavor => "flavor",
            Kind::Network => "network",
            Kind::Connection => "connection",
            Kind::Schedule => "schedule",
            Kind::Rule => "rule",
        }
    }

    /// The read-model table of this kind.
    pub fn table(self) -> &'static str {
        match self {
            Kind::Datacenter => "datacenters",
            Kind::Server => "servers",
            Kind::Application => "applications",
            Kind::System => "systems",
            Kind::Client => "clients",
            Kind::Volume => "volumes",
            Kind::Snapshot => "snapshots",
            Kind::Image => "images",
            Kind::Flavor => "flavors",
            Kind::Network => "networks",
            Kind::Connection => "connections",
            Kind::Schedule => "schedules",
            Kind::Rule => "rules",
        }
    }

    pub fn from_stream_type(stream_type: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.stream_type() == stream_type)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.stream_type())
    }
}
