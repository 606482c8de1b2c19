//! The `disk` probe (seed 004, task 2.2 "disk space thresholds, write
//! test"): free space under warn and fail thresholds, in percent or bytes,
//! and an optional write-and-delete test in a directory.
//!
//! Free space is what an unprivileged user may still write (`f_bavail`),
//! as `df` shows it. Below a fail threshold → `fail`; below a warn
//! threshold → `warn`; a write test that cannot write, sync, read back or
//! delete its file → `fail`. A path that does not exist or may not be
//! written by the checker is `unknown` (checker-side). With no threshold
//! given, warn below 10 % free and fail below 5 %.
//!
//! Filesystem calls run on tokio's blocking pool under the probe's
//! deadline (a hung NFS mount gives `fail` at the deadline; the blocked
//! thread is left to finish on its own). Owns only its test file; must not
//! touch anything else in the directory.
//!
//! Params ([`DiskParams`]):
//!
//! ```json
//! {"path": "/var/lib/postgresql"}
//! {"path": "/", "warn_free_percent": 15, "fail_free_percent": 5}
//! {"path": "/data", "warn_free_bytes": "20GiB", "fail_free_bytes": "5GiB",
//!  "write_test_dir": "/data/tmp"}
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use healthcore::ValidationError;
use healthcore::checker::Checker;
use healthcore::model::{CheckSpec, Observation, Outcome};
use serde::{Deserialize, Serialize};

use crate::common::{self, Clock};

/// Warn threshold used when no threshold is given, percent free.
pub const DEFAULT_WARN_FREE_PERCENT: f64 = 10.0;
/// Fail threshold used when no threshold is given, percent free.
pub const DEFAULT_FAIL_FREE_PERCENT: f64 = 5.0;
/// Size of the write test's file.
const WRITE_TEST_BYTES: usize = 4096;

/// A size in bytes. Reads a JSON integer or a string with a unit: `B`,
/// `K`/`KB`/`M`/`MB`/`G`/`GB`/`T`/`TB` (powers of 1000) or
/// `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024), case-insensitive. Writes an
/// integer.
///
/// ```
/// use healthcore_probes::ByteSize;
/// assert_eq!(ByteSize::parse("5GiB"), Some(ByteSize(5 << 30)));
/// assert_eq!(ByteSize::parse("20 GB"), Some(ByteSize(20_000_000_000)));
/// assert_eq!(ByteSize::parse("7"), Some(ByteSize(7)));
/// assert_eq!(ByteSize::parse("7 parsecs"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `"<digits>[ ]<unit>"`; `None` on anything else or overflow.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        if digits.is_empty() {
            return None;
        }
        let n: u64 = digits.parse().ok()?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "m" | "mb" => 1_000_000,
            "g" | "gb" => 1_000_000_000,
            "t" | "tb" => 1_000_000_000_000,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "tib" => 1 << 40,
            _ => return None,
        };
        n.checked_mul(mult).map(ByteSize)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} B", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte count or a size like \"5GiB\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size must not be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).ok_or_else(|| {
                    E::custom(format!(
                        "{v:?} is not a size (use bytes or a unit: KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Params of the `disk` probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskParams {
    /// An absolute path on the filesystem to measure.
    pub path: PathBuf,
    /// Warn when free space is below this percent (0..=100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_free_percent: Option<f64>,
    /// Fail when free space is below this percent (0..=100, below warn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_free_percent: Option<f64>,
    /// Warn when free space is below this size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_free_bytes: Option<ByteSize>,
    /// Fail when free space is below this size (below warn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_free_bytes: Option<ByteSize>,
    /// An absolute directory in which a small file is written, synced,
    /// read back and deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_test_dir: Option<PathBuf>,
}

impl DiskParams {
    /// Checks paths, ranges and threshold order; errors name
    /// `params.<field>`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !self.path.is_absolute() {
            return Err(ValidationError::new(
                "params.path",
                "must be an absolute path",
            ));
        }
        if let Some(dir) = &self.write_test_dir
            && !dir.is_absolute()
        {
            return Err(ValidationError::new(
                "params.write_test_dir",
                "must be an absolute path",
            ));
        }
        for (field, v) in [
            ("params.warn_free_percent", self.warn_free_percent),
            ("params.fail_free_percent", self.fail_free_percent),
        ] {
            if let Some(v) = v
                && !(0.0..=100.0).contains(&v)
            {
                return Err(ValidationError::new(field, "must be in 0..=100"));
            }
        }
        if let (Some(w), Some(f)) = (self.warn_free_percent, self.fail_free_percent)
            && f >= w
        {
            return Err(ValidationError::new(
                "params.fail_free_percent",
                "must be below warn_free_percent (fail is the lower free space)",
            ));
        }
        if let (Some(w), Some(f)) = (self.warn_free_bytes, self.fail_free_bytes)
            && f >= w
        {
            return Err(ValidationError::new(
                "params.fail_free_bytes",
                "must be below warn_free_bytes (fail is the lower free space)",
            ));
        }
        Ok(())
    }

    /// The thresholds in force: the given ones, or 10 % / 5 % when none is
    /// given.
    pub fn thresholds(&self) -> Thresholds {
        let none = self.warn_free_percent.is_none()
            && self.fail_free_percent.is_none()
            && self.warn_free_bytes.is_none()
            && self.fail_free_bytes.is_none();
        if none {
            return Thresholds {
                warn_free_percent: Some(DEFAULT_WARN_FREE_PERCENT),
                fail_free_percent: Some(DEFAULT_FAIL_FREE_PERCENT),
                warn_free_bytes: None,
                fail_free_bytes: None,
            };
        }
        Thresholds {
            warn_free_percent: self.warn_free_percent,
            fail_free_percent: self.fail_free_percent,
            warn_free_bytes: self.warn_free_bytes.map(|b| b.0),
            fail_free_bytes: self.fail_free_bytes.map(|b| b.0),
        }
    }
}

