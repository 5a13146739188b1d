//! Agent profiles: how to run an agent CLI headless.
//!
//! Three sources, in this order of precedence:
//! 1. a command after `--` (any argv, never through a shell);
//! 2. a profile from git config, `agent.profile.<name>.*` (also overrides a built-in of the
//!    same name);
//! 3. a built-in profile: `claude`, `codex`, `aider`, `gemini`, `opencode`.
//!
//! Config keys of a profile (all under `agent.profile.<name>.`):
//! - `command`: the program and leading arguments, split like a shell would split them but
//!   never run by one (`claude -p --permission-mode acceptEdits`);
//! - `arg` (multi-valued): further arguments, one per value;
//! - `prompt`: how the prompt reaches the agent: `arg` (default: appended as the last argument
//!   unless an argument contains `{prompt}`), `stdin`, or `env` (only through
//!   `GIT_AGENT_PROMPT` and the prompt file);
//! - `env` (multi-valued): `KEY=VALUE` added to the agent's environment;
//! - `permissionMode`: how much the agent may do unasked, as shown by `list` and `show`.
//!
//! In `command` and `arg`, `{prompt}` becomes the prompt and `{prompt_file}` the path of the
//! prompt file. Every agent also gets the prompt as `GIT_AGENT_PROMPT` and in the file named by
//! `GIT_AGENT_PROMPT_FILE`.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::Failure;
use crate::repo::Config;
use crate::session::AgentSpec;

/// Built-in profile names, in the order `git agent new` looks for them when no default is set.
pub const DETECT_ORDER: &[&str] = &["claude", "codex", "gemini", "opencode", "aider"];

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

    fn parse(value: &str, profile: &str) -> Result<Self> {
        match value {
            "arg" => Ok(Self::Arg),
            "stdin" => Ok(Self::Stdin),
            "env" => Ok(Self::Env),
            other => Err(Failure::fatal(format!(
                "bad config value '{other}' for 'agent.profile.{profile}.prompt'"
            ))
            .hint("use one of: arg, stdin, env")
            .into()),
        }
    }
}

/// A profile before it is bound to a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// `builtin`, `config` or `command`.
    pub source: &'static str,
    pub program: String,
    /// Argument templates (may contain `{prompt}` / `{prompt_file}`).
    pub args: Vec<String>,
    pub prompt_via: PromptVia,
    pub env: Vec<(String, String)>,
    pub permission_mode: Option<String>,
}

fn builtin(name: &str) -> Option<Profile> {
    // Headless invocations as established with the real CLIs (see the agent rig's README):
    // structured output where the CLI has it, and a permission mode that lets the agent edit
    // files in its worktree without stopping to ask.
    let (program, args, mode): (&str, &[&str], &str) = match name {
        "claude" => (
            "claude",
            &[
                "-p",
                "{prompt}",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-mode",
                "acceptEdits",
            ],
            "acceptEdits",
        ),
        "codex" => (
            "codex",
            &[
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--sandbox",
                "workspace-write",
                "{prompt}",
            ],
            "workspace-write",
        ),
        "gemini" => (
            "gemini",
            &[
                "-p",
                "{prompt}",
                "--output-format",
                "stream-json",
                "--approval-mode",
                "auto_edit",
                "--skip-trust",
            ],
            "auto_edit",
        ),
        "opencode" => (
            "opencode",
            &["run", "--format", "json", "{prompt}"],
            "default",
        ),
        "aider" => (
            "aider",
            &[
                "--message",
                "{prompt}",
                "--yes-always",
                "--no-pretty",
                "--no-fancy-input",
                "--no-check-update",
                "--no-show-release-notes",
                "--analytics-disable",
            ],
            "yes-always",
        ),
        _ => return None,
    };
    Some(Profile {
        name: name.to_owned(),
        source: "builtin",
        program: program.to_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        prompt_via: PromptVia::Arg,
        env: Vec::new(),
        permission_mode: Some(mode.to_owned()),
    })
}

