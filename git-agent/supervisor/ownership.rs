//! Live ownership of a plan task's paths: while the agent of a task runs, its supervisor
//! looks every second or so at what the session changed, and a path it should not have
//! touched raises an `overlap` before it becomes a merge conflict.
//!
//! A path is an overlap when it matches a `touches` glob of *another* task of the same plan
//! that is running (`running` or `syncing`: "owned by task 'b' (running)"), or when it
//! matches none of the task's own `touches` ("outside its touches"; a task that declares no
//! `touches` has no outside). What the session changed is measured from its base (or the
//! commit a sync brought in): committed on its branch, staged, modified, deleted, renamed,
//! untracked (`git::changes::ChangedPaths`), so an edit committed at once is still seen.
//!
//! Each overlap is reported once per task (the variants of a task share the record): an
//! `overlap` event in `events.jsonl` (session: this one; detail: what and why), and an
//! [`Overlap`] in the task's record, both under the state lock; `plan status` and `list`
//! show them from the record.
//!
//! Invariants: only a session of a task is looked at (read once per run from the plan
//! records: a session in no plan costs one `stat` of `plans/` and nothing else); at most one
//! `git status` per look, one look per [`EVERY`] (longer in a worktree whose status is slow:
//! never more than a fifth of the supervisor's time), and one more after the agent exits,
//! before the leftovers are committed. Nothing is looked at while the task is not `running`
//! (a `syncing` round has the integration branch's changes staged in its worktree: they are
//! not the agent's). Best effort: a look that fails is skipped, never the run's failure.
//! Owns the ownership rule; must not write the session record, nor decide anything about the
//! plan (that is `ops::plan::drive`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Result;
use jiff::Timestamp;

use crate::git::changes::ChangedPaths;
use crate::git::repo::Repo;
use crate::globs::any_matches;
use crate::session::Session;
use crate::state::plans::{Overlap, PlanRecord, TaskState};
use crate::state::{Event, StateDir};

/// How often a running task's changes are looked at.
pub(super) const EVERY: Duration = Duration::from_secs(1);

/// The ownership watch of one run of a task's session.
pub(super) struct Ownership {
    plan: String,
    task: String,
    repo: Repo,
    changed: ChangedPaths,
    /// Paths already reported for the task (by any of its sessions, any run).
    reported: BTreeSet<String>,
    next_at: Instant,
}

impl Ownership {
    /// The watch for `session` if it is one of a plan task's sessions; `None` otherwise.
    pub(super) fn of(state: &StateDir, session: &Session) -> Option<Self> {
        // Most sessions are in no plan: one stat, no record read.
        if !state.plans_dir().is_dir() {
            return None;
        }
        let (plan, task) = state.plan_of(&session.name)?;
        let task = plan.task(&task?)?;
        let common_dir = state.root().parent().unwrap_or(state.root());
        Some(Self {
            reported: task.overlaps.iter().map(|o| o.path.clone()).collect(),
            task: task.id.clone(),
            plan: plan.name,
            repo: Repo::open_common(common_dir).ok()?,
            changed: ChangedPaths::default(),
            next_at: Instant::now() + EVERY,
        })
    }

    /// Looks if the time has come (called on every tick of the supervisor).
    pub(super) fn tick(&mut self, state: &StateDir, session: &Session) {
        if Instant::now() >= self.next_at {
            self.look_now(state, session);
        }
    }

    /// Looks now, and sets the next look: [`EVERY`], or four times what this one took.
    pub(super) fn look_now(&mut self, state: &StateDir, session: &Session) {
        let started = Instant::now();
        // Best effort: a worktree being rewritten, a plan removed meanwhile… the next look
        // (or the merge) tells.
        let _ = self.look(state, session);
        self.next_at = Instant::now() + EVERY.max(started.elapsed() * 4);
    }

    fn look(&mut self, state: &StateDir, session: &Session) -> Result<()> {
        let new: Vec<String> = self
            .changed
            .now(&self.repo, session)?
            .into_iter()
            .filter(|p| !self.reported.contains(p))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        // Read fresh: which tasks run changes while this one does. Most looks end here,
        // without the state lock.
        let plan = state.load_plan(&self.plan)?;
        if overlaps(&plan, &self.task, &new, crate::time::now()).is_empty() {
            return Ok(());
        }
        let name = session.name.as_str();
        let reported = state.update_plan(&self.plan, |p| {
            let found = overlaps(p, &self.task, &new, crate::time::now());
            let mut events = Vec::new();
            for overlap in &found {
                let owner_state = overlap
                    .owner
                    .as_deref()
                    .and_then(|o| p.task(o))
                    .map_or(TaskState::Running, |t| t.state);
                events.push(describe(overlap, owner_state));
            }
            let Some(task) = p.task_mut(&self.task) else {
                return Ok(Vec::new());
            };
            let mut reported = Vec::new();
            for (overlap, detail) in found.into_iter().zip(events) {
                reported.push(overlap.path.clone());
                // A variant of the same task may have reported it first.
                if task.overlaps.iter().any(|o| o.path == overlap.path) {
                    continue;
                }
                // The event first: whoever sees the record finds the event too.
                state.append_event(&Event {
                    detail: Some(detail),
                    ..Event::new(name, "overlap")
                })?;
                task.overlaps.push(overlap);
            }
            Ok(reported)
        })?;
        self.reported.extend(reported);
        Ok(())
    }
}

