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

pub mod output;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Deserialize;

use crate::agents::output::Format;
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

/// A permission mode of a built-in profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub name: &'static str,
    /// What replaces `{mode}` in the argument templates.
    pub args: &'static [&'static str],
    /// Environment the mode needs when git-agent runs as root.
    pub root_env: &'static [(&'static str, &'static str)],
    /// Everything allowed without asking.
    pub bypass: bool,
    pub about: &'static str,
}

struct Builtin {
    name: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    resume: Option<&'static [&'static str]>,
    format: Format,
    modes: &'static [Mode],
    default_mode: &'static str,
    env: &'static [(&'static str, &'static str)],
    leaves: &'static [&'static str],
}

// Headless invocations established with the real CLIs through the agent rig (claude 2.1.197,
// codex 0.169.0, gemini 0.61.0, opencode 1.18.33, aider 0.86.2): structured output, stdin
// closed (or the prompt file), and a default mode that lets the agent edit files in its
// worktree without stopping to ask, but not run arbitrary commands unsandboxed. A denied
// permission never blocks any of them headless; it is refused or the tool is not offered.
const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "claude",
        program: "claude",
        args: &[
            "-p",
            "{prompt}",
            "--output-format",
            "stream-json",
            "--verbose",
            "{mode}",
        ],
        resume: Some(&[
            "-p",
            "{prompt}",
            "--resume",
            "{session_id}",
            "--output-format",
            "stream-json",
            "--verbose",
            "{mode}",
        ]),
        format: Format::Claude,
        modes: &[
            Mode {
                name: "acceptEdits",
                args: &["--permission-mode", "acceptEdits"],
                root_env: &[],
                bypass: false,
                about: "edits files in the worktree and runs simple read-only commands; anything else is refused",
            },
            Mode {
                name: "auto",
                args: &["--permission-mode", "auto"],
                root_env: &[],
                bypass: false,
                about: "edits files; a classifier decides which commands may run",
            },
            Mode {
                name: "plan",
                args: &["--permission-mode", "plan"],
                root_env: &[],
                bypass: false,
                about: "reads and plans only",
            },
            Mode {
                name: "bypass",
                args: &["--dangerously-skip-permissions"],
                // Claude refuses this flag as root unless told it runs in a sandbox.
                root_env: &[("IS_SANDBOX", "1")],
                bypass: true,
                about: "runs any command and writes anywhere, without asking",
            },
        ],
        default_mode: "acceptEdits",
        env: &[],
        leaves: &[],
    },
    Builtin {
        name: "codex",
        program: "codex",
        args: &[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "{mode}",
            "{prompt}",
        ],
        // `exec resume` rejects --sandbox, and a resume without it silently runs read-only:
        // the mode goes before `resume`.
        resume: Some(&[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "{mode}",
            "resume",
            "{session_id}",
            "{prompt}",
        ]),
        format: Format::Codex,
        modes: &[
            Mode {
                name: "workspace-write",
                args: &["--sandbox", "workspace-write"],
                root_env: &[],
                bypass: false,
                about: "runs any command inside a sandbox that can write only the worktree (no network)",
            },
            Mode {
                name: "read-only",
                args: &["--sandbox", "read-only"],
                root_env: &[],
                bypass: false,
                about: "runs commands in a read-only sandbox; edits are refused",
            },
            Mode {
                name: "bypass",
                args: &["--dangerously-bypass-approvals-and-sandbox"],
                root_env: &[],
                bypass: true,
                about: "no sandbox, no approvals",
            },
        ],
        default_mode: "workspace-write",
        env: &[],
        leaves: &[],
    },
    Builtin {
        name: "gemini",
        program: "gemini",
        // Without --skip-trust a new worktree is an untrusted folder: exit 55, even in yolo.
        args: &[
            "-p",
            "{prompt}",
            "--output-format",
            "stream-json",
            "{mode}",
            "--skip-trust",
        ],
        resume: Some(&[
            "-p",
            "{prompt}",
            "--resume",
            "{session_id}",
            "--output-format",
            "stream-json",
            "{mode}",
            "--skip-trust",
        ]),
        format: Format::Gemini,
        modes: &[
            Mode {
                name: "auto_edit",
                args: &["--approval-mode", "auto_edit"],
                root_env: &[],
                bypass: false,
                about: "edits files in the worktree; no shell tool is offered",
            },
            Mode {
                name: "plan",
                args: &["--approval-mode", "plan"],
                root_env: &[],
                bypass: false,
                about: "reads and plans only",
            },
            Mode {
                name: "yolo",
                args: &["--approval-mode", "yolo"],
                root_env: &[],
                bypass: true,
                about: "runs any command without asking",
            },
        ],
        default_mode: "auto_edit",
        env: &[],
        leaves: &[],
    },
    Builtin {
        name: "opencode",
        program: "opencode",
        // The prompt goes on stdin: given as an argument it reaches the model in literal quotes.
        args: &["run", "--format", "json", "{mode}"],
        resume: Some(&[
            "run",
            "--format",
            "json",
            "{mode}",
            "--session",
            "{session_id}",
        ]),
        format: Format::Opencode,
        modes: &[
            Mode {
                name: "edits",
                args: &[],
                root_env: &[],
                bypass: false,
                about: "edits files; the shell tool is denied",
            },
            Mode {
                name: "default",
                args: &[],
                root_env: &[],
                bypass: false,
                about: "opencode's own rules: edits and any shell command, unsandboxed",
            },
            Mode {
                name: "bypass",
                args: &["--auto"],
                root_env: &[],
                bypass: true,
                about: "approves every permission request",
            },
        ],
        default_mode: "edits",
        env: &[],
        leaves: &[],
    },
    Builtin {
        name: "aider",
        program: "aider",
        // --no-gitignore: aider would otherwise add .aider* to .gitignore and leave that edit
        // uncommitted; its files are listed in `leaves` instead.
        args: &[
            "--message",
            "{prompt}",
            "{mode}",
            "--no-pretty",
            "--no-fancy-input",
            "--no-check-update",
            "--no-show-release-notes",
            "--analytics-disable",
            "--no-gitignore",
        ],
        resume: Some(&[
            "--message",
            "{prompt}",
            "{mode}",
            "--no-pretty",
            "--no-fancy-input",
            "--no-check-update",
            "--no-show-release-notes",
            "--analytics-disable",
            "--no-gitignore",
            "--restore-chat-history",
        ]),
        format: Format::Aider,
        modes: &[Mode {
            name: "yes-always",
            args: &["--yes-always"],
            root_env: &[],
            bypass: false,
            about: "applies its edits and commits them; suggested commands are never run",
        }],
        default_mode: "yes-always",
        env: &[],
        leaves: &[".aider*"],
    },
];

