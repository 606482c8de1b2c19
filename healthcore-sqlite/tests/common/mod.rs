//! Helpers shared by the integration tests: scratch database paths under
//! cargo's per-target temporary folder.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A scratch folder for this test binary, emptied once per process.
pub fn scratch(binary: &str) -> PathBuf {
    static CLEANED: OnceLock<()> = OnceLock::new();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("healthcore-sqlite")
        .join(binary);
    CLEANED.get_or_init(|| {
        let _ = std::fs::remove_dir_all(&dir);
    });
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A path no other test in this process uses.
pub fn fresh_db(binary: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    scratch(binary).join(format!("{}-{n}.db", std::process::id()))
}
