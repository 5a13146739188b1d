//! `git agent merge NAME`: one session's work onto its target.
//!
//! The pipeline, in order; any step that refuses leaves everything as it was:
//! 1. The agent must not be running (`git agent stop` / `wait`).
//! 2. What is uncommitted in its worktree is committed on its branch (with git: hooks run).
//! 3. The merge is predicted in memory; conflicts refuse (exit 1) with the paths, and are
//!    resolved in the agent's worktree (`git agent sync`), never in yours.
//! 4. The new tip of the target is built where nobody works: for squash and merge, in the
//!    agent's worktree with its HEAD detached at the target (its branch is put back after), or
//!    a temporary worktree if the agent's is gone; for rebase, by rebasing the agent's branch
//!    in its worktree. Git makes every commit, so hooks run; no editor ever opens.
//! 5. `--verify` runs the verify command right there, on exactly what will land.
//! 6. The target moves by fast-forward only ([`crate::target::advance`]).
//! 7. The session is marked merged and removed (worktree gone, branch kept) unless `--keep`,
//!    through the same safe removal as `git agent rm`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use git_agent::commands::Ctx;
use git_agent::error::Failure;
use git_agent::merging::Memory;
use git_agent::repo::Repo;
use git_agent::session::{CommitOutcome, Merged, Session, State, short_id};
use git_agent::state::Event;
use git_agent::{remove, verify};
use gix::ObjectId;
use serde::Serialize;

use crate::target::{self, Target, git};

/// How the work is integrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// One new commit on the target with all of the work.
    Squash,
    /// The agent's commits, rebased onto the target, then a fast-forward.
    Rebase,
    /// A merge commit joining the agent's branch.
    Merge,
    /// Only if the target can fast-forward to the agent's branch.
    FfOnly,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Squash => "squash",
            Self::Rebase => "rebase",
            Self::Merge => "merge",
            Self::FfOnly => "ff-only",
        }
    }

    /// `agent.mergeStrategy`, else squash.
    pub fn configured(repo: &Repo) -> Result<Self> {
        match repo.config().string("agent.mergeStrategy").as_deref() {
            None | Some("squash") => Ok(Self::Squash),
            Some("rebase") => Ok(Self::Rebase),
            Some("merge") => Ok(Self::Merge),
            Some("ff-only") => Ok(Self::FfOnly),
            Some(other) => Err(Failure::fatal(format!(
                "bad config value '{other}' for agent.mergeStrategy"
            ))
            .hint("use squash, rebase, merge or ff-only")
            .into()),
        }
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub strategy: Option<Strategy>,
    pub into: Option<String>,
    pub message: Option<String>,
    pub dry_run: bool,
    pub keep: bool,
    pub verify: bool,
    pub trust: bool,
    pub fetch: bool,
    /// In a queue: a branch that cannot fast-forward is rebased onto the target first.
    pub rebase_first: bool,
    /// Results go out as JSON (stdout holds nothing else).
    pub json: bool,
}

/// One merge attempt's result.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Step {
    Merged(Landed),
    /// Nothing to do: the work is in the target already.
    AlreadyMerged(Landed),
    /// Refused for a reason in the content (exit 1): conflicts, verify, not a fast-forward.
    Refused(Refused),
    /// `--dry-run`.
    Planned(Plan),
}

#[derive(Debug, Clone, Serialize)]
pub struct Landed {
    pub session: String,
    pub into: String,
    pub strategy: Strategy,
    pub commit: String,
    pub previous: String,
    pub commits: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<remove::Outcome>,
    /// Why the session was kept despite no `--keep`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    pub session: String,
    pub into: String,
    pub why: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub session: String,
    pub into: String,
    pub strategy: Strategy,
    pub commits: Vec<String>,
    pub files: Vec<String>,
    pub insertions: u64,
    pub deletions: u64,
    /// Uncommitted changes that would be committed first.
    pub uncommitted: bool,
    /// Where the target is checked out (it would move with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout: Option<PathBuf>,
    pub fast_forward: bool,
    pub keep: bool,
}

