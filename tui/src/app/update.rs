//! The pure update: `update(model, msg) -> (model, effects)`. No I/O, no clock: unit-testable.

use super::form::AttachForm;
use super::model::*;
use super::view::{layout, tab_at};
use crate::simworld::FAULT_MENU;
use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEventKind,
};
use nsplumb_core::{validate, Destination, EventKind, NetnsRef, Source, Spec};
use ratatui::layout::Rect;

pub fn update(mut m: Model, msg: Msg) -> (Model, Vec<Effect>) {
    let effects = match msg {
        Msg::Key(k) => {
            if k.kind == KeyEventKind::Release {
                Vec::new()
            } else {
                key(&mut m, k)
            }
        }
        Msg::Mouse(ev) => {
            mouse(&mut m, ev);
            Vec::new()
        }
        Msg::Resize(w, h) => {
            m.size = (w, h);
            scroll_into_view(&mut m);
            Vec::new()
        }
        Msg::Snapshot(s) => {
            snapshot(&mut m, s);
            Vec::new()
        }
        Msg::Event(e) => {
            event(&mut m, &e);
            Vec::new()
        }
        Msg::Done(r) => {
            match r {
                Ok(s) => {
                    m.push_log(s.clone());
                    m.status = Some((true, s));
                }
                Err(s) => {
                    m.push_log(format!("error: {s}"));
                    m.status = Some((false, s));
                }
            }
            vec![Effect::Refresh]
        }
        Msg::Tick(now) => {
            m.now = now;
            Vec::new()
        }
    };
    (m, effects)
}

fn ctrl(k: &KeyEvent, c: char) -> bool {
    k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char(c)
}

fn key(m: &mut Model, k: KeyEvent) -> Vec<Effect> {
    if ctrl(&k, 'c') {
        m.quit = true;
        return vec![Effect::Quit];
    }
    match std::mem::replace(&mut m.mode, Mode::Normal) {
        Mode::Normal => normal_key(m, k),
        Mode::Help => {
            if !matches!(
                k.code,
                KeyCode::Char('?') | KeyCode::Esc | KeyCode::Char('q')
            ) {
                m.mode = Mode::Help;
            }
            Vec::new()
        }
        Mode::Form(form) => form_key(m, *form, k),
        Mode::Prompt(p) => prompt_key(m, p, k),
        Mode::Fault(i) => fault_key(m, i, k),
    }
}

fn visible_rows(m: &Model) -> usize {
    let a = layout(Rect::new(0, 0, m.size.0, m.size.1), m.tab);
    a.body.height.saturating_sub(3).max(1) as usize
}

fn scroll_into_view(m: &mut Model) {
    let n = m.row_count();
    if n == 0 {
        m.selected = 0;
        m.offset = 0;
        return;
    }
    m.selected = m.selected.min(n - 1);
    let vis = visible_rows(m);
    if m.selected < m.offset {
        m.offset = m.selected;
    }
    if m.selected >= m.offset + vis {
        m.offset = m.selected + 1 - vis;
    }
    m.offset = m.offset.min(n.saturating_sub(vis));
}

fn move_by(m: &mut Model, delta: isize) {
    let n = m.row_count();
    if n == 0 {
        return;
    }
    let s = m.selected as isize + delta;
    m.selected = s.clamp(0, n as isize - 1) as usize;
    scroll_into_view(m);
}

fn set_tab(m: &mut Model, tab: Tab) {
    if m.tab != tab {
        m.tab = tab;
        m.selected = 0;
        m.offset = 0;
        if tab == Tab::Log {
            m.selected = m.log.len().saturating_sub(1);
        }
        scroll_into_view(m);
    }
}

fn cycle_tab(m: &mut Model, forward: bool) {
    let i = Tab::ALL.iter().position(|t| *t == m.tab).unwrap_or(0);
    let n = Tab::ALL.len();
    let j = if forward {
        (i + 1) % n
    } else {
        (i + n - 1) % n
    };
    set_tab(m, Tab::ALL[j]);
}

