//! `git agent sync NAME`: bring the target's new commits into the agent's worktree.
//!
//! It merges the target into the agent's branch (or rebases the branch onto it), in the
//! agent's worktree, never with `git stash`: what is uncommitted there is committed first. On a
//! conflict the merge (or rebase) is left in progress in that worktree for the user, or, with
//! `--ask-agent`, the agent is sent what each side was doing and asked to resolve it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use git_agent::commands::Ctx;
use git_agent::error::{Failure, code};
use git_agent::git::merging::Memory;
use git_agent::git::repo::Repo;
use git_agent::process::Cmd;
use git_agent::session::{Session, SyncPending, Synced, short_id};
use git_agent::state::Event;
use gix::ObjectId;

use crate::land::{self, Refused};
use crate::target::{self, git};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Merge,
    Rebase,
}

impl How {
    fn as_str(self) -> &'static str {
        match self {
            Self::Merge => "merge",
            Self::Rebase => "rebase",
        }
    }

    /// `agent.syncStrategy`, else merge.
    pub fn configured(repo: &Repo) -> Result<Self> {
        match repo.config().string("agent.syncStrategy").as_deref() {
            None | Some("merge") => Ok(Self::Merge),
            Some("rebase") => Ok(Self::Rebase),
            Some(other) => Err(Failure::fatal(format!(
                "bad config value '{other}' for agent.syncStrategy"
            ))
            .hint("use merge or rebase")
            .into()),
        }
    }
}

/// What a sync did.
pub enum Synced_ {
    UpToDate,
    /// Synced: the branch's new tip, and the target commit brought in.
    Done(ObjectId, ObjectId),
    Conflict(Refused),
    Aborted,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    /// Finish a sync that stopped at conflicts, once they are resolved.
    Continue,
    /// Take back a sync that stopped at conflicts.
    Abort,
}

/// The sync (merge or rebase) in progress in a worktree, and the target commit it brings in.
fn in_progress(dir: &Path) -> Result<Option<(How, Option<ObjectId>)>> {
    let git_dir = git_agent::git::WorktreeDir::new(dir).git_dir()?;
    let git_dir = git_dir.as_path();
    let read_id = |p: PathBuf| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| ObjectId::from_hex(t.trim().as_bytes()).ok())
    };
    if git_dir.join("MERGE_HEAD").exists() {
        return Ok(Some((How::Merge, read_id(git_dir.join("MERGE_HEAD")))));
    }
    for d in ["rebase-merge", "rebase-apply"] {
        if git_dir.join(d).exists() {
            return Ok(Some((How::Rebase, read_id(git_dir.join(d).join("onto")))));
        }
    }
    Ok(None)
}

/// Refuses to finish or undo a merge or rebase in the worktree that is not the conflicted
/// sync git-agent left there: the agent can write everything git reads about one (its admin
/// folder is in its sandbox), and a planted rebase could run commands or move other branches.
fn ours_in_progress(s: &Session, wt: &Path, how: How) -> Result<()> {
    let refuse = |why: &str| -> anyhow::Error {
        Failure::fatal(format!(
            "the {} in the worktree of '{}' is not the sync git-agent started: {why}",
            how.as_str(),
            s.name
        ))
        .hint(format!(
            "look at it yourself in {}; git-agent finishes only its own syncs",
            wt.display()
        ))
        .into()
    };
    let Some(pending) = s.sync_pending.as_ref().filter(|p| p.how == how.as_str()) else {
        return Err(refuse("none is recorded"));
    };
    let git_dir = git_agent::git::WorktreeDir::new(wt).git_dir()?;
    let git_dir = git_dir.as_path();
    let read = |p: PathBuf| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let branch = format!("refs/heads/{}", s.branch);
    match how {
        How::Merge => {
            let head = read(git_dir.join("HEAD"));
            if head != format!("ref: {branch}") {
                return Err(refuse("HEAD is not on the session's branch"));
            }
            if read(git_dir.join("MERGE_HEAD")) != pending.onto {
                return Err(refuse("it merges another commit"));
            }
        }
        How::Rebase => {
            let dir = ["rebase-merge", "rebase-apply"]
                .iter()
                .map(|d| git_dir.join(d))
                .find(|d| d.is_dir())
                .ok_or_else(|| refuse("no rebase folder"))?;
            if read(dir.join("head-name")) != branch
                || read(dir.join("onto")) != pending.onto
                || read(dir.join("orig-head")) != pending.orig_head
            {
                return Err(refuse("it rebases another branch or onto another commit"));
            }
            let todo = read(dir.join("git-rebase-todo"));
            if todo
                .lines()
                .any(|l| l.starts_with("exec ") || l.starts_with("x ") || l.starts_with("exec\t"))
            {
                return Err(refuse("its list of steps runs commands"));
            }
        }
    }
    Ok(())
}

