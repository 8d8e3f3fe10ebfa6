//! Key handling on the pure update function: no terminal involved.

mod common;
use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use nsplumb_core::{Destination, Source};
use nsplumb_tui::app::form::FieldKey;
use nsplumb_tui::app::model::{Mode, Msg, PromptKind, Tab};
use nsplumb_tui::app::{update, Effect};

#[test]
fn arrows_and_vim_keys_move_the_selection_and_clamp() {
    let m = sample_model();
    assert_eq!(m.selected, 0);
    let (m, _) = key(m, KeyCode::Down);
    assert_eq!(m.selected, 1);
    let (m, _) = chr(m, 'j');
    assert_eq!(m.selected, 2);
    let (m, _) = chr(m, 'k');
    assert_eq!(m.selected, 1);
    let (m, _) = key(m, KeyCode::Up);
    let (m, _) = key(m, KeyCode::Up);
    assert_eq!(m.selected, 0, "clamped at the top");
    let (m, _) = chr(m, 'G');
    assert_eq!(m.selected, m.links.len() - 1);
    let (m, _) = chr(m, 'j');
    assert_eq!(m.selected, m.links.len() - 1, "clamped at the bottom");
    let (m, _) = chr(m, 'g');
    assert_eq!(m.selected, 0);
    let (m, _) = key(m, KeyCode::End);
    let (m, _) = key(m, KeyCode::Home);
    assert_eq!(m.selected, 0);
}

#[test]
fn views_switch_with_tab_numbers_and_h_l() {
    let m = sample_model();
    let (m, _) = key(m, KeyCode::Tab);
    assert_eq!(m.tab, Tab::Stats);
    let (m, _) = chr(m, 'l');
    assert_eq!(m.tab, Tab::Announce);
    let (m, _) = key(m, KeyCode::Right);
    assert_eq!(m.tab, Tab::Log);
    let (m, _) = key(m, KeyCode::Right);
    assert_eq!(m.tab, Tab::Interfaces);
    let (m, _) = chr(m, 'h');
    assert_eq!(m.tab, Tab::Log);
    let (m, _) = key(m, KeyCode::BackTab);
    assert_eq!(m.tab, Tab::Announce);
    let (m, _) = chr(m, '2');
    assert_eq!(m.tab, Tab::Stats);
    let (m, _) = chr(m, '1');
    assert_eq!(m.tab, Tab::Interfaces);
}

#[test]
fn question_mark_toggles_help_and_esc_closes_it() {
    let m = sample_model();
    let (m, _) = chr(m, '?');
    assert_eq!(m.mode, Mode::Help);
    let (m, _) = chr(m, 'j');
    assert_eq!(m.mode, Mode::Help, "keys do not leak through the overlay");
    assert_eq!(m.selected, 0);
    let (m, _) = chr(m, '?');
    assert_eq!(m.mode, Mode::Normal);
    let (m, _) = chr(m, '?');
    let (m, _) = key(m, KeyCode::Esc);
    assert_eq!(m.mode, Mode::Normal);
}