fn normal_key(m: &mut Model, k: KeyEvent) -> Vec<Effect> {
    let page = visible_rows(m) as isize;
    match k.code {
        KeyCode::Char('q') => {
            m.quit = true;
            return vec![Effect::Quit];
        }
        KeyCode::Char('?') => m.mode = Mode::Help,
        KeyCode::Esc => m.status = None,
        KeyCode::Char('d') if k.modifiers.contains(KeyModifiers::CONTROL) => move_by(m, page / 2),
        KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => {
            move_by(m, -(page / 2))
        }
        KeyCode::Down | KeyCode::Char('j') => move_by(m, 1),
        KeyCode::Up | KeyCode::Char('k') => move_by(m, -1),
        KeyCode::PageDown => move_by(m, page),
        KeyCode::PageUp => move_by(m, -page),
        KeyCode::Home | KeyCode::Char('g') => move_by(m, -(m.row_count() as isize)),
        KeyCode::End | KeyCode::Char('G') => move_by(m, m.row_count() as isize),
        KeyCode::Tab | KeyCode::Right | KeyCode::Char('l') => cycle_tab(m, true),
        KeyCode::BackTab | KeyCode::Left | KeyCode::Char('h') => cycle_tab(m, false),
        KeyCode::Char(c @ '1'..='4') => set_tab(m, Tab::ALL[(c as u8 - b'1') as usize]),
        KeyCode::Char('r') => return vec![Effect::Refresh],
        KeyCode::Char('n') => {
            // Cycle: all namespaces → each namespace → all.
            let next = match &m.ns_filter {
                None => m.namespaces.first().cloned(),
                Some(cur) => {
                    let i = m.namespaces.iter().position(|n| n == cur);
                    i.and_then(|i| m.namespaces.get(i + 1)).cloned()
                }
            };
            m.ns_filter = next;
            m.rebuild_view();
            m.selected = 0;
            m.offset = 0;
            scroll_into_view(m);
        }
        KeyCode::Char('a') => {
            let ns = m
                .selected_namespace()
                .map(|n| super::model::ns_label(&n))
                .unwrap_or_default();
            m.mode = Mode::Form(Box::new(AttachForm::new(&ns, &m.default_bridge)));
        }
        KeyCode::Char('d') | KeyCode::Delete => match m.selected_link() {
            Some(l) if l.managed.is_some() => {
                let (netns, name) = l.key();
                m.status = Some((
                    true,
                    format!("detaching {name} from {}…", netns.short_name()),
                ));
                return vec![Effect::Detach { netns, name }];
            }
            Some(l) => {
                m.status = Some((
                    false,
                    format!("{} is not attached by nsplumb: nothing to detach", l.name),
                ))
            }
            None => m.status = Some((false, "select an interface first".into())),
        },
        KeyCode::Char(c @ ('s' | 'm' | 'w')) => {
            let kind = match c {
                's' => PromptKind::Sysctl,
                'm' => PromptKind::Mac,
                _ => PromptKind::Gateway,
            };
            match m.selected_link() {
                Some(l) => {
                    let input = match kind {
                        PromptKind::Sysctl => "net.ipv4.conf.IFNAME.arp_notify=1".to_string(),
                        PromptKind::Mac => l.mac.clone().unwrap_or_default(),
                        PromptKind::Gateway => String::new(),
                    };
                    m.mode = Mode::Prompt(Prompt {
                        kind,
                        netns: l.netns.clone(),
                        iface: l.name.clone(),
                        input,
                        error: None,
                    });
                }
                None => m.status = Some((false, "select an interface first".into())),
            }
        }
        KeyCode::Char('f') => {
            if m.sim {
                m.mode = Mode::Fault(0);
            } else {
                m.status = Some((
                    false,
                    "fault injection is only available on the simulator".into(),
                ));
            }
        }
        _ => {}
    }
    Vec::new()
}

fn resolve_ns(m: &Model, input: &str) -> NetnsRef {
    m.namespaces
        .iter()
        .find(|n| n.short_name() == input || n.to_string() == input || ns_label(n) == input)
        .cloned()
        .unwrap_or_else(|| NetnsRef::from_name_or_path(input))
}

