//! Which addresses webhooks may reach (SSRF). A webhook URL is given by a user, so
//! without a policy anyone who may create an endpoint could make Maestro call its own
//! loopback services, the cloud metadata service, or the private network it runs in.
//!
//! The policy is checked where the connection is made, not only when the URL is saved:
//! host names are resolved by [`PolicyResolver`], which hands the HTTP client only the
//! allowed addresses, so a name that resolves to a public address when saved and to a
//! private one later (DNS rebinding) is refused at the moment it would be called. IP
//! literals, which the client does not resolve, are checked by [`check_url_host`].

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::WebhookError;

/// Whether webhooks may connect to an address. The binary builds it from the operator's
/// configuration ([`allowing`] over [`PRIVATE_ENDPOINTS_SETTING`]); the default,
/// [`default_policy`], allows every address that is not [`is_internal`].
pub type AddressPolicy = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// Public addresses only.
pub fn default_policy() -> AddressPolicy {
    Arc::new(|ip| !is_internal(ip))
}

/// Public addresses, and those in `networks` (the operator's allowed private networks).
pub fn allowing(networks: Vec<IpNet>) -> AddressPolicy {
    Arc::new(move |ip| !is_internal(ip) || networks.iter().any(|net| net.contains(&ip)))
}

/// The networks of [`PRIVATE_ENDPOINTS_SETTING`]: addresses or CIDR networks separated by
/// commas (`10.0.0.0/8, 127.0.0.1`); an empty setting allows none.
pub fn parse_networks(setting: &str) -> Result<Vec<IpNet>, WebhookError> {
    setting
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| WebhookError::InvalidNetwork(part.to_string()))
        })
        .collect()
}

/// Whether `ip` is on a network no webhook should reach by default: loopback, private
/// (RFC 1918), link-local (with the cloud metadata service at 169.254.169.254), shared
/// address space (CGNAT, 100.64.0.0/10), unique-local IPv6, unspecified, multicast,
/// broadcast, reserved, benchmarking and documentation ranges. An IPv6 address that
/// carries an IPv4 one (IPv4-mapped, IPv4-compatible, NAT64, 6to4) is judged by it.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", with the unspecified address
        || ip.is_loopback() // 127.0.0.0/8
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local() // 169.254/16: cloud metadata services live here
        || (a == 100 && (64..128).contains(&b)) // 100.64/10, shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24, IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // 192.0.2.0/24, TEST-NET-1
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || (a == 198 && (b == 18 || b == 19)) // 198.18/15, benchmarking
        || ip.is_multicast() // 224/4
        || a >= 240 // 240/4 reserved, with the broadcast address
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || (segments[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (segments[0] & 0xffc0) == 0xfe80 // fe80::/10, link local
        || (segments[0] & 0xffc0) == 0xfec0 // fec0::/10, the former site local
        || ip.is_multicast() // ff00::/8
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // 2001:db8::/32, documentation
        || (segments[0] == 0x2001 && segments[1] == 0) // 2001::/32, Teredo tunnels to anywhere
        || (segments[0] == 0x0100 && segments[1..4] == [0, 0, 0]) // 100::/64, discard only
}

/// The IPv4 address an IPv6 one stands for, where it stands for one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low), // ::ffff:a.b.c.d, mapped
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_loopback() && !ip.is_unspecified() => Some(low), // ::a.b.c.d
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low), // 64:ff9b::/96, NAT64
        [0x2002, high, low16, ..] => Some(Ipv4Addr::new(
            (high >> 8) as u8,
            high as u8,
            (low16 >> 8) as u8,
            low16 as u8,
        )), // 2002::/16, 6to4
        _ => None,
    }
}

/// An address the policy refused, as the HTTP client's connection error carries it, so
/// that the failed attempt can say which setting allows it.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) IpAddr);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", WebhookError::AddressRefused(self.0))
    }
}

impl StdError for Refused {}

/// Refuses a URL whose host is an IP literal on an address the policy does not allow.
/// Host names pass here: they are judged when resolved, at every connection.
pub(crate) fn check_url_host(url: &Url, policy: &AddressPolicy) -> Result<(), WebhookError> {
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) => return Ok(()),
        None => return Err(WebhookError::NoHost),
    };
    check_ip(ip, policy)
}

fn check_ip(ip: IpAddr, policy: &AddressPolicy) -> Result<(), WebhookError> {
    // ::ffff:127.0.0.1 is 127.0.0.1 to the network; the policy judges it as such.
    let ip = ip.to_canonical();
    if policy(ip) {
        Ok(())
    } else {
        Err(WebhookError::AddressRefused(ip))
    }
}

/// The HTTP client's resolver: the system's (getaddrinfo), keeping only the addresses the
/// policy allows. A name with none left fails with [`Refused`].
pub(crate) struct PolicyResolver(pub(crate) AddressPolicy);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match check_ip(addr.ip(), &policy) {
                    Ok(()) => true,
                    Err(_) => {
                        refused.get_or_insert(addr.ip().to_canonical());
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some(ip)) => Err(Box::new(Refused(ip)) as Box<dyn StdError + Send + Sync>),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PRIVATE_ENDPOINTS_SETTING;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses() {
        for text in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001:0:4136:e378::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "100::1",
        ] {
            assert!(is_internal(ip(text)), "{text} is internal");
        }
    }

    #[test]
    fn public_addresses() {
        for text in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "169.253.1.1",
            "192.0.3.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!is_internal(ip(text)), "{text} is public");
        }
    }

    #[test]
    fn the_operator_setting_allows_its_networks() {
        let policy = allowing(parse_networks(" 10.0.0.0/8, 127.0.0.1 ,").unwrap());
        assert!(policy(ip("10.9.9.9")));
        assert!(policy(ip("127.0.0.1")));
        assert!(!policy(ip("127.0.0.2")));
        assert!(!policy(ip("192.168.0.1")));
        assert!(policy(ip("8.8.8.8")));
        assert!(parse_networks("").unwrap().is_empty());
        assert!(
            matches!(parse_networks("10.0.0.0/8,nope"), Err(WebhookError::InvalidNetwork(n)) if n == "nope")
        );
    }

    #[test]
    fn ip_literals_are_judged_as_the_network_sees_them() {
        let policy = allowing(parse_networks("127.0.0.1").unwrap());
        let url = |text: &str| Url::parse(text).unwrap();
        assert!(check_url_host(&url("http://127.0.0.1:8080/x"), &policy).is_ok());
        assert!(check_url_host(&url("http://[::ffff:127.0.0.1]/x"), &policy).is_ok());
        assert!(check_url_host(&url("http://hooks.example.com/x"), &policy).is_ok());
        assert!(matches!(
            check_url_host(&url("http://169.254.169.254/latest/meta-data"), &policy),
            Err(WebhookError::AddressRefused(_))
        ));
        assert!(matches!(
            check_url_host(&url("http://[::1]/x"), &default_policy()),
            Err(WebhookError::AddressRefused(_))
        ));
        let message = check_url_host(&url("http://10.0.0.1/"), &default_policy())
            .unwrap_err()
            .to_string();
        assert!(message.contains(PRIVATE_ENDPOINTS_SETTING), "{message}");
    }
}
