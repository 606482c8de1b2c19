//! Tests that need a program of the operating system (OpenSSH's `sshd`,
//! `redis-server`, …) say loudly when it is missing instead of failing on a
//! fresh machine, unless the run requires them (CI sets
//! [`REQUIRE_ENV`]` = 1`, after installing them, so there a missing program
//! is a failure, never a skip).
//!
//! ```
//! use healthcore::testkit::system;
//!
//! if !system::program_available("/usr/sbin/sshd") {
//!     system::skip_missing("against_a_real_sshd", "OpenSSH's sshd (bash .ci/probes-deps.sh)");
//!     return;
//! }
//! ```

use std::io::Write;
use std::path::Path;

/// Environment variable that turns a missing system program into a test
/// failure when set to `1`.
pub const REQUIRE_ENV: &str = "HEALTHCORE_REQUIRE_SYSTEM_DEPS";

/// True when missing system programs must fail the run.
pub fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// True when `program` is an existing path, or (without a `/`) a file in
/// one of the `PATH` directories.
pub fn program_available(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Says `test` was skipped because `what` is missing, straight to the
/// process's stderr (the harness captures `eprintln!` of passing tests);
/// panics instead when [`required`].
pub fn skip_missing(test: &str, what: &str) {
    if required() {
        panic!("{test}: {REQUIRE_ENV}=1 but {what} is missing");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {what} is missing; install it, or set {REQUIRE_ENV}=1 to make this a failure"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_the_path_and_by_path() {
        assert!(program_available("sh"));
        assert!(program_available("/bin/sh"));
        assert!(!program_available("surely-not-a-program-hc"));
        assert!(!program_available("/nonexistent/bin/x"));
    }
}
