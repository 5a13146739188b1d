//! Looking before removing: what removing a session would lose ([`inspect`]), and whether
//! the caller's flags allow losing it ([`refusal`]). Reads only; changes nothing.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::Options;
use crate::error::Failure;
use crate::git::merging::{Memory, MergedBy};
use crate::git::repo::Repo;
use crate::process::Cmd;
use crate::session::Session;

/// What removing a session would lose, looked at before doing it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inspection {
    pub name: String,
    /// The agent (or its supervisor) is still running.
    pub alive: bool,
    pub worktree: PathBuf,
    pub worktree_missing: bool,
    /// `git status --short`-like lines of uncommitted and untracked changes.
    pub uncommitted: Vec<String>,
    /// A merge, rebase, cherry-pick or revert in progress in the worktree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The worktree's HEAD is not on the session's branch (it is here, detached or elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_elsewhere: Option<String>,
    /// Work only the worktree's initialised submodules hold (recursively): their uncommitted
    /// and untracked files (`sub/path: ?? file`), and commits on no remote-tracking branch
    /// (their local branches live in the worktree's own clone and go with it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub submodule_work: Vec<String>,
    /// The worktree has submodules, initialised or not (git removes it only with `--force`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub submodules: bool,
    /// Why the recorded worktree is not one git-agent created for the session (the main
    /// checkout, another tool's): it is never looked into, stopped in, or removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_ours: Option<String>,
    /// Another session still uses the worktree (`new --in`): it and the branch stay.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
    /// Someone else's `git worktree lock` reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_by_other: Option<String>,
    pub branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_tip: Option<String>,
    /// Why the branch counts as merged, and into what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged: Option<(MergedBy, String)>,
    /// The branch has no commits of its own (nothing to merge).
    pub empty: bool,
    /// Commits of the branch found in none of its destinations (`abc1234 subject`).
    pub unmerged: Vec<String>,
}

impl Inspection {
    /// Uncommitted state that only lives in the worktree.
    pub fn worktree_holds_work(&self) -> bool {
        !self.uncommitted.is_empty()
            || !self.submodule_work.is_empty()
            || self.operation.is_some()
            || self.head_elsewhere.is_some()
    }

    /// The branch's work is somewhere else too (merged, or there is none).
    pub fn branch_is_merged(&self) -> bool {
        self.branch_tip.is_none() || self.empty || self.merged.is_some()
    }

    /// `merged into main`, `squash-merged into main`, `no commits of its own`, `not merged:
    /// 2 commits`…
    pub fn branch_words(&self) -> String {
        match (&self.branch_tip, &self.merged) {
            (None, _) => "gone".to_owned(),
            (Some(_), Some((by, into))) => format!("{} into {into}", by.describe()),
            (Some(_), None) if self.empty => "no commits of its own".to_owned(),
            (Some(_), None) => {
                let n = self.unmerged.len();
                format!(
                    "not merged: {n}{} commit{}",
                    if n >= 20 { "+" } else { "" },
                    if n == 1 { "" } else { "s" }
                )
            }
        }
    }

    /// One word for why the session may go: `merged`, `squash-merged`, `empty`,
    /// `worktree-missing`.
    pub fn reason(&self) -> Option<&'static str> {
        if self.worktree_holds_work() {
            return None;
        }
        if let Some((by, _)) = &self.merged {
            return Some(match by {
                MergedBy::NothingToAdd | MergedBy::PatchEquivalent => "squash-merged",
                MergedBy::Ancestor | MergedBy::SameTree => "merged",
            });
        }
        if self.empty {
            return Some("empty");
        }
        if self.worktree_missing && self.branch_tip.is_none() {
            return Some("worktree-missing");
        }
        None
    }
}

