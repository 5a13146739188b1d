//! `git agent list`: one line per session, what needs the user first.

use anyhow::Result;
use jiff::Timestamp;
use serde::Serialize;

use super::{Ctx, Format, OutputArgs, SessionDoc};
use crate::git::changes::{self, Changes};
use crate::git::repo::Repo;
use crate::session::{Session, State};
use crate::state::StateDir;
use crate::state::plans::{Overlap, TaskState};
use crate::ui;

#[derive(Debug, clap::Args)]
#[command(mut_args(super::reword("json", |a| a.help("Print the sessions as JSON"))))]
pub struct Args {
    /// Also list removed (archived) sessions
    #[arg(long)]
    pub all: bool,
    /// Look at every worktree now: uncommitted changes, commits ahead of and behind the
    /// target, what the branch changed (in parallel; without it, what each run left is shown)
    #[arg(long)]
    pub full: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// A session as listed: the record, its derived state, and its changes.
pub struct Row {
    pub session: Session,
    pub state: State,
    pub archived: bool,
    pub changes: Option<Changes>,
    /// Sessions ahead of it in the queue (`queued` only).
    pub ahead: Option<usize>,
    /// The overlaps of its plan task, while the task has not landed (see
    /// `supervisor::ownership`).
    pub overlaps: Vec<Overlap>,
}

/// Loads the sessions to list, sorted by attention, reporting damaged records as warnings.
/// Their changes are the snapshots runs left (marked stale when the branch moved since),
/// or, with `full`, measured now.
pub fn rows(ctx: &mut Ctx<'_>, repo: &Repo, all: bool, full: bool) -> Result<Vec<Row>> {
    let state = repo.state();
    let mut rows: Vec<Row> = ctx
        .sessions(&state)?
        .into_iter()
        .map(|s| Row {
            state: s.live_state(),
            session: s,
            archived: false,
            changes: None,
            ahead: None,
            overlaps: Vec::new(),
        })
        .collect();
    let queue: Vec<String> = crate::supervisor::schedule::queue(rows.iter().map(|r| &r.session))
        .into_iter()
        .map(|s| s.name.clone())
        .collect();
    let mut overlaps = overlaps_by_session(&state);
    for row in &mut rows {
        row.ahead = queue.iter().position(|q| *q == row.session.name);
        row.overlaps = overlaps.remove(&row.session.name).unwrap_or_default();
    }
    if all {
        rows.extend(state.load_archive()?.into_iter().map(|s| Row {
            state: s.live_state(),
            session: s,
            archived: true,
            changes: None,
            ahead: None,
            overlaps: Vec::new(),
        }));
    }
    if full {
        measure(repo, &mut rows)?;
    } else {
        for row in rows.iter_mut().filter(|r| !r.archived) {
            row.changes = row.session.changes.clone().map(|mut c| {
                // One ref read: has the branch moved since the snapshot?
                let tip = repo.branch_tip(&row.session.branch).ok().flatten();
                c.stale = tip.map(|t| t.to_string()) != c.tip;
                c
            });
        }
    }
    rows.sort_by(|a, b| {
        (a.archived, a.state.attention_rank())
            .cmp(&(b.archived, b.state.attention_rank()))
            // Queued ones in the order they will start.
            .then_with(|| a.ahead.cmp(&b.ahead))
            .then_with(|| b.session.created_at.cmp(&a.session.created_at))
            .then_with(|| a.session.name.cmp(&b.session.name))
    });
    Ok(beside_owners(rows))
}

/// Sessions that share another's worktree (`new --in`) move next to it, in their order, so
/// the sessions of one checkout read together.
fn beside_owners(rows: Vec<Row>) -> Vec<Row> {
    let owner_of = |r: &Row| -> Option<(String, bool)> {
        let owner = r.session.shares.as_deref()?;
        rows.iter()
            .any(|o| o.session.name == owner && o.archived == r.archived)
            .then(|| (owner.to_owned(), r.archived))
    };
    let owners: Vec<Option<(String, bool)>> = rows.iter().map(owner_of).collect();
    let mut sharers: Vec<(Row, (String, bool))> = Vec::new();
    let mut others: Vec<Row> = Vec::new();
    for (row, owner) in rows.into_iter().zip(owners) {
        match owner {
            Some(o) => sharers.push((row, o)),
            None => others.push(row),
        }
    }
    let mut ordered = Vec::with_capacity(others.len() + sharers.len());
    for row in others {
        let key = (row.session.name.clone(), row.archived);
        ordered.push(row);
        let (mine, rest): (Vec<_>, Vec<_>) = sharers.into_iter().partition(|(_, o)| *o == key);
        sharers = rest;
        ordered.extend(mine.into_iter().map(|(r, _)| r));
    }
    ordered
}

/// The overlaps of the tasks of plans that have not landed, by session. The plan records are
/// read only if there are plans: without, `list` pays one `stat`.
fn overlaps_by_session(state: &StateDir) -> std::collections::HashMap<String, Vec<Overlap>> {
    let mut by_session = std::collections::HashMap::new();
    if !state.plans_dir().is_dir() {
        return by_session;
    }
    for plan in state.load_plans() {
        for task in plan.tasks {
            if task.overlaps.is_empty() || task.state == TaskState::Landed {
                continue;
            }
            for session in task.sessions {
                by_session.insert(session, task.overlaps.clone());
            }
        }
    }
    by_session
}

/// One worktree measured by `--full`: row, uncommitted count, ahead/behind (cache key).
type Measured = (usize, Option<u64>, Option<(String, u64, u64)>);

/// `--full`: every live session measured now. The worktree scans (`git status`, and
/// ahead/behind where not cached) run in parallel, as many at once as there are cores; what
/// depends only on commits comes from the commit cache.
fn measure(repo: &Repo, rows: &mut [Row]) -> Result<()> {
    let mut cache = crate::state::cache::CommitCache::load(&repo.state());
    let mut targets = Vec::new();
    for row in rows.iter_mut() {
        if row.archived {
            targets.push(None);
            continue;
        }
        row.changes = changes::committed_part(repo, &row.session, Some(&mut cache)).ok();
        let target = crate::git::merging::default_target(repo, &row.session)
            .and_then(|t| repo.branch_tip(&t).ok().flatten());
        let tip = row.changes.as_ref().and_then(|c| c.tip.clone());
        let ab = match (tip, target) {
            (Some(tip), Some(target)) => {
                let key = format!("ahead-behind {tip}...{target}");
                match cache.get(&key) {
                    Some([a, b, _]) => {
                        if let Some(c) = row.changes.as_mut() {
                            c.ahead_behind = Some((*a, *b));
                        }
                        None
                    }
                    None => Some((key, tip, target.to_string())),
                }
            }
            _ => None,
        };
        targets.push(ab);
    }
    let jobs: Vec<usize> = (0..rows.len())
        .filter(|&i| !rows[i].archived && rows[i].session.worktree.is_dir() || targets[i].is_some())
        .collect();
    let git = repo.git();
    let rows_ref = &*rows;
    let results: Vec<Measured> = crate::process::on_all_cores(&jobs, |&i| {
        let s = &rows_ref[i].session;
        let dirty = s
            .worktree
            .is_dir()
            .then(|| {
                crate::git::link::guard(s).ok()?;
                changes::uncommitted_single_threaded(&s.worktree, &s.left_out()).ok()
            })
            .flatten();
        let ab = targets[i].as_ref().and_then(|(key, tip, target)| {
            let out = git
                .clone()
                .args([
                    "rev-list",
                    "--left-right",
                    "--count",
                    &format!("{tip}...{target}"),
                ])
                .run()
                .ok()?;
            let mut n = out.split_whitespace().map(|x| x.parse::<u64>().ok());
            Some((key.clone(), n.next()??, n.next()??))
        });
        (i, dirty, ab)
    });
    for (i, dirty, ab) in results {
        if let Some(c) = rows[i].changes.as_mut() {
            c.uncommitted = dirty;
            if let Some((key, ahead, behind)) = ab {
                c.ahead_behind = Some((ahead, behind));
                cache.put(key, [ahead, behind, 0]);
            }
        }
    }
    cache.save();
    Ok(())
}

/// `list --json`.
#[derive(Serialize)]
struct Doc<'a> {
    sessions: Vec<Entry<'a>>,
}

