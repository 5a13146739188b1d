//! `git agent watch`: a full-screen, live view of the repository's sessions that the user can
//! act from.
//!
//! The sessions are `list`'s rows, sorted as `list` sorts them (what needs the user first) and
//! grouped by plan and variant group ([`model`]); a pane follows the selected session's
//! readable log (what `logs -f` shows). Every action is the code path of its command, with its
//! safety rules and messages: `x` is `stop` ([`crate::ops::stop`]), `s` is `send`
//! ([`crate::ops::send::deliver`]), `d` is `rm` ([`crate::ops::remove`], refused as `rm`
//! refuses it; watch never forces), `v` is `review --verify` ([`crate::ops::verify`], a
//! repository's command only once approved); `enter` (`review`), `m` (`merge`, after its dry
//! run and a `y`), `c` (`clean`, likewise) and `n` (`new`) run the command itself ([`actions`]). Slow actions (a stop
//! waits for the agent) run on a thread; their outcome comes back as the status line (or a
//! box to read, for a refusal). A review gets the terminal: watch gives it up (as on `q`) and
//! takes it back after.
//!
//! Invariants:
//! - Idle, it wakes every [`TICK`] for input and two `stat`s ([`model::Watcher`]), reads the
//!   records only when they changed (or every [`model::RELOAD`]), and redraws at most once a
//!   second unless something changed: no busy loop, no git lock taken.
//! - The terminal is given back as it was (no alternate screen, cursor shown, raw mode off) on
//!   `q`, Ctrl-C, an error, a panic, SIGTERM and SIGHUP (exit 128 + the signal) ([`term`]). A
//!   Ctrl-C while a review has the terminal is the review's: watch stays.
//! - While a session is shown, `agent/watching` names it ([`crate::state::watching`]), so
//!   notifications can leave it out; the file goes when watch quits (a signal or a panic
//!   included).
//! - The worktrees are not looked at, but for the selected session's diff stat ([`stat`]).
//! - Without a terminal it refuses (exit 3), pointing at `list` and `events -f`.

mod actions;
mod clean;
mod keys;
mod model;
mod stat;
mod term;
mod view;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use anyhow::Result;
use ratatui::crossterm::event::{self, Event, KeyEventKind};

use super::Ctx;
use crate::error::{Failure, code};
use crate::git::repo::Repo;
use crate::state::{StateDir, watching};

/// How long watch sleeps waiting for a key before it looks at the files again.
pub const TICK: Duration = Duration::from_millis(250);

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Keys: up/down or j/k move; w jumps to the next session that needs you; enter reviews (git agent
review, in your pager); s sends a follow-up; v runs the verify command; m merges (shows the dry
run and asks; never forces); x stops; d removes (refused, as 'git agent rm' refuses, where work
would be lost); c cleans up what is merged (shows what, asks); n starts a new session; / filters; ? shows the keys; q or Ctrl-C quits.")]
pub struct Args {}

