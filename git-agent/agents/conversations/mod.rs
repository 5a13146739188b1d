//! Where each agent CLI keeps its conversations, and carrying one to another directory.
//!
//! Owns the knowledge of the five built-in CLIs' conversation stores (one file per CLI):
//! finding the most recent conversation of a directory or one by id ([`latest`], [`find`]),
//! making a conversation resumable as a *new* conversation from another directory
//! ([`carry`]), and a plain-text digest of its last turns ([`summary`]). Facts about the
//! stores were established with the real CLIs (claude 2.1.197, codex 0.169.0, gemini 0.61.0,
//! opencode 1.18.33, aider 0.86.2; see issue 18's research notes).
//!
//! Invariants:
//! - **The original conversation is never moved or altered**: its files are only read or
//!   copied, and a carry either writes a copy elsewhere or makes the CLI start a new
//!   conversation from it (claude `--fork-session`, codex `fork`, gemini `--session-file`,
//!   an opencode import under fresh ids).
//! - The latest conversation is read from the store, never by running the CLI's own
//!   `--continue`/`--last`/`latest`: with nothing to resume those silently start afresh.
//! - A carry never overwrites a file it did not create unless the content is the same.
//! - Nothing here prints; subprocesses (only opencode's) go through [`Cmd`] with a timeout.

mod aider;
mod claude;
mod codex;
mod gemini;
mod opencode;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};

use crate::agents::output::Format;
use crate::error::Failure;
use crate::process::Cmd;

/// A CLI whose conversations git-agent knows how to find and carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cli {
    Claude,
    Codex,
    Gemini,
    Opencode,
    Aider,
}

impl Cli {
    pub const ALL: &[Cli] = &[
        Self::Claude,
        Self::Codex,
        Self::Gemini,
        Self::Opencode,
        Self::Aider,
    ];

    /// The CLI a profile with this output format runs (none for `text`).
    pub fn of(format: Format) -> Option<Cli> {
        match format {
            Format::Claude => Some(Self::Claude),
            Format::Codex => Some(Self::Codex),
            Format::Gemini => Some(Self::Gemini),
            Format::Opencode => Some(Self::Opencode),
            Format::Aider => Some(Self::Aider),
            Format::Text => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Codex => "codex",
            Self::Gemini => "gemini",
            Self::Opencode => "opencode",
            Self::Aider => "aider",
        }
    }

    pub fn parse(s: &str) -> Option<Cli> {
        Self::ALL.iter().copied().find(|c| c.name() == s)
    }
}

/// Where the CLIs keep their state for an agent run in this environment: built from `HOME`,
/// `CLAUDE_CONFIG_DIR`, `CODEX_HOME`, `GEMINI_CLI_HOME` and `XDG_DATA_HOME` (the caller's
/// lookup decides which environment wins: a profile's env over the process's).
#[derive(Clone, PartialEq)]
pub struct Stores {
    /// `$CLAUDE_CONFIG_DIR` or `~/.claude`.
    pub claude: PathBuf,
    /// `$CODEX_HOME` or `~/.codex`.
    pub codex: PathBuf,
    /// `$GEMINI_CLI_HOME/.gemini` or `~/.gemini`.
    pub gemini: PathBuf,
    /// `$XDG_DATA_HOME/opencode` or `~/.local/share/opencode` (opencode is asked through its
    /// own subcommands; this is where its database lives, for messages).
    pub opencode: PathBuf,
    /// How `latest`/`find`/`summary` run opencode (`session list`, `export`): its program and
    /// the environment of the agent run.
    opencode_tool: (String, Vec<(String, String)>),
}

// By hand: the run's environment may hold credentials, and only its keys are shown.
impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self
            .opencode_tool
            .1
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        f.debug_struct("Stores")
            .field("claude", &self.claude)
            .field("codex", &self.codex)
            .field("gemini", &self.gemini)
            .field("opencode", &self.opencode)
            .field("opencode_program", &self.opencode_tool.0)
            .field("opencode_env_keys", &env)
            .finish()
    }
}

