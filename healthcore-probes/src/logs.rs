//! [`ConfiguredLogs`]: a [`LogSource`] (seed 004's "last N log lines"
//! quick action) over per-target sources an operator configures
//! ([`LogSpec`]), each one of:
//!
//! - **a file** (`{"file": "/var/log/app.log"}`): its last N lines, read
//!   backwards from the end in blocks, never more than
//!   [`MAX_TAIL_BYTES`] of it, whatever its size (the first, partial line
//!   of that window is dropped);
//! - **a command** (`{"argv": ["journalctl", "-u", "{target.labels.unit}",
//!   "-n", "{lines}", "--no-pager"]}`): run as argv (never through a
//!   shell) with the `command` probe's process handling (its own process
//!   group, killed at `timeout`, default 10 s, and swept after exit); the
//!   last N lines of its standard output are the log. Placeholders are the
//!   heal commands' `{target.id}`, `{target.name}`, `{target.kind}`,
//!   `{target.tenant}`, `{target.mac_address}`, `{target.labels.KEY}`,
//!   plus `{lines}` (the number of lines asked for); `{{`/`}}` for braces.
//!   A non-zero exit is a failure (with the first line of its standard
//!   error), as is a timeout.
//!
//! Every line is cut at [`MAX_LINE_BYTES`] bytes (marked with `…`), so a
//! request holds at most N such lines. A target with no source answers
//! [`LogError::NotConfigured`].
//!
//! ```
//! use healthcore_probes::logs::{ConfiguredLogs, LogSpec};
//! use healthcore::model::TargetId;
//! let logs = ConfiguredLogs::new()
//!     .target(TargetId::new("web-1").unwrap(), LogSpec::file("/var/log/nginx/error.log"))
//!     .unwrap();
//! assert!(logs.has_target(&TargetId::new("web-1").unwrap()));
//! let bad = LogSpec::command(["journalctl", "-n", "{count}"]);
//! assert_eq!(bad.validate().unwrap_err().field(), "argv[2]");
//! ```
//!
//! Owns reading logs only; it must not interpret them.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use healthcore::ValidationError;
use healthcore::healer::{LogError, LogSource};
use healthcore::model::{Target, TargetId};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::command::{CommandParams, kill_group};
use crate::command_healer::{placeholder, walk};
use crate::common;

/// Most bytes read from the end of a log file for one request.
pub const MAX_TAIL_BYTES: u64 = 4 * 1024 * 1024;
/// Longest line kept, in bytes; the rest of a longer line is dropped.
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// Default deadline of a log command.
pub const DEFAULT_LOG_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest deadline a log command may be given.
pub const MAX_LOG_TIMEOUT: Duration = Duration::from_secs(300);

/// Where one target's log lines come from: `file` or `argv` (with its
/// `cwd`, `env` and `timeout`), exactly one of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSpec {
    /// A log file whose last lines are served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// A command (program and arguments, with placeholders) whose standard
    /// output's last lines are served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// The command's working directory (the daemon's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Variables added to the command's environment (values may hold
    /// placeholders).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The command's deadline (default 10 s, at most 5 min); its process
    /// group is killed after it.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    DEFAULT_LOG_TIMEOUT
}

