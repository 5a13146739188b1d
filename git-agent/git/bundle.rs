//! Moving a session's branch to and from a runner that has no view of this repository (a
//! container's own clone, a runner plugin, another machine): out as a git bundle of the
//! branch, back as a bundle (or a fetch) that is checked before anything here moves.
//!
//! Invariants: what comes back is verified (`git bundle verify`), fetched with
//! `transfer.fsckObjects`, into a ref of our own (`refs/agent-incoming/<name>`), and must
//! descend from the branch as it was sent; the branch and its worktree then move by a
//! fast-forward made *in the worktree* (`git merge --ff-only`), which refuses rather than
//! overwrite anything there. A result that cannot be brought in stays under its incoming ref,
//! and the error names it: nothing the agent made is lost, nothing of the user's is touched.
//! What the agent left uncommitted may come back too, as a commit on the branch's tip: it is
//! kept under `refs/agent-leftovers/<name>` and put in the worktree as uncommitted changes
//! only where the worktree is clean and at that tip; a new run is refused while either ref
//! holds work the branch does not.

use std::path::Path;

use anyhow::Result;

use crate::error::Failure;
use crate::git::repo::Repo;
use crate::git::worktree_dir::WorktreeDir;
use crate::session::Session;

/// Where a result waits before it is brought to the branch.
pub fn incoming_ref(name: &str) -> String {
    format!("refs/agent-incoming/{name}")
}

/// Where what the agent left uncommitted waits when it could not be put in the worktree: a
/// commit whose parent is the branch's tip it was left on, its tree the agent's files.
pub fn leftovers_ref(name: &str) -> String {
    format!("refs/agent-leftovers/{name}")
}

/// How a runner that hands back a bundle names the uncommitted work in it.
pub const BUNDLED_LEFTOVERS: &str = "refs/git-agent/leftovers";

/// Work of the agent kept aside under our refs, waiting to be brought in: the leftovers
/// ref, and the incoming ref where the branch does not contain it. (ref, commit) pairs.
pub fn pending(repo: &Repo, session: &Session) -> Vec<(String, String)> {
    let resolve = |r: &str| {
        repo.git()
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("{r}^{{commit}}"))
            .run()
            .ok()
            .map(|c| c.trim().to_owned())
    };
    let mut kept = Vec::new();
    let leftovers = leftovers_ref(&session.name);
    if let Some(commit) = resolve(&leftovers) {
        kept.push((leftovers, commit));
    }
    let incoming = incoming_ref(&session.name);
    if let Some(commit) = resolve(&incoming) {
        let contained = repo
            .git()
            .args(["merge-base", "--is-ancestor", &commit])
            .arg(format!("refs/heads/{}", session.branch))
            .status()
            .is_ok_and(|s| s.success());
        if !contained {
            kept.push((incoming, commit));
        }
    }
    kept
}

/// How to bring in, or drop, work kept under `reference`.
pub fn pending_hints(reference: &str) -> [String; 2] {
    let bring = if reference.starts_with("refs/agent-leftovers/") {
        restore_hint(reference)
    } else {
        format!("bring it in: git merge {reference} (in the session's worktree)")
    };
    [bring, format!("or drop it: git update-ref -d {reference}")]
}

/// Refuses a new run while work of an earlier one is kept aside ([`pending`]): the new run
/// starts from the branch and worktree, and its result must not replace that.
pub fn refuse_if_pending(repo: &Repo, session: &Session) -> Result<()> {
    let Some((reference, commit)) = pending(repo, session).into_iter().next() else {
        return Ok(());
    };
    let [bring, drop] = pending_hints(&reference);
    Err(Failure::fatal(format!(
        "work of an earlier run of {} waits as {reference} ({commit}), not on {}",
        session.name, session.branch
    ))
    .hint(bring)
    .hint(drop)
    .into())
}

/// Writes a bundle of the session's branch (its history up to its tip) to `path`; returns the
/// tip bundled.
pub fn create(repo: &Repo, session: &Session, path: &Path) -> Result<String> {
    let tip = repo
        .branch_tip(&session.branch)?
        .ok_or_else(|| Failure::fatal(format!("the branch {} is gone", session.branch)))?
        .to_string();
    repo.git()
        .args(["bundle", "create", "--quiet"])
        .arg(path)
        .arg(format!("refs/heads/{}", session.branch))
        .run()?;
    Ok(tip)
}

