//! Support for kernel tests: privilege and isolation, throwaway namespaces, observed state, the
//! machine's settings for the simulator.
//!
//! Every kernel test starts with `if !privilege::enter("its_name") { return; }`: the body then
//! runs in an isolated child process whose own network namespace stands in for the host (see
//! [`privilege`]), and builds its topology with a [`fixture::Fixture`].

pub mod capture;
pub mod differential;
pub mod fixture;
pub mod host_settings;
pub mod privilege;
pub mod state;
