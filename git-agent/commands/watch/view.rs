//! Drawing `watch`: title, the session table (`list`'s columns, [`Columns`]), the log pane,
//! the status line and the keys. Colours are `list`'s ([`ui::state_paint`]); with colours off
//! (`NO_COLOR`, `--color=never`) nothing is coloured, the selection is shown reversed.

use console::{Alignment, measure_text_width, pad_str};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};

use super::model::Line;
use super::{App, Input, Mode};
use crate::commands::list::Columns;
use crate::session::State;
use crate::ui;

/// The keys, as the footer shows them (the help shows them at length).
/// Wider than 80 columns: it takes two lines where it does not fit in one.
const FOOTER: &str = "j/k move  w needs you  enter review  s send  v verify  m merge  x stop  d rm  \
                      c clean  n new  / filter  ? help  q quit";

/// The keys at length, for `?`.
pub const HELP: &[(&str, &str)] = &[
    ("up/down, j/k", "move between sessions"),
    (
        "w",
        "jump to the next session that needs you (waiting, failed…)",
    ),
    (
        "enter",
        "review the session (as 'git agent review', in your pager)",
    ),
    ("s", "send the selected session a follow-up (an input line)"),
    (
        "v",
        "run the verify command (as 'git agent review --verify')",
    ),
    (
        "m",
        "merge the session (shows the dry run, asks; never forces)",
    ),
    (
        "x",
        "stop the selected session's agent (as 'git agent stop')",
    ),
    (
        "d",
        "remove the session (as 'git agent rm'; refused if work would be lost)",
    ),
    (
        "c",
        "clean up: remove what is merged (as 'git agent clean'; shows what, asks)",
    ),
    ("n", "start a new session (the task on an input line)"),
    ("/", "filter the sessions (name, state, agent or note)"),
    ("esc", "clear the filter and the status line"),
    ("?", "this help"),
    ("q, Ctrl-C", "quit"),
];

fn colors() -> bool {
    console::colors_enabled()
}

/// A style, or none when colours are off.
fn paint(style: Style) -> Style {
    if colors() { style } else { Style::default() }
}

fn state_style(state: State) -> Style {
    let p = ui::state_paint(state);
    let mut style = Style::default();
    if let Some(c) = p.color {
        style = style.fg(match c {
            console::Color::Black => Color::Black,
            console::Color::Red => Color::Red,
            console::Color::Green => Color::Green,
            console::Color::Yellow => Color::Yellow,
            console::Color::Blue => Color::Blue,
            console::Color::Magenta => Color::Magenta,
            console::Color::Cyan => Color::Cyan,
            console::Color::White => Color::White,
            console::Color::Color256(n) => Color::Indexed(n),
            _ => Color::Reset,
        });
    }
    if p.bold {
        style = style.add_modifier(Modifier::BOLD);
    }
    if p.dim {
        style = style.add_modifier(Modifier::DIM);
    }
    paint(style)
}

pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let footer_lines = if measure_text_width(FOOTER) > usize::from(frame.area().width) {
        2
    } else {
        1
    };
    let [title, table, log, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Percentage(40),
        Constraint::Length(1),
        Constraint::Length(footer_lines),
    ])
    .areas(frame.area());
    draw_title(frame, app, title);
    draw_table(frame, app, table);
    draw_log(frame, app, log);
    draw_status(frame, app, status);
    draw_footer(frame, app, footer);
    match &app.mode {
        Mode::Help => {
            let lines: Vec<String> = HELP
                .iter()
                .map(|(k, what)| format!("{k:<14}{what}"))
                .collect();
            popup(frame, "keys (any key closes)", &lines);
        }
        Mode::Notice { title, lines } => popup(frame, title, lines),
        _ => {}
    }
}

fn draw_title(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let rows = &app.sessions.rows;
    let needs = rows.iter().filter(|r| r.state.needs_user()).count();
    let mut text = format!("git agent watch  {} session(s)", rows.len());
    if needs > 0 {
        text.push_str(&format!(", {needs} need(s) you"));
    }
    if !app.filter.is_empty() {
        text.push_str(&format!("  filter: {}", app.filter));
    }
    frame.render_widget(
        Paragraph::new(text).style(paint(Style::default().add_modifier(Modifier::BOLD))),
        area,
    );
}

/// The VERIFY cells, as `list` shows them; the column is there only where a session has a
/// result (as in `list`).
type Verify<'a> = &'a [Option<(String, bool)>];

fn verify_text(v: Option<&(String, bool)>) -> &str {
    v.map_or("-", |(word, _)| word.as_str())
}