/// Extra environment of a mode beyond its flags (opencode's edits-only mode is an env var).
fn mode_env(profile: &str, mode: &str) -> &'static [(&'static str, &'static str)] {
    match (profile, mode) {
        ("opencode", "edits") => &[("OPENCODE_PERMISSION", r#"{"bash":"deny"}"#)],
        _ => &[],
    }
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
pub fn sandbox_writes(agent: &AgentSpec) -> Vec<crate::sandbox::Allowed> {
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
            None => crate::sandbox::expand_home(trimmed),
        };
        if path.is_absolute() {
            out.push(crate::sandbox::Allowed { path, folder });
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

fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The permission modes of a built-in profile (empty for other names).
pub fn builtin_modes(name: &str) -> &'static [Mode] {
    builtin(name).map_or(&[], |b| b.modes)
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
    /// The repository defines (part of) this profile: the text the user must approve.
    pub project_text: Option<String>,
}

/// One layer of a profile definition (profiles file or git config).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    #[serde(default)]
    command: Option<Words>,
    #[serde(default)]
    program: Option<String>,
    #[serde(default, alias = "arg")]
    args: Vec<String>,
    #[serde(default)]
    resume: Option<Words>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    leaves: Vec<String>,
    #[serde(default, alias = "sandboxWrite", alias = "sandbox-write")]
    sandbox_write: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default, alias = "permissionMode", alias = "permission-mode")]
    permission_mode: Option<String>,
    #[serde(default)]
    bypass: Option<bool>,
}

