//! The end of a plan: once every task has landed, `validate` runs on the integration branch in
//! a session of its own (`<plan>-integration`, a worktree on `plan/<name>` whose "agent" is the
//! validate command, so its output is in `git agent logs`, it runs in the write sandbox and
//! under the usual time limits), and the integration branch lands on the base through
//! `git agent merge` (`plan land`, or at once with `land = "auto"`).
//!
//! Invariants: the integration session is named in the record before it is created (never a
//! second one); nothing lands on the base unless validate passed and left the integration
//! worktree as it found it (what a test run writes is never committed onto the plan).

use anyhow::Result;

use super::calls::git_agent;
use super::drive::set_plan_state;
use crate::error::Failure;
use crate::git::repo::Repo;
use crate::session::{Session, State};
use crate::state::plans::{PlanLanded, PlanRecord, PlanState, Validation};

/// How much of a failed validate's output the plan keeps.
const OUTPUT_LINES: usize = 40;

/// The integration session's name.
pub fn integration_session(plan: &str) -> String {
    format!("{plan}-integration")
}

/// Every task landed: validate (starting it, or looking at its end), then land if asked.
pub fn integrate(repo: &Repo, plan: &PlanRecord) -> Result<()> {
    let state = repo.state();
    let Some(v) = &plan.validation else {
        return start_validate(repo, plan);
    };
    if let Some(fixer) = v.fixer.as_deref()
        && v.fixed.is_none()
    {
        return observe_fixer(repo, plan, fixer);
    }
    if v.passed.is_some() {
        return Ok(());
    }
    let Some(s) = ended(repo, plan, &v.session, "validate's session")? else {
        return Ok(());
    };
    let live = s.live_state();
    let passed = live == State::Done;
    let output = (!passed).then(|| log_tail(&state.log_path(&s.name)));
    state.update_plan(&plan.name, |p| {
        if let Some(v) = p.validation.as_mut() {
            v.passed = Some(passed);
            v.ended_at = Some(crate::time::now());
            v.output = output.clone();
        }
        Ok(())
    })?;
    if !passed {
        if plan.fix && v.fixer.is_none() {
            return start_fixer(repo, plan, output.as_deref().unwrap_or_default());
        }
        let why = match &s.reason {
            Some(r) => format!("validate failed ({r}); see: git agent logs {}", s.name),
            None => format!("validate failed; see: git agent logs {}", s.name),
        };
        return set_plan_state(&state, &plan.name, PlanState::Failed, Some(why));
    }
    set_plan_state(&state, &plan.name, PlanState::Validated, None)?;
    if plan.land == "auto" {
        let plan = state.load_plan(&plan.name)?;
        if let Err(err) = land(repo, &plan) {
            state.plan_log(&plan.name, &format!("could not land: {err:#}"));
            state.update_plan(&plan.name, |p| {
                p.reason = Some(format!("land = \"auto\" could not land it: {err:#}"));
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// The fixer session's name.
pub fn fixer_session(plan: &str) -> String {
    format!("{plan}-fix")
}

/// `fix = true` and validate failed: an agent session from the integration branch's tip gets
/// the failing command and its output, to make it pass. Its agent is the default profile.
fn start_fixer(repo: &Repo, plan: &PlanRecord, output: &str) -> Result<()> {
    let state = repo.state();
    let session = fixer_session(&plan.name);
    let command = plan.validate.as_deref().unwrap_or("true");
    let prompt = format!(
        "Every task of the plan '{}' has landed on this branch, but its validate command \
         fails:\n\n    {command}\n\nIts output ended with:\n\n```\n{output}\n```\n\n\
         Fix the code so that the command passes. Keep the changes small; do not weaken or \
         delete tests to make them pass.",
        plan.name
    );
    let file = state.plan_dir(&plan.name).join("fix.prompt.md");
    std::fs::write(&file, prompt)?;
    state.update_plan(&plan.name, |p| {
        if let Some(v) = p.validation.as_mut() {
            v.fixer = Some(session.clone());
        }
        p.reason = Some(format!("validate failed; {session} is fixing it"));
        Ok(())
    })?;
    let file = file.to_string_lossy().into_owned();
    let created = git_agent(
        &state,
        &plan.name,
        &plan.repo,
        &[
            "new",
            "--name",
            &session,
            "--base",
            &plan.branch,
            "--json",
            "-F",
            &file,
        ],
        &[],
    )?;
    if !created.ok() {
        return set_plan_state(
            &state,
            &plan.name,
            PlanState::Failed,
            Some(format!(
                "validate failed, and the fixer could not start: {}",
                created.why()
            )),
        );
    }
    Ok(())
}

/// The fixer ended: its work lands on the integration branch (through its checkout in the
/// integration session's worktree), then validate runs again, once.
fn observe_fixer(repo: &Repo, plan: &PlanRecord, fixer: &str) -> Result<()> {
    let state = repo.state();
    let Some(s) = ended(
        repo,
        plan,
        fixer,
        "validate failed, and the fixer's session",
    )?
    else {
        return Ok(());
    };
    let live = s.live_state();
    let fail = |why: String| {
        set_plan_state(
            &state,
            &plan.name,
            PlanState::Failed,
            Some(format!("validate failed; {why}")),
        )
    };
    if live != State::Done {
        return fail(format!("the fixer {fixer} ended {live}"));
    }
    let merged = git_agent(
        &state,
        &plan.name,
        &plan.repo,
        &["merge", fixer, "--into", &plan.branch, "--squash", "--json"],
        &[],
    )?;
    let step = merged.merge_step();
    let Some("merged" | "already-merged") = step["result"].as_str() else {
        let why = step["why"]
            .as_str()
            .map_or_else(|| merged.why(), str::to_owned);
        return fail(format!("the fixer's work could not land: {why}"));
    };
    let commit = step["commit"].as_str().unwrap_or_default().to_owned();
    let validate = integration_session(&plan.name);
    state.update_plan(&plan.name, |p| {
        if let Some(v) = p.validation.as_mut() {
            v.fixed = Some(commit.clone());
            v.passed = None;
            v.ended_at = None;
            v.output = None;
            v.runs += 1;
        }
        p.reason = None;
        Ok(())
    })?;
    let again = git_agent(&state, &plan.name, &plan.repo, &["resume", &validate], &[])?;
    if !again.ok() {
        return fail(format!("could not run validate again: {}", again.why()));
    }
    Ok(())
}

/// Session `name` of the plan once it has ended; `None` while it runs (or is lost: `plan
/// status` shows it, `plan resume` continues it). A session that is gone fails the plan.
fn ended(repo: &Repo, plan: &PlanRecord, name: &str, what: &str) -> Result<Option<Session>> {
    let state = repo.state();
    let s = match state.load_settled(name) {
        Ok(s) => s,
        Err(err) => {
            let why = format!("{what} {name} is gone: {err:#}");
            set_plan_state(&state, &plan.name, PlanState::Failed, Some(why))?;
            return Ok(None);
        }
    };
    let live = s.live_state();
    Ok((!live.is_active() && live != State::Lost).then_some(s))
}

/// The last lines of a log.
fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(OUTPUT_LINES)..].join("\n")
}

/// Starts `<plan>-integration` on the integration branch, running `validate` (or nothing).
fn start_validate(repo: &Repo, plan: &PlanRecord) -> Result<()> {
    let state = repo.state();
    let session = integration_session(&plan.name);
    state.update_plan(&plan.name, |p| {
        p.state = PlanState::Validating;
        p.validation = Some(Validation {
            session: session.clone(),
            started_at: crate::time::now(),
            ended_at: None,
            passed: None,
            output: None,
            fixer: None,
            fixed: None,
            runs: 1,
        });
        Ok(())
    })?;
    let command = plan.validate.as_deref().unwrap_or("true");
    let message = format!("Validate plan {}: {command}", plan.name);
    let created = git_agent(
        &state,
        &plan.name,
        &plan.repo,
        &[
            "new",
            "--name",
            &session,
            "--branch",
            &plan.branch,
            "--no-auto-commit",
            "--json",
            "-m",
            &message,
            "--",
            "sh",
            "-c",
            command,
        ],
        &[],
    )?;
    if !created.ok() {
        return set_plan_state(
            &state,
            &plan.name,
            PlanState::Failed,
            Some(format!("could not start validate: {}", created.why())),
        );
    }
    Ok(())
}

/// Lands the integration branch on the plan's base through `git agent merge`: a fast-forward
/// when the base has not moved, else a merge commit, so the tasks' commits stay as they are.
pub fn land(repo: &Repo, plan: &PlanRecord) -> Result<PlanLanded> {
    let state = repo.state();
    if plan.state != PlanState::Validated {
        let hint = match plan.state {
            PlanState::Running | PlanState::Validating => {
                format!("wait for it: git agent plan wait {}", plan.name)
            }
            PlanState::Landed => "it has landed already".to_owned(),
            _ => format!("see what it needs: git agent plan status {}", plan.name),
        };
        return Err(Failure::fatal(format!(
            "plan '{}' is {}, not validated: nothing to land",
            plan.name, plan.state
        ))
        .hint(hint)
        .code(crate::error::code::NEGATIVE)
        .into());
    }
    let Some(into) = plan
        .base
        .ref_name
        .as_deref()
        .and_then(|r| r.strip_prefix("refs/heads/"))
    else {
        return Err(Failure::fatal(format!(
            "plan '{}' started from a commit, not a branch: there is no branch to land it on",
            plan.name
        ))
        .hint(format!("merge {} where you want it yourself", plan.branch))
        .into());
    };
    // Moved by hand since it was validated: what would land is not what the tasks landed.
    if let Some(why) = super::drive::branch_lost_work(repo, plan)? {
        return Err(
            Failure::fatal(format!("cannot land plan '{}': {why}", plan.name))
                .code(crate::error::code::NEGATIVE)
                .into(),
        );
    }
    let session = integration_session(&plan.name);
    let s = state.load(&session)?;
    let leftovers = crate::git::changes::status(&s.worktree, &s.left_out())?;
    if !leftovers.is_empty() {
        let paths = crate::git::merging::status_paths(&leftovers);
        return Err(Failure::fatal(format!(
            "validate left changes in {}: {}",
            s.worktree.display(),
            paths.join(", ")
        ))
        .hint(
            "they would land with the plan: remove them (or ignore them), then run plan land again",
        )
        .code(crate::error::code::NEGATIVE)
        .into());
    }
    let tip = repo
        .branch_tip(&plan.branch)?
        .ok_or_else(|| Failure::fatal(format!("the branch {} is gone", plan.branch)))?;
    let base_tip = repo
        .branch_tip(into)?
        .ok_or_else(|| Failure::fatal(format!("the branch {into} is gone")))?;
    let mem = crate::git::merging::Memory::new(repo);
    let strategy = if mem.is_ancestor(base_tip, tip)? {
        "--ff-only"
    } else {
        "--merge"
    };
    let message = format!("Land plan {}", plan.name);
    let merged = git_agent(
        &state,
        &plan.name,
        &plan.repo,
        &[
            "merge", &session, "--into", into, strategy, "-m", &message, "--json",
        ],
        &[],
    )?;
    let step = merged.merge_step();
    match step["result"].as_str() {
        Some("merged" | "already-merged") => {
            let landed = PlanLanded {
                into: into.to_owned(),
                commit: step["commit"].as_str().unwrap_or_default().to_owned(),
                at: crate::time::now(),
            };
            state.update_plan(&plan.name, |p| {
                p.landed = Some(landed.clone());
                Ok(())
            })?;
            set_plan_state(&state, &plan.name, PlanState::Landed, None)?;
            Ok(landed)
        }
        Some("refused") => {
            let mut why = step["why"].as_str().unwrap_or("refused").to_owned();
            if let Some(paths) = step["paths"].as_array().filter(|p| !p.is_empty()) {
                let paths: Vec<&str> = paths.iter().filter_map(|p| p.as_str()).collect();
                why = format!("{why}: {}", paths.join(", "));
            }
            let mut failure = Failure::fatal(format!("could not land plan '{}': {why}", plan.name))
                .code(crate::error::code::NEGATIVE);
            for hint in step["hints"].as_array().into_iter().flatten() {
                if let Some(h) = hint.as_str() {
                    failure = failure.hint(h);
                }
            }
            Err(failure.into())
        }
        _ => Err(Failure::fatal(format!(
            "could not land plan '{}': {}",
            plan.name,
            merged.why()
        ))
        .into()),
    }
}
