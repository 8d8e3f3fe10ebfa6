//! Snapshot tests of the main views (ratatui `TestBackend` + insta).

mod common;
use common::*;
use crossterm::event::KeyCode;
use nsplumb_tui::app::model::Model;
use nsplumb_tui::app::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn render(m: &Model) -> String {
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    t.draw(|f| view(m, f)).unwrap();
    t.backend().to_string()
}

#[test]
fn interfaces_view() {
    insta::assert_snapshot!(render(&sample_model()));
}

#[test]
fn statistics_view_with_rates_and_sparklines() {
    let (m, _) = chr(sample_model(), '2');
    insta::assert_snapshot!(render(&m));
}

// SPEC: S9
#[test]
fn announce_progress_view() {
    let (m, _) = chr(sample_model(), '3');
    let out = render(&m);
    assert!(out.contains("1/3"), "{out}");
    assert!(out.contains("0.7s"), "time to the next send: {out}");
    assert!(
        out.contains("done")
            && out.contains("cancelled")
            && out.contains("MAC address changed")
            && out.contains("send error")
    );
    insta::assert_snapshot!(out);
}

#[test]
fn event_log_view() {
    let (m, _) = chr(sample_model(), '4');
    insta::assert_snapshot!(render(&m));
}

#[test]
fn help_overlay() {
    let (m, _) = chr(sample_model(), '?');
    insta::assert_snapshot!(render(&m));
}

// SPEC: V7
#[test]
fn attach_form_with_inline_validation_errors() {
    let (mut m, _) = chr(sample_model(), 'a');
    for _ in 0..6 {
        m = key(m, KeyCode::Down).0;
    }
    m = typed(m, "192.0.2.300/24");
    for _ in 0..7 {
        m = key(m, KeyCode::Down).0;
    }
    m = key(m, KeyCode::Backspace).0;
    m = typed(m, "4");
    let (m, _) = key(m, KeyCode::Enter);
    let out = render(&m);
    assert!(
        out.contains("announce count 4 is not in the range 0 to 3"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn fault_injection_menu() {
    let (m, _) = chr(sample_model(), 'f');
    insta::assert_snapshot!(render(&m));
}

/// Any terminal size, any overlay: drawing never panics (resize robustness).
#[test]
fn every_view_and_overlay_draws_at_any_size() {
    let base = sample_model();
    let modes: Vec<Model> = ['1', '2', '3', '4', '?', 'a', 'f', 's']
        .into_iter()
        .map(|c| {
            let (m, _) = chr(base.clone(), 'j');
            let (m, _) = chr(m, 'j');
            let (m, _) = chr(m, 'j');
            let (m, _) = chr(m, 'j');
            chr(m, c).0
        })
        .collect();
    for (w, h) in [(1, 1), (10, 3), (40, 10), (80, 24), (200, 60), (300, 100)] {
        for m in &modes {
            let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
            t.draw(|f| view(m, f)).unwrap();
        }
    }
}

#[test]
fn namespace_labels() {
    use nsplumb_core::NetnsRef;
    use nsplumb_tui::app::model::ns_label;
    assert_eq!(ns_label(&NetnsRef::Host), "host");
    assert_eq!(ns_label(&NetnsRef::Path("/run/netns/ctr1".into())), "ctr1");
    assert_eq!(
        ns_label(&NetnsRef::Path("/proc/42/ns/net".into())),
        "pid:42"
    );
    assert_eq!(
        ns_label(&NetnsRef::Path("/var/run/docker/netns/abc".into())),
        "docker:abc"
    );
    assert_eq!(ns_label(&NetnsRef::Path("/tmp/x".into())), "/tmp/x");
}
