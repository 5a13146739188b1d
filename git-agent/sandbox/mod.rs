//! The agent's room, enforced by the kernel: a write sandbox (Landlock on Linux) applied just
//! before the agent's program starts.
//!
//! Invariants (DESIGN.md §5, 11):
//! - Under the sandbox an agent writes only beneath: its worktree; the parts of the git common
//!   directory a commit needs (`objects/`, the folder of refs and reflogs holding its branch,
//!   `refs/heads/agent/`, and its own `worktrees/<id>/`), never the common dir's `config` or
//!   `hooks/` (nothing it writes there runs later for the user) nor the user's branches; its
//!   status file; a private temporary folder (its `TMPDIR`; never the shared one); `/dev`; the
//!   state folders its CLI declares ([`crate::agents`]); and what the user lists in
//!   `agent.sandbox.allowWrite` (git config, never the repository's files). An agent in a mode
//!   that cannot edit (`new --read-only`) gets none of the repository: not its worktree (which
//!   may be another session's, `new --in`), not the common dir; the rest as above. Reads, the network
//!   and sockets on disk are not restricted; signals and abstract sockets are scoped where the
//!   kernel can (ABI 6).
//! - Nothing of ours runs git in a session's worktree whose git link the agent rewrote
//!   ([`guard`]), and what runs the agent's work outside its run (verify, `run`, the commit of
//!   its leftovers, looking inside submodules) runs in the same sandbox.
//! - Nothing is widened by the repository: `.git-agent.toml` cannot add writable paths or
//!   turn the sandbox off.
//! - A profile whose mode runs the CLI in its own OS sandbox (codex `workspace-write`,
//!   `read-only`) does not get ours stacked on top (codex's bubblewrap cannot start inside a
//!   Landlock domain); the record says which sandbox is in force.
//! - `agent.sandbox = on` never runs an agent unsandboxed: without Landlock the command fails.
//!   `auto` (the default) runs unsandboxed there and says so; `off` is today's behaviour.
//!
//! The sandbox is applied by a trampoline, `git-agent __sandbox --write PATH… -- PROGRAM
//! ARGS…`, which restricts itself and then execs the program (same pid, so process groups
//! and start times stay valid). Another platform's backend (macOS Seatbelt) plugs in at
//! [`support`] and [`enforce`].

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::error::Failure;

pub use crate::agents::Allowed;
use crate::git::link::{admin_dir, canonical};
use crate::git::repo::Config;
pub use crate::git::repo::expand_home;
use crate::process::Cmd;
pub use crate::session::{InForce, SandboxRequest as Request, SandboxSetting as Setting};

impl Setting {
    /// `agent.sandbox` from git config (user, repository, `git -c`).
    pub fn from_config(config: &Config) -> Result<Self> {
        match config.string("agent.sandbox").as_deref() {
            None | Some("auto") => Ok(Self::Auto),
            Some("on" | "true" | "yes" | "1") => Ok(Self::On),
            Some("off" | "false" | "no" | "0") => Ok(Self::Off),
            Some(other) => Err(Failure::fatal(format!(
                "bad config value '{other}' for 'agent.sandbox'"
            ))
            .hint("use one of: auto, on, off")
            .into()),
        }
    }
}

/// `agent.sandbox.allowWrite`: absolute paths (`~/` allowed), multi-valued.
pub fn allow_write_from_config(config: &Config) -> Result<Vec<PathBuf>> {
    config
        .strings("agent.sandbox.allowWrite")
        .iter()
        .map(|p| {
            let path = expand_home(p);
            if path.is_absolute() {
                Ok(path)
            } else {
                Err(Failure::fatal(format!(
                    "bad config value '{p}' for 'agent.sandbox.allowWrite'"
                ))
                .hint("give an absolute path, or one starting with ~/")
                .into())
            }
        })
        .collect()
}

/// Whether this kernel can sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    Landlock { abi: u32 },
    Unavailable { reason: String },
}

