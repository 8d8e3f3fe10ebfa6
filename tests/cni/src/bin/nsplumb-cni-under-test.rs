//! The workspace's `nsplumb-cni`, built as a binary of this test crate so that
//! `cargo test -p nsplumb-cni-tests` has it (cargo builds no binary of a dependency); the
//! harness links it into each test's plugin directory as `nsplumb-cni`.

fn main() -> std::process::ExitCode {
    nsplumb_cni::entry::main()
}
