//! Where a session's work goes, and how that branch is moved safely.
//!
//! The target is `--into BRANCH`, else the session's base branch as recorded (a
//! remote-tracking base such as `origin/main` means the local `main`). Moving it:
//! - If it is checked out in a worktree (yours, usually), that checkout moves with it, by a
//!   fast-forward `git merge --ff-only` there: git refuses before touching anything if one of
//!   your local changes is in the way, so the checkout is never left half-merged. We refuse
//!   first, naming the files, when local changes touch the paths the merge changes, and
//!   when the merge would overwrite **ignored** files there (git treats them as expendable:
//!   a branch that brings a tracked `.env`, or a `node_modules` symlink, would silently
//!   replace yours); `--no-overwrite-ignore` backs that check.
//! - If it is checked out nowhere, only the ref moves, with a compare-and-swap
//!   `git update-ref` (a concurrent change to the branch makes it fail, not get lost).
//! - A branch being rebased or bisected in some worktree is not touched.
//!
//! Every git call here runs non-interactively: `GIT_EDITOR`, `GIT_SEQUENCE_EDITOR` and
//! merge auto-edit never open an editor, and `--no-autostash` keeps git from ever stashing.

use std::path::{Path, PathBuf};

use anyhow::Result;
use git_agent::error::Failure;
use git_agent::git::merging;
use git_agent::git::repo::Repo;
use git_agent::process::Cmd;
use git_agent::session::Session;
use gix::ObjectId;

/// `git -C dir …` that never waits for an editor.
pub fn git(dir: &Path) -> Cmd {
    Cmd::git_in(dir)
        .args(TRUSTED_HOOKS.get().into_iter().flatten())
        .env("GIT_EDITOR", "true")
        .env("GIT_SEQUENCE_EDITOR", "true")
        .env("GIT_MERGE_AUTOEDIT", "no")
        .env("GIT_TERMINAL_PROMPT", "0")
}

/// `-c core.hooksPath=…` as the main worktree resolves it, for every git command of ours: a
/// merge, squash or rebase built in an agent's worktree runs your hooks, never a hook the
/// agent wrote there (see `git_agent::git::hooks::trusted_hooks`).
static TRUSTED_HOOKS: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();

/// Sets the hooks every [`git`] runs, from the repository this command works on.
pub fn trust_hooks_of(repo: &git_agent::git::repo::Repo) {
    TRUSTED_HOOKS.get_or_init(|| {
        git_agent::git::hooks::trusted_hooks(
            repo.main_workdir().unwrap_or(repo.common_dir()),
            repo.common_dir(),
        )
    });
}

/// A session's target branch, now.
#[derive(Debug, Clone)]
pub struct Target {
    pub branch: String,
    pub tip: ObjectId,
    /// The worktree that has it checked out.
    pub checkout: Option<PathBuf>,
}

/// Resolves the target of `s`: `into`, else its base branch.
pub fn resolve(repo: &Repo, s: &Session, into: Option<&str>) -> Result<Target> {
    let mut target = resolve_ref(repo, s, into)?;
    target.checkout = checkout_of(repo, &target.branch)?;
    Ok(target)
}

/// [`resolve`], without looking for where the target is checked out (a prediction does not
/// move it).
fn resolve_ref(repo: &Repo, s: &Session, into: Option<&str>) -> Result<Target> {
    let branch = match into {
        Some(b) => b.strip_prefix("refs/heads/").unwrap_or(b).to_owned(),
        None => merging::default_target(repo, s).ok_or_else(|| {
            let from = s.base.short_name();
            Failure::fatal(format!(
                "'{}' was started from {from}, which is not a local branch: there is no branch to merge it into",
                s.name
            ))
            .hint(format!("name one: git agent merge {} --into BRANCH", s.name))
        })?,
    };
    if branch == s.branch {
        return Err(Failure::usage(format!(
            "{branch} is the branch of '{}' itself; name the branch its work goes to",
            s.name
        ))
        .into());
    }
    let Some(tip) = repo.branch_tip(&branch)? else {
        return Err(Failure::fatal(format!("there is no branch '{branch}'"))
            .hint("see the branches with: git branch --list")
            .into());
    };
    Ok(Target {
        branch,
        tip,
        checkout: None,
    })
}

/// Each session's target branch and its tip, by session name.
pub fn resolve_all(
    repo: &Repo,
    sessions: &[Session],
    into: Option<&str>,
) -> Result<std::collections::BTreeMap<String, (String, ObjectId)>> {
    sessions
        .iter()
        .map(|s| {
            let t = resolve_ref(repo, s, into)?;
            Ok((s.name.clone(), (t.branch, t.tip)))
        })
        .collect()
}

/// The worktree that has `branch` checked out, if any; an error if it is being rebased or
/// bisected somewhere (moving it would fight that operation).
pub fn checkout_of(repo: &Repo, branch: &str) -> Result<Option<PathBuf>> {
    let full = format!("refs/heads/{branch}");
    let mut admin_dirs = vec![repo.common_dir().to_owned()];
    if let Ok(entries) = std::fs::read_dir(repo.common_dir().join("worktrees")) {
        admin_dirs.extend(entries.flatten().map(|e| e.path()));
    }
    for admin in &admin_dirs {
        for (file, what) in [
            ("rebase-merge/head-name", "rebased"),
            ("rebase-apply/head-name", "rebased"),
            ("BISECT_START", "bisected"),
        ] {
            let text = std::fs::read_to_string(admin.join(file)).unwrap_or_default();
            let names_it = text.trim() == full || (file == "BISECT_START" && text.trim() == branch);
            if names_it {
                return Err(Failure::fatal(format!(
                    "{branch} is being {what} ({}); it is not moved meanwhile",
                    admin.display()
                ))
                .hint("finish or abort that first")
                .into());
            }
        }
    }
    Ok(repo.worktrees_on_branch(branch)?.into_iter().next())
}

