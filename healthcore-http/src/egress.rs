//! The egress guard (DESIGN.md §7): every outbound request of the `http`
//! probe and the webhook and Slack notifiers goes through one
//! [`EgressPolicy`], and so do the hosts of checks defined through the
//! API (the server's `CheckPolicy`).
//!
//! It owns: the scheme allow-list per use; the classification of
//! addresses ([`classify`]: loopback, private, link-local, CGNAT, cloud
//! metadata, IPv4-mapped/compatible IPv6, NAT64 and 6to4 with their
//! embedded IPv4 address, multicast, reserved); host checks on the URL
//! and on bare host names (integer, octal and hex IPv4 forms are
//! normalised by the URL host parser first, so `http://2130706433/` is
//! `127.0.0.1`; `localhost` names are refused by name); and the check
//! after DNS resolution ([`GuardedResolver`], the resolver reqwest
//! connects through), which fails closed on resolver errors and refuses a
//! name if any of its addresses is refused. Redirect hops are checked by
//! the callers with [`EgressPolicy::check_url`] before each request.
//!
//! It is compiled with either the `server` or the `client` feature (the
//! client re-exports it as `healthcore_http::client::…`); only the
//! reqwest resolver hook lives in the client.
//!
//! It must not log or return secrets from URLs (only the host is named).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use async_trait::async_trait;
use url::{Host, Url};

/// What an address is, for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddrClass {
    /// Globally routable.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918, IPv6 unique-local (fc00::/7), NAT64 local-use.
    Private,
    /// 100.64.0.0/10 (carrier-grade NAT).
    Cgnat,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// Cloud metadata endpoints (169.254.169.254, fd00:ec2::254,
    /// 100.100.100.200, 168.63.129.16, 192.0.0.192).
    Metadata,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 224.0.0.0/4, ff00::/8, 255.255.255.255.
    Multicast,
    /// Documentation, benchmarking, reserved and other special ranges.
    Reserved,
}

impl AddrClass {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AddrClass::Public => "public",
            AddrClass::Loopback => "loopback",
            AddrClass::Private => "private",
            AddrClass::Cgnat => "cgnat",
            AddrClass::LinkLocal => "link_local",
            AddrClass::Metadata => "metadata",
            AddrClass::Unspecified => "unspecified",
            AddrClass::Multicast => "multicast",
            AddrClass::Reserved => "reserved",
        }
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(ip) & mask) == (u128::from(net) & mask)
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let o = ip.octets();
    if [
        [169, 254, 169, 254],
        [100, 100, 100, 200],
        [168, 63, 129, 16],
        [192, 0, 0, 192],
    ]
    .contains(&o)
    {
        return AddrClass::Metadata;
    }
    if in_v4(ip, [0, 0, 0, 0], 8) {
        AddrClass::Unspecified
    } else if in_v4(ip, [127, 0, 0, 0], 8) {
        AddrClass::Loopback
    } else if in_v4(ip, [10, 0, 0, 0], 8)
        || in_v4(ip, [172, 16, 0, 0], 12)
        || in_v4(ip, [192, 168, 0, 0], 16)
    {
        AddrClass::Private
    } else if in_v4(ip, [100, 64, 0, 0], 10) {
        AddrClass::Cgnat
    } else if in_v4(ip, [169, 254, 0, 0], 16) {
        AddrClass::LinkLocal
    } else if in_v4(ip, [224, 0, 0, 0], 4) || o == [255, 255, 255, 255] {
        AddrClass::Multicast
    } else if in_v4(ip, [192, 0, 0, 0], 24)
        || in_v4(ip, [192, 0, 2, 0], 24)
        || in_v4(ip, [198, 18, 0, 0], 15)
        || in_v4(ip, [198, 51, 100, 0], 24)
        || in_v4(ip, [203, 0, 113, 0], 24)
        || in_v4(ip, [192, 88, 99, 0], 24)
        || in_v4(ip, [240, 0, 0, 0], 4)
    {
        AddrClass::Reserved
    } else {
        AddrClass::Public
    }
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