/// `cmd` in the session's write sandbox, when its runs have one and it may move the branch:
/// finishing a merge or rebase in its worktree writes only what the agent itself could.
fn boxed(s: &Session, cmd: Cmd) -> Result<Cmd> {
    let movable = git_agent::sandbox::own_ref_folder(&s.branch, s.branch_created).is_some();
    match s
        .sandbox
        .in_force
        .as_ref()
        .filter(|f| f.kind == "landlock" && movable)
    {
        Some(f) => git_agent::sandbox::wrap(&cmd, &f.writable),
        None => Ok(cmd),
    }
}

/// Records (or clears) the conflicted sync left in the worktree.
fn set_pending(repo: &Repo, s: &Session, pending: Option<SyncPending>) -> Result<()> {
    repo.state().update(&s.name, |r| {
        r.sync_pending.clone_from(&pending);
        Ok(())
    })
}

/// Files that still hold conflict markers.
fn with_markers(dir: &Path, paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| {
            std::fs::read(dir.join(p)).is_ok_and(|data| {
                data.split(|b| *b == b'\n')
                    .any(|line| line.starts_with(b"<<<<<<< ") || line.starts_with(b">>>>>>> "))
            })
        })
        .cloned()
        .collect()
}

fn conflict(s: &Session, into: &str, how: How, paths: Vec<String>) -> Refused {
    let wt = s.worktree.display();
    let (finish, abort) = match how {
        How::Merge => ("commit --no-edit", "merge --abort"),
        How::Rebase => ("rebase --continue", "rebase --abort"),
    };
    Refused {
        session: s.name.clone(),
        into: into.to_owned(),
        why: format!(
            "bringing {into} in ({}) stopped at a conflict",
            how.as_str()
        ),
        paths,
        hints: vec![
            format!("it is left in progress in {wt}: resolve the files there, then"),
            format!(
                "finish with 'git agent sync {0} --continue' (or 'git add' them and 'git -C {wt} {finish}'),",
                s.name
            ),
            format!(
                "take it back with 'git agent sync {0} --abort' ('git -C {wt} {abort}'),",
                s.name
            ),
            format!(
                "or let the agent resolve them: git agent sync {} --ask-agent",
                s.name
            ),
        ],
    }
}

/// Records a finished sync.
fn record(
    repo: &Repo,
    s: &Session,
    target: &str,
    commit: Option<ObjectId>,
    how: How,
) -> Result<()> {
    let state = repo.state();
    let commit = match commit {
        Some(c) => c.to_string(),
        None => repo
            .branch_tip(target)?
            .map(|t| t.to_string())
            .unwrap_or_default(),
    };
    let synced = Synced {
        target: target.to_owned(),
        commit,
        how: how.as_str().to_owned(),
        at: git_agent::time::now(),
    };
    state.update(&s.name, |r| {
        r.synced = Some(synced.clone());
        // What plain `list` shows: measured from the target brought in.
        if let Ok(c) = git_agent::git::changes::of(repo, r) {
            r.changes = Some(git_agent::git::changes::Changes {
                at: Some(git_agent::time::now()),
                ..c
            });
        }
        Ok(())
    })?;
    state.append_event(&Event {
        detail: Some(format!("{} {}", how.as_str(), short_id(&synced.commit))),
        ..Event::new(&s.name, "synced")
    })?;
    Ok(())
}

fn head(dir: &Path) -> Result<ObjectId> {
    git_agent::git::WorktreeDir::new(dir).head_id()
}