/// Looks at everything removing `s` could lose.
pub fn inspect(repo: &Repo, mem: &Memory, s: &Session) -> Result<Inspection> {
    let mut i = Inspection {
        name: s.name.clone(),
        alive: s.live_state().is_active(),
        worktree: s.worktree.clone(),
        worktree_missing: !s.worktree.is_dir(),
        branch: s.branch.clone(),
        ..Inspection::default()
    };
    if !i.worktree_missing {
        i.not_ours = crate::git::worktree::not_ours(
            repo.common_dir(),
            repo.main_workdir(),
            s,
            &s.worktree,
            None,
        );
    }
    if i.not_ours.is_some() {
        // Nothing in it is the session's: judged like a missing worktree (the branch decides).
        i.worktree_missing = true;
    } else if let Some(admin) = crate::git::link::admin_dir(repo.common_dir(), &s.worktree) {
        if let Ok(reason) = std::fs::read_to_string(admin.join("locked"))
            && reason.trim() != crate::git::worktree::lock_reason(&s.name)
        {
            i.locked_by_other = Some(reason.trim().to_owned());
        }
        i.operation =
            crate::git::worktree_dir::operation_in(&admin).map(|op| format!("{op} is in progress"));
    }
    if !i.worktree_missing {
        crate::git::link::guard(s)?;
        let status = crate::git::changes::status(&s.worktree, &s.left_out())?;
        i.uncommitted = short_status(&status);
        // Inside submodules git works under their own config, which the agent may have
        // written: looked at in the session's sandbox, as the agent would.
        let sandbox = s
            .sandbox
            .in_force
            .as_ref()
            .filter(|f| f.kind == "landlock")
            .map(|f| f.writable.as_slice());
        i.submodules = submodule_work(&s.worktree, "", sandbox, &mut i.submodule_work)?;
        // Unreadable counts as detached.
        let head = (crate::git::WorktreeDir::new(&s.worktree).head().ok())
            .and_then(|h| h.branch)
            .unwrap_or_default();
        if head != format!("refs/heads/{}", s.branch) && i.operation.is_none() {
            i.head_elsewhere = Some(if head.is_empty() {
                "HEAD is detached".to_owned()
            } else {
                format!("HEAD is on {}", head.trim_start_matches("refs/heads/"))
            });
        }
    }
    let Some(tip) = repo.branch_tip(&s.branch)? else {
        return Ok(i);
    };
    i.branch_tip = Some(tip.to_string());
    let destinations = crate::git::merging::merge_destinations(repo, s);
    let base = gix::ObjectId::from_hex(s.base.commit.as_bytes())?;
    if mem.is_ancestor(tip, base)? {
        i.empty = true;
        return Ok(i);
    }
    for dest in &destinations {
        let target = mem.commit_of(dest)?;
        if let Some(by) = crate::git::merging::merged_by(repo, mem, tip, target)? {
            i.merged = Some((by, short_ref(dest)));
            return Ok(i);
        }
    }
    let mut log = repo.git().args([
        "log",
        "--format=%h %s",
        "--max-count=20",
        &tip.to_string(),
        "--not",
    ]);
    if destinations.is_empty() {
        log = log.arg(&s.base.commit);
    } else {
        log = log.args(&destinations);
    }
    i.unmerged = log.run()?.lines().map(str::to_owned).collect();
    Ok(i)
}

/// Looks into the initialised submodules of `dir` (recursively), adding to `work` what only
/// they hold: uncommitted and untracked files, and commits that no remote-tracking branch of
/// the submodule has. Removing the worktree deletes the submodules' clones (they live in its
/// admin directory), their local branches included, so only what a remote has counts as kept.
/// True if `dir` has any initialised submodule.
fn submodule_work(
    dir: &std::path::Path,
    prefix: &str,
    sandbox: Option<&[std::path::PathBuf]>,
    work: &mut Vec<String>,
) -> Result<bool> {
    let in_sandbox = |cmd: Cmd| -> Result<Cmd> {
        match sandbox {
            Some(writable) => crate::sandbox::wrap(&cmd, writable),
            None => Ok(cmd),
        }
    };
    let staged = crate::git::in_dir(dir)
        .args(["ls-files", "-z", "--stage"])
        .run()?;
    let mut any = false;
    for entry in staged.split('\0') {
        let Some((meta, path)) = entry.split_once('\t') else {
            continue;
        };
        if !meta.starts_with("160000 ") {
            continue;
        }
        let sub = dir.join(path);
        // Any submodule, even one never initialised (its clone failed, or `--no-setup`),
        // makes plain `git worktree remove` refuse.
        any = true;
        let shown = format!("{prefix}{path}");
        if !sub.join(".git").exists() {
            // Not initialised: git shows nothing of what may be in its folder, so anything
            // there counts as work.
            let files = std::fs::read_dir(&sub).map_or(0, Iterator::count);
            if files > 0 {
                work.push(format!(
                    "{shown}: {files} file(s) in a submodule that is not initialised"
                ));
            }
            continue;
        }
        let status = in_sandbox(crate::git::WorktreeDir::new(&sub).status_command(
            &crate::git::StatusOptions {
                untracked_files_all: true,
                ..Default::default()
            },
        ))?
        .run()?;
        work.extend(
            short_status(&crate::git::status::parse(&status))
                .into_iter()
                .map(|l| format!("{shown}: {l}")),
        );
        let commits = in_sandbox(crate::git::in_dir(&sub))?
            .args([
                "log",
                "--format=%h %s",
                "--max-count=20",
                "HEAD",
                "--branches",
                "--not",
                "--remotes",
            ])
            .run()?;
        work.extend(
            commits
                .lines()
                .map(|c| format!("{shown}: commit {c} is on no remote branch")),
        );
        submodule_work(&sub, &format!("{shown}/"), sandbox, work)?;
    }
    Ok(any)
}