/// The IPv4 address embedded in an IPv6 one (mapped, compatible, NAT64
/// well-known prefix, 6to4), if any.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let b = ip.octets();
    let tail = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks)
    if b[..12].iter().all(|x| *x == 0) && u32::from(tail) > 1 {
        return Some(tail);
    }
    if in_v6(ip, v6("64:ff9b::"), 96) {
        return Some(tail);
    }
    if in_v6(ip, v6("2002::"), 16) {
        return Some(Ipv4Addr::new(b[2], b[3], b[4], b[5]));
    }
    None
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    if ip == v6("fd00:ec2::254") {
        return AddrClass::Metadata;
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    if ip.is_unspecified() {
        AddrClass::Unspecified
    } else if ip.is_loopback() {
        AddrClass::Loopback
    } else if in_v6(ip, v6("fc00::"), 7) || in_v6(ip, v6("64:ff9b:1::"), 48) {
        AddrClass::Private
    } else if in_v6(ip, v6("fe80::"), 10) || in_v6(ip, v6("fec0::"), 10) {
        AddrClass::LinkLocal
    } else if in_v6(ip, v6("ff00::"), 8) {
        AddrClass::Multicast
    } else if in_v6(ip, v6("2001:db8::"), 32)
        || in_v6(ip, v6("2001::"), 32)
        || in_v6(ip, v6("100::"), 64)
        || in_v6(ip, v6("2001:10::"), 28)
        || in_v6(ip, v6("::"), 96)
    {
        AddrClass::Reserved
    } else {
        AddrClass::Public
    }
}

/// Classifies an address.
///
/// ```
/// use healthcore_http::egress::{classify, AddrClass};
/// assert_eq!(classify("169.254.169.254".parse().unwrap()), AddrClass::Metadata);
/// assert_eq!(classify("::ffff:127.0.0.1".parse().unwrap()), AddrClass::Loopback);
/// assert_eq!(classify("64:ff9b::a00:1".parse().unwrap()), AddrClass::Private);
/// assert_eq!(classify("93.184.216.34".parse().unwrap()), AddrClass::Public);
/// ```
pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Why a destination was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EgressError {
    /// The URL does not parse or has no host.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The scheme is not allowed for this use.
    #[error("scheme {0:?} is not allowed")]
    Scheme(String),
    /// The host or one of its addresses is not allowed.
    #[error("destination {host} is not allowed ({class} address)")]
    Denied {
        /// The host as written (or the address).
        host: String,
        /// What the refused address is.
        class: &'static str,
    },
    /// Resolution failed (the guard fails closed).
    #[error("could not resolve {0}")]
    Resolve(String),
    /// A bare host (not a URL) is neither a name nor an address.
    #[error("invalid host: {0}")]
    InvalidHost(String),
}

/// What [`EgressPolicy::check_host`] found in a host that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostCheck {
    /// An address (written in any form the URL host parser accepts), and
    /// the policy allows it.
    Address(IpAddr),
    /// A name that passed the rules on names; its addresses are still to
    /// be checked after resolution ([`GuardedResolver::resolve_checked`]).
    Name(String),
}

/// A CIDR range on the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    net: IpAddr,
    prefix: u32,
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => in_v4(i, n.octets(), self.prefix),
            (IpAddr::V6(n), IpAddr::V6(i)) => in_v6(i, n, self.prefix),
            _ => false,
        }
    }
}

/// Where outbound requests may go.
///
/// ```
/// use healthcore_http::egress::EgressPolicy;
/// let hooks = EgressPolicy::webhooks();
/// assert!(hooks.check_url("https://hooks.example.com/x").is_ok());
/// assert!(hooks.check_url("http://169.254.169.254/latest/meta-data").is_err());
/// assert!(hooks.check_url("http://2130706433/").is_err()); // 127.0.0.1
/// assert!(hooks.check_url("file:///etc/passwd").is_err());
/// let probes = EgressPolicy::probes().allow_private(true);
/// assert!(probes.check_url("http://10.0.0.5:8080/health").is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    schemes: Vec<String>,
    allow_private: bool,
    allow: Vec<Cidr>,
    metadata_always_denied: bool,
}

impl EgressPolicy {
    /// For webhooks and Slack: `https` and `http`, public addresses only.
    pub fn webhooks() -> Self {
        Self {
            schemes: vec!["https".into(), "http".into()],
            allow_private: false,
            allow: Vec::new(),
            metadata_always_denied: false,
        }
    }

    /// For probes: `http` and `https`, public addresses only until
    /// [`allow_private`](Self::allow_private) or
    /// [`allow_cidr`](Self::allow_cidr) says otherwise.
    pub fn probes() -> Self {
        Self::webhooks()
    }

