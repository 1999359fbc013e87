//! What a crawl may reach on behalf of whoever configured the connection: anybody who
//! signed up can write a connection's options, so the options alone must not let them
//! read the server's files or probe the networks behind it.
//!
//! - Local paths are read only under the folders the operator lists
//!   (`MAESTRO_SOURCE_DIRS`; none by default), after following every symbolic link, and
//!   only regular files: never a device (`/dev/zero` reads forever) nor a named pipe.
//!   Whether a path is missing, outside those folders or unreadable, the error is the
//!   same, so that errors tell nothing about the rest of the file system.
//! - Endpoints (REST APIs, AWS, SSH hosts) are refused when any address their name
//!   resolves to is internal: loopback, private, link-local, shared (carrier NAT),
//!   unspecified, broadcast or multicast — unless it lies in a network the operator
//!   allows (`MAESTRO_PRIVATE_ENDPOINTS`). The check runs in the resolver the HTTP
//!   clients connect with, so a name cannot pass it and then connect elsewhere.
//! - Every read is capped (`MAESTRO_SOURCE_MAX_BYTES`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::CrawlError;

/// The most bytes one read takes when the operator does not say: a large Terraform state
/// or page of a provider's list, far from what a crawler's memory allows.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// What crawls may reach: local folders, internal networks, and how much one read takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    dirs: Vec<PathBuf>,
    private: Vec<IpNet>,
    max_bytes: u64,
}

impl Default for Reach {
    /// Production's default: no local path, no internal endpoint.
    fn default() -> Reach {
        Reach {
            dirs: vec![],
            private: vec![],
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// A network an operator lets crawls reach, e.g. `10.20.0.0/16` or `127.0.0.1/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(IpNet);

impl FromStr for Network {
    type Err = String;

    /// A CIDR block, or a single address (a /32 or /128).
    fn from_str(raw: &str) -> Result<Network, String> {
        let raw = raw.trim();
        raw.parse::<IpNet>()
            .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
            .map(Network)
            .map_err(|_| format!("`{raw}` is not a network such as 10.20.0.0/16 or an address"))
    }
}

impl Reach {
    /// Local paths under `dirs` (absolute folders), internal addresses in `private`, and
    /// reads of at most `max_bytes`.
    pub fn new(dirs: Vec<PathBuf>, private: Vec<Network>, max_bytes: u64) -> Reach {
        Reach {
            dirs,
            private: private.into_iter().map(|network| network.0).collect(),
            max_bytes,
        }
    }

    /// The same, reading only under `dir` (a crawl's own temporary copy).
    pub(crate) fn confined_to(&self, dir: &Path) -> Reach {
        Reach {
            dirs: vec![dir.to_path_buf()],
            ..self.clone()
        }
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The one answer for a local path that may not be read, whatever the reason.
    pub(crate) fn refused_path(&self, shown: &str) -> CrawlError {
        let dirs: Vec<String> = self.dirs.iter().map(|dir| dir.display().to_string()).collect();
        let problem = match dirs.is_empty() {
            true => format!(
                "`{shown}` is not a file Maestro may read: this Maestro reads no local path (MAESTRO_SOURCE_DIRS is not set); upload the file with `crawlUpload`, or read it over `ssh` or from `s3`"
            ),
            false => format!(
                "`{shown}` is not a file Maestro may read: paths must name a regular file (or a folder of them) under MAESTRO_SOURCE_DIRS ({})",
                dirs.join(", ")
            ),
        };
        CrawlError::Settings("path".into(), problem)
    }

    /// `path` with every link followed, when it lies under an allowed folder; else the
    /// refusal, the same whether the path is missing, elsewhere or unreadable.
    pub(crate) async fn local(&self, path: &Path, shown: &str) -> Result<PathBuf, CrawlError> {
        if path.is_absolute() {
            if let Ok(real) = tokio::fs::canonicalize(path).await {
                for dir in &self.dirs {
                    if let Ok(dir) = tokio::fs::canonicalize(dir).await {
                        if real.starts_with(&dir) {
                            return Ok(real);
                        }
                    }
                }
            }
        }
        Err(self.refused_path(shown))
    }

    /// Whether crawls may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !is_internal(ip) || self.private.iter().any(|network| network.contains(&ip))
    }

    /// Every address of `host` (a name or an address) at `port`, when crawls may reach
    /// them all; else an error naming the host and saying how an operator allows it.
    pub async fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|error| Refused(format!("cannot resolve `{host}`: {error}")))?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(Refused(format!("`{host}` has no address")));
        }
        if addresses.iter().any(|address| !self.allows(address.ip())) {
            return Err(Refused(format!(
                "`{host}` is a loopback, private or link-local address, which connections may not reach unless the operator allows its network in MAESTRO_PRIVATE_ENDPOINTS"
            )));
        }
        Ok(addresses)
    }