/// A session in `list --json`.
#[derive(Serialize)]
struct Entry<'a> {
    #[serde(flatten)]
    session: SessionDoc<'a>,
    archived: bool,
    /// Its plan task's overlaps (`{path, owner, at}`), while the task has not landed.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    overlaps: &'a [Overlap],
}

impl<'a> Entry<'a> {
    fn of(row: &'a Row) -> Self {
        Entry {
            session: SessionDoc {
                record: &row.session,
                state: row.state,
                stored_state: row.session.state,
                changes: row.changes.as_ref(),
            },
            archived: row.archived,
            overlaps: &row.overlaps,
        }
    }
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<u8> {
    let repo = ctx.repo()?;
    let rows = rows(ctx, &repo, args.all, args.full)?;
    if args.output.format() == Format::Json {
        let sessions = rows.iter().map(Entry::of).collect();
        ctx.write_doc(&Doc { sessions })?;
        return Ok(0);
    }
    if rows.is_empty() {
        writeln!(ctx.err, "No agent sessions in this repository.")?;
        ctx.hint("start one with: git agent new \"describe the task\"")?;
        return Ok(0);
    }
    let now = crate::time::now();
    let mut header = vec![
        "NAME", "STATE", "AGENT", "BRANCH", "AGE", "RAN", "EXIT", "COST", "CHANGES", "NOTE",
    ];
    let mut table: Vec<Vec<String>> = rows.iter().map(|row| cells(row, now)).collect();
    add_ports(&mut header, &mut table, &rows);
    add_vs_target(&mut header, &mut table, &rows);
    add_verify(&repo, &mut header, &mut table, &rows);
    drop_usual_branch(&repo, &mut header, &mut table, &rows);
    let text = ui::table(&header, &table);
    let width = ui::width();
    for line in text.lines() {
        writeln!(ctx.out, "{}", ui::fit(line, width))?;
    }
    if rows
        .iter()
        .any(|r| r.changes.as_ref().is_some_and(|c| c.stale))
    {
        writeln!(
            ctx.err,
            "* as the last run left it; the branch moved since ('git agent list --full' looks now)"
        )?;
    }
    Ok(0)
}

/// The columns every view of the sessions has (`list`'s table, `watch`'s rows), unstyled:
/// each view paints them its own way ([`ui::state_paint`] for the state).
pub struct Columns {
    pub name: String,
    pub state: State,
    pub archived: bool,
    pub agent: String,
    /// Warnings about the agent's permissions: `(bypass)`, `(no sandbox)`.
    pub agent_flags: Vec<&'static str>,
    pub branch: String,
    pub age: String,
    pub ran: String,
    pub exit: String,
    pub cost: String,
    /// What it changed, `*` marking a snapshot older than the branch.
    pub changes: String,
    /// [`note`], made printable.
    pub note: String,
}

impl Columns {
    /// The columns of `row` at `now`.
    pub fn of(row: &Row, now: Timestamp) -> Self {
        let s = &row.session;
        let mut agent_flags = Vec::new();
        if s.agent.bypass {
            agent_flags.push("(bypass)");
        }
        if s.sandbox.in_force.as_ref().is_some_and(|f| !f.confined()) {
            agent_flags.push("(no sandbox)");
        }
        Columns {
            name: s.name.clone(),
            state: row.state,
            archived: row.archived,
            // Where it runs, if not here: `claude (ssh box)`, `claude (docker)`.
            agent: match &s.runner {
                Some(runner) => format!("{} ({})", s.short_agent(), runner.label()),
                None => s.short_agent(),
            },
            agent_flags,
            branch: s.branch.clone(),
            age: crate::time::format_ago(s.created_at, now)
                .trim_end_matches(" ago")
                .to_owned(),
            ran: s
                .run_time(now)
                .map_or_else(|| "-".into(), crate::time::format_duration),
            exit: s.exit.map_or_else(|| "-".into(), |e| e.short()),
            cost: crate::agents::output::format_spend(&s.usage()).unwrap_or_else(|| "-".into()),
            changes: row.changes.as_ref().map_or_else(
                || "-".into(),
                |c| {
                    if c.stale {
                        format!("{}*", c.summary())
                    } else {
                        c.summary()
                    }
                },
            ),
            note: ui::printable(&note(row)).into_owned(),
        }
    }
}

/// The columns every listing has, for one session, styled for the terminal.
fn cells(row: &Row, now: Timestamp) -> Vec<String> {
    let c = Columns::of(row, now);
    let state = if c.archived {
        format!("{} (removed)", c.state)
    } else {
        ui::state(c.state)
    };
    let mut agent = c.agent;
    for flag in c.agent_flags {
        agent = format!("{agent} {}", ui::warning(flag));
    }
    vec![
        c.name, state, agent, c.branch, c.age, c.ran, c.exit, c.cost, c.changes, c.note,
    ]
}

/// Ports are shown only where sessions have them.
fn add_ports(header: &mut Vec<&str>, table: &mut [Vec<String>], rows: &[Row]) {
    if rows.iter().any(|r| !r.session.ports.is_empty()) {
        header.insert(8, "PORTS");
        for (cells, row) in table.iter_mut().zip(rows) {
            let ports: Vec<String> = row.session.ports.iter().map(u16::to_string).collect();
            cells.insert(
                8,
                if ports.is_empty() {
                    "-".into()
                } else {
                    ports.join(",")
                },
            );
        }
    }
}

/// Commits ahead of / behind the target, where measured (--full).
fn add_vs_target(header: &mut Vec<&str>, table: &mut [Vec<String>], rows: &[Row]) {
    if rows
        .iter()
        .any(|r| r.changes.as_ref().is_some_and(|c| c.ahead_behind.is_some()))
    {
        let at = header.len() - 2;
        header.insert(at, "VS TARGET");
        for (cells, row) in table.iter_mut().zip(rows) {
            let ab = row
                .changes
                .as_ref()
                .and_then(|c| c.ahead_behind)
                .map_or_else(|| "-".to_owned(), |(a, b)| format!("↑{a} ↓{b}"));
            cells.insert(at, ab);
        }
    }
}

/// Verify results are shown only where sessions have them.
fn add_verify(repo: &Repo, header: &mut Vec<&str>, table: &mut [Vec<String>], rows: &[Row]) {
    if rows.iter().any(|r| r.session.verify.is_some()) {
        let at = header.len() - 2;
        header.insert(at, "VERIFY");
        for (cells, row) in table.iter_mut().zip(rows) {
            let v = match verify_word(repo, row) {
                Some((word, true)) => word,
                Some((word, false)) => ui::state_style(State::Failed).apply_to(word).to_string(),
                None => "-".to_owned(),
            };
            cells.insert(at, v);
        }
    }
}

/// The VERIFY cell: `passed`, `failed`, `(stale)` added where the branch moved since, and
/// whether it passed; none without a result.
pub fn verify_word(repo: &Repo, row: &Row) -> Option<(String, bool)> {
    let v = row.session.verify.as_ref()?;
    // The branch as it is now (a snapshot's tip may be older).
    let tip = repo
        .branch_tip(&row.session.branch)
        .ok()
        .flatten()
        .map(|t| t.to_string());
    let word = if v.passed { "passed" } else { "failed" };
    let word = if v.is_stale(&row.session, tip.as_deref()) {
        format!("{word} (stale)")
    } else {
        word.to_owned()
    };
    Some((word, v.passed))
}

/// The branch is worth its width only where it is not the usual agent/<name>.
fn drop_usual_branch(repo: &Repo, header: &mut Vec<&str>, table: &mut [Vec<String>], rows: &[Row]) {
    let prefix = repo
        .config()
        .string("agent.branchPrefix")
        .unwrap_or_else(|| "agent/".into());
    if rows
        .iter()
        .all(|r| r.session.branch == format!("{prefix}{}", r.session.name))
    {
        header.remove(3);
        for cells in table.iter_mut() {
            cells.remove(3);
        }
    }
}

/// One line about how the session is doing: first the paths its plan task should not have
/// touched (`overlap: src/b/x.rs (b), notes.txt (outside)`), then what the agent reported, why
/// it ended, or what it finally said.
pub fn note(row: &Row) -> String {
    let said = how_it_does(row);
    if row.overlaps.is_empty() {
        return said;
    }
    let paths: Vec<String> = row
        .overlaps
        .iter()
        .map(|o| format!("{} ({})", o.path, o.owner.as_deref().unwrap_or("outside")))
        .collect();
    let overlap = format!("overlap: {}", paths.join(", "));
    if said.is_empty() {
        overlap
    } else {
        format!("{overlap}; {said}")
    }
}

/// What the agent reported, why it ended, or what it finally said.
fn how_it_does(row: &Row) -> String {
    let s = &row.session;
    let first_line = |t: &str| {
        t.lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    if row.state == State::Setup {
        let what = s
            .setup
            .as_ref()
            .and_then(|st| st.command.as_deref())
            .unwrap_or("submodules");
        return format!("setting up: {}", first_line(what));
    }
    if let Some(status) = s.status.as_ref().filter(|_| row.state.is_active()) {
        return status
            .message
            .clone()
            .unwrap_or_else(|| format!("agent says: {}", status.state));
    }
    if row.state == State::Lost {
        return "the supervisor is gone".into();
    }
    if let (State::Queued, Some(ahead)) = (row.state, row.ahead) {
        return match ahead {
            0 => "waiting for a slot (next)".into(),
            n => format!("waiting for a slot ({n} ahead)"),
        };
    }
    if let (State::RateLimited, Some(retry)) = (row.state, &s.retry) {
        return format!(
            "retry {} at {}: {}",
            retry.attempt,
            crate::time::format_timestamp(retry.at),
            first_line(&retry.message)
        );
    }
    let outcome = s.run().map(|r| &r.outcome);
    if row.state.is_active() {
        return outcome
            .and_then(|o| o.last_text.as_deref())
            .map(first_line)
            .unwrap_or_default();
    }
    if let Some(reason) = &s.reason {
        // A bare exit status says little; what the agent said last usually says why.
        let said = outcome.and_then(|o| o.last_text.as_deref()).map(first_line);
        return match (s.exit.map(|e| e.describe()), said) {
            (Some(exit), Some(said)) if *reason == exit && !said.is_empty() => {
                format!("{exit}: {said}")
            }
            _ => first_line(reason),
        };
    }
    outcome
        .and_then(|o| o.result.as_deref().or(o.last_text.as_deref()))
        .map(first_line)
        .unwrap_or_default()
}
