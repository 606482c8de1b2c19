//! The `command` probe: run a local process given as argv (never through a
//! shell) and judge it by Consul's exit code mapping: `0` → `pass`, `1` →
//! `warn`, anything else (or a signal) → `fail`.
//!
//! stdout and stderr are captured together, capped at
//! [`MAX_OUTPUT`] bytes (the rest is read and dropped so the process never
//! blocks on a full pipe). The process runs in its own process group; on
//! timeout the whole group is killed and the outcome is `fail`. When the
//! process exits, whatever it left behind in its group is killed too, so a
//! check never leaves processes running. A process that cannot be started
//! (missing binary, no permission) is `unknown`: a checker-side fault.
//!
//! Owns the child process; must not use a shell or interpret argv.
//!
//! Params ([`CommandParams`]):
//!
//! ```json
//! {"argv": ["/usr/lib/nagios/plugins/check_load", "-w", "5,4,3", "-c", "10,8,6"]}
//! {"argv": ["systemctl", "is-active", "nginx"], "env": {"LC_ALL": "C"}, "cwd": "/"}
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use healthcore::ValidationError;
use healthcore::checker::Checker;
use healthcore::model::{CheckSpec, Observation, Outcome};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::common::{self, Clock};

/// Output bytes kept (stdout and stderr together), as Consul does.
pub const MAX_OUTPUT: usize = 4096;
/// Most argv entries accepted.
pub const MAX_ARGS: usize = 256;
/// Characters of output put in the message.
const MESSAGE_CHARS: usize = 200;

/// Params of the `command` probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandParams {
    /// Program and arguments; `argv[0]` is looked up in `PATH` when it
    /// has no slash. Never run through a shell.
    pub argv: Vec<String>,
    /// Working directory (the engine's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Variables added to the inherited environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

impl CommandParams {
    /// Checks argv, env and cwd; errors name `params.<field>`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let Some(program) = self.argv.first() else {
            return Err(ValidationError::new(
                "params.argv",
                "must not be empty (give the program and its arguments)",
            ));
        };
        if program.is_empty() {
            return Err(ValidationError::new(
                "params.argv[0]",
                "the program must not be empty",
            ));
        }
        if self.argv.len() > MAX_ARGS {
            return Err(ValidationError::new("params.argv", "at most 256 entries"));
        }
        if let Some(i) = self.argv.iter().position(|a| a.contains('\0')) {
            return Err(ValidationError::new(
                format!("params.argv[{i}]"),
                "must not contain NUL",
            ));
        }
        for (k, v) in &self.env {
            if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                return Err(ValidationError::new(
                    format!("params.env.{k}"),
                    "names must be non-empty without '=' or NUL; values without NUL",
                ));
            }
        }
        if let Some(cwd) = &self.cwd
            && cwd.as_os_str().is_empty()
        {
            return Err(ValidationError::new("params.cwd", "must not be empty"));
        }
        Ok(())
    }
}

/// Consul's mapping from an exit code to an outcome.
///
/// ```
/// use healthcore::model::Outcome;
/// use healthcore_probes::command::outcome_for_exit_code;
/// assert_eq!(outcome_for_exit_code(0), Outcome::Pass);
/// assert_eq!(outcome_for_exit_code(1), Outcome::Warn);
/// assert_eq!(outcome_for_exit_code(2), Outcome::Fail);
/// ```
pub const fn outcome_for_exit_code(code: i32) -> Outcome {
    match code {
        0 => Outcome::Pass,
        1 => Outcome::Warn,
        _ => Outcome::Fail,
    }
}

/// The `command` checker. Stateless; share it as `Arc<dyn Checker>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommandChecker;

impl CommandChecker {
    /// A new checker.
    pub const fn new() -> Self {
        Self
    }
}

fn parse(spec: &CheckSpec) -> Result<CommandParams, ValidationError> {
    let p: CommandParams = common::parse_params(spec)?;
    p.validate()?;
    Ok(p)
}

#[async_trait]
impl Checker for CommandChecker {
    fn kind(&self) -> &str {
        "command"
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
        run(&p, &clock).await
    }
}

/// Output captured so far: the first [`MAX_OUTPUT`] bytes and a count.
#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    total: usize,
}

async fn drain<R: AsyncRead + Unpin>(pipe: Option<R>, into: &Mutex<Captured>) {
    let Some(mut pipe) = pipe else { return };
    let mut chunk = [0u8; 1024];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let Ok(mut c) = into.lock() else { return };
                c.total = c.total.saturating_add(n);
                let room = MAX_OUTPUT.saturating_sub(c.bytes.len()).min(n);
                if let Some(part) = chunk.get(..room) {
                    c.bytes.extend_from_slice(part);
                }
            }
        }
    }
}

