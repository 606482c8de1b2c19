//! Seed 003 composed the way a VPS control panel would compose healthcore.
//!
//! The pieces, all real and all on loopback:
//!
//! - **the VPS**: an `sshd` started here on a free loopback port with its
//!   own Ed25519 host key (pinned by fingerprint) and a generated user key
//!   for the current user. The "service" `appsvc` is simulated by a state
//!   file and `svcctl`, a `systemctl` stand-in shell script on the VPS:
//!   `svcctl is-active appsvc` prints the state and exits 0 only when it is
//!   `active`; `svcctl restart appsvc` sets it `active`, unless the unit is
//!   marked broken, in which case the restart fails like a bad unit would.
//!   The check's params pin the host key; the check may take the whole
//!   interval but 100 ms.
//! - **the store**: [`SqliteStore`] on one file in the lab's directory.
//! - **the engine**: the `ssh` checker runs `svcctl is-active appsvc` every
//!   2 s (003: 60 s); a heal policy restarts the service after every failed
//!   check (`trigger_after_failures: 1`, as 003 does), at most 4 times; the
//!   check's breaker counts failed restarts, opens after 3 (003) and
//!   half-opens after [`LabOptions::breaker_cooldown`] (4.5 s here instead
//!   of 003's 30 min, so the story fits in half a minute) to let one trial
//!   restart through.
//! - **the healer**: [`SshHealer`] maps the action name `restart` to the
//!   argv `svcctl restart appsvc` from its own configuration and runs it
//!   over SSH (argv quoted for the remote shell, never a shell string).
//! - **the API**: the healthcore-http router under `/api/v1` on a loopback
//!   port, with one admin token.
//! - **the panel**: a small axum server that receives the engine's
//!   Standard Webhooks notifications (signature checked) and lists them at
//!   `GET /notifications`, so notifications are observable over HTTP too.
//!
//! `main.rs` tells the story with narration; `tests/example_vps_breaker.rs`
//! drives the same lab and asserts every outcome through the HTTP API.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use healthcore::breaker::BreakerState;
use healthcore::checker::Checker;
use healthcore::engine::{Engine, EngineConfig};
use healthcore::fleet::{CheckView, TargetView};
use healthcore::heal::{HealAction, HealOutcome, HealPolicy, HealSelector};
use healthcore::healer::Healer;
use healthcore::model::{CheckId, CheckSpec, Outcome, Status, Target, TargetId, TenantId};
use healthcore::notify::Audience;
use healthcore_http::client::{EgressPolicy, SystemResolver, WebhookNotifier, WebhookSecret};
use healthcore_http::server::{ApiState, Auth, Scope};
use healthcore_probes::ssh::SshChecker;
use healthcore_sqlite::SqliteStore;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Errors of the lab: it is an example, so one boxed error type.
pub type LabResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The VPS's target id.
pub const TARGET: &str = "vps-1";
/// The check's name.
pub const CHECK: &str = "appsvc";
/// The panel's admin API token.
pub const ADMIN_TOKEN: &str = "vps-panel-admin-token-0123456789abcdef";
/// The secret the engine signs webhooks with and the panel checks.
pub const WEBHOOK_SECRET: &str = "vps-panel-webhook-secret-0123456789abcdef";
/// Where OpenSSH's server lives on Debian.
pub const SSHD: &str = "/usr/sbin/sshd";

/// Knobs of the lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Directory for the VPS's files and the SQLite database.
    pub dir: PathBuf,
    /// How often the SSH check runs (003: 60 s; here 2 s: one SSH session
    /// to a loopback sshd can take over a second on a busy 2-core sandbox).
    pub check_interval: Duration,
    /// How long an open breaker waits before half-opening (003: 30 min;
    /// here 4.5 s: two checks see it open, then it half-opens).
    pub breaker_cooldown: Duration,
}

impl LabOptions {
    /// The defaults used by the example and its test, in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            check_interval: Duration::from_secs(2),
            breaker_cooldown: Duration::from_millis(4500),
        }
    }
}

// ---- the simulated VPS ------------------------------------------------

/// A `systemctl` stand-in: the service's state is a file.
const SVCCTL: &str = r#"#!/bin/sh
# svcctl: the simulated VPS's systemctl stand-in (healthcore example 003).
# usage: svcctl is-active UNIT | svcctl restart UNIT
state_dir='@STATE@'
cmd="${1:-}"
unit="${2:-}"
case "$unit" in
  ''|*[!a-z0-9_-]*) echo "svcctl: invalid unit name" >&2; exit 2 ;;