/// What the keys are typing into, if anything.
pub enum Mode {
    Normal,
    Help,
    /// An input line: a follow-up for the session, or the filter.
    Input {
        kind: Input,
        text: String,
    },
    /// A yes/no question before removing the session.
    ConfirmRemove {
        name: String,
        what: Vec<String>,
    },
    /// A yes/no question after the merge's dry run (its lines).
    ConfirmMerge {
        name: String,
        lines: Vec<String>,
    },
    /// A yes/no question after `clean`'s dry run: the sessions it would remove, its lines.
    ConfirmClean {
        names: Vec<String>,
        lines: Vec<String>,
    },
    /// A yes/no question before running a verify command the repository defines, not
    /// approved yet (as `git agent trust` asks).
    ConfirmTrust {
        name: String,
        command: crate::project::ProjectCommand,
    },
    /// Lines to read (why a removal was refused), closed by any key.
    Notice {
        title: String,
        lines: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Send(String),
    Filter,
    /// The task of a new session.
    New,
}

/// A finished action: what it was (as `busy` shows it) and its outcome.
type Done = (String, Outcome);

/// What an action comes back with.
pub enum Outcome {
    /// A line for the status line.
    Line(String),
    /// Lines to read (a refusal and its conflicts), in a box any key closes.
    Notice { title: String, lines: Vec<String> },
    /// A line, and a session to select (one just created).
    Select { name: String, line: String },
}

impl From<String> for Outcome {
    fn from(line: String) -> Self {
        Self::Line(line)
    }
}

/// The state of the view.
pub struct App {
    pub repo: Repo,
    pub state: StateDir,
    pub cwd: PathBuf,
    pub sessions: model::Sessions,
    /// The selected session's name (kept across reloads, which may move it).
    pub selected: Option<String>,
    pub log: Option<model::LogTail>,
    /// The selected session's diff stat ([`stat`]).
    pub stat: Option<stat::DiffStat>,
    /// The records were reloaded since the stat was read: read it again.
    stat_due: bool,
    pub filter: String,
    pub mode: Mode,
    /// The status line: the outcome of the last action.
    pub message: Option<String>,
    /// Actions under way on their threads, by what they do ("stopping x").
    pub busy: Vec<String>,
    results: (Sender<Done>, Receiver<Done>),
    watcher: model::Watcher,
    /// What `agent/watching` says now.
    watched: Option<String>,
    pub dirty: bool,
    /// A session came to need the user since the last draw: ring the terminal's bell.
    pub bell: bool,
    /// A session to review: the loop gives the terminal to `git agent review` for it.
    pub review: Option<String>,
    pub quit: bool,
}

pub fn run(ctx: &mut Ctx<'_>, _args: Args) -> Result<u8> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(Failure::fatal("watch needs a terminal")
            .code(code::NEEDS_TERMINAL)
            .hint("for the sessions as they are: git agent list")
            .hint("to follow their changes: git agent events -f")
            .into());
    }
    let repo = ctx.repo()?;
    let mut app = App::new(repo, ctx.cwd.clone())?;
    let state = app.state.clone();
    let signal = term::on_signal(move || watching::clear(&state))?;
    // `agent/watching` goes however watch ends, a panic included (dropped as it unwinds).
    let watching = ClearWatching(app.state.clone());
    let mut terminal = term::enter()?;
    let result = event_loop(&mut terminal, &mut app);
    term::close(terminal);
    drop(watching);
    // A signal ends watch as `q` does, whatever failed meanwhile (the terminal hung up).
    if let Some(code) = signal.exit_code(result.is_err()) {
        return Ok(code);
    }
    result?;
    Ok(code::SUCCESS)
}

/// Removes `agent/watching` when dropped.
struct ClearWatching(StateDir);

impl Drop for ClearWatching {
    fn drop(&mut self) {
        watching::clear(&self.0);
    }
}

fn event_loop(terminal: &mut ratatui::DefaultTerminal, app: &mut App) -> Result<()> {
    let mut drawn: Option<Instant> = None;
    let interrupt = term::Interrupt::catch()?;
    loop {
        app.tick()?;
        if app.quit || interrupt.came() {
            return Ok(());
        }
        // The ages and run times tick: once a second at least.
        if app.dirty || drawn.is_none_or(|d| d.elapsed() >= Duration::from_secs(1)) {
            terminal.draw(|frame| view::draw(frame, app))?;
            if std::mem::take(&mut app.bell) {
                use std::io::Write as _;
                let out = terminal.backend_mut();
                out.write_all(b"\x07")?;
                out.flush()?;
            }
            app.dirty = false;
            drawn = Some(Instant::now());
        }
        if let Some(name) = app.review.take() {
            // The review gets the terminal (its pager), watch gets it back after.
            term::suspend();
            app.message = Some(actions::review(&app.cwd, &name));
            // A Ctrl-C meanwhile was the review's.
            let _ = interrupt.came();
            term::resume(terminal)?;
            app.dirty = true;
            continue;
        }
        if event::poll(TICK)? {
            match event::read()? {
                Event::Key(key) if key.kind != KeyEventKind::Release => {
                    crate::faults::panic_point("watch:key");
                    keys::handle(app, key);
                }
                Event::Resize(..) => app.dirty = true,
                _ => {}
            }
        }
    }
}

impl App {
    fn new(repo: Repo, cwd: PathBuf) -> Result<Self> {
        let state = repo.state();
        let sessions = model::load(&repo, &cwd, "")?;
        let mut app = Self {
            watcher: model::Watcher::new(&state),
            state,
            cwd,
            sessions,
            selected: None,
            log: None,
            stat: None,
            stat_due: true,
            filter: String::new(),
            mode: Mode::Normal,
            message: None,
            busy: Vec::new(),
            results: channel(),
            watched: None,
            dirty: true,
            bell: false,
            review: None,
            quit: false,
            repo,
        };
        app.selected = app.sessions.rows.first().map(|r| r.session.name.clone());
        Ok(app)
    }