    /// Only these schemes.
    #[must_use]
    pub fn schemes(mut self, schemes: &[&str]) -> Self {
        self.schemes = schemes.iter().map(|s| s.to_ascii_lowercase()).collect();
        self
    }

    /// Lets private, unique-local and CGNAT addresses through (never
    /// loopback, link-local or metadata: allow-list those by CIDR).
    #[must_use]
    pub fn allow_private(mut self, yes: bool) -> Self {
        self.allow_private = yes;
        self
    }

    /// Refuses cloud metadata addresses ([`AddrClass::Metadata`]) even
    /// where an [`allow_cidr`](Self::allow_cidr) range covers them (by
    /// default an allowed range wins). The API's check policy sets it.
    #[must_use]
    pub fn deny_metadata_always(mut self, yes: bool) -> Self {
        self.metadata_always_denied = yes;
        self
    }

    /// Allows a range such as `10.1.0.0/16` or `127.0.0.2/32` whatever its
    /// class; the error names `allow`.
    pub fn allow_cidr(mut self, cidr: &str) -> Result<Self, healthcore::ValidationError> {
        let bad =
            || healthcore::ValidationError::new("allow", format!("{cidr:?} is not a CIDR range"));
        let (net, prefix) = match cidr.split_once('/') {
            Some((n, p)) => (n, p.parse::<u32>().map_err(|_| bad())?),
            None => (cidr, u32::MAX),
        };
        let net: IpAddr = net.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix == u32::MAX { max } else { prefix };
        if prefix > max {
            return Err(bad());
        }
        self.allow.push(Cidr { net, prefix });
        Ok(self)
    }

    /// Whether an address may be connected to.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), EgressError> {
        let class = classify(ip);
        if self.metadata_always_denied && class == AddrClass::Metadata {
            return Err(EgressError::Denied {
                host: ip.to_string(),
                class: class.as_str(),
            });
        }
        if self.allow.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        let ok = match class {
            AddrClass::Public => true,
            AddrClass::Private | AddrClass::Cgnat => self.allow_private,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(EgressError::Denied {
                host: ip.to_string(),
                class: class.as_str(),
            })
        }
    }

    /// Parses and checks a URL: scheme, host form, literal addresses and
    /// `localhost` names. Names are checked again after resolution.
    pub fn check_url(&self, raw: &str) -> Result<Url, EgressError> {
        let url = Url::parse(raw).map_err(|e| EgressError::InvalidUrl(e.to_string()))?;
        self.check_parsed(&url)?;
        Ok(url)
    }

    /// [`check_url`](Self::check_url) on a parsed URL.
    pub fn check_parsed(&self, url: &Url) -> Result<(), EgressError> {
        let scheme = url.scheme().to_ascii_lowercase();
        if !self.schemes.contains(&scheme) {
            return Err(EgressError::Scheme(scheme));
        }
        match url.host() {
            None => Err(EgressError::InvalidUrl("the URL has no host".into())),
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => self.check_name(name),
        }
    }

    /// Checks a bare host as a probe's parameters give it (`host` of the
    /// tcp, redis or tls probe, a DNS server): an IPv4 address in any form
    /// the URL host parser accepts (`2130706433` is `127.0.0.1`), an IPv6
    /// address with or without brackets, or a name. Addresses are judged
    /// at once; a name passes the rules on names (`localhost`, metadata
    /// names) and is returned to be resolved and checked.
    ///
    /// ```
    /// use healthcore_http::egress::{EgressPolicy, HostCheck};
    /// let p = EgressPolicy::probes();
    /// assert!(p.check_host("169.254.169.254").is_err());
    /// assert!(p.check_host("2130706433").is_err()); // 127.0.0.1
    /// assert!(p.check_host("localhost.").is_err());
    /// assert_eq!(p.check_host("8.8.8.8").unwrap(), HostCheck::Address("8.8.8.8".parse().unwrap()));
    /// assert_eq!(p.check_host("db.example.com").unwrap(), HostCheck::Name("db.example.com".into()));
    /// ```
    pub fn check_host(&self, host: &str) -> Result<HostCheck, EgressError> {
        let h = host.trim();
        if h.is_empty() || h.len() > 253 {
            return Err(EgressError::InvalidHost(
                "must be a name or an address of 1..=253 characters".into(),
            ));
        }
        let bare = h
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .unwrap_or(h);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.check_ip(ip)?;
            return Ok(HostCheck::Address(ip));
        }
        match Host::parse(h) {
            Ok(Host::Ipv4(ip)) => {
                self.check_ip(IpAddr::V4(ip))?;
                Ok(HostCheck::Address(IpAddr::V4(ip)))
            }
            Ok(Host::Ipv6(ip)) => {
                self.check_ip(IpAddr::V6(ip))?;
                Ok(HostCheck::Address(IpAddr::V6(ip)))
            }
            Ok(Host::Domain(name)) => {
                self.check_name(&name)?;
                Ok(HostCheck::Name(name))
            }
            Err(e) => Err(EgressError::InvalidHost(e.to_string())),
        }
    }

    /// The rules on host names: `localhost` names and metadata names are
    /// refused by name; a name that is an address in a form the parser
    /// left alone is judged as the address.
    fn check_name(&self, name: &str) -> Result<(), EgressError> {
        let n = name.trim_end_matches('.').to_ascii_lowercase();
        if n == "localhost" || n.ends_with(".localhost") {
            return Err(EgressError::Denied {
                host: name.to_owned(),
                class: AddrClass::Loopback.as_str(),
            });
        }
        if n == "metadata.google.internal" || n == "metadata" {
            return Err(EgressError::Denied {
                host: name.to_owned(),
                class: AddrClass::Metadata.as_str(),
            });
        }
        if let Ok(ip) = n.parse::<IpAddr>() {
            return self.check_ip(ip);
        }
        Ok(())
    }
}