/// A command line given as one string (split like a shell would) or as a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Words {
    Line(String),
    List(Vec<String>),
}

impl Words {
    fn split(&self, key: &str) -> Result<Vec<String>> {
        match self {
            Self::List(words) => Ok(words.clone()),
            Self::Line(line) => shell_words::split(line)
                .map_err(|e| Failure::fatal(format!("bad config value for '{key}': {e}")).into()),
        }
    }
}

/// Profile definitions outside git config: `$XDG_CONFIG_HOME/git-agent/profiles.toml`.
#[derive(Debug, Default)]
pub struct ProfilesFile {
    path: Option<PathBuf>,
    profiles: BTreeMap<String, Layer>,
}

impl ProfilesFile {
    /// Where the file lives: `$XDG_CONFIG_HOME/git-agent/profiles.toml`, else
    /// `~/.config/git-agent/profiles.toml`.
    pub fn default_path() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("git-agent").join("profiles.toml"))
    }

    /// Reads the file; a missing file is an empty one.
    pub fn load() -> Result<Self> {
        let Some(path) = Self::default_path() else {
            return Ok(Self::default());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
        };
        let profiles: BTreeMap<String, Layer> = toml::from_str(&text).map_err(|e| {
            Failure::fatal(format!("{}: {}", path.display(), e.to_string().trim_end())).hint(
                "each profile is a table, e.g. [my-agent] with command = \"my-agent --headless\"",
            )
        })?;
        Ok(Self {
            path: Some(path),
            profiles,
        })
    }

    fn names(&self) -> impl Iterator<Item = &String> {
        self.profiles.keys()
    }
}

fn config_layer(config: &Config, name: &str) -> Result<Option<Layer>> {
    if !config.subsections("profile").iter().any(|p| p == name) {
        return Ok(None);
    }
    let key = |k: &str| format!("agent.profile.{name}.{k}");
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
        .collect::<Result<BTreeMap<_, _>>>()?;
    Ok(Some(Layer {
        command: config.string(&key("command")).map(Words::Line),
        program: config.string(&key("program")),
        args: config.strings(&key("arg")),
        resume: config.string(&key("resume")).map(Words::Line),
        prompt: config.string(&key("prompt")),
        format: config.string(&key("format")),
        leaves: config.strings(&key("leaves")),
        sandbox_write: config.strings(&key("sandboxWrite")),
        env,
        permission_mode: config.string(&key("permissionMode")),
        bypass: config.boolean(&key("bypass"))?,
    }))
}

/// Builds profiles from the layers.
pub struct Profiles<'a> {
    config: &'a Config,
    file: ProfilesFile,
    /// Profiles from `.git-agent.toml` at the base commit: (table, the text to approve).
    project: BTreeMap<String, (toml::Table, String)>,
}

impl<'a> Profiles<'a> {
    /// Reads the profiles file; git config is read as needed.
    pub fn load(config: &'a Config) -> Result<Self> {
        Ok(Self {
            config,
            file: ProfilesFile::load()?,
            project: BTreeMap::new(),
        })
    }

    /// Adds the profiles a repository defines (they need the user's approval to run).
    #[must_use]
    pub fn with_project(mut self, project: Option<&crate::project::ProjectFile>) -> Self {
        if let Some(p) = project {
            for (name, table) in &p.profile {
                let text = p.profile_text(name).unwrap_or_default();
                self.project.insert(name.clone(), (table.clone(), text));
            }
        }
        self
    }

