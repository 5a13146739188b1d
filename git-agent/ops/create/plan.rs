//! The **plan** step of creating sessions: what can be checked before anything is created
//! (the profiles and their programs, the branch, where the worktrees go, the changes to take)
//! and the names, branches and paths of every session, free of collisions.
//!
//! Reads the repository and the state directory; writes nothing but `.git/info/exclude`
//! lines and the state directory's once-per-repository `bypass-warned` marker. Never prints:
//! what the user should hear goes to the caller's closures.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::agents::{self, Profile};
use crate::error::Failure;
use crate::git::repo::Config;
use crate::git::repo::Repo;
use crate::names;
use crate::ops::take::Snapshot;
use crate::project::ProjectFile;
use crate::session::{Base, Group, Session};
use crate::state::StateDir;

/// One session to create.
pub struct Plan {
    pub name: String,
    pub branch: String,
    pub worktree: PathBuf,
    pub profile: Profile,
    pub program: PathBuf,
    pub group: Option<Group>,
}

/// How sessions are named: `base_name` (then `base_name-2`, … unless `explicit`), with
/// variants numbered, on `<prefix><name>` branches (or `branch`) in `root/<name>`.
#[derive(Debug, Clone, Copy)]
pub struct Naming<'a> {
    pub prefix: &'a str,
    pub root: &'a Path,
    pub base_name: &'a str,
    /// The user chose the name: it is never changed to avoid a collision.
    pub explicit: bool,
    /// `--branch`: every session's branch.
    pub branch: Option<&'a str>,
    /// `--in NAME`: the worktree the session shares with NAME (it creates none).
    pub worktree: Option<&'a Path>,
}

/// Names, branches and paths for every session, free of collisions. Requires the lock.
pub(super) fn plan_sessions(
    repo: &Repo,
    state: &StateDir,
    naming: &Naming<'_>,
    attach: bool,
    profiles: &[(Profile, PathBuf, u32)],
) -> Result<Vec<Plan>> {
    let Naming {
        prefix,
        root,
        base_name,
        explicit,
        branch,
        worktree: shared,
    } = *naming;
    let total: u32 = profiles.iter().map(|(_, _, n)| *n).sum();
    let attempts = if explicit { 1 } else { 100 };
    let mut last_conflict = None;
    for attempt in 1..=attempts {
        let group_id = if attempt == 1 {
            base_name.to_owned()
        } else {
            format!("{base_name}-{attempt}")
        };
        let mut plans = Vec::new();
        let mut index = 0;
        for (profile, program, n) in profiles {
            for _ in 0..*n {
                index += 1;
                let name = if total == 1 {
                    group_id.clone()
                } else {
                    format!("{group_id}-{index}")
                };
                names::validate(&name)?;
                plans.push(Plan {
                    branch: branch.map_or_else(|| format!("{prefix}{name}"), str::to_owned),
                    worktree: shared.map_or_else(|| root.join(&name), Path::to_owned),
                    name,
                    profile: profile.clone(),
                    program: program.clone(),
                    group: (total > 1).then(|| Group {
                        id: group_id.clone(),
                        index,
                        count: total,
                    }),
                });
            }
        }
        match plans
            .iter()
            .map(|p| conflict(repo, state, p, attach, shared.is_some()))
            .find_map(Result::transpose)
        {
            None => {
                for p in &plans {
                    crate::git::repo::validate_branch(&p.branch)?;
                }
                return Ok(plans);
            }
            Some(Err(e)) => return Err(e),
            Some(Ok(c)) => last_conflict = Some(c),
        }
    }
    let failure = Failure::fatal(last_conflict.unwrap_or_default());
    let failure = if explicit {
        failure.hint("choose another --name")
    } else {
        failure.hint("choose a name with --name")
    };
    Err(failure.into())
}

/// Why a planned session cannot be created, if it cannot.
fn conflict(
    repo: &Repo,
    state: &StateDir,
    plan: &Plan,
    attach: bool,
    shared: bool,
) -> Result<Option<String>> {
    if state.exists(&plan.name) {
        return Ok(Some(format!(
            "a session named '{}' already exists",
            plan.name
        )));
    }
    if !attach && repo.branch_exists(&plan.branch)? {
        return Ok(Some(format!(
            "a branch named '{}' already exists",
            plan.branch
        )));
    }
    if !shared && plan.worktree.symlink_metadata().is_ok() {
        return Ok(Some(format!(
            "'{}' already exists",
            plan.worktree.display()
        )));
    }
    Ok(None)
}

