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
