//! The `ssh` probe (seed 003): connect with a key, the host key pinned by
//! its fingerprint, run a command given as argv, and judge its exit status
//! and output (e.g. `systemctl is-active appsvc` printing `active`).
//!
//! - **Host key**: the server's key must have the SHA-256 fingerprint in
//!   `host_key_fingerprint` (`SHA256:…` as `ssh-keygen -lf` prints it). A
//!   different key is a `fail` (`error: host_key_mismatch`, the key seen in
//!   details) and the session goes no further: no authentication, no
//!   command. A server with several host keys offers the one the client
//!   prefers (Ed25519 first); set `host_key_type` to negotiate the pinned
//!   key's type.
//! - **User key**: an OpenSSH private key file (`key_file`), with its
//!   passphrase in the environment variable `key_passphrase_env` if it has
//!   one. Secrets never appear in messages or details.
//! - **Timeouts**: `connect_timeout` (10 s) covers TCP, the SSH handshake
//!   and authentication; `command_timeout` (10 s) covers the command. Both
//!   fall within `spec.timeout`, the whole probe's deadline (set it to 20 s
//!   to give each its full 10 s). When the command runs out of time it is
//!   sent `KILL` (an SSH signal request) and its channel and session are
//!   closed. OpenSSH refuses signal requests for root logins (it skips
//!   privilege separation for root); log in as another user, or set `pty`
//!   so that closing the session hangs the command up.
//! - **argv**: OpenSSH hands the command line to the remote user's shell,
//!   so each argument is quoted for a POSIX shell and the words joined: the
//!   remote program receives exactly `command` as its argv.
//!
//! Outcomes: TCP refused, connect or handshake timeout, or an SSH protocol
//! failure before authentication → `unreachable` (003: not healed); host
//! key mismatch → `fail`; key file unreadable or authentication refused →
//! `unknown` (the checker's credentials); the command exiting with another
//! status than `expect_exit_code` (0), killed by a signal, printing
//! something other than `expect_stdout`, or running out of time → `fail`;
//! else `pass`. Output is capped at `max_output` bytes per stream.
//!
//! Owns one SSH session per run; must not run anything but `command`.
//!
//! Params ([`SshParams`]):
//!
//! ```json
//! {"host": "203.0.113.10", "user": "monitor", "key_file": "/etc/healthcore/id_ed25519",
//!  "host_key_fingerprint": "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
//!  "command": ["sudo", "systemctl", "is-active", "appsvc"], "expect_stdout": "active"}
//! ```

use std::borrow::Cow;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use healthcore::ValidationError;
use healthcore::checker::Checker;
use healthcore::model::{CheckSpec, Observation, Outcome};
use russh::ChannelMsg;
use russh::client;
use russh::keys::ssh_key::Fingerprint;
use russh::keys::{Algorithm, HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use serde::{Deserialize, Serialize};

use crate::common::{self, Clock};

/// The default SSH port.
pub const DEFAULT_PORT: u16 = 22;
/// Default connect and command timeouts (003: 10 s each).
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Default output kept per stream, in bytes.
pub const DEFAULT_MAX_OUTPUT: usize = 4096;
/// Largest `max_output` accepted.
pub const MAX_OUTPUT_LIMIT: usize = 64 * 1024;
/// Host key types `host_key_type` accepts.
pub const HOST_KEY_TYPES: [&str; 7] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];
/// Most argv entries accepted.
pub const MAX_ARGS: usize = 256;
/// Time kept back from the whole probe's deadline to end a command that
/// ran out of time.
const CLEANUP_MARGIN: Duration = Duration::from_millis(200);

fn default_port() -> u16 {
    DEFAULT_PORT
}
fn default_step_timeout() -> Duration {
    DEFAULT_STEP_TIMEOUT
}
fn default_max_output() -> usize {
    DEFAULT_MAX_OUTPUT
}

