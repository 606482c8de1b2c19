//! The `redis` probe: `PING` (after `AUTH` when a password is given) over
//! a hand-written RESP2 exchange, then `INFO replication` for the server's
//! role.
//!
//! Outcomes: refused or connect timeout → `unreachable`; `+PONG` → `pass`
//! (or `warn` for a replica whose link to its master is down); any other
//! reply, an error reply, a closed connection or no reply before the
//! deadline → `fail`; authentication refused or required but not
//! configured → `unknown` (the checker's credentials, not the server, are
//! at fault). Details carry the connect and PING round-trip times and the
//! role. The password never appears in messages, details or `Debug`.
//!
//! Owns one connection per run; must not send anything but `AUTH`, `PING`
//! and `INFO replication`.
//!
//! Params ([`RedisParams`]):
//!
//! ```json
//! {"host": "127.0.0.1"}
//! {"host": "cache.internal", "port": 6380, "username": "probe", "password_env": "REDIS_PROBE_PASSWORD"}
//! ```

use std::fmt;

use async_trait::async_trait;
use healthcore::ValidationError;
use healthcore::checker::Checker;
use healthcore::model::{CheckSpec, Observation, Outcome};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::common::{self, Clock};

/// The default Redis port.
pub const DEFAULT_PORT: u16 = 6379;
/// Longest RESP line read (type byte to CRLF).
const MAX_LINE: u64 = 4096;
/// Largest bulk reply read (`INFO replication` is far smaller).
const MAX_BULK: usize = 64 * 1024;

fn default_port() -> u16 {
    DEFAULT_PORT
}

/// Params of the `redis` probe.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisParams {
    /// Host name or IP address.
    pub host: String,
    /// Port (6379).
    #[serde(default = "default_port")]
    pub port: u16,
    /// ACL user for `AUTH` (Redis 6+); needs a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for `AUTH`. Prefer `password_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Name of an environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

impl fmt::Debug for RedisParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_env", &self.password_env)
            .finish()
    }
}

impl RedisParams {
    /// Checks host, port and the auth fields; errors name `params.<field>`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        common::check_host("params.host", &self.host)?;
        common::check_port("params.port", self.port)?;
        if self.password.is_some() && self.password_env.is_some() {
            return Err(ValidationError::new(
                "params.password_env",
                "give password or password_env, not both",
            ));
        }
        if let Some(env) = &self.password_env
            && (env.is_empty() || env.contains('=') || env.contains('\0'))
        {
            return Err(ValidationError::new(
                "params.password_env",
                "must be a variable name (non-empty, no '=' or NUL)",
            ));
        }
        if let Some(user) = &self.username {
            if user.is_empty() {
                return Err(ValidationError::new("params.username", "must not be empty"));
            }
            if self.password.is_none() && self.password_env.is_none() {
                return Err(ValidationError::new(
                    "params.username",
                    "needs password or password_env",
                ));
            }
        }
        Ok(())
    }
}

/// The `redis` checker. Stateless; share it as `Arc<dyn Checker>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisChecker;

impl RedisChecker {
    /// A new checker.
    pub const fn new() -> Self {
        Self
    }
}

fn parse(spec: &CheckSpec) -> Result<RedisParams, ValidationError> {
    let p: RedisParams = common::parse_params(spec)?;
    p.validate()?;
    Ok(p)
}