/// Writes a bundle of the session's branch to `path` that leaves out what `have` (commits a
/// receiver holds) reaches; returns the tip and whether anything was written (nothing when
/// `have` reaches the tip: the receiver has the whole branch).
pub fn create_for(
    repo: &Repo,
    session: &Session,
    path: &Path,
    have: &[String],
) -> Result<(String, bool)> {
    let tip = repo
        .branch_tip(&session.branch)?
        .ok_or_else(|| Failure::fatal(format!("the branch {} is gone", session.branch)))?
        .to_string();
    let mut revs = format!("refs/heads/{}\n", session.branch);
    for commit in have {
        revs.push_str(&format!("^{commit}\n"));
    }
    let new = repo
        .git()
        .args(["rev-list", "-n1", "--stdin"])
        .run_with_input(revs.as_bytes())?;
    if new.trim().is_empty() {
        return Ok((tip, false));
    }
    repo.git()
        .args(["bundle", "create", "--quiet"])
        .arg(path)
        .arg("--stdin")
        .run_with_input(revs.as_bytes())?;
    Ok((tip, true))
}

/// The commits of `url`'s branches and tags that this repository has too: what a clone of
/// `url` is sure to hold, so a bundle for it can leave them out. Empty where `url` cannot
/// be listed from here.
pub fn shared_with(repo: &Repo, url: &str) -> Vec<String> {
    let Some(listed) = listed_within(repo, url, LIST_WITHIN) else {
        return Vec::new();
    };
    let ids: std::collections::BTreeSet<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let input: String = ids.iter().map(|id| format!("{id}\n")).collect();
    let Ok(known) = repo
        .git()
        .args(["cat-file", "--batch-check=%(objectname) %(objecttype)"])
        .run_with_input(input.as_bytes())
    else {
        return Vec::new();
    };
    known
        .lines()
        .filter_map(|l| l.strip_suffix(" commit"))
        .map(str::to_owned)
        .collect()
}