/// Params of the `ssh` probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshParams {
    /// Host name or IP address.
    pub host: String,
    /// Port (22).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Remote user.
    pub user: String,
    /// Absolute path to the OpenSSH private key.
    pub key_file: PathBuf,
    /// Environment variable holding the key's passphrase, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_passphrase_env: Option<String>,
    /// The pinned host key: `SHA256:<base64>` as `ssh-keygen -lf` prints.
    pub host_key_fingerprint: String,
    /// Host key algorithm to negotiate (one of [`HOST_KEY_TYPES`]); the
    /// client's preference order when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key_type: Option<String>,
    /// The remote program and its arguments (quoted for the remote shell).
    pub command: Vec<String>,
    /// Exit status that counts as success (0).
    #[serde(default)]
    pub expect_exit_code: u32,
    /// Standard output, trimmed, must equal this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_stdout: Option<String>,
    /// TCP connect, handshake and authentication (10 s).
    #[serde(default = "default_step_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// The command, from opening its channel to its exit (10 s).
    #[serde(default = "default_step_timeout", with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Bytes kept of stdout and of stderr (4096; at most 65536).
    #[serde(default = "default_max_output")]
    pub max_output: usize,
    /// Run the command on a pseudo-terminal (false). The remote command
    /// then gets `SIGHUP` whenever the session ends, even where the server
    /// refuses signal requests (OpenSSH does for root logins); stderr is
    /// merged into stdout and lines end in CRLF.
    #[serde(default)]
    pub pty: bool,
}

impl SshParams {
    /// Checks every field; errors name `params.<field>`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        common::check_host("params.host", &self.host)?;
        common::check_port("params.port", self.port)?;
        if self.user.is_empty() || self.user.chars().any(|c| c.is_control() || c == ' ') {
            return Err(ValidationError::new(
                "params.user",
                "must be a non-empty user name",
            ));
        }
        if !self.key_file.is_absolute() {
            return Err(ValidationError::new(
                "params.key_file",
                "must be an absolute path to an OpenSSH private key",
            ));
        }
        if let Some(env) = &self.key_passphrase_env
            && (env.is_empty() || env.contains('=') || env.contains('\0'))
        {
            return Err(ValidationError::new(
                "params.key_passphrase_env",
                "must be a variable name (non-empty, no '=' or NUL)",
            ));
        }
        parse_fingerprint(&self.host_key_fingerprint)
            .map_err(|rule| ValidationError::new("params.host_key_fingerprint", rule))?;
        if let Some(t) = &self.host_key_type
            && host_key_algorithm(t).is_none()
        {
            return Err(ValidationError::new(
                "params.host_key_type",
                format!(
                    "unknown key type {t:?}; use one of {}",
                    HOST_KEY_TYPES.join(", ")
                ),
            ));
        }
        let Some(program) = self.command.first() else {
            return Err(ValidationError::new(
                "params.command",
                "must not be empty (give the program and its arguments)",
            ));
        };
        if program.is_empty() {
            return Err(ValidationError::new(
                "params.command[0]",
                "the program must not be empty",
            ));
        }
        if self.command.len() > MAX_ARGS {
            return Err(ValidationError::new(
                "params.command",
                "at most 256 entries",
            ));
        }
        if let Some(i) = self.command.iter().position(|a| a.contains('\0')) {
            return Err(ValidationError::new(
                format!("params.command[{i}]"),
                "must not contain NUL",
            ));
        }
        for (field, d) in [
            ("params.connect_timeout", self.connect_timeout),
            ("params.command_timeout", self.command_timeout),
        ] {
            if d.is_zero() || d > Duration::from_secs(3600) {
                return Err(ValidationError::new(field, "must be in 1ms..=1h"));
            }
        }
        if self.max_output == 0 || self.max_output > MAX_OUTPUT_LIMIT {
            return Err(ValidationError::new(
                "params.max_output",
                "must be in 1..=65536",
            ));
        }
        Ok(())
    }

    /// The command line sent to the server: each argument quoted for a
    /// POSIX shell.
    pub fn command_line(&self) -> String {
        self.command
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Parses an OpenSSH SHA-256 fingerprint (`SHA256:` and 43 characters of
/// unpadded base64).
///
/// ```
/// use healthcore_probes::ssh::parse_fingerprint;
/// assert!(parse_fingerprint("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU").is_ok());
/// assert!(parse_fingerprint("MD5:aa:bb").is_err());
/// assert!(parse_fingerprint("SHA256:tooshort").is_err());
/// ```
pub fn parse_fingerprint(s: &str) -> Result<Fingerprint, &'static str> {
    let Some(b64) = s.strip_prefix("SHA256:") else {
        return Err("must start with SHA256: (as ssh-keygen -lf prints it)");
    };
    if b64.len() != 43
        || !b64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return Err("must be SHA256: followed by 43 characters of unpadded base64");
    }
    let fp = Fingerprint::from_str(s)
        .map_err(|_| "must be SHA256: followed by 43 characters of unpadded base64")?;
    if fp.algorithm() != HashAlg::Sha256 {
        return Err("must be a SHA256 fingerprint");
    }
    Ok(fp)
}