impl Stores {
    pub fn new(lookup: impl Fn(&str) -> Option<String>) -> Stores {
        let var = |k: &str| lookup(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = var("HOME").unwrap_or_else(|| PathBuf::from("/"));
        Stores {
            claude: var("CLAUDE_CONFIG_DIR").unwrap_or_else(|| home.join(".claude")),
            codex: var("CODEX_HOME").unwrap_or_else(|| home.join(".codex")),
            gemini: var("GEMINI_CLI_HOME")
                .unwrap_or_else(|| home.clone())
                .join(".gemini"),
            opencode: var("XDG_DATA_HOME")
                .unwrap_or_else(|| home.join(".local/share"))
                .join("opencode"),
            opencode_tool: ("opencode".into(), Vec::new()),
        }
    }

    /// Runs opencode as `program` with the agent run's `env` when reading its store.
    #[must_use]
    pub fn with_opencode(mut self, program: &str, env: &[(String, String)]) -> Stores {
        self.opencode_tool = (program.to_owned(), env.to_vec());
        self
    }

    fn opencode_tool(&self) -> Tool<'_> {
        Tool {
            program: &self.opencode_tool.0,
            env: &self.opencode_tool.1,
        }
    }
}

/// One conversation of a CLI.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub cli: Cli,
    /// The CLI's session/thread id (`None` for aider, which has none).
    pub id: Option<String>,
    /// The directory it belongs to (ran in).
    pub dir: PathBuf,
    /// Its file where it has one (claude jsonl, codex rollout, gemini chat file, aider history).
    pub file: Option<PathBuf>,
    pub updated: SystemTime,
    /// The first user message, for messages such as "continuing 'fix the parser…'".
    pub first_message: Option<String>,
}

/// The CLI tool a carry may need to run (opencode export/import): the program and the
/// environment of the agent run.
pub struct Tool<'a> {
    pub program: &'a str,
    pub env: &'a [(String, String)],
}

/// What the first run of the new session must be.
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    /// Argument templates as in profiles (`{prompt}`, `{mode}`, `{prompt_file}` kept; the
    /// conversation's id written in where the CLI resumes by id).
    pub first_args: Vec<String>,
    /// Files the carry created (to remove if the session cannot start).
    pub made: Vec<PathBuf>,
}

/// The CLI's most recent conversation that belongs to `dir`, read from its store (never by
/// running the CLI's own "continue"). `Ok(None)` when there is none.
pub fn latest(cli: Cli, stores: &Stores, dir: &Path) -> Result<Option<Conversation>> {
    match cli {
        Cli::Claude => claude::latest(stores, dir),
        Cli::Codex => codex::latest(stores, dir),
        Cli::Gemini => gemini::latest(stores, dir),
        Cli::Opencode => opencode::latest(stores, dir),
        Cli::Aider => aider::latest(dir, None),
    }
}

/// The conversation with this id that belongs to `dir`. For aider, which has no ids, `dir`'s
/// history file, or the history file `id` names (relative to `dir`). `Ok(None)` when not
/// found.
pub fn find(
    cli: Cli,
    stores: &Stores,
    id: Option<&str>,
    dir: &Path,
) -> Result<Option<Conversation>> {
    if cli == Cli::Aider {
        return aider::latest(dir, id.map(Path::new));
    }
    let Some(id) = id else {
        return latest(cli, stores, dir);
    };
    match cli {
        Cli::Claude => claude::find(stores, id, dir),
        Cli::Codex => codex::find(stores, id, dir),
        Cli::Gemini => gemini::find(stores, id, dir),
        Cli::Opencode => opencode::find(stores, id, dir),
        Cli::Aider => unreachable!("handled above"),
    }
}

/// Makes `conv` resumable as a new conversation from `to` (usually a linked worktree of the
/// same repository), never altering the original. `args`/`resume` are the profile's
/// argument templates.
pub fn carry(
    conv: &Conversation,
    stores: &Stores,
    to: &Path,
    args: &[String],
    resume: Option<&[String]>,
    tool: &Tool,
) -> Result<Carried> {
    let resume = || {
        resume
            .filter(|r| !r.is_empty())
            .ok_or_else(|| -> anyhow::Error {
                Failure::fatal(format!(
                    "the {} profile has no resume command line to continue a conversation with",
                    conv.cli.name()
                ))
                .hint("set one with: git config agent.profile.<name>.resume '…{session_id}…'")
                .into()
            })
    };
    match conv.cli {
        Cli::Claude => claude::carry(conv, stores, to, resume()?),
        Cli::Codex => codex::carry(conv, resume()?),
        Cli::Gemini => gemini::carry(conv, args),
        Cli::Opencode => opencode::carry(conv, to, resume()?, tool),
        Cli::Aider => aider::carry(conv, to, resume()?),
    }
}

/// The last few turns of `conv` as plain text (user and assistant text, newest last, at most
/// about [`SUMMARY_CAP`] characters), to start another CLI or a fresh run from.
pub fn summary(conv: &Conversation, stores: &Stores) -> Result<String> {
    let turns = match conv.cli {
        Cli::Claude => claude::turns(need_file(conv)?)?,
        Cli::Codex => codex::turns(stores, need_file(conv)?)?,
        Cli::Gemini => gemini::turns(need_file(conv)?)?,
        Cli::Opencode => opencode::turns(conv, &stores.opencode_tool())?,
        Cli::Aider => aider::turns(need_file(conv)?)?,
    };
    Ok(render(&turns))
}