esac
case "$cmd" in
  is-active)
    s=$(cat "$state_dir/$unit" 2>/dev/null || echo inactive)
    echo "$s"
    [ "$s" = active ]
    ;;
  restart)
    if [ -e "$state_dir/$unit.broken" ]; then
      echo "Job for $unit.service failed because the control process exited with error code." >&2
      exit 1
    fi
    echo active > "$state_dir/$unit.tmp" && mv "$state_dir/$unit.tmp" "$state_dir/$unit"
    ;;
  *) echo "usage: svcctl is-active|restart UNIT" >&2; exit 2 ;;
esac
"#;

/// The simulated VPS: an sshd on a loopback port and the `appsvc` service.
#[derive(Debug)]
pub struct Vps {
    dir: PathBuf,
    /// The sshd's port on 127.0.0.1.
    pub port: u16,
    user: String,
    fingerprint: String,
    sshd: Option<tokio::process::Child>,
}

fn run(cmd: &mut std::process::Command, what: &str) -> LabResult<String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| {
        format!("{what}: cannot run ({e}); install OpenSSH: bash .ci/probes-deps.sh")
    })?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn keygen(path: &Path) -> LabResult<()> {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    run(
        std::process::Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "healthcore-vps-example",
                "-f",
            ])
            .arg(path),
        "ssh-keygen",
    )
    .map(|_| ())
}