/// Probes the kernel once: a short-lived thread restricts itself (Landlock restricts only the
/// calling thread), reports what the kernel did, and ends, leaving this process untouched.
pub fn support() -> Support {
    #[cfg(feature = "test-fakes")]
    if std::env::var_os("GIT_AGENT_TEST_NO_LANDLOCK").is_some() {
        return Support::Unavailable {
            reason: "the kernel has no Landlock (simulated for a test)".into(),
        };
    }
    static PROBE: std::sync::OnceLock<Support> = std::sync::OnceLock::new();
    PROBE
        .get_or_init(|| {
            std::thread::spawn(probe)
                .join()
                .unwrap_or_else(|_| Support::Unavailable {
                    reason: "the Landlock probe failed".into(),
                })
        })
        .clone()
}

#[cfg(target_os = "linux")]
fn probe() -> Support {
    use landlock::{ABI, AccessFs, LandlockStatus, Ruleset, RulesetAttr as _, RulesetStatus};
    let made = Ruleset::default()
        .handle_access(AccessFs::from_write(ABI::V1))
        .and_then(|r| r.create())
        .and_then(|r| r.restrict_self());
    match made {
        Ok(status) => match (status.ruleset, status.landlock) {
            (RulesetStatus::NotEnforced, LandlockStatus::NotEnabled) => Support::Unavailable {
                reason: "Landlock is not enabled in this kernel (lsm= boot parameter)".into(),
            },
            (RulesetStatus::NotEnforced, _) => Support::Unavailable {
                reason: "the kernel has no Landlock (Linux 5.13 or later has it)".into(),
            },
            (_, LandlockStatus::Available { effective_abi, .. }) => Support::Landlock {
                abi: effective_abi as u32,
            },
            (_, _) => Support::Landlock { abi: 1 },
        },
        Err(err) => Support::Unavailable {
            reason: format!("Landlock failed: {err}"),
        },
    }
}

#[cfg(not(target_os = "linux"))]
fn probe() -> Support {
    Support::Unavailable {
        reason: "no sandbox backend for this system yet".into(),
    }
}

/// Restricts this thread (and what it execs) to writing beneath `writable`. Paths that do
/// not exist are skipped (they cannot be written then either). Fails unless the kernel
/// enforced the rules.
#[cfg(target_os = "linux")]
pub fn enforce(writable: &[PathBuf]) -> Result<()> {
    use landlock::{
        ABI, Access as _, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr as _,
        RulesetCreatedAttr as _, RulesetStatus, Scope,
    };
    // V3's write rights: writing, making, removing, renaming across folders, truncating.
    // Newer ABIs add rights that are not about writing files (device ioctls, connecting to
    // Unix sockets); handling them would break agents for nothing.
    let abi = ABI::V3;
    let access = AccessFs::from_write(abi);
    let mut ruleset = Ruleset::default()
        .handle_access(access)
        .context("could not prepare the sandbox")?
        // Where the kernel can (Linux 6.12, ABI 6): no signals to processes outside the
        // sandbox and no connecting to abstract Unix sockets made outside it. Best effort:
        // older kernels enforce the write rules alone.
        .scope(Scope::from_all(ABI::V6))
        .context("could not prepare the sandbox")?
        .create()
        .context("could not create the sandbox")?;
    for path in writable {
        let Ok(fd) = PathFd::new(path) else { continue };
        let rights = if path.is_dir() {
            access
        } else {
            access & AccessFs::from_file(abi)
        };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, rights))
            .with_context(|| format!("could not allow writes beneath {}", path.display()))?;
    }
    let status = ruleset
        .restrict_self()
        .context("could not enter the sandbox")?;
    if status.ruleset == RulesetStatus::NotEnforced {
        anyhow::bail!("the kernel did not enforce the sandbox");
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn enforce(_writable: &[PathBuf]) -> Result<()> {
    anyhow::bail!("no sandbox backend for this system yet")
}

/// `cmd`, run through the sandbox trampoline that lets it write only beneath `writable`.
pub fn wrap(cmd: &Cmd, writable: &[PathBuf]) -> Result<Cmd> {
    let exe = crate::process::git_agent_exe()?;
    let program = crate::process::resolve_program(cmd.program())?;
    let mut wrapped = cmd.with_program(exe).arg("__sandbox");
    for path in writable {
        wrapped = wrapped.arg("--write").arg(path);
    }
    Ok(wrapped.arg("--").arg(program).args(cmd.arguments()))
}

/// Everything a session's run may write, in the order of the module docs.
#[derive(Debug, Clone)]
pub struct Places<'a> {
    pub common_dir: &'a Path,
    pub main_worktree: &'a Path,
    pub worktree: &'a Path,
    /// The session's branch (`agent/x`): its folder of refs is writable if git-agent made it.
    pub branch: &'a str,
    pub branch_created: bool,
    /// The agent's mode cannot edit (`new --read-only`): nothing of the repository is writable.
    pub read_only: bool,
    pub status_file: &'a Path,
    pub tmp: &'a Path,
    /// The CLI's own folders and files, and `agent.sandbox.allowWrite`.
    pub extra: Vec<Allowed>,
}

