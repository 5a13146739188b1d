//! What `watch` shows: the sessions as `list` loads and sorts them ([`list::rows`]), in groups
//! (a plan's sessions, then a variant group's), the selection, and the selected session's log.
//!
//! Everything here is read from the state files only, as `list` reads them; nothing takes
//! git's `index.lock`. A reload happens when `events.jsonl` or the `sessions/` directory
//! changes (every record is written by a rename, which changes the directory) or every
//! [`RELOAD`] at the latest (a supervisor that died changes no file).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;

use crate::commands::Ctx;
use crate::commands::list::{self, Row};
use crate::commands::logs::{Reader, read_from};
use crate::git::repo::Repo;
use crate::session::Session;
use crate::state::StateDir;

/// The longest time between two reloads of the records.
pub const RELOAD: Duration = Duration::from_secs(5);
/// Lines of the log kept for the pane.
const LOG_LINES: usize = 2000;

/// A line of the session table: a group's header or a session (an index into `rows`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Header(String),
    /// `grouped`: under a header (indented).
    Session {
        index: usize,
        grouped: bool,
    },
}

/// The loaded sessions and what the view derives from them.
pub struct Sessions {
    /// In display order: groups in the order of their first member in `list`'s order.
    pub rows: Vec<Row>,
    pub lines: Vec<Line>,
    /// Damaged records and other warnings met while loading.
    pub warnings: Vec<String>,
    /// The VERIFY cell of each of `rows` ([`list::verify_word`]), read at load (it looks up
    /// the branch) rather than at every draw.
    pub verify: Vec<Option<(String, bool)>>,
}

/// Size and modification time of a file or directory: has it changed?
type Stamp = Option<(u64, SystemTime)>;

fn stamp(path: &std::path::Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// Loads the sessions (`list`'s rows, sorted as `list` sorts them) and groups them; rows
/// hidden by `filter` (a substring of the name, state, agent or note) are left out.
pub fn load(repo: &Repo, cwd: &std::path::Path, filter: &str) -> Result<Sessions> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let rows = {
        let mut ctx = Ctx {
            out: &mut out,
            err: &mut err,
            cwd: cwd.to_owned(),
        };
        list::rows(&mut ctx, repo, false, false)?
    };
    let warnings = String::from_utf8_lossy(&err)
        .lines()
        .map(|l| l.trim_start_matches("warning: ").to_owned())
        .collect();
    let rows: Vec<Row> = rows.into_iter().filter(|r| shown(r, filter)).collect();
    let (rows, lines) = group(&repo.state(), rows);
    let verify = rows.iter().map(|r| list::verify_word(repo, r)).collect();
    Ok(Sessions {
        rows,
        lines,
        warnings,
        verify,
    })
}

fn shown(row: &Row, filter: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    let needle = filter.to_lowercase();
    [
        row.session.name.as_str(),
        row.state.as_str(),
        &row.session.short_agent(),
        &list::note(row),
    ]
    .iter()
    .any(|h| h.to_lowercase().contains(&needle))
}

/// Orders `rows` (sorted as `list` sorts) into groups: a plan's sessions together, under a
/// header naming the plan, then a variant group's; a group stands where its first member
/// would. Sessions of neither stand alone.
fn group(state: &StateDir, rows: Vec<Row>) -> (Vec<Row>, Vec<Line>) {
    let mut plan_of: HashMap<String, String> = HashMap::new();
    if state.plans_dir().is_dir() {
        for plan in state.load_plans() {
            for task in &plan.tasks {
                for s in &task.sessions {
                    plan_of.insert(
                        s.clone(),
                        format!("plan {} ({})", plan.name, plan.state.as_str()),
                    );
                }
            }
        }
    }
    let key = |row: &Row| -> Option<String> {
        plan_of.get(&row.session.name).cloned().or_else(|| {
            row.session
                .group
                .as_ref()
                .filter(|g| g.count > 1)
                .map(|g| format!("variants of {}", g.id))
        })
    };
    // Groups in the order of their first member; a session alone is its own group.
    let mut order: Vec<(Option<String>, Vec<Row>)> = Vec::new();
    for row in rows {
        match key(&row) {
            Some(k) => match order.iter_mut().find(|(g, _)| g.as_ref() == Some(&k)) {
                Some((_, members)) => members.push(row),
                None => order.push((Some(k), vec![row])),
            },
            None => order.push((None, vec![row])),
        }
    }
    let mut sorted = Vec::new();
    let mut lines = Vec::new();
    for (header, members) in order {
        let grouped = header.is_some();
        if let Some(h) = header {
            lines.push(Line::Header(h));
        }
        for row in members {
            lines.push(Line::Session {
                index: sorted.len(),
                grouped,
            });
            sorted.push(row);
        }
    }
    (sorted, lines)
}

/// The readable tail of one session's log, followed as it grows (what `logs -f` shows).
pub struct LogTail {
    pub name: String,
    reader: Reader,
    offset: u64,
    ended: bool,
    pub lines: VecDeque<String>,
}

impl LogTail {
    pub fn new(session: &Session) -> Self {
        Self {
            name: session.name.clone(),
            reader: Reader::new(session, false),
            offset: 0,
            ended: false,
            lines: VecDeque::new(),
        }
    }

    /// Reads what was appended since; true if there was something.
    pub fn follow(&mut self, state: &StateDir, session: &Session) -> bool {
        let path = state.log_path(&self.name);
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        let ended = session.live_state().is_terminal();
        if len == self.offset && ended == self.ended {
            return false;
        }
        self.reader.update_runs(session);
        let Ok(bytes) = read_from(&path, self.offset) else {
            return false;
        };
        self.offset += bytes.len() as u64;
        // The unfinished last line and the renderer's pending text, once, at the end.
        let end = ended && !self.ended;
        self.ended = ended;
        let text = self.reader.feed(&bytes, end);
        for line in text.lines() {
            let plain = console::strip_ansi_codes(line);
            self.lines
                .push_back(crate::ui::printable(&plain).into_owned());
        }
        while self.lines.len() > LOG_LINES {
            self.lines.pop_front();
        }
        true
    }
}

/// When the records or the selected log last changed, to reload only then.
pub struct Watcher {
    events: PathBuf,
    sessions: PathBuf,
    stamps: (Stamp, Stamp),
    loaded: Instant,
}

impl Watcher {
    pub fn new(state: &StateDir) -> Self {
        let mut w = Self {
            events: state.events_path(),
            sessions: state.sessions_dir(),
            stamps: (None, None),
            loaded: Instant::now(),
        };
        w.stamps = w.now();
        w
    }

    fn now(&self) -> (Stamp, Stamp) {
        (stamp(&self.events), stamp(&self.sessions))
    }

    /// True if the records should be read again (and notes that they are): two `stat`s.
    pub fn due(&mut self) -> bool {
        let now = self.now();
        if now != self.stamps || self.loaded.elapsed() >= RELOAD {
            self.stamps = now;
            self.loaded = Instant::now();
            return true;
        }
        false
    }
}
