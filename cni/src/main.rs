//! The `nsplumb-cni` binary (see [`nsplumb_cni::entry`]).

fn main() -> std::process::ExitCode {
    nsplumb_cni::entry::main()
}
