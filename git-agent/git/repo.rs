//! The repository we work on: discovery from anywhere, the common directory that holds our
//! state, config reads, and base resolution. Reads go through gix; writes go through `git`.
//!
//! Works the same from the main worktree, a linked worktree, a subdirectory, `git -C`, and
//! with `GIT_DIR` set (`gix::discover_with_environment_overrides`). `git -c k=v agent …`
//! reaches us as `GIT_CONFIG_PARAMETERS`, which gix does not read, so it is parsed here and
//! applied as command-line overrides.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use gix::bstr::{BString, ByteSlice as _};

use crate::error::Failure;
use crate::process::Cmd;
use crate::session::Base;
use crate::state::StateDir;

/// A discovered repository.
pub struct Repo {
    repo: gix::Repository,
    common_dir: PathBuf,
    workdir: Option<PathBuf>,
    main_workdir: Option<PathBuf>,
}

/// The `git -c` overrides of this invocation, as `key=value` (or `key` for an implicit true).
fn cli_overrides() -> Vec<BString> {
    git_config_env::ConfigParameters::new()
        .iter()
        .map(|(key, value)| match value {
            Some(v) => BString::from(format!("{key}={v}")),
            None => BString::from(key.into_owned()),
        })
        .collect()
}

fn open_options() -> gix::sec::trust::Mapping<gix::open::Options> {
    let overrides = cli_overrides();
    let mut mapping = gix::sec::trust::Mapping::<gix::open::Options>::default();
    mapping.full = mapping.full.cli_overrides(overrides.clone());
    mapping.reduced = mapping.reduced.cli_overrides(overrides);
    mapping
}

fn canonical(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("could not resolve {}", path.display()))
}

impl Repo {
    /// Finds the repository containing `cwd` (or named by `GIT_DIR`).
    pub fn discover(cwd: &Path) -> Result<Self> {
        let repo = gix::ThreadSafeRepository::discover_with_environment_overrides_opts(
            cwd,
            Default::default(),
            open_options(),
        )
        .map_err(|e| -> anyhow::Error {
            let missing = matches!(
                e.downcast_any_ref::<gix::discover::upwards::Error>(),
                Some(
                    gix::discover::upwards::Error::NoGitRepository { .. }
                        | gix::discover::upwards::Error::NoGitRepositoryWithinCeiling { .. }
                        | gix::discover::upwards::Error::NoGitRepositoryWithinFs { .. }
                )
            );
            if missing {
                Failure::fatal("not a git repository (or any of the parent directories): .git")
                    .into()
            } else {
                anyhow::Error::from(e).context("could not open the git repository")
            }
        })?
        .to_thread_local();
        Self::from_gix(repo)
    }

    /// Opens the repository whose common directory is `common_dir` (used by the supervisor,
    /// which is handed that path explicitly).
    pub fn open_common(common_dir: &Path) -> Result<Self> {
        let options = open_options().full;
        let repo = gix::open_opts(common_dir, options).with_context(|| {
            format!("could not open the repository at {}", common_dir.display())
        })?;
        Self::from_gix(repo)
    }

    fn from_gix(repo: gix::Repository) -> Result<Self> {
        let cwd = repo.current_dir().to_owned();
        let common_dir = canonical(&cwd.join(repo.common_dir()))?;
        let workdir = repo
            .workdir()
            .map(|w| canonical(&cwd.join(w)))
            .transpose()?;
        let main_workdir = match repo.kind() {
            gix::repository::Kind::LinkedWorkTree => {
                let main = repo
                    .main_repo()
                    .context("could not open the main worktree's repository")?;
                main.workdir().map(canonical).transpose()?
            }
            _ => workdir.clone(),
        };
        Ok(Self {
            repo,
            common_dir,
            workdir,
            main_workdir,
        })
    }

    /// The gix handle.
    pub fn gix(&self) -> &gix::Repository {
        &self.repo
    }

    /// The repository's common git directory (`.git` of the main worktree), canonical.
    pub fn common_dir(&self) -> &Path {
        &self.common_dir
    }

    /// Our state directory, `<common-dir>/agent`.
    pub fn state(&self) -> StateDir {
        StateDir::at(&self.common_dir)
    }

    /// The worktree the command runs in, if any.
    pub fn workdir(&self) -> Option<&Path> {
        self.workdir.as_deref()
    }

    /// The main worktree, `None` for a bare repository.
    pub fn main_workdir(&self) -> Option<&Path> {
        self.main_workdir.as_deref()
    }

    /// `git` aimed at the repository itself (not at any worktree).
    pub fn git(&self) -> Cmd {
        crate::git::in_repo(&self.common_dir)
    }

    /// Config access (repository, user and system config, plus `git -c`).
    pub fn config(&self) -> Config {
        Config {
            snapshot: self.repo.config_snapshot().plumbing().clone(),
        }
    }