/// How long [`shared_with`] waits for `url`: it only makes the bundle smaller, and a server
/// that takes the connection and never answers must not hold the run.
const LIST_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// `git ls-remote url`, given up (its process group killed) after `within`.
fn listed_within(repo: &Repo, url: &str, within: std::time::Duration) -> Option<String> {
    use std::io::Read as _;
    use std::process::Stdio;
    let mut child = repo
        .git()
        .args(["ls-remote", "--quiet", url])
        .spawn(Stdio::null(), Stdio::piped(), Stdio::null(), true)
        .ok()?;
    let mut out = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        out.read_to_string(&mut text).map(|_| text).ok()
    });
    let deadline = std::time::Instant::now() + within;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return reader.join().ok().flatten().filter(|_| status.success()),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            _ => {
                let group = i32::try_from(child.id())
                    .ok()
                    .map(nix::unistd::Pid::from_raw);
                if let Some(group) = group {
                    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                }
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Checks the bundle at `path` and fetches its `refs/heads/<branch>` into the session's
/// incoming ref; returns the commit.
pub fn fetch(repo: &Repo, session: &Session, path: &Path) -> Result<String> {
    verify(session, repo, path)?;
    fetch_from(repo, session, &path.to_string_lossy())
}

/// `git bundle verify`: a bundle git can read whose prerequisites are here.
fn verify(session: &Session, repo: &Repo, path: &Path) -> Result<()> {
    repo.git()
        .args(["bundle", "verify", "--quiet"])
        .arg(path)
        .run()
        .map_err(|e| {
            Failure::fatal(format!(
                "the result of {} is not a bundle git can use: {e:#}",
                session.name
            ))
        })?;
    Ok(())
}

/// Fetches `refs/heads/<branch>` from `source` (a bundle, a URL) into the session's incoming
/// ref, objects checked; returns the commit.
pub fn fetch_from(repo: &Repo, session: &Session, source: &str) -> Result<String> {
    fetch_from_with(repo, session, source, &[])
}

/// [`fetch_from`] with more environment for git (`GIT_SSH_COMMAND` for a fetch over SSH).
pub fn fetch_from_with(
    repo: &Repo,
    session: &Session,
    source: &str,
    env: &[(&str, &str)],
) -> Result<String> {
    let incoming = incoming_ref(&session.name);
    let kept = repo
        .git()
        .args(["rev-parse", "--verify", "--quiet", &incoming])
        .run()
        .is_ok();
    let mut git = repo.git();
    for (key, value) in env {
        git = git.env(key, value);
    }
    checked_fetch(git)
        .arg(source)
        // Not forced: a result kept there (one that could not be brought in) is replaced only by
        // one that contains it. The ref has no reflog; overwriting it would lose that work.
        .arg(format!("refs/heads/{}:{incoming}", session.branch))
        .run()
        .map_err(|e| {
            if !kept {
                return Failure::fatal(format!(
                    "could not fetch the result of {}: {e:#}",
                    session.name
                ));
            }
            Failure::fatal(format!(
            "the result of {} does not contain the work kept as {incoming}: {e:#}",
            session.name
        ))
        .hint(format!(
            "bring that in first (git merge {incoming}) or drop it (git update-ref -d {incoming})"
        ))
        })?;
    let out = repo
        .git()
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{incoming}^{{commit}}"))
        .run()?;
    Ok(out.trim().to_owned())
}

/// `git fetch` of exactly the refspecs given, every object checked, nothing else written.
fn checked_fetch(git: crate::process::Cmd) -> crate::process::Cmd {
    git.args([
        "-c",
        "transfer.fsckObjects=true",
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
    ])
}

/// Pushes the session's branch to the ref `dest` at `url` (a runner on another machine
/// starts from it); a fast-forward only (a ref that moved there is never overwritten) unless
/// `dest` starts with `+`.
/// Returns the tip pushed.
pub fn push_to(
    repo: &Repo,
    session: &Session,
    (url, dest): (&str, &str),
    env: &[(&str, &str)],
) -> Result<String> {
    let tip = repo
        .branch_tip(&session.branch)?
        .ok_or_else(|| Failure::fatal(format!("the branch {} is gone", session.branch)))?
        .to_string();
    let mut git = repo.git();
    for (key, value) in env {
        git = git.env(key, value);
    }
    // `+dest`: a ref of ours over there, replaced whatever it held.
    let (force, dest) = dest.strip_prefix('+').map_or(("", dest), |d| ("+", d));
    git.args(["push", "--quiet", "--no-verify", url])
        .arg(format!("{force}{tip}:{dest}"))
        .run()?;
    Ok(tip)
}

/// Moves the session's branch and worktree to `commit` (in the object store already): a
/// fast-forward in the worktree, refused (the result kept under its incoming ref) when the
/// branch is not an ancestor of it or the worktree is in the way. True if anything moved.
pub fn bring_back(repo: &Repo, session: &Session, commit: &str) -> Result<bool> {
    let incoming = incoming_ref(&session.name);
    let tip = repo
        .branch_tip(&session.branch)?
        .map(|t| t.to_string())
        .unwrap_or_default();
    // Nothing new (the branch moved here past what came back: commits made here meanwhile).
    let contained = tip == commit
        || repo
            .git()
            .args(["merge-base", "--is-ancestor", commit, &tip])
            .status()
            .is_ok_and(|s| s.success());
    if contained {
        delete_incoming(repo, &incoming, commit);
        return Ok(false);
    }
    let descends = repo
        .git()
        .args(["merge-base", "--is-ancestor", &tip, commit])
        .status()
        .is_ok_and(|s| s.success());
    let keep_hint = format!("the agent's work is kept as {incoming} ({commit})");
    if !descends {
        return Err(Failure::fatal(format!(
            "the agent's work does not descend from {} as it is here (the branch moved here, or the agent rewrote its history)",
            session.branch
        ))
        .hint(keep_hint)
        .hint(format!("merge it by hand: git merge {incoming}"))
        .into());
    }
    crate::git::link::guard(session)?;
    // `merge` moves whatever the worktree has checked out: a branch the user switched it to
    // (or a detached HEAD) is theirs, not the session's.
    let head = WorktreeDir::new(&session.worktree)
        .git()
        .args(["symbolic-ref", "--quiet", "HEAD"])
        .run()
        .unwrap_or_default();
    if head.trim() != format!("refs/heads/{}", session.branch) {
        return Err(Failure::fatal(format!(
            "{} no longer has {} checked out",
            session.worktree.display(),
            session.branch
        ))
        .hint(keep_hint)
        .hint(format!(
            "check out {} there again and merge it: git merge --ff-only {incoming}",
            session.branch
        ))
        .into());
    }
    // No hook runs: this is not the user's merge, and nothing may run what the agent wrote.
    WorktreeDir::new(&session.worktree)
        .git()
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "merge",
            "--ff-only",
            // A file of the user's that git ignores here is theirs too (a `.env`).
            "--no-overwrite-ignore",
            "--quiet",
            commit,
        ])
        .run()
        .map_err(|e| {
            Failure::fatal(format!(
                "could not bring the agent's work into {}: {e:#}",
                session.worktree.display()
            ))
            .hint(keep_hint.clone())
        })?;
    delete_incoming(repo, &incoming, commit);
    Ok(true)
}

/// Deletes the incoming ref if it still points at `commit` (compare-and-delete).
fn delete_incoming(repo: &Repo, incoming: &str, commit: &str) {
    let _ = repo
        .git()
        .args(["update-ref", "-d", incoming, commit])
        .run();
}

