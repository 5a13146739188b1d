//! Landing a task whose agent is done on the integration branch: through `git agent merge`
//! (squash, its `verify` run by the merge on exactly what lands), one `sync --ask-agent` round
//! when that conflicts, and another run of its agent while `retries` are left when `verify`
//! fails.
//!
//! Invariants: nothing lands but through `git agent merge`, whose refusals hold; a task gets at
//! most one sync round and at most `retries` more runs; a landing is recorded from the merge's
//! own answer, or found again from its commit's `Git-Agent-Session` trailer.

use anyhow::Result;

use super::calls::{Called, git_agent};
use super::drive::{block, landed, task_event, update_task};
use crate::git::repo::Repo;
use crate::session::{Session, Verify};
use crate::state::plans::{PlanRecord, TaskRecord, TaskState};

/// The end of a task's sync round: finishes the sync its agent left open, then lands.
pub(super) fn after_round(
    repo: &Repo,
    plan: &PlanRecord,
    task: &TaskRecord,
    chosen: &Session,
) -> Result<()> {
    let state = repo.state();
    if sync_left_open(repo, chosen) {
        // The agent resolved the files but did not commit them (it may not run git): the
        // sync is finished for it. One that committed the merge itself needs nothing more
        // (its record still names the sync: only `sync --continue` clears that).
        let done = git_agent(
            &state,
            &plan.name,
            &plan.repo,
            &["sync", "--continue", "--into", &plan.branch, &chosen.name],
            &[],
        )?;
        if !done.ok() {
            return block(
                &state,
                plan,
                task,
                &format!(
                    "the conflict with {} is still there after its agent's round: {}",
                    plan.branch,
                    done.why()
                ),
            );
        }
    }
    land(repo, plan, task, chosen)
}

/// The sync `ask_agent` started is still in progress in the session's worktree (seen from the
/// repository's side: the agent can rewrite the worktree's own `.git`).
fn sync_left_open(repo: &Repo, s: &Session) -> bool {
    s.sync_pending.is_some()
        && crate::git::link::admin_dir(repo.common_dir(), &s.worktree)
            .and_then(|admin| crate::git::worktree_dir::operation_in(&admin))
            .is_some()
}

