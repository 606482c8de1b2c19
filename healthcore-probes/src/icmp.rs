//! The `icmp` probe: ICMP echo ("ping") with surge-ping.
//!
//! The probe opens a raw ICMP socket when the process may (root or
//! `CAP_NET_RAW`), else the unprivileged datagram socket Linux allows to
//! the groups in `net.ipv4.ping_group_range`. With neither, the outcome is
//! `unknown` with a message saying so — never `down`: a checker without
//! permission knows nothing about the host (DESIGN.md §7).
//!
//! `count` echo requests are sent one after another, each waiting for its
//! share of what is left of `spec.timeout`. Replies are matched by
//! (address, identifier, sequence): a reply from another address, or a
//! second reply to the same request, is ignored. An ICMP error about one of
//! our requests (destination unreachable, time exceeded) counts as lost.
//! All replies → `pass`; some → `warn` (packet loss); none → `unreachable`.
//! The observation's latency is the mean round-trip time of the replies.
//!
//! Each run opens its own socket (a cached one would outlive the runtime
//! that drives it); identifiers come from a process-wide counter so
//! concurrent runs never take each other's replies. Owns that socket; must
//! not send anything but echo requests.
//!
//! Params ([`IcmpParams`]):
//!
//! ```json
//! {"host": "10.0.0.5"}
//! {"host": "gateway.internal", "count": 3, "payload_size": 56}
//! ```

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use healthcore::ValidationError;
use healthcore::checker::Checker;
use healthcore::model::{CheckSpec, Observation, Outcome};
use serde::{Deserialize, Serialize};
use surge_ping::{Client, Config, ICMP, IcmpPacket, PingIdentifier, PingSequence, SurgeError};

use crate::common::{self, Clock};

/// Most echo requests per run.
pub const MAX_COUNT: u8 = 10;
/// Largest payload accepted, in bytes (fits one Ethernet frame).
pub const MAX_PAYLOAD: u16 = 1472;

fn default_count() -> u8 {
    1
}
fn default_payload_size() -> u16 {
    56
}

/// Params of the `icmp` probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpParams {
    /// Host name or IP address (v4 or v6).
    pub host: String,
    /// Echo requests per run, 1..=10 (1).
    #[serde(default = "default_count")]
    pub count: u8,
    /// Payload bytes per request, 0..=1472 (56, as `ping`).
    #[serde(default = "default_payload_size")]
    pub payload_size: u16,
}

impl IcmpParams {
    /// Checks host, count and payload size; errors name `params.<field>`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        common::check_host("params.host", &self.host)?;
        if self.count == 0 || self.count > MAX_COUNT {
            return Err(ValidationError::new("params.count", "must be in 1..=10"));
        }
        if self.payload_size > MAX_PAYLOAD {
            return Err(ValidationError::new(
                "params.payload_size",
                "must be at most 1472",
            ));
        }
        Ok(())
    }
}

/// The `icmp` checker. Share it as `Arc<dyn Checker>`.
#[derive(Debug, Default)]
pub struct IcmpChecker {
    _private: (),
}

