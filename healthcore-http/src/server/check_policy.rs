//! [`CheckPolicy`]: what checks the API may define (DESIGN.md §7).
//!
//! Owns the rules on API-defined checks; must not hold health rules or
//! touch the engine (the handler applies it before calling the engine).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use healthcore::ValidationError;
use healthcore::model::CheckSpec;
use serde_json::Value;

use crate::egress::{EgressError, EgressPolicy, GuardedResolver, HostCheck, NameResolver};

/// The kinds the API may define unless configured otherwise.
pub const DEFAULT_API_CHECK_KINDS: &[&str] =
    &["heartbeat", "http", "tcp", "icmp", "dns", "tls", "redis"];

/// The kind the API can never define.
pub const COMMAND_KIND: &str = "command";

/// Longest a destination name may take to resolve at registration.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Top-level parameters that name where a probe connects.
const DESTINATION_PARAMS: &[&str] = &["host", "server", "url"];

/// Deepest nesting of params scanned; anything deeper is refused.
const MAX_DEPTH: usize = 16;

/// Whether a parameter key names something of the server's own (an
/// environment variable, a file, a directory, a program), which the API
/// may not set: keys ending in `_env`, `_file`, `_dir` or `_path`, and
/// `env`, `file`, `dir`, `path`, `cwd`, `argv` (ASCII case ignored).
///
/// ```
/// use healthcore_http::server::is_server_side_param;
/// assert!(is_server_side_param("password_env"));
/// assert!(is_server_side_param("key_file"));
/// assert!(is_server_side_param("write_test_dir"));
/// assert!(is_server_side_param("argv"));
/// assert!(!is_server_side_param("host"));
/// assert!(!is_server_side_param("password"));
/// ```
pub fn is_server_side_param(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    matches!(k.as_str(), "env" | "file" | "dir" | "path" | "cwd" | "argv")
        || ["_env", "_file", "_dir", "_path"]
            .iter()
            .any(|s| k.ends_with(s))
}

/// What checks the API may define: the allow-list of kinds, the rule on
/// server-side parameters and the egress policy for destinations. Set on
/// [`ApiConfig::checks`](super::ApiConfig::checks).
///
/// A check defined through the API runs on the server, with the server's
/// privileges, against a destination the caller chose. So the API may
/// define what probing a fleet needs and nothing that names something of
/// the server's own. Every check body is put through one policy before the
/// engine sees it (`PUT /targets/{id}/checks/{check}` is the only route
/// that defines a check; disabling one keeps its stored definition). The
/// rules, in the order they are applied, each refusal a 422 naming the
/// field:
///
/// 1. **Kind** (`kind`). `command` is never definable, whatever the
///    configuration: commands come from operator configuration by name,
///    and the API can trigger them, never define them. Any other kind must
///    be on the allow-list, by default [`DEFAULT_API_CHECK_KINDS`]
///    (`heartbeat`, `http`, `tcp`, `icmp`, `dns`, `tls`, `redis`). Left
///    out because they are about the server itself: `disk` (the server's
///    filesystems), `ssh` (it logs in with a key file of the server's) and
///    `postgres` (the server's own pools).
/// 2. **Server-side names** (`params.<key>`). A parameter at any depth
///    whose key names an environment variable, a file, a directory or a
///    program of the server is refused ([`is_server_side_param`]): keys
///    ending in `_env`, `_file`, `_dir` or `_path`, and `env`, `file`,
///    `dir`, `path`, `cwd`, `argv`. That covers `redis.password_env` (it
///    would send the value of any of the server's variables to a listener
///    of the caller's), `ssh.key_file`, `ssh.key_passphrase_env`,
///    `tls.ca_file`, `disk.path` and `disk.write_test_dir`; such
///    parameters work in operator configuration only. Keys are judged by
///    name whatever the probe, free-form maps included (an HTTP header
///    named `x_file` is refused too: a safe failure).
/// 3. **Destination** (`params.host`, `params.server`, `params.url`). The
///    host a probe connects to must pass the probe [`EgressPolicy`]
///    ([`CheckPolicy::egress`]; by default public addresses only, so
///    private ranges only when configured, and loopback or link-local
///    addresses only through an explicit CIDR). Cloud metadata addresses
///    (169.254.169.254, fd00:ec2::254, …) are always refused, whatever
///    the allow-list. Addresses in any spelling are judged directly;
///    a name is resolved once, at registration, and every address must
///    pass; a resolver error, an empty answer or a lookup slower than
///    [`RESOLVE_TIMEOUT`] refuses it (fail closed).
///
/// **Limits.** A name is judged by the addresses it has at registration;
/// the probe resolves it again each time it runs, so a name whose answer
/// later changes (DNS rebinding) is not judged again — except by the `http`
/// probe, which checks every connection through its own guard. Only the
/// top-level `host`, `server` and `url` parameters are taken as
/// destinations. Deployments that need more give probes addresses, or
/// narrow the allow-list of kinds. Checks from operator configuration
/// (healthd's TOML, an embedder calling the engine) do not pass through
/// this policy: they are trusted.
///
/// ```
/// use healthcore_http::egress::EgressPolicy;
/// use healthcore_http::server::{ApiConfig, CheckPolicy};
///
/// // a deployment whose probes watch a private network
/// let probes = EgressPolicy::probes().allow_private(true);
/// let config = ApiConfig::default()
///     .check_policy(CheckPolicy::default().egress(probes).allow_kind("disk"));
/// assert!(config.checks.allows_kind("disk"));
/// assert!(!config.checks.allows_kind("command"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckPolicy {
    kinds: BTreeSet<String>,
    egress: EgressPolicy,
}