/// Writes a file through a temporary name, so a reader never sees half.
fn write_atomic(path: &Path, text: &str) -> LabResult<()> {
    let tmp = path.with_extension("writing");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

impl Vps {
    /// Creates the VPS in `dir` (keys, sshd config, `svcctl`, the service
    /// `active`) and starts its sshd. Fails with a clear message when
    /// OpenSSH is not installed.
    pub async fn create(dir: &Path) -> LabResult<Self> {
        if !Path::new(SSHD).exists() {
            return Err(format!(
                "{SSHD} is not installed: this example needs OpenSSH's server \
                 (run `bash .ci/probes-deps.sh`, which installs Debian's openssh-server)"
            )
            .into());
        }
        std::fs::create_dir_all(dir.join("state"))?;
        // sshd's privilege separation directory (created by probes-deps.sh
        // too; only root can create it).
        let _ = std::fs::create_dir_all("/run/sshd");
        keygen(&dir.join("host_ed25519"))?;
        keygen(&dir.join("user_ed25519"))?;
        std::fs::copy(dir.join("user_ed25519.pub"), dir.join("authorized_keys"))?;
        let fp = run(
            std::process::Command::new("ssh-keygen")
                .arg("-lf")
                .arg(dir.join("host_ed25519.pub")),
            "ssh-keygen -lf",
        )?;
        let fingerprint = fp
            .split_whitespace()
            .nth(1)
            .ok_or("ssh-keygen -lf printed no fingerprint")?
            .to_owned();
        let user = run(std::process::Command::new("id").arg("-un"), "id -un")?;
        let svcctl = dir.join("svcctl");
        std::fs::write(
            &svcctl,
            SVCCTL.replace("@STATE@", &dir.join("state").display().to_string()),
        )?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&svcctl, std::fs::Permissions::from_mode(0o755))?;
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let config = format!(
            "ListenAddress 127.0.0.1\n\
             Port {port}\n\
             HostKey {d}/host_ed25519\n\
             PidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\n\
             AllowUsers {user}\n\
             UsePAM no\n\
             StrictModes no\n\
             PermitRootLogin prohibit-password\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             MaxStartups 100\n\
             LogLevel ERROR\n",
            d = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), config)?;
        let mut vps = Self {
            dir: dir.to_owned(),
            port,
            user,
            fingerprint,
            sshd: None,
        };
        vps.set_service_active(true)?;
        vps.break_restarts(false)?;
        vps.start_sshd().await?;
        Ok(vps)
    }

    /// Starts the sshd (again) on the same port, and waits until it accepts.
    pub async fn start_sshd(&mut self) -> LabResult<()> {
        if self.sshd.is_some() {
            return Ok(());
        }
        let mut child = tokio::process::Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(self.dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {SSHD}: {e}"))?;
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = e.read_to_string(&mut err).await;
                }
                return Err(format!("sshd exited at start ({status}): {}", err.trim()).into());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                break;
            }
            if tokio::time::Instant::now() > until {
                let _ = child.start_kill();
                return Err(format!("sshd never listened on 127.0.0.1:{}", self.port).into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.sshd = Some(child);
        Ok(())
    }

    /// Stops the sshd: the host becomes unreachable.
    pub async fn stop_sshd(&mut self) {
        if let Some(mut child) = self.sshd.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Sets the service `active` or `failed` (the service crashing).
    pub fn set_service_active(&self, active: bool) -> LabResult<()> {
        write_atomic(
            &self.dir.join("state").join(CHECK),
            if active { "active\n" } else { "failed\n" },
        )
    }

    /// Marks the unit broken (restarts fail) or repaired.
    pub fn break_restarts(&self, broken: bool) -> LabResult<()> {
        let marker = self.dir.join("state").join(format!("{CHECK}.broken"));
        if broken {
            std::fs::write(marker, "broken unit file\n")?;
        } else if marker.exists() {
            std::fs::remove_file(marker)?;
        }
        Ok(())
    }

    /// The `svcctl` argv for `verb` on the service.
    pub fn svcctl(&self, verb: &str) -> Vec<String> {
        vec![
            self.dir.join("svcctl").display().to_string(),
            verb.to_owned(),
            CHECK.to_owned(),
        ]
    }

    /// `ssh` probe params for this VPS (host key pinned), without a command.
    pub fn ssh_params(&self) -> Value {
        json!({
            "host": "127.0.0.1",
            "port": self.port,
            "user": self.user,
            "key_file": self.dir.join("user_ed25519"),
            "host_key_fingerprint": self.fingerprint,
            "connect_timeout": "2s",
            "command_timeout": "2s",
        })
    }
}

impl Drop for Vps {
    fn drop(&mut self) {
        if let Some(c) = &mut self.sshd {
            let _ = c.start_kill();
        }
    }
}

// ---- the healer -----------------------------------------------------------

/// Runs heal actions over SSH: each action name maps to an argv from the
/// operator's configuration; each target to its SSH connection params.
#[derive(Debug)]
pub struct SshHealer {
    hosts: HashMap<TargetId, Value>,
    actions: BTreeMap<String, Vec<String>>,
    timeout: Duration,
}

impl SshHealer {
    /// A healer with no hosts and no actions.
    pub fn new(timeout: Duration) -> Self {
        Self {
            hosts: HashMap::new(),
            actions: BTreeMap::new(),
            timeout,
        }
    }

    /// How to reach `target` (`ssh` params without `command`).
    #[must_use]
    pub fn host(mut self, target: TargetId, ssh_params: Value) -> Self {
        self.hosts.insert(target, ssh_params);
        self
    }

    /// What `action` runs, as argv.
    #[must_use]
    pub fn action(mut self, action: &HealAction, argv: Vec<String>) -> Self {
        self.actions.insert(action.as_str().to_owned(), argv);
        self
    }

    /// Runs `argv` on `target` over SSH; pass means the command exited 0.
    pub async fn run(&self, target: &TargetId, argv: &[String]) -> HealOutcome {
        let Some(base) = self.hosts.get(target) else {
            return HealOutcome::failed(format!("no SSH host configured for {target}"));
        };
        let mut params = base.clone();
        params["command"] = json!(argv);
        let spec = CheckSpec::new("ssh")
            .with_params(params)
            .every(self.timeout * 2, self.timeout);
        let obs = SshChecker::new().check(&spec).await;
        let message = obs.message.unwrap_or_default();
        match obs.outcome {
            Outcome::Pass => HealOutcome::Success {
                message: Some(message),
            },
            other => HealOutcome::failed(format!("{other}: {message}")),
        }
    }
}

#[async_trait]
impl Healer for SshHealer {
    async fn heal(&self, target: &Target, action: &HealAction) -> HealOutcome {
        match self.actions.get(action.as_str()) {
            Some(argv) => self.run(&target.id, argv).await,
            None => HealOutcome::failed(format!("no command configured for action {action:?}")),
        }
    }
}

// ---- the panel's webhook receiver -----------------------------------------

/// One notification the panel received.
pub type Received = Value;

#[derive(Debug, Clone)]
struct PanelState {
    secret: WebhookSecret,
    log: Arc<Mutex<Vec<Received>>>,
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn receive(State(st): State<PanelState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (Some(id), Some(ts), Some(sig)) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    ) else {
        return StatusCode::BAD_REQUEST;
    };
    let Ok(ts_num) = ts.parse::<i64>() else {
        return StatusCode::BAD_REQUEST;
    };
    let want = healthcore_http::client::sign(&st.secret, &id, ts_num, &body);
    if !same(want.as_bytes(), sig.as_bytes()) {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut log = st.log.lock().unwrap_or_else(|e| e.into_inner());
    // Standard Webhooks: a retried delivery keeps its id; keep it once.
    if !log.iter().any(|r| r["webhook_id"] == id.as_str()) {
        let d = &payload["data"];
        log.push(json!({
            "webhook_id": id,
            "type": payload["type"],
            "kind": d["kind"],
            "alert_id": d["alert"]["id"],
            "alert_kind": d["alert"]["kind"],
            "severity": d["alert"]["severity"],
            "summary": d["summary"],
            "at": payload["timestamp"],
        }));
    }
    StatusCode::NO_CONTENT
}

async fn list_received(State(st): State<PanelState>) -> axum::Json<Value> {
    let log = st.log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    axum::Json(json!({ "data": log, "total": log.len() }))
}

// ---- HTTP servers ---------------------------------------------------------

/// An axum server on a loopback port, stopped gracefully.
#[derive(Debug)]
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(app: Router) -> LabResult<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            stop: Some(tx),
            task,
        })
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        // streams (SSE) could hold a graceful shutdown open: bounded
        if tokio::time::timeout(Duration::from_secs(3), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

// ---- the lab --------------------------------------------------------------

/// Everything of the example, running.
#[derive(Debug)]
pub struct Lab {
    /// The options it was started with.
    pub opts: LabOptions,
    /// The simulated VPS.
    pub vps: Vps,
    engine: Engine,
    api: Option<Server>,
    panel: Server,
    boots: u32,
}

/// The target's id.
pub fn target_id() -> TargetId {
    TargetId::new(TARGET).expect("valid literal id")
}

/// The one check of a target view.
pub fn check_of(v: &TargetView) -> &CheckView {
    v.checks
        .iter()
        .find(|c| c.id.as_str() == CHECK)
        .expect("the lab's target has its check")
}

impl Lab {
    /// Starts the VPS, the panel, and an engine with its API on the SQLite
    /// file in `opts.dir`, registering the target (unless the store already
    /// has it), its check and the heal policy.
    pub async fn start(opts: LabOptions) -> LabResult<Self> {
        std::fs::create_dir_all(&opts.dir)?;
        let vps = Vps::create(&opts.dir.join("vps")).await?;
        let panel = Server::start(
            Router::new()
                .route("/webhook", post(receive))
                .route("/notifications", get(list_received))
                .with_state(PanelState {
                    secret: WebhookSecret::parse(WEBHOOK_SECRET)?,
                    log: Arc::new(Mutex::new(Vec::new())),
                }),
        )
        .await?;
        let (engine, api) = boot(&opts, &vps, panel.addr).await?;
        let lab = Self {
            opts,
            vps,
            engine,
            api: Some(api),
            panel,
            boots: 1,
        };
        lab.register().await?;
        Ok(lab)
    }

    async fn register(&self) -> LabResult<()> {
        let id = target_id();
        if self.engine.target_view(&id).is_none() {
            let mut t = Target::new(id.clone(), "VPS #1 (customer acme)");
            t.kind = "vps".into();
            t.labels.insert("plan".into(), "small".into());
            self.engine.add_target(t).await?;
        }
        // The check and the policy are (re)saved on every start: a resumed
        // lab has a new sshd port and host key. Replacing a check's spec
        // keeps its state (counters, breaker).
        let mut params = self.vps.ssh_params();
        params["command"] = json!(self.vps.svcctl("is-active"));
        params["expect_stdout"] = json!("active");
        let spec = CheckSpec::new("ssh")
            .named(CheckId::new(CHECK)?)
            .with_params(params)
            .every(
                self.opts.check_interval,
                self.opts
                    .check_interval
                    .saturating_sub(Duration::from_millis(100)),
            );
        self.engine.add_check(&id, spec).await?;
        let mut policy = HealPolicy::new(
            "vps-restart",
            TenantId::new(healthcore::model::DEFAULT_TENANT)?,
            "restart appsvc on unhealthy VPSs",
        );
        // 003: every unhealthy check attempts a restart, until the breaker
        // (3 failed restarts) stops them; the 4th is the half-open trial.
        policy.trigger_after_failures = 1;
        policy.cooldown = Duration::ZERO;
        policy.max_attempts = 4;
        policy.selector = HealSelector {
            kinds: vec!["vps".into()],
            ..Default::default()
        };
        self.engine.put_heal_policy(policy).await?;
        Ok(())
    }

    /// Stops the engine and its API (flushing state to SQLite), then starts
    /// a new engine and API on the same SQLite file.
    pub async fn restart_engine(&mut self) -> LabResult<()> {
        if let Some(api) = self.api.take() {
            api.stop().await;
        }
        self.engine.shutdown().await;
        let (engine, api) = boot(&self.opts, &self.vps, self.panel.addr).await?;
        self.engine = engine;
        self.api = Some(api);
        self.boots += 1;
        Ok(())
    }

    /// The API's base URL (`http://127.0.0.1:PORT/api/v1`).
    pub fn api_url(&self) -> String {
        let addr = self
            .api
            .as_ref()
            .map(|s| s.addr)
            .expect("the API is running");
        format!("http://{addr}/api/v1")
    }

    /// The panel's base URL (`GET {panel}/notifications`).
    pub fn panel_url(&self) -> String {
        format!("http://{}", self.panel.addr)
    }

    /// Engines started so far on the database.
    pub fn boots(&self) -> u32 {
        self.boots
    }

    /// The target's live view.
    pub fn view(&self) -> TargetView {
        self.engine
            .target_view(&target_id())
            .expect("the lab's target is registered")
    }

    /// Waits (polling the engine's view) until `cond` holds; the error
    /// names `what` and shows the view.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&TargetView) -> bool,
    ) -> LabResult<TargetView> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let v = self.view();
            if cond(&v) {
                return Ok(v);
            }
            if tokio::time::Instant::now() > until {
                let c = check_of(&v);
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}: status {:?}, breaker {:?} \
                     (trips {}), heal {:?}, state {:?}",
                    v.health, c.breaker, c.breaker_detail.trips, v.heal, c.state
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `n` more checks have run.
    pub async fn wait_checks(&self, n: u64) -> LabResult<TargetView> {
        let from = check_of(&self.view()).state.total_checks;
        self.wait_until(
            &format!("{n} more checks"),
            self.opts.check_interval * (n as u32 * 3 + 5),
            |v| check_of(v).state.total_checks >= from + n,
        )
        .await
    }

    // ---- the story's phases (main.rs narrates them, the test asserts) ----

    /// Phase 1: the service is up; two passing checks.
    pub async fn phase_up(&self) -> LabResult<TargetView> {
        self.wait_checks(2).await?;
        self.wait_until("healthy", self.long(), |v| {
            v.health.status == Status::Healthy && check_of(v).state.consecutive_successes >= 2
        })
        .await
    }

    /// Phase 2: the service crashes and its unit is broken, so every
    /// restart fails; after 3 failed restarts the breaker opens, and the
    /// next two checks (still failing) restart nothing.
    pub async fn phase_crash(&self) -> LabResult<TargetView> {
        let trips = check_of(&self.view()).breaker_detail.trips;
        self.vps.break_restarts(true)?;
        self.vps.set_service_active(false)?;
        self.wait_until("the breaker to trip", self.long(), |v| {
            check_of(v).breaker_detail.trips > trips
        })
        .await?;
        self.wait_checks(2).await
    }

    /// Phase 3: after the cooldown the breaker half-opens and lets one
    /// trial restart through; it fails, the breaker opens again (not a new
    /// trip) and the policy's 4 attempts are used up: `heal_exhausted`.
    pub async fn phase_exhausted(&self) -> LabResult<TargetView> {
        self.wait_until("heal attempts to be exhausted", self.long(), |v| {
            v.heal.exhausted
        })
        .await
    }

    /// Phase 4: the operator waits for the breaker to half-open, repairs
    /// the unit and restarts the service by hand; the next check passes
    /// and closes the breaker (`recovered`).
    pub async fn phase_repair(&self) -> LabResult<(HealOutcome, TargetView)> {
        self.wait_until("the breaker to half-open", self.long(), |v| {
            check_of(v).breaker == BreakerState::HalfOpen
        })
        .await?;
        let done = self.repair_by_hand().await?;
        let v = self
            .wait_until("the breaker to close", self.long(), |v| {
                check_of(v).breaker == BreakerState::Closed && v.health.status == Status::Healthy
            })
            .await?;
        Ok((done, v))
    }

    /// Phase 5a: the host goes away (sshd stopped): two checks are
    /// `unreachable`, and nothing is restarted.
    pub async fn phase_host_away(&mut self) -> LabResult<TargetView> {
        self.vps.stop_sshd().await;
        self.wait_until("two unreachable checks", self.long(), |v| {
            let c = check_of(v);
            c.state.last_outcome == Some(Outcome::Unreachable) && c.state.consecutive_failures >= 2
        })
        .await
    }

    /// Phase 5b: the host comes back (sshd started on the same port, same
    /// host key); the next check passes.
    pub async fn phase_host_back(&mut self) -> LabResult<TargetView> {
        self.vps.start_sshd().await?;
        self.wait_until("healthy again", self.long(), |v| {
            v.health.status == Status::Healthy
        })
        .await
    }

    fn long(&self) -> Duration {
        self.opts.check_interval * 10 + self.opts.breaker_cooldown * 2
    }

    /// What the operator does by hand: repairs the unit and restarts the
    /// service over SSH (the same argv the healer runs).
    pub async fn repair_by_hand(&self) -> LabResult<HealOutcome> {
        self.vps.break_restarts(false)?;
        let healer = healer_for(&self.vps);
        Ok(healer.run(&target_id(), &self.vps.svcctl("restart")).await)
    }

    /// GET `path` under the API with the admin token; the JSON answer.
    pub async fn api_get(&self, path: &str) -> LabResult<Value> {
        api_call(reqwest::Method::GET, &format!("{}{path}", self.api_url())).await
    }

    /// POST `path` under the API with the admin token; the JSON answer.
    pub async fn api_post(&self, path: &str) -> LabResult<Value> {
        api_call(reqwest::Method::POST, &format!("{}{path}", self.api_url())).await
    }

    /// GET the panel's notifications over HTTP.
    pub async fn panel_notifications(&self) -> LabResult<Vec<Value>> {
        let v = api_call(
            reqwest::Method::GET,
            &format!("{}/notifications", self.panel_url()),
        )
        .await?;
        Ok(v["data"].as_array().cloned().unwrap_or_default())
    }

    /// Stops everything.
    pub async fn shutdown(mut self) {
        if let Some(api) = self.api.take() {
            api.stop().await;
        }
        self.engine.shutdown().await;
        self.vps.stop_sshd().await;
        let Self { panel, .. } = self;
        panel.stop().await;
    }
}