#[test]
fn q_and_ctrl_c_quit() {
    let (m, e) = chr(sample_model(), 'q');
    assert!(m.quit);
    assert_eq!(e, vec![Effect::Quit]);
    let (m, e) = update(
        sample_model(),
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert!(m.quit);
    assert_eq!(e, vec![Effect::Quit]);
}

fn form(m: &nsplumb_tui::app::Model) -> &nsplumb_tui::app::form::AttachForm {
    match &m.mode {
        Mode::Form(f) => f,
        other => panic!("expected the form, got {other:?}"),
    }
}

#[test]
fn form_navigation_with_tab_arrows_and_choices() {
    let m = sample_model();
    let (m, _) = chr(m, 'a');
    assert_eq!(form(&m).focus, 0);
    assert_eq!(form(&m).get(FieldKey::Namespace), "ctr1");
    let (m, _) = key(m, KeyCode::Tab);
    assert_eq!(form(&m).focused().key, FieldKey::SourceKind);
    let (m, _) = key(m, KeyCode::Right);
    assert_eq!(form(&m).get(FieldKey::SourceKind), "host link");
    let (m, _) = key(m, KeyCode::Left);
    assert_eq!(form(&m).get(FieldKey::SourceKind), "new veth on bridge");
    let (m, _) = key(m, KeyCode::Down);
    assert_eq!(form(&m).focused().key, FieldKey::Source);
    let (m, _) = key(m, KeyCode::Up);
    let (m, _) = key(m, KeyCode::BackTab);
    assert_eq!(form(&m).focus, 0);
    let (m, _) = key(m, KeyCode::BackTab);
    assert_eq!(form(&m).focused().key, FieldKey::DadTimeout, "wraps around");
    // Letters are typed into the field, not taken as vim keys.
    let m = typed(m, "100");
    let (m, _) = key(m, KeyCode::Backspace);
    let m = typed(m, "j");
    assert_eq!(form(&m).get(FieldKey::DadTimeout), "10j");
    let (m, _) = key(m, KeyCode::Esc);
    assert_eq!(m.mode, Mode::Normal);
}

// SPEC: V3
// SPEC: V7
// SPEC: V8
#[test]
fn submit_with_invalid_fields_shows_every_error_inline_and_emits_nothing() {
    let m = sample_model();
    let (mut m, _) = chr(m, 'a');
    // MAC field: multicast; announce count 4; interval 50.
    for _ in 0..5 {
        m = key(m, KeyCode::Down).0;
    }
    assert_eq!(form(&m).focused().key, FieldKey::Mac);
    m = typed(m, "01:00:5e:00:00:01");
    for _ in 0..8 {
        m = key(m, KeyCode::Down).0;
    }
    assert_eq!(form(&m).focused().key, FieldKey::AnnounceCount);
    m = key(m, KeyCode::Backspace).0;
    m = typed(m, "4");
    m = key(m, KeyCode::Down).0;
    for _ in 0..4 {
        m = key(m, KeyCode::Backspace).0;
    }
    m = typed(m, "50");
    let (m, effects) = key(m, KeyCode::Enter);
    assert!(effects.is_empty(), "nothing is attached: {effects:?}");
    let f = form(&m);
    assert_eq!(
        f.errors.get(&FieldKey::AnnounceCount).map(String::as_str),
        Some("announce count 4 is not in the range 0 to 3")
    );
    assert!(
        f.errors[&FieldKey::Mac].contains("must be unicast"),
        "{:?}",
        f.errors
    );
    assert!(
        f.errors[&FieldKey::AnnounceInterval].contains("announce_interval_ms")
            && f.errors[&FieldKey::AnnounceInterval].contains("50 ms"),
        "{:?}",
        f.errors
    );
    assert_eq!(
        f.focused().key,
        FieldKey::Mac,
        "focus moves to the first bad field"
    );
    // Fixing a field clears its error live after the first submit.
    let mut m = m;
    for _ in 0.."01:00:5e:00:00:01".len() {
        m = key(m, KeyCode::Backspace).0;
    }
    assert!(!form(&m).errors.contains_key(&FieldKey::Mac));
    assert!(form(&m).errors.contains_key(&FieldKey::AnnounceCount));
}

#[test]
fn submit_valid_form_emits_attach() {
    let (mut m, _) = chr(sample_model(), 'a');
    for _ in 0..6 {
        m = key(m, KeyCode::Down).0;
    }
    m = typed(m, "192.0.2.30/24");
    let (m, effects) = key(m, KeyCode::Enter);
    assert_eq!(m.mode, Mode::Normal);
    match &effects[..] {
        [Effect::Attach {
            netns,
            spec,
            gateway,
        }] => {
            assert_eq!(netns, &ns("ctr1"));
            assert!(matches!(&spec.source, Source::VethOnBridge { bridge, .. } if bridge == "br0"));
            assert_eq!(spec.destination, Destination::Prefix("eth".into()));
            assert_eq!(spec.ipv4.as_deref(), Some("192.0.2.30/24"));
            assert_eq!(*gateway, None);
        }
        other => panic!("{other:?}"),
    }
}

/// Moves the form's focus to `field` with Tab.
fn focus(mut m: nsplumb_tui::app::Model, field: FieldKey) -> nsplumb_tui::app::Model {
    for _ in 0..form(&m).fields.len() {
        if form(&m).focused().key == field {
            return m;
        }
        m = key(m, KeyCode::Tab).0;
    }
    panic!("the form has no {field:?}");
}

// SPEC: L1
// SPEC: L2
// SPEC: L3
// SPEC: L4
// SPEC: L5
#[test]
fn the_form_asks_for_every_link_option() {
    let (mut m, _) = chr(sample_model(), 'a');
    m = focus(m, FieldKey::Ipv6);
    m = typed(m, "fd00::30/64");
    m = focus(m, FieldKey::Mtu);
    m = typed(m, "1400");
    for switch in [
        FieldKey::Hairpin,
        FieldKey::Isolated,
        FieldKey::KeepDefaultVlan,
        FieldKey::Dad,
    ] {
        m = focus(m, switch);
        assert_eq!(form(&m).get(switch), "off");
        m = key(m, KeyCode::Right).0;
        assert_eq!(form(&m).get(switch), "on");
    }
    m = focus(m, FieldKey::Vlan);
    m = typed(m, "10");
    m = focus(m, FieldKey::VlanTrunk);
    m = typed(m, "20, 30-40");
    m = focus(m, FieldKey::DadTimeout);
    m = typed(m, "500");
    let (m, effects) = key(m, KeyCode::Enter);
    assert_eq!(m.mode, Mode::Normal);
    let [Effect::Attach { spec, .. }] = &effects[..] else {
        panic!("{effects:?}");
    };
    assert_eq!(spec.mtu, Some(1400));
    assert!(spec.hairpin && spec.isolated && spec.keep_default_vlan && spec.dad);
    assert_eq!(spec.vlan, Some(10));
    assert_eq!(spec.vlan_trunk, ["20", "30-40"]);
    assert_eq!(spec.dad_timeout_ms, Some(500));
}

// SPEC: L1
// SPEC: L2
// SPEC: L3
// SPEC: L5
#[test]
fn bad_link_options_are_shown_under_their_fields() {
    let (mut m, _) = chr(sample_model(), 'a');
    // A new bridge cannot take port options.
    m = focus(m, FieldKey::SourceKind);
    m = key(m, KeyCode::Right).0;
    m = key(m, KeyCode::Right).0;
    assert_eq!(form(&m).get(FieldKey::SourceKind), "new bridge");
    m = focus(m, FieldKey::Mtu);
    m = typed(m, "67");
    m = focus(m, FieldKey::Hairpin);
    m = key(m, KeyCode::Right).0;
    m = focus(m, FieldKey::Vlan);
    m = typed(m, "x");
    m = focus(m, FieldKey::VlanTrunk);
    m = typed(m, "30-20");
    m = focus(m, FieldKey::DadTimeout);
    m = typed(m, "500");
    let (m, effects) = key(m, KeyCode::Enter);
    assert!(effects.is_empty(), "nothing is attached: {effects:?}");
    let e = &form(&m).errors;
    assert!(
        e[&FieldKey::Mtu].contains("mtu") && e[&FieldKey::Mtu].contains("67"),
        "{e:?}"
    );
    assert!(
        e[&FieldKey::Hairpin].contains("hairpin needs a veth on a bridge"),
        "{e:?}"
    );
    assert!(e[&FieldKey::Vlan].contains(r#"vlan "x""#), "{e:?}");
    assert!(e[&FieldKey::VlanTrunk].contains("30-20"), "{e:?}");
    assert!(e[&FieldKey::DadTimeout].contains("needs dad"), "{e:?}");
}

#[test]
fn detach_only_managed_interfaces() {
    let m = sample_model();
    let (m, e) = chr(m, 'd');
    assert!(e.is_empty(), "host lo is not managed");
    assert!(matches!(&m.status, Some((false, s)) if s.contains("not attached")));
    let mut m = m;
    for _ in 0..4 {
        m = chr(m, 'j').0;
    }
    assert_eq!(m.links[m.selected].name, "eth0");
    let (_, e) = chr(m, 'd');
    assert_eq!(
        e,
        vec![Effect::Detach {
            netns: ns("ctr1"),
            name: "eth0".into()
        }]
    );
}

// SPEC: V6
#[test]
fn sysctl_mac_and_gateway_prompts_validate() {
    let mut m = sample_model();
    for _ in 0..4 {
        m = chr(m, 'j').0;
    }
    let (m, _) = chr(m, 's');
    assert!(matches!(&m.mode, Mode::Prompt(p) if p.kind == PromptKind::Sysctl));
    let (m, e) = key(m, KeyCode::Enter);
    assert_eq!(
        e,
        vec![Effect::SetSysctl {
            netns: ns("ctr1"),
            iface: "eth0".into(),
            path: "net/ipv4/conf/eth0/arp_notify".into(),
            value: "1".into()
        }]
    );
    let (m, _) = chr(m, 's');
    let mut m = m;
    for _ in 0..40 {
        m = key(m, KeyCode::Backspace).0;
    }
    let m = typed(m, "net.ipv4.conf.eth0.x=1");
    let (m, e) = key(m, KeyCode::Enter);
    assert!(e.is_empty());
    assert!(matches!(&m.mode, Mode::Prompt(p) if p.error.as_deref().unwrap().contains("IFNAME")));
    let (m, _) = key(m, KeyCode::Esc);
    let (m, _) = chr(m, 'm');
    let mut m = m;
    for _ in 0..17 {
        m = key(m, KeyCode::Backspace).0;
    }
    let m = typed(m, "02:11:22:33:44:55");
    let (m, e) = key(m, KeyCode::Enter);
    assert!(
        matches!(&e[..], [Effect::SetMac { mac, .. }] if mac.to_string() == "02:11:22:33:44:55")
    );
    let (m, _) = chr(m, 'w');
    let m = typed(m, "192.0.2.1");
    let (_, e) = key(m, KeyCode::Enter);
    assert!(
        matches!(&e[..], [Effect::SetGateway { gateway, .. }] if gateway.to_string() == "192.0.2.1")
    );
}

#[test]
fn fault_menu_on_the_simulator() {
    let (m, _) = chr(sample_model(), 'f');
    assert_eq!(m.mode, Mode::Fault(0));
    let (m, _) = chr(m, 'j');
    let (m, _) = key(m, KeyCode::Down);
    let (m, e) = key(m, KeyCode::Enter);
    assert_eq!(m.mode, Mode::Normal);
    assert!(matches!(
        &e[..],
        [Effect::InjectFault {
            op: nsplumb_core::Op::SetLinkUp,
            ..
        }]
    ));
    let mut linux = sample_model();
    linux.sim = false;
    let (m, _) = chr(linux, 'f');
    assert_eq!(m.mode, Mode::Normal);
}

#[test]
fn mouse_click_selects_a_row_and_wheel_scrolls() {
    let m = sample_model();
    let click = |row| {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 10,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    // Row 0 tabs, row 1 the border, row 2 the header, row 3 the first link.
    let (m, _) = update(m, click(5));
    assert_eq!(m.selected, 2);
    let (m, _) = update(
        m,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: 10,
            row: 5,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert_eq!(m.selected, 5);
    // A click on the tab bar switches views.
    let (m, _) = update(
        m,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 18,
            row: 0,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert_eq!(m.tab, Tab::Stats);
}

#[test]
fn resize_keeps_the_selection_visible() {
    let mut m = sample_model();
    m = chr(m, 'G').0;
    let (m, _) = update(m, Msg::Resize(80, 14));
    assert_eq!(m.size, (80, 14));
    assert!(m.offset <= m.selected);
    assert!(m.selected < m.offset + 12);
}

#[test]
fn n_cycles_the_namespace_filter() {
    let m = sample_model();
    assert_eq!(m.row_count(), 8);
    let (m, _) = chr(m, 'n');
    assert_eq!(m.ns_filter, Some(nsplumb_core::NetnsRef::Host));
    assert_eq!(m.row_count(), 3);
    let (m, _) = chr(m, 'n');
    assert_eq!(m.ns_filter, Some(ns("ctr1")));
    assert_eq!(m.row_count(), 2);
    let (m, _) = chr(m, 'j');
    assert_eq!(m.selected_link().unwrap().name, "eth0");
    // The attach form defaults to the shown namespace.
    let (m2, _) = chr(m.clone(), 'a');
    assert!(matches!(&m2.mode, Mode::Form(f) if f.get(FieldKey::Namespace) == "ctr1"));
    let (m, _) = chr(m, 'n');
    let (m, _) = chr(m, 'n');
    assert_eq!(m.ns_filter, Some(ns("ctr3")));
    let (m, _) = chr(m, 'n');
    assert_eq!(m.ns_filter, None);
    assert_eq!(m.row_count(), 8);
}

#[test]
fn paging_refresh_and_delete_keys() {
    let mut m = sample_model();
    m = update(m, Msg::Resize(120, 16)).0; // 5 visible rows
    let (m, _) = key(m, KeyCode::PageDown);
    assert!(m.selected >= 4, "{}", m.selected);
    let (m, _) = key(m, KeyCode::PageUp);
    assert_eq!(m.selected, 0);
    let (m, _) = update(
        m,
        Msg::Key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL)),
    );
    assert!(m.selected > 0, "Ctrl-d pages down, it does not detach");
    let (m, _) = update(
        m,
        Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
    );
    assert_eq!(m.selected, 0);
    let (m, e) = chr(m, 'r');
    assert_eq!(e, vec![Effect::Refresh]);
    let mut m = m;
    for _ in 0..4 {
        m = chr(m, 'j').0;
    }
    let (_, e) = key(m, KeyCode::Delete);
    assert!(matches!(&e[..], [Effect::Detach { name, .. }] if name == "eth0"));
}