/// Refuses a session whose agent is still at it.
pub fn ensure_idle(s: &Session, verb: &str) -> Result<()> {
    match s.live_state() {
        State::Lost => Err(Failure::fatal(format!(
            "the supervisor of '{}' is gone (the session is lost)",
            s.name
        ))
        .hint(format!(
            "record its end with 'git agent stop {0}', then {verb} again",
            s.name
        ))
        .into()),
        live if live.is_active() => Err(Failure::fatal(format!(
            "the agent of '{}' is still running ({live})",
            s.name
        ))
        .hint(format!(
            "wait for it (git agent wait {0}) or stop it (git agent stop {0}), then {verb} again",
            s.name
        ))
        .into()),
        _ => Ok(()),
    }
}

/// Commits what is uncommitted in the session's worktree; refuses if that is impossible
/// (a hook refused, an operation is in progress, HEAD left the branch).
pub fn commit_leftovers(ctx: &mut Ctx<'_>, s: &Session, before: &str) -> Result<()> {
    // Nothing of ours runs in a worktree whose git link its agent rewrote.
    git_agent::sandbox::guard(s)?;
    match git_agent::commit::commit_leftovers(s, &format!("left changes uncommitted {before}")) {
        CommitOutcome::Committed { sha } => {
            writeln!(
                ctx.err,
                "Committed what was uncommitted in the worktree of {}: {}",
                s.name,
                short_id(&sha)
            )?;
            Ok(())
        }
        CommitOutcome::Clean | CommitOutcome::Disabled => Ok(()),
        CommitOutcome::Skipped { reason } if reason == "the worktree is gone" => Ok(()),
        CommitOutcome::Skipped { reason } => Err(Failure::fatal(format!(
            "cannot take the work of '{}' as it is: {reason}",
            s.name
        ))
        .hint(format!(
            "finish that in its worktree first: cd {}",
            s.worktree.display()
        ))
        .into()),
        CommitOutcome::Failed { error } => Err(Failure::fatal(format!(
            "could not commit what is uncommitted in the worktree of '{}': {}",
            s.name,
            error.trim()
        ))
        .hint(format!(
            "commit it yourself: git -C {} commit -a",
            s.worktree.display()
        ))
        .into()),
    }
}

/// `git log --format='%h %s' from..to`, oldest first.
fn commits_between(repo: &Repo, from: ObjectId, to: ObjectId) -> Result<Vec<String>> {
    let out = repo
        .git()
        .args([
            "log",
            "--reverse",
            "--format=%h %s",
            &format!("{from}..{to}"),
        ])
        .run()?;
    Ok(out.lines().map(str::to_owned).collect())
}