/// The free-space limits one check applies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Warn below this percent free.
    pub warn_free_percent: Option<f64>,
    /// Fail below this percent free.
    pub fail_free_percent: Option<f64>,
    /// Warn below this many bytes free.
    pub warn_free_bytes: Option<u64>,
    /// Fail below this many bytes free.
    pub fail_free_bytes: Option<u64>,
}

impl Thresholds {
    /// Judges `free` of `total` bytes: `fail` below any fail limit, else
    /// `warn` below any warn limit, else `pass`. A total of zero counts as
    /// 0 % free.
    pub fn judge(&self, free: u64, total: u64) -> Outcome {
        let pct = percent(free, total);
        let below_pct = |t: Option<f64>| t.is_some_and(|t| pct < t);
        let below_bytes = |t: Option<u64>| t.is_some_and(|t| free < t);
        if below_pct(self.fail_free_percent) || below_bytes(self.fail_free_bytes) {
            Outcome::Fail
        } else if below_pct(self.warn_free_percent) || below_bytes(self.warn_free_bytes) {
            Outcome::Warn
        } else {
            Outcome::Pass
        }
    }
}

/// Percent of `total` that `free` is (0 when total is 0).
fn percent(free: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let p = free as f64 / total as f64 * 100.0;
    p
}

/// The `disk` checker. Stateless; share it as `Arc<dyn Checker>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskChecker;

impl DiskChecker {
    /// A new checker.
    pub const fn new() -> Self {
        Self
    }
}

fn parse(spec: &CheckSpec) -> Result<DiskParams, ValidationError> {
    let p: DiskParams = common::parse_params(spec)?;
    p.validate()?;
    Ok(p)
}

#[async_trait]
impl Checker for DiskChecker {
    fn kind(&self) -> &str {
        "disk"
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

/// Space on a filesystem: (available to unprivileged users, total).
#[cfg(unix)]
#[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
fn space(path: &Path) -> std::io::Result<(u64, u64)> {
    let st = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let frag = u64::try_from(st.fragment_size()).unwrap_or(0);
    let frag = if frag == 0 {
        u64::try_from(st.block_size()).unwrap_or(0)
    } else {
        frag
    };
    let avail = u64::try_from(st.blocks_available()).unwrap_or(0);
    let total = u64::try_from(st.blocks()).unwrap_or(0);
    Ok((avail.saturating_mul(frag), total.saturating_mul(frag)))
}

#[cfg(not(unix))]
fn space(_path: &Path) -> std::io::Result<(u64, u64)> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "free space is only measured on unix",
    ))
}

