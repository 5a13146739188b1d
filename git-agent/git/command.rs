//! The one way to build a git command: every `git` the suite runs starts at [`command`].
//!
//! Owns the flags and environment all our git calls share: `-c core.fsmonitor=false` and no
//! inherited repository-location variables (see [`crate::process::Cmd::git`] for why). The
//! raw constructor is a lint error everywhere else (`clippy.toml`, `disallowed-methods`), so
//! a new git call cannot forget them. Callers add what is particular to them (`-c` settings,
//! environment) on the [`Cmd`] this returns.
//!
//! Must not touch: what any git command means; this only starts one.

use std::path::Path;

use crate::process::Cmd;

/// `git`, naming no repository: for commands that need none (`check-ref-format`) or that name
/// it themselves (`--git-dir`, `config --file`).
#[allow(clippy::disallowed_methods)] // the one builder
pub fn command() -> Cmd {
    Cmd::git()
}

/// `git -C <dir>`: in a worktree (or the folder of a repository).
pub fn in_dir(dir: &Path) -> Cmd {
    command().arg("-C").arg(dir)
}

/// `git --git-dir <common_dir>`, run from there: aimed at the repository itself, not at any
/// worktree.
pub fn in_repo(common_dir: &Path) -> Cmd {
    command()
        .arg("--git-dir")
        .arg(common_dir)
        .current_dir(common_dir)
}