/// Resolves host names (the system resolver, or a fixed table in tests).
#[async_trait]
pub trait NameResolver: Send + Sync + std::fmt::Debug {
    /// The addresses of `host`.
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (`getaddrinfo` via tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait]
impl NameResolver for SystemResolver {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        let addrs = tokio::net::lookup_host((host, 0)).await?;
        Ok(addrs.map(|a| a.ip()).collect())
    }
}

/// A fixed name → addresses table (tests, pinned hosts).
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    table: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    /// An empty table: every lookup fails.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a name.
    #[must_use]
    pub fn with(mut self, host: &str, addrs: &[IpAddr]) -> Self {
        self.table.insert(
            host.trim_end_matches('.').to_ascii_lowercase(),
            addrs.to_vec(),
        );
        self
    }
}

#[async_trait]
impl NameResolver for StaticResolver {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        self.table
            .get(&host.trim_end_matches('.').to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"))
    }
}

/// Resolves through a [`NameResolver`] and refuses the name unless every
/// address passes the policy; resolver errors and empty answers refuse it
/// too (fail closed). reqwest connects only to what this returns.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<EgressPolicy>,
    resolver: Arc<dyn NameResolver>,
}

impl GuardedResolver {
    /// A guarded resolver.
    pub fn new(policy: Arc<EgressPolicy>, resolver: Arc<dyn NameResolver>) -> Self {
        Self { policy, resolver }
    }

