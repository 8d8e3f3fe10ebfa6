//! The pure view: draws a [`Model`] into a frame. Only the visible rows are built, so the frame
//! time does not grow with the number of interfaces.

use super::form::AttachForm;
use super::model::*;
use crate::simworld::FAULT_MENU;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

pub struct Areas {
    pub tabs: Rect,
    pub body: Rect,
    pub log: Option<Rect>,
    pub status: Rect,
}

pub const LOG_PANE_HEIGHT: u16 = 8;

pub fn layout(area: Rect, tab: Tab) -> Areas {
    let show_log = tab != Tab::Log && area.height >= 20;
    let [tabs, body, log, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(if show_log { LOG_PANE_HEIGHT } else { 0 }),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        tabs,
        body,
        log: show_log.then_some(log),
        status,
    }
}

fn tab_label(i: usize, t: Tab) -> String {
    format!(" {} {} ", i + 1, t.title())
}

/// Which tab title is at this column of the tab bar.
pub fn tab_at(column: u16) -> Option<Tab> {
    let mut x = 0u16;
    for (i, t) in Tab::ALL.iter().enumerate() {
        let w = tab_label(i, *t).len() as u16;
        if column >= x && column < x + w {
            return Some(*t);
        }
        x += w + 1;
    }
    None
}

pub fn view(m: &Model, f: &mut Frame) {
    let area = f.area();
    let a = layout(area, m.tab);
    draw_tabs(m, f, a.tabs);
    match m.tab {
        Tab::Interfaces => draw_interfaces(m, f, a.body),
        Tab::Stats => draw_stats(m, f, a.body),
        Tab::Announce => draw_announce(m, f, a.body),
        Tab::Log => draw_log(m, f, a.body, true),
    }
    if let Some(l) = a.log {
        draw_log(m, f, l, false);
    }
    draw_status(m, f, a.status);
    match &m.mode {
        Mode::Normal => {}
        Mode::Help => draw_help(f, area),
        Mode::Form(form) => draw_form(form, f, area),
        Mode::Prompt(p) => draw_prompt(p, f, area),
        Mode::Fault(i) => draw_fault(*i, f, area),
    }
}

fn draw_tabs(m: &Model, f: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    for (i, t) in Tab::ALL.iter().enumerate() {
        let style = if *t == m.tab {
            Style::new().fg(Color::Black).bg(Color::Cyan).bold()
        } else {
            Style::new().fg(Color::Cyan)
        };
        spans.push(Span::styled(tab_label(i, *t), style));
        spans.push(Span::raw("│"));
    }
    spans.push(Span::raw(format!(
        " nsplumb · {} · {} namespaces · {} links",
        m.backend_label,
        m.namespaces.len(),
        m.links.len()
    )));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

fn block(title: String) -> Block<'static> {
    Block::default().borders(Borders::ALL).title(title)
}

