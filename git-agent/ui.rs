//! Terminal rendering helpers: state colors, aligned tables, short paths. Part of the terminal
//! layer (with `commands/` and `cli/`): the library below them never imports it.
//!
//! Colors, decided once per process, first match wins: `--color=always|never|auto`; then
//! `NO_COLOR` (off) and `CLICOLOR_FORCE` (on); then git config `color.agent`, then `color.ui`
//! (applied when a command finds its repository, `commands::Ctx::repo`, see
//! [`apply_color_config`]); else auto. Auto means
//! a terminal, or git's pager (`GIT_PAGER_IN_USE`) unless `color.pager` is false, as git's own
//! `check_auto_color` decides. Machine formats (`--json`, `--porcelain`) never carry color.

use std::io::IsTerminal as _;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use console::{Style, measure_text_width};

use crate::ops::send::{Delivered, Resumed};
use crate::session::RunKind;
use crate::session::State;

/// Set when `--color` or the environment decided, so git config does not override it.
static DECIDED: AtomicBool = AtomicBool::new(false);

fn auto(pager_color: bool) -> (bool, bool) {
    let pager = std::env::var_os("GIT_PAGER_IN_USE").is_some_and(|v| !v.is_empty());
    (
        std::io::stdout().is_terminal() || (pager && pager_color),
        std::io::stderr().is_terminal(),
    )
}

fn set(out: bool, err: bool) {
    console::set_colors_enabled(out);
    console::set_colors_enabled_stderr(err);
}

/// Decides colors from `--color` (if given) and the environment, at startup.
pub fn setup_colors(flag: Option<&str>) {
    let env_set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0");
    let decided = match flag {
        Some("always") => Some((true, true)),
        Some("never") => Some((false, false)),
        Some(_) => Some(auto(true)),
        None if env_set("NO_COLOR") => Some((false, false)),
        None if env_set("CLICOLOR_FORCE") => Some((true, true)),
        None => None,
    };
    match decided {
        Some((out, err)) => {
            set(out, err);
            DECIDED.store(true, Ordering::SeqCst);
        }
        None => {
            let (out, err) = auto(true);
            set(out, err);
        }
    }
}

/// `--color` or the environment decided the colors (git config is not read for them then).
pub fn colors_decided() -> bool {
    DECIDED.load(Ordering::SeqCst)
}

/// Applies git config (`color.agent`, else `color.ui`; `color.pager`) unless `--color` or the
/// environment decided already.
pub fn apply_color_config(agent: Option<&str>, ui: Option<&str>, pager: Option<bool>) {
    if DECIDED.load(Ordering::SeqCst) {
        return;
    }
    let (out, err) = match agent.or(ui).map(str::to_ascii_lowercase).as_deref() {
        Some("always") => (true, true),
        Some("never" | "false") => (false, false),
        Some("true" | "auto") | None | Some(_) => auto(pager.unwrap_or(true)),
    };
    set(out, err);
}

/// `--color` of the command line, looked up before parsing (every binary of the suite takes
/// it; clap validates it).
pub fn color_flag(args: &[std::ffi::OsString]) -> Option<String> {
    let mut it = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if let Some(v) = a.strip_prefix("--color=") {
            return Some(v.to_owned());
        }
        if a == "--color" {
            return it.next();
        }
    }
    None
}

/// How a state name is painted: one table for every view of the states (`list`'s columns,
/// `watch`'s rows), each turning it into its own style type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paint {
    pub color: Option<console::Color>,
    pub bold: bool,
    pub dim: bool,
}

/// The paint of a state name: what needs the user is bold yellow (waiting) or red (failed).
pub fn state_paint(state: State) -> Paint {
    use console::Color;
    let (color, bold) = match state {
        State::Waiting => (Some(Color::Yellow), true),
        State::Failed | State::SetupFailed | State::Lost | State::OverBudget => {
            (Some(Color::Red), true)
        }
        State::Stopped => (Some(Color::Magenta), false),
        State::RateLimited => (Some(Color::Yellow), false),
        State::Done | State::Merged => (Some(Color::Green), false),
        State::Running | State::Setup => (Some(Color::Cyan), false),
        State::Starting | State::Queued => (None, false),
    };
    Paint {
        color,
        bold,
        dim: color.is_none(),
    }
}

/// The style of a state name.
pub fn state_style(state: State) -> Style {
    let paint = state_paint(state);
    let mut style = Style::new();
    if let Some(color) = paint.color {
        style = style.fg(color);
    }
    if paint.bold {
        style = style.bold();
    }
    if paint.dim {
        style = style.dim();
    }
    style
}

/// A state name, colored when colors are on.
pub fn state(state: State) -> String {
    state_style(state).apply_to(state.as_str()).to_string()
}

/// Text that warns (bypass modes).
pub fn warning(text: &str) -> String {
    Style::new().yellow().apply_to(text).to_string()
}

/// The width to fit tables to: `COLUMNS` (git exports it for its pager), else the terminal's,
/// else unlimited.
pub fn width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|c| *c > 0)
    {
        return Some(cols);
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_, w)| usize::from(w))
}