fn host_key_algorithm(name: &str) -> Option<Algorithm> {
    if !HOST_KEY_TYPES.contains(&name) {
        return None;
    }
    Algorithm::from_str(name).ok()
}

/// Quotes one argument for a POSIX shell (unchanged when it needs none).
///
/// ```
/// use healthcore_probes::ssh::shell_quote;
/// assert_eq!(shell_quote("is-active"), "is-active");
/// assert_eq!(shell_quote("a b"), "'a b'");
/// assert_eq!(shell_quote("it's"), r"'it'\''s'");
/// assert_eq!(shell_quote(""), "''");
/// ```
pub fn shell_quote(arg: &str) -> Cow<'_, str> {
    let plain = !arg.is_empty()
        && arg.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'@' | b'%' | b'+' | b'=' | b':' | b',' | b'.' | b'/' | b'-'
                )
        });
    if plain {
        Cow::Borrowed(arg)
    } else {
        Cow::Owned(format!("'{}'", arg.replace('\'', r"'\''")))
    }
}

/// The `ssh` checker. Stateless; share it as `Arc<dyn Checker>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SshChecker;

impl SshChecker {
    /// A new checker.
    pub const fn new() -> Self {
        Self
    }
}

fn parse(spec: &CheckSpec) -> Result<SshParams, ValidationError> {
    let p: SshParams = common::parse_params(spec)?;
    p.validate()?;
    Ok(p)
}

#[async_trait]
impl Checker for SshChecker {
    fn kind(&self) -> &str {
        "ssh"
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

/// Accepts only the pinned host key and remembers the one it saw.
struct PinnedHost {
    expected: Fingerprint,
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for PinnedHost {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fp = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.fingerprint(HashAlg::Sha256),
            PublicKeyOrCertificate::Certificate(c) => c.public_key().fingerprint(HashAlg::Sha256),
        };
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(fp.to_string());
        }
        Ok(fp == self.expected)
    }
}

/// Output of one stream, capped.
#[derive(Debug, Default)]
struct Capped {
    bytes: Vec<u8>,
    total: usize,
}

impl Capped {
    fn push(&mut self, data: &[u8], max: usize) {
        self.total = self.total.saturating_add(data.len());
        let room = max.saturating_sub(self.bytes.len()).min(data.len());
        if let Some(part) = data.get(..room) {
            self.bytes.extend_from_slice(part);
        }
    }
}

