//! Creating agent worktrees with git (so `post-checkout` hooks run), and undoing a failed
//! creation without losing anything (invariant 4: no branch or record left behind).

use std::path::Path;

use anyhow::Result;

use crate::error::Failure;
use crate::git::link::admin_dir;
use crate::git::repo::Repo;
use crate::process::CommandFailed;
use crate::session::Session;

/// How a worktree is checked out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checkout {
    /// Check out an existing branch instead of creating one.
    pub attach: bool,
    /// Do not download LFS content (`GIT_LFS_SKIP_SMUDGE=1`).
    pub skip_lfs: bool,
}

/// The lock reason we put on worktrees whose agent runs, so `git worktree prune` and
/// `git worktree remove` leave them alone, and so we recognise our own locks.
pub fn lock_reason(name: &str) -> String {
    format!("git-agent: agent '{name}' is running")
}

/// `git worktree add --lock -b BRANCH PATH COMMIT`.
///
/// On failure everything git made is taken back, never by force: a worktree git registered
/// before failing (a failing `post-checkout` hook) is removed with a plain
/// `git worktree remove`, and the branch, if git created it and it still points at `commit`,
/// is deleted with a compare-and-delete. If the worktree cannot be removed cleanly (the hook
/// left files in it), worktree and branch are kept and the error says where they are.
pub fn create(
    repo: &Repo,
    name: &str,
    branch: &str,
    path: &Path,
    commit: &str,
    how: &Checkout,
) -> Result<()> {
    let _serialized = repo.state().worktree_lock()?;
    let existed = repo.branch_exists(branch)?;
    let mut cmd = repo.git();
    // Parallel checkout (one worker per core) unless the user chose: the checkout is most of
    // the cost of `new` (measured: 50k files, see benches/compare.rs). gix's checkout is not
    // used: it runs no post-checkout hook.
    if repo.config().string("checkout.workers").is_none() {
        cmd = cmd.args(["-c", "checkout.workers=0"]);
    }
    cmd = cmd.args(["worktree", "add", "--lock", "--reason", &lock_reason(name)]);
    cmd = if how.attach {
        // An existing branch is checked out as it is: never reset, never recreated.
        cmd.arg(path).arg(branch)
    } else {
        cmd.args(["-b", branch]).arg(path).arg(commit)
    };
    if how.skip_lfs {
        cmd = cmd.env("GIT_LFS_SKIP_SMUDGE", "1");
    }
    let out = cmd.output()?;
    if out.status.success() {
        // Best effort: a worktree without the mark is judged by the rule for older records.
        let _ = mark(repo.common_dir(), path, name);
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    // git's own message if it gave one ("fatal: '…' already exists"), else how it ended.
    let reason = stderr
        .lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("fatal: ")
                .or_else(|| l.strip_prefix("error: "))
        })
        .map_or_else(
            || {
                format!(
                    "git worktree add failed ({})",
                    crate::process::describe_status(out.status)
                )
            },
            str::to_owned,
        );
    let mut failure = Failure::fatal(format!(
        "could not create the worktree at '{}': {reason}",
        path.display()
    ));
    if path.exists() && repo.is_registered_worktree(path)? {
        let _ = unlock_holding(repo.common_dir(), name, path);
        if let Err(e) = repo.git().args(["worktree", "remove"]).arg(path).run() {
            let detail = e
                .downcast_ref::<CommandFailed>()
                .map_or_else(|| format!("{e:#}"), |f| f.stderr.clone());
            return Err(failure
                .hint(format!(
                    "git created the worktree and branch '{branch}' but then failed; they are kept"
                ))
                .hint(format!("because the worktree is not clean: {detail}"))
                .hint(format!(
                    "nothing was started; remove them with: git worktree remove --force {}",
                    path.display()
                ))
                .into());
        }
    }
    if !existed && repo.branch_exists(branch)? {
        let _ = repo
            .git()
            .args(["update-ref", "-d", &format!("refs/heads/{branch}"), commit])
            .run();
    }
    failure = failure.hint("nothing was started; the current checkout is untouched");
    Err(failure.into())
}

/// Removes one worktree with a plain `git worktree remove`: git refuses if it holds changes;
/// a missing checkout just loses its entry.
pub fn remove(common_dir: &Path, path: &Path) -> Result<()> {
    crate::git::repo::serialized(
        common_dir,
        crate::git::in_repo(common_dir)
            .args(["worktree", "remove"])
            .arg(path),
    )?;
    Ok(())
}

/// [`remove`], if git still has the worktree registered (a concurrent removal may have taken
/// it first); true if it was removed here. `force` (`--force`) comes from a force flag the
/// user typed (`rm --force`, `merge --discard-others --force`), or from the removal's own
/// inspection having proven that a worktree with submodules (which git removes only with
/// `--force`) holds nothing that exists nowhere else (see `remove.rs`).
pub fn remove_if_registered(common_dir: &Path, path: &Path, force: bool) -> Result<bool> {
    let _serialized = crate::state::StateDir::at(common_dir).worktree_lock()?;
    if admin_dir(common_dir, path).is_none() {
        return Ok(false);
    }
    let mut cmd = crate::git::in_repo(common_dir).args(["worktree", "remove"]);
    if force {
        cmd = cmd.arg("--force");
    }
    cmd.arg(path).run()?;
    Ok(true)
}

