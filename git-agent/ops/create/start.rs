//! The **create** and **start** steps for one reserved session: its worktree (with the
//! ignored local files `.worktreeinclude` lists and the changes `--take-changes` moves), then
//! its detached supervisor, waited for until it runs.
//!
//! Owns the session's own worktree and record only. A worktree that cannot be created takes
//! its record with it; one that fails later is recorded `failed` and kept (registered, with
//! nothing lost). Never prints: notices go to the caller's closure.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;

use super::take_up::TakeUp;
use super::{Notice, Plan, discard};
use crate::error::Failure;
use crate::git::repo::Repo;
use crate::ops::take::Snapshot;
use crate::session::{self, Session, State, TookChanges};
use crate::state::{Event, StateDir};
use crate::{git::worktree, ops::include, supervisor};

/// Creates the session's worktree and brings over ignored local files and taken changes.
/// `interrupted` is checked once git made the worktree: a fresh checkout is taken back out.
pub fn create(
    repo: &Repo,
    state: &StateDir,
    plan: &Plan,
    how: &worktree::Checkout,
    snapshot: Option<&Snapshot>,
    interrupted: &AtomicBool,
    notify: &mut dyn FnMut(Notice) -> Result<()>,
) -> Result<()> {
    // Taken changes apply on the commit they were taken at: the base for `--take-changes`,
    // the forked session's tip for `fork`.
    let base = match snapshot {
        Some(snap) => snap.head.clone(),
        None => state.load(&plan.name)?.base.commit,
    };
    crate::faults::point("new:reserved");
    let created = worktree::create(repo, &plan.name, &plan.branch, &plan.worktree, &base, how);
    crate::faults::point("new:worktree");
    let created = match created {
        Ok(()) if interrupted.load(Ordering::SeqCst) => {
            // Nothing has run in it yet: take the fresh checkout back out.
            let branch = if how.attach {
                None
            } else {
                Some(plan.branch.as_str())
            };
            worktree::discard_fresh(repo, &plan.name, branch, &plan.worktree, &base).and_then(
                |()| {
                    Err(Failure::fatal("interrupted")
                        .code(crate::error::code::INTERRUPTED)
                        .into())
                },
            )
        }
        other => other,
    };
    if let Err(err) = created {
        discard(state, &plan.name)?;
        return Err(err);
    }
    // Which worktree entry is the session's (invariant 12): only that one is ever trusted.
    if let Some(id) = worktree::id_of(repo.common_dir(), &plan.worktree) {
        state.update(&plan.name, |s| {
            s.worktree_id = Some(id.clone());
            Ok(())
        })?;
    }
    bring_included(repo, state, plan, &base, notify)?;

    // Taken-over changes: applied and verified before the agent can touch anything.
    if let Some(snap) = snapshot.filter(|s| !s.is_empty()) {
        let moved = crate::ops::take::apply(snap, &plan.worktree)
            .and_then(|()| crate::ops::take::verify(snap, &plan.worktree));
        if let Err(err) = moved {
            let reason = format!("could not take the changes: {err:#}");
            fail_before_start(repo, state, plan, &reason)?;
            return Err(Failure::fatal(reason)
                .hint(format!(
                    "the half-made worktree is kept at {}",
                    plan.worktree.display()
                ))
                .into());
        }
        crate::faults::point("new:changes");
    }
    Ok(())
}

/// `fork` and `new --continue`: the conversation is carried into the created worktree
/// before the agent starts. If it cannot be, the session is `failed` and its worktree kept.
pub fn take_up(repo: &Repo, state: &StateDir, plan: &Plan, take_up: &TakeUp) -> Result<()> {
    let carried = crate::ops::create::take_up::carry(state, plan, take_up);
    crate::faults::point("new:carried");
    carried.or_else(|err| {
        let reason = format!("could not take up the conversation: {err:#}");
        fail_before_start(repo, state, plan, &reason)?;
        Err(Failure::fatal(reason)
            .hint(super::take_up::kept(&plan.worktree, &plan.name))
            .into())
    })
}

/// The create step of a session sharing another's worktree (`new --in`): nothing is
/// created; the record learns the worktree's id, so it is trusted as the owner's is.
pub fn adopt(repo: &Repo, state: &StateDir, plan: &Plan) -> Result<()> {
    crate::faults::point("new:reserved");
    let id = worktree::id_of(repo.common_dir(), &plan.worktree);
    // Locked while its agent runs, as a worktree of its own would be; if the owner's agent
    // holds the lock now, it passes to this session when that agent ends.
    let locked = worktree::lock(repo.common_dir(), &plan.name, &plan.worktree)?;
    state.update(&plan.name, |s| {
        s.worktree_id.clone_from(&id);
        s.worktree_locked = locked;
        Ok(())
    })
}