/// What an overlap means, for the event: `src/x.rs is owned by task 'beta' (running)`,
/// `README.md is outside its touches`.
fn describe(overlap: &Overlap, owner_state: TaskState) -> String {
    match &overlap.owner {
        Some(owner) => format!(
            "{} is owned by task '{owner}' ({owner_state})",
            overlap.path
        ),
        None => format!("{} is outside its touches", overlap.path),
    }
}

/// Which of `paths`, changed by task `me` of `plan`, are overlaps (the rule in the module
/// docs), each with the running task that owns it (the first in the plan's order) or none
/// when it is only outside `me`'s `touches`. None while `me` is not `running`.
pub(super) fn overlaps(
    plan: &PlanRecord,
    me: &str,
    paths: &[String],
    at: Timestamp,
) -> Vec<Overlap> {
    let Some(mine) = plan.task(me).filter(|t| t.state == TaskState::Running) else {
        return Vec::new();
    };
    let others: Vec<_> = plan
        .tasks
        .iter()
        .filter(|t| t.id != me && t.state.is_active())
        .collect();
    paths
        .iter()
        .filter_map(|path| {
            let owner = others
                .iter()
                .find(|t| any_matches(&t.touches, path))
                .map(|t| t.id.clone());
            let outside = !mine.touches.is_empty() && !any_matches(&mine.touches, path);
            (owner.is_some() || outside).then(|| Overlap {
                path: path.clone(),
                owner,
                at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(tasks: &[(&str, TaskState, &[&str])]) -> PlanRecord {
        let tasks: Vec<serde_json::Value> = tasks
            .iter()
            .enumerate()
            .map(|(i, (id, st, touches))| {
                serde_json::json!({
                    "id": id, "line": i + 1, "prompt": "p", "variants": 1,
                    "touches": touches, "state": st,
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "version": 1, "name": "p", "file": "plan.toml",
            "base": {"name": "main", "commit": "0".repeat(40)},
            "branch": "plan/p", "land": "manual", "state": "running",
            "created_at": "2025-01-01T00:00:00Z", "repo": "/r", "tasks": tasks,
        }))
        .unwrap()
    }

    fn found(plan: &PlanRecord, me: &str, paths: &[&str]) -> Vec<(String, Option<String>)> {
        let paths: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
        overlaps(plan, me, &paths, Timestamp::UNIX_EPOCH)
            .into_iter()
            .map(|o| (o.path, o.owner))
            .collect()
    }

    #[test]
    fn owned_by_a_running_task_or_outside_its_own_touches() {
        let p = plan(&[
            ("a", TaskState::Running, &["src/a/**"]),
            ("b", TaskState::Running, &["src/b/**"]),
            ("c", TaskState::Waiting, &["src/c/**"]),
            ("d", TaskState::Syncing, &["docs"]),
            ("e", TaskState::Landed, &["src/e.rs"]),
        ]);
        assert_eq!(
            found(
                &p,
                "a",
                &[
                    "src/a/x.rs",
                    "src/b/x.rs",
                    "src/c/x.rs",
                    "docs/d.md",
                    "src/e.rs"
                ]
            ),
            [
                ("src/b/x.rs".into(), Some("b".into())),
                ("src/c/x.rs".into(), None),
                ("docs/d.md".into(), Some("d".into())),
                ("src/e.rs".into(), None),
            ]
        );
        let e = describe(
            &Overlap {
                path: "src/b/x.rs".into(),
                owner: Some("b".into()),
                at: Timestamp::UNIX_EPOCH,
            },
            TaskState::Running,
        );
        assert_eq!(e, "src/b/x.rs is owned by task 'b' (running)");
    }

    #[test]
    fn no_touches_has_no_outside_and_a_task_not_running_reports_nothing() {
        let p = plan(&[
            ("free", TaskState::Running, &[]),
            ("b", TaskState::Running, &["src/b/**"]),
            ("sync", TaskState::Syncing, &["src/s/**"]),
        ]);
        assert_eq!(
            found(&p, "free", &["anything.txt", "src/b/x.rs"]),
            [("src/b/x.rs".into(), Some("b".into()))]
        );
        assert!(found(&p, "sync", &["src/b/x.rs", "elsewhere"]).is_empty());
        assert!(found(&p, "unknown", &["src/b/x.rs"]).is_empty());
    }
}