    /// The checked addresses of `host`.
    pub async fn resolve_checked(&self, host: &str) -> Result<Vec<IpAddr>, EgressError> {
        let addrs = self
            .resolver
            .lookup(host)
            .await
            .map_err(|_| EgressError::Resolve(host.to_owned()))?;
        if addrs.is_empty() {
            return Err(EgressError::Resolve(host.to_owned()));
        }
        for ip in &addrs {
            self.policy.check_ip(*ip).map_err(|e| match e {
                EgressError::Denied { class, .. } => EgressError::Denied {
                    host: host.to_owned(),
                    class,
                },
                other => other,
            })?;
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classification_table() {
        let table = [
            ("127.0.0.1", AddrClass::Loopback),
            ("127.255.0.9", AddrClass::Loopback),
            ("10.1.2.3", AddrClass::Private),
            ("172.16.0.1", AddrClass::Private),
            ("172.31.255.255", AddrClass::Private),
            ("172.32.0.1", AddrClass::Public),
            ("192.168.1.1", AddrClass::Private),
            ("100.64.0.1", AddrClass::Cgnat),
            ("100.127.255.255", AddrClass::Cgnat),
            ("100.128.0.1", AddrClass::Public),
            ("169.254.1.1", AddrClass::LinkLocal),
            ("169.254.169.254", AddrClass::Metadata),
            ("100.100.100.200", AddrClass::Metadata),
            ("0.0.0.0", AddrClass::Unspecified),
            ("224.0.0.1", AddrClass::Multicast),
            ("255.255.255.255", AddrClass::Multicast),
            ("192.0.2.1", AddrClass::Reserved),
            ("240.0.0.1", AddrClass::Reserved),
            ("8.8.8.8", AddrClass::Public),
            ("::1", AddrClass::Loopback),
            ("::", AddrClass::Unspecified),
            ("fd00:ec2::254", AddrClass::Metadata),
            ("fd12::1", AddrClass::Private),
            ("fe80::1", AddrClass::LinkLocal),
            ("::ffff:127.0.0.1", AddrClass::Loopback),
            ("::ffff:169.254.169.254", AddrClass::Metadata),
            ("::ffff:8.8.8.8", AddrClass::Public),
            ("::127.0.0.1", AddrClass::Loopback),
            ("::10.0.0.1", AddrClass::Private),
            ("64:ff9b::7f00:1", AddrClass::Loopback),
            ("64:ff9b::a9fe:a9fe", AddrClass::Metadata),
            ("64:ff9b:1::1", AddrClass::Private),
            ("2002:7f00:1::", AddrClass::Loopback),
            ("2001:db8::1", AddrClass::Reserved),
            ("ff02::1", AddrClass::Multicast),
            ("2606:4700::1111", AddrClass::Public),
        ];
        for (s, want) in table {
            assert_eq!(classify(ip(s)), want, "{s}");
        }
    }

    #[test]
    fn url_forms() {
        let p = EgressPolicy::webhooks();
        for bad in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://0x7f000001/",
            "http://017700000001/",
            "http://127.1/",
            "http://localhost/",
            "http://localhost./",
            "http://LOCALHOST/",
            "http://api.localhost/",
            "http://metadata.google.internal/",
            "file:///etc/passwd",
            "gopher://example.com/",
            "ftp://example.com/",
            "http://[64:ff9b::7f00:1]/",
            "http://0/",
            "not a url",
        ] {
            assert!(p.check_url(bad).is_err(), "{bad} should be refused");
        }
        for good in [
            "https://hooks.slack.com/services/x",
            "http://example.com:8080/hook",
            "https://8.8.8.8/",
        ] {
            assert!(p.check_url(good).is_ok(), "{good} should pass");
        }
    }

    #[test]
    fn private_and_allow_list() {
        let p = EgressPolicy::probes();
        assert!(p.check_ip(ip("10.0.0.1")).is_err());
        let p = p.allow_private(true);
        assert!(p.check_ip(ip("10.0.0.1")).is_ok());
        assert!(p.check_ip(ip("100.64.1.1")).is_ok());
        assert!(p.check_ip(ip("127.0.0.1")).is_err());
        assert!(p.check_ip(ip("169.254.169.254")).is_err());
        let p = EgressPolicy::webhooks().allow_cidr("127.0.0.2/32").unwrap();
        assert!(p.check_ip(ip("127.0.0.2")).is_ok());
        assert!(p.check_ip(ip("127.0.0.1")).is_err());
        let p = EgressPolicy::webhooks().allow_cidr("::1").unwrap();
        assert!(p.check_ip(ip("::1")).is_ok());
        assert!(EgressPolicy::webhooks().allow_cidr("10.0.0.0/33").is_err());
        assert!(EgressPolicy::webhooks().allow_cidr("nope/8").is_err());
        let link_local = EgressPolicy::probes().allow_cidr("169.254.0.0/16").unwrap();
        assert!(link_local.check_ip(ip("169.254.169.254")).is_ok());
        let strict = link_local.deny_metadata_always(true);
        assert!(strict.check_ip(ip("169.254.169.254")).is_err());
        assert!(strict.check_ip(ip("::ffff:169.254.169.254")).is_err());
        assert!(strict.check_ip(ip("169.254.1.1")).is_ok());
        let https_only = EgressPolicy::webhooks().schemes(&["https"]);
        assert!(matches!(
            https_only.check_url("http://example.com/"),
            Err(EgressError::Scheme(_))
        ));
    }

    proptest::proptest! {
        /// An IPv4 address hidden in IPv6 (mapped, NAT64, 6to4) is judged
        /// as the IPv4 address itself.
        #[test]
        fn embedded_v4_is_judged_as_v4(a in proptest::prelude::any::<u32>()) {
            let v4 = Ipv4Addr::from(a);
            let o = v4.octets();
            let want = classify(IpAddr::V4(v4));
            let mapped = v4.to_ipv6_mapped();
            proptest::prop_assert_eq!(classify(IpAddr::V6(mapped)), want);
            let nat64 = Ipv6Addr::from((u128::from(v6("64:ff9b::"))) | u128::from(a));
            proptest::prop_assert_eq!(classify(IpAddr::V6(nat64)), want);
            let six_to_four = Ipv6Addr::new(
                0x2002,
                u16::from_be_bytes([o[0], o[1]]),
                u16::from_be_bytes([o[2], o[3]]),
                0, 0, 0, 0, 1,
            );
            proptest::prop_assert_eq!(classify(IpAddr::V6(six_to_four)), want);
        }

        /// The default policies pass exactly the public addresses.
        #[test]
        fn webhooks_pass_only_public(a in proptest::prelude::any::<u32>(), b in proptest::prelude::any::<u128>()) {
            let p = EgressPolicy::webhooks();
            for ip in [IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b))] {
                proptest::prop_assert_eq!(p.check_ip(ip).is_ok(), classify(ip) == AddrClass::Public);
            }
        }