    /// True if `refs/heads/<branch>` exists.
    pub fn branch_exists(&self, branch: &str) -> Result<bool> {
        Ok(self
            .repo
            .try_find_reference(format!("refs/heads/{branch}").as_str())?
            .is_some())
    }

    /// The commit a branch points to now.
    pub fn branch_tip(&self, branch: &str) -> Result<Option<gix::ObjectId>> {
        match self
            .repo
            .try_find_reference(format!("refs/heads/{branch}").as_str())?
        {
            Some(mut r) => Ok(Some(r.peel_to_id()?.detach())),
            None => Ok(None),
        }
    }

    /// Resolves `--base` (or, without one, the HEAD of the worktree we run in) to a commit
    /// and, where it names a ref, the ref's full name.
    pub fn resolve_base(&self, spec: Option<&str>) -> Result<Base> {
        match spec {
            None | Some("HEAD" | "@") => self.head_base(),
            Some(spec) => self.spec_base(spec),
        }
    }

    fn head_base(&self) -> Result<Base> {
        let head = self.repo.head().context("could not read HEAD")?;
        if head.is_unborn() {
            return Err(Failure::fatal("HEAD does not point to a commit yet")
                .hint("make a first commit, or choose a base with --base REF")
                .into());
        }
        let ref_name = head.referent_name().map(|n| n.as_bstr().to_string());
        let commit = self
            .repo
            .head_commit()
            .context("HEAD does not point to a commit")?;
        Ok(Base {
            ref_name,
            commit: commit.id.to_string(),
        })
    }

    fn spec_base(&self, spec: &str) -> Result<Base> {
        let invalid = || -> anyhow::Error {
            Failure::fatal(format!("invalid base '{spec}': not a commit or a branch"))
                .hint(format!(
                    "check it with: git rev-parse --verify '{spec}^{{commit}}'"
                ))
                .into()
        };
        if spec.starts_with('-') || spec.is_empty() {
            return Err(invalid());
        }
        if let Ok(Some(mut reference)) = self.repo.try_find_reference(spec) {
            let name = reference.name().as_bstr().to_string();
            let commit = reference.peel_to_commit().map_err(|_| invalid())?;
            return Ok(Base {
                ref_name: Some(name),
                commit: commit.id.to_string(),
            });
        }
        let id = self.repo.rev_parse_single(spec).map_err(|_| invalid())?;
        let commit = id
            .object()
            .map_err(|_| invalid())?
            .peel_to_commit()
            .map_err(|_| invalid())?;
        Ok(Base {
            ref_name: None,
            commit: commit.id.to_string(),
        })
    }

    /// `@fresh`: fetches the remote's default branch and returns it as the base. The remote
    /// is `agent.remote`, else the current branch's upstream remote, else `origin`, else the
    /// only remote; its default branch comes from `refs/remotes/<remote>/HEAD` (asked of the
    /// remote if missing), never assumed to be `main`.
    pub fn fresh_base(&self, config: &Config) -> Result<(Base, String)> {
        let remote = self.pick_remote(config, None, "--base @fresh")?;
        let head_ref = format!("refs/remotes/{remote}/HEAD");
        let target = |repo: &gix::Repository| -> Option<String> {
            let r = repo.try_find_reference(head_ref.as_str()).ok()??;
            match r.target() {
                gix::refs::TargetRef::Symbolic(name) => Some(name.as_bstr().to_string()),
                gix::refs::TargetRef::Object(_) => None,
            }
        };
        let mut default = target(&self.repo);
        if default.is_none() {
            // Ask the remote which branch its HEAD names (network).
            self.git()
                .args(["remote", "set-head", &remote, "--auto"])
                .env("GIT_TERMINAL_PROMPT", "0")
                .run()
                .map_err(|e| {
                    Failure::fatal(format!(
                        "cannot tell the default branch of '{remote}': {e:#}"
                    ))
                    .hint(format!(
                        "name it with: git remote set-head {remote} <branch>"
                    ))
                })?;
            default = target(&self.repo);
        }
        let Some(remote_branch) = default else {
            return Err(
                Failure::fatal(format!("cannot tell the default branch of '{remote}'"))
                    .hint(format!(
                        "name it with: git remote set-head {remote} <branch>"
                    ))
                    .into(),
            );
        };
        let branch = remote_branch
            .strip_prefix(&format!("refs/remotes/{remote}/"))
            .unwrap_or(&remote_branch)
            .to_owned();
        self.git()
            .args([
                "fetch",
                "--quiet",
                "--no-recurse-submodules",
                &remote,
                &branch,
            ])
            .env("GIT_TERMINAL_PROMPT", "0")
            .run()
            .map_err(|e| {
                Failure::fatal(format!("could not fetch '{branch}' from '{remote}': {e:#}"))
            })?;
        let reopened = gix::open_opts(&self.common_dir, open_options().full)?;
        let mut reference = reopened.find_reference(remote_branch.as_str())?;
        let commit = reference.peel_to_commit()?;
        Ok((
            Base {
                ref_name: Some(remote_branch),
                commit: commit.id.to_string(),
            },
            format!("{remote}/{branch}"),
        ))
    }

