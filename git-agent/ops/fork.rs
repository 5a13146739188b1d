//! `git agent fork NAME`: what a fork of session NAME starts from. Its branch starts at NAME's
//! current tip with NAME's uncommitted work copied in (read with `git stash create` and the
//! untracked files' content, as `--take-changes` reads a checkout, but nothing is cleaned),
//! and its agent takes up a fork of NAME's conversation (see `ops/create/take_up.rs`). The
//! fork joins NAME's group, so `review --group` compares them.
//!
//! Invariant: NAME is untouched: its worktree, branch and conversation are only read. The
//! only write to NAME's record is giving it a group when it had none, once the fork exists.
//! Refused before anything is created while an agent works in NAME's worktree (its changes
//! and conversation would be read mid-run).

use anyhow::Result;

use crate::agents::conversations;
use crate::error::Failure;
use crate::ops::create::take_up::{self, TakeUp};
use crate::ops::take::Snapshot;
use crate::session::{Group, Session};
use crate::state::StateDir;

/// What a fork of NAME is made from.
#[derive(Debug)]
pub struct Fork {
    pub owner: Session,
    pub snapshot: Snapshot,
    pub take_up: TakeUp,
    pub group: Group,
}

/// Checks that NAME can be forked now and reads what the fork starts from.
pub fn prepare(state: &StateDir, name: &str) -> Result<Fork> {
    let owner = state.load_settled(name)?;
    if owner.removed.is_some() || !owner.worktree.is_dir() {
        return Err(Failure::fatal(format!(
            "cannot fork '{name}': its worktree {} is gone",
            owner.worktree.display()
        ))
        .into());
    }
    if let Some(runner) = &owner.runner {
        return Err(Failure::fatal(format!(
            "cannot fork '{name}': it ran on runner '{}', and its conversation is there",
            runner.label()
        ))
        .hint("fork sessions that ran on this machine")
        .into());
    }
    for s in std::iter::once(&owner).chain(&state.sharing(&owner)?) {
        let live = s.live_state();
        if live.is_active() {
            return Err(Failure::fatal(format!(
                "cannot fork '{name}' while '{}' is {}",
                s.name,
                live.as_str()
            ))
            .hint(format!(
                "wait for it ('git agent wait {}') or stop it ('git agent stop {}') first",
                s.name, s.name
            ))
            .into());
        }
    }
    let cli = take_up::cli_of(&owner.agent, &format!("cannot fork '{name}'"))?;
    let id = owner.agent_session_id.as_deref();
    if id.is_none() && cli != conversations::Cli::Aider {
        return Err(Failure::fatal(format!(
            "cannot fork '{name}': its agent never reported a conversation id"
        ))
        .hint("start a new session with 'git agent new' instead")
        .into());
    }
    let stores = take_up::stores(&owner.agent.program.to_string_lossy(), &owner.agent.env);
    // Aider has no ids: its conversation is its history file, the session's own one when it
    // was given one (a session sharing a worktree is).
    let id = match cli {
        conversations::Cli::Aider => history_file(&owner.agent.args),
        _ => id,
    };
    let conversation =
        conversations::find(cli, &stores, id, &owner.worktree)?.ok_or_else(|| {
            Failure::fatal(format!(
                "cannot fork '{name}': {} does not have its conversation{} any more",
                cli.name(),
                id.map(|id| format!(" {id}")).unwrap_or_default()
            ))
            .hint(format!(
                "{} keeps conversations in its own folder; it may have been cleaned up",
                cli.name()
            ))
        })?;
    if crate::git::WorktreeDir::new(&owner.worktree)
        .status(&crate::git::StatusOptions::default())?
        .iter()
        .any(crate::git::StatusEntry::is_unmerged)
    {
        return Err(Failure::fatal(format!(
            "cannot fork '{name}': its worktree has unmerged paths (a merge or rebase stopped there)"
        ))
        .hint(format!(
            "finish or abort it in {} ('git agent sync {name} --continue' or --abort if it \
             was git-agent's), then fork again",
            owner.worktree.display()
        ))
        .into());
    }
    let snapshot = crate::ops::take::snapshot(&owner.worktree)?;
    let group = group_of_fork(state, &owner)?;
    Ok(Fork {
        take_up: TakeUp::new("fork", conversation, Some(owner.name.clone())),
        owner,
        snapshot,
        group,
    })
}

/// Aider's `--chat-history-file`, unless it goes nowhere (`/dev/null`, ask mode).
fn history_file(args: &[String]) -> Option<&str> {
    args.windows(2)
        .rev()
        .find(|w| w[0] == "--chat-history-file")
        .map(|w| w[1].as_str())
        .filter(|f| *f != "/dev/null")
}

/// The fork's place in NAME's group (the next index), or in a new group named after NAME.
fn group_of_fork(state: &StateDir, owner: &Session) -> Result<Group> {
    let Some(group) = &owner.group else {
        return Ok(Group {
            id: owner.name.clone(),
            index: 2,
            count: 2,
        });
    };
    let last = state
        .load_all()?
        .sessions
        .iter()
        .filter_map(|s| s.group.as_ref().filter(|g| g.id == group.id))
        .map(|g| g.index)
        .max()
        .unwrap_or(group.index);
    Ok(Group {
        id: group.id.clone(),
        index: last + 1,
        count: last + 1,
    })
}

/// Once the fork exists: NAME joins the group named after it, if it had none.
pub fn join_group(state: &StateDir, owner: &Session, fork: &Group) -> Result<()> {
    if owner.group.is_some() {
        return Ok(());
    }
    state.update(&owner.name, |s| {
        if s.group.is_none() {
            s.group = Some(Group {
                id: fork.id.clone(),
                index: 1,
                count: fork.count,
            });
        }
        Ok(())
    })
}