/// Syncs one session with its target (or continues, or aborts, a sync in progress).
pub fn sync(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    s: &Session,
    into: Option<&str>,
    how: How,
    action: Action,
) -> Result<Synced_> {
    land::ensure_idle(repo, s, "sync")?;
    git_agent::git::link::guard(s)?;
    if !s.worktree.is_dir() {
        return Err(Failure::fatal(format!(
            "the worktree of '{}' is gone; there is nothing to sync",
            s.name
        ))
        .into());
    }
    let target = target::resolve(repo, s, into)?;
    let wt = &s.worktree;
    match (in_progress(wt)?, action) {
        (None, Action::Continue | Action::Abort) => {
            return Err(Failure::fatal(format!(
                "no sync is in progress in the worktree of '{}'",
                s.name
            ))
            .into());
        }
        (Some((h, _)), Action::Abort) => {
            ours_in_progress(s, wt, h)?;
            let arg = if h == How::Merge { "merge" } else { "rebase" };
            boxed(s, git(wt).args([arg, "--abort"]))?.run()?;
            set_pending(repo, s, None)?;
            return Ok(Synced_::Aborted);
        }
        (Some((h, onto)), Action::Continue) => return finish(repo, s, &target, h, onto),
        (Some((h, _)), Action::Start) => {
            return Ok(Synced_::Conflict(Refused {
                why: format!("a {} is already in progress in its worktree", h.as_str()),
                ..conflict(s, &target.branch, h, land::unmerged_paths(wt))
            }));
        }
        (None, Action::Start) => {}
    }
    land::commit_leftovers(ctx, s, "before a sync")?;
    let Some(tip) = repo.branch_tip(&s.branch)? else {
        return Err(Failure::fatal(format!("the branch {} is gone", s.branch)).into());
    };
    let mem = Memory::new(repo);
    if mem.is_ancestor(target.tip, tip)? {
        return Ok(Synced_::UpToDate);
    }
    let outcome = match how {
        How::Merge => merge_target(s, &target)?,
        How::Rebase => match land::rebase_branch(repo, s, target.tip, &target.branch)? {
            Ok(new) => Synced_::Done(new, target.tip),
            Err(refused) => {
                Synced_::Conflict(conflict(s, &target.branch, How::Rebase, refused.paths))
            }
        },
    };
    note(repo, s, &target, how, tip, &outcome)?;
    Ok(outcome)
}

/// `--continue`: the user (or the agent) resolved the conflicts of a sync `h` in progress;
/// commits the resolution and finishes it, or says what is still unresolved.
fn finish(
    repo: &Repo,
    s: &Session,
    target: &target::Target,
    h: How,
    onto: Option<ObjectId>,
) -> Result<Synced_> {
    let wt = &s.worktree;
    ours_in_progress(s, wt, h)?;
    let paths = land::unmerged_paths(wt);
    let marked = with_markers(wt, &paths);
    if !marked.is_empty() {
        return Ok(Synced_::Conflict(Refused {
            why: "conflict markers are still in".into(),
            ..conflict(s, &target.branch, h, marked)
        }));
    }
    if !paths.is_empty() {
        git(wt).args(["add", "--"]).args(&paths).run()?;
    }
    let done = match h {
        How::Merge => boxed(s, git(wt).args(["commit", "--quiet", "--no-edit"]))?.run(),
        How::Rebase => boxed(s, git(wt).args(["rebase", "--continue"]))?.run(),
    };
    if done.is_err() {
        let again = land::unmerged_paths(wt);
        if !again.is_empty() {
            return Ok(Synced_::Conflict(conflict(s, &target.branch, h, again)));
        }
        done?;
    }
    record(repo, s, &target.branch, onto, h)?;
    set_pending(repo, s, None)?;
    Ok(Synced_::Done(head(wt)?, onto.unwrap_or(target.tip)))
}

/// Merges the target branch into the session's branch, in its worktree.
fn merge_target(s: &Session, target: &target::Target) -> Result<Synced_> {
    let wt = &s.worktree;
    let msg = format!(
        "Merge {} into {} (git agent sync)\n\nGit-Agent-Session: {}\n",
        target.branch, s.branch, s.name
    );
    // By full name (a tag of the same name must not win); the tip was just read.
    let merged = git(wt)
        .args([
            "merge",
            "--no-ff",
            "--no-autostash",
            "--quiet",
            "-m",
            &msg,
            &format!("refs/heads/{}", target.branch),
        ])
        .run();
    match merged {
        Ok(_) => Ok(Synced_::Done(head(wt)?, target.tip)),
        Err(e) => {
            let paths = land::unmerged_paths(wt);
            if paths.is_empty() {
                let _ = git(wt).args(["merge", "--abort"]).run();
                return Err(Failure::fatal(format!("git merge failed: {e:#}"))
                    .hint("nothing was changed")
                    .into());
            }
            Ok(Synced_::Conflict(conflict(
                s,
                &target.branch,
                How::Merge,
                paths,
            )))
        }
    }
}