fn header(cells: &[&'static str]) -> Row<'static> {
    Row::new(cells.iter().map(|c| Cell::from(*c))).style(Style::new().bold().fg(Color::Yellow))
}

fn visible(m: &Model, area: Rect) -> std::ops::Range<usize> {
    let rows = area.height.saturating_sub(3) as usize;
    let n = m.row_count();
    let start = m.offset.min(n);
    start..(start + rows).min(n)
}

fn row_style(m: &Model, i: usize) -> Style {
    if i == m.selected {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new()
    }
}

fn short_progress(p: Option<&Progress>) -> String {
    match p {
        None => "-".into(),
        Some(p) if p.stopped.is_some() && p.sent == p.of && p.of > 0 => {
            format!("{}/{} ✓", p.sent, p.of)
        }
        Some(p) if p.stopped.is_some() => format!("{}/{} ■", p.sent, p.of),
        Some(p) => format!("{}/{} …", p.sent, p.of),
    }
}

fn draw_interfaces(m: &Model, f: &mut Frame, area: Rect) {
    let range = visible(m, area);
    let rows: Vec<Row> = range
        .clone()
        .map(|i| {
            let l = &m.links[m.view[i]];
            let state_style = if l.up {
                Style::new().fg(Color::Green)
            } else {
                Style::new().fg(Color::DarkGray)
            };
            let name = if l.managed.is_some() {
                Span::styled(l.name.clone(), Style::new().bold())
            } else {
                Span::raw(l.name.clone())
            };
            Row::new(vec![
                Cell::from(ns_label(&l.netns)),
                Cell::from(name),
                Cell::from(l.kind.clone()),
                Cell::from(Span::styled(if l.up { "UP" } else { "DOWN" }, state_style)),
                Cell::from(l.mtu.to_string()),
                Cell::from(opt(&l.mac).to_string()),
                Cell::from(opt(&l.ipv4).to_string()),
                Cell::from(opt(&l.ipv6).to_string()),
                Cell::from(opt(&l.master).to_string()),
                Cell::from(opt(&l.port).to_string()),
                Cell::from(opt(&l.peer).to_string()),
                Cell::from(short_progress(m.progress.get(&l.key()))),
            ])
            .style(row_style(m, i))
        })
        .collect();
    let widths = [
        Constraint::Length(7),
        Constraint::Length(12),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(17),
        Constraint::Length(14),
        Constraint::Min(14),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(6),
    ];
    let filter = match &m.ns_filter {
        Some(n) => format!("namespace {} ", ns_label(n)),
        None => "all namespaces ".to_string(),
    };
    let title = format!(
        " Namespaces and interfaces: {filter}({}/{}) · n: next namespace ",
        if m.view.is_empty() { 0 } else { m.selected + 1 },
        m.view.len()
    );
    let t = Table::new(rows, widths)
        .header(header(&[
            "NETNS", "NAME", "KIND", "STATE", "MTU", "MAC", "IPV4", "IPV6", "MASTER", "PORT",
            "PEER", "ANN",
        ]))
        .block(block(title));
    f.render_widget(t, area);
}

const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

pub fn sparkline(history: &std::collections::VecDeque<u64>, width: usize) -> String {
    let max = history.iter().copied().max().unwrap_or(0);
    let skip = history.len().saturating_sub(width);
    let mut s: String = history
        .iter()
        .skip(skip)
        .map(|v| {
            if max == 0 {
                SPARK[0]
            } else {
                SPARK[((*v as f64 / max as f64) * 7.0).round() as usize]
            }
        })
        .collect();
    let pad = width.saturating_sub(s.chars().count());
    s.push_str(&" ".repeat(pad));
    s
}

pub fn human_bytes(b: f64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} {}", U[i])
    } else {
        format!("{v:.1} {}", U[i])
    }
}

fn draw_stats(m: &Model, f: &mut Frame, area: Rect) {
    let range = visible(m, area);
    let empty = StatHist::default();
    let rows: Vec<Row> = range
        .map(|i| {
            let l = &m.links[m.view[i]];
            let h = m.stats.get(&l.key()).unwrap_or(&empty);
            let s = &h.last;
            Row::new(vec![
                Cell::from(ns_label(&l.netns)),
                Cell::from(l.name.clone()),
                Cell::from(human_bytes(s.rx_bytes as f64)),
                Cell::from(human_bytes(s.tx_bytes as f64)),
                Cell::from(format!("{}/s", human_bytes(h.rx_rate))),
                Cell::from(format!("{}/s", human_bytes(h.tx_rate))),
                Cell::from(format!("{}/{}", s.rx_packets, s.tx_packets)),
                Cell::from(format!("{}/{}", s.rx_errors, s.tx_errors)),
                Cell::from(format!("{}/{}", s.rx_dropped, s.tx_dropped)),
                Cell::from(Span::styled(
                    sparkline(&h.history, 16),
                    Style::new().fg(Color::Magenta),
                )),
            ])
            .style(row_style(m, i))
        })
        .collect();
    let widths = [
        Constraint::Length(10),
        Constraint::Length(15),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Min(16),
    ];
    let t = Table::new(rows, widths)
        .header(header(&[
            "NETNS", "NAME", "RX", "TX", "RX RATE", "TX RATE", "PKTS R/T", "ERR R/T", "DROP R/T",
            "TRAFFIC",
        ]))
        .block(block(
            " Statistics (64-bit counters, rates, history) ".into(),
        ));
    f.render_widget(t, area);
}

fn progress_bar(p: &Progress) -> String {
    let mut s = String::new();
    for k in 0..p.of {
        s.push(if k < p.sent { '●' } else { '○' });
    }
    format!("{s:<4} {}/{}", p.sent, p.of)
}