fn from_config(config: &Config, name: &str) -> Result<Option<Profile>> {
    let key = |k: &str| format!("agent.profile.{name}.{k}");
    let Some(command) = config.string(&key("command")) else {
        if config.subsections("profile").iter().any(|p| p == name) {
            return Err(Failure::fatal(format!("profile '{name}' has no command"))
                .hint(format!(
                    "set it with: git config agent.profile.{name}.command PROGRAM"
                ))
                .into());
        }
        return Ok(None);
    };
    let mut words = shell_words::split(&command)
        .map_err(|e| Failure::fatal(format!("bad config value for '{}': {e}", key("command"))))?;
    if words.is_empty() {
        return Err(Failure::fatal(format!("'{}' is empty", key("command"))).into());
    }
    let program = words.remove(0);
    words.extend(config.strings(&key("arg")));
    let prompt_via = match config.string(&key("prompt")) {
        Some(v) => PromptVia::parse(&v, name)?,
        None => PromptVia::Arg,
    };
    let env = config
        .strings(&key("env"))
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(
                Failure::fatal(format!("bad config value '{kv}' for '{}'", key("env")))
                    .hint("use KEY=VALUE")
                    .into(),
            ),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Profile {
        name: name.to_owned(),
        source: "config",
        program,
        args: words,
        prompt_via,
        env,
        permission_mode: config.string(&key("permissionMode")),
    }))
}

/// Finds a profile by name: git config first, then the built-ins.
pub fn find(config: &Config, name: &str) -> Result<Profile> {
    if let Some(p) = from_config(config, name)? {
        return Ok(p);
    }
    builtin(name).ok_or_else(|| {
        let mut known: Vec<String> = DETECT_ORDER.iter().map(|s| (*s).to_owned()).collect();
        known.extend(config.subsections("profile"));
        Failure::fatal(format!("unknown agent profile '{name}'"))
            .hint(format!("known profiles: {}", known.join(", ")))
            .hint(format!(
                "define one with: git config agent.profile.{name}.command PROGRAM"
            ))
            .into()
    })
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
        prompt_via: PromptVia::Env,
        env: Vec::new(),
        permission_mode: None,
    })
}

/// The profile to use when `--agent` is not given: `agent.default`, else the first built-in
/// whose program is on `PATH`.
pub fn default_profile(config: &Config) -> Result<Profile> {
    if let Some(name) = config.string("agent.default") {
        return find(config, &name);
    }
    for name in DETECT_ORDER {
        let profile = find(config, name)?;
        if which::which(&profile.program).is_ok() {
            return Ok(profile);
        }
    }
    Err(Failure::fatal("no agent found")
        .hint(format!("looked for {} in PATH", DETECT_ORDER.join(", ")))
        .hint("choose one with --agent NAME, set a default with 'git config agent.default NAME',")
        .hint("or run any command: git agent new \"task\" -- COMMAND [ARGS...]")
        .into())
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
                    "install {} or set its path with: git config agent.profile.{}.command /path/to/{}",
                    self.name, self.name, self.program
                )),
                "config" => f.hint(format!("check 'git config agent.profile.{}.command'", self.name)),
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

    /// Binds the profile to a task: the exact program and arguments to run.
    pub fn bind(&self, program: PathBuf, prompt: &str, prompt_file: &Path) -> AgentSpec {
        let file = prompt_file.to_string_lossy();
        let mut used_prompt = false;
        let mut args: Vec<String> = self
            .args
            .iter()
            .map(|a| {
                if a.contains("{prompt}") {
                    used_prompt = true;
                }
                a.replace("{prompt_file}", &file)
                    .replace("{prompt}", prompt)
            })
            .collect();
        if self.prompt_via == PromptVia::Arg && !used_prompt {
            args.push(prompt.to_owned());
        }
        AgentSpec {
            profile: self.name.clone(),
            source: self.source.to_owned(),
            program,
            args,
            prompt_via: self.prompt_via.as_str().to_owned(),
            env: self.env.clone(),
            permission_mode: self.permission_mode.clone(),
        }
    }
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

    #[test]
    fn binds_prompt_placeholders() {
        let p = builtin("claude").unwrap();
        let spec = p.bind("/bin/claude".into(), "do it", Path::new("/p.md"));
        assert_eq!(spec.args[0..2], ["-p".to_string(), "do it".to_string()]);
        assert_eq!(spec.args.iter().filter(|a| *a == "do it").count(), 1);

        let mut custom = p.clone();
        custom.args = vec!["--file".into(), "{prompt_file}".into()];
        let spec = custom.bind("/bin/x".into(), "task", Path::new("/p.md"));
        assert_eq!(spec.args, ["--file", "/p.md", "task"]);

        custom.prompt_via = PromptVia::Stdin;
        let spec = custom.bind("/bin/x".into(), "task", Path::new("/p.md"));
        assert_eq!(spec.args, ["--file", "/p.md"]);
    }

    #[test]
    fn every_detected_name_is_builtin() {
        for name in DETECT_ORDER {
            assert!(builtin(name).is_some());
        }
    }
}