    /// Looks at the files (reloading what changed) and collects finished actions.
    fn tick(&mut self) -> Result<()> {
        while let Ok((what, outcome)) = self.results.1.try_recv() {
            self.busy.retain(|b| *b != what);
            // What the action changed shows now, not at the next tick.
            self.reload()?;
            self.show(outcome);
        }
        if self.watcher.due() {
            self.reload()?;
        }
        self.follow_log();
        self.follow_stat();
        self.mark_watching();
        Ok(())
    }

    /// Loads the sessions again, keeping the selection on the same session where it is still
    /// shown (else on the row where it was).
    pub fn reload(&mut self) -> Result<()> {
        let at = self.selected_index();
        let needed: Vec<String> = self.needing_user().cloned().collect();
        self.sessions = model::load(&self.repo, &self.cwd, &self.filter)?;
        self.stat_due = true;
        // The bell, as the notifications: once per session that comes to need the user.
        let newly = self.needing_user().any(|n| !needed.contains(n));
        self.bell |= newly;
        let still = self
            .selected
            .as_ref()
            .is_some_and(|n| self.sessions.rows.iter().any(|r| r.session.name == *n));
        if !still {
            let rows = &self.sessions.rows;
            let i = at.unwrap_or(0).min(rows.len().saturating_sub(1));
            self.selected = rows.get(i).map(|r| r.session.name.clone());
        }
        self.dirty = true;
        Ok(())
    }

    /// The sessions that need the user (waiting, failed…), by name.
    fn needing_user(&self) -> impl Iterator<Item = &String> {
        self.sessions
            .rows
            .iter()
            .filter(|r| r.state.needs_user())
            .map(|r| &r.session.name)
    }

    /// Where the selected session is in `rows`.
    pub fn selected_index(&self) -> Option<usize> {
        let name = self.selected.as_ref()?;
        self.sessions
            .rows
            .iter()
            .position(|r| r.session.name == *name)
    }

    pub fn selected_row(&self) -> Option<&crate::commands::list::Row> {
        self.selected_index().map(|i| &self.sessions.rows[i])
    }

    /// The log pane follows the selected session's log.
    fn follow_log(&mut self) {
        let Some(row) = self.selected_row() else {
            self.log = None;
            return;
        };
        let session = row.session.clone();
        if self.log.as_ref().is_none_or(|l| l.name != session.name) {
            self.log = Some(model::LogTail::new(&session));
        }
        if let Some(log) = &mut self.log
            && log.follow(&self.state, &session)
        {
            self.dirty = true;
        }
    }

    /// The diff stat follows the selection; it is read again after each reload.
    fn follow_stat(&mut self) {
        let Some(row) = self.selected_row() else {
            self.stat = None;
            return;
        };
        if self.stat_due
            || self
                .stat
                .as_ref()
                .is_none_or(|s| s.name != row.session.name)
        {
            self.stat = Some(stat::DiffStat::read(&self.repo, &row.session));
            self.stat_due = false;
            self.dirty = true;
        }
    }

    /// Keeps `agent/watching` naming the session shown (best effort: a state directory that
    /// cannot be written costs notifications about the shown session, nothing else).
    fn mark_watching(&mut self) {
        if self.watched == self.selected {
            return;
        }
        match &self.selected {
            Some(name) => {
                let _ = watching::write(&self.state, name);
            }
            None => watching::clear(&self.state),
        }
        self.watched = self.selected.clone();
    }

    /// Runs `work` on a thread; its outcome (a line for the status line, or lines to read)
    /// comes back through [`App::tick`]. `what` is shown meanwhile.
    pub fn spawn<O: Into<Outcome>>(
        &mut self,
        what: String,
        work: impl FnOnce() -> O + Send + 'static,
    ) {
        let tx = self.results.0.clone();
        self.busy.push(what.clone());
        std::thread::spawn(move || {
            let outcome = work().into();
            let _ = tx.send((what, outcome));
        });
        self.dirty = true;
    }

    /// Shows an action's outcome.
    pub fn show(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Line(line) => self.message = Some(line),
            Outcome::Notice { title, lines } => self.mode = Mode::Notice { title, lines },
            Outcome::Select { name, line } => {
                if self.sessions.rows.iter().any(|r| r.session.name == name) {
                    self.selected = Some(name);
                }
                self.message = Some(line);
            }
        }
        self.dirty = true;
    }
}

/// An error as one status line: `error: message (hint: …)`.
pub fn error_line(err: &anyhow::Error) -> String {
    let report = crate::error::Report::from_error(err);
    let mut line = format!("error: {}", report.message.lines().next().unwrap_or(""));
    if let Some(hint) = report.hints.first() {
        line.push_str(&format!(" (hint: {hint})"));
    }
    line
}