/// Cuts a (possibly colored) line to `width` visible characters, ending in `…` if cut.
pub fn fit(line: &str, width: Option<usize>) -> String {
    match width {
        Some(w) if measure_text_width(line) > w && w > 1 => {
            console::truncate_str(line, w, "…").into_owned()
        }
        _ => line.to_owned(),
    }
}

/// Dim text (headers, secondary information).
pub fn dim(text: &str) -> String {
    Style::new().dim().apply_to(text).to_string()
}

/// Bold text.
pub fn bold(text: &str) -> String {
    Style::new().bold().apply_to(text).to_string()
}

/// Renders rows as left-aligned columns separated by two spaces; the last column is not
/// padded, so lines carry no trailing blanks.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(measure_text_width(cell));
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 < cells.len() {
                let pad = widths[i].saturating_sub(measure_text_width(cell));
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            } else {
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| dim(h)).collect());
    for row in rows {
        line(row.clone());
    }
    out
}

/// A path as the user would like to read it: relative to `cwd` when that is short
/// (`../repo.agents/fix-login`), absolute otherwise.
pub fn short_path(path: &Path, cwd: &Path) -> String {
    match relative(path, cwd) {
        Some(rel)
            if rel
                .components()
                .filter(|c| *c == Component::ParentDir)
                .count()
                <= 2 =>
        {
            let text = rel.to_string_lossy().into_owned();
            if text.is_empty() { ".".into() } else { text }
        }
        _ => path.to_string_lossy().into_owned(),
    }
}

fn relative(path: &Path, base: &Path) -> Option<PathBuf> {
    if !path.is_absolute() || !base.is_absolute() {
        return None;
    }
    let path: Vec<Component<'_>> = path.components().collect();
    let base: Vec<Component<'_>> = base.components().collect();
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return None; // only the root in common
    }
    let mut rel = PathBuf::new();
    for _ in common..base.len() {
        rel.push("..");
    }
    for c in &path[common..] {
        rel.push(c);
    }
    Some(rel)
}

/// `text` safe to print on a terminal: control characters (an agent's escape sequences could
/// retitle the window, write the clipboard, or hide and rewrite lines, such as the sandbox
/// line of `show`) become visible, `^[` for ESC as `cat -v` shows them. Tabs stay.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push(c),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from_u32(c as u32 + 0x40).unwrap_or('?'));
            }
            '\u{7f}' => out.push_str("^?"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The line that tells the user what happened to a follow-up for session `name`.
pub fn delivered(d: &Delivered, name: &str) -> String {
    match d {
        Delivered::Queued(queued) => {
            format!("Queued for {name}: delivered when its current run ends ({queued} waiting).")
        }
        Delivered::Run {
            n,
            kind,
            resumed,
            queued,
        } => {
            let how = match resumed {
                Some(Resumed {
                    profile,
                    session_id: Some(id),
                }) => format!(
                    "resuming {profile}'s session {}",
                    crate::session::short_id(id)
                ),
                Some(Resumed {
                    profile,
                    session_id: None,
                }) => format!("resuming {profile}'s conversation"),
                None => {
                    "the agent cannot resume: it got the task and the message afresh".to_owned()
                }
            };
            let verb = if *kind == RunKind::Resume {
                "Resumed"
            } else {
                "Sent to"
            };
            // A follow-up is a new start: with every slot taken it waits, and says so.
            let waits = if *queued {
                "; queued: it starts when a slot frees"
            } else {
                ""
            };
            format!("{verb} {} (run {n}, {how}){waits}", bold(name))
        }
    }
}

/// A line of progress for an agent asked a question in the foreground (`plan draft`, `review
/// --ai`, `--ai-judge`): one per tool call, retry or refusal; its text is its answer, shown
/// at the end.
pub fn asked_progress(event: &crate::agents::output::Event) -> Option<String> {
    use crate::agents::output::Event;
    match event {
        Event::Tool(what) => Some(format!("  {what}")),
        Event::Retry(why) => Some(format!("  retrying: {why}")),
        Event::Denied(what) => Some(format!("  refused: {what}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_paths() {
        let cwd = Path::new("/home/u/src/repo");
        assert_eq!(
            short_path(Path::new("/home/u/src/repo.agents/x"), cwd),
            "../repo.agents/x"
        );
        assert_eq!(short_path(Path::new("/home/u/src/repo/sub"), cwd), "sub");
        assert_eq!(short_path(Path::new("/home/u/src/repo"), cwd), ".");
        assert_eq!(short_path(Path::new("/opt/x"), cwd), "/opt/x");
        assert_eq!(
            short_path(Path::new("/home/other/x/y"), Path::new("/home/u/a/b")),
            "/home/other/x/y"
        );
    }

    #[test]
    fn tables_align_without_trailing_blanks() {
        console::set_colors_enabled(false);
        let t = table(
            &["A", "BB"],
            &[vec!["xxx".into(), "y".into()], vec!["z".into(), "".into()]],
        );
        assert_eq!(t, "A    BB\nxxx  y\nz\n");
    }
}