/// Column widths: each as wide as its widest cell (the name and changes capped), the note
/// taking what is left; VERIFY (the last) 0 where no session has a result.
fn widths(cols: &[Columns], verify: Verify<'_>) -> [usize; 8] {
    let mut w = [4, 5, 5, 3, 3, 4, 7, 0];
    if verify.iter().any(Option::is_some) {
        w[7] = verify
            .iter()
            .map(|v| measure_text_width(verify_text(v.as_ref())))
            .fold(6, usize::max);
    }
    for c in cols {
        let cells = [
            measure_text_width(&c.name) + 2,
            measure_text_width(c.state.as_str()),
            measure_text_width(&c.agent),
            measure_text_width(&c.age),
            measure_text_width(&c.ran),
            measure_text_width(&c.cost),
            measure_text_width(&c.changes),
        ];
        for (w, cell) in w.iter_mut().zip(cells) {
            *w = (*w).max(cell);
        }
    }
    w[0] = w[0].min(28);
    w[6] = w[6].min(16);
    w
}

fn cell(text: &str, width: usize) -> String {
    format!("{}  ", pad_str(text, width, Alignment::Left, Some("…")))
}

fn draw_table(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let now = crate::time::now();
    let cols: Vec<Columns> = app
        .sessions
        .rows
        .iter()
        .map(|r| Columns::of(r, now))
        .collect();
    let verify = &app.sessions.verify;
    let w = widths(&cols, verify);
    let mut head = ["NAME", "STATE", "AGENT", "AGE", "RAN", "COST"]
        .iter()
        .zip(w)
        .map(|(h, w)| cell(h, w))
        .collect::<String>();
    if w[7] > 0 {
        head += &cell("VERIFY", w[7]);
    }
    head += &cell("CHANGES", w[6]);
    head += "NOTE";
    let [head_area, list_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    frame.render_widget(
        Paragraph::new(head).style(paint(Style::default().add_modifier(Modifier::DIM))),
        head_area,
    );
    if cols.is_empty() {
        let text = if app.filter.is_empty() {
            "No agent sessions in this repository. Start one with: git agent new \"the task\""
        } else {
            "No session matches the filter (esc clears it)."
        };
        frame.render_widget(Paragraph::new(text), list_area);
        return;
    }
    let selected = app.selected_index();
    let mut state = ListState::default();
    let items: Vec<ListItem<'_>> = app
        .sessions
        .lines
        .iter()
        .enumerate()
        .map(|(at, line)| match line {
            Line::Header(h) => {
                ListItem::new(Span::styled(h.clone(), paint(Style::default().bold())))
            }
            Line::Session { index, grouped } => {
                if Some(*index) == selected {
                    state.select(Some(at));
                }
                let v = verify.get(*index).and_then(Option::as_ref);
                ListItem::new(row_line(&cols[*index], v, *grouped, &w))
            }
        })
        .collect();
    let list = List::new(items).highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    frame.render_stateful_widget(list, list_area, &mut state);
}

fn row_line(
    c: &Columns,
    verify: Option<&(String, bool)>,
    grouped: bool,
    w: &[usize; 8],
) -> TextLine<'static> {
    let name = if grouped {
        format!("  {}", c.name)
    } else {
        c.name.clone()
    };
    let mut agent = c.agent.clone();
    for flag in &c.agent_flags {
        agent = format!("{agent} {flag}");
    }
    let mut spans = vec![
        Span::raw(cell(&name, w[0])),
        Span::styled(cell(c.state.as_str(), w[1]), state_style(c.state)),
        Span::raw(cell(&agent, w[2])),
        Span::raw(cell(&c.age, w[3])),
        Span::raw(cell(&c.ran, w[4])),
        Span::raw(cell(&c.cost, w[5])),
    ];
    if w[7] > 0 {
        // A failed verify in the colour of a failed session, as `list` paints it.
        let style = match verify {
            Some((_, false)) => state_style(State::Failed),
            _ => Style::default(),
        };
        spans.push(Span::styled(cell(verify_text(verify), w[7]), style));
    }
    spans.push(Span::raw(cell(&c.changes, w[6])));
    spans.push(Span::raw(c.note.clone()));
    TextLine::from(spans)
}

/// Below this width the diff stat is only summed up in the log's title; from it on, its
/// files have a pane of their own beside the log.
const STAT_PANE_FROM: u16 = 100;

fn draw_log(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let title = match (app.selected_row(), &app.log) {
        (Some(row), Some(_)) => {
            let mut t = format!(" log: {} ({}) ", row.session.name, row.state);
            if let Some(stat) = &app.stat {
                t.push_str(&format!("· {} ", stat.summary()));
            }
            t
        }
        _ => " log ".to_owned(),
    };
    let block = Block::default().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let inner = match &app.stat {
        Some(stat) if inner.width >= STAT_PANE_FROM => {
            let [log, files] =
                Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)])
                    .areas(inner);
            draw_stat(frame, stat, files);
            log
        }
        _ => inner,
    };
    let Some(log) = &app.log else {
        return;
    };
    let height = usize::from(inner.height);
    let skip = log.lines.len().saturating_sub(height);
    let lines: Vec<TextLine<'_>> = log
        .lines
        .iter()
        .skip(skip)
        .map(|l| TextLine::raw(l.as_str()))
        .collect();
    let text = if lines.is_empty() {
        vec![TextLine::styled(
            "(nothing in the log yet)",
            paint(Style::default().add_modifier(Modifier::DIM)),
        )]
    } else {
        lines
    };
    frame.render_widget(Paragraph::new(text), inner);
}

