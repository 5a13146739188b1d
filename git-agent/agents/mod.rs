//! Agent profiles: how to run an agent CLI headless, resume it, and read what it prints.
//!
//! A profile is built in layers, later layers overriding earlier ones:
//! 1. the built-in profile of that name, if any (`claude`, `codex`, `gemini`, `opencode`,
//!    `aider`);
//! 2. the user's profiles file, `$XDG_CONFIG_HOME/git-agent/profiles.toml` (a table per
//!    profile);
//! 3. git config, `agent.profile.<name>.*`.
//!
//! A command after `--` is a profile of its own (`command`): any argv, never through a shell.
//!
//! Keys (git config spelling; the profiles file uses the same names, `args`/`leaves` arrays
//! and an `env` table):
//! - `command`: program and leading arguments, split like a shell would split them but never
//!   run by one. Replaces a built-in's command line (and its resume line, unless `resume` is
//!   also given).
//! - `program`: only the program (a path or a name on `PATH`), keeping the arguments.
//! - `arg` (multi-valued): one more argument.
//! - `resume`: the arguments of a follow-up run that resumes the agent's own conversation
//!   (`{session_id}`, `{prompt}`); empty means the agent cannot resume (a follow-up then gets
//!   the original task plus the message).
//! - `prompt`: `arg` (default: the last argument unless an argument contains `{prompt}`),
//!   `stdin`, or `env` (only `GIT_AGENT_PROMPT` and the prompt file).
//! - `format`: how to read the agent's output: `claude`, `codex`, `gemini`, `opencode`,
//!   `aider` or `text`.
//! - `leaves` (multi-valued): files the agent leaves that are not work (globs like
//!   `.aider*`): never auto-committed, never counted as changes.
//! - `env` (multi-valued): `KEY=VALUE` for the agent's environment.
//! - `permissionMode`: for a built-in, one of its modes (see [`builtin_modes`]); otherwise a
//!   label shown by `list` and `show`.
//! - `bypass`: mark a custom profile as running without any permission checks.
//!
//! In arguments, `{prompt}` is the prompt, `{prompt_file}` the file holding it, and
//! `{session_id}` the agent's own session id.
//!
//! Files: `builtins.rs` (the built-in profile table), `layers.rs` (building a profile from its
//! layers), `sandbox.rs` (where an agent may write under the sandbox, and codex's own),
//! `output/` (reading what each agent CLI prints, one file per format), `pricing.rs` (what
//! models' tokens cost, to estimate a run's spend from its tokens), `conversations/` (where
//! each CLI keeps its conversations, and carrying one elsewhere), `shared_checkout.rs` (the
//! state a CLI would mix between sessions sharing a worktree), `gemini_strays.rs` (gemini's
//! stray chat files, removed after a run before they cost another session its conversation).
//! This file holds the finished [`Profile`], the `--agent` choices and binding a profile's
//! templates to a task.
//! Nothing here runs an agent (the supervisor does) or prints.

mod builtins;
pub mod conversations;
mod gemini_strays;
mod layers;
pub mod output;
pub mod pricing;
mod sandbox;
mod shared_checkout;

pub use builtins::{DETECT_ORDER, Mode, builtin_modes, read_only_mode};
pub use gemini_strays::{gemini_dir, remove_strays as remove_gemini_strays};
pub use layers::{Profiles, ProfilesFile};
pub use sandbox::{Allowed, narrow_own_sandbox, own_sandbox, sandbox_writes};
pub use shared_checkout::separate_histories;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::agents::output::Format;
use crate::error::Failure;
use crate::session::AgentSpec;

/// How the prompt is handed to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptVia {
    Arg,
    Stdin,
    Env,
}

impl PromptVia {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Arg => "arg",
            Self::Stdin => "stdin",
            Self::Env => "env",
        }
    }

    fn parse(value: &str, key: &str) -> Result<Self> {
        match value {
            "arg" => Ok(Self::Arg),
            "stdin" => Ok(Self::Stdin),
            "env" => Ok(Self::Env),
            other => Err(
                Failure::fatal(format!("bad config value '{other}' for '{key}'"))
                    .hint("use one of: arg, stdin, env")
                    .into(),
            ),
        }
    }
}

/// A profile, ready to be bound to a task.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    /// `builtin`, `config` or `command`.
    pub source: &'static str,
    pub program: String,
    /// Argument templates (may contain `{prompt}` / `{prompt_file}`).
    pub args: Vec<String>,
    /// Follow-up templates (`{session_id}`), `None` if the agent cannot resume.
    pub resume: Option<Vec<String>>,
    pub prompt_via: PromptVia,
    pub format: Format,
    pub env: Vec<(String, String)>,
    pub leaves: Vec<String>,
    /// More places the agent may write under the sandbox (`~/` or absolute).
    pub sandbox_writes: Vec<String>,
    pub permission_mode: Option<String>,
    pub bypass: bool,
    /// Its permission mode is a built-in one that cannot edit files (claude's `plan`, codex's
    /// `read-only`…): false for every profile without built-in modes.
    pub read_only: bool,
    /// The repository defines (part of) this profile: the text the user must approve.
    pub project_text: Option<String>,
    /// At most this many of its sessions hold a slot at once (`maxParallel`).
    pub max_parallel: Option<u32>,
    /// Its sessions start one at a time (`startSerially`): some CLIs break when two first
    /// runs start at the same moment.
    pub start_serially: bool,
}