#[async_trait]
impl Checker for RedisChecker {
    fn kind(&self) -> &str {
        "redis"
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

/// One RESP2 reply (arrays are not expected from these commands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR …`
    Error(String),
    /// `:42`
    Int(i64),
    /// `$n` … (`None` for `$-1`)
    Bulk(Option<Vec<u8>>),
}

/// Why a reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RespError {
    /// The server closed the connection.
    Closed,
    /// Not RESP, or bigger than we read.
    Protocol(String),
    /// The socket failed.
    Io(String),
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::Closed => f.write_str("connection closed"),
            RespError::Protocol(m) => write!(f, "protocol error: {m}"),
            RespError::Io(m) => write!(f, "read failed: {m}"),
        }
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub(crate) fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one reply.
pub(crate) async fn read_reply<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Reply, RespError> {
    let mut line = Vec::with_capacity(64);
    let n = (&mut *r)
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| RespError::Io(e.to_string()))?;
    if n == 0 {
        return Err(RespError::Closed);
    }
    if !line.ends_with(b"\r\n") {
        return Err(if n as u64 >= MAX_LINE {
            RespError::Protocol("line too long".into())
        } else {
            RespError::Closed
        });
    }
    line.truncate(line.len() - 2);
    let (kind, rest) = line
        .split_first()
        .ok_or_else(|| RespError::Protocol("empty line".into()))?;
    let text = String::from_utf8_lossy(rest).into_owned();
    match kind {
        b'+' => Ok(Reply::Simple(text)),
        b'-' => Ok(Reply::Error(text)),
        b':' => text
            .parse()
            .map(Reply::Int)
            .map_err(|_| RespError::Protocol(format!("bad integer {text:?}"))),
        b'$' => {
            let len: i64 = text
                .parse()
                .map_err(|_| RespError::Protocol(format!("bad bulk length {text:?}")))?;
            if len < 0 {
                return Ok(Reply::Bulk(None));
            }
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len > MAX_BULK {
                return Err(RespError::Protocol(format!("bulk reply of {len} bytes")));
            }
            let mut buf = vec![0u8; len + 2];
            r.read_exact(&mut buf).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    RespError::Closed
                } else {
                    RespError::Io(e.to_string())
                }
            })?;
            if !buf.ends_with(b"\r\n") {
                return Err(RespError::Protocol("bulk reply without CRLF".into()));
            }
            buf.truncate(len);
            Ok(Reply::Bulk(Some(buf)))
        }
        other => Err(RespError::Protocol(format!(
            "unexpected reply type {:?}",
            char::from(*other)
        ))),
    }
}

/// `key:value` lines of an `INFO` section.
pub(crate) fn info_field<'a>(info: &'a str, key: &str) -> Option<&'a str> {
    info.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}

/// Whether an error reply is about credentials.
fn is_auth_error(msg: &str) -> bool {
    let first = msg.split_whitespace().next().unwrap_or("");
    matches!(first, "NOAUTH" | "WRONGPASS" | "NOPERM")
        || msg.contains("invalid password")
        || msg.contains("without any password configured")
        || msg.contains("invalid username-password")
}

async fn exchange<S>(
    conn: &mut BufReader<S>,
    cmd: &[u8],
    clock: &Clock,
) -> Result<Reply, (Outcome, String, &'static str)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let io = async {
        conn.get_mut()
            .write_all(cmd)
            .await
            .map_err(|e| RespError::Io(e.to_string()))?;
        read_reply(conn).await
    };
    match tokio::time::timeout_at(clock.deadline, io).await {
        Err(_) => Err((
            Outcome::Fail,
            "no reply before the timeout".to_owned(),
            "reply_timeout",
        )),
        Ok(Err(RespError::Closed)) => Err((
            Outcome::Fail,
            "the server closed the connection".to_owned(),
            "closed",
        )),
        Ok(Err(e)) => Err((Outcome::Fail, e.to_string(), "protocol")),
        Ok(Ok(r)) => Ok(r),
    }
}