/// About how long a [`summary`] may be.
pub const SUMMARY_CAP: usize = 4000;
/// No single turn takes more than this much of a summary.
const TURN_CAP: usize = 1500;

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Assistant,
}

/// One message's text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Turn {
    role: Role,
    text: String,
}

impl Turn {
    fn new(role: Role, text: impl Into<String>) -> Option<Turn> {
        let text = text.into().trim().to_owned();
        (!text.is_empty()).then_some(Turn { role, text })
    }
}

/// The newest turns that fit in [`SUMMARY_CAP`], oldest first.
fn render(turns: &[Turn]) -> String {
    let mut kept = Vec::new();
    let mut used = 0;
    for turn in turns.iter().rev() {
        let who = match turn.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
        };
        let line = format!("{who}: {}", clip(&turn.text, TURN_CAP));
        if used + line.len() > SUMMARY_CAP && !kept.is_empty() {
            break;
        }
        used += line.len() + 2;
        kept.push(line);
    }
    kept.reverse();
    kept.join("\n\n")
}

/// `text` cut to at most `max` bytes (on a character boundary), marked with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn need_file(conv: &Conversation) -> Result<&Path> {
    conv.file.as_deref().ok_or_else(|| {
        Failure::fatal(format!("the {} conversation has no file", conv.cli.name())).into()
    })
}

/// The lines of a JSON-lines file that parse (a CLI may be writing the last one).
fn json_lines(file: &Path) -> Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("could not read {}", file.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

fn modified(path: &Path) -> SystemTime {
    path.metadata()
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// `path` with symlinks resolved, or as given when it cannot be (it may not exist).
fn real(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// Whether two directories are the same one (`a` as recorded by a CLI, `b` as asked).
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || real(a) == real(b)
}

/// Copies `from` to `to` (creating its directory) keeping its modification time, so the copy
/// does not look newer than conversations made after it. Returns whether it created `to`:
/// an identical file already there is fine; a different one is refused, never overwritten.
fn copy_keeping(from: &Path, to: &Path) -> Result<bool> {
    let content =
        std::fs::read(from).with_context(|| format!("could not read {}", from.display()))?;
    if to.exists() {
        if std::fs::read(to).is_ok_and(|c| c == content) {
            return Ok(false);
        }
        return Err(Failure::fatal(format!(
            "'{}' already exists with a different conversation",
            to.display()
        ))
        .hint("move it away, or continue that conversation instead")
        .into());
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
    }
    std::fs::write(to, &content).with_context(|| format!("could not write {}", to.display()))?;
    let file = std::fs::File::options().write(true).open(to)?;
    file.set_modified(modified(from))
        .with_context(|| format!("could not set the time of {}", to.display()))?;
    Ok(true)
}

/// A profile template with `{session_id}` written in.
fn with_id(template: &[String], id: &str) -> Vec<String> {
    template
        .iter()
        .map(|a| a.replace("{session_id}", id))
        .collect()
}

/// How long an opencode subcommand that needs no model may take (it starts its whole
/// instance: 5–10 s on two busy cores).
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `cmd` with stdin closed, killing its process group after `timeout`; fails when it
/// exits non-zero. Returns its stdout. Output goes to files, so a chatty child never blocks.
fn run_bounded(cmd: &Cmd, timeout: Duration) -> Result<String> {
    use std::io::{Read as _, Seek as _};
    use std::process::Stdio;
    let mut out = tempfile::tempfile()?;
    let mut err = tempfile::tempfile()?;
    let mut child = cmd.spawn(
        Stdio::null(),
        Stdio::from(out.try_clone()?),
        Stdio::from(err.try_clone()?),
        true,
    )?;
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            return Err(Failure::fatal(format!(
                "`{}` did not finish within {} s",
                cmd.display(),
                timeout.as_secs()
            ))
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |f: &mut std::fs::File| -> Result<String> {
        let mut s = String::new();
        f.rewind()?;
        f.read_to_string(&mut s)?;
        Ok(s)
    };
    let stdout = read(&mut out)?;
    if status.success() {
        return Ok(stdout);
    }
    let stderr = read(&mut err)?;
    Err(Failure::fatal(format!(
        "`{}` failed ({}):\n{}",
        cmd.display(),
        crate::process::describe_status(status),
        stderr.trim_end()
    ))
    .into())
}
