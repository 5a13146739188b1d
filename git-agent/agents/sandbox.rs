//! The profile's side of the sandbox: where outside its worktree an agent may write (its CLI's
//! own state folders, the profile's `sandboxWrite`), and whether the CLI runs in an OS sandbox
//! of its own (codex) that ours must not be stacked on, narrowed to what ours would allow.
//!
//! Owns those decisions, made from the recorded [`AgentSpec`] alone. It must not build the
//! sandbox nor run anything: `crate::sandbox` enforces what this returns.

use std::path::{Path, PathBuf};

use crate::session::AgentSpec;

/// A place outside the worktree an agent may write: a folder (created if missing, so that a
/// rule can name it) or a file (allowed only if it exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub path: PathBuf,
    pub folder: bool,
}

/// Where a built-in CLI keeps its own state (sessions, settings, caches): writable under the
/// sandbox. `$VAR` is that variable's value when set (the profile's env first); a trailing
/// `/` marks a folder, created if missing so the sandbox can name it; other entries are files,
/// allowed only if they exist (a rule cannot name a file that is not there yet).
fn builtin_writes(profile: &str) -> &'static [&'static str] {
    match profile {
        "claude" => &["$CLAUDE_CONFIG_DIR/", "~/.claude/", "~/.claude.json"],
        "codex" => &["$CODEX_HOME/", "~/.codex/"],
        "gemini" => &["~/.gemini/"],
        "opencode" => &[
            "~/.local/share/opencode/",
            "~/.config/opencode/",
            "~/.cache/opencode/",
            "~/.local/state/opencode/",
        ],
        "aider" => &["~/.aider/"],
        _ => &[],
    }
}

/// Writable for every agent under the sandbox: nothing. Not even `~/.cache`: other tools
/// keep there what they run later for the user (pre-commit's hook environments, build
/// caches); a user who wants an agent to share a cache lists it in `agent.sandbox.allowWrite`.
const COMMON_WRITES: &[&str] = &[];

/// The places outside its worktree that `agent` may write under the sandbox: its CLI's own
/// state folders and the profile's `sandboxWrite` entries (from the
/// user's profiles file or git config, never from the repository).
pub fn sandbox_writes(agent: &AgentSpec) -> Vec<Allowed> {
    let var = |name: &str| {
        agent
            .env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    };
    let mut out = Vec::new();
    for entry in builtin_writes(&agent.profile)
        .iter()
        .chain(COMMON_WRITES)
        .map(|e| (*e).to_owned())
        .chain(agent.sandbox_writes.iter().cloned())
    {
        let folder = entry.ends_with('/');
        let trimmed = entry.trim_end_matches('/');
        let path = match trimmed.strip_prefix('$') {
            Some(name) => match var(name) {
                Some(value) => std::path::PathBuf::from(value),
                None => continue,
            },
            None => crate::git::repo::expand_home(trimmed),
        };
        if path.is_absolute() {
            out.push(Allowed { path, folder });
        }
    }
    out
}

/// The CLI's own OS sandbox, when the session's mode runs it in one (codex `workspace-write`
/// and `read-only`, bubblewrap): ours is then not stacked on top, since codex's cannot start
/// inside a Landlock domain. Decided from the recorded program and arguments, so a profile
/// whose command line was replaced (and lost the mode's flags) does not count.
pub fn own_sandbox(agent: &AgentSpec) -> Option<String> {
    let mode = agent.permission_mode.as_deref()?;
    // Only codex itself (a program of that name, not one a repository's profile names) runs
    // in codex's sandbox; anything else gets ours.
    let applies = agent.profile == "codex"
        && agent.source != "project"
        && agent.program.file_name().is_some_and(|n| n == "codex")
        && matches!(mode, "workspace-write" | "read-only")
        && agent
            .args
            .windows(2)
            .any(|w| w[0] == "--sandbox" && w[1] == mode);
    applies.then(|| format!("codex's own (--sandbox {mode})"))
}

/// `args` of a run whose CLI sandboxes itself ([`own_sandbox`]), narrowed to what ours would
/// allow: codex's `workspace-write` also lets the agent write all of `/tmp` and `$TMPDIR`
/// (where a repository may live: found with the real CLI), so those are excluded and the
/// session's private temporary folder, its `TMPDIR`, is the one writable root besides the
/// worktree. The overrides go right after `exec`, where codex takes them for a first run
/// and for `exec resume` alike.
pub fn narrow_own_sandbox(agent: &AgentSpec, args: &[String], tmp: &Path) -> Vec<String> {
    if own_sandbox(agent).is_none() || args.first().map(String::as_str) != Some("exec") {
        return args.to_vec();
    }
    let roots = serde_json::to_string(&[tmp.to_string_lossy()]).unwrap_or_default();
    let mut out = vec![args[0].clone()];
    for setting in [
        "sandbox_workspace_write.exclude_slash_tmp=true".to_owned(),
        "sandbox_workspace_write.exclude_tmpdir_env_var=true".to_owned(),
        format!("sandbox_workspace_write.writable_roots={roots}"),
    ] {
        out.push("-c".into());
        out.push(setting);
    }
    out.extend(args[1..].iter().cloned());
    out
}