async fn probe(p: &RedisParams, clock: &Clock) -> Observation {
    let target = common::host_port(&p.host, p.port);
    let password = match (&p.password, &p.password_env) {
        (Some(pw), _) => Some(pw.clone()),
        (None, Some(var)) => match std::env::var(var) {
            Ok(v) => Some(v),
            Err(_) => {
                return clock.observe(
                    Outcome::Unknown,
                    format!("environment variable {var} is not set"),
                    serde_json::json!({"address": target, "error": "password_env_unset"}),
                );
            }
        },
        (None, None) => None,
    };
    let (stream, addr) = match common::connect(&p.host, p.port, clock.deadline).await {
        Ok(s) => s,
        Err(e) => return e.observe(clock, &target),
    };
    let connect = clock.elapsed();
    let address = addr.to_string();
    let mut conn = BufReader::new(stream);
    let mut details = serde_json::json!({
        "address": address,
        "connect_ms": common::ms(connect),
        "auth": password.is_some(),
    });
    let fail = |details: &mut serde_json::Value, (o, m, code): (Outcome, String, &'static str)| {
        details["error"] = code.into();
        clock.observe(o, format!("{address}: {m}"), details.clone())
    };

    if let Some(pw) = &password {
        let cmd = match &p.username {
            Some(u) => encode(&[b"AUTH", u.as_bytes(), pw.as_bytes()]),
            None => encode(&[b"AUTH", pw.as_bytes()]),
        };
        match exchange(&mut conn, &cmd, clock).await {
            Err(e) => return fail(&mut details, e),
            Ok(Reply::Simple(s)) if s == "OK" => {}
            Ok(Reply::Error(e)) if is_auth_error(&e) => {
                return fail(
                    &mut details,
                    (
                        Outcome::Unknown,
                        format!("authentication refused: {e}"),
                        "auth_failed",
                    ),
                );
            }
            Ok(other) => {
                return fail(
                    &mut details,
                    (
                        Outcome::Fail,
                        format!("unexpected AUTH reply {other:?}"),
                        "auth_reply",
                    ),
                );
            }
        }
    }

    let sent = std::time::Instant::now();
    let ping = exchange(&mut conn, b"*1\r\n$4\r\nPING\r\n", clock).await;
    let ping_ms = common::ms(sent.elapsed());
    details["ping_ms"] = ping_ms.into();
    match ping {
        Err(e) => return fail(&mut details, e),
        Ok(Reply::Simple(s)) if s == "PONG" => {}
        Ok(Reply::Error(e)) if is_auth_error(&e) => {
            return fail(
                &mut details,
                (
                    Outcome::Unknown,
                    format!("authentication required: {e}"),
                    "auth_required",
                ),
            );
        }
        Ok(Reply::Error(e)) => {
            return fail(
                &mut details,
                (Outcome::Fail, format!("PING failed: {e}"), "ping_error"),
            );
        }
        Ok(other) => {
            return fail(
                &mut details,
                (
                    Outcome::Fail,
                    format!("unexpected PING reply {other:?}"),
                    "ping_reply",
                ),
            );
        }
    }

    // The role is best effort: INFO may be renamed or denied by ACL.
    let mut outcome = Outcome::Pass;
    let mut message = format!("PONG from {address}");
    if let Ok(Reply::Bulk(Some(info))) = exchange(
        &mut conn,
        b"*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n",
        clock,
    )
    .await
    {
        let info = String::from_utf8_lossy(&info);
        if let Some(role) = info_field(&info, "role") {
            details["role"] = role.into();
            message.push_str(&format!(" (role {role})"));
        }
        if let Some(n) = info_field(&info, "connected_slaves").and_then(|v| v.parse::<u64>().ok()) {
            details["connected_replicas"] = n.into();
        }
        if let Some(link) = info_field(&info, "master_link_status") {
            details["master_link_status"] = link.into();
            if link != "up" {
                outcome = Outcome::Warn;
                message.push_str(&format!(", link to master is {link}"));
            }
        }
    }
    clock.observe(outcome, message, details)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::net::TcpListener;

    use super::*;

    fn spec(params: serde_json::Value, timeout_ms: u64) -> CheckSpec {
        CheckSpec::new("redis")
            .with_params(params)
            .every(Duration::from_secs(60), Duration::from_millis(timeout_ms))
    }

    fn field(params: serde_json::Value) -> String {
        RedisChecker
            .validate(&spec(params, 1000))
            .unwrap_err()
            .field()
            .to_owned()
    }

    #[test]
    fn validation_names_fields() {
        assert_eq!(
            field(serde_json::json!({"host": "a", "port": 0})),
            "params.port"
        );
        assert_eq!(field(serde_json::json!({"port": 1})), "params.host");
        assert_eq!(
            field(serde_json::json!({"host": "a", "password": "x", "password_env": "Y"})),
            "params.password_env"
        );
        assert_eq!(
            field(serde_json::json!({"host": "a", "username": "u"})),
            "params.username"
        );
        assert_eq!(
            field(serde_json::json!({"host": "a", "password_env": "A=B"})),
            "params.password_env"
        );
        let p: RedisParams = parse(&spec(serde_json::json!({"host": "a"}), 1000)).unwrap();
        assert_eq!(p.port, 6379);
    }

    #[test]
    fn debug_redacts_the_password() {
        let p: RedisParams =
            serde_json::from_value(serde_json::json!({"host": "a", "password": "hunter2"}))
                .unwrap();
        let s = format!("{p:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("<redacted>"));
    }

    #[test]
    fn encoding() {
        assert_eq!(encode(&[b"PING"]), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            encode(&[b"AUTH", b"a b\r\n"]),
            b"*2\r\n$4\r\nAUTH\r\n$5\r\na b\r\n\r\n"
        );
    }

    async fn parse_bytes(b: &[u8]) -> Result<Reply, RespError> {
        let mut r = BufReader::new(b);
        read_reply(&mut r).await
    }

    #[tokio::test]
    async fn resp_parsing() {
        assert_eq!(
            parse_bytes(b"+PONG\r\n").await,
            Ok(Reply::Simple("PONG".into()))
        );
        assert_eq!(
            parse_bytes(b"-ERR x\r\n").await,
            Ok(Reply::Error("ERR x".into()))
        );
        assert_eq!(parse_bytes(b":-3\r\n").await, Ok(Reply::Int(-3)));
        assert_eq!(parse_bytes(b"$-1\r\n").await, Ok(Reply::Bulk(None)));
        assert_eq!(
            parse_bytes(b"$3\r\nab\n\r\n").await,
            Ok(Reply::Bulk(Some(b"ab\n".to_vec())))
        );
        assert_eq!(parse_bytes(b"").await, Err(RespError::Closed));
        assert_eq!(parse_bytes(b"+PON").await, Err(RespError::Closed));
        assert_eq!(parse_bytes(b"$5\r\nab").await, Err(RespError::Closed));
        assert!(matches!(
            parse_bytes(b"*1\r\n").await,
            Err(RespError::Protocol(_))
        ));
        assert!(matches!(
            parse_bytes(b"$99999999\r\n").await,
            Err(RespError::Protocol(_))
        ));
        assert!(matches!(
            parse_bytes(b":x\r\n").await,
            Err(RespError::Protocol(_))
        ));
        let long = vec![b'+'; 5000];
        assert!(matches!(
            parse_bytes(&long).await,
            Err(RespError::Protocol(_))
        ));
    }

    #[test]
    fn info_fields() {
        let info = "# Replication\r\nrole:slave\r\nmaster_link_status:down\r\n";
        assert_eq!(info_field(info, "role"), Some("slave"));
        assert_eq!(info_field(info, "master_link_status"), Some("down"));
        assert_eq!(info_field(info, "nope"), None);
        assert!(is_auth_error("NOAUTH Authentication required."));
        assert!(is_auth_error(
            "WRONGPASS invalid username-password pair or user is disabled."
        ));
        assert!(!is_auth_error(
            "LOADING Redis is loading the dataset in memory"
        ));
    }

    #[tokio::test]
    async fn local_redis_pongs_with_role() {
        let o = RedisChecker
            .check(&spec(serde_json::json!({"host": "127.0.0.1"}), 3000))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
        let d = o.details.unwrap();
        assert_eq!(d["role"], "master");
        assert!(d["ping_ms"].as_f64().unwrap() >= 0.0);
        assert!(o.latency.is_some());
    }

    #[tokio::test]
    async fn password_for_a_server_without_auth_is_unknown() {
        let o = RedisChecker
            .check(&spec(
                serde_json::json!({"host": "127.0.0.1", "password": "hunter2"}),
                3000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Unknown, "{o:?}");
        let text = serde_json::to_string(&o).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
    }

    /// A redis-server of our own on a loopback port, killed on drop.
    struct OwnRedis {
        child: tokio::process::Child,
        port: u16,
    }

    impl OwnRedis {
        async fn start(extra: &[&str]) -> Option<Self> {
            let l = TcpListener::bind("127.0.0.1:0").await.ok()?;
            let port = l.local_addr().ok()?.port();
            drop(l);
            let child = tokio::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--dir", "/tmp"])
                .args(extra)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .ok()?;
            let mut me = Self { child, port };
            // Ready when it accepts; gone if it exited (bad arguments).
            let until = tokio::time::Instant::now() + Duration::from_secs(10);
            while tokio::time::Instant::now() < until {
                if let Ok(Some(_)) = me.child.try_wait() {
                    return None;
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return Some(me);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            None
        }
    }

    impl Drop for OwnRedis {
        fn drop(&mut self) {
            let _ = self.child.start_kill();
        }
    }

    /// False (after a loud skip) when `redis-server` is not installed.
    fn own_redis_possible(test: &str) -> bool {
        use healthcore::testkit::system;
        let ok = system::program_available("redis-server");
        if !ok {
            system::skip_missing(test, "redis-server (bash .ci/probes-deps.sh)");
        }
        ok
    }

    #[tokio::test]
    async fn auth_against_a_password_protected_server() {
        if !own_redis_possible("redis::tests::auth_against_a_password_protected_server") {
            return;
        }
        let home = std::env::var("HOME").expect("HOME is set");
        let envpw = format!(">{home}");
        let Some(r) = OwnRedis::start(&[
            "--requirepass",
            "s3cret",
            // redis-server joins the words after `--user` into one line.
            "--user",
            "probe",
            "on",
            ">pw",
            "+ping",
            "+info",
            "--user",
            "envuser",
            "on",
            &envpw,
            "+ping",
            "+info",
        ])
        .await
        else {
            panic!("could not start redis-server");
        };
        let base = serde_json::json!({"host": "127.0.0.1", "port": r.port});
        let with = |extra: serde_json::Value| {
            let mut p = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                p[k] = v.clone();
            }
            spec(p, 3000)
        };

        let o = RedisChecker.check(&with(serde_json::json!({}))).await;
        assert_eq!(o.outcome, Outcome::Unknown, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "auth_required");

        let o = RedisChecker
            .check(&with(serde_json::json!({"password": "wrong"})))
            .await;
        assert_eq!(o.outcome, Outcome::Unknown, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "auth_failed");

        let o = RedisChecker
            .check(&with(serde_json::json!({"password": "s3cret"})))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
        assert_eq!(o.details.unwrap()["auth"], true);

        // An unset variable is the checker's fault.
        let var = format!("HC_REDIS_PROBE_UNSET_{}", std::process::id());
        let o = RedisChecker
            .check(&with(serde_json::json!({"password_env": var})))
            .await;
        assert_eq!(o.outcome, Outcome::Unknown, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "password_env_unset");

        // A set one is read (setting variables is unsafe, so the server's
        // second user has $HOME as its password).
        let o = RedisChecker
            .check(&with(
                serde_json::json!({"username": "envuser", "password_env": "HOME"}),
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");

        let o = RedisChecker
            .check(&with(
                serde_json::json!({"username": "probe", "password": "pw"}),
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
    }

    #[tokio::test]
    async fn replica_with_a_dead_master_warns() {
        if !own_redis_possible("redis::tests::replica_with_a_dead_master_warns") {
            return;
        }
        // Its master is a port nothing listens on.
        let dead = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let Some(r) = OwnRedis::start(&["--replicaof", "127.0.0.1", &dead.to_string()]).await
        else {
            panic!("could not start redis-server");
        };
        let o = RedisChecker
            .check(&spec(
                serde_json::json!({"host": "127.0.0.1", "port": r.port}),
                3000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Warn, "{o:?}");
        let d = o.details.unwrap();
        assert_eq!(d["role"], "slave");
        assert_eq!(d["master_link_status"], "down");
    }

    #[tokio::test]
    async fn stalled_server_fails_at_the_deadline() {
        let l = TcpListener::bind("127.0.0.6:0").await.unwrap();
        let a = l.local_addr().unwrap();
        let started = std::time::Instant::now();
        let o = RedisChecker
            .check(&spec(
                serde_json::json!({"host": "127.0.0.6", "port": a.port()}),
                300,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "reply_timeout");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(l);
    }

    #[tokio::test]
    async fn refused_is_unreachable() {
        let l = TcpListener::bind("127.0.0.7:0").await.unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        let o = RedisChecker
            .check(&spec(
                serde_json::json!({"host": "127.0.0.7", "port": a.port()}),
                1000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Unreachable, "{o:?}");
    }

    #[tokio::test]
    async fn not_redis_fails() {
        let l = TcpListener::bind("127.0.0.8:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let o = RedisChecker
            .check(&spec(
                serde_json::json!({"host": "127.0.0.8", "port": a.port()}),
                1000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "protocol");
    }
}
