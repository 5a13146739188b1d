//! Taking up a conversation (`git agent fork`, `git agent new --continue`): before a
//! session's first run, the CLI's conversation is made resumable from the session's worktree
//! (copied, imported or forked by [`conversations::carry`]; the original is never moved or
//! altered, so it stays resumable where it was), and the first run resumes that copy with
//! the task as its next message.
//!
//! Owns the first run's arguments of the sessions it is given, nothing else. A carry that
//! fails leaves the session `failed` with its worktree kept (nothing in it is lost), as any
//! failure after the worktree exists does.

use std::path::Path;

use anyhow::Result;

use super::Plan;
use crate::agents::conversations::{self, Cli, Conversation, Stores};
use crate::agents::{self, Bindings};
use crate::error::Failure;
use crate::session::{AgentSpec, ConversationFrom, Session};
use crate::state::StateDir;

/// The conversation sessions take up, and what their records say about it.
#[derive(Debug, Clone)]
pub struct TakeUp {
    pub conversation: Conversation,
    pub from: ConversationFrom,
}

impl TakeUp {
    /// `new --continue` or `fork` (`how`), of `conversation`; `session` is the forked one.
    pub fn new(how: &str, conversation: Conversation, session: Option<String>) -> Self {
        let from = ConversationFrom {
            how: how.to_owned(),
            cli: conversation.cli.name().to_owned(),
            id: conversation.id.clone(),
            dir: conversation.dir.clone(),
            file: conversation
                .file
                .clone()
                .filter(|_| conversation.cli == Cli::Aider),
            session,
        };
        Self { conversation, from }
    }
}

/// Where a CLI run with this program and profile environment keeps its conversations: the
/// profile's variables first (`CLAUDE_CONFIG_DIR`, `CODEX_HOME`…), then ours, which the
/// agent inherits; opencode is asked through `program`.
pub fn stores(program: &str, env: &[(String, String)]) -> Stores {
    Stores::new(|key| {
        env.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(key).ok())
    })
    .with_opencode(program, env)
}

/// The CLI a profile runs, when git-agent knows where that CLI keeps conversations and how
/// to resume one. Refused for any other profile (a `-- COMMAND`, a `text` format…), before
/// anything is created.
pub fn cli_of(spec: &AgentSpec, what: &str) -> Result<Cli> {
    let cli = conversations::Cli::of(spec.format).filter(|_| spec.resume_args.is_some());
    cli.ok_or_else(|| {
        Failure::fatal(format!(
            "{what}: profile '{}' cannot take up a conversation (git-agent knows how to for \
             claude, codex, gemini, opencode and aider)",
            spec.profile
        ))
        .hint("start it afresh with 'git agent new', describing where things stand in the task")
        .into()
    })
}

/// Carries the conversation into the session's worktree and makes the session's first run
/// (and a later run that must start over, having no conversation id) take it up.
pub fn carry(state: &StateDir, plan: &Plan, take_up: &TakeUp) -> Result<()> {
    carry_into(state, &plan.name, &plan.worktree, take_up)
}

/// A session made to take up a conversation whose creation was killed after its worktree
/// existed but before the carry (doctor keeps such a session when its worktree holds copied
/// changes): carried now, before its agent first runs, so that run resumes the
/// conversation instead of starting afresh. `false` when there is nothing to carry.
pub fn carry_if_interrupted(state: &StateDir, s: &Session) -> Result<bool> {
    let Some(from) = &s.conversation else {
        return Ok(false);
    };
    let ran =
        s.agent_session_id.is_some() || s.runs.iter().any(|r| r.resumed || r.started_at.is_some());
    if ran || !s.worktree.is_dir() {
        return Ok(false);
    }
    let cli = Cli::parse(&from.cli).ok_or_else(|| {
        Failure::fatal(format!(
            "'{}' was made to take up a {} conversation, which git-agent does not know",
            s.name, from.cli
        ))
    })?;
    let stores = stores(&s.agent.program.to_string_lossy(), &s.agent.env);
    let key = match cli {
        Cli::Aider => from.file.as_deref().and_then(Path::to_str),
        _ => from.id.as_deref(),
    };
    let conversation = conversations::find(cli, &stores, key, &from.dir)?.ok_or_else(|| {
        Failure::fatal(format!(
            "'{}' was interrupted before it took up its {} conversation, and {} does not have \
             it any more",
            s.name,
            cli.name(),
            cli.name()
        ))
        .hint(kept(&s.worktree, &s.name))
    })?;
    let take_up = TakeUp {
        conversation,
        from: from.clone(),
    };
    carry_into(state, &s.name, &s.worktree, &take_up).map_err(|err| {
        Failure::fatal(format!(
            "'{}' could not take up its {} conversation before its first run: {err:#}",
            s.name,
            cli.name()
        ))
        .hint(kept(&s.worktree, &s.name))
    })?;
    Ok(true)
}

/// The hint of a session that could not take up its conversation.
pub(super) fn kept(worktree: &Path, name: &str) -> String {
    format!(
        "its worktree is kept at {}; remove it with 'git agent rm {name}'",
        worktree.display()
    )
}

fn carry_into(state: &StateDir, name: &str, worktree: &Path, take_up: &TakeUp) -> Result<()> {
    let record = state.load(name)?;
    let spec = &record.agent;
    let program = spec.program.to_string_lossy();
    let tool = conversations::Tool {
        program: &program,
        env: &spec.env,
    };
    let carried = conversations::carry(
        &take_up.conversation,
        &stores(&program, &spec.env),
        worktree,
        &spec.args,
        spec.resume_args.as_deref(),
        &tool,
    )?;
    let bindings = Bindings {
        prompt: &record.prompt,
        prompt_file: &state.prompt_path(name),
        session_id: None,
    };
    let argv = agents::bind(spec, &carried.first_args, &bindings);
    state.update(name, |s| {
        s.agent.args.clone_from(&carried.first_args);
        if let Some(run) = s.runs.first_mut() {
            run.args.clone_from(&argv);
            run.resumed = true;
        }
        Ok(())
    })
}

/// Said of a conversation in messages: `claude conversation 1a2b3c4d ("fix the parser…")`.
pub fn describe(conversation: &Conversation) -> String {
    let id = conversation
        .id
        .as_deref()
        .map(|id| format!(" {}", id.get(..8).unwrap_or(id)))
        .unwrap_or_default();
    let first = conversation
        .first_message
        .as_deref()
        .map(|m| {
            let line = m.lines().next().unwrap_or_default();
            let short: String = line.chars().take(50).collect();
            let more = if short.len() < line.len() { "…" } else { "" };
            format!(" (\"{short}{more}\")")
        })
        .unwrap_or_default();
    format!("{} conversation{id}{first}", conversation.cli.name())
}

/// The directories a checkout's conversations may belong to: where the user is, then the
/// top of the checkout (CLIs key them by the directory they were started in).
pub fn dirs_of(cwd: &Path, top: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs = vec![cwd.to_owned()];
    if top != cwd {
        dirs.push(top.to_owned());
    }
    dirs
}