async fn probe(p: &SshParams, clock: &Clock) -> Observation {
    let target = common::host_port(&p.host, p.port);
    let mut details = serde_json::json!({"address": target, "user": p.user});

    // The user key first: no point connecting without it.
    let passphrase = match &p.key_passphrase_env {
        Some(var) => match std::env::var(var) {
            Ok(v) => Some(v),
            Err(_) => {
                details["error"] = "passphrase_env_unset".into();
                return clock.observe(
                    Outcome::Unknown,
                    format!("environment variable {var} is not set"),
                    details,
                );
            }
        },
        None => None,
    };
    let key = match russh::keys::load_secret_key(&p.key_file, passphrase.as_deref()) {
        Ok(k) => Arc::new(k),
        Err(e) => {
            details["error"] = "key_file".into();
            return clock.observe(
                Outcome::Unknown,
                format!("cannot load key_file {}: {e}", p.key_file.display()),
                details,
            );
        }
    };
    let Ok(expected) = parse_fingerprint(&p.host_key_fingerprint) else {
        details["error"] = "fingerprint".into();
        return clock.observe(Outcome::Unknown, "invalid host_key_fingerprint", details);
    };

    // Connect, handshake, authenticate: all before the connect deadline.
    let connect_deadline = clock
        .deadline
        .min(tokio::time::Instant::now() + p.connect_timeout);
    let (stream, addr) = match common::connect(&p.host, p.port, connect_deadline).await {
        Ok(s) => s,
        Err(e) => return e.observe(clock, &target),
    };
    details["address"] = addr.to_string().into();
    let mut preferred = russh::Preferred::default();
    if let Some(alg) = p.host_key_type.as_deref().and_then(host_key_algorithm) {
        preferred.key = Cow::Owned(vec![alg]);
    }
    let config = Arc::new(client::Config {
        preferred,
        inactivity_timeout: None,
        ..Default::default()
    });
    let seen = Arc::new(Mutex::new(None));
    let handler = PinnedHost {
        expected,
        seen: seen.clone(),
    };
    let handshake = tokio::time::timeout_at(
        connect_deadline,
        client::connect_stream(config, stream, handler),
    )
    .await;
    let seen_fp = seen.lock().ok().and_then(|s| s.clone());
    if let Some(fp) = &seen_fp {
        details["host_key_fingerprint"] = fp.clone().into();
    }
    let mut handle = match handshake {
        Err(_) => {
            details["error"] = "handshake_timeout".into();
            return clock.observe(
                Outcome::Unreachable,
                format!("SSH handshake with {addr} timed out"),
                details,
            );
        }
        Ok(Err(russh::Error::UnknownKey)) => {
            details["error"] = "host_key_mismatch".into();
            details["expected_fingerprint"] = p.host_key_fingerprint.clone().into();
            return clock.observe(
                Outcome::Fail,
                format!(
                    "host key mismatch at {addr}: expected {}, got {}",
                    p.host_key_fingerprint,
                    seen_fp.as_deref().unwrap_or("none")
                ),
                details,
            );
        }
        Ok(Err(e)) => {
            details["error"] = "handshake_failed".into();
            return clock.observe(
                Outcome::Unreachable,
                format!("SSH handshake with {addr} failed: {e}"),
                details,
            );
        }
        Ok(Ok(h)) => h,
    };

    let auth = tokio::time::timeout_at(connect_deadline, async {
        let hash = if key.algorithm().is_rsa() {
            handle.best_supported_rsa_hash().await?.flatten()
        } else {
            None
        };
        handle
            .authenticate_publickey(
                p.user.clone(),
                PrivateKeyWithHashAlg::new(key.clone(), hash),
            )
            .await
    })
    .await;
    match auth {
        Err(_) => {
            details["error"] = "auth_timeout".into();
            return clock.observe(
                Outcome::Unreachable,
                format!("SSH authentication at {addr} timed out"),
                details,
            );
        }
        Ok(Err(e)) => {
            details["error"] = "auth_failed".into();
            return clock.observe(
                Outcome::Unreachable,
                format!("SSH authentication at {addr} failed: {e}"),
                details,
            );
        }
        Ok(Ok(r)) if !r.success() => {
            details["error"] = "auth_rejected".into();
            return clock.observe(
                Outcome::Unknown,
                format!("{addr} refused the key for user {}", p.user),
                details,
            );
        }
        Ok(Ok(_)) => {}
    }
    let connected = clock.elapsed();
    details["connect_ms"] = common::ms(connected).into();

    // The command.
    let command_deadline = clock
        .deadline
        .checked_sub(CLEANUP_MARGIN)
        .unwrap_or(clock.deadline)
        .min(tokio::time::Instant::now() + p.command_timeout);
    let line = p.command_line();
    let mut stdout = Capped::default();
    let mut stderr = Capped::default();
    let mut exit_code: Option<u32> = None;
    let mut exit_signal: Option<String> = None;
    let mut refused = false;

    let channel = tokio::time::timeout_at(command_deadline, handle.channel_open_session()).await;
    let mut channel = match channel {
        Err(_) => {
            details["error"] = "command_timeout".into();
            end_session(&handle).await;
            return clock.observe(
                Outcome::Fail,
                format!("{addr}: no session channel before the command timeout"),
                details,
            );
        }
        Ok(Err(e)) => {
            details["error"] = "channel_failed".into();
            end_session(&handle).await;
            return clock.observe(
                Outcome::Fail,
                format!("{addr}: cannot open a session channel: {e}"),
                details,
            );
        }
        Ok(Ok(c)) => c,
    };
    let ran = tokio::time::timeout_at(command_deadline, async {
        if p.pty {
            channel
                .request_pty(false, "dumb", 200, 50, 0, 0, &[])
                .await?;
        }
        channel.exec(true, line.as_bytes()).await?;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => stdout.push(&data, p.max_output),
                ChannelMsg::ExtendedData { data, .. } => stderr.push(&data, p.max_output),
                ChannelMsg::ExitStatus { exit_status } => exit_code = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    exit_signal = Some(format!("{signal_name:?}"));
                }
                ChannelMsg::Failure => {
                    refused = true;
                    break;
                }
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        Ok::<(), russh::Error>(())
    })
    .await;

    let out_text = common::capped_text(&stdout.bytes, p.max_output);
    let err_text = common::capped_text(&stderr.bytes, p.max_output);
    details["stdout"] = out_text.clone().into();
    details["stderr"] = err_text.clone().into();
    details["output_truncated"] =
        (stdout.total > p.max_output || stderr.total > p.max_output).into();
    details["command_ms"] = common::ms(clock.elapsed().saturating_sub(connected)).into();
    if let Some(c) = exit_code {
        details["exit_code"] = c.into();
    }
    if let Some(s) = &exit_signal {
        details["exit_signal"] = s.clone().into();
    }
    let program = p.command.first().map(String::as_str).unwrap_or_default();

    let (outcome, message) = match ran {
        Err(_) => {
            details["error"] = "command_timeout".into();
            end_command(&mut channel, clock).await;
            end_session(&handle).await;
            return clock.observe(
                Outcome::Fail,
                format!(
                    "{addr}: {program} did not finish within {:?}; it was sent KILL",
                    p.command_timeout.min(clock.timeout)
                ),
                details,
            );
        }
        Ok(Err(e)) => {
            details["error"] = "exec_failed".into();
            (Outcome::Fail, format!("{addr}: cannot run {program}: {e}"))
        }
        Ok(Ok(())) if refused => {
            details["error"] = "exec_refused".into();
            (Outcome::Fail, format!("{addr} refused to run {program}"))
        }
        Ok(Ok(())) => judge(
            p,
            exit_code,
            exit_signal.as_deref(),
            &out_text,
            &err_text,
            &mut details,
        ),
    };
    end_session(&handle).await;
    clock.observe(outcome, format!("{addr}: {message}"), details)
}