/// Ignored local files (`.worktreeinclude`), from the main worktree.
fn bring_included(
    repo: &Repo,
    state: &StateDir,
    plan: &Plan,
    base: &str,
    notify: &mut dyn FnMut(Notice) -> Result<()>,
) -> Result<()> {
    let Some(source) = repo.main_workdir() else {
        return Ok(());
    };
    let include_plan = include::plan(repo.gix(), base, source, &plan.worktree)?;
    let brought = include::apply(&include_plan, source, &plan.worktree)?;
    if include_plan.no_manifest
        && let Some(env_file) = include::ignored_env_file(source)
    {
        let name = env_file.file_name().unwrap_or_default().to_string_lossy();
        notify(Notice::Hint(format!(
            "{name} is ignored and was not copied; list it in .worktreeinclude to copy it into agent worktrees"
        )))?;
    }
    for (verb, paths) in [
        ("copied", &include_plan.not_copied),
        ("linked", &include_plan.not_linked),
    ] {
        if !paths.is_empty() {
            let is = if paths.len() == 1 { "is" } else { "are" };
            notify(Notice::Warning(format!(
                "not {verb}: {} {is} not ignored in the new worktree (by the rules at {}), where git could commit it",
                paths.join(", "),
                session::short_id(base)
            )))?;
            notify(Notice::Hint(
                "commit the .gitignore rule that ignores it, then start the session again".into(),
            ))?;
        }
    }
    if brought != include::Brought::default() {
        state.update(&plan.name, |s| {
            s.included.clone_from(&brought.copied);
            s.linked.clone_from(&brought.linked);
            Ok(())
        })?;
    }
    Ok(())
}

/// Writes the prompt, starts the supervisor in the created worktree and waits until it runs.
pub fn start(repo: &Repo, state: &StateDir, plan: &Plan, prompt: &str) -> Result<Session> {
    std::fs::create_dir_all(state.session_dir(&plan.name))?;
    std::fs::write(state.prompt_path(&plan.name), format!("{prompt}\n"))?;
    state.append_event(&Event {
        detail: Some(plan.worktree.to_string_lossy().into_owned()),
        ..Event::new(&plan.name, "created")
    })?;
    let child = match supervisor::spawn(repo.common_dir(), &plan.name, &plan.worktree) {
        Ok(child) => {
            crate::faults::point("new:spawned");
            child
        }
        Err(err) => {
            // The worktree stays (it is registered and locked); the record says what happened.
            fail_before_start(
                repo,
                state,
                plan,
                &format!("could not start the supervisor: {err:#}"),
            )?;
            return Err(err);
        }
    };
    supervisor::wait_started(state, &plan.name, child)
}

/// Records that a created session failed before its agent started; its worktree stays
/// (registered, with nothing lost) and our lock on it is released.
fn fail_before_start(repo: &Repo, state: &StateDir, plan: &Plan, reason: &str) -> Result<()> {
    state.update(&plan.name, |s| {
        s.state = State::Failed;
        s.reason = Some(reason.to_owned());
        s.ended_at = Some(crate::time::now());
        Ok(())
    })?;
    let _ = worktree::unlock(repo.common_dir(), &plan.name, &plan.worktree);
    Ok(())
}

/// After every new worktree holds the taken changes: cleans the source checkout, unless it
/// changed meanwhile, and records in each session where its changes came from. `None` if
/// there was nothing to take.
pub fn clean_source(
    state: &StateDir,
    snapshot: &Snapshot,
    started: &mut [Session],
) -> Result<Option<crate::ops::take::Cleaned>> {
    if snapshot.is_empty() {
        return Ok(None);
    }
    let outcome = crate::ops::take::clean_source(snapshot)?;
    record_took(
        state,
        snapshot,
        started,
        outcome == crate::ops::take::Cleaned::Yes,
    )?;
    Ok(Some(outcome))
}

/// `fork`: records in each session the changes copied from the forked session's worktree,
/// which is left exactly as it was.
pub fn copied(state: &StateDir, snapshot: &Snapshot, started: &mut [Session]) -> Result<()> {
    if snapshot.is_empty() {
        return Ok(());
    }
    record_took(state, snapshot, started, false)
}

/// Records in each session where its changes came from.
fn record_took(
    state: &StateDir,
    snapshot: &Snapshot,
    started: &mut [Session],
    cleaned: bool,
) -> Result<()> {
    for s in started.iter_mut() {
        let took = TookChanges {
            from: snapshot.source.clone(),
            snapshot: snapshot.backup.clone(),
            paths: snapshot.paths(),
            cleaned,
        };
        state.update(&s.name, |r| {
            r.took_changes = Some(took.clone());
            Ok(())
        })?;
        s.took_changes = Some(took);
    }
    Ok(())
}
