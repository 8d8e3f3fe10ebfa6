//! Test-only crash hook: when `NSPLUMB_TEST_ABORT_AT` names a point, the process aborts there
//! (SIGABRT, no unwinding, no destructors), exactly as a crash would. The tests use it to prove
//! that a later process cleans up (SPEC R1). The points are the flows' crash points:
//! `before-kernel-attach`, `after-kernel-attach`, `before-kernel-detach`, `after-kernel-detach`.

pub const TEST_ABORT_ENV: &str = "NSPLUMB_TEST_ABORT_AT";

/// Abort here if the tests asked for a crash at `point`.
pub fn test_abort_point(point: &str) {
    if std::env::var_os(TEST_ABORT_ENV).is_some_and(|v| v == point) {
        eprintln!("nsplumb: {TEST_ABORT_ENV}={point}: aborting (test crash hook)");
        std::process::abort();
    }
}
