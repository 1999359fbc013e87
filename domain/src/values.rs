//! Value types that parse instead of validate: once a value has one of these types, it is
//! known to be well formed, and the error for a bad one says what was wrong with it.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A closed vocabulary (environments, families, …) spelled one canonical way in storage
/// and accepted in the spellings people actually type.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($variant:ident => $canonical:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $canonical)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Parses case-insensitively, ignoring spaces, dashes and underscores.
            pub fn parse(raw: &str) -> Result<Self, String> {
                let wanted = fold(raw);
                $(
                    if wanted == fold($canonical) $(|| wanted == fold($alias))* {
                        return Ok($name::$variant);
                    }
                )+
                let known: Vec<&str> = vec![$($canonical),+];
                Err(format!("`{raw}` is not a known {}; use one of: {}", $what, known.join(", ")))
            }

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $canonical),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

fn fold(raw: &str) -> String {
    raw.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '/'))
        .flat_map(char::to_lowercase)
        .collect()
}

vocabulary!(
    /// The stage an item belongs to, as the original Maestro names them.
    Environment, "environment", {
        Production => "Production" | "prod",
        Stage => "Stage" | "staging",
        Development => "Development" | "dev",
        Test => "Test" | "testing" | "qa",
        Uat => "UAT",
        Sandbox => "Sandbox",
    }
);

vocabulary!(
    /// The lifecycle state a provider or a person reports for an item.
    Status, "status", {
        Active => "Active",
        Running => "Running",
        Stopped => "Stopped",
        Pending => "Pending",
        Available => "Available",
        InUse => "In-use",
        Maintenance => "Maintenance",
        Error => "Error",
        Terminated => "Terminated",
    }
);

vocabulary!(
    /// What an application is: a plain application, or a resource of another family.
    Family, "family", {
        Application => "Application" | "Applications" | "app",
        Loadbalance => "Loadbalance" | "loadbalancer" | "lb",
        Database => "Database" | "db",
        Cache => "Cache",
        Broker => "Broker",
        Cdn => "CDN",
        ObjectStorage => "ObjectStorage",
        Serverless => "Serverless",
        ServerlessLayer => "ServerlessLayer",
        ApiGateway => "ApiGateway",
        ContainerOrchestration => "ContainerOrchestration",
        ServiceMesh => "ServiceMesh",
        ServiceDiscovery => "ServiceDiscovery",
        Monitor => "Monitor",
        Logs => "Logs",
        Smtp => "SMTP",
        Vpn => "VPN",
        Dns => "DNS",
        Auth => "Auth",
        Nas => "NAS",
        AutoScaling => "AutoScaling",
        Repository => "Repository",
        CiCd => "CI/CD",
        MachineLearning => "MachineLearning",
        Corporate => "Corporate",
    }
);

vocabulary!(
    /// Where a datacenter runs.
    Provider, "provider", {
        Aws => "aws" | "amazon",
        Azure => "azure",
        OpenStack => "openstack",
        DigitalOcean => "digitalocean",
        Gcp => "gcp" | "google",
        VSphere => "vsphere" | "vmware",
        BareMetal => "bare metal" | "baremetal" | "onpremise",
        Other => "other",
    }
);

vocabulary!(
    /// Where a connection discovers from: a cloud's API, or files a tool wrote.
    Source, "discovery source", {
        Aws => "aws" | "amazon",
        Azure => "azure",
        OpenStack => "openstack",
        DigitalOcean => "digitalocean",
        Ansible => "ansible",
        Terraform => "terraform",
        Json => "json",
    }
);

vocabulary!(
    /// How one application talks to another it depends on.
    Protocol, "protocol", {
        Rest => "rest",
        Http => "http",
        Grpc => "grpc",
        Graphql => "graphql",
        Soap => "soap",
        Thrift => "thrift",
        Tcp => "tcp",
        Udp => "udp",
        Amqp => "amqp",
        Mqtt => "mqtt",
        Sql => "sql",
        Websocket => "websocket",
        Other => "other",
    }
);