        /// URL checking never panics and never passes a literal
        /// non-public address, in any spelling the URL parser accepts.
        #[test]
        fn url_check_total(host in "[0-9a-fA-Fx.:\\[\\]]{1,24}") {
            let url = format!("http://{host}/");
            if let Ok(u) = EgressPolicy::webhooks().check_url(&url) {
                match u.host() {
                    Some(Host::Ipv4(ip)) => proptest::prop_assert_eq!(classify(IpAddr::V4(ip)), AddrClass::Public),
                    Some(Host::Ipv6(ip)) => proptest::prop_assert_eq!(classify(IpAddr::V6(ip)), AddrClass::Public),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn bare_hosts() {
        let p = EgressPolicy::probes();
        for bad in [
            "169.254.169.254",
            "[fd00:ec2::254]",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "[::1]",
            "2130706433",
            "0x7f.0.0.1",
            "0177.0.0.1",
            "127.1",
            "10.0.0.1",
            "localhost",
            "LOCALHOST.",
            "db.localhost",
            "metadata.google.internal",
            "0",
        ] {
            assert!(
                matches!(p.check_host(bad), Err(EgressError::Denied { .. })),
                "{bad} should be refused, got {:?}",
                p.check_host(bad)
            );
        }
        for invalid in ["", " ", "a b", "exa%mple.com", &"a".repeat(254)] {
            assert!(
                matches!(p.check_host(invalid), Err(EgressError::InvalidHost(_))),
                "{invalid:?} should be invalid, got {:?}",
                p.check_host(invalid)
            );
        }
        assert_eq!(
            p.check_host("[2606:4700::1111]").unwrap(),
            HostCheck::Address(ip("2606:4700::1111"))
        );
        assert_eq!(
            p.check_host("DB.Example.com").unwrap(),
            HostCheck::Name("db.example.com".into())
        );
        let private = EgressPolicy::probes().allow_private(true);
        assert!(private.check_host("10.0.0.1").is_ok());
        assert!(private.check_host("169.254.169.254").is_err());
        let lo = EgressPolicy::probes().allow_cidr("127.0.0.0/8").unwrap();
        assert!(lo.check_host("127.0.0.1").is_ok());
        // the name rule stands even where the address would be allowed
        assert!(lo.check_host("localhost").is_err());
    }

    #[tokio::test]
    async fn resolver_fails_closed() {
        let r = StaticResolver::new()
            .with("evil.test", &[ip("8.8.8.8"), ip("10.0.0.1")])
            .with("ok.test", &[ip("8.8.8.8")])
            .with("empty.test", &[]);
        let g = GuardedResolver::new(Arc::new(EgressPolicy::webhooks()), Arc::new(r));
        assert!(matches!(
            g.resolve_checked("evil.test").await,
            Err(EgressError::Denied { .. })
        ));
        assert!(g.resolve_checked("ok.test").await.is_ok());
        assert!(g.resolve_checked("OK.test.").await.is_ok());
        assert!(matches!(
            g.resolve_checked("missing.test").await,
            Err(EgressError::Resolve(_))
        ));
        assert!(matches!(
            g.resolve_checked("empty.test").await,
            Err(EgressError::Resolve(_))
        ));
    }
}