/// Lands `chosen` on the integration branch through `git agent merge` (squash, verify on
/// what lands); a conflict gets the agent one `sync --ask-agent` round.
pub(super) fn land(
    repo: &Repo,
    plan: &PlanRecord,
    task: &TaskRecord,
    chosen: &Session,
) -> Result<()> {
    let state = repo.state();
    // Landed already, by a merge whose answer never reached the record (killed in between,
    // or the user ran it): found from its commit, never landed twice.
    if let Some(commit) =
        crate::git::refs::find_trailer(repo, &plan.branch, &plan.base.commit, &chosen.name)?
    {
        return landed(&state, plan, task, &chosen.name, &commit);
    }
    let asked = crate::time::now();
    let mut args = vec![
        "merge",
        chosen.name.as_str(),
        "--into",
        plan.branch.as_str(),
    ];
    args.extend(["--squash", "--json"]);
    let mut config = Vec::new();
    if let Some(verify) = &task.verify {
        args.push("--verify");
        config.push(("agent.verify", verify.as_str()));
    }
    let merged = git_agent(&state, &plan.name, &plan.repo, &args, &config)?;
    let step = merged.merge_step();
    match step["result"].as_str() {
        Some(result @ ("merged" | "already-merged")) => {
            let commit = step["commit"].as_str().unwrap_or_default();
            landed(&state, plan, task, &chosen.name, commit)?;
            if result == "already-merged" {
                // Its agent changed nothing (or only what had landed): the branch's tip is
                // all there is to show.
                update_task(&state, &plan.name, &task.id, |t| {
                    t.reason =
                        Some("nothing new to land: its work was on the branch already".into());
                })?;
            }
            Ok(())
        }
        Some("refused") => {
            let why = step["why"].as_str().unwrap_or("refused").to_owned();
            let paths: Vec<String> = step["paths"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if !paths.is_empty() && task.sync_rounds == 0 {
                return ask_agent(repo, plan, task, chosen, &paths);
            }
            if paths.is_empty()
                && let Some(failed) = failed_verify(repo, chosen, asked)
            {
                if task.attempts <= task.retries {
                    return retry_verify(repo, plan, task, chosen, &failed);
                }
                if let Some(next) = next_variant(repo, task, chosen) {
                    return reject(repo, plan, task, chosen, &next);
                }
                let why = format!("{why}; see its output with: git agent show {}", chosen.name);
                return block(&state, plan, task, &why);
            }
            let why = if paths.is_empty() {
                why
            } else {
                format!("{why}: {}", paths.join(", "))
            };
            block(&state, plan, task, &why)
        }
        _ => block(
            &state,
            plan,
            task,
            &format!("could not land it on {}: {}", plan.branch, merged.why()),
        ),
    }
}

/// Another variant of the task that ended `done` and was not tried yet.
fn next_variant(repo: &Repo, task: &TaskRecord, chosen: &Session) -> Option<String> {
    let state = repo.state();
    task.sessions
        .iter()
        .filter(|n| **n != chosen.name && !task.rejected.contains(n))
        .find(|n| {
            state
                .load(n)
                .is_ok_and(|s| s.live_state() == crate::session::State::Done)
        })
        .cloned()
}

/// `chosen`'s verify failed and no retry is left, but another variant ended `done`: that one
/// is landed on the next pass (`chosen` stays, for review).
fn reject(
    repo: &Repo,
    plan: &PlanRecord,
    task: &TaskRecord,
    chosen: &Session,
    next: &str,
) -> Result<()> {
    let state = repo.state();
    update_task(&state, &plan.name, &task.id, |t| {
        t.rejected.push(chosen.name.clone());
        t.reason = Some(format!("verify failed for {}; trying {next}", chosen.name));
    })?;
    task_event(
        &state,
        &plan.name,
        &task.id,
        &format!("verify failed for {}: landing {next} instead", chosen.name),
    );
    // Another pass lands it.
    std::fs::write(state.plan_dir(&plan.name).join("again"), b"")?;
    Ok(())
}

/// The verify that the merge asked at `since` ran and failed, as the session's record keeps it.
fn failed_verify(repo: &Repo, chosen: &Session, since: jiff::Timestamp) -> Option<Verify> {
    let s = repo.state().load(&chosen.name).ok()?;
    s.verify.filter(|v| !v.passed && v.at >= since)
}

/// A failed `verify` with a retry left: the task's agent runs again in its worktree, told
/// what failed; its end advances the plan, which tries to land it again.
fn retry_verify(
    repo: &Repo,
    plan: &PlanRecord,
    task: &TaskRecord,
    chosen: &Session,
    failed: &Verify,
) -> Result<()> {
    let state = repo.state();
    let exit = failed
        .exit
        .as_ref()
        .map_or_else(|| "it failed".to_owned(), |e| e.describe());
    update_task(&state, &plan.name, &task.id, |t| {
        t.attempts += 1;
        t.ended_at = None;
        t.reason = Some(format!("verify failed ({exit}): its agent tries again"));
    })?;
    task_event(
        &state,
        &plan.name,
        &task.id,
        &format!("verify failed ({exit}): retrying"),
    );
    let message = format!(
        "Your work was not landed on {}: the verify command `{}` failed on it, merged there \
         ({exit}). The end of its output:\n\n```\n{}\n```\n\nFix what it reports in this \
         worktree; it runs again when you are done.",
        plan.branch,
        failed.command,
        failed.tail.join("\n")
    );
    let sent = git_agent(
        &state,
        &plan.name,
        &plan.repo,
        &["send", &chosen.name, "-m", &message],
        &[],
    )?;
    if !sent.ok() {
        return block(
            &state,
            plan,
            task,
            &format!(
                "verify failed ({exit}), and its agent could not be asked again: {}",
                sent.why()
            ),
        );
    }
    Ok(())
}

/// One `sync --ask-agent` round: the integration branch is merged into the task's branch
/// and its agent is asked to resolve the conflicts; its end advances the plan again.
fn ask_agent(
    repo: &Repo,
    plan: &PlanRecord,
    task: &TaskRecord,
    chosen: &Session,
    paths: &[String],
) -> Result<()> {
    let state = repo.state();
    update_task(&state, &plan.name, &task.id, |t| {
        t.state = TaskState::Syncing;
        t.sync_rounds += 1;
        t.chosen = Some(chosen.name.clone());
        t.reason = Some(format!("resolving conflicts in {}", paths.join(", ")));
    })?;
    task_event(
        &state,
        &plan.name,
        &task.id,
        &format!(
            "conflicts with {} in {}: its agent resolves them",
            plan.branch,
            paths.join(", ")
        ),
    );
    let synced: Called = git_agent(
        &state,
        &plan.name,
        &plan.repo,
        &[
            "sync",
            "--merge",
            "--into",
            &plan.branch,
            "--ask-agent",
            &chosen.name,
        ],
        &[],
    )?;
    match synced.code {
        // Brought up to date without a conflict after all: land again on the next pass.
        0 => {
            update_task(&state, &plan.name, &task.id, |t| {
                t.state = TaskState::Running;
            })?;
            std::fs::write(state.plan_dir(&plan.name).join("again"), b"")?;
            Ok(())
        }
        // The conflict stands and the agent was asked.
        1 => Ok(()),
        _ => block(
            &state,
            plan,
            task,
            &format!(
                "could not ask its agent to resolve the conflicts: {}",
                synced.why()
            ),
        ),
    }
}