fn next_in(m: &Model, p: &Progress) -> String {
    match (p.next_due, &p.stopped) {
        (Some(due), None) => format!("{:.1}s", due.saturating_since(m.now).as_secs_f64()),
        _ => "-".into(),
    }
}

fn draw_announce(m: &Model, f: &mut Frame, area: Rect) {
    let range = visible(m, area);
    let rows: Vec<Row> = m
        .progress
        .iter()
        .enumerate()
        .skip(range.start)
        .take(range.len())
        .map(|(i, ((ns, name), p))| {
            let (state, style) = match &p.stopped {
                Some(r) if r == "done" => (r.clone(), Style::new().fg(Color::Green)),
                Some(r) if r == "cancelled" => (r.clone(), Style::new().fg(Color::Yellow)),
                Some(r) => (r.clone(), Style::new().fg(Color::Red)),
                None if p.of > 0 => ("sending".to_string(), Style::new().fg(Color::Cyan)),
                None => (p.phase.clone().unwrap_or_default(), Style::new()),
            };
            Row::new(vec![
                Cell::from(ns_label(ns)),
                Cell::from(name.clone()),
                Cell::from(progress_bar(p)),
                Cell::from(next_in(m, p)),
                Cell::from(p.phase.clone().unwrap_or_default()),
                Cell::from(Span::styled(state, style)),
            ])
            .style(row_style(m, i))
        })
        .collect();
    let widths = [
        Constraint::Length(10),
        Constraint::Length(15),
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(14),
        Constraint::Min(20),
    ];
    let t = Table::new(rows, widths)
        .header(header(&[
            "NETNS",
            "NAME",
            "SENT",
            "NEXT IN",
            "PHASE",
            "STATE / STOPPED",
        ]))
        .block(block(" Announcements (unsolicited ARP / IPv6 NA) ".into()));
    f.render_widget(t, area);
}

fn draw_log(m: &Model, f: &mut Frame, area: Rect, selectable: bool) {
    let rows = area.height.saturating_sub(2) as usize;
    let n = m.log.len();
    let start = if selectable {
        // Keep the selected line in view.
        let sel = m.selected.min(n.saturating_sub(1));
        (sel + 1).saturating_sub(rows)
    } else {
        n.saturating_sub(rows)
    };
    let lines: Vec<Line> = m
        .log
        .iter()
        .enumerate()
        .skip(start)
        .take(rows)
        .map(|(i, l)| {
            let style = if l.contains("error") || l.contains("failed") {
                Style::new().fg(Color::Red)
            } else if l.contains("warning") {
                Style::new().fg(Color::Yellow)
            } else {
                Style::new()
            };
            let style = if selectable && i == m.selected {
                style.add_modifier(Modifier::REVERSED)
            } else {
                style
            };
            Line::styled(l.clone(), style)
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(block(" Event log ".into())),
        area,
    );
}

fn draw_status(m: &Model, f: &mut Frame, area: Rect) {
    let hint = " a attach · d detach · s sysctl · m MAC · w gateway · f fault · ? help · q quit";
    let line = match &m.status {
        Some((ok, s)) => Line::from(vec![Span::styled(
            s.clone(),
            if *ok {
                Style::new().fg(Color::Green)
            } else {
                Style::new().fg(Color::Red).bold()
            },
        )]),
        None => Line::from(Span::styled(hint, Style::new().fg(Color::DarkGray))),
    };
    f.render_widget(Paragraph::new(line), area);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub const HELP: &[(&str, &str)] = &[
    ("↑/k ↓/j", "move selection"),
    ("PgUp/PgDn, Ctrl-u/Ctrl-d", "page up / down"),
    ("g/Home G/End", "first / last row"),
    ("←/h →/l, Tab/Shift-Tab", "previous / next view"),
    ("1 2 3 4", "interfaces, statistics, announce, events"),
    ("mouse", "click a row or a tab, wheel scrolls"),
    ("a", "attach: open the form"),
    ("d / Del", "detach the selected interface"),
    ("s", "set a sysctl on the selected interface"),
    ("m", "change the MAC of the selected interface"),
    ("w", "set a gateway in the selected namespace"),
    ("f", "inject a fault into the next operation (simulator)"),
    ("n", "show the next namespace only / all namespaces"),
    ("r", "refresh now"),
    ("Esc", "close a dialog / clear the status line"),
    ("?", "this help"),
    ("q, Ctrl-c", "quit"),
    ("form: Tab/↓ Shift-Tab/↑", "next / previous field"),
    ("form: ←/→ or Space", "change a choice"),
    ("form: Ctrl-u", "clear the field (also in prompts)"),
    ("form: Enter / Esc", "submit / cancel"),
];

fn draw_help(f: &mut Frame, area: Rect) {
    let r = centered(area, 82, HELP.len() as u16 + 2);
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(format!("{k:<26}"), Style::new().bold().fg(Color::Cyan)),
                Span::raw(*d),
            ])
        })
        .collect();
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(block(" Keys (? or Esc to close) ".into())),
        r,
    );
}

