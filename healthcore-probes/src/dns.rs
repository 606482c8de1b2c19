//! The `dns` probe: resolve a name with hickory-resolver, optionally
//! expecting given addresses or records among the answers.
//!
//! With `server`, that one name server is asked (over UDP, or TCP) and the
//! hosts file is not read: the probe checks the server. Without it, the
//! system configuration (`/etc/resolv.conf`, `/etc/hosts`) is used: the
//! probe checks that the name resolves for this machine. Each run builds
//! its own resolver, so nothing is answered from an earlier run's cache.
//!
//! Outcomes: answers (containing every `expect` value) → `pass`; NXDOMAIN
//! → `fail` (`error: nxdomain`); no record of the type → `fail`
//! (`no_records`); an error code such as SERVFAIL or REFUSED → `fail`;
//! expected values missing → `fail`. No answer before the deadline or no
//! connection: with an explicit `server` → `unreachable` (the server is the
//! target); with the system resolver → `unknown` (the resolver is the
//! checker's, DESIGN.md §7). `localhost` answers loopback without a query
//! (RFC 6761).
//!
//! Owns the resolver it builds; must not cache across runs.
//!
//! Params ([`DnsParams`]):
//!
//! ```json
//! {"name": "api.example.com"}
//! {"name": "example.com", "record_type": "MX", "expect": ["10 mail.example.com"]}
//! {"name": "db.internal", "server": "10.0.0.2:53", "expect": ["10.0.0.7"]}
//! ```

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use healthcore::ValidationError;
use healthcore::checker::Checker;
use healthcore::model::{CheckSpec, Observation, Outcome};
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::{Deserialize, Serialize};

use crate::common::{self, Clock};

/// Record types the probe asks for.
pub const RECORD_TYPES: [&str; 10] = [
    "A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT", "CAA",
];
/// Most expected values accepted.
pub const MAX_EXPECT: usize = 32;
/// Answers listed in details.
const SHOWN_ANSWERS: usize = 32;

/// Transport to an explicit server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsProtocol {
    /// UDP (the default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
}

fn default_record_type() -> String {
    "A".to_owned()
}

/// Params of the `dns` probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsParams {
    /// The name to resolve.
    pub name: String,
    /// One of [`RECORD_TYPES`], case-insensitive (`A`).
    #[serde(default = "default_record_type")]
    pub record_type: String,
    /// A name server as `ip` or `ip:port` (`[v6]:port`); the system
    /// resolver when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Transport to `server` (`udp`).
    #[serde(default)]
    pub protocol: DnsProtocol,
    /// Values that must all be among the answers: addresses for A/AAAA,
    /// else the record as written in a zone file (`10 mail.example.com`);
    /// compared case-insensitively, trailing dots ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<String>,
}

impl DnsParams {
    /// The record type to ask for.
    pub fn record_type(&self) -> Option<RecordType> {
        let upper = self.record_type.to_ascii_uppercase();
        if !RECORD_TYPES.contains(&upper.as_str()) {
            return None;
        }
        RecordType::from_str(&upper).ok()
    }

    /// The explicit server's address (port 53 when not given).
    pub fn server_addr(&self) -> Option<Result<SocketAddr, ()>> {
        self.server.as_deref().map(|s| {
            if let Ok(sa) = s.parse::<SocketAddr>() {
                return Ok(sa);
            }
            s.parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
                .map_err(|_| ())
        })
    }

    /// Checks name, type, server and expectations; errors name
    /// `params.<field>`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.name.is_empty()
            || self.name.len() > common::MAX_HOST_LEN
            || Name::from_utf8(&self.name).is_err()
        {
            return Err(ValidationError::new(
                "params.name",
                "must be a DNS name of at most 253 characters",
            ));
        }
        let Some(rt) = self.record_type() else {
            return Err(ValidationError::new(
                "params.record_type",
                "must be one of A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT, CAA",
            ));
        };
        match self.server_addr() {
            Some(Err(())) => {
                return Err(ValidationError::new(
                    "params.server",
                    "must be an IP address or ip:port ([v6]:port)",
                ));
            }
            Some(Ok(sa)) if sa.port() == 0 => {
                return Err(ValidationError::new(
                    "params.server",
                    "port must be in 1..=65535",
                ));
            }
            _ => {}
        }
        if self.expect.len() > MAX_EXPECT {
            return Err(ValidationError::new("params.expect", "at most 32 values"));
        }
        for (i, e) in self.expect.iter().enumerate() {
            let ok = match rt {
                RecordType::A => e.parse::<std::net::Ipv4Addr>().is_ok(),
                RecordType::AAAA => e.parse::<std::net::Ipv6Addr>().is_ok(),
                _ => !e.trim().is_empty(),
            };
            if !ok {
                return Err(ValidationError::new(
                    format!("params.expect[{i}]"),
                    match rt {
                        RecordType::A => "must be an IPv4 address for an A lookup",
                        RecordType::AAAA => "must be an IPv6 address for an AAAA lookup",
                        _ => "must not be empty",
                    },
                ));
            }
        }
        Ok(())
    }
}