impl LogSpec {
    /// A file source.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            file: Some(path.into()),
            argv: None,
            cwd: None,
            env: BTreeMap::new(),
            timeout: DEFAULT_LOG_TIMEOUT,
        }
    }

    /// A command source with the default timeout.
    pub fn command<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            file: None,
            argv: Some(argv.into_iter().map(Into::into).collect()),
            cwd: None,
            env: BTreeMap::new(),
            timeout: DEFAULT_LOG_TIMEOUT,
        }
    }

    /// Checks the spec; the error names the field (`file`, `argv[2]`,
    /// `env.KEY`, `cwd`, `timeout`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        match (&self.file, &self.argv) {
            (Some(_), Some(_)) => Err(ValidationError::new(
                "argv",
                "give either file (a log file to tail) or argv (a command printing the log), not both",
            )),
            (None, None) => Err(ValidationError::new(
                "file",
                "give file (a log file to tail) or argv (a command printing the log)",
            )),
            (Some(path), None) => {
                if path.as_os_str().is_empty() {
                    return Err(ValidationError::new("file", "must not be empty"));
                }
                if self.cwd.is_some() {
                    return Err(ValidationError::new("cwd", "applies to argv only"));
                }
                if !self.env.is_empty() {
                    return Err(ValidationError::new("env", "applies to argv only"));
                }
                Ok(())
            }
            (None, Some(argv)) => {
                let params = CommandParams {
                    argv: argv.clone(),
                    cwd: self.cwd.clone(),
                    env: self.env.clone(),
                };
                params.validate().map_err(|e| {
                    let field = e.field().strip_prefix("params.").unwrap_or(e.field());
                    ValidationError::new(field.to_owned(), e.rule().to_owned())
                })?;
                for (i, a) in argv.iter().enumerate() {
                    check_template(a)
                        .map_err(|rule| ValidationError::new(format!("argv[{i}]"), rule))?;
                }
                for (k, v) in &self.env {
                    check_template(v)
                        .map_err(|rule| ValidationError::new(format!("env.{k}"), rule))?;
                }
                if self.timeout.is_zero() || self.timeout > MAX_LOG_TIMEOUT {
                    return Err(ValidationError::new(
                        "timeout",
                        "must be between 1ms and 5m",
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The log placeholders: the heal commands' target ones and `{lines}`.
fn log_placeholder(name: &str, target: Option<&Target>, lines: usize) -> Option<String> {
    match name {
        "lines" => Some(lines.to_string()),
        "action" => None,
        other => placeholder(other, target, None),
    }
}

fn check_template(template: &str) -> Result<(), String> {
    walk(
        template,
        |_| {},
        |name| match log_placeholder(name, None, 0) {
            Some(_) => Ok(()),
            None => Err(format!(
                "unknown placeholder {{{name}}}; known: {{lines}}, {{target.id}}, {{target.name}}, \
                 {{target.kind}}, {{target.tenant}}, {{target.mac_address}}, {{target.labels.KEY}}"
            )),
        },
    )
}

fn expand(template: &str, target: &Target, lines: usize) -> String {
    let mut out = String::with_capacity(template.len());
    let cell = std::cell::RefCell::new(&mut out);
    // validated at configuration; an unknown placeholder expands to nothing
    let _ = walk(
        template,
        |text| cell.borrow_mut().push_str(text),
        |name| {
            if let Some(v) = log_placeholder(name, Some(target), lines) {
                cell.borrow_mut().push_str(&v);
            }
            Ok(())
        },
    );
    out
}

/// A [`LogSource`] over one [`LogSpec`] per target.
#[derive(Debug, Clone, Default)]
pub struct ConfiguredLogs {
    targets: BTreeMap<TargetId, LogSpec>,
}

impl ConfiguredLogs {
    /// No target has a source (every request answers "not configured").
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives `target` the source `spec` (validated; the error names the
    /// spec's field).
    pub fn target(mut self, target: TargetId, spec: LogSpec) -> Result<Self, ValidationError> {
        spec.validate()?;
        self.targets.insert(target, spec);
        Ok(self)
    }

    /// Whether `target` has a source.
    pub fn has_target(&self, target: &TargetId) -> bool {
        self.targets.contains_key(target)
    }

    /// Whether no target has a source.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

#[async_trait]
impl LogSource for ConfiguredLogs {
    async fn last_lines(&self, target: &Target, lines: usize) -> Result<Vec<String>, LogError> {
        let Some(spec) = self.targets.get(&target.id) else {
            return Err(LogError::NotConfigured(target.id.to_string()));
        };
        let lines = lines.max(1);
        match (&spec.file, &spec.argv) {
            (Some(path), _) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || tail_file(&path, lines, MAX_TAIL_BYTES))
                    .await
                    .map_err(|e| LogError::Io(format!("reading the log file failed: {e}")))?
            }
            (None, Some(_)) => run_command(spec, target, lines).await,
            (None, None) => Err(LogError::NotConfigured(target.id.to_string())),
        }
    }
}

/// Keeps the last `keep` lines, each cut at [`MAX_LINE_BYTES`].
#[derive(Debug)]
struct LastLines {
    keep: usize,
    done: VecDeque<String>,
    current: Vec<u8>,
    cut: bool,
}

impl LastLines {
    fn new(keep: usize) -> Self {
        Self {
            keep,
            done: VecDeque::with_capacity(keep.min(1024)),
            current: Vec::new(),
            cut: false,
        }
    }

    fn push_bytes(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (part, rest, ends) = match bytes.iter().position(|b| *b == b'\n') {
                Some(i) => (&bytes[..i], &bytes[i + 1..], true),
                None => (bytes, &[][..], false),
            };
            let room = MAX_LINE_BYTES.saturating_sub(self.current.len());
            if part.len() > room {
                self.cut = true;
            }
            self.current
                .extend_from_slice(part.get(..room.min(part.len())).unwrap_or(part));
            if ends {
                self.end_line();
            }
            bytes = rest;
        }
    }

    fn end_line(&mut self) {
        let mut line = common::capped_text(&self.current, MAX_LINE_BYTES);
        if line.ends_with('\r') {
            line.pop();
        }
        if self.cut {
            line.push('…');
        }
        self.current.clear();
        self.cut = false;
        if self.done.len() == self.keep {
            self.done.pop_front();
        }
        self.done.push_back(line);
    }

    fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() || self.cut {
            self.end_line();
        }
        self.done.into_iter().collect()
    }
}

/// The last `lines` lines of the file at `path`, oldest first, reading at
/// most `max_bytes` from its end.
pub fn tail_file(path: &Path, lines: usize, max_bytes: u64) -> Result<Vec<String>, LogError> {
    let io = |e: std::io::Error| LogError::Io(format!("reading {}: {e}", path.display()));
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let floor = len.saturating_sub(max_bytes);
    const BLOCK: u64 = 64 * 1024;
    // blocks from the end backwards, until enough line breaks are seen
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut pos = len;
    let mut breaks = 0usize;
    let mut last_byte_is_break = None;
    while pos > floor {
        let size = BLOCK.min(pos - floor);
        pos -= size;
        f.seek(SeekFrom::Start(pos)).map_err(io)?;
        let mut block = vec![0u8; usize::try_from(size).unwrap_or(0)];
        f.read_exact(&mut block).map_err(io)?;
        if last_byte_is_break.is_none() {
            last_byte_is_break = Some(block.last() == Some(&b'\n'));
        }
        breaks += block.iter().filter(|b| **b == b'\n').count();
        blocks.push(block);
        // a trailing break ends the last line instead of starting one
        let complete = breaks.saturating_sub(usize::from(last_byte_is_break == Some(true)));
        if complete >= lines {
            break;
        }
    }
    let mut bytes = Vec::with_capacity(blocks.iter().map(Vec::len).sum());
    for b in blocks.iter().rev() {
        bytes.extend_from_slice(b);
    }
    // a window that starts mid-file starts mid-line: drop that part
    let start = if pos > 0 {
        bytes
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |i| i + 1)
    } else {
        0
    };
    let mut last = LastLines::new(lines);
    last.push_bytes(bytes.get(start..).unwrap_or_default());
    Ok(last.finish())
}

async fn run_command(
    spec: &LogSpec,
    target: &Target,
    lines: usize,
) -> Result<Vec<String>, LogError> {
    let argv: Vec<String> = spec
        .argv
        .iter()
        .flatten()
        .map(|a| expand(a, target, lines))
        .collect();
    let program = argv.first().cloned().unwrap_or_default();
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(argv.iter().skip(1))
        .envs(spec.env.iter().map(|(k, v)| (k, expand(v, target, lines))))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| LogError::Io(format!("could not start {program}: {e}")))?;
    let pid = child.id();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let read_out = async {
        let mut last = LastLines::new(lines);
        if let Some(out) = stdout.as_mut() {
            let mut chunk = vec![0u8; 8192];
            loop {
                match out.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => last.push_bytes(chunk.get(..n).unwrap_or_default()),
                }
            }
        }
        last.finish()
    };
    let read_err = async {
        // the first KiB, for the message; the rest is drained and dropped
        let mut kept = Vec::new();
        if let Some(err) = stderr.as_mut() {
            let mut chunk = [0u8; 1024];
            loop {
                match err.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = 1024usize.saturating_sub(kept.len()).min(n);
                        kept.extend_from_slice(chunk.get(..room).unwrap_or_default());
                    }
                }
            }
        }
        kept
    };
    let wait = async {
        let status = child.wait().await;
        kill_group(pid);
        status
    };
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let ran =
        tokio::time::timeout_at(deadline, async { tokio::join!(wait, read_out, read_err) }).await;
    match ran {
        Err(_) => {
            kill_group(pid);
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            Err(LogError::Io(format!(
                "{program} timed out after {} and was killed",
                crate::command::humantime_short(spec.timeout)
            )))
        }
        Ok((Err(e), _, _)) => Err(LogError::Io(format!("could not wait for {program}: {e}"))),
        Ok((Ok(status), out, err)) => {
            if status.success() {
                Ok(out)
            } else {
                let line = common::first_line(&String::from_utf8_lossy(&err), 200);
                let head = match status.code() {
                    Some(code) => format!("{program} exited {code}"),
                    None => format!("{program} ended without an exit code ({status})"),
                };
                Err(LogError::Io(if line.is_empty() {
                    head
                } else {
                    format!("{head}: {line}")
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str) -> Target {
        let mut t = Target::new(TargetId::new(id).unwrap(), id);
        t.labels.insert("unit".into(), "app.service".into());
        t
    }

    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &[u8]) -> Self {
            let p =
                std::env::temp_dir().join(format!("healthcore-logs-{}-{name}", std::process::id()));
            std::fs::write(&p, contents).unwrap();
            Self(p)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn tails_the_last_lines_of_a_file() {
        let f = TempFile::new("many", numbered(20_000).as_bytes());
        let got = tail_file(&f.0, 3, MAX_TAIL_BYTES).unwrap();
        assert_eq!(got, ["line 19998", "line 19999", "line 20000"]);
        // fewer lines than asked for: all of them
        let f = TempFile::new("few", b"a\r\nb\nc");
        assert_eq!(
            tail_file(&f.0, 10, MAX_TAIL_BYTES).unwrap(),
            ["a", "b", "c"]
        );
        let f = TempFile::new("empty", b"");
        assert!(tail_file(&f.0, 10, MAX_TAIL_BYTES).unwrap().is_empty());
    }

    #[test]
    fn reads_a_bounded_window_from_the_end() {
        // 20,000 lines of 11 bytes; a 1 KiB window holds ~93 whole lines,
        // the partial first one is dropped
        let f = TempFile::new("window", numbered(20_000).as_bytes());
        let got = tail_file(&f.0, 1000, 1024).unwrap();
        assert!(got.len() < 100 && got.len() > 80, "{}", got.len());
        assert_eq!(got.last().map(String::as_str), Some("line 20000"));
        assert!(got[0].starts_with("line "), "{:?}", got[0]);
        // long lines are cut
        let long = format!("{}\nshort\n", "x".repeat(3 * MAX_LINE_BYTES));
        let f = TempFile::new("long", long.as_bytes());
        let got = tail_file(&f.0, 2, MAX_TAIL_BYTES).unwrap();
        assert_eq!(got[0].len(), MAX_LINE_BYTES + '…'.len_utf8());
        assert_eq!(got[1], "short");
        let missing = tail_file(Path::new("/nonexistent/healthcore.log"), 5, 1024);
        assert!(matches!(missing, Err(LogError::Io(_))));
    }

    #[test]
    fn specs_are_checked() {
        assert!(LogSpec::file("/var/log/a.log").validate().is_ok());
        assert!(
            LogSpec::command(["journalctl", "-u", "{target.labels.unit}", "-n", "{lines}"])
                .validate()
                .is_ok()
        );
        let both = LogSpec {
            argv: Some(vec!["cat".into()]),
            ..LogSpec::file("/x")
        };
        assert_eq!(both.validate().unwrap_err().field(), "argv");
        let neither = LogSpec {
            file: None,
            ..LogSpec::file("/x")
        };
        assert_eq!(neither.validate().unwrap_err().field(), "file");
        assert_eq!(LogSpec::file("").validate().unwrap_err().field(), "file");
        assert_eq!(
            LogSpec::command(["tail", "{action}"])
                .validate()
                .unwrap_err()
                .field(),
            "argv[1]"
        );
        assert_eq!(
            LogSpec::command(Vec::<String>::new())
                .validate()
                .unwrap_err()
                .field(),
            "argv"
        );
        let slow = LogSpec {
            timeout: Duration::from_secs(3600),
            ..LogSpec::command(["cat"])
        };
        assert_eq!(slow.validate().unwrap_err().field(), "timeout");
        let spec: LogSpec = serde_json::from_value(
            serde_json::json!({"argv": ["seq", "{lines}"], "timeout": "2s"}),
        )
        .unwrap();
        assert_eq!(spec.timeout, Duration::from_secs(2));
        assert!(serde_json::from_value::<LogSpec>(serde_json::json!({"path": "/x"})).is_err());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_command_prints_the_log() {
        let logs = ConfiguredLogs::new()
            .target(
                TargetId::new("a").unwrap(),
                LogSpec::command([
                    "sh",
                    "-c",
                    "seq 1 5000; echo {target.labels.unit}",
                    "{lines}",
                ]),
            )
            .unwrap()
            .target(
                TargetId::new("n").unwrap(),
                LogSpec::command(["seq", "1", "{lines}"]),
            )
            .unwrap()
            .target(
                TargetId::new("fails").unwrap(),
                LogSpec::command(["sh", "-c", "echo broken >&2; exit 3"]),
            )
            .unwrap()
            .target(
                TargetId::new("slow").unwrap(),
                LogSpec {
                    timeout: Duration::from_millis(200),
                    ..LogSpec::command(["sleep", "5"])
                },
            )
            .unwrap();
        let got = logs.last_lines(&target("a"), 3).await.unwrap();
        assert_eq!(got, ["4999", "5000", "app.service"]);
        let got = logs.last_lines(&target("n"), 7).await.unwrap();
        assert_eq!(got.len(), 7);
        assert_eq!(got[6], "7");
        match logs.last_lines(&target("fails"), 5).await {
            Err(LogError::Io(m)) => assert_eq!(m, "sh exited 3: broken"),
            other => panic!("{other:?}"),
        }
        let started = std::time::Instant::now();
        match logs.last_lines(&target("slow"), 5).await {
            Err(LogError::Io(m)) => assert!(m.contains("timed out"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(matches!(
            logs.last_lines(&target("other"), 5).await,
            Err(LogError::NotConfigured(_))
        ));
    }

    #[tokio::test]
    async fn a_file_source_serves_its_tail() {
        let f = TempFile::new("source", numbered(300).as_bytes());
        let logs = ConfiguredLogs::new()
            .target(TargetId::new("a").unwrap(), LogSpec::file(&f.0))
            .unwrap();
        let got = logs.last_lines(&target("a"), 2).await.unwrap();
        assert_eq!(got, ["line 299", "line 300"]);
    }
}
