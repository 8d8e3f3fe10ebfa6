//! SPEC S8 as a test sees it from outside: what "the announcing process was stopped before
//! detach returned" means.

use nsplumb_host::ProcessRef;
use std::process::Child;
use std::time::{Duration, Instant};

/// The attach process `child` (recorded as `process` while it announced), right after a detach
/// from another process returned: it can no longer send (every thread has exited or is in its
/// exit, which may still be closing its sockets), and it is gone soon after.
pub fn assert_stopped_before_detach_returned(child: &mut Child, process: ProcessRef) {
    assert!(
        process.is_exiting_or_gone(),
        "the announcing process can still run when detach returns"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the announcing process has not exited 2 s after detach returned"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