    /// Every profile name known: built-ins, the profiles file, git config.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = DETECT_ORDER.iter().map(|s| (*s).to_owned()).collect();
        for n in self
            .project
            .keys()
            .cloned()
            .chain(self.file.names().cloned())
            .chain(self.config.subsections("profile"))
        {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
    }

    /// Finds a profile by name. `mode` overrides the profile's permission mode.
    pub fn find(&self, name: &str, mode: Option<&str>) -> Result<Profile> {
        let base = builtin(name);
        let project_layer = match self.project.get(name) {
            Some((table, text)) => {
                let layer: Layer = toml::Value::Table(table.clone()).try_into().map_err(|e| {
                    Failure::fatal(format!("{} [profile.{name}]: {e}", crate::project::FILE))
                })?;
                // Only the user widens the sandbox, never the repository (an agent could
                // have written the file on a branch that becomes a base).
                if !layer.sandbox_write.is_empty() {
                    return Err(Failure::fatal(format!(
                        "{} [profile.{name}]: 'sandboxWrite' is not allowed in a repository's file",
                        crate::project::FILE
                    ))
                    .hint(format!(
                        "add it to your own config instead: git config --add agent.profile.{name}.sandboxWrite PATH"
                    ))
                    .into());
                }
                Some((layer, text.clone()))
            }
            None => None,
        };
        let file_layer = self.file.profiles.get(name);
        let config_layer = config_layer(self.config, name)?;
        if base.is_none()
            && project_layer.is_none()
            && file_layer.is_none()
            && config_layer.is_none()
        {
            return Err(Failure::fatal(format!("unknown agent profile '{name}'"))
                .hint(format!("known profiles: {}", self.names().join(", ")))
                .hint(format!(
                    "define one with: git config agent.profile.{name}.command PROGRAM"
                ))
                .into());
        }
        let mut draft = Draft::new(name, base);
        if let Some((layer, text)) = &project_layer {
            draft.apply(layer, &format!("{} [profile.{name}]", crate::project::FILE))?;
            draft.source = "project";
            draft.project_text = Some(text.clone());
        }
        if let Some(layer) = file_layer {
            let origin = self
                .file
                .path
                .as_ref()
                .map_or_else(|| "profiles file".to_owned(), |p| p.display().to_string());
            draft.apply(layer, &format!("{origin} [{name}]"))?;
        }
        if let Some(layer) = &config_layer {
            draft.apply(layer, &format!("agent.profile.{name}"))?;
        }
        if let Some(mode) = mode {
            draft.mode = Some(mode.to_owned());
        }
        draft.finish()
    }

    /// The profile to use when `--agent` is not given: `agent.default`, else the first
    /// built-in whose program is on `PATH`.
    pub fn default_profile(&self, mode: Option<&str>) -> Result<Profile> {
        if let Some(name) = self.config.string("agent.default") {
            return self.find(&name, mode);
        }
        for name in DETECT_ORDER {
            let profile = self.find(name, mode)?;
            if which::which(&profile.program).is_ok() || Path::new(&profile.program).is_absolute() {
                return Ok(profile);
            }
        }
        Err(Failure::fatal("no agent found")
            .hint(format!("looked for {} in PATH", DETECT_ORDER.join(", ")))
            .hint(
                "choose one with --agent NAME, set a default with 'git config agent.default NAME',",
            )
            .hint("or run any command: git agent new \"task\" -- COMMAND [ARGS...]")
            .into())
    }
}

/// A profile being assembled from its layers.
struct Draft {
    name: String,
    source: &'static str,
    program: String,
    args: Vec<String>,
    resume: Option<Vec<String>>,
    prompt_via: PromptVia,
    format: Format,
    env: Vec<(String, String)>,
    leaves: Vec<String>,
    sandbox_writes: Vec<String>,
    modes: &'static [Mode],
    mode: Option<String>,
    bypass: Option<bool>,
    project_text: Option<String>,
}