/// Worktrees in the OS temporary folder get purged (tmpfs at reboot, macOS after 3 idle
/// days), taking their `.git` files and any uncommitted work with them: refused when a
/// temporary folder (`$TMPDIR`, `/tmp`) holds the worktrees but not the repository itself (a
/// repository there is a throw-away), unless the user allows it.
pub fn refuse_temp(repo: &Repo, root: &Path, allowed: bool) -> Result<()> {
    if allowed {
        return Ok(());
    }
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let temps = [
        canonical(&std::env::temp_dir()),
        canonical(Path::new("/tmp")),
    ];
    let repo_dir = canonical(repo.main_workdir().unwrap_or(repo.common_dir()));
    let existing = canonical(root.ancestors().find(|a| a.exists()).unwrap_or(root));
    if temps
        .iter()
        .any(|t| existing.starts_with(t) && !repo_dir.starts_with(t))
    {
        return Err(Failure::fatal(format!(
            "agent worktrees would go to '{}', in the temporary folder, which the system purges",
            root.display()
        ))
        .hint("choose another place with 'git config agent.worktreeDir DIR', or pass --allow-temp")
        .into());
    }
    Ok(())
}

/// `--branch BR`: a new branch, or an existing one to attach to (true). An existing branch
/// checked out anywhere is refused with that worktree's path: one branch is never checked
/// out twice.
pub fn check_branch(repo: &Repo, branch: &str, total: u32, take_changes: bool) -> Result<bool> {
    if total > 1 {
        return Err(
            Failure::usage("--branch names one branch; it cannot hold several variants")
                .hint("drop --branch; variants get agent/<name>-1, agent/<name>-2, …")
                .into(),
        );
    }
    if !repo.branch_exists(branch)? {
        return Ok(false);
    }
    if let Some(path) = repo.worktrees_on_branch(branch)?.first() {
        return Err(Failure::fatal(format!(
            "branch '{branch}' is checked out at '{}'",
            path.display()
        ))
        .hint("a branch is never checked out twice: work there, or choose another --branch")
        .into());
    }
    if take_changes {
        return Err(Failure::usage(
            "--take-changes moves changes onto this checkout's HEAD, not onto an existing branch",
        )
        .hint("drop --branch, or commit the changes first")
        .into());
    }
    Ok(true)
}

/// If the worktrees live inside the main worktree, keeps them out of `git status` there: the
/// pattern added to `.git/info/exclude`, if one was added.
pub fn exclude_worktrees_folder(repo: &Repo, root: &Path) -> Result<Option<String>> {
    let Some(main) = repo.main_workdir() else {
        return Ok(None);
    };
    let Ok(rel) = root.strip_prefix(main) else {
        return Ok(None);
    };
    if rel.as_os_str().is_empty() {
        return Err(
            Failure::fatal("agent.worktreeDir points at the main worktree itself")
                .hint("choose a directory of its own, e.g. ../<repo>.agents")
                .into(),
        );
    }
    let pattern = format!("/{}/", rel.to_string_lossy().trim_end_matches('/'));
    Ok(repo.exclude(&pattern)?.then_some(pattern))
}

/// Files an agent leaves that are not work (aider's `.aider*`) are ignored repository-wide,
/// in `.git/info/exclude` (never a committed file), so `git status` in its worktree stays
/// about the work. Calls `added` with each pattern added and the profile that leaves it.
pub fn exclude_leaves(
    repo: &Repo,
    profiles: &[(Profile, PathBuf, u32)],
    mut added: impl FnMut(&str, &Profile) -> Result<()>,
) -> Result<()> {
    for (profile, _, _) in profiles {
        for pattern in &profile.leaves {
            if repo.exclude(pattern)? {
                added(pattern, profile)?;
            }
        }
    }
    Ok(())
}

/// A bypass mode lets the agent do anything on this machine: `warn` is called for the first
/// profile in one, once per repository.
pub fn warn_bypass_once(
    state: &StateDir,
    profiles: &[(Profile, PathBuf, u32)],
    warn: impl FnOnce(&Profile) -> Result<()>,
) -> Result<()> {
    let Some((profile, _, _)) = profiles.iter().find(|(p, _, _)| p.bypass) else {
        return Ok(());
    };
    let marker = state.root().join("bypass-warned");
    if marker.exists() {
        return Ok(());
    }
    warn(profile)?;
    std::fs::write(&marker, "")?;
    Ok(())
}

/// Which agents the user asked for (`--agent`, `-n`, `--permission-mode`, or a command after
/// `--`, run from `cwd`).
#[derive(Debug, Clone, Copy)]
pub struct Choice<'a> {
    pub agents: &'a [String],
    pub count: Option<u32>,
    pub permission_mode: Option<&'a str>,
    /// Each profile in its mode that cannot edit (`--read-only`).
    pub read_only: bool,
    pub command: &'a [String],
    pub cwd: &'a Path,
    /// The agents run in a container: a program missing here is looked up in its image.
    pub in_image: bool,
}