/// Kills the process group led by `pid` (the child and anything it
/// spawned). Errors (group already gone) are ignored.
pub(crate) fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// How one run of a process ended (shared by the `command` probe and the
/// [`CommandHealer`](crate::command_healer::CommandHealer)).
#[derive(Debug)]
pub(crate) enum ProcessEnd {
    /// The process could not be started.
    SpawnFailed(std::io::Error),
    /// The deadline passed; the process group was killed.
    TimedOut,
    /// Waiting for the process failed.
    WaitFailed(std::io::Error),
    /// The process ended with this status.
    Exited(ExitStatus),
}

/// One finished run: how it ended and what it printed.
#[derive(Debug)]
pub(crate) struct ProcessRun {
    /// How it ended.
    pub end: ProcessEnd,
    /// stdout and stderr together, the first [`MAX_OUTPUT`] bytes as text.
    pub output: String,
    /// Bytes printed in all.
    pub total: usize,
}

/// Runs `p.argv` (never through a shell) in its own process group until
/// `deadline`: output captured and capped, the group killed on timeout and
/// swept after exit.
pub(crate) async fn run_process(p: &CommandParams, deadline: tokio::time::Instant) -> ProcessRun {
    let program = p.argv.first().map(String::as_str).unwrap_or_default();
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(p.argv.iter().skip(1))
        .envs(&p.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(cwd) = &p.cwd {
        cmd.current_dir(cwd);
    }
    #[cfg(unix)]
    cmd.process_group(0);

    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return ProcessRun {
                end: ProcessEnd::SpawnFailed(e),
                output: String::new(),
                total: 0,
            };
        }
    };
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let captured = Mutex::new(Captured::default());

    let waited = {
        let wait_and_sweep = async {
            let status = child.wait().await;
            // Whatever the process left in its group goes too; this also
            // closes pipes a straggler still holds.
            kill_group(pid);
            status
        };
        tokio::time::timeout_at(deadline, async {
            tokio::join!(
                wait_and_sweep,
                drain(stdout, &captured),
                drain(stderr, &captured)
            )
            .0
        })
        .await
    };

    let (output, total) = match captured.into_inner() {
        Ok(c) => (common::capped_text(&c.bytes, MAX_OUTPUT), c.total),
        Err(_) => (String::new(), 0),
    };
    let end = match waited {
        Err(_) => {
            kill_group(pid);
            let _ = child.start_kill();
            // SIGKILL cannot be ignored; reaping is prompt, but stay bounded.
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            ProcessEnd::TimedOut
        }
        Ok(Err(e)) => ProcessEnd::WaitFailed(e),
        Ok(Ok(status)) => ProcessEnd::Exited(status),
    };
    ProcessRun { end, output, total }
}

async fn run(p: &CommandParams, clock: &Clock) -> Observation {
    let program = p.argv.first().map(String::as_str).unwrap_or_default();
    let ProcessRun { end, output, total } = run_process(p, clock.deadline).await;
    let mut details = serde_json::json!({
        "program": program,
        "output": output,
        "output_truncated": total > MAX_OUTPUT,
    });
    let line = common::first_line(&output, MESSAGE_CHARS);

    match end {
        ProcessEnd::SpawnFailed(e) => clock.observe(
            Outcome::Unknown,
            format!("could not start {program}: {e}"),
            serde_json::json!({"program": program, "error": "spawn_failed"}),
        ),
        ProcessEnd::TimedOut => {
            details["error"] = "timeout".into();
            clock.observe(
                Outcome::Fail,
                format!(
                    "{program} timed out after {} and was killed",
                    humantime_short(clock.timeout)
                ),
                details,
            )
        }
        ProcessEnd::WaitFailed(e) => {
            details["error"] = "wait_failed".into();
            clock.observe(
                Outcome::Unknown,
                format!("could not wait for {program}: {e}"),
                details,
            )
        }
        ProcessEnd::Exited(status) => judge(status, &line, details, clock),
    }
}

fn judge(
    status: ExitStatus,
    line: &str,
    mut details: serde_json::Value,
    clock: &Clock,
) -> Observation {
    if let Some(code) = status.code() {
        details["exit_code"] = code.into();
        let message = if line.is_empty() {
            format!("exit {code}")
        } else {
            format!("exit {code}: {line}")
        };
        return clock.observe(outcome_for_exit_code(code), message, details);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            details["signal"] = sig.into();
            return clock.observe(Outcome::Fail, format!("killed by signal {sig}"), details);
        }
    }
    clock.observe(
        Outcome::Fail,
        format!("ended without an exit code: {status}"),
        details,
    )
}