impl IcmpChecker {
    /// A new checker.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

fn parse(spec: &CheckSpec) -> Result<IcmpParams, ValidationError> {
    let p: IcmpParams = common::parse_params(spec)?;
    p.validate()?;
    Ok(p)
}

#[async_trait]
impl Checker for IcmpChecker {
    fn kind(&self) -> &str {
        "icmp"
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

/// Identifiers for raw sockets, unique per run in this process.
static NEXT_IDENT: AtomicU16 = AtomicU16::new(0);

/// What a socket that could not be opened means: always `unknown` (the
/// checker, not the host, is at fault), with a message naming the cause.
///
/// ```
/// use healthcore::model::Outcome;
/// use healthcore_probes::icmp::socket_error;
/// let (o, msg) = socket_error(&std::io::Error::from(std::io::ErrorKind::PermissionDenied));
/// assert_eq!(o, Outcome::Unknown);
/// assert!(msg.contains("no permission"));
/// ```
pub fn socket_error(err: &io::Error) -> (Outcome, String) {
    let msg = if err.kind() == io::ErrorKind::PermissionDenied {
        "no permission to open an ICMP socket: needs root or CAP_NET_RAW for a raw socket, \
         or a group in net.ipv4.ping_group_range for a datagram socket"
            .to_owned()
    } else {
        format!("cannot open an ICMP socket: {err}")
    };
    (Outcome::Unknown, msg)
}

/// What a send error means: an unreachable network or host is
/// `unreachable`; anything else (permission, a local fault) is `unknown`.
pub fn send_error(err: &io::Error) -> Outcome {
    match err.kind() {
        io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::HostUnreachable
        | io::ErrorKind::AddrNotAvailable => Outcome::Unreachable,
        _ => Outcome::Unknown,
    }
}

/// The outcome for `received` replies out of `sent` requests.
///
/// ```
/// use healthcore::model::Outcome;
/// use healthcore_probes::icmp::loss_outcome;
/// assert_eq!(loss_outcome(3, 3), Outcome::Pass);
/// assert_eq!(loss_outcome(3, 1), Outcome::Warn);
/// assert_eq!(loss_outcome(3, 0), Outcome::Unreachable);
/// ```
pub const fn loss_outcome(sent: u32, received: u32) -> Outcome {
    if received == 0 {
        Outcome::Unreachable
    } else if received < sent {
        Outcome::Warn
    } else {
        Outcome::Pass
    }
}

fn is_echo_reply(p: &IcmpPacket) -> bool {
    match p {
        IcmpPacket::V4(p) => p.get_icmp_type().0 == 0,
        IcmpPacket::V6(p) => p.get_icmpv6_type().0 == 129,
    }
}

fn icmp_error_name(p: &IcmpPacket) -> String {
    let (v, t, c) = match p {
        IcmpPacket::V4(p) => (4, p.get_icmp_type().0, p.get_icmp_code().0),
        IcmpPacket::V6(p) => (6, p.get_icmpv6_type().0, p.get_icmpv6_code().0),
    };
    let name = match (v, t) {
        (4, 3) | (6, 1) => "destination unreachable",
        (4, 11) | (6, 3) => "time exceeded",
        _ => "ICMP error",
    };
    format!("{name} (type {t} code {c})")
}

async fn resolve(host: &str, clock: &Clock) -> Result<IpAddr, Observation> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let looked = tokio::time::timeout_at(clock.deadline, tokio::net::lookup_host((host, 0))).await;
    let err = match looked {
        Ok(Ok(mut it)) => match it.next() {
            Some(a) => return Ok(a.ip()),
            None => "no address".to_owned(),
        },
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out".to_owned(),
    };
    Err(clock.observe(
        Outcome::Unknown,
        format!("could not resolve {host}: {err}"),
        serde_json::json!({"host": host, "error": "resolve_failed"}),
    ))
}

async fn probe(p: &IcmpParams, clock: &Clock) -> Observation {
    let ip = match resolve(&p.host, clock).await {
        Ok(ip) => ip,
        Err(o) => return o,
    };
    let kind = if ip.is_ipv4() { ICMP::V4 } else { ICMP::V6 };
    let config = Config::builder()
        .kind(kind)
        .sock_type_hint(socket2::Type::RAW)
        .build();
    let client = match Client::new(&config) {
        Ok(c) => c,
        Err(e) => {
            let (outcome, msg) = socket_error(&e);
            return clock.observe(
                outcome,
                msg,
                serde_json::json!({"address": ip.to_string(), "error": "no_socket"}),
            );
        }
    };
    let socket = if client.get_socket().get_type() == socket2::Type::RAW {
        "raw"
    } else {
        "dgram"
    };
    let ident = PingIdentifier(NEXT_IDENT.fetch_add(1, Ordering::Relaxed));
    let mut pinger = client.pinger(ip, ident).await;
    let payload = vec![0xA5u8; usize::from(p.payload_size)];

    let sent_total = u32::from(p.count);
    let mut received = 0u32;
    let mut rtts: Vec<Duration> = Vec::with_capacity(usize::from(p.count));
    let mut errors: Vec<String> = Vec::new();
    let mut ttl: Option<u8> = None;
    let mut local_fault: Option<(Outcome, String)> = None;
    let mut sent = 0u32;

    for i in 0..p.count {
        let left = clock.remaining();
        if left.is_zero() {
            break;
        }
        let share = left / u32::from(p.count - i);
        pinger.timeout(share);
        sent += 1;
        match pinger.ping(PingSequence(u16::from(i)), &payload).await {
            Ok((packet, rtt)) if is_echo_reply(&packet) => {
                received += 1;
                rtts.push(rtt);
                if let IcmpPacket::V4(v4) = &packet {
                    ttl = v4.get_ttl().or(ttl);
                }
            }
            Ok((packet, _)) => errors.push(icmp_error_name(&packet)),
            Err(SurgeError::Timeout { .. }) => errors.push("timeout".to_owned()),
            Err(SurgeError::IOError(e)) => {
                let o = send_error(&e);
                errors.push(e.to_string());
                if o == Outcome::Unknown {
                    local_fault = Some((o, format!("cannot send ICMP echo to {ip}: {e}")));
                    break;
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    // Requests never sent for want of time are lost too.
    let lost = sent_total.saturating_sub(received);

    let mut details = serde_json::json!({
        "address": ip.to_string(),
        "socket": socket,
        "sent": sent,
        "received": received,
        "loss_percent": f64::from(lost) * 100.0 / f64::from(sent_total),
    });
    if let (Some(min), Some(max)) = (rtts.iter().min(), rtts.iter().max()) {
        details["rtt_min_ms"] = common::ms(*min).into();
        details["rtt_max_ms"] = common::ms(*max).into();
    }
    if let Some(t) = ttl {
        details["ttl"] = t.into();
    }
    if !errors.is_empty() {
        details["errors"] = errors.clone().into();
    }

    if let Some((o, msg)) = local_fault {
        return clock.observe(o, msg, details);
    }
    let outcome = loss_outcome(sent_total, received);
    let mean = if rtts.is_empty() {
        None
    } else {
        let total: Duration = rtts.iter().sum();
        Some(total / u32::try_from(rtts.len()).unwrap_or(1))
    };
    let message = match outcome {
        Outcome::Pass => format!(
            "{received}/{sent_total} replies from {ip}, mean {:.2} ms",
            mean.map_or(0.0, common::ms)
        ),
        Outcome::Warn => format!(
            "{received}/{sent_total} replies from {ip} ({lost} lost), mean {:.2} ms",
            mean.map_or(0.0, common::ms)
        ),
        _ => match errors.last() {
            Some(e) if e != "timeout" => format!("no reply from {ip}: {e}"),
            _ => format!("no reply from {ip} within {:?}", clock.timeout),
        },
    };
    let mut obs = clock.observe(outcome, message, details);
    if let Some(m) = mean {
        obs.latency = Some(m);
        if let Some(d) = obs.details.as_mut() {
            d["rtt_avg_ms"] = common::ms(m).into();
        }
    }
    obs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(params: serde_json::Value, timeout_ms: u64) -> CheckSpec {
        CheckSpec::new("icmp")
            .with_params(params)
            .every(Duration::from_secs(60), Duration::from_millis(timeout_ms))
    }

    fn field(params: serde_json::Value) -> String {
        IcmpChecker::new()
            .validate(&spec(params, 1000))
            .unwrap_err()
            .field()
            .to_owned()
    }

    #[test]
    fn validation_names_fields() {
        assert_eq!(field(serde_json::json!({})), "params.host");
        assert_eq!(
            field(serde_json::json!({"host": "a", "count": 0})),
            "params.count"
        );
        assert_eq!(
            field(serde_json::json!({"host": "a", "count": 11})),
            "params.count"
        );
        assert_eq!(
            field(serde_json::json!({"host": "a", "payload_size": 9000})),
            "params.payload_size"
        );
        assert_eq!(
            field(serde_json::json!({"host": "a", "port": 1})),
            "params.port"
        );
    }

    #[test]
    fn permission_denied_is_unknown_never_down() {
        for kind in [
            io::ErrorKind::PermissionDenied,
            io::ErrorKind::Unsupported,
            io::ErrorKind::Other,
        ] {
            let (o, msg) = socket_error(&io::Error::from(kind));
            assert_eq!(o, Outcome::Unknown);
            assert!(!msg.is_empty());
        }
        let (_, msg) = socket_error(&io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(msg.contains("no permission"), "{msg}");
        assert_eq!(
            send_error(&io::Error::from(io::ErrorKind::PermissionDenied)),
            Outcome::Unknown
        );
        assert_eq!(
            send_error(&io::Error::from(io::ErrorKind::NetworkUnreachable)),
            Outcome::Unreachable
        );
    }

    #[test]
    fn loss_mapping() {
        assert_eq!(loss_outcome(1, 1), Outcome::Pass);
        assert_eq!(loss_outcome(10, 9), Outcome::Warn);
        assert_eq!(loss_outcome(1, 0), Outcome::Unreachable);
    }

    fn can_open(kind: ICMP) -> Option<io::Error> {
        let config = Config::builder()
            .kind(kind)
            .sock_type_hint(socket2::Type::RAW)
            .build();
        Client::new(&config).err()
    }

    #[tokio::test]
    async fn echo_to_ipv4_loopback() {
        let o = IcmpChecker::new()
            .check(&spec(
                serde_json::json!({"host": "127.0.0.1", "count": 3}),
                3000,
            ))
            .await;
        if let Some(e) = can_open(ICMP::V4) {
            // No permission on this machine: the probe must say unknown.
            assert_eq!(o.outcome, Outcome::Unknown, "{e}: {o:?}");
            return;
        }
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
        let d = o.details.unwrap();
        assert_eq!(d["sent"], 3);
        assert_eq!(d["received"], 3);
        assert_eq!(d["loss_percent"], 0.0);
        assert!(d["socket"] == "raw" || d["socket"] == "dgram");
        let lat = o.latency.unwrap();
        assert!(lat < Duration::from_secs(1), "{lat:?}");
        assert!(d["rtt_min_ms"].as_f64().unwrap() <= d["rtt_max_ms"].as_f64().unwrap());
    }

    #[tokio::test]
    async fn concurrent_probes_do_not_take_each_others_replies() {
        if can_open(ICMP::V4).is_some() {
            return;
        }
        let c = std::sync::Arc::new(IcmpChecker::new());
        let mut tasks = Vec::new();
        for i in 1..=6u8 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                c.check(&spec(
                    serde_json::json!({"host": format!("127.0.0.{i}"), "count": 2}),
                    3000,
                ))
                .await
            }));
        }
        for t in tasks {
            let o = t.await.unwrap();
            assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
            assert_eq!(o.details.unwrap()["received"], 2);
        }
    }

    #[tokio::test]
    async fn echo_to_ipv6_loopback() {
        if can_open(ICMP::V6).is_some() || std::net::UdpSocket::bind("[::1]:0").is_err() {
            return; // no ICMPv6 socket or no ::1 here
        }
        let o = IcmpChecker::new()
            .check(&spec(serde_json::json!({"host": "::1"}), 3000))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
    }
}