/// Fetches the leftovers commit of the bundle at `path` (verified by [`fetch`] first), if it
/// has one, into the session's leftovers ref; returns it.
pub fn fetch_leftovers(repo: &Repo, session: &Session, path: &Path) -> Result<Option<String>> {
    if !lists(repo, path, BUNDLED_LEFTOVERS)? {
        return Ok(None);
    }
    let leftovers = leftovers_ref(&session.name);
    // Not forced: earlier leftovers kept there are never replaced (`refuse_if_pending`).
    checked_fetch(repo.git())
        .arg(path)
        .arg(format!("{BUNDLED_LEFTOVERS}:{leftovers}"))
        .run()?;
    let out = repo
        .git()
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{leftovers}^{{commit}}"))
        .run()?;
    Ok(Some(out.trim().to_owned()))
}

/// Whether the (verified) bundle at `path` carries the session's branch.
pub fn has_branch(repo: &Repo, session: &Session, path: &Path) -> Result<bool> {
    verify(session, repo, path)?;
    lists(repo, path, &format!("refs/heads/{}", session.branch))
}

/// Whether the bundle at `path` lists `refname`.
fn lists(repo: &Repo, path: &Path, refname: &str) -> Result<bool> {
    let heads = repo.git().args(["bundle", "list-heads"]).arg(path).run()?;
    Ok(heads
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(refname)))
}

fn restore_hint(leftovers: &str) -> String {
    format!("put it in the worktree: git restore --source={leftovers} --worktree -- :/")
}

/// Puts what the agent left uncommitted (`commit`, under the leftovers ref) in the session's
/// worktree as uncommitted changes, as a local agent would have left them: only where the
/// worktree has the branch checked out at the commit's parent and nothing uncommitted or
/// untracked of its own. Otherwise it stays under the ref and the error says how to get it.
pub fn restore_leftovers(repo: &Repo, session: &Session, commit: &str) -> Result<()> {
    let leftovers = leftovers_ref(&session.name);
    crate::git::link::guard(session)?;
    let worktree = WorktreeDir::new(&session.worktree);
    let keep = |why: String| -> anyhow::Error {
        Failure::fatal(why)
            .hint(format!(
                "what the agent left uncommitted is kept as {leftovers} ({commit})"
            ))
            .hint(restore_hint(&leftovers))
            .into()
    };
    let head = worktree
        .git()
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .run()
        .unwrap_or_default();
    let parent = repo
        .git()
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{commit}^"))
        .run()
        .unwrap_or_default();
    let on_branch = worktree
        .git()
        .args(["symbolic-ref", "--quiet", "HEAD"])
        .run()
        .is_ok_and(|h| h.trim() == format!("refs/heads/{}", session.branch));
    if !on_branch || head.trim().is_empty() || head.trim() != parent.trim() {
        return Err(keep(format!(
            "{} is not at the commit the agent left its changes on",
            session.worktree.display()
        )));
    }
    let status = worktree
        .git()
        .args(["status", "--porcelain", "--untracked-files=all"])
        .run()?;
    if !status.trim().is_empty() {
        return Err(keep(format!(
            "{} has changes of its own",
            session.worktree.display()
        )));
    }
    if let Some(path) = in_the_way(repo, &session.worktree, &parent, commit)? {
        return Err(keep(format!(
            "{} has {path} of its own, which git ignores there",
            session.worktree.display()
        )));
    }
    worktree
        .git()
        .args(["restore", "--worktree"])
        .arg(format!("--source={commit}"))
        .args(["--", ":/"])
        .run()
        .map_err(|e| keep(format!("could not restore the agent's changes: {e:#}")))?;
    let _ = repo
        .git()
        .args(["update-ref", "-d", &leftovers, commit])
        .run();
    Ok(())
}

/// A path the leftovers `commit` adds over `parent` that is on disk in `worktree` already (a
/// file git ignores there, the only kind a clean worktree can hold), or under something on
/// disk that is not a folder (a symlink): `git restore` would overwrite, or write through, it.
fn in_the_way(repo: &Repo, worktree: &Path, parent: &str, commit: &str) -> Result<Option<String>> {
    let added = repo
        .git()
        .args([
            "diff",
            "--name-only",
            "--no-renames",
            "--diff-filter=A",
            "-z",
        ])
        .args([parent.trim(), commit])
        .run()?;
    for path in added.split('\0').filter(|p| !p.is_empty()) {
        let full = worktree.join(path);
        if full.symlink_metadata().is_ok() {
            return Ok(Some(path.to_owned()));
        }
        let mut above = full.parent();
        while let Some(dir) = above.filter(|d| d.starts_with(worktree) && *d != worktree) {
            if dir.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                return Ok(Some(path.to_owned()));
            }
            above = dir.parent();
        }
    }
    Ok(None)
}