/// Outcome for a filesystem error: missing path or no permission is the
/// checker's problem (`unknown`); anything else (read-only, no space, I/O
/// error) is the disk's (`fail`).
fn io_outcome(e: &std::io::Error) -> Outcome {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => Outcome::Unknown,
        std::io::ErrorKind::Unsupported => Outcome::Unknown,
        _ => Outcome::Fail,
    }
}

static WRITE_TEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes, syncs, reads back and deletes one small file in `dir`.
fn write_test(dir: &Path) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let seq = WRITE_TEST_SEQ.fetch_add(1, Ordering::Relaxed);
    let file = dir.join(format!(
        ".healthcore-write-test-{}-{seq}",
        std::process::id()
    ));
    let pattern: Vec<u8> = (0..WRITE_TEST_BYTES)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)?;
        f.write_all(&pattern)?;
        f.sync_all()?;
        drop(f);
        let mut back = Vec::with_capacity(WRITE_TEST_BYTES);
        std::fs::File::open(&file)?.read_to_end(&mut back)?;
        if back != pattern {
            return Err(std::io::Error::other("read back different bytes"));
        }
        Ok(())
    })();
    let removed = std::fs::remove_file(&file);
    match (result, removed) {
        (Err(e), _) => {
            // Best effort: never leave the test file behind.
            Err(e)
        }
        (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
    }
}

fn rank(o: Outcome) -> u8 {
    match o {
        Outcome::Pass => 0,
        Outcome::Unknown => 1,
        Outcome::Warn => 2,
        Outcome::Fail | Outcome::Unreachable => 3,
    }
}