    /// The remote to use (for `purpose`, named in errors): `agent.remote`, else the upstream
    /// remote of `branch` (default: the current branch), else `origin`, else the only one.
    pub fn pick_remote(
        &self,
        config: &Config,
        branch: Option<&str>,
        purpose: &str,
    ) -> Result<String> {
        if let Some(r) = config.string("agent.remote") {
            return Ok(r);
        }
        let current = self
            .repo
            .head_name()
            .ok()
            .flatten()
            .map(|h| h.as_bstr().to_string());
        let branch = branch.map(str::to_owned).or_else(|| {
            current
                .as_deref()
                .and_then(|c| c.strip_prefix("refs/heads/"))
                .map(str::to_owned)
        });
        if let Some(b) = branch
            && let Some(r) = config
                .string(&format!("branch.{b}.remote"))
                .filter(|r| r != ".")
        {
            return Ok(r);
        }
        let remotes: Vec<String> = self
            .repo
            .remote_names()
            .into_iter()
            .map(|n| n.to_string())
            .collect();
        if remotes.iter().any(|r| r == "origin") {
            return Ok("origin".into());
        }
        match remotes.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(Failure::fatal(format!(
                "{purpose} needs a remote, and this repository has none"
            ))
            .hint("add one: git remote add origin <url>")
            .into()),
            _ => Err(Failure::fatal(format!(
                "{purpose}: more than one remote and none is 'origin'"
            ))
            .hint("choose one with: git config agent.remote <name>")
            .into()),
        }
    }

    /// Worktrees (main included) that have `refs/heads/<branch>` checked out.
    pub fn worktrees_on_branch(&self, branch: &str) -> Result<Vec<PathBuf>> {
        let wanted = format!("refs/heads/{branch}");
        Ok(self
            .worktree_list()?
            .into_iter()
            .filter(|w| w.branch.as_deref() == Some(wanted.as_str()))
            .map(|w| w.path)
            .collect())
    }

    /// Every worktree git has registered, the main one first (`git worktree list
    /// --porcelain -z`, run under our worktree lock: see [`crate::git::repo::serialized`]).
    pub fn worktree_list(&self) -> Result<Vec<crate::git::Worktree>> {
        let out = crate::git::repo::serialized(
            &self.common_dir,
            self.git().args(["worktree", "list", "--porcelain", "-z"]),
        )?;
        Ok(crate::git::worktrees::parse(&out))
    }

    /// Where agent worktrees go: `agent.worktreeDir` (relative paths are relative to the main
    /// worktree), else a sibling folder `<main worktree>.agents/`.
    pub fn worktrees_root(&self, config: &Config) -> Result<PathBuf> {
        if let Some(dir) = config.string("agent.worktreeDir") {
            let dir = expand_home(&dir);
            if dir.is_absolute() {
                return Ok(dir);
            }
            let anchor = self.main_workdir().unwrap_or(&self.common_dir);
            return Ok(anchor.join(dir));
        }
        let Some(main) = self.main_workdir() else {
            return Err(Failure::fatal("this operation must be run in a work tree")
                .hint("this is a bare repository; choose where agent worktrees go with")
                .hint("  git config agent.worktreeDir /path/to/agent-worktrees")
                .into());
        };
        let name = main
            .file_name()
            .map_or_else(|| "repo".into(), |n| n.to_string_lossy().into_owned());
        let parent = main.parent().unwrap_or(main);
        Ok(parent.join(format!("{name}.agents")))
    }

    /// The HEAD commit id of the worktree we run in, for messages.
    pub fn short_id(&self, id: &str) -> String {
        crate::session::short_id(id).to_owned()
    }

    /// Adds a pattern to `<common-dir>/info/exclude` unless it is there; true if added.
    pub fn exclude(&self, pattern: &str) -> Result<bool> {
        use std::io::Write as _;
        let exclude = self.common_dir.join("info").join("exclude");
        let current = std::fs::read_to_string(&exclude).unwrap_or_default();
        if current.lines().any(|l| l.trim() == pattern) {
            return Ok(false);
        }
        std::fs::create_dir_all(exclude.parent().unwrap_or(&self.common_dir))?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&exclude)
            .with_context(|| format!("could not update {}", exclude.display()))?;
        let sep = if current.is_empty() || current.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        writeln!(file, "{sep}{pattern}")?;
        Ok(true)
    }

    /// True if the path is a linked worktree registered with this repository.
    pub fn is_registered_worktree(&self, path: &Path) -> Result<bool> {
        let wanted = canonical(path).unwrap_or_else(|_| path.to_owned());
        for proxy in self.repo.worktrees()? {
            if let Ok(base) = proxy.base()
                && (base == wanted || canonical(&base).is_ok_and(|b| b == wanted))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Runs a git command that reads the admin directory of every worktree (`git worktree
/// remove/lock/unlock/repair/list`, checking out a branch) while holding our worktree lock:
/// git dies on an admin directory a concurrent `git worktree add` is still writing.
///
/// Lock order: the state lock may be held when this is called, never the other way round
/// (nothing waits for the state lock while holding the worktree lock).
pub fn serialized(common_dir: &Path, cmd: Cmd) -> Result<String> {
    let _serialized = crate::state::StateDir::at(common_dir).worktree_lock()?;
    cmd.run()
}

/// Checks a full branch name with `git check-ref-format --branch`, git's own rules.
pub fn validate_branch(branch: &str) -> Result<()> {
    let invalid = || -> anyhow::Error {
        Failure::usage(format!("'{branch}' is not a valid branch name"))
            .hint("see 'git help check-ref-format' for the rules")
            .into()
    };
    if branch.starts_with('-') || branch.starts_with("refs/") || branch == "HEAD" {
        return Err(invalid());
    }
    let out = super::command()
        .args(["check-ref-format", "--branch", branch])
        .output()?;
    if !out.status.success() {
        return Err(invalid());
    }
    // `--branch` also expands `@{-1}`-style names; we want the name exactly as given.
    if String::from_utf8_lossy(&out.stdout).trim_end() != branch {
        return Err(invalid());
    }
    Ok(())
}

/// `~/x` → `$HOME/x` (and `~` alone), as git expands paths in its config.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ if path == "~" => std::env::var_os("HOME").map_or_else(|| path.into(), PathBuf::from),
        _ => PathBuf::from(path),
    }
}