    /// Checks the host of a URL given as an address: HTTP clients connect to those
    /// without asking the resolver.
    pub(crate) fn check_url(&self, url: &reqwest::Url) -> Result<(), Refused> {
        let host = url.host_str().unwrap_or_default();
        let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        else {
            return Ok(());
        };
        match self.allows(ip) {
            true => Ok(()),
            false => Err(Refused(format!(
                "`{ip}` is a loopback, private or link-local address, which connections may not reach unless the operator allows its network in MAESTRO_PRIVATE_ENDPOINTS"
            ))),
        }
    }

    /// A resolver for HTTP clients that refuses names with an internal address.
    pub(crate) fn resolver(&self) -> Guard {
        Guard(Arc::new(self.clone()))
    }
}

/// An endpoint crawls may not reach, or cannot resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl From<Refused> for CrawlError {
    fn from(refused: Refused) -> CrawlError {
        CrawlError::Unreachable(refused.0)
    }
}

/// IPv4 addresses written as IPv6 (`::ffff:127.0.0.1`) are checked as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Addresses that lead into the server's own machine or networks, or nowhere public.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let shared = IpNet::from_str("100.64.0.0/10").expect("a network");
            ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_broadcast()
                || ip.is_multicast()
                || ip.octets()[0] == 0
                || shared.contains(&IpAddr::V4(ip))
        }
        IpAddr::V6(ip) => {
            let unique_local = (ip.segments()[0] & 0xfe00) == 0xfc00;
            let link_local = (ip.segments()[0] & 0xffc0) == 0xfe80;
            ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || unique_local || link_local
                // ::a.b.c.d, the deprecated IPv4-compatible form.
                || (ip.segments()[..6] == [0; 6] && is_internal(IpAddr::V4(Ipv4Addr::from(ip.to_bits() as u32))))
        }
    }
}

/// The resolver HTTP clients of a crawl connect with: names with any internal address
/// fail to resolve, with the reason as the error.
#[derive(Debug, Clone)]
pub(crate) struct Guard(Arc<Reach>);

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let reach = self.0.clone();
        Box::pin(async move {
            let addresses = reach.addresses(name.as_str(), 0).await?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl aws_smithy_runtime_api::client::dns::ResolveDns for Guard {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> aws_smithy_runtime_api::client::dns::DnsFuture<'a> {
        use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDnsError};
        DnsFuture::new(async move {
            let addresses = self.0.addresses(name, 0).await.map_err(ResolveDnsError::new)?;
            Ok(addresses.into_iter().map(|address| address.ip()).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_unless_their_network_is_allowed() {
        let closed = Reach::default();
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!closed.allows(ip(internal)), "{internal}");
        }
        for public in ["203.0.113.9", "52.95.110.1", "2606:4700::1111"] {
            assert!(closed.allows(ip(public)), "{public}");
        }
        let open = Reach::new(
            vec![],
            vec!["127.0.0.0/8".parse().unwrap(), "10.0.0.5".parse().unwrap()],
            1,
        );
        assert!(open.allows(ip("127.0.0.1")) && open.allows(ip("::ffff:127.0.0.2")));
        assert!(open.allows(ip("10.0.0.5")) && !open.allows(ip("10.0.0.6")));
        assert!("ten".parse::<Network>().unwrap_err().contains("`ten`"));
    }
}