fn form_key(m: &mut Model, mut form: AttachForm, k: KeyEvent) -> Vec<Effect> {
    match k.code {
        KeyCode::Esc => {
            m.status = Some((true, "attach cancelled".into()));
            return Vec::new();
        }
        KeyCode::Tab | KeyCode::Down => form.next(),
        KeyCode::BackTab | KeyCode::Up => form.prev(),
        KeyCode::Left => form.cycle(false),
        KeyCode::Right => form.cycle(true),
        KeyCode::Backspace => form.backspace(),
        KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => form.clear(),
        KeyCode::Enter => {
            form.submitted = true;
            match form.validate() {
                Some(req) => {
                    let netns = resolve_ns(m, req.netns.short_name());
                    m.status = Some((
                        true,
                        format!(
                            "attaching {} in {}…",
                            req.spec.source.name(),
                            netns.short_name()
                        ),
                    ));
                    return vec![Effect::Attach {
                        netns,
                        spec: Box::new(req.spec),
                        gateway: req.gateway,
                    }];
                }
                None => {
                    // Focus the first field with an error.
                    if let Some(first) = form.errors.keys().next() {
                        if let Some(i) = form.fields.iter().position(|f| f.key == *first) {
                            form.focus = i;
                        }
                    }
                    m.status = Some((
                        false,
                        format!("{} field(s) need attention", form.errors.len()),
                    ));
                }
            }
        }
        KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => form.type_char(c),
        _ => {}
    }
    m.mode = Mode::Form(Box::new(form));
    Vec::new()
}

fn prompt_key(m: &mut Model, mut p: Prompt, k: KeyEvent) -> Vec<Effect> {
    match k.code {
        KeyCode::Esc => return Vec::new(),
        KeyCode::Backspace => {
            p.input.pop();
        }
        KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => p.input.clear(),
        KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => p.input.push(c),
        KeyCode::Enter => match prompt_effect(&p) {
            Ok(effect) => return vec![effect],
            Err(e) => p.error = Some(e),
        },
        _ => {}
    }
    m.mode = Mode::Prompt(p);
    Vec::new()
}