fn draw_form(form: &AttachForm, f: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = Vec::new();
    let mut focus_line = 0;
    for (i, fl) in form.fields.iter().enumerate() {
        let focused = i == form.focus;
        if focused {
            focus_line = lines.len();
        }
        let marker = if focused { "▶ " } else { "  " };
        let value = if fl.choices.is_some() {
            format!("◀ {} ▶", fl.value)
        } else if focused {
            format!("{}▏", fl.value)
        } else {
            fl.value.clone()
        };
        let label_style = if form.errors.contains_key(&fl.key) {
            Style::new().fg(Color::Red).bold()
        } else if focused {
            Style::new().fg(Color::Cyan).bold()
        } else {
            Style::new().bold()
        };
        let mut spans = vec![
            Span::raw(marker),
            Span::styled(format!("{:<16}", fl.label), label_style),
            Span::styled(
                value,
                if focused {
                    Style::new().underlined()
                } else {
                    Style::new()
                },
            ),
        ];
        if focused && (fl.value.is_empty() || fl.choices.is_some()) {
            spans.push(Span::styled(
                format!("  {}", fl.hint),
                Style::new().fg(Color::DarkGray),
            ));
        }
        lines.push(Line::from(spans));
        if let Some(e) = form.errors.get(&fl.key) {
            lines.push(Line::styled(
                format!("    ✗ {e}"),
                Style::new().fg(Color::Red),
            ));
        }
    }
    lines.push(Line::styled(
        "Enter attach · Esc cancel · Tab/↑/↓ move · ←/→ choose · Ctrl-u clear",
        Style::new().fg(Color::DarkGray),
    ));
    let h = lines.len() as u16 + 2;
    let r = centered(area, 96, h);
    // A terminal too short for the whole form scrolls it so the focused field (and the line
    // under it, its error) stays in view.
    let inner = r.height.saturating_sub(2) as usize;
    let scroll = (focus_line + 2).saturating_sub(inner) as u16;
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(block(" Attach an interface ".into())),
        r,
    );
}

fn draw_prompt(p: &Prompt, f: &mut Frame, area: Rect) {
    let mut lines = vec![Line::from(vec![
        Span::raw("> "),
        Span::styled(format!("{}▏", p.input), Style::new().underlined()),
    ])];
    if let Some(e) = &p.error {
        lines.push(Line::styled(format!("✗ {e}"), Style::new().fg(Color::Red)));
    }
    lines.push(Line::styled(
        "Enter apply · Esc cancel · Ctrl-u clear",
        Style::new().fg(Color::DarkGray),
    ));
    let r = centered(area, 90, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(format!(" {} ", p.title()))),
        r,
    );
}

fn draw_fault(sel: usize, f: &mut Frame, area: Rect) {
    let lines: Vec<Line> = FAULT_MENU
        .iter()
        .enumerate()
        .map(|(i, (op, errno))| {
            let text = format!("{:<44} {}", op.describe(), errno.name());
            if i == sel {
                Line::styled(
                    format!("▶ {text}"),
                    Style::new().add_modifier(Modifier::REVERSED),
                )
            } else {
                Line::raw(format!("  {text}"))
            }
        })
        .collect();
    let r = centered(area, 64, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(block(" Fail the next operation of kind (Enter) ".into())),
        r,
    );
}