/// Records how a sync ended: what it brought in, or the conflict left to resolve (and an
/// event).
fn note(
    repo: &Repo,
    s: &Session,
    target: &target::Target,
    how: How,
    tip: ObjectId,
    outcome: &Synced_,
) -> Result<()> {
    match outcome {
        Synced_::Done(_, brought) => record(repo, s, &target.branch, Some(*brought), how)?,
        Synced_::Conflict(_) => {
            set_pending(
                repo,
                s,
                Some(SyncPending {
                    how: how.as_str().to_owned(),
                    onto: target.tip.to_string(),
                    orig_head: tip.to_string(),
                }),
            )?;
            repo.state().append_event(&Event {
                detail: Some(format!("{} conflict", how.as_str())),
                ..Event::new(&s.name, "sync-conflict")
            })?;
        }
        Synced_::UpToDate | Synced_::Aborted => {}
    }
    Ok(())
}

/// The message that asks the agent to finish a conflicted sync: what each side was doing and
/// where they collide (a low-context "fix the conflicts" loses one side's intent).
pub fn conflict_prompt(repo: &Repo, s: &Session, refused: &Refused, how: How) -> String {
    let theirs = repo
        .git()
        .args([
            "log",
            "--format=- %s",
            "--max-count=20",
            &format!("{}..{}", s.branch, refused.into),
        ])
        .run()
        .unwrap_or_default();
    let did = s.summary().unwrap_or_else(|| s.prompt.trim().to_owned());
    let finish = match how {
        How::Merge => "then `git add` them and finish the merge with `git commit --no-edit`",
        How::Rebase => {
            "then `git add` them and continue with `GIT_EDITOR=true git rebase --continue` \
             (repeat until the rebase is done)"
        }
    };
    format!(
        "I am bringing `{into}` into `{branch}` ({how} in progress in this worktree), and it \
         stopped at conflicts.\n\n\
         `{branch}` is your work on this task:\n{task}\n\nWhat you reported:\n{did}\n\n\
         `{into}` has since added:\n{theirs}\n\
         Both need to survive. Resolve the conflicts in these files, keeping the intent of both \
         sides:\n{paths}\n\n\
         Remove every conflict marker, {finish}. If you cannot run git, leave the files \
         resolved and stop: the user will finish it. Do not use `git stash`, do not abort, and do \
         not discard either side's changes.",
        into = refused.into,
        branch = s.branch,
        how = how.as_str(),
        task = s.prompt.trim(),
        theirs = if theirs.trim().is_empty() {
            "(commits not listed)\n".to_owned()
        } else {
            theirs
        },
        paths = refused
            .paths
            .iter()
            .map(|p| format!("- {p}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// `git agent sync NAME [--merge|--rebase] [--ask-agent] [--into BRANCH] [--continue|--abort]`.
pub fn run(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    name: &str,
    into: Option<&str>,
    how: Option<How>,
    action: Action,
    ask_agent: bool,
) -> Result<u8> {
    let s = repo.state().load(name)?;
    let how = match (how, in_progress(&s.worktree).ok().flatten()) {
        (Some(h), _) => h,
        (None, Some((h, _))) => h,
        (None, None) => How::configured(repo)?,
    };
    match sync(ctx, repo, &s, into, how, action)? {
        Synced_::UpToDate => {
            writeln!(ctx.out, "{name} is up to date with its target")?;
            Ok(code::SUCCESS)
        }
        Synced_::Aborted => {
            writeln!(
                ctx.out,
                "Took back the sync of {name}; its branch is as it was"
            )?;
            Ok(code::SUCCESS)
        }
        Synced_::Done(head, brought) => {
            let s = repo.state().load(name)?;
            let target = s.synced.as_ref().map_or("", |x| x.target.as_str());
            writeln!(
                ctx.out,
                "Synced {name} with {target} at {} ({}): {}",
                short_id(&brought.to_string()),
                how.as_str(),
                short_id(&head.to_string())
            )?;
            Ok(code::SUCCESS)
        }
        Synced_::Conflict(refused) => {
            crate::cli::report_refused(ctx, &refused, !ask_agent)?;
            if ask_agent {
                let s = repo.state().load(name)?;
                let prompt = conflict_prompt(repo, &s, &refused, how);
                let delivered = git_agent::ops::send::deliver(repo, name, &prompt, false)?;
                writeln!(ctx.out, "{}", git_agent::ui::delivered(&delivered, name))?;
                writeln!(
                    ctx.err,
                    "Asked the agent of {name} to resolve them; follow it with: git agent logs {name} -f"
                )?;
                ctx.hint(&format!(
                    "when it is done: git agent sync {name} --continue (if it could not finish the {} itself)",
                    how.as_str()
                ))?;
            }
            Ok(code::NEGATIVE)
        }
    }
}