/// The verdict on a command that ended.
fn judge(
    p: &SshParams,
    exit_code: Option<u32>,
    exit_signal: Option<&str>,
    stdout: &str,
    stderr: &str,
    details: &mut serde_json::Value,
) -> (Outcome, String) {
    let program = p.command.first().map(String::as_str).unwrap_or_default();
    let said = common::first_line(
        if stdout.trim().is_empty() {
            stderr
        } else {
            stdout
        },
        200,
    );
    if let Some(sig) = exit_signal {
        details["error"] = "signal".into();
        return (Outcome::Fail, format!("{program} was killed by {sig}"));
    }
    let Some(code) = exit_code else {
        details["error"] = "no_exit_status".into();
        return (
            Outcome::Fail,
            format!("{program} ended without an exit status"),
        );
    };
    if code != p.expect_exit_code {
        details["error"] = "exit_code".into();
        return (
            Outcome::Fail,
            format!(
                "{program} exited {code} (expected {}): {said}",
                p.expect_exit_code
            ),
        );
    }
    if let Some(want) = &p.expect_stdout
        && stdout.trim() != want.trim()
    {
        details["error"] = "unexpected_output".into();
        return (
            Outcome::Fail,
            format!("{program} printed {said:?}, expected {want:?}"),
        );
    }
    (Outcome::Pass, format!("{program} exited {code}: {said}"))
}