pub(crate) fn humantime_short(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(params: serde_json::Value, timeout_ms: u64) -> CheckSpec {
        CheckSpec::new("command")
            .with_params(params)
            .every(Duration::from_secs(60), Duration::from_millis(timeout_ms))
    }

    fn field(params: serde_json::Value) -> String {
        CommandChecker
            .validate(&spec(params, 1000))
            .unwrap_err()
            .field()
            .to_owned()
    }

    async fn sh(script: &str, timeout_ms: u64) -> Observation {
        CommandChecker
            .check(&spec(
                serde_json::json!({"argv": ["/bin/sh", "-c", script]}),
                timeout_ms,
            ))
            .await
    }

    #[test]
    fn validation_names_fields() {
        assert_eq!(field(serde_json::json!({"argv": []})), "params.argv");
        assert_eq!(field(serde_json::json!({})), "params.argv");
        assert_eq!(field(serde_json::json!({"argv": [""]})), "params.argv[0]");
        assert_eq!(field(serde_json::json!({"argv": "true"})), "params.argv");
        assert_eq!(
            field(serde_json::json!({"argv": ["a", "b\u{0}"]})),
            "params.argv[1]"
        );
        assert_eq!(
            field(serde_json::json!({"argv": ["a"], "env": {"A=B": "x"}})),
            "params.env.A=B"
        );
        assert_eq!(
            field(serde_json::json!({"argv": ["a"], "cwd": ""})),
            "params.cwd"
        );
        assert_eq!(
            field(serde_json::json!({"argv": ["a"], "shell": true})),
            "params.shell"
        );
    }

    #[test]
    fn consul_mapping() {
        assert_eq!(outcome_for_exit_code(0), Outcome::Pass);
        assert_eq!(outcome_for_exit_code(1), Outcome::Warn);
        for c in [2, 3, 126, 127, 255, -1] {
            assert_eq!(outcome_for_exit_code(c), Outcome::Fail);
        }
    }

    #[tokio::test]
    async fn each_exit_code() {
        for (code, want) in [
            (0, Outcome::Pass),
            (1, Outcome::Warn),
            (2, Outcome::Fail),
            (42, Outcome::Fail),
        ] {
            let o = sh(&format!("echo status {code}; exit {code}"), 5000).await;
            assert_eq!(o.outcome, want, "{o:?}");
            let d = o.details.unwrap();
            assert_eq!(d["exit_code"], code);
            assert_eq!(d["output"], format!("status {code}\n"));
            assert_eq!(o.message.unwrap(), format!("exit {code}: status {code}"));
            assert!(o.latency.is_some());
        }
    }

    #[tokio::test]
    async fn argv_is_never_a_shell() {
        // A shell would expand `$HOME` and run the second command.
        let o = CommandChecker
            .check(&spec(
                serde_json::json!({"argv": ["echo", "$HOME;", "exit", "3"]}),
                5000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
        assert_eq!(o.details.unwrap()["output"], "$HOME; exit 3\n");
    }

    #[tokio::test]
    async fn env_and_cwd() {
        let o = CommandChecker
            .check(&spec(
                serde_json::json!({
                    "argv": ["/bin/sh", "-c", "echo \"$PROBE_X\"; pwd"],
                    "env": {"PROBE_X": "hello"},
                    "cwd": "/"
                }),
                5000,
            ))
            .await;
        assert_eq!(o.details.unwrap()["output"], "hello\n/\n");
    }

    #[tokio::test]
    async fn stderr_is_captured_and_output_capped() {
        let o = sh(
            "echo oops >&2; head -c 100000 /dev/zero | tr '\\0' x; exit 1",
            5000,
        )
        .await;
        assert_eq!(o.outcome, Outcome::Warn, "{:?}", o.message);
        let d = o.details.unwrap();
        let out = d["output"].as_str().unwrap();
        assert_eq!(out.len(), MAX_OUTPUT);
        assert!(out.starts_with("oops\n"));
        assert_eq!(d["output_truncated"], true);
    }

    #[tokio::test]
    async fn missing_program_is_unknown() {
        let o = CommandChecker
            .check(&spec(
                serde_json::json!({"argv": ["/nonexistent/healthcore-probe"]}),
                5000,
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Unknown, "{o:?}");
        assert_eq!(o.details.unwrap()["error"], "spawn_failed");
    }

    #[tokio::test]
    async fn signal_is_fail() {
        let o = sh("kill -TERM $$", 5000).await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.unwrap()["signal"], 15);
    }

    fn alive(pid: i32) -> bool {
        // A zombie still has a /proc entry; read its state.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => !s
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }

    async fn gone_within(pid: i32, limit: Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if !alive(pid) {
                return true;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        !alive(pid)
    }

    #[tokio::test]
    async fn sleeper_is_killed_at_the_deadline() {
        let dir = std::env::temp_dir().join(format!("hc-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("sleeper.pid");
        // The shell forks a sleeper (a grandchild) and waits on it: the
        // whole group must die, not just the shell.
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let started = std::time::Instant::now();
        let o = sh(&script, 400).await;
        let took = started.elapsed();
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.as_ref().unwrap()["error"], "timeout");
        assert!(o.message.unwrap().contains("timed out"));
        assert!(took >= Duration::from_millis(390), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            gone_within(pid, Duration::from_secs(3)).await,
            "sleeper {pid} survived"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn stragglers_do_not_hold_the_check() {
        // The shell exits at once but leaves a background sleeper holding
        // stdout; the check must end with the shell, not at the deadline.
        let started = std::time::Instant::now();
        let o = sh("sleep 30 & echo started", 5000).await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