/// Validate a prompt's input with the SPEC rules (V3 for a MAC, V6 for a sysctl).
pub fn prompt_effect(p: &Prompt) -> Result<Effect, String> {
    let input = p.input.trim();
    let base = || {
        Spec::new(
            Source::HostLink(p.iface.clone()),
            Destination::Name(p.iface.clone()),
        )
    };
    match p.kind {
        PromptKind::Sysctl => {
            let mut spec = base();
            spec.sysctls = vec![input.to_string()];
            match validate(&spec) {
                Ok(v) => {
                    let s = &v.sysctls[0];
                    Ok(Effect::SetSysctl {
                        netns: p.netns.clone(),
                        iface: p.iface.clone(),
                        path: s.path_for(&p.iface),
                        value: s.value.clone(),
                    })
                }
                Err(e) => Err(e
                    .problems
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")),
            }
        }
        PromptKind::Mac => {
            let mut spec = base();
            spec.mac = Some(input.to_string());
            match validate(&spec) {
                Ok(v) => Ok(Effect::SetMac {
                    netns: p.netns.clone(),
                    iface: p.iface.clone(),
                    mac: v.mac.expect("validated MAC"),
                }),
                Err(e) => Err(e
                    .problems
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")),
            }
        }
        PromptKind::Gateway => match input.parse() {
            Ok(gateway) => Ok(Effect::SetGateway {
                netns: p.netns.clone(),
                gateway,
            }),
            Err(_) => Err(format!("gateway {input:?}: is not an IP address")),
        },
    }
}

fn fault_key(m: &mut Model, mut i: usize, k: KeyEvent) -> Vec<Effect> {
    let n = FAULT_MENU.len();
    match k.code {
        KeyCode::Esc | KeyCode::Char('q') => return Vec::new(),
        KeyCode::Down | KeyCode::Char('j') => i = (i + 1) % n,
        KeyCode::Up | KeyCode::Char('k') => i = (i + n - 1) % n,
        KeyCode::Enter => {
            let (op, errno) = FAULT_MENU[i];
            return vec![Effect::InjectFault { op, errno }];
        }
        _ => {}
    }
    m.mode = Mode::Fault(i);
    Vec::new()
}

fn mouse(m: &mut Model, ev: crossterm::event::MouseEvent) {
    if m.mode != Mode::Normal {
        return;
    }
    match ev.kind {
        MouseEventKind::ScrollDown => move_by(m, 3),
        MouseEventKind::ScrollUp => move_by(m, -3),
        MouseEventKind::Down(MouseButton::Left) => {
            let a = layout(Rect::new(0, 0, m.size.0, m.size.1), m.tab);
            if ev.row == a.tabs.y {
                if let Some(t) = tab_at(ev.column) {
                    set_tab(m, t);
                }
                return;
            }
            let first = a.body.y + 2;
            let last = a.body.y + a.body.height.saturating_sub(1);
            if ev.row >= first && ev.row < last && ev.column >= a.body.x {
                let i = m.offset + (ev.row - first) as usize;
                if i < m.row_count() {
                    m.selected = i;
                    scroll_into_view(m);
                }
            }
        }
        _ => {}
    }
}

fn snapshot(m: &mut Model, s: Snapshot) {
    let selected_key = m.selected_link().map(|l| l.key());
    for (key, st) in s.stats {
        let h = m.stats.entry(key).or_default();
        let dt = s.at.saturating_since(h.at).as_secs_f64();
        if h.at != nsplumb_core::Timestamp::ZERO && dt > 0.0 {
            h.rx_rate = st.rx_bytes.saturating_sub(h.last.rx_bytes) as f64 / dt;
            h.tx_rate = st.tx_bytes.saturating_sub(h.last.tx_bytes) as f64 / dt;
            if h.history.len() >= HISTORY {
                h.history.pop_front();
            }
            h.history.push_back((h.rx_rate + h.tx_rate) as u64);
        }
        h.last = st;
        h.at = s.at;
    }
    m.namespaces = s.namespaces;
    m.links = s.links;
    m.rebuild_view();
    m.now = m.now.max(s.at);
    if matches!(m.tab, Tab::Interfaces | Tab::Stats) {
        if let Some(key) = selected_key {
            if let Some(i) = m.view.iter().position(|&i| m.links[i].key() == key) {
                m.selected = i;
            }
        }
    }
    scroll_into_view(m);
}

fn event(m: &mut Model, e: &nsplumb_core::Event) {
    let key = (e.netns.clone(), e.iface.clone());
    let secs = e.at.as_duration().as_secs_f64();
    let who = format!("{}/{}", ns_label(&e.netns), e.iface);
    let line = match &e.kind {
        EventKind::Phase(p) => {
            if let Some(pr) = m.progress.get_mut(&key) {
                pr.phase = Some(p.as_str().to_string());
            }
            format!("{who}: {}", p.as_str())
        }
        EventKind::Warning(w) => format!("{who}: warning: {w}"),
        EventKind::Ipv6Dropped(n) => format!("{who}: IPv6 address {n} dropped (A8)"),
        EventKind::Announced { sent, of, next_due } => {
            let pr = m.progress.entry(key).or_default();
            pr.sent = *sent;
            pr.of = *of;
            pr.next_due = *next_due;
            pr.stopped = None;
            format!("{who}: announced {sent}/{of}")
        }
        EventKind::AnnounceStopped(r) => {
            let pr = m.progress.entry(key).or_default();
            pr.next_due = None;
            pr.stopped = Some(r.to_string());
            format!("{who}: announcing stopped: {r}")
        }
        EventKind::Attached(a) => {
            let pr = m.progress.entry(key).or_default();
            pr.of = a.announce.count;
            pr.phase = Some("attached".into());
            format!(
                "{who}: attached (ifindex {}, source {})",
                a.ifindex, a.source
            )
        }
        EventKind::RolledBack {
            cause,
            rollback_errors,
        } => {
            if rollback_errors.is_empty() {
                format!("{who}: attach failed and was rolled back: {cause}")
            } else {
                format!(
                    "{who}: attach failed: {cause}; rollback errors: {}",
                    rollback_errors.join("; ")
                )
            }
        }
        EventKind::Detached => {
            if let Some(pr) = m.progress.get_mut(&key) {
                pr.phase = Some("detached".into());
                pr.next_due = None;
            }
            format!("{who}: detached")
        }
        EventKind::DetachFailed(s) => format!("{who}: detach failed: {s}"),
    };
    m.push_log(format!("{secs:>9.3}s {line}"));
    if m.tab == Tab::Log && m.selected + 2 >= m.log.len() {
        m.selected = m.log.len().saturating_sub(1);
        scroll_into_view(m);
    }
}
