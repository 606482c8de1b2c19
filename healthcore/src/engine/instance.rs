//! Instance ids: who holds a lease, and a part of every id this engine
//! makes (alerts, heal events, audit rows).
//!
//! An id is `{prefix}-{16 hex digits}`: the prefix is the operator's
//! ([`EngineBuilder::instance_id`](super::EngineBuilder::instance_id),
//! default [`DEFAULT_PREFIX`]), the suffix 64 random bits drawn at every
//! build. So two processes given the same prefix — or two starts of one,
//! or two engines in one process — never share a lease owner: one of them
//! giving its leases back at shutdown never releases the other's.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ValidationError;

/// The prefix when none is set.
pub(crate) const DEFAULT_PREFIX: &str = "hc";

/// Longest prefix accepted.
const MAX_PREFIX: usize = 64;

/// Checks an operator's prefix: 1..=64 characters, none of them
/// whitespace or control characters.
pub(crate) fn validate_prefix(prefix: &str) -> Result<(), ValidationError> {
    if prefix.is_empty() || prefix.chars().count() > MAX_PREFIX {
        return Err(ValidationError::new(
            "instance_id",
            format!("the prefix must be 1..={MAX_PREFIX} characters"),
        ));
    }
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::new(
            "instance_id",
            "the prefix must not contain whitespace or control characters",
        ));
    }
    Ok(())
}

/// A fresh id: `prefix`, a dash, 64 random bits in hex.
pub(crate) fn fresh(prefix: &str) -> String {
    format!("{prefix}-{:016x}", random_u64())
}

/// 64 random bits from std's randomly keyed SipHash: its 128-bit keys come
/// from the operating system's randomness once per thread (each new
/// `RandomState` of that thread steps them), and the input (a counter, the
/// process id and the time) differs at every call. No dependency needed.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_prefix_and_64_fresh_bits() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| fresh("node")).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let suffix = id.strip_prefix("node-").expect("prefix kept");
            assert_eq!(suffix.len(), 16, "{id}");
            assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(validate_prefix("node-a.eu_1").is_ok());
        for bad in ["", "a b", "x\n", &"p".repeat(65)] {
            let e = validate_prefix(bad).expect_err(bad);
            assert_eq!(e.field(), "instance_id");
        }
    }
}