impl Draft {
    fn new(name: &str, base: Option<&'static Builtin>) -> Self {
        match base {
            Some(b) => Self {
                name: name.to_owned(),
                source: "builtin",
                program: b.program.to_owned(),
                args: b.args.iter().map(|a| (*a).to_owned()).collect(),
                resume: b
                    .resume
                    .map(|r| r.iter().map(|a| (*a).to_owned()).collect()),
                prompt_via: if b.name == "opencode" {
                    PromptVia::Stdin
                } else {
                    PromptVia::Arg
                },
                format: b.format,
                env: b
                    .env
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                leaves: b.leaves.iter().map(|l| (*l).to_owned()).collect(),
                sandbox_writes: Vec::new(),
                modes: b.modes,
                mode: Some(b.default_mode.to_owned()),
                bypass: None,
                project_text: None,
            },
            None => Self {
                name: name.to_owned(),
                source: "config",
                program: String::new(),
                args: Vec::new(),
                resume: None,
                prompt_via: PromptVia::Arg,
                format: Format::Text,
                env: Vec::new(),
                leaves: Vec::new(),
                sandbox_writes: Vec::new(),
                modes: &[],
                mode: None,
                bypass: None,
                project_text: None,
            },
        }
    }

    fn apply(&mut self, layer: &Layer, origin: &str) -> Result<()> {
        if let Some(command) = &layer.command {
            let mut words = command.split(&format!("{origin}.command"))?;
            if words.is_empty() {
                return Err(Failure::fatal(format!("'{origin}.command' is empty")).into());
            }
            self.program = words.remove(0);
            self.args = words;
            // A replaced command line takes its modes and resume line with it.
            self.source = "config";
            self.modes = &[];
            self.mode = None;
            self.resume = None;
        }
        if let Some(program) = &layer.program {
            self.program.clone_from(program);
            if self.source == "builtin" {
                self.source = "config";
            }
        }
        self.args.extend(layer.args.iter().cloned());
        if let Some(resume) = &layer.resume {
            let words = resume.split(&format!("{origin}.resume"))?;
            self.resume = (!words.is_empty()).then_some(words);
        }
        if let Some(p) = &layer.prompt {
            self.prompt_via = PromptVia::parse(p, &format!("{origin}.prompt"))?;
        }
        if let Some(f) = &layer.format {
            self.format = Format::parse(f).ok_or_else(|| {
                let known: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
                Failure::fatal(format!("bad config value '{f}' for '{origin}.format'"))
                    .hint(format!("use one of: {}", known.join(", ")))
            })?;
        }
        self.leaves.extend(layer.leaves.iter().cloned());
        for entry in &layer.sandbox_write {
            if !(entry.starts_with('/') || entry.starts_with("~/")) {
                return Err(Failure::fatal(format!(
                    "bad value '{entry}' for '{origin}.sandboxWrite'"
                ))
                .hint("give an absolute path, or one starting with ~/ (a trailing / for a folder)")
                .into());
            }
            self.sandbox_writes.push(entry.clone());
        }
        for (k, v) in &layer.env {
            self.env.retain(|(key, _)| key != k);
            self.env.push((k.clone(), v.clone()));
        }
        if let Some(m) = &layer.permission_mode {
            self.mode = Some(m.clone());
        }
        if layer.bypass.is_some() {
            self.bypass = layer.bypass;
        }
        Ok(())
    }