/// Paths with uncommitted changes (staged, unstaged, untracked) in a worktree.
pub fn local_changes(dir: &Path) -> Result<Vec<String>> {
    Ok(git_agent::git::merging::status_paths(
        &git_agent::git::changes::status(dir, &[])?,
    ))
}

/// Ignored files and directories of a checkout (a wholly ignored directory as `dir/`).
fn ignored_paths(dir: &Path) -> Result<Vec<String>> {
    let out = git(dir)
        .args([
            "ls-files",
            "-z",
            "--others",
            "--ignored",
            "--exclude-standard",
            "--directory",
        ])
        .run()?;
    Ok(out
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The ignored files of the checkout `dir` that writing `paths` (what the merge changes)
/// there would overwrite or remove: the same path (a file, or a directory replaced by a
/// file or symlink), something beneath a path that becomes a file, or an existing file
/// inside an ignored directory.
pub fn ignored_in_the_way(dir: &Path, paths: &[String]) -> Result<Vec<String>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let ignored = ignored_paths(dir)?;
    let mut hit: Vec<String> = Vec::new();
    for i in &ignored {
        let p = i.trim_end_matches('/');
        for c in paths {
            let inside_ignored_dir =
                c.starts_with(&format!("{p}/")) && std::fs::symlink_metadata(dir.join(c)).is_ok();
            if c == p || p.starts_with(&format!("{c}/")) || inside_ignored_dir {
                let named = if inside_ignored_dir { c } else { i };
                if !hit.contains(named) {
                    hit.push(named.clone());
                }
            }
        }
    }
    hit.sort();
    Ok(hit)
}

/// Refuses (exit 1) when the target's checkout has local changes in `paths`, or ignored
/// files the merge would overwrite, or is in the middle of an operation.
pub fn check_checkout(dir: &Path, branch: &str, paths: &[String]) -> Result<()> {
    if let Some(op) = git_agent::git::worktree::operation_at(dir) {
        return Err(Failure::fatal(format!(
            "{branch} is checked out in {} and {op} is in progress there",
            dir.display()
        ))
        .hint("finish or abort it, then merge again")
        .code(git_agent::error::code::NEGATIVE)
        .into());
    }
    let local = local_changes(dir)?;
    let in_the_way: Vec<&String> = local
        .iter()
        .filter(|p| {
            paths.iter().any(|c| {
                c == *p
                    || c.starts_with(&format!("{}/", p.trim_end_matches('/')))
                    || p.starts_with(&format!("{c}/"))
            })
        })
        .collect();
    if !in_the_way.is_empty() {
        let list: Vec<String> = in_the_way.iter().map(|p| format!("  {p}")).collect();
        return Err(Failure::fatal(format!(
            "{branch} is checked out in {}, and your local changes there touch files the merge changes:\n{}",
            dir.display(),
            list.join("\n")
        ))
        .hint("commit them (or move them aside), then merge again; nothing was changed")
        .code(git_agent::error::code::NEGATIVE)
        .into());
    }
    let ignored = ignored_in_the_way(dir, paths)?;
    if ignored.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = ignored.iter().map(|p| format!("  {p}")).collect();
    Err(Failure::fatal(format!(
        "{branch} is checked out in {}, and the merge would overwrite ignored files there:\n{}",
        dir.display(),
        list.join("\n")
    ))
    .hint("ignored files are not in git: nothing could bring them back; move them aside, then merge again (nothing was changed)")
    .code(git_agent::error::code::NEGATIVE)
    .into())
}

/// Moves `target` from its tip to `new`: through its checkout (fast-forward) or the ref alone.
pub fn advance(repo: &Repo, target: &Target, new: ObjectId, why: &str) -> Result<()> {
    let new = new.to_string();
    match &target.checkout {
        Some(dir) => {
            // A hooks folder inside the checkout (`core.hooksPath = .githooks`) is replaced by
            // the landed files before git runs `post-merge` from it: that would run the
            // agent's version, now. Such a landing runs no hook; your own hooks folder outside
            // the tree (the default `.git/hooks`) runs as usual.
            let hooks_in_tree = TRUSTED_HOOKS
                .get()
                .and_then(|[_, h]| h.strip_prefix("core.hooksPath="))
                .is_some_and(|h| Path::new(h).starts_with(dir));
            git(dir)
                .args(
                    hooks_in_tree
                        .then_some(["-c", "core.hooksPath=/dev/null"])
                        .into_iter()
                        .flatten(),
                )
                .args([
                    "merge",
                    "--ff-only",
                    "--no-autostash",
                    "--no-overwrite-ignore",
                    "--quiet",
                    &new,
                ])
                .env("GIT_REFLOG_ACTION", why)
                .run()
                .map_err(|e| {
                    Failure::fatal(format!(
                        "could not move {} in {}: {e:#}",
                        target.branch,
                        dir.display()
                    ))
                    .hint("nothing was changed there")
                })?;
        }
        None => {
            repo.git()
                .args([
                    "update-ref",
                    "-m",
                    why,
                    &format!("refs/heads/{}", target.branch),
                    &new,
                    &target.tip.to_string(),
                ])
                .run()
                .map_err(|e| {
                    Failure::fatal(format!("could not move {}: {e:#}", target.branch))
                        .hint("it changed meanwhile; run the merge again")
                })?;
        }
    }
    Ok(())
}
