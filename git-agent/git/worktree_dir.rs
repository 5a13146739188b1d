//! A worktree on disk, as git sees it from inside: its git directory, its HEAD, the operation
//! half done there, its status. One handle instead of `git -C dir rev-parse …` spelled at
//! each call site.
//!
//! Invariant: nothing here checks that the worktree's link to its repository is the one git
//! made. The worktree's `.git` file decides which repository every read here sees, and an
//! agent can rewrite it: a caller about to run git in a session's worktree after its agent ran
//! asks [`crate::git::link::guard`] (or `check_link`) first.
//! Must not touch: sessions, the state directory, the terminal; it never writes.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::git::status::StatusEntry;
use crate::process::Cmd;

/// A worktree (main or linked), by its folder.
#[derive(Debug, Clone, Copy)]
pub struct WorktreeDir<'a> {
    path: &'a Path,
}

/// Where a worktree's HEAD is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// The commit checked out; `None` on an unborn branch.
    pub commit: Option<gix::ObjectId>,
    /// The branch HEAD is on (`refs/heads/…`, as `git symbolic-ref HEAD` prints it, unborn
    /// or not); `None` when detached.
    pub branch: Option<String>,
}

/// What a worktree's git directory holds while an operation is half done, and what to call it.
const IN_PROGRESS: &[(&str, &str)] = &[
    ("MERGE_HEAD", "a merge"),
    ("rebase-merge", "a rebase"),
    ("rebase-apply", "a rebase"),
    ("CHERRY_PICK_HEAD", "a cherry-pick"),
    ("REVERT_HEAD", "a revert"),
];

/// The operation in progress in the worktree whose git directory (`<common>/worktrees/<id>`,
/// or the common one for the main worktree) is `git_dir`: "a merge", "a rebase"… For a
/// caller that found that directory from the repository's side (see
/// [`crate::git::link::admin_dir`]) rather than from the worktree's `.git` file.
pub fn operation_in(git_dir: &Path) -> Option<&'static str> {
    IN_PROGRESS
        .iter()
        .find(|(marker, _)| git_dir.join(marker).exists())
        .map(|(_, what)| *what)
}

/// Which entries `git --no-optional-locks status --porcelain=v2 -z` lists (it never takes
/// `index.lock`: invariant 6). The default is git's own: untracked folders collapsed, dirty
/// submodules shown, the whole worktree.
#[derive(Debug, Clone, Default)]
pub struct StatusOptions {
    /// `--untracked-files=all`: each untracked file, not the folders that hold them.
    pub untracked_files_all: bool,
    /// `--ignore-submodules=dirty`: git would otherwise run `git status` inside each
    /// submodule, under that submodule's config, which in an agent's worktree the agent may
    /// have written (filters, hooks of a nested repository). A submodule moved to another
    /// commit still shows.
    pub ignore_dirty_submodules: bool,
    /// `--` and these pathspecs; `None`: no `--` either.
    pub pathspecs: Option<Vec<String>>,
    /// `-c core.preloadIndex=false`: git stats files on one thread, for a caller that runs one
    /// status per core.
    pub one_thread: bool,
}

impl<'a> WorktreeDir<'a> {
    pub fn new(path: &'a Path) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &'a Path {
        self.path
    }

    /// `git -C <worktree>`.
    pub fn git(&self) -> Cmd {
        crate::git::in_dir(self.path)
    }

    /// The worktree's git directory (`<common>/worktrees/<id>`, or the common one for the main
    /// worktree), absolute, as git finds it from the worktree (through its `.git` file).
    pub fn git_dir(&self) -> Result<PathBuf> {
        let out = self.git().args(["rev-parse", "--absolute-git-dir"]).run()?;
        Ok(PathBuf::from(out.trim()))
    }

    /// The operation in progress there ("a merge", "a rebase"…); `None` if none is, or the
    /// git directory cannot be found.
    pub fn operation(&self) -> Option<&'static str> {
        operation_in(&self.git_dir().ok()?)
    }

    /// Where HEAD is: read in-process with gix (no git process, no config-named command runs).
    pub fn head(&self) -> Result<Head> {
        let repo = gix::open(self.path)
            .with_context(|| format!("cannot open the worktree {}", self.path.display()))?;
        let head = repo
            .head()
            .with_context(|| format!("cannot read HEAD in {}", self.path.display()))?;
        let branch = head.referent_name().map(|n| n.as_bstr().to_string());
        let commit = repo.head_id().ok().map(gix::Id::detach);
        Ok(Head { commit, branch })
    }

    /// The commit checked out; an error on an unborn branch.
    pub fn head_id(&self) -> Result<gix::ObjectId> {
        self.head()?
            .commit
            .with_context(|| format!("HEAD does not point to a commit in {}", self.path.display()))
    }

    /// [`WorktreeDir::head_id`], as hex.
    pub fn head_commit(&self) -> Result<String> {
        Ok(self.head_id()?.to_string())
    }

    /// `git status --porcelain=v2 -z`, to run (or to wrap first, as in a sandbox) and parse
    /// with [`crate::git::status::parse`].
    pub fn status_command(&self, options: &StatusOptions) -> Cmd {
        let mut cmd = crate::git::command();
        if options.one_thread {
            cmd = cmd.args(["-c", "core.preloadIndex=false"]);
        }
        cmd = cmd.arg("-C").arg(self.path).args([
            "--no-optional-locks",
            "status",
            "--porcelain=v2",
            "-z",
        ]);
        if options.untracked_files_all {
            cmd = cmd.arg("--untracked-files=all");
        }
        if options.ignore_dirty_submodules {
            cmd = cmd.arg("--ignore-submodules=dirty");
        }
        if let Some(pathspecs) = &options.pathspecs {
            cmd = cmd.arg("--").args(pathspecs);
        }
        cmd
    }

    /// The worktree's status entries.
    pub fn status(&self, options: &StatusOptions) -> Result<Vec<StatusEntry>> {
        let out = self.status_command(options).run()?;
        Ok(crate::git::status::parse(&out))
    }
}