impl Default for CheckPolicy {
    /// [`DEFAULT_API_CHECK_KINDS`], and destinations under
    /// [`EgressPolicy::probes`] (public addresses only).
    fn default() -> Self {
        Self {
            kinds: DEFAULT_API_CHECK_KINDS
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
            egress: EgressPolicy::probes().deny_metadata_always(true),
        }
    }
}

impl CheckPolicy {
    /// Replaces the allow-list of kinds. `command` is refused even when
    /// listed.
    #[must_use]
    pub fn kinds<S: Into<String>>(mut self, kinds: impl IntoIterator<Item = S>) -> Self {
        self.kinds = kinds.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a kind to the allow-list (`command` has no effect). The rule on
    /// server-side parameters still applies to it.
    #[must_use]
    pub fn allow_kind(mut self, kind: impl Into<String>) -> Self {
        self.kinds.insert(kind.into());
        self
    }

    /// Sets the egress policy destinations are checked against; give it the
    /// policy the probes themselves run under (healthd passes its
    /// `[probes]` section), so the API cannot reach more than the
    /// configuration lets probes reach. Metadata addresses stay refused
    /// even where its allow-list covers them
    /// ([`EgressPolicy::deny_metadata_always`]).
    #[must_use]
    pub fn egress(mut self, policy: EgressPolicy) -> Self {
        self.egress = policy.deny_metadata_always(true);
        self
    }

    /// Whether the API may define checks of `kind`.
    pub fn allows_kind(&self, kind: &str) -> bool {
        kind != COMMAND_KIND && self.kinds.contains(kind)
    }

    /// The egress policy destinations are checked against.
    pub fn egress_policy(&self) -> &EgressPolicy {
        &self.egress
    }

    /// Applies the three rules to a check defined through the API,
    /// resolving destination names with `resolver`; the error names the
    /// field (`kind`, `params.password_env`, `params.host`, …).
    pub async fn admit(
        &self,
        spec: &CheckSpec,
        resolver: Arc<dyn NameResolver>,
    ) -> Result<(), ValidationError> {
        self.admit_kind(&spec.kind)?;
        deny_server_side("params", &spec.params, 0)?;
        let Value::Object(params) = &spec.params else {
            return Ok(());
        };
        for key in DESTINATION_PARAMS {
            let Some(Value::String(raw)) = params.get(*key) else {
                continue;
            };
            let field = format!("params.{key}");
            let name = self
                .destination(key, raw)
                .map_err(|e| refusal(&field, &e))?;
            if let Some(name) = name {
                let guard = GuardedResolver::new(Arc::new(self.egress.clone()), resolver.clone());
                let res = tokio::time::timeout(RESOLVE_TIMEOUT, guard.resolve_checked(&name))
                    .await
                    .unwrap_or_else(|_| Err(EgressError::Resolve(name.clone())));
                res.map_err(|e| refusal(&field, &e))?;
            }
        }
        Ok(())
    }

    fn admit_kind(&self, kind: &str) -> Result<(), ValidationError> {
        if kind == COMMAND_KIND {
            return Err(ValidationError::new(
                "kind",
                "command checks cannot be defined through the API; an operator configures them",
            ));
        }
        if !self.kinds.contains(kind) {
            let allowed: Vec<&str> = self.kinds.iter().map(String::as_str).collect();
            return Err(ValidationError::new(
                "kind",
                format!(
                    "checks of kind {kind:?} cannot be defined through the API (allowed: {})",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Judges one destination parameter: `Ok(Some(name))` when a name is
    /// left to resolve.
    fn destination(&self, key: &str, raw: &str) -> Result<Option<String>, EgressError> {
        let host = match key {
            "url" => {
                let url = self.egress.check_url(raw)?;
                match url.host() {
                    Some(url::Host::Domain(d)) => d.to_owned(),
                    // addresses were judged by check_url
                    _ => return Ok(None),
                }
            }
            // a DNS server: `ip`, `ip:port` or `[v6]:port`
            "server" => match raw.trim().parse::<std::net::SocketAddr>() {
                Ok(sa) => {
                    self.egress.check_ip(sa.ip())?;
                    return Ok(None);
                }
                Err(_) => raw.to_owned(),
            },
            _ => raw.to_owned(),
        };
        match self.egress.check_host(&host)? {
            HostCheck::Name(n) => Ok(Some(n)),
            _ => Ok(None),
        }
    }
}

fn refusal(field: &str, e: &EgressError) -> ValidationError {
    ValidationError::new(
        field.to_owned(),
        format!(
            "{e}; checks defined through the API may only reach what the server's probe policy allows"
        ),
    )
}

/// Refuses the first key, at any depth, that names something of the
/// server's own.
fn deny_server_side(at: &str, v: &Value, depth: usize) -> Result<(), ValidationError> {
    if depth > MAX_DEPTH {
        return Err(ValidationError::new(
            at.to_owned(),
            format!("params nest deeper than {MAX_DEPTH} levels"),
        ));
    }
    match v {
        Value::Object(m) => {
            for (k, inner) in m {
                let field = format!("{at}.{k}");
                if is_server_side_param(k) {
                    return Err(ValidationError::new(
                        field,
                        "names an environment variable, file, directory or program of the server; \
                         such parameters can only be set in operator configuration",
                    ));
                }
                deny_server_side(&field, inner, depth + 1)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                deny_server_side(&format!("{at}[{i}]"), inner, depth + 1)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::StaticResolver;
    use serde_json::json;

    fn spec(kind: &str, params: Value) -> CheckSpec {
        CheckSpec::new(kind).with_params(params)
    }

    fn resolver() -> Arc<dyn NameResolver> {
        Arc::new(
            StaticResolver::new()
                .with("public.test", &["93.184.216.34".parse().unwrap()])
                .with("meta.test", &["169.254.169.254".parse().unwrap()])
                .with(
                    "mixed.test",
                    &[
                        "93.184.216.34".parse().unwrap(),
                        "10.0.0.1".parse().unwrap(),
                    ],
                ),
        )
    }

    async fn field(p: &CheckPolicy, kind: &str, params: Value) -> Option<String> {
        p.admit(&spec(kind, params), resolver())
            .await
            .err()
            .map(|e| e.field().to_owned())
    }

    #[tokio::test]
    async fn kinds() {
        let p = CheckPolicy::default();
        for k in DEFAULT_API_CHECK_KINDS {
            assert_eq!(field(&p, k, json!({})).await, None, "{k}");
        }
        for k in ["command", "disk", "ssh", "postgres", "Command", "nosuch"] {
            assert_eq!(
                field(&p, k, json!({})).await.as_deref(),
                Some("kind"),
                "{k}"
            );
        }
        let wide = CheckPolicy::default()
            .allow_kind("disk")
            .allow_kind("command");
        assert_eq!(field(&wide, "disk", json!({})).await, None);
        assert_eq!(
            field(&wide, "command", json!({"argv": ["true"]}))
                .await
                .as_deref(),
            Some("kind")
        );
        let narrow = CheckPolicy::default().kinds(["http"]);
        assert_eq!(
            field(&narrow, "tcp", json!({})).await.as_deref(),
            Some("kind")
        );
        assert!(!narrow.allows_kind("command"));
    }

    #[tokio::test]
    async fn server_side_params_are_refused_by_name() {
        let p = CheckPolicy::default().allow_kind("disk").allow_kind("ssh");
        let cases = [
            (
                "redis",
                json!({"host": "8.8.8.8", "password_env": "ADMIN_TOKEN"}),
                "params.password_env",
            ),
            (
                "tls",
                json!({"host": "8.8.8.8", "ca_file": "/etc/shadow"}),
                "params.ca_file",
            ),
            ("disk", json!({"path": "/"}), "params.path"),
            (
                "disk",
                json!({"write_test_dir": "/etc"}),
                "params.write_test_dir",
            ),
            (
                "ssh",
                json!({"host": "8.8.8.8", "key_file": "/root/.ssh/id_ed25519"}),
                "params.key_file",
            ),
            (
                "ssh",
                json!({"key_passphrase_env": "X"}),
                "params.key_passphrase_env",
            ),
            (
                "http",
                json!({"url": "https://8.8.8.8/", "headers": {"A": {"token_FILE": "x"}}}),
                "params.headers.A.token_FILE",
            ),
            (
                "tcp",
                json!({"list": [{"ok": 1}, {"cwd": "/"}]}),
                "params.list[1].cwd",
            ),
            ("tcp", json!({"argv": ["touch", "/tmp/x"]}), "params.argv"),
            ("tcp", json!({"env": {}}), "params.env"),
        ];
        for (kind, params, want) in cases {
            assert_eq!(
                field(&p, kind, params.clone()).await.as_deref(),
                Some(want),
                "{params}"
            );
        }
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!({ "a": deep });
        }
        assert!(field(&p, "tcp", deep).await.is_some());
        // a password given inline is the caller's own secret
        assert_eq!(
            field(
                &p,
                "redis",
                json!({"host": "8.8.8.8", "password": "s3cret"})
            )
            .await,
            None
        );
    }

    #[tokio::test]
    async fn destinations() {
        let p = CheckPolicy::default();
        for (kind, params, want) in [
            (
                "tcp",
                json!({"host": "169.254.169.254", "port": 80}),
                Some("params.host"),
            ),
            (
                "tcp",
                json!({"host": "[fd00:ec2::254]", "port": 80}),
                Some("params.host"),
            ),
            (
                "tcp",
                json!({"host": "2130706433", "port": 80}),
                Some("params.host"),
            ),
            (
                "tcp",
                json!({"host": "127.0.0.1", "port": 80}),
                Some("params.host"),
            ),
            ("redis", json!({"host": "10.1.2.3"}), Some("params.host")),
            ("icmp", json!({"host": "localhost"}), Some("params.host")),
            ("tls", json!({"host": "meta.test"}), Some("params.host")),
            ("tls", json!({"host": "mixed.test"}), Some("params.host")),
            ("tls", json!({"host": "unknown.test"}), Some("params.host")),
            (
                "dns",
                json!({"name": "x.test", "server": "169.254.169.254:53"}),
                Some("params.server"),
            ),
            (
                "dns",
                json!({"name": "x.test", "server": "[::1]:53"}),
                Some("params.server"),
            ),
            (
                "dns",
                json!({"name": "x.test", "server": "10.0.0.53"}),
                Some("params.server"),
            ),
            (
                "http",
                json!({"url": "http://169.254.169.254/latest/meta-data/"}),
                Some("params.url"),
            ),
            (
                "http",
                json!({"url": "http://meta.test/"}),
                Some("params.url"),
            ),
            (
                "http",
                json!({"url": "file:///etc/passwd"}),
                Some("params.url"),
            ),
            ("tcp", json!({"host": "8.8.8.8", "port": 80}), None),
            ("tcp", json!({"host": "public.test", "port": 80}), None),
            (
                "dns",
                json!({"name": "x.test", "server": "8.8.8.8:53"}),
                None,
            ),
            ("dns", json!({"name": "x.test"}), None),
            ("http", json!({"url": "https://public.test/health"}), None),
            // a non-string host is the probe's to refuse
            ("tcp", json!({"host": 7}), None),
        ] {
            assert_eq!(
                field(&p, kind, params.clone()).await.as_deref(),
                want,
                "{params}"
            );
        }
        let private = CheckPolicy::default().egress(EgressPolicy::probes().allow_private(true));
        assert_eq!(
            field(&private, "redis", json!({"host": "10.1.2.3"})).await,
            None
        );
        assert_eq!(
            field(&private, "tcp", json!({"host": "169.254.169.254"}))
                .await
                .as_deref(),
            Some("params.host")
        );
        let lo = CheckPolicy::default()
            .egress(EgressPolicy::probes().allow_cidr("127.0.0.0/8").unwrap());
        assert_eq!(field(&lo, "tcp", json!({"host": "127.0.0.1"})).await, None);
        // an allow-list covering a metadata address does not open it
        let wide = CheckPolicy::default()
            .egress(EgressPolicy::probes().allow_cidr("169.254.0.0/16").unwrap());
        assert_eq!(
            field(&wide, "tcp", json!({"host": "169.254.1.1"})).await,
            None
        );
        for params in [
            json!({"host": "169.254.169.254"}),
            json!({"host": "meta.test"}),
            json!({"url": "http://169.254.169.254/"}),
        ] {
            let kind = if params.get("url").is_some() {
                "http"
            } else {
                "tcp"
            };
            assert!(
                field(&wide, kind, params.clone()).await.is_some(),
                "{params}"
            );
        }
    }

    #[tokio::test]
    async fn the_message_names_the_refused_class() {
        let e = CheckPolicy::default()
            .admit(&spec("tcp", json!({"host": "169.254.169.254"})), resolver())
            .await
            .unwrap_err();
        assert!(e.rule().contains("metadata"), "{e}");
    }
}