/// A snapshot of the effective git config.
pub struct Config {
    snapshot: gix::config::File,
}

impl Config {
    /// The last value of `key`, if set.
    pub fn string(&self, key: &str) -> Option<String> {
        self.snapshot
            .string(key)
            .map(|v| v.to_str_lossy().into_owned())
    }

    /// All values of a multi-valued key, in config order.
    pub fn strings(&self, key: &str) -> Vec<String> {
        self.snapshot
            .strings(key)
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.to_str_lossy().into_owned())
            .collect()
    }

    /// A boolean, with git's spellings; a bad value is an error naming the key.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        match self.snapshot.boolean(key) {
            Ok(b) => Ok(b),
            Err(_) => Err(Failure::fatal(format!(
                "bad boolean config value '{}' for '{key}'",
                self.string(key).unwrap_or_default()
            ))
            .into()),
        }
    }

    /// A non-negative integer (`agent.ports`); a bad value is an error naming the key.
    pub fn integer(&self, key: &str) -> Result<Option<u64>> {
        match self.string(key) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                Failure::fatal(format!("bad numeric config value '{v}' for '{key}'")).into()
            }),
        }
    }

    /// A cap on parallel agents (`agent.maxParallel`); a bad value is an error naming the key.
    pub fn cap(&self, key: &str) -> Result<Option<u32>> {
        self.parsed(key, crate::session::parse_cap)
    }

    /// A budget in US dollars (`agent.budget`); a bad value is an error naming the key.
    pub fn budget(&self, key: &str) -> Result<Option<f64>> {
        self.parsed(key, crate::session::parse_budget)
    }

    fn parsed<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<Option<T>> {
        self.string(key)
            .map(|v| {
                parse(&v).map_err(|why| {
                    Failure::fatal(format!("bad config value '{v}' for '{key}': {why}"))
                        .hint(format!(
                            "correct it with 'git config {key} VALUE', or drop it with 'git config --unset {key}'"
                        ))
                        .into()
                })
            })
            .transpose()
    }

    /// A duration (`agent.timeout`, `agent.stopGrace`); a bad value is an error naming the key.
    pub fn duration(&self, key: &str) -> Result<Option<std::time::Duration>> {
        self.parsed(key, |v| {
            crate::time::parse_duration(v).map_err(|e| crate::error::Report::from_error(&e).message)
        })
    }

    /// Names of the subsections of `agent.<prefix>.*`, e.g. the profile names under
    /// `agent.profile.<name>.*`.
    pub fn subsections(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .snapshot
            .sections_by_name("agent")
            .into_iter()
            .flatten()
            .filter_map(|section| {
                let sub = section
                    .header()
                    .subsection_name()?
                    .to_str_lossy()
                    .into_owned();
                sub.strip_prefix(prefix)?
                    .strip_prefix('.')
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}