fn short_ref(r: &str) -> String {
    r.strip_prefix("refs/heads/")
        .or_else(|| r.strip_prefix("refs/remotes/"))
        .unwrap_or(r)
        .to_owned()
}

/// Status entries as short `XY path` lines (`XY from -> to` for a rename; ignored files are
/// not listed).
fn short_status(status: &[crate::git::StatusEntry]) -> Vec<String> {
    use crate::git::StatusEntry;
    status
        .iter()
        .filter_map(|e| match e {
            StatusEntry::Renamed { xy, path, from, .. } => Some(format!("{xy} {from} -> {path}")),
            StatusEntry::Ignored { .. } => None,
            _ => Some(format!("{} {}", e.xy(), e.path())),
        })
        .collect()
}

/// Why `opts` do not allow removing the inspected session, if they do not: a failure that
/// lists exactly what would be lost and the flag that decides.
pub fn refusal(i: &Inspection, opts: &Options, force_flag: &str) -> Option<Failure> {
    if let Some(reason) = &i.locked_by_other {
        return Some(
            Failure::fatal(format!(
                "'{}': the worktree is locked by someone else ({reason})",
                i.name
            ))
            .hint(format!(
                "unlock it first if that lock is stale: git worktree unlock {}",
                i.worktree.display()
            )),
        );
    }
    if opts.force {
        return None;
    }
    let mut lost = Vec::new();
    if let Some(op) = &i.operation {
        lost.push(format!("{op} in {}", i.worktree.display()));
    }
    if let Some(h) = &i.head_elsewhere {
        lost.push(format!("{h} in {}", i.worktree.display()));
    }
    if !i.uncommitted.is_empty() {
        lost.push(format!("uncommitted changes in {}:", i.worktree.display()));
        lost.extend(i.uncommitted.iter().take(20).map(|l| format!("  {l}")));
        if i.uncommitted.len() > 20 {
            lost.push(format!("  … and {} more", i.uncommitted.len() - 20));
        }
    }
    if !i.submodule_work.is_empty() {
        lost.push(format!(
            "work only the submodules in {} hold:",
            i.worktree.display()
        ));
        lost.extend(i.submodule_work.iter().take(20).map(|l| format!("  {l}")));
    }
    if !opts.allow_unmerged && !i.branch_is_merged() {
        lost.push(format!(
            "commits on {} that are not merged anywhere:",
            i.branch
        ));
        lost.extend(i.unmerged.iter().map(|l| format!("  {l}")));
    }
    if lost.is_empty() {
        return None;
    }
    let mut failure = Failure::fatal(format!(
        "'{}' holds work that would be lost:\n{}",
        i.name,
        lost.join("\n")
    ))
    .code(crate::error::code::NEGATIVE);
    if !i.branch_is_merged() && !opts.allow_unmerged {
        failure = failure.hint(format!(
            "merge it first (git agent merge {0}), or review it (git agent review {0})",
            i.name
        ));
    }
    if i.worktree_holds_work() {
        failure = failure.hint(format!(
            "commit what is in the worktree: git -C {} commit -a",
            i.worktree.display()
        ));
    }
    Some(failure.hint(format!(
        "to remove it anyway: {force_flag} (the branch and its commits are kept)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_status_lines() {
        let status = "1 .M N... 100644 100644 100644 a b src/a.rs\0\
                      2 R. N... 100644 100644 100644 a b R100 new.rs\0old.rs\0\
                      ? notes/n.txt\0";
        assert_eq!(
            short_status(&crate::git::status::parse(status)),
            [".M src/a.rs", "R. old.rs -> new.rs", "?? notes/n.txt"]
        );
    }
}