async fn api_call(method: reqwest::Method, url: &str) -> LabResult<Value> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        // reqwest's rustls has no provider of its own here (see Cargo.toml)
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a plain HTTP client builds")
    });
    let res = client
        .request(method, url)
        .bearer_auth(ADMIN_TOKEN)
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    let status = res.status();
    let body = res.bytes().await?;
    if !status.is_success() {
        return Err(format!("{url}: {status}: {}", String::from_utf8_lossy(&body)).into());
    }
    Ok(serde_json::from_slice(&body)?)
}

fn healer_for(vps: &Vps) -> SshHealer {
    SshHealer::new(Duration::from_secs(4))
        .host(target_id(), vps.ssh_params())
        .action(&HealAction::Restart, vps.svcctl("restart"))
}

/// One engine on the lab's SQLite file, started, with its API serving.
async fn boot(opts: &LabOptions, vps: &Vps, panel: SocketAddr) -> LabResult<(Engine, Server)> {
    let store = SqliteStore::open(opts.dir.join("healthcore.db")).await?;
    let mut config = EngineConfig::default();
    config.rules.breaker.cooldown = opts.breaker_cooldown;
    // breaker cooldowns and the other periodic rules: every second
    config.jobs.tick = Duration::from_secs(1);
    config.limits.heal_timeout = Duration::from_secs(5);
    config.limits.flush_interval = Duration::from_millis(100);
    let webhook = WebhookNotifier::with_policy(
        &format!("http://{panel}/webhook"),
        WebhookSecret::parse(WEBHOOK_SECRET)?,
        // webhooks refuse loopback unless allow-listed: the panel is local
        EgressPolicy::webhooks().allow_cidr(&format!("{}/32", panel.ip()))?,
        Arc::new(SystemResolver),
    )?
    .named("panel")
    .audience(Audience::Dashboard)
    .retries(3, Duration::from_millis(100), Duration::from_secs(2));
    let engine = Engine::builder(Arc::new(store))
        .checker(Arc::new(SshChecker::new()))
        .healer(Arc::new(healer_for(vps)))
        .notifier(Arc::new(webhook))
        .config(config)
        .build()?;
    engine.start().await?;
    let auth = Auth::new().with_token("panel", ADMIN_TOKEN, Scope::Admin);
    let app = Router::new().nest(
        "/api/v1",
        healthcore_http::router(ApiState::new(engine.clone(), auth)),
    );
    let api = Server::start(app).await?;
    Ok((engine, api))
}