vocabulary!(
    /// What a schedule runs.
    ScheduleAction, "schedule action", {
        Crawl => "crawl",
        Webhook => "webhook",
    }
);

vocabulary!(
    /// What a schedule does with the firings it missed while no scheduler ran: one run
    /// when a scheduler is back, or none. Never one run per missed firing.
    Missed, "way to handle missed runs", {
        RunOnce => "run_once" | "once" | "catch up",
        Skip => "skip",
    }
);

/// A DNS host name (RFC 1123): at most 253 characters, dot-separated labels of 1–63
/// letters, digits and inner dashes. Stored in lower case, since DNS is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Hostname(String);

impl Hostname {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err(format!(
                "`{raw}` is not a host name: it must have 1 to 253 characters"
            ));
        }
        for label in name.split('.') {
            let valid_chars = label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if label.is_empty()
                || label.len() > 63
                || !valid_chars
                || label.starts_with('-')
                || label.ends_with('-')
            {
                return Err(format!(
                    "`{raw}` is not a host name: label `{label}` must be 1 to 63 letters, digits or inner dashes"
                ));
            }
        }
        Ok(Hostname(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IPv4 or IPv6 network in CIDR notation, with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let fail = |why: &str| format!("`{raw}` is not a CIDR network ({why}); write it like 10.0.0.0/16");
        let (address, prefix) = raw.trim().split_once('/').ok_or_else(|| fail("no /prefix"))?;
        let network: IpAddr = address.parse().map_err(|_| fail("bad address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| fail("bad prefix"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return Err(fail("prefix too long"));
        }
        let host_bits_set = match network {
            IpAddr::V4(v4) => u32::from(v4).checked_shl(u32::from(prefix)).unwrap_or(0) != 0,
            IpAddr::V6(v6) => u128::from(v6).checked_shl(u32::from(prefix)).unwrap_or(0) != 0,
        };
        if host_bits_set {
            return Err(fail("host bits are set"));
        }
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A tag key: 1 to 128 printable characters with no surrounding white space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TagKey(String);

impl TagKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let key = raw.trim();
        if key.is_empty() || key.chars().count() > 128 || key.chars().any(char::is_control) {
            return Err(format!(
                "`{raw}` is not a tag key: it must have 1 to 128 printable characters"
            ));
        }
        Ok(TagKey(key.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_lowercased_and_checked_per_label() {
        assert_eq!(
            Hostname::parse("Web-01.Example.COM.").unwrap().as_str(),
            "web-01.example.com"
        );
        assert!(Hostname::parse("-web").unwrap_err().contains("label `-web`"));
        assert!(Hostname::parse("a..b").is_err());
        assert!(Hostname::parse(&"a".repeat(64)).is_err());
        assert!(Hostname::parse("under_score").is_err());
    }

    #[test]
    fn cidr_rejects_host_bits_and_long_prefixes() {
        assert_eq!(Cidr::parse("10.0.0.0/16").unwrap().to_string(), "10.0.0.0/16");
        assert_eq!(Cidr::parse("2001:db8::/32").unwrap().to_string(), "2001:db8::/32");
        assert!(Cidr::parse("10.0.0.1/16").unwrap_err().contains("host bits"));
        assert!(Cidr::parse("10.0.0.0/33")
            .unwrap_err()
            .contains("prefix too long"));
        assert!(Cidr::parse("10.0.0.0").unwrap_err().contains("no /prefix"));
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
    }

    #[test]
    fn vocabularies_accept_common_spellings_and_list_the_known_ones() {
        assert_eq!(Environment::parse("prod"), Ok(Environment::Production));
        assert_eq!(Family::parse("Applications"), Ok(Family::Application));
        assert_eq!(Family::parse("ci-cd"), Ok(Family::CiCd));
        assert_eq!(Provider::parse("Bare Metal"), Ok(Provider::BareMetal));
        let error = Environment::parse("moon").unwrap_err();
        assert!(
            error.contains("`moon`") && error.contains("Production"),
            "{error}"
        );
    }
}