/// The profiles to run, each with its program resolved and a count.
pub fn choose_profiles(
    config: &Config,
    choice: &Choice<'_>,
    project: Option<&ProjectFile>,
) -> Result<Vec<(Profile, PathBuf, u32)>> {
    let count = choice.count.unwrap_or(1);
    if count == 0 {
        return Err(Failure::usage("-n/--count must be at least 1").into());
    }
    let mode = choice.permission_mode;
    let chosen: Vec<(Profile, u32)> = if !choice.command.is_empty() {
        if !choice.agents.is_empty() {
            return Err(Failure::usage(
                "--agent and a command after '--' both choose the agent; use one",
            )
            .into());
        }
        if mode.is_some() || choice.read_only {
            let flag = if choice.read_only {
                "--read-only"
            } else {
                "--permission-mode"
            };
            return Err(Failure::usage(format!(
                "{flag} applies to agent profiles, not to a command after '--'"
            ))
            .into());
        }
        vec![(agents::command_profile(choice.command, choice.cwd)?, count)]
    } else {
        let profiles = agents::Profiles::load(config)?.with_project(project);
        let chosen: Vec<(Profile, u32)> = if choice.agents.is_empty() {
            vec![(profiles.default_profile(mode)?, count)]
        } else {
            agents::parse_choices(choice.agents)?
                .into_iter()
                .map(|c| Ok((profiles.find(&c.profile, mode)?, c.count.unwrap_or(count))))
                .collect::<Result<_>>()?
        };
        if choice.read_only {
            chosen
                .into_iter()
                .map(|(p, n)| Ok((read_only(&profiles, p)?, n)))
                .collect::<Result<_>>()?
        } else {
            chosen
        }
    };
    chosen
        .into_iter()
        .map(|(profile, n)| {
            let program = match profile.resolve_program() {
                Ok(program) => program,
                // Run by its name on the image's PATH (see `runner::container`).
                Err(_) if choice.in_image => PathBuf::from(&profile.program),
                Err(e) => return Err(e),
            };
            Ok((profile, program, n))
        })
        .collect()
}

/// `profile` in its mode that cannot edit files (the one `plan draft` uses); an error naming
/// the profiles that have one where it has none.
fn read_only(profiles: &agents::Profiles, profile: Profile) -> Result<Profile> {
    let found = agents::read_only_mode(&profile.name)
        .map(|m| profiles.find(&profile.name, Some(m.name)))
        .transpose()?
        .filter(|p| p.read_only);
    found.ok_or_else(|| {
        let with: Vec<&str> = agents::DETECT_ORDER
            .iter()
            .copied()
            .filter(|n| agents::read_only_mode(n).is_some())
            .collect();
        Failure::fatal(format!(
            "--read-only: the profile {} has no mode that cannot edit",
            profile.name
        ))
        .hint(format!("profiles with one: {}", with.join(", ")))
        .into()
    })
}

/// Snapshot of this checkout's uncommitted changes for `--take-changes`.
pub fn snapshot_changes(repo: &Repo, base: &Base) -> Result<Snapshot> {
    let Some(source) = repo.workdir() else {
        return Err(Failure::fatal("--take-changes needs a worktree to take changes from").into());
    };
    let snapshot = crate::ops::take::snapshot(source)?;
    if snapshot.head != base.commit {
        return Err(Failure::usage(
            "--take-changes starts from this checkout's HEAD; --base names another commit",
        )
        .hint("drop --base, or commit the changes and branch from there")
        .into());
    }
    Ok(snapshot)
}

/// `--in NAME`: the session whose worktree and branch the new one shares (when NAME shares
/// another's, that one's). Refused when NAME is unknown or its worktree is gone.
pub fn shared_with(state: &StateDir, name: &str) -> Result<Session> {
    let owner = match state.load(name) {
        Ok(s) => s,
        Err(_) if !state.exists(name) => {
            return Err(Failure::fatal(format!("--in: no session named '{name}'"))
                .hint("see the sessions with 'git agent list'")
                .into());
        }
        Err(e) => return Err(e),
    };
    // Joining a session that shares another's worktree joins the worktree's maker, while its
    // record is there (after `rm` of the maker, NAME's record stands for the worktree).
    let owner = match owner.shares.as_deref().map(|first| state.load(first)) {
        Some(Ok(first)) => first,
        _ => owner,
    };
    if !owner.worktree.join(".git").exists() {
        return Err(Failure::fatal(format!(
            "--in: the worktree of '{}' is gone ({})",
            owner.name,
            owner.worktree.display()
        ))
        .hint(format!(
            "start a session of its own instead, or on its branch with --branch {}",
            owner.branch
        ))
        .into());
    }
    Ok(owner)
}