    fn finish(self) -> Result<Profile> {
        if self.program.is_empty() {
            return Err(
                Failure::fatal(format!("profile '{}' has no command", self.name))
                    .hint(format!(
                        "set it with: git config agent.profile.{}.command PROGRAM",
                        self.name
                    ))
                    .into(),
            );
        }
        let mut env = self.env;
        let (mode_args, bypass): (Vec<String>, bool) = if self.modes.is_empty() {
            (Vec::new(), self.bypass.unwrap_or(false))
        } else {
            let name = self.mode.as_deref().unwrap_or_default();
            let mode = self.modes.iter().find(|m| m.name == name).ok_or_else(|| {
                let known: Vec<&str> = self.modes.iter().map(|m| m.name).collect();
                Failure::fatal(format!(
                    "'{name}' is not a permission mode of {}",
                    self.name
                ))
                .hint(format!("modes of {}: {}", self.name, known.join(", ")))
            })?;
            let root = nix::unistd::geteuid().is_root();
            let extra = mode_env(&self.name, mode.name).iter().chain(if root {
                mode.root_env
            } else {
                &[]
            });
            env.extend(extra.map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            (
                mode.args.iter().map(|a| (*a).to_owned()).collect(),
                mode.bypass || self.bypass.unwrap_or(false),
            )
        };
        let expand = |template: Vec<String>| -> Vec<String> {
            template
                .into_iter()
                .flat_map(|a| {
                    if a == "{mode}" {
                        mode_args.clone()
                    } else {
                        vec![a]
                    }
                })
                .collect()
        };
        Ok(Profile {
            name: self.name,
            source: self.source,
            program: self.program,
            args: expand(self.args),
            resume: self.resume.map(expand),
            prompt_via: self.prompt_via,
            format: self.format,
            env,
            leaves: self.leaves,
            sandbox_writes: self.sandbox_writes,
            permission_mode: self.mode,
            bypass,
            project_text: self.project_text,
        })
    }
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
        project_text: None,
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

    fn builtin_profile(name: &str, mode: Option<&str>) -> Result<Profile> {
        let mut draft = Draft::new(name, builtin(name));
        if let Some(m) = mode {
            draft.mode = Some(m.to_owned());
        }
        draft.finish()
    }

    #[test]
    fn modes_expand_into_the_templates() {
        let p = builtin_profile("claude", None).unwrap();
        assert_eq!(p.permission_mode.as_deref(), Some("acceptEdits"));
        assert!(
            p.args
                .windows(2)
                .any(|w| w == ["--permission-mode", "acceptEdits"])
        );
        assert!(!p.args.iter().any(|a| a == "{mode}"));
        let bypass = builtin_profile("claude", Some("bypass")).unwrap();
        assert!(bypass.bypass);
        assert!(
            bypass
                .args
                .contains(&"--dangerously-skip-permissions".to_owned())
        );
        assert!(
            bypass
                .resume
                .unwrap()
                .contains(&"--dangerously-skip-permissions".to_owned())
        );
        assert!(builtin_profile("claude", Some("reckless")).is_err());
        for b in BUILTINS {
            assert!(
                b.modes.iter().any(|m| m.name == b.default_mode),
                "{}",
                b.name
            );
            assert!(DETECT_ORDER.contains(&b.name));
        }
    }

    #[test]
    fn binds_placeholders() {
        let p = builtin_profile("codex", None).unwrap();
        let spec = p.spec("/bin/codex".into());
        let b = Bindings {
            prompt: "do it",
            prompt_file: Path::new("/p.md"),
            session_id: Some("T1"),
        };
        let first = bind(&spec, &spec.args, &b);
        assert_eq!(first.last().map(String::as_str), Some("do it"));
        assert_eq!(first.iter().filter(|a| *a == "do it").count(), 1);
        let resume = bind(&spec, resume_template(&spec, Some("T1")).unwrap(), &b);
        assert!(
            resume.windows(2).any(|w| w == ["T1", "do it"]),
            "{resume:?}"
        );
        assert!(
            resume_template(&spec, None).is_none(),
            "codex needs the thread id"
        );

        let mut custom = spec.clone();
        custom.args = vec!["--file".into(), "{prompt_file}".into()];
        assert_eq!(
            bind(&custom, &custom.args, &b),
            ["--file", "/p.md", "do it"]
        );
        custom.prompt_via = "stdin".into();
        assert_eq!(bind(&custom, &custom.args, &b), ["--file", "/p.md"]);
    }
}