/// Releases our lock on a worktree (only if the lock is ours).
pub fn unlock(common_dir: &Path, name: &str, path: &Path) -> Result<bool> {
    let _serialized = crate::state::StateDir::at(common_dir).worktree_lock()?;
    unlock_holding(common_dir, name, path)
}

/// [`unlock`], for a caller that already holds the worktree lock.
fn unlock_holding(common_dir: &Path, name: &str, path: &Path) -> Result<bool> {
    // Found through the admin directories, not by asking git inside the checkout: a checkout
    // deleted while its agent ran keeps its entry, and our lock on it, until we take it back.
    let Some(admin) = admin_dir(common_dir, path) else {
        return Ok(false);
    };
    match std::fs::read_to_string(admin.join("locked")) {
        Ok(reason) if reason.trim() == lock_reason(name) => {}
        _ => return Ok(false),
    }
    crate::git::in_repo(common_dir)
        .args(["worktree", "unlock"])
        .arg(path)
        .run()?;
    Ok(true)
}

/// Removes a worktree we just created and nothing has run in yet (an interrupted `new`), and
/// its branch if it still points at `commit`. Never forced: a worktree with changes stays.
pub fn discard_fresh(
    repo: &Repo,
    name: &str,
    branch: Option<&str>,
    path: &Path,
    commit: &str,
) -> Result<()> {
    let _ = unlock(repo.common_dir(), name, path);
    remove(repo.common_dir(), path)?;
    // An attached (existing) branch is never deleted.
    if let Some(branch) = branch {
        repo.git()
            .args(["update-ref", "-d", &format!("refs/heads/{branch}"), commit])
            .run()?;
    }
    Ok(())
}

/// Takes our lock on a worktree for a new run; false if someone else holds a lock on it.
pub fn lock(common_dir: &Path, name: &str, path: &Path) -> Result<bool> {
    let _serialized = crate::state::StateDir::at(common_dir).worktree_lock()?;
    let out = crate::git::in_repo(common_dir)
        .args(["worktree", "lock", "--reason", &lock_reason(name)])
        .arg(path)
        .output()?;
    Ok(out.status.success())
}

/// The file git-agent writes into the admin directory (`<common>/worktrees/<id>/`) of each
/// worktree it creates, holding the session's name: what makes a worktree a session's
/// (invariant 12). git never reads it; `git worktree move`/`repair` keep it.
const MARKER: &str = "git-agent-session";

/// Marks the worktree at `path` as created by git-agent for session `name`; its admin id.
pub fn mark(common_dir: &Path, path: &Path, name: &str) -> Result<Option<String>> {
    let Some(admin) = admin_dir(common_dir, path) else {
        return Ok(None);
    };
    std::fs::write(admin.join(MARKER), format!("{name}\n"))?;
    Ok(admin_id(&admin))
}

/// The id (admin directory name) of the worktree at `path`.
pub fn id_of(common_dir: &Path, path: &Path) -> Option<String> {
    admin_id(&admin_dir(common_dir, path)?)
}

fn admin_id(admin: &Path) -> Option<String> {
    admin.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// The session a worktree's admin directory was marked for, if any.
pub fn marked_for(admin: &Path) -> Option<String> {
    std::fs::read_to_string(admin.join(MARKER))
        .ok()
        .map(|t| t.trim().to_owned())
}

/// Why the worktree at `path` (registered with admin directory `admin`, if known) is not one
/// git-agent created for session `s`; `None` if it is.
///
/// The rule: never the main worktree; its admin directory must be under
/// `<common>/worktrees/`; marked for this session. An unmarked entry is accepted only for a
/// record older than the mark (no `worktree_id`), and only at the very path recorded.
/// Refuses a session whose recorded worktree git-agent did not create for it (invariant 12):
/// nothing may run, stop or commit there. `hint` says what to do instead.
pub fn ensure_ours(repo: &Repo, s: &Session, hint: &str) -> Result<()> {
    match not_ours(repo.common_dir(), repo.main_workdir(), s, &s.worktree, None) {
        Some(why) => Err(Failure::fatal(format!(
            "'{}' records {} as its worktree, but {why}",
            s.name,
            s.worktree.display()
        ))
        .hint(hint)
        .into()),
        None => Ok(()),
    }
}

pub fn not_ours(
    common_dir: &Path,
    main: Option<&Path>,
    s: &Session,
    path: &Path,
    admin: Option<&Path>,
) -> Option<String> {
    if main.is_some_and(|m| same_path(m, path)) {
        return Some("it is the main worktree".into());
    }
    let found;
    let admin = match admin {
        Some(a) => a,
        None => {
            found = admin_dir(common_dir, path)?;
            &found
        }
    };
    if admin.parent() != Some(common_dir.join("worktrees").as_path()) {
        return Some("it is not a linked worktree of this repository".into());
    }
    match (marked_for(admin), &s.worktree_id) {
        // A session started `--in` another shares the worktree git-agent made for that one.
        (Some(owner), _) if owner == s.name || s.shares.as_deref() == Some(owner.as_str()) => None,
        (Some(owner), _) => Some(format!("git-agent created it for '{owner}'")),
        (None, Some(_)) => Some("git-agent did not create it".into()),
        (None, None) if same_path(path, &s.worktree) => None,
        (None, None) => Some("git-agent did not create it for this session".into()),
    }
}

/// The same place, even through symbolic links.
pub fn same_path(a: &Path, b: &Path) -> bool {
    a == b
        || std::fs::canonicalize(a)
            .ok()
            .zip(std::fs::canonicalize(b).ok())
            .is_some_and(|(x, y)| x == y)
}