/// The `dns` checker. Stateless; share it as `Arc<dyn Checker>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsChecker;

impl DnsChecker {
    /// A new checker.
    pub const fn new() -> Self {
        Self
    }
}

fn parse(spec: &CheckSpec) -> Result<DnsParams, ValidationError> {
    let p: DnsParams = common::parse_params(spec)?;
    p.validate()?;
    Ok(p)
}

#[async_trait]
impl Checker for DnsChecker {
    fn kind(&self) -> &str {
        "dns"
    }

    fn validate(&self, spec: &CheckSpec) -> Result<(), ValidationError> {
        parse(spec).map(|_| ())
    }

    async fn check(&self, spec: &CheckSpec) -> Observation {
        let clock = Clock::start(spec);
        let p = match parse(spec) {
            Ok(p) => p,
            Err(e) => return clock.bad_params(&e),
        };
        probe(&p, &clock).await
    }
}

/// Normalises a record or expected value for comparison.
fn normalise(s: &str) -> String {
    s.split_whitespace()
        .map(|t| {
            t.trim_matches('"')
                .trim_end_matches('.')
                .to_ascii_lowercase()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A record's value as compared and shown.
fn value(rdata: &RData) -> String {
    match rdata {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        other => normalise(&other.to_string()),
    }
}

fn matches(expected: &str, got: &str, rt: RecordType) -> bool {
    match rt {
        RecordType::A | RecordType::AAAA => {
            match (expected.parse::<IpAddr>(), got.parse::<IpAddr>()) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            }
        }
        _ => normalise(expected) == got,
    }
}

fn build(p: &DnsParams, per_try: Duration) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = match p.server_addr() {
        Some(Ok(sa)) => {
            let mut conn = match p.protocol {
                DnsProtocol::Udp => ConnectionConfig::udp(),
                DnsProtocol::Tcp => ConnectionConfig::tcp(),
            };
            conn.port = sa.port();
            let ns = NameServerConfig::new(sa.ip(), true, vec![conn]);
            let mut b = Resolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                provider,
            );
            b.options_mut().use_hosts_file = ResolveHosts::Never;
            b
        }
        Some(Err(())) => return Err("invalid server".to_owned()),
        None => Resolver::builder(provider).map_err(|e| e.to_string())?,
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.timeout = per_try;
    opts.attempts = 1;
    opts.cache_size = 0;
    opts.try_tcp_on_error = false;
    builder.build().map_err(|e| e.to_string())
}

/// What a lookup error means, as (outcome, message, code). `explicit` is
/// whether the server was named in params.
pub(crate) fn classify(err: &NetError, explicit: bool) -> (Outcome, String, &'static str) {
    let unreachable = if explicit {
        Outcome::Unreachable
    } else {
        Outcome::Unknown
    };
    match err {
        NetError::Dns(DnsError::NoRecordsFound(nr))
            if nr.response_code == ResponseCode::NXDomain =>
        {
            (
                Outcome::Fail,
                "NXDOMAIN: the name does not exist".to_owned(),
                "nxdomain",
            )
        }
        NetError::Dns(DnsError::NoRecordsFound(_)) => (
            Outcome::Fail,
            "no records of that type".to_owned(),
            "no_records",
        ),
        NetError::Dns(DnsError::ResponseCode(code)) => (
            Outcome::Fail,
            format!("the server answered {code}"),
            "error_response",
        ),
        NetError::Timeout => (
            unreachable,
            "no answer before the timeout".to_owned(),
            "timeout",
        ),
        NetError::NoConnections | NetError::Io(_) | NetError::Busy => {
            (unreachable, format!("no answer: {err}"), "no_connection")
        }
        other => (
            Outcome::Unknown,
            format!("lookup failed: {other}"),
            "lookup_failed",
        ),
    }
}

async fn probe(p: &DnsParams, clock: &Clock) -> Observation {
    let Some(rt) = p.record_type() else {
        return clock.observe(
            Outcome::Unknown,
            "unsupported record type",
            serde_json::json!({"name": p.name, "error": "record_type"}),
        );
    };
    let explicit = p.server.is_some();
    let server = match p.server_addr() {
        Some(Ok(sa)) => serde_json::Value::from(sa.to_string()),
        _ => serde_json::Value::from("system"),
    };
    let mut details = serde_json::json!({
        "name": p.name,
        "record_type": rt.to_string(),
        "server": server,
    });
    let resolver = match build(p, clock.remaining()) {
        Ok(r) => r,
        Err(e) => {
            details["error"] = "resolver_config".into();
            return clock.observe(
                Outcome::Unknown,
                format!("cannot configure the resolver: {e}"),
                details,
            );
        }
    };
    let looked =
        tokio::time::timeout_at(clock.deadline, resolver.lookup(p.name.as_str(), rt)).await;
    let lookup = match looked {
        Err(_) => {
            let (o, m, c) = classify(&NetError::Timeout, explicit);
            details["error"] = c.into();
            return clock.observe(o, format!("{} {rt}: {m}", p.name), details);
        }
        Ok(Err(e)) => {
            let (o, m, c) = classify(&e, explicit);
            details["error"] = c.into();
            return clock.observe(o, format!("{} {rt}: {m}", p.name), details);
        }
        Ok(Ok(l)) => l,
    };
    let answers: Vec<String> = lookup
        .answers()
        .iter()
        .filter(|r| r.record_type() == rt)
        .map(|r| value(&r.data))
        .collect();
    details["answers"] = answers
        .iter()
        .take(SHOWN_ANSWERS)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    if answers.is_empty() {
        details["error"] = "no_records".into();
        return clock.observe(
            Outcome::Fail,
            format!("{} {rt}: no records of that type", p.name),
            details,
        );
    }
    let missing: Vec<&String> = p
        .expect
        .iter()
        .filter(|e| !answers.iter().any(|a| matches(e, a, rt)))
        .collect();
    if !missing.is_empty() {
        details["missing"] = missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .into();
        details["error"] = "unexpected_answer".into();
        return clock.observe(
            Outcome::Fail,
            format!(
                "{} {rt}: expected {} not in the answers",
                p.name,
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            details,
        );
    }
    let first = answers.first().map(String::as_str).unwrap_or_default();
    let more = if answers.len() > 1 {
        format!(" (+{} more)", answers.len() - 1)
    } else {
        String::new()
    };
    clock.observe(
        Outcome::Pass,
        format!("{} {rt}: {first}{more}", p.name),
        details,
    )
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_resolver::proto::op::{Message, MessageType, OpCode};
    use hickory_resolver::proto::rr::Record;
    use hickory_resolver::proto::rr::rdata::{A, MX};
    use tokio::net::UdpSocket;

    use super::*;

    fn spec(params: serde_json::Value, timeout_ms: u64) -> CheckSpec {
        CheckSpec::new("dns")
            .with_params(params)
            .every(Duration::from_secs(60), Duration::from_millis(timeout_ms))
    }

    fn field(params: serde_json::Value) -> String {
        DnsChecker
            .validate(&spec(params, 1000))
            .unwrap_err()
            .field()
            .to_owned()
    }

    #[test]
    fn validation_names_fields() {
        assert_eq!(field(serde_json::json!({})), "params.name");
        assert_eq!(field(serde_json::json!({"name": ""})), "params.name");
        assert_eq!(
            field(serde_json::json!({"name": "a", "record_type": "AXFR"})),
            "params.record_type"
        );
        assert_eq!(
            field(serde_json::json!({"name": "a", "server": "dns.example"})),
            "params.server"
        );
        assert_eq!(
            field(serde_json::json!({"name": "a", "server": "127.0.0.1:0"})),
            "params.server"
        );
        assert_eq!(
            field(serde_json::json!({"name": "a", "protocol": "quic"})),
            "params.protocol"
        );
        assert_eq!(
            field(serde_json::json!({"name": "a", "expect": ["not-an-ip"]})),
            "params.expect[0]"
        );
        assert_eq!(
            field(
                serde_json::json!({"name": "a", "record_type": "aaaa", "expect": ["::1", "1.2.3.4"]})
            ),
            "params.expect[1]"
        );
        let p = parse(&spec(
            serde_json::json!({"name": "a", "record_type": "mx", "server": "::1"}),
            1000,
        ))
        .unwrap();
        assert_eq!(p.record_type(), Some(RecordType::MX));
        assert_eq!(p.server_addr(), Some(Ok("[::1]:53".parse().unwrap())));
    }

    #[test]
    fn comparison() {
        assert!(matches("::1", "0:0:0:0:0:0:0:1", RecordType::AAAA));
        assert!(!matches("127.0.0.2", "127.0.0.1", RecordType::A));
        assert!(matches(
            "10 Mail.Example.com.",
            "10 mail.example.com",
            RecordType::MX
        ));
        assert_eq!(normalise("\"v=spf1 -all\""), "v=spf1 -all");
    }

    #[test]
    fn classification() {
        let nx = NetError::from(hickory_resolver::net::NoRecords::new(
            hickory_resolver::proto::op::Query::query(
                Name::from_utf8("x.test.").unwrap(),
                RecordType::A,
            ),
            ResponseCode::NXDomain,
        ));
        assert_eq!(classify(&nx, true).0, Outcome::Fail);
        assert_eq!(classify(&nx, true).2, "nxdomain");
        assert_eq!(classify(&NetError::Timeout, true).0, Outcome::Unreachable);
        assert_eq!(classify(&NetError::Timeout, false).0, Outcome::Unknown);
        assert_eq!(
            classify(&NetError::NoConnections, false).0,
            Outcome::Unknown
        );
    }

    /// A tiny authoritative responder on a loopback UDP port:
    /// `up.test.` A → 127.0.0.7 and 127.0.0.8, `mail.test.` MX,
    /// `stall.test.` never answered, `fail.test.` SERVFAIL, anything else
    /// NXDOMAIN.
    async fn responder() -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(req) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(q) = req.queries.first().cloned() else {
                    continue;
                };
                let name = q.name().to_ascii().to_ascii_lowercase();
                if name == "stall.test." {
                    continue;
                }
                let mut resp = Message::new(req.metadata.id, MessageType::Response, OpCode::Query);
                resp.metadata.authoritative = true;
                resp.metadata.recursion_desired = req.metadata.recursion_desired;
                resp.add_query(q.clone());
                match (name.as_str(), q.query_type()) {
                    ("up.test.", RecordType::A) => {
                        for last in [7, 8] {
                            resp.add_answer(Record::from_rdata(
                                q.name().clone(),
                                60,
                                RData::A(A(Ipv4Addr::new(127, 0, 0, last))),
                            ));
                        }
                    }
                    ("up.test.", _) => {}
                    ("mail.test.", RecordType::MX) => {
                        resp.add_answer(Record::from_rdata(
                            q.name().clone(),
                            60,
                            RData::MX(MX::new(10, Name::from_utf8("mx1.test.").unwrap())),
                        ));
                    }
                    ("fail.test.", _) => resp.metadata.response_code = ResponseCode::ServFail,
                    _ => resp.metadata.response_code = ResponseCode::NXDomain,
                }
                if let Ok(bytes) = resp.to_vec() {
                    let _ = sock.send_to(&bytes, peer).await;
                }
            }
        });
        addr
    }

    async fn ask(server: SocketAddr, extra: serde_json::Value, timeout_ms: u64) -> Observation {
        let mut p = serde_json::json!({"server": server.to_string()});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        DnsChecker.check(&spec(p, timeout_ms)).await
    }

    #[tokio::test]
    async fn localhost_resolves_through_the_system_path() {
        let o = DnsChecker
            .check(&spec(
                serde_json::json!({"name": "localhost", "expect": ["127.0.0.1"]}),
                2000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
        assert_eq!(o.details.unwrap()["server"], "system");
        let o = DnsChecker
            .check(&spec(
                serde_json::json!({"name": "localhost", "record_type": "AAAA", "expect": ["::1"]}),
                2000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
    }

    #[tokio::test]
    async fn local_responder_answers_and_expectations() {
        let s = responder().await;
        let o = ask(
            s,
            serde_json::json!({"name": "up.test", "expect": ["127.0.0.8"]}),
            2000,
        )
        .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
        let d = o.details.unwrap();
        assert_eq!(d["answers"], serde_json::json!(["127.0.0.7", "127.0.0.8"]));
        assert!(o.latency.is_some());

        let o = ask(
            s,
            serde_json::json!({"name": "up.test", "expect": ["127.0.0.9"]}),
            2000,
        )
        .await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "unexpected_answer");

        let o = ask(
            s,
            serde_json::json!({"name": "mail.test", "record_type": "MX", "expect": ["10 mx1.test"]}),
            2000,
        )
        .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");

        let o = ask(
            s,
            serde_json::json!({"name": "up.test", "record_type": "TXT"}),
            2000,
        )
        .await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "no_records");
    }

    #[tokio::test]
    async fn nxdomain_servfail_and_timeout_are_told_apart() {
        let s = responder().await;
        let o = ask(s, serde_json::json!({"name": "missing.test"}), 2000).await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "nxdomain");

        let o = ask(s, serde_json::json!({"name": "fail.test"}), 2000).await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "error_response");

        let started = std::time::Instant::now();
        let o = ask(s, serde_json::json!({"name": "stall.test"}), 400).await;
        assert_eq!(o.outcome, Outcome::Unreachable, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "timeout");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn tcp_to_a_closed_port_is_unreachable() {
        let l = tokio::net::TcpListener::bind("127.0.0.12:0").await.unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        let o = ask(
            a,
            serde_json::json!({"name": "up.test", "protocol": "tcp"}),
            1000,
        )
        .await;
        assert_eq!(o.outcome, Outcome::Unreachable, "{o:?}");
    }
}