/// The profile for a command given after `--`.
pub fn command_profile(argv: &[String], cwd: &Path) -> Result<Profile> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Failure::usage("no command after '--'"))?;
    // A relative path means relative to where the user typed it, not to the worktree.
    let program = if program.contains('/') && Path::new(program).is_relative() {
        // `./x` and `a/./b` read better without the `.` once made absolute.
        let joined: PathBuf = cwd
            .join(program)
            .components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect();
        joined.to_string_lossy().into_owned()
    } else {
        program.clone()
    };
    Ok(Profile {
        name: "command".into(),
        source: "command",
        program,
        args: args.to_vec(),
        resume: None,
        prompt_via: PromptVia::Env,
        format: Format::Text,
        env: Vec::new(),
        leaves: Vec::new(),
        sandbox_writes: Vec::new(),
        permission_mode: None,
        bypass: false,
        read_only: false,
        project_text: None,
        max_parallel: None,
        start_serially: false,
    })
}

/// One entry of `--agent claude:2,codex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub profile: String,
    /// Explicit count, if given (`claude:2`).
    pub count: Option<u32>,
}

/// Parses `--agent` values; each may hold a comma-separated list of `NAME[:COUNT]`.
pub fn parse_choices(values: &[String]) -> Result<Vec<Choice>> {
    let mut choices = Vec::new();
    for part in values.iter().flat_map(|v| v.split(',')) {
        let part = part.trim();
        let bad = || -> anyhow::Error {
            Failure::usage(format!("invalid --agent value '{part}'"))
                .hint("use NAME, NAME:COUNT, or a comma-separated list such as claude:2,codex")
                .into()
        };
        if part.is_empty() {
            return Err(bad());
        }
        let (name, count) = match part.split_once(':') {
            Some((name, count)) => {
                let n: u32 = count.parse().map_err(|_| bad())?;
                if n == 0 {
                    return Err(bad());
                }
                (name, Some(n))
            }
            None => (part, None),
        };
        if name.is_empty() {
            return Err(bad());
        }
        choices.push(Choice {
            profile: name.to_owned(),
            count,
        });
    }
    Ok(choices)
}

impl Profile {
    /// Resolves the program on `PATH` (or checks the given path), failing before anything is
    /// created if it is missing.
    pub fn resolve_program(&self) -> Result<PathBuf> {
        let missing = || -> anyhow::Error {
            let mut f = Failure::fatal(format!("agent program '{}' not found", self.program));
            f = match self.source {
                "builtin" => f.hint(format!(
                    "install {} or set its path with: git config agent.profile.{}.program /path/to/{}",
                    self.name, self.name, self.program
                )),
                "config" => f.hint(format!("check the command of profile '{}'", self.name)),
                _ => f.hint("check the command after '--'"),
            };
            f.into()
        };
        let path = Path::new(&self.program);
        if path.components().count() > 1 || path.is_absolute() {
            return if is_executable(path) {
                Ok(path.to_owned())
            } else {
                Err(missing())
            };
        }
        which::which(&self.program).map_err(|_| missing())
    }

    /// The agent spec recorded in the session.
    pub fn spec(&self, program: PathBuf) -> AgentSpec {
        AgentSpec {
            profile: self.name.clone(),
            source: self.source.to_owned(),
            program,
            args: self.args.clone(),
            resume_args: self.resume.clone(),
            prompt_via: self.prompt_via.as_str().to_owned(),
            env: self.env.clone(),
            permission_mode: self.permission_mode.clone(),
            bypass: self.bypass,
            read_only: self.read_only,
            format: self.format,
            leaves: self.leaves.clone(),
            sandbox_writes: self.sandbox_writes.clone(),
        }
    }
}

/// What the placeholders of an argument template stand for.
pub struct Bindings<'a> {
    pub prompt: &'a str,
    pub prompt_file: &'a Path,
    pub session_id: Option<&'a str>,
}

/// Fills in an argument template. With `prompt_via = arg` and no `{prompt}` anywhere, the
/// prompt becomes the last argument.
pub fn bind(spec: &AgentSpec, template: &[String], b: &Bindings<'_>) -> Vec<String> {
    let file = b.prompt_file.to_string_lossy();
    let mut used_prompt = false;
    let mut args: Vec<String> = template
        .iter()
        .map(|a| {
            used_prompt |= a.contains("{prompt}");
            a.replace("{prompt_file}", &file)
                .replace("{session_id}", b.session_id.unwrap_or_default())
                .replace("{prompt}", b.prompt)
        })
        .collect();
    if spec.prompt_via == PromptVia::Arg.as_str() && !used_prompt {
        args.push(b.prompt.to_owned());
    }
    args
}

/// The resume template of a spec, if it can resume with what we know (a template that needs
/// a session id needs one).
pub fn resume_template<'s>(spec: &'s AgentSpec, session_id: Option<&str>) -> Option<&'s [String]> {
    let template = spec.resume_args.as_deref()?;
    let needs_id = template.iter().any(|a| a.contains("{session_id}"));
    (!needs_id || session_id.is_some()).then_some(template)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_agent_choices() {
        let c = parse_choices(&["claude:2,codex".into(), "aider".into()]).unwrap();
        assert_eq!(
            c,
            vec![
                Choice {
                    profile: "claude".into(),
                    count: Some(2)
                },
                Choice {
                    profile: "codex".into(),
                    count: None
                },
                Choice {
                    profile: "aider".into(),
                    count: None
                },
            ]
        );
        for bad in ["", "claude:", "claude:0", "claude:x", ":2", "a,,b"] {
            assert!(
                parse_choices(&[bad.into()]).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
