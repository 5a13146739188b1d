//! Where a squash or merge commit is built (step 4): nobody's checkout. The agent's worktree
//! with its HEAD detached at the target, its branch checked out again afterwards; or, if the
//! agent's worktree is gone, a temporary worktree under the state directory, removed after.
//!
//! Owns only that place and putting it back (also on drop, so an error halfway restores it).
//! It resets only what the merge put there: the worktree was committed clean before (step
//! 2). Never touches the user's checkout or any branch's ref.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use git_agent::git::repo::Repo;
use git_agent::session::Session;
use gix::ObjectId;

use crate::target::git;

/// Where a squash or merge commit is built: the agent's worktree with its HEAD detached at the
/// target (its branch checked out again afterwards), or a temporary worktree. Everything in it
/// comes from commits, so putting it back is lossless.
pub(super) struct Workspace {
    pub dir: PathBuf,
    /// The branch to check out again (the agent's worktree), or `None` for a temporary one.
    branch: Option<String>,
    repo_common: PathBuf,
    restored: bool,
}

impl Workspace {
    pub fn open(repo: &Repo, s: &Session, at: ObjectId) -> Result<Self> {
        if s.worktree.is_dir() {
            git(&s.worktree)
                .args(["checkout", "--quiet", "--detach", &at.to_string()])
                .run()
                .context("could not prepare the merge in the agent's worktree")?;
            return Ok(Self {
                dir: s.worktree.clone(),
                branch: Some(s.branch.clone()),
                repo_common: repo.common_dir().to_owned(),
                restored: false,
            });
        }
        let dir = repo.state().root().join("tmp").join(format!(
            "merge-{}-{}",
            s.name,
            std::process::id()
        ));
        git_agent::git::repo::serialized(
            repo.common_dir(),
            repo.git()
                .args(["worktree", "add", "--quiet", "--detach"])
                .arg(&dir)
                .arg(at.to_string()),
        )
        .context("could not create a temporary worktree for the merge")?;
        Ok(Self {
            dir,
            branch: None,
            repo_common: repo.common_dir().to_owned(),
            restored: false,
        })
    }

    pub fn restore(&mut self) -> Result<()> {
        if self.restored {
            return Ok(());
        }
        self.restored = true;
        // Only what this merge put there is reset (the worktree was clean before).
        git(&self.dir).args(["reset", "--quiet", "--hard"]).run()?;
        match &self.branch {
            Some(branch) => {
                // Checking out a branch reads every worktree (is it checked out elsewhere?).
                git_agent::git::repo::serialized(
                    &self.repo_common,
                    git(&self.dir).args(["checkout", "--quiet", branch]),
                )
                .with_context(|| format!("could not check out {branch} again"))?;
            }
            None => {
                git_agent::git::worktree::remove(&self.repo_common, &self.dir)?;
            }
        }
        Ok(())
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}