/// Conflicted paths in a worktree mid-merge or mid-rebase.
pub fn unmerged_paths(dir: &Path) -> Vec<String> {
    git(dir)
        .args(["diff", "--name-only", "--diff-filter=U", "-z"])
        .run()
        .map(|out| {
            out.split('\0')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The subject of a commit made from a session: the task's first line.
pub fn subject(s: &Session) -> String {
    let task = s
        .prompt
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(&s.name);
    if task.chars().count() > 72 {
        task.chars().take(71).collect::<String>() + "…"
    } else {
        task.to_owned()
    }
}

/// What the agent said it did (its final answer), shortened.
pub fn summary(s: &Session) -> Option<String> {
    let run = s.run()?;
    let text = run
        .outcome
        .result
        .as_deref()
        .or(run.outcome.last_text.as_deref())?
        .trim();
    if text.is_empty() {
        return None;
    }
    const MAX: usize = 1500;
    Some(if text.chars().count() > MAX {
        text.chars().take(MAX).collect::<String>() + "…"
    } else {
        text.to_owned()
    })
}

/// The message of the commit that lands a session: `--message`, else the task and what the
/// agent said it did; then the commits it squashes, and trailers naming the session.
fn message(s: &Session, opts: &Options, commits: &[String], squash: bool) -> String {
    let mut text = match &opts.message {
        Some(m) => m.trim().to_owned(),
        None => {
            let mut t = subject(s);
            let rest: Vec<&str> = s.prompt.trim().lines().skip(1).collect();
            let rest = rest.join("\n");
            if !rest.trim().is_empty() {
                t.push_str("\n\n");
                t.push_str(rest.trim());
            }
            if let Some(summary) = summary(s) {
                t.push_str("\n\n");
                t.push_str(&summary);
            }
            t
        }
    };
    if squash && commits.len() > 1 {
        text.push_str("\n\nSquashed commits:\n");
        for c in commits {
            text.push_str(&format!("- {c}\n"));
        }
    }
    format!(
        "{}\n\nGit-Agent-Session: {}\nGit-Agent-Profile: {}\n",
        text.trim_end(),
        s.name,
        s.agent.profile
    )
}

/// Refuses when the target is behind its upstream and the agent's branch holds upstream
/// commits the target lacks: a squash or rebase would pass them off as the agent's work.
fn guard_upstream(
    repo: &Repo,
    mem: &Memory,
    target: &Target,
    tip: ObjectId,
    strategy: Strategy,
) -> Result<()> {
    if !matches!(strategy, Strategy::Squash | Strategy::Rebase) {
        return Ok(());
    }
    let Some(upstream) = git_agent::merging::upstream_of(repo, &target.branch) else {
        return Ok(());
    };
    let Ok(up) = mem.commit_of(&upstream) else {
        return Ok(());
    };
    let Some(shared) = mem.merge_base(tip, up)? else {
        return Ok(());
    };
    if mem.is_ancestor(shared, target.tip)? {
        return Ok(());
    }
    let short = upstream.trim_start_matches("refs/remotes/");
    Err(Failure::fatal(format!(
        "{} is behind {short}, and the agent's branch contains commits of {short} that {} lacks: \
         a {} would pass them off as the agent's work",
        target.branch,
        target.branch,
        strategy.as_str()
    ))
    .hint(format!(
        "bring {} up to date first (git merge --ff-only {short} where it is checked out), or use --fetch",
        target.branch
    ))
    .into())
}

/// `--fetch`: updates the target's upstream from its remote.
fn fetch_upstream(ctx: &mut Ctx<'_>, repo: &Repo, branch: &str) -> Result<()> {
    let config = repo.config();
    let (Some(remote), Some(merge)) = (
        config.string(&format!("branch.{branch}.remote")),
        config.string(&format!("branch.{branch}.merge")),
    ) else {
        return Err(
            Failure::fatal(format!("--fetch: {branch} has no upstream to fetch"))
                .hint(format!(
                    "set one with: git branch --set-upstream-to=<remote>/<branch> {branch}"
                ))
                .into(),
        );
    };
    writeln!(ctx.err, "Fetching {merge} from {remote}…")?;
    repo.git()
        .args([
            "fetch",
            "--quiet",
            "--no-recurse-submodules",
            &remote,
            &merge,
        ])
        .env("GIT_TERMINAL_PROMPT", "0")
        .run()
        .map_err(|e| Failure::fatal(format!("could not fetch from '{remote}': {e:#}")))?;
    Ok(())
}

/// Where a squash or merge commit is built: the agent's worktree with its HEAD detached at the
/// target (its branch checked out again afterwards), or a temporary worktree. Everything in it
/// comes from commits, so putting it back is lossless.
struct Workspace {
    dir: PathBuf,
    /// The branch to check out again (the agent's worktree), or `None` for a temporary one.
    branch: Option<String>,
    repo_common: PathBuf,
    restored: bool,
}

impl Workspace {
    fn open(repo: &Repo, s: &Session, at: ObjectId) -> Result<Self> {
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
        git_agent::worktree::serialized(
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

    fn restore(&mut self) -> Result<()> {
        if self.restored {
            return Ok(());
        }
        self.restored = true;
        // Only what this merge put there is reset (the worktree was clean before).
        git(&self.dir).args(["reset", "--quiet", "--hard"]).run()?;
        match &self.branch {
            Some(branch) => {
                // Checking out a branch reads every worktree (is it checked out elsewhere?).
                git_agent::worktree::serialized(
                    &self.repo_common,
                    git(&self.dir).args(["checkout", "--quiet", branch]),
                )
                .with_context(|| format!("could not check out {branch} again"))?;
            }
            None => {
                git_agent::worktree::remove(&self.repo_common, &self.dir)?;
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

/// Runs the verify command on what will land; an error (exit 1) if it fails.
fn verify_here(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    s: &Session,
    dir: &Path,
    command: &(String, &'static str),
) -> Result<Option<Refused>> {
    writeln!(ctx.err, "Verifying the result: {}", command.0)?;
    let err = &mut *ctx.err;
    let v = verify::run(&repo.state(), s, dir, &command.0, command.1, |line| {
        let _ = writeln!(err, "  {line}");
    })?;
    writeln!(ctx.err, "{}", verify::summary(&s.name, &v))?;
    if v.passed {
        return Ok(None);
    }
    Ok(Some(Refused {
        session: s.name.clone(),
        into: String::new(),
        why: format!(
            "verify failed on the merged result ({})",
            v.exit.map_or_else(|| "?".into(), |e| e.describe())
        ),
        paths: Vec::new(),
        hints: vec![format!(
            "see the output with: git agent show {}; nothing was merged",
            s.name
        )],
    }))
}

/// A squash or merge commit to build.
struct Build<'a> {
    s: &'a Session,
    target: &'a Target,
    tip: ObjectId,
    msg: String,
    strategy: Strategy,
    verify_cmd: Option<&'a (String, &'static str)>,
}

/// Builds the squash or merge commit in a workspace at the target; verifies it there.
fn build_commit(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    b: &Build<'_>,
) -> Result<Result<ObjectId, Refused>> {
    let Build {
        s,
        target,
        tip,
        ref msg,
        strategy,
        verify_cmd,
    } = *b;
    let mut ws = Workspace::open(repo, s, target.tip)?;
    let built = (|| -> Result<Result<ObjectId, Refused>> {
        let tip = tip.to_string();
        let merged = if strategy == Strategy::Squash {
            git(&ws.dir)
                .args(["merge", "--squash", "--no-autostash", "--quiet", &tip])
                .run()
                .and_then(|_| {
                    git(&ws.dir)
                        .args(["commit", "--quiet", "--cleanup=whitespace", "-F", "-"])
                        .run_with_input(msg.as_bytes())
                })
        } else {
            git(&ws.dir)
                .args([
                    "merge",
                    "--no-ff",
                    "--no-autostash",
                    "--quiet",
                    "--cleanup=whitespace",
                    "-m",
                    msg,
                    &tip,
                ])
                .run()
        };
        if let Err(e) = merged {
            let paths = unmerged_paths(&ws.dir);
            if !paths.is_empty() {
                return Ok(Err(Refused {
                    session: s.name.clone(),
                    into: target.branch.clone(),
                    why: "the merge conflicts".into(),
                    paths,
                    hints: vec![format!(
                        "resolve them in the agent's worktree: git agent sync {}",
                        s.name
                    )],
                }));
            }
            return Err(Failure::fatal(format!(
                "git could not make the {} commit: {e:#}",
                strategy.as_str()
            ))
            .hint("a hook may have refused it; nothing was merged")
            .into());
        }
        let head = git(&ws.dir).args(["rev-parse", "HEAD"]).run()?;
        let new = ObjectId::from_hex(head.trim().as_bytes())?;
        if let Some(cmd) = verify_cmd
            && let Some(refused) = verify_here(ctx, repo, s, &ws.dir, cmd)?
        {
            return Ok(Err(Refused {
                into: target.branch.clone(),
                ..refused
            }));
        }
        Ok(Ok(new))
    })();
    ws.restore()?;
    built
}

/// Rebases the agent's branch onto the target in its worktree. On conflict the worktree is
/// left mid-rebase for whoever resolves it.
pub fn rebase_branch(
    repo: &Repo,
    s: &Session,
    onto: ObjectId,
    onto_name: &str,
) -> Result<Result<ObjectId, Refused>> {
    if !s.worktree.is_dir() {
        return Err(Failure::fatal(format!(
            "the worktree of '{}' is gone; a rebase needs it",
            s.name
        ))
        .hint("use --squash or --merge, which do not")
        .into());
    }
    let orig_head = git(&s.worktree).args(["rev-parse", "HEAD"]).run()?;
    let rebased = git(&s.worktree)
        .args(["rebase", "--no-autostash", "--quiet", &onto.to_string()])
        .run();
    if let Err(e) = rebased {
        let paths = unmerged_paths(&s.worktree);
        if paths.is_empty() {
            // Not a conflict: take it back if git left a rebase behind.
            let _ = git(&s.worktree).args(["rebase", "--abort"]).run();
            return Err(Failure::fatal(format!("git rebase failed: {e:#}"))
                .hint("nothing was changed")
                .into());
        }
        // The rebase left in progress is ours: `sync --continue`/`--abort` may finish it.
        repo.state().update(&s.name, |r| {
            r.sync_pending = Some(git_agent::session::SyncPending {
                how: "rebase".into(),
                onto: onto.to_string(),
                orig_head: orig_head.trim().to_owned(),
            });
            Ok(())
        })?;
        let wt = s.worktree.display();
        return Ok(Err(Refused {
            session: s.name.clone(),
            into: onto_name.to_owned(),
            why: format!("rebasing onto {onto_name} stopped at a conflict"),
            paths,
            hints: vec![
                format!("the rebase is left in progress in {wt}:"),
                format!(
                    "resolve the files, 'git add' them and run 'git -C {wt} rebase --continue',"
                ),
                format!("or take it back with 'git -C {wt} rebase --abort',"),
                format!(
                    "or let the agent do it: git agent sync {} --rebase --ask-agent",
                    s.name
                ),
            ],
        }));
    }
    let head = git(&s.worktree).args(["rev-parse", "HEAD"]).run()?;
    Ok(Ok(ObjectId::from_hex(head.trim().as_bytes())?))
}

/// Merges one session. `ctx.out` gets the result line; progress goes to `ctx.err`.
pub fn merge_one(ctx: &mut Ctx<'_>, repo: &Repo, name: &str, opts: &Options) -> Result<Step> {
    let state = repo.state();
    // From the first check to the end (removal included), no `send` starts a run that the
    // cleanup would then stop: a send meanwhile is refused, naming this merge.
    let _hold = if opts.dry_run {
        None
    } else {
        Some(
            state
                .hold(name, "git agent merge", true)?
                .map_err(|h| anyhow::anyhow!(h))?,
        )
    };
    let s = state.load(name)?;
    ensure_idle(&s, "merge")?;
    if !opts.dry_run
        && let Some(op) = git_agent::worktree::operation_at(&s.worktree)
    {
        return Err(Failure::fatal(format!(
            "{op} is in progress in the worktree of '{}'",
            s.name
        ))
        .hint(format!(
            "finish or abort it there first: cd {}",
            s.worktree.display()
        ))
        .into());
    }
    let strategy = match opts.strategy {
        Some(st) => st,
        None => Strategy::configured(repo)?,
    };
    let mut target = target::resolve(repo, &s, opts.into.as_deref())?;
    if opts.fetch {
        fetch_upstream(ctx, repo, &target.branch)?;
        target = target::resolve(repo, &s, opts.into.as_deref())?;
    }
    if !opts.dry_run {
        commit_leftovers(ctx, &s, "before a merge")?;
    }
    let mem = Memory::new(repo);
    let result = mem.session_result(&s)?;
    let tip = result.commit;
    guard_upstream(repo, &mem, &target, tip, strategy)?;

    let target_tree = mem.tree_of(target.tip)?;
    let prediction = mem.merge(target.tip, tip)?;
    if mem.is_ancestor(tip, target.tip)?
        || (prediction.is_clean() && prediction.tree == target_tree)
    {
        let landed = Landed {
            session: s.name.clone(),
            into: target.branch.clone(),
            strategy,
            commit: target.tip.to_string(),
            previous: target.tip.to_string(),
            commits: Vec::new(),
            removed: None,
            kept: None,
        };
        if opts.dry_run {
            return Ok(Step::AlreadyMerged(landed));
        }
        writeln!(
            ctx.err,
            "{}: its work is already in {}; nothing to merge",
            s.name, target.branch
        )?;
        return finish(ctx, repo, &s, landed, opts).map(Step::AlreadyMerged);
    }
    if !prediction.is_clean() {
        return Ok(Step::Refused(Refused {
            session: s.name.clone(),
            into: target.branch.clone(),
            why: format!("merging it into {} would conflict", target.branch),
            paths: prediction.conflicts,
            hints: vec![
                format!(
                    "resolve them in the agent's worktree: git agent sync {} (then merge again)",
                    s.name
                ),
                format!(
                    "or have the agent do it: git agent sync {} --ask-agent",
                    s.name
                ),
            ],
        }));
    }
    let fast_forward = mem.is_ancestor(target.tip, tip)?;
    if strategy == Strategy::FfOnly && !fast_forward && !opts.rebase_first {
        return Ok(Step::Refused(Refused {
            session: s.name.clone(),
            into: target.branch.clone(),
            why: format!(
                "not a fast-forward: {} has commits the agent's branch lacks",
                target.branch
            ),
            paths: Vec::new(),
            hints: vec![format!(
                "use --rebase, or bring {0} in first: git agent sync {1} --rebase",
                target.branch, s.name
            )],
        }));
    }
    let commits = commits_between(repo, target.tip, result.tip)?;
    let files = mem.changed_paths(target_tree, prediction.tree)?;
    if let Some(dir) = &target.checkout {
        target::check_checkout(dir, &target.branch, &files)?;
    }
    if opts.dry_run {
        let (insertions, deletions) = mem.line_counts(target_tree, prediction.tree)?;
        return Ok(Step::Planned(Plan {
            session: s.name.clone(),
            into: target.branch.clone(),
            strategy,
            commits,
            files,
            insertions,
            deletions,
            uncommitted: result.uncommitted,
            checkout: target.checkout.clone(),
            fast_forward,
            keep: opts.keep,
        }));
    }
    let verify_cmd = if opts.verify {
        Some(verify::command(repo, &s, |c| {
            ctx.ensure_trusted(repo, c, opts.trust, None)
        })?)
    } else {
        None
    };
    writeln!(
        ctx.err,
        "Merging {} into {} ({}): {} commit{}, {} file{} changed",
        s.name,
        target.branch,
        strategy.as_str(),
        commits.len(),
        if commits.len() == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" },
    )?;
    let orig_tip = result.tip;
    // While the agent's worktree is used to build the result (its HEAD detached, or its
    // branch rebased), no `send` may start the agent there; released before the removal.
    let busy = repo.state().removal_lock(&s.name)?;
    let built = match strategy {
        Strategy::Squash | Strategy::Merge => {
            let build = Build {
                s: &s,
                target: &target,
                tip,
                msg: message(&s, opts, &commits, strategy == Strategy::Squash),
                strategy,
                verify_cmd: verify_cmd.as_ref(),
            };
            build_commit(ctx, repo, &build)?
        }
        Strategy::Rebase | Strategy::FfOnly => {
            let new = if fast_forward {
                Ok(tip)
            } else {
                rebase_branch(repo, &s, target.tip, &target.branch)?
            };
            match (new, &verify_cmd) {
                (Ok(new), Some(cmd)) if s.worktree.is_dir() => {
                    match verify_here(ctx, repo, &s, &s.worktree, cmd)? {
                        None => Ok(new),
                        Some(refused) => {
                            if new != orig_tip {
                                // Put the branch back as it was before the rebase.
                                git(&s.worktree)
                                    .args(["reset", "--quiet", "--keep", &orig_tip.to_string()])
                                    .run()?;
                            }
                            Err(Refused {
                                into: target.branch.clone(),
                                ..refused
                            })
                        }
                    }
                }
                (Ok(_), Some(_)) => {
                    return Err(Failure::fatal(format!(
                        "the worktree of '{}' is gone; there is nowhere to verify",
                        s.name
                    ))
                    .into());
                }
                (new, _) => new,
            }
        }
    };
    drop(busy);
    let new = match built {
        Ok(new) => new,
        Err(refused) => return Ok(Step::Refused(refused)),
    };
    let why = format!("git agent merge: {} ({})", s.name, strategy.as_str());
    target::advance(repo, &target, new, &why)?;
    let landed_commits = commits_between(repo, target.tip, new)?;
    let landed = Landed {
        session: s.name.clone(),
        into: target.branch.clone(),
        strategy,
        commit: new.to_string(),
        previous: target.tip.to_string(),
        commits: landed_commits,
        removed: None,
        kept: None,
    };
    let subject = repo
        .git()
        .args(["log", "-1", "--format=%s", &landed.commit])
        .run()
        .unwrap_or_default();
    // With --json, stdout is the document only.
    let out: &mut dyn std::io::Write = if opts.json { ctx.err } else { ctx.out };
    writeln!(
        out,
        "Merged {} into {} ({}): {} {}",
        s.name,
        target.branch,
        strategy.as_str(),
        short_id(&landed.commit),
        subject.trim()
    )?;
    finish(ctx, repo, &s, landed, opts).map(Step::Merged)
}

/// Records the merge, then removes the session unless `--keep`.
fn finish(
    ctx: &mut Ctx<'_>,
    repo: &Repo,
    s: &Session,
    mut landed: Landed,
    opts: &Options,
) -> Result<Landed> {
    let state = repo.state();
    let record = Merged {
        into: landed.into.clone(),
        strategy: landed.strategy.as_str().to_owned(),
        commit: landed.commit.clone(),
        previous: landed.previous.clone(),
        branch_tip: repo
            .branch_tip(&s.branch)?
            .map(|t| t.to_string())
            .unwrap_or_default(),
        at: git_agent::time::now(),
    };
    state.update(&s.name, |r| {
        r.merged = Some(record.clone());
        Ok(())
    })?;
    state.append_event(&Event {
        detail: Some(format!(
            "into {} ({}) {}",
            landed.into,
            landed.strategy.as_str(),
            short_id(&landed.commit)
        )),
        ..Event::new(&s.name, "merged")
    })?;
    if opts.keep {
        return Ok(landed);
    }
    let current = state.load(&s.name)?;
    let remove_opts = remove::Options {
        reason: "merged".into(),
        ..remove::Options::default()
    };
    match remove::remove(
        repo,
        &current,
        &remove_opts,
        &format!("git agent rm --force {}", s.name),
    ) {
        Ok(outcome) => {
            let tip = outcome
                .branch_tip
                .as_deref()
                .map(|t| format!(" at {}", short_id(t)))
                .unwrap_or_default();
            writeln!(
                ctx.err,
                "Removed its worktree {}; branch {} kept{tip}",
                git_agent::ui::short_path(&outcome.worktree, &ctx.cwd),
                outcome.branch
            )?;
            landed.removed = Some(outcome);
        }
        Err(e) => {
            let report = git_agent::error::Report::from_error(&e);
            ctx.warn(&format!("kept {}: {}", s.name, report.message))?;
            landed.kept = Some(report.message);
        }
    }
    Ok(landed)
}