async fn probe(p: &DiskParams, clock: &Clock) -> Observation {
    let path = p.path.clone();
    let shown = p.path.display().to_string();
    let stats = tokio::time::timeout_at(
        clock.deadline,
        tokio::task::spawn_blocking(move || space(&path)),
    )
    .await;
    let (free, total) = match stats {
        Err(_) => {
            return clock.observe(
                Outcome::Fail,
                format!("statvfs on {shown} did not return before the timeout"),
                serde_json::json!({"path": shown, "error": "timeout"}),
            );
        }
        Ok(Err(e)) => {
            return clock.observe(
                Outcome::Unknown,
                format!("disk probe task failed: {e}"),
                serde_json::json!({"path": shown, "error": "task_failed"}),
            );
        }
        Ok(Ok(Err(e))) => {
            return clock.observe(
                io_outcome(&e),
                format!("cannot measure {shown}: {e}"),
                serde_json::json!({"path": shown, "error": "statvfs_failed"}),
            );
        }
        Ok(Ok(Ok(v))) => v,
    };
    let thresholds = p.thresholds();
    let pct = percent(free, total);
    let space_outcome = thresholds.judge(free, total);
    let mut outcome = space_outcome;
    let mut message = format!("{:.1}% free on {shown} ({} of {} bytes)", pct, free, total);
    if space_outcome == Outcome::Fail {
        message.push_str(", below the fail threshold");
    } else if space_outcome == Outcome::Warn {
        message.push_str(", below the warn threshold");
    }
    let mut details = serde_json::json!({
        "path": shown,
        "free_bytes": free,
        "total_bytes": total,
        "free_percent": (pct * 100.0).round() / 100.0,
        "thresholds": thresholds,
    });

    if let Some(dir) = &p.write_test_dir {
        let dir_shown = dir.display().to_string();
        let dir = dir.clone();
        let started = std::time::Instant::now();
        let res = tokio::time::timeout_at(
            clock.deadline,
            tokio::task::spawn_blocking(move || write_test(&dir)),
        )
        .await;
        let took = common::ms(started.elapsed());
        let (wo, err) = match res {
            Err(_) => (Outcome::Fail, Some("timed out".to_owned())),
            Ok(Err(e)) => (Outcome::Unknown, Some(format!("task failed: {e}"))),
            Ok(Ok(Err(e))) => (io_outcome(&e), Some(e.to_string())),
            Ok(Ok(Ok(()))) => (Outcome::Pass, None),
        };
        details["write_test"] = serde_json::json!({
            "dir": dir_shown,
            "ok": err.is_none(),
            "ms": took,
            "error": err,
        });
        if let Some(e) = &err {
            message.push_str(&format!("; write test in {dir_shown} failed: {e}"));
        } else {
            message.push_str("; write test ok");
        }
        if rank(wo) > rank(outcome) {
            outcome = wo;
        }
    }
    clock.observe(outcome, message, details)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    fn spec(params: serde_json::Value) -> CheckSpec {
        CheckSpec::new("disk")
            .with_params(params)
            .every(Duration::from_secs(60), Duration::from_secs(5))
    }

    fn field(params: serde_json::Value) -> String {
        DiskChecker
            .validate(&spec(params))
            .unwrap_err()
            .field()
            .to_owned()
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "hc-disk-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn validation_names_fields() {
        assert_eq!(field(serde_json::json!({"path": "rel"})), "params.path");
        assert_eq!(field(serde_json::json!({})), "params.path");
        assert_eq!(
            field(serde_json::json!({"path": "/", "warn_free_percent": 101})),
            "params.warn_free_percent"
        );
        assert_eq!(
            field(serde_json::json!({"path": "/", "fail_free_percent": -1})),
            "params.fail_free_percent"
        );
        assert_eq!(
            field(
                serde_json::json!({"path": "/", "warn_free_percent": 5, "fail_free_percent": 10})
            ),
            "params.fail_free_percent"
        );
        assert_eq!(
            field(
                serde_json::json!({"path": "/", "warn_free_bytes": "1GB", "fail_free_bytes": "2GB"})
            ),
            "params.fail_free_bytes"
        );
        assert_eq!(
            field(serde_json::json!({"path": "/", "warn_free_bytes": "lots"})),
            "params.warn_free_bytes"
        );
        assert_eq!(
            field(serde_json::json!({"path": "/", "warn_free_bytes": -5})),
            "params.warn_free_bytes"
        );
        assert_eq!(
            field(serde_json::json!({"path": "/", "write_test_dir": "tmp"})),
            "params.write_test_dir"
        );
        DiskChecker
            .validate(&spec(serde_json::json!({
                "path": "/", "warn_free_bytes": "2GiB", "fail_free_bytes": 1024,
                "warn_free_percent": 20, "fail_free_percent": 10
            })))
            .unwrap();
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(ByteSize::parse("0"), Some(ByteSize(0)));
        assert_eq!(ByteSize::parse("1k"), Some(ByteSize(1000)));
        assert_eq!(ByteSize::parse("1KiB"), Some(ByteSize(1024)));
        assert_eq!(ByteSize::parse("2 tib"), Some(ByteSize(2 << 40)));
        assert_eq!(ByteSize::parse("GB"), None);
        assert_eq!(ByteSize::parse("1.5GB"), None);
        assert_eq!(ByteSize::parse("99999999999TB"), None);
        let v: DiskParams =
            serde_json::from_value(serde_json::json!({"path": "/", "fail_free_bytes": "1MiB"}))
                .unwrap();
        assert_eq!(v.fail_free_bytes, Some(ByteSize(1 << 20)));
        assert_eq!(serde_json::to_value(ByteSize(5)).unwrap(), 5);
    }

    #[test]
    fn default_thresholds_only_when_none_given() {
        let p: DiskParams = serde_json::from_value(serde_json::json!({"path": "/"})).unwrap();
        let t = p.thresholds();
        assert_eq!(t.warn_free_percent, Some(10.0));
        assert_eq!(t.fail_free_percent, Some(5.0));
        let p: DiskParams =
            serde_json::from_value(serde_json::json!({"path": "/", "fail_free_bytes": 10}))
                .unwrap();
        let t = p.thresholds();
        assert_eq!(t.warn_free_percent, None);
        assert_eq!(t.fail_free_bytes, Some(10));
    }

    #[test]
    fn judge_edges() {
        let t = Thresholds {
            warn_free_percent: Some(10.0),
            fail_free_percent: Some(5.0),
            warn_free_bytes: Some(1000),
            fail_free_bytes: Some(100),
        };
        assert_eq!(t.judge(50, 100_000), Outcome::Fail); // bytes and percent
        assert_eq!(t.judge(9_000, 100_000), Outcome::Warn); // 9 %
        assert_eq!(t.judge(10_000, 100_000), Outcome::Pass); // exactly 10 % is not below
        assert_eq!(t.judge(500, 1000), Outcome::Warn); // 50 % but under 1000 B
        assert_eq!(t.judge(0, 0), Outcome::Fail);
    }

    proptest! {
        #[test]
        fn more_free_space_is_never_worse(
            total in 1u64..1_000_000_000_000,
            a in 0u64..1_000_000_000_000,
            b in 0u64..1_000_000_000_000,
            w in 0.0f64..100.0,
            f in 0.0f64..100.0,
            wb in 0u64..1_000_000_000,
            fb in 0u64..1_000_000_000,
        ) {
            let (lo, hi) = (a.min(b).min(total), a.max(b).min(total));
            let t = Thresholds {
                warn_free_percent: Some(w.max(f)),
                fail_free_percent: Some(w.min(f)),
                warn_free_bytes: Some(wb.max(fb)),
                fail_free_bytes: Some(wb.min(fb)),
            };
            prop_assert!(rank(t.judge(hi, total)) <= rank(t.judge(lo, total)));
            let o = t.judge(lo, total);
            prop_assert!(matches!(o, Outcome::Pass | Outcome::Warn | Outcome::Fail));
        }
    }

    #[tokio::test]
    async fn temp_dir_passes_with_low_thresholds_and_write_test() {
        let dir = TempDir::new("ok");
        let o = DiskChecker
            .check(&spec(serde_json::json!({
                "path": dir.0, "fail_free_bytes": 1, "warn_free_bytes": 2,
                "write_test_dir": dir.0
            })))
            .await;
        assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
        let d = o.details.unwrap();
        assert!(d["total_bytes"].as_u64().unwrap() > 0);
        assert!(d["free_bytes"].as_u64().unwrap() <= d["total_bytes"].as_u64().unwrap());
        assert_eq!(d["write_test"]["ok"], true);
        // The test file is gone.
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn impossible_thresholds_warn_and_fail() {
        let dir = TempDir::new("th");
        let o = DiskChecker
            .check(&spec(serde_json::json!({
                "path": dir.0, "warn_free_bytes": "1000000TB", "fail_free_bytes": 1
            })))
            .await;
        assert_eq!(o.outcome, Outcome::Warn, "{o:?}");
        assert!(o.message.unwrap().contains("warn threshold"));
        let o = DiskChecker
            .check(&spec(serde_json::json!({
                "path": dir.0, "warn_free_percent": 100, "fail_free_percent": 99.9999
            })))
            .await;
        // Only a completely empty filesystem would pass this.
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
    }

    #[tokio::test]
    async fn missing_path_is_unknown() {
        let o = DiskChecker
            .check(&spec(
                serde_json::json!({"path": "/nonexistent/healthcore/disk"}),
            ))
            .await;
        assert_eq!(o.outcome, Outcome::Unknown, "{o:?}");
    }

    #[tokio::test]
    async fn write_test_into_a_file_path_fails() {
        // A "directory" that is a regular file: ENOTDIR, a real failure.
        let dir = TempDir::new("wf");
        let file = dir.0.join("plain");
        std::fs::write(&file, b"x").unwrap();
        let o = DiskChecker
            .check(&spec(serde_json::json!({
                "path": dir.0, "fail_free_bytes": 1, "warn_free_bytes": 2,
                "write_test_dir": file
            })))
            .await;
        assert_eq!(o.outcome, Outcome::Fail, "{o:?}");
        assert_eq!(o.details.unwrap()["write_test"]["ok"], false);
    }

    #[tokio::test]
    async fn write_test_in_missing_dir_is_unknown() {
        let dir = TempDir::new("wm");
        let o = DiskChecker
            .check(&spec(serde_json::json!({
                "path": dir.0, "fail_free_bytes": 1, "warn_free_bytes": 2,
                "write_test_dir": dir.0.join("missing")
            })))
            .await;
        assert_eq!(o.outcome, Outcome::Unknown, "{o:?}");
    }
}
