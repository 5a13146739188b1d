//! The reviewer's own checkout: a throw-away worktree holding a session's result (its commits
//! and its uncommitted work), never the agent's worktree, which a reviewer must not touch.
//!
//! It is `git worktree add --detach --no-checkout` at the session's HEAD in a private temporary
//! folder, then `read-tree -u --reset` of the result tree: the reviewer sees the uncommitted
//! part as staged changes over the HEAD the agent has. No branch, no ref and no commit is made;
//! `--no-checkout` also keeps the user's `post-checkout` hook from running for it. [`Checkout`]
//! is a guard: dropping it removes the worktree and its administrative entry in every case
//! (the review succeeded, failed or erred), leaving nothing in `git worktree list`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::git::repo::Repo;

/// A throw-away worktree at a result; removed when dropped.
pub struct Checkout {
    common_dir: PathBuf,
    path: PathBuf,
    /// Its administrative folder (`<common>/worktrees/<id>`), to forget it by hand if
    /// `git worktree remove` fails (a global `worktree prune` would touch other entries).
    admin: Option<PathBuf>,
    // Dropped after the worktree is removed (fields drop in declaration order: the guard's
    // `Drop` runs first).
    _tmp: tempfile::TempDir,
}

impl Checkout {
    /// A worktree at commit `head` holding `tree` (the session's result).
    pub fn create(repo: &Repo, head: &str, tree: &str) -> Result<Self> {
        let tmp = tempfile::Builder::new()
            .prefix("git-agent-review-")
            .tempdir()
            .context("could not create a temporary folder for the reviewer's checkout")?;
        let path = tmp.path().join("result");
        let common_dir = repo.common_dir().to_owned();
        crate::git::repo::serialized(
            &common_dir,
            crate::git::in_repo(&common_dir)
                .args(["worktree", "add", "--detach", "--no-checkout", "--quiet"])
                .arg(&path)
                .arg(head),
        )
        .context("could not create the reviewer's worktree")?;
        // From here on the guard removes it, whatever happens next.
        let admin = crate::git::worktree::id_of(&common_dir, &path)
            .map(|id| common_dir.join("worktrees").join(id));
        let checkout = Self {
            common_dir,
            path,
            admin,
            _tmp: tmp,
        };
        // LFS content stays as pointers: a review never waits on (or pays for) a download.
        crate::git::in_dir(&checkout.path)
            .env("GIT_LFS_SKIP_SMUDGE", "1")
            .args(["read-tree", "-u", "--reset", tree])
            .run()
            .context("could not check the result out for the reviewer")?;
        Ok(checkout)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        // `--force`: it holds the uncommitted part of the result (a copy; the original stays in
        // the agent's worktree) and whatever the reviewer left, both ours to throw away.
        let removed = crate::git::repo::serialized(
            &self.common_dir,
            crate::git::in_repo(&self.common_dir)
                .args(["worktree", "remove", "--force", "--force"])
                .arg(&self.path),
        );
        if removed.is_err() {
            // Its folder goes with the temporary folder; git forgets an entry whose
            // administrative folder is gone.
            let _ = std::fs::remove_dir_all(&self.path);
            if let Some(admin) = &self.admin {
                let _ = std::fs::remove_dir_all(admin);
            }
        }
    }
}