/// Ends a command that ran out of time: `KILL` it, wait (briefly, within
/// the probe's deadline) for the server to report it gone, then close the
/// channel.
async fn end_command(channel: &mut russh::Channel<client::Msg>, clock: &Clock) {
    let until = clock
        .deadline
        .min(tokio::time::Instant::now() + Duration::from_secs(1));
    let _ = tokio::time::timeout_at(until, async {
        let _ = channel.signal(russh::Sig::KILL).await;
        while let Some(msg) = channel.wait().await {
            if matches!(
                msg,
                ChannelMsg::ExitSignal { .. }
                    | ChannelMsg::ExitStatus { .. }
                    | ChannelMsg::Close
                    | ChannelMsg::Failure
            ) {
                break;
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(CLEANUP_MARGIN, async {
        let _ = channel.eof().await;
        let _ = channel.close().await;
    })
    .await;
}

/// Ends the session. Each step only queues a message for the session
/// task, which sends it even after the handle is dropped; bounded.
async fn end_session(handle: &client::Handle<PinnedHost>) {
    let _ = tokio::time::timeout(
        CLEANUP_MARGIN,
        handle.disconnect(russh::Disconnect::ByApplication, "probe done", "en"),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Stdio;

    use super::*;

    fn spec(params: serde_json::Value, timeout_ms: u64) -> CheckSpec {
        CheckSpec::new("ssh")
            .with_params(params)
            .every(Duration::from_secs(60), Duration::from_millis(timeout_ms))
    }

    const FP: &str = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";

    fn base() -> serde_json::Value {
        serde_json::json!({
            "host": "127.0.0.1", "user": "root", "key_file": "/k",
            "host_key_fingerprint": FP, "command": ["true"]
        })
    }

    fn field(changes: serde_json::Value) -> String {
        let mut p = base();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                p.as_object_mut().unwrap().remove(k);
            } else {
                p[k] = v.clone();
            }
        }
        SshChecker
            .validate(&spec(p, 1000))
            .unwrap_err()
            .field()
            .to_owned()
    }

    #[test]
    fn validation_names_fields() {
        SshChecker.validate(&spec(base(), 1000)).unwrap();
        assert_eq!(field(serde_json::json!({"port": 0})), "params.port");
        assert_eq!(field(serde_json::json!({"port": 65536})), "params.port");
        assert_eq!(field(serde_json::json!({"user": ""})), "params.user");
        assert_eq!(
            field(serde_json::json!({"key_file": "id_rsa"})),
            "params.key_file"
        );
        assert_eq!(field(serde_json::json!({"command": []})), "params.command");
        assert_eq!(
            field(serde_json::json!({"command": null})),
            "params.command"
        );
        assert_eq!(
            field(serde_json::json!({"command": [""]})),
            "params.command[0]"
        );
        assert_eq!(
            field(serde_json::json!({"command": "systemctl is-active x"})),
            "params.command"
        );
        for bad in [
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF",
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu!U",
            "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
            "",
        ] {
            assert_eq!(
                field(serde_json::json!({"host_key_fingerprint": bad})),
                "params.host_key_fingerprint",
                "{bad}"
            );
        }
        assert_eq!(
            field(serde_json::json!({"host_key_type": "ssh-dss"})),
            "params.host_key_type"
        );
        assert_eq!(
            field(serde_json::json!({"host_key_type": "ed25519"})),
            "params.host_key_type"
        );
        assert_eq!(
            field(serde_json::json!({"connect_timeout": "0s"})),
            "params.connect_timeout"
        );
        assert_eq!(
            field(serde_json::json!({"command_timeout": "soon"})),
            "params.command_timeout"
        );
        assert_eq!(
            field(serde_json::json!({"max_output": 0})),
            "params.max_output"
        );
        assert_eq!(
            field(serde_json::json!({"key_passphrase_env": ""})),
            "params.key_passphrase_env"
        );
        assert_eq!(
            field(serde_json::json!({"password": "x"})),
            "params.password"
        );
        let p = parse(&spec(base(), 1000)).unwrap();
        assert_eq!(p.port, 22);
        assert_eq!(p.connect_timeout, Duration::from_secs(10));
        assert_eq!(p.command_timeout, Duration::from_secs(10));
        for t in HOST_KEY_TYPES {
            assert!(host_key_algorithm(t).is_some(), "{t}");
        }
    }

    #[test]
    fn quoting_keeps_argv() {
        let mut p: SshParams = serde_json::from_value(base()).unwrap();
        p.command = vec![
            "printf".into(),
            "%s|".into(),
            "a b".into(),
            "$HOME".into(),
            "it's".into(),
        ];
        assert_eq!(p.command_line(), r"printf '%s|' 'a b' '$HOME' 'it'\''s'");
    }

    /// A throwaway sshd on a loopback port with its own host keys, user key
    /// and config, killed on drop.
    struct Sshd {
        dir: PathBuf,
        port: u16,
        child: tokio::process::Child,
    }

    fn keygen(kind: &str, path: &Path) {
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-C", "healthcore-test", "-f"])
            .arg(path)
            .stdin(Stdio::null())
            .status()
            .expect("ssh-keygen runs (install openssh-client: .ci/probes-deps.sh)");
        assert!(st.success());
    }

    fn fingerprint(pubkey: &Path) -> String {
        let out = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(pubkey)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_whitespace()
            .nth(1)
            .expect("ssh-keygen -lf prints bits, fingerprint, comment")
            .to_owned()
    }

    impl Sshd {
        /// `None` (after a loud skip) when OpenSSH is not installed or its
        /// privilege separation directory cannot be made.
        async fn start(test: &str) -> Option<Self> {
            use healthcore::testkit::system;
            if !system::program_available("/usr/sbin/sshd")
                || !system::program_available("ssh-keygen")
            {
                system::skip_missing(
                    test,
                    "OpenSSH (/usr/sbin/sshd and ssh-keygen: bash .ci/probes-deps.sh)",
                );
                return None;
            }
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            if !passwd.lines().any(|l| l.starts_with("hcprobe:")) {
                system::skip_missing(test, "the login hcprobe (bash .ci/probes-deps.sh makes it)");
                return None;
            }
            // sshd's privilege separation directory (only root can make it).
            if std::fs::create_dir_all("/run/sshd").is_err() {
                system::skip_missing(test, "/run/sshd (bash .ci/probes-deps.sh makes it)");
                return None;
            }
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "hc-sshd-{}-{}",
                std::process::id(),
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            keygen("ed25519", &dir.join("host_ed25519"));
            keygen("ecdsa", &dir.join("host_ecdsa"));
            keygen("ed25519", &dir.join("user"));
            keygen("ed25519", &dir.join("stranger"));
            std::fs::copy(dir.join("user.pub"), dir.join("authorized_keys")).unwrap();
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let config = format!(
                "ListenAddress 127.0.0.1\n\
                 HostKey {d}/host_ed25519\n\
                 HostKey {d}/host_ecdsa\n\
                 PidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 PermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\n\
                 LogLevel ERROR\n",
                d = dir.display()
            );
            std::fs::write(dir.join("sshd_config"), config).unwrap();
            let child = tokio::process::Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(dir.join("sshd_config"))
                .args(["-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("sshd starts");
            let mut me = Self { dir, port, child };
            // Ready when it accepts (bounded).
            let until = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(st)) = me.child.try_wait() {
                    panic!("sshd exited at start: {st}");
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    break;
                }
                assert!(tokio::time::Instant::now() < until, "sshd never listened");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Some(me)
        }

        fn params(&self, command: &[&str]) -> serde_json::Value {
            serde_json::json!({
                "host": "127.0.0.1",
                "port": self.port,
                "user": "root",
                "key_file": self.dir.join("user"),
                "host_key_fingerprint": fingerprint(&self.dir.join("host_ed25519.pub")),
                "command": command,
            })
        }
    }

    impl Drop for Sshd {
        fn drop(&mut self) {
            let _ = self.child.start_kill();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn with(mut p: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    }

    fn alive(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => !s
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }

    /// The unprivileged login the signal test uses (created by
    /// .ci/probes-deps.sh).
    fn probe_user() -> String {
        const USER: &str = "hcprobe";
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        assert!(
            passwd.lines().any(|l| l.starts_with("hcprobe:")),
            "user {USER} is missing: run .ci/probes-deps.sh"
        );
        USER.to_owned()
    }

    async fn timed_out_command_is_ended(sshd: &Sshd, user: &str, pty: bool) {
        // A directory the remote user may write its pid into.
        let shared = sshd.dir.join(format!("shared-{user}"));
        std::fs::create_dir_all(&shared).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let pidfile = shared.join("sleeper.pid");
        let script = format!("echo $$ > {}; exec sleep 30", pidfile.display());
        let started = std::time::Instant::now();
        let o = SshChecker
            .check(&spec(
                with(
                    sshd.params(&["sh", "-c", &script]),
                    serde_json::json!({"user": user, "pty": pty, "command_timeout": "1s"}),
                ),
                10_000,
            ))
            .await;
        let took = started.elapsed();
        assert_eq!(o.outcome, Outcome::Fail, "{user}: {o:?}");
        assert_eq!(o.details.as_ref().unwrap()["error"], "command_timeout");
        assert!(took >= Duration::from_millis(990), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Bounded wait for the process to go.
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while alive(pid) && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !alive(pid),
            "{user}: the remote command {pid} was not ended"
        );
    }

    /// Everything against one sshd, started here and killed at the end.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn against_a_real_sshd() {
        let Some(sshd) = Sshd::start("ssh::tests::against_a_real_sshd").await else {
            return;
        };
        let c = SshChecker;

        // 003's check: the service is active.
        let o = c
            .check(&spec(
                with(
                    sshd.params(&["echo", "active"]),
                    serde_json::json!({"expect_stdout": "active"}),
                ),
                10_000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
        let d = o.details.unwrap();
        assert_eq!(d["exit_code"], 0);
        assert_eq!(d["stdout"], "active\n");
        assert!(d["connect_ms"].as_f64().unwrap() > 0.0);
        assert!(o.latency.unwrap() > Duration::ZERO);

        // Printing something else is a fail.
        let o = c
            .check(&spec(
                with(
                    sshd.params(&["echo", "inactive"]),
                    serde_json::json!({"expect_stdout": "active"}),
                ),
                10_000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "unexpected_output");

        // A non-zero exit is a fail; stderr is kept.
        let o = c
            .check(&spec(
                sshd.params(&["sh", "-c", "echo broken >&2; exit 3"]),
                10_000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        let d = o.details.unwrap();
        assert_eq!(d["exit_code"], 3);
        assert!(d["stderr"].as_str().unwrap().ends_with("broken\n"), "{d}");
        assert!(o.message.unwrap().contains("exited 3"));
        // …unless that exit is the expected one.
        let o = c
            .check(&spec(
                with(
                    sshd.params(&["sh", "-c", "exit 3"]),
                    serde_json::json!({"expect_exit_code": 3}),
                ),
                10_000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");

        // argv arrives intact through the remote shell.
        let o = c
            .check(&spec(
                sshd.params(&["printf", "%s|", "a b", "$HOME", "it's", ";", "exit 9"]),
                10_000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
        assert_eq!(o.details.unwrap()["stdout"], "a b|$HOME|it's|;|exit 9|");

        // Output is capped.
        let o = c
            .check(&spec(
                with(
                    sshd.params(&["head", "-c", "100000", "/dev/zero"]),
                    serde_json::json!({"max_output": 1000}),
                ),
                10_000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
        let d = o.details.unwrap();
        assert_eq!(d["stdout"].as_str().unwrap().len(), 1000);
        assert_eq!(d["output_truncated"], true);

        // A changed host key is a fail, and nothing runs.
        let marker = sshd.dir.join("ran");
        let wrong = fingerprint(&sshd.dir.join("host_ecdsa.pub"));
        let o = c
            .check(&spec(
                with(
                    sshd.params(&["touch", marker.to_str().unwrap()]),
                    serde_json::json!({"host_key_fingerprint": wrong}),
                ),
                10_000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        let d = o.details.unwrap();
        assert_eq!(d["error"], "host_key_mismatch");
        assert_eq!(
            d["host_key_fingerprint"],
            fingerprint(&sshd.dir.join("host_ed25519.pub"))
        );
        assert!(
            !marker.exists(),
            "the command ran despite the wrong host key"
        );

        // Pinning the other host key works when its type is negotiated.
        let o = c
            .check(&spec(
                with(
                    sshd.params(&["true"]),
                    serde_json::json!({"host_key_fingerprint": wrong, "host_key_type": "ecdsa-sha2-nistp256"}),
                ),
                10_000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");

        // A key the server does not know: the checker's credentials → unknown.
        let o = c
            .check(&spec(
                with(
                    sshd.params(&["true"]),
                    serde_json::json!({"key_file": sshd.dir.join("stranger")}),
                ),
                10_000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Unknown, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "auth_rejected");

        // A missing key file: unknown, and no connection made.
        let o = c
            .check(&spec(
                with(
                    sshd.params(&["true"]),
                    serde_json::json!({"key_file": sshd.dir.join("nope")}),
                ),
                10_000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Unknown, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "key_file");

        // A command that outlives its timeout is failed and ended: by a
        // KILL signal request for an ordinary user…
        let user = probe_user();
        timed_out_command_is_ended(&sshd, &user, false).await;
        // …and by hanging up its terminal for root, whose sessions OpenSSH
        // will not signal.
        timed_out_command_is_ended(&sshd, "root", true).await;

        // The whole probe's deadline bounds the command too.
        let started = std::time::Instant::now();
        let o = c.check(&spec(sshd.params(&["sleep", "30"]), 1500)).await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert!(
            started.elapsed() < Duration::from_millis(1600),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn refused_and_silent_servers_are_unreachable() {
        let dir = std::env::temp_dir().join(format!("hc-ssh-unreach-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("user");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(dir.join("user.pub"));
        keygen("ed25519", &key);
        let params = |port: u16| {
            serde_json::json!({
                "host": "127.0.0.13", "port": port, "user": "root", "key_file": key,
                "host_key_fingerprint": FP, "command": ["true"], "connect_timeout": "300ms"
            })
        };

        let l = tokio::net::TcpListener::bind("127.0.0.13:0").await.unwrap();
        let silent = l.local_addr().unwrap().port();
        let started = std::time::Instant::now();
        let o = SshChecker.check(&spec(params(silent), 5000)).await;
        assert_eq!(o.outcome, Outcome::Unreachable, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "handshake_timeout");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(l);

        let o = SshChecker.check(&spec(params(silent), 5000)).await;
        assert_eq!(o.outcome, Outcome::Unreachable, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "refused");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
