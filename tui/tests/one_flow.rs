//! The CLI and the TUI keep presentation and input only: both call the host-state layer's one
//! attach flow and one detach flow (with their crash-safety steps), and neither attaches,
//! detaches or keeps records on its own, so they cannot drift apart again (a failed gateway
//! once rolled the interface back in the CLI and kept it in the TUI).

fn source(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

// SPEC: G1
// SPEC: R1
#[test]
fn the_cli_and_the_tui_call_the_same_flows_and_no_other_attach() {
    for front_end in ["src/commands.rs", "src/app/run.rs"] {
        let text = source(front_end);
        for flow in [
            "nsplumb_host::attach(",
            "nsplumb_host::detach(",
            "nsplumb_host::refresh(",
        ] {
            assert!(text.contains(flow), "{front_end} does not call {flow}");
        }
        for own in [
            ".attach(&",
            ".reserve(",
            ".detach(&",
            "set_gateway(&netns",
            "test_abort_point",
            "state_file::save",
            "journal(",
        ] {
            assert!(!text.contains(own), "{front_end} does {own:?} itself");
        }
    }
}