/// `line` in `width` columns: a line too long loses the middle of its path rather than its
/// end (the file's name) or its start (the counts, 10 columns).
fn keep_end(line: &str, width: usize) -> String {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= width {
        return line.to_owned();
    }
    let head = 10.min(width / 2);
    let tail = width.saturating_sub(head + 1);
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// The selected session's files, beside its log: as many as fit, then how many more.
fn draw_stat(frame: &mut Frame<'_>, stat: &super::stat::DiffStat, area: Rect) {
    let block = Block::default().borders(Borders::LEFT).title(" changes ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = stat.lines();
    if lines.is_empty() {
        lines.push("(no changes)".into());
    }
    let height = usize::from(inner.height);
    if lines.len() > height && height > 0 {
        let more = lines.len() - (height - 1);
        lines.truncate(height - 1);
        lines.push(format!("… {more} more"));
    }
    let width = usize::from(inner.width);
    let text: Vec<TextLine<'_>> = lines
        .into_iter()
        .map(|l| TextLine::raw(keep_end(&l, width)))
        .collect();
    frame.render_widget(Paragraph::new(text), inner);
}

fn draw_status(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let text = if let Some(what) = app.busy.last() {
        format!("{what}…")
    } else if let Some(m) = &app.message {
        m.clone()
    } else if let Some(w) = app.sessions.warnings.first() {
        format!("warning: {w}")
    } else {
        String::new()
    };
    frame.render_widget(Paragraph::new(text), area);
}

fn draw_footer(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let text = match &app.mode {
        Mode::Input { kind, text } => {
            let label = match kind {
                Input::Send(name) => format!("follow-up for {name}"),
                Input::Filter => "filter".to_owned(),
                Input::New => "new task".to_owned(),
            };
            frame.set_cursor_position((
                area.x
                    + u16::try_from(measure_text_width(&label) + 2 + measure_text_width(text))
                        .unwrap_or(0),
                area.y,
            ));
            format!("{label}: {text}")
        }
        Mode::ConfirmRemove { name, .. } => {
            format!("remove {name}? y removes, any other key keeps it")
        }
        Mode::ConfirmMerge { name, .. } => {
            format!("merge {name}? y merges, any other key does not")
        }
        Mode::ConfirmClean { names, .. } => {
            format!(
                "remove {} session(s)? y removes them, any other key keeps them",
                names.len()
            )
        }
        Mode::ConfirmTrust { name, .. } => {
            format!("verify {name} with the repository's command? y approves and runs it")
        }
        _ => FOOTER.to_owned(),
    };
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .style(paint(Style::default().add_modifier(Modifier::DIM))),
        area,
    );
    match &app.mode {
        Mode::ConfirmRemove { name, what } => popup(frame, &format!("remove {name}?"), what),
        Mode::ConfirmMerge { name, lines } => popup(frame, &format!("merge {name}?"), lines),
        Mode::ConfirmClean { lines, .. } => popup(frame, "clean?", lines),
        Mode::ConfirmTrust { command, .. } => {
            let mut lines = vec![
                "This repository defines a command git-agent would run for you:".to_owned(),
                format!("{} ({}):", command.what, command.source),
            ];
            lines.extend(command.text.lines().map(|l| format!("    {l}")));
            lines.push("Run it, and remember this approval for this repository? (y/N)".into());
            popup(frame, "approve the verify command?", &lines);
        }
        _ => {}
    }
}

/// A box in the middle of the screen with `lines` in it.
fn popup(frame: &mut Frame<'_>, title: &str, lines: &[String]) {
    let area = frame.area();
    let width = lines
        .iter()
        .map(|l| measure_text_width(l))
        .chain([measure_text_width(title)])
        .max()
        .unwrap_or(0)
        .saturating_add(4)
        .min(usize::from(area.width));
    let height = (lines.len() + 2).min(usize::from(area.height));
    let (width, height) = (
        u16::try_from(width).unwrap_or(area.width),
        u16::try_from(height).unwrap_or(area.height),
    );
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    let text: Vec<TextLine<'_>> = lines.iter().map(|l| TextLine::raw(l.as_str())).collect();
    frame.render_widget(
        Paragraph::new(text).block(
            Block::default()
                .borders(Borders::ALL)
                .title(title.to_owned()),
        ),
        rect,
    );
}