impl Places<'_> {
    /// The paths, made canonical; declared folders that are missing are created first.
    pub fn writable(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        if !self.read_only {
            self.repository(&mut paths);
        }
        paths.push(self.status_file.to_owned());
        // Only its own temporary folder, never the shared one: that holds other sessions'
        // folders, the sockets of the user's programs, and often the repository itself.
        paths.push(canonical(self.tmp));
        paths.push(PathBuf::from("/dev"));
        for allowed in &self.extra {
            if allowed.folder {
                let _ = std::fs::create_dir_all(&allowed.path);
            }
            if allowed.path.exists() {
                paths.push(canonical(&allowed.path));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        paths.retain(|p| seen.insert(p.clone()));
        paths
    }

    /// The worktree, and what a commit in it needs of the common dir.
    fn repository(&self, paths: &mut Vec<PathBuf>) {
        paths.extend(repository_writable(
            self.common_dir,
            self.worktree,
            own_ref_folder(self.branch, self.branch_created),
        ));
    }
}

/// What a commit in `worktree` writes: the worktree, objects, and only the folder of refs
/// (and reflogs) that holds its own branch (`refs/heads/agent/`, `branch_folder`; none on a
/// branch of the user's): the user's branches and tags stay out of reach. A rule can only
/// name what exists, so the folders are made first (git would make them on first use, which
/// inside the sandbox it could not).
fn repository_writable(
    common_dir: &Path,
    worktree: &Path,
    branch_folder: Option<PathBuf>,
) -> Vec<PathBuf> {
    let mut paths = vec![canonical(worktree)];
    let mut subs = vec![PathBuf::from("objects")];
    if let Some(folder) = &branch_folder {
        subs.push(Path::new("refs").join(folder));
        subs.push(Path::new("logs/refs").join(folder));
    }
    for sub in subs {
        let dir = common_dir.join(sub);
        let _ = std::fs::create_dir_all(&dir);
        paths.push(canonical(&dir));
    }
    if let Some(admin) = admin_dir(common_dir, worktree) {
        paths.push(admin);
    }
    paths
}

/// Where git-agent's commit of what a session left may write, in the sandbox its last run
/// had: the same places, and for an agent that could not edit (`new --read-only`, last to end
/// in a worktree it shares) the repository too, for what is committed is another's work.
pub fn commit_writable(
    common_dir: &Path,
    session: &crate::session::Session,
    ran_with: &[PathBuf],
) -> Vec<PathBuf> {
    let mut paths = ran_with.to_vec();
    if session.agent.read_only {
        let folder = own_ref_folder(&session.branch, session.branch_ours());
        for p in repository_writable(common_dir, &session.worktree, folder) {
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
    }
    paths
}

/// The folder of refs (below `refs/`) holding a session's branch, if git-agent made that
/// branch in a folder of its own (`heads/agent` for `agent/x`): the only refs its sandbox may
/// write. A branch of the user's (`--branch fixit`, `feature/x`) shares its folder with the
/// user's other branches: none then, and the agent cannot commit by itself.
pub fn own_ref_folder(branch: &str, branch_created: bool) -> Option<PathBuf> {
    Path::new("heads")
        .join(branch)
        .parent()
        .filter(|f| branch_created && *f != Path::new("heads"))
        .map(Path::to_owned)
}

/// What runs in the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The agent itself (its CLI's own sandbox, if any, counts).
    Agent,
    /// A command of ours that runs what the agent may have written (verify, run): always
    /// ours, whatever the agent's CLI does for itself.
    Command,
}

/// What a run gets: the paths for the trampoline (`None`: no sandbox of ours), and what to
/// record and show.
pub fn decide(
    common_dir: &Path,
    session: &crate::session::Session,
    status_file: &Path,
    tmp: &Path,
    purpose: Purpose,
) -> Result<(Option<Vec<PathBuf>>, InForce)> {
    let request = &session.sandbox;
    let unconfined = |kind: &str, detail: String| {
        Ok((
            None,
            InForce {
                kind: kind.to_owned(),
                detail,
                writable: Vec::new(),
            },
        ))
    };
    if request.setting == Setting::Off {
        return unconfined("off", "off (agent.sandbox=off)".into());
    }
    if purpose == Purpose::Agent
        && let Some(own) = crate::agents::own_sandbox(&session.agent)
    {
        return unconfined("agent", own);
    }
    if let Support::Unavailable { reason } = support() {
        if request.setting == Setting::On {
            return Err(Failure::fatal(format!(
                "agent.sandbox is 'on' but the agent cannot be sandboxed: {reason}"
            ))
            .hint("set agent.sandbox=auto to run unsandboxed where the kernel cannot sandbox")
            .into());
        }
        return unconfined("none", format!("none: {reason}"));
    }
    let mut extra = crate::agents::sandbox_writes(&session.agent);
    extra.extend(request.allow_write.iter().map(|p| Allowed {
        path: p.clone(),
        folder: false,
    }));
    let places = Places {
        common_dir,
        main_worktree: &session.repo,
        worktree: &session.worktree,
        branch: &session.branch,
        branch_created: session.branch_ours(),
        // Verify and `run` build and test the work: only the agent itself is kept out.
        read_only: purpose == Purpose::Agent && session.agent.read_only,
        status_file,
        tmp,
        extra,
    };
    let writable = places.writable();
    let detail = if places.read_only {
        "landlock: read-only: writes only its CLI's own folders and its temporary folder"
    } else {
        "landlock: writes only in its worktree, its commits and its CLI's own folders"
    };
    Ok((
        Some(writable.clone()),
        InForce {
            kind: "landlock".into(),
            detail: detail.into(),
            writable,
        },
    ))
}

/// Where [`private_tmp`] puts a session's temporary folder (its parent, and the folder).
fn private_tmp_path(common_dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    use sha2::Digest as _;
    let uid = nix::unistd::getuid().as_raw();
    let parent = std::env::temp_dir().join(format!("git-agent-{uid}"));
    let hash = sha2::Sha256::digest(common_dir.as_os_str().as_encoded_bytes());
    let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let dir = parent.join(format!("{name}-{short}"));
    (parent, dir)
}

/// Removes a removed session's temporary folder (what is in a `TMPDIR` is not work), if it
/// is a folder of ours. Best effort.
pub fn remove_private_tmp(common_dir: &Path, name: &str) {
    use std::os::unix::fs::MetadataExt as _;
    let (_, dir) = private_tmp_path(common_dir, name);
    if std::fs::symlink_metadata(&dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == nix::unistd::getuid().as_raw())
    {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The agent's private temporary folder: `<system tmp>/git-agent-<uid>/<name>-<repo hash>`,
/// short (Unix socket paths are limited to 108 bytes), created `0700`.
pub fn private_tmp(common_dir: &Path, name: &str) -> Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    let uid = nix::unistd::getuid().as_raw();
    let (parent, dir) = private_tmp_path(common_dir, name);
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o700);
    match builder.create(&parent) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("could not create {}", parent.display())),
    }
    // Someone else's folder (or a symlink planted in a shared /tmp) is never used.
    let meta = std::fs::symlink_metadata(&parent)?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(Failure::fatal(format!(
            "{} is not a folder of ours; not using it as the agent's temporary folder",
            parent.display()
        ))
        .hint("remove it, or set TMPDIR to a folder of your own")
        .into());
    }
    match builder.create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("could not create {}", dir.display())),
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_is_expanded_only_at_the_start() {
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(
                expand_home("~/.claude"),
                PathBuf::from(home).join(".claude")
            );
        }
        assert_eq!(expand_home("/a/~/b"), PathBuf::from("/a/~/b"));
        assert_eq!(expand_home("rel"), PathBuf::from("rel"));
    }
}
